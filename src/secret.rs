//! A secret value (API key, directory token) that never prints itself, and the process-wide
//! redaction of every secret from text that leaves the process (errors, logs, audit rows).

use std::fmt;
use std::sync::{LazyLock, RwLock};

/// Every secret value this process has read, longest first: [`redact`] replaces each.
static REGISTRY: LazyLock<RwLock<Vec<String>>> = LazyLock::new(|| RwLock::new(Vec::new()));

/// Short-lived secrets (OAuth access tokens, signed client assertions), most recent last: a
/// daemon refreshing tokens every hour must not grow the registry without bound, so only the
/// last [`SHORT_LIVED_KEPT`] are kept; an older one has long expired.
static SHORT_LIVED: LazyLock<RwLock<std::collections::VecDeque<String>>> =
    LazyLock::new(|| RwLock::new(std::collections::VecDeque::new()));

/// Short-lived secrets kept for redaction (tokens live about an hour; a few per directory and
/// hour are made).
pub const SHORT_LIVED_KEPT: usize = 256;

/// Shorter values are not registered: replacing them would garble ordinary text.
const MIN_REGISTERED_LEN: usize = 6;

/// What a secret becomes in redacted text.
pub const REDACTED: &str = "[redacted]";

fn register(value: &str) {
    if value.len() < MIN_REGISTERED_LEN {
        return;
    }
    if let Ok(mut all) = REGISTRY.write()
        && !all.iter().any(|v| v == value)
    {
        all.push(value.to_string());
        all.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }
}

fn register_short_lived(value: &str) {
    if value.len() < MIN_REGISTERED_LEN {
        return;
    }
    if let Ok(mut recent) = SHORT_LIVED.write()
        && !recent.iter().any(|v| v == value)
    {
        if recent.len() >= SHORT_LIVED_KEPT {
            recent.pop_front();
        }
        recent.push_back(value.to_string());
    }
}

/// Replaces every registered secret in `text`, and every `Bearer <token>` credential, with
/// `[redacted]`. Apply it to decoded text (JSON escapes resolved): an escaped
/// key is not found.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    // Short-lived ones first: a token (long) could hold a shorter registered value by chance.
    if let Ok(recent) = SHORT_LIVED.read() {
        for secret in recent.iter().rev() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
    }
    if let Ok(all) = REGISTRY.read() {
        for secret in all.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
    }
    scrub_credentials(&out)
}

/// `Bearer <token>` (any case) with the token replaced.
fn scrub_credentials(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let rest = &lower[i..];
        let scheme = ["bearer "].into_iter().find(|s| rest.starts_with(s));
        let at_word = i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric();
        if let (Some(scheme), true) = (scheme, at_word) {
            let start = i + scheme.len();
            let token_len = text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~+/=:|".contains(c)))
                .unwrap_or(text.len() - start);
            out.push_str(&text[i..start]);
            if token_len > 0 && &text[start..start + token_len] != REDACTED {
                out.push_str(REDACTED);
            } else {
                out.push_str(&text[start..start + token_len]);
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
        // Not a credential: a word that merely ends in "bearer".
        assert_eq!(redact("standardbearer x"), "standardbearer x");
        assert_eq!(redact("no secrets: ünïcode"), "no secrets: ünïcode");
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
