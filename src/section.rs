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

/// [`check_url_scheme`] for an endpoint that receives a key from its own setting: no user name or
/// password in it either (never echoed: it would be a credential).
pub fn check_url(text: &str) -> Result<url::Url, String> {
    let url = check_url_scheme(text)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password (`user:password@`): keys are read from their `_env` / `_file` settings".into());
    }
    Ok(url)
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
