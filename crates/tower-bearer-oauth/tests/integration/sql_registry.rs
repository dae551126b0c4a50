//! `SqlClientRegistry` (feature `sql`): the registry contract the memory registry passes, on
//! a SQLite file and on PostgreSQL; and the token endpoint issuing from it into the same
//! database, the tokens then checked by the layer and introspected.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_bearer::{BearerAuthLayer, Clock};
use tower_bearer_oauth::{ClientRegistry, NewClient, SqlClientRegistry, TokenEndpoint};
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;
use tower_bearer_test_support::{clients, status, temp_dir};

fn clock() -> Clock {
    Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000))
}

#[tokio::test]
async fn the_registry_contract_holds_on_sqlite_and_survives_reopening() {
    let dir = temp_dir();
    let clock = clock();
    let path = dir.path().join("clients.db");
    let store = SqlTokenStore::builder().clock(clock.clone()).open_sqlite(&path).await.unwrap();
    clients::contract(&SqlClientRegistry::new(&store), &clock).await;
    let kept =
        SqlClientRegistry::new(&store).register(NewClient::new("svc").client_id("kept")).await.unwrap();
    store.close().await;
    let store = SqlTokenStore::builder().clock(clock.clone()).open_sqlite(&path).await.unwrap();
    let record = SqlClientRegistry::new(&store).find("kept").await.unwrap().expect("persisted");
    assert!(record.verify(kept.client_secret.expose_secret(), clock.now()));
    let on_disk = std::fs::read(&path).unwrap();
    let secret = kept.client_secret.expose_secret().as_bytes();
    assert!(!on_disk.windows(secret.len()).any(|w| w == secret), "no secret on disk");
}

#[tokio::test]
async fn the_registry_contract_holds_on_postgres() {
    let Some(cluster) = PgCluster::start() else { return };
    let clock = clock();
    let store = SqlTokenStore::builder().clock(clock.clone()).open(&cluster.url()).await.unwrap();
    clients::contract(&SqlClientRegistry::new(&store), &clock).await;
}

#[tokio::test]
async fn the_token_endpoint_issues_from_the_sql_registry_into_the_sql_store() {
    let store = SqlTokenStore::open("sqlite::memory:").await.unwrap();
    let registry = SqlClientRegistry::new(&store);
    let client = registry
        .register(NewClient::new("svc-reports").client_id("reports").allowed_scopes(["reports:read"]))
        .await
        .unwrap();
    let endpoint = TokenEndpoint::new(registry, store.clone());
    let credentials = format!("reports:{}", client.client_secret.expose_secret());
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
    let req = Request::post("/oauth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &basic)
        .body(Full::new(Bytes::from_static(b"grant_type=client_credentials")))
        .unwrap();
    let res = endpoint.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let token = body["access_token"].as_str().unwrap();
    let layer = BearerAuthLayer::new(store.clone()).require_scopes(["reports:read"]);
    assert_eq!(status(&layer, token).await, StatusCode::OK);

    let req = Request::post("/oauth/introspect")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &basic)
        .body(Full::new(Bytes::from(format!("token={token}"))))
        .unwrap();
    let res = endpoint.introspection().oneshot(req).await.unwrap();
    let answer: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(
        (&answer["active"], &answer["client_id"]),
        (&serde_json::json!(true), &serde_json::json!("reports"))
    );
}
