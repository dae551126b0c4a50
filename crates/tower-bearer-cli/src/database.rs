//! [`DatabaseUrl`]: where the tokens are. It may hold a password, so it stays out of `Debug`
//! and of every message the CLI prints.

use std::env::{self, VarError};
use std::fmt;
use std::path::Path;

/// The environment variable read when `--database` is not given.
pub(crate) const DATABASE_ENV: &str = "TOWER_BEARER_DATABASE_URL";

/// The token database's URL, and the parts of it that must never be printed.
pub(crate) struct DatabaseUrl {
    url: String,
    /// The whole URL and every password candidate in it, raw and percent-decoded.
    secrets: Vec<String>,
}

impl DatabaseUrl {
    /// The URL given by `--database`, or else by [`DATABASE_ENV`].
    ///
    /// # Errors
    ///
    /// What is wrong, for a usage error, when neither gives one (or the variable is not
    /// UTF-8).
    pub(crate) fn from_arg_or_env(arg: Option<String>) -> Result<Self, String> {
        let url = match arg {
            Some(url) => url,
            None => match env::var(DATABASE_ENV) {
                Ok(url) => url,
                Err(VarError::NotPresent) => String::new(),
                Err(VarError::NotUnicode(_)) => {
                    return Err(format!("{DATABASE_ENV} is not valid UTF-8"));
                }
            },
        };
        if url.trim().is_empty() {
            return Err(format!(
                "no token database: pass --database <URL> or set {DATABASE_ENV} \
                 (sqlite://path/to/tokens.db or postgres://user:password@host/database)"
            ));
        }
        let secrets = secrets_of(&url);
        Ok(DatabaseUrl { url, secrets })
    }

    /// The URL itself, to open the store with: nothing else may see it.
    pub(crate) fn expose(&self) -> &str {
        &self.url
    }

    /// Whether `text` contains the URL or a password from it.
    pub(crate) fn shows_in(&self, text: &str) -> bool {
        self.secrets.iter().any(|secret| text.contains(secret.as_str()))
    }

    /// Whether this names a SQLite file that does not exist (opening would create it: right
    /// for a first `issue`, a typo for anything else). `false` when it cannot tell.
    pub(crate) fn is_missing_sqlite_file(&self) -> bool {
        // As sqlx reads it: the scheme, then the path up to the parameters.
        let Some(rest) = self.url.strip_prefix("sqlite:") else { return false };
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path == ":memory:" || params.contains("mode=memory");
        let unknowable = path.is_empty() || path.contains('%');
        !in_memory && !unknowable && !Path::new(path).exists()
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

/// The URL and every password it may hold: the user-info password (between the first `:` and
/// an `@`; an unescaped `@` may be part of it, so every `@` gives a candidate) and `password=`
/// parameters, each as written and percent-decoded.
fn secrets_of(url: &str) -> Vec<String> {
    let mut passwords = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    for (at, _) in rest.match_indices('@') {
        if let Some((_, password)) = rest[..at].split_once(':') {
            passwords.push(password);
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        for (key, value) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            if key.eq_ignore_ascii_case("password") {
                passwords.push(value);
            }
        }
    }
    let mut secrets = vec![url.to_owned()];
    for password in passwords.into_iter().filter(|p| !p.is_empty()) {
        secrets.push(password.to_owned());
        // `%XX` escapes decoded, `+` left alone, as in a URL's user-info.
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
        if !decoded.is_empty() && decoded != password {
            secrets.push(decoded.into_owned());
        }
    }
    secrets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> DatabaseUrl {
        DatabaseUrl::from_arg_or_env(Some(text.to_owned())).unwrap()
    }

    #[test]
    fn passwords_are_recognised_in_any_spelling() {
        let db = url("postgres://ops:p%40ss%2Fw0rd@db.internal:5432/app?sslmode=disable");
        assert!(db.shows_in("failed for postgres://ops:p%40ss%2Fw0rd@db.internal:5432/app?sslmode=disable"));
        assert!(db.shows_in("password p@ss/w0rd rejected"));
        assert!(db.shows_in("password p%40ss%2Fw0rd rejected"));
        assert!(!db.shows_in("password authentication failed for user \"ops\" at db.internal:5432"));
        let unescaped = url("postgres://ops:a@b@db/app");
        assert!(unescaped.shows_in("a@b"));
        let in_query = url("postgres://db/app?user=ops&password=hunter2");
        assert!(in_query.shows_in("hunter2"));
        assert!(!url("postgres://db/app").shows_in("db/app"));
        assert_eq!(format!("{unescaped:?}"), "DatabaseUrl(<redacted>)");
    }

    #[test]
    fn only_missing_files_count_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.db");
        let as_url = |prefix: &str| url(&format!("{prefix}{}", file.display()));
        assert!(as_url("sqlite://").is_missing_sqlite_file());
        assert!(as_url("sqlite:").is_missing_sqlite_file());
        std::fs::write(&file, b"").unwrap();
        assert!(!as_url("sqlite://").is_missing_sqlite_file());
        assert!(!url(&format!("sqlite://{}?mode=rwc", file.display())).is_missing_sqlite_file());
        for never in ["sqlite::memory:", "sqlite://:memory:", "sqlite://?mode=memory", "postgres://db/app"] {
            assert!(!url(never).is_missing_sqlite_file(), "{never}");
        }
    }
}
