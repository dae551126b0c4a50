//! A JWKS served over real HTTP, whose key set a test changes and whose fetches it counts:
//! for `JwtStore` and for clients registered with a `jwks_uri`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::service_fn;
use tower_bearer_test_support::serve;

/// The two Ed25519 keys of the tests, private halves in PEM.
pub(crate) const K1: &str = include_str!("../fixtures/ed25519-k1.pem");
pub(crate) const K2: &str = include_str!("../fixtures/ed25519-k2.pem");
/// Their public halves, as JWK `x` (base64url of the 32-byte key).
pub(crate) const K1_X: &str = "I4e_9eQ3m3yDF2whlKuhdksZPQyLACrqIXh9gSK6Reg";
pub(crate) const K2_X: &str = "3jweFCQJbHFguvSIu8dbfrUYmOcexd1Wek2FeV_-VL0";

/// The public Ed25519 key `x` as a JWK under `kid`.
pub(crate) fn jwk(kid: &str, x: &str) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig" })
}

/// An access token (`typ: at+jwt`, RFC 9068 §2.1) of `claims`, signed by the Ed25519 key
/// `pem` under `kid`.
pub(crate) fn sign(kid: &str, pem: &str, claims: &Value) -> String {
    sign_typ(kid, pem, Some("at+jwt"), claims)
}

/// [`sign`] with the header's `typ` given (or none).
pub(crate) fn sign_typ(kid: &str, pem: &str, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.into());
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()).unwrap()
}

/// A JWKS server whose key set the test changes, counting fetches.
pub(crate) struct JwksServer {
    pub(crate) url: String,
    pub(crate) set: Arc<Mutex<Value>>,
    pub(crate) fetches: Arc<AtomicUsize>,
    pub(crate) down: Arc<Mutex<bool>>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn jwks_server(keys: Vec<Value>) -> JwksServer {
    let set = Arc::new(Mutex::new(json!({ "keys": keys })));
    let fetches = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(Mutex::new(false));
    let (s, f, d) = (set.clone(), fetches.clone(), down.clone());
    let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
        f.fetch_add(1, Ordering::SeqCst);
        let (body, down) = (s.lock().unwrap().to_string(), *d.lock().unwrap());
        async move {
            let mut res = Response::new(Full::new(Bytes::from(body)));
            if down {
                *res.status_mut() = StatusCode::BAD_GATEWAY;
            }
            Ok::<_, Infallible>(res)
        }
    });
    let (addr, task) = serve(service).await;
    JwksServer { url: format!("http://{addr}/jwks.json"), set, fetches, down, task }
}
