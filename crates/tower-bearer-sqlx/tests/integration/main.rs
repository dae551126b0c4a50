//! The SQL store's integration tests, as one binary: real SQLite files, and throwaway
//! PostgreSQL clusters.

mod clients;
mod credits;
mod postgres;
mod sqlite;
