//! The signed-token crate's integration tests, as one binary.

mod access;
mod claims;
mod dpop;
mod jws;
mod keys;
mod memo;
mod one_store;
mod shared;
mod signed;
