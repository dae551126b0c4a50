//! What the layer decides for a request: the [`AuthError`](crate::AuthError) it refuses with,
//! and the event it reports. Below the middleware, so that what records events (the audit
//! log) does not depend on what emits them.

pub(crate) mod error;
pub(crate) mod event;
