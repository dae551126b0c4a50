//! The first admin key is minted once in a store's life: not again at the next start, not
//! after it was revoked, not twice when instances start together.

use tower_bearer::manage::OnceMarkers;
use tower_bearer::{MemoryTokenStore, NewToken, TokenManager};
use tower_bearer_manage::bootstrap_admin;
use tower_bearer_sqlx::SqlTokenStore;
use tower_bearer_test_support::pg::PgCluster;

fn admin() -> NewToken {
    NewToken::for_subject("admin").organization("acme").scopes([
        "tokens:admin",
        "tokens:read",
        "tokens:write",
    ])
}

/// `open` opens the same store again, as a restarted process would.
async fn once_in_a_stores_life<S, F>(open: impl Fn() -> F)
where
    S: TokenManager + OnceMarkers + Clone + 'static,
    F: Future<Output = S>,
{
    // Instances starting together: exactly one mints.
    let (a, b, c) = (open().await, open().await, open().await);
    let (x, y, z) = tokio::join!(
        bootstrap_admin(&a, admin()),
        bootstrap_admin(&b, admin()),
        bootstrap_admin(&c, admin())
    );
    let minted: Vec<_> = [x, y, z].into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(minted.len(), 1, "exactly one admin key");
    let key = &minted[0];
    assert!(key.secret().expose_secret().len() > 40);
    // Revoked, then a restart: not replaced.
    assert!(a.revoke(key.id()).await.unwrap());
    let restarted = open().await;
    assert!(bootstrap_admin(&restarted, admin()).await.unwrap().is_none());
    assert!(restarted.list("admin").await.unwrap().is_empty());
}

#[tokio::test]
async fn on_the_memory_store() {
    let store = MemoryTokenStore::new();
    once_in_a_stores_life(|| {
        let store = store.clone();
        async move { store }
    })
    .await;
}

#[tokio::test]
async fn on_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    once_in_a_stores_life(|| {
        let path = path.clone();
        async move { SqlTokenStore::builder().open_sqlite(path).await.unwrap() }
    })
    .await;
}

#[tokio::test]
async fn on_postgres() {
    let Some(cluster) = PgCluster::start() else { return };
    let url = cluster.url();
    once_in_a_stores_life(|| {
        let url = url.clone();
        async move { SqlTokenStore::open(&url).await.unwrap() }
    })
    .await;
}
