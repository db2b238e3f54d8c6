//! `cargo xtask kata <slug>`: the problem, then the spec against the
//! learner's code, re-run on every save until it all passes.

use std::fs;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result};
use console::{Term, style};

use crate::catalog::{Kata, Workspace};
use crate::check::{Options, Subject};
use crate::commands::{exit_code, run_check};
use crate::history::{self, History, Kind, Outcome};
use crate::replay::Replays;
use crate::verdict::{Mode, Verdict};
use crate::{attempts, review, ui, watch};

pub fn run(ws: &Workspace, slug: &str, fresh: bool, watch: bool) -> Result<ExitCode> {
    let kata = ws.kata(slug)?;
    if fresh {
        match attempts::reset(ws, &kata)? {
            Some(dir) => println!(
                "Your previous attempt is archived in {}\n",
                style(dir.display()).bold()
            ),
            None => println!("Starting from the pristine stub.\n"),
        }
    }
    print_problem(ws, &kata)?;
    let opts = Options {
        color: console::colors_enabled(),
        // Each save after the first rebuilds without Cargo's start-up.
        replays: watch.then(Replays::default),
        ..Options::default()
    };
    let subject = Subject::learner(&kata);
    let started = Instant::now();
    let history = History::open(ws)?;
    let session = history.start(Kind::Kata, &kata.slug, Mode::Kata, None)?;
    let conclude = |verdict: &Verdict| -> Result<ExitCode> {
        let outcome = if verdict.is_pass() {
            Outcome::Solved
        } else {
            Outcome::Failed
        };
        history.finish(session, outcome, Some(verdict), None, None)?;
        let hints = history.session_hints(session)?;
        if verdict.is_pass() {
            let performance = review::Performance {
                solved: true,
                passed_fraction: 1.0,
                hints,
                time_ratio: started.elapsed().as_secs_f64() / (f64::from(kata.meta.minutes) * 60.0),
            };
            let next = review::next(
                history.review(&kata.slug)?.as_ref(),
                review::grade(performance),
                history::now(),
            );
            history.set_review(&kata.slug, &next)?;
        }
        Ok(exit_code(verdict.is_pass()))
    };
    if !watch {
        let verdict = run_check(ws, &subject, &opts)?;
        ui::print_verdict(&verdict, 3);
        return conclude(&verdict);
    }

    let (tx, rx) = mpsc::channel();
    let _watcher = watch::watch_saves(&kata, move || {
        let _ = tx.send(());
    })?;
    let term = Term::stdout();
    let mut first = true;
    loop {
        if !first && term.is_term() {
            let _ = term.clear_screen();
            println!(
                "{} {}\n",
                style(&kata.meta.title).bold(),
                style(format!(
                    "· editing {} · {} in",
                    ws.relative(&kata.stub_file()).display(),
                    ui::format_duration(started.elapsed())
                ))
                .dim()
            );
        }
        first = false;
        let verdict = run_check(ws, &subject, &opts)?;
        // The verdict first: the learner waits for it, not for the history.
        ui::print_verdict(&verdict, 3);
        history.progress(session, &verdict)?;
        if verdict.is_pass() {
            println!(
                "\n{} in {} this session. `cargo xtask list` shows what to try next.",
                style("Solved").green().bold(),
                ui::format_duration(started.elapsed())
            );
            return conclude(&verdict);
        }
        println!(
            "\n{}",
            style(format!(
                "Watching {}: save to re-run · `cargo xtask hint {}` for a hint · Ctrl-C to stop",
                ws.relative(&kata.dir).display(),
                kata.slug
            ))
            .dim()
        );
        watch::next_save(&rx)?;
    }
}

/// The `## Problem` section of the kata's README, and where to work.
fn print_problem(ws: &Workspace, kata: &Kata) -> Result<()> {
    let readme = fs::read_to_string(kata.readme())
        .with_context(|| format!("reading {}", kata.readme().display()))?;
    println!(
        "{} {}",
        style(&kata.meta.title).bold().underlined(),
        style(format!(
            "· {} · about {} minutes",
            kata.meta.difficulty, kata.meta.minutes
        ))
        .dim()
    );
    if let Some(problem) = section(&readme, "Problem") {
        println!("\n{}\n", problem.trim());
    }
    println!(
        "Edit {}  (the full problem: {})\n",
        style(ws.relative(&kata.stub_file()).display())
            .bold()
            .cyan(),
        ws.relative(&kata.readme()).display()
    );
    Ok(())
}

/// The body of the `## <title>` section of a markdown document.
pub fn section(markdown: &str, title: &str) -> Option<String> {
    let heading = format!("## {title}");
    let mut lines = markdown.lines().skip_while(|l| l.trim_end() != heading);
    lines.next()?;
    let body: Vec<&str> = lines.take_while(|l| !l.starts_with("## ")).collect();
    Some(body.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::section;

    #[test]
    fn finds_the_body_of_a_readme_section() {
        let md = "# T\n\n## Problem\nA gateway.\nMore.\n\n## API\nfn x()\n";
        assert_eq!(
            section(md, "Problem").as_deref().map(str::trim),
            Some("A gateway.\nMore.")
        );
        assert_eq!(section(md, "API").as_deref().map(str::trim), Some("fn x()"));
        assert_eq!(section(md, "Follow-ups"), None);
    }
}
