//! The middleware: [`BearerAuthLayer`](crate::BearerAuthLayer) and its service, future and
//! events; [`RequireScopesLayer`](crate::RequireScopesLayer) for per-route scopes under one layer; and the
//! reasons a request is refused.
//!
//! The common names are at the crate root; this module holds the rest of what a user may
//! name: the service and future types, the [`AuthEvent`] the layer's hook receives, and the
//! detail enums of [`AuthError`](crate::AuthError).

pub(crate) mod body;
pub(crate) mod credentials;
pub(crate) mod event;
pub(crate) mod format;
pub(crate) mod future;
pub(crate) mod gate;
pub(crate) mod grpc;
pub(crate) mod guard;
pub(crate) mod head;
pub(crate) mod layer;
pub(crate) mod policy;
pub(crate) mod proof;
pub(crate) mod reject;
pub(crate) mod require;
pub(crate) mod responder;
pub(crate) mod service;

pub use crate::outcome::error::{InvalidProof, InvalidRequest, InvalidToken, Throttle};
pub use crate::outcome::event::{AuthEvent, Outcome};
pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use grpc::GrpcAnswers;
pub use guard::{Guard, GuardFuture};
pub use proof::ProofVerifier;
pub use service::BearerAuth;
