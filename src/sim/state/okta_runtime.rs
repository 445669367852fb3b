//! What the Okta fake issued and counted (never part of the world): access tokens and their
//! scopes, the counted knobs, the assertions received.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// An issued access token.
struct Issued {
    org: String,
    scopes: Vec<String>,
    expires: Instant,
}

/// Why a request's credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Missing,
    Invalid,
}

/// Who a request is: for an access token, its scopes (`None`: an API token, with its admin's
/// rights).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub scopes: Option<Vec<String>>,
}

#[derive(Default)]
pub(crate) struct OktaRuntime {
    tokens: HashMap<String, Issued>,
    /// `revoke_first_token` has refused a token already (since the knobs last changed).
    revoked_once: bool,
    /// API requests seen (the counted knobs).
    requests: u64,
    assertions: Vec<String>,
    issued: Vec<String>,
}

impl OktaRuntime {
    pub(crate) fn issue(&mut self, org: &str, scopes: Vec<String>, lifetime: Duration) -> String {
        let token = format!("okta-sim-at-{:032x}", rand::random::<u128>());
        self.tokens.insert(
            token.clone(),
            Issued {
                org: org.to_string(),
                scopes,
                expires: Instant::now() + lifetime,
            },
        );
        self.issued.push(token.clone());
        token
    }

    pub(crate) fn received(&mut self, assertion: &str) {
        self.assertions.push(assertion.to_string());
    }

    pub(crate) fn assertions(&self) -> Vec<String> {
        self.assertions.clone()
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    /// Counts one API request; its number (1-based), for the counted knobs.
    pub(crate) fn count(&mut self) -> u64 {
        self.requests += 1;
        self.requests
    }

    pub(crate) fn restart_counters(&mut self) {
        self.requests = 0;
        self.revoked_once = false;
    }

    /// Checks an `Authorization` value against `org`'s API token and the issued access tokens.
    pub(crate) fn admit(
        &mut self,
        authorization: Option<&str>,
        org: &str,
        api_token: Option<&str>,
        revoke_first: bool,
    ) -> Result<Caller, Refused> {
        let value = authorization.ok_or(Refused::Missing)?.trim();
        let (scheme, credential) = value.split_once(' ').ok_or(Refused::Invalid)?;
        let credential = credential.trim();
        if scheme.eq_ignore_ascii_case("SSWS") {
            return match api_token {
                Some(t) if t == credential => Ok(Caller { scopes: None }),
                _ => Err(Refused::Invalid),
            };
        }
        if !scheme.eq_ignore_ascii_case("Bearer") {
            return Err(Refused::Invalid);
        }
        let issued = self.tokens.get(credential).ok_or(Refused::Invalid)?;
        if issued.org != org || Instant::now() >= issued.expires {
            return Err(Refused::Invalid);
        }
        let scopes = issued.scopes.clone();
        if revoke_first && !self.revoked_once {
            self.revoked_once = true;
            self.tokens.remove(credential);
            return Err(Refused::Invalid);
        }
        Ok(Caller {
            scopes: Some(scopes),
        })
    }
}
