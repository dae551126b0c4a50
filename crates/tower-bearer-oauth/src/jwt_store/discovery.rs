//! OIDC and RFC 8414 discovery of an issuer's JWKS URL, for
//! [`JwtStore::discover`](super::JwtStore::discover); [`DiscoveryError`] when it fails.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;
use serde_json::Value;

use super::document::get;

/// Why [`JwtStore::discover`](super::JwtStore::discover) could not find the issuer's keys.
/// Names what failed, never a token.
#[derive(Debug)]
pub struct DiscoveryError(String);

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "discovery failed: {}", self.0)
    }
}

impl std::error::Error for DiscoveryError {}

/// The JWKS URL of `issuer`, from its OIDC discovery document
/// (`{issuer}/.well-known/openid-configuration`), else from its RFC 8414 metadata
/// (`{issuer}/.well-known/oauth-authorization-server`), fetched through `client`.
pub(super) async fn jwks_uri<C>(client: &Client<C, Full<Bytes>>, issuer: &str) -> Result<Uri, DiscoveryError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let base = issuer.trim_end_matches('/');
    let mut last = String::from("no document");
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let uri: Uri =
            format!("{base}{path}").parse().map_err(|_| DiscoveryError("the issuer is not a URL".into()))?;
        match get(client, &uri, Duration::from_secs(10)).await {
            Ok(body) => {
                let doc: Value = serde_json::from_slice(&body)
                    .map_err(|_| DiscoveryError(format!("{path} is not JSON")))?;
                if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
                    return Err(DiscoveryError(format!("{path} names another issuer")));
                }
                let jwks = doc
                    .get("jwks_uri")
                    .and_then(Value::as_str)
                    .ok_or_else(|| DiscoveryError(format!("{path} has no jwks_uri")))?;
                return jwks.parse().map_err(|_| DiscoveryError("jwks_uri is not a URI".into()));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(DiscoveryError(last))
}
