//! First start: the default institution, and the first admin when
//! `ELDERCARE_ADMIN_EMAIL` / `ELDERCARE_ADMIN_PASSWORD` are set and nobody
//! can log in yet.

use secrecy::ExposeSecret;
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::users::{NewUser, insert_user};
use crate::config::BootstrapSettings;
use crate::domain::Role;

/// Serialises bootstrap across `serve` processes starting together.
const BOOTSTRAP_LOCK: i64 = 0x656c_6465_7201;

pub async fn run(pool: &PgPool, settings: &BootstrapSettings) -> anyhow::Result<Uuid> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock($1)").bind(BOOTSTRAP_LOCK).execute(&mut *tx).await?;
    let existing: Option<Uuid> =
        sqlx::query_scalar("select id from institutions order by created_at limit 1").fetch_optional(&mut *tx).await?;
    let institution_id = match existing {
        Some(id) => id,
        None => {
            let id = Uuid::new_v4();
            sqlx::query("insert into institutions (id, name, timezone) values ($1, $2, $3)")
                .bind(id)
                .bind(&settings.institution_name)
                .bind(&settings.institution_timezone)
                .execute(&mut *tx)
                .await?;
            tracing::info!(institution_id = %id, "created the default institution");
            id
        }
    };
    let has_users: bool = sqlx::query_scalar("select exists (select 1 from users)").fetch_one(&mut *tx).await?;
    tx.commit().await?;
    if let (false, Some(email), Some(password)) = (has_users, &settings.admin_email, &settings.admin_password) {
        let user = NewUser {
            email: email.clone(),
            password: password.expose_secret().to_owned(),
            role: Role::Admin,
            name: "Administrator".to_owned(),
        };
        let mut conn = pool.acquire().await?;
        match insert_user(&mut conn, institution_id, user).await {
            Ok(id) => tracing::info!(user_id = %id, email = %email, "created the first administrator"),
            // Another process created it first.
            Err(crate::api::Error::Conflict(_)) => {}
            Err(err) => anyhow::bail!("creating the first administrator: {err}"),
        }
    }
    Ok(institution_id)
}
