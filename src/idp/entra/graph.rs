//! Microsoft Graph over the shared HTTP layer (idp-api.md §1.1, §1.5): the bearer token from the
//! [`Credential`] (a 401 refreshes it once and retries the request once), `x-ms-throttle-priority:
//! Low` on every call, paging by `@odata.nextLink` followed verbatim only when it stays on the
//! configured Graph origin, and a 403 turned into the permission to grant.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::Value;

use super::credential::Credential;
use crate::fields::{Parsed, SeenIds, json_error};
use crate::http::{Api, ApiError, Call, ErrorKind, HttpLayer, Reply};

/// What a Graph call reads, for errors and the permission a 403 names (idp-api.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    ServicePrincipal,
    Assignments,
    Group,
    Members,
    TransitiveMembers,
    /// A user's direct group memberships (the re-read before provision on demand).
    MemberOf,
    Users,
    User,
    /// A soft-deleted user (`directory/deletedItems/{id}`).
    DeletedItem,
    Jobs,
    Schema,
    Logs,
    ProvisionOnDemand,
}

impl What {
    /// The call's name in errors.
    pub fn label(self) -> &'static str {
        match self {
            What::ServicePrincipal => "servicePrincipals",
            What::Assignments => "appRoleAssignedTo",
            What::Group => "groups",
            What::Members => "members",
            What::TransitiveMembers => "transitiveMembers",
            What::MemberOf => "users/{id}/memberOf",
            What::Users => "users",
            What::User => "users/{id}",
            What::DeletedItem => "directory/deletedItems/{id}",
            What::Jobs => "synchronization/jobs",
            What::Schema => "synchronization/jobs/{id}/schema",
            What::Logs => "auditLogs/provisioning",
            What::ProvisionOnDemand => "provisionOnDemand",
        }
    }

    /// The application permission (admin consent) the call needs.
    pub fn permission(self) -> &'static str {
        match self {
            What::ServicePrincipal | What::Assignments => "Application.Read.All",
            What::Group | What::Members | What::TransitiveMembers | What::MemberOf => {
                "GroupMember.Read.All"
            }
            What::Users | What::User | What::DeletedItem => "User.Read.All",
            What::Jobs | What::Schema => "Synchronization.Read.All",
            What::Logs => "AuditLog.Read.All",
            What::ProvisionOnDemand => "Synchronization.ReadWrite.All",
        }
    }

    /// What else a 403 may mean for the call.
    fn permission_note(self) -> &'static str {
        match self {
            What::Logs => "; the tenant also needs Entra ID P1/P2",
            What::ProvisionOnDemand => {
                ", or Application.ReadWrite.OwnedBy if scimdrift's app owns the service principal"
            }
            _ => "",
        }
    }

    fn api(self) -> Api {
        match self {
            What::Logs => Api::GraphReports,
            What::ProvisionOnDemand => Api::GraphProvisioning,
            _ => Api::Graph,
        }
    }
}

/// One Graph client: the layer (base URL = the Graph base), the credential, the source name.
pub struct Graph<'a> {
    pub http: HttpLayer,
    pub cred: &'a Credential,
    pub origin: &'a str,
    base: url::Url,
}

/// An OData string literal's content (`'` doubled).
pub fn odata_str(s: &str) -> String {
    s.replace('\'', "''")
}

/// A nextLink is followed only when it is an absolute URL on the configured Graph origin: the
/// token is never sent elsewhere (idp-api.md §1.5).
pub fn check_next_link(link: &str, base: &url::Url) -> Result<(), String> {
    let u =
        url::Url::parse(link).map_err(|_| "@odata.nextLink is not an absolute URL".to_string())?;
    if u.origin() != base.origin() {
        return Err(format!(
            "@odata.nextLink points to {}, not the configured Graph origin {}: not followed",
            u.origin().ascii_serialization(),
            base.origin().ascii_serialization()
        ));
    }
    Ok(())
}

/// A 403 as the permission to grant.
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
            "HTTP 403 on {}: grant the app {} (admin consent{}); Graph said: {said}",
            what.label(),
            what.permission(),
            what.permission_note()
        )),
        ..e
    }
}

pub use crate::idp::listing::{Duplicates, Listed, Target, seg};

impl<'a> Graph<'a> {
    pub fn new(
        http: HttpLayer,
        graph_base_url: &str,
        cred: &'a Credential,
        origin: &'a str,
    ) -> Result<Self, ApiError> {
        let base = url::Url::parse(graph_base_url).map_err(|_| {
            ApiError::new(
                origin,
                "setup",
                ErrorKind::Transport,
                "graph_base_url is not a URL",
            )
        })?;
        Ok(Graph {
            http,
            cred,
            origin,
            base,
        })
    }

    /// A token now (the pull's first step: §5 "the token was obtained").
    pub async fn token(&self) -> Result<crate::secret::Secret, ApiError> {
        self.cred.token(&self.http, self.origin).await
    }

    /// Sends one request with the current token; a 401 refreshes the token once and resends once
    /// (for a POST only when no earlier attempt's outcome is unknown: then the error is returned
    /// as is, and the caller reconciles).
    pub async fn send(
        &self,
        what: What,
        method: Method,
        target: &Target,
        json: Option<Value>,
        page: &str,
        not_found_ok: bool,
    ) -> Result<Option<Reply>, ApiError> {
        let mut refreshed = false;
        loop {
            let token = self.token().await?;
            let (path, url, query) = match target {
                Target::Path(p, q) => (p.clone(), None, q.clone()),
                Target::Link(l) => (String::new(), Some(l.clone()), Vec::new()),
            };
            let call = Call {
                api: what.api(),
                method: method.clone(),
                path,
                url,
                query,
                json: json.clone(),
                form: None,
                headers: vec![("x-ms-throttle-priority", "Low".into())],
                key: &token,
                bearer: true,
                origin: self.origin,
                page: page.to_string(),
                not_found_ok,
            };
            match self.http.send(&call).await {
                Err(e) if e.kind == ErrorKind::Unauthorized && !refreshed => {
                    if method != Method::GET && e.uncertain_retries > 0 {
                        return Err(e);
                    }
                    tracing::info!(
                        source = self.origin,
                        page,
                        "Graph refused the token (401): refreshing it once"
                    );
                    self.cred.invalidate(&token).await;
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
        let Some(reply) = self
            .send(what, Method::GET, &target, None, page, not_found_ok)
            .await?
        else {
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

    /// Every page of a Graph list (`value` + `@odata.nextLink`), each item through `parse`
    /// (`Ok(None)` skips an item). Complete or an error (§5): a page that is not an object with
    /// a `value` array, an item `parse` refuses, a duplicate id (per `dups`), a nextLink off the
    /// Graph origin or seen before, a 404, or a request that gave up.
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
            let Some(body) = self.get(what, target, &page, false).await? else {
                return Err(ApiError::malformed(self.origin, &page, "unexpected 404"));
            };
            let bad = |m: String| ApiError::malformed(self.origin, &page, m);
            let Some(items) = body.get("value").and_then(Value::as_array) else {
                return Err(bad("page has no `value` array".into()));
            };
            out.add_page(items, self.origin, &mut seen, dups, &mut parse)
                .map_err(&bad)?;
            match body.get("@odata.nextLink") {
                None | Some(Value::Null) => return Ok(out),
                Some(Value::String(link)) => {
                    check_next_link(link, &self.base).map_err(&bad)?;
                    if !links.insert(link.clone()) {
                        return Err(bad("@odata.nextLink repeats an earlier page".into()));
                    }
                    target = Target::Link(link.clone());
                }
                Some(other) => {
                    return Err(bad(format!(
                        "@odata.nextLink is {}, expected a URL",
                        crate::fields::kind_of(other)
                    )));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_stay_on_the_graph_origin() {
        let base = url::Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        assert!(
            check_next_link("https://graph.microsoft.com/v1.0/users?$skiptoken=x", &base).is_ok()
        );
        assert!(
            check_next_link("https://graph.microsoft.com/beta/users?$skiptoken=x", &base).is_ok()
        );
        for bad in [
            "https://evil.example/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:8443/v1.0/users",
            "https://graph.microsoft.com.evil.example/v1.0/users",
            "/v1.0/users?$skiptoken=x",
            "not a url",
        ] {
            let e = check_next_link(bad, &base).unwrap_err();
            assert!(!e.contains("skiptoken"), "{e}");
        }
        let local = url::Url::parse("http://127.0.0.1:8080/graph/v1.0").unwrap();
        assert!(check_next_link("http://127.0.0.1:8080/graph/v1.0/users?p=2", &local).is_ok());
        assert!(check_next_link("http://127.0.0.1:8081/graph/v1.0/users?p=2", &local).is_err());
    }

    #[test]
    fn ids_cannot_change_the_path() {
        assert_eq!(seg("3f1c-8a5e_x.y~z"), "3f1c-8a5e_x.y~z");
        assert_eq!(seg("../admin?x=1#y"), "..%2Fadmin%3Fx%3D1%23y");
        assert_eq!(odata_str("o'brien"), "o''brien");
    }

    #[test]
    fn a_403_names_the_permission() {
        let e = ApiError::new(
            "idp:prod",
            "appRoleAssignedTo page 1",
            ErrorKind::Forbidden,
            "HTTP 403: the key lacks permission (Authorization_RequestDenied: Insufficient privileges to complete the operation.)",
        );
        let e = forbidden(e, What::Assignments);
        assert_eq!(
            e.to_string(),
            "idp:prod (appRoleAssignedTo page 1): HTTP 403 on appRoleAssignedTo: grant the app Application.Read.All (admin consent); Graph said: Authorization_RequestDenied: Insufficient privileges to complete the operation."
        );
        let other = ApiError::new("o", "p", ErrorKind::NotFound, "HTTP 404");
        assert_eq!(forbidden(other.clone(), What::Users), other);
    }
}
