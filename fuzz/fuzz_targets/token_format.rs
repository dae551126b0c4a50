//! `TokenFormat::check` (prefix, length, base62 alphabet, CRC32 checksum) on arbitrary strings
//! and on mutations of well-formed tokens: never panics, and agrees exactly with the oracle in
//! `src/oracle.rs` (its own bitwise CRC-32 and base62 encoding).
//!
//! Random bytes almost never carry a valid checksum, so half the inputs start from a token the
//! oracle built (valid by construction) and change at most one byte of it: the fuzzer then
//! explores the accept path and the checksum's edge, not only the early refusals.
//!
//! ```text
//! cargo +nightly fuzz run token_format -- -max_total_time=300
//! ```
#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tower_bearer::TokenFormat;

static FORMATS: LazyLock<[TokenFormat; 3]> = LazyLock::new(|| {
    [
        TokenFormat::new("tok_live_"),
        TokenFormat::new("t"),
        TokenFormat::new("A_very_long_prefix_of_32_bytes__"),
    ]
});

#[derive(Arbitrary, Debug)]
enum Input {
    Raw(String),
    Mutated { format: u8, seed: [u8; 43], at: u8, byte: u8, mutate: bool },
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw(token) => {
            for format in FORMATS.iter() {
                oracle::check_format(format, &token);
            }
        }
        Input::Mutated { format, seed, at, byte, mutate } => {
            let format = &FORMATS[usize::from(format) % FORMATS.len()];
            let mut token = oracle::well_formed(format.prefix(), &seed).into_bytes();
            assert!(format.check(std::str::from_utf8(&token).unwrap()).is_ok(), "a well-formed token passes");
            if mutate {
                let i = usize::from(at) % token.len();
                token[i] = byte;
            }
            if let Ok(token) = String::from_utf8(token) {
                oracle::check_format(format, &token);
            }
        }
    }
});
