//! [`Config`]: what a [`BearerAuthLayer`](crate::BearerAuthLayer) was told, as plain data; and
//! [`Policy`]: that configuration built for the request path (prebuilt rejections included),
//! deciding every request.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Request, Response};

use super::credentials::TokenSources;
use super::event::{Admitted, EventSink};
use super::format::ErrorFormat;
use super::gate::{Gate, GateFuture, Refusal, Refused, Verdict};
use super::grpc::{GrpcAnswers, grpc_content_type};
use super::head::with_head;
use super::proof::{Dpop, ProofFuture, Proven, prove};
use super::reject::HandlerRejection;
use super::responder::{ChallengeParams, Responder};
use crate::clock::Clock;
use crate::outcome::error::{AuthError, InvalidToken};
use crate::outcome::event::{AuthEvent, Outcome};
use crate::principal::Principal;
use crate::scope::ScopeRequirement;
use crate::store::error::{StoreError, StoreErrorKind};
use crate::store::state::TokenState;

/// A check of the principal against the request, beyond scopes.
pub(crate) type Predicate = Arc<dyn Fn(&Principal, &Parts) -> bool + Send + Sync>;

/// The layer's configuration, as the builder methods set it.
#[derive(Clone, Default)]
pub(crate) struct Config {
    pub(crate) realm: Option<Box<str>>,
    /// The URL of the resource's RFC 9728 metadata, named in every challenge.
    pub(crate) resource_metadata: Option<Box<str>>,
    /// The resource tokens must be meant for (RFC 8707), if any.
    pub(crate) audience: Option<Box<str>>,
    pub(crate) format: ErrorFormat,
    pub(crate) requirement: Option<ScopeRequirement>,
    pub(crate) predicate: Option<Predicate>,
    pub(crate) allow_cors_preflight: bool,
    pub(crate) sources: TokenSources,
    pub(crate) events: EventSink,
    /// Whether rejections carry their `AuthError` in the response extensions.
    pub(crate) error_extension: bool,
    pub(crate) clock: Clock,
    pub(crate) grpc: GrpcAnswers,
    /// A rate limit run in line, after the other checks.
    pub(crate) rate_limit: Option<Arc<dyn Gate>>,
    /// Credits spent in line, last.
    pub(crate) credits: Option<Arc<dyn Gate>>,
    /// DPoP proofs taken (RFC 9449), if any; without, key-bound tokens are refused.
    pub(crate) dpop: Option<Dpop>,
}

/// How an admitted request goes on.
pub(crate) enum Admission {
    /// To the inner service now, these headers added to its response; with its event, sent
    /// once the request is answered.
    Now(Option<Box<HeaderMap>>, Option<Admitted>),
    /// To the inner service once the ledger has answered (the principal is in the request's
    /// extensions already): see [`Policy::settle`].
    Spending(GateFuture, Option<Box<HeaderMap>>),
    /// To the remaining checks once the DPoP verifier has answered (the principal is in the
    /// request's extensions already): see [`Policy::resume`].
    Proving(ProofFuture),
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("audience", &self.audience)
            .field("format", &self.format)
            .field("requirement", &self.requirement)
            .field("predicate", &self.predicate.is_some())
            .field("allow_cors_preflight", &self.allow_cors_preflight)
            .field("sources", &self.sources)
            .field("events", &self.events)
            .field("error_extension", &self.error_extension)
            .field("clock", &self.clock)
            .field("grpc", &self.grpc)
            .field("credits", &self.credits.is_some())
            .field("dpop", &self.dpop)
            .finish_non_exhaustive()
    }
}

/// Every live policy, by number.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) config: Config,
    pub(crate) responder: Responder,
}

impl Policy {
    pub(crate) fn new(config: Config) -> Arc<Self> {
        let params = ChallengeParams {
            realm: config.realm.clone(),
            resource_metadata: config.resource_metadata.clone(),
            dpop: config.dpop.as_ref().map(Dpop::challenge),
        };
        let responder = Responder::with_params(params, config.format.clone(), config.requirement.as_ref());
        Arc::new(Policy { config, responder })
    }

    pub(crate) fn admit<B, R: From<Bytes>>(
        &self,
        req: &mut Request<B>,
        answer: Result<TokenState, StoreError>,
    ) -> Result<Admission, Response<R>> {
        let (error, principal, store_error) = match answer {
            Err(e) => (AuthError::StoreUnavailable(e.kind()), None, Some(e)),
            Ok(TokenState::Unknown) => (AuthError::InvalidToken(InvalidToken::Unknown), None, None),
            Ok(TokenState::Revoked(p)) => (AuthError::InvalidToken(InvalidToken::Revoked), Some(p), None),
            Ok(TokenState::Expired(p)) => (AuthError::InvalidToken(InvalidToken::Expired), Some(p), None),
            Ok(TokenState::Active(p)) => match self.check(&p) {
                Ok(()) => return self.check_request(req, p),
                Err(error) => (error, Some(p), None),
            },
        };
        Err(self.reject(req, error, principal.as_ref(), store_error.as_ref()))
    }

    /// Expiry, audience and scopes of a token the store vouched for.
    fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        if principal.expires_at().is_some_and(|at| self.config.clock.has_passed(at)) {
            return Err(AuthError::InvalidToken(InvalidToken::Expired));
        }
        if let Some(resource) = &self.config.audience
            && !principal.is_for(resource)
        {
            return Err(AuthError::InvalidToken(InvalidToken::WrongAudience));
        }
        match &self.config.requirement {
            Some(req) if !req.is_satisfied_by(principal.scopes()) => {
                Err(AuthError::InsufficientScope(req.clone()))
            }
            _ => Ok(()),
        }
    }

    /// The proof of possession (DPoP), then [`after_proof`](Self::after_proof).
    fn check_request<B, R: From<Bytes>>(
        &self,
        req: &mut Request<B>,
        principal: Principal,
    ) -> Result<Admission, Response<R>> {
        // The usual request, a bearer token bound to no key at a layer without DPoP, has
        // nothing to prove: straight on, without the proof step's call.
        if self.config.dpop.is_none() && principal.grant().confirmation().is_none() {
            return self.after_proof(req, principal);
        }
        self.check_proof(req, principal)
    }

    /// [`check_request`](Self::check_request)'s proof step, for a layer with DPoP or a
    /// key-bound token.
    #[cold]
    #[inline(never)]
    fn check_proof<B, R: From<Bytes>>(
        &self,
        req: &mut Request<B>,
        principal: Principal,
    ) -> Result<Admission, Response<R>> {
        match prove(self.config.dpop.as_ref(), req, &principal) {
            Proven::Yes => self.after_proof(req, principal),
            Proven::No(error) => Err(self.reject(req, error, Some(&principal), None)),
            Proven::Later(proof) => {
                req.extensions_mut().insert(principal);
                Ok(Admission::Proving(proof))
            }
        }
    }

    /// Goes on with a request whose DPoP proof the verifier answered later (its principal is
    /// in its extensions): the remaining checks, or the refusal.
    pub(crate) fn resume<B, R: From<Bytes>>(
        &self,
        req: &mut Request<B>,
        proven: Result<(), AuthError>,
    ) -> Result<Admission, Response<R>> {
        let Some(principal) = req.extensions_mut().remove::<Principal>() else {
            // `check_request` put it there; without it, fail closed.
            let error = AuthError::StoreUnavailable(StoreErrorKind::Unavailable);
            return Err(self.reject(req, error, None, None));
        };
        match proven {
            Ok(()) => self.after_proof(req, principal),
            Err(error) => Err(self.reject(req, error, Some(&principal), None)),
        }
    }

    /// The predicate, the rate limit and the credits, if any, then the principal into the
    /// request.
    fn after_proof<B, R: From<Bytes>>(
        &self,
        req: &mut Request<B>,
        principal: Principal,
    ) -> Result<Admission, Response<R>> {
        if let Some(predicate) = &self.config.predicate
            && !with_head(req, |head| predicate(&principal, head))
        {
            return Err(self.reject(req, AuthError::Denied, Some(&principal), None));
        }
        let mut headers: Option<Box<HeaderMap>> = None;
        for gate in [&self.config.rate_limit, &self.config.credits].into_iter().flatten() {
            match gate.check(&principal) {
                Verdict::Pass(None) => {}
                Verdict::Pass(Some(more)) => match &mut headers {
                    Some(headers) => headers.extend(*more),
                    None => headers = Some(more),
                },
                Verdict::Refuse(refusal) => return Err(self.refuse(req, &principal, *refusal)),
                Verdict::Later(answer) => {
                    req.extensions_mut().insert(principal);
                    return Ok(Admission::Spending(answer, headers));
                }
            }
        }
        let admitted = self.config.events.admitted(req.method(), req.uri().path(), &principal);
        req.extensions_mut().insert(principal);
        Ok(Admission::Now(headers, admitted))
    }

    /// Decides a request whose credits the ledger answered later: it goes on (its principal
    /// is in its extensions; returns its pending event), or is refused.
    pub(crate) fn settle<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
        answer: Result<(), Refusal>,
    ) -> Result<Option<Admitted>, Response<R>> {
        let principal = req.extensions().get::<Principal>().cloned();
        let Some(principal) = principal else {
            // `check_request` put it there; without it, fail closed.
            return Err(self.reject(
                req,
                AuthError::StoreUnavailable(StoreErrorKind::Unavailable),
                None,
                None,
            ));
        };
        match answer {
            Ok(()) => Ok(self.config.events.admitted(req.method(), req.uri().path(), &principal)),
            Err(refusal) => Err(self.refuse(req, &principal, *refusal)),
        }
    }

    /// A limit's refusal of `principal`'s request, with its headers.
    fn refuse<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
        principal: &Principal,
        refusal: Refused,
    ) -> Response<R> {
        let (error, headers, store_error) = refusal;
        let mut response = self.reject(req, error, Some(principal), store_error.as_ref());
        response.headers_mut().extend(headers);
        response
    }

    pub(crate) fn reject<B, R: From<Bytes>>(
        &self,
        req: &Request<B>,
        error: AuthError,
        principal: Option<&Principal>,
        store_error: Option<&StoreError>,
    ) -> Response<R> {
        self.emit(req, Outcome::Rejected { error: &error, principal, store_error });
        let grpc_type = grpc_content_type(req.headers());
        self.responder.answer(self.config.grpc, grpc_type, error, self.config.error_extension)
    }

    /// Answers a rejection from behind the layer in the layer's format, and reports it as the
    /// outcome of the request the layer admitted.
    pub(crate) fn answer_handler_rejection<R: From<Bytes>>(
        &self,
        rejection: HandlerRejection,
        admitted: Option<Admitted>,
    ) -> Response<R> {
        let HandlerRejection { error, grpc_type, headers } = rejection;
        if let Some(admitted) = &admitted {
            self.config.events.refused(admitted, &error);
        }
        let grpc_type = grpc_type.as_ref();
        let mut response =
            self.responder.answer(self.config.grpc, grpc_type, error, self.config.error_extension);
        response.headers_mut().extend(headers);
        response
    }

    /// Reports an admitted request answered (or abandoned).
    pub(crate) fn answered(&self, admitted: &Admitted) {
        self.config.events.answered(admitted);
    }

    fn emit<B>(&self, req: &Request<B>, outcome: Outcome<'_>) {
        let (method, path) = (req.method(), req.uri().path());
        self.config.events.emit(&AuthEvent { outcome, method, path });
    }
}
