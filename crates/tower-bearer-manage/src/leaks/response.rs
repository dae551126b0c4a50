//! The endpoint's answers: the feedback array, and [`Rejection`]s as JSON errors.

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

/// Why a report was not processed. Each message is fixed text: nothing from the request
/// (least of all a token) reaches an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// 405: not `POST`.
    Method,
    /// 415: a declared content type other than JSON.
    MediaType,
    /// 401: no known key, or no signature over the body by it.
    Signature(&'static str),
    /// 413: the body, or the number of matches in it, is over the limit.
    TooLarge(&'static str),
    /// 400: the body could not be read, or is not an array of matches.
    Malformed(&'static str),
    /// 503: the store failed; the scanner retries.
    Unavailable,
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: &'static str,
}

impl Rejection {
    pub(super) fn into_response(self) -> Response<Full<Bytes>> {
        let (status, error, description) = match self {
            Rejection::Method => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use POST"),
            Rejection::MediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            ),
            Rejection::Signature(why) => (StatusCode::UNAUTHORIZED, "invalid_signature", why),
            Rejection::TooLarge(why) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large", why),
            Rejection::Malformed(why) => (StatusCode::BAD_REQUEST, "invalid_request", why),
            Rejection::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token store is unavailable; retry later",
            ),
        };
        let mut response = json_response(status, &ErrorBody { error, error_description: description });
        if self == Rejection::Method {
            response.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// `body` as a JSON response. `no-store`: the feedback echoes the reported tokens.
pub(super) fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Full<Bytes>> {
    // Serializing structs of strings into a Vec cannot fail.
    let body = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
