//! Base62: the digits `0-9`, then `A-Z`, then `a-z`, in ASCII order, so that
//! codes of one length sort like the numbers they encode.

use crate::CODE_LEN;

/// The 62 digits, in order: `0` is 0, `A` is 10, `a` is 36, `z` is 61.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The most digits a `u64` takes: `u64::MAX` is 11 digits long.
const MAX_DIGITS: usize = 11;

/// `n` in base 62, most significant digit first, left-padded with `0` to
/// [`CODE_LEN`] (7) characters. Numbers of 62⁷ and more take as many digits
/// as they need (up to 11 for `u64::MAX`); nothing is ever cut off.
pub fn encode(n: u64) -> String {
    // Digits are found least significant first, so they are written from
    // the right end of a buffer of zeros, which is also the padding.
    let mut digits = [b'0'; MAX_DIGITS];
    let mut start = MAX_DIGITS;
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = ALPHABET[(rest % 62) as usize];
        rest /= 62;
        if rest == 0 {
            break;
        }
    }
    let start = start.min(MAX_DIGITS - CODE_LEN);
    digits[start..].iter().map(|&d| char::from(d)).collect()
}

/// The number `s` encodes: any non-empty string of alphabet digits, padded
/// or not (`"0000010"` and `"10"` are both 62). `None` for an empty string,
/// any other character, or a value above `u64::MAX`.
pub fn decode(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |n, byte| {
        let digit = digit(byte)?;
        n.checked_mul(62)?.checked_add(digit)
    })
}

/// Marks a byte that is not a digit in [`DIGIT_VALUES`].
const NOT_A_DIGIT: u8 = u8::MAX;

/// The value of each byte as a digit: one lookup, where three range tests
/// (`0-9`, `A-Z`, `a-z`) would branch unpredictably on random codes.
const DIGIT_VALUES: [u8; 256] = {
    let mut values = [NOT_A_DIGIT; 256];
    let mut value = 0;
    while value < ALPHABET.len() {
        values[ALPHABET[value] as usize] = value as u8;
        value += 1;
    }
    values
};

/// The value of one digit.
fn digit(byte: u8) -> Option<u64> {
    match DIGIT_VALUES[usize::from(byte)] {
        NOT_A_DIGIT => None,
        value => Some(u64::from(value)),
    }
}
