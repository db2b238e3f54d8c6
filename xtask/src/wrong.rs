//! `cargo xtask wrong`: the spec against a kata's known-wrong answers, each
//! with the bug it carries and what catches it; `--show` and `--diff` to read
//! one; `--repeat N` to prove that every catch happens on every run.

use std::process::ExitCode;

use anyhow::Result;
use console::style;

use crate::bank::{self, Answer, Form, Side};
use crate::catalog::{Kata, Workspace, closest};
use crate::check::{self, LoomPolicy, Options, Subject};
use crate::commands::{exit_code, run_check};
use crate::ui::{self, Progress};
use crate::verify::caught_by;
use crate::{USAGE, scratch};

/// What to do with the chosen answers.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// Judge each once, with the specs that catch it.
    Judge,
    /// Print the buggy source (the patched reference files).
    Show,
    /// Print the patch.
    Diff,
    /// Judge each this many times, with a different seed each run.
    Repeat(u32),
}

pub fn run(ws: &Workspace, slug: &str, name: Option<&str>, action: Action) -> Result<ExitCode> {
    let kata = ws.kata(slug)?;
    let answers = bank::answers(&kata, Side::Wrong)?;
    let chosen: Vec<Answer> = match name {
        None => answers,
        Some(name) => match find(&kata, &answers, name) {
            Some(answer) => vec![answer],
            None => return Ok(ExitCode::from(USAGE)),
        },
    };
    if chosen.is_empty() {
        println!("{} has no known-wrong answers in wrong/.", kata.slug);
        return Ok(ExitCode::SUCCESS);
    }
    match action {
        Action::Show => {
            for answer in &chosen {
                show(&kata, answer)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Diff => {
            for answer in &chosen {
                diff(&kata, answer)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Judge => judge(ws, &kata, &chosen),
        Action::Repeat(times) => repeat(ws, &kata, &chosen, times),
    }
}

/// The answer called `name` (with or without `wrong/` and its extension), or
/// `None` after saying which names there are.
fn find(kata: &Kata, answers: &[Answer], name: &str) -> Option<Answer> {
    let name = name.trim_start_matches("wrong/");
    let stem = name
        .strip_suffix(".patch")
        .or_else(|| name.strip_suffix(".rs"))
        .unwrap_or(name);
    if let Some(answer) = answers.iter().find(|a| a.name == stem) {
        return Some(answer.clone());
    }
    let names: Vec<&str> = answers.iter().map(|a| a.name.as_str()).collect();
    eprintln!(
        "{} {} has no wrong answer `{stem}`",
        style("error:").red().bold(),
        kata.slug
    );
    if let Some(suggestion) = closest(stem, &names) {
        eprintln!("  did you mean `{suggestion}`?");
    }
    eprintln!("  its wrong answers: {}", names.join(", "));
    None
}

fn title(answer: &Answer) -> Result<()> {
    let header = answer.header()?;
    println!("{}", style(answer.label()).bold().magenta());
    println!("{}", header.text);
    Ok(())
}

/// The files the answer changes, whole, as the compiler sees them.
fn show(kata: &Kata, answer: &Answer) -> Result<()> {
    title(answer)?;
    let files = answer.materialise(kata)?;
    let reference = bank::reference_files(kata)?;
    for (path, bytes) in &files {
        let changed = match answer.form {
            Form::Patch => !reference.iter().any(|(p, b)| p == path && b == bytes),
            Form::File => path == "src/lib.rs",
        };
        if changed {
            println!("\n{}", style(format!("// {path}")).bold());
            print!("{}", String::from_utf8_lossy(bytes));
        }
    }
    println!();
    Ok(())
}

/// The patch; for a whole-file answer, the file itself.
fn diff(kata: &Kata, answer: &Answer) -> Result<()> {
    title(answer)?;
    println!();
    match answer.form {
        Form::Patch => print!("{}", answer.diff()?),
        Form::File => {
            println!(
                "{}",
                style("(a whole file, not a patch: its bug is a different design)").dim()
            );
            show_file_body(kata, answer)?;
        }
    }
    Ok(())
}

fn show_file_body(kata: &Kata, answer: &Answer) -> Result<()> {
    for (path, bytes) in answer.materialise(kata)? {
        if path == "src/lib.rs" {
            print!("{}", String::from_utf8_lossy(&bytes));
        }
    }
    Ok(())
}

fn judge(ws: &Workspace, kata: &Kata, chosen: &[Answer]) -> Result<ExitCode> {
    let opts = Options {
        color: console::colors_enabled(),
        ..Options::default()
    };
    let mut all_caught = true;
    let subjects = prebuilt(ws, kata, chosen)?;
    for (answer, subject) in chosen.iter().zip(subjects) {
        let header = answer.header()?;
        let summary = header.text.lines().next().unwrap_or_default().to_owned();
        println!(
            "{} {}",
            style(answer.label()).bold().magenta(),
            summary.trim()
        );
        if let Some(symptom) = &header.symptom {
            println!("  {} {symptom}", style("symptom:").dim());
        }
        let verdict = run_check(ws, &subject, &opts)?;
        all_caught &= verdict.failed > 0 || verdict.compile_error.is_some();
        ui::print_verdict_as(&verdict, "this wrong answer", 1);
        println!();
    }
    Ok(exit_code(all_caught))
}

/// The scratch crates of the chosen answers, built in one Cargo invocation.
fn prebuilt(ws: &Workspace, kata: &Kata, chosen: &[Answer]) -> Result<Vec<Subject>> {
    let subjects = scratch::bank(ws, kata, chosen)?
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let normal = kata.normal_suites()?;
    scratch::build(ws, kata, &subjects.iter().collect::<Vec<_>>(), &normal)?;
    Ok(subjects)
}

/// Each answer `times` times, each run with its own seed: a catch that
/// depends on the seed or the scheduler shows as a run that missed.
fn repeat(ws: &Workspace, kata: &Kata, chosen: &[Answer], times: u32) -> Result<ExitCode> {
    let times = times.max(1);
    let mut unreliable = Vec::new();
    let subjects = prebuilt(ws, kata, chosen)?;
    for (answer, subject) in chosen.iter().zip(subjects) {
        let mut caught = 0;
        let mut catchers = String::new();
        for run in 0..times {
            let opts = Options {
                seed: check::DEFAULT_SEED.wrapping_add(u64::from(run)),
                loom: LoomPolicy::OnlyAfterGreen,
                until_first_failure: true,
                ..Options::default()
            };
            let progress = Progress::new(&format!(
                "{} · {} · run {}/{times}",
                kata.slug,
                answer.label(),
                run + 1
            ));
            let verdict = check::check(ws, &subject, &opts, &progress);
            progress.finish();
            let verdict = verdict?.verdict;
            if verdict.compile_error.is_some() {
                println!(
                    "{} {} does not compile: `cargo xtask wrong {} {}`",
                    style("✗").red(),
                    answer.label(),
                    kata.slug,
                    answer.name
                );
                break;
            }
            if verdict.failed > 0 {
                caught += 1;
                if catchers.is_empty() {
                    catchers = caught_by(&verdict);
                }
            }
        }
        let mark = if caught == times {
            style("✓").green()
        } else {
            unreliable.push(answer.label());
            style("✗").red()
        };
        println!(
            "{mark} {}: caught in {caught}/{times} runs{}",
            answer.label(),
            if catchers.is_empty() {
                String::new()
            } else {
                format!(" (by {catchers})")
            }
        );
    }
    if unreliable.is_empty() {
        println!(
            "\n{}: every wrong answer caught in {times}/{times} runs",
            kata.slug
        );
    } else {
        println!(
            "\n{}: caught in fewer than {times} runs: {}. A catch that depends on the seed or the scheduler is not a catch: force the case.",
            kata.slug,
            unreliable.join(", ")
        );
    }
    Ok(exit_code(unreliable.is_empty()))
}
