//! Unknown is never evidence (scenarios.md, ARCHITECTURE.md "Undetermined, not resolved"): which
//! findings this snapshot cannot decide. A finding whose kind reads a field that is unknown in this
//! pull, on any subject it lists (a record, an account, an IdP user) or across its directory, is
//! *undetermined*: an open one keeps its state (not resolved, `seen_count` not advanced), none is
//! newly opened by it, and remediation never acts on it.
//!
//! Each kind names the fields it reads in its own file (`READS`); a field is matched by its name
//! as the data-quality notes give it, or as a dotted prefix (`emails` covers `emails.value`).
//! Kinds whose verdict also depends on subjects they do not list (a record that may join an IdP
//! user, a record whose link may point at an account) add those here through their own
//! `undetermined` function.

use std::collections::{BTreeSet, HashMap};

use super::{Finding, IdpRef, Kind, RecordRef};
use crate::model::compact::{Accounts, Records};
use crate::model::idp::IdpUser;

/// The link of a SCIM record to its account: the Atlassian extension by its short name, as the
/// notes name its fields (a record whose whole extension was unreadable lists it so too).
pub const LINK: &str = "atlassian-external";

/// A record's keys of the IdP join (idp-api.md §3): `externalId`, `userName`, the emails.
pub const RECORD_JOIN: &[&str] = &["externalId", "userName", "emails"];

/// The Graph fields an IdP user's join keys and email come from under `mapping`: its sources of
/// `externalId`, `userName` and the email (the object id needs none), and `mail` and
/// `userPrincipalName` (the email falls back to them).
pub fn idp_join_fields(mapping: &crate::model::idp::Mapping) -> Vec<String> {
    let mut out = vec!["mail".to_string(), "userPrincipalName".to_string()];
    for source in [&mapping.external_id, &mapping.user_name, &mapping.email] {
        let s = source.trim();
        let field = if s.eq_ignore_ascii_case("objectId") {
            continue;
        } else if s.eq_ignore_ascii_case("originalUserPrincipalName") {
            "userPrincipalName".to_string()
        } else if s.to_ascii_lowercase().starts_with("extensionattribute") {
            "onPremisesExtensionAttributes".to_string()
        } else {
            s.to_string()
        };
        if !out.iter().any(|f| f.eq_ignore_ascii_case(&field)) {
            out.push(field);
        }
    }
    out
}

/// The unknown fields of an IdP user that its join reads under the side's mapping.
pub fn join_unknowns<'a>(
    user: &'a crate::model::idp::IdpUser,
    fields: &'a [String],
) -> impl Iterator<Item = &'a String> + 'a {
    user.unknown.iter().filter(move |f| {
        fields.iter().any(|j| {
            f.eq_ignore_ascii_case(j)
                || f.get(..j.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(j))
                    && f.as_bytes().get(j.len()) == Some(&b'.')
        })
    })
}

/// The IdP kinds whose subjects come from the IdP join (idp-api.md §3).
const JOIN_KINDS: [Kind; 7] = [
    Kind::AssignedNotProvisioned,
    Kind::IdpDisabledScimActive,
    Kind::ProvisioningError,
    Kind::IdpEmailMismatch,
    Kind::OrphanScimRecord,
    Kind::GroupMembershipMissing,
    Kind::GroupMembershipExtra,
];

/// While an IdP user or a record of the directory has an unknown join key (a UPN, a mapped email,
/// an `externalId` or `userName` unreadable), every join not made by `externalId` is uncertain —
/// that user may be the record's, that record may be the user's own — so the join kinds cannot
/// decide those records (a stale second record included) and users.
pub fn uncertain_join(x: &super::IdpIndex<'_>, u: &mut Undetermined) {
    let join = idp_join_fields(&x.input.side.mapping);
    let fields: BTreeSet<&String> = x
        .input
        .side
        .users
        .iter()
        .flat_map(|user| join_unknowns(user, &join))
        .chain(
            x.all
                .iter()
                .flat_map(|r| r.unknown().iter().filter(|f| reads_field(RECORD_JOIN, f))),
        )
        .collect();
    if fields.is_empty() {
        return;
    }
    let strong = |key: &super::JoinKey| key.strong();
    let by_external_id: std::collections::HashSet<(&str, &str)> = x
        .records
        .iter()
        .filter(|(_, joined)| joined.as_ref().is_some_and(|(_, key)| strong(key)))
        .map(|(r, _)| (r.directory_id(), r.scim_id()))
        .collect();
    for kind in JOIN_KINDS {
        for &r in &x.all {
            if !by_external_id.contains(&(r.directory_id(), r.scim_id())) {
                u.add(
                    kind,
                    Subject::Record(RecordRef::of(r)),
                    fields.iter().copied().cloned(),
                );
            }
        }
        for user in &x.input.side.users {
            let by_external_id = x
                .records_of
                .get(user.id.as_str())
                .is_some_and(|rs| rs.iter().any(|(_, key)| strong(key)));
            if !by_external_id {
                u.add(
                    kind,
                    Subject::IdpUser(IdpRef::of(user)),
                    fields.iter().copied().cloned(),
                );
            }
        }
    }
}

/// What a finding can be undetermined about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Record(RecordRef),
    Account(String),
    IdpUser(IdpRef),
    /// The findings of a group kind about this IdP group: (directory id, IdP group id).
    Group(String, String),
    /// Every finding of the kind about this directory (its records, or its IdP).
    Directory(String),
}

/// The undetermined subjects of one snapshot, per kind, with the unknown fields that make them so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Undetermined {
    by_kind: HashMap<Kind, HashMap<Subject, BTreeSet<String>>>,
}

/// True when `field` (a note's field name) is one of `reads`, or nested under one.
pub fn reads_field(reads: &[&str], field: &str) -> bool {
    reads.iter().any(|r| {
        field == *r
            || field
                .strip_prefix(r)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

impl Undetermined {
    /// Takes in what another run noted: its subjects and fields added to these.
    pub fn merge(&mut self, other: Undetermined) {
        for (kind, subjects) in other.by_kind {
            let mine = self.by_kind.entry(kind).or_default();
            for (subject, fields) in subjects {
                mine.entry(subject).or_default().extend(fields);
            }
        }
    }

    /// Notes that `kind` cannot decide findings about `subject`, because of `fields`.
    pub fn add<S: Into<String>>(
        &mut self,
        kind: Kind,
        subject: Subject,
        fields: impl IntoIterator<Item = S>,
    ) {
        let fields: Vec<String> = fields.into_iter().map(Into::into).collect();
        if fields.is_empty() {
            return;
        }
        self.by_kind
            .entry(kind)
            .or_default()
            .entry(subject)
            .or_default()
            .extend(fields);
    }

    /// Adds `subject` for `kind` with those of `unknown` that `kind` reads, if any.
    fn add_read(&mut self, kind: Kind, subject: impl FnOnce() -> Subject, unknown: &[String]) {
        let reads = kind.reads();
        let hit: Vec<&String> = unknown.iter().filter(|f| reads_field(reads, f)).collect();
        if !hit.is_empty() {
            self.add(kind, subject(), hit.into_iter().cloned());
        }
    }

    /// The subjects of `kinds` with unknown fields those kinds read: records, accounts, and the
    /// IdP users of the directories in `idp_users`.
    pub fn of_subjects<'a>(
        kinds: &[Kind],
        records: &Records,
        accounts: &Accounts,
        idp_users: impl IntoIterator<Item = &'a IdpUser> + Clone,
    ) -> Self {
        let mut u = Undetermined::default();
        for &kind in kinds {
            for r in records.iter().filter(|r| !r.unknown().is_empty()) {
                u.add_read(kind, || Subject::Record(RecordRef::of(r)), r.unknown());
            }
            for a in accounts.iter().filter(|a| !a.unknown().is_empty()) {
                u.add_read(
                    kind,
                    || Subject::Account(a.account_id().to_string()),
                    a.unknown(),
                );
            }
            if kind.is_idp() {
                for x in idp_users
                    .clone()
                    .into_iter()
                    .filter(|x| !x.unknown.is_empty())
                {
                    u.add_read(kind, || Subject::IdpUser(IdpRef::of(x)), &x.unknown);
                }
            }
        }
        u
    }

    /// The unknown fields that leave a finding of `kind` listing these subjects undetermined,
    /// sorted; empty when it is determined.
    pub fn fields(
        &self,
        kind: Kind,
        records: &[RecordRef],
        accounts: &[String],
        idp_users: &[IdpRef],
        groups: &[super::GroupRef],
        directory: Option<&str>,
    ) -> Vec<String> {
        let Some(subjects) = self.by_kind.get(&kind) else {
            return Vec::new();
        };
        let mut out = BTreeSet::new();
        let mut take = |s: Subject| {
            if let Some(f) = subjects.get(&s) {
                out.extend(f.iter().cloned());
            }
        };
        for r in records {
            take(Subject::Record(r.clone()));
        }
        for a in accounts {
            take(Subject::Account(a.clone()));
        }
        for u in idp_users {
            take(Subject::IdpUser(u.clone()));
        }
        for g in groups {
            take(Subject::Group(
                g.directory_id.clone(),
                g.idp_group_id.clone(),
            ));
        }
        let directories: BTreeSet<&str> = records
            .iter()
            .map(|r| r.directory_id.as_str())
            .chain(idp_users.iter().map(|u| u.directory_id.as_str()))
            .chain(directory)
            .collect();
        for d in directories {
            take(Subject::Directory(d.to_string()));
        }
        out.into_iter().collect()
    }

    /// [`Undetermined::fields`] of one finding.
    pub fn of(&self, f: &Finding) -> Vec<String> {
        self.fields(
            f.kind,
            &f.records,
            &f.accounts,
            &f.idp_users,
            &f.groups,
            f.directory_id.as_deref(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.by_kind.values().all(HashMap::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idp_users_join_reads_only_what_the_mapping_uses() {
        use crate::model::idp::{IdpUser, Mapping};
        let mut m = Mapping::entra_default("t");
        assert_eq!(idp_join_fields(&m), ["mail", "userPrincipalName"]);
        m.email = "extensionAttribute3".into();
        m.user_name = "employeeId".into();
        assert_eq!(
            idp_join_fields(&m),
            [
                "mail",
                "userPrincipalName",
                "employeeId",
                "onPremisesExtensionAttributes"
            ]
        );
        let user = |unknown: &[&str]| IdpUser {
            scim_id: None,
            sync_state: None,
            status: None,
            directory_id: "d1".into(),
            id: "u1".into(),
            user_principal_name: None,
            mail: None,
            display_name: None,
            user_type: None,
            enabled: None,
            intended: false,
            assigned_directly: false,
            groups: Vec::new(),
            nested_only: false,
            deleted: false,
            deleted_at: None,
            scim_external_id: None,
            scim_user_name: None,
            email: None,
            unknown: unknown.iter().map(|s| s.to_string()).collect(),
        };
        let join = idp_join_fields(&m);
        let u = user(&[
            "displayName",
            "onPremisesExtensionAttributes.extensionAttribute3",
            "é",
        ]);
        let hit: Vec<&String> = join_unknowns(&u, &join).collect();
        assert_eq!(hit, ["onPremisesExtensionAttributes.extensionAttribute3"]);
        let u = user(&["EMPLOYEEID", "mailNickname"]);
        assert_eq!(join_unknowns(&u, &join).count(), 1);
    }

    #[test]
    fn a_field_matches_itself_and_what_is_nested_under_it() {
        assert!(reads_field(&["emails"], "emails"));
        assert!(reads_field(&["emails"], "emails.value"));
        assert!(!reads_field(&["email"], "emails"));
        assert!(!reads_field(&["email"], "emails.value"));
        assert!(reads_field(
            &[LINK],
            "atlassian-external.atlassianAccountId"
        ));
        assert!(!reads_field(&["active"], "activeSince"));
    }

    #[test]
    fn a_finding_is_undetermined_by_any_listed_subject_or_its_directory() {
        let mut u = Undetermined::default();
        let r = RecordRef {
            directory_id: "d1".into(),
            scim_id: "s1".into(),
        };
        u.add(
            Kind::UnlinkedScimUser,
            Subject::Record(r.clone()),
            ["active"],
        );
        u.add(
            Kind::NoSyncedGroups,
            Subject::Directory("d1".into()),
            ["members"],
        );
        assert_eq!(
            u.fields(
                Kind::UnlinkedScimUser,
                std::slice::from_ref(&r),
                &[],
                &[],
                &[],
                None
            ),
            ["active"]
        );
        // Another kind does not read it.
        assert!(
            u.fields(
                Kind::DanglingLink,
                std::slice::from_ref(&r),
                &[],
                &[],
                &[],
                None
            )
            .is_empty()
        );
        assert_eq!(
            u.fields(
                Kind::NoSyncedGroups,
                std::slice::from_ref(&r),
                &[],
                &[],
                &[],
                None
            ),
            ["members"]
        );
        let other = RecordRef {
            directory_id: "d2".into(),
            scim_id: "s1".into(),
        };
        assert!(
            u.fields(Kind::NoSyncedGroups, &[other], &[], &[], &[], None)
                .is_empty()
        );
        assert!(!u.is_empty());
        assert!(Undetermined::default().is_empty());
    }
}
