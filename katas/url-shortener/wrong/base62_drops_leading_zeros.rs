//! Wrong: base62 without padding: `encode(0)` is `"0"`, `encode(62)` is
//! `"10"`. Leading zeros are dropped.
//!
//! Why candidates write it: it is the textbook base conversion, and it
//! round-trips. But the codes are not 7 characters, so they no longer sort
//! like their numbers (`"z"` > `"10"`), and a service that stores and
//! compares fixed-width codes (the ones it checks for `ResolveError::Invalid`,
//! an index range over a counter's codes) gets them wrong.
//!
//! Caught by: `base62_encodes_numbers_padded_to_seven_characters`,
//! `base62_round_trips_every_number_and_keeps_leading_zeros` and
//! `base62_codes_of_one_width_sort_like_their_numbers`.

pub use url_shortener_solution::{
    CODE_LEN, CODE_SPACE, Code, MAX_ATTEMPTS, MAX_URL_LEN, ResolveError, ShortenError, Shortener,
    Strategy, fnv1a_64,
};

pub mod base62 {
    pub const ALPHABET: &[u8; 62] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    pub fn encode(n: u64) -> String {
        let mut digits = Vec::new();
        let mut rest = n;
        loop {
            digits.push(ALPHABET[(rest % 62) as usize]);
            rest /= 62;
            if rest == 0 {
                break;
            }
        }
        // BUG: no padding to 7 characters.
        digits.iter().rev().map(|&d| char::from(d)).collect()
    }

    pub fn decode(s: &str) -> Option<u64> {
        if s.is_empty() {
            return None;
        }
        s.bytes().try_fold(0u64, |n, byte| {
            let digit = ALPHABET.iter().position(|&d| d == byte)? as u64;
            n.checked_mul(62)?.checked_add(digit)
        })
    }
}
