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

use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::Role;

/// The user a request acts for, in their institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// `None` for the platform's own accounts (operator, supervisor): a
    /// query bound to it matches no institution's rows.
    pub institution: Option<Uuid>,
    pub user: Uuid,
    pub role: Role,
}

/// Which records a scope reaches. Records about a resident (the resident,
/// their data, devices, alerts and messages) and an institution's own
/// (shared devices, alerts about the platform, quarantined messages) are
/// told apart by their resident column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Everything of the institution.
    Institution(Uuid),
    /// Only records about the residents linked to the user (family links);
    /// nothing that is about no resident.
    LinkedResidents(Uuid),
    /// The platform's own records: those no institution owns (messages of
    /// devices nobody registered). No institution's, and no resident's.
    Platform,
    /// No record at all: supervisors read aggregated figures only, and
    /// caregivers reach only their assigned visits (and through them what
    /// the visit needs of its resident), never the resident's other records:
    /// see [`Scope::push_visits_filter`].
    Nothing,
}

/// Where a table keeps what places a row: its institution, and the column
/// naming the resident it is about (`NULL` there for the institution's own
/// records); `None` for a table about no resident at all.
#[derive(Debug, Clone, Copy)]
pub struct Placed {
    pub institution: &'static str,
    pub resident: Option<&'static str>,
    /// Rows of no institution may exist, and are the platform's.
    pub unattributed: bool,
}

impl Placed {
    pub const RESIDENTS: Placed =
        Placed { institution: "r.institution_id", resident: Some("r.id"), unattributed: false };
    pub const ALERTS: Placed =
        Placed { institution: "a.institution_id", resident: Some("a.resident_id"), unattributed: false };
    pub const DEVICES: Placed =
        Placed { institution: "d.institution_id", resident: Some("d.resident_id"), unattributed: false };
    pub const VISITS: Placed =
        Placed { institution: "v.institution_id", resident: Some("v.resident_id"), unattributed: false };
    /// A quarantined message from a device nobody registered (or on a topic
    /// naming no device) belongs to no institution: the operator's to see.
    pub const QUARANTINE: Placed = Placed { institution: "q.institution_id", resident: None, unattributed: true };
}

impl Scope {
    pub fn reach(&self) -> Reach {
        match (self.role, self.institution) {
            (Role::Admin | Role::Staff, Some(institution)) => Reach::Institution(institution),
            (Role::Family, Some(institution)) => Reach::LinkedResidents(institution),
            (Role::Operator, None) => Reach::Platform,
            (Role::Supervisor | Role::Caregiver | Role::Kitchen, _) => Reach::Nothing,
            // An account whose role and institution disagree (the schema
            // refuses it) reaches nothing rather than guess.
            (Role::Admin | Role::Staff | Role::Family, None) | (Role::Operator, Some(_)) => Reach::Nothing,
        }
    }

    /// May change the care of the residents in reach: register devices,
    /// change rule settings, act on alerts, link family members.
    pub fn may_care(&self) -> bool {
        matches!(self.reach(), Reach::Institution(_))
    }

    /// May administer the institution: users, webhooks, the audit trail, the
    /// quarantine, removing devices.
    pub fn may_administer(&self) -> bool {
        self.role == Role::Admin && self.may_care()
    }

    /// What this scope administers, and so whose audit chain and quarantine
    /// it reads: an admin their institution, the operator the platform
    /// (`Some(None)`: the records of no institution).
    pub fn administered(&self) -> Option<Option<Uuid>> {
        match (self.role, self.reach()) {
            (Role::Admin, Reach::Institution(institution)) => Some(Some(institution)),
            (Role::Operator, Reach::Platform) => Some(None),
            _ => None,
        }
    }

    /// Appends ` and (<the row is in reach>)` to a query over a table placed
    /// by `placed`.
    pub fn push_filter(&self, query: &mut QueryBuilder<Postgres>, placed: Placed) {
        query.push(" and (");
        match (self.reach(), placed.resident) {
            (Reach::Institution(institution), _) => {
                query.push(placed.institution).push(" = ").push_bind(institution);
            }
            (Reach::LinkedResidents(institution), Some(resident)) => {
                query.push(placed.institution).push(" = ").push_bind(institution);
                query.push(" and exists (select 1 from family_links fl where fl.resident_id = ");
                query.push(resident).push(" and fl.user_id = ").push_bind(self.user).push(")");
            }
            (Reach::Platform, None) if placed.unattributed => {
                query.push(placed.institution).push(" is null");
            }
            (Reach::LinkedResidents(_), None) | (Reach::Platform, _) | (Reach::Nothing, _) => {
                query.push("false");
            }
        }
        query.push(")");
    }

    /// Appends ` and (<the institution is visible>)` to a query over
    /// `institutions i`: the operator sees every institution, a supervisor
    /// those of its region (read from its account, never from the request),
    /// anyone else their own.
    pub fn push_institutions_filter(&self, query: &mut QueryBuilder<Postgres>) {
        query.push(" and (");
        match (self.role, self.institution) {
            (Role::Operator, None) => {
                query.push("true");
            }
            (Role::Supervisor, None) => {
                query.push("i.region = (select s.region from users s where s.id = ").push_bind(self.user).push(")");
            }
            (_, Some(institution)) => {
                query.push("i.id = ").push_bind(institution);
            }
            (_, None) => {
                query.push("false");
            }
        }
        query.push(")");
    }

    /// Appends ` and (<the visit is in reach>)` to a query over `visits v`:
    /// what [`Scope::push_filter`] allows of the visit's resident, and for a
    /// caregiver the visits of their institution assigned to them.
    pub fn push_visits_filter(&self, query: &mut QueryBuilder<Postgres>) {
        match (self.role, self.institution) {
            (Role::Caregiver, Some(institution)) => {
                query.push(" and (v.institution_id = ").push_bind(institution);
                query.push(" and v.caregiver_id = ").push_bind(self.user).push(")");
            }
            _ => self.push_filter(query, Placed::VISITS),
        }
    }

    /// Whether a row already in hand, of `institution` and about `resident`
    /// (`None` for the institution's own), is in reach: at once, or when
    /// the scope reaches that resident (a family link, which the store
    /// reads: `store::residents::reaches`).
    pub fn reaches(&self, institution: Uuid, resident: Option<Uuid>) -> InReach {
        match (self.reach(), resident) {
            (Reach::Institution(own), _) if own == institution => InReach::Yes,
            (Reach::LinkedResidents(own), Some(resident)) if own == institution => InReach::IfResident(resident),
            _ => InReach::No,
        }
    }
}

/// Whether a row already in hand is in a scope's reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InReach {
    Yes,
    No,
    /// If the scope reaches this resident ([`Placed::RESIDENTS`]).
    IfResident(Uuid),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(role: Role) -> Scope {
        let institution = (!role.is_platform()).then_some(Uuid::from_u128(1));
        Scope { institution, user: Uuid::from_u128(2), role }
    }

    #[test]
    fn each_role_reaches_its_own_and_no_further() {
        let home = Uuid::from_u128(1);
        assert_eq!(scope(Role::Admin).reach(), Reach::Institution(home));
        assert_eq!(scope(Role::Staff).reach(), Reach::Institution(home));
        assert_eq!(scope(Role::Family).reach(), Reach::LinkedResidents(home));
        assert_eq!(scope(Role::Operator).reach(), Reach::Platform);
        assert_eq!(scope(Role::Supervisor).reach(), Reach::Nothing);
        assert_eq!(scope(Role::Caregiver).reach(), Reach::Nothing);
        let staff_without_home = Scope { institution: None, ..scope(Role::Staff) };
        assert_eq!(staff_without_home.reach(), Reach::Nothing);
        assert!(scope(Role::Staff).may_care() && !scope(Role::Family).may_care());
        assert!(!scope(Role::Caregiver).may_care() && !scope(Role::Operator).may_care());
        assert!(scope(Role::Admin).may_administer() && !scope(Role::Staff).may_administer());
        assert!(!scope(Role::Operator).may_administer());
        assert_eq!(scope(Role::Admin).administered(), Some(Some(home)));
        assert_eq!(scope(Role::Operator).administered(), Some(None));
        assert_eq!(scope(Role::Supervisor).administered(), None);
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
        assert_eq!(sql(Role::Admin, Placed::QUARANTINE), "select 1 from t where true and (q.institution_id = $1)");
        assert_eq!(
            sql(Role::Operator, Placed::QUARANTINE),
            "select 1 from t where true and (q.institution_id is null)"
        );
        assert_eq!(sql(Role::Family, Placed::QUARANTINE), "select 1 from t where true and (false)");
        let institutions = |role| {
            let mut query = QueryBuilder::<Postgres>::new("select 1 from institutions i where true");
            scope(role).push_institutions_filter(&mut query);
            query.sql().as_str().to_owned()
        };
        assert_eq!(institutions(Role::Operator), "select 1 from institutions i where true and (true)");
        assert_eq!(
            institutions(Role::Supervisor),
            "select 1 from institutions i where true and (i.region = (select s.region from users s where s.id = $1))"
        );
        assert_eq!(institutions(Role::Caregiver), "select 1 from institutions i where true and (i.id = $1)");
        let visits = |role| {
            let mut query = QueryBuilder::<Postgres>::new("select 1 from visits v where true");
            scope(role).push_visits_filter(&mut query);
            query.sql().as_str().to_owned()
        };
        assert_eq!(
            visits(Role::Caregiver),
            "select 1 from visits v where true and (v.institution_id = $1 and v.caregiver_id = $2)"
        );
        assert_eq!(visits(Role::Staff), "select 1 from visits v where true and (v.institution_id = $1)");
        assert_eq!(visits(Role::Supervisor), "select 1 from visits v where true and (false)");
        for role in [Role::Operator, Role::Supervisor, Role::Caregiver] {
            for placed in [Placed::RESIDENTS, Placed::ALERTS, Placed::DEVICES] {
                assert_eq!(sql(role, placed), "select 1 from t where true and (false)", "{role:?}");
            }
        }
    }
}
