//! The whole layer (`BearerAuthLayer` + `MemoryTokenStore` in front of a recording service) on
//! arbitrary header sets, methods, URIs and layer configurations: never panics, and the inner
//! service runs exactly when one valid, known token was presented once (see
//! `oracle::check_service` for every property checked).
//!
//! The input is structured (`arbitrary`) so that the fuzzer spends its time near the
//! interesting inputs: `Authorization` and `Cookie` lines, stored tokens, query parameters,
//! with raw bytes mixed in everywhere.
//!
//! ```text
//! cargo +nightly fuzz run service -- -max_total_time=300
//! ```
#![no_main]

use arbitrary::Arbitrary;
use http::header::{ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, COOKIE, ORIGIN, PROXY_AUTHORIZATION};
use http::{HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;
use oracle::{COOKIE_NAME, LayerConfig, QUERY_PARAM, ServiceCase, TOKENS};

#[derive(Arbitrary, Debug)]
struct Input {
    config: u8,
    method: MethodChoice,
    path: Vec<u8>,
    query: Vec<QueryPart>,
    headers: Vec<Header>,
}

#[derive(Arbitrary, Debug)]
enum MethodChoice {
    Get,
    Post,
    Options,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum QueryPart {
    Token(Token),
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Header {
    name: Name,
    value: Value,
}

#[derive(Arbitrary, Debug)]
enum Name {
    Authorization,
    Cookie,
    AccessControlRequestMethod,
    Origin,
    ProxyAuthorization,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Value {
    /// `<lead><scheme><separator><token><trail>`.
    Credentials {
        lead: Vec<u8>,
        scheme: Scheme,
        separator: Vec<u8>,
        token: Token,
        trail: Vec<u8>,
    },
    /// `a=b; tok=<token>; ...`
    Cookie {
        before: Vec<u8>,
        token: Token,
        after: Vec<u8>,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Scheme {
    Bearer,
    Lower,
    Upper,
    Basic,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Token {
    /// One of the store's tokens, as is.
    Stored(u8),
    /// One of the store's tokens with one byte replaced.
    Mutated {
        index: u8,
        at: u8,
        byte: u8,
    },
    /// One of the store's tokens with bytes appended.
    Extended {
        index: u8,
        extra: Vec<u8>,
    },
    Raw(Vec<u8>),
}

impl Token {
    fn bytes(&self) -> Vec<u8> {
        let stored = |i: &u8| TOKENS[usize::from(*i) % TOKENS.len()].0.as_bytes().to_vec();
        match self {
            Token::Stored(i) => stored(i),
            Token::Mutated { index, at, byte } => {
                let mut t = stored(index);
                let at = usize::from(*at) % t.len();
                t[at] = *byte;
                t
            }
            Token::Extended { index, extra } => [stored(index), extra.clone()].concat(),
            Token::Raw(bytes) => bytes.clone(),
        }
    }
}

fn header(h: &Header) -> Option<(HeaderName, HeaderValue)> {
    let name = match &h.name {
        Name::Authorization => AUTHORIZATION,
        Name::Cookie => COOKIE,
        Name::AccessControlRequestMethod => ACCESS_CONTROL_REQUEST_METHOD,
        Name::Origin => ORIGIN,
        Name::ProxyAuthorization => PROXY_AUTHORIZATION,
        Name::Raw(raw) => HeaderName::from_bytes(raw).ok()?,
    };
    let value = match &h.value {
        Value::Credentials { lead, scheme, separator, token, trail } => {
            let scheme: &[u8] = match scheme {
                Scheme::Bearer => b"Bearer",
                Scheme::Lower => b"bearer",
                Scheme::Upper => b"BEARER",
                Scheme::Basic => b"Basic",
                Scheme::Raw(raw) => raw,
            };
            let separator: &[u8] = if separator.is_empty() { b" " } else { separator };
            [lead.as_slice(), scheme, separator, &token.bytes(), trail].concat()
        }
        Value::Cookie { before, token, after } => {
            [before.as_slice(), COOKIE_NAME.as_bytes(), b"=", &token.bytes(), after].concat()
        }
        Value::Raw(raw) => raw.clone(),
    };
    // Values `http` cannot hold (NUL, CR, LF, ...) never reach a service; hyper refuses them.
    Some((name, HeaderValue::from_bytes(&value).ok()?))
}

fn uri(path: &[u8], query: &[QueryPart]) -> Uri {
    let mut s = b"/".to_vec();
    s.extend_from_slice(path);
    if !query.is_empty() {
        s.push(b'?');
        for (i, part) in query.iter().enumerate() {
            if i > 0 {
                s.push(b'&');
            }
            match part {
                QueryPart::Token(token) => {
                    s.extend_from_slice(QUERY_PARAM.as_bytes());
                    s.push(b'=');
                    s.extend_from_slice(&token.bytes());
                }
                QueryPart::Other(raw) => s.extend_from_slice(raw),
            }
        }
    }
    Uri::try_from(s).unwrap_or_else(|_| Uri::from_static("/"))
}

fuzz_target!(|input: Input| {
    if input.headers.len() > 64 {
        return;
    }
    let method = match &input.method {
        MethodChoice::Get => Method::GET,
        MethodChoice::Post => Method::POST,
        MethodChoice::Options => Method::OPTIONS,
        MethodChoice::Raw(raw) => Method::from_bytes(raw).unwrap_or(Method::GET),
    };
    let case = ServiceCase {
        config: LayerConfig::from_bits(input.config),
        method,
        uri: uri(&input.path, &input.query),
        headers: input.headers.iter().filter_map(header).collect(),
    };
    let _ = oracle::check_service(&case);
});
