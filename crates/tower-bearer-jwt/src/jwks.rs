//! [`Jwks`]: the key set's public keys, served as a JWKS document (RFC 7517).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use serde_json::Value;
use tower_service::Service;

/// The JWKS document of a [`KeySet`](crate::KeySet) as a tower service, for
/// `/.well-known/jwks.json` ([`PATH`](Self::PATH)): other services verify signed tokens offline
/// with it. Cacheable for five minutes: publish a new key at least that long before it signs.
#[derive(Clone, Debug)]
pub struct Jwks {
    document: Bytes,
}

impl Jwks {
    /// Where the document is usually served.
    pub const PATH: &'static str = "/.well-known/jwks.json";

    pub(crate) fn new(document: &Value) -> Self {
        Jwks { document: Bytes::from(document.to_string()) }
    }
}

impl<B> Service<Request<B>> for Jwks {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let mut response = Response::new(Full::new(self.document.clone()));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
        ready(Ok(response))
    }
}
