//! OAuth clients: [`NewClient`] in, a [`RegisteredClient`] out (its secret shown once), kept
//! by a [`ClientRegistry`] as SHA-256 digests of secrets only.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

use tower_bearer::{Scopes, StoreError, TokenFormat, TokenHash, TokenId, TokenSecret};

/// The longest access-token lifetime and secret-rotation grace a registry accepts: longer
/// values are cut to it, so that no time computed from them overflows.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// What a new client may do.
///
/// ```
/// use std::time::Duration;
/// use tower_bearer_oauth::NewClient;
///
/// let client = NewClient::new("billing-sync")
///     .allowed_scopes(["invoices:read", "invoices:write"])
///     .access_token_ttl(Duration::from_secs(900));
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct NewClient {
    subject: String,
    client_id: Option<String>,
    allowed_scopes: Scopes,
    access_token_ttl: Duration,
}

impl NewClient {
    /// A client whose tokens authenticate as `subject` (the service account it acts as).
    pub fn new(subject: impl Into<String>) -> Self {
        NewClient {
            subject: subject.into(),
            client_id: None,
            allowed_scopes: Scopes::none(),
            access_token_ttl: Duration::from_secs(3600),
        }
    }

    /// A fixed client id (default: a random `client_...` id).
    ///
    /// # Panics
    ///
    /// If the id is empty or has a character outside RFC 6749's `VSCHAR` (printable ASCII
    /// and space; a `:` is fine, HTTP Basic form-encodes it).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        assert!(
            !id.is_empty() && id.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "tower-bearer: a client id is printable ASCII (RFC 6749 VSCHAR), got {id:?}"
        );
        self.client_id = Some(id);
        self
    }

    /// The scopes the client may ask for; a request without `scope` gets all of them.
    pub fn allowed_scopes(mut self, scopes: impl Into<Scopes>) -> Self {
        self.allowed_scopes = scopes.into();
        self
    }

    /// How long the client's access tokens live (the `expires_in` it is told); at most
    /// 100 years (longer is cut to that).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl.min(LONGEST);
        self
    }
}

/// A client as a registry keeps it: never the secret, only digests of it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The public client id.
    pub client_id: String,
    /// The subject its access tokens authenticate as.
    pub subject: String,
    /// The scopes it may ask for.
    pub allowed_scopes: Scopes,
    /// The lifetime of its access tokens.
    pub access_token_ttl: Duration,
    /// Digests of its valid secrets: the current one, and during a rotation's grace the
    /// previous one with the time it stops being accepted.
    pub secrets: Vec<(TokenHash, Option<SystemTime>)>,
}

impl ClientRecord {
    /// Whether `secret` is one of the client's valid secrets at `now`. Every stored digest is
    /// compared in constant time, whichever matches.
    #[must_use]
    pub fn verify(&self, secret: &str, now: SystemTime) -> bool {
        let presented = TokenHash::of(secret);
        let mut ok = subtle::Choice::from(0);
        for (digest, until) in &self.secrets {
            let live = subtle::Choice::from(u8::from(until.is_none_or(|t| now < t)));
            ok |= digest.ct_eq(&presented) & live;
        }
        ok.into()
    }
}

/// A client just registered (or whose secret was rotated): its id and its secret, to hand
/// over once. `Debug` redacts the secret.
#[must_use = "the client secret is shown once: hand it to the client's operator"]
pub struct RegisteredClient {
    /// The public client id.
    pub client_id: String,
    /// The secret. It cannot be recovered from the registry.
    pub client_secret: TokenSecret,
}

impl fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

/// Finds OAuth clients by id, for the [`TokenEndpoint`](crate::TokenEndpoint).
///
/// A registry returns the record with the digests of the client's secrets; the endpoint
/// verifies the presented secret in constant time ([`ClientRecord::verify`]).
pub trait ClientRegistry: Send + Sync + 'static {
    /// The client with this id, if any. `Err` makes the endpoint answer 503.
    fn find(&self, client_id: &str) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send;
}

/// An in-memory [`ClientRegistry`]; cloning shares the clients.
///
/// ```
/// use tower_bearer_oauth::{MemoryClientRegistry, NewClient};
///
/// let registry = MemoryClientRegistry::new();
/// let client = registry.register(NewClient::new("reporting").allowed_scopes(["reports:read"]));
/// println!("client_id={} client_secret={}", client.client_id, client.client_secret.expose_secret());
/// ```
#[derive(Clone, Default)]
pub struct MemoryClientRegistry {
    clients: Arc<papaya::HashMap<String, ClientRecord>>,
    writer: Arc<Mutex<()>>,
}

impl MemoryClientRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a client with a fresh random secret (prefix `cs_`, 256 bits, checksum).
    /// An existing client with the same id is replaced.
    pub fn register(&self, new: NewClient) -> RegisteredClient {
        let client_id = new.client_id.unwrap_or_else(random_client_id);
        let secret = secret_format().generate();
        let record = ClientRecord {
            client_id: client_id.clone(),
            subject: new.subject,
            allowed_scopes: new.allowed_scopes,
            access_token_ttl: new.access_token_ttl,
            secrets: vec![(secret.hash(), None)],
        };
        self.clients.pin().insert(client_id.clone(), record);
        RegisteredClient { client_id, client_secret: secret }
    }

    /// Gives the client a new secret. The old one stops working at once, or after `grace`
    /// if it is not zero (so a fleet can roll over; at most 100 years). Returns `None` for
    /// an unknown client.
    pub fn rotate_secret(&self, client_id: &str, grace: Duration) -> Option<RegisteredClient> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let clients = self.clients.pin();
        let mut record = clients.get(client_id)?.clone();
        let now = SystemTime::now();
        let secret = secret_format().generate();
        let previous = record.secrets.iter().find(|(_, until)| until.is_none()).map(|(d, _)| *d);
        record.secrets = vec![(secret.hash(), None)];
        if let Some(previous) = previous.filter(|_| !grace.is_zero()) {
            record.secrets.push((previous, Some(now.checked_add(grace.min(LONGEST)).unwrap_or(now))));
        }
        clients.insert(client_id.to_owned(), record);
        Some(RegisteredClient { client_id: client_id.to_owned(), client_secret: secret })
    }

    /// Removes a client. Tokens it already obtained stay valid until they expire or are
    /// revoked in the token store.
    pub fn remove(&self, client_id: &str) -> bool {
        self.clients.pin().remove(client_id).is_some()
    }
}

impl ClientRegistry for MemoryClientRegistry {
    fn find(&self, client_id: &str) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send {
        let found: Ready<_> = ready(Ok(self.clients.pin().get(client_id).cloned()));
        found
    }
}

impl fmt::Debug for MemoryClientRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryClientRegistry").field("clients", &self.clients.len()).finish()
    }
}

fn secret_format() -> TokenFormat {
    TokenFormat::new("cs_")
}

fn random_client_id() -> String {
    let id = TokenId::random();
    format!("client_{}", &id.as_str()[4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_accepts_only_the_live_secrets() {
        let registry = MemoryClientRegistry::new();
        let first = registry.register(NewClient::new("svc").client_id("c1"));
        let record = |r: &MemoryClientRegistry| r.clients.pin().get("c1").cloned().unwrap();
        let now = SystemTime::now();
        assert!(record(&registry).verify(first.client_secret.expose_secret(), now));
        assert!(!record(&registry).verify("cs_wrong", now));

        let second = registry.rotate_secret("c1", Duration::from_secs(60)).unwrap();
        let r = record(&registry);
        assert!(r.verify(second.client_secret.expose_secret(), now));
        assert!(r.verify(first.client_secret.expose_secret(), now), "within the grace");
        assert!(!r.verify(first.client_secret.expose_secret(), now + Duration::from_secs(61)));

        let third = registry.rotate_secret("c1", Duration::ZERO).unwrap();
        let r = record(&registry);
        assert!(r.verify(third.client_secret.expose_secret(), now));
        assert!(!r.verify(second.client_secret.expose_secret(), now));
        assert!(!r.verify(first.client_secret.expose_secret(), now));
        assert!(registry.rotate_secret("nope", Duration::ZERO).is_none());
    }

    #[test]
    fn secrets_are_redacted_and_ids_random() {
        let registry = MemoryClientRegistry::new();
        let a = registry.register(NewClient::new("svc"));
        let b = registry.register(NewClient::new("svc"));
        assert_ne!(a.client_id, b.client_id);
        assert!(a.client_id.starts_with("client_"));
        assert!(!format!("{a:?} {registry:?}").contains(a.client_secret.expose_secret()));
    }
}
