//! `cargo xtask measure`: edit-to-verdict, as a learner lives it. Each run
//! touches a source file (the stub, or the reference with `--solution`) and
//! times `cargo xtask check` in a fresh process, cargo's own start-up
//! included; `--against` times another command the same way, alternating
//! with ours, so that both see the same machine (rustlings, say).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::catalog::Workspace;
use crate::ui;

pub struct Request<'a> {
    pub slug: &'a str,
    pub solution: bool,
    pub edits: u32,
    /// Another command to time beside ours, run by `sh -c`.
    pub against: Option<&'a str>,
    /// The file to touch before each run of `against`.
    pub touch: Option<&'a Path>,
}

pub fn run(ws: &Workspace, request: &Request<'_>) -> Result<ExitCode> {
    let kata = ws.kata(request.slug)?;
    let edited = if request.solution {
        kata.solution_dir.join("src").join("lib.rs")
    } else {
        kata.stub_file()
    };
    if request.against.is_some() != request.touch.is_some() {
        bail!("--against and --touch go together: the command to time, and the file it watches");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let edits = request.edits.max(1);
    for i in 0..edits {
        let mut check = Command::new(&cargo);
        check.args(["xtask", "check", &kata.slug]);
        if request.solution {
            check.arg("--solution");
        }
        check.current_dir(&ws.root);
        let took = timed_edit(&edited, &mut check)?;
        eprintln!(
            "edit {}/{edits}: cargo xtask check {} in {}",
            i + 1,
            kata.slug,
            seconds(took)
        );
        ours.push(took);
        if let (Some(command), Some(touch)) = (request.against, request.touch) {
            let mut other = Command::new("sh");
            other.args(["-c", command]).current_dir(&ws.root);
            let took = timed_edit(touch, &mut other)?;
            eprintln!("edit {}/{edits}: `{command}` in {}", i + 1, seconds(took));
            theirs.push(took);
        }
    }
    let mode = if request.solution { "solution" } else { "kata" };
    println!(
        "cargo xtask check {} ({mode}): {}",
        kata.slug,
        summary(&mut ours)
    );
    if let Some(command) = request.against {
        println!("`{command}`: {}", summary(&mut theirs));
        let ratio = median(&mut ours).as_secs_f64() / median(&mut theirs).as_secs_f64().max(1e-9);
        println!("ratio of medians: {ratio:.2}×");
    }
    Ok(ExitCode::SUCCESS)
}

/// Marks `file` as saved now, then times `command` to its end. Its output
/// is not the point and stays out of the way.
fn timed_edit(file: &Path, command: &mut Command) -> Result<Duration> {
    touch(file)?;
    let started = Instant::now();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {command:?}"))?;
    Ok(started.elapsed())
}

/// What an editor's save does to the build: a newer modification time.
fn touch(file: &Path) -> Result<()> {
    let handle = std::fs::File::options()
        .append(true)
        .open(file)
        .with_context(|| format!("opening {}", file.display()))?;
    handle
        .set_modified(SystemTime::now())
        .with_context(|| format!("touching {}", file.display()))
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// `median 0.81 s (min 0.77 s, max 0.95 s, 7 edits)`.
pub fn summary(times: &mut [Duration]) -> String {
    times.sort();
    let (Some(min), Some(max)) = (times.first().copied(), times.last().copied()) else {
        return "no runs".to_owned();
    };
    format!(
        "median {} (min {}, max {}, {} edits)",
        seconds(median(times)),
        seconds(min),
        seconds(max),
        times.len()
    )
}

fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        ui::format_duration(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_median_and_the_extremes() {
        let mut times: Vec<Duration> = [0.9, 0.7, 1.5, 0.8, 0.75]
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect();
        assert_eq!(
            summary(&mut times),
            "median 0.80 s (min 0.70 s, max 1.50 s, 5 edits)"
        );
        assert_eq!(summary(&mut []), "no runs");
    }
}
