//! [`Scopes`] granted to a token and the [`ScopeRequirement`] a route places on them.

use std::fmt;
use std::sync::{Arc, LazyLock};

/// A set of scope names (RFC 6749 §3.3 `scope-token`s), such as `invoices:read`.
///
/// Kept sorted and deduplicated; cheap to clone. The [`WILDCARD`](Self::WILDCARD) scope `*`
/// grants every scope.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(Arc<[Box<str>]>);

impl Scopes {
    /// The scope that grants every other scope ("full access"), for admin keys.
    pub const WILDCARD: &'static str = "*";

    /// No scopes at all.
    #[must_use]
    pub fn none() -> Self {
        Scopes::default()
    }

    /// Parses a space-separated scope string (the OAuth `scope` parameter form).
    ///
    /// ```
    /// # use tower_bearer::Scopes;
    /// let s = Scopes::parse("write read  read");
    /// assert_eq!(s.to_string(), "read write");
    /// ```
    #[must_use]
    pub fn parse(list: &str) -> Self {
        list.split(' ').filter(|s| !s.is_empty()).collect()
    }

    /// Whether `scope` is a valid RFC 6749 §3.3 `scope-token`: non-empty printable ASCII
    /// without space, `"` or `\`. Check scopes that come from outside (a request body)
    /// before building [`Scopes`] from them.
    #[must_use]
    pub fn is_valid(scope: &str) -> bool {
        is_scope_token(scope)
    }

    /// Whether this handle is the only one to its set.
    /// The empty set, for a reference to one without an allocation per caller.
    pub(crate) fn empty() -> &'static Scopes {
        static EMPTY: LazyLock<Scopes> = LazyLock::new(Scopes::none);
        &EMPTY
    }

    /// Whether `scope` is in the set literally.
    #[must_use]
    pub fn contains(&self, scope: &str) -> bool {
        self.0.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// Whether the set grants `scope`: it contains it or the wildcard.
    #[must_use]
    pub fn grants(&self, scope: &str) -> bool {
        self.contains(scope) || self.contains(Self::WILDCARD)
    }

    /// Whether every scope in `other` is granted by this set.
    #[must_use]
    pub fn grants_all(&self, other: &Scopes) -> bool {
        other.iter().all(|s| self.grants(s))
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.0.iter().map(|s| &**s)
    }

    /// Number of scopes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no scopes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut v: Vec<Box<str>> = iter.into_iter().map(|s| s.into().into_boxed_str()).collect();
        v.sort_unstable();
        v.dedup();
        Scopes(v.into())
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for Scopes {
    fn from(scopes: [S; N]) -> Self {
        scopes.into_iter().collect()
    }
}

impl<S: Into<String>> From<Vec<S>> for Scopes {
    fn from(scopes: Vec<S>) -> Self {
        scopes.into_iter().collect()
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, as in the OAuth `scope` parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// What a layer requires of a token's scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeRequirement {
    /// Every one of these scopes.
    All(Scopes),
    /// At least one of these scopes.
    Any(Scopes),
}

impl ScopeRequirement {
    /// Whether `granted` satisfies the requirement.
    #[must_use]
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        match self {
            ScopeRequirement::All(req) => granted.grants_all(req),
            ScopeRequirement::Any(req) => req.is_empty() || req.iter().any(|s| granted.grants(s)),
        }
    }

    /// The scopes named by the requirement (for the `scope` challenge parameter).
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        match self {
            ScopeRequirement::All(s) | ScopeRequirement::Any(s) => s,
        }
    }
}

/// Whether `s` is a valid RFC 6749 §3.3 `scope-token` (printable ASCII except space, `"`, `\`).
pub(crate) fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_and_any() {
        let granted = Scopes::parse("a b");
        assert!(ScopeRequirement::All(Scopes::parse("a b")).is_satisfied_by(&granted));
        assert!(!ScopeRequirement::All(Scopes::parse("a c")).is_satisfied_by(&granted));
        assert!(ScopeRequirement::Any(Scopes::parse("c b")).is_satisfied_by(&granted));
        assert!(!ScopeRequirement::Any(Scopes::parse("c d")).is_satisfied_by(&granted));
        assert!(ScopeRequirement::All(Scopes::parse("x y")).is_satisfied_by(&Scopes::parse("*")));
    }

    #[test]
    fn scope_token_syntax() {
        assert!(is_scope_token("invoices:read"));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token(""));
    }
}
