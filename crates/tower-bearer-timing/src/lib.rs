//! Holds the timing-leak check of tower-bearer's token verification, `benches/timing.rs`:
//!
//! ```text
//! cargo bench -p tower-bearer-timing --bench timing -- --quick
//! ```
//!
//! Nothing to use here: the crate exists so that the check builds with tower-bearer alone.
