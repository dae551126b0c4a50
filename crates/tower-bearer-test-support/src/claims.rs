//! Values for a JWT claim, for the property tests of every verifier in the workspace (this
//! workspace's signed tokens, outside issuers' JWTs): one generator, so that both see the same
//! hostile values.

use proptest::prelude::*;
use serde_json::{Value, json};

/// The latest NumericDate the verifiers accept: 9999-12-31T23:59:59Z.
pub const LATEST: u64 = 253_402_300_799;

/// Values for a claim: absent, times around `now` (whole and quarter seconds), the extremes of
/// every JSON number, every other JSON type, short strings, and the test's own `extra` values
/// (its audience, say).
pub fn claim_value(now: u64, extra: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    let mut odd = vec![
        json!(0),
        json!(-0.0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e300),
        json!(-1e300),
        json!(LATEST),
        json!(LATEST + 1),
        json!(LATEST as f64 + 1.0),
        json!(f64::MIN_POSITIVE),
        Value::Null,
        json!(true),
        json!([now]),
        json!({ "exp": now }),
    ];
    odd.extend(extra);
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    prop_oneof![
        Just(None),
        (-100_i64..100).prop_map(move |d| Some(json!(now + d))),
        (-400_i64..400).prop_map(move |q| Some(json!(now as f64 + q as f64 / 4.0))),
        any::<u64>().prop_map(|n| Some(json!(n))),
        any::<i64>().prop_map(|n| Some(json!(n))),
        any::<f64>().prop_map(|f| Some(json!(f))), // NaN and infinities become null
        prop::sample::select(odd).prop_map(Some),
        "\\PC{0,12}".prop_map(|s| Some(json!(s))),
    ]
}
