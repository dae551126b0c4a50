//! The server of the end-to-end benchmark (`scripts/e2e-bench.sh`): plain hyper 1.x over
//! HTTP/1.1 on a single-threaded tokio runtime, no axum, with or without `BearerAuthLayer`.
//!
//! ```text
//! cargo run --release --example bench_server -- --layer     # with the layer
//! cargo run --release --example bench_server                # the same server without it
//! ```
//!
//! Options (or the environment variables in brackets):
//! - `--layer` [`BENCH_LAYER=1`]: put `BearerAuthLayer` (`MemoryTokenStore`) in front of the
//!   handler;
//! - `--port N` [`PORT`]: the port on 127.0.0.1, default 0 (any free port);
//! - `--tokens N` [`BENCH_TOKENS`]: tokens in the store, default 100 000.
//!
//! Once listening it prints one line, `ready <port> <token>`, where `<token>` is a token the
//! store knows. Both variants answer `200 ok` to a request that carries it; the handler is the
//! same and does not look at the principal, so the difference between the two is the layer.
//! It listens on 127.0.0.1 only and runs until killed.

use std::convert::Infallible;
use std::io::Write as _;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder, service_fn};
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, Scopes};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Options {
    layer: bool,
    port: u16,
    tokens: usize,
}

fn options() -> Result<Options, BoxError> {
    let mut options = Options {
        layer: std::env::var("BENCH_LAYER").is_ok_and(|v| v == "1"),
        port: std::env::var("PORT").ok().map(|p| p.parse()).transpose()?.unwrap_or(0),
        tokens: std::env::var("BENCH_TOKENS").ok().map(|n| n.parse()).transpose()?.unwrap_or(100_000),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--layer" => options.layer = true,
            "--no-layer" => options.layer = false,
            "--port" => options.port = args.next().ok_or("--port needs a value")?.parse()?,
            "--tokens" => options.tokens = args.next().ok_or("--tokens needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(options)
}

/// Answers every request it is given: the same work with and without the layer.
async fn handler(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

/// A deterministic token per index (`tok_` + 48 hex digits), like the other benches'.
fn token(i: u64) -> String {
    let mix = |x: u64| x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ 0xa076_1d64_78bd_642f;
    format!("tok_{:016x}{:016x}{:016x}", mix(i), mix((i + 1) << 32), mix(i ^ 0x55))
}

fn main() -> Result<(), BoxError> {
    let options = options()?;
    // One thread: the server's CPU time per request is then simple to read and to compare, and
    // the load generator gets the other core.
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let port = listener.local_addr()?.port();
        let presented = token(0);
        if options.layer {
            let store = MemoryTokenStore::new();
            let scopes = Scopes::from(["invoices:read", "profile"]);
            for i in 0..options.tokens.max(1) as u64 {
                let principal = Principal::builder(format!("user_{i:06}"))
                    .token_id(format!("tid_{i:024x}"))
                    .scopes(scopes.clone())
                    .build();
                store.insert(&token(i), principal)?;
            }
            let service = ServiceBuilder::new().layer(BearerAuthLayer::new(store)).service_fn(handler);
            ready(port, &presented)?;
            serve(listener, service).await
        } else {
            ready(port, &presented)?;
            serve(listener, service_fn(handler)).await
        }
    })
}

fn ready(port: u16, token: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {port} {token}")?;
    out.flush()
}

async fn serve<S, B>(listener: TcpListener, service: S) -> Result<(), BoxError>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let service = TowerToHyperService::new(service.clone());
        tokio::task::spawn(async move {
            // Connection errors (a load generator closing mid-request) are expected at the end
            // of a run and not interesting here.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
