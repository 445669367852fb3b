//! `POST /okta/{org}/oauth2/v1/token` (idp-api.md §2.1): the client-credentials grant of an OAuth
//! service app with a `private_key_jwt` client assertion (RS256; `iss` = `sub` = the client id,
//! `aud` = the full token URL, `exp` at most an hour ahead, a `jti`; the `kid` when the key has
//! one). A client secret is refused (`401 invalid_client`); a DPoP-requiring app refuses a request
//! without a `DPoP` header (`400 invalid_dpop_proof`); a scope not granted is `400
//! invalid_scope`. Success: `200 {"token_type":"Bearer","expires_in","access_token","scope"}`.
//! Assertions and tokens are never echoed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use super::wire::oauth_error;
use crate::sim::kit::auth::JWT_BEARER;
use crate::sim::kit::respond::Params;
use crate::sim::state::SimState;

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    exp: i64,
    iat: Option<i64>,
}

pub(crate) async fn token(
    State(state): State<Arc<SimState>>,
    Params(org): Params<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let token_url = format!("{}/okta/{org}/oauth2/v1/token", state.base_url);
    let app = {
        let world = state.world();
        match world.okta.iter().find(|o| o.org == org) {
            Some(o) => o.service_app.clone(),
            None => return oauth_error(404, "not_found", "The org was not found."),
        }
    };
    if let Some(a) = field("client_assertion") {
        state.okta().received(a);
    }
    if field("grant_type") != Some("client_credentials") {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    if field("client_secret").is_some() {
        return oauth_error(
            401,
            "invalid_client",
            "Client authentication failed. Client must use the private_key_jwt token_endpoint_auth_method.",
        );
    }
    let (Some(JWT_BEARER), Some(assertion)) =
        (field("client_assertion_type"), field("client_assertion"))
    else {
        return oauth_error(
            400,
            "invalid_request",
            "The client_assertion_type and client_assertion parameters are required.",
        );
    };
    if let Err(why) = check(
        assertion,
        &app.client_id,
        &token_url,
        &app.public_key_pem,
        app.key_id.as_deref(),
    ) {
        return oauth_error(401, "invalid_client", &why);
    }
    if app.dpop_required && !headers.contains_key("dpop") {
        return oauth_error(
            400,
            "invalid_dpop_proof",
            "The DPoP proof JWT header is missing.",
        );
    }
    let requested: Vec<String> = field("scope")
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect();
    if requested.is_empty() {
        return oauth_error(
            400,
            "invalid_scope",
            "The authorization server requires a scope.",
        );
    }
    let missing: Vec<&str> = requested
        .iter()
        .filter(|s| !app.scopes.contains(s))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return oauth_error(
            400,
            "invalid_scope",
            &format!(
                "The following scopes are not allowed: {}",
                missing.join(" ")
            ),
        );
    }
    let lifetime = state.options().okta.token_lifetime;
    let token = state.okta().issue(&org, requested.clone(), lifetime);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "access_token": token,
        "scope": requested.join(" "),
    }))
    .into_response()
}

/// Verifies a client assertion as Okta does; the error is Okta's description.
fn check(
    assertion: &str,
    client_id: &str,
    token_url: &str,
    pem: &str,
    key_id: Option<&str>,
) -> Result<(), String> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| "The client_assertion token is malformed.".to_string())?;
    if header.alg != Algorithm::RS256 {
        return Err("The client_assertion signature algorithm is not supported.".into());
    }
    if let Some(kid) = key_id
        && header.kid.as_deref() != Some(kid)
    {
        return Err("The client_assertion token has a kid which does not identify a key registered for the client.".into());
    }
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| "The client has no usable public key.".to_string())?;
    let mut v = Validation::new(Algorithm::RS256);
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    v.set_audience(&[token_url]);
    v.set_issuer(&[client_id]);
    v.sub = Some(client_id.to_string());
    let data = jsonwebtoken::decode::<Claims>(assertion, &key, &v).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => "The client_assertion token is expired.".to_string(),
        ErrorKind::InvalidAudience => format!(
            "The audience claim for client_assertion must be the endpoint invoked for the request: {token_url}"
        ),
        ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => {
            "The issuer and subject claims of client_assertion must be the client_id.".to_string()
        }
        ErrorKind::InvalidSignature => {
            "The client_assertion signature is invalid.".to_string()
        }
        _ => "The client_assertion token is invalid.".to_string(),
    })?;
    let now = chrono::Utc::now().timestamp();
    if data.claims.exp > now + 3600 || data.claims.iat.is_some_and(|i| i > now + 60) {
        return Err("The client_assertion token has an expiration too far in the future.".into());
    }
    if data.claims.jti.as_deref().is_none_or(str::is_empty) {
        return Err("The client_assertion token must contain a jti claim.".into());
    }
    Ok(())
}
