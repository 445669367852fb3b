//! Reading one API item field by field, for every source (the Atlassian APIs and the IdPs;
//! scenarios.md, "what the APIs may send"). A field of an unexpected type or value is left unknown
//! and noted ([`FieldNote`]); only an item that is not an object or has no usable id is an error.
//! Notes and errors describe the kind of value that arrived, never the value (it could be anything,
//! a key included).

use serde_json::{Map, Value};

use crate::model::FieldNote;

/// What a parser makes of one item: its id, the record, and the fields it could not read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub id: String,
    pub item: T,
    pub notes: Vec<FieldNote>,
}

/// The JSON type of a value, for notes and errors: `a string`, `a number`, `null`, ….
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads SCIM's and the Organizations API's boolean leniently: a JSON boolean, or the strings
/// `"true"`/`"false"` in any case with surrounding white space. Anything else is `None`.
pub fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => {
            let s = s.trim();
            if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Reads a count the contract gives as a number: a non-negative integer, or one sent as a string.
pub fn lenient_count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// True when `s` is an RFC 3339 time (SCIM `meta` times, the accounts API's dates).
pub fn is_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s.trim()).is_ok()
}

/// One JSON object being read, collecting notes on the fields it cannot read.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    notes: &'a mut Vec<FieldNote>,
}

impl<'a> Fields<'a> {
    /// Starts reading `v`, which must be an object: the error names what it is instead.
    pub fn new(v: &'a Value, notes: &'a mut Vec<FieldNote>) -> Result<Self, String> {
        match v {
            Value::Object(obj) => Ok(Fields {
                obj,
                prefix: String::new(),
                notes,
            }),
            other => Err(format!("not an object ({})", kind_of(other))),
        }
    }

    /// Notes taken so far on this record.
    pub fn note_count(&self) -> usize {
        self.notes.len()
    }

    /// Notes a field (once per item and field).
    pub fn note(&mut self, key: &str, problem: String) {
        let field = format!("{}{key}", self.prefix);
        // Once per record and field.
        if !self.notes.iter().any(|n| n.field == field) {
            self.notes.push(FieldNote { field, problem });
        }
    }

    /// The raw value at `key`, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// The record's id: a non-empty string (or an integer, as its decimal text). Its absence makes
    /// the item uncountable: an error naming the field.
    pub fn id(&self, key: &str) -> Result<String, String> {
        match self.obj.get(key) {
            None => Err(format!("no `{key}`")),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(format!("`{key}` is empty")),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
            Some(other) => Err(format!("`{key}` is {}, expected a string", kind_of(other))),
        }
    }

    /// A string field; another type is noted and read as absent.
    pub fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                let problem = format!("expected a string, got {}", kind_of(other));
                self.note(key, problem);
                None
            }
        }
    }

    /// A string field that must be one of `allowed`: another value is kept as-is and noted (an
    /// unknown enum value is stored, and treated as not active, by the callers).
    pub fn enumerated(&mut self, key: &str, allowed: &[&str]) -> Option<String> {
        let s = self.string(key)?;
        if !allowed.contains(&s.as_str()) {
            self.note(
                key,
                format!("unexpected value (expected one of {})", allowed.join(", ")),
            );
        }
        Some(s)
    }

    /// A boolean field, read by [`lenient_bool`]; anything else is noted and unknown.
    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        let b = lenient_bool(v);
        if b.is_none() {
            let got = match v {
                Value::String(_) => "a string other than \"true\"/\"false\"",
                other => kind_of(other),
            };
            self.note(key, format!("expected a boolean, got {got}"));
        }
        b
    }

    /// A boolean the contract always sends, whose value decides findings (SCIM `active`, Graph
    /// `accountEnabled`): read as [`Fields::boolean`], and absent or `null` is noted too. Every
    /// `None` is unknown, never false (scenarios.md, "Unknown is never evidence").
    pub fn state(&mut self, key: &str) -> Option<bool> {
        match self.obj.get(key) {
            None => {
                self.note(key, "absent".into());
                None
            }
            Some(Value::Null) => {
                self.note(key, "null".into());
                None
            }
            Some(_) => self.boolean(key),
        }
    }

    /// The fields noted so far, as [`FieldNote::field`] names them: what the item leaves unknown.
    pub fn unknown(&self) -> Vec<String> {
        self.notes.iter().map(|n| n.field.clone()).collect()
    }

    /// A non-empty string field (an empty one is absent, not noted).
    pub fn text(&mut self, key: &str) -> Option<String> {
        self.string(key).filter(|s| !s.trim().is_empty())
    }

    /// A count field, read by [`lenient_count`]; anything else is noted and unknown.
    pub fn count(&mut self, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        let n = lenient_count(v);
        if n.is_none() {
            self.note(
                key,
                format!("expected a non-negative integer, got {}", kind_of(v)),
            );
        }
        n
    }

    /// A time field read leniently ([`parse_time`]: RFC 3339, or without an offset = UTC); the
    /// year-1 "never" sentinel of Entra (`0001-01-01T00:00:00Z`) is `None`, as is an absent time;
    /// another value is noted.
    pub fn time_or_never(&mut self, key: &str) -> Option<String> {
        let s = self.string(key)?;
        match parse_time(&s) {
            Ok(t) => t,
            Err(NotATime) => {
                self.note(
                    key,
                    "expected an RFC 3339 time, got a string that is not one".into(),
                );
                None
            }
        }
    }

    /// An RFC 3339 time field, kept as sent; another value is noted and unknown.
    pub fn time(&mut self, key: &str) -> Option<String> {
        let s = self.string(key)?;
        if is_time(&s) {
            Some(s)
        } else {
            self.note(
                key,
                "expected an RFC 3339 time, got a string that is not one".into(),
            );
            None
        }
    }

    /// A nested object, read with `read`; another type is noted and read as absent.
    pub fn object<R>(&mut self, key: &str, read: impl FnOnce(&mut Fields<'_>) -> R) -> Option<R> {
        let prefix = format!("{}{key}.", self.prefix);
        self.object_as(key, &prefix, read)
    }

    /// [`Fields::object`], its fields named `prefix` + field (a long schema URN by a short name).
    pub fn object_as<R>(
        &mut self,
        key: &str,
        prefix: &str,
        read: impl FnOnce(&mut Fields<'_>) -> R,
    ) -> Option<R> {
        match self.get(key)? {
            Value::Object(obj) => {
                let mut inner = Fields {
                    obj,
                    prefix: prefix.to_string(),
                    notes: &mut *self.notes,
                };
                Some(read(&mut inner))
            }
            other => {
                let problem = format!("expected an object, got {}", kind_of(other));
                self.note(key, problem);
                None
            }
        }
    }

    /// An array of objects, each read with `read`; a non-array is noted and read as empty, and so is
    /// an entry that is not an object (the others are kept).
    pub fn objects<R>(
        &mut self,
        key: &str,
        mut read: impl FnMut(&mut Fields<'_>) -> Option<R>,
    ) -> Vec<R> {
        let prefix = format!("{}{key}.", self.prefix);
        let items = match self.get(key) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                let problem = format!("expected an array, got {}", kind_of(other));
                self.note(key, problem);
                return Vec::new();
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::Object(obj) => {
                    let mut inner = Fields {
                        obj,
                        prefix: prefix.clone(),
                        notes: &mut *self.notes,
                    };
                    if let Some(r) = read(&mut inner) {
                        out.push(r);
                    }
                }
                other => {
                    let problem =
                        format!("expected an array of objects, got {} in it", kind_of(other));
                    self.note(key, problem);
                }
            }
        }
        out
    }
}

/// A JSON object read into `T` by serde, for the typed fast paths of the parsers: never from a JSON
/// array (serde reads a struct from either; [`Fields`] notes an array where an object belongs).
#[derive(Debug)]
pub struct Obj<T>(pub T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Obj<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Only<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Obj)
            }
        }
        d.deserialize_map(Only(std::marker::PhantomData))
    }
}

/// A time as RFC 3339 (UTC, as sent when it already is RFC 3339): `Ok(None)` for the year-1
/// sentinel ("never"), `Err` when it is no time at all. Accepts an offset-less time as UTC and
/// .NET's seven fractional digits.
pub fn parse_time(s: &str) -> Result<Option<String>, NotATime> {
    use chrono::{DateTime, Datelike, NaiveDateTime, SecondsFormat};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok((t.year() > 1).then(|| s.to_string()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            let t = t.and_utc();
            return Ok((t.year() > 1).then(|| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)));
        }
    }
    // Year 1 in a shape chrono refuses (e.g. an offset that would put it in year 0).
    if s.starts_with("0001-01-01") {
        return Ok(None);
    }
    Err(NotATime)
}

/// A string that is no time at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotATime;

/// A JSON error described by its kind and position only: serde's own message may quote the
/// value (which could be anything, a key included).
pub fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "invalid JSON",
        Category::Eof => "truncated JSON",
        Category::Data => "JSON of an unexpected shape",
        Category::Io => "unreadable JSON",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// The ids one listing has served so far, to catch an id listed twice anywhere in it, on one page
/// or across pages (atlassian-api.md §5, idp-api.md §5: no duplicate ids).
///
/// It keeps a 64-bit hash of each id, not the id: 8 bytes an entry however long the id (300k ids
/// take about 5 MB, not the ~30 MB of their strings). The hash is keyed at random per listing, so
/// whoever picks the ids cannot make two collide; a chance collision (about n²/2⁶⁵: 2·10⁻⁹ at
/// 300k ids) would only make the source incomplete, never drop or merge a record.
#[derive(Debug, Default)]
pub struct SeenIds {
    key: std::hash::RandomState,
    hashes: std::collections::HashSet<u64>,
}

impl SeenIds {
    /// Records `id`; false when the listing already served it.
    pub fn first_time(&mut self, id: &str) -> bool {
        use std::hash::BuildHasher;
        self.hashes.insert(self.key.hash_one(id))
    }
}

/// What the parsers' property tests share: their typed pass held against the field-by-field one.
#[cfg(test)]
pub(crate) mod typed_check {
    use proptest::prelude::*;
    use serde_json::value::RawValue;
    use serde_json::{Value, json};

    /// A field's value: absent (`None`), mostly one of `good`, sometimes one of `odd`.
    pub fn field(good: Vec<Value>, odd: Vec<Value>) -> BoxedStrategy<Option<Value>> {
        prop_oneof![
            1 => Just(None),
            16 => proptest::sample::select(good).prop_map(Some),
            1 => proptest::sample::select(odd).prop_map(Some),
        ]
        .boxed()
    }

    /// A text field's value: strings (blank, padded, non-ASCII, mixed case) or null; sometimes
    /// another type.
    pub fn text() -> BoxedStrategy<Option<Value>> {
        field(
            vec![
                json!("ana@example.com"),
                json!(" Ana@Example.COM "),
                json!(""),
                json!("  "),
                json!("élodie"),
                json!("managed"),
                json!(null),
            ],
            vec![json!(5), json!(true), json!(["x"]), json!({"a": 1})],
        )
    }

    /// A time field's value: RFC 3339 times (padded, with an offset, fractions) or null; sometimes
    /// a string that is none, or another type.
    pub fn time() -> BoxedStrategy<Option<Value>> {
        field(
            vec![
                json!("2024-05-01T09:00:00.000Z"),
                json!("2021-02-16T15:05:41.185473+02:00"),
                json!("2021-02-16T15:05:41+02:00"),
                json!(" 2024-05-01T09:00:00Z "),
                json!(null),
            ],
            vec![
                json!("2024-05-01 09:00:00"),
                json!("2024-05-01"),
                json!("soon"),
                json!(17),
                json!({}),
            ],
        )
    }

    /// The object of the present `fields` as JSON text, then `extra` members appended as they are
    /// (a key sent twice, a value no `Value` can hold).
    pub fn object_text(
        fields: impl IntoIterator<Item = (&'static str, Option<Value>)>,
        extra: impl IntoIterator<Item = (&'static str, String)>,
    ) -> String {
        let o: serde_json::Map<String, Value> = fields
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect();
        let mut text = Value::Object(o).to_string();
        for (key, value) in extra {
            text.pop();
            let sep = if text.len() > 1 { "," } else { "" };
            text.push_str(&format!("{sep}\"{key}\":{value}}}"));
        }
        text
    }

    /// Runs 3,000 generated `items`: each one `typed` reads, `lenient` reads the same, unless
    /// `differs` allows its error; between a tenth and nine tenths are read by `typed`.
    pub fn agrees<T: std::fmt::Debug + PartialEq>(
        items: impl Strategy<Value = String>,
        typed: impl Fn(&RawValue) -> Option<T>,
        lenient: impl Fn(&RawValue) -> Result<T, String>,
        differs: impl Fn(&RawValue, &str) -> bool,
    ) {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
        let read = std::cell::Cell::new(0);
        runner
            .run(&items, |text| {
                let raw = RawValue::from_string(text).unwrap();
                if let Some(t) = typed(&raw) {
                    read.set(read.get() + 1);
                    match lenient(&raw) {
                        Err(e) if differs(&raw, &e) => {}
                        other => prop_assert_eq!(Ok(t), other),
                    }
                }
                Ok(())
            })
            .unwrap();
        assert!(
            (300..2700).contains(&read.get()),
            "{} of 3000 typed",
            read.get()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_as_the_contract_allows() {
        for (v, want) in [
            (json!(true), Some(true)),
            (json!(false), Some(false)),
            (json!("True"), Some(true)),
            (json!(" FALSE\n"), Some(false)),
            (json!("yes"), None),
            (json!(1), None),
            (json!(null), None),
            (json!(["true"]), None),
        ] {
            assert_eq!(lenient_bool(&v), want, "{v}");
        }
    }

    #[test]
    fn an_id_is_new_once_per_listing() {
        let mut seen = SeenIds::default();
        assert!(seen.first_time("u1"));
        assert!(seen.first_time("u2"));
        assert!(!seen.first_time("u1"), "u1 listed twice");
        assert!(seen.first_time("U1"), "ids are compared exactly");
        assert!(SeenIds::default().first_time("u1"), "another listing");
    }

    #[test]
    fn counts_as_numbers_or_strings() {
        assert_eq!(lenient_count(&json!(12)), Some(12));
        assert_eq!(lenient_count(&json!("12")), Some(12));
        assert_eq!(lenient_count(&json!(" 7 ")), Some(7));
        assert_eq!(lenient_count(&json!(3.0)), Some(3));
        assert_eq!(lenient_count(&json!(-1)), None);
        assert_eq!(lenient_count(&json!("x")), None);
        assert_eq!(lenient_count(&json!(2.5)), None);
    }

    /// A count sent as a float is read only when it is a whole number a u64 holds exactly:
    /// not negative, no fraction, below 10^15.
    #[test]
    fn a_count_sent_as_a_float_must_be_whole_and_in_range() {
        assert_eq!(lenient_count(&json!(0.0)), Some(0));
        assert_eq!(
            lenient_count(&json!(999_999_999_999_999.0)),
            Some(999_999_999_999_999)
        );
        assert_eq!(lenient_count(&json!(1e15)), None);
        assert_eq!(lenient_count(&json!(1e300)), None);
        assert_eq!(lenient_count(&json!(-2.0)), None);
        assert_eq!(lenient_count(&json!(-0.5)), None);
        assert_eq!(lenient_count(&json!(true)), None);
        assert_eq!(lenient_count(&json!(null)), None);
    }

    /// Each reader, given the value it expects, returns it and notes nothing; given another type,
    /// returns nothing and notes the field once, naming the type that arrived.
    #[test]
    fn each_reader_reads_its_type_and_notes_the_others() {
        let v = json!({"s": " x ", "b": " True", "n": "12", "t": "2024-05-01T09:00:00Z",
                       "e": "app", "blank": "  ", "o": {"k": "v"}, "a": [{"k": "v"}],
                       "wrong": ["x"]});
        let mut notes = Vec::new();
        let mut f = Fields::new(&v, &mut notes).unwrap();
        assert_eq!(f.string("s").as_deref(), Some(" x "));
        assert_eq!(f.text("s").as_deref(), Some(" x "));
        assert_eq!(f.boolean("b"), Some(true));
        assert_eq!(f.state("b"), Some(true));
        assert_eq!(f.count("n"), Some(12));
        assert_eq!(f.time("t").as_deref(), Some("2024-05-01T09:00:00Z"));
        assert_eq!(
            f.time_or_never("t").as_deref(),
            Some("2024-05-01T09:00:00Z")
        );
        assert_eq!(
            f.enumerated("e", &["atlassian", "app"]).as_deref(),
            Some("app")
        );
        assert_eq!(f.object("o", |o| o.string("k")), Some(Some("v".into())));
        assert_eq!(f.objects("a", |o| o.string("k")), ["v"]);
        assert_eq!(f.text("blank"), None, "an empty text is absent");
        assert_eq!(f.note_count(), 0, "{:?}", f.unknown());
        assert_eq!(f.text("absent"), None);
        assert_eq!(f.count("absent"), None);
        assert_eq!(
            f.note_count(),
            0,
            "absent is not noted by the lenient readers"
        );
        for (key, read) in [
            ("string", f.string("wrong").is_none()),
            ("boolean", f.boolean("wrong").is_none()),
            ("count", f.count("wrong").is_none()),
            ("time", f.time("wrong").is_none()),
            ("object", f.object("wrong", |_| ()).is_none()),
        ] {
            assert!(read, "{key}");
        }
        assert_eq!(f.note_count(), 1, "one note per field, whichever reader");
        assert_eq!(f.unknown(), ["wrong"]);
        assert_eq!(notes[0].problem, "expected a string, got an array");
    }

    #[test]
    fn a_count_or_time_of_the_wrong_shape_is_noted() {
        let v = json!({"n": "-3", "t": "2024-05-01", "e": "robot"});
        let mut notes = Vec::new();
        let mut f = Fields::new(&v, &mut notes).unwrap();
        assert_eq!(f.count("n"), None);
        assert_eq!(f.time("t"), None);
        // An unexpected enum value is kept as sent, and noted.
        assert_eq!(
            f.enumerated("e", &["atlassian", "app"]).as_deref(),
            Some("robot")
        );
        assert_eq!(f.unknown(), ["n", "t", "e"]);
        assert_eq!(
            notes[2].problem,
            "unexpected value (expected one of atlassian, app)"
        );
    }

    /// The fields that decide findings: absent, null and unreadable are all unknown and noted;
    /// only a readable boolean is known.
    #[test]
    fn a_state_is_unknown_unless_it_reads_as_a_boolean() {
        for (v, want, problem) in [
            (json!({"active": false}), Some(false), None),
            (json!({"active": "TRUE"}), Some(true), None),
            (json!({}), None, Some("absent")),
            (json!({"active": null}), None, Some("null")),
            (
                json!({"active": "yes"}),
                None,
                Some("expected a boolean, got a string other than \"true\"/\"false\""),
            ),
            (
                json!({"active": 1}),
                None,
                Some("expected a boolean, got a number"),
            ),
        ] {
            let mut notes = Vec::new();
            let mut f = Fields::new(&v, &mut notes).unwrap();
            assert_eq!(f.state("active"), want, "{v}");
            let noted: Vec<&str> = notes.iter().map(|n| n.problem.as_str()).collect();
            assert_eq!(noted, problem.into_iter().collect::<Vec<_>>(), "{v}");
        }
    }

    #[test]
    fn the_json_type_is_named_in_words() {
        for (v, want) in [
            (json!(null), "null"),
            (json!(false), "a boolean"),
            (json!(1.5), "a number"),
            (json!("x"), "a string"),
            (json!([]), "an array"),
            (json!({}), "an object"),
        ] {
            assert_eq!(kind_of(&v), want);
        }
    }

    #[test]
    fn a_wrong_type_is_noted_once_and_never_quoted() {
        let v = json!({"id": "s1", "active": "Bearer sekrit", "meta": {"lastModified": "sekrit2"},
                       "emails": [{"value": 5}, {"value": 6}]});
        let mut notes = Vec::new();
        let mut f = Fields::new(&v, &mut notes).unwrap();
        assert_eq!(f.id("id").unwrap(), "s1");
        assert_eq!(f.boolean("active"), None);
        assert_eq!(f.object("meta", |m| m.time("lastModified")), Some(None));
        let emails = f.objects("emails", |e| e.string("value"));
        assert!(emails.is_empty());
        let fields: Vec<&str> = notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields, ["active", "meta.lastModified", "emails.value"]);
        assert!(!format!("{notes:?}").contains("sekrit"), "{notes:?}");
    }

    #[test]
    fn ids_must_be_usable() {
        let mut notes = Vec::new();
        for (v, ok) in [
            (json!({"id": "a"}), true),
            (json!({"id": 42}), true),
            (json!({"id": -42}), true),
            (json!({"id": 4.2}), false),
            (json!({"id": " "}), false),
            (json!({"id": ""}), false),
            (json!({"id": null}), false),
            (json!({"id": {"x": 1}}), false),
            (json!({}), false),
        ] {
            let f = Fields::new(&v, &mut notes).unwrap();
            assert_eq!(f.id("id").is_ok(), ok, "{v}");
        }
        assert!(Fields::new(&json!([1]), &mut notes).is_err());
    }

    #[test]
    fn year_one_is_never_and_odd_times_are_noted() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), Ok(None));
        assert_eq!(parse_time("0001-01-01T00:00:00.0000000Z"), Ok(None));
        assert_eq!(parse_time("0001-01-01T00:00:00"), Ok(None));
        assert_eq!(
            parse_time("2024-03-01T10:00:00.1234567Z"),
            Ok(Some("2024-03-01T10:00:00.1234567Z".into()))
        );
        assert_eq!(
            parse_time("2024-03-01T10:00:00"),
            Ok(Some("2024-03-01T10:00:00Z".into()))
        );
        assert_eq!(parse_time("yesterday"), Err(NotATime));
        let v = json!({"a": "0001-01-01T00:00:00Z", "b": "nope", "c": 5, "d": null});
        let mut notes = Vec::new();
        let mut f = Fields::new(&v, &mut notes).unwrap();
        assert_eq!(f.time_or_never("a"), None);
        assert_eq!(f.time_or_never("b"), None);
        assert_eq!(f.time_or_never("c"), None);
        assert_eq!(f.time_or_never("d"), None);
        let fields: Vec<_> = notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields, ["b", "c"]);
        // The strict reader (SCIM `meta`, the accounts API) keeps an RFC 3339 time as sent.
        let mut notes = Vec::new();
        let mut f = Fields::new(&v, &mut notes).unwrap();
        assert_eq!(f.time("a").as_deref(), Some("0001-01-01T00:00:00Z"));
    }

    #[test]
    fn nested_notes_name_the_path_not_the_value() {
        let v = json!({"status": {"code": 7, "lastExecution": {"state": ["sekrit"]}}});
        let mut notes = Vec::new();
        let mut f = Fields::new(&v, &mut notes).unwrap();
        f.object("status", |s| {
            s.string("code");
            s.object("lastExecution", |e| e.string("state"));
        });
        let fields: Vec<_> = notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields, ["status.code", "status.lastExecution.state"]);
        assert!(!format!("{notes:?}").contains("sekrit"));
    }
}
