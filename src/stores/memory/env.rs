//! Static keys from environment variables: [`MemoryTokenStore::insert_from_env`].

use std::ffi::OsString;

use super::error::InsertError;
use super::store::MemoryTokenStore;
use crate::principal::Principal;
use crate::token::id::TokenId;

impl MemoryTokenStore {
    /// Stores one static key per environment variable named `<prefix><NAME>`: the value is
    /// the key and `principal(name)` its principal, `name` being the rest of the variable's
    /// name in lowercase (`API_KEY_ALICE` with prefix `API_KEY_` gives `alice`). Variables are
    /// taken in name order; ones with nothing after the prefix, or whose name is not Unicode,
    /// are skipped. Returns the ids of the stored keys.
    ///
    /// ```
    /// use tower_bearer::{MemoryTokenStore, Principal};
    ///
    /// let store = MemoryTokenStore::new();
    /// let loaded = store.insert_from_env("MY_APP_API_KEY_", |user| {
    ///     Principal::builder(user).token_id(format!("key_{user}")).token_kind("static").build()
    /// })?;
    /// println!("{} static keys loaded", loaded.len());
    /// # Ok::<_, tower_bearer::stores::InsertError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InsertError`] naming the first variable whose value is not UTF-8 or not a usable
    /// bearer token (or a duplicate); keys stored before it stay stored.
    pub fn insert_from_env<F>(&self, prefix: &str, principal: F) -> Result<Vec<TokenId>, InsertError>
    where
        F: FnMut(&str) -> Principal,
    {
        self.insert_from_vars(prefix, std::env::vars_os(), principal)
    }

    /// [`insert_from_env`](Self::insert_from_env) over any set of variables.
    fn insert_from_vars<F>(
        &self,
        prefix: &str,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
        mut principal: F,
    ) -> Result<Vec<TokenId>, InsertError>
    where
        F: FnMut(&str) -> Principal,
    {
        let mut keys: Vec<(String, OsString)> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                (name.len() > prefix.len() && name.starts_with(prefix)).then_some((name, value))
            })
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        let mut ids = Vec::with_capacity(keys.len());
        for (variable, value) in keys {
            let Ok(secret) = value.into_string() else {
                return Err(InsertError::NotUnicode { variable });
            };
            let name = variable[prefix.len()..].to_lowercase();
            match self.insert(&secret, principal(&name)) {
                Ok(id) => ids.push(id),
                Err(error) => return Err(InsertError::FromEnv { variable, error: Box::new(error) }),
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Answer;
    use crate::store::lookup::TokenStore;
    use crate::store::state::TokenState;
    use crate::token::presented::PresentedToken;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    fn subject_of(store: &MemoryTokenStore, secret: &str) -> Option<String> {
        match store.lookup(&PresentedToken::new(secret)) {
            Answer::Now(Ok(TokenState::Active(p))) => Some(p.subject().to_owned()),
            _ => None,
        }
    }

    #[test]
    fn loads_every_prefixed_variable_as_a_lowercased_subject() {
        let store = MemoryTokenStore::new();
        let env = vars(&[
            ("KEY_BOB", "bob-key"),
            ("OTHER", "x"),
            ("KEY_", "empty-name"),
            ("KEY_ALICE", "alice-key"),
        ]);
        let ids = store.insert_from_vars("KEY_", env, |u| Principal::builder(u).build()).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(subject_of(&store, "alice-key").as_deref(), Some("alice"));
        assert_eq!(subject_of(&store, "bob-key").as_deref(), Some("bob"));
        assert_eq!(subject_of(&store, "x"), None);
    }

    #[test]
    fn errors_name_the_variable_and_never_the_value() {
        let store = MemoryTokenStore::new();
        let env = vars(&[("KEY_ALICE", "bad value with spaces")]);
        let err = store.insert_from_vars("KEY_", env, |u| Principal::builder(u).build()).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("KEY_ALICE"), "{shown}");
        assert!(!shown.contains("bad value"), "{shown}");
        assert!(
            matches!(err, InsertError::FromEnv { ref error, .. } if **error == InsertError::InvalidToken)
        );

        let dup = vars(&[("KEY_A", "same-key"), ("KEY_B", "same-key")]);
        let err = store.insert_from_vars("KEY_", dup, |u| Principal::builder(u).build()).unwrap_err();
        assert!(
            matches!(err, InsertError::FromEnv { ref variable, ref error } if variable == "KEY_B" && **error == InsertError::DuplicateToken)
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_value_that_is_not_utf8_is_named_not_shown() {
        use std::os::unix::ffi::OsStringExt;
        let store = MemoryTokenStore::new();
        let env = vec![(OsString::from("KEY_ALICE"), OsString::from_vec(vec![0xff, 0xfe]))];
        let err = store.insert_from_vars("KEY_", env, |u| Principal::builder(u).build()).unwrap_err();
        assert_eq!(err, InsertError::NotUnicode { variable: "KEY_ALICE".into() });
    }
}
