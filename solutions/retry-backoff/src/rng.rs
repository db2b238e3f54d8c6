//! The jitter's random numbers: SplitMix64, seeded.

/// SplitMix64 (Steele, Lea and Flood, 2014): one `u64` of state, a
/// full-period sequence, and good enough statistics for jitter. Not for
/// anything an attacker must not predict.
#[derive(Debug)]
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

    /// Uniform in `[low, high]` (both included; `low <= high`). A span wider
    /// than 64 bits takes two draws; the modulo bias is at most
    /// `span / 2^128`, nothing at the scale of a delay.
    pub(crate) fn between(&mut self, low: u128, high: u128) -> u128 {
        let span = high - low;
        if span == u128::MAX {
            return self.wide();
        }
        low + self.wide() % (span + 1)
    }

    fn wide(&mut self) -> u128 {
        (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64())
    }
}
