//! [`LeakReport`]: what the application hears about each leaked token of its store.

use tower_bearer::{Principal, TokenId};

/// A token of the store that a secret scanner found in public, as given to
/// [`LeakedTokenEndpoint::on_leak`](crate::LeakedTokenEndpoint::on_leak): for the audit log
/// (a `token.leaked` event) and for telling the token's owner.
///
/// It never holds the token, so `Debug` and any log of it are safe.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeakReport {
    /// The token's id. `None` only for a store that answers lookups without token ids
    /// (stores that manage tokens always give them); such a token cannot be revoked here.
    pub token_id: Option<TokenId>,
    /// Who the token belongs to.
    pub subject: String,
    /// The organization of the token's subject, if any.
    pub organization: Option<String>,
    /// Where the scanner found it: for GitHub, the public URL of the file, commit, issue or
    /// comment (`None` when the scanner sent none or an empty one).
    pub url: Option<String>,
    /// What kind of place the scanner found it in: for GitHub, `content`, `commit`,
    /// `issue_comment`, `gist_content`, `npm`, ... (as sent).
    pub source: Option<String>,
    /// Whether this report revoked the token. `false` for a token that was already revoked or
    /// expired (or replaced while the report was processed).
    pub revoked: bool,
}

impl LeakReport {
    pub(super) fn new(principal: &Principal, url: Option<&str>, source: Option<&str>, revoked: bool) -> Self {
        let given = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
        LeakReport {
            token_id: principal.token_id().cloned(),
            subject: principal.subject().to_owned(),
            organization: principal.organization().map(str::to_owned),
            url: given(url),
            source: given(source),
            revoked,
        }
    }
}
