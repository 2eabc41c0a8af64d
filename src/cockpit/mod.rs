//! The data cockpit's figures. They are computed in
//! [`crate::domain::cockpit`], where the store that counts them can reach
//! them too.

pub use crate::domain::cockpit::*;
