//! Rejections for gRPC clients: gRPC carries its status in `grpc-status`, not in the HTTP
//! status, and reads any body as length-prefixed messages, so a JSON body would reach the
//! client as a protocol error instead of the reason it was refused.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::outcome::error::AuthError;

/// When the layer answers a rejected request the way gRPC clients understand
/// ([`BearerAuthLayer::grpc_answers`](crate::BearerAuthLayer::grpc_answers)).
///
/// A gRPC answer is HTTP 200 with the request's gRPC content type, no body, and the outcome in
/// headers: `grpc-status` 16 (`UNAUTHENTICATED`) for every 401 case, 7 (`PERMISSION_DENIED`)
/// for 403, 14 (`UNAVAILABLE`) when the store fails, 3 (`INVALID_ARGUMENT`) for 400,
/// 8 (`RESOURCE_EXHAUSTED`) for a limit reached (429); the
/// description, percent-encoded, in `grpc-message`; the `WWW-Authenticate` challenge kept as
/// metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GrpcAnswers {
    /// gRPC answers for requests whose content type is `application/grpc`, `application/grpc+…`
    /// or `application/grpc-web…`; HTTP answers for the rest. The default.
    #[default]
    ByContentType,
    /// gRPC answers for every request (a layer in front of tonic's `Routes` only).
    Always,
    /// HTTP answers for every request.
    Never,
}

impl GrpcAnswers {
    /// Whether a request of gRPC content type `grpc_type` (`None`: not gRPC) gets a gRPC
    /// answer.
    pub(crate) fn chooses_grpc(self, grpc_type: Option<&HeaderValue>) -> bool {
        match self {
            GrpcAnswers::ByContentType => grpc_type.is_some(),
            GrpcAnswers::Always => true,
            GrpcAnswers::Never => false,
        }
    }
}

/// The request's content type if it is one of gRPC's.
pub(crate) fn grpc_content_type(headers: &HeaderMap) -> Option<&HeaderValue> {
    let value = headers.get(CONTENT_TYPE)?;
    let rest = value.as_bytes().strip_prefix(b"application/grpc")?;
    (rest.is_empty() || rest.starts_with(b"+") || rest.starts_with(b"-web")).then_some(value)
}

/// The gRPC status code for `error` (gRPC's `statuscodes.md`).
pub(crate) fn grpc_status(error: &AuthError) -> u8 {
    match error.status() {
        StatusCode::UNAUTHORIZED => 16,
        StatusCode::FORBIDDEN => 7,
        StatusCode::BAD_REQUEST => 3,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        StatusCode::TOO_MANY_REQUESTS => 8,
        // Nothing the layer refuses maps elsewhere; a new error is at least not a success.
        _ => 2,
    }
}

/// The trailers-only gRPC answer for `error` to a request of gRPC content type `grpc_type`
/// (answered in kind; `application/grpc` if the request had none), with the HTTP answer's
/// `challenge`.
pub(crate) fn grpc_response(
    grpc_type: Option<&HeaderValue>,
    error: &AuthError,
    challenge: Option<&HeaderValue>,
) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    let headers = response.headers_mut();
    let content_type = grpc_type.cloned().unwrap_or(HeaderValue::from_static("application/grpc"));
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(HeaderName::from_static("grpc-status"), HeaderValue::from(u16::from(grpc_status(error))));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(error.description())) {
        headers.insert(HeaderName::from_static("grpc-message"), message);
    }
    if let Some(challenge) = challenge {
        headers.insert(WWW_AUTHENTICATE, challenge.clone());
    }
    response
}

/// gRPC's `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`
/// (`percent-encoding` always escapes bytes above ASCII).
const GRPC_MESSAGE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%');

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, GRPC_MESSAGE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::error::InvalidToken;
    use crate::store::error::StoreErrorKind;

    fn headers(content_type: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn chooses(answers: GrpcAnswers, content_type: Option<&str>) -> bool {
        answers.chooses_grpc(grpc_content_type(&headers(content_type)))
    }

    #[test]
    fn grpc_content_types_are_recognised_and_nothing_else() {
        for yes in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc+json",
            "application/grpc-web",
            "application/grpc-web-text+proto",
        ] {
            assert!(chooses(GrpcAnswers::ByContentType, Some(yes)), "{yes}");
        }
        for no in ["application/json", "application/grpcx", "text/plain", "application/grp"] {
            assert!(!chooses(GrpcAnswers::ByContentType, Some(no)), "{no}");
        }
        assert!(!chooses(GrpcAnswers::ByContentType, None));
        assert!(chooses(GrpcAnswers::Always, None));
        assert!(!chooses(GrpcAnswers::Never, Some("application/grpc")));
    }

    #[test]
    fn statuses_map_to_the_grpc_codes_clients_expect() {
        assert_eq!(grpc_status(&AuthError::MissingCredentials), 16);
        assert_eq!(grpc_status(&AuthError::InvalidToken(InvalidToken::Revoked)), 16);
        assert_eq!(grpc_status(&AuthError::Denied), 7);
        assert_eq!(grpc_status(&AuthError::StoreUnavailable(StoreErrorKind::Unavailable)), 14);
        assert_eq!(grpc_status(&AuthError::Throttled(crate::outcome::error::Throttle::NoCredits)), 8);
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("a b%c\u{e9}\n"), "a b%25c%C3%A9%0A");
    }

    #[test]
    fn the_answer_is_trailers_only_with_the_challenge() {
        let challenge = HeaderValue::from_static("Bearer realm=\"api\"");
        let error = AuthError::MissingCredentials;
        let headers = headers(Some("application/grpc+proto"));
        let response = grpc_response(grpc_content_type(&headers), &error, Some(&challenge));
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.body().is_empty());
        assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc+proto");
        assert_eq!(response.headers()["grpc-status"], "16");
        assert_eq!(response.headers()["grpc-message"], "a bearer token is required");
        assert_eq!(response.headers()[WWW_AUTHENTICATE], challenge);
    }
}
