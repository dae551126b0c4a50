//! The core crate's integration tests, as one binary (one link of the crate and its
//! dependencies); helpers shared with the other crates' tests are in
//! `tower-bearer-test-support`.

mod axum;
mod body_formats;
#[cfg(feature = "cache")]
mod cache;
#[cfg(feature = "cache")]
mod cache_push;
#[cfg(feature = "axum")]
mod client;
mod example_process;
#[cfg(all(feature = "axum", feature = "cache"))]
mod examples;
mod fuzz_props;
#[cfg(feature = "axum")]
mod grpc;
mod handler_rejections;
mod hostile;
mod hyper;
mod lifecycle;
#[cfg(all(feature = "axum", feature = "cache"))]
mod lifecycle_examples;
#[cfg(all(feature = "axum", feature = "rate-limit"))]
mod limits;
mod load_faults;
#[cfg(all(feature = "axum", feature = "rate-limit"))]
mod metered_keys_example;
#[cfg(all(feature = "axum", feature = "metrics"))]
mod metrics;
mod never_leak;
#[cfg(feature = "axum")]
mod oauth_examples;
mod redaction;
mod resource_server;
mod rfc6750;
mod sql_example;
mod stores;
#[cfg(feature = "tracing")]
mod trace_capture;
