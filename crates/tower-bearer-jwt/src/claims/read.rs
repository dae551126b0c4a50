//! Reading claims in the form this crate signs them, without a general JSON parser: compact
//! JSON whose strings have no escapes and whose numbers are integers. Every token this crate
//! issues is read here, in less than half of `serde_json`'s time (BENCHMARKS.md).
//!
//! Anything else is declined, not refused: an escape, a fraction or exponent, a negative
//! number, a claim given twice, a claim of the wrong type, nesting deeper than
//! [`MAX_DEPTH`], bytes that are not UTF-8. [`Claims::parse`](super::Claims::parse) then
//! gives the payload to `serde_json`, which decides. A property test holds the two to one
//! answer: whatever this reader returns, `serde_json` returns too.

use std::borrow::Cow;

use super::{Audience, Claims, ConfirmationClaim, CreditsClaim, RateLimitClaim};

/// The bytes that end a string's plain run: its closing quote, an escape, a control
/// character (which JSON does not allow in a string).
pub(super) static ENDS_PLAIN_STRING: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The length of `bytes`' plain run: up to the first byte that ends it ([`ENDS_PLAIN_STRING`]),
/// or all of it. Eight bytes at a time, each word tested for the three kinds of end with
/// arithmetic (a byte-at-a-time table lookup was most of a read, by `perf`), then the rest
/// byte by byte.
#[inline]
pub(super) fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// The high bit of each byte below `n` (at most 0x80): exact for the lowest such byte, as
    /// a borrow only runs upwards, from a byte that is below `n`.
    const fn below(word: u64, n: u8) -> u64 {
        word.wrapping_sub(ONES * n as u64) & !word & HIGHS
    }
    let mut at = 0;
    let mut words = bytes.chunks_exact(8);
    for chunk in words.by_ref() {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let ends = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if ends != 0 {
            // Little-endian: the lowest set bit is the first byte in the text.
            return at + (ends.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + words
        .remainder()
        .iter()
        .position(|&b| ENDS_PLAIN_STRING[usize::from(b)])
        .unwrap_or(words.remainder().len())
}

/// How deep an unknown claim's value may nest before the reader declines.
const MAX_DEPTH: u32 = 32;

/// The claims of `payload`, or `None` if it is not in the form this reader handles.
pub(super) fn read(payload: &[u8]) -> Option<Claims<'_>> {
    let mut r = Reader { text: std::str::from_utf8(payload).ok()?, at: 0 };
    let mut iss = None;
    let mut sub = None;
    let mut aud = None;
    let mut exp = None;
    let mut nbf = None;
    let mut jti = None;
    let mut scope = None;
    let mut organization = None;
    let mut token_kind = None;
    let mut token_name = None;
    let mut rate_limit = None;
    let mut credits = None;
    let mut cnf = None;
    r.object(|r, name| match name {
        "iss" => once(&mut iss, r.string()),
        "sub" => once(&mut sub, r.string()),
        "aud" => once(&mut aud, r.audience()),
        "exp" => once(&mut exp, r.integer()),
        "nbf" => once(&mut nbf, r.integer()),
        "jti" => once(&mut jti, r.string()),
        "scope" => once(&mut scope, r.string()),
        "organization" => once(&mut organization, r.string()),
        "token_kind" => once(&mut token_kind, r.string()),
        "token_name" => once(&mut token_name, r.string()),
        "rate_limit" => once(&mut rate_limit, r.rate_limit()),
        "credits" => once(&mut credits, r.credits()),
        "cnf" => once(&mut cnf, r.confirmation()),
        _ => r.skip(),
    })?;
    r.end()?;
    Some(Claims {
        iss: Cow::Borrowed(iss?),
        sub: sub.map(Cow::Borrowed),
        aud: aud?,
        exp: exp?,
        nbf,
        jti: jti.map(Cow::Borrowed),
        scope: scope.map(Cow::Borrowed),
        organization: organization.map(Cow::Borrowed),
        token_kind: token_kind.map(Cow::Borrowed),
        token_name: token_name.map(Cow::Borrowed),
        rate_limit,
        credits,
        cnf,
    })
}

/// Sets a claim read for the first time; declines a second one (`serde_json` refuses it) or
/// a value the reader did not take.
fn once<T>(claim: &mut Option<T>, value: Option<T>) -> Option<()> {
    if claim.is_some() {
        return None;
    }
    *claim = Some(value?);
    Some(())
}

/// A position in a payload known to be UTF-8.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    /// The next byte after JSON whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    /// Consumes `byte`, after whitespace.
    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Only whitespace is left.
    #[inline]
    fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// A string without escapes, borrowed.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        let len = plain_run(rest);
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        // On char boundaries: the text is UTF-8 and both ends are at ASCII quotes.
        self.text.get(start..start + len)
    }

    /// A non-negative integer that fits a `u64`, as JSON writes it (no leading zero).
    #[inline]
    fn integer(&mut self) -> Option<u64> {
        self.peek()?;
        let rest = self.text.as_bytes().get(self.at..)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0
            || (digits > 1 && rest[0] == b'0')
            || matches!(rest.get(digits), Some(b'.' | b'e' | b'E'))
        {
            return None;
        }
        let value = rest[..digits]
            .iter()
            .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
        self.at += digits;
        Some(value)
    }

    /// An object's members: `member` reads each value, given its name.
    #[inline]
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.sequence(b'{', b'}', |r| {
            let name = r.string()?;
            r.eat(b':')?;
            member(r, name)
        })
    }

    /// An array's elements: `element` reads each.
    #[inline]
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.sequence(b'[', b']', element)
    }

    /// `open`, then items read by `item` and separated by commas, then `close`.
    #[inline]
    fn sequence(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(open)?;
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b if b == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Passes over a value this crate does not read.
    #[inline]
    fn skip(&mut self) -> Option<()> {
        // Recursion takes a reader's address; a copy takes it, so that this reader's position
        // can stay in a register (measured: ≈ 10 % of a read).
        let mut nested = Reader { text: self.text, at: self.at };
        nested.skip_nested(0)?;
        self.at = nested.at;
        Some(())
    }

    fn skip_nested(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|r, _| r.skip_nested(depth + 1)),
            b'[' => self.array(|r| r.skip_nested(depth + 1)),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.integer().map(drop),
        }
    }

    #[inline]
    fn literal(&mut self, word: &str) -> Option<()> {
        let rest = self.text.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    /// `aud`: a string or an array of strings.
    #[inline]
    fn audience(&mut self) -> Option<Audience<'a>> {
        if self.peek()? != b'[' {
            return Some(Audience::One(Cow::Borrowed(self.string()?)));
        }
        let mut all = Vec::new();
        self.array(|r| r.string().map(|s| all.push(Cow::Borrowed(s))))?;
        Some(Audience::Many(all))
    }

    #[inline]
    fn rate_limit(&mut self) -> Option<RateLimitClaim> {
        let (mut requests, mut period_ms) = (None, None);
        self.object(|r, name| match name {
            "requests" => once(&mut requests, r.integer().and_then(|n| u32::try_from(n).ok())),
            "period_ms" => once(&mut period_ms, r.integer()),
            _ => r.skip(),
        })?;
        Some(RateLimitClaim { requests: requests?, period_ms: period_ms? })
    }

    #[inline]
    fn credits(&mut self) -> Option<CreditsClaim> {
        let (mut initial, mut refill_amount, mut refill_every_s) = (None, None, None);
        self.object(|r, name| match name {
            "initial" => once(&mut initial, r.integer()),
            "refill_amount" => once(&mut refill_amount, r.integer()),
            "refill_every_s" => once(&mut refill_every_s, r.integer()),
            _ => r.skip(),
        })?;
        Some(CreditsClaim { initial: initial?, refill_amount, refill_every_s })
    }

    #[inline]
    fn confirmation(&mut self) -> Option<ConfirmationClaim<'a>> {
        let mut jkt = None;
        self.object(|r, name| match name {
            "jkt" => once(&mut jkt, r.string()),
            _ => r.skip(),
        })?;
        Some(ConfirmationClaim { jkt: jkt.map(Cow::Borrowed) })
    }
}
