//! A JWKS served over real HTTP, whose key set a test changes and whose fetches it counts:
//! for `JwtStore` and for clients registered with a `jwks_uri`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tower::service_fn;
use tower_bearer_test_support::serve;

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
