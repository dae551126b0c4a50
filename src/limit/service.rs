//! [`RateLimitService`]: the service of the [`RateLimitLayer`](crate::RateLimitLayer).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::buckets::Decision;
use super::headers::{rate_limit_fields, retry_after};
use super::limits::Limits;
use crate::middleware::ResponseBody;
use crate::middleware::error::{AuthError, Throttle};
use crate::middleware::guard::{GuardFuture, no_principal, origin};
use crate::middleware::reject::handler_rejection_with;
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
        let limits = &*self.limits;
        let Some(limit) = limits.limit_for(principal) else {
            return GuardFuture::admitted(self.inner.call(req), None);
        };
        match limits.buckets.check(limits.key(principal), limit) {
            Decision::Admitted { remaining, reset } => {
                let headers = limits
                    .advertises()
                    .then(|| Box::new(rate_limit_fields(limits.policy(), limit, remaining, reset)));
                GuardFuture::admitted(self.inner.call(req), headers)
            }
            Decision::Refused { retry_after: wait } => {
                let mut headers = rate_limit_fields(limits.policy(), limit, 0, wait);
                let (name, value) = retry_after(wait);
                headers.insert(name, value);
                let origin = origin(&req, principal);
                let error = AuthError::Throttled(Throttle::RateLimited);
                GuardFuture::refused(handler_rejection_with(error, Some(origin), headers))
            }
        }
    }
}
