//! SCIM directory users and groups (`/scim/directory/{directoryId}/…`, directory API key).

use serde_json::Value;
use serde_json::value::RawValue;

use super::paging::{PageSink, Paged, scim_list};
use crate::fields::{Fields, Obj, Parsed};
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

/// Parses one SCIM user (atlassian-api.md §1, scenarios.md "what the APIs may send"): `active`,
/// `groups`, `emails` may be absent; `active` may be a string `"true"`/`"false"`; a field of
/// another type is left unknown and noted. Errors: the item is not an object or has no usable `id`.
///
/// A user every field of which has its expected type is read in one typed pass
/// ([`strict_user`]); any other goes field by field ([`lenient_user`]). Both give the same for
/// the first kind (a property test says so), with one difference: a field scimdrift never reads
/// holding JSON the field-by-field pass cannot hold (a number out of range, a lone surrogate) is
/// skipped unread by the typed pass, so the record is kept (field by field it is refused as not
/// valid JSON).
pub fn parse_user(directory_id: &str, raw: &RawValue) -> Result<Parsed<ScimRecord>, String> {
    match strict_user(directory_id, raw) {
        Some(parsed) => Ok(parsed),
        None => lenient_user(directory_id, raw),
    }
}

/// A SCIM user as the contract sends it, every field of its expected type (unknown fields
/// skipped): what [`strict_user`] reads.
#[derive(serde::Deserialize)]
struct StrictUser {
    id: String,
    #[serde(rename = "externalId")]
    external_id: Option<String>,
    #[serde(rename = "userName")]
    user_name: Option<String>,
    emails: Option<Vec<Obj<StrictEmail>>>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
    name: Option<Obj<StrictName>>,
    active: bool,
    groups: Option<Vec<Obj<StrictValue>>>,
    meta: Option<Obj<StrictMeta>>,
    #[serde(rename = "urn:scim:schemas:extension:atlassian-external:1.0")]
    link: Option<Obj<StrictLink>>,
}

#[derive(serde::Deserialize)]
struct StrictEmail {
    value: Option<String>,
    primary: Option<bool>,
}

#[derive(serde::Deserialize)]
struct StrictName {
    formatted: Option<String>,
    #[serde(rename = "givenName")]
    given_name: Option<String>,
    #[serde(rename = "familyName")]
    family_name: Option<String>,
}

#[derive(serde::Deserialize)]
struct StrictValue {
    value: Option<String>,
}

#[derive(serde::Deserialize)]
struct StrictMeta {
    created: Option<String>,
    #[serde(rename = "lastModified")]
    last_modified: Option<String>,
}

#[derive(serde::Deserialize)]
struct StrictLink {
    #[serde(rename = "atlassianAccountId")]
    atlassian_account_id: Option<String>,
}

/// The typed pass of [`parse_user`]: `None` when any field is not of its expected type (`active`
/// absent or not a JSON boolean, a time that is none, an array where an object belongs, a blank or
/// numeric `id`, a key twice, …): [`lenient_user`] then reads it and notes what it cannot.
fn strict_user(directory_id: &str, raw: &RawValue) -> Option<Parsed<ScimRecord>> {
    let Obj(u) = serde_json::from_str::<Obj<StrictUser>>(raw.get()).ok()?;
    if u.id.trim().is_empty() {
        return None;
    }
    let time = |t: Option<String>| match t {
        Some(t) if !crate::fields::is_time(&t) => Err(()),
        t => Ok(t),
    };
    let (created, last_modified) = match u.meta {
        Some(Obj(m)) => (time(m.created).ok()?, time(m.last_modified).ok()?),
        None => (None, None),
    };
    let user_name = u.user_name.unwrap_or_default();
    let emails: Vec<(String, Option<bool>)> = u
        .emails
        .unwrap_or_default()
        .into_iter()
        .filter_map(|Obj(e)| Some((e.value?, e.primary)))
        .collect();
    let name = u
        .name
        .map(|Obj(n)| (n.formatted, n.given_name, n.family_name));
    let item = ScimRecord {
        directory_id: directory_id.to_string(),
        scim_id: u.id.clone(),
        external_id: u.external_id,
        email: primary_email(&emails, &user_name),
        user_name,
        display_name: u.display_name.or_else(|| name.and_then(full_name)),
        active: Some(u.active),
        account_id: u
            .link
            .and_then(|Obj(l)| l.atlassian_account_id)
            .and_then(account_id),
        groups: u
            .groups
            .unwrap_or_default()
            .into_iter()
            .filter_map(|Obj(g)| g.value)
            .collect(),
        created,
        last_modified,
        link_unknown: false,
        unknown: Vec::new(),
    };
    Some(Parsed {
        id: u.id,
        item,
        notes: Vec::new(),
    })
}

/// The email of a user: the primary one, else the first, else `userName` when it is one; trimmed,
/// never empty.
fn primary_email(emails: &[(String, Option<bool>)], user_name: &str) -> Option<String> {
    emails
        .iter()
        .find(|(_, primary)| *primary == Some(true))
        .or_else(|| emails.first())
        .map(|(value, _)| value.as_str())
        .or_else(|| user_name.contains('@').then_some(user_name))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
}

/// A name's `formatted`, else its given and family names joined.
fn full_name(
    (formatted, given, family): (Option<String>, Option<String>, Option<String>),
) -> Option<String> {
    formatted.or_else(|| {
        let parts: Vec<String> = [given, family].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// The link, trimmed; blank is none.
fn account_id(a: String) -> Option<String> {
    Some(a.trim().to_string()).filter(|a| !a.is_empty())
}

/// The field-by-field pass of [`parse_user`].
fn lenient_user(directory_id: &str, raw: &RawValue) -> Result<Parsed<ScimRecord>, String> {
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
    let email = primary_email(&emails, &user_name);
    let display_name = f.string("displayName").or_else(|| {
        f.object("name", |n| {
            // Read in this order: `givenName` and `familyName` only without `formatted`.
            match n.string("formatted") {
                Some(formatted) => Some(formatted),
                None => full_name((None, n.string("givenName"), n.string("familyName"))),
            }
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
        .and_then(account_id);
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

    /// The typed pass and the field-by-field one of `parse_user` (issue 24).
    mod typed {
        use super::super::{lenient_user, strict_user};
        use crate::fields::typed_check::{agrees, field, object_text, text, time};
        use proptest::prelude::*;
        use serde_json::value::RawValue;
        use serde_json::{Value, json};

        /// JSON a `serde_json::Value` cannot hold, in a field nothing reads.
        const UNREADABLE: [&str; 2] = ["1e400", "\"\\ud800\""];

        fn boolean() -> BoxedStrategy<Option<Value>> {
            field(
                vec![json!(true), json!(false)],
                vec![
                    json!("true"),
                    json!(" False "),
                    json!("yes"),
                    json!(null),
                    json!(1),
                    json!([]),
                ],
            )
        }

        /// An object of `fields`, or (rarely) something else where an object belongs.
        fn object(
            fields: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
        ) -> BoxedStrategy<Value> {
            let odd = proptest::sample::select(vec![
                json!(null),
                json!("x"),
                json!(["a", true]),
                json!(3),
            ]);
            prop_oneof![
                16 => fields
                    .into_iter()
                    .map(|(k, v)| v.prop_map(move |v| (k, v)))
                    .collect::<Vec<_>>()
                    .prop_map(|kv| {
                        Value::Object(kv.into_iter().filter_map(|(k, v)| Some((k.to_string(), v?))).collect())
                    }),
                1 => odd,
            ]
            .boxed()
        }

        fn list(entry: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
            prop_oneof![
                1 => Just(None),
                1 => Just(Some(json!(null))),
                1 => Just(Some(json!("x"))),
                16 => proptest::collection::vec(entry, 0..3).prop_map(|v| Some(Value::Array(v))),
            ]
            .boxed()
        }

        fn user() -> impl Strategy<Value = String> {
            let email = object(vec![("value", text()), ("primary", boolean())]);
            let name = object(vec![
                ("formatted", text()),
                ("givenName", text()),
                ("familyName", text()),
            ]);
            let group = object(vec![("value", text()), ("display", text())]);
            let meta = object(vec![("created", time()), ("lastModified", time())]);
            let link = object(vec![("atlassianAccountId", text())]);
            let id = field(
                vec![json!("s1"), json!(" s2 ")],
                vec![json!(""), json!(7), json!(null)],
            );
            let fields = (
                (id, text(), text(), list(email)),
                (
                    text(),
                    prop_oneof![1 => Just(None), 6 => name.prop_map(Some)],
                    boolean(),
                    list(group),
                ),
                (
                    prop_oneof![1 => Just(None), 6 => meta.prop_map(Some)],
                    prop_oneof![1 => Just(None), 6 => link.prop_map(Some)],
                ),
                (
                    proptest::option::weighted(
                        0.1,
                        proptest::sample::select(vec!["active", "id", "meta", "emails"]),
                    ),
                    proptest::option::weighted(0.1, proptest::sample::select(UNREADABLE.to_vec())),
                ),
            );
            fields.prop_map(
                |(
                    (id, external_id, user_name, emails),
                    (display_name, name, active, groups),
                    (meta, link),
                    (twice, unread),
                )| {
                    object_text(
                        [
                            ("id", id),
                            ("externalId", external_id),
                            ("userName", user_name),
                            ("emails", emails),
                            ("displayName", display_name),
                            ("name", name),
                            ("active", active),
                            ("groups", groups),
                            ("meta", meta),
                            ("urn:scim:schemas:extension:atlassian-external:1.0", link),
                        ],
                        // A key sent twice (the last wins field by field; the typed pass refuses
                        // it), a field nothing reads holding JSON a `Value` cannot hold.
                        twice
                            .map(|key| (key, "false".to_string()))
                            .into_iter()
                            .chain(unread.map(|value| ("nickName", value.to_string()))),
                    )
                },
            )
        }

        /// Whatever arrives, a user the typed pass reads is read the same field by field, without
        /// a note; what it refuses is left to the field-by-field pass. Most generated users are
        /// read in the typed pass, many are not.
        #[test]
        fn the_typed_pass_agrees_with_the_field_by_field_one() {
            // The one difference (see `parse_user`): kept by the typed pass.
            let unreadable = |raw: &RawValue, e: &str| {
                e == "not valid JSON" && UNREADABLE.iter().any(|u| raw.get().contains(u))
            };
            agrees(
                user(),
                |raw| strict_user("d1", raw),
                |raw| lenient_user("d1", raw),
                unreadable,
            );
        }

        #[test]
        fn a_user_as_the_contract_sends_it_is_read_in_the_typed_pass() {
            let r = RawValue::from_string(
                r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"s1","externalId":"e-100",
                "userName":"ana@example.com","emails":[{"value":"ana@example.com","type":"work","primary":true}],
                "name":{"givenName":"Ana","familyName":"Ito","formatted":"Ana Ito"},"displayName":"Ana Ito",
                "active":true,"groups":[{"value":"g1","display":"all-staff","type":"direct"}],
                "meta":{"resourceType":"User","created":"2026-09-06T20:01:29.747Z","lastModified":"2026-09-16T20:01:29.747Z"},
                "urn:scim:schemas:extension:atlassian-external:1.0":{"atlassianAccountId":"5b10ac8d82e05b22cc7d4ef5"}}"#
                    .to_string(),
            )
            .unwrap();
            let typed = strict_user("d1", &r).expect("read in the typed pass");
            assert_eq!(Ok(typed), lenient_user("d1", &r));
            // `active` as a string: field by field (the typed pass refuses it), same result.
            let s =
                RawValue::from_string(r.get().replace("\"active\":true", "\"active\":\"true\""))
                    .unwrap();
            assert!(strict_user("d1", &s).is_none());
            assert_eq!(lenient_user("d1", &s).unwrap().item.active, Some(true));
            // A number out of range in a field nothing reads: kept by the typed pass, refused
            // field by field (the one difference, see `parse_user`).
            for odd in UNREADABLE {
                let text = r.get().replacen('{', &format!("{{\"nickName\":{odd},"), 1);
                let odd = RawValue::from_string(text).unwrap();
                assert!(strict_user("d1", &odd).is_some());
                assert_eq!(lenient_user("d1", &odd).unwrap_err(), "not valid JSON");
            }
        }
    }
}
