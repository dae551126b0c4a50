//! The management crate's integration tests, as one binary.
mod api;
mod audit;
mod audit_metrics;
mod bootstrap;
mod crashes;
mod leaks;
mod notices;
mod portal;
mod portal_limits;
mod portal_usage;
mod usage;
mod usage_api;
