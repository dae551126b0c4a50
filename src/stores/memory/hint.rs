//! [`Hint`]: a stored token's display hint in six bytes, instead of a string of its own.

/// Whether a display hint starts with the store format's prefix, and the up to four ASCII
/// characters of the secret it ends with: `tok_…a1B2` is rendered from `true` and `a1B2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hint {
    prefixed: bool,
    len: u8,
    tail: [u8; 4],
}

impl Hint {
    /// The hint of `secret` whose first `prefix_len` bytes are the store format's prefix (0:
    /// none shown), rendering as [`display_hint`](crate::token::secret::display_hint) does: the
    /// last four characters when at least twelve follow the prefix. Secrets are `b64token`s
    /// (ASCII); a tail that is not ASCII is not shown.
    pub(super) fn of(secret: &str, prefix_len: usize) -> Self {
        let mut hint = Hint { prefixed: prefix_len > 0, len: 0, tail: [0; 4] };
        if secret.len() >= prefix_len.saturating_add(12)
            && let Some(tail) = secret.get(secret.len() - 4..).filter(|t| t.is_ascii())
        {
            hint.tail.copy_from_slice(tail.as_bytes());
            hint.len = 4;
        }
        hint
    }

    /// The hint's text, for a store whose format has `prefix`.
    pub(super) fn render(self, prefix: &str) -> String {
        let tail = std::str::from_utf8(&self.tail[..usize::from(self.len)]).unwrap_or_default();
        format!("{}…{tail}", if self.prefixed { prefix } else { "" })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::token::secret::display_hint;

    proptest! {
        /// The same text as the hint the store kept as a string before.
        #[test]
        fn renders_as_display_hint(secret in "[A-Za-z0-9._~+/-]{0,40}", prefixed in proptest::bool::ANY) {
            let prefix = "tok_";
            let secret = if prefixed { format!("{prefix}{secret}") } else { secret };
            let prefix_len = if prefixed { prefix.len() } else { 0 };
            prop_assert_eq!(Hint::of(&secret, prefix_len).render(prefix), display_hint(&secret, prefix_len));
        }
    }
}
