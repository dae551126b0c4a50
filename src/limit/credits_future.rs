//! [`CreditsFuture`]: the response future of the [`CreditsService`](super::CreditsService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::headers::retry_after;
use crate::middleware::body::ResponseBody;
use crate::middleware::guard::grpc_type_of;
use crate::middleware::reject::handler_rejection_with;
use crate::outcome::error::{AuthError, Throttle};
use crate::store::error::StoreError;
use crate::store::ledger::Spend;

pin_project! {
    /// The response future of [`CreditsService`](super::CreditsService).
    #[must_use = "futures do nothing unless polled"]
    pub struct CreditsFuture<S, F, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, F, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        /// The ledger is answering; the ready service and the request wait for it.
        Spending { #[pin] spending: F, service: Option<S>, request: Option<Request<ReqBody>> },
        /// Admitted: the inner service's future.
        Inner { #[pin] future: S::Future },
        /// Refused.
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<S, F, ReqBody> CreditsFuture<S, F, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn refused(response: Response<Bytes>) -> Self {
        CreditsFuture { state: State::Refused { response: Some(response) } }
    }

    pub(crate) fn spending(spending: F, service: S, request: Request<ReqBody>) -> Self {
        CreditsFuture { state: State::Spending { spending, service: Some(service), request: Some(request) } }
    }

    /// Calls `service` with `request`, or refuses it, as the ledger's answer `spent` says.
    pub(crate) fn settled(
        service: &mut S,
        request: Request<ReqBody>,
        spent: Result<Spend, StoreError>,
    ) -> Self {
        match refusal(&request, spent) {
            None => CreditsFuture { state: State::Inner { future: service.call(request) } },
            Some(response) => CreditsFuture::refused(response),
        }
    }
}

/// Why a request whose spend was `spent` is refused, with the headers of the refusal (and
/// the ledger's error, for the event hook), unless it goes on.
pub(crate) fn refusal_of(
    spent: Result<Spend, StoreError>,
) -> Option<(AuthError, HeaderMap, Option<StoreError>)> {
    match spent {
        Ok(Spend::Unmetered | Spend::Granted) => None,
        Ok(Spend::Exhausted { retry_after: wait }) => {
            let mut headers = HeaderMap::new();
            if let Some(wait) = wait {
                let (name, value) = retry_after(wait);
                headers.insert(name, value);
            }
            Some((AuthError::Throttled(Throttle::NoCredits), headers, None))
        }
        // Credits fail closed.
        Err(e) => Some((AuthError::StoreUnavailable(e.kind()), HeaderMap::new(), Some(e))),
    }
}

/// The answer to a request whose spend was `spent`, unless it goes on.
fn refusal<B>(request: &Request<B>, spent: Result<Spend, StoreError>) -> Option<Response<Bytes>> {
    let (error, headers, _) = refusal_of(spent)?;
    Some(handler_rejection_with(error, grpc_type_of(request), headers))
}

impl<S, F, ReqBody, ResBody> Future for CreditsFuture<S, F, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    F: Future<Output = Result<Spend, StoreError>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Spending { spending, service, request } => {
                    let spent = ready!(spending.poll(cx));
                    let (Some(mut service), Some(request)) = (service.take(), request.take()) else {
                        panic!("CreditsFuture polled after completion");
                    };
                    let next = CreditsFuture::settled(&mut service, request, spent);
                    state.set(next.state);
                }
                StateProj::Inner { future } => {
                    return future.poll(cx).map_ok(|response| response.map(ResponseBody::inner));
                }
                StateProj::Refused { response } => {
                    let response = response.take().expect("CreditsFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            }
        }
    }
}

impl<S, F, ReqBody> fmt::Debug for CreditsFuture<S, F, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreditsFuture").finish_non_exhaustive()
    }
}
