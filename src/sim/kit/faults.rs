//! Fault knobs: rules that make chosen requests fail or misbehave, changeable at run time through
//! [`SimHandle::set_faults`](super::SimHandle::set_faults).

use std::time::Duration;

use axum::http::Method;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The API families of `shared/atlassian-api.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    /// `/scim/directory/{dir}/…` (directory key).
    Scim,
    /// `/admin/v2/orgs/{org}/…`: accounts, directories, suspend/restore.
    Accounts,
    /// `/admin/user-provisioning/v1/org/{org}/…`.
    Provisioning,
    /// `/users/{accountId}/manage/…`.
    UserManagement,
    /// `/entra-login/{tenant}/oauth2/v2.0/token` (Entra ID's token endpoint).
    EntraToken,
    /// `/graph/v1.0/…` (Microsoft Graph) other than the two below.
    Graph,
    /// `/graph/v1.0/auditLogs/…` (Graph reports: provisioning logs).
    GraphReports,
    /// `/graph/v1.0/servicePrincipals/{id}/synchronization/jobs/{jobId}/provisionOnDemand`.
    GraphProvisionOnDemand,
    /// `/okta/{org}/oauth2/v1/token` (Okta's org authorization server).
    OktaToken,
    /// `/okta/{org}/api/v1/…` (Okta's Management API) other than the System Log.
    Okta,
    /// `/okta/{org}/api/v1/logs` (the System Log).
    OktaLogs,
}

impl Api {
    /// All APIs, in counter order.
    pub const ALL: [Api; 11] = [
        Api::Scim,
        Api::Accounts,
        Api::Provisioning,
        Api::UserManagement,
        Api::EntraToken,
        Api::Graph,
        Api::GraphReports,
        Api::GraphProvisionOnDemand,
        Api::OktaToken,
        Api::Okta,
        Api::OktaLogs,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Whether this is an Atlassian admin API (rate-limit headers on every answer).
    pub fn is_admin(self) -> bool {
        matches!(
            self,
            Api::Accounts | Api::Provisioning | Api::UserManagement
        )
    }

    /// Whether this is one of Okta's APIs.
    pub fn is_okta(self) -> bool {
        matches!(self, Api::OktaToken | Api::Okta | Api::OktaLogs)
    }

    /// Whether this is one of the Entra ID / Microsoft Graph APIs.
    pub fn is_entra(self) -> bool {
        matches!(
            self,
            Api::EntraToken | Api::Graph | Api::GraphReports | Api::GraphProvisionOnDemand
        )
    }
}

/// Which headers a `429` carries (besides its body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfterStyle {
    /// `Retry-After: <integer seconds>` (`SimOptions::retry_after_seconds`) and `X-RateLimit-*`.
    Seconds,
    /// `Retry-After: <HTTP date>` (whole seconds, so it may already be past) and `X-RateLimit-*`.
    HttpDate,
    /// Only `X-RateLimit-*`, the reset an ISO-8601 time `rate_limit_wait` ahead (milliseconds).
    ResetOnly,
    /// No rate-limit headers at all: the client must back off on its own.
    None,
}

/// What a matching rule does to a request.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// Answer this status (API-specific error shape) without executing the request.
    Status(u16),
    /// Execute the request (mutations take effect), then answer this status anyway.
    StatusAfterApply(u16),
    /// Answer this status with a message echoing the request's `Authorization` header (as a
    /// misconfigured proxy might), without executing the request.
    EchoAuthorization(u16),
    /// Answer this status with a message echoing the credential of the request's `Authorization`
    /// header (without its scheme word) in this encoding, without executing the request.
    EchoCredential(u16, Encoding),
    /// Answer `429` without executing the request.
    RateLimit(RetryAfterStyle),
    /// Serve a body that is not valid JSON.
    MalformedJson,
    /// Serve the body cut in the middle (with a matching `Content-Length`).
    TruncatedBody,
    /// Serve the page without its `Resources` / `data` member.
    MissingResources,
    /// Report `totalResults` off by this much.
    TotalResultsDrift(i64),
    /// Delay the answer by this much, then serve it normally.
    Delay(Duration),
    /// Answer this status with this message in the API's error shape (hostile error bodies),
    /// without executing the request.
    StatusMessage(u16, String),
    /// Serve each resource's `active` as a string (`"True"`/`"False"`), as Entra ID is known to.
    StringBooleans,
    /// Serve each resource without its `meta` (no `lastModified`).
    WithoutMeta,
    /// Serve an empty but well-formed page: SCIM `totalResults: 0` and no `Resources`; accounts
    /// `data: []` with `links.next: null` (a source that suddenly looks empty).
    EmptyPage,
    /// Serve the accounts page's `links` without a usable `next`.
    BadLinksNext(BadNext),
    /// Serve `field` (a top-level member) of the item with this id (`id` or `accountId`; `None`:
    /// every item) as `value`: an odd value a client must survive.
    SetField {
        id: Option<String>,
        field: String,
        value: serde_json::Value,
    },
    /// Serve a copy of the item with this id (`id` or `accountId`) just before it, with `set`'s
    /// members replacing the copy's: one id listed twice on a page, the first copy differing. A
    /// SCIM page's `itemsPerPage` counts the copy.
    RepeatItem {
        id: String,
        set: serde_json::Map<String, serde_json::Value>,
    },
    /// Serve `item` first on the page (`Resources`, `data` or `value`), `totalResults` unchanged:
    /// an id already served on another page, or one record too many on a SCIM page (with
    /// `counted`, its `itemsPerPage` counts it, so only the `count` asked exposes it).
    InjectItem {
        item: serde_json::Value,
        counted: bool,
    },
}

/// How [`FaultKind::EchoCredential`] writes the credential it echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Raw,
    /// Every `-`, `.`, `_` and `~` as a `\u00XX` escape, inside the JSON string (so escaped twice
    /// in the body: a client decoding the JSON still sees the escapes).
    JsonEscaped,
    Base64,
    Base64Url,
    UpperCase,
    Hex,
}

impl Encoding {
    pub const ALL: [Encoding; 6] = [
        Encoding::Raw,
        Encoding::JsonEscaped,
        Encoding::Base64,
        Encoding::Base64Url,
        Encoding::UpperCase,
        Encoding::Hex,
    ];

    /// `text` in this encoding.
    pub fn apply(self, text: &str) -> String {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        match self {
            Encoding::Raw => text.to_string(),
            Encoding::JsonEscaped => text
                .chars()
                .map(|c| match c {
                    '-' | '.' | '_' | '~' => format!("\\u{:04x}", c as u32),
                    c => c.to_string(),
                })
                .collect(),
            Encoding::Base64 => STANDARD.encode(text),
            Encoding::Base64Url => URL_SAFE_NO_PAD.encode(text),
            Encoding::UpperCase => text.to_uppercase(),
            Encoding::Hex => text.bytes().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// The message of an echoing fault: the whole `Authorization` value as sent, or (with an
/// encoding) its credential, without the scheme word, encoded.
pub(crate) fn echo_message(authorization: &str, encoding: Option<Encoding>) -> String {
    match encoding {
        None => format!("request refused; Authorization: {authorization}"),
        Some(encoding) => {
            let credential = authorization
                .split_once(' ')
                .map_or(authorization, |(_, c)| c.trim());
            format!(
                "request refused; credential seen: {}",
                encoding.apply(credential)
            )
        }
    }
}

/// How [`FaultKind::BadLinksNext`] spoils `links.next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadNext {
    /// The `next` key is absent.
    Missing,
    /// `next` is `""`.
    Empty,
    /// `links` itself is absent.
    NoLinks,
    /// `next` is the page's own cursor (`links.self`): after the first page, a cursor already
    /// followed.
    ThisPage,
}

/// A fault applied to the requests it matches. Filters left `None` match everything.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultRule {
    pub api: Option<Api>,
    /// A directory id that must appear in the path (SCIM, suspend/restore, unlink).
    pub directory: Option<String>,
    pub method: Option<Method>,
    /// A substring the path must contain, e.g. `"/Groups"` or `"/users/search"`.
    pub path_contains: Option<String>,
    pub kind: FaultKind,
    /// Let this many matching requests pass before firing.
    pub skip: u32,
    /// Fire this many times (`None`: forever).
    pub times: Option<u32>,
}

impl FaultRule {
    /// A rule firing `kind` on every request, forever; narrow it with the builder methods.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            api: None,
            directory: None,
            method: None,
            path_contains: None,
            kind,
            skip: 0,
            times: None,
        }
    }

    /// Only requests to `api`.
    pub fn on(self, api: Api) -> Self {
        Self {
            api: Some(api),
            ..self
        }
    }

    /// Only requests about directory `id`.
    pub fn in_directory(self, id: impl Into<String>) -> Self {
        Self {
            directory: Some(id.into()),
            ..self
        }
    }

    /// Only requests with this method.
    pub fn method(self, method: Method) -> Self {
        Self {
            method: Some(method),
            ..self
        }
    }

    /// Only requests whose path contains `fragment`.
    pub fn path_contains(self, fragment: impl Into<String>) -> Self {
        Self {
            path_contains: Some(fragment.into()),
            ..self
        }
    }

    /// Let `n` matching requests pass first.
    pub fn skip(self, n: u32) -> Self {
        Self { skip: n, ..self }
    }

    /// Fire at most `n` times.
    pub fn times(self, n: u32) -> Self {
        Self {
            times: Some(n),
            ..self
        }
    }

    /// Fire exactly once (on the first match after `skip`).
    pub fn once(self) -> Self {
        self.times(1)
    }

    fn matches(&self, req: &RequestFacts<'_>) -> bool {
        self.api.is_none_or(|api| api == req.api)
            && self
                .directory
                .as_deref()
                .is_none_or(|d| req.directory == Some(d))
            && self.method.as_ref().is_none_or(|m| m == req.method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|f| req.path.contains(f))
    }
}

/// All fault knobs. The default injects nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Every due rule fires; a status / rate-limit answer wins over body faults.
    pub rules: Vec<FaultRule>,
    /// Every Nth authenticated request (any API) answers `429` with this style.
    pub rate_limit_every: Option<(u32, RetryAfterStyle)>,
    /// Probability of a random `500/502/503/504` per authenticated request (seeded RNG).
    pub error_5xx_rate: f64,
    /// Added to every request.
    pub latency: Duration,
    /// Seeds the RNG behind `error_5xx_rate`.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            rate_limit_every: None,
            error_5xx_rate: 0.0,
            latency: Duration::ZERO,
            seed: 1,
        }
    }
}

impl Faults {
    /// Faults consisting of these rules only.
    pub fn rules(rules: impl IntoIterator<Item = FaultRule>) -> Self {
        Self {
            rules: rules.into_iter().collect(),
            ..Self::default()
        }
    }
}

/// What the gate knows about a request when deciding faults.
pub(crate) struct RequestFacts<'a> {
    pub api: Api,
    pub directory: Option<&'a str>,
    pub method: &'a Method,
    pub path: &'a str,
}

/// An answer that replaces executing the request.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Preempt {
    Status(u16),
    EchoAuthorization(u16, Option<Encoding>),
    RateLimit(RetryAfterStyle),
    StatusMessage(u16, String),
}

/// Everything that happens to one request.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub delay: Duration,
    pub preempt: Option<Preempt>,
    /// Applied in order to the executed request's answer.
    pub after: Vec<FaultKind>,
}

/// The run-time side of [`Faults`]: per-rule counters and the RNG.
pub(crate) struct FaultEngine {
    faults: Faults,
    seen: Vec<u32>,
    fired: Vec<u32>,
    requests: u64,
    rng: StdRng,
}

impl FaultEngine {
    pub(crate) fn new(faults: Faults) -> Self {
        let n = faults.rules.len();
        let rng = StdRng::seed_from_u64(faults.seed);
        Self {
            faults,
            seen: vec![0; n],
            fired: vec![0; n],
            requests: 0,
            rng,
        }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Decides the faults for one authenticated request, advancing the counters.
    pub(crate) fn decide(&mut self, req: &RequestFacts<'_>) -> Decision {
        self.requests += 1;
        let mut decision = Decision {
            delay: self.faults.latency,
            ..Decision::default()
        };
        for (i, rule) in self.faults.rules.iter().enumerate() {
            if !rule.matches(req) {
                continue;
            }
            self.seen[i] += 1;
            let due = self.seen[i] > rule.skip && rule.times.is_none_or(|t| self.fired[i] < t);
            if !due {
                continue;
            }
            self.fired[i] += 1;
            match &rule.kind {
                FaultKind::Status(code) => {
                    decision.preempt.get_or_insert(Preempt::Status(*code));
                }
                FaultKind::EchoAuthorization(code) => {
                    decision
                        .preempt
                        .get_or_insert(Preempt::EchoAuthorization(*code, None));
                }
                FaultKind::EchoCredential(code, encoding) => {
                    decision
                        .preempt
                        .get_or_insert(Preempt::EchoAuthorization(*code, Some(*encoding)));
                }
                FaultKind::RateLimit(style) => {
                    decision.preempt.get_or_insert(Preempt::RateLimit(*style));
                }
                FaultKind::Delay(d) => decision.delay += *d,
                FaultKind::StatusMessage(code, message) => {
                    decision
                        .preempt
                        .get_or_insert(Preempt::StatusMessage(*code, message.clone()));
                }
                other => decision.after.push(other.clone()),
            }
        }
        if decision.preempt.is_none()
            && let Some((n, style)) = self.faults.rate_limit_every
            && n > 0
            && self.requests.is_multiple_of(u64::from(n))
        {
            decision.preempt = Some(Preempt::RateLimit(style));
        }
        if decision.preempt.is_none()
            && self.faults.error_5xx_rate > 0.0
            && self
                .rng
                .random_bool(self.faults.error_5xx_rate.clamp(0.0, 1.0))
        {
            let code = [500, 502, 503, 504][self.rng.random_range(0..4)];
            decision.preempt = Some(Preempt::Status(code));
        }
        decision
    }
}
