//! [`TokenQuery`]: which tokens a listing returns, a page at a time, and the
//! [`PageCursor`] that continues it.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::grant::{Grant, MintRules, Visibility};
use crate::manage::error::ManageError;
use crate::manage::info::TokenInfo;
use crate::token::id::TokenId;

/// The page size when a query names none.
const DEFAULT_LIMIT: usize = 100;
/// Which live tokens a listing returns: those of a subject, of an organization, or both
/// (every filter must match; none: every token of the store), oldest first, `limit` at a
/// time, after a cursor.
///
/// ```
/// use tower_bearer::manage::TokenQuery;
///
/// let first = TokenQuery::new().organization("acme").limit(50);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenQuery {
    /// Only this subject's tokens.
    pub subject: Option<String>,
    /// Only this tenant's tokens.
    pub organization: TenantFilter,
    /// At most this many (1 to [`MAX_PAGE`](TokenQuery::MAX_PAGE); 0 means the default, 100).
    pub limit: usize,
    /// After this position (from the previous page's [`Page::next`](crate::manage::Page::next)).
    pub after: Option<PageCursor>,
}

impl TokenQuery {
    /// The largest page a store returns.
    pub const MAX_PAGE: usize = 1000;

    /// Every live token, a page of 100 at a time.
    #[must_use]
    pub fn new() -> Self {
        TokenQuery::default()
    }

    /// Only `subject`'s tokens.
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Only `organization`'s tokens.
    #[must_use]
    pub fn organization(mut self, organization: impl Into<String>) -> Self {
        self.organization = TenantFilter::Organization(organization.into());
        self
    }

    /// Only the tokens of exactly this tenant: `None` selects the tokens without an
    /// organization, never "any".
    #[must_use]
    pub fn tenant(mut self, organization: Option<&str>) -> Self {
        self.organization = TenantFilter::of(organization);
        self
    }

    /// This query narrowed to what `actor` may see under `rules`: its own tenant exactly (a
    /// token without an organization sees only tokens without one), and only its own subject
    /// unless it holds the admin scope.
    #[must_use]
    pub fn within(mut self, rules: &MintRules, actor: &Grant) -> Self {
        narrow(rules.visibility(actor), &mut self.organization, &mut self.subject);
        self
    }

    /// At most `limit` tokens (cut to [`MAX_PAGE`](TokenQuery::MAX_PAGE)).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The page after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: PageCursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// The page size the store applies.
    #[must_use]
    pub fn page_size(&self) -> usize {
        page_size(self.limit)
    }

    /// Whether `info` passes the filters and comes after the cursor.
    #[must_use]
    pub fn admits(&self, info: &TokenInfo) -> bool {
        let p = &info.principal;
        self.subject.as_deref().is_none_or(|s| p.subject() == s)
            && self.organization.admits(p.organization())
            && self.after.as_ref().is_none_or(|c| PageCursor::of(info) > *c)
    }

    /// The page of `candidates` (any order) this query selects: what a store that holds its
    /// tokens in memory answers.
    #[must_use]
    pub fn select(&self, candidates: impl IntoIterator<Item = TokenInfo>) -> Page<TokenInfo> {
        let mut tokens: Vec<TokenInfo> = candidates.into_iter().filter(|i| self.admits(i)).collect();
        tokens.sort_by_key(PageCursor::of);
        Page::from_one_extra(tokens, self.page_size(), PageCursor::of)
    }
}

/// Narrows a listing's filters to what `visible` shows: its tenant exactly, and its subject if
/// it names one. For both token and audit listings.
pub(crate) fn narrow(visible: Visibility<'_>, organization: &mut TenantFilter, subject: &mut Option<String>) {
    *organization = TenantFilter::of(visible.organization);
    if let Some(only) = visible.subject {
        *subject = Some(only.to_owned());
    }
}

/// The page size for a requested `limit`: 0 means the default, and none is over [`MAX_PAGE`](TokenQuery::MAX_PAGE).
pub(crate) fn page_size(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_LIMIT,
        n => n.min(TokenQuery::MAX_PAGE),
    }
}

/// Which tenant a listing covers: any, one organization, or exactly the tokens without one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TenantFilter {
    /// Every tenant: what an operator lists, never what a token is shown.
    #[default]
    Any,
    /// The tokens of this organization.
    Organization(String),
    /// The tokens without an organization (a tenant of its own).
    NoOrganization,
}

impl TenantFilter {
    /// The filter for exactly the tenant `organization` (`None`: the tokens without one).
    #[must_use]
    pub fn of(organization: Option<&str>) -> Self {
        organization.map_or(TenantFilter::NoOrganization, |o| TenantFilter::Organization(o.to_owned()))
    }

    /// Whether a token of `organization` passes.
    #[must_use]
    pub fn admits(&self, organization: Option<&str>) -> bool {
        match self {
            TenantFilter::Any => true,
            TenantFilter::Organization(o) => organization == Some(o.as_str()),
            TenantFilter::NoOrganization => organization.is_none(),
        }
    }

    /// The filter as SQL parameters: the organization to match (`None`: no condition), and
    /// whether the organization must be NULL. `(org IS NULL OR organization = org) AND (NOT
    /// none OR organization IS NULL)`.
    #[must_use]
    pub fn sql_params(&self) -> (Option<&str>, bool) {
        match self {
            TenantFilter::Any => (None, false),
            TenantFilter::Organization(o) => (Some(o), false),
            TenantFilter::NoOrganization => (None, true),
        }
    }
}

/// A page of a listing: tokens ([`TokenManager::list_page`](crate::TokenManager::list_page),
/// with a [`PageCursor`]) or audit records
/// ([`AuditLog::audit_page`](crate::manage::audit::AuditLog::audit_page), with the last record's number).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Page<T, C = PageCursor> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// The page of `items` (in order, at most `size + 1` of them: the extra one only tells
    /// that more follow), the next page starting after the last item's `cursor`.
    #[must_use]
    pub fn from_one_extra(mut items: Vec<T>, size: usize, cursor: impl FnOnce(&T) -> C) -> Self {
        let more = items.len() > size;
        items.truncate(size);
        let next = if more { items.last().map(cursor) } else { None };
        Page { items, next }
    }
}

impl<T, C> Default for Page<T, C> {
    fn default() -> Self {
        Page { items: Vec::new(), next: None }
    }
}

/// A position in a listing: the creation time (to the microsecond) and id of the last token
/// of a page. Its text form (`Display`, `FromStr`) is what APIs hand to clients: opaque to
/// them, stable across stores.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageCursor {
    /// Microseconds since the Unix epoch.
    created_us: i64,
    id: TokenId,
}

impl PageCursor {
    /// The position of `info`.
    #[must_use]
    pub fn of(info: &TokenInfo) -> Self {
        PageCursor { created_us: micros(info.created_at), id: info.id.clone() }
    }

    /// The position of a token created at `created_us` (microseconds since the epoch) with
    /// id `id`: for stores that keep times that way.
    #[must_use]
    pub fn at(created_us: i64, id: TokenId) -> Self {
        PageCursor { created_us, id }
    }

    /// The creation time, in microseconds since the epoch.
    #[must_use]
    pub fn created_us(&self) -> i64 {
        self.created_us
    }

    /// The token id.
    #[must_use]
    pub fn id(&self) -> &TokenId {
        &self.id
    }
}

fn micros(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_micros()).map_or(i64::MIN, |us| -us),
    }
}

impl fmt::Display for PageCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_us, self.id.as_str())
    }
}

impl FromStr for PageCursor {
    type Err = ManageError;

    /// A cursor a listing handed out; anything else is [`ManageError::Invalid`].
    fn from_str(s: &str) -> Result<Self, ManageError> {
        const BAD: ManageError = ManageError::Invalid("listing cursor");
        let (us, id) = s.split_once('.').ok_or(BAD)?;
        let id_ok =
            !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !id_ok {
            return Err(BAD);
        }
        Ok(PageCursor { created_us: us.parse().map_err(|_| BAD)?, id: TokenId::from(id) })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::principal::Principal;

    fn time(us: i64) -> SystemTime {
        let d = Duration::from_micros(us.unsigned_abs());
        if us >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH - d }
    }

    fn info(id: &str, us: i64, subject: &str, org: Option<&str>) -> TokenInfo {
        let mut p = Principal::builder(subject).token_id(id);
        if let Some(org) = org {
            p = p.organization(org);
        }
        TokenInfo::new(TokenId::from(id), p.build(), time(us))
    }

    #[test]
    fn pages_walk_every_token_once_in_order() {
        let all: Vec<TokenInfo> = (0..25)
            .map(|i| {
                info(
                    &format!("tid_{:02}", 24 - i),
                    i64::from(i / 2),
                    if i % 3 == 0 { "a" } else { "b" },
                    Some("o"),
                )
            })
            .collect();
        let mut seen = Vec::new();
        let mut query = TokenQuery::new().organization("o").limit(4);
        loop {
            let page = query.select(all.clone());
            assert!(page.items.len() <= 4);
            seen.extend(page.items.iter().map(|t| t.id.clone()));
            match page.next {
                Some(next) => {
                    // Through the text form, as an API client would.
                    query = query.after(next.to_string().parse().unwrap());
                }
                None => break,
            }
        }
        let mut expected: Vec<TokenInfo> = all.clone();
        expected.sort_by_key(PageCursor::of);
        assert_eq!(seen, expected.iter().map(|t| t.id.clone()).collect::<Vec<_>>());
        assert_eq!(TokenQuery::new().subject("a").select(all.clone()).items.len(), 9);
        assert!(TokenQuery::new().organization("p").select(all).items.is_empty());
    }

    #[test]
    fn cursors_parse_only_what_listings_hand_out() {
        let c = PageCursor::at(-5, TokenId::from("tid_x"));
        assert_eq!(c.to_string().parse::<PageCursor>().ok(), Some(c));
        for bad in ["", "5", "x.tid", "5.", "5.a b", "5.a.b", &format!("1.{}", "a".repeat(65))] {
            assert!(matches!(bad.parse::<PageCursor>(), Err(ManageError::Invalid(_))), "{bad}");
        }
        assert_eq!(TokenQuery::new().limit(0).page_size(), 100);
        assert_eq!(TokenQuery::new().limit(5000).page_size(), TokenQuery::MAX_PAGE);
    }
}
