//! An introspection answer from the network is untrusted input: any bytes parse to an answer
//! or an error, never a panic (`IntrospectionStore` fails closed on the error). The same
//! property runs on stable as a proptest in `crates/tower-bearer-oauth/src/introspected.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = tower_bearer_oauth::fuzzing::introspection_answer(body);
});
