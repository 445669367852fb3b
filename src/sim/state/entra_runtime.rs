//! The run-time side of the Entra fake: issued access tokens, the counted knobs and the
//! per-tenant request windows. Not part of the world (a fresh server forgets every token).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::sim::kit::faults::Api;

/// Why a Graph request's token is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    Missing,
    Unknown,
    Expired,
}

/// What the gate decides for one Graph request before it runs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve it for this tenant.
    Serve {
        tenant_id: String,
    },
    Refused(TokenRefusal),
    /// The expire-after-N knob fired: `401` once, the token revoked.
    Revoked,
    /// The burst knob fired.
    Burst,
}

#[derive(Debug)]
struct Issued {
    tenant_id: String,
    expires: Instant,
}

/// Tokens, counters and windows. Locked briefly, never across an `.await`.
#[derive(Debug, Default)]
pub(crate) struct EntraRuntime {
    tokens: HashMap<String, Issued>,
    /// Graph requests seen since the options last changed (for `expire_token_after`).
    graph_requests: u64,
    revoked_once: bool,
    burst_served: u32,
    /// `(tenant, family)` → instants of the accepted requests in the current window.
    windows: HashMap<(String, &'static str), VecDeque<Instant>>,
    /// Every access token ever issued, expired or revoked ones included (for tests asserting
    /// that none leaks anywhere).
    issued: Vec<String>,
    /// Every client assertion the token endpoint received.
    assertions: Vec<String>,
    /// When each Graph request arrived, by API, before any knob or check (for tests of the
    /// client's request windows).
    arrivals: Vec<(Api, Instant)>,
}

impl EntraRuntime {
    /// Restarts the counted knobs (the options changed).
    pub(crate) fn restart_counters(&mut self) {
        self.graph_requests = 0;
        self.revoked_once = false;
        self.burst_served = 0;
    }

    /// Issues a fresh random token for `tenant_id`, valid `lifetime`.
    pub(crate) fn issue(&mut self, tenant_id: &str, lifetime: Duration) -> String {
        let now = Instant::now();
        self.tokens.retain(|_, t| t.expires > now);
        let token = format!(
            "{:016x}{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        self.issued.push(token.clone());
        self.tokens.insert(
            token.clone(),
            Issued {
                tenant_id: tenant_id.to_owned(),
                expires: now + lifetime,
            },
        );
        token
    }

    /// Notes a client assertion the token endpoint received.
    pub(crate) fn received_assertion(&mut self, assertion: &str) {
        self.assertions.push(assertion.to_owned());
    }

    /// Notes a Graph request of `api` arriving now.
    pub(crate) fn arrived(&mut self, api: Api) {
        self.arrivals.push((api, Instant::now()));
    }

    /// Every access token issued so far.
    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    /// Every client assertion received so far.
    pub(crate) fn assertions(&self) -> Vec<String> {
        self.assertions.clone()
    }

    /// When each request of `api` arrived, oldest first.
    pub(crate) fn arrivals(&self, api: Api) -> Vec<Instant> {
        self.arrivals
            .iter()
            .filter(|(a, _)| *a == api)
            .map(|(_, t)| *t)
            .collect()
    }

    /// Checks the token of one Graph request and applies the counted knobs, in that order:
    /// token, expire-after-N, burst.
    pub(crate) fn admit(
        &mut self,
        token: Option<&str>,
        expire_after: Option<u32>,
        burst: u32,
    ) -> Verdict {
        let Some(token) = token else {
            return Verdict::Refused(TokenRefusal::Missing);
        };
        let tenant_id = match self.tokens.get(token) {
            None => return Verdict::Refused(TokenRefusal::Unknown),
            Some(t) if t.expires <= Instant::now() => {
                return Verdict::Refused(TokenRefusal::Expired);
            }
            Some(t) => t.tenant_id.clone(),
        };
        self.graph_requests += 1;
        if let Some(n) = expire_after
            && !self.revoked_once
            && self.graph_requests > u64::from(n)
        {
            self.revoked_once = true;
            self.tokens.remove(token);
            return Verdict::Revoked;
        }
        if self.burst_served < burst {
            self.burst_served += 1;
            return Verdict::Burst;
        }
        Verdict::Serve { tenant_id }
    }

    /// Takes one request of `family` for `tenant` from a sliding window of `limit` per `window`;
    /// `Err(wait)` when the window is full (nothing taken).
    pub(crate) fn take_window(
        &mut self,
        tenant: &str,
        family: &'static str,
        limit: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        let now = Instant::now();
        let seen = self.windows.entry((tenant.to_owned(), family)).or_default();
        while seen
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            seen.pop_front();
        }
        if seen.len() >= limit as usize {
            let oldest = seen.front().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.duration_since(oldest)));
        }
        seen.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_knobs_and_windows() {
        let mut rt = EntraRuntime::default();
        let t = rt.issue("t1", Duration::from_secs(60));
        assert_eq!(
            rt.admit(None, None, 0),
            Verdict::Refused(TokenRefusal::Missing)
        );
        assert_eq!(
            rt.admit(Some("nope"), None, 0),
            Verdict::Refused(TokenRefusal::Unknown)
        );
        assert_eq!(
            rt.admit(Some(&t), Some(2), 1),
            Verdict::Burst,
            "a burst answers after the token check"
        );
        assert_eq!(
            rt.admit(Some(&t), Some(2), 1),
            Verdict::Serve {
                tenant_id: "t1".into()
            }
        );
        assert_eq!(rt.admit(Some(&t), Some(2), 1), Verdict::Revoked);
        assert_eq!(
            rt.admit(Some(&t), Some(2), 1),
            Verdict::Refused(TokenRefusal::Unknown)
        );
        let t2 = rt.issue("t1", Duration::from_secs(60));
        assert!(matches!(
            rt.admit(Some(&t2), Some(2), 1),
            Verdict::Serve { .. }
        ));
        rt.restart_counters();
        assert_eq!(rt.admit(Some(&t2), None, 1), Verdict::Burst);
        let expired = rt.issue("t1", Duration::ZERO);
        assert_eq!(
            rt.admit(Some(&expired), None, 0),
            Verdict::Refused(TokenRefusal::Expired)
        );
        for _ in 0..2 {
            assert!(
                rt.take_window("t1", "r", 2, Duration::from_secs(10))
                    .is_ok()
            );
        }
        assert!(
            rt.take_window("t1", "r", 2, Duration::from_secs(10))
                .is_err()
        );
        assert!(
            rt.take_window("t2", "r", 2, Duration::from_secs(10))
                .is_ok()
        );
    }
}
