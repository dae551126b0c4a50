//! [`fetch`]: one request to another server by the stores that depend on one (introspection,
//! JWKS): a 200 answer's body, read within a size limit and a deadline.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;

use crate::error::BoxError;

/// Why a fetch gave no body. Never holds the request's body (a token) or headers (a secret).
#[derive(Debug)]
pub(crate) enum FetchError {
    /// No complete answer within the deadline.
    Timeout,
    /// The request failed, the answer was not 200, or its body could not be read whole
    /// within the limit.
    Failed(BoxError),
}

/// Sends `request` through `client` and reads the body of a 200 answer, at most `limit`
/// bytes, all within `timeout`.
pub(crate) async fn fetch<C>(
    client: &Client<C, Full<Bytes>>,
    request: Request<Full<Bytes>>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, FetchError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let uri = request.uri().clone();
    let call = async {
        let response = client.request(request).await?;
        if response.status() != StatusCode::OK {
            return Err(format!("{uri} answered {}", response.status()).into());
        }
        let body = Limited::new(response.into_body(), limit).collect().await?;
        Ok::<_, BoxError>(body.to_bytes())
    };
    match tokio::time::timeout(timeout, call).await {
        Err(_) => Err(FetchError::Timeout),
        Ok(answer) => answer.map_err(FetchError::Failed),
    }
}
