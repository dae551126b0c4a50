//! A row of the revocations table ([`tower_bearer::manage::Revocation`]s kept until each
//! token's expiry), and the notification payload that carries a revocation to other instances.

use sqlx::Row;
use tower_bearer::manage::Revocation;
use tower_bearer::{TokenHash, TokenId};

use crate::micros::time;

/// A row of the revocations table. Times are microseconds since the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RevocationRow {
    pub(crate) id: String,
    pub(crate) refused_from: i64,
    pub(crate) kept_until: i64,
    pub(crate) replaced_by: Option<String>,
}

impl RevocationRow {
    pub(crate) fn read<R: Row>(r: &R) -> Result<Self, sqlx::Error>
    where
        for<'a> &'a str: sqlx::ColumnIndex<R>,
        for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    {
        Ok(RevocationRow {
            id: r.try_get("id")?,
            refused_from: r.try_get("refused_from_us")?,
            kept_until: r.try_get("kept_until_us")?,
            replaced_by: r.try_get("replaced_by")?,
        })
    }

    pub(crate) fn revocation(&self) -> Revocation {
        let revocation =
            Revocation::new(TokenId::from(self.id.as_str()), time(self.refused_from), time(self.kept_until));
        match &self.replaced_by {
            Some(successor) => revocation.replaced_by(TokenId::from(successor.as_str())),
            None => revocation,
        }
    }
}

/// The notification of a change to the token with digest `hash`: the digest in hex (all a
/// cache needs, and all that versions before revocation records sent), then, when there is
/// one, the revocation: `<digest> <id> <refused from> <kept until> [<replaced by>]`. Ids are
/// the store's own (no spaces).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn payload(hash: &[u8], revocation: Option<&RevocationRow>) -> String {
    let mut payload: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(r) = revocation {
        payload.push_str(&format!(" {} {} {}", r.id, r.refused_from, r.kept_until));
        if let Some(successor) = &r.replaced_by {
            payload.push(' ');
            payload.push_str(successor);
        }
    }
    payload
}

/// The digest and revocation a [`payload`] carries; `None` for anything else (an operator's
/// `'all'`, a heartbeat).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn parse_payload(payload: &str) -> Option<(TokenHash, Option<Revocation>)> {
    let mut parts = payload.split(' ');
    let hash = parse_digest(parts.next()?)?;
    let Some(id) = parts.next() else {
        return Some((hash, None));
    };
    let refused_from = parts.next()?.parse().ok()?;
    let kept_until = parts.next()?.parse().ok()?;
    let replaced_by = parts.next().map(str::to_owned);
    if parts.next().is_some() || id.is_empty() {
        return None;
    }
    let row = RevocationRow { id: id.to_owned(), refused_from, kept_until, replaced_by };
    Some((hash, Some(row.revocation())))
}

fn parse_digest(hex: &str) -> Option<TokenHash> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(TokenHash::from_bytes(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_parse_from_hex() {
        let h = TokenHash::of("x");
        assert_eq!(parse_payload(&h.to_hex()), Some((h, None)));
        assert_eq!(parse_payload(&h.to_hex().to_uppercase()), Some((h, None)));
        assert_eq!(parse_payload("all"), None);
        assert_eq!(parse_payload(&"g".repeat(64)), None);
        assert_eq!(parse_payload(&h.to_hex()[..62]), None);
    }

    #[test]
    fn revocations_round_trip_through_the_payload() {
        let h = TokenHash::of("x");
        for replaced_by in [None, Some("tid_next".to_owned())] {
            let row = RevocationRow { id: "tid_a".into(), refused_from: 5, kept_until: -7, replaced_by };
            let payload = payload(h.as_bytes(), Some(&row));
            assert_eq!(parse_payload(&payload), Some((h, Some(row.revocation()))));
        }
        for junk in ["tid_a", "tid_a 1", "tid_a x 2", "tid_a 1 2 b c", " 1 2"] {
            assert_eq!(parse_payload(&format!("{} {junk}", h.to_hex())), None, "{junk}");
        }
    }
}
