//! What kind of service an institution is.

use eldercare_domain::names;

names!(
    /// What kind of service an institution is.
    InstitutionKind {
        CareHome = "care_home",
        /// Serves elders in their own homes.
        HomeCare = "home_care",
        CommunityCenter = "community_center",
        Canteen = "canteen",
        /// Grades elders' capability (its users are assessors).
        Assessment = "assessment",
        /// A long-term care insurance fund office (its users are insurers).
        LtcFund = "ltc_fund",
    }
);
