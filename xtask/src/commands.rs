//! The short commands: list, check, solution, hint, reset, bless, test.
//! `kata` lives in practice.rs, `verify` in verify.rs, `wrong` in wrong.rs.

use std::io::Write;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use console::style;

use crate::catalog::{Difficulty, Kata, Workspace, closest};
use crate::check::{self, Options, Subject};
use crate::history::{self, History};
use crate::replay::Replays;
use crate::ui::{self, Progress};
use crate::verdict::Verdict;
use crate::{FAILED, USAGE, attempts, pristine, review, stats, verify};

/// Which katas a command is about: a track, a tag, a difficulty.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub track: Option<&'a str>,
    pub tag: Option<&'a str>,
    pub difficulty: Option<Difficulty>,
}

impl Filter<'_> {
    pub fn matches(&self, kata: &Kata) -> bool {
        self.track.is_none_or(|t| kata.meta.track == t)
            && self
                .tag
                .is_none_or(|t| kata.meta.tags.iter().any(|kt| kt == t))
            && self
                .difficulty
                .as_ref()
                .is_none_or(|d| &kata.meta.difficulty == d)
    }

    /// A track or tag that no kata has is a typo: say so, with the closest
    /// name and the list, instead of showing nothing.
    pub fn check_names(&self, katas: &[Kata]) -> std::result::Result<(), String> {
        let check = |kind: &str, name: Option<&str>, known: Vec<&str>| {
            let Some(name) = name else {
                return Ok(());
            };
            let mut known = known;
            known.sort();
            known.dedup();
            if known.contains(&name) {
                return Ok(());
            }
            let mut message = format!("no kata has the {kind} `{name}`");
            if let Some(suggestion) = closest(name, &known) {
                message.push_str(&format!("\n  did you mean `{suggestion}`?"));
            }
            message.push_str(&format!("\n  {kind}s: {}", known.join(", ")));
            Err(message)
        };
        check(
            "track",
            self.track,
            katas.iter().map(|k| k.meta.track.as_str()).collect(),
        )?;
        check(
            "tag",
            self.tag,
            katas
                .iter()
                .flat_map(|k| k.meta.tags.iter().map(String::as_str))
                .collect(),
        )
    }
}

pub fn list(ws: &Workspace, filter: &Filter<'_>) -> Result<ExitCode> {
    let katas = ws.katas()?;
    if let Err(message) = filter.check_names(&katas) {
        eprintln!("{} {message}", style("error:").red().bold());
        return Ok(ExitCode::from(USAGE));
    }
    let history = History::open(ws)?;
    let sessions = history.sessions(None)?;
    let now = history::now();
    let rows: Vec<&Kata> = katas.iter().filter(|k| filter.matches(k)).collect();
    // Columns as wide as their longest entry; the origin only matters once
    // there are packs.
    let slug_width = rows.iter().map(|k| k.slug.len()).max().unwrap_or(0).max(4);
    let title_width = rows
        .iter()
        .map(|k| k.meta.title.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let show_origin = !ws.packs.is_empty();
    let origin_width = if show_origin {
        rows.iter()
            .map(|k| k.origin.to_string().len())
            .max()
            .unwrap_or(0)
            + 2
    } else {
        0
    };
    let track_width = rows
        .iter()
        .map(|k| k.meta.track.len())
        .max()
        .unwrap_or(0)
        .max(5);
    let header = format!(
        "{:<slug_width$}  {:<title_width$}  {:<track_width$}  {:<6}  {:>3}  {:<18}  {:<14}  {:<origin_width$}TAGS",
        "KATA",
        "TITLE",
        "TRACK",
        "LEVEL",
        "MIN",
        "STATUS",
        "REVIEW",
        if show_origin { "ORIGIN" } else { "" }
    );
    println!("{}", style(header).bold());
    for kata in &rows {
        let mine: Vec<&history::Session> =
            sessions.iter().filter(|s| s.kata == kata.slug).collect();
        let status = stats::status(&mine);
        let status = match status.as_str() {
            "solved" => style(format!("{status:<18}")).green(),
            "not started" => style(format!("{status:<18}")).dim(),
            _ => style(format!("{status:<18}")).yellow(),
        };
        let review = history
            .review(&kata.slug)?
            .map_or_else(|| "-".to_owned(), |r| review::describe_due(&r, now));
        let review = if review.starts_with("due today") || review.starts_with("overdue") {
            style(format!("{review:<14}")).magenta().bold()
        } else {
            style(format!("{review:<14}")).dim()
        };
        let origin = if show_origin {
            kata.origin.to_string()
        } else {
            String::new()
        };
        println!(
            "{:<slug_width$}  {:<title_width$}  {:<track_width$}  {:<6}  {:>3}  {status}  {review}  {origin:<origin_width$}{}",
            kata.slug,
            kata.meta.title,
            kata.meta.track,
            kata.meta.difficulty.to_string(),
            kata.meta.minutes,
            kata.meta.tags.join(", ")
        );
    }
    if rows.is_empty() {
        println!("(no kata matches)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one check with a progress bar.
pub fn run_check(ws: &Workspace, subject: &Subject, opts: &Options) -> Result<Verdict> {
    let progress = Progress::new(&subject.kata.slug);
    let report = check::check(ws, subject, opts, &progress);
    progress.finish();
    Ok(report?.verdict)
}

pub fn check(
    ws: &Workspace,
    slugs: &[String],
    solution: bool,
    json: bool,
    seed: u64,
) -> Result<ExitCode> {
    // Every name is checked before anything runs: a typo in the third name
    // should not cost the first two checks.
    let katas = slugs
        .iter()
        .map(|s| ws.kata(s))
        .collect::<Result<Vec<_>>>()?;
    let opts = Options {
        seed,
        color: !json && console::colors_enabled(),
        // The last check's build, run again without Cargo when it can be.
        replays: Some(Replays::default()),
        ..Options::default()
    };
    let history = History::open(ws)?;
    let mut all_pass = true;
    for kata in &katas {
        let subject = Subject::checked(kata, solution);
        let started = std::time::Instant::now();
        let verdict = run_check(ws, &subject, &opts)?;
        history.record_check(&verdict, started.elapsed().as_secs())?;
        all_pass &= verdict.is_pass();
        if json {
            let line = serde_json::to_string(&verdict)?;
            if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
                // A reader that stopped listening (`| head`) is not an error.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    break;
                }
                return Err(e.into());
            }
        } else {
            ui::print_verdict(&verdict, 3);
        }
    }
    Ok(exit_code(all_pass))
}

pub fn exit_code(pass: bool) -> ExitCode {
    if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FAILED)
    }
}

pub fn solution(ws: &Workspace, slug: &str) -> Result<ExitCode> {
    let kata = ws.kata(slug)?;
    println!(
        "The reference solution lives in {}",
        style(kata.solution_dir.join("src").display()).bold()
    );
    let opts = Options {
        color: console::colors_enabled(),
        ..Options::default()
    };
    let verdict = run_check(ws, &Subject::reference(&kata), &opts)?;
    ui::print_verdict(&verdict, 3);
    Ok(exit_code(verdict.is_pass()))
}

pub fn hint(ws: &Workspace, slug: &str) -> Result<ExitCode> {
    let kata = ws.kata(slug)?;
    let hints = &kata.meta.hints;
    if hints.is_empty() {
        println!("{} has no hints.", kata.slug);
        return Ok(ExitCode::SUCCESS);
    }
    let shown = History::open(ws)?.next_hint(&kata.slug, hints.len())?;
    for (i, hint) in hints.iter().enumerate().take(shown) {
        let number = format!("Hint {}/{}", i + 1, hints.len());
        if i + 1 == shown {
            println!("{} {hint}", style(number).bold().cyan());
        } else {
            println!("{} {}", style(number).dim(), style(hint).dim());
        }
    }
    if shown == hints.len() {
        println!(
            "\nThat was the last hint. The reference solution is in {}.",
            kata.solution_dir.join("src").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reset(ws: &Workspace, slug: &str) -> Result<ExitCode> {
    let kata = ws.kata(slug)?;
    match attempts::reset(ws, &kata)? {
        Some(dir) => println!(
            "Your attempt is archived in {}\n{} is the pristine stub again.",
            style(dir.display()).bold(),
            kata.stub_file().display()
        ),
        None => println!(
            "{} was already the pristine stub: nothing to archive.",
            kata.dir.join("src").display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn bless(ws: &Workspace, slugs: &[String]) -> Result<ExitCode> {
    for slug in slugs {
        let kata = ws.kata(slug)?;
        let entries = pristine::bless(&kata)?;
        println!(
            "{}: recorded {} pristine files in {}",
            kata.slug,
            entries.len(),
            pristine::LOCK_FILE
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// README's test command: the CLI's own tests, then the gate on every kata.
pub fn test(ws: &Workspace) -> Result<ExitCode> {
    println!(
        "{}",
        style("== the CLI's and the spec probes' own tests: cargo test -p xtask -p spec-probes --all-features").bold()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = std::time::Instant::now();
    let status = Command::new(cargo)
        .args([
            "test",
            "--package",
            "xtask",
            "--package",
            "spec-probes",
            "--all-features",
        ])
        .current_dir(&ws.root)
        .status()
        .context("running cargo test -p xtask")?;
    if !status.success() {
        eprintln!(
            "{} the CLI's own tests failed",
            style("error:").red().bold()
        );
        return Ok(ExitCode::from(FAILED));
    }
    println!(
        "\n{} {}",
        style("== the gate on every kata: cargo xtask verify").bold(),
        style(format!(
            "(the CLI's tests took {})",
            ui::format_duration(started.elapsed())
        ))
        .dim()
    );
    verify::run(ws, &[])
}
