//! SCIM directory users and groups (`/scim/directory/{directoryId}/…`, directory API key).

use serde_json::Value;
use serde_json::value::RawValue;

use super::paging::{PageSink, Paged, scim_list};
use crate::fields::{Fields, Parsed};
use crate::http::HttpLayer;
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

/// The extension holding the link to the Atlassian account (atlassian-api.md §1).
const ATLASSIAN_EXT: &str = "urn:scim:schemas:extension:atlassian-external:1.0";

/// Parses one SCIM user field by field (atlassian-api.md §1, scenarios.md "what the APIs may send"):
/// `active`, `groups`, `emails` may be absent; `active` may be a string `"true"`/`"false"`; a field
/// of another type is left unknown and noted. Errors: the item is not an object or has no usable
/// `id`.
pub fn parse_user(directory_id: &str, raw: &RawValue) -> Result<Parsed<ScimRecord>, String> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|_| "not valid JSON".to_string())?;
    let mut notes = Vec::new();
    let mut f = Fields::new(&v, &mut notes).map_err(|e| format!("not a SCIM user: {e}"))?;
    let id = f.id("id")?;
    let external_id = f.string("externalId");
    let user_name = f.string("userName").unwrap_or_default();
    let emails = f.objects("emails", |e| {
        let value = e.string("value")?;
        Some((value, e.boolean("primary")))
    });
    let email = emails
        .iter()
        .find(|(_, primary)| *primary == Some(true))
        .or_else(|| emails.first())
        .map(|(value, _)| value.clone())
        .or_else(|| user_name.contains('@').then(|| user_name.clone()))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty());
    let display_name = f.string("displayName").or_else(|| {
        f.object("name", |n| {
            n.string("formatted").or_else(|| {
                let parts: Vec<String> = [n.string("givenName"), n.string("familyName")]
                    .into_iter()
                    .flatten()
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
        })
        .flatten()
    });
    // Absent or null is unknown (noted), never inactive: scenarios.md, "Unknown is never evidence".
    let active = f.state("active");
    let groups = f.objects("groups", |g| g.string("value"));
    let (created, last_modified) = f
        .object("meta", |m| (m.time("created"), m.time("lastModified")))
        .unwrap_or_default();
    let notes_before = f.note_count();
    let account_id = f
        .object_as(ATLASSIAN_EXT, "atlassian-external.", |a| {
            a.string("atlassianAccountId")
        })
        .flatten()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    // An unreadable extension or id: linked or not is unknown, never "unlinked".
    let link_unknown = f.note_count() > notes_before;
    // The whole extension unreadable is the link unknown, named as its field would be.
    let unknown = f
        .unknown()
        .into_iter()
        .map(|n| {
            if n == ATLASSIAN_EXT {
                "atlassian-external".into()
            } else {
                n
            }
        })
        .collect();
    let item = ScimRecord {
        directory_id: directory_id.to_string(),
        scim_id: id.clone(),
        external_id,
        user_name,
        email,
        display_name,
        active,
        account_id,
        groups,
        created,
        last_modified,
        link_unknown,
        unknown,
    };
    Ok(Parsed { id, item, notes })
}

/// Parses one SCIM group field by field; `members` may be absent.
pub fn parse_group(directory_id: &str, raw: &RawValue) -> Result<Parsed<ScimGroup>, String> {
    let v: Value = serde_json::from_str(raw.get()).map_err(|_| "not valid JSON".to_string())?;
    let mut notes = Vec::new();
    let mut f = Fields::new(&v, &mut notes).map_err(|e| format!("not a SCIM group: {e}"))?;
    let id = f.id("id")?;
    let display_name = f.string("displayName");
    let external_id = f.string("externalId");
    let members = f.objects("members", |m| m.string("value"));
    let item = ScimGroup {
        directory_id: directory_id.to_string(),
        group_id: id.clone(),
        display_name,
        external_id,
        members,
        unknown: f.unknown(),
    };
    Ok(Parsed { id, item, notes })
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
        let p = parse_user("d1", &r).unwrap();
        let (id, u) = (p.id, p.item);
        assert_eq!(id, "s1");
        assert!(p.notes.is_empty());
        assert_eq!(u.email.as_deref(), Some("Ana@Example.com"));
        assert_eq!(u.display_name.as_deref(), Some("Ana Ito"));
        assert_eq!(u.active, Some(false));
        assert_eq!(u.account_id.as_deref(), Some("557058:1b2c"));
        assert_eq!(u.groups, vec!["g1"]);
        assert_eq!(u.last_modified.as_deref(), Some("2024-05-01T09:00:00.000Z"));
    }

    #[test]
    fn lenient_user_absent_fields() {
        let u = parse_user(
            "d1",
            &raw(r#"{"id":"s2","userName":"bo@example.com","emails":[],
            "urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":null}}"#),
        )
        .unwrap()
        .item;
        assert_eq!(u.active, None, "absent active is unknown, not false");
        assert_eq!(
            u.email.as_deref(),
            Some("bo@example.com"),
            "falls back to userName"
        );
        assert_eq!(u.account_id, None);
        assert!(u.groups.is_empty());
        let u = parse_user("d1", &raw(r#"{"id":"s3","userName":"e-77"}"#))
            .unwrap()
            .item;
        assert_eq!(u.email, None, "a userName without @ is not an email");
    }

    #[test]
    fn only_a_missing_id_or_a_non_object_is_an_error() {
        assert!(parse_user("d1", &raw(r#"{"userName":"x"}"#)).is_err());
        assert!(parse_user("d1", &raw(r#"[1,2]"#)).is_err());
        assert!(parse_user("d1", &raw(r#"{"id":""}"#)).is_err());
        let p = parse_user("d1", &raw(r#"{"id":"s","active":"yes"}"#)).unwrap();
        assert_eq!(p.item.active, None, "an unreadable active is unknown");
        assert_eq!(p.notes[0].field, "active");
    }

    #[test]
    fn entra_string_booleans_and_odd_fields() {
        let p = parse_user(
            "d1",
            &raw(r#"{"id":"s9","userName":"x@example.com","active":" True ",
            "emails":[{"value":"y@example.com","primary":"true"}, "junk"],
            "groups":{"value":"g"},"meta":{"lastModified":"yesterday"},
            "urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":123}}"#),
        )
        .unwrap();
        assert_eq!(p.item.active, Some(true));
        assert_eq!(p.item.email.as_deref(), Some("y@example.com"));
        assert_eq!(p.item.last_modified, None);
        assert_eq!(p.item.account_id, None);
        let fields: Vec<&str> = p.notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "emails",
                "groups",
                "meta.lastModified",
                "atlassian-external.atlassianAccountId"
            ]
        );
    }

    #[test]
    fn group_members() {
        let g = parse_group("d1", &raw(r#"{"id":"g1","displayName":"jira-users","members":[{"value":"s1"},{"value":"s2"}]}"#)).unwrap().item;
        assert_eq!(g.members, vec!["s1", "s2"]);
        let g = parse_group("d1", &raw(r#"{"id":"g2"}"#)).unwrap().item;
        assert!(g.members.is_empty());
    }
}
