//! `PresentedToken::from_header` on arbitrary bytes: never panics, and agrees exactly (token, offset, error
//! kind, length limit) with the regular-expression oracle in `src/oracle.rs`.
//!
//! ```text
//! cargo +nightly fuzz run header_parser -- -max_total_time=300
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_bearer::PresentedToken;

fuzz_target!(|data: &[u8]| {
    // The whole input under the default limit...
    oracle::check_parser(data, PresentedToken::DEFAULT_MAX_LEN);
    // ...and, with the first byte as a small limit, the rest: so `TooLong`, and its boundary,
    // are reached by short inputs too.
    if let Some((&limit, rest)) = data.split_first() {
        oracle::check_parser(rest, usize::from(limit % 64));
    }
});
