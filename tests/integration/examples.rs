//! The examples, in process: each example's own setup code (compiled into this binary from
//! `examples/`), served on a loopback port and driven over real HTTP. The quickstart also runs
//! once as the binary a newcomer starts, and `static_keys` as a process with keys in its
//! environment (a test cannot set this process's environment safely).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use tower_bearer::{Clock, MemoryTokenStore};

use crate::client::{Reply, Served, send};
use crate::example_process::Example;

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/callback.rs"]
mod callback;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/dpop.rs"]
mod dpop;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/hyper.rs"]
mod hyper_example;
#[cfg(feature = "metrics")]
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/metrics.rs"]
mod metrics_example;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/oauth_client_credentials.rs"]
mod oauth_client_credentials;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/scopes.rs"]
mod scopes;
#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/static_keys.rs"]
mod static_keys;

async fn get(url: &str, token: Option<&str>) -> Reply {
    send(Method::GET, url, token, None).await
}

const MISSING_TOKEN_BODY: &str =
    r#"{"error":"unauthorized","error_description":"a bearer token is required"}"#;
const INVALID_TOKEN_BODY: &str =
    r#"{"error":"invalid_token","error_description":"the access token is invalid"}"#;

#[tokio::test]
async fn quickstart_example() {
    let quickstart::Demo { app, full, profile_only } = quickstart::demo().unwrap();
    let ex = Served::start(app).await;

    let me = get(&ex.url("/v1/me"), Some(&full)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    let body = me.json();
    assert_eq!(body["user"], "user_42");
    assert_eq!(body["organization"], "acme");
    assert_eq!(body["token_name"], "demo: full access");
    assert_eq!(body["scopes"], json!(["invoices:read", "profile:read"]));

    let missing = get(&ex.url("/v1/me"), None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge(), Some(r#"Bearer realm="quickstart""#));
    assert_eq!(missing.body, MISSING_TOKEN_BODY);

    let forbidden = get(&ex.url("/v1/invoices"), Some(&profile_only)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.challenge(),
        Some(
            r#"Bearer realm="quickstart", error="insufficient_scope", error_description="the access token lacks the required scope", scope="invoices:read""#
        )
    );
    assert_eq!(get(&ex.url("/v1/invoices"), Some(&full)).await.status, StatusCode::OK);
    assert_eq!(get(&ex.url("/nowhere"), None).await.status, StatusCode::NOT_FOUND);
}

/// The binary a newcomer runs: it starts, prints its tokens, and serves them.
#[tokio::test]
async fn quickstart_binary_smoke_run() {
    let mut ex = Example::start("quickstart");
    let full = ex.line_after("token: ");
    let me = get(&ex.url("/v1/me"), Some(&full)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["user"], "user_42");
    assert_eq!(get(&ex.url("/v1/me"), None).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hyper_example() {
    let token = tower_bearer::TokenFormat::new("demo_").generate().expose_secret().to_owned();
    let service = hyper_example::service(&token).unwrap();
    let (addr, task) = tower_bearer_test_support::serve(service).await;
    let base = format!("http://{addr}");
    let url = |path: &str| format!("{base}{path}");

    let ok = get(&url("/anything"), Some(&token)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.headers["content-type"], "application/json");
    let body = ok.json();
    assert_eq!(body["subject"], "demo-user");
    assert_eq!(body["path"], "/anything");
    assert_eq!(body["scopes"], json!(["profile:read"]));
    assert!(body["token_id"].as_str().unwrap().starts_with("tid_"));
    assert!(!ok.body.contains(&token), "the token must not be echoed");

    let missing = get(&url("/"), None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge(), Some(r#"Bearer realm="hyper-example""#));
    assert_eq!(missing.body, MISSING_TOKEN_BODY);

    let wrong = get(&url("/"), Some("not-the-token")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, INVALID_TOKEN_BODY);
    task.abort();
}

#[tokio::test]
async fn callback_example() {
    let token = tower_bearer::TokenFormat::new("demo_").generate().expose_secret().to_owned();
    let ex =
        Served::start(callback::app(&token, false, |line| panic!("no store failure expected: {line}"))).await;
    let url = ex.url("/v1/me");

    let ok = get(&url, Some(&token)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let body = ok.json();
    assert_eq!(body["user"], "user_42");
    assert_eq!(body["scopes"], "profile");
    assert!(body["token_id"].as_str().unwrap().starts_with("tid_"));

    let missing = get(&url, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge(), Some(r#"Bearer realm="callback-example""#));

    let wrong = get(&url, Some("not-the-token")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, INVALID_TOKEN_BODY);

    // route_layer: unknown paths are 404, not 401.
    assert_eq!(get(&ex.url("/nope"), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn callback_example_fails_closed_during_an_outage() {
    let token = tower_bearer::TokenFormat::new("demo_").generate().expose_secret().to_owned();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = log.clone();
    let ex = Served::start(callback::app(&token, true, move |line| sink.lock().unwrap().push(line))).await;
    let url = ex.url("/v1/me");

    let down = get(&url, Some(&token)).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.challenge(), None);
    assert_eq!(
        down.body,
        r#"{"error":"temporarily_unavailable","error_description":"authentication is temporarily unavailable"}"#
    );

    // No token means no lookup, so the outage does not matter.
    assert_eq!(get(&url, None).await.status, StatusCode::UNAUTHORIZED);

    // The database error reached the server's log (the hook runs before the answer is sent),
    // not the client.
    let logged = log.lock().unwrap().join("\n");
    assert!(logged.contains("simulated outage"), "store error not logged: {logged}");
    assert!(!down.body.contains("simulated"));

    // Two more failures open the circuit: the next request is answered without a query.
    for _ in 0..3 {
        assert_eq!(get(&url, Some(&token)).await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let logged = log.lock().unwrap().clone();
    assert_eq!(logged.len(), 4, "{logged:?}");
    assert!(logged[..3].iter().all(|line| line.contains("simulated outage")), "{logged:?}");
    assert!(logged[3].contains("circuit open"), "{logged:?}");
}

#[tokio::test]
async fn scopes_example() {
    let scopes::Demo { app, reader, writer } = scopes::demo().unwrap();
    let ex = Served::start(app).await;
    let url = ex.url("/v1/invoices");

    let list = get(&url, Some(&reader)).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.json()["requested_by"], "reader");

    let forbidden = send(Method::POST, &url, Some(&reader), None).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(
        forbidden.challenge(),
        Some(
            r#"Bearer realm="invoices", error="insufficient_scope", error_description="the access token lacks the required scope", scope="invoices:write""#
        )
    );
    assert_eq!(
        forbidden.body,
        r#"{"error":"insufficient_scope","error_description":"the access token lacks the required scope"}"#
    );

    let created = send(Method::POST, &url, Some(&writer), None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.json(), json!({ "id": "inv_2", "created_by": "writer" }));
    assert_eq!(get(&url, Some(&writer)).await.status, StatusCode::OK);

    let missing = get(&url, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.challenge(), Some(r#"Bearer realm="invoices""#));
    assert_eq!(send(Method::POST, &url, None, None).await.status, StatusCode::UNAUTHORIZED);
}

/// Checks `{"status":401,"message":"Unauthorized","timestamp":N}` exactly, N close to now.
fn assert_status_message_timestamp(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let millis = reply
        .body
        .strip_prefix(r#"{"status":401,"message":"Unauthorized","timestamp":"#)
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("unexpected body {:?}", reply.body));
    assert!(millis.bytes().all(|b| b.is_ascii_digit()), "{:?}", reply.body);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let millis: u128 = millis.parse().unwrap();
    assert!(now.abs_diff(millis) < 60_000, "timestamp {millis} is not close to {now}");
}

#[tokio::test]
async fn static_keys_example_reads_keys_from_the_environment() {
    let (alice, bob) = ("alice-static-key-0123456789", "bob-static-key-9876543210");
    let mut ex = Example::launch("static_keys")
        .env_remove_prefixed("API_KEY_")
        .envs(&[("API_KEY_ALICE", alice), ("API_KEY_BOB", bob)])
        .start();
    let url = ex.url("/v2/me");

    let ok = get(&url, Some(alice)).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json(), json!({ "user": "alice", "token_id": "key_alice" }));
    assert_eq!(get(&url, Some(bob)).await.json(), json!({ "user": "bob", "token_id": "key_bob" }));

    let missing = get(&url, None).await;
    assert_status_message_timestamp(&missing);
    assert_eq!(missing.challenge(), Some(r#"Bearer realm="static-keys""#));
    assert_status_message_timestamp(&get(&url, Some("not-a-key")).await);

    // Keys from the environment are never printed.
    let printed = ex.printed_so_far();
    assert!(printed.iter().any(|l| l == "loaded key for alice from API_KEY_ALICE"), "{printed:?}");
    assert!(!printed.iter().any(|l| l.contains(alice) || l.contains(bob)), "{printed:?}");
}

#[tokio::test]
async fn static_keys_example_generates_demo_keys() {
    let store = MemoryTokenStore::new();
    let keys = static_keys::demo_keys(&store);
    let [(_, alice), (_, bob)] = &keys[..] else { panic!("{keys:?}") };
    let ex = Served::start(static_keys::app(store)).await;
    let url = ex.url("/v2/me");

    assert_eq!(
        get(&url, Some(alice.as_str())).await.json(),
        json!({ "user": "alice", "token_id": "key_alice" })
    );
    assert_eq!(get(&url, Some(bob.as_str())).await.json(), json!({ "user": "bob", "token_id": "key_bob" }));
    assert_status_message_timestamp(&get(&url, None).await);
}

#[tokio::test]
async fn oauth_client_credentials_example() {
    let clock = Clock::manual(SystemTime::now());
    let (app, client) = oauth_client_credentials::demo(Duration::from_secs(2), clock.clone()).await.unwrap();
    let ex = Served::start(app).await;
    let (id, secret) = (client.client_id.clone(), client.client_secret.expose_secret().to_owned());
    let token_url = ex.url("/oauth/token");
    let basic = |id: &str, secret: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")))
    };
    let post = |body: &'static str, auth: String| {
        let url = token_url.clone();
        async move {
            let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
            let req = Request::post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", auth)
                .body(Full::from(body))
                .unwrap();
            let response = client.request(req).await.expect("request");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            Reply {
                status: parts.status,
                headers: parts.headers,
                body: String::from_utf8(body.to_vec()).unwrap(),
            }
        }
    };

    let granted = post("grant_type=client_credentials", basic(&id, &secret)).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.headers["cache-control"], "no-store");
    let body = granted.json();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 2);
    assert_eq!(body["scope"], "reports:read");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let reports = get(&ex.url("/v1/reports"), Some(&token)).await;
    assert_eq!(reports.status, StatusCode::OK, "{}", reports.body);
    assert_eq!(reports.json()["client"], json!(id));

    let too_much = post("grant_type=client_credentials&scope=admin", basic(&id, &secret)).await;
    assert_eq!(too_much.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_much.json()["error"], "invalid_scope");

    let wrong = post("grant_type=client_credentials", basic(&id, "wrong")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body,
        r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#
    );
    assert_eq!(wrong.challenge(), Some(r#"Basic realm="reports", charset="UTF-8""#));

    // The token's two seconds pass on the endpoint's and the layer's clock.
    clock.advance(Duration::from_millis(2100));
    let expired = get(&ex.url("/v1/reports"), Some(&token)).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.challenge(),
        Some(
            r#"Bearer realm="reports", error="invalid_token", error_description="the access token expired""#
        )
    );
}

#[tokio::test]
async fn dpop_example() {
    use tower_bearer_jwt::SigningKey;
    let (app, client) = dpop::demo().await.unwrap();
    let ex = Served::start(app).await;
    let basic = {
        use base64::Engine as _;
        let pair = format!("{}:{}", client.client_id, client.client_secret.expose_secret());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    };
    let key = SigningKey::ed25519_generate("test-client").unwrap();
    let token_url = ex.url("/oauth/token");
    let request = Request::post(&token_url)
        .header("authorization", &basic)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("dpop", key.dpop_proof("POST", &token_url, None, None).unwrap())
        .body(Full::from("grant_type=client_credentials"))
        .unwrap();
    let issued = tower_bearer_test_support::send(request).await;
    let body: serde_json::Value = serde_json::from_slice(issued.body()).unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    let token = body["access_token"].as_str().unwrap();

    let api = ex.url("/v1/reports");
    let with_proof = Request::get(&api)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.dpop_proof("GET", &api, Some(token), None).unwrap())
        .body(Full::default())
        .unwrap();
    let reports = tower_bearer_test_support::send(with_proof).await;
    assert_eq!(reports.status(), StatusCode::OK);
    let reports: serde_json::Value = serde_json::from_slice(reports.body()).unwrap();
    assert_eq!(reports["bound_to"].as_str(), key.thumbprint().as_deref());
    let alone = get(&api, Some(token)).await;
    assert_eq!(alone.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        alone.json()["error_description"],
        "this resource takes only DPoP-bound access tokens, each with a DPoP proof"
    );
    let metadata = get(&ex.url("/.well-known/oauth-protected-resource"), None).await;
    assert_eq!(metadata.json()["dpop_bound_access_tokens_required"], true);

    // The example's own client, as `cargo run --example dpop` runs it.
    let base = ex.url("");
    assert!(!dpop::run_client(&base, &basic).await.unwrap().is_empty());
}

/// The metrics example, scraped over HTTP as Prometheus would: the counters move with the
/// requests. The one test of this binary that installs a global recorder; other tests running
/// at the same time may add to the same counters, so the test asserts at least its own.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_example() {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().unwrap();
    let metrics_example::Demo { app, token } = metrics_example::demo(prometheus).unwrap();
    let ex = Served::start(app).await;
    let count = |scrape: &str, outcome: &str| -> u64 {
        let series = format!("tower_bearer_requests_total{{outcome=\"{outcome}\"}} ");
        scrape.lines().find_map(|line| line.strip_prefix(&series)).map_or(0, |n| n.trim().parse().unwrap())
    };
    let before = get(&ex.url("/metrics"), None).await;
    assert_eq!(before.status, StatusCode::OK);

    for _ in 0..3 {
        assert_eq!(get(&ex.url("/v1/hello"), Some(&token)).await.status, StatusCode::OK);
    }
    assert_eq!(get(&ex.url("/v1/hello"), Some("wrong")).await.status, StatusCode::UNAUTHORIZED);

    let after = get(&ex.url("/metrics"), None).await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(after.body.contains("# TYPE tower_bearer_requests_total counter"), "{}", after.body);
    assert!(count(&after.body, "admitted") >= count(&before.body, "admitted") + 3, "{}", after.body);
    assert!(count(&after.body, "unknown") > count(&before.body, "unknown"), "{}", after.body);
    // Not labelled by token: the example does not ask for it.
    assert!(!after.body.contains("token_id"), "{}", after.body);
}
