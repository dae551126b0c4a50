//! The SQLite change feed (migration `token changes`): the digest of every token whose
//! validity ended or changed, numbered in commit order, written in the transaction that
//! changes the token and polled by the caches of every process sharing the file. PostgreSQL
//! sends the same digests with `pg_notify` instead.

use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use tower_bearer::TokenHash;

/// How many of the newest changes are kept: a reader more than this many behind finds a gap
/// and starts over ([`Feed::read`]).
const KEPT: i64 = 10_000;

/// How many changes one read returns at most (a reader behind by more reads again at once).
const BATCH: i64 = 1_000;

/// Records that the token with digest `hash` changed, in the caller's transaction, and purges
/// the changes older than the newest [`KEPT`].
pub(crate) async fn record(conn: &mut SqliteConnection, hash: &[u8]) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO tower_bearer_token_changes (token_hash) VALUES (?1)")
        .bind(hash)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM tower_bearer_token_changes WHERE seq <= ?1")
        .bind(inserted.last_insert_rowid() - KEPT)
        .execute(conn)
        .await
        .map(drop)
}

/// A reader's place in the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Feed {
    /// The number of the last change read; 0 before any.
    last: i64,
}

/// What one read of the feed found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// These tokens changed since the last read (and `more` follow at once).
    Changed { hashes: Vec<TokenHash>, more: bool },
    /// Changes after the last read were purged before this one: some may have been missed.
    Gap,
}

impl Feed {
    /// The place after every change recorded so far.
    pub(crate) async fn start(pool: &SqlitePool) -> Result<Feed, sqlx::Error> {
        let last: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS last FROM tower_bearer_token_changes")
            .fetch_one(pool)
            .await?
            .try_get("last")?;
        Ok(Feed { last })
    }

    /// The changes after this place, which moves past them (past every change there is, on a
    /// gap).
    pub(crate) async fn read(&mut self, pool: &SqlitePool) -> Result<Read, sqlx::Error> {
        // One row before the first unread one, if it is still kept: its absence is the gap.
        let rows = sqlx::query(
            "SELECT seq, token_hash FROM tower_bearer_token_changes WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
        )
        .bind(self.last)
        .bind(BATCH + 1)
        .fetch_all(pool)
        .await?;
        let mut changes = Vec::with_capacity(rows.len());
        for row in &rows {
            let hash: Vec<u8> = row.try_get("token_hash")?;
            // A digest of another length was not written by this store: taken as a gap, so
            // that the reader forgets everything rather than something.
            let hash = <[u8; 32]>::try_from(hash).ok().map(TokenHash::from_bytes);
            changes.push((row.try_get::<i64, _>("seq")?, hash));
        }
        let read = self.next(&changes);
        if read == Read::Gap {
            *self = Feed::start(pool).await?;
        }
        Ok(read)
    }

    /// The read of `rows` (numbers from the last one read, ascending) from this place.
    fn next(&mut self, rows: &[(i64, Option<TokenHash>)]) -> Read {
        let unread = match rows.first() {
            Some((seq, _)) if *seq == self.last => &rows[1..],
            // No change was recorded before this reader started (a purge never empties the
            // table): the feed starts at 1.
            Some((1, _)) if self.last == 0 => rows,
            None if self.last == 0 => rows,
            // The last change read, or the first one, was purged: others may have been too.
            _ => return Read::Gap,
        };
        let batch = usize::try_from(BATCH).unwrap_or(usize::MAX);
        let more = unread.len() >= batch;
        let mut hashes = Vec::with_capacity(unread.len().min(batch));
        for (seq, hash) in &unread[..unread.len().min(batch)] {
            let Some(hash) = hash else { return Read::Gap };
            hashes.push(*hash);
            self.last = *seq;
        }
        Read::Changed { hashes, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Option<TokenHash> {
        Some(TokenHash::from_bytes([n; 32]))
    }

    #[test]
    fn a_reader_resumes_after_the_last_change_it_read() {
        let mut feed = Feed { last: 0 };
        assert_eq!(feed.next(&[]), Read::Changed { hashes: vec![], more: false });
        let read = feed.next(&[(1, h(1)), (2, h(2))]);
        assert_eq!(read, Read::Changed { hashes: vec![h(1).unwrap(), h(2).unwrap()], more: false });
        assert_eq!(feed, Feed { last: 2 });
        assert_eq!(feed.next(&[(2, h(2))]), Read::Changed { hashes: vec![], more: false });
        assert_eq!(
            feed.next(&[(2, h(2)), (3, h(3))]),
            Read::Changed { hashes: vec![h(3).unwrap()], more: false }
        );
        assert_eq!(feed, Feed { last: 3 });
    }

    #[test]
    fn a_purged_last_change_is_a_gap() {
        let mut feed = Feed { last: 3 };
        assert_eq!(feed.next(&[(5, h(5))]), Read::Gap, "3 and 4 purged");
        assert_eq!(feed.next(&[]), Read::Gap, "everything purged");
        let mut fresh = Feed { last: 0 };
        assert_eq!(fresh.next(&[(7, h(7))]), Read::Gap, "the first changes purged before the first read");
        assert_eq!(fresh.next(&[(1, h(1))]), Read::Changed { hashes: vec![h(1).unwrap()], more: false });
    }

    #[test]
    fn a_digest_of_another_length_is_a_gap() {
        let mut feed = Feed { last: 1 };
        assert_eq!(feed.next(&[(1, h(1)), (2, None)]), Read::Gap);
    }

    #[test]
    fn a_long_backlog_is_read_in_batches() {
        let rows: Vec<_> = (1..=BATCH + 1).map(|seq| (seq, h(1))).collect();
        let mut feed = Feed { last: 0 };
        let Read::Changed { hashes, more } = feed.next(&rows) else { panic!("a read") };
        assert_eq!((hashes.len() as i64, more), (BATCH, true));
        assert_eq!(feed, Feed { last: BATCH });
    }
}
