//! `cargo xtask interview`: a timed mock interview on a kata the learner did
//! not choose.
//!
//! The session itself ([`conduct`]) is a loop over events (a save, a hint
//! asked for, a quit, a clock tick) with the clock, the judge and the screen
//! injected, so the tests run a 45-minute interview in milliseconds. [`run`]
//! wires it to the real things: the file watcher, the keyboard, a ticker,
//! the check, the terminal and the history.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use console::style;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::{Kata, Workspace};
use crate::check::{self, Options, Reporter, Subject};
use crate::commands::Filter;
use crate::history::{self, History, Kind, Outcome, Session};
use crate::practice::section;
use crate::replay::Replays;
use crate::review::{self, Review};
use crate::verdict::{Mode, SpecResult, Status, Verdict};
use crate::{attempts, ui, watch};

/// What can happen during a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The learner saved a file of the kata.
    Saved,
    /// The learner asked for a hint.
    Hint,
    /// The learner gave up (q, Ctrl-C).
    Quit,
    /// Time passed: look at the clock.
    Tick,
}

pub trait Clock {
    /// Time since the session started.
    fn elapsed(&self) -> Duration;
}

pub trait Judge {
    /// The spec's verdict on the learner's code as it is now.
    fn judge(&mut self) -> Result<Verdict>;
}

/// What the learner sees during the session.
pub trait Screen {
    /// A verdict, with the follow-up specs left out until they are revealed.
    fn verdict(&mut self, shown: &Verdict, left: Duration);
    fn tick(&mut self, left: Duration);
    /// Hint `number` of `total`; `None` once they are all used.
    fn hint(&mut self, number: usize, total: usize, text: Option<&str>);
    /// The visible specs pass: the interviewer adds `count` more.
    fn followups_revealed(&mut self, count: usize);
}

#[derive(Debug, Clone)]
pub struct Ended {
    pub outcome: Outcome,
    /// The last full verdict (follow-ups included).
    pub verdict: Option<Verdict>,
    pub used: Duration,
    pub hints: u32,
}

/// A spec the interviewer holds back: its test function is named
/// `followup_...` (rstest cases are `followup_x::case_1`).
pub fn is_followup(name: &str) -> bool {
    name.rsplit("::")
        .find(|part| !part.starts_with("case_"))
        .is_some_and(|f| f.starts_with("followup_"))
}

/// The verdict the learner sees: without the follow-ups until revealed.
fn shown(verdict: &Verdict, revealed: bool) -> Verdict {
    if revealed {
        return verdict.clone();
    }
    let specs: Vec<SpecResult> = verdict
        .specs
        .iter()
        .filter(|s| !is_followup(&s.name))
        .cloned()
        .collect();
    Verdict {
        compile_error: verdict.compile_error.clone(),
        modified_specs: verdict.modified_specs.clone(),
        ..Verdict::new(&verdict.kata, verdict.mode, specs)
    }
}

/// One session: judge at the start and on every save, reveal the follow-ups
/// once the visible specs pass, and end when every spec passes (solved), the
/// time is up (a final judgement decides), or the learner quits.
pub fn conduct(
    limit: Duration,
    hints: &[String],
    clock: &dyn Clock,
    events: &mut dyn Iterator<Item = Event>,
    judge: &mut dyn Judge,
    screen: &mut dyn Screen,
    on_verdict: &mut dyn FnMut(&Verdict) -> Result<()>,
) -> Result<Ended> {
    let mut revealed = false;
    let mut hints_used = 0usize;
    let mut last: Option<Verdict> = None;
    let mut assess = |last: &mut Option<Verdict>,
                      revealed: &mut bool,
                      screen: &mut dyn Screen|
     -> Result<bool> {
        let verdict = judge.judge()?;
        let followups = verdict
            .specs
            .iter()
            .filter(|s| is_followup(&s.name))
            .count();
        if !*revealed && followups > 0 && shown(&verdict, false).is_pass() {
            *revealed = true;
            screen.followups_revealed(followups);
        }
        let left = limit.saturating_sub(clock.elapsed());
        screen.verdict(&shown(&verdict, *revealed), left);
        // After the screen: the candidate waits for the verdict, not for
        // the history.
        on_verdict(&verdict)?;
        let solved = verdict.is_pass();
        *last = Some(verdict);
        Ok(solved)
    };
    let end = |outcome, last: Option<Verdict>, hints_used: usize| Ended {
        outcome,
        verdict: last,
        used: clock.elapsed().min(limit),
        hints: hints_used as u32,
    };

    if assess(&mut last, &mut revealed, screen)? {
        return Ok(end(Outcome::Solved, last, hints_used));
    }
    loop {
        let event = events.next().unwrap_or(Event::Quit);
        if clock.elapsed() >= limit {
            // Time is up: one last look at the code as it stands.
            let solved = assess(&mut last, &mut revealed, screen)?;
            let outcome = if solved {
                Outcome::Solved
            } else {
                Outcome::Timeout
            };
            return Ok(end(outcome, last, hints_used));
        }
        match event {
            Event::Tick => screen.tick(limit.saturating_sub(clock.elapsed())),
            Event::Saved => {
                if assess(&mut last, &mut revealed, screen)? {
                    return Ok(end(Outcome::Solved, last, hints_used));
                }
            }
            Event::Hint => {
                if hints_used < hints.len() {
                    hints_used += 1;
                    screen.hint(hints_used, hints.len(), Some(&hints[hints_used - 1]));
                } else {
                    screen.hint(hints_used, hints.len(), None);
                }
            }
            Event::Quit => return Ok(end(Outcome::Abandoned, last, hints_used)),
        }
    }
}

/// 80 points for the share of specs passed (follow-ups included), up to 20
/// more for solving early (in proportion to the time left), minus 10 per
/// hint; never below zero.
pub fn score(ended: &Ended, limit: Duration) -> i64 {
    let fraction = ended
        .verdict
        .as_ref()
        .filter(|v| v.total > 0)
        .map_or(0.0, |v| v.passed as f64 / v.total as f64);
    let early = if ended.outcome == Outcome::Solved {
        20.0 * (1.0 - ended.used.as_secs_f64() / limit.as_secs_f64().max(1.0)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((80.0 * fraction + early).round() as i64 - 10 * i64::from(ended.hints)).max(0)
}

/// Which kata to interview on, among `candidates`: one never attempted if
/// there is any, else the one most overdue for review, else one of the
/// weakest topic (the lowest solve rate), the least recently attempted.
/// Ties are broken by `seed`, so the same seed makes the same choice.
pub fn choose<'a>(
    candidates: &'a [Kata],
    sessions: &[Session],
    reviews: &HashMap<String, Review>,
    now: u64,
    seed: u64,
) -> Option<&'a Kata> {
    let attempts = |kata: &Kata| -> Vec<&Session> {
        sessions
            .iter()
            .filter(|s| {
                s.kata == kata.slug && s.learner && matches!(s.kind, Kind::Kata | Kind::Interview)
            })
            .collect()
    };
    let pick = |pool: Vec<&'a Kata>| -> Option<&'a Kata> {
        if pool.is_empty() {
            None
        } else {
            Some(pool[(splitmix64(seed) % pool.len() as u64) as usize])
        }
    };

    let fresh: Vec<&Kata> = candidates
        .iter()
        .filter(|k| attempts(k).is_empty())
        .collect();
    if !fresh.is_empty() {
        return pick(fresh);
    }
    let overdue = candidates
        .iter()
        .filter_map(|k| {
            reviews
                .get(&k.slug)
                .filter(|r| r.due_at <= now)
                .map(|r| (r.due_at, k))
        })
        .min_by_key(|(due, _)| *due);
    if let Some((due, _)) = overdue {
        let most: Vec<&Kata> = candidates
            .iter()
            .filter(|k| reviews.get(&k.slug).is_some_and(|r| r.due_at == due))
            .collect();
        return pick(most);
    }
    let rate = |topic: &str| -> f64 {
        let (mut tried, mut solved) = (0, 0);
        for kata in candidates
            .iter()
            .filter(|k| k.meta.tags.iter().any(|t| t == topic))
        {
            for s in attempts(kata) {
                tried += 1;
                solved += usize::from(s.outcome == Outcome::Solved);
            }
        }
        if tried == 0 {
            0.0
        } else {
            solved as f64 / tried as f64
        }
    };
    let weakest = candidates
        .iter()
        .flat_map(|k| k.meta.tags.iter())
        .map(|t| (rate(t), t))
        .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)))?
        .1;
    let in_topic: Vec<&Kata> = candidates
        .iter()
        .filter(|k| k.meta.tags.contains(weakest))
        .collect();
    let last_attempt = |k: &Kata| attempts(k).iter().map(|s| s.started_at).max().unwrap_or(0);
    let oldest = in_topic.iter().map(|k| last_attempt(k)).min()?;
    pick(
        in_topic
            .into_iter()
            .filter(|k| last_attempt(k) == oldest)
            .collect(),
    )
}

/// A well-mixed 64-bit hash of the seed: nearby seeds choose differently.
pub(crate) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub struct Request<'a> {
    pub minutes: Option<u32>,
    pub kata: Option<&'a str>,
    pub filter: Filter<'a>,
    pub seed: Option<u64>,
}

/// The kata named `slug`, or the one the scheduler picks among those that
/// pass `filter` and `eligible`.
pub fn pick_kata(
    ws: &Workspace,
    history: &History,
    slug: Option<&str>,
    filter: &Filter<'_>,
    eligible: &dyn Fn(&Kata) -> bool,
    seed: Option<u64>,
) -> Result<Kata> {
    if let Some(slug) = slug {
        return ws.kata(slug);
    }
    let katas = ws.katas()?;
    if let Err(message) = filter.check_names(&katas) {
        bail!("{message}");
    }
    let candidates: Vec<Kata> = katas
        .into_iter()
        .filter(|k| filter.matches(k) && eligible(k))
        .collect();
    let sessions = history.sessions(None)?;
    let mut reviews = HashMap::new();
    for kata in &candidates {
        if let Some(review) = history.review(&kata.slug)? {
            reviews.insert(kata.slug.clone(), review);
        }
    }
    let seed = seed.unwrap_or_else(history::now);
    match choose(&candidates, &sessions, &reviews, history::now(), seed) {
        Some(kata) => Ok(kata.clone()),
        None => bail!(
            "no kata matches those filters: `cargo xtask list` shows every kata with its track and tags"
        ),
    }
}

pub fn run(ws: &Workspace, request: Request<'_>) -> Result<ExitCode> {
    let history = History::open(ws)?;
    let kata = pick_kata(
        ws,
        &history,
        request.kata,
        &request.filter,
        &|_| true,
        request.seed,
    )?;
    let minutes = request.minutes.unwrap_or(kata.meta.minutes).max(1);
    let limit = Duration::from_secs(u64::from(minutes) * 60);

    // A clean start; the learner's earlier attempt is archived, never lost.
    if let Some(dir) = attempts::reset(ws, &kata)? {
        println!("Your previous attempt is archived in {}", dir.display());
    }
    print_brief(ws, &kata, minutes)?;

    let session = history.start(Kind::Interview, &kata.slug, Mode::Kata, Some(minutes))?;
    let (tx, rx) = mpsc::channel();
    let _watcher = {
        let tx = tx.clone();
        watch::watch_saves(&kata, move || {
            let _ = tx.send(Event::Saved);
        })?
    };
    spawn_ticker(tx.clone());
    spawn_keyboard(tx);
    let mut events = Debounced {
        rx,
        pending: VecDeque::new(),
    };

    let started = Instant::now();
    let clock = WallClock(started);
    let opts = Options {
        color: console::colors_enabled(),
        replays: Some(Replays::default()),
        ..Options::default()
    };
    let mut screen = TerminalScreen::new();
    let mut judge = CheckJudge {
        ws,
        subject: Subject::learner(&kata),
        opts,
        bar: screen.bar.clone(),
    };
    let ended = conduct(
        limit,
        &kata.meta.hints,
        &clock,
        &mut events,
        &mut judge,
        &mut screen,
        &mut |verdict| history.progress(session, verdict),
    )?;
    screen.bar.finish_and_clear();

    let score = score(&ended, limit);
    let earlier: Vec<Session> = history
        .sessions(Some(&kata.slug))?
        .into_iter()
        .filter(|s| s.kind == Kind::Interview && s.id != session && s.outcome != Outcome::Running)
        .collect();
    history.finish(
        session,
        ended.outcome,
        ended.verdict.as_ref(),
        Some(ended.hints),
        Some(score),
    )?;
    let performance = review::Performance {
        solved: ended.outcome == Outcome::Solved,
        passed_fraction: ended
            .verdict
            .as_ref()
            .filter(|v| v.total > 0)
            .map_or(0.0, |v| v.passed as f64 / v.total as f64),
        hints: ended.hints,
        time_ratio: ended.used.as_secs_f64() / limit.as_secs_f64(),
    };
    let next = review::next(
        history.review(&kata.slug)?.as_ref(),
        review::grade(performance),
        history::now(),
    );
    history.set_review(&kata.slug, &next)?;
    print_report(&kata, &ended, score, &earlier, &next, limit);
    Ok(if ended.outcome == Outcome::Solved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::FAILED)
    })
}

/// The problem as an interviewer would state it: no title or topics, which
/// could give the answer away.
fn print_brief(ws: &Workspace, kata: &Kata, minutes: u32) -> Result<()> {
    let readme = std::fs::read_to_string(kata.readme())?;
    println!(
        "{}",
        style(format!("Mock interview · {minutes} minutes"))
            .bold()
            .underlined()
    );
    for title in ["Problem", "API"] {
        if let Some(body) = section(&readme, title) {
            println!("\n{}\n{}", style(title).bold(), body.trim());
        }
    }
    let file = kata.stub_file();
    println!(
        "\nEdit {}. Every save re-runs the spec. Type {} and Enter for a hint (it costs points), {} to give up.\n",
        style(ws.relative(&file).display()).bold().cyan(),
        style("h").bold(),
        style("q").bold()
    );
    Ok(())
}

fn print_report(
    kata: &Kata,
    ended: &Ended,
    score: i64,
    earlier: &[Session],
    next: &Review,
    limit: Duration,
) {
    let outcome = match ended.outcome {
        Outcome::Solved => style("solved").green().bold(),
        Outcome::Timeout => style("time is up").yellow().bold(),
        _ => style("abandoned").red().bold(),
    };
    println!(
        "\n{} {} · {}",
        style("Interview over:").bold(),
        outcome,
        style(&kata.meta.title).bold()
    );
    if let Some(v) = &ended.verdict {
        println!("  specs passed   {}/{}", v.passed, v.total);
    }
    println!(
        "  time used      {} of {}",
        ui::format_duration(ended.used),
        ui::format_duration(limit)
    );
    println!("  hints used     {}", ended.hints);
    println!("  score          {score}");
    let scores: Vec<i64> = earlier.iter().filter_map(|s| s.score).collect();
    match (scores.iter().max(), scores.last()) {
        (Some(best), Some(last)) => println!(
            "  earlier        {} interview(s) on this kata: best {best}, last {last}",
            scores.len()
        ),
        _ => println!("  earlier        your first interview on this kata"),
    }
    println!(
        "  next review    {}",
        review::describe_due(next, history::now())
    );
    if !kata.meta.followups.is_empty() {
        println!(
            "\n{}",
            style("The interviewer's follow-up questions:").bold()
        );
        for question in &kata.meta.followups {
            println!("  - {question}");
        }
    }
    println!(
        "\nThe reference solution: {}",
        kata.solution_dir.join("src").display()
    );
    if ended.outcome == Outcome::Abandoned {
        println!("Your attempt stays in {}.", kata.dir.join("src").display());
    }
}

pub(crate) struct WallClock(pub Instant);

impl Clock for WallClock {
    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Collapses the burst of events one save makes into one `Saved`.
pub(crate) struct Debounced {
    pub rx: mpsc::Receiver<Event>,
    /// Events that came in while a save settled, in order.
    pub pending: VecDeque<Event>,
}

impl Iterator for Debounced {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let event = self.rx.recv().ok()?;
        if event == Event::Saved {
            let settled = Instant::now() + watch::SETTLE;
            while let Some(wait) = settled.checked_duration_since(Instant::now()) {
                match self.rx.recv_timeout(wait) {
                    Ok(Event::Saved) => {}
                    Ok(other) => self.pending.push_back(other),
                    Err(_) => break,
                }
            }
        }
        Some(event)
    }
}

pub(crate) fn spawn_ticker(tx: mpsc::Sender<Event>) {
    thread::spawn(move || {
        while tx.send(Event::Tick).is_ok() {
            thread::sleep(Duration::from_secs(1));
        }
    });
}

/// Commands typed on standard input, a line each: `h` for a hint, `q` to
/// give up. Lines rather than raw keys: a raw-mode terminal left behind by a
/// session that ends while a read is pending would break the learner's
/// shell. Ctrl-C ends the process; the next command records the session as
/// abandoned.
pub(crate) fn spawn_keyboard(tx: mpsc::Sender<Event>) {
    thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let event = match line.trim() {
                "h" | "H" | "hint" => Event::Hint,
                "q" | "Q" | "quit" => Event::Quit,
                _ => continue,
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
}

pub(crate) struct CheckJudge<'a> {
    pub ws: &'a Workspace,
    pub subject: Subject,
    pub opts: Options,
    pub bar: ProgressBar,
}

impl Reporter for CheckJudge<'_> {}

impl Judge for CheckJudge<'_> {
    fn judge(&mut self) -> Result<Verdict> {
        self.bar.set_message("checking…");
        Ok(check::check(self.ws, &self.subject, &self.opts, self)?.verdict)
    }
}

struct TerminalScreen {
    bar: ProgressBar,
    passed: String,
}

impl TerminalScreen {
    fn new() -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        TerminalScreen {
            bar,
            passed: String::new(),
        }
    }

    fn status(&self, left: Duration) {
        self.bar.set_message(format!(
            "{} left · {} · h⏎ hint · q⏎ give up",
            clock_face(left),
            self.passed
        ));
    }
}

/// `12:34`.
pub(crate) fn clock_face(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

impl Screen for TerminalScreen {
    fn verdict(&mut self, shown: &Verdict, left: Duration) {
        self.passed = format!("{}/{} specs pass", shown.passed, shown.total);
        let mut lines = format!("{} left · {}", clock_face(left), self.passed);
        if let Some(errors) = &shown.compile_error {
            lines.push_str(&format!("\n  does not compile:\n{}", errors.trim_end()));
        } else if let Some(failure) = shown.failures().next() {
            let mark = if failure.status == Status::Timeout {
                "⏱"
            } else {
                "✗"
            };
            lines.push_str(&format!("\n  {mark} {}", failure.name));
            for line in failure.message.lines().take(12) {
                lines.push_str(&format!("\n      {line}"));
            }
        }
        self.bar.suspend(|| println!("{lines}\n"));
        self.status(left);
    }

    fn tick(&mut self, left: Duration) {
        self.status(left);
    }

    fn hint(&mut self, number: usize, total: usize, text: Option<&str>) {
        let line = match text {
            Some(text) => format!(
                "{} {text}",
                style(format!("Hint {number}/{total} (-10 points)"))
                    .bold()
                    .cyan()
            ),
            None => "No more hints.".to_owned(),
        };
        self.bar.suspend(|| println!("{line}\n"));
    }

    fn followups_revealed(&mut self, count: usize) {
        let line = format!(
            "{} \"Good. Now, what about these?\" {count} follow-up spec(s) added.",
            style("Interviewer:").bold().magenta()
        );
        self.bar.suspend(|| println!("{line}\n"));
    }
}

#[cfg(test)]
mod tests;
