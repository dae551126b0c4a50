//! The signed-token crate's integration tests, as one binary.

mod access;
mod claims;
mod jws;
mod keys;
mod shared;
mod signed;
