//! Who a user is to the platform and, for most roles, to one institution.

use eldercare_domain::names;

names!(
    /// A user's role.
    Role {
        /// Runs the platform: creates institutions and their first admins.
        /// Belongs to no institution and reads no resident's data.
        Operator = "operator",
        /// A region's oversight body: aggregated figures of the region's
        /// institutions, never a person's data.
        Supervisor = "supervisor",
        Admin = "admin",
        Staff = "staff",
        /// Staff who deliver visits at home: what their assigned visits need.
        Caregiver = "caregiver",
        Family = "family",
        /// A kitchen's cooks and couriers: one kitchen's orders, production
        /// lists and rounds, and what they need of a resident to feed them.
        Kitchen = "kitchen",
        /// The civil-affairs bureau of a division (and everything under
        /// it): the elder registry of its reach.
        CivilAffairs = "civil_affairs",
        /// A grid's worker: the elders registered in the grid, their
        /// identity, status and open alerts; no health data.
        GridWorker = "grid_worker",
        /// An assessment body's assessor: the capability assessments of the
        /// elders whose applications are assigned to the body.
        Assessor = "assessor",
        /// A long-term care insurance fund office (its institution, whose
        /// division is its reach): LTC applications and entitlements, and
        /// the claims addressed to the fund.
        Insurer = "insurer",
        /// The hotline desk (81890-style), bound to the platform: looks
        /// elders up by phone, logs calls, and raises alerts, service
        /// requests and complaints for any elder; reads their identity and
        /// open alerts only.
        Desk = "desk",
        /// A hospital's or family doctor team's clinician: the record of
        /// the elders who consented to the clinician's institution, as far
        /// as each consent goes.
        Clinician = "clinician",
    }
);

impl Role {
    /// The platform's own accounts belong to no institution.
    pub fn is_platform(&self) -> bool {
        matches!(self, Role::Operator | Role::Supervisor | Role::CivilAffairs | Role::GridWorker | Role::Desk)
    }
}
