//! [`GuardFuture`]: the response future of the checks that sit behind the auth layer and
//! either pass a request on or refuse it at once ([`RequireScopesLayer`](crate::RequireScopesLayer), the
//! `RateLimitLayer` ([`limit`](crate::limit))), and what they share.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::grpc::grpc_content_type;

pin_project! {
    /// The response future of a check behind the auth layer: the inner service's response
    /// (with headers the check adds, such as `RateLimit`), or the check's refusal.
    #[must_use = "futures do nothing unless polled"]
    pub struct GuardFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        /// Admitted: the inner service's future.
        Inner { #[pin] future: F, headers: Option<Box<HeaderMap>> },
        /// Refused.
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<F> GuardFuture<F> {
    /// Passes the inner service's response on, with `headers` added.
    pub(crate) fn admitted(future: F, headers: Option<Box<HeaderMap>>) -> Self {
        GuardFuture { kind: Kind::Inner { future, headers } }
    }

    /// Answers `response` instead.
    pub(crate) fn refused(response: Response<Bytes>) -> Self {
        GuardFuture { kind: Kind::Refused { response: Some(response) } }
    }
}

impl<F, B, E> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, headers } => future.poll(cx).map_ok(|mut response| {
                if let Some(headers) = headers.take() {
                    response.headers_mut().extend(*headers);
                }
                response.map(ResponseBody::inner)
            }),
            KindProj::Refused { response } => {
                let response = response.take().expect("GuardFuture polled after completion");
                Poll::Ready(Ok(response.map(ResponseBody::rejection)))
            }
        }
    }
}

impl<F> fmt::Debug for GuardFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardFuture").finish_non_exhaustive()
    }
}

/// What a check answers a request that reached it without a principal: the auth layer is not
/// installed around it. 500 with a message saying so, never passed on.
pub(crate) fn no_principal(check: &'static str) -> Response<Bytes> {
    let message = format!(
        "tower-bearer: {check} found no authenticated Principal; is BearerAuthLayer installed around this route?"
    );
    let mut response = Response::new(Bytes::from(message));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// Who a check refuses: for the auth layer's event hook and its gRPC-or-HTTP choice.
/// The request's gRPC content type, for a refusal behind the layer to answer in kind.
pub(crate) fn grpc_type_of<B>(req: &Request<B>) -> Option<HeaderValue> {
    grpc_content_type(req.headers()).cloned()
}
