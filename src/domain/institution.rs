//! What kind of service an institution is.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum InstitutionKind {
    CareHome,
    /// Serves elders in their own homes.
    HomeCare,
    CommunityCenter,
    Canteen,
}
