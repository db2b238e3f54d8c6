//! What the history says: per kata, per track and tag, the practice streak,
//! the bug hunts, and what
//! is due for review. `cargo xtask stats` prints it, as text, JSON or an
//! HTML page (html.rs); `list` shows a kata's status and review date.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use anyhow::Result;
use console::style;
use serde::Serialize;

use crate::catalog::{Kata, Workspace};
use crate::history::{History, Kind, Outcome, Session, now};
use crate::review;

const DAY: u64 = 24 * 60 * 60;

#[derive(Debug, Clone, Serialize)]
pub struct KataStats {
    pub kata: String,
    pub title: String,
    pub track: String,
    pub tags: Vec<String>,
    /// Practice and interview sessions on the learner's code.
    pub attempts: usize,
    pub solved: usize,
    /// Seconds of the fastest and of the latest solving session.
    pub best_seconds: Option<u64>,
    pub last_seconds: Option<u64>,
    pub hints_used: u32,
    pub best_score: Option<i64>,
    /// `not started`, `k/n specs pass` or `solved`.
    pub status: String,
    pub next_review: Option<u64>,
    pub review: Option<String>,
    /// (unix seconds, seconds to solve) of every solving session, oldest first.
    pub solves: Vec<(u64, u64)>,
    /// Bug hunts on this kata, and how many found and fixed the bug.
    pub hunts: usize,
    pub hunts_solved: usize,
}

/// Attempts and solves of the katas of one track, or of one tag.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStats {
    pub name: String,
    pub attempts: usize,
    pub solved: usize,
    pub solve_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub generated_at: u64,
    pub katas: Vec<KataStats>,
    /// Only the tracks and tags with at least one attempt: a row of "0% of
    /// 0" says nothing.
    pub tracks: Vec<GroupStats>,
    pub tags: Vec<GroupStats>,
    /// Consecutive days, up to today or yesterday, with a session.
    pub streak_days: u32,
    pub sessions: Vec<Session>,
}

/// A learner's attempt: practice or interview on their own code.
fn is_attempt(s: &Session) -> bool {
    s.learner && matches!(s.kind, Kind::Kata | Kind::Interview) && s.outcome != Outcome::Running
}

pub fn status(sessions: &[&Session]) -> String {
    let learner: Vec<&&Session> = sessions
        .iter()
        .filter(|s| s.learner && s.total > 0)
        .collect();
    if learner.iter().any(|s| s.outcome == Outcome::Solved) {
        return "solved".to_owned();
    }
    match learner.last() {
        None => "not started".to_owned(),
        Some(last) => format!("{}/{} specs pass", last.passed, last.total),
    }
}

pub fn collect(history: &History, katas: &[Kata]) -> Result<Stats> {
    let sessions = history.sessions(None)?;
    let now = now();
    let mut per_kata = Vec::new();
    for kata in katas {
        let mine: Vec<&Session> = sessions.iter().filter(|s| s.kata == kata.slug).collect();
        let attempts: Vec<&&Session> = mine.iter().filter(|s| is_attempt(s)).collect();
        let solves: Vec<(u64, u64)> = attempts
            .iter()
            .filter(|s| s.outcome == Outcome::Solved)
            .map(|s| (s.started_at, s.seconds()))
            .collect();
        let review = history.review(&kata.slug)?;
        let hunts: Vec<&&Session> = mine
            .iter()
            .filter(|s| s.kind == Kind::Hunt && s.outcome != Outcome::Running)
            .collect();
        per_kata.push(KataStats {
            kata: kata.slug.clone(),
            title: kata.meta.title.clone(),
            track: kata.meta.track.clone(),
            tags: kata.meta.tags.clone(),
            hunts: hunts.len(),
            hunts_solved: hunts
                .iter()
                .filter(|s| s.outcome == Outcome::Solved)
                .count(),
            attempts: attempts.len(),
            solved: solves.len(),
            best_seconds: solves.iter().map(|(_, secs)| *secs).min(),
            last_seconds: solves.last().map(|(_, secs)| *secs),
            hints_used: attempts.iter().map(|s| s.hints).sum(),
            best_score: attempts.iter().filter_map(|s| s.score).max(),
            status: status(&mine),
            next_review: review.as_ref().map(|r| r.due_at),
            review: review.as_ref().map(|r| review::describe_due(r, now)),
            solves,
        });
    }
    let tracks = groups(&per_kata, |k| vec![k.track.as_str()]);
    let tags = groups(&per_kata, |k| k.tags.iter().map(String::as_str).collect());
    Ok(Stats {
        generated_at: now,
        streak_days: streak(&sessions, now),
        katas: per_kata,
        tracks,
        tags,
        sessions,
    })
}

/// Attempts and solves summed per group (`of` names a kata's groups), for
/// the groups that have any attempt.
fn groups<'a>(
    katas: &'a [KataStats],
    of: impl Fn(&'a KataStats) -> Vec<&'a str>,
) -> Vec<GroupStats> {
    let mut sums: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for kata in katas {
        for name in of(kata) {
            let entry = sums.entry(name).or_default();
            entry.0 += kata.attempts;
            entry.1 += kata.solved;
        }
    }
    sums.into_iter()
        .filter(|(_, (attempts, _))| *attempts > 0)
        .map(|(name, (attempts, solved))| GroupStats {
            name: name.to_owned(),
            attempts,
            solved,
            solve_rate: solved as f64 / attempts as f64,
        })
        .collect()
}

/// Consecutive days (UTC) with at least one session on the learner's code,
/// ending today, or yesterday if there is none yet today.
pub fn streak(sessions: &[Session], now: u64) -> u32 {
    let days: BTreeSet<u64> = sessions
        .iter()
        .filter(|s| s.learner)
        .map(|s| s.started_at / DAY)
        .collect();
    let today = now / DAY;
    let mut day = if days.contains(&today) {
        today
    } else {
        today.saturating_sub(1)
    };
    let mut streak = 0;
    while days.contains(&day) {
        streak += 1;
        if day == 0 {
            break;
        }
        day -= 1;
    }
    streak
}

pub fn run(
    ws: &Workspace,
    kata: Option<&str>,
    json: bool,
    html: Option<&std::path::Path>,
) -> Result<ExitCode> {
    let katas = match kata {
        Some(slug) => vec![ws.kata(slug)?],
        None => ws.katas()?,
    };
    let history = History::open(ws)?;
    let mut stats = collect(&history, &katas)?;
    if kata.is_some() {
        stats
            .sessions
            .retain(|s| katas.iter().any(|k| k.slug == s.kata));
    }
    if let Some(path) = html {
        std::fs::write(path, crate::html::page(&stats))?;
        eprintln!("wrote {}", path.display());
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else if html.is_none() {
        print_text(&stats);
    }
    Ok(ExitCode::SUCCESS)
}

fn minutes(seconds: Option<u64>) -> String {
    seconds.map_or_else(
        || "-".to_owned(),
        |s| crate::ui::format_duration(std::time::Duration::from_secs(s)),
    )
}

fn print_text(stats: &Stats) {
    println!(
        "{}",
        style(format!(
            "{:<22} {:>8} {:>6} {:>9} {:>9} {:>5} {:>7}  {}",
            "KATA", "ATTEMPTS", "SOLVED", "BEST", "LAST", "HINTS", "HUNTS", "NEXT REVIEW"
        ))
        .bold()
    );
    for k in &stats.katas {
        println!(
            "{:<22} {:>8} {:>6} {:>9} {:>9} {:>5} {:>7}  {}",
            k.kata,
            k.attempts,
            k.solved,
            minutes(k.best_seconds),
            minutes(k.last_seconds),
            k.hints_used,
            format!("{}/{}", k.hunts_solved, k.hunts),
            k.review.as_deref().unwrap_or("-")
        );
    }
    for (title, groups) in [("TRACK", &stats.tracks), ("TAG", &stats.tags)] {
        if groups.is_empty() {
            continue;
        }
        println!(
            "\n{}",
            style(format!(
                "{title:<22} {:>8} {:>6} {:>10}",
                "ATTEMPTS", "SOLVED", "SOLVE RATE"
            ))
            .bold()
        );
        for g in groups {
            println!(
                "{:<22} {:>8} {:>6} {:>9.0}%",
                g.name,
                g.attempts,
                g.solved,
                g.solve_rate * 100.0
            );
        }
    }
    println!("\nStreak: {} day(s) of practice.", stats.streak_days);
}
