//! Where a layer's [`AuthEvent`]s go: one per request, delivered to the layer's hook and,
//! with the `tracing` feature, as a `tracing` event (target `tower_bearer`), and with the
//! `metrics` feature, counted in `tower_bearer_requests_total`.

use std::fmt;
use std::sync::Arc;

use http::Method;

use crate::outcome::error::AuthError;
use crate::outcome::event::{AuthEvent, Outcome};
use crate::principal::Principal;

type Hook = Arc<dyn Fn(&AuthEvent<'_>) + Send + Sync>;

/// Where a layer's events go: its hook, and `tracing` with the feature on.
#[derive(Clone, Default)]
pub(crate) struct EventSink {
    hook: Option<Hook>,
    /// Whether the request counter is labelled by token id too (the application asked for
    /// it: one series per token).
    #[cfg(feature = "metrics")]
    metric_token_ids: bool,
}

impl EventSink {
    pub(crate) fn set_hook(&mut self, hook: Hook) {
        self.hook = Some(hook);
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn set_metric_token_ids(&mut self, on: bool) {
        self.metric_token_ids = on;
    }

    /// Whether anything listens: without a hook, a `tracing` subscriber or the `metrics`
    /// feature, an admitted request keeps nothing for its event. With `metrics` it keeps it
    /// always: a handler behind the layer may still refuse the request, and the counter must
    /// count that refusal instead of the admission, not both.
    fn observed(&self) -> bool {
        if cfg!(feature = "metrics") {
            return true;
        }
        #[cfg(feature = "tracing")]
        if tracing::enabled!(target: "tower_bearer", tracing::Level::INFO) {
            return true;
        }
        self.hook.is_some()
    }

    /// The event of a request the layer admits, sent once the request is answered: a check
    /// behind the layer may still refuse it, and that refusal is then the request's one event.
    pub(crate) fn admitted(
        &self,
        method: &Method,
        path: &str,
        principal: &Principal,
    ) -> Option<Box<Admitted>> {
        self.observed().then(|| {
            Box::new(Admitted {
                sink: self.clone(),
                method: method.clone(),
                path: path.into(),
                principal: principal.clone(),
                refused: false,
            })
        })
    }

    pub(crate) fn emit(&self, event: &AuthEvent<'_>) {
        #[cfg(feature = "tracing")]
        trace(event);
        #[cfg(feature = "metrics")]
        self.count(event);
        if let Some(hook) = &self.hook {
            hook(event);
        }
    }
}

/// An admitted request whose event waits for its answer. Dropped unrefused (answered,
/// failed or abandoned), it reports the request [`Authenticated`](Outcome::Authenticated).
pub(crate) struct Admitted {
    sink: EventSink,
    method: Method,
    path: Box<str>,
    principal: Principal,
    refused: bool,
}

impl Admitted {
    /// Reports the request refused behind the layer, with `error`, as its one event.
    pub(crate) fn refused(mut self, error: &AuthError) {
        self.refused = true;
        let outcome = Outcome::Rejected { error, principal: Some(&self.principal), store_error: None };
        self.sink.emit(&AuthEvent { outcome, method: &self.method, path: &self.path });
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if !self.refused {
            let outcome = Outcome::Authenticated(&self.principal);
            self.sink.emit(&AuthEvent { outcome, method: &self.method, path: &self.path });
        }
    }
}

#[cfg(feature = "metrics")]
impl EventSink {
    fn count(&self, event: &AuthEvent<'_>) {
        use crate::manage::usage::UsageOutcome;
        let Some(outcome) = UsageOutcome::of(event) else { return };
        let token_id = if self.metric_token_ids {
            event.principal().and_then(Principal::token_id).map(|id| id.as_str())
        } else {
            None
        };
        crate::monitoring::request(outcome, token_id);
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink").field("hook", &self.hook.is_some()).finish()
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

    #[test]
    fn an_admitted_request_is_reported_once_refused_or_not() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut sink = EventSink::default();
        let log = seen.clone();
        sink.set_hook(Arc::new(move |event: &AuthEvent<'_>| {
            let outcome = match event.outcome {
                Outcome::Authenticated(_) => "authenticated",
                Outcome::Rejected { error, .. } => error.reason(),
            };
            log.lock().unwrap().push(format!("{} {outcome}", event.path));
        }));
        let rita = Principal::builder("rita").build();
        // Answered, or abandoned before its answer: authenticated.
        drop(sink.admitted(&Method::GET, "/answered", &rita));
        // Refused behind the layer: that refusal alone.
        sink.admitted(&Method::GET, "/refused", &rita).expect("observed").refused(&AuthError::Denied);
        assert_eq!(*seen.lock().unwrap(), ["/answered authenticated", "/refused denied"]);
        assert!(
            EventSink::default().admitted(&Method::GET, "/", &rita).is_none() || cfg!(feature = "tracing")
        );
    }
}
