//! The simulator's shared kit, used by every faked API and importing nothing else of `sim/`: the
//! fault rules and their engine ([`faults`], [`after`]), answers and extractors ([`respond`]),
//! credentials as the fakes read them and the test keys ([`auth`]), the request log ([`log`]).

pub(crate) mod after;
pub(crate) mod auth;
pub(crate) mod faults;
pub(crate) mod log;
pub(crate) mod respond;
