//! What both IdP clients' OAuth client-credentials flows share (idp-api.md §1.1, §2.1): the
//! RS256 client assertion (RFC 7523: `iss` = `sub` = the client id, `aud` = the token URL, a
//! fresh `jti`), the access token read from a token reply, and its cache, refreshed 5 minutes
//! before it expires (or at half its life, if that is sooner).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::fields::{json_error, lenient_count};
use crate::http::{ApiError, Reply};
use crate::secret::Secret;

/// `client_assertion_type` of a signed client assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Refresh this long before a token expires (or at half its life, if that is sooner).
const REFRESH_EARLY: Duration = Duration::from_secs(300);

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// Signs a client assertion with the PEM RSA `key` (RS256) under `header`, valid `lifetime`
/// seconds from `now` (Unix seconds). The error says what is wrong with the key, never its value.
pub fn sign(
    key: &Secret,
    mut header: jsonwebtoken::Header,
    aud: &str,
    client_id: &str,
    now: i64,
    lifetime: i64,
) -> Result<Secret, String> {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let encoding = EncodingKey::from_rsa_pem(key.expose().as_bytes()).map_err(|_| {
        "not a PEM RSA private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA PRIVATE KEY`, unencrypted)".to_string()
    })?;
    header.alg = Algorithm::RS256;
    let jti: [u8; 16] = rand::random();
    let claims = Claims {
        aud,
        iss: client_id,
        sub: client_id,
        jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
        nbf: now,
        iat: now,
        exp: now + lifetime,
    };
    jsonwebtoken::encode(&header, &claims, &encoding)
        .map(Secret::short_lived)
        .map_err(|_| {
            "the private key cannot sign RS256 (not an RSA key of at least 2048 bits?)".to_string()
        })
}

/// Refuses a key [`sign`] cannot use (not PEM, not RSA, encrypted), by signing once; the error
/// is (`private_key_file`, why).
pub fn check_key(key: &Secret) -> Result<(), (String, String)> {
    sign(
        key,
        jsonwebtoken::Header::default(),
        "https://check.invalid/",
        "check",
        0,
        60,
    )
    .map(drop)
    .map_err(|m| ("private_key_file".to_string(), m))
}

/// An access token and when to get a new one.
pub struct Cached {
    pub token: Secret,
    pub refresh_at: Instant,
}

/// Reads a token reply (`{"access_token", "expires_in"}`, `expires_in` lenient, at most a day;
/// `default_lifetime` seconds when absent).
pub fn cached(
    reply: &Reply,
    origin: &str,
    page: &str,
    default_lifetime: u64,
) -> Result<Cached, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|e| {
        ApiError::malformed(origin, page, format!("token reply: {}", json_error(&e)))
    })?;
    let token = match v.get("access_token") {
        Some(serde_json::Value::String(t)) if !t.trim().is_empty() => {
            Secret::short_lived(t.as_str())
        }
        _ => {
            return Err(ApiError::malformed(
                origin,
                page,
                "token reply has no access_token",
            ));
        }
    };
    let lifetime = v
        .get("expires_in")
        .and_then(lenient_count)
        .unwrap_or(default_lifetime)
        .min(86_400);
    let lifetime = Duration::from_secs(lifetime);
    let early = REFRESH_EARLY.min(lifetime / 2);
    Ok(Cached {
        token,
        refresh_at: Instant::now() + lifetime - early,
    })
}

/// One credential's access token, shared by every pull: concurrent callers wait for one request.
#[derive(Default)]
pub struct TokenCache(tokio::sync::Mutex<Option<Cached>>);

impl TokenCache {
    /// The cached token, or the one `fetch` gets when there is none or it is due for refresh.
    pub async fn get<F>(&self, fetch: F) -> Result<Secret, ApiError>
    where
        F: AsyncFnOnce() -> Result<Cached, ApiError>,
    {
        let mut cache = self.0.lock().await;
        if let Some(c) = cache.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        *cache = None;
        let fresh = fetch().await?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token if it is still `used` (the API refused it with a 401).
    pub async fn invalidate(&self, used: &Secret) {
        let mut cache = self.0.lock().await;
        if cache.as_ref().is_some_and(|c| &c.token == used) {
            *cache = None;
        }
    }
}
