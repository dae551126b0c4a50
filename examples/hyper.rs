//! `BearerAuthLayer` on a plain hyper 1.x server, without axum.
//!
//! The layer wraps a `tower::service_fn` handler; `hyper_util` adapts the tower service to
//! hyper. The handler finds the authenticated `Principal` in the request's extensions.
//!
//! Run it (no feature needed; `PORT` defaults to 3001):
//!
//! ```text
//! cargo run --example hyper
//! ```
//!
//! It prints a random demo token; then:
//!
//! ```text
//! curl -i -H "Authorization: Bearer <token>" http://127.0.0.1:3001/   # 200 {"subject":"demo-user",...}
//! curl -i http://127.0.0.1:3001/                                      # 401, WWW-Authenticate: Bearer realm="hyper-example"
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_bearer::middleware::ResponseBody;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes, TokenFormat};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The tower service hyper serves: the layer in front of [`handler`], over a store holding
/// `token`.
pub fn service(
    token: &str,
) -> Result<
    impl tower::Service<
        Request<Incoming>,
        Response = Response<ResponseBody<Full<Bytes>>>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static,
    BoxError,
> {
    let store = MemoryTokenStore::new();
    store.insert(token, Principal::builder("demo-user").scopes(Scopes::parse("profile:read")).build())?;
    Ok(ServiceBuilder::new().layer(BearerAuthLayer::new(store).realm("hyper-example")).service_fn(handler))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse()?,
        Err(_) => 3001,
    };

    let token = TokenFormat::new("demo_").generate().expose_secret().to_owned();
    let service = service(&token)?;

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    println!("token: {token}");
    println!("curl -i -H \"Authorization: Bearer {token}\" http://{addr}/   # 200");
    println!("curl -i http://{addr}/   # 401");

    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let connection = Builder::new(TokioExecutor::new());
            if let Err(e) = connection.serve_connection(TokioIo::new(stream), service).await {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// Runs only for authenticated requests: the layer answered every other one.
async fn handler(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let principal = req.extensions().get::<Principal>().expect("BearerAuthLayer inserts the Principal");
    let body = serde_json::json!({
        "subject": principal.subject(),
        "token_id": principal.token_id().map(|id| id.as_str()),
        "scopes": principal.scopes().iter().collect::<Vec<_>>(),
        "path": req.uri().path(),
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(response)
}
