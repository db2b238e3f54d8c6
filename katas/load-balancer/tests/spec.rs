//! The specification of the load-balancer kata.
//!
//! Every test name is a requirement; read the failing names first. Backends
//! are called `a`, `b`, `c`, ... in list order, so a run of picks reads as a
//! word: weights 5, 1, 1 under nginx's smooth weighted round-robin are
//! `aabacaa`. Health checks run on tokio's paused clock: the spec advances
//! time instead of sleeping, so "down after exactly three failed rounds" is
//! checked to the millisecond, instantly.
//!
//! `cargo test -p load-balancer` judges your code;
//! `cargo test -p load-balancer --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only; this kata has
// none (it runs on one tokio thread), but keeps the convention.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use load_balancer as subject;
#[cfg(feature = "solution")]
use load_balancer_solution as subject;

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
// The kata's `Strategy` (below) shadows proptest's trait of that name; its
// methods (`prop_map`) are still needed.
use proptest::strategy::Strategy as _;
use rstest::rstest;
use subject::{
    Backend, Health, HealthThresholds, Lease, LoadBalancer, NoBackend, Strategy, UnknownBackend,
};
use tokio::time::Instant;

// ───────────────────────────── helpers ─────────────────────────────

const NAMES: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

/// Backends `a`, `b`, ... with these weights.
fn backends(weights: &[u32]) -> Vec<Backend> {
    weights
        .iter()
        .zip(NAMES)
        .map(|(&weight, name)| Backend::new(name, weight))
        .collect()
}

/// A balancer over `a`, `b`, ... whose health reports take effect at once
/// (down after one failure, up after one success), so that the strategy
/// specs can switch backends off and on with one report.
fn balancer(weights: &[u32], strategy: Strategy) -> LoadBalancer {
    LoadBalancer::new(backends(weights), strategy).with_thresholds(HealthThresholds {
        down_after: 1,
        up_after: 1,
    })
}

/// Reports one failed check of `name` on a balancer built by [`balancer`].
fn take_down(lb: &LoadBalancer, name: &str) {
    assert_eq!(
        lb.report_health(name, false),
        Ok(Health::Down),
        "with down_after = 1, one failed check of {name} should take it down"
    );
}

/// Reports one good check of `name` on a balancer built by [`balancer`].
fn bring_up(lb: &LoadBalancer, name: &str) {
    assert_eq!(
        lb.report_health(name, true),
        Ok(Health::Up),
        "with up_after = 1, one good check of {name} should bring it back up"
    );
}

/// `count` picks, each lease dropped at once, as a word: "aabacaa".
fn picks(lb: &LoadBalancer, count: usize) -> String {
    (0..count)
        .map(|i| {
            let lease = lb
                .pick()
                .unwrap_or_else(|e| panic!("pick {} should find an up backend, got {e:?}", i + 1));
            lease.backend().to_owned()
        })
        .collect()
}

fn name_of(index: usize) -> &'static str {
    NAMES[index]
}

fn index_of(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("the balancer chose {name:?}, which is not one of its backends"))
}

/// A window of a word of picks, its letters sorted: "cad" is "acd".
fn sorted_word(window: &[u8]) -> String {
    let mut letters: Vec<char> = window.iter().map(|&b| char::from(b)).collect();
    letters.sort_unstable();
    letters.into_iter().collect()
}

/// How many times `name` occurs in a word of picks.
fn count(word: &str, name: char) -> usize {
    word.chars().filter(|&c| c == name).count()
}

/// nginx's smooth weighted round-robin, written plainly: the model the
/// weighted specs compare with. `up[i]` says whether backend `i` takes part.
fn nginx_sequence(weights: &[u32], up: &[bool], picks: usize) -> String {
    let mut current = vec![0i64; weights.len()];
    let mut word = String::new();
    for _ in 0..picks {
        let mut total = 0;
        let mut best: Option<usize> = None;
        for i in 0..weights.len() {
            if !up[i] {
                continue;
            }
            current[i] += i64::from(weights[i]);
            total += i64::from(weights[i]);
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let best = best.expect("the model is only asked when a backend is up");
        current[best] -= total;
        word.push_str(name_of(best));
    }
    word
}

/// Drives the health-check loop on the paused clock until `at`.
async fn run_until(checks: std::pin::Pin<&mut impl Future<Output = ()>>, at: Instant) {
    if tokio::time::timeout_at(at, checks).await.is_ok() {
        panic!("run_health_checks returned; it should keep checking until its future is dropped");
    }
}

// ─────────────── Round-robin: each up backend in turn ───────────────

#[rstest]
#[case::three_equal(&[1, 1, 1], "abcabcabc")]
#[case::weights_are_ignored(&[5, 1, 1], "abcabcabc")]
#[case::one_backend(&[1], "aaaa")]
fn round_robin_takes_each_backend_in_turn(#[case] weights: &[u32], #[case] expected: &str) {
    let lb = balancer(weights, Strategy::RoundRobin);
    assert_eq!(
        picks(&lb, expected.len()),
        expected,
        "round-robin over backends with weights {weights:?} should take each in list order"
    );
}

#[test]
fn round_robin_skips_a_down_backend_without_doubling_its_neighbour() {
    let lb = balancer(&[1, 1, 1, 1], Strategy::RoundRobin);
    let before = picks(&lb, 1);
    take_down(&lb, "b");
    let after = picks(&lb, 12);
    assert!(
        !after.contains('b'),
        "b is down, so round-robin should never choose it: picks after it went down were {after}"
    );
    for (i, window) in after.as_bytes().windows(3).enumerate() {
        assert_eq!(
            sorted_word(window),
            "acd",
            "with b down, round-robin over a, b, c, d should take a, c and d in turn, so every 3 \
             picks in a row contain each of them once; picks {}..{} after b went down do not: \
             {after} (a skipped backend's turn must not go twice to its neighbour; before: \
             {before})",
            i + 1,
            i + 3,
        );
    }
}

#[test]
fn round_robin_takes_a_restored_backend_back_in_turn() {
    let lb = balancer(&[1, 1, 1, 1], Strategy::RoundRobin);
    take_down(&lb, "c");
    let down = picks(&lb, 5);
    bring_up(&lb, "c");
    let after = picks(&lb, 12);
    for (i, window) in after.as_bytes().windows(4).enumerate() {
        assert_eq!(
            sorted_word(window),
            "abcd",
            "once c is back up, every 4 round-robin picks in a row should contain each of a, b, \
             c, d once; picks {}..{} after the restore are not (picks while c was down: {down}, \
             after: {after})",
            i + 1,
            i + 4,
        );
    }
}

#[test]
fn round_robin_keeps_its_place_in_the_list_when_health_changes() {
    let lb = balancer(&[1, 1, 1, 1], Strategy::RoundRobin);
    let first = picks(&lb, 3);
    take_down(&lb, "b");
    let while_down = picks(&lb, 4);
    bring_up(&lb, "b");
    let after = picks(&lb, 4);
    assert_eq!(
        (first.as_str(), while_down.as_str(), after.as_str()),
        ("abc", "dacd", "abcd"),
        "round-robin takes the up backends in list order and keeps its place when health \
         changes: after a, b, c comes d whoever went down meanwhile (b went down after abc), and \
         a backend that comes back takes its turn where it stands in the list (b came back after \
         dacd); got {first}, then {while_down} with b down, then {after} with b back"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random outages: within every stretch of picks with no health change,
    /// round-robin never takes a down backend and takes each up backend once
    /// in every `up` picks in a row.
    #[test]
    fn round_robin_shares_evenly_among_the_up_backends_whatever_goes_down(
        n in 1usize..=6,
        stretches in vec((vec(any::<bool>(), 6), 0usize..20), 1..8),
    ) {
        let lb = balancer(&vec![1; n], Strategy::RoundRobin);
        let mut up = vec![true; n];
        for (wanted, length) in stretches {
            for (i, &want) in wanted.iter().take(n).enumerate() {
                if want != up[i] {
                    if want { bring_up(&lb, name_of(i)) } else { take_down(&lb, name_of(i)) }
                    up[i] = want;
                }
            }
            let up_names: Vec<&str> = (0..n).filter(|&i| up[i]).map(name_of).collect();
            if up_names.is_empty() {
                prop_assert!(lb.pick().is_err(), "every backend is down, so pick should fail");
                continue;
            }
            let word = picks(&lb, length);
            for (i, window) in word.as_bytes().windows(up_names.len()).enumerate() {
                let got = sorted_word(window);
                let want: String = up_names.concat();
                prop_assert_eq!(
                    &got, &want,
                    "with up backends {:?}, every {} round-robin picks in a row should contain \
                     each of them once; picks {}..{} of {} do not",
                    up_names, up_names.len(), i + 1, i + up_names.len(), word
                );
            }
        }
    }
}

// ───────── Smooth weighted round-robin: nginx's sequence exactly ─────────

#[rstest]
#[case::five_one_one(&[5, 1, 1], "aabacaa")]
#[case::four_two_one(&[4, 2, 1], "abacaba")]
#[case::three_two(&[3, 2], "ababa")]
#[case::equal_weights(&[1, 1, 1], "abc")]
#[case::ties_go_to_the_first(&[1, 2, 1], "bacb")]
#[case::heavy_last(&[1, 5], "bbabbb")]
fn smooth_weighted_follows_the_nginx_sequence(#[case] weights: &[u32], #[case] cycle: &str) {
    let lb = balancer(weights, Strategy::SmoothWeighted);
    let expected = cycle.repeat(3);
    let naive: String = weights
        .iter()
        .zip(NAMES)
        .map(|(&w, n)| n.repeat(w as usize))
        .collect();
    let got = picks(&lb, expected.len());
    assert_eq!(
        got,
        expected,
        "smooth weighted round-robin over weights {weights:?} should repeat nginx's cycle \
         {cycle}: add each up backend's weight to its current weight, choose the largest (the \
         first on a tie), subtract the total from it{}",
        if got.starts_with(&naive) && naive != cycle {
            format!(". {naive} is the naive expansion: a burst to the heaviest backend")
        } else {
            String::new()
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every window of one full cycle (W picks in a row, W the sum of the
    /// weights) gives each backend exactly its weight: none is starved, none
    /// gets more than its share, wherever the window starts.
    #[test]
    fn smooth_weighted_gives_each_backend_exactly_its_weight_in_every_window_of_one_cycle(
        weights in vec(1u32..=8, 1..=6),
    ) {
        let lb = balancer(&weights, Strategy::SmoothWeighted);
        let cycle: u32 = weights.iter().sum();
        let word = picks(&lb, 3 * cycle as usize);
        for (start, window) in word.as_bytes().windows(cycle as usize).enumerate() {
            let window = std::str::from_utf8(window).expect("names are ASCII");
            for (i, &weight) in weights.iter().enumerate() {
                let name = name_of(i).chars().next().expect("one letter");
                prop_assert_eq!(
                    count(window, name), weight as usize,
                    "weights {:?}: picks {}..{} ({}) should choose {} exactly {} times, its weight \
                     (all picks: {})",
                    weights, start + 1, start + cycle as usize, window, name, weight, word
                );
            }
        }
    }

    /// The exact nginx order, for any weights, with any backends down from
    /// the start (a down backend takes no part).
    #[test]
    fn smooth_weighted_picks_exactly_as_nginx_does_for_any_weights(
        weights in vec(1u32..=10, 1..=6),
        down in vec(any::<bool>(), 6),
    ) {
        let lb = balancer(&weights, Strategy::SmoothWeighted);
        let mut up: Vec<bool> = down.iter().take(weights.len()).map(|d| !d).collect();
        if up.iter().all(|u| !u) {
            up[0] = true;
        }
        for (i, &is_up) in up.iter().enumerate() {
            if !is_up {
                take_down(&lb, name_of(i));
            }
        }
        let cycle: u32 = weights.iter().zip(&up).filter(|(_, u)| **u).map(|(w, _)| w).sum();
        let expected = nginx_sequence(&weights, &up, 2 * cycle as usize);
        let got = picks(&lb, expected.len());
        prop_assert_eq!(
            &got, &expected,
            "weights {:?} with up {:?}: nginx's smooth weighted round-robin picks {}",
            weights, up, expected
        );
    }
}

#[rstest]
#[case::two_of_the_largest(&[u32::MAX, u32::MAX, 1])]
#[case::largest_and_smallest(&[u32::MAX, 1, u32::MAX - 1, 7])]
fn smooth_weighted_counts_the_largest_weights_exactly(#[case] weights: &[u32]) {
    let lb = balancer(weights, Strategy::SmoothWeighted);
    let expected = nginx_sequence(weights, &vec![true; weights.len()], 12);
    let got = picks(&lb, expected.len());
    assert_eq!(
        got, expected,
        "weights {weights:?}: any weight a u32 holds is valid, and their total (past u32::MAX) \
         must be counted exactly, in i64 as the current weights are; nginx's order starts \
         {expected}"
    );
}

#[test]
fn smooth_weighted_shares_a_down_backends_turns_among_the_others_by_weight() {
    let lb = balancer(&[5, 1, 1], Strategy::SmoothWeighted);
    take_down(&lb, "c");
    let got = picks(&lb, 12);
    assert_eq!(
        got, "aaabaaaaabaa",
        "weights 5, 1, 1 with c down are weights 5, 1 over a and b: nginx's cycle aaabaa. A down \
         backend takes no part: its weight is neither added nor counted in the total"
    );
}

#[test]
fn followup_smooth_weighted_gives_a_restored_backend_no_burst() {
    let lb = balancer(&[2, 1, 1], Strategy::SmoothWeighted);
    let before = picks(&lb, 3);
    take_down(&lb, "b");
    let during = picks(&lb, 300);
    assert!(
        !during.contains('b'),
        "b is down, so it should never be chosen; picks while down: {during}"
    );
    bring_up(&lb, "b");
    let after = picks(&lb, 40);
    for (name, weight) in [('a', 2), ('b', 1), ('c', 1)] {
        let got = count(&after, name);
        let share = 10 * weight;
        assert!(
            got.abs_diff(share) <= 2,
            "weights 2, 1, 1: in the 40 picks (10 cycles) after b came back from 300 picks down, \
             {name} should be chosen about {share} times (give or take 2), not {got}. A backend \
             must not bank weight while it is down and spend it in a burst when it returns \
             (picks before: {before}, after: {after})"
        );
    }
}

// ─────────── Least-connections and leases: counted until dropped ───────────

#[rstest]
fn a_lease_gives_its_connection_back_when_dropped(
    #[values(
        Strategy::RoundRobin,
        Strategy::SmoothWeighted,
        Strategy::LeastConnections,
        Strategy::PowerOfTwoChoices { seed: 7 }
    )]
    strategy: Strategy,
) {
    let lb = balancer(&[1, 1, 1], strategy);
    let leases: Vec<Lease<'_>> = (0..6)
        .map(|_| lb.pick().expect("three backends are up"))
        .collect();
    let mut held: HashMap<String, usize> = HashMap::new();
    for lease in &leases {
        *held.entry(lease.backend().to_owned()).or_default() += 1;
    }
    for name in ["a", "b", "c"] {
        let want = held.get(name).copied().unwrap_or(0);
        assert_eq!(
            lb.active_connections(name),
            Some(want),
            "{strategy:?}: six leases are held, {want} of them on {name}, so {name} should have \
             {want} active connections"
        );
    }
    drop(leases);
    for name in ["a", "b", "c"] {
        assert_eq!(
            lb.active_connections(name),
            Some(0),
            "{strategy:?}: every lease was dropped, so {name} should have no active connections"
        );
    }
}

#[test]
fn least_connections_picks_the_backend_with_the_fewest_active_leases() {
    let lb = balancer(&[1, 1, 1], Strategy::LeastConnections);
    let mut held: Vec<Lease<'_>> = (0..3).map(|_| lb.pick().expect("up")).collect();
    let mut chosen: Vec<&str> = held.iter().map(Lease::backend).collect();
    chosen.sort_unstable();
    assert_eq!(
        chosen,
        ["a", "b", "c"],
        "three picks holding their leases should go to three different backends: each time, the \
         others have one more connection"
    );
    for name in ["b", "a", "c", "b"] {
        let position = held
            .iter()
            .position(|l| l.backend() == name)
            .expect("a lease on every backend is held");
        held.remove(position);
        let lease = lb.pick().expect("three backends are up");
        assert_eq!(
            lease.backend(),
            name,
            "every backend held one lease; {name}'s was just dropped, so {name} has the fewest \
             connections (0 against 1) and least-connections should choose it"
        );
        held.push(lease);
    }
}

#[test]
fn least_connections_never_picks_a_down_backend_even_when_it_is_idle() {
    let lb = balancer(&[1, 1, 1], Strategy::LeastConnections);
    take_down(&lb, "a");
    let held: Vec<Lease<'_>> = (0..10)
        .map(|_| lb.pick().expect("b and c are up"))
        .collect();
    for lease in &held {
        assert_ne!(
            lease.backend(),
            "a",
            "a is down: least-connections should not choose it, however idle it is"
        );
    }
}

/// What the spec itself knows of the leases its tasks hold.
#[derive(Default)]
struct Ledger {
    held: HashMap<String, usize>,
    violations: Vec<String>,
}

#[tokio::test(start_paused = true)]
async fn followup_least_connections_under_concurrent_tasks_always_picks_a_least_loaded_backend() {
    let lb = Arc::new(balancer(&[1, 1, 1, 1], Strategy::LeastConnections));
    take_down(&lb, "d");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut tasks = Vec::new();
    for task in 0..40u64 {
        let (lb, ledger) = (Arc::clone(&lb), Arc::clone(&ledger));
        tasks.push(tokio::spawn(async move {
            // Requests arrive every 10ms and are held 15ms to 95ms: the
            // backends' loads keep changing while others pick.
            tokio::time::sleep(Duration::from_millis(10 * task)).await;
            let lease = lb.pick().expect("a, b and c are up");
            let name = lease.backend().to_owned();
            {
                let mut ledger = ledger.lock().expect("no task panics holding the ledger");
                let load = |n: &str| ledger.held.get(n).copied().unwrap_or(0);
                let loads: Vec<(&str, usize)> =
                    ["a", "b", "c"].iter().map(|&n| (n, load(n))).collect();
                let least = loads.iter().map(|&(_, l)| l).min().unwrap_or(0);
                if name == "d" || load(&name) != least {
                    let message = format!(
                        "request {task} at {}ms went to {name} while the up backends held \
                         {loads:?} leases: least-connections should choose one holding {least}",
                        10 * task
                    );
                    ledger.violations.push(message);
                }
                *ledger.held.entry(name.clone()).or_default() += 1;
            }
            tokio::time::sleep(Duration::from_millis(15 + (task * 37) % 81)).await;
            let mut ledger = ledger.lock().expect("no task panics holding the ledger");
            *ledger.held.entry(name).or_default() -= 1;
            drop(lease);
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("every request finishes within a minute of paused time")
            .expect("no request task panics");
    }
    let ledger = ledger.lock().expect("no task panicked");
    assert!(
        ledger.violations.is_empty(),
        "{} of 40 concurrent requests did not go to a least-loaded backend; the first: {}",
        ledger.violations.len(),
        ledger.violations[0]
    );
    for name in ["a", "b", "c"] {
        assert_eq!(
            lb.active_connections(name),
            Some(0),
            "every request has finished and dropped its lease, so {name} should have no active \
             connections"
        );
    }
}

// ───────── Power of two choices: two distinct draws, the less loaded ─────────

#[test]
fn power_of_two_takes_the_idle_one_of_two_backends() {
    for seed in 0..8 {
        let lb = balancer(&[1, 1], Strategy::PowerOfTwoChoices { seed });
        let busy = lb.pick().expect("a and b are up");
        let idle = if busy.backend() == "a" { "b" } else { "a" };
        let word = picks(&lb, 50);
        assert_eq!(
            count(&word, idle.chars().next().expect("one letter")),
            50,
            "seed {seed}: {} holds a lease and {idle} none; with two backends up, the two \
             distinct choices are always both, so every pick should take the idle {idle}: got \
             {word}",
            busy.backend()
        );
    }
}

#[test]
fn power_of_two_never_picks_the_busiest_of_three() {
    for seed in 0..8 {
        let lb = balancer(&[1, 1, 1], Strategy::PowerOfTwoChoices { seed });
        let busy = lb.pick().expect("three backends are up");
        let busy_name = busy.backend().to_owned();
        let word = picks(&lb, 200);
        assert_eq!(
            count(&word, busy_name.chars().next().expect("one letter")),
            0,
            "seed {seed}: {busy_name} holds a lease and the other two none; two distinct draws \
             always include an idle backend, so {busy_name} should never be chosen: got {word}"
        );
    }
}

#[rstest]
#[case::seed_zero(0)]
#[case::seed_2024(2024)]
#[case::seed_u64_max(u64::MAX)]
fn power_of_two_spreads_idle_traffic_evenly(#[case] seed: u64) {
    let lb = balancer(&[1, 1, 1, 1], Strategy::PowerOfTwoChoices { seed });
    let word = picks(&lb, 4000);
    for name in ['a', 'b', 'c', 'd'] {
        let got = count(&word, name);
        assert!(
            (800..=1200).contains(&got),
            "seed {seed}: with no lease held, 4000 picks over four backends should give each \
             about 1000 (800 to 1200), but {name} got {got}: draw both choices at random and \
             break a tie between them at random too (for example, keep the first drawn); every \
             seed is a seed, 0 and u64::MAX too"
        );
    }
}

#[test]
fn power_of_two_is_reproducible_from_its_seed() {
    let run = |seed: u64| {
        let lb = balancer(
            &[1, 1, 1, 1, 1, 1, 1, 1],
            Strategy::PowerOfTwoChoices { seed },
        );
        let mut held = Vec::new();
        let mut word = String::new();
        for i in 0..64 {
            let lease = lb.pick().expect("eight backends are up");
            word.push_str(lease.backend());
            // Hold every third lease, so that loads differ.
            if i % 3 == 0 {
                held.push(lease);
            }
        }
        word
    };
    assert_eq!(
        run(42),
        run(42),
        "two balancers with seed 42 and the same calls should make the same picks"
    );
    assert_ne!(
        run(1),
        run(2),
        "seeds 1 and 2 should give different picks over 64 requests: seed the RNG with `seed`"
    );
}

#[test]
fn followup_power_of_two_with_one_backend_up_picks_it_without_spinning() {
    let (tx, rx) = mpsc::channel();
    // In a thread, so that an implementation that keeps drawing until it
    // finds a second up backend fails here instead of hanging the spec.
    std::thread::spawn(move || {
        let lb = balancer(&[1, 1, 1], Strategy::PowerOfTwoChoices { seed: 3 });
        take_down(&lb, "a");
        take_down(&lb, "c");
        let word = picks(&lb, 5);
        // The receiver may have given up already; nothing to do then.
        let _ = tx.send(word);
    });
    let word = rx.recv_timeout(Duration::from_secs(2)).expect(
        "with only b up, pick should return at once (within 2s) instead of drawing for ever",
    );
    assert_eq!(word, "bbbbb", "only b is up, so every pick should take it");
}

// ─────────── Every strategy: never a down backend, and NoBackend ───────────

#[rstest]
fn a_down_backend_is_never_picked(
    #[values(
        Strategy::RoundRobin,
        Strategy::SmoothWeighted,
        Strategy::LeastConnections,
        Strategy::PowerOfTwoChoices { seed: 7 }
    )]
    strategy: Strategy,
) {
    let lb = balancer(&[3, 2, 1], strategy);
    take_down(&lb, "b");
    let mut held = Vec::new();
    let mut word = String::new();
    for i in 0..60 {
        let lease = lb.pick().expect("a and c are up");
        word.push_str(lease.backend());
        if i % 2 == 0 {
            held.push(lease);
        }
    }
    assert_eq!(
        count(&word, 'b'),
        0,
        "{strategy:?}: b is down and should never be chosen, but was: {word}"
    );
    assert!(
        count(&word, 'a') > 0 && count(&word, 'c') > 0,
        "{strategy:?}: a and c are up, and 60 picks (every other lease held) should use both: \
         {word}"
    );
}

#[rstest]
fn a_restored_backend_is_picked_again(
    #[values(
        Strategy::RoundRobin,
        Strategy::SmoothWeighted,
        Strategy::LeastConnections,
        Strategy::PowerOfTwoChoices { seed: 7 }
    )]
    strategy: Strategy,
) {
    let lb = balancer(&[1, 1, 1], strategy);
    take_down(&lb, "b");
    let during = picks(&lb, 10);
    bring_up(&lb, "b");
    // Leases held, so that least-connections and power of two see b as the
    // least loaded backend.
    let held: Vec<Lease<'_>> = (0..20).map(|_| lb.pick().expect("all are up")).collect();
    let word: String = held.iter().map(Lease::backend).collect();
    assert!(
        word.contains('b'),
        "{strategy:?}: b is back up, so 20 picks (leases held) should choose it again; got \
         {word} (while it was down: {during})"
    );
}

#[rstest]
fn pick_fails_with_no_backend_when_every_backend_is_down(
    #[values(
        Strategy::RoundRobin,
        Strategy::SmoothWeighted,
        Strategy::LeastConnections,
        Strategy::PowerOfTwoChoices { seed: 7 }
    )]
    strategy: Strategy,
) {
    let lb = balancer(&[2, 1], strategy);
    take_down(&lb, "a");
    take_down(&lb, "b");
    for _ in 0..3 {
        assert_eq!(
            lb.pick().map(|l| l.backend().to_owned()),
            Err(NoBackend),
            "{strategy:?}: a and b are both down, so pick should fail with NoBackend"
        );
    }
    bring_up(&lb, "b");
    assert_eq!(
        lb.pick().map(|l| l.backend().to_owned()),
        Ok("b".to_owned()),
        "{strategy:?}: b is back up and a is down, so pick should choose b"
    );
}

#[rstest]
fn pick_fails_with_no_backend_when_there_are_none(
    #[values(
        Strategy::RoundRobin,
        Strategy::SmoothWeighted,
        Strategy::LeastConnections,
        Strategy::PowerOfTwoChoices { seed: 7 }
    )]
    strategy: Strategy,
) {
    let lb = LoadBalancer::new(Vec::new(), strategy);
    assert_eq!(
        lb.pick().map(|l| l.backend().to_owned()),
        Err(NoBackend),
        "{strategy:?}: a balancer with no backends should fail with NoBackend, not panic"
    );
}

// ─────────── Health: down after N failures in a row, up after M ───────────

/// A balancer over a, b, c with these thresholds.
fn with_thresholds(down_after: u32, up_after: u32) -> LoadBalancer {
    LoadBalancer::new(backends(&[1, 1, 1]), Strategy::RoundRobin).with_thresholds(
        HealthThresholds {
            down_after,
            up_after,
        },
    )
}

#[rstest]
#[case::one(1)]
#[case::two(2)]
#[case::three(3)]
#[case::five(5)]
fn a_backend_goes_down_on_exactly_the_nth_failure_in_a_row(#[case] n: u32) {
    let lb = with_thresholds(n, 2);
    for failure in 1..n {
        assert_eq!(
            lb.report_health("b", false),
            Ok(Health::Up),
            "down_after = {n}: after {failure} failed check(s) in a row b should still be up"
        );
    }
    assert_eq!(
        lb.report_health("b", false),
        Ok(Health::Down),
        "down_after = {n}: failed check number {n} in a row should take b down"
    );
    assert_eq!(lb.health("b"), Some(Health::Down), "b should stay down");
    let word = picks(&lb, 6);
    assert!(
        !word.contains('b'),
        "b is down and should not be chosen: {word}"
    );
}

#[rstest]
#[case::one(1)]
#[case::two(2)]
#[case::four(4)]
fn a_down_backend_comes_back_on_exactly_the_mth_success_in_a_row(#[case] m: u32) {
    let lb = with_thresholds(1, m);
    take_down(&lb, "b");
    for success in 1..m {
        assert_eq!(
            lb.report_health("b", true),
            Ok(Health::Down),
            "up_after = {m}: after {success} good check(s) in a row b should still be down"
        );
        let word = picks(&lb, 3);
        assert!(!word.contains('b'), "b is still down: {word}");
    }
    assert_eq!(
        lb.report_health("b", true),
        Ok(Health::Up),
        "up_after = {m}: good check number {m} in a row should bring b back up"
    );
    let word = picks(&lb, 3);
    assert!(
        word.contains('b'),
        "b is back up and round-robin should reach it: {word}"
    );
}

#[test]
fn a_good_check_resets_the_failure_streak() {
    let lb = with_thresholds(3, 1);
    for (i, ok) in [false, false, true, false, false].into_iter().enumerate() {
        assert_eq!(
            lb.report_health("b", ok),
            Ok(Health::Up),
            "down_after = 3 counts failures IN A ROW: after fail, fail, ok, fail, fail (check {}) \
             b has only two in a row and should still be up",
            i + 1
        );
    }
    assert_eq!(
        lb.report_health("b", false),
        Ok(Health::Down),
        "fail, fail, ok, fail, fail, fail: three in a row should take b down"
    );
}

#[test]
fn a_failed_check_resets_the_success_streak() {
    let lb = with_thresholds(1, 3);
    take_down(&lb, "b");
    for (i, ok) in [true, true, false, true, true].into_iter().enumerate() {
        assert_eq!(
            lb.report_health("b", ok),
            Ok(Health::Down),
            "up_after = 3 counts successes IN A ROW: after ok, ok, fail, ok, ok (check {}) b has \
             only two in a row and should still be down",
            i + 1
        );
    }
    assert_eq!(
        lb.report_health("b", true),
        Ok(Health::Up),
        "ok, ok, fail, ok, ok, ok: three in a row should bring b back up"
    );
}

#[test]
fn the_default_thresholds_are_three_failures_and_two_successes() {
    assert_eq!(
        HealthThresholds::default(),
        HealthThresholds {
            down_after: 3,
            up_after: 2
        },
        "the default thresholds are HAProxy's fall 3, rise 2"
    );
    let lb = LoadBalancer::new(backends(&[1, 1]), Strategy::RoundRobin);
    let reports: Vec<Health> = [false, false, false, true, true]
        .into_iter()
        .map(|ok| lb.report_health("a", ok).expect("a exists"))
        .collect();
    assert_eq!(
        reports,
        [
            Health::Up,
            Health::Up,
            Health::Down,
            Health::Down,
            Health::Up
        ],
        "LoadBalancer::new uses the default thresholds: down on the 3rd failure in a row, up \
         on the 2nd success in a row"
    );
}

#[test]
fn reporting_on_an_unknown_backend_is_an_error_not_a_panic() {
    let lb = with_thresholds(1, 1);
    assert_eq!(
        lb.report_health("zed", false),
        Err(UnknownBackend("zed".to_owned())),
        "there is no backend zed: report_health should say so"
    );
    assert_eq!(
        lb.health("zed"),
        None,
        "health of an unknown backend is None"
    );
    assert_eq!(
        lb.active_connections("zed"),
        None,
        "active_connections of an unknown backend is None"
    );
    assert_eq!(
        lb.health("a"),
        Some(Health::Up),
        "a report on zed changes no one else"
    );
}

#[test]
fn backend_names_are_compared_exactly_as_given() {
    let lb = std::panic::catch_unwind(|| {
        LoadBalancer::new(
            vec![Backend::new("cache-A", 1), Backend::new("cache-a", 1)],
            Strategy::RoundRobin,
        )
    })
    .unwrap_or_else(|_| {
        panic!(
            "cache-A and cache-a are two names: a balancer over both should be created, not \
             refused as two backends sharing a name"
        )
    });
    assert_eq!(
        lb.report_health("CACHE-A", false),
        Err(UnknownBackend("CACHE-A".to_owned())),
        "there is no backend CACHE-A (only cache-A and cache-a): names are compared exactly, so \
         report_health should say it is unknown"
    );
    assert_eq!(
        (lb.health("Cache-a"), lb.active_connections("CACHE-a")),
        (None, None),
        "there is no backend Cache-a or CACHE-a: health and active_connections should be None"
    );
    for _ in 0..3 {
        lb.report_health("cache-A", false)
            .expect("cache-A is one of the backends");
    }
    assert_eq!(
        (lb.health("cache-A"), lb.health("cache-a")),
        (Some(Health::Down), Some(Health::Up)),
        "three failed checks of cache-A take cache-A down and leave cache-a alone"
    );
    let lease = lb.pick().expect("cache-a is up");
    assert_eq!(
        (
            lease.backend(),
            lb.active_connections("cache-a"),
            lb.active_connections("cache-A")
        ),
        ("cache-a", Some(1), Some(0)),
        "with cache-A down, pick should choose cache-a, and count the lease on it alone"
    );
}

#[rstest]
#[case::down_after_zero(0, 1)]
#[case::up_after_zero(1, 0)]
#[case::both_zero(0, 0)]
fn zero_health_thresholds_are_refused(#[case] down_after: u32, #[case] up_after: u32) {
    let ones = with_thresholds(1, 1);
    assert_eq!(
        ones.report_health("a", false),
        Ok(Health::Down),
        "thresholds of 1 are valid: one failed check takes a down"
    );
    let zero = HealthThresholds {
        down_after,
        up_after,
    };
    let lb = LoadBalancer::new(backends(&[1, 1, 1]), Strategy::RoundRobin);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        lb.with_thresholds(zero)
    }));
    assert!(
        outcome.is_err(),
        "with_thresholds({zero:?}) should panic: thresholds start at 1, and a streak of results \
         in a row can never reach 0, so a zero would silently switch health checking off"
    );
}

// ─────────── The model: picks, leases and reports together ───────────

#[derive(Debug, Clone)]
enum Op {
    Pick,
    /// Drop one of the held leases (index modulo their number).
    Drop(usize),
    /// Report a check of one backend (index modulo their number).
    Report(usize, bool),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Pick),
        2 => any::<usize>().prop_map(Op::Drop),
        3 => (0usize..5, any::<bool>()).prop_map(|(b, ok)| Op::Report(b, ok)),
    ]
}

fn strategy() -> impl proptest::strategy::Strategy<Value = Strategy> {
    prop_oneof![
        Just(Strategy::RoundRobin),
        Just(Strategy::SmoothWeighted),
        Just(Strategy::LeastConnections),
        any::<u64>().prop_map(|seed| Strategy::PowerOfTwoChoices { seed }),
    ]
}

/// What the balancer should know, kept the obvious way.
struct Model {
    strategy: Strategy,
    weights: Vec<u32>,
    thresholds: HealthThresholds,
    up: Vec<bool>,
    /// Consecutive results that disagree with `up`.
    streak: Vec<u32>,
    /// Leases held per backend.
    load: Vec<usize>,
    /// Picks since the last change of health.
    stretch: Vec<usize>,
    /// Whether health has ever changed (smooth weighted is checked against
    /// nginx's exact order only until then).
    changed: bool,
    /// The operations so far, for the failure messages.
    history: Vec<Op>,
}

impl Model {
    fn ups(&self) -> Vec<usize> {
        (0..self.up.len()).filter(|&i| self.up[i]).collect()
    }

    /// Checks that `chosen` is a pick the strategy may make now.
    fn check_pick(&self, chosen: usize) -> Result<(), TestCaseError> {
        let (load, history) = (&self.load, &self.history);
        let ups = self.ups();
        prop_assert!(
            self.up[chosen],
            "{:?}: pick chose {}, which is down (up {:?}, ops: {:?})",
            self.strategy,
            name_of(chosen),
            self.up,
            history
        );
        match self.strategy {
            Strategy::LeastConnections => {
                let least = ups.iter().map(|&j| load[j]).min().unwrap_or(0);
                prop_assert_eq!(
                    load[chosen],
                    least,
                    "least-connections chose {} holding {} leases while an up backend held {} \
                     (leases {:?}, up {:?}, ops: {:?})",
                    name_of(chosen),
                    load[chosen],
                    least,
                    load,
                    self.up,
                    history
                );
            }
            Strategy::PowerOfTwoChoices { .. } => {
                let mut others = ups.iter().filter(|&&j| j != chosen);
                prop_assert!(
                    ups.len() < 2 || others.any(|&j| load[j] >= load[chosen]),
                    "power of two chose {} holding {} leases, more than every other up backend: \
                     two distinct draws can never both be the busiest (leases {:?}, up {:?}, \
                     ops: {:?})",
                    name_of(chosen),
                    load[chosen],
                    load,
                    self.up,
                    history
                );
            }
            Strategy::RoundRobin => {
                let mut recent = self.stretch.iter().rev().take(ups.len() - 1);
                prop_assert!(
                    !recent.any(|&j| j == chosen),
                    "round-robin chose {} again within {} picks while {} backends were up \
                     (picks since the last health change: {:?}, ops: {:?})",
                    name_of(chosen),
                    ups.len(),
                    ups.len(),
                    self.stretch,
                    history
                );
            }
            Strategy::SmoothWeighted if !self.changed => {
                let expected = nginx_sequence(&self.weights, &self.up, self.stretch.len() + 1);
                let want = &expected[expected.len() - 1..];
                prop_assert_eq!(
                    name_of(chosen),
                    want,
                    "smooth weighted over weights {:?}: nginx's first {} picks are {}, so pick \
                     number {} should be {} (ops: {:?})",
                    self.weights,
                    expected.len(),
                    expected,
                    expected.len(),
                    want,
                    history
                );
            }
            Strategy::SmoothWeighted => {}
        }
        Ok(())
    }

    /// Records a check of backend `b`; returns its state afterwards.
    fn report(&mut self, b: usize, ok: bool) -> Health {
        if ok == self.up[b] {
            self.streak[b] = 0;
        } else {
            self.streak[b] += 1;
            let threshold = if self.up[b] {
                self.thresholds.down_after
            } else {
                self.thresholds.up_after
            };
            if self.streak[b] >= threshold {
                self.up[b] = !self.up[b];
                self.streak[b] = 0;
                self.stretch.clear();
                self.changed = true;
            }
        }
        health(self.up[b])
    }
}

fn health(up: bool) -> Health {
    if up { Health::Up } else { Health::Down }
}

/// Runs `ops` against a balancer and the model side by side.
fn agrees_with_the_model(
    strategy: Strategy,
    weights: Vec<u32>,
    thresholds: HealthThresholds,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let n = weights.len();
    let lb = LoadBalancer::new(backends(&weights), strategy).with_thresholds(thresholds);
    let mut model = Model {
        strategy,
        weights,
        thresholds,
        up: vec![true; n],
        streak: vec![0; n],
        load: vec![0; n],
        stretch: Vec::new(),
        changed: false,
        history: Vec::new(),
    };
    let mut held: Vec<(usize, Lease<'_>)> = Vec::new();
    for op in ops {
        model.history.push(op.clone());
        match op {
            Op::Pick => match lb.pick() {
                Err(NoBackend) => prop_assert!(
                    model.ups().is_empty(),
                    "{:?}: pick failed with NoBackend while {:?} were up (ops: {:?})",
                    strategy,
                    model.ups().into_iter().map(name_of).collect::<Vec<_>>(),
                    model.history
                ),
                Ok(lease) => {
                    let chosen = index_of(lease.backend());
                    model.check_pick(chosen)?;
                    model.stretch.push(chosen);
                    model.load[chosen] += 1;
                    held.push((chosen, lease));
                }
            },
            Op::Drop(k) => {
                if !held.is_empty() {
                    let (i, lease) = held.remove(k % held.len());
                    drop(lease);
                    model.load[i] -= 1;
                }
            }
            Op::Report(b, ok) => {
                let b = b % n;
                let want = model.report(b, ok);
                prop_assert_eq!(
                    lb.report_health(name_of(b), ok),
                    Ok(want),
                    "{:?}: after this report {} should be {:?} (ops: {:?})",
                    thresholds,
                    name_of(b),
                    want,
                    model.history
                );
            }
        }
        for i in 0..n {
            prop_assert_eq!(
                lb.active_connections(name_of(i)),
                Some(model.load[i]),
                "{} leases on {} are held (ops: {:?})",
                model.load[i],
                name_of(i),
                model.history
            );
            prop_assert_eq!(
                lb.health(name_of(i)),
                Some(health(model.up[i])),
                "{} should be {:?} (ops: {:?})",
                name_of(i),
                health(model.up[i]),
                model.history
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random picks, lease drops and health reports against a model that
    /// counts leases and consecutive results per backend. Every pick is an
    /// up backend (NoBackend exactly when none is); least-connections takes
    /// a least-loaded one; power of two never the single busiest; round-robin
    /// never repeats within `up` picks; smooth weighted follows nginx until
    /// the first change of health; counts and states always match.
    #[test]
    fn picks_leases_and_health_reports_agree_with_a_model(
        strategy in strategy(),
        weights in vec(1u32..=5, 1..=5),
        down_after in 1u32..=3,
        up_after in 1u32..=3,
        ops in vec(op(), 1..80),
    ) {
        agrees_with_the_model(strategy, weights, HealthThresholds { down_after, up_after }, ops)?;
    }
}

// ─────────── The health-check loop, on tokio's paused clock ───────────

const INTERVAL: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(2);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[tokio::test(start_paused = true)]
async fn health_checks_probe_every_backend_at_once_and_then_every_interval() {
    let lb = LoadBalancer::new(backends(&[1, 1, 1]), Strategy::RoundRobin);
    let t0 = Instant::now();
    let probes: RefCell<Vec<(String, Duration)>> = RefCell::new(Vec::new());
    let mut checks = pin!(lb.run_health_checks(INTERVAL, TIMEOUT, async |name: &str| {
        probes.borrow_mut().push((name.to_owned(), t0.elapsed()));
        true
    }));
    run_until(checks.as_mut(), t0 + secs(35.0)).await;
    for name in ["a", "b", "c"] {
        let times: Vec<Duration> = probes
            .borrow()
            .iter()
            .filter(|(n, _)| n == name)
            .map(|&(_, t)| t)
            .collect();
        assert_eq!(
            times,
            [secs(0.0), secs(10.0), secs(20.0), secs(30.0)],
            "with an interval of 10s, {name} should be probed at once and then every 10s: at \
             0s, 10s, 20s and 30s in the first 35s"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn health_checks_take_a_failing_backend_down_after_exactly_down_after_rounds() {
    let lb = LoadBalancer::new(backends(&[1, 1, 1]), Strategy::RoundRobin).with_thresholds(
        HealthThresholds {
            down_after: 3,
            up_after: 2,
        },
    );
    let t0 = Instant::now();
    let mut checks = pin!(lb.run_health_checks(INTERVAL, TIMEOUT, async |name: &str| name != "b"));
    // b fails the rounds at 0s, 10s and 20s: down on the third.
    for (at, want) in [
        (0.001, Health::Up),
        (10.001, Health::Up),
        (19.999, Health::Up),
        (20.001, Health::Down),
        (45.0, Health::Down),
    ] {
        run_until(checks.as_mut(), t0 + secs(at)).await;
        assert_eq!(
            lb.health("b"),
            Some(want),
            "b fails every probe, one round every 10s from 0s, down_after = 3: at {at}s b should \
             be {want:?} (down on the third failed round, at 20s, not before)"
        );
        assert_eq!(
            lb.health("a"),
            Some(Health::Up),
            "a passes every probe: up at {at}s"
        );
    }
    let word = picks(&lb, 4);
    assert_eq!(
        word, "acac",
        "b is down: round-robin should alternate a and c"
    );
}

#[tokio::test(start_paused = true)]
async fn health_checks_bring_a_recovered_backend_back_after_exactly_up_after_rounds() {
    let lb = LoadBalancer::new(backends(&[1, 1, 1]), Strategy::RoundRobin).with_thresholds(
        HealthThresholds {
            down_after: 2,
            up_after: 3,
        },
    );
    let t0 = Instant::now();
    // b fails until 15s (the rounds at 0s and 10s), then passes.
    let mut checks = pin!(lb.run_health_checks(INTERVAL, TIMEOUT, async |name: &str| {
        name != "b" || t0.elapsed() > secs(15.0)
    }));
    for (at, want) in [
        (9.999, Health::Up),
        (10.001, Health::Down),
        (39.999, Health::Down),
        (40.001, Health::Up),
        (65.0, Health::Up),
    ] {
        run_until(checks.as_mut(), t0 + secs(at)).await;
        assert_eq!(
            lb.health("b"),
            Some(want),
            "b fails the rounds at 0s and 10s (down_after = 2: down at 10s) and passes from 20s \
             on (up_after = 3: up on the third good round, at 40s): at {at}s b should be {want:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn followup_a_probe_that_hangs_counts_as_failed_and_does_not_stall_the_others() {
    let lb = LoadBalancer::new(backends(&[1, 1, 1]), Strategy::RoundRobin).with_thresholds(
        HealthThresholds {
            down_after: 3,
            up_after: 2,
        },
    );
    let t0 = Instant::now();
    let probes: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
    // b accepts the connection and never answers.
    let mut checks = pin!(lb.run_health_checks(INTERVAL, TIMEOUT, async |name: &str| {
        *probes.borrow_mut().entry(name.to_owned()).or_default() += 1;
        if name == "b" {
            std::future::pending::<()>().await;
        }
        true
    }));
    run_until(checks.as_mut(), t0 + secs(21.5)).await;
    assert_eq!(
        lb.health("b"),
        Some(Health::Up),
        "b's probes hang; each counts as failed only after the 2s timeout, so at 21.5s only \
         the rounds at 0s and 10s have failed and b (down_after = 3) should still be up"
    );
    run_until(checks.as_mut(), t0 + secs(35.0)).await;
    assert_eq!(
        lb.health("b"),
        Some(Health::Down),
        "b's probes at 0s, 10s and 20s never answered: each should count as failed after the \
         timeout of 2s, and three in a row should take b down by 22s"
    );
    for name in ["a", "b", "c"] {
        let got = probes.borrow().get(name).copied().unwrap_or(0);
        assert_eq!(
            got, 4,
            "rounds start every 10s whatever a probe does: by 35s {name} should have been probed \
             4 times (0s, 10s, 20s, 30s), not {got}. A probe that hangs must be cut off by the \
             timeout, not stall the checks of the others"
        );
    }
}
