//! `cargo xtask hunt`: a bug hunt. A known-wrong answer from the kata's bank
//! takes the place of the learner's code (their attempt is archived first);
//! the learner sees the problem and the symptom a user reported, never the
//! bug, and the spec runs on every save, as in an interview, with the names
//! of the failing specs withheld until a clue is asked for. Solved when every
//! spec passes; the report then explains the bug and shows its patch.
//!
//! A hunt plants most of the reference solution in `src/`, so it is offered
//! only on katas the learner has solved, unless they pass `--spoil`.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use console::style;
use indicatif::{ProgressBar, ProgressStyle};

use crate::bank::{self, Answer, Side};
use crate::catalog::{Kata, Workspace};
use crate::check::{Options, Subject};
use crate::commands::Filter;
use crate::history::{History, Kind, Outcome, Session};
use crate::interview::{
    self, CheckJudge, Debounced, Ended, Event, Screen, WallClock, clock_face, spawn_keyboard,
    spawn_ticker,
};
use crate::practice::section;
use crate::replay::Replays;
use crate::verdict::{Mode, Status, Verdict};
use crate::{FAILED, USAGE, attempts, stats, ui, watch};

pub struct Request<'a> {
    pub kata: Option<&'a str>,
    pub filter: Filter<'a>,
    pub seed: Option<u64>,
    pub minutes: Option<u32>,
    pub spoil: bool,
}

/// What each clue gives away, in order; each costs points like a hint.
const CLUES: [&str; 3] = [
    "the names of the failing specs",
    "the first failure's message",
    "the file the bug is in",
];

/// Points for a hunt: nothing unless the bug is fixed; then 60, up to 40
/// more for fixing it early (in proportion to the time left), minus 10 per
/// clue. Unlike an interview, the planted code passes most specs from the
/// start, so passing them earns nothing by itself.
pub fn score(ended: &Ended, limit: Duration) -> i64 {
    if ended.outcome != Outcome::Solved {
        return 0;
    }
    let early =
        40.0 * (1.0 - ended.used.as_secs_f64() / limit.as_secs_f64().max(1.0)).clamp(0.0, 1.0);
    ((60.0 + early).round() as i64 - 10 * i64::from(ended.hints)).max(0)
}

/// The wrong answer to plant: one not hunted before if any is left, chosen
/// by the seed among them.
pub fn choose_answer<'a>(answers: &'a [Answer], hunted: &[&str], seed: u64) -> Option<&'a Answer> {
    let fresh: Vec<&Answer> = answers
        .iter()
        .filter(|a| !hunted.contains(&a.label().as_str()))
        .collect();
    let pool: Vec<&Answer> = if fresh.is_empty() {
        answers.iter().collect()
    } else {
        fresh
    };
    if pool.is_empty() {
        return None;
    }
    Some(pool[(interview::splitmix64(seed) % pool.len() as u64) as usize])
}

fn solved(sessions: &[Session], kata: &Kata) -> bool {
    let mine: Vec<&Session> = sessions.iter().filter(|s| s.kata == kata.slug).collect();
    stats::status(&mine) == "solved"
}

fn has_bank(kata: &Kata) -> bool {
    bank::answers(kata, Side::Wrong).is_ok_and(|a| !a.is_empty())
}

pub fn run(ws: &Workspace, request: Request<'_>) -> Result<ExitCode> {
    let history = History::open(ws)?;
    let sessions = history.sessions(None)?;
    let eligible = |k: &Kata| has_bank(k) && (request.spoil || solved(&sessions, k));
    let kata = match interview::pick_kata(
        ws,
        &history,
        request.kata,
        &request.filter,
        &eligible,
        request.seed,
    ) {
        Ok(kata) => kata,
        Err(err) if request.kata.is_none() => bail!(
            "{err:#}\n  a hunt is offered on the katas you have solved; \
             `cargo xtask hunt <kata> --spoil` hunts on any"
        ),
        Err(err) => return Err(err),
    };
    let answers = bank::answers(&kata, Side::Wrong)?;
    if answers.is_empty() {
        eprintln!(
            "{} {} has no known-wrong answers to hunt in wrong/",
            style("error:").red().bold(),
            kata.slug
        );
        return Ok(ExitCode::from(USAGE));
    }
    if !solved(&sessions, &kata) {
        if !request.spoil {
            eprintln!(
                "{} you have not solved {} yet, and a hunt plants most of its reference solution in your src/.\n  \
                 Solve it first (`cargo xtask kata {}`), or pass --spoil to hunt anyway.",
                style("error:").red().bold(),
                kata.slug,
                kata.slug
            );
            return Ok(ExitCode::from(USAGE));
        }
        println!(
            "{} this hunt plants the reference solution of {} (with one bug) in your src/: reading it spoils the kata.\n",
            style("--spoil:").yellow().bold(),
            kata.slug
        );
    }
    let hunted: Vec<&str> = sessions
        .iter()
        .filter(|s| s.kind == Kind::Hunt && s.kata == kata.slug)
        .filter_map(|s| s.planted.as_deref())
        .collect();
    let seed = request.seed.unwrap_or_else(crate::history::now);
    let Some(answer) = choose_answer(&answers, &hunted, seed) else {
        bail!("{} has no wrong answer to plant", kata.slug);
    };
    let header = answer.header()?;
    let planted = without_bug_notes(answer.materialise(&kata)?);
    let buggy_files = changed_files(&kata, answer, &planted)?;
    let minutes = request
        .minutes
        .unwrap_or((kata.meta.minutes / 2).max(10))
        .max(1);
    let limit = Duration::from_secs(u64::from(minutes) * 60);

    if let Some(dir) = attempts::replace(ws, &kata, &planted)? {
        println!("Your attempt is archived in {}", dir.display());
    }
    print_brief(ws, &kata, minutes, header.symptom.as_deref())?;

    let session = history.start(Kind::Hunt, &kata.slug, Mode::Kata, Some(minutes))?;
    history.set_planted(session, &answer.label())?;
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
    let clock = WallClock(Instant::now());
    let mut screen = HuntScreen::new(buggy_files);
    let mut judge = CheckJudge {
        ws,
        subject: Subject::learner(&kata),
        opts: Options {
            color: console::colors_enabled(),
            replays: Some(Replays::default()),
            ..Options::default()
        },
        bar: screen.bar.clone(),
    };
    let clues: Vec<String> = CLUES.iter().map(|c| (*c).to_owned()).collect();
    let ended = interview::conduct(
        limit,
        &clues,
        &clock,
        &mut events,
        &mut judge,
        &mut screen,
        &mut |verdict| history.progress(session, verdict),
    )?;
    screen.bar.finish_and_clear();
    let score = score(&ended, limit);
    history.finish(
        session,
        ended.outcome,
        ended.verdict.as_ref(),
        Some(ended.hints),
        Some(score),
    )?;
    print_report(&kata, answer, &ended, score, limit)?;
    Ok(if ended.outcome == Outcome::Solved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    })
}

/// The planted files without the `// BUG: ...` notes a patch leaves for
/// its readers: in a hunt they would give the bug away. A note is a comment
/// that starts with `BUG`, with the comment lines that continue it, or the
/// same at the end of a line of code.
pub fn without_bug_notes(files: bank::Files) -> bank::Files {
    files
        .into_iter()
        .map(|(path, bytes)| {
            let Ok(text) = String::from_utf8(bytes.clone()) else {
                return (path, bytes);
            };
            let mut out = String::with_capacity(text.len());
            let mut in_note = false;
            for line in text.split_inclusive('\n') {
                let trimmed = line.trim_start();
                if trimmed.starts_with("// BUG") {
                    in_note = true;
                    continue;
                }
                if in_note && trimmed.starts_with("//") && !trimmed.starts_with("///") {
                    continue;
                }
                in_note = false;
                match line.find("// BUG") {
                    Some(at) => {
                        out.push_str(line[..at].trim_end());
                        out.push('\n');
                    }
                    None => out.push_str(line),
                }
            }
            (path, out.into_bytes())
        })
        .collect()
}

/// The files where the planted code differs from the reference: where the
/// bug is, for the last clue.
fn changed_files(kata: &Kata, answer: &Answer, planted: &bank::Files) -> Result<Vec<String>> {
    if answer.form == bank::Form::File {
        return Ok(vec!["src/lib.rs".to_owned()]);
    }
    let reference = bank::reference_files(kata)?;
    Ok(planted
        .iter()
        .filter(|(path, bytes)| !reference.iter().any(|(p, b)| p == path && b == bytes))
        .map(|(path, _)| path.clone())
        .collect())
}

fn print_brief(ws: &Workspace, kata: &Kata, minutes: u32, symptom: Option<&str>) -> Result<()> {
    let readme = std::fs::read_to_string(kata.readme())?;
    println!(
        "{}",
        style(format!(
            "Bug hunt · {} · {minutes} minutes",
            kata.meta.title
        ))
        .bold()
        .underlined()
    );
    if let Some(problem) = section(&readme, "Problem") {
        println!("\n{}\n{}", style("The service").bold(), problem.trim());
    }
    println!(
        "\n{}\n{}",
        style("Reported from production").bold(),
        symptom.unwrap_or("the spec fails, and nobody knows why")
    );
    println!(
        "\nThe code in {} works except for one bug. Find it and fix it: every save re-runs the spec.\n\
         Type {} and Enter for a clue (it costs points), {} to give up.\n",
        style(ws.relative(&kata.dir.join("src")).display())
            .bold()
            .cyan(),
        style("h").bold(),
        style("q").bold()
    );
    Ok(())
}

fn print_report(
    kata: &Kata,
    answer: &Answer,
    ended: &Ended,
    score: i64,
    limit: Duration,
) -> Result<()> {
    let outcome = match ended.outcome {
        Outcome::Solved => style("fixed").green().bold(),
        Outcome::Timeout => style("time is up").yellow().bold(),
        _ => style("abandoned").red().bold(),
    };
    println!(
        "\n{} {} · {}",
        style("Bug hunt over:").bold(),
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
    println!("  clues used     {}", ended.hints);
    println!("  score          {score}");
    if ended.outcome == Outcome::Solved {
        println!("\n{}", style("The bug, as planted:").bold());
        println!("{}", answer.header()?.explanation());
        let diff = answer.diff()?;
        if !diff.is_empty() {
            println!("\n{diff}");
        }
    } else {
        println!(
            "\nThe bug stays hidden for another try. To see it: cargo xtask wrong {} {} --diff",
            kata.slug, answer.name
        );
    }
    println!(
        "\n`cargo xtask reset {}` puts the stub back (this hunt's code is archived first).",
        kata.slug
    );
    Ok(())
}

/// The interview's screen, with the failing specs' names withheld until
/// clues are taken.
struct HuntScreen {
    bar: ProgressBar,
    passed: String,
    clues: usize,
    last: Option<Verdict>,
    buggy_files: Vec<String>,
}

impl HuntScreen {
    fn new(buggy_files: Vec<String>) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        HuntScreen {
            bar,
            passed: String::new(),
            clues: 0,
            last: None,
            buggy_files,
        }
    }

    fn status(&self, left: Duration) {
        self.bar.set_message(format!(
            "{} left · {} · h⏎ clue · q⏎ give up",
            clock_face(left),
            self.passed
        ));
    }

    /// What the clues taken so far reveal of `verdict`.
    fn revealed(&self, verdict: &Verdict) -> String {
        reveal(verdict, self.clues, &self.buggy_files)
    }
}

/// The part of a verdict that `clues` clues reveal: nothing but the count
/// with none; the failing specs' names with one; the first failure's
/// message with two; the file of the bug with three.
pub fn reveal(verdict: &Verdict, clues: usize, buggy_files: &[String]) -> String {
    let mut out = String::new();
    if let Some(errors) = &verdict.compile_error {
        // A compile error is the learner's own doing: always shown whole.
        out.push_str(&format!("\n  does not compile:\n{}", errors.trim_end()));
        return out;
    }
    let failures: Vec<_> = verdict.failures().collect();
    if clues >= 1 {
        for failure in failures.iter().take(8) {
            let mark = if failure.status == Status::Timeout {
                "⏱"
            } else {
                "✗"
            };
            out.push_str(&format!("\n  {mark} {}", failure.name));
        }
        if failures.len() > 8 {
            out.push_str(&format!("\n  … and {} more", failures.len() - 8));
        }
    }
    if clues >= 2
        && let Some(first) = failures.first()
    {
        for line in first.message.lines().take(12) {
            out.push_str(&format!("\n      {line}"));
        }
    }
    if clues >= 3 && !buggy_files.is_empty() {
        out.push_str(&format!("\n  the bug is in {}", buggy_files.join(", ")));
    }
    out
}

impl Screen for HuntScreen {
    fn verdict(&mut self, shown: &Verdict, left: Duration) {
        self.passed = format!("{}/{} specs pass", shown.passed, shown.total);
        let lines = format!(
            "{} left · {}{}",
            clock_face(left),
            self.passed,
            self.revealed(shown)
        );
        self.bar.suspend(|| println!("{lines}\n"));
        self.last = Some(shown.clone());
        self.status(left);
    }

    fn tick(&mut self, left: Duration) {
        self.status(left);
    }

    fn hint(&mut self, number: usize, total: usize, text: Option<&str>) {
        let line = match text {
            Some(text) => {
                self.clues = number;
                let shown = self
                    .last
                    .as_ref()
                    .map(|v| self.revealed(v))
                    .unwrap_or_default();
                format!(
                    "{} {text}:{shown}",
                    style(format!("Clue {number}/{total} (-10 points)"))
                        .bold()
                        .cyan()
                )
            }
            None => "No more clues.".to_owned(),
        };
        self.bar.suspend(|| println!("{line}\n"));
    }

    fn followups_revealed(&mut self, _count: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bank::Form;
    use crate::verdict::SpecResult;
    use std::path::PathBuf;

    fn answer(name: &str) -> Answer {
        Answer {
            name: name.to_owned(),
            path: PathBuf::from(format!("wrong/{name}.patch")),
            side: Side::Wrong,
            form: Form::Patch,
        }
    }

    fn ended(outcome: Outcome, used_minutes: u64, hints: u32) -> Ended {
        Ended {
            outcome,
            verdict: None,
            used: Duration::from_secs(used_minutes * 60),
            hints,
        }
    }

    #[test]
    fn a_hunt_scores_only_when_the_bug_is_fixed() {
        let limit = Duration::from_secs(20 * 60);
        assert_eq!(score(&ended(Outcome::Timeout, 20, 0), limit), 0);
        assert_eq!(score(&ended(Outcome::Abandoned, 3, 0), limit), 0);
        assert_eq!(score(&ended(Outcome::Solved, 10, 0), limit), 80);
        assert_eq!(score(&ended(Outcome::Solved, 10, 2), limit), 60);
        assert_eq!(score(&ended(Outcome::Solved, 20, 9), limit), 0);
    }

    #[test]
    fn the_planted_bug_is_one_not_hunted_before_and_the_seed_decides() {
        let answers = [answer("a"), answer("b"), answer("c")];
        let hunted = ["wrong/a.patch", "wrong/c.patch"];
        for seed in [0, 1, u64::MAX] {
            assert_eq!(
                choose_answer(&answers, &hunted, seed).map(|a| a.name.as_str()),
                Some("b")
            );
        }
        let all = ["wrong/a.patch", "wrong/b.patch", "wrong/c.patch"];
        let picks: std::collections::BTreeSet<_> = (0..32)
            .filter_map(|seed| choose_answer(&answers, &all, seed).map(|a| a.name.clone()))
            .collect();
        assert_eq!(picks.len(), 3, "once all are hunted, any comes back");
        assert_eq!(
            choose_answer(&answers, &all, 7).map(|a| &a.name),
            choose_answer(&answers, &all, 7).map(|a| &a.name)
        );
        assert!(choose_answer(&[], &[], 1).is_none());
    }

    #[test]
    fn bug_notes_are_taken_out_of_the_planted_code() {
        let files = vec![(
            "src/lib.rs".to_owned(),
            b"fn live(age: u64, ttl: u64) -> bool {\n    // BUG: `<=` keeps it one instant\n    // too long.\n    age <= ttl // BUG: should be <\n}\n// A comment that stays.\n"
                .to_vec(),
        )];
        let planted = without_bug_notes(files);
        assert_eq!(
            String::from_utf8_lossy(&planted[0].1),
            "fn live(age: u64, ttl: u64) -> bool {\n    age <= ttl\n}\n// A comment that stays.\n"
        );
    }

    #[test]
    fn clues_reveal_names_then_the_message_then_the_file() {
        let fail = SpecResult {
            name: "refuses_an_overdraft".to_owned(),
            status: Status::Fail,
            message: "balance went below zero".to_owned(),
            suite: "spec".to_owned(),
        };
        let pass = SpecResult {
            name: "moves_money".to_owned(),
            status: Status::Pass,
            message: String::new(),
            suite: "spec".to_owned(),
        };
        let verdict = Verdict::new("bank", Mode::Kata, vec![fail, pass]);
        let files = vec!["src/lib.rs".to_owned()];
        assert_eq!(reveal(&verdict, 0, &files), "");
        let one = reveal(&verdict, 1, &files);
        assert!(one.contains("refuses_an_overdraft") && !one.contains("below zero"));
        assert!(!one.contains("moves_money"), "passing specs are not news");
        let two = reveal(&verdict, 2, &files);
        assert!(two.contains("below zero") && !two.contains("src/lib.rs"));
        assert!(reveal(&verdict, 3, &files).contains("the bug is in src/lib.rs"));
    }
}
