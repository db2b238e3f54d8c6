//! Whole interviews in milliseconds: a clock the test moves, a judge that
//! returns scripted verdicts, a screen that remembers what it showed.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Clone, Default)]
struct TestClock(Rc<Cell<Duration>>);

impl Clock for TestClock {
    fn elapsed(&self) -> Duration {
        self.0.get()
    }
}

/// Events, each after the clock has moved on by its delay.
struct Script {
    clock: TestClock,
    steps: VecDeque<(Duration, Event)>,
}

impl Iterator for Script {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        let (delay, event) = self.steps.pop_front()?;
        self.clock.0.set(self.clock.0.get() + delay);
        Some(event)
    }
}

struct Scripted {
    verdicts: VecDeque<Verdict>,
    judged: usize,
}

impl Judge for Scripted {
    fn judge(&mut self) -> Result<Verdict> {
        self.judged += 1;
        // The code stays as it was once the script runs out.
        let verdict = if self.verdicts.len() > 1 {
            self.verdicts.pop_front()
        } else {
            self.verdicts.front().cloned()
        };
        verdict.ok_or_else(|| anyhow::anyhow!("no verdict scripted"))
    }
}

#[derive(Default)]
struct Seen {
    shown: Vec<(usize, usize)>,
    hints: Vec<Option<String>>,
    revealed: Vec<usize>,
    ticks: usize,
}

impl Screen for Seen {
    fn verdict(&mut self, shown: &Verdict, _left: Duration) {
        self.shown.push((shown.passed, shown.total));
    }
    fn tick(&mut self, _left: Duration) {
        self.ticks += 1;
    }
    fn hint(&mut self, _number: usize, _total: usize, text: Option<&str>) {
        self.hints.push(text.map(str::to_owned));
    }
    fn followups_revealed(&mut self, count: usize) {
        self.revealed.push(count);
    }
}

/// A verdict on specs `names`, of which those in `passing` pass.
fn verdict(names: &[&str], passing: &[&str]) -> Verdict {
    let specs = names
        .iter()
        .map(|name| SpecResult {
            name: (*name).to_owned(),
            status: if passing.contains(name) {
                Status::Pass
            } else {
                Status::Fail
            },
            message: String::new(),
            suite: "spec".to_owned(),
        })
        .collect();
    Verdict::new("kata", Mode::Kata, specs)
}

const SPECS: [&str; 4] = [
    "admits",
    "refuses",
    "followup_exact_edge",
    "followup_huge::case_1_big",
];

struct Run {
    ended: Ended,
    seen: Seen,
    judged: usize,
    recorded: usize,
}

fn interview(limit: Duration, steps: Vec<(Duration, Event)>, verdicts: Vec<Verdict>) -> Run {
    let clock = TestClock::default();
    let mut script = Script {
        clock: clock.clone(),
        steps: steps.into(),
    };
    let mut judge = Scripted {
        verdicts: verdicts.into(),
        judged: 0,
    };
    let mut seen = Seen::default();
    let mut recorded = 0;
    let hints = vec!["first".to_owned(), "second".to_owned()];
    let ended = conduct(
        limit,
        &hints,
        &clock,
        &mut script,
        &mut judge,
        &mut seen,
        &mut |_| {
            recorded += 1;
            Ok(())
        },
    )
    .expect("the session runs");
    Run {
        ended,
        seen,
        judged: judge.judged,
        recorded,
    }
}

#[test]
fn a_session_ends_solved_when_every_spec_passes_follow_ups_included() {
    let run = interview(
        45 * MINUTE,
        vec![
            (5 * MINUTE, Event::Saved),
            (10 * MINUTE, Event::Saved),
            (5 * MINUTE, Event::Saved),
        ],
        vec![
            verdict(&SPECS, &[]),
            verdict(&SPECS, &["admits"]),
            verdict(&SPECS, &["admits", "refuses"]),
            verdict(&SPECS, &SPECS),
        ],
    );
    assert_eq!(run.ended.outcome, Outcome::Solved);
    assert_eq!(run.ended.used, 20 * MINUTE);
    assert_eq!(run.judged, 4, "judged at the start and on every save");
    assert_eq!(run.recorded, 4, "every verdict is recorded");
    assert_eq!(
        score(&run.ended, 45 * MINUTE),
        80 + 11,
        "all specs, and 25 of 45 minutes to spare"
    );
}

#[test]
fn follow_up_specs_stay_hidden_until_the_visible_ones_pass() {
    let run = interview(
        45 * MINUTE,
        vec![
            (MINUTE, Event::Saved),
            (MINUTE, Event::Saved),
            (MINUTE, Event::Quit),
        ],
        vec![
            verdict(&SPECS, &["admits"]),
            verdict(&SPECS, &["admits", "refuses"]),
            verdict(&SPECS, &["admits", "refuses", "followup_exact_edge"]),
        ],
    );
    assert_eq!(
        run.seen.shown,
        [(1, 2), (2, 4), (3, 4)],
        "2 visible specs, then all 4 once those pass"
    );
    assert_eq!(
        run.seen.revealed,
        [2],
        "revealed once, with the two follow-ups"
    );
    assert_eq!(run.ended.outcome, Outcome::Abandoned);
}

#[test]
fn time_up_runs_a_final_check_and_ends_timed_out() {
    let mut steps = vec![(Duration::ZERO, Event::Saved)];
    steps.extend((0..46).map(|_| (MINUTE, Event::Tick)));
    let run = interview(
        45 * MINUTE,
        steps,
        vec![
            verdict(&SPECS, &[]),
            verdict(&SPECS, &["admits"]),
            verdict(&SPECS, &["admits", "refuses"]),
        ],
    );
    assert_eq!(run.ended.outcome, Outcome::Timeout);
    assert_eq!(run.ended.used, 45 * MINUTE, "time used stops at the limit");
    assert_eq!(run.judged, 3, "start, the save, and the final check");
    assert_eq!(run.ended.verdict.as_ref().map(|v| v.passed), Some(2));
    assert_eq!(run.seen.ticks, 44, "a tick per minute until the 45th");
}

#[test]
fn the_final_check_at_time_up_can_still_solve_it() {
    let run = interview(
        MINUTE,
        vec![(2 * MINUTE, Event::Tick)],
        vec![verdict(&["a"], &[]), verdict(&["a"], &["a"])],
    );
    assert_eq!(run.ended.outcome, Outcome::Solved);
}

#[test]
fn quitting_abandons_the_session_without_judging_again() {
    let run = interview(
        45 * MINUTE,
        vec![(3 * MINUTE, Event::Quit)],
        vec![verdict(&SPECS, &["admits"])],
    );
    assert_eq!(run.ended.outcome, Outcome::Abandoned);
    assert_eq!(run.judged, 1);
    assert_eq!(run.ended.used, 3 * MINUTE);
}

#[test]
fn hints_are_counted_cost_points_and_run_out() {
    let run = interview(
        45 * MINUTE,
        vec![
            (MINUTE, Event::Hint),
            (MINUTE, Event::Hint),
            (MINUTE, Event::Hint),
            (MINUTE, Event::Saved),
        ],
        vec![verdict(&["a"], &[]), verdict(&["a"], &["a"])],
    );
    assert_eq!(run.ended.hints, 2, "two hints exist");
    assert_eq!(
        run.seen.hints,
        [Some("first".to_owned()), Some("second".to_owned()), None]
    );
    assert_eq!(run.ended.outcome, Outcome::Solved);
    assert_eq!(score(&run.ended, 45 * MINUTE), 80 + 18 - 20);
}

#[test]
fn a_kata_without_follow_up_specs_still_works() {
    let run = interview(
        10 * MINUTE,
        vec![(MINUTE, Event::Saved)],
        vec![
            verdict(&["a", "b"], &["a"]),
            verdict(&["a", "b"], &["a", "b"]),
        ],
    );
    assert_eq!(run.seen.shown, [(1, 2), (2, 2)]);
    assert!(run.seen.revealed.is_empty());
    assert_eq!(run.ended.outcome, Outcome::Solved);
}

#[test]
fn names_follow_ups_by_their_test_function() {
    assert!(is_followup("followup_retry_after_is_exact"));
    assert!(is_followup("followup_huge_elapsed::case_1_ten_years"));
    assert!(is_followup("tests::followup_x"));
    assert!(!is_followup("admits_a_followup_request"));
    assert!(!is_followup("huge::case_1_followup_x"));
}

mod choosing {
    use super::*;
    use crate::catalog::{Difficulty, Metadata, Origin};
    use std::path::PathBuf;

    fn kata(slug: &str, topics: &[&str]) -> Kata {
        Kata {
            slug: slug.to_owned(),
            dir: PathBuf::from(slug),
            solution_dir: PathBuf::from(slug),
            root: PathBuf::new(),
            origin: Origin::BuiltIn,
            meta: Metadata {
                title: slug.to_owned(),
                difficulty: Difficulty::Medium,
                minutes: 30,
                track: "concurrency".to_owned(),
                tags: topics.iter().map(|t| (*t).to_owned()).collect(),
                hints: Vec::new(),
                followups: Vec::new(),
                spec_timeout_secs: 10,
            },
        }
    }

    fn attempt(kata: &str, at: u64, outcome: Outcome) -> Session {
        Session {
            id: at as i64,
            kind: Kind::Interview,
            kata: kata.to_owned(),
            learner: true,
            started_at: at,
            ended_at: Some(at + 60),
            outcome,
            passed: 1,
            total: 1,
            hints: 0,
            score: None,
            minutes_allowed: None,
            planted: None,
        }
    }

    fn due(at: u64) -> Review {
        Review {
            repetitions: 1,
            ease: 2.5,
            interval_days: 1.0,
            due_at: at,
            reviewed_at: 0,
        }
    }

    #[test]
    fn a_kata_never_attempted_comes_first() {
        let katas = [kata("a", &["x"]), kata("b", &["x"])];
        let sessions = [attempt("a", 10, Outcome::Solved)];
        for seed in 0..20 {
            let chosen = choose(&katas, &sessions, &HashMap::new(), 1000, seed).unwrap();
            assert_eq!(chosen.slug, "b");
        }
    }

    #[test]
    fn then_the_most_overdue_review() {
        let katas = [kata("a", &["x"]), kata("b", &["x"]), kata("c", &["x"])];
        let sessions = [
            attempt("a", 1, Outcome::Solved),
            attempt("b", 2, Outcome::Solved),
            attempt("c", 3, Outcome::Solved),
        ];
        let reviews = HashMap::from([
            ("a".to_owned(), due(900)),
            ("b".to_owned(), due(500)),
            ("c".to_owned(), due(5000)),
        ]);
        assert_eq!(
            choose(&katas, &sessions, &reviews, 1000, 7).unwrap().slug,
            "b"
        );
    }

    #[test]
    fn then_the_weakest_topic() {
        let katas = [
            kata("a", &["strong"]),
            kata("b", &["weak"]),
            kata("c", &["weak"]),
        ];
        let sessions = [
            attempt("a", 1, Outcome::Solved),
            attempt("b", 2, Outcome::Failed),
            attempt("c", 3, Outcome::Solved),
        ];
        let chosen = choose(&katas, &sessions, &HashMap::new(), 1000, 3).unwrap();
        assert_eq!(
            chosen.slug, "b",
            "the weak topic's least recently attempted kata"
        );
    }

    #[test]
    fn the_same_seed_makes_the_same_choice() {
        let katas: Vec<Kata> = (0..10).map(|i| kata(&format!("k{i}"), &["x"])).collect();
        let first = choose(&katas, &[], &HashMap::new(), 0, 42)
            .unwrap()
            .slug
            .clone();
        for _ in 0..5 {
            assert_eq!(
                choose(&katas, &[], &HashMap::new(), 0, 42).unwrap().slug,
                first
            );
        }
        let others: std::collections::HashSet<String> = (0..50)
            .map(|seed| {
                choose(&katas, &[], &HashMap::new(), 0, seed)
                    .unwrap()
                    .slug
                    .clone()
            })
            .collect();
        assert!(
            others.len() > 3,
            "different seeds spread over the katas: {others:?}"
        );
    }
}
