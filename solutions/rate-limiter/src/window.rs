use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// An exact sliding-window limiter: admits a request at `t` only if fewer
/// than `limit` requests were admitted in the window `(t - window, t]`.
///
/// It keeps the instants of the last `limit` admitted requests (a sliding
/// log bounded by the limit), so memory is `O(limit)` and each decision is
/// amortised `O(1)`.
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: u32,
    window: Duration,
    /// Admitted instants still inside the window, oldest first.
    admitted: VecDeque<Instant>,
    latest: Option<Instant>,
}

impl SlidingWindow {
    /// At most `limit` requests in any window of length `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        SlidingWindow {
            limit,
            window,
            admitted: VecDeque::new(),
            latest: None,
        }
    }

    /// Admits (and records) a request at `now`, or refuses it.
    ///
    /// Calls are expected in time order; an earlier `now` than one already
    /// seen is treated as the latest time seen.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let now = self.latest.map_or(now, |latest| latest.max(now));
        self.latest = Some(now);
        while let Some(&oldest) = self.admitted.front() {
            // A request exactly `window` ago has just left `(now - window, now]`.
            if now.duration_since(oldest) >= self.window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if self.admitted.len() < limit {
            self.admitted.push_back(now);
            true
        } else {
            false
        }
    }
}
