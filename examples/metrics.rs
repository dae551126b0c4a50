//! Metrics for Prometheus: an API behind `BearerAuthLayer` (feature `metrics`), and `/metrics`
//! beside it, for Prometheus to scrape.
//!
//! ```text
//! cargo run --example metrics --features metrics
//! ```
//!
//! It prints a demo token and the curl lines to try; `/metrics` then shows
//! `tower_bearer_requests_total` by outcome. Set `PORT` to listen elsewhere (`PORT=0` picks a
//! free port).
//!
//! The library records through the `metrics` facade and installs nothing: the application
//! picks the exporter and installs it once, at start-up, as `main` does here.

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_bearer::stores::InsertError;
use tower_bearer::{BearerAuthLayer, MemoryTokenStore, Principal, TokenFormat};

/// The demo: its router and the token it prints.
pub struct Demo {
    pub app: Router,
    pub token: String,
}

/// An API with one demo token, and `/metrics` rendering what `prometheus` recorded.
pub fn demo(prometheus: PrometheusHandle) -> Result<Demo, InsertError> {
    let store = MemoryTokenStore::new();
    let token = TokenFormat::new("demo_").generate().expose_secret().to_owned();
    store.insert(&token, Principal::builder("user_42").token_name("demo").build())?;

    let api = Router::new()
        .route("/v1/hello", get(|| async { "hello" }))
        .route_layer(BearerAuthLayer::new(store).realm("metrics"));
    // Outside the auth layer: Prometheus scrapes without a token. Keep the port private (or
    // put the route behind its own layer) if the numbers are not for everyone.
    let app = api.route("/metrics", get(move || std::future::ready(prometheus.render())));
    Ok(Demo { app, token })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prometheus = PrometheusBuilder::new().install_recorder()?;
    // The exporter's histograms keep samples until upkeep folds them in.
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let Demo { app, token } = demo(prometheus)?;
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("listening on {base}");
    println!("token: {token}");
    println!();
    println!("try:");
    println!("  curl -i -H 'Authorization: Bearer {token}' {base}/v1/hello   # 200");
    println!("  curl -i -H 'Authorization: Bearer wrong' {base}/v1/hello     # 401, counted unknown");
    println!("  curl {base}/metrics");
    axum::serve(listener, app).await?;
    Ok(())
}
