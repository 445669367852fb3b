//! Entra client credentials (idp-api.md §1.1): a client secret, or a certificate and its private
//! key signing a client assertion (preferred); the access token, cached until 5 minutes before it
//! expires. Errors name the setting (`client_secret_env`, `private_key_file`, …), never a value;
//! every secret, assertion and token is a [`Secret`] (tokens and assertions as
//! [`Secret::short_lived`], so hourly refreshes do not grow the redaction registry).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;

use crate::http::{Api, ApiError, Call, ErrorKind, HttpLayer};
use crate::idp::IdpSettings;
use crate::idp::token::{self, Cached, JWT_BEARER, TokenCache, check_key};
use crate::secret::{self, Secret};

/// How long a client assertion is valid.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// What scimdrift signs in with.
enum Kind {
    Secret(Secret),
    Certificate {
        /// The PEM private key, whole.
        key: Secret,
        /// base64url(SHA-256(certificate DER)): the `x5t#S256` header.
        x5t_s256: String,
        /// base64url(SHA-1(certificate DER)): the `x5t` header (older Entra versions).
        x5t: String,
    },
}

/// The credentials of one IdP section and its cached access token. Build it once (at config
/// load) and keep it: the token is reused across pulls until shortly before it expires.
pub struct Credential {
    tenant: String,
    client_id: String,
    token_url: String,
    scope: String,
    kind: Kind,
    cache: TokenCache,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("kind", &self.describe())
            .finish()
    }
}

impl Credential {
    /// Reads the section's credential: the client secret (`client_secret_env` /
    /// `client_secret_file`, through [`secret::read`]) or `certificate_file` +
    /// `private_key_file`. The error is (the key within the section, why), never the value.
    pub fn load(s: &IdpSettings) -> Result<Self, (String, String)> {
        let kind = match (&s.certificate_file, &s.private_key_file) {
            (Some(cert), Some(key_file)) => {
                let (x5t_s256, x5t) = thumbprints(cert)?;
                let key = secret::read(
                    None,
                    Some(key_file),
                    ("private_key_file", "private_key_file"),
                    "the PEM private key of the certificate",
                )?
                .ok_or_else(|| ("private_key_file".into(), "not set".into()))?;
                check_key(&key)?;
                Kind::Certificate { key, x5t_s256, x5t }
            }
            (Some(_), None) => {
                return Err((
                    "private_key_file".into(),
                    "a certificate credential needs both certificate_file and private_key_file"
                        .into(),
                ));
            }
            (None, Some(_)) => {
                return Err((
                    "certificate_file".into(),
                    "a certificate credential needs both certificate_file and private_key_file"
                        .into(),
                ));
            }
            (None, None) => {
                let secret = secret::read(
                    s.client_secret_env.as_deref(),
                    s.client_secret_file.as_deref(),
                    ("client_secret_env", "client_secret_file"),
                    "the Entra client secret",
                )?
                .ok_or_else(|| {
                    (
                        "client_secret_env".to_string(),
                        "no credential: set client_secret_env, client_secret_file, or certificate_file and private_key_file".to_string(),
                    )
                })?;
                Kind::Secret(secret)
            }
        };
        Ok(Self::with_kind(s, kind))
    }

    /// A credential from a secret already read (tests, tools).
    pub fn from_secret(s: &IdpSettings, secret: Secret) -> Self {
        Self::with_kind(s, Kind::Secret(secret))
    }

    fn with_kind(s: &IdpSettings, kind: Kind) -> Self {
        Credential {
            tenant: s.tenant_id.clone(),
            client_id: s.client_id.clone(),
            token_url: token_url(s),
            scope: s.token_scope(),
            kind,
            cache: TokenCache::default(),
        }
    }

    /// What kind of credential this is, for check-config and logs (no value).
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Secret(_) => "client secret".into(),
            Kind::Certificate { x5t_s256, .. } => format!("certificate (x5t#S256 {x5t_s256})"),
        }
    }

    /// The token endpoint this credential signs in at.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    /// A signed client assertion (RS256) for the token endpoint, valid 10 minutes from `now`
    /// (Unix seconds); `None` for a secret credential.
    pub fn assertion(&self, now: i64) -> Option<Result<Secret, String>> {
        let Kind::Certificate { key, x5t_s256, x5t } = &self.kind else {
            return None;
        };
        Some(sign(
            key,
            x5t_s256,
            x5t,
            &self.token_url,
            &self.client_id,
            now,
        ))
    }

    /// The cached access token, or a new one when there is none or it is within 5 minutes of
    /// expiring. Concurrent callers wait for one request.
    pub(crate) async fn token(&self, http: &HttpLayer, origin: &str) -> Result<Secret, ApiError> {
        self.cache
            .get(async || self.request(http, origin).await)
            .await
    }

    /// Forgets the cached token if it is still `used` (a Graph 401 refused it).
    pub(crate) async fn invalidate(&self, used: &Secret) {
        self.cache.invalidate(used).await;
    }

    async fn request(&self, http: &HttpLayer, origin: &str) -> Result<Cached, ApiError> {
        let page = "token";
        let mut form = vec![
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
            ("grant_type", "client_credentials".to_string()),
        ];
        let assertion;
        let key = match &self.kind {
            Kind::Secret(s) => {
                form.push(("client_secret", s.expose().to_string()));
                s
            }
            Kind::Certificate { key, x5t_s256, x5t } => {
                let now = chrono::Utc::now().timestamp();
                let signed = sign(key, x5t_s256, x5t, &self.token_url, &self.client_id, now);
                assertion = signed.map_err(|m| {
                    ApiError::new(
                        origin,
                        page,
                        ErrorKind::Transport,
                        format!("cannot sign the client assertion (private_key_file): {m}"),
                    )
                })?;
                form.push(("client_assertion_type", JWT_BEARER.to_string()));
                form.push(("client_assertion", assertion.expose().to_string()));
                &assertion
            }
        };
        let call = Call {
            api: Api::EntraToken,
            method: Method::POST,
            path: String::new(),
            url: Some(self.token_url.clone()),
            query: Vec::new(),
            json: None,
            form: Some(form),
            headers: Vec::new(),
            key,
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
        token::cached(&reply, origin, page, 3599)
    }

    /// A token error naming the tenant, the client id and the AADSTS code, with a hint for the
    /// common codes; never the secret (the layer redacted the reply already).
    fn token_error(&self, e: ApiError) -> ApiError {
        let refused = matches!(
            e.kind,
            ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::Status(400..=499)
        );
        let code = aadsts(&e.message);
        let hint = code.as_deref().and_then(aadsts_hint);
        let code_text = match (&code, hint) {
            (Some(c), Some(h)) => format!(" ({c}: {h})"),
            (Some(c), None) => format!(" ({c})"),
            _ => String::new(),
        };
        let message = if refused {
            format!(
                "the token request for tenant {} as client_id {} was refused{code_text}: {}",
                self.tenant, self.client_id, e.message
            )
        } else {
            format!(
                "could not get a token for tenant {} as client_id {}: {}",
                self.tenant, self.client_id, e.message
            )
        };
        ApiError {
            message: secret::redact(&message),
            ..e
        }
    }
}

/// `{login_base_url}/{tenant}/oauth2/v2.0/token`.
pub fn token_url(s: &IdpSettings) -> String {
    format!(
        "{}/{}/oauth2/v2.0/token",
        s.login_base_url.trim_end_matches('/'),
        s.tenant_id.trim()
    )
}

/// The first `AADSTS<digits>` code in a message.
pub fn aadsts(message: &str) -> Option<String> {
    let i = message.find("AADSTS")?;
    let digits: String = message[i + 6..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!digits.is_empty()).then(|| format!("AADSTS{digits}"))
}

fn aadsts_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "AADSTS7000215" => "invalid client secret: use the secret's value, not its id",
        "AADSTS7000222" => "the client secret has expired",
        "AADSTS700016" => "no app with this client_id in the tenant",
        "AADSTS90002" | "AADSTS900023" => "tenant not found: check tenant_id",
        "AADSTS700027" => "the assertion's signature or certificate is not registered on the app",
        "AADSTS700024" => {
            "the client assertion is not within its valid time range: check the clock"
        }
        "AADSTS7000218" => "the request needs a client secret or assertion",
        "AADSTS50049" => "unknown or invalid instance: check login_base_url",
        _ => return None,
    })
}

/// The `x5t#S256` and `x5t` thumbprints of the first certificate of a PEM file.
fn thumbprints(path: &Path) -> Result<(String, String), (String, String)> {
    let err = |m: String| ("certificate_file".to_string(), m);
    let path = secret::credentials_path(path).map_err(err)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let der = certificate_der(&text).map_err(|m| err(format!("{}: {m}", path.display())))?;
    Ok(thumbprints_of(&der))
}

/// base64url(SHA-256(der)), base64url(SHA-1(der)).
pub fn thumbprints_of(der: &[u8]) -> (String, String) {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
    (
        URL_SAFE_NO_PAD.encode(digest(&SHA256, der).as_ref()),
        URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref()),
    )
}

/// The DER bytes of the first `CERTIFICATE` block of a PEM text (no X.509 parsing).
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = pem
        .find(BEGIN)
        .ok_or("no PEM CERTIFICATE block (-----BEGIN CERTIFICATE-----)")?
        + BEGIN.len();
    let len = pem[start..]
        .find(END)
        .ok_or("the CERTIFICATE block has no END line")?;
    let body: String = pem[start..start + len]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| "the CERTIFICATE block is not base64")?;
    if der.is_empty() {
        return Err("the CERTIFICATE block is empty".into());
    }
    Ok(der)
}

fn sign(
    key: &Secret,
    x5t_s256: &str,
    x5t: &str,
    aud: &str,
    client_id: &str,
    now: i64,
) -> Result<Secret, String> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 = Some(x5t_s256.to_string());
    header.x5t = Some(x5t.to_string());
    token::sign(key, header, aud, client_id, now, ASSERTION_LIFETIME_SECS)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh RSA key as PKCS#8 PEM, and its public key (DER, SubjectPublicKeyInfo).
    pub fn rsa_key() -> (String, Vec<u8>) {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::{KeyPair, KeySize};
        use aws_lc_rs::signature::KeyPair as _;
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let der: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der().unwrap();
        let b64 = STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        (pem, pair.public_key().as_ref().to_vec())
    }

    pub fn cert_pem(der: &[u8]) -> String {
        format!(
            "junk before\n-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        )
    }

    #[test]
    fn thumbprints_are_base64url_digests_of_the_der() {
        let der = b"not really X.509, the bytes are what count";
        let pem = cert_pem(der);
        assert_eq!(certificate_der(&pem).unwrap(), der);
        let (s256, s1) = thumbprints_of(der);
        assert_eq!(s256.len(), 43);
        assert_eq!(s1.len(), 27);
        assert!(!s256.contains(['+', '/', '=']));
        assert!(
            certificate_der("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----").is_err()
        );
        assert!(certificate_der("nothing").is_err());
    }

    #[test]
    fn aadsts_codes_are_found() {
        assert_eq!(
            aadsts("HTTP 401: invalid_client: AADSTS7000215: Invalid client secret").as_deref(),
            Some("AADSTS7000215")
        );
        assert_eq!(aadsts("AADSTS only"), None);
        assert_eq!(aadsts("nothing"), None);
    }

    fn settings(dir: &Path, cert: bool) -> IdpSettings {
        let mut s: IdpSettings = toml::from_str(
            r#"kind = "entra"
tenant_id = "contoso.example"
client_id = "11111111-2222-3333-4444-555555555555"
service_principal_id = "sp-1""#,
        )
        .unwrap();
        if cert {
            s.certificate_file = Some(dir.join("cert.pem"));
            s.private_key_file = Some(dir.join("key.pem"));
        } else {
            s.client_secret_file = Some(dir.join("secret"));
        }
        s
    }

    #[test]
    fn a_certificate_signs_an_assertion_for_the_token_url() {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
        let dir = tempfile::tempdir().unwrap();
        let (pem, public) = rsa_key();
        std::fs::write(dir.path().join("key.pem"), &pem).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert_pem(b"cert-der")).unwrap();
        let s = settings(dir.path(), true);
        let cred = Credential::load(&s).unwrap();
        assert!(cred.describe().starts_with("certificate (x5t#S256 "));
        assert!(!format!("{cred:?}").contains("PRIVATE"));
        let now = chrono::Utc::now().timestamp();
        let jwt = cred.assertion(now).unwrap().unwrap();
        let header = decode_header(jwt.expose()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(
            header.x5t_s256.as_deref(),
            Some(thumbprints_of(b"cert-der").0.as_str())
        );
        assert_eq!(
            header.x5t.as_deref(),
            Some(thumbprints_of(b"cert-der").1.as_str())
        );
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["https://login.microsoftonline.com/contoso.example/oauth2/v2.0/token"]);
        v.set_issuer(&[s.client_id.as_str()]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub", "nbf"]);
        let claims =
            decode::<serde_json::Value>(jwt.expose(), &DecodingKey::from_rsa_der(&public), &v)
                .unwrap()
                .claims;
        assert_eq!(claims["sub"], s.client_id.as_str());
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            600
        );
        assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
        let other = cred.assertion(now).unwrap().unwrap();
        assert_ne!(other.expose(), jwt.expose(), "jti is random");
        // The assertion is redacted wherever it would be echoed.
        assert_eq!(secret::redact(jwt.expose()), secret::REDACTED);
    }

    #[test]
    fn errors_name_the_key_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), true);
        assert_eq!(Credential::load(&s).unwrap_err().0, "certificate_file");
        std::fs::write(dir.path().join("cert.pem"), cert_pem(b"c")).unwrap();
        assert_eq!(Credential::load(&s).unwrap_err().0, "private_key_file");
        std::fs::write(
            dir.path().join("key.pem"),
            "-----BEGIN PRIVATE KEY-----\nc2VrcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let (key, message) = Credential::load(&s).unwrap_err();
        assert_eq!(key, "private_key_file");
        assert!(!message.contains("c2VrcmV0"), "{message}");
        let s = settings(dir.path(), false);
        assert_eq!(Credential::load(&s).unwrap_err().0, "client_secret_file");
        std::fs::write(dir.path().join("secret"), "  s3cret-value-1\n").unwrap();
        let cred = Credential::load(&s).unwrap();
        assert_eq!(cred.describe(), "client secret");
        assert!(cred.assertion(0).is_none());
        let mut s = settings(dir.path(), false);
        s.client_secret_file = None;
        s.client_secret_env = Some("SCIMDRIFT_TEST_UNSET_ENTRA_SECRET_VAR".into());
        assert_eq!(Credential::load(&s).unwrap_err().0, "client_secret_env");
    }
}
