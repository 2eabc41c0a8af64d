//! Who may see what, in one place. Every resident-scoped handler goes through
//! [`AuthUser::resident`]; list queries use [`VISIBLE_RESIDENTS`]. Anything out
//! of reach is a 404, never a hint that it exists.

use uuid::Uuid;

use super::auth::AuthUser;
use super::{ApiContext, Error, Result};

/// SQL predicate over a `residents r` row, with `$1` = user id, `$2` =
/// institution id, `$3` = role: staff see their institution, families only
/// their linked residents.
pub const VISIBLE_RESIDENTS: &str = "r.institution_id = $2 and ($3 <> 'family' or exists \
     (select 1 from family_links fl where fl.resident_id = r.id and fl.user_id = $1))";

impl AuthUser {
    /// The resident, if this user may see them.
    pub async fn resident(&self, ctx: &ApiContext, resident_id: Uuid) -> Result<Uuid> {
        let visible: Option<Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select r.id from residents r where r.id = $4 and {VISIBLE_RESIDENTS}"
        )))
        .bind(self.id)
        .bind(self.institution_id)
        .bind(self.role)
        .bind(resident_id)
        .fetch_optional(&ctx.pool)
        .await?;
        visible.ok_or(Error::NotFound)
    }

    /// The resident, if this user may change their care (staff and admins of
    /// the institution). Families get 404 for residents they cannot see and
    /// 403 for those they can.
    pub async fn resident_for_staff(&self, ctx: &ApiContext, resident_id: Uuid) -> Result<Uuid> {
        let id = self.resident(ctx, resident_id).await?;
        self.require_staff()?;
        Ok(id)
    }
}
