//! Tokens as the crate handles them: [`PresentedToken`](crate::PresentedToken) (what a client
//! sent, redacted), [`TokenHash`](crate::TokenHash) (its SHA-256 digest, the only form a store
//! keeps), [`TokenSecret`](crate::TokenSecret) (a newly issued token, shown once),
//! [`TokenFormat`](crate::TokenFormat) (how generated tokens look, and the cheap check that
//! rejects mistyped or fabricated ones before any store lookup) and [`TokenId`](crate::TokenId)
//! (the public name of a token).

pub(crate) mod format;
pub(crate) mod hash;
pub(crate) mod id;
pub(crate) mod presented;
pub(crate) mod secret;

pub use format::FormatError;

#[cfg(test)]
mod tests {
    use super::format::{BASE62, FormatError, RANDOM_CHARS, TokenFormat};
    use super::hash::TokenHash;
    use super::presented::PresentedToken;
    use super::secret::TokenSecret;

    #[test]
    fn hash_matches_sha256() {
        assert_eq!(
            TokenHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn equality_is_by_digest() {
        assert_eq!(TokenHash::of("a"), TokenHash::of("a"));
        assert_ne!(TokenHash::of("a"), TokenHash::of("b"));
        let mut last_byte = *TokenHash::of("a").as_bytes();
        last_byte[31] ^= 1;
        assert_ne!(TokenHash::from_bytes(last_byte), TokenHash::of("a"));
    }

    #[test]
    fn presented_token_is_redacted_and_exposes_on_request() {
        let header = String::from("Bearer s3cr3t-token");
        let t = PresentedToken::new(&header[7..]);
        assert_eq!(t.expose_secret(), "s3cr3t-token");
        assert_eq!(*t.hash(), TokenHash::of("s3cr3t-token"));
        assert!(!format!("{t:?}").contains("s3cr3t"));
        let owned: PresentedToken<'static> = t.into_owned();
        drop(header);
        assert_eq!(owned.expose_secret(), "s3cr3t-token");
    }

    #[test]
    fn generated_tokens_have_the_format() {
        let format = TokenFormat::new("tok_test_");
        let a = format.generate();
        let b = format.generate();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(a.expose_secret().len(), format.token_len());
        assert!(a.expose_secret().starts_with("tok_test_"));
        assert!(a.expose_secret()[9..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(format.check(a.expose_secret()), Ok(()));
        assert!(!format!("{a:?}").contains(a.expose_secret()));
    }

    #[test]
    fn check_rejects_each_kind_of_damage() {
        let format = TokenFormat::new("tok_");
        let good = format.generate();
        let good = good.expose_secret();
        assert_eq!(format.check(&good.replacen("tok_", "tak_", 1)), Err(FormatError::Prefix));
        assert_eq!(format.check(&good[..good.len() - 1]), Err(FormatError::Shape));
        assert_eq!(format.check(&format!("{}-{}", &good[..10], &good[11..])), Err(FormatError::Shape));
        // Every single-character substitution in the random part is caught by the checksum.
        let bytes = good.as_bytes();
        for i in 4..4 + RANDOM_CHARS {
            let mut damaged = bytes.to_vec();
            damaged[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let damaged = String::from_utf8(damaged).unwrap();
            assert_eq!(format.check(&damaged), Err(FormatError::Checksum), "position {i}");
        }
        // A token of another prefix is not of this format.
        assert_eq!(
            format.check(TokenFormat::new("ot_").generate().expose_secret()),
            Err(FormatError::Prefix)
        );
    }

    #[test]
    fn random_part_uses_the_whole_alphabet() {
        let format = TokenFormat::new("t_");
        let mut seen = [false; 256];
        for _ in 0..200 {
            for b in format.generate().expose_secret()[2..2 + RANDOM_CHARS].bytes() {
                seen[usize::from(b)] = true;
            }
        }
        assert!(BASE62.iter().all(|&b| seen[usize::from(b)]));
    }

    #[test]
    fn hints_show_a_known_prefix_and_the_last_four() {
        let generated = TokenFormat::new("tok_live_").generate();
        let last_four = &generated.expose_secret()[generated.expose_secret().len() - 4..];
        assert_eq!(generated.hint(), format!("tok_live_…{last_four}"));
        assert_eq!(super::secret::display_hint("tok_live_abcdefghijklmnopWXYZ", 9), "tok_live_…WXYZ");
        assert_eq!(super::secret::display_hint("tok_live_ab", 9), "tok_live_…");
        assert_eq!(TokenSecret::new("plainstatickey123456").hint(), "…3456");
        assert_eq!(TokenSecret::new("short").hint(), "…");
        // A secret of unknown format shows no prefix: this one's "prefix" is most of the key.
        assert_eq!(TokenSecret::new("alice_secret_key_0123456789").hint(), "…6789");
        assert_eq!(TokenSecret::new("tok_live_abcdefghijklmnopWXYZ").hint(), "…WXYZ");
        // Multi-byte characters never split (this used to panic slicing inside one).
        assert_eq!(TokenSecret::new("ключ-ключ-ключ-ключ").hint(), "…юч");
        assert_eq!(super::secret::display_hint("ключ_секрет_0123", 3), "…0123");
    }

    #[test]
    #[should_panic(expected = "token prefix")]
    fn prefixes_are_restricted() {
        let _ = TokenFormat::new("tok-live");
    }
}
