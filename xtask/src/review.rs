//! Spaced repetition: when to bring a kata back.
//!
//! SM-2 (Wozniak's SuperMemo 2, the scheduler behind Anki's), because it is
//! small, well studied and explainable in one paragraph: each kata has an
//! ease factor (starting at 2.5) and an interval. A session is graded 0-5;
//! a grade of 3 or more lengthens the interval (1 day, then 6, then the
//! last interval times the ease), a lower grade starts the kata over at one
//! day, and every grade moves the ease (down for hard recalls, never below
//! 1.3). The grade is where this differs from flash cards: it comes from the
//! session, not from the learner's opinion of it (see [`grade`]).

use serde::Serialize;

const DAY: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub repetitions: u32,
    pub ease: f64,
    pub interval_days: f64,
    /// Unix seconds.
    pub due_at: u64,
    pub reviewed_at: u64,
}

/// What a session says about how well the learner knows the kata.
#[derive(Debug, Clone, Copy)]
pub struct Performance {
    pub solved: bool,
    /// Of all specs, follow-ups included.
    pub passed_fraction: f64,
    pub hints: u32,
    /// Time used over the kata's suggested minutes.
    pub time_ratio: f64,
}

/// The SM-2 grade, 0-5, of a session: 5 solved without hints within the
/// suggested time; one point off for needing hints (one point for one or
/// two, two points for more), one for running over time; an unsolved
/// session is 2 if it got past half the specs, else 1.
pub fn grade(p: Performance) -> u32 {
    if !p.solved {
        return if p.passed_fraction >= 0.5 { 2 } else { 1 };
    }
    let mut grade: u32 = 5;
    grade -= match p.hints {
        0 => 0,
        1 | 2 => 1,
        _ => 2,
    };
    if p.time_ratio > 1.0 {
        grade -= 1;
    }
    grade.max(3)
}

/// The schedule after a session graded `grade` at `now`.
pub fn next(previous: Option<&Review>, grade: u32, now: u64) -> Review {
    let (repetitions, ease, interval) =
        previous.map_or((0, 2.5, 0.0), |r| (r.repetitions, r.ease, r.interval_days));
    let q = f64::from(grade.min(5));
    let ease = (ease + 0.1 - (5.0 - q) * (0.08 + (5.0 - q) * 0.02)).max(1.3);
    let (repetitions, interval_days) = if grade < 3 {
        (0, 1.0)
    } else {
        let interval = match repetitions {
            0 => 1.0,
            1 => 6.0,
            _ => (interval * ease).round(),
        };
        (repetitions + 1, interval)
    };
    Review {
        repetitions,
        ease,
        interval_days,
        due_at: now + (interval_days * DAY as f64) as u64,
        reviewed_at: now,
    }
}

/// `due today`, `due in 3 days`, `overdue 2 days`.
pub fn describe_due(review: &Review, now: u64) -> String {
    if review.due_at <= now {
        let days = (now - review.due_at) / DAY;
        if days == 0 {
            "due today".to_owned()
        } else {
            format!("overdue {days}d")
        }
    } else {
        let days = (review.due_at - now).div_ceil(DAY);
        if days <= 1 {
            "due tomorrow".to_owned()
        } else {
            format!("due in {days}d")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perf(solved: bool, hints: u32, time_ratio: f64) -> Performance {
        Performance {
            solved,
            passed_fraction: if solved { 1.0 } else { 0.2 },
            hints,
            time_ratio,
        }
    }

    #[test]
    fn a_clean_fast_solve_grades_5_and_hints_and_slowness_cost_points() {
        assert_eq!(grade(perf(true, 0, 0.5)), 5);
        assert_eq!(grade(perf(true, 1, 0.5)), 4);
        assert_eq!(grade(perf(true, 0, 1.5)), 4);
        assert_eq!(grade(perf(true, 3, 1.5)), 3);
        assert_eq!(grade(perf(false, 0, 0.5)), 1);
    }

    #[test]
    fn intervals_grow_with_success_and_start_over_on_failure() {
        let day = DAY;
        let first = next(None, 5, 0);
        assert_eq!((first.repetitions, first.interval_days), (1, 1.0));
        let second = next(Some(&first), 5, day);
        assert_eq!(second.interval_days, 6.0);
        let third = next(Some(&second), 5, 7 * day);
        assert!(third.interval_days > 6.0, "{third:?}");
        let failed = next(Some(&third), 1, 30 * day);
        assert_eq!((failed.repetitions, failed.interval_days), (0, 1.0));
        assert!(failed.ease < third.ease, "a failure makes the kata harder");
        assert_eq!(failed.due_at, 31 * day);
    }

    #[test]
    fn hints_shrink_the_next_interval_compared_with_a_clean_solve() {
        let start = next(None, 5, 0);
        let start = next(Some(&start), 5, 0);
        let clean = next(Some(&start), grade(perf(true, 0, 0.5)), 0);
        let hinted = next(Some(&start), grade(perf(true, 3, 1.5)), 0);
        assert!(
            hinted.interval_days < clean.interval_days,
            "{hinted:?} vs {clean:?}"
        );
    }

    #[test]
    fn the_ease_never_falls_below_1_3() {
        let mut review = next(None, 0, 0);
        for _ in 0..20 {
            review = next(Some(&review), 0, 0);
        }
        assert!((review.ease - 1.3).abs() < 1e-9);
    }
}
