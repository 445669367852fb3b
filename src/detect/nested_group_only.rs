//! `nested_group_only`: an enabled user reachable only through a group nested in an assigned group
//! (Entra ID does not provision nested groups).

use super::idp_index::label;
use super::{Finding, IdpIndex, Kind};

/// The fields this kind reads ([`super::undetermined`]): the IdP user's `accountEnabled` and intent.
pub const READS: &[&str] = &["accountEnabled", "intent"];

pub fn detect(x: &IdpIndex<'_>) -> Vec<Finding> {
    x.input
        .side
        .users
        .iter()
        .filter(|u| u.nested_only && !u.intended && u.enabled == Some(true) && !u.deleted)
        .map(|u| {
            Finding::idp(
                Kind::NestedGroupOnly,
                x.directory_id,
                [],
                [],
                [u],
                format!(
                    "{} is in the app's groups only through a nested group, which Entra ID does not provision.",
                    label(u)
                ),
            )
        })
        .collect()
}
