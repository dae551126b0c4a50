//! Metadata documents as tower services: the authorization server's (RFC 8414) and a protected
//! resource's (RFC 9728), each a JSON object built once and served to `GET`.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value};
use tower_service::Service;
#[cfg(feature = "jwt")]
use {
    crate::jwt_store::Algorithm, crate::private_key_jwt::DEFAULT_ALGORITHMS,
    tower_bearer_jwt::AlgorithmPolicy,
};

/// A JSON document served to `GET` (and `HEAD`): 200 `application/json`, cacheable for an
/// hour; other methods 405.
#[derive(Clone)]
struct Document {
    json: Bytes,
}

impl Document {
    fn new(members: Map<String, Value>) -> Self {
        Document { json: Bytes::from(Value::Object(members).to_string()) }
    }

    fn respond(&self, method: &Method) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::new()));
        if method != Method::GET && method != Method::HEAD {
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        if method == Method::GET {
            *response.body_mut() = Full::new(self.json.clone());
        }
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
        response
    }
}

/// `Debug` and the `Service` serving the document, for a metadata type with `members` and a
/// lazily built `document`.
macro_rules! document_service {
    ($metadata:ident) => {
        impl fmt::Debug for $metadata {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($metadata)).field("members", &self.members).finish()
            }
        }

        impl<B> Service<Request<B>> for $metadata {
            type Response = Response<Full<Bytes>>;
            type Error = Infallible;
            type Future = Ready<Result<Self::Response, Infallible>>;

            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }

            fn call(&mut self, req: Request<B>) -> Self::Future {
                let document = self.document.get_or_insert_with(|| Document::new(self.members.clone()));
                ready(Ok(document.respond(req.method())))
            }
        }
    };
}

fn strings<I, S>(values: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    values.into_iter().map(|v| Value::String(v.into())).collect()
}

/// The authorization server's metadata (RFC 8414), served at
/// [`PATH`](Self::PATH) (`/.well-known/oauth-authorization-server`): where the token,
/// introspection and revocation endpoints are and how clients authenticate to them, so that
/// OAuth libraries configure themselves from the issuer URL alone.
///
/// ```
/// use tower_bearer_oauth::AuthorizationServerMetadata;
///
/// let metadata = AuthorizationServerMetadata::new("https://auth.example.com")
///     .token_endpoint("https://auth.example.com/oauth/token")
///     .introspection_endpoint("https://auth.example.com/oauth/introspect")
///     .revocation_endpoint("https://auth.example.com/oauth/revoke")
///     .scopes_supported(["reports:read"]);
/// let app: axum::Router = axum::Router::new().route_service(AuthorizationServerMetadata::PATH, metadata);
/// ```
///
/// Always present: `issuer`, `grant_types_supported` (`client_credentials`),
/// `response_types_supported` (empty: there is no authorization endpoint), and for each
/// endpoint given, its `*_auth_methods_supported` (`client_secret_basic`,
/// `client_secret_post`; once `private_key_jwt()` is called (feature `jwt`), also
/// `private_key_jwt`, with the endpoint's `*_auth_signing_alg_values_supported`).
#[derive(Clone)]
#[must_use]
pub struct AuthorizationServerMetadata {
    members: Map<String, Value>,
    document: Option<Document>,
    /// The algorithms of client assertions, once `private_key_jwt` is announced.
    assertion_algorithms: Option<Value>,
}

const CLIENT_AUTH: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The endpoints whose client authentication the document describes.
#[cfg(feature = "jwt")]
const ENDPOINTS: [&str; 3] = ["token", "introspection", "revocation"];

impl AuthorizationServerMetadata {
    /// Where the document is served (RFC 8414 §3, for an issuer without a path).
    pub const PATH: &'static str = "/.well-known/oauth-authorization-server";

    /// The metadata of the authorization server identified by `issuer` (an `https` URL with
    /// no query or fragment; the `iss` of
    /// [`TokenEndpointBuilder::issuer`](crate::TokenEndpointBuilder::issuer)).
    pub fn new(issuer: impl Into<String>) -> Self {
        let mut members = Map::new();
        members.insert("issuer".into(), Value::String(issuer.into()));
        members.insert("grant_types_supported".into(), strings(["client_credentials"]));
        members.insert("response_types_supported".into(), Value::Array(Vec::new()));
        AuthorizationServerMetadata { members, document: None, assertion_algorithms: None }
    }

    fn endpoint(mut self, name: &str, url: String) -> Self {
        self.members.insert(format!("{name}_endpoint"), Value::String(url));
        self.auth_methods(name);
        self.document = None;
        self
    }

    /// The client authentication members of endpoint `name`: the methods, and the
    /// algorithms of assertions when `private_key_jwt` is one of them.
    fn auth_methods(&mut self, name: &str) {
        let mut methods: Vec<&str> = CLIENT_AUTH.to_vec();
        let algorithms = format!("{name}_endpoint_auth_signing_alg_values_supported");
        match &self.assertion_algorithms {
            Some(values) => {
                methods.push("private_key_jwt");
                self.members.insert(algorithms, values.clone());
            }
            None => {
                self.members.remove(&algorithms);
            }
        }
        self.members.insert(format!("{name}_endpoint_auth_methods_supported"), strings(methods));
    }

    /// Announces `private_key_jwt` client authentication (RFC 7523, feature `jwt`) at every
    /// endpoint given, before or after this call, with the algorithms the endpoints accept by
    /// default (EdDSA, ES256, RS256, PS256) as each endpoint's
    /// `*_auth_signing_alg_values_supported`; see
    /// [`private_key_jwt_algorithms`](Self::private_key_jwt_algorithms) for others.
    ///
    /// ```
    /// use tower_bearer_oauth::AuthorizationServerMetadata;
    ///
    /// let metadata = AuthorizationServerMetadata::new("https://auth.example.com")
    ///     .token_endpoint("https://auth.example.com/oauth/token")
    ///     .private_key_jwt();
    /// let methods = &metadata.members()["token_endpoint_auth_methods_supported"];
    /// assert!(methods.as_array().unwrap().iter().any(|m| m == "private_key_jwt"));
    /// ```
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn private_key_jwt(self) -> Self {
        self.private_key_jwt_algorithms(DEFAULT_ALGORITHMS)
    }

    /// Announces `private_key_jwt` client authentication as
    /// [`private_key_jwt`](Self::private_key_jwt) does, with these algorithms: those given to
    /// [`TokenEndpointBuilder::client_assertion_algorithms`](crate::TokenEndpointBuilder::client_assertion_algorithms).
    /// HS256 is left out, as the endpoints leave it out.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn private_key_jwt_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        let policy = AlgorithmPolicy::only(algorithms).outside_issuer();
        self.assertion_algorithms = Some(strings(policy.algorithms().map(Algorithm::name)));
        for name in ENDPOINTS {
            if self.members.contains_key(&format!("{name}_endpoint")) {
                self.auth_methods(name);
            }
        }
        self.document = None;
        self
    }

    /// The [`TokenEndpoint`](crate::TokenEndpoint)'s URL.
    pub fn token_endpoint(self, url: impl Into<String>) -> Self {
        self.endpoint("token", url.into())
    }

    /// The [`IntrospectionEndpoint`](crate::IntrospectionEndpoint)'s URL.
    pub fn introspection_endpoint(self, url: impl Into<String>) -> Self {
        self.endpoint("introspection", url.into())
    }

    /// The [`RevocationEndpoint`](crate::RevocationEndpoint)'s URL.
    pub fn revocation_endpoint(self, url: impl Into<String>) -> Self {
        self.endpoint("revocation", url.into())
    }

    /// The scopes clients may ask for.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.members.insert("scopes_supported".into(), strings(scopes));
        self.document = None;
        self
    }

    /// The algorithms the token endpoint takes DPoP proofs in (RFC 9449 §5.1:
    /// `dpop_signing_alg_values_supported`): the names of the
    /// [`DpopVerifier`](https://docs.rs/tower-bearer-jwt/latest/tower_bearer_jwt/struct.DpopVerifier.html)'s
    /// `algorithms()`, split at spaces.
    pub fn dpop_signing_alg_values_supported<I, S>(self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.member("dpop_signing_alg_values_supported", strings(algorithms))
    }

    /// Any other member (`service_documentation`, `jwks_uri`, ...), replacing one of the same
    /// name.
    pub fn member(mut self, name: impl Into<String>, value: Value) -> Self {
        self.members.insert(name.into(), value);
        self.document = None;
        self
    }

    /// The document's members.
    #[must_use]
    pub fn members(&self) -> &Map<String, Value> {
        &self.members
    }
}

document_service!(AuthorizationServerMetadata);

/// A protected resource's metadata (RFC 9728), served at [`PATH`](Self::PATH)
/// (`/.well-known/oauth-protected-resource`): which authorization servers issue tokens for
/// it, which scopes it knows, how it takes tokens. Point clients to it from the layer's
/// challenge with [`BearerAuthLayer::resource_metadata`](tower_bearer::BearerAuthLayer::resource_metadata)
/// (what MCP clients look for).
///
/// ```
/// use tower_bearer::{BearerAuthLayer, MemoryTokenStore};
/// use tower_bearer_oauth::ProtectedResourceMetadata;
///
/// let metadata = ProtectedResourceMetadata::new("https://api.example.com")
///     .authorization_servers(["https://auth.example.com"])
///     .scopes_supported(["reports:read"]);
/// let layer = BearerAuthLayer::new(MemoryTokenStore::new())
///     .audience("https://api.example.com")
///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
/// let app: axum::Router = axum::Router::new()
///     .route("/v1/reports", axum::routing::get(|| async { "[]" }))
///     .route_layer(layer)
///     .route_service(ProtectedResourceMetadata::PATH, metadata);
/// ```
///
/// Always present: `resource` and `bearer_methods_supported` (`header`).
#[derive(Clone)]
#[must_use]
pub struct ProtectedResourceMetadata {
    members: Map<String, Value>,
    document: Option<Document>,
}

impl ProtectedResourceMetadata {
    /// Where the document is served (RFC 9728 §3, for a resource without a path).
    pub const PATH: &'static str = "/.well-known/oauth-protected-resource";

    /// The metadata of the resource identified by `resource` (its URL; the audience tokens
    /// for it carry, [`BearerAuthLayer::audience`](tower_bearer::BearerAuthLayer::audience)).
    pub fn new(resource: impl Into<String>) -> Self {
        let mut members = Map::new();
        members.insert("resource".into(), Value::String(resource.into()));
        members.insert("bearer_methods_supported".into(), strings(["header"]));
        ProtectedResourceMetadata { members, document: None }
    }

    /// The issuers of the authorization servers whose tokens the resource accepts.
    pub fn authorization_servers<I, S>(self, issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.member("authorization_servers", strings(issuers))
    }

    /// The scopes the resource knows.
    pub fn scopes_supported<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.member("scopes_supported", strings(scopes))
    }

    /// A name for people (`resource_name`).
    pub fn resource_name(self, name: impl Into<String>) -> Self {
        self.member("resource_name", Value::String(name.into()))
    }

    /// The algorithms the resource takes DPoP proofs in (RFC 9728 §2:
    /// `dpop_signing_alg_values_supported`), as its layer's
    /// [`dpop`](tower_bearer::BearerAuthLayer::dpop) verifier says.
    pub fn dpop_signing_alg_values_supported<I, S>(self, algorithms: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.member("dpop_signing_alg_values_supported", strings(algorithms))
    }

    /// Whether the resource takes only DPoP-bound tokens (RFC 9728 §2:
    /// `dpop_bound_access_tokens_required`), as a layer with
    /// [`require_dpop`](tower_bearer::BearerAuthLayer::require_dpop) does.
    pub fn dpop_bound_access_tokens_required(self, required: bool) -> Self {
        self.member("dpop_bound_access_tokens_required", Value::Bool(required))
    }

    /// Any other member (`resource_documentation`, `jwks_uri`, ...), replacing one of the
    /// same name.
    pub fn member(mut self, name: impl Into<String>, value: Value) -> Self {
        self.members.insert(name.into(), value);
        self.document = None;
        self
    }

    /// The document's members.
    #[must_use]
    pub fn members(&self) -> &Map<String, Value> {
        &self.members
    }
}

document_service!(ProtectedResourceMetadata);
