//! Reading IdP JSON field by field, with the discipline of the Atlassian clients
//! (scenarios.md, "what the APIs may send"): a field of an unexpected type is unknown and noted
//! ([`FieldNote`], naming the kind of value, never the value); only what makes an item
//! uncountable (not an object, no usable id) is an error. `atlassian::fields` cannot be shared
//! (the `atlassian` layer sits above this one), so the IdP clients keep this small copy.

use serde_json::{Map, Value};

use crate::model::FieldNote;

/// What a parser makes of one list item: its id, the item, and the fields it could not read.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    pub id: String,
    pub item: T,
    pub notes: Vec<FieldNote>,
}

/// The JSON type of a value, for notes and errors.
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

/// A boolean, or the strings `"true"`/`"false"` in any case with surrounding white space.
pub fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A non-negative integer, or one sent as a string.
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

    /// Notes a field (once per item and field).
    pub fn note(&mut self, key: &str, problem: String) {
        let field = format!("{}{key}", self.prefix);
        if !self.notes.iter().any(|n| n.field == field) {
            self.notes.push(FieldNote { field, problem });
        }
    }

    /// The raw value at `key`, `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    /// The item's id: a non-empty string. Its absence makes the item uncountable.
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

    /// A non-empty string field (an empty one is absent, not noted).
    pub fn text(&mut self, key: &str) -> Option<String> {
        self.string(key).filter(|s| !s.trim().is_empty())
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

    /// A time field (RFC 3339, or without an offset = UTC); the year-1 "never" sentinel of
    /// Entra (`0001-01-01T00:00:00Z`) is `None`, as is an absent time; another value is noted.
    pub fn time(&mut self, key: &str) -> Option<String> {
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

    /// A nested object, read with `read`; another type is noted and read as absent.
    pub fn object<R>(&mut self, key: &str, read: impl FnOnce(&mut Fields<'_>) -> R) -> Option<R> {
        match self.get(key)? {
            Value::Object(obj) => {
                let mut inner = Fields {
                    obj,
                    prefix: format!("{}{key}.", self.prefix),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert_eq!(f.time("a"), None);
        assert_eq!(f.time("b"), None);
        assert_eq!(f.time("c"), None);
        assert_eq!(f.time("d"), None);
        let fields: Vec<_> = notes.iter().map(|n| n.field.as_str()).collect();
        assert_eq!(fields, ["b", "c"]);
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
