//! Ignore rules: a matched finding is *suppressed* (reported as such, counted apart), never dropped.
//! An expired rule stops matching and says so in the log.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::detect::Kind;
use crate::model::normalize_email;

/// One `[[ignore]]` rule as written: an optional kind, exactly one matcher, a reason, an optional expiry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IgnoreConfig {
    pub kind: Option<String>,
    pub email: Option<String>,
    pub email_domain: Option<String>,
    pub account_id: Option<String>,
    pub scim_id: Option<String>,
    #[serde(default)]
    pub reason: String,
    /// `YYYY-MM-DD`: the rule stops matching after this day.
    pub expires: Option<String>,
}

/// What a rule matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    Email(String),
    EmailDomain(String),
    AccountId(String),
    ScimId(String),
}

/// A validated `[[ignore]]` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    pub kind: Option<Kind>,
    pub matcher: Matcher,
    pub reason: String,
    pub expires: Option<NaiveDate>,
}

/// Why a finding is suppressed, as shown in JSON and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Suppression {
    pub reason: String,
    pub expires: Option<String>,
    /// The rule's matcher, e.g. `email_domain = example.org`.
    pub rule: String,
}

/// The subjects of a finding that rules can match.
pub struct Subjects<'a> {
    pub kind: Kind,
    pub emails: Vec<&'a str>,
    pub account_ids: Vec<&'a str>,
    pub scim_ids: Vec<&'a str>,
}

impl IgnoreRule {
    /// Validates one rule; errors are (key, what was expected).
    pub fn from_config(c: &IgnoreConfig) -> Result<IgnoreRule, (String, String)> {
        let kind = match &c.kind {
            Some(k) => Some(k.parse::<Kind>().map_err(|e| ("kind".to_string(), e))?),
            None => None,
        };
        let mut matchers = Vec::new();
        if let Some(v) = &c.email {
            matchers.push(Matcher::Email(normalize_email(v)));
        }
        if let Some(v) = &c.email_domain {
            matchers.push(Matcher::EmailDomain(
                normalize_email(v).trim_start_matches('@').to_string(),
            ));
        }
        if let Some(v) = &c.account_id {
            matchers.push(Matcher::AccountId(v.trim().to_string()));
        }
        if let Some(v) = &c.scim_id {
            matchers.push(Matcher::ScimId(v.trim().to_string()));
        }
        if matchers.len() != 1 {
            return Err((
                "email".into(),
                "expected exactly one of email, email_domain, account_id or scim_id".into(),
            ));
        }
        let matcher = matchers.remove(0);
        let empty = match &matcher {
            Matcher::Email(v)
            | Matcher::EmailDomain(v)
            | Matcher::AccountId(v)
            | Matcher::ScimId(v) => v.is_empty(),
        };
        if empty {
            return Err(("email".into(), "the matcher value is empty".into()));
        }
        if c.reason.trim().is_empty() {
            return Err((
                "reason".into(),
                "required: say why these findings are accepted".into(),
            ));
        }
        let expires = match &c.expires {
            Some(d) => Some(
                NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    (
                        "expires".to_string(),
                        format!("expected a date YYYY-MM-DD, got {d:?}"),
                    )
                })?,
            ),
            None => None,
        };
        Ok(IgnoreRule {
            kind,
            matcher,
            reason: c.reason.trim().to_string(),
            expires,
        })
    }

    /// True when the rule no longer applies on `today`.
    pub fn expired(&self, today: NaiveDate) -> bool {
        self.expires.is_some_and(|e| today > e)
    }

    /// True when the rule matches the subjects (ignoring expiry).
    pub fn matches(&self, s: &Subjects<'_>) -> bool {
        if self.kind.is_some_and(|k| k != s.kind) {
            return false;
        }
        match &self.matcher {
            Matcher::Email(e) => s.emails.iter().any(|x| normalize_email(x) == *e),
            Matcher::EmailDomain(d) => s.emails.iter().any(|x| {
                normalize_email(x)
                    .rsplit_once('@')
                    .is_some_and(|(_, dom)| dom == d)
            }),
            Matcher::AccountId(a) => s.account_ids.contains(&a.as_str()),
            Matcher::ScimId(id) => s.scim_ids.contains(&id.as_str()),
        }
    }

    /// How the rule reads in reports.
    pub fn describe(&self) -> String {
        let m = match &self.matcher {
            Matcher::Email(v) => format!("email = {v}"),
            Matcher::EmailDomain(v) => format!("email_domain = {v}"),
            Matcher::AccountId(v) => format!("account_id = {v}"),
            Matcher::ScimId(v) => format!("scim_id = {v}"),
        };
        match self.kind {
            Some(k) => format!("kind = {k}, {m}"),
            None => m,
        }
    }

    fn suppression(&self) -> Suppression {
        Suppression {
            reason: self.reason.clone(),
            expires: self.expires.map(|d| d.to_string()),
            rule: self.describe(),
        }
    }
}

/// The first unexpired rule matching `subjects` on `today`.
pub fn suppression(
    rules: &[IgnoreRule],
    subjects: &Subjects<'_>,
    today: NaiveDate,
) -> Option<Suppression> {
    rules
        .iter()
        .find(|r| !r.expired(today) && r.matches(subjects))
        .map(IgnoreRule::suppression)
}

/// Logs each expired rule once per call (the daemon calls it once per cycle).
pub fn log_expired(rules: &[IgnoreRule], today: NaiveDate) {
    for r in rules.iter().filter(|r| r.expired(today)) {
        tracing::warn!(
            rule = %r.describe(),
            expires = %r.expires.map(|d| d.to_string()).unwrap_or_default(),
            "ignore rule expired: it no longer suppresses anything; renew or remove it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: impl FnOnce(&mut IgnoreConfig)) -> Result<IgnoreRule, (String, String)> {
        let mut c = IgnoreConfig {
            reason: "accepted".into(),
            ..IgnoreConfig::default()
        };
        f(&mut c);
        IgnoreRule::from_config(&c)
    }

    fn subjects<'a>(kind: Kind, emails: Vec<&'a str>, accounts: Vec<&'a str>) -> Subjects<'a> {
        Subjects {
            kind,
            emails,
            account_ids: accounts,
            scim_ids: vec!["s1"],
        }
    }

    #[test]
    fn matchers() {
        let s = subjects(Kind::UnmanagedAccount, vec!["Svc@Example.org"], vec!["a5"]);
        assert!(
            rule(|c| c.email = Some("svc@example.org".into()))
                .unwrap()
                .matches(&s)
        );
        assert!(
            rule(|c| c.email_domain = Some("@EXAMPLE.org".into()))
                .unwrap()
                .matches(&s)
        );
        assert!(
            !rule(|c| c.email_domain = Some("example.com".into()))
                .unwrap()
                .matches(&s)
        );
        assert!(
            rule(|c| c.account_id = Some("a5".into()))
                .unwrap()
                .matches(&s)
        );
        assert!(rule(|c| c.scim_id = Some("s1".into())).unwrap().matches(&s));
        let other_kind = rule(|c| {
            c.kind = Some("dangling_link".into());
            c.account_id = Some("a5".into());
        })
        .unwrap();
        assert!(!other_kind.matches(&s));
    }

    #[test]
    fn validation_names_the_key() {
        assert_eq!(rule(|_| {}).unwrap_err().0, "email");
        assert_eq!(
            rule(|c| {
                c.email = Some("a@b".into());
                c.account_id = Some("x".into());
            })
            .unwrap_err()
            .0,
            "email"
        );
        assert_eq!(
            rule(|c| {
                c.email = Some("a@b".into());
                c.reason = " ".into();
            })
            .unwrap_err()
            .0,
            "reason"
        );
        assert_eq!(
            rule(|c| {
                c.email = Some("a@b".into());
                c.kind = Some("nope".into());
            })
            .unwrap_err()
            .0,
            "kind"
        );
        assert_eq!(
            rule(|c| {
                c.email = Some("a@b".into());
                c.expires = Some("next week".into());
            })
            .unwrap_err()
            .0,
            "expires"
        );
    }

    #[test]
    fn expired_rules_stop_matching() {
        let r = rule(|c| {
            c.account_id = Some("a5".into());
            c.expires = Some("2026-06-30".into());
        })
        .unwrap();
        let s = subjects(Kind::UnmanagedAccount, vec![], vec!["a5"]);
        let day = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        assert!(
            suppression(std::slice::from_ref(&r), &s, day("2026-06-30")).is_some(),
            "valid through its last day"
        );
        assert!(suppression(&[r], &s, day("2026-07-01")).is_none());
    }
}
