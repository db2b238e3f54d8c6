//! Seeds for simulated-network specs (turmoil): which seeds a spec runs, and
//! how a failing one is replayed.
//!
//! A simulation spec runs one scenario under many seeds (the network's
//! latencies, losses and the nodes' own randomness all come from the seed),
//! and a failure must say which seed broke it and how to run exactly that
//! seed again, the way proptest prints a seed to persist:
//!
//! ```
//! use spec_probes::sim::{self, Replay};
//!
//! // In a spec: `sim::check_seeds(spec_probes::replay!(), 100, |seed| { ... })`.
//! let replay = Replay::new("raft-election", "sim").spec("no_two_leaders_in_one_term");
//! let ran = sim::check_seeds(replay, 20, |seed| {
//!     let nodes = sim::derive(seed, 0) % 5 + 1; // everything random comes from `seed`
//!     if nodes > 5 { Err(format!("{nodes} nodes")) } else { Ok(()) }
//! });
//! assert!(ran == 20 || ran == 1); // 1 when KATA_SIM_SEED is set
//! ```
//!
//! - [`seeds`]: the seeds a spec runs: `count` seeds, `0` and `u64::MAX`
//!   first, then `1, 2, ...`; or exactly the one in `KATA_SIM_SEED`. The
//!   count can be raised for a soak with `KATA_SIM_SEEDS`.
//! - [`check_seeds`]: runs a scenario for each seed; on the first seed that
//!   fails (an `Err` or a panic, a `todo!()` included) it panics with the
//!   seed, the scenario's message and the two commands that replay it.
//! - [`derive`]: independent sub-seeds of one seed (a node's rng, a fault
//!   schedule), so one number replays a whole run.
//!
//! Turmoil itself stays out of this crate (every kata's spec depends on
//! it): the spec builds its `turmoil::Builder` with `rng_seed(seed)`.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

/// The environment variable that pins a spec to one seed.
pub const SEED_VAR: &str = "KATA_SIM_SEED";

/// The environment variable that changes how many seeds a spec runs (not
/// when `KATA_SIM_SEED` is set).
pub const COUNT_VAR: &str = "KATA_SIM_SEEDS";

/// Where a simulation spec lives, for the replay commands of its failure
/// message. Build it with [`replay!`](crate::replay) inside the spec file,
/// which fills in the package and the test file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The kata's package (`raft-election`).
    pub package: String,
    /// The test target, the spec file's name without `.rs` (`sim`).
    pub test: String,
    /// The spec's function name; `None` takes the name of the test thread
    /// (libtest names each test's thread after the test).
    pub spec: Option<String>,
}

impl Replay {
    /// The spec of test file `test` of package `package`, named after the
    /// running test's thread.
    pub fn new(package: &str, test: &str) -> Replay {
        Replay {
            package: package.to_owned(),
            test: test.to_owned(),
            spec: None,
        }
    }

    /// The same, with the spec's name given.
    pub fn spec(mut self, spec: &str) -> Replay {
        self.spec = Some(spec.to_owned());
        self
    }

    /// The spec's name: the one given, else the test thread's.
    fn spec_name(&self) -> String {
        self.spec.clone().unwrap_or_else(|| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            // libtest names the thread with the test's full path.
            name.rsplit("::").next().unwrap_or("").to_owned()
        })
    }

    /// The commands that replay `seed`, one per line.
    pub fn commands(&self, seed: u64) -> String {
        format!(
            "replay: {SEED_VAR}={seed} cargo xtask check {package}\n    or: {SEED_VAR}={seed} cargo test -p {package} --test {test} {spec}",
            package = self.package,
            test = self.test,
            spec = self.spec_name(),
        )
    }
}

/// A [`Replay`] for the spec file this is written in: its package
/// (`CARGO_PKG_NAME`) and test target (`CARGO_CRATE_NAME`, the file's name).
#[macro_export]
macro_rules! replay {
    () => {
        $crate::sim::Replay::new(env!("CARGO_PKG_NAME"), env!("CARGO_CRATE_NAME"))
    };
}

/// The seeds a spec runs: exactly the one in `KATA_SIM_SEED` if it is set;
/// otherwise `KATA_SIM_SEEDS` (if set) or `count` seeds, `0` and `u64::MAX`
/// first (the seeds generators get wrong), then `1, 2, 3, ...`.
///
/// # Panics
///
/// If either variable is set to something other than a `u64`: a replay
/// that silently ran other seeds would be worse than none.
pub fn seeds(count: usize) -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok();
    match seeds_from(var(SEED_VAR).as_deref(), var(COUNT_VAR).as_deref(), count) {
        Ok(seeds) => seeds,
        Err(message) => panic!("{message}"),
    }
}

fn seeds_from(
    seed: Option<&str>,
    count_var: Option<&str>,
    count: usize,
) -> Result<Vec<u64>, String> {
    if let Some(seed) = seed {
        return seed
            .trim()
            .parse()
            .map(|seed| vec![seed])
            .map_err(|_| format!("{SEED_VAR}={seed:?} is not a seed (a u64)"));
    }
    let count = match count_var {
        Some(n) => n
            .trim()
            .parse()
            .map_err(|_| format!("{COUNT_VAR}={n:?} is not a number of seeds"))?,
        None => count,
    };
    Ok([0, u64::MAX].into_iter().chain(1..).take(count).collect())
}

/// Runs `scenario` once for each of [`seeds`]`(count)`, and returns how many
/// ran. The first seed whose scenario returns `Err(message)` or panics ends
/// the run with a panic that names the seed, the message and the replay
/// commands.
pub fn check_seeds<F>(replay: Replay, count: usize, scenario: F) -> usize
where
    F: FnMut(u64) -> Result<(), String>,
{
    let seeds = seeds(count);
    match run_seeds(&seeds, scenario) {
        Ok(ran) => ran,
        Err((seed, message)) => panic!("{}", failure(&replay, seeds.len(), seed, &message)),
    }
}

/// Each seed in turn, to the first failure: its seed and message.
fn run_seeds<F>(seeds: &[u64], mut scenario: F) -> Result<usize, (u64, String)>
where
    F: FnMut(u64) -> Result<(), String>,
{
    for &seed in seeds {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| scenario(seed)));
        let message = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(message)) => message,
            Err(payload) => format!("panicked: {}", panic_message(payload.as_ref())),
        };
        return Err((seed, message));
    }
    Ok(seeds.len())
}

fn failure(replay: &Replay, of: usize, seed: u64, message: &str) -> String {
    format!(
        "seed {seed} ({of} seed{s} in this run) failed: {message}\n{commands}",
        s = if of == 1 { "" } else { "s" },
        commands = replay.commands(seed),
    )
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// The `n`th sub-seed of `seed`: splitmix64 of `seed` and `n` mixed, so that
/// nearby seeds and nearby `n` give unrelated values, and 0 is no worse than
/// any other. One seed then decides a whole run: the network's, each node's
/// rng (`derive(seed, node)`), a schedule of faults.
pub fn derive(seed: u64, n: u64) -> u64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stream of numbers for a spec's own choices (which message to lose,
/// when to partition), all from one seed: `Dice(derive(seed, purpose))`.
#[derive(Debug, Clone)]
pub struct Dice(pub u64);

impl Dice {
    /// The next number of the stream: splitmix64 of a counter.
    pub fn roll(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        derive(self.0, 0x5eed)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.roll() % n.max(1)
    }

    /// True `per_mille` times in a thousand.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A duration in `lo..=hi`, in whole milliseconds.
    pub fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_millis() as u64;
        lo + Duration::from_millis(self.below(span + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dice_replay_from_their_seed_and_stay_in_range() {
        let (mut a, mut b) = (Dice(derive(0, 1)), Dice(derive(0, 1)));
        let first: Vec<u64> = (0..100).map(|_| a.below(7)).collect();
        assert_eq!(first, (0..100).map(|_| b.below(7)).collect::<Vec<_>>());
        assert!(first.iter().all(|&n| n < 7));
        assert!((0..7).all(|n| first.contains(&n)), "every value comes up");
        assert_eq!(Dice(u64::MAX).below(0), 0);
        let mut dice = Dice(u64::MAX);
        let chances = (0..10_000).filter(|_| dice.chance(100)).count();
        assert!((800..1200).contains(&chances), "about 10%: {chances}");
        let (lo, hi) = (Duration::from_millis(5), Duration::from_millis(8));
        let spans: Vec<Duration> = (0..200).map(|_| dice.between(lo, hi)).collect();
        assert!(spans.iter().all(|d| (lo..=hi).contains(d)));
        assert!(
            spans.contains(&lo) && spans.contains(&hi),
            "both ends come up"
        );
    }

    #[test]
    fn by_default_a_spec_runs_count_seeds_with_the_edges_first() {
        assert_eq!(seeds_from(None, None, 5), Ok(vec![0, u64::MAX, 1, 2, 3]));
        assert_eq!(seeds_from(None, None, 1), Ok(vec![0]));
        assert_eq!(seeds_from(None, Some("3"), 100), Ok(vec![0, u64::MAX, 1]));
    }

    #[test]
    fn the_seed_variable_pins_exactly_one_seed() {
        assert_eq!(seeds_from(Some("1234"), None, 100), Ok(vec![1234]));
        assert_eq!(
            seeds_from(Some("18446744073709551615"), Some("7"), 100),
            Ok(vec![u64::MAX])
        );
        assert!(
            seeds_from(Some("abc"), None, 100)
                .unwrap_err()
                .contains(SEED_VAR)
        );
        assert!(
            seeds_from(None, Some("-1"), 100)
                .unwrap_err()
                .contains(COUNT_VAR)
        );
    }

    #[test]
    fn a_run_stops_at_the_first_failing_seed_and_names_it() {
        let mut seen = Vec::new();
        let result = run_seeds(&[0, u64::MAX, 1, 2], |seed| {
            seen.push(seed);
            if seed == 1 {
                Err("two leaders in term 3".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err((1, "two leaders in term 3".to_owned())));
        assert_eq!(seen, [0, u64::MAX, 1]);
        assert_eq!(run_seeds(&[5, 6], |_| Ok(())), Ok(2));
    }

    #[test]
    fn a_panicking_scenario_is_a_failure_of_its_seed() {
        let hook = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let result = run_seeds(&[7, 8], |seed| {
            if seed == 8 {
                todo!("Node::new");
            }
            Ok(())
        });
        panic::set_hook(hook);
        let (seed, message) = result.unwrap_err();
        assert_eq!(seed, 8);
        assert!(
            message.contains("not yet implemented: Node::new"),
            "{message}"
        );
    }

    #[test]
    fn the_failure_message_names_the_seed_and_both_replay_commands() {
        let replay = Replay::new("raft-election", "sim").spec("no_two_leaders_in_one_term");
        let text = failure(&replay, 100, 42, "two leaders in term 3");
        assert!(
            text.starts_with("seed 42 (100 seeds in this run) failed: two leaders in term 3\n")
        );
        assert!(
            text.contains("KATA_SIM_SEED=42 cargo xtask check raft-election"),
            "{text}"
        );
        assert!(
            text.contains(
                "KATA_SIM_SEED=42 cargo test -p raft-election --test sim no_two_leaders_in_one_term"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_spec_name_defaults_to_the_test_thread_name() {
        let replay = crate::replay!();
        assert_eq!(replay.package, "spec-probes");
        assert!(
            replay
                .commands(1)
                .ends_with(" the_spec_name_defaults_to_the_test_thread_name"),
            "{}",
            replay.commands(1)
        );
    }

    #[test]
    fn sub_seeds_differ_between_nodes_and_between_seeds() {
        let mut all: Vec<u64> = [0, 1, u64::MAX]
            .iter()
            .flat_map(|&seed| (0..8).map(move |n| derive(seed, n)))
            .collect();
        assert_eq!(derive(3, 4), derive(3, 4));
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 24);
    }
}
