//! `POST /entra-login/{tenant}/oauth2/v2.0/token` (idp-api.md §1.1): the client-credentials grant
//! with a client secret or a certificate-signed client assertion (RS256 JWT).
//!
//! Success: `200 {"token_type":"Bearer","expires_in":N,"ext_expires_in":N,"access_token":"…"}`
//! (a random opaque token the server remembers with its tenant and expiry). Errors use the AADSTS
//! shape ([`aadsts_error`]): unknown tenant `400 invalid_request` (90002), wrong grant `400
//! unsupported_grant_type` (70003), missing parameter `400 invalid_request` (900144), unknown
//! client `400 unauthorized_client` (700016), wrong scope `400 invalid_scope` (70011), wrong
//! secret `401 invalid_client` (7000215), bad assertion `401 invalid_client` (700027 signature /
//! key / thumbprint, 700024 time range, 700021 issuer or subject, 700212 audience, 700023
//! `jti`). Secrets and assertions are never echoed.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::ThumbprintHash;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use super::wire::aadsts_error;
use crate::sim::kit::respond::{JSON, Params, json_response};
use crate::sim::state::SimState;

use crate::sim::kit::auth::JWT_BEARER;

/// The token endpoint.
pub(crate) async fn token(
    State(state): State<Arc<SimState>>,
    Params(tenant): Params<String>,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let token_url = format!("{}/entra-login/{tenant}/oauth2/v2.0/token", state.base_url);
    let (client_id, secret, pem) = {
        let world = state.world();
        let Some(t) = world.entra.iter().find(|t| t.tenant_id == tenant) else {
            return aadsts_error(
                400,
                "invalid_request",
                90002,
                &format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
                ),
            );
        };
        (
            t.client_id.clone(),
            t.client_secret.clone(),
            t.client_certificate_pem.clone(),
        )
    };
    let missing = |name: &str| {
        aadsts_error(
            400,
            "invalid_request",
            900144,
            &format!("The request body must contain the following parameter: '{name}'."),
        )
    };
    let Some(grant) = field("grant_type") else {
        return missing("grant_type");
    };
    if grant != "client_credentials" {
        return aadsts_error(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let Some(given_client) = field("client_id") else {
        return missing("client_id");
    };
    if given_client != client_id {
        return aadsts_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{given_client}' was not found in the directory '{tenant}'."
            ),
        );
    }
    let Some(scope) = field("scope") else {
        return missing("scope");
    };
    let wanted_scope = format!("{}/.default", state.base_url);
    if scope != wanted_scope {
        return aadsts_error(
            400,
            "invalid_scope",
            70011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
            ),
        );
    }
    let checked = match (field("client_secret"), field("client_assertion")) {
        (Some(_), Some(_)) => {
            return aadsts_error(
                400,
                "invalid_request",
                90023,
                "Only one of 'client_secret' and 'client_assertion' may be sent.",
            );
        }
        (None, None) => Err((
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.".to_owned(),
        )),
        (Some(given), None) => {
            if given == secret {
                Ok(())
            } else {
                Err((
                    7000215,
                    format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
                ))
            }
        }
        (None, Some(assertion)) => {
            state.entra().received_assertion(assertion);
            if field("client_assertion_type") != Some(JWT_BEARER) {
                return aadsts_error(
                    400,
                    "invalid_request",
                    700025,
                    "The 'client_assertion_type' must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
                );
            }
            check_assertion(assertion, &client_id, &token_url, pem.as_deref())
        }
    };
    if let Err((code, message)) = checked {
        return aadsts_error(401, "invalid_client", code, &message);
    }
    let expires_in = state.options().entra.expires_in;
    let access_token = state
        .entra()
        .issue(&tenant, Duration::from_secs(expires_in));
    let mut response = json_response(
        StatusCode::OK,
        JSON,
        &json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access_token,
        }),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
struct AssertionClaims {
    jti: Option<String>,
}

/// Verifies a client assertion: RS256 signature by the registered credential, the certificate
/// thumbprint (`x5t#S256` or `x5t`) when a certificate is registered, `aud` = the token URL,
/// `iss` = `sub` = client id, `exp` in the future, `nbf` not in the future, `jti` present.
fn check_assertion(
    assertion: &str,
    client_id: &str,
    token_url: &str,
    pem: Option<&str>,
) -> Result<(), (u32, String)> {
    let bad_signature = |why: &str| {
        (
            700027,
            format!("Client assertion failed signature validation. [Reason - {why}]"),
        )
    };
    let Some(pem) = pem else {
        return Err(bad_signature(
            "The key was not found., Thumbprint of key used by client: none registered",
        ));
    };
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| (50027, "JWT token is invalid or malformed.".to_owned()))?;
    if header.alg != Algorithm::RS256 {
        return Err(bad_signature("The token's algorithm is not supported."));
    }
    if let Some(der) = certificate_der(pem) {
        let sha256 = jsonwebtoken::crypto::CryptoProvider::try_get_default()
            .and_then(|p| (p.key_utils.compute_digest)(&der, ThumbprintHash::SHA256).ok())
            .map(|d| URL_SAFE_NO_PAD.encode(d));
        let sha1 = URL_SAFE_NO_PAD.encode(sha1(&der));
        let matches = match (&header.x5t_s256, &header.x5t) {
            (Some(given), _) => sha256.as_deref() == Some(given.as_str()),
            (None, Some(given)) => *given == sha1,
            (None, None) => false,
        };
        if !matches {
            return Err(bad_signature(
                "The key was not found., Thumbprint of key used by client does not match a registered certificate",
            ));
        }
    }
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| bad_signature("The registered key could not be read."))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.set_audience(&[token_url]);
    validation.set_issuer(&[client_id]);
    validation.sub = Some(client_id.to_owned());
    match jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation) {
        Ok(data) if data.claims.jti.as_deref().is_some_and(|j| !j.is_empty()) => Ok(()),
        Ok(_) => Err((
            700023,
            "Client assertion must contain a 'jti' claim.".to_owned(),
        )),
        Err(e) => Err(match e.kind() {
            ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => (
                700024,
                "Client assertion is not within its valid time range.".to_owned(),
            ),
            ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject => (
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter."
                    .to_owned(),
            ),
            ErrorKind::InvalidAudience => (
                700212,
                format!("The audience claim of the client assertion must be '{token_url}'."),
            ),
            ErrorKind::MissingRequiredClaim(claim) => (
                50027,
                format!("JWT token is invalid or malformed: the '{claim}' claim is missing."),
            ),
            ErrorKind::InvalidSignature => bad_signature("The signature does not match."),
            _ => (50027, "JWT token is invalid or malformed.".to_owned()),
        }),
    }
}

/// The DER of a `CERTIFICATE` PEM; `None` for other PEMs.
pub(crate) fn certificate_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(b64).ok()
}

/// SHA-1 (FIPS 180-4), for the legacy `x5t` thumbprint only.
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bits.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn the_test_certificate_has_the_openssl_thumbprints() {
        let der = certificate_der(crate::sim::kit::auth::ENTRA_TEST_CERT_PEM).unwrap();
        assert_eq!(hex(&sha1(&der)), "4dffb69f6430ba8e4021076b6d69c06176e24bcc");
        let sha256 = jsonwebtoken::crypto::CryptoProvider::try_get_default()
            .map(|p| (p.key_utils.compute_digest)(&der, ThumbprintHash::SHA256).unwrap())
            .unwrap();
        assert_eq!(
            hex(&sha256),
            "b0adcd14583ef826290984c13d20a3d6b6ce556bb232be4eb97b0ca53efca00e"
        );
        assert_eq!(certificate_der("-----BEGIN PUBLIC KEY-----\nAAAA\n"), None);
    }
}
