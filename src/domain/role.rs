//! Who a user is to the platform and, for most roles, to one institution.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Role {
    /// Runs the platform: creates institutions and their first admins.
    /// Belongs to no institution and reads no resident's data.
    Operator,
    /// A region's oversight body: aggregated figures of the region's
    /// institutions, never a person's data.
    Supervisor,
    Admin,
    Staff,
    /// Staff who deliver visits at home: what their assigned visits need.
    Caregiver,
    Family,
    /// A kitchen's cooks and couriers: one kitchen's orders, production
    /// lists and rounds, and what they need of a resident to feed them.
    Kitchen,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Caregiver => "caregiver",
            Role::Family => "family",
            Role::Kitchen => "kitchen",
        }
    }

    /// The platform's own accounts belong to no institution.
    pub fn is_platform(&self) -> bool {
        matches!(self, Role::Operator | Role::Supervisor)
    }
}
