//! Token management as a product for [tower-bearer](tower_bearer): what every API provider
//! otherwise writes itself around its tokens.
//!
//! - the management API: [`ManagementApi`], an axum router to mount behind the layer: create
//!   (the secret shown once), list a page at a time, show, revoke, rotate, read the audit
//!   log and each token's usage over time, with tenant and scope rules;
//! - [`bootstrap_admin`]: the first admin key, minted once in the store's life (a durable
//!   marker), its secret handed out once;
//! - the audit log's writer: [`AuditWriter`] takes request outcomes (the layer's `on_event`)
//!   off the request path and writes them in batches to an
//!   [`AuditLog`](tower_bearer::manage::audit::AuditLog): the memory ring, or the SQL store's
//!   table (which records tokens' lifecycle itself, in each change's transaction);
//! - usage analytics: [`UsageCounter`] counts every request the layer decides per token,
//!   outcome and minute in memory, and adds the counts in batches to a
//!   [`UsageLog`](tower_bearer::manage::usage::UsageLog), rolled up to hours and days;
//! - the leaked-token endpoint, in the format of GitHub's secret-scanning partner program:
//!   [`LeakedTokenEndpoint`] verifies a scanner's signed report against [`ScannerKeys`],
//!   revokes every live token of the store it names, tells the application through a
//!   [`LeakReport`] hook and answers with GitHub's true/false-positive feedback. Register
//!   [`TokenFormat::regex`](tower_bearer::TokenFormat::regex) with the scanner;
//! - the portal page: [`TokenPortal`], server-rendered HTML (no JavaScript needed) where the
//!   host application's signed-in [`PortalUser`] lists, creates (the secret shown once) and
//!   revokes their own tokens, with CSRF-protected, accessible forms, and sees each one's
//!   last 30 days as a chart drawn on the server.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unreachable_pub, unsafe_code)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod api;
mod bootstrap;
mod monitoring;
mod notices;
mod usage;
mod usage_source;
mod writer;
pub use api::ManagementApi;
pub use bootstrap::{ADMIN_KEY_MARKER, bootstrap_admin};
pub use notices::{ExpiryNotices, ExpiryNoticesBuilder, Notice, NoticeKind};
pub use usage::{Retention, UsageCounter, UsageCounterBuilder, UsageStats};
pub use writer::{AuditDrops, AuditStats, AuditWriter, AuditWriterBuilder};

// leaked-token endpoint
mod leaks;
pub use leaks::{LeakReport, LeakedTokenEndpoint, ScannerKeyError, ScannerKeys};

// portal page
mod portal;
pub use portal::{PortalUser, TokenPortal};
