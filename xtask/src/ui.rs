//! How results look in a terminal: progress while a check runs, and the
//! verdict after it.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::check::Reporter;
use crate::verdict::{Mode, SpecResult, Status, Verdict};

/// Every [`Progress`] bar, so that several drawn at once (the gate judges
/// three katas at a time) take a line each instead of overwriting each other.
static BARS: LazyLock<MultiProgress> = LazyLock::new(MultiProgress::new);

/// Prints a line of stdout above the progress bars, not through them.
pub fn print_above_bars(line: &str) {
    BARS.suspend(|| println!("{line}"));
}

/// A progress bar on stderr: what cargo is compiling, then `k/n specs pass`
/// as results stream in. Invisible when stderr is not a terminal.
pub struct Progress {
    bar: ProgressBar,
    passed: AtomicUsize,
}

impl Progress {
    pub fn new(label: &str) -> Self {
        let bar = BARS.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_owned());
        bar.set_message("building…");
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress {
            bar,
            passed: AtomicUsize::new(0),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
        BARS.remove(&self.bar);
    }
}

impl Reporter for Progress {
    fn compiling(&self, krate: &str) {
        self.bar.set_message(format!("compiling {krate}"));
    }

    fn running(&self, suite: &str, total: usize) {
        self.bar.set_style(
            ProgressStyle::with_template(
                "{spinner:.cyan} {prefix:.bold} [{bar:30.green/red}] {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("█▌ "),
        );
        self.bar.inc_length(total as u64);
        self.bar.set_message(format!("{} specs running", suite));
    }

    fn finished(&self, result: &SpecResult) {
        if result.status == Status::Pass {
            self.passed.fetch_add(1, Ordering::Relaxed);
        }
        self.bar.inc(1);
        self.bar.set_message(format!(
            "{}/{} specs pass",
            self.passed.load(Ordering::Relaxed),
            self.bar.length().unwrap_or(0)
        ));
    }
}

pub fn subject_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Kata => "your code",
        Mode::Solution => "reference",
    }
}

/// The verdict for a learner: the score, then the first `show` failures in
/// full and the names of the rest.
pub fn print_verdict(verdict: &Verdict, show: usize) {
    print_verdict_as(verdict, subject_label(verdict.mode), show);
}

/// [`print_verdict`] for code named `label` (a known-wrong answer, say).
pub fn print_verdict_as(verdict: &Verdict, label: &str, show: usize) {
    let head = format!("{} · {label}", verdict.kata);
    if let Some(errors) = &verdict.compile_error {
        println!(
            "{} {}",
            style(head).bold(),
            style("does not compile").red().bold()
        );
        println!("{}", errors.trim_end());
        return;
    }
    let score = format!("{}/{} specs pass", verdict.passed, verdict.total);
    let score = if verdict.failed == 0 && verdict.total > 0 {
        style(score).green().bold()
    } else {
        style(score).red().bold()
    };
    println!("{} {score}", style(head).bold());
    let failures: Vec<&SpecResult> = verdict.failures().collect();
    for failure in failures.iter().take(show) {
        let mark = match failure.status {
            Status::Timeout => style("⏱ timeout").yellow(),
            _ => style("✗").red(),
        };
        println!("\n  {mark} {}", style(&failure.name).bold());
        for line in failure.message.lines().take(25) {
            println!("      {line}");
        }
    }
    if failures.len() > show {
        // Enough names to see where the failures cluster, not a wall of them.
        const NAMES: usize = 12;
        println!("\n  also failing:");
        for failure in failures[show..].iter().take(NAMES) {
            println!("    {} {}", style("✗").red(), failure.name);
        }
        let unnamed = failures.len().saturating_sub(show + NAMES);
        if unnamed > 0 {
            println!("    … and {unnamed} more (`--json` lists every spec)");
        }
    }
    if !verdict.not_run.is_empty() {
        println!(
            "\n  {} the {} models run once every spec above passes.",
            style("not run yet:").dim(),
            verdict.not_run.join(", ")
        );
    }
    if !verdict.modified_specs.is_empty() {
        println!(
            "\n  {} {} differ from the pristine spec: this verdict does not count. \
             `git checkout` them, or `cargo xtask reset {}` (your code is archived first).",
            style("warning:").yellow().bold(),
            verdict.modified_specs.join(", "),
            verdict.kata
        );
    }
}

pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{:.1}s", d.as_secs_f32()),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        _ => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
    }
}
