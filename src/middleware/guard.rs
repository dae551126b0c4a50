//! [`Guard`]: the service of every check that sits behind the auth layer
//! ([`RequireScopesLayer`](crate::RequireScopesLayer), [`RateLimitLayer`](crate::RateLimitLayer),
//! [`CreditsLayer`](crate::CreditsLayer)): the same [`Gate`] the layer can run in line, run
//! as a service of its own, for some routes only.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::ResponseBody;
use super::gate::{Gate, GateFuture, Refused, Verdict};
use super::grpc::grpc_content_type;
use super::reject::check_rejection;
use crate::principal::Principal;

/// The service of [`RequireScopesLayer`](crate::RequireScopesLayer) and, with the `rate-limit`
/// feature, of [`RateLimitLayer`] and [`CreditsLayer`]: checks
/// the [`Principal`] the outer [`BearerAuthLayer`](crate::BearerAuthLayer) admitted, and passes
/// the request on or refuses it. A refusal is answered by the auth layer around it, in its
/// format and realm, and its event hook hears of the request once, as refused.
///
/// A request that reaches it without a principal means the auth layer is not installed
/// around it: that is answered 500 with a message saying so, never passed on.
///
// Links to items behind a feature: to the item when the feature is on, to docs.rs otherwise.
#[cfg_attr(feature = "rate-limit", doc = "[`RateLimitLayer`]: crate::RateLimitLayer")]
#[cfg_attr(feature = "rate-limit", doc = "[`CreditsLayer`]: crate::CreditsLayer")]
#[cfg_attr(
    not(feature = "rate-limit"),
    doc = "[`RateLimitLayer`]: https://docs.rs/tower-bearer/latest/tower_bearer/struct.RateLimitLayer.html"
)]
#[cfg_attr(
    not(feature = "rate-limit"),
    doc = "[`CreditsLayer`]: https://docs.rs/tower-bearer/latest/tower_bearer/struct.CreditsLayer.html"
)]
pub struct Guard<S> {
    inner: S,
    gate: Arc<dyn Gate>,
    /// The layer's name, for the message of a request without a principal.
    check: &'static str,
}

impl<S> Guard<S> {
    pub(crate) fn new(inner: S, gate: Arc<dyn Gate>, check: &'static str) -> Self {
        Guard { inner, gate, check }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for Guard<S> {
    fn clone(&self) -> Self {
        Guard { inner: self.inner.clone(), gate: self.gate.clone(), check: self.check }
    }
}

impl<S: fmt::Debug> fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("inner", &self.inner)
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Guard<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = GuardFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(principal) = req.extensions().get::<Principal>() else {
            return GuardFuture::refused(no_principal(self.check));
        };
        // Each arm builds the future in place: the inner future is as large as a response.
        match self.gate.check(principal) {
            Verdict::Pass(headers) => {
                GuardFuture { state: State::Inner { future: self.inner.call(req), headers } }
            }
            Verdict::Refuse(refusal) => GuardFuture::refused(refused(&req, *refusal)),
            Verdict::Later(verdict) => {
                // The call happens after the verdict: take the readied instance into the
                // future and leave a fresh clone here for the next `poll_ready`.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                GuardFuture { state: State::Waiting { verdict, pending: Some(Box::new((req, inner))) } }
            }
        }
    }
}

pin_project! {
    /// The response future of [`Guard`]: the inner service's response (with headers the check
    /// adds, such as `RateLimit`), or the check's refusal.
    #[must_use = "futures do nothing unless polled"]
    pub struct GuardFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        /// The check answers later (a ledger behind a round trip).
        Waiting { verdict: GateFuture, pending: Option<Box<(Request<ReqBody>, S)>> },
        /// Admitted: the inner service's future.
        Inner { #[pin] future: S::Future, headers: Option<Box<HeaderMap>> },
        /// Refused.
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<S: Service<Request<ReqBody>>, ReqBody> GuardFuture<S, ReqBody> {
    #[inline]
    fn refused(response: Response<Bytes>) -> Self {
        GuardFuture { state: State::Refused { response: Some(response) } }
    }
}

impl<S, ReqBody, ResBody> Future for GuardFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Waiting { verdict, pending } => {
                    let verdict = ready!(verdict.as_mut().poll(cx));
                    let (req, mut inner) = *pending.take().expect("GuardFuture polled after completion");
                    match verdict {
                        Ok(()) => state.set(State::Inner { future: inner.call(req), headers: None }),
                        Err(refusal) => {
                            return Poll::Ready(Ok(refused(&req, *refusal).map(ResponseBody::rejection)));
                        }
                    }
                }
                StateProj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(headers) = headers.take() {
                        response.headers_mut().extend(*headers);
                    }
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Refused { response } => {
                    let response = response.take().expect("GuardFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            }
        }
    }
}

impl<S: Service<Request<ReqBody>>, ReqBody> fmt::Debug for GuardFuture<S, ReqBody> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardFuture").finish_non_exhaustive()
    }
}

/// The answer to `req`, refused with `refusal`, for the auth layer around to answer in kind.
fn refused<B>(req: &Request<B>, (error, headers, _): Refused) -> Response<Bytes> {
    check_rejection(error, grpc_type_of(req), headers)
}

/// What a check answers a request that reached it without a principal: the auth layer is not
/// installed around it. 500 with a message saying so, never passed on.
fn no_principal(check: &'static str) -> Response<Bytes> {
    let message = format!(
        "tower-bearer: {check} found no authenticated Principal; is BearerAuthLayer installed around this route?"
    );
    let mut response = Response::new(Bytes::from(message));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// The request's gRPC content type, for a refusal behind the layer to answer in kind.
fn grpc_type_of<B>(req: &Request<B>) -> Option<HeaderValue> {
    grpc_content_type(req.headers()).cloned()
}
