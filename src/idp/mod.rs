//! The identity provider as a third source (../shared/idp-api.md): what it intends to provision
//! and how provisioning went. One client per IdP kind (`entra`), each producing an
//! [`crate::model::idp::IdpSide`] through the shared HTTP layer; completeness as idp-api.md §5.

pub mod settings;

pub use settings::{IdpKind, IdpScope, IdpSettings};
