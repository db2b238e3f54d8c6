//! `cargo xtask kata <slug>`: the problem, then the spec against the
//! learner's code, re-run on every save until it all passes.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use console::{Term, style};
use notify::{Event, RecursiveMode, Watcher};

use crate::catalog::{Kata, Workspace};
use crate::check::{Options, Subject};
use crate::commands::{exit_code, run_check};
use crate::{attempts, ui};

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
        ..Options::default()
    };
    let subject = Subject::learner(&kata);
    let started = Instant::now();
    if !watch {
        let verdict = run_check(ws, &subject, &opts)?;
        ui::print_verdict(&verdict, 3);
        return Ok(exit_code(verdict.is_pass()));
    }

    let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher = notify::recommended_watcher(tx).context("starting the file watcher")?;
    for path in [kata.dir.join("src"), kata.dir.join("tests")] {
        if path.exists() {
            watcher
                .watch(&path, RecursiveMode::Recursive)
                .with_context(|| format!("watching {}", path.display()))?;
        }
    }
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
                    relative(ws, &kata.stub_file()).display(),
                    ui::format_duration(started.elapsed())
                ))
                .dim()
            );
        }
        first = false;
        let verdict = run_check(ws, &subject, &opts)?;
        ui::print_verdict(&verdict, 3);
        if verdict.is_pass() {
            println!(
                "\n{} in {} this session. `cargo xtask list` shows what to try next.",
                style("Solved").green().bold(),
                ui::format_duration(started.elapsed())
            );
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "\n{}",
            style(format!(
                "Watching {}: save to re-run · `cargo xtask hint {}` for a hint · Ctrl-C to stop",
                relative(ws, &kata.dir).display(),
                kata.slug
            ))
            .dim()
        );
        wait_for_a_save(&rx)?;
    }
}

/// Blocks until a file is written, created or removed, then lets the burst
/// of events an editor makes for one save settle, so it costs one run.
/// Reads are ignored: the check itself reads the spec files.
fn wait_for_a_save(rx: &mpsc::Receiver<notify::Result<Event>>) -> Result<()> {
    let is_save = |event: &notify::Result<Event>| match event {
        Ok(event) => event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove(),
        // A watcher error (a file vanishing mid-save, say) is a reason to look again.
        Err(_) => true,
    };
    loop {
        let event = rx.recv().context("the file watcher stopped")?;
        if is_save(&event) {
            break;
        }
    }
    while rx.recv_timeout(Duration::from_millis(100)).is_ok() {}
    Ok(())
}

fn relative<'a>(ws: &Workspace, path: &'a Path) -> &'a Path {
    path.strip_prefix(&ws.root).unwrap_or(path)
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
        style(relative(ws, &kata.stub_file()).display())
            .bold()
            .cyan(),
        relative(ws, &kata.readme()).display()
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
