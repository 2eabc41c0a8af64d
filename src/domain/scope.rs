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

use std::marker::PhantomData;

use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::Role;
use super::registry::Service;

/// What of an elder's records a question is about. An institution reaches
/// an area of an elder through an enrolment in force whose services grant
/// it ([`Service::grants`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Name, masked id number, age, phone, address, division, status.
    Identity,
    /// Devices, readings, events, rule settings, family links, messages.
    Monitoring,
    /// Alerts: the monitoring institution's, and the open ones a home-care
    /// institution acts on.
    Alerts,
    /// The care plan, visits, the responder sheet.
    Care,
    /// The meal plan, orders, delivery notes and location.
    Meals,
}

impl Service {
    /// Whether an enrolment for this service reaches `area` of the elder.
    pub fn grants(self, area: Area) -> bool {
        match (self, area) {
            (_, Area::Identity) | (Service::DayCare | Service::Residential, _) => true,
            (Service::Monitoring, Area::Monitoring | Area::Alerts) => true,
            (Service::HomeCare, Area::Care | Area::Alerts) => true,
            (Service::Meals, Area::Meals) => true,
            (Service::Monitoring | Service::HomeCare | Service::Meals, _) => false,
        }
    }
}

impl Area {
    /// The services whose enrolment grants this area, as the `text[]` an
    /// `enrolments.services && ...` test binds.
    pub fn services(self) -> Vec<&'static str> {
        Service::ALL.iter().filter(|s| s.grants(self)).map(|s| s.as_str()).collect()
    }
}

/// An area type, for [`Reached`].
pub trait AreaOf: Copy {
    const AREA: Area;
}

macro_rules! areas {
    ($($(#[$doc:meta])* $name:ident,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl AreaOf for $name {
            const AREA: Area = Area::$name;
        }
    )*};
}

areas!(
    /// [`Area::Identity`].
    Identity,
    /// [`Area::Monitoring`].
    Monitoring,
    /// [`Area::Alerts`].
    Alerts,
    /// [`Area::Care`].
    Care,
    /// [`Area::Meals`].
    Meals,
);

/// Proof that a scope reaches area `A` of one resident: for a request, only
/// the store's reach check makes one (`store::residents::reach`, held by the
/// layering test), so a handler cannot name a resident's records without
/// asking; the platform's own work (the alarm path, scheduled jobs) makes
/// its own with [`Reached::for_the_platform`], which no handler may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached<A: AreaOf> {
    resident: Uuid,
    area: PhantomData<A>,
}

impl<A: AreaOf> Reached<A> {
    /// For the store's reach check only, once the database said so.
    pub fn vouched(resident: Uuid) -> Reached<A> {
        Reached { resident, area: PhantomData }
    }

    /// The platform's own work (the alarm path, scheduled jobs, ingest,
    /// the summaries and erasures its jobs make), acting for no user: never
    /// a handler's (the layering test holds `src/api/` to the reach check).
    pub fn for_the_platform(resident: Uuid) -> Reached<A> {
        Reached { resident, area: PhantomData }
    }

    pub fn id(&self) -> Uuid {
        self.resident
    }

    /// The same resident, for a narrower question (`Identity` is in every
    /// area a scope reaches).
    pub fn identity(&self) -> Reached<Identity> {
        Reached { resident: self.resident, area: PhantomData }
    }
}

/// The institution the platform's own work (the alarm path: raising and
/// resolving alerts, planning their notifications) acts for, as an alert's
/// subject names it: the counterpart of [`Reached::for_the_platform`] for
/// an institution. Never a handler's (the layering test holds `src/api/`):
/// a request's own institution is its [`Scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    institution: Uuid,
}

impl Served {
    /// The platform's own work, acting for no user.
    pub fn for_the_platform(institution: Uuid) -> Served {
        Served { institution }
    }

    pub fn id(&self) -> Uuid {
        self.institution
    }
}

/// The user a request acts for, in their institution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// `None` for the platform's own accounts (operator, supervisor): a
    /// query bound to it matches no institution's rows.
    pub institution: Option<Uuid>,
    pub user: Uuid,
    pub role: Role,
    /// A kitchen user's one kitchen.
    pub kitchen: Option<Uuid>,
}

/// Which kitchens, and which of their orders, a scope reaches: made only
/// by [`Scope::kitchens`], so a handler cannot name a kitchen's institution
/// for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KitchenReach(Kitchens);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kitchens {
    /// An institution's care staff: all of its kitchens.
    Institution(Uuid),
    /// A kitchen user: their one kitchen.
    Kitchen(Uuid),
}

impl KitchenReach {
    /// Appends ` and <the row is in reach>` for a row placed by its
    /// institution and kitchen columns.
    pub fn push_filter(&self, query: &mut QueryBuilder<Postgres>, institution: &str, kitchen: &str) {
        match self.0 {
            Kitchens::Institution(id) => query.push(format!(" and {institution} = ")).push_bind(id),
            Kitchens::Kitchen(id) => query.push(format!(" and {kitchen} = ")).push_bind(id),
        };
    }
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
    /// The elders registered in the user's division and every division
    /// under it, in these areas only: the civil-affairs bureau their
    /// identity, a grid worker also their alerts. Never an institution's
    /// own records.
    Division(&'static [Area]),
    /// An assessment body: the identity of the elders whose applications
    /// are assigned to it and still being assessed.
    Assessing(Uuid),
    /// A long-term care insurance fund office: the identity of the elders
    /// of its division who applied to the fund.
    Fund(Uuid),
    /// The hotline desk: every elder's identity, and her alerts while they
    /// are open; nothing of an institution's own, no health data.
    Hotline,
    /// A medical partner's clinician: what the FHIR view shows (identity,
    /// devices and readings, alerts, visits) of the elders whose consent
    /// to its institution with `fhir_read` is in force now. Withdrawn, or
    /// out of its period, and the elder is out of reach at once.
    Consented(Uuid),
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
    /// The area of the elder a row about a resident is: an institution
    /// reaches it through an enrolment granting the area. `None` for an
    /// institution's own records (its visits), reached by their
    /// institution alone, whatever the enrolments.
    pub area: Option<Area>,
    /// Rows about no resident (the resident column null) may exist: the
    /// institution's own (a shared device, an alert about the platform).
    pub about_no_one: bool,
    /// The condition that a row is still open (an alert not resolved),
    /// for the scopes that see only those: the hotline desk.
    pub open: Option<&'static str>,
}

impl Placed {
    pub const RESIDENTS: Placed = Placed {
        institution: "r.institution_id",
        resident: Some("r.id"),
        unattributed: false,
        area: Some(Area::Identity),
        about_no_one: false,
        open: None,
    };
    pub const ALERTS: Placed = Placed {
        institution: "a.institution_id",
        resident: Some("a.resident_id"),
        unattributed: false,
        area: Some(Area::Alerts),
        about_no_one: true,
        open: Some("a.status <> 'resolved'"),
    };
    pub const DEVICES: Placed = Placed {
        institution: "d.institution_id",
        resident: Some("d.resident_id"),
        unattributed: false,
        area: Some(Area::Monitoring),
        about_no_one: true,
        open: None,
    };
    pub const VISITS: Placed = Placed {
        institution: "v.institution_id",
        resident: Some("v.resident_id"),
        unattributed: false,
        area: None,
        about_no_one: false,
        open: None,
    };
    /// A quarantined message from a device nobody registered (or on a topic
    /// naming no device) belongs to no institution: the operator's to see.
    pub const QUARANTINE: Placed = Placed {
        institution: "q.institution_id",
        resident: None,
        unattributed: true,
        area: None,
        about_no_one: true,
        open: None,
    };

    /// The same table, asked about another area of its residents (the
    /// residents' table, for a meal plan: `Placed::RESIDENTS.in_area(Area::Meals)`).
    pub const fn in_area(self, area: Area) -> Placed {
        Placed { area: Some(area), ..self }
    }
}

/// Appends the test that the resident in column `resident` is enrolled at
/// `institution`, in force now, for a service granting `area`: a probe of
/// the enrolments index by resident and institution.
fn push_enrolled(query: &mut QueryBuilder<Postgres>, resident: &str, institution: Uuid, area: Area) {
    query.push("exists (select 1 from enrolments e where e.resident_id = ").push(resident);
    query.push(" and e.institution_id = ").push_bind(institution);
    query.push(" and e.services && ").push_bind(area.services());
    query.push(" and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now()))");
}

/// Appends the elders whose consent to `partner` is in force now and
/// grants `grant` (`fhir_read`, `alerts`, `clinical_write`): a select of
/// resident ids.
pub fn push_consented(query: &mut QueryBuilder<Postgres>, partner: Uuid, grant: &'static str) {
    query.push("select cs.resident_id from partner_consents cs where cs.grantee_institution_id = ").push_bind(partner);
    query.push(" and ").push_bind(grant).push(" = any(cs.scope) and cs.withdrawn_at is null");
    query.push(" and cs.from_at <= now() and (cs.until_at is null or cs.until_at > now())");
}

impl Scope {
    pub fn reach(&self) -> Reach {
        match (self.role, self.institution) {
            (Role::Admin | Role::Staff, Some(institution)) => Reach::Institution(institution),
            (Role::Family, Some(institution)) => Reach::LinkedResidents(institution),
            (Role::Operator, None) => Reach::Platform,
            (Role::CivilAffairs, None) => Reach::Division(&[Area::Identity]),
            (Role::GridWorker, None) => Reach::Division(&[Area::Identity, Area::Alerts]),
            (Role::Assessor, Some(body)) => Reach::Assessing(body),
            (Role::Insurer, Some(fund)) => Reach::Fund(fund),
            (Role::Desk, None) => Reach::Hotline,
            (Role::Clinician, Some(partner)) => Reach::Consented(partner),
            (Role::Supervisor | Role::Caregiver | Role::Kitchen, _) => Reach::Nothing,
            // An account whose role and institution disagree (the schema
            // refuses it) reaches nothing rather than guess.
            (Role::Admin | Role::Staff | Role::Family, None)
            | (Role::Assessor | Role::Insurer | Role::Clinician, None)
            | (Role::Operator | Role::CivilAffairs | Role::GridWorker | Role::Desk, Some(_)) => Reach::Nothing,
        }
    }

    /// May change the care of the residents in reach: register devices,
    /// change rule settings, act on alerts, link family members.
    /// What the scope reaches of the meal service: an institution's care
    /// staff its kitchens, a kitchen user their one kitchen, nobody else any.
    pub fn kitchens(&self) -> Option<KitchenReach> {
        match (self.role, self.institution) {
            (_, Some(institution)) if self.may_care() => Some(KitchenReach(Kitchens::Institution(institution))),
            (Role::Kitchen, Some(_)) => self.kitchen.map(|k| KitchenReach(Kitchens::Kitchen(k))),
            _ => None,
        }
    }

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
        match (self.reach(), placed.resident, placed.area) {
            (Reach::Institution(institution), Some(resident), Some(area)) => {
                // The institution's own records about no resident, and the
                // records of the residents it is enrolled to serve in the area.
                if placed.about_no_one {
                    query.push("(").push(resident).push(" is null and ").push(placed.institution).push(" = ");
                    query.push_bind(institution).push(") or ");
                }
                push_enrolled(query, resident, institution, area);
            }
            (Reach::Institution(institution), _, _) => {
                query.push(placed.institution).push(" = ").push_bind(institution);
            }
            (Reach::LinkedResidents(institution), Some(resident), _) => {
                query.push(placed.institution).push(" = ").push_bind(institution);
                query.push(" and exists (select 1 from family_links fl where fl.resident_id = ");
                query.push(resident).push(" and fl.user_id = ").push_bind(self.user).push(")");
            }
            (Reach::Division(areas), Some(resident), Some(area)) if areas.contains(&area) => {
                // The elders registered in the user's division (read from
                // the account, never from the request).
                query.push(resident).push(" in (select dr.id from residents dr where starts_with(dr.division, ");
                query.push("(select du.division from users du where du.id = ").push_bind(self.user).push(")))");
            }
            (Reach::Assessing(body), Some(resident), Some(Area::Identity)) => {
                query
                    .push(resident)
                    .push(" in (select ap.resident_id from applications ap where ap.status = 'assessing'");
                query.push(" and ap.assessor_institution_id = ").push_bind(body).push(")");
            }
            (Reach::Fund(fund), Some(resident), Some(Area::Identity)) => {
                query.push(resident).push(
                    " in (select ap.resident_id from applications ap join residents fr on fr.id = ap.resident_id",
                );
                query.push(" where ap.kind = 'ltc_insurance' and starts_with(fr.division, (select f.division from institutions f");
                query.push(" where f.kind = 'ltc_fund' and f.id = ").push_bind(fund).push(")))");
            }
            (Reach::Hotline, Some(_), Some(Area::Identity)) => {
                query.push("true");
            }
            (Reach::Hotline, Some(resident), Some(Area::Alerts)) => match placed.open {
                Some(open) => {
                    query.push(resident).push(" is not null and ").push(open);
                }
                None => {
                    query.push("false");
                }
            },
            (
                Reach::Consented(partner),
                Some(resident),
                None | Some(Area::Identity | Area::Monitoring | Area::Alerts),
            ) => {
                if placed.about_no_one {
                    query.push(resident).push(" is not null and ");
                }
                query.push(resident).push(" in (");
                push_consented(query, partner, "fhir_read");
                query.push(")");
            }
            (Reach::Platform, None, _) if placed.unattributed => {
                query.push(placed.institution).push(" is null");
            }
            (Reach::LinkedResidents(_), None, _)
            | (Reach::Division(_), _, _)
            | (Reach::Assessing(_) | Reach::Fund(_) | Reach::Hotline | Reach::Consented(_), _, _)
            | (Reach::Platform, _, _)
            | (Reach::Nothing, _, _) => {
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
                // By its division once it has one, until then by its region.
                query.push("exists (select 1 from users s where s.id = ").push_bind(self.user);
                query.push(" and case when s.division is null then i.region = s.region");
                query.push(" else starts_with(i.division, s.division) end)");
            }
            (Role::CivilAffairs | Role::GridWorker, None) => {
                query.push("starts_with(i.division, (select s.division from users s where s.id = ");
                query.push_bind(self.user).push("))");
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
            // A resident's row: whoever is enrolled (the store reads it).
            (Reach::Institution(_), Some(resident)) => InReach::IfResident(resident),
            (Reach::Institution(own), None) if own == institution => InReach::Yes,
            (Reach::LinkedResidents(own), Some(resident)) if own == institution => InReach::IfResident(resident),
            // Whoever's institution it is: her consent decides.
            (Reach::Consented(_), Some(resident)) => InReach::IfResident(resident),
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
        Scope { institution, user: Uuid::from_u128(2), role, kitchen: None }
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
        // An institution reaches a resident's alerts through an enrolment in
        // force whose services grant them, and its own alerts about no one.
        assert_eq!(
            sql(Role::Staff, Placed::ALERTS),
            "select 1 from t where true and ((a.resident_id is null and a.institution_id = $1) or exists \
             (select 1 from enrolments e where e.resident_id = a.resident_id and e.institution_id = $2 \
             and e.services && $3 and e.starts_at <= now() and (e.ends_at is null or e.ends_at > now())))"
        );
        // A resident is always about someone: the probe alone.
        assert_eq!(
            sql(Role::Staff, Placed::RESIDENTS),
            "select 1 from t where true and (exists (select 1 from enrolments e where e.resident_id = r.id \
             and e.institution_id = $1 and e.services && $2 and e.starts_at <= now() \
             and (e.ends_at is null or e.ends_at > now())))"
        );
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
            "select 1 from institutions i where true and (exists (select 1 from users s where s.id = $1 \
             and case when s.division is null then i.region = s.region else starts_with(i.division, s.division) end))"
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
        // A division's accounts: the elders registered there, in their areas only.
        let in_division = "select 1 from t where true and (r.id in (select dr.id from residents dr where \
                           starts_with(dr.division, (select du.division from users du where du.id = $1))))";
        assert_eq!(sql(Role::CivilAffairs, Placed::RESIDENTS), in_division);
        assert_eq!(sql(Role::GridWorker, Placed::RESIDENTS), in_division);
        assert_eq!(sql(Role::CivilAffairs, Placed::DEVICES), "select 1 from t where true and (false)");
        assert_eq!(sql(Role::CivilAffairs, Placed::ALERTS), "select 1 from t where true and (false)");
        assert!(sql(Role::GridWorker, Placed::ALERTS).contains("a.resident_id in (select dr.id from residents dr"));
        assert_eq!(sql(Role::GridWorker, Placed::DEVICES), "select 1 from t where true and (false)");
        assert_eq!(sql(Role::GridWorker, Placed::QUARANTINE), "select 1 from t where true and (false)");
        // Visits are their institution's own records, whatever the enrolments.
        assert_eq!(sql(Role::Staff, Placed::VISITS), "select 1 from t where true and (v.institution_id = $1)");
        // The hotline desk: every elder's identity, her alerts while open,
        // nothing else (no devices, visits, data, or anyone's own records).
        assert_eq!(scope(Role::Desk).reach(), Reach::Hotline);
        assert_eq!(sql(Role::Desk, Placed::RESIDENTS), "select 1 from t where true and (true)");
        assert_eq!(
            sql(Role::Desk, Placed::ALERTS),
            "select 1 from t where true and (a.resident_id is not null and a.status <> 'resolved')"
        );
        for placed in [
            Placed::DEVICES,
            Placed::VISITS,
            Placed::QUARANTINE,
            Placed::RESIDENTS.in_area(Area::Alerts),
            Placed::RESIDENTS.in_area(Area::Monitoring),
            Placed::RESIDENTS.in_area(Area::Care),
            Placed::RESIDENTS.in_area(Area::Meals),
        ] {
            assert_eq!(sql(Role::Desk, placed), "select 1 from t where true and (false)", "{placed:?}");
        }
        assert_eq!(institutions(Role::Desk), "select 1 from institutions i where true and (false)");
        assert!(!scope(Role::Desk).may_care() && scope(Role::Desk).administered().is_none());

        // A clinician: the consented elders, in the FHIR view's areas only,
        // never an institution's own records or a care plan.
        let consented = "select 1 from t where true and (r.id in (select cs.resident_id from partner_consents cs where \
                         cs.grantee_institution_id = $1 and $2 = any(cs.scope) and cs.withdrawn_at is null and \
                         cs.from_at <= now() and (cs.until_at is null or cs.until_at > now())))";
        assert_eq!(scope(Role::Clinician).reach(), Reach::Consented(scope(Role::Clinician).institution.unwrap()));
        assert_eq!(sql(Role::Clinician, Placed::RESIDENTS), consented);
        assert!(sql(Role::Clinician, Placed::ALERTS).starts_with(
            "select 1 from t where true and (a.resident_id is not null and a.resident_id in (select cs.resident_id"
        ));
        assert!(sql(Role::Clinician, Placed::VISITS).contains("v.resident_id in (select cs.resident_id"));
        for placed in
            [Placed::RESIDENTS.in_area(Area::Care), Placed::RESIDENTS.in_area(Area::Meals), Placed::QUARANTINE]
        {
            assert_eq!(sql(Role::Clinician, placed), "select 1 from t where true and (false)", "{placed:?}");
        }
        assert!(!scope(Role::Clinician).may_care() && scope(Role::Clinician).administered().is_none());
        assert_eq!(scope(Role::Clinician).reaches(Uuid::nil(), None), InReach::No);
    }

    #[test]
    fn each_service_grants_its_areas_and_day_and_residential_care_all() {
        use Area::*;
        let granted = |service: Service| -> Vec<Area> {
            [Identity, Monitoring, Alerts, Care, Meals].into_iter().filter(|a| service.grants(*a)).collect()
        };
        assert_eq!(granted(Service::Monitoring), [Identity, Monitoring, Alerts]);
        assert_eq!(granted(Service::HomeCare), [Identity, Alerts, Care]);
        assert_eq!(granted(Service::Meals), [Identity, Meals]);
        assert_eq!(granted(Service::DayCare), [Identity, Monitoring, Alerts, Care, Meals]);
        assert_eq!(granted(Service::Residential), [Identity, Monitoring, Alerts, Care, Meals]);
        assert_eq!(Meals.services(), ["meals", "day_care", "residential"]);
        assert_eq!(Identity.services().len(), Service::ALL.len());
    }
}
