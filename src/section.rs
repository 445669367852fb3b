//! What every configuration section uses to check its values: ranges that name what was expected.
//! Sections are owned by their modules; `config` gathers them.

/// Checks a number of seconds is finite and in `[min, max]`; the message says what was expected.
pub fn check_seconds(value: f64, min: f64, max: f64) -> Result<(), String> {
    if value.is_finite() && (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "expected a number of seconds between {min} and {max} (got {value})"
        ))
    }
}

/// Checks a whole number is in `[min, max]`.
pub fn check_count(value: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "expected a whole number between {min} and {max} (got {value})"
        ))
    }
}

/// True for `localhost` and loopback addresses (`127.0.0.0/8`, `[::1]`).
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The URL policy of every endpoint scimdrift sends to: `https`, or plain `http` only to a
/// loopback address (the simulator, tests). The error says what was expected.
pub fn check_url_scheme(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("expected an http(s) URL: {e}"))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(url),
        "http" => Err(
            "plain http is only allowed to a loopback address (keys would travel in clear); use https"
                .into(),
        ),
        other => Err(format!("expected an http(s) URL, got scheme `{other}`")),
    }
}

/// [`check_url_scheme`] for the base URL of an API that receives a key from its own setting: no
/// user name or password in it either (never echoed: it would be a credential), and nothing a
/// request path could not simply be appended to: no query, no fragment, no `.` or `..` path
/// segment (the URL parser would resolve them, so keys would go elsewhere than written).
pub fn check_url(text: &str) -> Result<url::Url, String> {
    let url = check_url_scheme(text)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password (`user:password@`): keys are read from their `_env` / `_file` settings".into());
    }
    if url.query().is_some() {
        return Err("must not have a query (`?…`): it is a base URL, each request adds its own path and query".into());
    }
    if url.fragment().is_some() {
        return Err(
            "must not have a fragment (`#…`): it is a base URL, each request adds its own path"
                .into(),
        );
    }
    if has_dot_segment(text) {
        return Err("must not contain a `.` or `..` path segment: write the path it means".into());
    }
    Ok(url)
}

/// A base URL that links in reports and pages are built on: [`check_url`], and written without
/// white space or control characters (the text is used as written, so nothing the parser would
/// drop may hide in it).
pub fn check_link_base(text: &str) -> Result<url::Url, String> {
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters".into());
    }
    check_url(text)
}

/// Whether the path of URL `text` (as written, `%2e` read as `.`) has a `.` or `..` segment.
fn has_dot_segment(text: &str) -> bool {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let end = after_scheme.find(['?', '#']).unwrap_or(after_scheme.len());
    let Some(path_at) = after_scheme[..end].find(['/', '\\']) else {
        return false;
    };
    after_scheme[path_at..end]
        .split(['/', '\\'])
        .map(|segment| segment.to_ascii_lowercase().replace("%2e", "."))
        .any(|segment| segment == "." || segment == "..")
}

/// Checks a signed whole number is in `[min, max]`.
pub fn check_count_i64(value: i64, min: i64, max: i64) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "expected a whole number between {min} and {max} (got {value})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_is_one_requests_can_be_appended_to() {
        for ok in [
            "https://api.atlassian.com",
            "https://graph.microsoft.com/v1.0/",
            "http://127.0.0.1:8080/graph/v1.0",
            "https://example.com/a.b/..c/d..",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for (bad, says) in [
            ("https://api.example.com/?x=1", "query"),
            ("https://api.example.com/v1?", "query"),
            ("https://api.example.com/v1#top", "fragment"),
            ("https://api.example.com/a/../v1", "`..`"),
            ("https://api.example.com/a/%2E%2e/v1", "`..`"),
            ("https://api.example.com/./v1", "`..`"),
            ("https://api.example.com/v1/..", "`..`"),
            ("http://127.0.0.1:8080\\..\\v1", "`..`"),
            ("https://user:pw@api.example.com", "user name"),
        ] {
            let err = check_url(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
