//! Credentials as the fakes read them, and the throw-away keys of the simulator's worlds.

use axum::http::{HeaderMap, header};

/// `client_assertion_type` of a JWT client assertion (Entra's and Okta's token endpoints).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A throw-away RSA private key (PKCS#8 PEM) for signing client assertions in tests. Public:
/// never register it anywhere real.
pub const ENTRA_TEST_KEY_PEM: &str = include_str!("../testdata/entra-test-only-key.pem");
/// The self-signed certificate of [`ENTRA_TEST_KEY_PEM`]; seeded tenants register it.
pub const ENTRA_TEST_CERT_PEM: &str = include_str!("../testdata/entra-test-only-cert.pem");
/// The public key of [`ENTRA_TEST_KEY_PEM`] (`PUBLIC KEY` PEM), for a registration without a
/// certificate (the signature is checked, no thumbprint); seeded Okta service apps register it.
pub const ENTRA_TEST_PUBLIC_KEY_PEM: &str = include_str!("../testdata/entra-test-only-pub.pem");
/// Another throw-away key that no tenant registers (its assertions are refused).
pub const ENTRA_TEST_OTHER_KEY_PEM: &str =
    include_str!("../testdata/entra-test-only-other-key.pem");

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
