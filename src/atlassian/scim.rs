//! SCIM directory users and groups (`/scim/directory/{directoryId}/…`, directory API key).

use serde::Deserialize;
use serde_json::value::RawValue;

use super::http::HttpLayer;
use super::paging::{PageSink, Paged, scim_list};
use crate::model::{ScimGroup, ScimRecord};
use crate::secret::Secret;

/// One SCIM directory, read with its own key.
pub struct ScimClient<'a> {
    pub http: &'a HttpLayer,
    pub directory_id: &'a str,
    /// Source name for errors: `scim:<name>`.
    pub origin: String,
    pub key: &'a Secret,
    pub page_size: usize,
}

impl ScimClient<'_> {
    fn path(&self, what: &str) -> String {
        format!("/scim/directory/{}/{what}", self.directory_id)
    }

    /// Every user of the directory, page by page into `sink`.
    pub async fn users(&self, sink: &impl PageSink<ScimRecord>) -> Paged {
        let dir = self.directory_id;
        let parse = |raw: &RawValue| parse_user(dir, raw);
        scim_list(
            self.http,
            self.key,
            &self.origin,
            &self.path("Users"),
            self.page_size,
            parse,
            sink,
        )
        .await
    }

    /// Every group of the directory, with members, page by page into `sink`.
    pub async fn groups(&self, sink: &impl PageSink<ScimGroup>) -> Paged {
        let dir = self.directory_id;
        let parse = |raw: &RawValue| parse_group(dir, raw);
        scim_list(
            self.http,
            self.key,
            &self.origin,
            &self.path("Groups"),
            self.page_size,
            parse,
            sink,
        )
        .await
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserJson {
    id: String,
    external_id: Option<String>,
    user_name: Option<String>,
    #[serde(default)]
    emails: Option<Vec<EmailJson>>,
    display_name: Option<String>,
    name: Option<NameJson>,
    active: Option<bool>,
    groups: Option<Vec<MemberRef>>,
    meta: Option<MetaJson>,
    #[serde(rename = "urn:scim:schemas:extension:atlassian-external:1.0")]
    atlassian: Option<AtlassianExt>,
}

#[derive(Deserialize)]
struct EmailJson {
    value: Option<String>,
    primary: Option<bool>,
}

#[derive(Deserialize)]
struct NameJson {
    formatted: Option<String>,
    #[serde(rename = "givenName")]
    given_name: Option<String>,
    #[serde(rename = "familyName")]
    family_name: Option<String>,
}

#[derive(Deserialize)]
struct MemberRef {
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaJson {
    created: Option<String>,
    last_modified: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AtlassianExt {
    atlassian_account_id: Option<String>,
}

/// Parses one SCIM user leniently (see atlassian-api.md §1): `active`, `groups`, `emails` may be absent.
pub fn parse_user(directory_id: &str, raw: &RawValue) -> Result<(String, ScimRecord), String> {
    let u: UserJson =
        serde_json::from_str(raw.get()).map_err(|e| format!("not a SCIM user: {e}"))?;
    if u.id.trim().is_empty() {
        return Err("SCIM user with an empty id".into());
    }
    let user_name = u.user_name.unwrap_or_default();
    let emails = u.emails.unwrap_or_default();
    let email = emails
        .iter()
        .find(|e| e.primary == Some(true) && e.value.is_some())
        .or_else(|| emails.iter().find(|e| e.value.is_some()))
        .and_then(|e| e.value.clone())
        .or_else(|| user_name.contains('@').then(|| user_name.clone()))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    let display_name = u.display_name.or_else(|| {
        u.name.and_then(|n| {
            n.formatted.or_else(|| {
                let parts: Vec<String> = [n.given_name, n.family_name]
                    .into_iter()
                    .flatten()
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
        })
    });
    let account_id = u
        .atlassian
        .and_then(|a| a.atlassian_account_id)
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    let (created, last_modified) = u
        .meta
        .map(|m| (m.created, m.last_modified))
        .unwrap_or_default();
    let record = ScimRecord {
        directory_id: directory_id.to_string(),
        scim_id: u.id.clone(),
        external_id: u.external_id,
        user_name,
        email,
        display_name,
        active: u.active,
        account_id,
        groups: u
            .groups
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| g.value)
            .collect(),
        created,
        last_modified,
    };
    Ok((u.id, record))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupJson {
    id: String,
    display_name: Option<String>,
    external_id: Option<String>,
    members: Option<Vec<MemberRef>>,
}

/// Parses one SCIM group.
pub fn parse_group(directory_id: &str, raw: &RawValue) -> Result<(String, ScimGroup), String> {
    let g: GroupJson =
        serde_json::from_str(raw.get()).map_err(|e| format!("not a SCIM group: {e}"))?;
    if g.id.trim().is_empty() {
        return Err("SCIM group with an empty id".into());
    }
    let group = ScimGroup {
        directory_id: directory_id.to_string(),
        group_id: g.id.clone(),
        display_name: g.display_name,
        external_id: g.external_id,
        members: g
            .members
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.value)
            .collect(),
    };
    Ok((g.id, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn full_user() {
        let r = raw(
            r#"{"id":"s1","externalId":"e-100","userName":"ana@example.com",
            "emails":[{"value":"other@example.com"},{"value":" Ana@Example.com ","primary":true}],
            "name":{"givenName":"Ana","familyName":"Ito"},"active":false,
            "groups":[{"value":"g1","display":"jira-users"}],
            "meta":{"created":"2021-02-16T15:05:41.185473Z","lastModified":"2024-05-01T09:00:00.000Z"},
            "urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":"557058:1b2c"}}"#,
        );
        let (id, u) = parse_user("d1", &r).unwrap();
        assert_eq!(id, "s1");
        assert_eq!(u.email.as_deref(), Some("Ana@Example.com"));
        assert_eq!(u.display_name.as_deref(), Some("Ana Ito"));
        assert_eq!(u.active, Some(false));
        assert_eq!(u.account_id.as_deref(), Some("557058:1b2c"));
        assert_eq!(u.groups, vec!["g1"]);
        assert_eq!(u.last_modified.as_deref(), Some("2024-05-01T09:00:00.000Z"));
    }

    #[test]
    fn lenient_user_absent_fields() {
        let (_, u) = parse_user(
            "d1",
            &raw(r#"{"id":"s2","userName":"bo@example.com","emails":[],
            "urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":null}}"#),
        )
        .unwrap();
        assert_eq!(u.active, None, "absent active is unknown, not false");
        assert_eq!(
            u.email.as_deref(),
            Some("bo@example.com"),
            "falls back to userName"
        );
        assert_eq!(u.account_id, None);
        assert!(u.groups.is_empty());
        let (_, u) = parse_user("d1", &raw(r#"{"id":"s3","userName":"e-77"}"#)).unwrap();
        assert_eq!(u.email, None, "a userName without @ is not an email");
    }

    #[test]
    fn malformed_user_is_an_error_not_a_panic() {
        assert!(parse_user("d1", &raw(r#"{"userName":"x"}"#)).is_err());
        assert!(parse_user("d1", &raw(r#"{"id":"s","active":"yes"}"#)).is_err());
        assert!(parse_user("d1", &raw(r#"[1,2]"#)).is_err());
        assert!(parse_user("d1", &raw(r#"{"id":""}"#)).is_err());
    }

    #[test]
    fn group_members() {
        let (_, g) = parse_group("d1", &raw(r#"{"id":"g1","displayName":"jira-users","members":[{"value":"s1"},{"value":"s2"}]}"#)).unwrap();
        assert_eq!(g.members, vec!["s1", "s2"]);
        let (_, g) = parse_group("d1", &raw(r#"{"id":"g2"}"#)).unwrap();
        assert!(g.members.is_empty());
    }
}
