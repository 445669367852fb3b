//! What both IdP clients' requests and paged lists share (idp-api.md §5): where a request goes
//! ([`Target`], [`seg`]), and the items of a page read one by one
//! through the kind's parser, a duplicate id an error (or, for a log, skipped), and the fields a
//! parser could not read kept as data-quality notes naming the source and the item.

use serde_json::Value;

use crate::fields::{Parsed, SeenIds};
use crate::model::DataQualityNote;

/// Where a request goes: a path under the client's base URL with a query, or a next-page link
/// followed verbatim (Graph's `@odata.nextLink`, Okta's `Link rel="next"`).
pub enum Target {
    Path(String, Vec<(&'static str, String)>),
    Link(String),
}

/// A path segment, percent-encoded (ids come from the API or the SCIM records: never let one
/// change the path).
pub fn seg(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A paged read: the items in order, the notes on fields it could not read.
pub struct Listed<T> {
    pub items: Vec<T>,
    pub notes: Vec<DataQualityNote>,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            items: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// How a list treats an id it already saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicates {
    /// §5: a list with a duplicate id is incomplete.
    Error,
    /// A log (events deduplicated by id): keep the first.
    Skip,
}

impl<T> Listed<T> {
    /// Adds one page's `items` through `parse` (`Ok(None)` skips an item); the error says which
    /// item and why (the caller names the page).
    pub fn add_page(
        &mut self,
        items: &[Value],
        origin: &str,
        seen: &mut SeenIds,
        dups: Duplicates,
        parse: &mut impl FnMut(&Value) -> Result<Option<Parsed<T>>, String>,
    ) -> Result<(), String> {
        for (i, raw) in items.iter().enumerate() {
            let parsed = parse(raw).map_err(|e| format!("item {i}: {e}"))?;
            let Some(p) = parsed else { continue };
            if !seen.first_time(&p.id) {
                match dups {
                    Duplicates::Error => {
                        return Err(format!("item {i}: id {:?} is listed twice", p.id));
                    }
                    Duplicates::Skip => continue,
                }
            }
            self.notes
                .extend(p.notes.into_iter().map(|note| DataQualityNote {
                    source: origin.to_string(),
                    id: p.id.clone(),
                    field: note.field,
                    problem: note.problem,
                }));
            self.items.push(p.item);
        }
        Ok(())
    }
}
