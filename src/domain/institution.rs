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
        /// A medical partner: its clinicians read and write what elders
        /// consented to.
        Hospital = "hospital",
        /// A family doctor team (家庭医生签约团队), a medical partner too.
        FamilyDoctorTeam = "family_doctor_team",
    }
);
