//! The signed-token crate's integration tests, as one binary.

mod signed;
