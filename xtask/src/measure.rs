//! `cargo xtask measure`: edit-to-verdict, as a learner lives it. Each edit
//! touches a source file (the stub, or the reference with `--solution`) and
//! times `cargo xtask check` in a fresh process, cargo's own start-up
//! included. With `--warm`, each edit is also timed the way the watch mode
//! of `cargo xtask kata` sees it: this process stays up, its file watcher
//! notices the touch, lets it settle and runs the same check. `--against`
//! times another command the same way, alternating with ours, so that all
//! see the same machine (rustlings, say).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::catalog::{Kata, Workspace};
use crate::check::{Options, Subject};
use crate::replay::Replays;
use crate::{commands, ui, watch};

pub struct Request<'a> {
    pub slug: &'a str,
    pub solution: bool,
    pub edits: u32,
    /// Time the watch mode's loop too, in this process.
    pub warm: bool,
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
    let mut warm_times = Vec::new();
    let mut theirs = Vec::new();
    let edits = request.edits.max(1);
    let warm = request
        .warm
        .then(|| Warm::start(ws, &edited, request.solution, &kata))
        .transpose()?;
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
        if let Some(warm) = &warm {
            let took = warm.time_edit()?;
            eprintln!(
                "edit {}/{edits}: warm, as in watch mode, in {}",
                i + 1,
                seconds(took)
            );
            warm_times.push(took);
        }
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
    if warm.is_some() {
        println!("warm, as in watch mode: {}", summary(&mut warm_times));
    }
    if let Some(command) = request.against {
        println!("`{command}`: {}", summary(&mut theirs));
        let theirs = median(&mut theirs).as_secs_f64().max(1e-9);
        let ratio = |times: &mut [Duration]| median(times).as_secs_f64() / theirs;
        print!("ratio of medians: {:.2}×", ratio(&mut ours));
        if warm.is_some() {
            print!(", warm {:.2}×", ratio(&mut warm_times));
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// The watch mode's loop, kept in this process: a file watcher on the
/// edited file's directory, and the check a save triggers.
struct Warm<'a> {
    ws: &'a Workspace,
    edited: PathBuf,
    subject: Subject,
    opts: Options,
    saves: mpsc::Receiver<()>,
    _watcher: watch::SaveWatcher,
}

impl<'a> Warm<'a> {
    fn start(ws: &'a Workspace, edited: &Path, solution: bool, kata: &Kata) -> Result<Self> {
        let (tx, saves) = mpsc::channel();
        let dir = edited
            .parent()
            .context("the edited file has no directory")?;
        let watcher = watch::watch_dirs(&[dir.to_path_buf()], move || {
            let _ = tx.send(());
        })?;
        let warm = Warm {
            ws,
            edited: edited.to_path_buf(),
            subject: Subject::checked(kata, solution),
            opts: Options {
                replays: Some(Replays::default()),
                ..Options::default()
            },
            saves,
            _watcher: watcher,
        };
        // What the watch mode does before its first save: one check, which
        // also leaves the build as the first timed edit expects it.
        commands::run_check(ws, &warm.subject, &warm.opts)?;
        Ok(warm)
    }

    /// Touch, the watcher's notice and settling, then the check: what a
    /// learner in watch mode waits for after a save.
    fn time_edit(&self) -> Result<Duration> {
        // The cold runs' touches were noticed too: not this edit's.
        while self.saves.try_recv().is_ok() {}
        touch(&self.edited)?;
        let started = Instant::now();
        watch::next_save(&self.saves)?;
        commands::run_check(self.ws, &self.subject, &self.opts)?;
        Ok(started.elapsed())
    }
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
