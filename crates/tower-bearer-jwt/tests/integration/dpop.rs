//! DPoP (RFC 9449) through the layer over real HTTP: proofs made by an independent
//! implementation (`jsonwebtoken`, its signatures and its RFC 7638 thumbprints), each check of
//! §4.3 refused on its own, the binding rule, nonces, a shared replay cache, and the client
//! side of this crate ([`SigningKey::dpop_proof`]) accepted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::Digest as _;
use tower_bearer::store::{Answer, ReplayCache};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, NewToken, Principal, StoreError, TokenManager};
use tower_bearer_jwt::{DpopVerifier, SigningKey};
use tower_bearer_test_support::{Body, send, serve};

const KEY_A: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIMVmnotMDcfmN4rSdYVA22uTyfb1I/c6LNGvCSO1KvAQ
-----END PRIVATE KEY-----";
const KEY_B: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIAG5yGBWQlsVi6XhGSidXciyZMCoBzO45y7tb+Rk7Fgy
-----END PRIVATE KEY-----";
const KEY_P256: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWyv/J1Exn3FZ4wkQ
ag8y8KajCK+dRty2VqU3Vu0y5YChRANCAATQixdHLhq0i8HsC+ySvMlYqTG85Hnr
YMeGZCgsTcSaNMiz8t6/wtQ5piNhLuSkpJ2g0tNUpqrI9wUBz5AtQ8Ft
-----END PRIVATE KEY-----";

/// A client key of the independent implementation: signs proofs, names its thumbprint.
struct ClientKey {
    key: EncodingKey,
    alg: Algorithm,
    jwk: Value,
    jkt: String,
}

impl ClientKey {
    fn ed25519(pem: &str) -> Self {
        Self::new(EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(), Algorithm::EdDSA)
    }

    fn p256(pem: &str) -> Self {
        Self::new(EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), Algorithm::ES256)
    }

    fn new(key: EncodingKey, alg: Algorithm) -> Self {
        let public = Jwk::from_encoding_key(&key, alg).unwrap();
        let jkt = public.thumbprint(ThumbprintHash::SHA256).unwrap();
        let mut jwk = serde_json::to_value(&public).unwrap();
        jwk.as_object_mut().unwrap().retain(|k, _| ["kty", "crv", "x", "y"].contains(&k.as_str()));
        ClientKey { key, alg, jwk, jkt }
    }

    /// A proof with `header` and `claims` as given, signed with `alg`.
    fn sign_raw(&self, header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).unwrap();
        format!("{input}.{signature}")
    }

    fn header(&self) -> Value {
        let alg = if self.alg == Algorithm::EdDSA { "EdDSA" } else { "ES256" };
        json!({ "typ": "dpop+jwt", "alg": alg, "jwk": self.jwk })
    }

    /// A valid proof for `method` `url` presenting `token`, changed by `change` before signing.
    fn proof(
        &self,
        method: &str,
        url: &str,
        token: Option<&str>,
        change: impl FnOnce(&mut Value, &mut Value),
    ) -> String {
        let mut header = self.header();
        let mut claims = json!({ "jti": jti(), "htm": method, "htu": url, "iat": now() });
        if let Some(token) = token {
            claims["ath"] = json!(URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())));
        }
        change(&mut header, &mut claims);
        self.sign_raw(&header, &claims, self.alg, &self.key)
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn jti() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The API: `/v1/me` answers the subject, behind `layer`.
async fn api(layer: BearerAuthLayer<MemoryTokenStore>) -> (String, tokio::task::JoinHandle<()>) {
    let app =
        Router::new().route("/v1/me", get(|p: Principal| async move { p.subject().to_owned() })).layer(layer);
    let (addr, task) = serve(app).await;
    (format!("http://{addr}/v1/me"), task)
}

async fn call(method: &str, url: &str, authorization: &str, proofs: &[&str]) -> Response<Bytes> {
    let mut req = Request::builder().method(method).uri(url).header("authorization", authorization);
    for proof in proofs {
        req = req.header("dpop", *proof);
    }
    send(req.body(Body::default()).unwrap()).await
}

/// `(error, error_description)` of a refusal's body.
fn refusal(response: &Response<Bytes>) -> (String, String) {
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    (body["error"].as_str().unwrap().to_owned(), body["error_description"].as_str().unwrap().to_owned())
}

struct Setup {
    url: String,
    bound: String,
    unbound: String,
    a: ClientKey,
    _server: tokio::task::JoinHandle<()>,
}

async fn setup(verifier: DpopVerifier, required: bool) -> Setup {
    let a = ClientKey::ed25519(KEY_A);
    let store = MemoryTokenStore::new();
    let bound = store.issue(NewToken::for_subject("ada").confirmation(&a.jkt)).await.unwrap();
    let unbound = store.issue(NewToken::for_subject("bob")).await.unwrap();
    let layer = BearerAuthLayer::new(store).realm("api");
    let layer = if required { layer.require_dpop(verifier) } else { layer.dpop(verifier) };
    let (url, server) = api(layer).await;
    Setup {
        url,
        bound: bound.secret().expose_secret().to_owned(),
        unbound: unbound.secret().expose_secret().to_owned(),
        a,
        _server: server,
    }
}

#[tokio::test]
async fn a_bound_token_with_its_keys_proof_is_admitted_and_each_rule_refuses_on_its_own() {
    let s = setup(DpopVerifier::new(), false).await;
    let (url, token) = (s.url.as_str(), s.bound.as_str());
    let dpop = format!("DPoP {token}");

    let ok = call("GET", url, &dpop, &[&s.a.proof("GET", url, Some(token), |_, _| {})]).await;
    assert_eq!((ok.status(), &ok.body()[..]), (StatusCode::OK, &b"ada"[..]));

    let b = ClientKey::ed25519(KEY_B);
    let secret_key = EncodingKey::from_secret(&[7; 32]).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("wrong htm", s.a.proof("POST", url, Some(token), |_, _| {}), "the DPoP proof is for another HTTP method"),
        ("wrong htu", s.a.proof("GET", &url.replace("/v1/me", "/v1/other"), Some(token), |_, _| {}), "the DPoP proof is for another URI"),
        ("stale iat", s.a.proof("GET", url, Some(token), |_, c| c["iat"] = json!(now() - 300)), "the DPoP proof is too old or issued in the future"),
        ("future iat", s.a.proof("GET", url, Some(token), |_, c| c["iat"] = json!(now() + 60)), "the DPoP proof is too old or issued in the future"),
        ("wrong ath", s.a.proof("GET", url, Some("another-token"), |_, _| {}), "the DPoP proof is for another access token"),
        ("no ath", s.a.proof("GET", url, None, |_, _| {}), "the DPoP proof is for another access token"),
        ("wrong typ", s.a.proof("GET", url, Some(token), |h, _| h["typ"] = json!("JWT")), "the DPoP proof must be of type dpop+jwt"),
        ("no jti", s.a.proof("GET", url, Some(token), |_, c| { c.as_object_mut().unwrap().remove("jti"); }), "the DPoP proof is malformed"),
        // The key's public half is remembered from the proof above: still refused.
        ("private key in the header", s.a.proof("GET", url, Some(token), |h, _| h["jwk"]["d"] = json!("AAAA")), "the DPoP proof must carry a valid public key"),
        ("the key said to be for another algorithm", s.a.proof("GET", url, Some(token), |h, _| h["jwk"]["alg"] = json!("ES256")), "the DPoP proof must carry a valid public key"),
        ("no key in the header", s.a.proof("GET", url, Some(token), |h, _| { h.as_object_mut().unwrap().remove("jwk"); }), "the DPoP proof must carry a valid public key"),
        ("another key in the header than signed", s.a.proof("GET", url, Some(token), |h, _| h["jwk"] = b.jwk.clone()), "the DPoP proof's signature is invalid"),
        ("symmetric alg", s.a.sign_raw(
            &json!({ "typ": "dpop+jwt", "alg": "HS256", "jwk": { "kty": "oct", "k": URL_SAFE_NO_PAD.encode([7; 32]) } }),
            &json!({ "jti": jti(), "htm": "GET", "htu": url, "iat": now(), "ath": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(token.as_bytes())) }),
            Algorithm::HS256, &secret_key), "the DPoP proof's algorithm is not accepted"),
        ("alg none", format!("{}.{}.", URL_SAFE_NO_PAD.encode(json!({"typ":"dpop+jwt","alg":"none","jwk":s.a.jwk}).to_string()), URL_SAFE_NO_PAD.encode("{}")), "the DPoP proof's algorithm is not accepted"),
        ("not a JWS", "not-a-proof".to_owned(), "the DPoP proof is malformed"),
    ];
    for (case, proof, description) in cases {
        let response = call("GET", url, &dpop, &[&proof]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(refusal(&response), ("invalid_dpop_proof".to_owned(), description.to_owned()), "{case}");
        let challenges: Vec<_> = response.headers().get_all("www-authenticate").iter().collect();
        assert_eq!(challenges.len(), 2, "{case}");
        assert!(
            challenges[1]
                .to_str()
                .unwrap()
                .starts_with("DPoP realm=\"api\", algs=\"EdDSA ES256\", error=\"invalid_dpop_proof\""),
            "{case}"
        );
    }

    // A tampered signature.
    let proof = s.a.proof("GET", url, Some(token), |_, _| {});
    // The signature's first character changed: always another signature (its last characters
    // may be the ones a change would write, so that one is left alone).
    let (signed, signature) = proof.rsplit_once('.').unwrap();
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{signed}.{first}{}", &signature[1..]);
    let response = call("GET", url, &dpop, &[&tampered]).await;
    assert_eq!(refusal(&response).1, "the DPoP proof's signature is invalid");

    // The same proof twice: the second is a replay.
    let proof = s.a.proof("GET", url, Some(token), |_, _| {});
    assert_eq!(call("GET", url, &dpop, &[&proof]).await.status(), StatusCode::OK);
    let replayed = call("GET", url, &dpop, &[&proof]).await;
    assert_eq!(refusal(&replayed).1, "the DPoP proof was used before");

    // No proof, or two.
    assert_eq!(refusal(&call("GET", url, &dpop, &[]).await).1, "a DPoP proof is required");
    let (p1, p2) =
        (s.a.proof("GET", url, Some(token), |_, _| {}), s.a.proof("GET", url, Some(token), |_, _| {}));
    assert_eq!(
        refusal(&call("GET", url, &dpop, &[&p1, &p2]).await).1,
        "the request has more than one DPoP header"
    );
}

#[tokio::test]
async fn the_binding_holds_whatever_the_scheme() {
    let s = setup(DpopVerifier::new(), false).await;
    let url = s.url.as_str();
    // A copied bound token, alone, is useless.
    let stolen = call("GET", url, &format!("Bearer {}", s.bound), &[]).await;
    assert_eq!(stolen.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refusal(&stolen),
        ("invalid_token".into(), "the access token is bound to a key: present it with a DPoP proof".into())
    );
    // ... and with a proof of another key.
    let b = ClientKey::ed25519(KEY_B);
    let other =
        call("GET", url, &format!("DPoP {}", s.bound), &[&b.proof("GET", url, Some(&s.bound), |_, _| {})])
            .await;
    assert_eq!(refusal(&other).1, "the DPoP proof is not signed by the key the access token is bound to");
    // An unbound token goes as bearer, not as DPoP.
    assert_eq!(call("GET", url, &format!("Bearer {}", s.unbound), &[]).await.status(), StatusCode::OK);
    let as_dpop = call(
        "GET",
        url,
        &format!("DPoP {}", s.unbound),
        &[&s.a.proof("GET", url, Some(&s.unbound), |_, _| {})],
    )
    .await;
    assert_eq!(refusal(&as_dpop).1, "the access token is not bound to a key: present it as a bearer token");
    // A missing token: both challenges, bare.
    let bare = send(Request::get(url).body(Body::default()).unwrap()).await;
    let challenges: Vec<_> =
        bare.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(challenges, ["Bearer realm=\"api\"", "DPoP realm=\"api\", algs=\"EdDSA ES256\""]);

    // A layer without DPoP refuses bound tokens: it cannot check their proof.
    let store = MemoryTokenStore::new();
    let bound = store.issue(NewToken::for_subject("ada").confirmation(&s.a.jkt)).await.unwrap();
    let (plain, _server) = api(BearerAuthLayer::new(store)).await;
    let response = call("GET", &plain, &format!("Bearer {}", bound.secret().expose_secret()), &[]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let as_dpop = call("GET", &plain, &format!("DPoP {}", bound.secret().expose_secret()), &[]).await;
    assert_eq!(as_dpop.headers()["www-authenticate"], "Bearer", "another scheme: no credentials");
}

#[tokio::test]
async fn a_layer_requiring_dpop_takes_no_bearer_token() {
    let s = setup(DpopVerifier::new(), true).await;
    let url = s.url.as_str();
    let bearer = call("GET", url, &format!("Bearer {}", s.unbound), &[]).await;
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        refusal(&bearer),
        (
            "invalid_token".into(),
            "this resource takes only DPoP-bound access tokens, each with a DPoP proof".into()
        )
    );
    let challenges: Vec<_> = bearer.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(challenges.len(), 1);
    assert!(
        challenges[0]
            .to_str()
            .unwrap()
            .starts_with("DPoP realm=\"api\", algs=\"EdDSA ES256\", error=\"invalid_token\"")
    );
    let missing = send(Request::get(url).body(Body::default()).unwrap()).await;
    let challenges: Vec<_> = missing.headers().get_all("www-authenticate").iter().collect();
    assert_eq!(challenges, ["DPoP realm=\"api\", algs=\"EdDSA ES256\""]);
    let proof = s.a.proof("GET", url, Some(&s.bound), |_, _| {});
    assert_eq!(call("GET", url, &format!("DPoP {}", s.bound), &[&proof]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_server_nonce_is_asked_for_then_taken() {
    let verifier = DpopVerifier::builder().nonces(&[9; 32], Duration::from_secs(300)).build().unwrap();
    let s = setup(verifier, false).await;
    let (url, token) = (s.url.as_str(), s.bound.as_str());
    let dpop = format!("DPoP {token}");
    let first = call("GET", url, &dpop, &[&s.a.proof("GET", url, Some(token), |_, _| {})]).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refusal(&first).0, "use_dpop_nonce");
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let wrong =
        call("GET", url, &dpop, &[&s.a.proof("GET", url, Some(token), |_, c| c["nonce"] = json!("made-up"))])
            .await;
    assert_eq!(refusal(&wrong).0, "use_dpop_nonce");
    let with =
        call("GET", url, &dpop, &[&s.a.proof("GET", url, Some(token), |_, c| c["nonce"] = json!(nonce))])
            .await;
    assert_eq!(with.status(), StatusCode::OK);
}

#[tokio::test]
async fn proofs_of_this_crates_clients_and_p256_keys_are_taken_with_the_thumbprints_the_oracle_computes() {
    let ours = SigningKey::ed25519_pem("client", KEY_A).unwrap();
    let oracle = ClientKey::ed25519(KEY_A);
    assert_eq!(ours.thumbprint().as_deref(), Some(oracle.jkt.as_str()));
    let p256 = ClientKey::p256(KEY_P256);
    assert_eq!(
        SigningKey::es256_pem("c", KEY_P256).unwrap().thumbprint().as_deref(),
        Some(p256.jkt.as_str())
    );

    let s = setup(DpopVerifier::new(), false).await;
    let url = s.url.as_str();
    let proof = ours.dpop_proof("GET", url, Some(&s.bound), None).unwrap();
    assert_eq!(call("GET", url, &format!("DPoP {}", s.bound), &[&proof]).await.status(), StatusCode::OK);

    // A token bound to a P-256 key, with the oracle's ES256 proofs.
    let store = MemoryTokenStore::new();
    let bound = store.issue(NewToken::for_subject("cy").confirmation(&p256.jkt)).await.unwrap();
    let token = bound.secret().expose_secret();
    let (url, _server) = api(BearerAuthLayer::new(store).dpop(DpopVerifier::new())).await;
    let proof = p256.proof("GET", &url, Some(token), |_, _| {});
    let response = call("GET", &url, &format!("DPoP {token}"), &[&proof]).await;
    assert_eq!((response.status(), &response.body()[..]), (StatusCode::OK, &b"cy"[..]));
    // htu normalized: scheme and host case, default port, query ignored.
    let loose = url.replace("http://", "HTTP://").replace("/v1/me", "/v1/%6de?x=1");
    let proof = p256.proof("GET", &loose, Some(token), |_, _| {});
    assert_eq!(call("GET", &url, &format!("DPoP {token}"), &[&proof]).await.status(), StatusCode::OK);
}

/// A replay cache answering later, counting its calls: what a shared (SQL) cache looks like.
#[derive(Clone, Default)]
struct Shared {
    inner: Arc<MemoryTokenStore>,
    calls: Arc<Mutex<usize>>,
}

impl ReplayCache for Shared {
    fn first_use(&self, id: [u8; 32], until: SystemTime) -> Answer<Result<bool, StoreError>> {
        *self.calls.lock().unwrap() += 1;
        let inner = self.inner.clone();
        Answer::later(async move {
            tokio::task::yield_now().await;
            inner.first_use(id, until).await
        })
    }
}

#[tokio::test]
async fn a_shared_replay_cache_answering_later_refuses_a_replay_on_another_instance() {
    let shared = Shared::default();
    let a = ClientKey::ed25519(KEY_A);
    let store = Arc::new(MemoryTokenStore::new());
    let bound = store.issue(NewToken::for_subject("ada").confirmation(&a.jkt)).await.unwrap();
    let token = bound.secret().expose_secret();
    let instance = || {
        let verifier = DpopVerifier::builder()
            .replay_cache(shared.clone())
            .origin("https://api.example.com")
            .build()
            .unwrap();
        BearerAuthLayer::from_shared_store(store.clone()).dpop(verifier)
    };
    let (one, _s1) = api(instance()).await;
    let (two, _s2) = api(instance()).await;
    let proof = a.proof("GET", "https://api.example.com/v1/me", Some(token), |_, _| {});
    let dpop = format!("DPoP {token}");
    assert_eq!(call("GET", &one, &dpop, &[&proof]).await.status(), StatusCode::OK);
    let replayed = call("GET", &two, &dpop, &[&proof]).await;
    assert_eq!(refusal(&replayed).1, "the DPoP proof was used before");
    assert_eq!(*shared.calls.lock().unwrap(), 2);
    // With an origin set, the request's own address is not taken.
    let local = a.proof("GET", &one, Some(token), |_, _| {});
    assert_eq!(refusal(&call("GET", &one, &dpop, &[&local]).await).1, "the DPoP proof is for another URI");
}
