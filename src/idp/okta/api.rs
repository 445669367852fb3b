//! Okta's Management API over the shared HTTP layer (idp-api.md §2.1, §2.5): the credential's
//! `Authorization` (`SSWS` or `Bearer`; a 401 gets a service app one new token and one retry),
//! paging by `Link: <…>; rel="next"` followed verbatim only on the configured origin (separate
//! headers or one comma-joined line), Okta's error bodies, and a 403 turned into the scope and
//! role to grant.

use std::collections::HashSet;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::credential::Credential;
use crate::fields::{Parsed, SeenIds, json_error};
use crate::http::{Api, ApiError, Call, ErrorKind, HttpLayer, Reply};

/// What an Okta call reads, for errors and the scope a 403 names (idp-api.md §2.1–§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    App,
    AppUsers,
    User,
    PushMappings,
    Group,
    GroupUsers,
    Logs,
}

impl What {
    /// The call's name in errors.
    pub fn label(self) -> &'static str {
        match self {
            What::App => "apps/{id}",
            What::AppUsers => "apps/{id}/users",
            What::User => "users/{id}",
            What::PushMappings => "apps/{id}/group-push/mappings",
            What::Group => "groups/{id}",
            What::GroupUsers => "groups/{id}/users",
            What::Logs => "logs",
        }
    }

    /// The OAuth scope the call needs.
    pub fn scope(self) -> &'static str {
        match self {
            What::App | What::AppUsers | What::PushMappings => "okta.apps.read",
            What::User => "okta.users.read",
            What::Group | What::GroupUsers => "okta.groups.read",
            What::Logs => "okta.logs.read",
        }
    }

    fn api(self) -> Api {
        match self {
            What::Logs => Api::OktaLogs,
            _ => Api::Okta,
        }
    }
}

pub use crate::idp::listing::{Duplicates, Listed, Target, seg};

/// One Okta org's API: the layer (base URL = `base_url` or `https://{domain}`), the credential,
/// the source name.
pub struct Okta<'a> {
    pub http: HttpLayer,
    pub cred: &'a Credential,
    pub origin: &'a str,
    base: url::Url,
}

/// The `rel="next"` URL of a reply's `Link` headers, whether sent as separate headers or one
/// comma-joined line (RFC 8288: parameter names in any case, white space around `=`, a relation
/// list); `Err` when a `Link` cannot be read or names two different next pages.
pub fn next_link(headers: &HeaderMap) -> Result<Option<String>, String> {
    let mut next: Option<String> = None;
    for value in headers.get_all(reqwest::header::LINK) {
        let text = value
            .to_str()
            .map_err(|_| "a Link header is not text".to_string())?;
        let mut rest = text;
        while let Some(open) = rest.find('<') {
            let Some(close) = rest[open..].find('>') else {
                return Err("a Link header has `<` without `>`".into());
            };
            let url = &rest[open + 1..open + close];
            let after = &rest[open + close + 1..];
            let params_end = after.find('<').unwrap_or(after.len());
            let params = &after[..params_end];
            let is_next = params.split(';').any(|p| {
                let p = p.trim().trim_end_matches(',').trim();
                let Some((name, value)) = p.split_once('=') else {
                    return false;
                };
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            });
            if is_next {
                let url = url.trim().to_string();
                match &next {
                    Some(other) if *other != url => {
                        return Err("the Link headers name two different next pages".into());
                    }
                    _ => next = Some(url),
                }
            }
            rest = &after[params_end..];
        }
    }
    Ok(next)
}

/// A `next` link is followed only when it is an absolute URL on the configured origin: the token
/// is never sent elsewhere.
pub fn check_next_link(link: &str, base: &url::Url) -> Result<(), String> {
    let u =
        url::Url::parse(link).map_err(|_| "the next Link is not an absolute URL".to_string())?;
    if u.origin() != base.origin() {
        return Err(format!(
            "the next Link points to {}, not the configured Okta origin {}: not followed",
            u.origin().ascii_serialization(),
            base.origin().ascii_serialization()
        ));
    }
    Ok(())
}

/// A 403 as the scope and role to grant (idp-api.md §2.1: `E0000006`).
pub fn forbidden(e: ApiError, what: What) -> ApiError {
    if e.kind != ErrorKind::Forbidden {
        return e;
    }
    let said = e
        .message
        .strip_prefix("HTTP 403: the key lacks permission (")
        .and_then(|m| m.strip_suffix(')'))
        .unwrap_or(&e.message)
        .to_string();
    ApiError {
        message: crate::secret::redact(&format!(
            "HTTP 403 on {}: grant the service app the {} scope (its Okta API Scopes tab) and an admin role covering the app, its users and the System Log (Read-only Administrator; an API token has its admin's role); Okta said: {said}",
            what.label(),
            what.scope(),
        )),
        ..e
    }
}

impl<'a> Okta<'a> {
    pub fn new(
        http: HttpLayer,
        base_url: &str,
        cred: &'a Credential,
        origin: &'a str,
    ) -> Result<Self, ApiError> {
        let base = url::Url::parse(base_url).map_err(|_| {
            ApiError::new(
                origin,
                "setup",
                ErrorKind::Transport,
                "base_url is not a URL",
            )
        })?;
        Ok(Okta {
            http,
            cred,
            origin,
            base,
        })
    }

    /// Signs in now (a service app's token; nothing to do for an API token): §5's "the token was
    /// obtained".
    pub async fn sign_in(&self) -> Result<(), ApiError> {
        self.cred.auth(&self.http, self.origin).await.map(drop)
    }

    /// Sends one GET with the credential; a 401 gets a service app one new token and one retry.
    pub async fn send(
        &self,
        what: What,
        target: &Target,
        page: &str,
        not_found_ok: bool,
    ) -> Result<Option<Reply>, ApiError> {
        let mut refreshed = false;
        loop {
            let auth = self.cred.auth(&self.http, self.origin).await?;
            let (path, url, query) = match target {
                Target::Path(p, q) => (p.clone(), None, q.clone()),
                Target::Link(l) => (String::new(), Some(l.clone()), Vec::new()),
            };
            let headers = if auth.bearer {
                Vec::new()
            } else {
                vec![("authorization", format!("SSWS {}", auth.secret.expose()))]
            };
            let call = Call {
                api: what.api(),
                method: Method::GET,
                path,
                url,
                query,
                json: None,
                form: None,
                headers,
                key: &auth.secret,
                bearer: auth.bearer,
                origin: self.origin,
                page: page.to_string(),
                not_found_ok,
            };
            match self.http.send(&call).await {
                Err(e)
                    if e.kind == ErrorKind::Unauthorized && !refreshed && self.cred.refreshes() =>
                {
                    tracing::info!(
                        source = self.origin,
                        page,
                        "Okta refused the access token (401): getting a new one once"
                    );
                    self.cred.invalidate(&auth.secret).await;
                    refreshed = true;
                }
                Err(e) => return Err(forbidden(e, what)),
                Ok(r) => return Ok(r),
            }
        }
    }

    /// A GET of one object as JSON; `Ok(None)` for a 404 when `not_found_ok`.
    pub async fn get(
        &self,
        what: What,
        target: Target,
        page: &str,
        not_found_ok: bool,
    ) -> Result<Option<Value>, ApiError> {
        let Some(reply) = self.send(what, &target, page, not_found_ok).await? else {
            return if not_found_ok {
                Ok(None)
            } else {
                Err(ApiError::malformed(self.origin, page, "unexpected 404"))
            };
        };
        serde_json::from_slice(&reply.body)
            .map(Some)
            .map_err(|e| ApiError::malformed(self.origin, page, json_error(&e)))
    }

    /// Every page of an Okta list (a JSON array per page, `Link rel="next"`), each item through
    /// `parse` (`Ok(None)` skips one). Complete or an error (§5): a page that is not an array,
    /// an item `parse` refuses, a duplicate id (per `dups`), a next link off the origin or seen
    /// before, a 404, or a request that gave up. A page shorter than the limit with a next link
    /// is followed (lenient).
    pub async fn list<T>(
        &self,
        what: What,
        first: Target,
        label: &str,
        dups: Duplicates,
        mut parse: impl FnMut(&Value) -> Result<Option<Parsed<T>>, String>,
    ) -> Result<Listed<T>, ApiError> {
        let mut out = Listed::default();
        let mut seen = SeenIds::default();
        let mut links = HashSet::new();
        let mut target = first;
        let mut n = 0;
        loop {
            n += 1;
            let page = format!("{label} page {n}");
            let Some(reply) = self.send(what, &target, &page, false).await? else {
                return Err(ApiError::malformed(self.origin, &page, "unexpected 404"));
            };
            let bad = |m: String| ApiError::malformed(self.origin, &page, m);
            let body: Value =
                serde_json::from_slice(&reply.body).map_err(|e| bad(json_error(&e)))?;
            let Some(items) = body.as_array() else {
                return Err(bad(format!(
                    "page is {}, expected an array",
                    crate::fields::kind_of(&body)
                )));
            };
            // The System Log (deduplicated): an empty page is its end, whatever `next` says (a
            // query that lost its `until` pages on forever, polling).
            if items.is_empty() && dups == Duplicates::Skip {
                return Ok(out);
            }
            out.add_page(items, self.origin, &mut seen, dups, &mut parse)
                .map_err(&bad)?;
            match next_link(&reply.headers).map_err(&bad)? {
                None => return Ok(out),
                Some(link) => {
                    check_next_link(&link, &self.base).map_err(&bad)?;
                    if !links.insert(link.clone()) {
                        return Err(bad("the next Link repeats an earlier page".into()));
                    }
                    target = Target::Link(link);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn next_links_in_both_forms() {
        let mut h = HeaderMap::new();
        h.append(
            "link",
            HeaderValue::from_static(
                "<https://a.okta.com/api/v1/apps/x/users?limit=2>; rel=\"self\"",
            ),
        );
        h.append(
            "link",
            HeaderValue::from_static(
                "<https://a.okta.com/api/v1/apps/x/users?after=00u2&limit=2>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_link(&h).unwrap().as_deref(),
            Some("https://a.okta.com/api/v1/apps/x/users?after=00u2&limit=2")
        );
        let mut joined = HeaderMap::new();
        joined.insert("link", HeaderValue::from_static("<https://a.okta.com/l?a=1,2>; rel=\"self\", <https://a.okta.com/l?after=9>; rel=\"next\""));
        assert_eq!(
            next_link(&joined).unwrap().as_deref(),
            Some("https://a.okta.com/l?after=9")
        );
        let mut last = HeaderMap::new();
        last.insert(
            "link",
            HeaderValue::from_static("<https://a.okta.com/l>; rel=\"self\""),
        );
        assert_eq!(next_link(&last).unwrap(), None);
        assert_eq!(next_link(&HeaderMap::new()).unwrap(), None);
        let mut broken = HeaderMap::new();
        broken.insert(
            "link",
            HeaderValue::from_static("<https://a.okta.com/l; rel=\"next\""),
        );
        assert!(next_link(&broken).is_err());
        // RFC 8288: any case, spaces around `=`.
        let mut loud = HeaderMap::new();
        loud.insert(
            "link",
            HeaderValue::from_static("<https://a.okta.com/l?after=3>; REL = \"next\""),
        );
        assert_eq!(
            next_link(&loud).unwrap().as_deref(),
            Some("https://a.okta.com/l?after=3")
        );
        let mut two = HeaderMap::new();
        two.append(
            "link",
            HeaderValue::from_static("<https://a.okta.com/l?after=3>; rel=\"next\""),
        );
        two.append(
            "link",
            HeaderValue::from_static("<https://a.okta.com/l?after=9>; rel=\"next\""),
        );
        assert!(next_link(&two).is_err());
    }

    #[test]
    fn next_links_stay_on_the_okta_origin() {
        let base = url::Url::parse("https://acme.okta.com").unwrap();
        assert!(check_next_link("https://acme.okta.com/api/v1/logs?after=1", &base).is_ok());
        for bad in [
            "https://evil.example/api/v1/logs",
            "http://acme.okta.com/api/v1/logs",
            "/api/v1/logs?after=1",
        ] {
            assert!(check_next_link(bad, &base).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_403_names_the_scope_and_the_role() {
        let e = ApiError::new(
            "idp:okta",
            "logs page 1",
            ErrorKind::Forbidden,
            "HTTP 403: the key lacks permission (E0000006: You do not have permission to perform the requested action)",
        );
        let m = forbidden(e, What::Logs).message;
        assert!(
            m.contains("okta.logs.read") && m.contains("Read-only Administrator"),
            "{m}"
        );
        assert!(
            m.ends_with("E0000006: You do not have permission to perform the requested action")
        );
    }
}
