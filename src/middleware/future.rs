//! [`ResponseFuture`]: waits for the store, then either calls the inner service or answers.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::body::ResponseBody;
use super::event::Admitted;
use super::gate::GateFuture;
use super::policy::{Admission, Policy};
use super::proof::ProofFuture;
use super::reject::HandlerRejection;
use crate::store::error::StoreError;
use crate::store::lookup::LaterLookup;
use crate::store::state::TokenState;

pin_project! {
    /// The response future of [`BearerAuth`](crate::BearerAuth).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<S, ReqBody>
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
        /// Waiting for the store; holds the request and the readied inner service. Boxed so
        /// that they do not make every state (and every move of this future) as large as a
        /// request: this state exists only for stores that answer later, where one allocation
        /// is noise next to their I/O.
        Lookup {
            lookup: LaterLookup,
            pending: Option<Box<(Request<ReqBody>, S)>>,
            // An `Option` so that the admitted request's state takes it over, not a clone.
            policy: Option<Arc<Policy>>,
        },
        /// Waiting for the DPoP verifier (the principal is in the request already).
        Proving {
            proof: ProofFuture,
            pending: Option<Box<(Request<ReqBody>, S)>>,
            policy: Option<Arc<Policy>>,
        },
        /// Waiting for the credits ledger (the principal is in the request already).
        Spending {
            spend: GateFuture,
            pending: Option<Box<(Request<ReqBody>, S)>>,
            policy: Option<Arc<Policy>>,
            headers: Option<Box<HeaderMap>>,
        },
        /// Admitted: the inner service's own future, the policy and pending event it is
        /// answered under, and headers for the response (the rate limit's, when advertised).
        Inner {
            #[pin]
            future: S::Future,
            answering: Answering,
            headers: Option<Box<HeaderMap>>,
        },
        /// Answered by the layer.
        Rejected {
            response: Option<Response<Bytes>>,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn lookup(lookup: LaterLookup, req: Request<ReqBody>, inner: S, policy: Arc<Policy>) -> Self {
        ResponseFuture {
            state: State::Lookup { lookup, pending: Some(Box::new((req, inner))), policy: Some(policy) },
        }
    }

    /// The request goes to the inner service without a check (a CORS preflight let through).
    pub(crate) fn unchecked(future: S::Future, policy: Arc<Policy>) -> Self {
        let answering = Answering { policy, admitted: None };
        ResponseFuture { state: State::Inner { future, answering, headers: None } }
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        ResponseFuture { state: State::Rejected { response: Some(response) } }
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>> + Clone,
{
    /// The one place the store's answer for a request becomes what happens next, whether the
    /// store answered at once (in the service's `call`) or later (in `poll`): the inner call,
    /// credits to wait for, or the refusal.
    #[inline]
    pub(crate) fn admit(
        policy: Arc<Policy>,
        mut req: Request<ReqBody>,
        answer: Result<TokenState, StoreError>,
        inner: Readied<'_, S>,
    ) -> Self {
        let admission = policy.admit(&mut req, answer);
        Self::proceed(policy, req, admission, inner)
    }

    /// What an admission (or a refusal) makes of the request: the inner call, or a wait.
    #[inline]
    fn proceed(
        policy: Arc<Policy>,
        req: Request<ReqBody>,
        admission: Result<Admission, Response<Bytes>>,
        inner: Readied<'_, S>,
    ) -> Self {
        let state = match admission {
            Ok(Admission::Now(headers, admitted)) => {
                State::Inner { future: inner.call(req), answering: Answering { policy, admitted }, headers }
            }
            Ok(Admission::Spending(spend, headers)) => {
                let pending = Some(Box::new((req, inner.into_owned())));
                State::Spending { spend, pending, policy: Some(policy), headers }
            }
            Ok(Admission::Proving(proof)) => {
                let pending = Some(Box::new((req, inner.into_owned())));
                State::Proving { proof, pending, policy: Some(policy) }
            }
            Err(response) => State::Rejected { response: Some(response) },
        };
        ResponseFuture { state }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Lookup { lookup, pending, policy } => {
                    let answer = ready!(lookup.as_mut().poll(cx));
                    let taken = pending.take().zip(policy.take());
                    let (boxed, policy) = taken.expect("ResponseFuture polled after completion");
                    let (req, inner) = *boxed;
                    state.set(ResponseFuture::admit(policy, req, answer, Readied::Owned(inner)).state);
                }
                StateProj::Proving { proof, pending, policy } => {
                    let proven = ready!(proof.as_mut().poll(cx));
                    let taken = pending.take().zip(policy.take());
                    let (boxed, policy) = taken.expect("ResponseFuture polled after completion");
                    let (mut req, inner) = *boxed;
                    let admission = policy.resume(&mut req, proven);
                    state.set(ResponseFuture::proceed(policy, req, admission, Readied::Owned(inner)).state);
                }
                StateProj::Spending { spend, pending, policy, headers } => {
                    let spent = ready!(spend.as_mut().poll(cx));
                    let taken = pending.take().zip(policy.take());
                    let (boxed, policy) = taken.expect("ResponseFuture polled after completion");
                    let headers = headers.take();
                    match policy.settle(&boxed.0, spent) {
                        Ok(admitted) => {
                            let (req, mut inner) = *boxed;
                            let future = inner.call(req);
                            let answering = Answering { policy, admitted };
                            state.set(State::Inner { future, answering, headers });
                        }
                        Err(response) => return Poll::Ready(Ok(response.map(ResponseBody::rejection))),
                    }
                }
                StateProj::Inner { future, answering, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    // A handler refused the request with an `AuthError`: answer it in this
                    // layer's format and realm. An empty extensions map answers at once.
                    if let Some(rejection) = response.extensions_mut().remove::<HandlerRejection>() {
                        let admitted = answering.admitted.take();
                        return Poll::Ready(Ok(answering
                            .policy
                            .answer_handler_rejection(rejection, admitted)));
                    }
                    if let Some(headers) = headers.take() {
                        response.headers_mut().extend(*headers);
                    }
                    answering.answered();
                    return Poll::Ready(Ok(response.map(ResponseBody::inner)));
                }
                StateProj::Rejected { response } => {
                    let response = response.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            }
        }
    }
}

impl<S, ReqBody> fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// The policy an admitted request is answered under, and the request's event until it is sent.
/// Dropped with the event unsent (the inner service failed, or the request was abandoned), it
/// reports the request authenticated: the layer admitted it, and nothing behind refused it.
struct Answering {
    policy: Arc<Policy>,
    admitted: Option<Admitted>,
}

impl Answering {
    /// Sends the request's event: answered, not refused.
    fn answered(&mut self) {
        if let Some(admitted) = self.admitted.take() {
            self.policy.answered(&admitted);
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.answered();
    }
}

/// The inner service a request goes to: the very instance `poll_ready` readied, still in the
/// layer's service (the store answered at once), or one the future owns.
pub(crate) enum Readied<'a, S> {
    /// In the service: called in place; taken out (a clone left behind) if the call waits.
    Here(&'a mut S),
    /// Taken into the future already.
    Owned(S),
}

impl<S: Clone> Readied<'_, S> {
    #[inline]
    fn call<ReqBody>(self, req: Request<ReqBody>) -> S::Future
    where
        S: Service<Request<ReqBody>>,
    {
        match self {
            Readied::Here(inner) => inner.call(req),
            Readied::Owned(mut inner) => inner.call(req),
        }
    }

    /// The readied instance, to call later: see tower's "be careful when cloning inner
    /// services".
    pub(crate) fn into_owned(self) -> S {
        match self {
            Readied::Here(inner) => {
                let clone = inner.clone();
                std::mem::replace(inner, clone)
            }
            Readied::Owned(inner) => inner,
        }
    }
}
