//! Okta credentials (idp-api.md §2.1): an OAuth service app signing a `private_key_jwt` client
//! assertion (preferred; the access token is cached until 5 minutes before its hour ends), or an
//! SSWS API token. Errors name the setting, never a value; the token refusals Okta admins meet
//! (DPoP required, a scope not granted, a wrong key) are said in the Admin Console's words.

use reqwest::Method;

use crate::http::{Api, ApiError, Call, ErrorKind, HttpLayer};
use crate::idp::IdpSettings;
use crate::idp::token::{self, Cached, JWT_BEARER, TokenCache, check_key};
use crate::secret::{self, Secret};

/// The scopes the service app requests; every one must be granted to it (idp-api.md §2.1).
pub const SCOPES: &str = "okta.apps.read okta.users.read okta.groups.read okta.logs.read";

/// How long a client assertion is valid (Okta accepts at most an hour).
const ASSERTION_LIFETIME_SECS: i64 = 300;

enum Kind {
    /// `Authorization: SSWS <token>`.
    ApiToken(Secret),
    /// A service app's private key (PEM) and the key's `kid`.
    ServiceApp { key: Secret, key_id: Option<String> },
}

/// The credential of one Okta section, with its cached access token. Build it once (at config
/// load) and keep it.
pub struct Credential {
    client_id: String,
    token_url: String,
    kind: Kind,
    cache: TokenCache,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("client_id", &self.client_id)
            .field("kind", &self.describe())
            .finish()
    }
}

/// What a request carries: an `Authorization` value (the secret itself is the redaction key).
pub struct Auth {
    pub secret: Secret,
    /// `true`: `Bearer <secret>`; `false`: `SSWS <secret>`.
    pub bearer: bool,
}

impl Credential {
    /// Reads the section's credential: `private_key_file` (+ `key_id`), else the API token
    /// (`api_token_env` / `api_token_file`, through [`secret::read`]). The error is (the key
    /// within the section, why), never the value.
    pub fn load(s: &IdpSettings) -> Result<Self, (String, String)> {
        let kind = match &s.private_key_file {
            Some(file) => {
                let key = secret::read(
                    None,
                    Some(file),
                    ("private_key_file", "private_key_file"),
                    "the service app's PEM private key",
                )?
                .ok_or_else(|| ("private_key_file".to_string(), "not set".to_string()))?;
                check_key(&key)?;
                Kind::ServiceApp {
                    key,
                    key_id: s.key_id.clone(),
                }
            }
            None => {
                let t = secret::read(
                    s.api_token_env.as_deref(),
                    s.api_token_file.as_deref(),
                    ("api_token_env", "api_token_file"),
                    "an Okta API token",
                )?
                .ok_or_else(|| {
                    (
                        "api_token_env".to_string(),
                        "no credential: set client_id + private_key_file (a service app), or api_token_env / api_token_file".to_string(),
                    )
                })?;
                Kind::ApiToken(t)
            }
        };
        Ok(Credential {
            client_id: s.client_id.clone(),
            token_url: s.okta_token_url(),
            kind,
            cache: TokenCache::default(),
        })
    }

    /// What kind of credential this is, for check-config and logs (no value).
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::ApiToken(_) => "API token (SSWS)".into(),
            Kind::ServiceApp {
                key_id: Some(k), ..
            } => {
                format!("service app {} (private_key_jwt, kid {k})", self.client_id)
            }
            Kind::ServiceApp { key_id: None, .. } => {
                format!("service app {} (private_key_jwt)", self.client_id)
            }
        }
    }

    /// The token endpoint (also the assertion's `aud`).
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// A signed client assertion valid 5 minutes from `now` (Unix seconds); `None` for an API
    /// token.
    pub fn assertion(&self, now: i64) -> Option<Result<Secret, String>> {
        let Kind::ServiceApp { key, key_id } = &self.kind else {
            return None;
        };
        Some(self.sign(key, key_id.as_deref(), now))
    }

    fn sign(&self, key: &Secret, key_id: Option<&str>, now: i64) -> Result<Secret, String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = key_id.map(str::to_string);
        token::sign(
            key,
            header,
            &self.token_url,
            &self.client_id,
            now,
            ASSERTION_LIFETIME_SECS,
        )
    }

    /// What to send: the API token, or the cached access token (a new one when due).
    pub(crate) async fn auth(&self, http: &HttpLayer, origin: &str) -> Result<Auth, ApiError> {
        match &self.kind {
            Kind::ApiToken(t) => Ok(Auth {
                secret: t.clone(),
                bearer: false,
            }),
            Kind::ServiceApp { key, key_id } => {
                let secret = self
                    .cache
                    .get(async || self.request(http, origin, key, key_id.as_deref()).await)
                    .await?;
                Ok(Auth {
                    secret,
                    bearer: true,
                })
            }
        }
    }

    /// Whether a refused request may be retried with a new token (a service app's).
    pub(crate) fn refreshes(&self) -> bool {
        matches!(self.kind, Kind::ServiceApp { .. })
    }

    /// Forgets the cached token if it is still `used` (a 401 `E0000011` refused it).
    pub(crate) async fn invalidate(&self, used: &Secret) {
        self.cache.invalidate(used).await;
    }

    async fn request(
        &self,
        http: &HttpLayer,
        origin: &str,
        key: &Secret,
        key_id: Option<&str>,
    ) -> Result<Cached, ApiError> {
        let page = "token";
        let now = chrono::Utc::now().timestamp();
        let assertion = self.sign(key, key_id, now).map_err(|m| {
            ApiError::new(
                origin,
                page,
                ErrorKind::Transport,
                format!("cannot sign the client assertion (private_key_file): {m}"),
            )
        })?;
        let call = Call {
            api: Api::OktaToken,
            method: Method::POST,
            path: String::new(),
            url: Some(self.token_url.clone()),
            query: Vec::new(),
            json: None,
            form: Some(vec![
                ("grant_type", "client_credentials".to_string()),
                ("scope", SCOPES.to_string()),
                ("client_assertion_type", JWT_BEARER.to_string()),
                ("client_assertion", assertion.expose().to_string()),
            ]),
            headers: Vec::new(),
            key: &assertion,
            bearer: false,
            origin,
            page: page.into(),
            not_found_ok: false,
        };
        let reply = http
            .send(&call)
            .await
            .map_err(|e| self.token_error(e))?
            .ok_or_else(|| ApiError::malformed(origin, page, "unexpected 404"))?;
        token::cached(&reply, origin, page, 3600)
    }

    /// A token error naming the client id and what to change in the Admin Console.
    fn token_error(&self, e: ApiError) -> ApiError {
        let refused = matches!(
            e.kind,
            ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::Status(400..=499)
        );
        let hint = token_hint(&e.message);
        let message = if refused {
            format!(
                "the token request as service app {} was refused{hint}: {}",
                self.client_id, e.message
            )
        } else {
            format!(
                "could not get a token as service app {}: {}",
                self.client_id, e.message
            )
        };
        ApiError {
            message: secret::redact(&message),
            ..e
        }
    }
}

/// What an Okta admin does about a token endpoint error (`{"error"}`, idp-api.md §2.1, §2.5).
fn token_hint(message: &str) -> String {
    let hint = if message.contains("invalid_dpop_proof") || message.contains("use_dpop_nonce") {
        "the service app requires DPoP, which scimdrift does not send: in the Admin Console, open the service app (Applications → Applications → the app → General → Client Credentials → Edit) and clear 'Require Demonstrating Proof of Possession (DPoP) header in token requests'"
    } else if message.contains("invalid_scope") {
        "a requested scope is not granted: grant okta.apps.read, okta.users.read, okta.groups.read and okta.logs.read on the service app's Okta API Scopes tab"
    } else if message.contains("invalid_client") {
        "check client_id, that private_key_file is the key registered on the service app (key_id its kid), and that the app authenticates with Public key / Private key"
    } else {
        return String::new();
    };
    format!(" ({hint})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &std::path::Path) -> IdpSettings {
        let mut s: IdpSettings = toml::from_str(&format!(
            r#"kind = "okta"
domain = "acme.okta.com"
app_id = "0oaatlassian"
client_id = "0oaservice"
private_key_file = "{}"
key_id = "kid-1""#,
            dir.join("key.pem").display()
        ))
        .unwrap();
        s.validate().unwrap();
        s
    }

    #[test]
    fn a_service_app_signs_for_the_token_url_with_its_kid() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
        let dir = tempfile::tempdir().unwrap();
        let (pem, public) = crate::idp::entra::credential::tests::rsa_key();
        std::fs::write(dir.path().join("key.pem"), &pem).unwrap();
        let s = settings(dir.path());
        let cred = Credential::load(&s).unwrap();
        assert_eq!(
            cred.describe(),
            "service app 0oaservice (private_key_jwt, kid kid-1)"
        );
        assert!(!format!("{cred:?}").contains("PRIVATE"));
        let now = chrono::Utc::now().timestamp();
        let jwt = cred.assertion(now).unwrap().unwrap();
        let header = decode_header(jwt.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["https://acme.okta.com/oauth2/v1/token"]);
        v.set_issuer(&["0oaservice"]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        let claims =
            decode::<serde_json::Value>(jwt.expose(), &DecodingKey::from_rsa_der(&public), &v)
                .unwrap()
                .claims;
        assert_eq!(claims["sub"], "0oaservice");
        assert!(claims["exp"].as_i64().unwrap() - now <= 3600);
        assert_eq!(secret::redact(jwt.expose()), secret::REDACTED);
    }

    #[test]
    fn an_api_token_is_read_from_its_setting_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let mut s: IdpSettings = toml::from_str(&format!(
            "kind = \"okta\"\ndomain = \"acme.okta.com\"\napp_id = \"0oa1\"\napi_token_file = \"{}\"",
            dir.path().join("token").display()
        ))
        .unwrap();
        s.validate().unwrap();
        assert_eq!(Credential::load(&s).unwrap_err().0, "api_token_file");
        std::fs::write(dir.path().join("token"), "00okta-ssws-token-value\n").unwrap();
        let cred = Credential::load(&s).unwrap();
        assert_eq!(cred.describe(), "API token (SSWS)");
        assert!(cred.assertion(0).is_none());
        assert!(!format!("{cred:?}").contains("00okta"));
    }

    #[test]
    fn token_refusals_say_what_to_change() {
        assert!(token_hint("HTTP 400: invalid_dpop_proof: The DPoP proof JWT header is missing.").contains("clear 'Require Demonstrating Proof of Possession (DPoP) header in token requests'"));
        assert!(
            token_hint(
                "HTTP 400: invalid_scope: The following scopes are not allowed: okta.logs.read"
            )
            .contains("Okta API Scopes")
        );
        assert!(
            token_hint("HTTP 401: invalid_client: must use private_key_jwt").contains("client_id")
        );
        assert_eq!(token_hint("HTTP 500"), "");
    }
}
