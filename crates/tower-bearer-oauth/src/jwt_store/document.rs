//! [`get`]: one of the issuer's documents (its JWKS, its discovery document), read within a
//! size limit and a deadline.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connect;

use crate::error::BoxError;

use crate::fetch::{FetchError, fetch};

/// The largest JWKS (or discovery document) read.
const MAX_DOCUMENT: usize = 256 * 1024;

/// GETs `uri`: the body of a 200 answer, within the size limit and `timeout`.
pub(super) async fn get<C>(
    client: &Client<C, Full<Bytes>>,
    uri: &Uri,
    timeout: Duration,
) -> Result<Bytes, BoxError>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    let request = Request::get(uri.clone()).body(Full::new(Bytes::new()))?;
    match fetch(client, request, MAX_DOCUMENT, timeout).await {
        Ok(body) => Ok(body),
        Err(FetchError::Timeout) => Err(format!("{uri} did not answer in time").into()),
        Err(FetchError::Failed(e)) => Err(e),
    }
}
