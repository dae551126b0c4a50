//! A real HTTP client for the example tests, and a loopback server for an example's router.

/// An HTTP answer, body as text.
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// The `WWW-Authenticate` value, if any.
    pub fn challenge(&self) -> Option<&str> {
        self.headers.get("www-authenticate").map(|v| v.to_str().unwrap())
    }
}

/// One request over a fresh HTTP/1.1 client; `token` goes into `Authorization: Bearer`,
/// `body` is `(content type, body)`.
pub async fn send(method: http::Method, url: &str, token: Option<&str>, body: Option<(&str, &str)>) -> Reply {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = match body {
        Some((content_type, body)) => {
            request = request.header("content-type", content_type);
            Full::from(body.to_owned())
        }
        None => Full::default(),
    };
    let response = client.request(request.body(body).unwrap()).await.expect("request");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("body").to_bytes();
    Reply { status: parts.status, headers: parts.headers, body: String::from_utf8(body.to_vec()).unwrap() }
}

/// An example's router served on `127.0.0.1:0`, stopped when dropped.
pub struct Served {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub async fn start(app: axum::Router) -> Self {
        let (addr, task) = tower_bearer_test_support::serve(app).await;
        Served { base: format!("http://{addr}"), task }
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}
