//! `LeakedTokenEndpoint`: one contract run on the memory store, SQLite and PostgreSQL (signed
//! reports revoke live tokens and answer GitHub's feedback; forged, malformed and oversized
//! ones change nothing; a failed store answers 503), the scanner keys, and
//! `TokenFormat::regex` checked with a real regex engine.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey as _, LineEnding};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_bearer::{MemoryTokenStore, NewToken, TokenFormat, TokenManager};
use tower_bearer_manage::{LeakReport, LeakedTokenEndpoint, ScannerKeyError, ScannerKeys};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{is_active, is_revoked, state, temp_dir};

/// A running cluster, or return from the test (the support module already said why, or failed
/// the test in CI).
macro_rules! cluster {
    () => {
        match PgCluster::start() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

const KEY_ID: &str = "c0ffee5ca11ab1e";
const TOKEN_TYPE: &str = "acme_api_token";
const URL: &str = "https://github.com/octo/app/blob/4b3e/config/.env";

/// The scanner's side: a P-256 key of its own, signing reports as GitHub does.
struct Scanner {
    key: SigningKey,
    id: &'static str,
}

impl Scanner {
    fn new(seed: u8, id: &'static str) -> Self {
        Scanner { key: SigningKey::from_slice(&[seed; 32]).unwrap(), id }
    }

    fn github() -> Self {
        Scanner::new(7, KEY_ID)
    }

    fn pem(&self) -> String {
        self.key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()
    }

    fn keys(&self) -> ScannerKeys {
        ScannerKeys::from_pem(self.id, &self.pem()).unwrap()
    }

    /// `Github-Public-Key-Signature`: base64 of the DER signature over `body`.
    fn sign(&self, body: &[u8]) -> String {
        let signature: Signature = self.key.sign(body);
        STANDARD.encode(signature.to_der().as_bytes())
    }

    /// A report as GitHub sends it: `body`, signed.
    fn report(&self, body: impl Into<Vec<u8>>) -> Request<Body> {
        let body = body.into();
        let signature = self.sign(&body);
        unsigned(body)
            .header("github-public-key-identifier", self.id)
            .header("github-public-key-signature", signature)
    }
}

/// One more header on a built request (appended: a repeated name gives two values).
trait WithHeader {
    fn header(self, name: &str, value: impl AsRef<str>) -> Self;
}

impl WithHeader for Request<Body> {
    fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value.as_ref()).unwrap(),
        );
        self
    }
}

fn unsigned(body: impl Into<Vec<u8>>) -> Request<Body> {
    Request::post("/github/secret-scanning")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body.into()))
        .unwrap()
}

/// The body GitHub sends for these tokens.
fn matches(tokens: &[&str]) -> String {
    let found: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"token": t, "type": TOKEN_TYPE, "url": URL, "source": "content"}))
        .collect();
    serde_json::to_string(&found).unwrap()
}

/// The status, headers and JSON body of the endpoint's answer (the body also as text).
async fn send<S: TokenManager + Clone>(
    endpoint: &LeakedTokenEndpoint<S>,
    req: Request<Body>,
) -> (StatusCode, HeaderMap, Value, String) {
    let res = endpoint.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let json = serde_json::from_str(&text).unwrap();
    (parts.status, parts.headers, json, text)
}

async fn status<S: TokenManager + Clone>(
    endpoint: &LeakedTokenEndpoint<S>,
    req: Request<Body>,
) -> StatusCode {
    send(endpoint, req).await.0
}

type Leaks = Arc<Mutex<Vec<LeakReport>>>;

fn recorder() -> (Leaks, impl Fn(&LeakReport) + Send + Sync + 'static) {
    let leaks = Leaks::default();
    let sink = leaks.clone();
    (leaks, move |leak: &LeakReport| sink.lock().unwrap().push(leak.clone()))
}

/// The endpoint's contract on one store.
async fn leak_contract<S: TokenManager + Clone>(store: S) {
    let github = Scanner::github();
    let (leaks, hook) = recorder();
    let endpoint = LeakedTokenEndpoint::new(store.clone(), github.keys()).on_leak(hook);
    let live = store.issue(NewToken::for_subject("alice").organization("acme")).await.unwrap();
    let live_secret = live.secret().expose_secret();
    let revoked = store.issue(NewToken::for_subject("bob")).await.unwrap();
    assert!(store.revoke(revoked.id()).await.unwrap());
    let revoked_secret = revoked.secret().expose_secret();
    let bystander = store.issue(NewToken::for_subject("carol")).await.unwrap();
    let unknown = TokenFormat::default().generate();
    let unknown_secret = unknown.expose_secret();
    let body = matches(&[live_secret, revoked_secret, unknown_secret]);

    // Every rejection leaves the store as it was and tells the hook nothing.
    let rejections: Vec<(&str, Request<Body>, StatusCode)> = vec![
        (
            "tampered body",
            {
                let mut req = github.report(body.clone());
                *req.body_mut() = Body::from(body.replace("content", "commit"));
                req
            },
            StatusCode::UNAUTHORIZED,
        ),
        (
            "body signed by another key under our key id",
            Scanner::new(9, KEY_ID).report(body.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        ("unknown key id", Scanner::new(7, "rotated-away").report(body.clone()), StatusCode::UNAUTHORIZED),
        ("no headers", unsigned(body.clone()), StatusCode::UNAUTHORIZED),
        (
            "no signature",
            unsigned(body.clone()).header("github-public-key-identifier", KEY_ID),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "no key id",
            unsigned(body.clone()).header("github-public-key-signature", github.sign(body.as_bytes())),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "signature not base64",
            unsigned(body.clone())
                .header("github-public-key-identifier", KEY_ID)
                .header("github-public-key-signature", "not base64!"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "signature not DER",
            unsigned(body.clone())
                .header("github-public-key-identifier", KEY_ID)
                .header("github-public-key-signature", STANDARD.encode([0x30, 0x01, 0x00])),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "two signatures",
            github.report(body.clone()).header("github-public-key-signature", github.sign(b"[]")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "GET",
            Request::get("/github/secret-scanning").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "form body",
            {
                let mut req = github.report(body.clone());
                req.headers_mut().insert(CONTENT_TYPE, "application/x-www-form-urlencoded".parse().unwrap());
                req
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("not JSON", github.report("token=abc"), StatusCode::BAD_REQUEST),
        (
            "an object",
            github.report(json!({"token": live_secret, "type": TOKEN_TYPE}).to_string()),
            StatusCode::BAD_REQUEST,
        ),
        ("no type", github.report(json!([{"token": live_secret}]).to_string()), StatusCode::BAD_REQUEST),
        (
            "token not a string",
            github.report(json!([{"token": 42, "type": TOKEN_TYPE}]).to_string()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "over 1 MiB",
            github.report(format!("{body}{}", " ".repeat(1024 * 1024 + 1 - body.len()))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (case, req, expected) in rejections {
        let (status, headers, error, text) = send(&endpoint, req).await;
        assert_eq!(status, expected, "{case}");
        assert!(error["error"].is_string() && error["error_description"].is_string(), "{case}: {text}");
        assert!(!text.contains(live_secret), "{case}: a token in an error");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(headers[ALLOW], "POST");
        }
    }
    let capped = endpoint.clone().max_matches(2);
    assert_eq!(status(&capped, github.report(body.clone())).await, StatusCode::PAYLOAD_TOO_LARGE);
    let small = endpoint.clone().max_body_bytes(64);
    assert_eq!(status(&small, github.report(body.clone())).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(is_active(&state(&store, live_secret).await), "a rejected report revoked a token");
    assert!(leaks.lock().unwrap().is_empty());

    // The report: the live token revoked, the revoked one found, the unknown one not ours.
    let (status, headers, feedback, _) = send(&endpoint, github.report(body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[CONTENT_TYPE], "application/json");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    let expected = json!([
        {"token_raw": live_secret, "token_type": TOKEN_TYPE, "label": "true_positive"},
        {"token_raw": revoked_secret, "token_type": TOKEN_TYPE, "label": "true_positive"},
        {"token_raw": unknown_secret, "token_type": TOKEN_TYPE, "label": "false_positive"},
    ]);
    assert_eq!(feedback, expected);
    assert!(is_revoked(&state(&store, live_secret).await));
    assert!(is_revoked(&state(&store, revoked_secret).await));
    assert!(is_active(&state(&store, bystander.secret().expose_secret()).await));
    {
        let leaks = leaks.lock().unwrap();
        assert_eq!(leaks.len(), 2, "{leaks:?}");
        assert_eq!(leaks[0].token_id.as_ref(), Some(live.id()));
        assert_eq!(leaks[0].subject, "alice");
        assert_eq!(leaks[0].organization.as_deref(), Some("acme"));
        assert_eq!(leaks[0].url.as_deref(), Some(URL));
        assert_eq!(leaks[0].source.as_deref(), Some("content"));
        assert!(leaks[0].revoked);
        assert_eq!(leaks[1].token_id.as_ref(), Some(revoked.id()));
        assert!(!leaks[1].revoked, "an already revoked token is not revoked again");
        assert!(!format!("{leaks:?}").contains(live_secret));
    }

    // GitHub retries (a lost answer, say): the same feedback, nothing revoked twice.
    let (status, _, again, _) = send(&endpoint, github.report(body)).await;
    assert_eq!((status, again), (StatusCode::OK, expected));
    assert!(leaks.lock().unwrap()[2..].iter().all(|leak| !leak.revoked));

    // An empty report, and GitHub's minimal match (no url, no source) as it documents it.
    let (status, _, empty, _) = send(&endpoint, github.report("[]")).await;
    assert_eq!((status, empty), (StatusCode::OK, json!([])));
    let minimal =
        json!([{"token": bystander.secret().expose_secret(), "type": TOKEN_TYPE, "url": ""}]).to_string();
    let (status, _, feedback, _) = send(&endpoint, github.report(minimal)).await;
    assert_eq!((status, &feedback[0]["label"]), (StatusCode::OK, &json!("true_positive")));
    let last = leaks.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.url, last.source, last.revoked), (None, None, true));
}

/// The store can no longer answer: 503, no feedback, nothing reported.
async fn unavailable_store_is_503<S: TokenManager + Clone>(store: S, live_secret: &str) {
    let github = Scanner::github();
    let (leaks, hook) = recorder();
    let endpoint = LeakedTokenEndpoint::new(store, github.keys()).on_leak(hook);
    let (status, _, error, text) = send(&endpoint, github.report(matches(&[live_secret]))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error["error"], "temporarily_unavailable");
    assert!(!text.contains(live_secret));
    assert!(leaks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn memory_store_revokes_reported_tokens() {
    leak_contract(MemoryTokenStore::new()).await;
}

#[tokio::test]
async fn sqlite_store_revokes_reported_tokens_and_fails_closed() {
    let dir = temp_dir();
    let store = SqlTokenStore::builder().open_sqlite(dir.path().join("leaks.db")).await.unwrap();
    leak_contract(store.clone()).await;
    let live = store.issue(NewToken::for_subject("dave")).await.unwrap();
    store.close().await;
    unavailable_store_is_503(store, live.secret().expose_secret()).await;
}

#[tokio::test]
async fn postgres_store_revokes_reported_tokens_and_fails_closed() {
    let cluster = cluster!();
    let store = SqlTokenStore::open(&cluster.url()).await.unwrap();
    leak_contract(store.clone()).await;
    let live = store.issue(NewToken::for_subject("dave")).await.unwrap();
    store.close().await;
    unavailable_store_is_503(store, live.secret().expose_secret()).await;
}

#[tokio::test]
async fn high_s_signatures_verify() {
    // Go's ECDSA (GitHub's signer) does not normalise `s`: both encodings must pass.
    let github = Scanner::github();
    let store = MemoryTokenStore::new();
    let endpoint = LeakedTokenEndpoint::new(store, github.keys());
    let body = matches(&["tok_not_ours"]);
    let low: Signature = github.key.sign(body.as_bytes());
    let low = low.normalize_s();
    let high = Signature::from_scalars(low.r().to_bytes(), (-*low.s()).to_bytes()).unwrap();
    assert_ne!(low, high);
    for signature in [low, high] {
        let req = unsigned(body.clone())
            .header("github-public-key-identifier", KEY_ID)
            .header("github-public-key-signature", STANDARD.encode(signature.to_der().as_bytes()));
        assert_eq!(status(&endpoint, req).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn content_type_may_be_absent_or_carry_parameters() {
    let github = Scanner::github();
    let endpoint = LeakedTokenEndpoint::new(MemoryTokenStore::new(), github.keys());
    let mut absent = github.report("[]");
    absent.headers_mut().remove(CONTENT_TYPE);
    assert_eq!(status(&endpoint, absent).await, StatusCode::OK);
    let mut charset = github.report("[]");
    charset.headers_mut().insert(CONTENT_TYPE, "Application/JSON; charset=utf-8".parse().unwrap());
    assert_eq!(status(&endpoint, charset).await, StatusCode::OK);
}

#[tokio::test]
async fn mounts_in_an_axum_router() {
    let github = Scanner::github();
    let store = MemoryTokenStore::new();
    let live = store.issue(NewToken::for_subject("alice")).await.unwrap();
    let app = Router::new()
        .route_service("/github/secret-scanning", LeakedTokenEndpoint::new(store.clone(), github.keys()));
    let res = app.clone().oneshot(github.report(matches(&[live.secret().expose_secret()]))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(is_revoked(&state(&store, live.secret().expose_secret()).await));
    let get = Request::get("/github/secret-scanning").body(Body::empty()).unwrap();
    let res = app.oneshot(get).await.unwrap();
    assert_eq!(
        (res.status(), &res.headers()[ALLOW]),
        (StatusCode::METHOD_NOT_ALLOWED, &"POST".parse().unwrap())
    );
}

#[test]
fn keys_load_from_githubs_document() {
    let (current, previous) = (Scanner::new(1, "k-current"), Scanner::new(2, "k-previous"));
    let document = json!({"public_keys": [
        {"key_identifier": current.id, "key": current.pem(), "is_current": true},
        {"key_identifier": previous.id, "key": previous.pem(), "is_current": false},
    ]})
    .to_string();
    let keys = ScannerKeys::from_github_json(&document).unwrap();
    assert_eq!(keys.identifiers().collect::<Vec<_>>(), ["k-current", "k-previous"]);
    assert_eq!(format!("{keys:?}"), r#"ScannerKeys { identifiers: ["k-current", "k-previous"] }"#);
    let more = keys.with_pem("k-extra", &Scanner::new(3, "k-extra").pem()).unwrap();
    assert_eq!(more.len(), 3);

    assert_eq!(ScannerKeys::from_github_json("[]").unwrap_err(), ScannerKeyError::Document);
    assert_eq!(ScannerKeys::from_github_json(r#"{"public_keys":[]}"#).unwrap_err(), ScannerKeyError::NoKeys);
    let not_a_key = json!({"public_keys": [{"key_identifier": "k", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}]});
    assert_eq!(
        ScannerKeys::from_github_json(&not_a_key.to_string()).unwrap_err(),
        ScannerKeyError::Key { identifier: "k".into() }
    );
    let twice = json!({"public_keys": [
        {"key_identifier": "k", "key": current.pem()},
        {"key_identifier": "k", "key": previous.pem()},
    ]});
    assert_eq!(
        ScannerKeys::from_github_json(&twice.to_string()).unwrap_err(),
        ScannerKeyError::DuplicateIdentifier { identifier: "k".into() }
    );
}

#[test]
fn regex_finds_tokens_of_its_format_only() {
    let format = TokenFormat::new("tok_live_");
    let pattern = regex::Regex::new(&format.regex()).unwrap();
    let find = |text: &str| pattern.find_iter(text).map(|m| m.as_str().to_owned()).collect::<Vec<_>>();
    for _ in 0..100 {
        let token = format.generate();
        let token = token.expose_secret();
        assert_eq!(find(token), [token]);
        // Found where tokens get pasted: assignments, quotes, URLs, JSON, line ends.
        for text in [
            format!("API_KEY={token}\n"),
            format!("curl -H 'Authorization: Bearer {token}' https://api.example.com"),
            format!(r#"{{"key":"{token}"}}"#),
            format!("https://api.example.com/v1?key={token}&x=1"),
            format!("see {token}."),
            format!("{token}-old"),
        ] {
            assert_eq!(find(&text), [token], "{text}");
        }
        // Not a token of this format: part of a longer word, too short, too long.
        for text in [
            format!("x{token}"),
            format!("{token}x"),
            format!("_{token}"),
            format!("{token}_backup"),
            token[..token.len() - 1].to_owned(),
            format!("{token}0"),
        ] {
            assert!(find(&text).is_empty(), "{text}");
        }
        // A token of another prefix is not matched, not even its tail.
        let other = TokenFormat::new("tok_test_").generate();
        assert!(find(other.expose_secret()).is_empty());
    }
    // Two tokens in one text are two matches.
    let (a, b) = (format.generate(), format.generate());
    assert_eq!(find(&format!("{} {}", a.expose_secret(), b.expose_secret())).len(), 2);
}

#[test]
fn endpoint_debug_shows_its_configuration() {
    let endpoint = LeakedTokenEndpoint::new(MemoryTokenStore::new(), Scanner::github().keys())
        .max_matches(10)
        .on_leak(|_| {});
    let debug = format!("{endpoint:?}");
    assert!(
        debug.contains(KEY_ID) && debug.contains("max_matches: 10") && debug.contains("on_leak: true"),
        "{debug}"
    );
}
