//! SplitMix64 (Steele, Lea and Flood, 2014; the seeder of xoshiro): one
//! 64-bit add and a few multiply-xorshifts per number, every seed is a good
//! seed, and the whole state is one `u64`. Plenty for choosing backends; not
//! for anything an attacker could profit from predicting.

#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift: the bias is
    /// below n / 2^64, far beneath anything a load balancer could notice.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * n as u128;
        // The high half of a u64 times n is below n, so it fits in usize.
        usize::try_from(wide >> 64).unwrap_or(0)
    }
}
