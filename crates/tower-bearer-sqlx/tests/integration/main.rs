//! The SQL store's integration tests, as one binary: real SQLite files, and throwaway
//! PostgreSQL clusters.

mod crashes;
mod credits;
mod faults;
mod feed;
mod instances;
mod metrics;
mod postgres;
mod replay;
mod sqlite;
