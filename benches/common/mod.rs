//! What the per-request benches share: deterministic token lines and a cheap random index.

#![allow(dead_code, reason = "each bench uses its own part of this module")]

/// `Bearer ` followed by a 52-character token `tok_` + 48 hex digits.
pub const LINE_LEN: usize = 7 + 4 + 48;

/// One `Authorization` value, alone in its cache line, so that picking a random one from a list
/// of a million costs every variant the same single miss.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Line([u8; LINE_LEN]);

impl Line {
    /// The whole header value, `Bearer tok_...`.
    pub fn value(&self) -> &[u8] {
        &self.0
    }

    /// The token alone.
    pub fn secret(&self) -> &str {
        std::str::from_utf8(&self.0[7..]).expect("ASCII")
    }
}

/// SplitMix64: a well-mixed 64-bit value per input.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A deterministic, well-formed, distinct token per `(seed, i)`.
pub fn line(seed: u64, i: u64) -> Line {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; LINE_LEN];
    out[..11].copy_from_slice(b"Bearer tok_");
    let mut at = 11;
    for k in 0..3 {
        let word = splitmix(seed.wrapping_mul(0x1000_0000_01b3) ^ (i * 3 + k));
        for shift in (0..16).rev() {
            out[at] = HEX[((word >> (shift * 4)) & 0xf) as usize];
            at += 1;
        }
    }
    Line(out)
}

/// xorshift64*: a cheap random index per iteration (a few cycles, the same for every variant).
pub struct Rng(pub u64);

impl Rng {
    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((u128::from(r) * n as u128) >> 64) as usize
    }
}
