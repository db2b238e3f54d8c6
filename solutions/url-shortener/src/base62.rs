//! Base62: the digits `0-9`, then `A-Z`, then `a-z`, in ASCII order, so that
//! codes of one length sort like the numbers they encode.

use crate::CODE_LEN;

/// The 62 digits, in order: `0` is 0, `A` is 10, `a` is 36, `z` is 61.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` in base 62, most significant digit first, left-padded with `0` to
/// [`CODE_LEN`] (7) characters. Numbers of 62⁷ and more take as many digits
/// as they need (up to 11 for `u64::MAX`); nothing is ever cut off.
pub fn encode(n: u64) -> String {
    let mut digits = Vec::with_capacity(11);
    let mut rest = n;
    loop {
        digits.push(ALPHABET[(rest % 62) as usize]);
        rest /= 62;
        if rest == 0 {
            break;
        }
    }
    while digits.len() < CODE_LEN {
        digits.push(b'0');
    }
    digits.iter().rev().map(|&d| char::from(d)).collect()
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

/// The value of one digit.
fn digit(byte: u8) -> Option<u64> {
    let value = match byte {
        b'0'..=b'9' => byte - b'0',
        b'A'..=b'Z' => byte - b'A' + 10,
        b'a'..=b'z' => byte - b'a' + 36,
        _ => return None,
    };
    Some(u64::from(value))
}
