//! The layer in front of a plain hyper 1.x server (no axum), exercised over a real loopback
//! connection by a real HTTP client.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceBuilder;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal};

const TOKEN: &str = "hyper-token-0123456789";
const REALM: &str = "hyper-test";
/// Upper bound on every network step, so a broken server fails the test instead of hanging it.
const STEP: Duration = Duration::from_secs(10);

async fn handler(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let subject = req.extensions().get::<Principal>().map_or("NO PRINCIPAL", Principal::subject);
    Ok(Response::new(Full::from(format!("welcome {subject}"))))
}

/// A running server and the means to stop it.
struct Server {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start() -> Server {
        let store = MemoryTokenStore::new();
        store.insert(TOKEN, Principal::builder("hyper-user").build()).unwrap();
        let service =
            ServiceBuilder::new().layer(BearerAuthLayer::new(store).realm(REALM)).service_fn(handler);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let graceful = GracefulShutdown::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let conn = builder
                            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()))
                            .into_owned();
                        let conn = graceful.watch(conn);
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                    _ = &mut stopped => break,
                }
            }
            drop(listener);
            graceful.shutdown().await;
        });
        Server { addr, stop, task }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting, closes the connections gracefully and waits (bounded) for it.
    async fn shutdown(self) {
        let _ = self.stop.send(());
        bounded(self.task).await.expect("server task panicked");
    }
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(STEP, future).await.expect("timed out")
}

fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn fetch(
    client: &Client<HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> (Response<()>, String) {
    let response = bounded(client.request(req)).await.expect("request failed");
    let (parts, body) = response.into_parts();
    let bytes = bounded(body.collect()).await.expect("body failed").to_bytes();
    (Response::from_parts(parts, ()), String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn valid_token_is_served_with_the_handlers_body() {
    let server = Server::start().await;
    let req = Request::get(server.url("/data"))
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Full::default())
        .unwrap();

    let (response, body) = fetch(&client(), req).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body, "welcome hyper-user");
    server.shutdown().await;
}

#[tokio::test]
async fn missing_token_is_401_with_challenge_and_json_body() {
    let server = Server::start().await;
    let req = Request::get(server.url("/data")).body(Full::default()).unwrap();

    let (response, body) = fetch(&client(), req).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()[WWW_AUTHENTICATE], format!(r#"Bearer realm="{REALM}""#));
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(json["error"], "unauthorized");
    assert!(json["error_description"].is_string(), "{json}");
    server.shutdown().await;
}

#[tokio::test]
async fn two_authorization_lines_are_400_invalid_request() {
    let server = Server::start().await;
    let req = Request::get(server.url("/data"))
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Full::default())
        .unwrap();
    assert_eq!(req.headers().get_all(AUTHORIZATION).iter().count(), 2, "the client sends two lines");

    let (response, body) = fetch(&client(), req).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains(r#"error="invalid_request""#), "{challenge}");
    assert!(!body.contains(TOKEN), "the token is never echoed: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(json["error"], "invalid_request");
    server.shutdown().await;
}

#[tokio::test]
async fn one_connection_serves_accepted_and_rejected_requests_in_turn() {
    let server = Server::start().await;
    let client = client();
    for round in 0..3 {
        let ok = Request::get(server.url("/data"))
            .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Full::default())
            .unwrap();
        let (response, body) = fetch(&client, ok).await;
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        assert_eq!(body, "welcome hyper-user");

        let bad = Request::get(server.url("/data"))
            .header(AUTHORIZATION, "Bearer wrong-token")
            .body(Full::default())
            .unwrap();
        let (response, _) = fetch(&client, bad).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "round {round}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_the_server_listening() {
    let server = Server::start().await;
    let addr = server.addr;
    let req = Request::get(server.url("/data")).body(Full::default()).unwrap();
    let (response, _) = fetch(&client(), req).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    server.shutdown().await;
    assert!(bounded(tokio::net::TcpStream::connect(addr)).await.is_err(), "nothing listens any more");
}
