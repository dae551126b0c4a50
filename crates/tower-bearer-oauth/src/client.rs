//! OAuth clients: [`NewClient`] in, a [`RegisteredClient`] out (its secret shown once), kept
//! by a [`ClientRegistry`] as SHA-256 digests of secrets only, and, for clients that
//! authenticate with a private key (feature `jwt`), their public keys.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

use tower_bearer::{Clock, Scopes, StoreError, TokenFormat, TokenHash, TokenId, TokenSecret};

#[cfg(feature = "jwt")]
use crate::client_keys::ClientKeys;

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
    #[cfg(feature = "jwt")]
    keys: Option<ClientKeys>,
}

impl NewClient {
    /// A client whose tokens authenticate as `subject` (the service account it acts as).
    pub fn new(subject: impl Into<String>) -> Self {
        NewClient {
            subject: subject.into(),
            client_id: None,
            allowed_scopes: Scopes::none(),
            access_token_ttl: Duration::from_secs(3600),
            #[cfg(feature = "jwt")]
            keys: None,
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

    /// The public keys the client signs its assertions with: it may then authenticate with a
    /// private key (`private_key_jwt`, RFC 7523) at the token, introspection and revocation
    /// endpoints. Registered with [`ClientRegistry::register_without_secret`], that is its
    /// only way to authenticate; with [`ClientRegistry::register`], it also has a secret.
    ///
    /// ```
    /// use serde_json::json;
    /// use tower_bearer_oauth::{ClientKeys, ClientRegistry, MemoryClientRegistry, NewClient};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let registry = MemoryClientRegistry::new();
    /// // Keys the client publishes, fetched when its first assertion comes ...
    /// let keys = ClientKeys::jwks_uri("https://billing.example.com/.well-known/jwks.json")?;
    /// let id = registry
    ///     .register_without_secret(NewClient::new("svc-billing").client_id("billing").public_keys(keys))
    ///     .await?;
    /// assert_eq!(id, "billing");
    ///
    /// // ... or given here, for a client that has a secret too.
    /// let keys = ClientKeys::jwks(&json!({ "keys": [{
    ///     "kty": "OKP", "crv": "Ed25519", "kid": "2026-01",
    ///     "x": "I4e_9eQ3m3yDF2whlKuhdksZPQyLACrqIXh9gSK6Reg",
    /// }] }))?;
    /// let reporting = registry.register(NewClient::new("svc-reporting").public_keys(keys)).await?;
    /// # let _ = reporting;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn public_keys(mut self, keys: ClientKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Whether the client has public keys to authenticate with.
    fn has_keys(&self) -> bool {
        #[cfg(feature = "jwt")]
        return self.keys.is_some();
        #[cfg(not(feature = "jwt"))]
        return false;
    }

    /// The record of the client, with the given secrets.
    fn record(self, secrets: Vec<(TokenHash, Option<SystemTime>)>) -> ClientRecord {
        let client_id = self.client_id.unwrap_or_else(random_client_id);
        let record =
            ClientRecord::new(client_id, self.subject, self.allowed_scopes, self.access_token_ttl, secrets);
        #[cfg(feature = "jwt")]
        return record.with_keys(self.keys);
        #[cfg(not(feature = "jwt"))]
        record
    }

    /// Draws the client's id (unless one was given) and secret: the record a registry keeps
    /// (the secret's digest only, and the client's public keys if it was given any), and what
    /// to hand out once. For implementations of [`ClientRegistry::register`].
    pub fn issue(self) -> (ClientRecord, RegisteredClient) {
        let secret = secret_format().generate();
        let record = self.record(vec![(secret.hash(), None)]);
        let client_id = record.client_id.clone();
        (record, RegisteredClient { client_id, client_secret: secret })
    }

    /// Draws the client's id (unless one was given): the record a registry keeps of a client
    /// that has no secret, only its public keys. For implementations of
    /// [`ClientRegistry::register_without_secret`].
    ///
    /// # Errors
    ///
    /// If the client was given no public keys (`NewClient::public_keys`, feature `jwt`): it
    /// would have no way to authenticate.
    pub fn issue_without_secret(self) -> Result<ClientRecord, StoreError> {
        if !self.has_keys() {
            return Err(StoreError::unavailable(
                "a client without a secret needs public keys (NewClient::public_keys)",
            ));
        }
        Ok(self.record(Vec::new()))
    }
}

/// A client as a registry keeps it: never the secret, only digests of it; and the public keys
/// of a client that authenticates with a private key.
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
    /// previous one with the time it stops being accepted. Empty for a client that
    /// authenticates with a private key alone.
    pub secrets: Vec<(TokenHash, Option<SystemTime>)>,
    /// The public keys it signs client assertions with (`private_key_jwt`), if any.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub keys: Option<ClientKeys>,
}

impl ClientRecord {
    /// A record as a registry reads it back: `secrets` are the current secret's digest (no
    /// end) and, during a rotation's grace, the previous one's with the time it ends (none
    /// for a client without a secret). No public keys: see `with_keys` (feature `jwt`).
    #[must_use]
    pub fn new(
        client_id: String,
        subject: String,
        allowed_scopes: Scopes,
        access_token_ttl: Duration,
        secrets: Vec<(TokenHash, Option<SystemTime>)>,
    ) -> Self {
        ClientRecord {
            client_id,
            subject,
            allowed_scopes,
            access_token_ttl: access_token_ttl.min(LONGEST),
            secrets,
            #[cfg(feature = "jwt")]
            keys: None,
        }
    }

    /// The record with these public keys (`None`: without any), as a registry reads them
    /// back.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    #[must_use]
    pub fn with_keys(self, keys: Option<ClientKeys>) -> Self {
        ClientRecord { keys, ..self }
    }

    /// The record after giving the client a new secret at `now`: the current secret keeps
    /// working for `grace` (not at all if zero; at most 100 years), any older one stops; a
    /// client that had no secret gets its first. Its keys are kept. For implementations of
    /// [`ClientRegistry::rotate_secret`].
    pub fn rotated(&self, grace: Duration, now: SystemTime) -> (ClientRecord, RegisteredClient) {
        let secret = secret_format().generate();
        let mut secrets = vec![(secret.hash(), None)];
        let current = self.secrets.iter().find(|(_, until)| until.is_none()).map(|(digest, _)| *digest);
        if let Some(current) = current.filter(|_| !grace.is_zero()) {
            secrets.push((current, Some(now.checked_add(grace.min(LONGEST)).unwrap_or(now))));
        }
        let record = ClientRecord { secrets, ..self.clone() };
        (record, RegisteredClient { client_id: self.client_id.clone(), client_secret: secret })
    }

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

/// Keeps OAuth clients: the [`TokenEndpoint`](crate::TokenEndpoint) finds them by id, an
/// operator registers, rotates and removes them. In memory ([`MemoryClientRegistry`]) or in a
/// database (`SqlClientRegistry`, feature `sql`), with the same behaviour.
///
/// A registry keeps digests of secrets only and returns them in the record; the endpoint
/// verifies a presented secret in constant time ([`ClientRecord::verify`]).
pub trait ClientRegistry: Send + Sync + 'static {
    /// The client with this id, if any. `Err` makes the endpoint answer 503.
    fn find(&self, client_id: &str) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send;

    /// Registers a client with a fresh random secret (prefix `cs_`, 256 bits, checksum),
    /// returned once ([`NewClient::issue`]), and the public keys it was given, if any. An
    /// existing client with the same id is replaced.
    fn register(&self, new: NewClient) -> impl Future<Output = Result<RegisteredClient, StoreError>> + Send;

    /// Registers a client without a secret, that authenticates with a private key alone
    /// (`private_key_jwt`, RFC 7523), with the public keys given to `new`
    /// (`NewClient::public_keys`, feature `jwt`; [`NewClient::issue_without_secret`]).
    /// Returns its id. An existing client with the same id is replaced: registering again is
    /// how a client's inline keys are changed.
    ///
    /// # Errors
    ///
    /// The registry's, and when `new` has no public keys.
    fn register_without_secret(
        &self,
        new: NewClient,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Gives the client a new secret ([`ClientRecord::rotated`]): the old one stops working at
    /// once, or after `grace` if it is not zero (so a fleet can roll over); a client that had
    /// none gets its first. `None` for an unknown client.
    fn rotate_secret(
        &self,
        client_id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<Option<RegisteredClient>, StoreError>> + Send;

    /// Removes a client. Tokens it already obtained stay valid until they expire or are
    /// revoked in the token store. Returns whether it existed.
    fn remove(&self, client_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// An in-memory [`ClientRegistry`]; cloning shares the clients. Every operation answers at
/// once.
///
/// ```
/// use tower_bearer_oauth::{ClientRegistry, MemoryClientRegistry, NewClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::StoreError> {
/// let registry = MemoryClientRegistry::new();
/// let client = registry.register(NewClient::new("reporting").allowed_scopes(["reports:read"])).await?;
/// println!("client_id={} client_secret={}", client.client_id, client.client_secret.expose_secret());
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct MemoryClientRegistry {
    clients: Arc<papaya::HashMap<String, ClientRecord>>,
    writer: Arc<Mutex<()>>,
    clock: Clock,
}

impl MemoryClientRegistry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry reading the time (for rotation grace periods) from `clock`.
    #[must_use]
    pub fn with_clock(clock: Clock) -> Self {
        MemoryClientRegistry { clock, ..Self::default() }
    }
}

impl ClientRegistry for MemoryClientRegistry {
    fn find(&self, client_id: &str) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send {
        let found: Ready<_> = ready(Ok(self.clients.pin().get(client_id).cloned()));
        found
    }

    fn register(&self, new: NewClient) -> impl Future<Output = Result<RegisteredClient, StoreError>> + Send {
        let (record, registered) = new.issue();
        self.clients.pin().insert(record.client_id.clone(), record);
        ready(Ok(registered))
    }

    fn register_without_secret(
        &self,
        new: NewClient,
    ) -> impl Future<Output = Result<String, StoreError>> + Send {
        ready(new.issue_without_secret().map(|record| {
            let client_id = record.client_id.clone();
            self.clients.pin().insert(client_id.clone(), record);
            client_id
        }))
    }

    fn rotate_secret(
        &self,
        client_id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<Option<RegisteredClient>, StoreError>> + Send {
        // Serializes rotations of one registry: two at once would each keep a secret the
        // other dropped.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let clients = self.clients.pin();
        let rotated = clients.get(client_id).map(|record| record.rotated(grace, self.clock.now()));
        ready(Ok(rotated.map(|(record, registered)| {
            clients.insert(client_id.to_owned(), record);
            registered
        })))
    }

    fn remove(&self, client_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        ready(Ok(self.clients.pin().remove(client_id).is_some()))
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

    /// The value of a memory-registry operation (ready at once; never an error).
    fn at_once<T>(future: impl Future<Output = Result<T, StoreError>>) -> T {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(output) => output.expect("the memory registry does not fail"),
            std::task::Poll::Pending => panic!("not ready at once"),
        }
    }

    #[test]
    fn verify_accepts_only_the_live_secrets() {
        let registry = MemoryClientRegistry::new();
        let first = at_once(registry.register(NewClient::new("svc").client_id("c1")));
        let record = |r: &MemoryClientRegistry| r.clients.pin().get("c1").cloned().unwrap();
        let now = SystemTime::now();
        assert!(record(&registry).verify(first.client_secret.expose_secret(), now));
        assert!(!record(&registry).verify("cs_wrong", now));

        let second = at_once(registry.rotate_secret("c1", Duration::from_secs(60))).unwrap();
        let r = record(&registry);
        assert!(r.verify(second.client_secret.expose_secret(), now));
        assert!(r.verify(first.client_secret.expose_secret(), now), "within the grace");
        assert!(!r.verify(first.client_secret.expose_secret(), now + Duration::from_secs(61)));

        let third = at_once(registry.rotate_secret("c1", Duration::ZERO)).unwrap();
        let r = record(&registry);
        assert!(r.verify(third.client_secret.expose_secret(), now));
        assert!(!r.verify(second.client_secret.expose_secret(), now));
        assert!(!r.verify(first.client_secret.expose_secret(), now));
        assert!(at_once(registry.rotate_secret("nope", Duration::ZERO)).is_none());
    }

    #[test]
    fn secrets_are_redacted_and_ids_random() {
        let registry = MemoryClientRegistry::new();
        let a = at_once(registry.register(NewClient::new("svc")));
        let b = at_once(registry.register(NewClient::new("svc")));
        assert_ne!(a.client_id, b.client_id);
        assert!(a.client_id.starts_with("client_"));
        assert!(!format!("{a:?} {registry:?}").contains(a.client_secret.expose_secret()));
    }
}
