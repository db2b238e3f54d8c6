//! The specification of the dead-letter-queue kata.
//!
//! Every spec runs on tokio's current-thread runtime with the clock paused:
//! `sleep` jumps the clock straight to the next timer, so lingers and
//! backoffs of minutes are checked to the millisecond, instantly. The
//! handlers record every call (the time, in milliseconds since the consumer
//! started, and each item's id and attempt) and answer at once, except where
//! a spec holds one on purpose.
//!
//! `cargo test -p dead-letter-queue` judges your code;
//! `cargo test -p dead-letter-queue --features solution` judges the reference.

#[cfg(not(feature = "solution"))]
use dead_letter_queue as subject;
#[cfg(feature = "solution")]
use dead_letter_queue_solution as subject;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rstest::rstest;
use subject::{
    Acks, Closed, Config, ConfigError, Consumer, DeadLetter, Delivery, Failure, HANDLER_PANICKED,
    MessageId, RedriveError,
};
use tokio::sync::Notify;
use tokio::time::{Instant, sleep, sleep_until, timeout};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(max_items: usize, linger: u64, max_attempts: u32, initial: u64, max: u64) -> Config {
    Config {
        max_items,
        linger: ms(linger),
        max_attempts,
        initial_backoff: ms(initial),
        max_backoff: ms(max),
    }
}

/// One handler call as the spec saw it: when (ms since the consumer
/// started), and each item's (id, attempt), in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    at: u64,
    items: Vec<(u64, u32)>,
}

fn call(at: u64, items: &[(u64, u32)]) -> Call {
    Call {
        at,
        items: items.to_vec(),
    }
}

/// Every call the handler received, shared with the handler.
#[derive(Clone)]
struct Log {
    start: Instant,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Log {
    fn new() -> Self {
        Log {
            start: Instant::now(),
            calls: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).expect("a test lasts less than u64 ms")
    }

    fn record<T>(&self, batch: &[Delivery<T>]) {
        let items = batch.iter().map(|d| (d.id.0, d.attempt)).collect();
        let at = self.now();
        self.calls.lock().unwrap().push(Call { at, items });
    }

    /// The calls so far, ordered by time (calls in the same millisecond by
    /// their items).
    fn calls(&self) -> Vec<Call> {
        let mut calls = self.calls.lock().unwrap().clone();
        calls.sort();
        calls
    }

    /// Each item's deliveries: (time, attempt), in time order.
    fn deliveries(&self) -> BTreeMap<u64, Vec<(u64, u32)>> {
        let mut per_item: BTreeMap<u64, Vec<(u64, u32)>> = BTreeMap::new();
        for call in self.calls() {
            for (id, attempt) in call.items {
                per_item.entry(id).or_default().push((call.at, attempt));
            }
        }
        per_item
    }

    /// Sleeps until `at` ms after the consumer started.
    async fn until(&self, at: u64) {
        sleep_until(self.start + ms(at)).await;
    }
}

/// A consumer whose handler fails an item while its `attempt` is at most its
/// payload (payload 0 always succeeds, `u32::MAX` always fails), with the
/// error `fail <attempt>`. Failures are returned in reverse batch order, so
/// that a consumer that orders retries by the handler's list shows it.
fn scripted(config: Config) -> (Consumer<u32>, Acks, Log) {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, acks) = Consumer::spawn(config, move |batch: Vec<Delivery<u32>>| {
        recorder.record(&batch);
        async move {
            batch
                .iter()
                .rev()
                .filter(|d| d.attempt <= d.payload)
                .map(|d| Failure::new(d.id, format!("fail {}", d.attempt)))
                .collect()
        }
    })
    .expect("a valid config starts a consumer");
    (consumer, acks, log)
}

/// A consumer whose handler fails item `id` on its first `fails[id]` calls,
/// counted by the handler across redrives, with the error `fail <attempt>`.
fn counted(config: Config, fails: Vec<u32>) -> (Consumer<()>, Acks, Log) {
    let log = Log::new();
    let recorder = log.clone();
    let calls: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let (consumer, acks) = Consumer::spawn(config, move |batch: Vec<Delivery<()>>| {
        recorder.record(&batch);
        let mut calls = calls.lock().unwrap();
        let failures: Vec<Failure> = batch
            .iter()
            .filter(|d| {
                let n = calls.entry(d.id.0).or_insert(0);
                *n += 1;
                *n <= fails.get(d.id.0 as usize).copied().unwrap_or(0)
            })
            .map(|d| Failure::new(d.id, format!("fail {}", d.attempt)))
            .collect();
        async move { failures }
    })
    .expect("a valid config starts a consumer");
    (consumer, acks, log)
}

fn submit<T: Clone + Send + 'static>(consumer: &Consumer<T>, payload: T) -> u64 {
    match consumer.submit(payload) {
        Ok(id) => id.0,
        Err(_) => panic!("a running consumer should accept an item"),
    }
}

/// Shuts down and waits for the drain, with a (paused-clock) deadline of a
/// year, so that a drain that never ends fails instead of hanging.
async fn drain<T: Clone + Send + 'static>(consumer: &Consumer<T>) {
    timeout(Duration::from_secs(365 * 24 * 3600), consumer.shutdown())
        .await
        .expect("shutdown should return once every item is acknowledged or dead-lettered");
}

/// Every id acknowledged so far, in the order acknowledged.
fn acked(acks: &mut Acks) -> Vec<u64> {
    let mut out = Vec::new();
    while let Ok(id) = acks.try_recv() {
        out.push(id.0);
    }
    out
}

fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
    ids.sort_unstable();
    ids
}

fn dead_ids<T>(dead: &[DeadLetter<T>]) -> Vec<u64> {
    dead.iter().map(|d| d.id.0).collect()
}

fn errors(attempts: std::ops::RangeInclusive<u32>) -> Vec<String> {
    attempts.map(|k| format!("fail {k}")).collect()
}

// ---------------------------------------------------------------------------
// 1. Batches close at max_items or linger
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_batch_is_flushed_as_soon_as_it_holds_max_items() {
    let (consumer, mut acks, log) = scripted(config(3, 1_000, 3, 10, 100));
    for _ in 0..7 {
        submit(&consumer, 0);
    }
    sleep(ms(5_000)).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1), (2, 1)]),
            call(0, &[(3, 1), (4, 1), (5, 1)]),
            call(1_000, &[(6, 1)]),
        ],
        "7 items submitted at 0 ms with max_items 3 and linger 1 s: two full \
         batches at once, in submission order, and the last item alone when its linger ends"
    );
    assert_eq!(sorted(acked(&mut acks)), [0, 1, 2, 3, 4, 5, 6]);
    drain(&consumer).await;
}

#[tokio::test(start_paused = true)]
async fn a_batch_is_flushed_linger_after_its_first_item_not_before() {
    let (consumer, mut acks, log) = scripted(config(10, 1_000, 3, 10, 100));
    submit(&consumer, 0);
    log.until(400).await;
    submit(&consumer, 0);
    log.until(999).await;
    assert_eq!(
        log.calls(),
        [],
        "items submitted at 0 ms and 400 ms with linger 1 s: nothing is flushed at 999 ms"
    );
    assert_eq!(
        acked(&mut acks),
        Vec::<u64>::new(),
        "nothing is acknowledged before a call"
    );
    sleep(ms(5_000)).await;
    assert_eq!(
        log.calls(),
        [call(1_000, &[(0, 1), (1, 1)])],
        "the batch opened at 0 ms goes at 1000 ms (linger after its first item, \
         not after its last), both items in one call"
    );
    assert_eq!(sorted(acked(&mut acks)), [0, 1]);
    drain(&consumer).await;
}

#[tokio::test(start_paused = true)]
async fn an_item_after_a_flush_opens_a_new_batch_with_its_own_linger() {
    let (consumer, _acks, log) = scripted(config(2, 1_000, 3, 10, 100));
    for (at, count) in [(0, 2), (300, 1), (500, 1), (700, 1), (2_000, 1), (3_100, 1)] {
        log.until(at).await;
        for _ in 0..count {
            submit(&consumer, 0);
        }
    }
    sleep(ms(10_000)).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1)]),
            call(500, &[(2, 1), (3, 1)]),
            call(1_700, &[(4, 1)]),
            call(3_000, &[(5, 1)]),
            call(4_100, &[(6, 1)]),
        ],
        "max_items 2, linger 1 s, items at 0, 0, 300, 500, 700, 2000, 3100 ms: \
         each batch's linger starts with its own first item"
    );
    drain(&consumer).await;
}

#[tokio::test(start_paused = true)]
async fn a_linger_of_duration_max_waits_for_max_items_or_shutdown() {
    let (consumer, mut acks, log) = scripted(Config {
        linger: Duration::MAX,
        ..config(2, 0, 3, 10, 100)
    });
    for _ in 0..3 {
        submit(&consumer, 0);
    }
    let ten_days = 10 * 24 * 3_600 * 1_000;
    log.until(ten_days).await;
    assert_eq!(
        log.calls(),
        [call(0, &[(0, 1), (1, 1)])],
        "with linger Duration::MAX a batch goes when full, and the third item \
         still waits after ten days (no overflow, no early flush)"
    );
    drain(&consumer).await;
    assert_eq!(
        log.calls(),
        [call(0, &[(0, 1), (1, 1)]), call(ten_days, &[(2, 1)])],
        "shutdown flushes the batch that linger Duration::MAX would never flush"
    );
    assert_eq!(sorted(acked(&mut acks)), [0, 1, 2]);
}

// ---------------------------------------------------------------------------
// 2. Only the failures are retried, together, after a capped backoff
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_partially_failed_batch_retries_only_its_failures() {
    let (consumer, mut acks, log) = scripted(config(4, 100, 5, 10, 1_000));
    for fails in [0, 1, 0, 2] {
        submit(&consumer, fails);
    }
    log.until(5).await;
    assert_eq!(
        sorted(acked(&mut acks)),
        [0, 2],
        "the items that did not fail are acknowledged when their call returns"
    );
    drain(&consumer).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1), (2, 1), (3, 1)]),
            call(10, &[(1, 2), (3, 2)]),
            call(30, &[(3, 3)]),
        ],
        "items 1 and 3 fail at 0 ms: only they are retried, 10 ms later, in \
         batch order; item 3 fails again and is retried alone 20 ms after that"
    );
    assert_eq!(acked(&mut acks), [1, 3]);
    assert!(consumer.dead_letters().is_empty(), "nothing failed 5 times");
}

#[rstest]
#[case::doubling_then_capped(100, 500, &[0, 100, 300, 700, 1_200, 1_700])]
#[case::cap_equal_to_initial(100, 100, &[0, 100, 200, 300, 400, 500])]
#[case::cap_below_initial(100, 50, &[0, 50, 100, 150, 200, 250])]
#[case::zero_initial_retries_at_once(0, 1_000, &[0, 0, 0, 0, 0, 0])]
#[case::never_reaching_the_cap(250, 60_000, &[0, 250, 750, 1_750, 3_750, 7_750])]
#[tokio::test(start_paused = true)]
async fn retries_wait_a_capped_exponential_backoff(
    #[case] initial: u64,
    #[case] max: u64,
    #[case] expected: &[u64],
) {
    let (consumer, _acks, log) = scripted(config(1, 0, 6, initial, max));
    submit(&consumer, u32::MAX);
    drain(&consumer).await;
    let times: Vec<(u64, u32)> = log.deliveries().remove(&0).unwrap_or_default();
    let want: Vec<(u64, u32)> = expected.iter().copied().zip(1..).collect();
    assert_eq!(
        times, want,
        "initial_backoff {initial} ms, max_backoff {max} ms, an item that always \
         fails: attempt k+1 comes min(initial * 2^(k-1), max) after attempt k \
         (time in ms, attempt)"
    );
    assert_eq!(dead_ids(&consumer.dead_letters()), [0]);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_never_overflows_however_many_attempts() {
    let (consumer, _acks, log) = scripted(Config {
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(3_600),
        ..config(1, 0, 100, 0, 0)
    });
    submit(&consumer, u32::MAX);
    drain(&consumer).await;
    let mut want = Vec::new();
    let mut at = 0;
    for attempt in 1..=100u32 {
        want.push((at, attempt));
        let wait = if attempt <= 12 {
            1_000 << (attempt - 1)
        } else {
            3_600_000
        };
        at += wait.min(3_600_000);
    }
    assert_eq!(
        log.deliveries().remove(&0).unwrap_or_default(),
        want,
        "100 attempts, backoff 1 s doubling, capped at 1 h: attempts 33 to 100 \
         come an hour apart (2^(k-1) does not fit in a u32 there) without a panic"
    );
    let dead = consumer.dead_letters();
    assert_eq!(dead_ids(&dead), [0]);
    assert_eq!(dead[0].errors, errors(1..=100));
}

#[tokio::test(start_paused = true)]
async fn the_backoff_is_counted_from_when_the_failed_call_returned() {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, _acks) = Consumer::spawn(
        config(1, 0, 3, 100, 1_000),
        move |batch: Vec<Delivery<()>>| {
            recorder.record(&batch);
            async move {
                // A slow bulk request: 4 s, then every item fails.
                sleep(ms(4_000)).await;
                batch
                    .iter()
                    .map(|d| Failure::new(d.id, "overloaded"))
                    .collect()
            }
        },
    )
    .expect("a valid config");
    submit(&consumer, ());
    drain(&consumer).await;
    assert_eq!(
        log.deliveries().remove(&0).unwrap_or_default(),
        [(0, 1), (4_100, 2), (8_300, 3)],
        "calls that take 4 s each: the retry waits 100 ms, then 200 ms, after the \
         failed call returned, not after it started"
    );
    assert_eq!(
        log.now(),
        12_300,
        "the drain ends when the third call returns"
    );
}

#[tokio::test(start_paused = true)]
async fn a_zero_initial_backoff_retries_at_once_however_many_attempts() {
    let (consumer, _acks, log) = scripted(Config {
        max_backoff: Duration::from_secs(60),
        ..config(1, 0, 50, 0, 0)
    });
    submit(&consumer, u32::MAX);
    drain(&consumer).await;
    let want: Vec<(u64, u32)> = (1..=50).map(|attempt| (0, attempt)).collect();
    assert_eq!(
        log.deliveries().remove(&0).unwrap_or_default(),
        want,
        "initial_backoff 0: min(0 * 2^(k-1), 1 min) is 0 for every k, so all 50 \
         attempts come at once, the 34th and later too (2^33 does not fit a u32, \
         0 times it is still 0)"
    );
    assert_eq!(consumer.dead_letters()[0].errors.len(), 50);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_keeps_doubling_past_2_to_the_32_times_initial() {
    let (consumer, _acks, log) = scripted(Config {
        initial_backoff: ms(1),
        max_backoff: ms(1 << 40),
        ..config(1, 0, 35, 0, 0)
    });
    submit(&consumer, u32::MAX);
    drain(&consumer).await;
    // Attempt k + 1 comes 1 + 2 + ... + 2^(k-1) = 2^k - 1 ms after the first.
    let want: Vec<(u64, u32)> = (1..=35u32).map(|k| ((1u64 << (k - 1)) - 1, k)).collect();
    assert_eq!(
        log.deliveries().remove(&0).unwrap_or_default(),
        want,
        "initial_backoff 1 ms, max_backoff 2^40 ms (never reached here): the wait \
         after attempt 33 is 2^32 ms and after attempt 34 2^33 ms, exactly; a factor \
         that saturates at u32::MAX stops doubling there"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_due_past_the_clock_s_range_never_stops_the_consumer() {
    let (consumer, mut acks, log) = scripted(Config {
        initial_backoff: Duration::MAX,
        max_backoff: Duration::MAX,
        ..config(1, 0, 3, 0, 0)
    });
    submit(&consumer, u32::MAX);
    log.until(1_000).await;
    submit(&consumer, 0);
    let a_year = 365 * 24 * 3_600 * 1_000;
    log.until(a_year).await;
    assert_eq!(
        log.calls(),
        [call(0, &[(0, 1)]), call(1_000, &[(1, 1)])],
        "a retry due Duration::MAX after its failure (past the clock's range) is \
         never reached, and the consumer goes on with the next items"
    );
    assert_eq!(acked(&mut acks), [1]);
    assert_eq!(
        consumer.dead_letters(),
        [],
        "the item waits for its retry, it is not dead"
    );
}

#[tokio::test(start_paused = true)]
async fn the_failures_of_a_call_are_retried_together_and_alone() {
    let (consumer, _acks, log) = scripted(config(3, 50, 3, 100, 100));
    for fails in [1, 0, 1] {
        submit(&consumer, fails);
    }
    log.until(70).await;
    submit(&consumer, 0);
    sleep(ms(1_000)).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1), (2, 1)]),
            call(100, &[(0, 2), (2, 2)]),
            call(120, &[(3, 1)]),
        ],
        "items 0 and 2 fail at 0 ms (the handler names 2 before 0): their retry \
         at 100 ms is one call of its own, in batch order, never merged with the \
         batch opened at 70 ms, which goes at 120 ms on its own"
    );
    drain(&consumer).await;
}

// ---------------------------------------------------------------------------
// 3. Acknowledged exactly once
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn every_processed_item_is_acknowledged_exactly_once() {
    let (consumer, mut acks, log) = scripted(config(4, 30, 3, 10, 40));
    let scripts = [0, 1, 2, 0, u32::MAX, 0, 1, 3, 0, 2, 0, 0, u32::MAX, 1];
    for (i, fails) in scripts.iter().enumerate() {
        log.until(7 * i as u64).await;
        submit(&consumer, *fails);
    }
    drain(&consumer).await;
    let acked = acked(&mut acks);
    let want: Vec<u64> = (0..)
        .zip(scripts)
        .filter(|&(_, f)| f < 3)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        sorted(acked.clone()),
        want,
        "every item that succeeded within 3 attempts is acknowledged once (ids as \
         acknowledged: {acked:?}); failures (scripts {scripts:?}) never are"
    );
    assert_eq!(dead_ids(&consumer.dead_letters()), [4, 7, 12]);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_acks_receiver_does_not_stop_the_consumer() {
    let (consumer, acks, log) = scripted(config(2, 10, 2, 100, 100));
    drop(acks);
    submit(&consumer, 0);
    submit(&consumer, 0);
    log.until(50).await;
    submit(&consumer, u32::MAX);
    log.until(1_000).await;
    submit(&consumer, 0);
    drain(&consumer).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1)]),
            call(60, &[(2, 1)]),
            call(160, &[(2, 2)]),
            call(1_000, &[(3, 1)]),
        ],
        "with nobody reading the acks, the consumer goes on batching and retrying"
    );
    assert_eq!(dead_ids(&consumer.dead_letters()), [2]);
}

#[tokio::test(start_paused = true)]
async fn failures_naming_ids_outside_the_batch_are_ignored() {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, mut acks) = Consumer::spawn(
        config(2, 10, 3, 100, 100),
        move |batch: Vec<Delivery<&'static str>>| {
            recorder.record(&batch);
            async move {
                let mut failures = Vec::new();
                for d in &batch {
                    match d.payload {
                        // Item 0 always fails.
                        "poison" => failures.push(Failure::new(d.id, "poison")),
                        // This batch names item 0 (retrying elsewhere), item 1
                        // (acknowledged already) and an id never given.
                        "meddler" => {
                            failures.push(Failure::new(MessageId(0), "not yours"));
                            failures.push(Failure::new(MessageId(1), "not yours"));
                            failures.push(Failure::new(MessageId(999), "nobody"));
                        }
                        _ => {}
                    }
                }
                failures
            }
        },
    )
    .expect("a valid config");
    submit(&consumer, "poison");
    submit(&consumer, "fine");
    log.until(50).await;
    submit(&consumer, "meddler");
    submit(&consumer, "fine");
    drain(&consumer).await;
    assert_eq!(
        sorted(acked(&mut acks)),
        [1, 2, 3],
        "a batch whose failures name only ids outside it is fully acknowledged, \
         and item 1, acknowledged before, is not acknowledged again"
    );
    assert_eq!(
        log.deliveries().remove(&0).unwrap_or_default(),
        [(0, 1), (100, 2), (200, 3)],
        "item 0's attempts are its own: another batch naming it changes nothing"
    );
    let dead = consumer.dead_letters();
    assert_eq!(dead_ids(&dead), [0]);
    assert_eq!(dead[0].errors, ["poison", "poison", "poison"]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_named_twice_counts_once_with_its_first_error() {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, mut acks) = Consumer::spawn(
        config(1, 0, 2, 100, 1_000),
        move |batch: Vec<Delivery<()>>| {
            recorder.record(&batch);
            async move {
                batch
                    .iter()
                    .flat_map(|d| {
                        [
                            Failure::new(d.id, format!("first {}", d.attempt)),
                            Failure::new(d.id, format!("second {}", d.attempt)),
                        ]
                    })
                    .collect()
            }
        },
    )
    .expect("a valid config");
    submit(&consumer, ());
    drain(&consumer).await;
    assert_eq!(
        log.deliveries().remove(&0).unwrap_or_default(),
        [(0, 1), (100, 2)],
        "an item named twice in one answer has failed one attempt, not two: \
         it is retried after the first backoff"
    );
    let dead = consumer.dead_letters();
    assert_eq!(dead_ids(&dead), [0]);
    assert_eq!(
        dead[0].errors,
        ["first 1", "first 2"],
        "one error per attempt, the first one named"
    );
    assert_eq!(acked(&mut acks), Vec::<u64>::new());
}

// ---------------------------------------------------------------------------
// 4. The dead-letter store
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_item_that_fails_max_attempts_times_is_dead_lettered_with_every_error() {
    let (consumer, mut acks, log) = scripted(config(4, 10, 3, 100, 100));
    // Items 0 and 2 always fail (the handler names 2 first); 1 succeeds;
    // 3, submitted later, always fails too.
    for fails in [u32::MAX, 0, u32::MAX] {
        submit(&consumer, fails);
    }
    log.until(50).await;
    submit(&consumer, u32::MAX);
    drain(&consumer).await;
    assert_eq!(
        log.calls(),
        [
            call(10, &[(0, 1), (1, 1), (2, 1)]),
            call(50, &[(3, 1)]),
            call(110, &[(0, 2), (2, 2)]),
            call(150, &[(3, 2)]),
            call(210, &[(0, 3), (2, 3)]),
            call(250, &[(3, 3)]),
        ],
        "max_attempts 3: three attempts each, and no fourth (shutdown at 50 ms flushes item 3 at once)"
    );
    assert_eq!(
        consumer.dead_letters(),
        [0, 2, 3]
            .into_iter()
            .map(|id| DeadLetter {
                id: MessageId(id),
                payload: u32::MAX,
                errors: errors(1..=3),
            })
            .collect::<Vec<_>>(),
        "the store holds each item with every error, oldest first, in the order \
         they were given up on (the items of one call in that call's order)"
    );
    assert_eq!(acked(&mut acks), [1], "a dead letter is never acknowledged");
}

#[tokio::test(start_paused = true)]
async fn max_attempts_one_dead_letters_on_the_first_failure() {
    let (consumer, mut acks, log) = scripted(config(2, 10, 1, 100, 100));
    submit(&consumer, 1);
    submit(&consumer, 0);
    drain(&consumer).await;
    assert_eq!(log.calls(), [call(0, &[(0, 1), (1, 1)])], "no retry at all");
    assert_eq!(
        consumer.dead_letters(),
        [DeadLetter {
            id: MessageId(0),
            payload: 1,
            errors: errors(1..=1),
        }]
    );
    assert_eq!(acked(&mut acks), [1]);
}

#[tokio::test(start_paused = true)]
async fn the_store_lists_dead_letters_in_the_order_they_were_given_up_on() {
    let broken = Arc::new(AtomicBool::new(true));
    let (consumer, _acks, log) = fixable(config(1, 0, 1, 100, 100), Arc::clone(&broken));
    for _ in 0..3 {
        submit(&consumer, true);
    }
    log.until(100).await;
    assert_eq!(dead_ids(&consumer.dead_letters()), [0, 1, 2]);
    // Item 0, redriven before the fix, is given up on again: now the last.
    assert_eq!(consumer.redrive(&[MessageId(0)]), Ok(1));
    log.until(200).await;
    assert_eq!(
        dead_ids(&consumer.dead_letters()),
        [1, 2, 0],
        "the store is in the order items were given up on, not in id order: \
         item 0 died again at 100 ms, after items 1 and 2"
    );
    broken.store(false, Ordering::SeqCst);
    assert_eq!(consumer.redrive_all(), Ok(3));
    drain(&consumer).await;
    let last: Vec<Call> = log.calls().into_iter().filter(|c| c.at == 200).collect();
    assert_eq!(
        last,
        [
            call(200, &[(0, 1)]),
            call(200, &[(1, 1)]),
            call(200, &[(2, 1)])
        ],
        "redrive_all resubmits the whole store (max_items 1: one call each)"
    );
}

// ---------------------------------------------------------------------------
// 5. Poison items never block healthy ones
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_poison_item_never_delays_the_healthy_items() {
    let (consumer, mut acks, log) = scripted(config(2, 100, 6, 1_000, 60_000));
    submit(&consumer, u32::MAX);
    submit(&consumer, 0);
    // Submissions fall on multiples of 10 ms; the spec looks at the acks
    // 5 ms after each.
    let submissions = BTreeMap::from([(150, 2), (170, 3), (2_000, 4), (5_000, 5)]);
    let mut acked_at = BTreeMap::new();
    for t in (0..=20_000).step_by(10) {
        log.until(t).await;
        if let Some(&id) = submissions.get(&t) {
            assert_eq!(submit(&consumer, 0), id);
        }
        log.until(t + 5).await;
        for id in acked(&mut acks) {
            acked_at.insert(id, t + 5);
        }
    }
    assert_eq!(
        acked_at,
        BTreeMap::from([(1, 5), (2, 175), (3, 175), (4, 2_105), (5, 5_105)]),
        "item 0 always fails (retried at 1 s, 3 s, 7 s, 15 s): the items after \
         it are flushed and acknowledged on their own schedule (id -> the first \
         look, 5 ms after each 10 ms step, that saw its ack)"
    );
    drain(&consumer).await;
    assert_eq!(dead_ids(&consumer.dead_letters()), [0]);
}

// ---------------------------------------------------------------------------
// 6. A panicking handler
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_fails_its_whole_batch_and_the_consumer_goes_on() {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, mut acks) = Consumer::spawn(
        config(2, 10, 2, 100, 100),
        move |batch: Vec<Delivery<&str>>| {
            recorder.record(&batch);
            async move {
                for d in &batch {
                    if (d.payload == "panics once" && d.attempt == 1)
                        || d.payload == "panics always"
                    {
                        panic!("the handler panicked on purpose (this message is expected)");
                    }
                }
                Vec::new()
            }
        },
    )
    .expect("a valid config");
    submit(&consumer, "panics once");
    submit(&consumer, "fine");
    log.until(50).await;
    submit(&consumer, "fine");
    submit(&consumer, "panics always");
    log.until(500).await;
    submit(&consumer, "fine");
    drain(&consumer).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1)]),
            call(50, &[(2, 1), (3, 1)]),
            call(100, &[(0, 2), (1, 2)]),
            call(150, &[(2, 2), (3, 2)]),
            call(500, &[(4, 1)]),
        ],
        "a call that panics fails every item of its batch, which is retried \
         whole; the consumer keeps calling"
    );
    assert_eq!(sorted(acked(&mut acks)), [0, 1, 4]);
    let dead = consumer.dead_letters();
    assert_eq!(dead_ids(&dead), [2, 3]);
    for letter in dead {
        assert_eq!(letter.errors, [HANDLER_PANICKED, HANDLER_PANICKED]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_handler_that_panics_before_returning_its_future_fails_its_batch_too() {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, mut acks) = Consumer::spawn(
        config(1, 0, 2, 100, 100),
        move |batch: Vec<Delivery<&str>>| {
            recorder.record(&batch);
            if batch[0].payload == "bad" {
                panic!("the handler panicked on purpose (this message is expected)");
            }
            async { Vec::new() }
        },
    )
    .expect("a valid config");
    submit(&consumer, "bad");
    log.until(20).await;
    submit(&consumer, "fine");
    drain(&consumer).await;
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1)]),
            call(20, &[(1, 1)]),
            call(100, &[(0, 2)])
        ],
        "a handler that panics when called (before any future) is a failed call \
         like any other"
    );
    assert_eq!(acked(&mut acks), [1]);
    let dead = consumer.dead_letters();
    assert_eq!(dead_ids(&dead), [0]);
    assert_eq!(dead[0].errors, [HANDLER_PANICKED, HANDLER_PANICKED]);
}

// ---------------------------------------------------------------------------
// 7. Redrive
// ---------------------------------------------------------------------------

/// A consumer whose handler fails an item while the shared `broken` flag is
/// set and the item's payload says it is affected, with `fail <attempt>`.
fn fixable(config: Config, broken: Arc<AtomicBool>) -> (Consumer<bool>, Acks, Log) {
    let log = Log::new();
    let recorder = log.clone();
    let (consumer, acks) = Consumer::spawn(config, move |batch: Vec<Delivery<bool>>| {
        recorder.record(&batch);
        let broken = broken.load(Ordering::SeqCst);
        async move {
            batch
                .iter()
                .filter(|d| broken && d.payload)
                .map(|d| Failure::new(d.id, format!("fail {}", d.attempt)))
                .collect()
        }
    })
    .expect("a valid config");
    (consumer, acks, log)
}

#[tokio::test(start_paused = true)]
async fn redrive_puts_dead_letters_back_with_a_fresh_attempt_budget() {
    // Item 0 fails its first 3 calls, item 1 its first 2: with max_attempts
    // 2, both are dead after their second.
    let (consumer, mut acks, log) = counted(config(4, 50, 2, 100, 100), vec![3, 2]);
    submit(&consumer, ());
    submit(&consumer, ());
    log.until(1_000).await;
    assert_eq!(dead_ids(&consumer.dead_letters()), [0, 1]);
    assert_eq!(consumer.redrive(&[MessageId(1), MessageId(0)]), Ok(2));
    assert_eq!(
        consumer.dead_letters(),
        [],
        "redriven items leave the store at once"
    );
    log.until(5_000).await;
    assert_eq!(
        log.calls(),
        [
            call(50, &[(0, 1), (1, 1)]),
            call(150, &[(0, 2), (1, 2)]),
            call(1_050, &[(1, 1), (0, 1)]),
            call(1_150, &[(0, 2)]),
        ],
        "redriven at 1000 ms in the order given (1, 0), the items form a new batch \
         (linger from the redrive) with attempt 1 again: item 1 passes its third try, \
         item 0 its fourth, within the fresh budget of 2"
    );
    assert_eq!(acked(&mut acks), [1, 0]);
    assert_eq!(consumer.dead_letters(), []);
    drain(&consumer).await;
}

#[tokio::test(start_paused = true)]
async fn a_redriven_item_that_fails_again_keeps_the_errors_of_both_runs() {
    let broken = Arc::new(AtomicBool::new(true));
    let (consumer, mut acks, _log) = fixable(config(1, 0, 2, 100, 100), Arc::clone(&broken));
    let id = submit(&consumer, true);
    sleep(ms(1_000)).await;
    assert_eq!(consumer.redrive(&[MessageId(id)]), Ok(1));
    sleep(ms(1_000)).await;
    assert_eq!(
        consumer.dead_letters(),
        [DeadLetter {
            id: MessageId(id),
            payload: true,
            errors: ["fail 1", "fail 2", "fail 1", "fail 2"]
                .map(String::from)
                .to_vec(),
        }],
        "redriven before the fix, the item fails max_attempts times again (attempts \
         counted from 1) and is dead-lettered with the errors of both runs"
    );
    broken.store(false, Ordering::SeqCst);
    assert_eq!(consumer.redrive_all(), Ok(1));
    drain(&consumer).await;
    assert_eq!(
        acked(&mut acks),
        [id],
        "redriven after the fix, it is processed"
    );
    assert_eq!(consumer.dead_letters(), []);
}

#[tokio::test(start_paused = true)]
async fn redrive_of_an_id_not_in_the_store_is_an_error_and_redrives_nothing() {
    let (consumer, mut acks, log) = scripted(config(3, 10, 2, 1_000, 1_000));
    submit(&consumer, u32::MAX); // 0: dead at 1000
    submit(&consumer, 0); // 1: acknowledged at 0
    submit(&consumer, u32::MAX); // 2: dead at 1000
    log.until(1_500).await;
    submit(&consumer, u32::MAX); // 3: fails at 1510, waits for its retry
    log.until(1_600).await;
    let before = consumer.dead_letters();
    assert_eq!(dead_ids(&before), [0, 2]);
    for (ids, missing) in [
        (vec![0, 999], 999),
        (vec![0, 1], 1),
        (vec![2, 3], 3),
        (vec![4, 0], 4),
    ] {
        let ids: Vec<MessageId> = ids.into_iter().map(MessageId).collect();
        assert_eq!(
            consumer.redrive(&ids),
            Err(RedriveError::NotDeadLettered(MessageId(missing))),
            "redrive({ids:?}): {missing} is not a dead letter (never given, \
             acknowledged, or still being retried)"
        );
        assert_eq!(
            consumer.dead_letters(),
            before,
            "a refused redrive({ids:?}) leaves the store as it was"
        );
    }
    assert_eq!(consumer.redrive(&[]), Ok(0));
    assert_eq!(
        consumer.redrive(&[MessageId(2), MessageId(2)]),
        Ok(1),
        "an id given twice is redriven once"
    );
    assert_eq!(
        consumer.redrive(&[MessageId(2)]),
        Err(RedriveError::NotDeadLettered(MessageId(2))),
        "an id redriven already is no longer in the store"
    );
    drain(&consumer).await;
    let calls = log.calls();
    assert_eq!(
        calls,
        [
            call(0, &[(0, 1), (1, 1), (2, 1)]),
            call(1_000, &[(0, 2), (2, 2)]),
            call(1_510, &[(3, 1)]),
            call(1_600, &[(2, 1)]),
            call(2_510, &[(3, 2)]),
            call(2_600, &[(2, 2)]),
        ],
        "only item 2 was redriven, once; refused redrives sent nothing"
    );
    assert_eq!(acked(&mut acks), [1]);
}

#[tokio::test(start_paused = true)]
async fn redrive_all_redrives_the_whole_store_in_its_order() {
    let broken = Arc::new(AtomicBool::new(true));
    let (consumer, mut acks, log) = fixable(config(10, 50, 1, 100, 100), Arc::clone(&broken));
    submit(&consumer, true);
    log.until(20).await;
    submit(&consumer, true); // 1 and 0 die at 50 (their call's order: 0, 1)
    log.until(100).await;
    submit(&consumer, false);
    submit(&consumer, true); // 3 dies at 150
    log.until(200).await;
    assert_eq!(dead_ids(&consumer.dead_letters()), [0, 1, 3]);
    broken.store(false, Ordering::SeqCst);
    assert_eq!(consumer.redrive_all(), Ok(3));
    assert_eq!(consumer.dead_letters(), []);
    assert_eq!(
        consumer.redrive_all(),
        Ok(0),
        "an empty store redrives nothing"
    );
    drain(&consumer).await;
    assert_eq!(
        log.calls().last(),
        Some(&call(200, &[(0, 1), (1, 1), (3, 1)])),
        "the whole store goes back in its order, as one new batch"
    );
    let acked = acked(&mut acks);
    assert_eq!(
        acked.first(),
        Some(&2),
        "item 2 was processed at 150 ms, first"
    );
    assert_eq!(sorted(acked), [0, 1, 2, 3], "then the redriven items");
}

#[tokio::test(start_paused = true)]
async fn a_redrive_larger_than_max_items_goes_in_batches_of_at_most_max_items() {
    let broken = Arc::new(AtomicBool::new(true));
    let (consumer, mut acks, log) = fixable(config(4, 50, 1, 100, 100), Arc::clone(&broken));
    for _ in 0..10 {
        submit(&consumer, true);
    }
    log.until(100).await;
    assert_eq!(
        dead_ids(&consumer.dead_letters()),
        (0..10).collect::<Vec<u64>>()
    );
    broken.store(false, Ordering::SeqCst);
    submit(&consumer, false); // item 10: the open batch holds one item
    assert_eq!(consumer.redrive_all(), Ok(10));
    log.until(1_000).await;
    let after: Vec<Call> = log.calls().into_iter().filter(|c| c.at >= 100).collect();
    assert_eq!(
        after,
        [
            call(100, &[(3, 1), (4, 1), (5, 1), (6, 1)]),
            call(100, &[(10, 1), (0, 1), (1, 1), (2, 1)]),
            call(150, &[(7, 1), (8, 1), (9, 1)]),
        ],
        "10 dead letters redriven into an open batch of 1 with max_items 4: \
         batches of 4, 4 and the last 3 at the linger, never one batch of 11"
    );
    drain(&consumer).await;
    assert_eq!(sorted(acked(&mut acks)), (0..11).collect::<Vec<u64>>());
}

// ---------------------------------------------------------------------------
// 8. Shutdown drains
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_the_open_batch_at_once() {
    let (consumer, mut acks, log) = scripted(config(10, 10_000, 3, 100, 100));
    submit(&consumer, 0);
    submit(&consumer, 0);
    log.until(1_000).await;
    drain(&consumer).await;
    assert_eq!(
        log.now(),
        1_000,
        "shutdown returns as soon as the open batch is processed, without waiting \
         for its 10 s linger"
    );
    assert_eq!(log.calls(), [call(1_000, &[(0, 1), (1, 1)])]);
    assert_eq!(sorted(acked(&mut acks)), [0, 1]);
}

#[tokio::test(start_paused = true)]
async fn shutdown_flushes_in_batches_of_at_most_max_items() {
    let (consumer, mut acks, log) = scripted(config(10, 10_000, 3, 100, 100));
    for _ in 0..25 {
        submit(&consumer, 0);
    }
    drain(&consumer).await;
    let sizes: Vec<usize> = log.calls().iter().map(|c| c.items.len()).collect();
    assert_eq!(
        sizes,
        [10, 10, 5],
        "25 items submitted just before shutdown, max_items 10: batches of 10, 10 \
         and 5, never one batch of everything"
    );
    assert_eq!(sorted(acked(&mut acks)), (0..25).collect::<Vec<u64>>());
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_the_retries_and_loses_no_item() {
    let (consumer, mut acks, log) = scripted(config(10, 10_000, 4, 100, 1_000));
    submit(&consumer, 2); // succeeds on its third attempt
    submit(&consumer, u32::MAX); // dead after its fourth
    drain(&consumer).await;
    assert_eq!(
        log.now(),
        700,
        "shutdown returns when the last retry (attempt 4 at 700 ms) is done"
    );
    assert_eq!(
        log.calls(),
        [
            call(0, &[(0, 1), (1, 1)]),
            call(100, &[(0, 2), (1, 2)]),
            call(300, &[(0, 3), (1, 3)]),
            call(700, &[(1, 4)]),
        ],
        "retries keep their backoff during a drain"
    );
    assert_eq!(
        acked(&mut acks),
        [0],
        "acknowledged before shutdown returned"
    );
    assert_eq!(
        dead_ids(&consumer.dead_letters()),
        [1],
        "dead-lettered before shutdown returned"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_call_in_flight() {
    let log = Log::new();
    let recorder = log.clone();
    let release = Arc::new(Notify::new());
    let held = Arc::clone(&release);
    let (consumer, mut acks) = Consumer::spawn(
        config(1, 0, 3, 100, 100),
        move |batch: Vec<Delivery<&'static str>>| {
            recorder.record(&batch);
            let held = Arc::clone(&held);
            async move {
                held.notified().await;
                Vec::new()
            }
        },
    )
    .expect("a valid config");
    submit(&consumer, "slow");
    log.until(10).await;
    assert_eq!(log.calls(), [call(0, &[(0, 1)])], "the call is in flight");
    let mut refused = None;
    tokio::join!(drain(&consumer), async {
        log.until(500).await;
        refused = Some(consumer.submit("late"));
        log.until(2_000).await;
        release.notify_one();
    });
    assert_eq!(
        log.now(),
        2_000,
        "shutdown returned when the call in flight did (at 2000 ms), not before"
    );
    assert_eq!(
        acked(&mut acks),
        [0],
        "the item of the call in flight is acknowledged"
    );
    assert_eq!(
        refused,
        Some(Err(Closed("late"))),
        "a submission during the drain is refused, with its payload"
    );
    assert_eq!(
        log.calls().len(),
        1,
        "the refused item never reached the handler"
    );
}

#[tokio::test(start_paused = true)]
async fn submit_and_redrive_after_shutdown_are_refused() {
    let (consumer, mut acks, log) = scripted(config(2, 10, 1, 100, 100));
    submit(&consumer, 1);
    drain(&consumer).await;
    assert_eq!(consumer.submit(7), Err(Closed(7)), "the payload comes back");
    assert_eq!(consumer.redrive(&[MessageId(0)]), Err(RedriveError::Closed));
    assert_eq!(consumer.redrive(&[MessageId(5)]), Err(RedriveError::Closed));
    assert_eq!(consumer.redrive_all(), Err(RedriveError::Closed));
    assert_eq!(
        dead_ids(&consumer.dead_letters()),
        [0],
        "the dead-letter store still answers after shutdown, unchanged by the refused redrives"
    );
    sleep(ms(10_000)).await;
    assert_eq!(
        log.calls(),
        [call(0, &[(0, 1)])],
        "nothing after shutdown reached the handler"
    );
    assert_eq!(acked(&mut acks), Vec::<u64>::new());
}

#[tokio::test(start_paused = true)]
async fn shutdown_called_twice_waits_for_the_same_drain() {
    let (consumer, mut acks, log) = scripted(config(10, 1_000, 3, 100, 100));
    submit(&consumer, 1);
    let (mut first, mut second) = (None, None);
    tokio::join!(
        async {
            drain(&consumer).await;
            first = Some(log.now());
        },
        async {
            log.until(30).await;
            drain(&consumer).await;
            second = Some(log.now());
        }
    );
    assert_eq!(
        (first, second),
        (Some(100), Some(100)),
        "both calls return when the retry at 100 ms is done"
    );
    drain(&consumer).await;
    assert_eq!(
        log.now(),
        100,
        "a third call after the drain returns at once"
    );
    assert_eq!(acked(&mut acks), [0]);
}

// ---------------------------------------------------------------------------
// 9. Configuration
// ---------------------------------------------------------------------------

#[rstest]
#[case::zero_max_items(config(0, 10, 3, 10, 10), ConfigError::ZeroMaxItems)]
#[case::zero_max_attempts(config(5, 10, 0, 10, 10), ConfigError::ZeroMaxAttempts)]
#[tokio::test(start_paused = true)]
async fn a_config_with_zero_max_items_or_max_attempts_is_refused(
    #[case] config: Config,
    #[case] expected: ConfigError,
) {
    let called = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&called);
    let result = Consumer::spawn(config, move |_batch: Vec<Delivery<u32>>| {
        flag.store(true, Ordering::SeqCst);
        async { Vec::new() }
    });
    match result {
        Err(error) => assert_eq!(error, expected, "{config:?}"),
        Ok(_) => panic!("{config:?} should be refused with {expected:?}"),
    }
    sleep(ms(1_000)).await;
    assert!(
        !called.load(Ordering::SeqCst),
        "a refused config calls nothing"
    );
}

// ---------------------------------------------------------------------------
// 10. Many producers
// ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn followup_concurrent_producers_lose_no_item() {
    let (consumer, mut acks, log) = scripted(config(7, 20, 3, 10, 50));
    let consumer = Arc::new(consumer);
    let mut tasks = Vec::new();
    for producer in 0..8u32 {
        let consumer = Arc::clone(&consumer);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..50u32 {
                let fails = (producer + i) % 3;
                ids.push(consumer.submit(fails).map_err(|_| "refused")?.0);
                if i % (producer + 2) == 0 {
                    tokio::task::yield_now().await;
                }
                if i % 11 == 0 {
                    sleep(ms(u64::from(producer) + 3)).await;
                }
            }
            Ok::<_, &str>(ids)
        }));
    }
    let mut given = Vec::new();
    for task in tasks {
        given.extend(task.await.expect("a producer task").expect("accepted"));
    }
    drain(&consumer).await;
    let given = sorted(given);
    assert_eq!(
        given,
        (0..400).collect::<Vec<u64>>(),
        "400 distinct ids, 0 to 399"
    );
    assert_eq!(
        sorted(acked(&mut acks)),
        given,
        "every item acknowledged exactly once"
    );
    assert!(
        log.calls()
            .iter()
            .all(|c| !c.items.is_empty() && c.items.len() <= 7),
        "every batch holds 1 to max_items items"
    );
    assert!(consumer.dead_letters().is_empty());
}

#[test]
fn followup_a_submission_racing_shutdown_is_refused_or_handled() {
    // A producer thread submits in a tight loop while the main thread shuts
    // the consumer down, 400 rounds: a submission that passes the closed
    // check just before shutdown and reaches the background task after it
    // is accepted and lost, unless the check and the send are one step. No
    // hook inside `submit` can force that instant (nothing of the spec's
    // runs there), so the rounds only make it likely: a lock-free `submit`
    // fails this in most runs, not all, and is therefore named in the
    // README instead of the bank. The rounds still earn their place: a
    // learner who writes that bug sees it fail, even if not every time.
    for round in 0..400 {
        let runtime = paused_runtime();
        let (consumer, mut acks) = runtime.block_on(async {
            Consumer::spawn(
                config(256, 1, 3, 1, 1),
                |_batch: Vec<Delivery<u64>>| async { Vec::new() },
            )
            .expect("a valid config")
        });
        let consumer = Arc::new(consumer);
        let start = Arc::new(std::sync::Barrier::new(2));
        let submitted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let producers: Vec<_> = (0..1u64)
            .map(|p| {
                let consumer = Arc::clone(&consumer);
                let start = Arc::clone(&start);
                let submitted = Arc::clone(&submitted);
                std::thread::spawn(move || {
                    start.wait();
                    let mut accepted = Vec::new();
                    for i in 0..100_000 {
                        match consumer.submit(p * 1_000_000 + i) {
                            Ok(id) => accepted.push(id.0),
                            Err(_) => break,
                        }
                        submitted.fetch_add(1, Ordering::SeqCst);
                        // A breath between submissions, so that a lock in
                        // `submit` (if any) is free for the shutdown now and
                        // then; most of the time is spent inside `submit`.
                        for _ in 0..50 {
                            std::hint::spin_loop();
                        }
                    }
                    accepted
                })
            })
            .collect();
        start.wait();
        // Shut down once the producers are going, under fire.
        while submitted.load(Ordering::SeqCst) < 16 {
            std::hint::spin_loop();
        }
        runtime.block_on(drain(&consumer));
        let mut accepted: Vec<u64> = producers
            .into_iter()
            .flat_map(|p| p.join().expect("a producer thread"))
            .collect();
        accepted.sort_unstable();
        let acked = sorted(acked(&mut acks));
        assert_eq!(
            acked.len(),
            accepted.len(),
            "round {round}: {} items were accepted, {} acknowledged when shutdown \
             returned; accepted and never handled: {:?}",
            accepted.len(),
            acked.len(),
            accepted
                .iter()
                .filter(|id| acked.binary_search(id).is_err())
                .take(5)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            acked, accepted,
            "round {round}: every accepted item, acknowledged once"
        );
    }
}

// ---------------------------------------------------------------------------
// 11. The model of attempts per item
// ---------------------------------------------------------------------------

/// One scenario: a config, items submitted at even milliseconds (gaps), each
/// failing its first `fails` attempts, and a shutdown `shutdown_gap` ms after
/// the last submission. Lingers are odd, so no submission ever falls on the
/// instant a linger ends.
#[derive(Debug, Clone)]
struct Scenario {
    max_items: usize,
    linger: u64,
    max_attempts: u32,
    initial: u64,
    max: u64,
    items: Vec<(u64, u32)>,
    shutdown_gap: u64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1usize..5,
        0u64..60,
        1u32..5,
        0u64..40,
        0u64..120,
        prop::collection::vec((0u64..40, 0u32..6), 0..24),
        0u64..150,
    )
        .prop_map(
            |(max_items, linger, max_attempts, initial, max, items, gap)| Scenario {
                max_items,
                linger: 2 * linger + 1,
                max_attempts,
                initial,
                max,
                items: items.into_iter().map(|(g, f)| (2 * g, f)).collect(),
                shutdown_gap: 2 * gap,
            },
        )
}

/// What the model expects: every call (time, items) and each item's fate.
#[derive(Debug, Default)]
struct Expected {
    calls: Vec<Call>,
    acked: Vec<u64>,
    /// (time given up on, id, errors)
    dead: Vec<(u64, u64, Vec<String>)>,
    end: u64,
}

fn model(s: &Scenario) -> Expected {
    let backoff = |k: u32| -> u64 {
        let doubled = 1u64
            .checked_shl(k - 1)
            .and_then(|f| s.initial.checked_mul(f))
            .unwrap_or(u64::MAX);
        doubled.min(s.max)
    };
    // Submission times, then the batches.
    let mut times = Vec::new();
    let mut t = 0;
    for &(gap, _) in &s.items {
        t += gap;
        times.push(t);
    }
    let shutdown = t + s.shutdown_gap;
    let mut batches: Vec<(u64, Vec<u64>)> = Vec::new();
    let mut open: Vec<u64> = Vec::new();
    let mut opened = 0;
    for (id, &at) in times.iter().enumerate() {
        if !open.is_empty() && opened + s.linger < at {
            batches.push((opened + s.linger, std::mem::take(&mut open)));
        }
        if open.is_empty() {
            opened = at;
        }
        open.push(id as u64);
        if open.len() == s.max_items {
            batches.push((at, std::mem::take(&mut open)));
        }
    }
    if !open.is_empty() {
        batches.push(((opened + s.linger).min(shutdown), open));
    }
    // Each batch, then its retries: (time, attempt, ids).
    let mut expected = Expected {
        end: shutdown,
        ..Expected::default()
    };
    let mut pending: Vec<(u64, u32, Vec<u64>)> =
        batches.into_iter().map(|(at, ids)| (at, 1, ids)).collect();
    while let Some((at, attempt, ids)) = pending.pop() {
        expected.end = expected.end.max(at);
        expected.calls.push(Call {
            at,
            items: ids.iter().map(|&id| (id, attempt)).collect(),
        });
        let mut failed = Vec::new();
        for id in ids {
            let fails = s.items[id as usize].1;
            if attempt > fails {
                expected.acked.push(id);
            } else if attempt == s.max_attempts {
                expected
                    .dead
                    .push((at, id, (1..=attempt).map(|k| format!("fail {k}")).collect()));
            } else {
                failed.push(id);
            }
        }
        if !failed.is_empty() {
            pending.push((at + backoff(attempt), attempt + 1, failed));
        }
    }
    expected.calls.sort();
    expected.acked.sort_unstable();
    expected.dead.sort();
    expected
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn followup_agrees_with_a_model_of_attempts_per_item(s in scenario()) {
        let expected = model(&s);
        let (calls, acked_ids, dead, end) = paused_runtime().block_on(async {
            let (consumer, mut acks, log) =
                scripted(config(s.max_items, s.linger, s.max_attempts, s.initial, s.max));
            let mut at = 0;
            for &(gap, fails) in &s.items {
                at += gap;
                log.until(at).await;
                submit(&consumer, fails);
            }
            log.until(at + s.shutdown_gap).await;
            drain(&consumer).await;
            (log.calls(), acked(&mut acks), consumer.dead_letters(), log.now())
        });
        prop_assert_eq!(&calls, &expected.calls, "every call (ms, [(id, attempt)]) for {:?}", s);
        prop_assert_eq!(sorted(acked_ids), expected.acked.clone(), "acknowledged ids, once each");
        let mut dead_seen: Vec<(u64, u64, Vec<String>)> = Vec::new();
        let died_at: HashMap<u64, u64> = expected.dead.iter().map(|(t, id, _)| (*id, *t)).collect();
        for letter in &dead {
            let t = died_at.get(&letter.id.0).copied().unwrap_or(u64::MAX);
            dead_seen.push((t, letter.id.0, letter.errors.clone()));
        }
        prop_assert!(
            dead_seen.windows(2).all(|w| w[0].0 <= w[1].0),
            "the store lists items in the order they were given up on: {:?}", dead_seen
        );
        dead_seen.sort();
        prop_assert_eq!(dead_seen, expected.dead, "dead letters (ms given up on, id, errors)");
        prop_assert_eq!(end, expected.end, "shutdown returns when the last call is done");
    }

    #[test]
    fn followup_no_item_is_lost_across_shutdown(
        max_items in 1usize..5,
        linger in 0u64..50,
        max_attempts in 1u32..4,
        steps in prop::collection::vec((0u64..30, 0u32..5, 0u8..8), 1..40),
        shutdown_at in 0usize..40,
    ) {
        let outcome = paused_runtime().block_on(async {
            // Each item fails its first `fails` calls, counted by the handler
            // itself, across redrives.
            let calls_of: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
            let script: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
            let (handler_calls, handler_script) = (Arc::clone(&calls_of), Arc::clone(&script));
            let (consumer, mut acks) = Consumer::spawn(
                config(max_items, linger, max_attempts, 5, 40),
                move |batch: Vec<Delivery<u64>>| {
                    let mut calls = handler_calls.lock().unwrap();
                    let script = handler_script.lock().unwrap();
                    let failures: Vec<Failure> = batch
                        .iter()
                        .filter(|d| {
                            let n = calls.entry(d.id.0).or_insert(0);
                            *n += 1;
                            *n <= script.get(&d.payload).copied().unwrap_or(0)
                        })
                        .map(|d| Failure::new(d.id, "fail"))
                        .collect();
                    async move { failures }
                },
            )
            .expect("a valid config");
            let mut accepted = Vec::new();
            let mut shutdown = None;
            let mut drained = false;
            let mut payload = 0u64;
            for (i, &(gap, fails, action)) in steps.iter().enumerate() {
                sleep(ms(gap)).await;
                if i == shutdown_at {
                    // Shutdown is called (polled once, for a millisecond),
                    // and the steps go on during the drain.
                    let mut drain = Box::pin(consumer.shutdown());
                    drained = timeout(ms(1), &mut drain).await.is_ok();
                    shutdown = Some(drain);
                }
                if action == 0 {
                    let _ = consumer.redrive_all();
                    continue;
                }
                script.lock().unwrap().insert(payload, fails);
                match consumer.submit(payload) {
                    Ok(id) => {
                        if shutdown.is_some() {
                            return Err(format!("item {payload} accepted after shutdown was called"));
                        }
                        accepted.push(id.0);
                    }
                    Err(Closed(back)) => {
                        if back != payload {
                            return Err(format!("refused {payload} but gave back {back}"));
                        }
                        if shutdown.is_none() {
                            return Err(format!("item {payload} refused before shutdown"));
                        }
                    }
                }
                payload += 1;
            }
            match shutdown {
                Some(rest) if !drained => timeout(Duration::from_secs(365 * 24 * 3600), rest)
                    .await
                    .map_err(|_| "shutdown never returned".to_string())?,
                Some(_) => {}
                None => drain(&consumer).await,
            }
            Ok((accepted, acked(&mut acks), dead_ids(&consumer.dead_letters())))
        });
        let (accepted, acked_ids, dead) = match outcome {
            Ok(outcome) => outcome,
            Err(message) => return Err(TestCaseError::fail(message)),
        };
        let acked_set: HashSet<u64> = acked_ids.iter().copied().collect();
        prop_assert_eq!(acked_set.len(), acked_ids.len(), "an item was acknowledged twice: {:?}", acked_ids);
        let dead_set: HashSet<u64> = dead.iter().copied().collect();
        prop_assert_eq!(dead_set.len(), dead.len(), "an item is twice in the store: {:?}", dead);
        prop_assert!(acked_set.is_disjoint(&dead_set), "acknowledged and dead: {:?} {:?}", acked_ids, dead);
        let mut fates: Vec<u64> = acked_ids.iter().chain(&dead).copied().collect();
        fates.sort_unstable();
        prop_assert_eq!(fates, sorted(accepted), "every accepted item ends acknowledged or dead, none lost");
    }
}
