//! DPoP at the token endpoint and the resource together, over real HTTP (RFC 9449 §5, §7,
//! §8): a client with a key gets a bound token; the token alone, or with another key's proof,
//! is refused; nonces are asked for and handed out; the introspection answer and the metadata
//! say what the RFCs ask.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal};
use tower_bearer_jwt::{DpopVerifier, SigningKey};
use tower_bearer_oauth::{
    AuthorizationServerMetadata, ClientRegistry, MemoryClientRegistry, NewClient, ProtectedResourceMetadata,
    TokenEndpoint,
};
use tower_bearer_test_support::{send, serve};

const P256: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWyv/J1Exn3FZ4wkQ
ag8y8KajCK+dRty2VqU3Vu0y5YChRANCAATQixdHLhq0i8HsC+ySvMlYqTG85Hnr
YMeGZCgsTcSaNMiz8t6/wtQ5piNhLuSkpJ2g0tNUpqrI9wUBz5AtQ8Ft
-----END PRIVATE KEY-----";

struct Server {
    base: String,
    basic: String,
    _task: tokio::task::JoinHandle<()>,
}

async fn server(verifier: DpopVerifier) -> Server {
    let store = std::sync::Arc::new(MemoryTokenStore::new());
    let clients = std::sync::Arc::new(MemoryClientRegistry::new());
    let client = clients
        .register(NewClient::new("svc").client_id("svc").allowed_scopes(["reports:read"]))
        .await
        .unwrap();
    let endpoint = TokenEndpoint::builder_from_shared(clients, store.clone()).dpop(verifier.clone()).build();
    let introspection = endpoint.introspection();
    let api = Router::new()
        .route("/v1/me", get(|p: Principal| async move { p.subject().to_owned() }))
        .layer(BearerAuthLayer::from_shared_store(store).require_dpop(verifier));
    let app = Router::new()
        .route_service("/oauth/token", endpoint)
        .route_service("/oauth/introspect", introspection)
        .merge(api);
    let (addr, task) = serve(app).await;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("svc:{}", client.client_secret.expose_secret()));
    Server { base: format!("http://{addr}"), basic: format!("Basic {basic}"), _task: task }
}

impl Server {
    async fn token(&self, proof: Option<&str>) -> Response<Bytes> {
        self.token_with_proofs(proof.as_slice()).await
    }

    async fn token_with_proofs(&self, proofs: &[&str]) -> Response<Bytes> {
        let mut req = Request::post(format!("{}/oauth/token", self.base))
            .header("authorization", &self.basic)
            .header("content-type", "application/x-www-form-urlencoded");
        for proof in proofs {
            req = req.header("dpop", *proof);
        }
        send(req.body(Full::from("grant_type=client_credentials")).unwrap()).await
    }

    async fn me(&self, authorization: &str, proof: Option<&str>) -> Response<Bytes> {
        let mut req = Request::get(format!("{}/v1/me", self.base)).header("authorization", authorization);
        if let Some(proof) = proof {
            req = req.header("dpop", proof);
        }
        send(req.body(Full::default()).unwrap()).await
    }
}

fn json(response: &Response<Bytes>) -> Value {
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn a_token_issued_to_a_key_is_useless_without_that_key() {
    let s = server(DpopVerifier::new()).await;
    let key = SigningKey::ed25519_generate("client").unwrap();
    let token_url = format!("{}/oauth/token", s.base);

    let issued = s.token(Some(&key.dpop_proof("POST", &token_url, None, None).unwrap())).await;
    assert_eq!(issued.status(), StatusCode::OK);
    let body = json(&issued);
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap().to_owned();

    let me = format!("{}/v1/me", s.base);
    let proof = key.dpop_proof("GET", &me, Some(&token), None).unwrap();
    let ok = s.me(&format!("DPoP {token}"), Some(&proof)).await;
    assert_eq!((ok.status(), &ok.body()[..]), (StatusCode::OK, &b"svc"[..]));

    // The token alone, as a bearer token or with the DPoP scheme but no proof.
    assert_eq!(s.me(&format!("Bearer {token}"), None).await.status(), StatusCode::UNAUTHORIZED);
    let unproven = s.me(&format!("DPoP {token}"), None).await;
    assert_eq!(json(&unproven)["error"], "invalid_dpop_proof");
    // With another key's proof.
    let thief = SigningKey::ed25519_generate("thief").unwrap();
    let stolen = s
        .me(&format!("DPoP {token}"), Some(&thief.dpop_proof("GET", &me, Some(&token), None).unwrap()))
        .await;
    assert_eq!(json(&stolen)["error"], "invalid_token");

    // A proof for another URL, or an invalid one, gets no token: 400 invalid_dpop_proof.
    let wrong = s.token(Some(&key.dpop_proof("POST", &me, None, None).unwrap())).await;
    assert_eq!(
        (wrong.status(), json(&wrong)["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
    let with_ath = s.token(Some(&key.dpop_proof("POST", &token_url, Some("x"), None).unwrap())).await;
    assert_eq!(
        json(&with_ath)["error"],
        "invalid_dpop_proof",
        "no access token is presented to the token endpoint"
    );
    // Two proofs, even good ones: 400, no token (RFC 9449 §4.3: one `DPoP` header).
    let good = key.dpop_proof("POST", &token_url, None, None).unwrap();
    let two = s.token_with_proofs(&[&good, &key.dpop_proof("POST", &token_url, None, None).unwrap()]).await;
    assert_eq!(
        (two.status(), json(&two)["error"].as_str(), json(&two)["error_description"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("invalid_dpop_proof"),
            Some("the request has more than one DPoP header")
        )
    );
    // Without a proof: a bearer token, which this resource (DPoP required) refuses.
    let bearer = s.token(None).await;
    assert_eq!(json(&bearer)["token_type"], "bearer");
    let bearer_token = json(&bearer)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(s.me(&format!("Bearer {bearer_token}"), None).await.status(), StatusCode::UNAUTHORIZED);

    // Introspection says how the token is bound (RFC 9449 §6.2).
    let introspected = send(
        Request::post(format!("{}/oauth/introspect", s.base))
            .header("authorization", &s.basic)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::from(format!("token={token}")))
            .unwrap(),
    )
    .await;
    let introspected = json(&introspected);
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["cnf"]["jkt"].as_str(), key.thumbprint().as_deref());
}

#[tokio::test]
async fn the_token_endpoint_asks_for_its_nonce_and_hands_out_the_next() {
    let verifier = DpopVerifier::builder().nonces(&[3; 32], Duration::from_secs(300)).build().unwrap();
    let s = server(verifier).await;
    let key = SigningKey::es256_pem("client", P256).unwrap();
    let token_url = format!("{}/oauth/token", s.base);
    let first = s.token(Some(&key.dpop_proof("POST", &token_url, None, None).unwrap())).await;
    assert_eq!(
        (first.status(), json(&first)["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
    );
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let second = s.token(Some(&key.dpop_proof("POST", &token_url, None, Some(&nonce)).unwrap())).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert!(second.headers().contains_key("dpop-nonce"), "the next nonce comes with the token");
    let token = json(&second)["access_token"].as_str().unwrap().to_owned();
    // The resource wants the nonce too (one verifier, one nonce key).
    let me = format!("{}/v1/me", s.base);
    let bare =
        s.me(&format!("DPoP {token}"), Some(&key.dpop_proof("GET", &me, Some(&token), None).unwrap())).await;
    assert_eq!(
        (bare.status(), json(&bare)["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("use_dpop_nonce"))
    );
    let nonce = bare.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let ok = s
        .me(&format!("DPoP {token}"), Some(&key.dpop_proof("GET", &me, Some(&token), Some(&nonce)).unwrap()))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[test]
fn metadata_advertises_dpop() {
    let verifier = DpopVerifier::new();
    let server = AuthorizationServerMetadata::new("https://auth.example.com")
        .dpop_signing_alg_values_supported(verifier.algorithms().split(' '));
    assert_eq!(server.members()["dpop_signing_alg_values_supported"], serde_json::json!(["EdDSA", "ES256"]));
    let resource = ProtectedResourceMetadata::new("https://api.example.com")
        .dpop_signing_alg_values_supported(verifier.algorithms().split(' '))
        .dpop_bound_access_tokens_required(true);
    assert_eq!(resource.members()["dpop_bound_access_tokens_required"], true);
}
