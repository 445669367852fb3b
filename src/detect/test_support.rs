//! Builders for detector unit tests.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{DetectSettings, Finding, Input, Kind, RecordRef};
use crate::model::{Account, ScimGroup, ScimRecord};

/// An active, unlinked record in directory `d1` with id `id` and `email`, in no group.
pub fn record(id: &str, email: &str) -> ScimRecord {
    ScimRecord {
        directory_id: "d1".into(),
        scim_id: id.into(),
        external_id: None,
        user_name: email.into(),
        email: Some(email.into()),
        display_name: None,
        active: Some(true),
        account_id: None,
        groups: vec!["g1".into()],
        created: None,
        link_unknown: false,
        unknown: Vec::new(),
        last_modified: Some("2026-01-01T00:00:00Z".into()),
    }
}

/// The same record linked to `account`.
pub fn linked(id: &str, email: &str, account: &str) -> ScimRecord {
    ScimRecord {
        account_id: Some(account.into()),
        ..record(id, email)
    }
}

/// A managed account with access.
pub fn account(id: &str, email: &str) -> Account {
    Account {
        account_id: id.into(),
        account_type: Some("atlassian".into()),
        account_status: "active".into(),
        membership_status: "active".into(),
        status: Some("active".into()),
        claim_status: Some("managed".into()),
        management_source: Some("synced".into()),
        email: Some(email.into()),
        name: None,
        added_to_org: None,
        deactivated_on: None,
        unknown: Vec::new(),
    }
}

/// Runs only `kind` over the population, at `now` = 2026-06-01.
pub fn run(kind: Kind, records: &[ScimRecord], accounts: &[Account]) -> Vec<Finding> {
    run_with(kind, records, &[], accounts, &HashMap::new())
}

pub fn now() -> DateTime<Utc> {
    "2026-06-01T00:00:00Z".parse().unwrap()
}

/// Runs only `kind` with groups and history.
pub fn run_with(
    kind: Kind,
    records: &[ScimRecord],
    groups: &[ScimGroup],
    accounts: &[Account],
    inactive_since: &HashMap<RecordRef, super::InactiveSince>,
) -> Vec<Finding> {
    detect_one(kind, records, groups, accounts, inactive_since).findings
}

/// Runs only `kind`: its findings and what it could not decide.
pub fn detect_one(
    kind: Kind,
    records: &[ScimRecord],
    groups: &[ScimGroup],
    accounts: &[Account],
    inactive_since: &HashMap<RecordRef, super::InactiveSince>,
) -> super::Detection {
    let settings = DetectSettings {
        disabled: Kind::ALL.into_iter().filter(|k| *k != kind).collect(),
        ..DetectSettings::default()
    };
    let input = Input {
        idp: &[],
        records: &records.iter().collect(),
        groups,
        accounts: &accounts.iter().collect(),
        inactive_since,
        previous_links: &HashMap::new(),
        now: now(),
    };
    super::detect_all(&input, &settings)
}

/// The listed ids of a finding: (SCIM ids, account ids).
pub fn ids(f: &Finding) -> (Vec<&str>, Vec<&str>) {
    (
        f.records.iter().map(|r| r.scim_id.as_str()).collect(),
        f.accounts.iter().map(String::as_str).collect(),
    )
}
