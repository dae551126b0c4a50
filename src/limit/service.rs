//! [`RateLimitService`]: the service of the [`RateLimitLayer`](crate::RateLimitLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::limits::{Limits, Verdict};
use crate::middleware::body::ResponseBody;
use crate::middleware::guard::{GuardFuture, grpc_type_of, no_principal};
use crate::middleware::reject::handler_rejection_with;
use crate::outcome::error::{AuthError, Throttle};
use crate::principal::Principal;

/// The service of [`RateLimitLayer`](crate::RateLimitLayer).
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limits: Arc<Limits>,
}

impl<S> RateLimitService<S> {
    pub(crate) fn new(inner: S, limits: Arc<Limits>) -> Self {
        RateLimitService { inner, limits }
    }
}

impl<S: fmt::Debug> fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitService").field("inner", &self.inner).field("limits", &self.limits).finish()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimitService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(principal) = req.extensions().get::<Principal>() else {
            return GuardFuture::refused(no_principal("RateLimitLayer"));
        };
        match self.limits.decide(principal) {
            Verdict::Pass(headers) => GuardFuture::admitted(self.inner.call(req), headers),
            Verdict::Refuse(headers) => {
                let error = AuthError::Throttled(Throttle::RateLimited);
                GuardFuture::refused(handler_rejection_with(error, grpc_type_of(&req), headers))
            }
        }
    }
}
