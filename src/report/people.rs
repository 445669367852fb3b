//! Grouping open findings by person: findings that share an email (of a record or an account, compared
//! normalized) belong to one person, so a re-hire's three findings read together. Pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::{Change, Person, ReportFinding, SubjectRow};
use crate::findings::{AccountView, ScimUserView};
use crate::model::normalize_email;

/// Keys a finding is known by: its normalized emails (of records, accounts and IdP users), else
/// its record, account and IdP user ids, else its IdP directory (`provisioning_stalled`); and the
/// ids of the findings shown together with it.
fn keys(f: &ReportFinding) -> Vec<String> {
    let related = f
        .related
        .iter()
        .map(|r| format!("finding:{}", r.id))
        .chain((!f.related.is_empty()).then(|| format!("finding:{}", f.id)));
    let emails: Vec<String> = f
        .scim_users
        .iter()
        .filter_map(|u| u.email.as_deref())
        .chain(f.accounts.iter().filter_map(|a| a.email.as_deref()))
        .chain(f.idp_users.iter().filter_map(|u| u.email.as_deref()))
        .map(normalize_email)
        .filter(|e| !e.is_empty())
        .collect();
    if !emails.is_empty() {
        return emails.into_iter().chain(related).collect();
    }
    let ids: Vec<String> = f
        .scim_users
        .iter()
        .map(|u| format!("scim:{}/{}", u.directory_id, u.scim_id))
        .chain(
            f.accounts
                .iter()
                .map(|a| format!("account:{}", a.account_id)),
        )
        .chain(
            f.idp_users
                .iter()
                .map(|u| format!("idp:{}/{}", u.directory, u.id)),
        )
        .chain(related)
        .collect();
    if !ids.is_empty() {
        ids
    } else if let Some(g) = f.groups.first() {
        vec![format!("idp-group:{}/{}", g.directory_id, g.idp_group_id)]
    } else if let Some(dir) = &f.idp_directory {
        vec![format!("idp-job:{dir}")]
    } else {
        vec![format!("finding:{}", f.id)]
    }
}

/// Union-find over key indexes.
struct Sets(Vec<usize>);

impl Sets {
    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[b.max(a)] = a.min(b);
        }
    }
}

/// A readable, stable HTML id: `p-` and the email with every other character as `-`.
fn slug(text: &str) -> String {
    let mut s = String::from("p-");
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
        if s.len() >= 64 {
            break;
        }
    }
    s.trim_end_matches('-').to_string()
}

/// Groups `findings` (open ones) into people, most severe person first; sets each finding's `person`.
pub fn group(findings: Vec<ReportFinding>) -> Vec<Person> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut sets = Sets(Vec::new());
    let finding_keys: Vec<Vec<usize>> = findings
        .iter()
        .map(|f| {
            keys(f)
                .into_iter()
                .map(|k| {
                    let next = index.len();
                    *index.entry(k).or_insert_with(|| {
                        sets.0.push(next);
                        next
                    })
                })
                .collect()
        })
        .collect();
    for ks in &finding_keys {
        for w in ks.windows(2) {
            sets.union(w[0], w[1]);
        }
    }
    let mut groups: BTreeMap<usize, Vec<ReportFinding>> = BTreeMap::new();
    for (f, ks) in findings.into_iter().zip(&finding_keys) {
        let root = sets.find(ks[0]);
        groups.entry(root).or_default().push(f);
    }
    let mut people: Vec<Person> = groups.into_values().map(person).collect();
    let new = |p: &Person| p.findings.iter().any(|f| f.change == Change::New);
    people.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(new(b).cmp(&new(a)))
            .then(b.findings.len().cmp(&a.findings.len()))
            .then_with(|| a.email.cmp(&b.email))
            .then_with(|| a.anchor.cmp(&b.anchor))
    });
    let mut used = HashSet::new();
    for p in &mut people {
        let base = p.anchor.clone();
        let mut n = 1;
        while !used.insert(p.anchor.clone()) {
            n += 1;
            p.anchor = format!("{base}-{n}");
        }
        for f in &mut p.findings {
            f.person = Some(p.anchor.clone());
        }
    }
    people
}

fn person(mut findings: Vec<ReportFinding>) -> Person {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.id.cmp(&b.id))
    });
    // The IdP's email names the person (a record's, or the IdP user's); an account's only when
    // neither has one.
    let mut counts: BTreeMap<String, (usize, bool)> = BTreeMap::new();
    for f in &findings {
        for e in f
            .scim_users
            .iter()
            .filter_map(|u| u.email.as_deref())
            .chain(f.idp_users.iter().filter_map(|u| u.email.as_deref()))
        {
            let c = counts.entry(normalize_email(e)).or_default();
            c.0 += 1;
            c.1 = true;
        }
        for e in f.accounts.iter().filter_map(|a| a.email.as_deref()) {
            counts.entry(normalize_email(e)).or_default().0 += 1;
        }
    }
    counts.remove("");
    let email = counts
        .iter()
        .max_by(|a, b| {
            (a.1.1, a.1.0)
                .cmp(&(b.1.1, b.1.0))
                .then_with(|| b.0.cmp(a.0))
        })
        .map(|(e, _)| e.clone());
    let other_emails = counts
        .keys()
        .filter(|e| Some(*e) != email.as_ref())
        .cloned()
        .collect();
    let mut users: Vec<ScimUserView> = Vec::new();
    let mut accounts: Vec<AccountView> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for f in &findings {
        for u in &f.scim_users {
            if !users
                .iter()
                .any(|x| x.directory_id == u.directory_id && x.scim_id == u.scim_id)
            {
                users.push(u.clone());
            }
        }
        for a in &f.accounts {
            if !accounts.iter().any(|x| x.account_id == a.account_id) {
                accounts.push(a.clone());
            }
        }
    }
    for n in users
        .iter()
        .filter_map(|u| u.display_name.as_deref())
        .chain(accounts.iter().filter_map(|a| a.name.as_deref()))
    {
        let n = n.trim();
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    users.sort_by(|a, b| {
        (&a.directory, &a.email, &a.scim_id).cmp(&(&b.directory, &b.email, &b.scim_id))
    });
    let mut subjects: Vec<SubjectRow> = users
        .iter()
        .map(|u| SubjectRow {
            scim_user: Some(u.clone()),
            account: u
                .account_id
                .as_deref()
                .and_then(|id| accounts.iter().find(|a| a.account_id == id))
                .cloned(),
        })
        .collect();
    for a in &accounts {
        if !users
            .iter()
            .any(|u| u.account_id.as_deref() == Some(a.account_id.as_str()))
        {
            subjects.push(SubjectRow {
                scim_user: None,
                account: Some(a.clone()),
            });
        }
    }
    // An IdP job's findings (no one's email) are anchored by the directory.
    let job = findings
        .iter()
        .find_map(|f| f.idp_directory.as_deref())
        .filter(|_| subjects.is_empty() && findings.iter().all(|f| f.idp_users.is_empty()))
        .map(|d| format!("idp job {d}"));
    let anchor = slug(
        email
            .as_deref()
            .or(job.as_deref())
            .or_else(|| findings.first().map(|f| f.id.as_str()))
            .unwrap_or("person"),
    );
    Person {
        anchor,
        email,
        other_emails,
        names,
        severity: findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(crate::detect::Severity::Low),
        subjects,
        idp_users: Vec::new(),
        groups: Vec::new(),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Kind;
    use crate::findings::Status;

    fn user(scim: &str, email: &str, account: Option<&str>) -> ScimUserView {
        ScimUserView {
            directory_id: "d1".into(),
            directory: "entra".into(),
            scim_id: scim.into(),
            external_id: None,
            email: Some(email.into()),
            display_name: Some("Bo".into()),
            active: Some(true),
            account_id: account.map(String::from),
        }
    }

    fn account(id: &str, email: &str) -> AccountView {
        AccountView {
            account_id: id.into(),
            email: Some(email.into()),
            name: Some("Bo".into()),
            account_status: "active".into(),
            membership_status: "active".into(),
            claim_status: Some("managed".into()),
        }
    }

    fn finding(id: &str, kind: Kind, u: Vec<ScimUserView>, a: Vec<AccountView>) -> ReportFinding {
        ReportFinding {
            id: id.into(),
            kind,
            severity: kind.severity(),
            status: Status::Open,
            change: Change::New,
            first_seen: String::new(),
            last_seen: String::new(),
            resolved_at: None,
            age_days: None,
            seen_count: 1,
            summary: String::new(),
            fix_steps: String::new(),
            requests: Vec::new(),
            scim_users: u,
            accounts: a,
            idp_users: Vec::new(),
            groups: Vec::new(),
            provisioning: None,
            idp_directory: None,
            portal_steps: Vec::new(),
            related: Vec::new(),
            suppressed_by: None,
            person: None,
            undetermined: Vec::new(),
        }
    }

    #[test]
    fn findings_sharing_an_email_form_one_person() {
        let people = group(vec![
            finding(
                "f1",
                Kind::EmailMismatch,
                vec![user("r3", "Bo.New@example.com", Some("a3"))],
                vec![account("a3", "bo.old@example.com")],
            ),
            finding(
                "f2",
                Kind::EmailConflict,
                vec![user("r3", "bo.new@example.com", Some("a3"))],
                vec![account("a4", "bo.new@example.com")],
            ),
            finding(
                "f3",
                Kind::IdpInactiveAccountActive,
                vec![user("r9", "fay@example.com", Some("a9"))],
                vec![account("a9", "fay@example.com")],
            ),
        ]);
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].email.as_deref(), Some("fay@example.com"));
        assert_eq!(people[0].anchor, "p-fay-example-com");
        let bo = &people[1];
        assert_eq!(bo.email.as_deref(), Some("bo.new@example.com"));
        assert_eq!(bo.other_emails, ["bo.old@example.com"]);
        assert_eq!(bo.findings.len(), 2);
        assert_eq!(
            bo.findings[0].kind,
            Kind::EmailConflict,
            "most severe first"
        );
        assert!(
            bo.findings
                .iter()
                .all(|f| f.person.as_deref() == Some("p-bo-new-example-com"))
        );
        // r3 with its linked a3 on one row; a4 (linked from no listed record) on its own.
        assert_eq!(bo.subjects.len(), 2);
        assert_eq!(
            bo.subjects[0]
                .account
                .as_ref()
                .map(|a| a.account_id.as_str()),
            Some("a3")
        );
        assert!(bo.subjects[1].scim_user.is_none());
        assert_eq!(bo.names, ["Bo"]);
    }

    #[test]
    fn findings_without_emails_group_by_id_and_anchors_are_unique() {
        let mut u = user("r11", "x", None);
        u.email = None;
        let people = group(vec![
            finding("f1", Kind::DanglingLink, vec![u.clone()], vec![]),
            finding("f2", Kind::UnlinkedScimUser, vec![u], vec![]),
            finding(
                "f3",
                Kind::UnmanagedAccount,
                vec![],
                vec![account("a5", "p@x.org")],
            ),
            finding(
                "f4",
                Kind::UnmanagedAccount,
                vec![],
                vec![account("a6", "p-x.org")],
            ),
        ]);
        assert_eq!(people.len(), 3);
        let anchors: HashSet<&str> = people.iter().map(|p| p.anchor.as_str()).collect();
        assert_eq!(anchors.len(), 3);
        assert!(anchors.contains("p-p-x-org-2"));
    }

    #[test]
    fn slugs_are_ascii() {
        assert_eq!(slug("<img src=x>"), "p-img-src-x");
        assert_eq!(slug("ÉLODIE@example.com"), "p-lodie-example-com");
    }
}
