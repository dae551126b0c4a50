//! Where a layer's [`AuthEvent`]s go: one per request, delivered to the layer's event hook
//! and, with the `tracing` feature, as a `tracing` event (target `tower_bearer`); and its
//! outcome to the layer's outcome hook and, with the `metrics` feature, counted in
//! `tower_bearer_requests_total`.

use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;
use http::Method;

use crate::manage::usage::UsageOutcome;
use crate::outcome::error::AuthError;
use crate::outcome::event::{AuthEvent, Outcome};
use crate::principal::Principal;

type Hook = Arc<dyn Fn(&AuthEvent<'_>) + Send + Sync>;
type OutcomeHook = Arc<dyn Fn(UsageOutcome, Option<&Principal>) + Send + Sync>;

/// Where a layer's events go: its hooks, and `tracing` and `metrics` with those features on.
#[derive(Clone, Default)]
pub(crate) struct EventSink {
    hook: Option<Hook>,
    outcome_hook: Option<OutcomeHook>,
    /// Whether the request counter is labelled by token id too (the application asked for
    /// it: one series per token).
    #[cfg(feature = "metrics")]
    metric_token_ids: bool,
}

impl EventSink {
    pub(crate) fn set_hook(&mut self, hook: Hook) {
        self.hook = Some(hook);
    }

    pub(crate) fn set_outcome_hook(&mut self, hook: OutcomeHook) {
        self.outcome_hook = Some(hook);
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn set_metric_token_ids(&mut self, on: bool) {
        self.metric_token_ids = on;
    }

    /// Whether anything reads whole events (method and path too): the event hook, or a
    /// `tracing` subscriber.
    fn wants_events(&self) -> bool {
        #[cfg(feature = "tracing")]
        if tracing::enabled!(target: "tower_bearer", tracing::Level::INFO) {
            return true;
        }
        self.hook.is_some()
    }

    /// Whether anything counts outcomes: the outcome hook, or the `metrics` feature.
    fn wants_outcomes(&self) -> bool {
        cfg!(feature = "metrics") || self.outcome_hook.is_some()
    }

    /// What an admitted request keeps for its event until it is answered: a check behind the
    /// layer may still refuse it, and that refusal is then the request's one event. Nothing
    /// when nobody listens; the principal alone (no allocation) when only outcomes are
    /// counted.
    #[inline]
    pub(crate) fn admitted(&self, method: &Method, path: &str, principal: &Principal) -> Option<Admitted> {
        // Whole events are for a hook or `tracing`, read apart so that the counting case and
        // the case with no listener stay small enough to inline.
        if self.hook.is_some() || cfg!(feature = "tracing") {
            return self.keep_event(method, path, principal);
        }
        self.wants_outcomes().then(|| Admitted::Outcome(principal.clone()))
    }

    #[inline(never)]
    fn keep_event(&self, method: &Method, path: &str, principal: &Principal) -> Option<Admitted> {
        if self.wants_events() {
            let event = PendingEvent {
                method: method.clone(),
                path: CompactString::new(path),
                principal: principal.clone(),
            };
            Some(Admitted::Event(Box::new(event)))
        } else {
            self.wants_outcomes().then(|| Admitted::Outcome(principal.clone()))
        }
    }

    /// Reports `admitted` answered (or abandoned): [`Authenticated`](Outcome::Authenticated).
    pub(crate) fn answered(&self, admitted: &Admitted) {
        match admitted {
            Admitted::Event(event) => self.emit(&event.with(Outcome::Authenticated(&event.principal))),
            Admitted::Outcome(principal) => self.count(UsageOutcome::Admitted, Some(principal)),
        }
    }

    /// Reports `admitted` refused behind the layer, with `error`, as its one event.
    pub(crate) fn refused(&self, admitted: &Admitted, error: &AuthError) {
        match admitted {
            Admitted::Event(event) => {
                let principal = Some(&event.principal);
                self.emit(&event.with(Outcome::Rejected { error, principal, store_error: None }));
            }
            Admitted::Outcome(principal) => {
                if let Some(outcome) = UsageOutcome::of_refusal(error) {
                    self.count(outcome, Some(principal));
                }
            }
        }
    }

    /// Sends `event` to everything that listens.
    pub(crate) fn emit(&self, event: &AuthEvent<'_>) {
        #[cfg(feature = "tracing")]
        trace(event);
        if let Some(hook) = &self.hook {
            hook(event);
        }
        if self.wants_outcomes()
            && let Some(outcome) = UsageOutcome::of(event)
        {
            self.count(outcome, event.principal());
        }
    }

    /// Counts one request's outcome: the outcome hook, and the request counter.
    #[inline]
    fn count(&self, outcome: UsageOutcome, principal: Option<&Principal>) {
        #[cfg(feature = "metrics")]
        self.count_metric(outcome, principal);
        if let Some(hook) = &self.outcome_hook {
            hook(outcome, principal);
        }
    }
}

/// What an admitted request keeps for its event until its answer.
pub(crate) enum Admitted {
    /// The whole event: something reads method and path.
    Event(Box<PendingEvent>),
    /// The principal alone: only outcomes are counted.
    Outcome(Principal),
}

/// An admitted request's event, but for its outcome.
pub(crate) struct PendingEvent {
    method: Method,
    /// Inline up to 24 bytes (most paths): the event then takes one allocation, not two.
    path: CompactString,
    principal: Principal,
}

impl PendingEvent {
    fn with<'a>(&'a self, outcome: Outcome<'a>) -> AuthEvent<'a> {
        AuthEvent { outcome, method: &self.method, path: &self.path }
    }
}

#[cfg(feature = "metrics")]
impl EventSink {
    fn count_metric(&self, outcome: UsageOutcome, principal: Option<&Principal>) {
        let token_id = if self.metric_token_ids {
            principal.and_then(Principal::token_id).map(|id| id.as_str())
        } else {
            None
        };
        crate::monitoring::request(outcome, token_id);
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink")
            .field("hook", &self.hook.is_some())
            .field("outcome_hook", &self.outcome_hook.is_some())
            .finish()
    }
}

#[cfg(feature = "tracing")]
fn trace(event: &AuthEvent<'_>) {
    let principal = event.principal();
    let token_id = principal.and_then(Principal::token_id).map(|id| id.as_str());
    let subject = principal.map(Principal::subject);
    let (method, path) = (event.method.as_str(), event.path);
    match event.outcome {
        Outcome::Authenticated(_) => {
            tracing::debug!(target: "tower_bearer", method, path, token_id, subject, "request authenticated");
        }
        Outcome::Rejected { store_error: Some(cause), .. } => {
            let source = std::error::Error::source(cause).map(ToString::to_string);
            tracing::warn!(target: "tower_bearer", method, path, error = %cause, source, "request rejected: token store failed");
        }
        Outcome::Rejected { error, .. } => {
            let status = error.status().as_u16();
            let reason = error.reason();
            tracing::info!(target: "tower_bearer", method, path, token_id, subject, status, reason, %error, "request rejected");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::outcome::error::InvalidToken;

    type Seen = Arc<Mutex<Vec<String>>>;

    fn event_hook(seen: &Seen) -> Hook {
        let seen = seen.clone();
        Arc::new(move |event: &AuthEvent<'_>| {
            let outcome = match event.outcome {
                Outcome::Authenticated(_) => "authenticated",
                Outcome::Rejected { error, .. } => error.reason(),
            };
            seen.lock().unwrap().push(format!("event {} {outcome}", event.path));
        })
    }

    fn outcome_hook(seen: &Seen) -> OutcomeHook {
        let seen = seen.clone();
        Arc::new(move |outcome: UsageOutcome, principal: Option<&Principal>| {
            let subject = principal.map_or("-", Principal::subject);
            seen.lock().unwrap().push(format!("outcome {subject} {}", outcome.as_str()));
        })
    }

    /// An admitted request answered (or abandoned), then one refused behind the layer.
    fn admit_two(sink: &EventSink) {
        let rita = Principal::builder("rita").build();
        sink.answered(&sink.admitted(&Method::GET, "/answered", &rita).expect("observed"));
        let refused = sink.admitted(&Method::GET, "/refused", &rita).expect("observed");
        sink.refused(&refused, &AuthError::insufficient_scope(["write"]));
    }

    #[test]
    fn an_admitted_request_is_one_event_answered_or_refused() {
        let seen = Seen::default();
        let mut sink = EventSink::default();
        sink.set_hook(event_hook(&seen));
        admit_two(&sink);
        assert_eq!(
            *seen.lock().unwrap(),
            ["event /answered authenticated", "event /refused insufficient_scope"]
        );
    }

    #[test]
    fn an_outcome_hook_alone_counts_each_request_once() {
        let seen = Seen::default();
        let mut sink = EventSink::default();
        sink.set_outcome_hook(outcome_hook(&seen));
        let rita = Principal::builder("rita").build();
        assert!(
            matches!(sink.admitted(&Method::GET, "/", &rita), Some(Admitted::Outcome(_)))
                || cfg!(feature = "tracing")
        );
        admit_two(&sink);
        // A refusal by the layer itself, and a request without a token (not counted).
        let unknown = Outcome::Rejected {
            error: &AuthError::InvalidToken(InvalidToken::Unknown),
            principal: None,
            store_error: None,
        };
        sink.emit(&AuthEvent { outcome: unknown, method: &Method::GET, path: "/" });
        let missing =
            Outcome::Rejected { error: &AuthError::MissingCredentials, principal: None, store_error: None };
        sink.emit(&AuthEvent { outcome: missing, method: &Method::GET, path: "/" });
        assert_eq!(
            *seen.lock().unwrap(),
            ["outcome rita admitted", "outcome rita insufficient_scope", "outcome - unknown"]
        );
    }

    #[test]
    fn both_hooks_see_each_request_once() {
        let seen = Seen::default();
        let mut sink = EventSink::default();
        sink.set_hook(event_hook(&seen));
        sink.set_outcome_hook(outcome_hook(&seen));
        admit_two(&sink);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "event /answered authenticated",
                "outcome rita admitted",
                "event /refused insufficient_scope",
                "outcome rita insufficient_scope"
            ]
        );
    }

    #[test]
    fn nothing_is_kept_when_nothing_listens() {
        let rita = Principal::builder("rita").build();
        let kept = EventSink::default().admitted(&Method::GET, "/", &rita);
        assert!(kept.is_none() || cfg!(any(feature = "tracing", feature = "metrics")));
    }
}
