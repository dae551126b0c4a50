//! Helpers shared by the workspace's integration tests, defined once: a layer-wrapped echo
//! service, a generic management contract every store must pass, a throwaway PostgreSQL
//! cluster, and a loopback hyper server. Not published.
#![allow(missing_docs, missing_debug_implementations)]

pub mod child;
pub mod claims;
pub mod clients;
pub mod contract;
pub mod pg;
pub mod token_model;
pub mod usage;

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_bearer::middleware::ResponseBody;
use tower_bearer::{AuthError, BearerAuthLayer, PresentedToken, Principal, TokenState, TokenStore};

pub type Body = Full<Bytes>;

/// Serves `service` on `127.0.0.1:0` until the returned task is aborted.
pub async fn serve<S, B>(service: S) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>)
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<tower::BoxError>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let conn = builder
                .serve_connection(
                    hyper_util::rt::TokioIo::new(stream),
                    hyper_util::service::TowerToHyperService::new(service.clone()),
                )
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    });
    (addr, task)
}

/// Sends `req` (an absolute URI) over a fresh HTTP/1.1 connection: the answer, body collected.
pub async fn send(req: Request<Body>) -> Response<Bytes> {
    use http_body_util::BodyExt;
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let response = client.request(req).await.expect("request");
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.expect("body").to_bytes())
}

pub fn get(token: Option<&str>) -> Request<Body> {
    let mut req = Request::get("/v1/things");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Body::default()).unwrap()
}

/// The layer in front of a service answering with the principal's subject.
pub fn app<T: TokenStore>(
    layer: BearerAuthLayer<T>,
) -> impl Service<Request<Body>, Response = Response<ResponseBody<Body>>, Error = Infallible, Future: Send>
+ Clone
+ Send {
    ServiceBuilder::new().layer(layer).service(service_fn(|req: Request<Body>| async move {
        let who = req.extensions().get::<Principal>().map(|p| p.subject().to_owned()).unwrap_or_default();
        Ok::<_, Infallible>(Response::new(Body::from(who)))
    }))
}

pub async fn status<T: TokenStore>(layer: &BearerAuthLayer<T>, token: &str) -> StatusCode {
    app(layer.clone()).oneshot(get(Some(token))).await.unwrap().status()
}

/// The status and, for a rejection, the layer's reason.
pub async fn outcome<T: TokenStore>(
    layer: &BearerAuthLayer<T>,
    token: &str,
) -> (StatusCode, Option<AuthError>) {
    let res = app(layer.clone().rejection_extension(true)).oneshot(get(Some(token))).await.unwrap();
    (res.status(), res.extensions().get::<AuthError>().cloned())
}

/// What the store itself answers for `secret`.
pub async fn state<T: TokenStore>(store: &T, secret: &str) -> TokenState {
    store.lookup(&PresentedToken::new(secret)).await.expect("the store answers")
}

pub fn is_active(state: &TokenState) -> bool {
    matches!(state, TokenState::Active(_))
}

pub fn is_revoked(state: &TokenState) -> bool {
    matches!(state, TokenState::Revoked(_))
}

pub fn is_unknown(state: &TokenState) -> bool {
    matches!(state, TokenState::Unknown)
}

/// A fresh directory under the system temp dir, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("tower-bearer-test-").tempdir_in(std::env::temp_dir()).unwrap()
}

/// The output of a future that is ready on its first poll, such as every
/// [`TokenManager`](tower_bearer::TokenManager) call on the memory store: for code on plain
/// threads (race tests, proptest bodies) that has no runtime to `.await` on.
///
/// # Panics
///
/// If the future is not ready at once.
pub fn at_once<F: std::future::IntoFuture>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future.into_future());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the future was not ready at once"),
    }
}

/// The principal the store answers for `secret` (what a request with it would carry).
pub async fn principal_of<S: tower_bearer::TokenManager>(store: &S, secret: &str) -> Principal {
    match state(store, secret).await {
        TokenState::Active(p) => p,
        other => panic!("not active: {other:?}"),
    }
}

/// The status `layer` answers for `token`, and the reason of its refusal (`None` when admitted).
pub async fn reason<T: TokenStore>(
    layer: &BearerAuthLayer<T>,
    token: &str,
) -> (StatusCode, Option<&'static str>) {
    let (status, error) = outcome(layer, token).await;
    (status, error.as_ref().map(AuthError::reason))
}
