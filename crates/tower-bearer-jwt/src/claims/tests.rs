//! The claims reader against `serde_json`: what the reader returns, `serde_json` returns too,
//! and every token this crate signs is read without `serde_json`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde_json::{Value, json};
use tower_bearer::{Credits, Principal, RateLimit, TokenId, TokenInfo};

use super::{Claims, claims_of, read};

/// `serde_json`'s answer, the one the reader must not contradict.
fn by_serde(payload: &[u8]) -> Option<Claims<'_>> {
    serde_json::from_slice(payload).ok()
}

/// The reader returns nothing `serde_json` would not.
fn agrees(payload: &[u8]) -> Result<(), TestCaseError> {
    if let Some(read) = read::read(payload) {
        prop_assert_eq!(Some(read), by_serde(payload), "{}", String::from_utf8_lossy(payload));
    }
    Ok(())
}

/// Text with what JSON escapes (quotes, backslashes, controls), non-ASCII, and plain letters.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            1 => Just('"'),
            1 => Just('\\'),
            1 => Just('\n'),
            1 => Just('\u{1}'),
            1 => Just('é'),
            1 => Just('→'),
            1 => Just('/'),
            1 => Just(' '),
        ],
        0..12,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Any JSON value, a few levels deep.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((member_name(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Claim names this crate reads, names it does not, and near misses.
fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "organization",
            "token_kind", "token_name", "rate_limit", "credits", "cnf", "requests", "period_ms",
            "initial", "refill_amount", "refill_every_s", "jkt", "ISS", "is\\u0073",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
}

/// A claim's value of the right shape, mostly.
fn claim(name: &str) -> BoxedStrategy<Value> {
    let string =
        prop_oneof![4 => "[a-z:/.]{0,20}".prop_map(Value::String), 1 => text().prop_map(Value::String)];
    let number = prop_oneof![4 => (0u64..=253_402_300_799).prop_map(Value::from), 1 => any::<u64>().prop_map(Value::from)];
    let shaped = match name {
        "exp" | "nbf" | "iat" => number.boxed(),
        "aud" => prop_oneof![string.clone(), proptest::collection::vec(string, 0..3).prop_map(Value::Array)]
            .boxed(),
        "rate_limit" => (any::<u32>(), any::<u64>())
            .prop_map(|(requests, period_ms)| json!({ "requests": requests, "period_ms": period_ms }))
            .boxed(),
        "credits" => (any::<u64>(), proptest::option::of((any::<u64>(), any::<u64>())))
            .prop_map(|(initial, refill)| match refill {
                Some((amount, every)) => {
                    json!({ "initial": initial, "refill_amount": amount, "refill_every_s": every })
                }
                None => json!({ "initial": initial }),
            })
            .boxed(),
        "cnf" => string.prop_map(|jkt| json!({ "jkt": jkt })).boxed(),
        _ => string.boxed(),
    };
    prop_oneof![16 => shaped, 1 => value()].boxed()
}

/// A payload: claims in any order, some given twice, with unknown members, written compact or
/// with whitespace.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    let names = proptest::collection::vec(member_name(), 0..8);
    (names, any::<bool>()).prop_flat_map(|(mut names, pretty)| {
        for required in ["iss", "aud", "exp"] {
            names.push(required.to_owned());
        }
        let values: Vec<_> = names.iter().map(|n| claim(n)).collect();
        (Just(names), values, Just(pretty)).prop_map(|(names, values, pretty)| {
            let separator = if pretty { ",\n  " } else { "," };
            let members: Vec<String> = names
                .iter()
                .zip(&values)
                .map(|(n, v)| {
                    let v = if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) };
                    // The name as written, so that an escape in it stays one.
                    format!("\"{n}\"{}{}", if pretty { ": " } else { ":" }, v.expect("a Value serializes"))
                })
                .collect();
            format!("{{{}}}", members.join(separator)).into_bytes()
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_reader_never_contradicts_serde_json(payload in payload()) {
        agrees(&payload)?;
    }

    /// Payloads broken anywhere: a byte changed, removed or added.
    #[test]
    fn nor_on_payloads_broken_anywhere(
        payload in payload(),
        at in any::<prop::sample::Index>(),
        edit in 0u8..3,
        byte in prop_oneof![
            proptest::sample::select(b"{}[]\",:\\ 0123456789-.eE+tfnul\x00\x1f\xff".to_vec()),
            any::<u8>(),
        ],
    ) {
        let mut broken = payload;
        let i = at.index(broken.len() + 1);
        match edit {
            0 if i < broken.len() => broken[i] = byte,
            1 if i < broken.len() => { broken.remove(i); }
            _ => broken.insert(i, byte),
        }
        agrees(&broken)?;
    }

    /// Every token this crate signs is read without `serde_json`, to the same claims.
    #[test]
    fn the_reader_takes_every_token_this_crate_signs(
        subject in "[a-zA-Z0-9_@.:-]{1,24}",
        organization in proptest::option::of("[a-z0-9-]{1,12}"),
        kind in proptest::option::of("[a-z]{1,10}"),
        name in proptest::option::of("[A-Za-z0-9 ]{1,20}"),
        scopes in proptest::collection::vec("[a-z:]{1,12}", 0..4),
        audience in proptest::collection::vec("https://[a-z]{1,8}\\.example", 0..3),
        expires in 1u64..=253_402_300_799,
        limited in any::<bool>(),
        credits in proptest::option::of((1u64..1_000_000, proptest::option::of((1u64..1_000, 1u64..100_000)))),
        bound in any::<bool>(),
    ) {
        let mut grant = tower_bearer::Grant::new(subject)
            .with_expires_at(UNIX_EPOCH + Duration::from_secs(expires))
            .with_scopes(tower_bearer::Scopes::parse(&scopes.join(" ")));
        if let Some(org) = organization { grant = grant.with_organization(org); }
        if let Some(kind) = kind { grant = grant.with_kind(kind); }
        if !audience.is_empty() { grant = grant.with_audience(audience.iter().map(String::as_str)); }
        if limited { grant = grant.with_rate_limit(RateLimit::per_second(50).expect("a valid limit")); }
        if let Some((initial, refill)) = credits {
            let c = Credits::new(initial);
            grant = grant.with_credits(match refill {
                Some((amount, every)) => c.refilled(amount, Duration::from_secs(every)),
                None => c,
            });
        }
        if bound { grant = grant.with_confirmation("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"); }
        let mut principal = Principal::for_grant(grant).token_id("tid_abc");
        if let Some(name) = name { principal = principal.token_name(name); }
        let info = TokenInfo::new(TokenId::from("tid_abc"), principal.build(), SystemTime::now());
        let claims = claims_of(&info, "https://auth.example.com", "https://api.example.com").expect("an expiry");
        let payload = claims.to_string().into_bytes();
        let read = read::read(&payload);
        prop_assert!(read.is_some(), "declined: {}", claims);
        prop_assert_eq!(read, by_serde(&payload));
    }
}

#[test]
fn declines_what_it_does_not_read_and_serde_json_decides() {
    for payload in [
        // An escape: serde_json reads it, to an owned string.
        r#"{"iss":"a\/b","aud":"x","exp":1}"#,
        // A claim given twice: serde_json refuses it.
        r#"{"iss":"a","iss":"b","aud":"x","exp":1}"#,
        // Numbers that are not plain integers.
        r#"{"iss":"a","aud":"x","exp":1.5}"#,
        r#"{"iss":"a","aud":"x","exp":-1}"#,
        r#"{"iss":"a","aud":"x","exp":18446744073709551616}"#,
        r#"{"iss":"a","aud":"x","exp":1,"iat":1e3}"#,
        // A claim of the wrong type, a null where serde_json reads `None`.
        r#"{"iss":"a","aud":"x","exp":"1"}"#,
        r#"{"iss":"a","aud":"x","exp":1,"sub":null}"#,
        // A rate limit past `u32`, trailing bytes, deep nesting.
        r#"{"iss":"a","aud":"x","exp":1,"rate_limit":{"requests":4294967296,"period_ms":1}}"#,
        r#"{"iss":"a","aud":"x","exp":1} x"#,
        &format!(r#"{{"iss":"a","aud":"x","exp":1,"deep":{}1{}}}"#, "[".repeat(40), "]".repeat(40)),
    ] {
        assert!(read::read(payload.as_bytes()).is_none(), "{payload}");
        assert_eq!(Claims::parse(payload.as_bytes()), by_serde(payload.as_bytes()), "{payload}");
    }
}

#[test]
fn reads_compact_and_spaced_claims_alike() {
    let compact = br#"{"iss":"i","aud":["a","b"],"exp":7,"x":[{"y":null},true,false,0],"cnf":{"jkt":"k"}}"#;
    let spaced = b" {\n \"iss\" : \"i\" ,\"aud\":[ \"a\" , \"b\" ],\t\"exp\":7 ,\"x\":[ {\"y\": null}, true,false, 0 ] , \"cnf\":{ \"jkt\":\"k\" } }\r\n";
    let claims = read::read(compact).expect("read");
    assert_eq!(read::read(spaced), Some(claims));
    assert_eq!(read::read(compact), by_serde(compact));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The word-at-a-time scan ends a string's plain run where a byte-by-byte look at the
    /// table would, whatever the bytes (every value at every offset of a word, and tails).
    #[test]
    fn a_plain_run_ends_where_the_table_says(bytes in proptest::collection::vec(any::<u8>(), 0..40), plain in 0usize..40) {
        // Plain bytes in front, so that the end falls at every offset of a word.
        let mut text: Vec<u8> = (0..plain).map(|i| b'a' + (i % 26) as u8).collect();
        text.extend(&bytes);
        let expected = text.iter().position(|&b| read::ENDS_PLAIN_STRING[usize::from(b)]).unwrap_or(text.len());
        prop_assert_eq!(read::plain_run(&text), expected);
    }
}
