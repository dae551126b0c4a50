//! [`bootstrap_admin`]: the first admin key, minted once in a store's life.

use tower_bearer::manage::OnceMarkers;
use tower_bearer::{IssuedToken, ManageError, NewToken, TokenManager};

/// The marker [`bootstrap_admin`] sets.
pub const ADMIN_KEY_MARKER: &str = "tower_bearer.admin_key_minted";

/// Mints `admin` (the first admin key: typically every management scope, the store's admin
/// scope, no expiry) if no admin key was ever minted by this call in the store's life, and
/// returns it, its secret shown this once; `None` on every later call, even after that key
/// was revoked: a revoked admin key is not silently replaced at the next start. Call it at
/// start-up and print or hand out the secret when there is one.
///
/// The store's durable marker ([`OnceMarkers`]) is set first: of instances starting together,
/// exactly one mints the key. Should minting then fail (the store went away in between), no
/// admin key exists and later starts will not make one: issue one with the operator CLI
/// (`tower-bearer issue`).
///
/// ```
/// use tower_bearer::{MemoryTokenStore, NewToken};
/// use tower_bearer_manage::bootstrap_admin;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::ManageError> {
/// let store = MemoryTokenStore::new();
/// let admin = NewToken::for_subject("admin").organization("acme").scopes(["tokens:admin", "tokens:read", "tokens:write", "audit:read"]);
/// if let Some(key) = bootstrap_admin(&store, admin.clone()).await? {
///     println!("admin key (shown once): {}", key.secret().expose_secret());
/// }
/// assert!(bootstrap_admin(&store, admin).await?.is_none(), "never twice");
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The store's failure (setting the marker or minting).
pub async fn bootstrap_admin<S: TokenManager + OnceMarkers>(
    store: &S,
    admin: NewToken,
) -> Result<Option<IssuedToken>, ManageError> {
    admin.validate()?;
    if !store.set_once(ADMIN_KEY_MARKER, store.clock().now()).await.map_err(ManageError::Store)? {
        return Ok(None);
    }
    store.issue(admin).await.map(Some)
}
