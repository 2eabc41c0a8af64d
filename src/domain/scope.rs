//! Who sees what, decided here and nowhere else.
//!
//! Every read and write of an institution's data goes through a [`Scope`]:
//! the store functions take one and filter by it, so isolation is a property
//! of the store, not of each handler's care. What a scope does not reach
//! answers as if it did not exist (the API's 404), never a hint that it does.
//!
//! A role's reach is one match arm in [`Scope::reach`] and its powers one in
//! [`Scope::may_care`] / [`Scope::may_administer`]; how a reach reads in SQL
//! is [`Scope::push_filter`] and, for one row already in hand,
//! [`Scope::reaches`].

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::Role;

/// The user a request acts for, in their institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub institution: Uuid,
    pub user: Uuid,
    pub role: Role,
}

/// Which of the institution's records a scope reaches. Records about a
/// resident (the resident, their data, devices, alerts and messages) and
/// the institution's own (shared devices, alerts about the platform,
/// quarantined messages) are told apart by their resident column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Everything of the institution.
    Institution,
    /// Only records about the residents linked to the user (family links);
    /// nothing that is about no resident.
    LinkedResidents,
}

/// Where a table keeps what places a row: its institution, and the column
/// naming the resident it is about (`NULL` there for the institution's own
/// records); `None` for a table about no resident at all.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub institution: &'static str,
    pub resident: Option<&'static str>,
}

impl Placed {
    pub const RESIDENTS: Placed = Placed { institution: "r.institution_id", resident: Some("r.id") };
    pub const ALERTS: Placed = Placed { institution: "a.institution_id", resident: Some("a.resident_id") };
    pub const DEVICES: Placed = Placed { institution: "d.institution_id", resident: Some("d.resident_id") };
    /// A quarantined message from a device nobody registered belongs to no
    /// institution, and is shown to every institution that reaches the
    /// quarantine.
    pub const QUARANTINE: Placed = Placed { institution: "q.institution_id", resident: None };
}

impl Scope {
    pub fn reach(&self) -> Reach {
        match self.role {
            Role::Admin | Role::Staff => Reach::Institution,
            Role::Family => Reach::LinkedResidents,
        }
    }

    /// May change the care of the residents in reach: register devices,
    /// change rule settings, act on alerts, link family members.
    pub fn may_care(&self) -> bool {
        match self.role {
            Role::Admin | Role::Staff => true,
            Role::Family => false,
        }
    }

    /// May administer the institution: users, webhooks, the audit trail, the
    /// quarantine, removing devices.
    pub fn may_administer(&self) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Staff | Role::Family => false,
        }
    }

    /// Appends ` and (<the row is in reach>)` to a query over a table placed
    /// by `placed`.
    pub fn push_filter(&self, query: &mut QueryBuilder<Postgres>, placed: Placed) {
        query.push(" and (");
        match (self.reach(), placed.resident) {
            (Reach::Institution, Some(_)) => {
                query.push(placed.institution).push(" = ").push_bind(self.institution);
            }
            (Reach::Institution, None) => {
                query.push(placed.institution).push(" = ").push_bind(self.institution);
                query.push(" or ").push(placed.institution).push(" is null");
            }
            (Reach::LinkedResidents, Some(resident)) => {
                query.push(placed.institution).push(" = ").push_bind(self.institution);
                query.push(" and exists (select 1 from family_links fl where fl.resident_id = ");
                query.push(resident).push(" and fl.user_id = ").push_bind(self.user).push(")");
            }
            (Reach::LinkedResidents, None) => {
                query.push("false");
            }
        }
        query.push(")");
    }

    /// Whether a row already in hand, of `institution` and about `resident`
    /// (`None` for the institution's own), is in reach.
    pub async fn reaches(&self, pool: &PgPool, institution: Uuid, resident: Option<Uuid>) -> Result<bool, sqlx::Error> {
        if institution != self.institution {
            return Ok(false);
        }
        match (self.reach(), resident) {
            (Reach::Institution, _) => Ok(true),
            (Reach::LinkedResidents, None) => Ok(false),
            (Reach::LinkedResidents, Some(resident)) => {
                let mut query = QueryBuilder::new("select exists (select 1 from residents r where r.id = ");
                query.push_bind(resident);
                self.push_filter(&mut query, Placed::RESIDENTS);
                query.push(")");
                query.build_query_scalar().fetch_one(pool).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(role: Role) -> Scope {
        Scope { institution: Uuid::from_u128(1), user: Uuid::from_u128(2), role }
    }

    #[test]
    fn staff_reach_their_institution_and_families_their_linked_residents() {
        assert_eq!(scope(Role::Admin).reach(), Reach::Institution);
        assert_eq!(scope(Role::Staff).reach(), Reach::Institution);
        assert_eq!(scope(Role::Family).reach(), Reach::LinkedResidents);
        assert!(scope(Role::Staff).may_care() && !scope(Role::Family).may_care());
        assert!(scope(Role::Admin).may_administer() && !scope(Role::Staff).may_administer());
    }

    #[test]
    fn filters_bind_the_scope_rather_than_trust_the_caller() {
        let sql = |role, placed| {
            let mut query = QueryBuilder::<Postgres>::new("select 1 from t where true");
            scope(role).push_filter(&mut query, placed);
            query.sql().as_str().to_owned()
        };
        assert_eq!(sql(Role::Staff, Placed::ALERTS), "select 1 from t where true and (a.institution_id = $1)");
        assert_eq!(
            sql(Role::Family, Placed::ALERTS),
            "select 1 from t where true and (a.institution_id = $1 and exists (select 1 from family_links fl \
             where fl.resident_id = a.resident_id and fl.user_id = $2))"
        );
        assert_eq!(
            sql(Role::Admin, Placed::QUARANTINE),
            "select 1 from t where true and (q.institution_id = $1 or q.institution_id is null)"
        );
        assert_eq!(sql(Role::Family, Placed::QUARANTINE), "select 1 from t where true and (false)");
    }
}
