//! Request bodies: JSON only, under a size limit, parsed into a typed request whose errors
//! name the field at fault.

use axum::body::Body;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `body` as a `T`: 415 unless it is JSON, 413 over `limit` bytes, 400 naming the field for
/// anything else wrong. An empty body is `{}` (every field of a request is optional).
pub(crate) async fn json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = Limited::new(body, limit).collect().await.map_err(|_| ApiError::TooLarge(limit))?.to_bytes();
    if bytes.is_empty() {
        return parse(b"{}");
    }
    let json = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json")
                || (v.len() > 5 && v[v.len() - 5..].eq_ignore_ascii_case("+json"))
        });
    if !json {
        return Err(ApiError::NotJson);
    }
    parse(&bytes)
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde's messages name unknown and missing fields themselves; the path names the field
        // of a wrong value.
        ApiError::Invalid(if inner.is_syntax() || inner.is_eof() || matches!(path.as_str(), "." | "?" | "") {
            format!("invalid JSON: {inner}")
        } else {
            format!("invalid `{path}`: {inner}")
        })
    })
}
