//! The Atlassian Cloud APIs the simulator fakes (atlassian-api.md): SCIM directories
//! ([`scim`]), the organization's accounts and directories ([`orgs`]), user provisioning
//! ([`provisioning`]) and user management ([`user_mgmt`]); their gate ([`gate`]: keys, the quota,
//! the faults) and error shapes ([`respond`]).

pub(crate) mod gate;
pub(crate) mod orgs;
pub(crate) mod provisioning;
pub(crate) mod respond;
pub(crate) mod scim;
pub(crate) mod user_mgmt;
