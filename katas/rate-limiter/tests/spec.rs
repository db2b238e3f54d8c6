//! The specification of the rate-limiter kata.
//!
//! Every test name is a requirement; read the failing names first. Time is
//! always passed in as `t0 + <offset>`: nothing here sleeps, so the edges
//! (a token due to the nanosecond, a request exactly one window later) are
//! checked exactly.
//!
//! `cargo test -p rate-limiter` judges your code;
//! `cargo test -p rate-limiter --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use rate_limiter as subject;
#[cfg(feature = "solution")]
use rate_limiter_solution as subject;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use rstest::rstest;
use spec_probes::keys::ConstHash;
use subject::{Decision, KeyedLimiter, Rate, SharedTokenBucket, SlidingWindow, TokenBucket};

// ───────────────────────────── helpers ─────────────────────────────

const NS: Duration = Duration::from_nanos(1);
const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

const fn ns(nanos: u64) -> Duration {
    Duration::from_nanos(nanos)
}

/// `tokens` every `per`.
const fn rate(tokens: u32, per: Duration) -> Rate {
    Rate { tokens, per }
}

/// How long one token takes to refill, rounded up to the nanosecond: the
/// first instant at which an empty bucket holds a whole token.
fn token_interval(rate: Rate) -> Duration {
    let nanos = rate.per.as_nanos().div_ceil(u128::from(rate.tokens));
    ns(u64::try_from(nanos).expect("token interval fits in u64 nanoseconds"))
}

/// A bucket that started full at `t0` and was emptied by one request at `t0`.
fn drained(capacity: u32, rate: Rate, t0: Instant) -> TokenBucket {
    let mut bucket = TokenBucket::new(capacity, rate, t0);
    assert!(
        bucket.try_acquire(capacity, t0),
        "a new bucket of capacity {capacity} starts full, so a request for all {capacity} tokens \
         at the instant it was created should be admitted"
    );
    bucket
}

// ─────────── Token bucket: starts full, all or nothing, capped ───────────

#[rstest]
#[case::capacity_one(1)]
#[case::capacity_five(5)]
#[case::capacity_a_thousand(1000)]
fn starts_full_and_admits_a_burst_of_exactly_capacity(#[case] capacity: u32) {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(capacity, Rate::per_second(1), t0);
    assert_eq!(
        bucket.available(t0),
        capacity,
        "a new bucket of capacity {capacity} should start full"
    );
    for i in 1..=capacity {
        assert!(
            bucket.try_acquire(1, t0),
            "request {i} of a burst at one instant should be admitted: \
             a new bucket of capacity {capacity} starts full"
        );
    }
    assert!(
        !bucket.try_acquire(1, t0),
        "request {} at the same instant should be refused: capacity {capacity} is spent \
         and no time has passed to refill it",
        capacity + 1
    );
    assert_eq!(
        bucket.available(t0),
        0,
        "a spent bucket should report 0 tokens available"
    );
}

#[test]
fn takes_all_of_a_multi_token_request_or_nothing() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(5, Rate::per_second(1), t0);
    assert!(
        bucket.try_acquire(3, t0),
        "a request for 3 of 5 tokens should be admitted"
    );
    assert!(
        !bucket.try_acquire(3, t0),
        "a request for 3 tokens when only 2 are left should be refused"
    );
    assert_eq!(
        bucket.available(t0),
        2,
        "a refused request for 3 tokens should take nothing: 2 tokens should still be there"
    );
    assert_eq!(
        bucket.available(t0),
        2,
        "asking how many tokens are available should take none"
    );
    assert!(
        bucket.try_acquire(2, t0),
        "a request for the 2 tokens left should be admitted after a refused request for 3"
    );
}

// ─────── Token bucket: continuous, exact refill (zero, fractions, huge) ───────

#[rstest]
#[case::zero_elapsed_time_refills_nothing(Duration::ZERO, 0)]
#[case::one_nanosecond_before_the_first_token(ms(100) - NS, 0)]
#[case::exactly_when_the_first_token_is_due(ms(100), 1)]
#[case::one_and_a_half_tokens_round_down(ms(150), 1)]
#[case::exactly_full(ms(1000), 10)]
#[case::ten_years_idle_caps_at_capacity(YEAR * 10, 10)]
fn available_is_the_refill_since_the_bucket_emptied_rounded_down_and_capped(
    #[case] elapsed: Duration,
    #[case] expected: u32,
) {
    let t0 = Instant::now();
    let bucket = drained(10, Rate::per_second(10), t0);
    assert_eq!(
        bucket.available(t0 + elapsed),
        expected,
        "a bucket of capacity 10 refilling 10 tokens per second, emptied at t0, \
         should hold {expected} whole tokens at t0 + {elapsed:?}"
    );
}

#[rstest]
#[case::ten_per_second(rate(10, ms(1000)))]
#[case::three_per_second(rate(3, ms(1000)))]
#[case::seven_every_three_seconds(rate(7, ms(3000)))]
#[case::one_per_nanosecond(rate(1, ns(1)))]
#[case::max_tokens_per_second(rate(u32::MAX, ms(1000)))]
fn admits_a_request_exactly_when_its_token_is_due(#[case] rate: Rate) {
    let t0 = Instant::now();
    let due = token_interval(rate);
    let mut bucket = drained(1, rate, t0);
    if due > NS {
        assert!(
            !bucket.try_acquire(1, t0 + due - NS),
            "at {rate:?}, an emptied bucket's first token is due at t0 + {due:?}: \
             a request 1ns earlier should be refused"
        );
    }
    assert!(
        bucket.try_acquire(1, t0 + due),
        "at {rate:?}, an emptied bucket's first token is due at t0 + {due:?}: \
         a request arriving exactly then should be admitted (even after a refused one)"
    );
}

#[test]
fn continuous_refill_keeps_fractions_of_a_token() {
    let t0 = Instant::now();
    let mut bucket = drained(10, Rate::per_second(10), t0);
    assert!(
        bucket.try_acquire(1, t0 + ms(150)),
        "10 tokens per second refill 1.5 tokens in 150ms: one request at t0 + 150ms \
         should be admitted"
    );
    assert!(
        bucket.try_acquire(1, t0 + ms(200)),
        "the half token left at t0 + 150ms plus the half token refilled by t0 + 200ms make \
         a whole one: the request at t0 + 200ms should be admitted (fractions must not be lost)"
    );
    assert!(
        !bucket.try_acquire(1, t0 + ms(250)),
        "only half a token has refilled since t0 + 200ms: the request at t0 + 250ms \
         should be refused"
    );
    assert!(
        bucket.try_acquire(1, t0 + ms(300)),
        "a whole token has refilled since t0 + 200ms: the request at t0 + 300ms \
         should be admitted"
    );
}

#[rstest]
#[case::every_300ms_at_one_per_second(Rate::per_second(1), ms(300), 10)]
#[case::every_millisecond_at_one_per_second(Rate::per_second(1), ms(1), 2500)]
#[case::every_10ms_at_ten_per_second(Rate::per_second(10), ms(10), 100)]
#[case::every_7ms_at_three_per_second(Rate::per_second(3), ms(7), 1000)]
#[case::every_nanosecond_at_one_per_microsecond(rate(1, ns(1000)), NS, 5000)]
fn polling_faster_than_the_refill_still_earns_every_token(
    #[case] rate: Rate,
    #[case] step: Duration,
    #[case] polls: u32,
) {
    let t0 = Instant::now();
    let mut bucket = drained(100, rate, t0);
    let admitted = (1..=polls)
        .filter(|&i| bucket.try_acquire(1, t0 + step * i))
        .count();
    let elapsed = step * polls;
    let earned = elapsed.as_nanos() * u128::from(rate.tokens) / rate.per.as_nanos();
    assert_eq!(
        admitted as u128, earned,
        "an emptied bucket refilling at {rate:?}, asked for one token every {step:?} for \
         {elapsed:?}, refills {earned} whole tokens in that time and should admit exactly that \
         many requests: refused requests must not throw away the fraction of a token earned"
    );
}

#[rstest]
#[case::ten_per_second_idle_ten_years(10, Rate::per_second(10), YEAR * 10)]
#[case::max_capacity_max_rate_idle_a_century(u32::MAX, rate(u32::MAX, ns(1)), YEAR * 100)]
#[case::one_per_hour_idle_a_thousand_years(1, rate(1, Duration::from_secs(3600)), YEAR * 1000)]
#[case::max_capacity_a_thousand_per_ms_idle_300_years(u32::MAX, rate(1000, ms(1)), YEAR * 300)]
fn followup_huge_elapsed_time_never_overflows_and_caps_at_capacity(
    #[case] capacity: u32,
    #[case] rate: Rate,
    #[case] idle: Duration,
) {
    let t0 = Instant::now();
    let mut bucket = drained(capacity, rate, t0);
    let later = t0 + idle;
    assert_eq!(
        bucket.available(later),
        capacity,
        "a bucket of capacity {capacity} at {rate:?}, idle for {idle:?}, should be exactly \
         full (refill never overflows and never exceeds capacity)"
    );
    assert!(
        bucket.try_acquire(capacity, later),
        "after {idle:?} idle, a request for all {capacity} tokens should be admitted"
    );
    assert!(
        !bucket.try_acquire(1, later),
        "after {idle:?} idle, a bucket of capacity {capacity} should admit a burst of \
         {capacity} tokens and no more"
    );
}

#[rstest]
#[case::a_million_per_day(1_000_000, rate(1_000_000, Duration::from_secs(24 * 60 * 60)))]
#[case::max_tokens_every_five_seconds(u32::MAX, rate(u32::MAX, Duration::from_secs(5)))]
#[case::a_thousand_a_year(1000, rate(1000, YEAR))]
fn followup_quotas_whose_full_bucket_exceeds_u64_nanoseconds_work_exactly(
    #[case] capacity: u32,
    #[case] rate: Rate,
) {
    // capacity × per is beyond u64::MAX nanoseconds (584 years) in every case:
    // a level counted in u64 units of 1/per-nanoseconds of a token overflows.
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(capacity, rate, t0);
    assert_eq!(
        bucket.available(t0),
        capacity,
        "a new bucket of capacity {capacity} at {rate:?} should start full (a quota as large \
         as this must not overflow the level)"
    );
    assert!(
        bucket.try_acquire(capacity, t0),
        "a new bucket of capacity {capacity} at {rate:?} should admit a burst of all \
         {capacity} tokens"
    );
    assert!(
        !bucket.try_acquire(1, t0),
        "a bucket of capacity {capacity} at {rate:?} should refuse a request once its \
         {capacity} tokens are spent"
    );
    let due = token_interval(rate);
    assert_eq!(
        bucket.retry_after(1, t0),
        Some(due),
        "an emptied bucket at {rate:?} gets its next token {due:?} later"
    );
    assert!(
        !bucket.try_acquire(1, t0 + due - NS),
        "at {rate:?}, an emptied bucket's first token is due at t0 + {due:?}: a request 1ns \
         earlier should be refused"
    );
    assert!(
        bucket.try_acquire(1, t0 + due),
        "at {rate:?}, an emptied bucket's first token is due at t0 + {due:?}: a request \
         arriving exactly then should be admitted"
    );
}

#[test]
fn followup_an_out_of_order_instant_refills_nothing_and_earns_nothing_later() {
    let t0 = Instant::now();
    let late = t0 + Duration::from_secs(10);
    let mut bucket = drained(2, Rate::per_second(1), late);
    assert!(
        !bucket.try_acquire(1, t0 + Duration::from_secs(5)),
        "a request stamped 5s before the bucket was emptied (threads race to the limiter \
         with instants taken earlier) should be refused: time going backwards refills nothing"
    );
    assert_eq!(
        bucket.available(t0),
        0,
        "an emptied bucket asked about an instant before it was created should report \
         0 tokens, not panic"
    );
    assert_eq!(
        bucket.retry_after(1, t0 + Duration::from_secs(5)),
        Some(Duration::from_secs(6)),
        "asked at t0 + 5s about a bucket emptied at t0 + 10s at 1 token per second, \
         retry_after should be 6s: the token is due at t0 + 11s, whatever instant asks"
    );
    assert!(
        !bucket.try_acquire(1, late + ms(999)),
        "refill runs from the latest instant seen: 999ms after the bucket was emptied at \
         1 token per second, no token is due yet, whatever older instants were seen in between"
    );
    assert!(
        bucket.try_acquire(1, late + ms(1000)),
        "1s after the bucket was emptied at 1 token per second, one request should be admitted"
    );
    assert!(
        !bucket.try_acquire(1, late + ms(1000)),
        "only one token has refilled 1s after the bucket was emptied: an out-of-order request \
         must not have earned a second one"
    );
}

// ─────────────────── Token bucket: capacity 0 and 1 ───────────────────

#[test]
fn capacity_zero_admits_no_request_ever() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(0, Rate::per_second(10), t0);
    for later in [t0, t0 + ms(100), t0 + YEAR] {
        assert!(
            !bucket.try_acquire(1, later),
            "a bucket of capacity 0 should refuse a request for 1 token at t0 + {:?}",
            later - t0
        );
        assert_eq!(
            bucket.available(later),
            0,
            "a bucket of capacity 0 holds no tokens"
        );
    }
    assert_eq!(
        bucket.retry_after(1, t0),
        None,
        "a bucket of capacity 0 will never admit a request for 1 token: retry_after should be None"
    );
}

#[test]
fn capacity_one_admits_one_request_per_token_interval() {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(1, Rate::per_second(2), t0);
    let expected = [
        (ms(0), true),
        (ms(0), false),
        (ms(499), false),
        (ms(500), true),
        (ms(500), false),
        (ms(1000), true),
        (ms(3000), true),
        (ms(3000), false),
    ];
    for (at, admit) in expected {
        assert_eq!(
            bucket.try_acquire(1, t0 + at),
            admit,
            "a bucket of capacity 1 refilling 2 tokens per second should {} the request at \
             t0 + {at:?} (sequence: {expected:?})",
            if admit { "admit" } else { "refuse" }
        );
    }
}

// ───────────────────── Token bucket: retry_after ─────────────────────

#[rstest]
#[case::one_token_of_a_full_bucket(5, Rate::per_second(1), 1)]
#[case::all_tokens_of_a_full_bucket(5, Rate::per_second(1), 5)]
#[case::a_full_bucket_that_never_refills(5, rate(0, ms(1000)), 5)]
fn retry_after_is_zero_when_the_request_would_be_admitted_now(
    #[case] capacity: u32,
    #[case] rate: Rate,
    #[case] tokens: u32,
) {
    let t0 = Instant::now();
    let bucket = TokenBucket::new(capacity, rate, t0);
    assert_eq!(
        bucket.retry_after(tokens, t0),
        Some(Duration::ZERO),
        "a full bucket of capacity {capacity} at {rate:?} would admit {tokens} tokens now: \
         retry_after should be Some(0)"
    );
}

#[rstest]
#[case::more_than_capacity(5, Rate::per_second(1), 6)]
#[case::a_rate_of_zero_and_an_empty_bucket(5, rate(0, ms(1000)), 1)]
#[case::capacity_zero(0, Rate::per_second(1), 1)]
fn retry_after_is_none_when_the_request_could_never_be_admitted(
    #[case] capacity: u32,
    #[case] rate: Rate,
    #[case] tokens: u32,
) {
    let t0 = Instant::now();
    let mut bucket = TokenBucket::new(capacity, rate, t0);
    let _ = bucket.try_acquire(capacity, t0);
    assert_eq!(
        bucket.retry_after(tokens, t0 + ms(10)),
        None,
        "an emptied bucket of capacity {capacity} at {rate:?} will never hold {tokens} tokens: \
         retry_after should be None"
    );
}

#[rstest]
#[case::one_token_at_ten_per_second(rate(10, ms(1000)), 1, ms(0), ms(100))]
#[case::three_tokens_at_ten_per_second(rate(10, ms(1000)), 3, ms(0), ms(300))]
#[case::two_tokens_with_one_and_a_half_refilled(rate(10, ms(1000)), 2, ms(150), ms(50))]
#[case::one_token_at_three_per_second(rate(3, ms(1000)), 1, ms(0), ns(333_333_334))]
#[case::two_tokens_at_seven_every_three_seconds(rate(7, ms(3000)), 2, ms(0), ns(857_142_858))]
fn retry_after_is_the_wait_until_the_missing_tokens_are_due(
    #[case] rate: Rate,
    #[case] tokens: u32,
    #[case] asked_at: Duration,
    #[case] expected: Duration,
) {
    let t0 = Instant::now();
    let bucket = drained(10, rate, t0);
    assert_eq!(
        bucket.retry_after(tokens, t0 + asked_at),
        Some(expected),
        "a bucket of capacity 10 at {rate:?}, emptied at t0 and asked at t0 + {asked_at:?} \
         for {tokens} tokens, should answer retry after {expected:?} (rounded up to the \
         nanosecond)"
    );
}

// ─────────────── Token bucket: properties over random traffic ───────────────

/// How long to wait before the next request, relative to the limiter's own
/// rate, so that random waits hit the edges (no time at all, exactly one
/// token interval, long enough to refill the whole bucket) and a failing case
/// shrinks to a short one.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// The same instant as the previous request.
    None,
    /// Exactly the time one token takes to refill (`per` if it never does).
    OneToken,
    /// This many thousandths of `rate.per`.
    PerMille(u64),
    /// This many thousandths of the time the whole bucket takes to refill.
    FillPerMille(u64),
}

impl Wait {
    fn duration(self, capacity: u32, rate: Rate) -> Duration {
        let per = rate.per.as_nanos();
        let nanos = match self {
            Wait::None => 0,
            Wait::OneToken => per.div_ceil(u128::from(rate.tokens.max(1))),
            Wait::PerMille(m) => per * u128::from(m) / 1000,
            Wait::FillPerMille(m) => {
                per * u128::from(capacity.max(1)) * u128::from(m)
                    / u128::from(rate.tokens.max(1))
                    / 1000
            }
        };
        ns(u64::try_from(nanos).expect("waits fit in u64 nanoseconds"))
    }
}

fn waits() -> impl Strategy<Value = Wait> {
    prop_oneof![
        2 => Just(Wait::None),
        2 => Just(Wait::OneToken),
        4 => (0u64..=1000).prop_map(Wait::PerMille),
        1 => (0u64..=3000).prop_map(Wait::FillPerMille),
    ]
}

/// A bucket and a run of requests against it.
#[derive(Debug, Clone)]
struct Traffic {
    capacity: u32,
    rate: Rate,
    /// (wait before the request, tokens it asks for)
    requests: Vec<(Wait, u32)>,
}

fn bucket_traffic() -> impl Strategy<Value = Traffic> {
    let asked = prop_oneof![3 => 1u32..=2, 1 => 1u32..=9];
    (
        0u32..=8,
        0u32..=5,
        1u64..=2_000_000_000,
        vec((waits(), asked), 0..40),
    )
        .prop_map(|(capacity, tokens, per, requests)| Traffic {
            capacity,
            rate: rate(tokens, ns(per)),
            requests,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_admits_more_than_capacity_plus_the_refill_of_any_interval(
        traffic in bucket_traffic()
    ) {
        let Traffic { capacity, rate, ref requests } = traffic;
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(capacity, rate, t0);
        let mut now = t0;
        let mut log = Vec::new(); // (instant, tokens admitted)
        for &(wait, tokens) in requests {
            now += wait.duration(capacity, rate);
            let admitted = bucket.try_acquire(tokens, now);
            log.push((now, if admitted { tokens } else { 0 }));
        }
        for (i, &(start, _)) in log.iter().enumerate() {
            let mut admitted = 0u128;
            for &(end, tokens) in &log[i..] {
                admitted += u128::from(tokens);
                let span = (end - start).as_nanos();
                let bound = u128::from(capacity)
                    + span * u128::from(rate.tokens) / rate.per.as_nanos();
                prop_assert!(
                    admitted <= bound,
                    "a bucket of capacity {} at {:?} admitted {} tokens in an interval of {:?}, \
                     but may admit at most capacity + refill = {}",
                    capacity, rate, admitted, end - start, bound
                );
            }
        }
    }

    #[test]
    fn admits_every_request_spaced_at_least_one_token_interval_apart(
        capacity in 1u32..=8,
        tokens in 1u32..=5,
        per in 1u64..=2_000_000_000,
        extra in vec(prop_oneof![2 => Just(0u64), 1 => 0u64..=1_000_000_000], 1..40),
    ) {
        let rate = rate(tokens, ns(per));
        let interval = token_interval(rate);
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(capacity, rate, t0);
        let mut now = t0;
        for (i, &extra) in extra.iter().enumerate() {
            prop_assert!(
                bucket.try_acquire(1, now),
                "request {} of one token should be admitted: requests are at least one token \
                 interval ({:?} at {:?}) apart, so a token has always refilled in between",
                i + 1, interval, rate
            );
            now += interval + ns(extra);
        }
    }

    #[test]
    fn followup_retry_after_is_exact_to_the_nanosecond(
        traffic in bucket_traffic(),
        wait in waits(),
        asked in 1u32..=9,
    ) {
        let Traffic { capacity, rate, ref requests } = traffic;
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(capacity, rate, t0);
        let mut now = t0;
        for &(wait, tokens) in requests {
            now += wait.duration(capacity, rate);
            bucket.try_acquire(tokens, now);
        }
        now += wait.duration(capacity, rate);
        let retry_after = bucket.retry_after(asked, now);
        if asked > capacity {
            prop_assert_eq!(
                retry_after, None,
                "a request for {} tokens can never fit a bucket of capacity {}", asked, capacity
            );
        }
        match retry_after {
            None => {
                prop_assert!(
                    !bucket.clone().try_acquire(asked, now + YEAR * 100),
                    "retry_after({}) said None (never), but a century later the request was \
                     admitted (capacity {}, {:?})", asked, capacity, rate
                );
            }
            Some(wait) if wait.is_zero() => {
                prop_assert!(
                    bucket.clone().try_acquire(asked, now),
                    "retry_after({}) said 0, but the request made now was refused \
                     (capacity {}, {:?})", asked, capacity, rate
                );
            }
            Some(wait) => {
                prop_assert!(
                    !bucket.clone().try_acquire(asked, now + wait - NS),
                    "retry_after({}) said {:?}: a request 1ns before that should still be \
                     refused (capacity {}, {:?})", asked, wait, capacity, rate
                );
                prop_assert!(
                    bucket.clone().try_acquire(asked, now + wait),
                    "retry_after({}) said {:?}: a request exactly that much later should be \
                     admitted (capacity {}, {:?})", asked, wait, capacity, rate
                );
            }
        }
    }
}

// ─────────────────── Sliding window: exact (t - window, t] ───────────────────

#[rstest]
#[case::limit_one(1)]
#[case::limit_three(3)]
#[case::limit_a_hundred(100)]
fn sliding_window_admits_a_burst_of_limit_requests_at_one_instant(#[case] limit: u32) {
    let t0 = Instant::now();
    let mut window = SlidingWindow::new(limit, Duration::from_secs(1));
    for i in 1..=limit {
        assert!(
            window.try_acquire(t0),
            "request {i} at one instant should be admitted under a limit of {limit} per second \
             (requests at the same instant count separately)"
        );
    }
    assert!(
        !window.try_acquire(t0),
        "request {} at the same instant should be refused: {limit} were already admitted \
         in the window",
        limit + 1
    );
}

#[test]
fn sliding_window_with_limit_zero_admits_nothing() {
    let t0 = Instant::now();
    let mut window = SlidingWindow::new(0, Duration::from_secs(1));
    for later in [t0, t0 + ms(999), t0 + Duration::from_secs(10)] {
        assert!(
            !window.try_acquire(later),
            "a limit of 0 should refuse the request at t0 + {:?}",
            later - t0
        );
    }
}

#[rstest]
#[case::one_second(ms(1000))]
#[case::one_nanosecond(NS)]
#[case::one_and_a_half_seconds(ms(1500))]
#[case::one_minute(Duration::from_secs(60))]
fn sliding_window_forgets_a_request_exactly_one_window_later(#[case] length: Duration) {
    let t0 = Instant::now();
    let first = t0 + ms(3);
    let mut window = SlidingWindow::new(1, length);
    assert!(
        window.try_acquire(first),
        "the first request should be admitted"
    );
    if length > NS {
        assert!(
            !window.try_acquire(first + length - NS),
            "with a limit of 1 per {length:?}, a request {:?} after an admitted one is inside \
             the window and should be refused",
            length - NS
        );
    }
    assert!(
        window.try_acquire(first + length),
        "with a limit of 1 per {length:?}, a request exactly {length:?} after the admitted one \
         should be admitted: the window is (t - {length:?}, t], so the old request has left it"
    );
}

#[test]
fn sliding_window_slides_instead_of_resetting_at_fixed_boundaries() {
    let t0 = Instant::now();
    let mut window = SlidingWindow::new(2, ms(1000));
    let expected = [
        (ms(900), true),
        (ms(950), true),
        (ms(1000), false),
        (ms(1050), false),
        (ms(1899), false),
        (ms(1900), true),
        (ms(1901), false),
        (ms(1950), true),
    ];
    for (at, admit) in expected {
        assert_eq!(
            window.try_acquire(t0 + at),
            admit,
            "a limit of 2 per second counts the last second before each request, not a \
             calendar second: the request at t0 + {at:?} should be {} (sequence: {expected:?})",
            if admit { "admitted" } else { "refused" }
        );
    }
}

#[test]
fn sliding_window_does_not_count_refused_requests() {
    let t0 = Instant::now();
    let mut window = SlidingWindow::new(2, Duration::from_secs(10));
    let s = Duration::from_secs;
    let expected = [
        (s(0), true),
        (s(5), true),
        (s(6), false),
        (s(7), false),
        (s(9), false),
        (s(10), true),
        (s(15) - NS, false),
        (s(15), true),
    ];
    for (at, admit) in expected {
        assert_eq!(
            window.try_acquire(t0 + at),
            admit,
            "a limit of 2 per 10s counts only admitted requests (a client retrying while \
             limited must not lock itself out): the request at t0 + {at:?} should be {} \
             (sequence: {expected:?})",
            if admit { "admitted" } else { "refused" }
        );
    }
}

/// When the next request arrives.
#[derive(Debug, Clone)]
enum Arrival {
    /// This many thousandths of the window after the previous request.
    AfterPerMille(u32),
    /// Exactly one window (less `early` ns) after the `back`-th most recent
    /// request, or with the previous request if that moment has passed.
    WindowAfter { back: usize, early: u64 },
}

/// The obviously correct sliding window: every admitted instant, counted
/// afresh on every request.
struct WindowModel {
    limit: usize,
    length: Duration,
    admitted: Vec<Instant>,
}

impl WindowModel {
    fn try_acquire(&mut self, now: Instant) -> bool {
        let in_window = self
            .admitted
            .iter()
            .filter(|&&at| now - at < self.length)
            .count();
        let admit = in_window < self.limit;
        if admit {
            self.admitted.push(now);
        }
        admit
    }
}

fn window_traffic() -> impl Strategy<Value = (u32, u64, Vec<Arrival>)> {
    let arrival = prop_oneof![
        2 => Just(Arrival::AfterPerMille(0)),
        3 => (0u32..=500).prop_map(Arrival::AfterPerMille),
        2 => (0u32..=2000).prop_map(Arrival::AfterPerMille),
        3 => (0usize..8, 0u64..=1).prop_map(|(back, early)| Arrival::WindowAfter { back, early }),
    ];
    (0u32..=5, 1u64..=1_000_000_000, vec(arrival, 1..60))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sliding_window_agrees_with_a_log_of_every_admitted_request(
        (limit, length, arrivals) in window_traffic()
    ) {
        let length = ns(length);
        let t0 = Instant::now();
        let mut window = SlidingWindow::new(limit, length);
        let mut model = WindowModel { limit: limit as usize, length, admitted: Vec::new() };
        let mut seen: Vec<Instant> = Vec::new();
        for (i, arrival) in arrivals.iter().enumerate() {
            let latest = seen.last().copied().unwrap_or(t0);
            let now = match *arrival {
                Arrival::AfterPerMille(per_mille) => latest + length * per_mille / 1000,
                Arrival::WindowAfter { back, early } => {
                    let base = seen.iter().rev().nth(back).copied().unwrap_or(t0);
                    (base + length - ns(early)).max(latest)
                }
            };
            seen.push(now);
            let in_window = model.admitted.iter().filter(|&&at| now - at < length).count();
            let expected = model.try_acquire(now);
            prop_assert_eq!(
                window.try_acquire(now),
                expected,
                "request {} at t0 + {:?} under a limit of {} per {:?} should be {}: {} \
                 admitted requests lie in (t - window, t]",
                i + 1, now - t0, limit, length,
                if expected { "admitted" } else { "refused" },
                in_window
            );
        }
    }
}

// ─────────────────── Keyed limiter: one bucket per client ───────────────────

#[test]
fn keyed_limiter_counts_remaining_tokens_down() {
    let t0 = Instant::now();
    let mut limiter = KeyedLimiter::new(3, Rate::per_second(1));
    for remaining in [2, 1, 0] {
        assert_eq!(
            limiter.check(&"alice", t0),
            Decision::Allowed { remaining },
            "with a limit of 3, each request at one instant should be allowed with one token \
             fewer remaining (X-RateLimit-Remaining: {remaining})"
        );
    }
    assert!(
        matches!(limiter.check(&"alice", t0), Decision::Denied { .. }),
        "the 4th request at one instant under a limit of 3 should be denied"
    );
}

#[test]
fn keyed_limiter_limits_each_client_independently() {
    let t0 = Instant::now();
    let mut limiter = KeyedLimiter::new(2, Rate::per_second(1));
    limiter.check(&"alice", t0);
    limiter.check(&"alice", t0);
    assert!(
        matches!(limiter.check(&"alice", t0), Decision::Denied { .. }),
        "alice spent her 2 tokens: her 3rd request should be denied"
    );
    assert_eq!(
        limiter.check(&"bob", t0),
        Decision::Allowed { remaining: 1 },
        "bob has sent nothing: alice's spending must not touch his bucket of 2"
    );
    assert!(
        matches!(limiter.check(&"alice", t0), Decision::Denied { .. }),
        "bob's request must not refill alice's bucket"
    );
    assert_eq!(
        limiter.check(&"bob", t0),
        Decision::Allowed { remaining: 0 },
        "bob's second request should be allowed with 0 remaining"
    );
}

#[test]
fn keyed_limiter_denial_says_when_to_retry() {
    let t0 = Instant::now();
    let mut limiter = KeyedLimiter::new(2, Rate::per_second(1));
    limiter.check(&7u64, t0);
    limiter.check(&7u64, t0);
    let expected = [
        (
            ms(0),
            Decision::Denied {
                retry_after: Some(ms(1000)),
            },
        ),
        (
            ms(400),
            Decision::Denied {
                retry_after: Some(ms(600)),
            },
        ),
        (ms(1000), Decision::Allowed { remaining: 0 }),
        (
            ms(1000),
            Decision::Denied {
                retry_after: Some(ms(1000)),
            },
        ),
    ];
    for (at, decision) in expected {
        assert_eq!(
            limiter.check(&7u64, t0 + at),
            decision,
            "a client of a limiter of 2 refilling 1 per second, emptied at t0, asking at \
             t0 + {at:?}, should get this answer (Retry-After is the exact wait for one token)"
        );
    }
}

#[rstest]
#[case::capacity_zero(0, Rate::per_second(1))]
#[case::a_rate_of_zero_once_spent(1, rate(0, ms(1000)))]
fn keyed_limiter_denial_says_never_when_no_request_could_pass(
    #[case] capacity: u32,
    #[case] rate: Rate,
) {
    let t0 = Instant::now();
    let mut limiter = KeyedLimiter::new(capacity, rate);
    for _ in 0..capacity {
        limiter.check(&"carol", t0);
    }
    assert_eq!(
        limiter.check(&"carol", t0 + ms(5)),
        Decision::Denied { retry_after: None },
        "a client of a limiter of capacity {capacity} at {rate:?} that has spent its tokens \
         will never be allowed again: the denial should carry no Retry-After"
    );
}

#[rstest]
#[case::three_at_two_per_second(3, Rate::per_second(2))]
#[case::ten_at_three_every_7ms(10, rate(3, ms(7)))]
#[case::one_per_hour(1, rate(1, Duration::from_secs(3600)))]
fn keyed_limiter_forgets_clients_idle_for_twice_the_fill_time(
    #[case] capacity: u32,
    #[case] rate: Rate,
) {
    let t0 = Instant::now();
    let fill_nanos =
        (2 * u128::from(capacity) * rate.per.as_nanos()).div_ceil(u128::from(rate.tokens));
    let twice_fill = ns(u64::try_from(fill_nanos).expect("fits"));
    let mut limiter = KeyedLimiter::new(capacity, rate);
    let mut last = t0;
    for client in 0..200u32 {
        last = t0 + ms(u64::from(client % 50));
        for _ in 0..=client % 4 {
            limiter.check(&client, last);
        }
    }
    limiter.check(&1_000_000, last + twice_fill);
    assert_eq!(
        limiter.tracked_clients(),
        1,
        "200 clients of a limiter of {capacity} at {rate:?} went idle at t0 + {:?} at the \
         latest; {twice_fill:?} later (twice the time to refill a bucket) their buckets are \
         full, the same as new ones, so after one request by a new client only that client \
         should still be tracked",
        last - t0
    );
}

#[test]
fn keyed_limiter_keeps_clients_apart_even_when_their_keys_hash_alike() {
    let t0 = Instant::now();
    let mut limiter = KeyedLimiter::new(2, Rate::per_second(1));
    let (alice, bob) = (ConstHash("alice"), ConstHash("bob"));
    limiter.check(&alice, t0);
    limiter.check(&alice, t0);
    assert!(
        matches!(limiter.check(&alice, t0), Decision::Denied { .. }),
        "alice spent her 2 tokens: her 3rd request should be denied"
    );
    assert_eq!(
        limiter.check(&bob, t0),
        Decision::Allowed { remaining: 1 },
        "bob's key hashes to the same value as alice's (a key type with a constant hash), but \
         it is another client: his first request should be allowed with 1 of 2 tokens left. \
         Keep buckets by the key itself, not by its hash"
    );
    assert_eq!(
        limiter.tracked_clients(),
        2,
        "alice and bob are two clients even though their keys hash alike"
    );
}

#[rstest]
#[case::capacity_one_at_three_per_second(1, Rate::per_second(3))]
#[case::capacity_two_at_seven_every_three_seconds(2, rate(7, ms(3000)))]
fn keyed_limiter_never_forgets_a_client_before_its_bucket_is_full(
    #[case] capacity: u32,
    #[case] rate: Rate,
) {
    // The exact fill time, capacity × per / tokens, is not a whole number of
    // nanoseconds here: one nanosecond before it rounds up, the bucket is
    // still short of a fraction of a token.
    let t0 = Instant::now();
    let fill_nanos = u128::from(capacity) * rate.per.as_nanos() / u128::from(rate.tokens);
    let almost_full = t0 + ns(u64::try_from(fill_nanos).expect("fits"));
    let mut limiter = KeyedLimiter::new(capacity, rate);
    let mut alice = ClientModel {
        level: u128::from(capacity) * rate.per.as_nanos(),
        at: t0,
    };
    for _ in 0..capacity {
        let expected = model_decision(&mut alice, capacity, rate, t0);
        assert_eq!(limiter.check(&"alice", t0), expected, "alice's burst at t0");
    }
    limiter.check(&"bob", almost_full);
    let expected = model_decision(&mut alice, capacity, rate, almost_full);
    assert_eq!(
        limiter.check(&"alice", almost_full),
        expected,
        "alice emptied her bucket of {capacity} at {rate:?} at t0; at t0 + {:?} (the fill \
         time rounded down to the nanosecond) it is a fraction of a token short of full, so \
         she must not be forgotten and handed a new full bucket",
        almost_full - t0
    );
}

#[test]
fn keyed_limiter_sweeps_idle_clients_at_most_once_per_fill_time() {
    // Capacity 4 at 1 per second: a token takes 1s, the whole bucket 4s.
    let t0 = Instant::now();
    let mut limiter = KeyedLimiter::new(4, Rate::per_second(1));
    for client in 0..100u32 {
        limiter.check(&client, t0);
    }
    let mut tracked = limiter.tracked_clients();
    let mut forgot_at = Vec::new();
    for second in 1..=3u32 {
        let at = Duration::from_secs(u64::from(second));
        limiter.check(&(1000 + second), t0 + at);
        let now_tracked = limiter.tracked_clients();
        if now_tracked <= tracked {
            forgot_at.push(at);
        }
        tracked = now_tracked;
    }
    assert!(
        forgot_at.len() <= 1,
        "a limiter of 4 at 1 per second (fill time 4s) forgot clients at t0 + {forgot_at:?}: \
         more than once within one fill time. Sweeping every bucket on every request costs \
         O(tracked clients) per decision; sweep at most once per fill time"
    );
}

/// One client's bucket written the obvious way: `level` is in units of
/// 1/`per`-nanoseconds of a token, so waiting `d` ns adds exactly
/// `d × rate.tokens` units and a token is `per` units.
#[derive(Debug, Clone, Copy)]
struct ClientModel {
    level: u128,
    at: Instant,
}

fn model_decision(client: &mut ClientModel, capacity: u32, rate: Rate, now: Instant) -> Decision {
    let per = rate.per.as_nanos();
    let refilled = (now - client.at).as_nanos() * u128::from(rate.tokens);
    client.level = (client.level + refilled).min(u128::from(capacity) * per);
    client.at = now;
    if client.level >= per {
        client.level -= per;
        let remaining = u32::try_from(client.level / per).expect("at most capacity");
        Decision::Allowed { remaining }
    } else if capacity == 0 || rate.tokens == 0 {
        Decision::Denied { retry_after: None }
    } else {
        let wait = (per - client.level).div_ceil(u128::from(rate.tokens));
        Decision::Denied {
            retry_after: Some(ns(u64::try_from(wait).expect("fits"))),
        }
    }
}

fn keyed_traffic() -> impl Strategy<Value = (u32, Rate, Vec<(Wait, u8)>)> {
    (
        0u32..=4,
        0u32..=3,
        1u64..=1_000_000_000,
        vec((waits(), 0u8..4), 1..60),
    )
        .prop_map(|(capacity, tokens, per, requests)| (capacity, rate(tokens, ns(per)), requests))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn keyed_limiter_agrees_with_one_independent_bucket_per_client(
        (capacity, rate, requests) in keyed_traffic()
    ) {
        let t0 = Instant::now();
        let mut limiter = KeyedLimiter::new(capacity, rate);
        let mut model: HashMap<u8, ClientModel> = HashMap::new();
        let mut seen = HashSet::new();
        let mut now = t0;
        for (i, &(wait, client)) in requests.iter().enumerate() {
            now += wait.duration(capacity, rate);
            seen.insert(client);
            let bucket = model.entry(client).or_insert(ClientModel {
                level: u128::from(capacity) * rate.per.as_nanos(),
                at: now,
            });
            let expected = model_decision(bucket, capacity, rate, now);
            prop_assert_eq!(
                limiter.check(&client, now),
                expected,
                "request {} by client {} at t0 + {:?}: each client has its own bucket of {} \
                 refilling at {:?} (forgetting an idle client must not change any answer)",
                i + 1, client, now - t0, capacity, rate
            );
            prop_assert!(
                limiter.tracked_clients() <= seen.len(),
                "the limiter tracks {} clients but only {} distinct clients ever sent a request",
                limiter.tracked_clients(), seen.len()
            );
        }
    }
}

// ─────────────── Shared bucket: many threads through &self ───────────────

#[test]
fn shared_bucket_refills_and_reports_like_a_token_bucket() {
    let t0 = Instant::now();
    let bucket = SharedTokenBucket::new(2, Rate::per_second(10), t0);
    assert!(
        bucket.try_acquire(2, t0),
        "a new shared bucket of 2 should start full"
    );
    assert!(
        !bucket.try_acquire(1, t0),
        "a spent shared bucket should refuse at the same instant"
    );
    assert_eq!(
        bucket.available(t0 + ms(150)),
        1,
        "1.5 tokens refilled by t0 + 150ms round down to 1"
    );
    assert!(
        bucket.try_acquire(1, t0 + ms(150)),
        "the token refilled by t0 + 150ms should be admitted"
    );
    assert_eq!(
        bucket.available(t0 + ms(200)),
        1,
        "the half token left at t0 + 150ms plus the half refilled by t0 + 200ms make one"
    );
}

#[test]
fn shared_bucket_admits_exactly_capacity_to_racing_threads() {
    const THREADS: usize = 4;
    const ATTEMPTS: usize = 500;
    let t0 = Instant::now();
    let bucket = SharedTokenBucket::new(1000, Rate::per_second(1), t0);
    let admitted: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| scope.spawn(|| (0..ATTEMPTS).filter(|_| bucket.try_acquire(1, t0)).count()))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a worker thread panicked"))
            .sum()
    });
    assert_eq!(
        admitted, 1000,
        "{THREADS} threads × {ATTEMPTS} requests at one instant against a shared bucket of \
         1000 should admit exactly 1000: no more (check and take must be one atomic step), \
         no fewer"
    );
    assert_eq!(
        bucket.available(t0),
        0,
        "the shared bucket should be empty after the race"
    );
}

#[test]
fn shared_bucket_never_admits_more_than_capacity_plus_refill_across_threads() {
    const THREADS: u32 = 4;
    let t0 = Instant::now();
    let bucket = SharedTokenBucket::new(10, Rate::per_second(10), t0);
    let end = t0 + ms(990);
    let admitted: u32 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..100u32)
                        .map(|k| u32::from(bucket.try_acquire(1, t0 + ms(10) * k)))
                        .sum::<u32>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a worker thread panicked"))
            .sum()
    });
    let left = bucket.available(end);
    assert!(
        admitted >= 10,
        "a shared bucket of 10 starts full: racing threads should get at least 10 tokens, \
         got {admitted}"
    );
    assert!(
        admitted + left <= 19,
        "a shared bucket of 10 at 10 per second holds at most 10 + 9.9 tokens over 990ms: \
         racing threads were admitted {admitted} and {left} are left (instants arrive out of \
         order across threads, and must refill nothing twice)"
    );
}
