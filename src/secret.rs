//! A secret value (API key, directory token) that never prints itself, and the process-wide
//! redaction of every secret from text that leaves the process (errors, logs, audit rows).
//!
//! Two layers: [`redact`] removes every registered secret (raw in any ASCII case, and its base64,
//! base64url and hex encodings) and the credential after `Bearer`/`SSWS`/`Basic`; it applies to
//! any text. [`scrub_tokens`] also removes anything token-like (long random-looking runs, JWTs),
//! for text a server wrote (error bodies), where an unknown key may be echoed in any encoding.

use std::fmt;
use std::sync::{LazyLock, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// Every secret value this process has read, longest first: [`redact`] replaces each.
static REGISTRY: LazyLock<RwLock<Vec<Registered>>> = LazyLock::new(|| RwLock::new(Vec::new()));

/// Short-lived secrets (OAuth access tokens, signed client assertions), most recent last: a
/// daemon refreshing tokens every hour must not grow the registry without bound, so only the
/// last [`SHORT_LIVED_KEPT`] are kept; an older one has long expired.
static SHORT_LIVED: LazyLock<RwLock<std::collections::VecDeque<Registered>>> =
    LazyLock::new(|| RwLock::new(std::collections::VecDeque::new()));

/// Short-lived secrets kept for redaction (tokens live about an hour; a few per directory and
/// hour are made).
pub const SHORT_LIVED_KEPT: usize = 256;

/// Shorter values are not registered: replacing them would garble ordinary text.
const MIN_REGISTERED_LEN: usize = 6;

/// What a secret becomes in redacted text.
pub const REDACTED: &str = "[redacted]";

/// One registered secret, in the forms it is recognised in.
struct Registered {
    /// The value, ASCII lower-cased: matched in any case (an upper-cased echo).
    lower: String,
    /// Its hex encoding, lower-case (matched in any case); empty for a short-lived one.
    hex: String,
    /// The part of its base64 and base64url encodings that does not depend on the text around
    /// it, at each of the three byte alignments (matched exactly); empty for a short-lived one,
    /// whose encodings (a token is long) [`scrub_tokens`] removes from error bodies.
    encoded: Vec<String>,
}

impl Registered {
    fn new(value: &str, encodings: bool) -> Self {
        let bytes = value.as_bytes();
        let mut encoded = Vec::new();
        // The value starts at byte 0, 1 or 2 of a 3-byte group of the encoded text: the groups
        // wholly inside it encode the same way wherever it stands.
        for skip in 0..3 {
            let rest = bytes.get(skip..).unwrap_or_default();
            let whole = &rest[..rest.len() / 3 * 3];
            if !encodings || whole.len() < MIN_REGISTERED_LEN {
                continue;
            }
            for form in [STANDARD_NO_PAD.encode(whole), URL_SAFE_NO_PAD.encode(whole)] {
                if !encoded.contains(&form) {
                    encoded.push(form);
                }
            }
        }
        Registered {
            lower: value.to_ascii_lowercase(),
            hex: if encodings {
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            } else {
                String::new()
            },
            encoded,
        }
    }

    /// `text` without this secret in any of its forms; an encoded form takes the whole run of
    /// its alphabet around it (the rest of the encoding would still carry part of the value).
    fn redact(&self, text: &str) -> String {
        let text = replace(text, &self.lower, true, None);
        let text = replace(&text, &self.hex, true, Some(|c: u8| c.is_ascii_hexdigit()));
        self.encoded.iter().fold(text, |text, form| {
            replace(&text, form, false, Some(encoded_char))
        })
    }
}

/// The base64 and base64url alphabets and the padding.
fn encoded_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'_' | b'-' | b'=')
}

/// Replaces each occurrence of `needle` in `text` (ignoring ASCII case when `any_case`; the
/// needle is then lower-case) with [`REDACTED`]; with `run`, the whole run of such characters
/// around each occurrence.
fn replace(text: &str, needle: &str, any_case: bool, run: Option<fn(u8) -> bool>) -> String {
    // ASCII lower-casing keeps every byte where it was, so positions carry over to `text`.
    let haystack = if any_case {
        std::borrow::Cow::Owned(text.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    if needle.is_empty() || !haystack.contains(needle) {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    while let Some(found) = haystack[copied..].find(needle) {
        let (mut start, mut end) = (copied + found, copied + found + needle.len());
        if let Some(in_run) = run {
            while start > copied && in_run(bytes[start - 1]) {
                start -= 1;
            }
            while end < bytes.len() && in_run(bytes[end]) {
                end += 1;
            }
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

fn register(value: &str) {
    if value.len() < MIN_REGISTERED_LEN {
        return;
    }
    let lower = value.to_ascii_lowercase();
    if let Ok(mut all) = REGISTRY.write()
        && !all.iter().any(|v| v.lower == lower)
    {
        all.push(Registered::new(value, true));
        all.sort_by_key(|v| std::cmp::Reverse(v.lower.len()));
    }
}

fn register_short_lived(value: &str) {
    if value.len() < MIN_REGISTERED_LEN {
        return;
    }
    let lower = value.to_ascii_lowercase();
    if let Ok(mut recent) = SHORT_LIVED.write()
        && !recent.iter().any(|v| v.lower == lower)
    {
        if recent.len() >= SHORT_LIVED_KEPT {
            recent.pop_front();
        }
        recent.push_back(Registered::new(value, false));
    }
}

/// Replaces every registered secret in `text` (raw in any ASCII case, or base64, base64url or hex
/// encoded), and the credential after `Bearer`, `SSWS` or `Basic`, with `[redacted]`. Apply it to
/// decoded text (JSON escapes resolved): an escaped key is not found.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    // Short-lived ones first: a token (long) could hold a shorter registered value by chance.
    if let Ok(recent) = SHORT_LIVED.read() {
        for secret in recent.iter().rev() {
            out = secret.redact(&out);
        }
    }
    if let Ok(all) = REGISTRY.read() {
        for secret in all.iter() {
            out = secret.redact(&out);
        }
    }
    scrub_credentials(&out)
}

/// The schemes whose credential follows them (`Authorization: <scheme> <credential>`).
const SCHEMES: [&str; 3] = ["bearer ", "ssws ", "basic "];

/// The credential after each of [`SCHEMES`] (any case, at the start of a word) replaced. A
/// credential of lower-case letters only is a word (`Basic authentication`, `Bearer token
/// required`), kept.
fn scrub_credentials(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &lower[i..];
        let scheme = SCHEMES.into_iter().find(|s| rest.starts_with(s));
        let at_word = i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric();
        if let (Some(scheme), true) = (scheme, at_word) {
            let start = i + scheme.len();
            let token_len = text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=:|".contains(c)))
                .unwrap_or(text.len() - start);
            let token = &text[start..start + token_len];
            out.push_str(&text[i..start]);
            if token.is_empty()
                || token == REDACTED
                || token.bytes().all(|c| c.is_ascii_lowercase())
            {
                out.push_str(token);
            } else {
                out.push_str(REDACTED);
            }
            i = start + token_len;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Hex runs this long or longer are redacted by [`scrub_tokens`]: a 128-bit key in hex is 32
/// characters; shorter ids (a 24-character Atlassian account id) stay.
pub const MIN_HEX_TOKEN: usize = 32;

/// Other runs of the base64/base64url alphabet this long or longer are redacted by
/// [`scrub_tokens`] when they look random (see there).
pub const MIN_TOKEN: usize = 32;

/// `text` (a server's words, such as an error body) without anything token-like, each replaced by
/// `[redacted]`:
///
/// - a JWT: `eyJ…` followed by one or two `.`-separated parts;
/// - a run holding [`MIN_HEX_TOKEN`] or more hex digits in a row;
/// - a run of [`MIN_TOKEN`] or more characters of the base64/base64url alphabets (letters,
///   digits, `+/_-=~`) that changes between lower case, upper case, digits and symbols at least
///   twice in five characters, as random keys and their encodings do (words, paths and
///   `CamelCase` codes do not).
///
/// GUIDs (`8-4-4-4-12` hex) are ids, not secrets: the parts of a run around them are judged on
/// their own. Registered secrets are [`redact`]'s job; apply both.
pub fn scrub_tokens(text: &str) -> String {
    let b = text.as_bytes();
    let run_char = |c: u8| encoded_char(c) || c == b'~';
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i < b.len() {
        if !run_char(b[i]) || (i > 0 && run_char(b[i - 1])) {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < b.len() && run_char(b[end]) {
            end += 1;
        }
        // A JWT (`eyJ` at the start of a word of the run): its parts run on over its dots.
        let jwt = text[i..end]
            .match_indices("eyJ")
            .map(|(p, _)| i + p)
            .find(|&p| p == i || !b[p - 1].is_ascii_alphanumeric())
            .filter(|_| b.get(end) == Some(&b'.'));
        let start = jwt.unwrap_or(i);
        if jwt.is_some() {
            while b.get(end) == Some(&b'.') {
                end += 1;
                while end < b.len() && run_char(b[end]) {
                    end += 1;
                }
            }
        }
        if jwt.is_some() || token_like(&text[i..end]) {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether a run of the base64 alphabet (no `.`) is token-like: see [`scrub_tokens`].
fn token_like(run: &str) -> bool {
    let class = |c: u8| match c {
        b'a'..=b'z' => 0,
        b'A'..=b'Z' => 1,
        b'0'..=b'9' => 2,
        _ => 3,
    };
    split_guids(run).into_iter().any(|part| {
        let part = part.trim_end_matches('=').as_bytes();
        let hex = part
            .split(|c| !c.is_ascii_hexdigit())
            .any(|digits| digits.len() >= MIN_HEX_TOKEN);
        let switches = part
            .windows(2)
            .filter(|w| class(w[0]) != class(w[1]))
            .count();
        hex || (part.len() >= MIN_TOKEN && switches * 5 >= (part.len() - 1) * 2)
    })
}

/// The parts of `run` between its GUIDs (`8-4-4-4-12` hex digits).
fn split_guids(run: &str) -> Vec<&str> {
    const GUID: [usize; 5] = [8, 4, 4, 4, 12];
    let is_guid = |s: &[u8]| {
        let mut at = 0;
        GUID.iter().enumerate().all(|(n, len)| {
            let ok = s[at..at + len].iter().all(u8::is_ascii_hexdigit)
                && (n == 4 || s[at + len] == b'-');
            at += len + 1;
            ok
        })
    };
    let b = run.as_bytes();
    let mut parts = Vec::new();
    let (mut from, mut i) = (0, 0);
    while i + 36 <= b.len() {
        if is_guid(&b[i..i + 36]) {
            parts.push(&run[from..i]);
            i += 36;
            from = i;
        } else {
            i += 1;
        }
    }
    parts.push(&run[from..]);
    parts
}

/// A secret string. `Debug` and `Display` print `***`; the value is reachable only through
/// [`Secret::expose`], which callers use at the one place the key goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value. Surrounding white space (a trailing newline in a key file) is trimmed.
    /// The value is registered for [`redact`].
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into().trim().to_string();
        register(&value);
        Secret(value)
    }

    /// Wraps a short-lived value (an access token, a signed assertion): redacted like any other
    /// while it is among the last [`SHORT_LIVED_KEPT`] such values, so refreshing tokens for the
    /// life of a daemon does not grow the registry.
    pub fn short_lived(value: impl Into<String>) -> Self {
        let value = value.into().trim().to_string();
        register_short_lived(&value);
        Secret(value)
    }

    /// The raw value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

use std::path::{Path, PathBuf};

/// Expands `${CREDENTIALS_DIRECTORY}` (systemd `LoadCredential=`) in a key file path; a path
/// naming it while the variable is unset (or empty) stays as written, so a read error names it.
pub fn expand_credentials_dir(path: &Path) -> PathBuf {
    credentials_path(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Expands `${CREDENTIALS_DIRECTORY}` in a key file path; an error saying the variable is not set
/// (systemd sets it for `LoadCredential=`) when the path needs it and it is unset or empty.
pub fn credentials_path(path: &Path) -> Result<PathBuf, String> {
    const VAR: &str = "${CREDENTIALS_DIRECTORY}";
    let text = path.to_string_lossy();
    if !text.contains(VAR) {
        return Ok(path.to_path_buf());
    }
    match std::env::var("CREDENTIALS_DIRECTORY") {
        Ok(dir) if !dir.is_empty() => Ok(PathBuf::from(text.replace(VAR, &dir))),
        _ => Err(format!(
            "{} uses ${{CREDENTIALS_DIRECTORY}}, but the environment variable CREDENTIALS_DIRECTORY is not set (systemd sets it for LoadCredential=; outside systemd, export it)",
            path.display()
        )),
    }
}

/// The one secret reader of every section: from the file (`${CREDENTIALS_DIRECTORY}` expanded,
/// surrounding white space such as a trailing newline trimmed) when one is named, else from the
/// environment variable; `None` when neither is set. The error is (the key that named it, why),
/// never the value.
pub fn read(
    env: Option<&str>,
    file: Option<&Path>,
    (env_key, file_key): (&str, &str),
    what: &str,
) -> Result<Option<Secret>, (String, String)> {
    let err = |key: &str, message: String| (key.to_string(), message);
    let (secret, key) = match (env, file) {
        (_, Some(path)) => {
            let path = credentials_path(path)
                .map_err(|m| err(file_key, format!("{m} (expected {what})")))?;
            let text = std::fs::read_to_string(&path).map_err(|e| {
                err(
                    file_key,
                    format!("cannot read {} ({what}): {e}", path.display()),
                )
            })?;
            (Secret::new(text), file_key)
        }
        (Some(var), None) => {
            let value = std::env::var(var).map_err(|_| {
                err(
                    env_key,
                    format!("environment variable {var} is not set (expected {what})"),
                )
            })?;
            (Secret::new(value), env_key)
        }
        (None, None) => return Ok(None),
    };
    if secret.expose().is_empty() {
        return Err(err(key, format!("{what} is empty")));
    }
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_value() {
        let s = Secret::new("top-secret-key\n");
        assert_eq!(s.expose(), "top-secret-key");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert!(!format!("{:?}", Some(&s)).contains("top-secret"));
    }

    #[test]
    fn redact_replaces_registered_secrets_and_bearer_tokens() {
        let _s = Secret::new("registered-key-4711");
        assert_eq!(
            redact("echo: registered-key-4711, again registered-key-4711"),
            "echo: [redacted], again [redacted]"
        );
        assert_eq!(
            redact("Authorization: Bearer not.registered~x/y=; next"),
            "Authorization: Bearer [redacted]; next"
        );
        assert_eq!(redact("BEARER abc:def"), "BEARER [redacted]");
        assert_eq!(redact("Bearer [redacted]"), "Bearer [redacted]");
        // Not a credential: a word that merely ends in "bearer", or a word after the scheme.
        assert_eq!(redact("standardbearer x"), "standardbearer x");
        assert_eq!(redact("no secrets: ünïcode"), "no secrets: ünïcode");
        assert_eq!(
            redact("Basic authentication is off; Bearer token required"),
            "Basic authentication is off; Bearer token required"
        );
        assert_eq!(
            redact("auth=SSWS 00aB-cd_Ef; basic dXNlcjpwYXNz"),
            "auth=SSWS [redacted]; basic [redacted]"
        );
    }

    /// A registered key in every encoding a server might echo it in.
    #[test]
    fn a_registered_secret_is_redacted_in_any_encoding() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        // `?>` and `~` make base64 and base64url differ (`/`, `+` against `_`, `-`).
        let key = "Sk-1?>?>~~~enc0ded-key-4711";
        let _s = Secret::new(key);
        let hex: String = key.bytes().map(|b| format!("{b:02X}")).collect();
        let escaped = key.replace('-', "\\u002d");
        assert_eq!(redact(&format!("raw {key}.")), "raw [redacted].");
        assert_eq!(
            redact(&format!("upper {}!", key.to_uppercase())),
            "upper [redacted]!"
        );
        assert_eq!(redact(&format!("hex {hex} end")), "hex [redacted] end");
        // JSON escapes are resolved by the caller (http::detail), then it is a raw echo.
        assert_eq!(redact(&escaped), escaped, "escaped text is decoded first");
        // Encoded alone, and inside a longer encoded text at each of the three alignments.
        for prefix in ["", "a", "ab", "Authorization: Bearer "] {
            let text = format!("{prefix}{key} and more");
            for encoded in [STANDARD.encode(&text), URL_SAFE.encode(&text)] {
                let shown = redact(&format!("seen: {encoded} (end)"));
                assert_eq!(shown, "seen: [redacted] (end)", "{prefix:?}: {encoded}");
            }
        }
        // Other text stays as it was.
        assert_eq!(
            redact("AADSTS7000215: Invalid client secret provided."),
            "AADSTS7000215: Invalid client secret provided."
        );
    }

    #[test]
    fn token_like_runs_are_scrubbed_and_words_ids_and_guids_kept() {
        use base64::engine::general_purpose::STANDARD;
        let unknown = "xY9-unregistered_Key~0a1B2c3D4e5F6g7H";
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        for (text, shown) in [
            (
                format!("token {unknown} refused"),
                "token [redacted] refused",
            ),
            (
                format!("b64 {} x", STANDARD.encode(unknown)),
                "b64 [redacted] x",
            ),
            (format!("jwt={jwt};"), "jwt=[redacted];"),
            (
                "short jwt eyJhbGciOiJub25lIn0.e30.".to_string(),
                "short jwt [redacted]",
            ),
            (
                format!("hex {}", "0123456789abcdef".repeat(2)),
                "hex [redacted]",
            ),
        ] {
            assert_eq!(scrub_tokens(&text), shown, "{text}");
        }
        for kept in [
            "Authorization_RequestDenied: Insufficient privileges to complete the operation.",
            "Trace ID: 0f8fad5b-d9cb-469f-a165-70867728950e Correlation ID: 7c9e6679-7425-40de-944b-e07fc1f90ae7 Timestamp: 2024-05-01 12:00:00Z",
            "account 557058:f58131cb-b67d-43c7-b30d-6b58d40bd077 and 5b10ac8d82e05b22cc7d4ef5 not found",
            "/scim/directory/0f8fad5b-d9cb-469f-a165-70867728950e/Users/user-0001 is gone",
            "InsufficientPrivilegesToCompleteTheOperationOnThisDirectory",
            "AADSTS7000215: Invalid client secret provided. ünïcode",
            "[redacted] stays [redacted]",
        ] {
            assert_eq!(scrub_tokens(kept), kept);
        }
        // A GUID glued to a token does not shelter it.
        let glued = format!("0f8fad5b-d9cb-469f-a165-70867728950e{unknown}");
        assert_eq!(scrub_tokens(&glued), REDACTED);
    }

    #[test]
    fn short_lived_secrets_are_redacted_and_bounded() {
        let first = Secret::short_lived("eyJ.first-short-lived-token.sig");
        assert_eq!(
            redact("got eyJ.first-short-lived-token.sig"),
            "got [redacted]"
        );
        for i in 0..SHORT_LIVED_KEPT + 10 {
            let _ = Secret::short_lived(format!("eyJ.refresh-{i:04}.sig"));
        }
        let kept = SHORT_LIVED.read().unwrap().len();
        assert!(kept <= SHORT_LIVED_KEPT, "{kept}");
        // The most recent is redacted; the first has aged out (it expired long ago).
        let last = format!("eyJ.refresh-{:04}.sig", SHORT_LIVED_KEPT + 9);
        assert_eq!(redact(&last), REDACTED);
        assert_eq!(first.expose(), "eyJ.first-short-lived-token.sig");
    }
}
