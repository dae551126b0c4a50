//! [`RevocationEndpoint`]: RFC 7009 token revocation as a tower service.

use std::fmt;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, PRAGMA};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;

use crate::error::BoxError;
use tower_bearer::{PresentedToken, Principal, TokenManager, TokenState, TokenStore};

use crate::client::{ClientRecord, ClientRegistry};
use crate::credentials::Endpoint;
use crate::error::{OAuthError, invalid_request};
use crate::shared::{ACCESS_TOKEN_KIND, Shared, endpoint_service};

/// The OAuth 2.0 token revocation endpoint (RFC 7009): a client revokes a token it obtained
/// from the [`TokenEndpoint`](crate::TokenEndpoint), effective at once for every request the
/// layer checks afterwards (and on other instances as the store pushes revocations). Made with
/// [`TokenEndpoint::revocation`](crate::TokenEndpoint::revocation), sharing its registry,
/// store, configuration and failure count.
///
/// - `POST`, form-encoded, `token=...` (required); `token_type_hint` is a hint (§2.1): there
///   is one kind of token, so it changes nothing, and an unknown hint is no error.
/// - `200` with an empty body when the token is revoked, and for a token that is unknown,
///   expired, already revoked or malformed (§2.2: "invalid tokens do not cause an error").
/// - A token the token endpoint minted for another client, or one it did not mint (an API
///   key, a personal token): `400 {"error":"unauthorized_client"}`, and nothing is revoked
///   (§2.1: the server verifies the token was issued to the requesting client).
/// - Client authentication failures are answered as at the token endpoint; a failing store
///   answers 503 `temporarily_unavailable`.
pub struct RevocationEndpoint<R, S> {
    shared: Shared<R, S>,
}

impl<R, S> RevocationEndpoint<R, S> {
    pub(crate) fn new(shared: Shared<R, S>) -> Self {
        RevocationEndpoint { shared }
    }
}

impl<R, S> fmt::Debug for RevocationEndpoint<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationEndpoint").finish_non_exhaustive()
    }
}

endpoint_service!(RevocationEndpoint);

impl<R: ClientRegistry, S: TokenManager> RevocationEndpoint<R, S> {
    async fn handle<B>(&self, req: Request<B>) -> Result<Response<Full<Bytes>>, OAuthError>
    where
        B: http_body::Body,
        B::Error: Into<BoxError>,
    {
        let (_, form, client) = self.shared.client_request(req, Endpoint::Revocation).await?;
        let token = form.get("token").ok_or_else(|| invalid_request("token is required"))?;
        if let Ok(presented) = PresentedToken::parse(token) {
            let state = self.shared.store.lookup(&presented).await;
            if let TokenState::Active(p) | TokenState::Expired(p) =
                state.map_err(|_| OAuthError::unavailable())?
            {
                if !issued_to(&p, &client) {
                    return Err(OAuthError::bad_request(
                        "unauthorized_client",
                        "the token was not issued to this client",
                    ));
                }
                if let Some(id) = p.token_id() {
                    self.shared.store.revoke(id).await.map_err(|_| OAuthError::unavailable())?;
                }
            }
        }
        Ok(revoked())
    }
}

/// Whether the token endpoint minted `token` for `client`.
fn issued_to(token: &Principal, client: &ClientRecord) -> bool {
    token.token_kind() == Some(ACCESS_TOKEN_KIND) && token.token_name() == Some(client.client_id.as_str())
}

/// The answer to a revocation: 200, nothing to say, not to be cached.
fn revoked() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
