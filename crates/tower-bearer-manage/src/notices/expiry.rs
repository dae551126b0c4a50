//! [`ExpiryNotices`]: tokens expiring within a window, each noticed once, on the store's clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tower_bearer::manage::TokenQuery;
use tower_bearer::{ManageError, TokenId, TokenManager};

use super::notice::{Notice, NoticeKind};

type Hook = Arc<dyn Fn(&Notice) + Send + Sync>;

/// Finds the tokens of a store that expire within a window and hands each to a hook once:
/// the application sends the notice on (an email to the subject, a webhook).
///
/// A check ([`check`](Self::check)) pages through the store's live tokens and notices every
/// token whose expiry is after now and at most [`window`](ExpiryNoticesBuilder::window) away,
/// on the store's [`Clock`](tower_bearer::Clock). [`spawn`](Self::spawn) checks periodically.
///
/// **Once per window.** The notices remember each token noticed with the expiry it was noticed
/// for, until that expiry passes: a token is noticed again only if its expiry changes (it was
/// extended, say) and comes within the window again. What is remembered is in memory, so a
/// restarted process notices the tokens still in the window once more; an application that
/// must send exactly once across restarts keeps (token id, expiry) pairs it has sent.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// use tower_bearer::{Clock, MemoryTokenStore, NewToken, TokenManager};
/// use tower_bearer_manage::ExpiryNotices;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_bearer::ManageError> {
/// let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
/// let store = MemoryTokenStore::builder().clock(clock.clone()).build();
/// let week = Duration::from_secs(7 * 86_400);
/// let expires_at = clock.now() + week + Duration::from_secs(3_600);
/// store.issue(NewToken::for_subject("ada").expires_at(expires_at)).await?;
///
/// let sent = Arc::new(Mutex::new(Vec::new()));
/// let outbox = sent.clone();
/// let notices = ExpiryNotices::builder(store)
///     .window(week)
///     .on_notice(move |notice| outbox.lock().unwrap().push(notice.token.principal.subject().to_owned()))
///     .build();
/// assert_eq!(notices.check().await?, 0, "eight days away: not yet");
/// clock.advance(Duration::from_secs(7_200));
/// assert_eq!(notices.check().await?, 1);
/// assert_eq!(notices.check().await?, 0, "noticed once");
/// assert_eq!(*sent.lock().unwrap(), ["ada"]);
/// # Ok(())
/// # }
/// ```
pub struct ExpiryNotices<S> {
    store: S,
    window: Duration,
    hook: Option<Hook>,
    /// The tokens noticed, with the expiry each was noticed for.
    noticed: Mutex<HashMap<TokenId, SystemTime>>,
}

/// Builds [`ExpiryNotices`]: [`ExpiryNotices::builder`].
///
/// ```
/// use std::time::Duration;
///
/// use tower_bearer::MemoryTokenStore;
/// use tower_bearer_manage::ExpiryNotices;
///
/// let notices = ExpiryNotices::builder(MemoryTokenStore::new())
///     .window(Duration::from_secs(3 * 86_400))
///     .on_notice(|notice| println!("tell {} about {}", notice.token.principal.subject(), notice.token.id))
///     .build();
/// # drop(notices);
/// ```
#[must_use]
pub struct ExpiryNoticesBuilder<S> {
    store: S,
    window: Duration,
    hook: Option<Hook>,
}

impl<S: TokenManager> ExpiryNotices<S> {
    /// Notices for the tokens of `store`; the window is seven days until set.
    pub fn builder(store: S) -> ExpiryNoticesBuilder<S> {
        ExpiryNoticesBuilder { store, window: Duration::from_secs(7 * 86_400), hook: None }
    }

    /// The tokens expiring within the window now, whether noticed before or not (what the
    /// management API lists), oldest first.
    ///
    /// # Errors
    ///
    /// The store's, if a page of tokens could not be read.
    pub async fn expiring(&self) -> Result<Vec<Notice>, ManageError> {
        expiring(&self.store, TokenQuery::new(), self.window).await
    }

    /// Notices the tokens expiring within the window that were not noticed before, and
    /// returns how many it noticed.
    ///
    /// # Errors
    ///
    /// The store's, if a page of tokens could not be read (the tokens of the pages read are
    /// noticed; the next check reads them all again).
    pub async fn check(&self) -> Result<usize, ManageError> {
        let now = self.store.clock().now();
        let due = self.expiring().await?;
        let fresh: Vec<Notice> = {
            let mut noticed = self.noticed.lock().unwrap_or_else(PoisonError::into_inner);
            // Expiries that passed cannot come round again: forgetting them bounds the memory.
            noticed.retain(|_, expires_at| *expires_at > now);
            due.into_iter()
                .filter(|notice| {
                    let NoticeKind::Expiring { expires_at } = notice.kind else { return false };
                    noticed.insert(notice.token.id.clone(), expires_at) != Some(expires_at)
                })
                .collect()
        };
        if let Some(hook) = &self.hook {
            fresh.iter().for_each(|notice| hook(notice));
        }
        Ok(fresh.len())
    }
}

impl<S: TokenManager + Send + Sync + 'static> ExpiryNotices<S> {
    /// Checks every `every` (at least a second) on a task of the current tokio runtime, until
    /// the returned handle is aborted or the runtime ends; a failed check is tried again at the
    /// next tick. `None` outside a tokio runtime: nothing to run the checks on.
    pub fn spawn(self, every: Duration) -> Option<tokio::task::JoinHandle<()>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(runtime.spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_secs(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let _ = self.check().await;
            }
        }))
    }
}

/// The tokens `query` selects that expire after now and at most `window` from now, on
/// `store`'s clock: one definition for the hook and the API's listing.
pub(crate) async fn expiring<S: TokenManager>(
    store: &S,
    mut query: TokenQuery,
    window: Duration,
) -> Result<Vec<Notice>, ManageError> {
    let now = store.clock().now();
    query.limit = TokenQuery::MAX_PAGE;
    let mut found = Vec::new();
    loop {
        let page = store.list_page(&query).await?;
        for token in page.items {
            if let Some(expires_at) = token.expires_within(now, window) {
                found.push(Notice::new(NoticeKind::Expiring { expires_at }, token));
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(found),
        }
    }
}

impl<S> ExpiryNoticesBuilder<S> {
    /// Tokens expiring at most this far ahead are noticed (default seven days).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Calls `hook` with each notice, once per token and expiry. Keep it fast (queue the
    /// email, do not send it here): a check runs the hooks one after another.
    pub fn on_notice(mut self, hook: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The notices.
    pub fn build(self) -> ExpiryNotices<S> {
        ExpiryNotices { store: self.store, window: self.window, hook: self.hook, noticed: Mutex::default() }
    }
}

impl<S> fmt::Debug for ExpiryNotices<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpiryNotices")
            .field("window", &self.window)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for ExpiryNoticesBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpiryNoticesBuilder")
            .field("window", &self.window)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}
