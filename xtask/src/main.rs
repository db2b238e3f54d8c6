//! `cargo xtask`: the backend-katas command line. See ARCHITECTURE.md for how
//! the modules fit together.

mod attempts;
mod bank;
mod catalog;
mod check;
mod checkouts;
mod commands;
mod compile;
mod harness;
mod history;
mod html;
mod hunt;
mod interview;
mod measure;
mod practice;
mod pristine;
mod replay;
mod review;
mod runner;
mod scaffold;
mod scratch;
mod stats;
mod ui;
mod verdict;
mod verify;
mod watch;
mod wrong;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::catalog::{Difficulty, Workspace};

/// Executable interview katas for backend engineers.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    /// Also find katas in this directory (a kata pack laid out like this
    /// repository); repeatable. `BACKEND_KATAS_PACKS` adds more.
    #[arg(long = "pack", value_name = "DIR", global = true)]
    packs: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every kata, with your status on each.
    List {
        /// Only katas of this track (concurrency, resilience, databases, ...).
        #[arg(long)]
        track: Option<String>,
        /// Only katas with this tag.
        #[arg(long, alias = "topic")]
        tag: Option<String>,
        /// Only katas of this difficulty.
        #[arg(long, value_enum)]
        difficulty: Option<DifficultyArg>,
    },
    /// Practise a kata: the problem, then the spec re-run on every save.
    Kata {
        slug: String,
        /// Archive your current attempt and start again from the stub.
        #[arg(long)]
        fresh: bool,
        /// Run the spec once and exit with its verdict.
        #[arg(long)]
        no_watch: bool,
    },
    /// Run the spec against the reference solution.
    Solution { slug: String },
    /// A one-shot verdict on one or more katas.
    Check {
        #[arg(required = true)]
        slugs: Vec<String>,
        /// Judge the reference solutions instead of your code.
        #[arg(long)]
        solution: bool,
        /// One JSON object per kata on stdout.
        #[arg(long)]
        json: bool,
        /// Seed for the property tests (the same seed gives the same cases).
        #[arg(long, default_value_t = check::DEFAULT_SEED)]
        seed: u64,
    },
    /// The spec against the kata's known-wrong answers: each bug, and what
    /// catches it.
    Wrong {
        slug: String,
        /// One of them (a name in `wrong/`); all if omitted.
        name: Option<String>,
        /// Print the buggy source instead of judging it.
        #[arg(long, conflicts_with_all = ["diff", "repeat"])]
        show: bool,
        /// Print the patch (the bug as a change to the reference).
        #[arg(long, conflicts_with = "repeat")]
        diff: bool,
        /// Judge each answer N times with different seeds, and name any
        /// caught in fewer than N runs.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        repeat: Option<u32>,
    },
    /// The next of the kata's progressive hints.
    Hint { slug: String },
    /// Archive your attempt, then restore the pristine stub.
    Reset { slug: String },
    /// The maintainers' gate: references pass, stubs and wrong answers fail.
    Verify { slugs: Vec<String> },
    /// Record a kata's current stub and spec as pristine (maintainers).
    Bless {
        #[arg(required = true)]
        slugs: Vec<String>,
    },
    /// The project's test suite: the CLI's own tests, then `verify`.
    Test,
    /// A timed mock interview on a kata chosen for you.
    Interview {
        /// Time allowed (default: the kata's suggested minutes).
        #[arg(long)]
        minutes: Option<u32>,
        /// Interview on this kata instead of letting the scheduler choose.
        #[arg(long)]
        kata: Option<String>,
        /// Only katas of this track.
        #[arg(long)]
        track: Option<String>,
        /// Only katas with this tag.
        #[arg(long, alias = "topic")]
        tag: Option<String>,
        #[arg(long, value_enum)]
        difficulty: Option<DifficultyArg>,
        /// Makes the choice of kata reproducible.
        #[arg(long)]
        seed: Option<u64>,
        /// A debugging round instead: a bug from the kata's bank, planted
        /// for you to find (see `hunt`).
        #[arg(long)]
        hunt: bool,
        /// With --hunt: allow katas you have not solved yet.
        #[arg(long, requires = "hunt")]
        spoil: bool,
    },
    /// A bug hunt: a working solution with one planted bug, the symptom a
    /// user reported, and the spec on every save until you have fixed it.
    Hunt {
        /// The kata (default: one the scheduler picks among those you have solved).
        slug: Option<String>,
        /// Makes the choice of kata and bug reproducible.
        #[arg(long)]
        seed: Option<u64>,
        /// Time allowed (default: half the kata's suggested minutes).
        #[arg(long)]
        minutes: Option<u32>,
        /// Hunt on a kata you have not solved: the planted code is most of
        /// its reference solution.
        #[arg(long)]
        spoil: bool,
    },
    /// Your practice: per kata, per track and tag, streak and reviews.
    Stats {
        #[arg(long)]
        kata: Option<String>,
        #[arg(long)]
        json: bool,
        /// Write a self-contained HTML page with charts.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// Maintainers: time edit-to-verdict (touch, then `cargo xtask check`)
    /// over several edits, optionally beside another command.
    Measure {
        slug: String,
        /// Edit the reference and check it, instead of the stub.
        #[arg(long)]
        solution: bool,
        #[arg(long, default_value_t = 7)]
        edits: u32,
        /// Also time each edit as the watch mode of `cargo xtask kata` sees
        /// it: one process that stays up, its file watcher, the same check.
        #[arg(long)]
        warm: bool,
        /// Another command to time the same way, alternating with ours
        /// (run by `sh -c`), e.g. `rustlings run iterators2`.
        #[arg(long, requires = "touch")]
        against: Option<String>,
        /// The file to touch before each run of --against.
        #[arg(long, requires = "against")]
        touch: Option<PathBuf>,
    },
    /// Records `count` check sessions as fast as it can: the CLI's tests kill
    /// it mid-write, or run two at once, to prove the history survives.
    #[command(name = "__stress-history", hide = true)]
    StressHistory { count: u32 },
    /// Start a new kata from the templates: stub, spec, reference, README.
    New {
        slug: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long, value_enum, default_value = "medium")]
        difficulty: DifficultyArg,
        /// The kata's track: concurrency, resilience, databases, ...
        #[arg(long)]
        track: Option<String>,
        /// Comma-separated free tags, e.g. `--tags caching,time`.
        #[arg(long, alias = "topics", value_delimiter = ',')]
        tags: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DifficultyArg {
    Easy,
    Medium,
    Hard,
}

impl From<DifficultyArg> for Difficulty {
    fn from(d: DifficultyArg) -> Self {
        match d {
            DifficultyArg::Easy => Difficulty::Easy,
            DifficultyArg::Medium => Difficulty::Medium,
            DifficultyArg::Hard => Difficulty::Hard,
        }
    }
}

/// Exit codes: 0 success, 1 specs failed or a verify breach, 2 bad usage
/// (or anything else that kept the tool from reaching a verdict).
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os(replay::RECORD_DIR_ENV) {
        return replay::wrap_rustc(std::path::Path::new(&dir), std::env::args_os().skip(1));
    }
    let cli = Cli::parse();
    let ws = match Workspace::current(&cli.packs) {
        Ok(ws) => ws,
        Err(err) => {
            eprintln!("{} {err:#}", console::style("error:").red().bold());
            return ExitCode::from(USAGE);
        }
    };
    let result = match cli.command {
        Command::List {
            track,
            tag,
            difficulty,
        } => commands::list(
            &ws,
            &commands::Filter {
                track: track.as_deref(),
                tag: tag.as_deref(),
                difficulty: difficulty.map(Into::into),
            },
        ),
        Command::Kata {
            slug,
            fresh,
            no_watch,
        } => practice::run(&ws, &slug, fresh, !no_watch),
        Command::Solution { slug } => commands::solution(&ws, &slug),
        Command::Check {
            slugs,
            solution,
            json,
            seed,
        } => commands::check(&ws, &slugs, solution, json, seed),
        Command::Hint { slug } => commands::hint(&ws, &slug),
        Command::Wrong {
            slug,
            name,
            show,
            diff,
            repeat,
        } => {
            let action = match (show, diff, repeat) {
                (true, _, _) => wrong::Action::Show,
                (_, true, _) => wrong::Action::Diff,
                (_, _, Some(times)) => wrong::Action::Repeat(times),
                _ => wrong::Action::Judge,
            };
            wrong::run(&ws, &slug, name.as_deref(), action)
        }
        Command::Reset { slug } => commands::reset(&ws, &slug),
        Command::Verify { slugs } => verify::run(&ws, &slugs),
        Command::Bless { slugs } => commands::bless(&ws, &slugs),
        Command::Test => commands::test(&ws),
        Command::Interview {
            minutes,
            kata,
            track,
            tag,
            difficulty,
            seed,
            hunt,
            spoil,
        } => {
            let filter = commands::Filter {
                track: track.as_deref(),
                tag: tag.as_deref(),
                difficulty: difficulty.map(Into::into),
            };
            if hunt {
                hunt::run(
                    &ws,
                    hunt::Request {
                        kata: kata.as_deref(),
                        filter,
                        seed,
                        minutes,
                        spoil,
                    },
                )
            } else {
                interview::run(
                    &ws,
                    interview::Request {
                        minutes,
                        kata: kata.as_deref(),
                        filter,
                        seed,
                    },
                )
            }
        }
        Command::Hunt {
            slug,
            seed,
            minutes,
            spoil,
        } => hunt::run(
            &ws,
            hunt::Request {
                kata: slug.as_deref(),
                filter: commands::Filter::default(),
                seed,
                minutes,
                spoil,
            },
        ),
        Command::Stats { kata, json, html } => {
            stats::run(&ws, kata.as_deref(), json, html.as_deref())
        }
        Command::StressHistory { count } => history::stress(&ws, count),
        Command::Measure {
            slug,
            solution,
            edits,
            warm,
            against,
            touch,
        } => measure::run(
            &ws,
            &measure::Request {
                slug: &slug,
                solution,
                edits,
                warm,
                against: against.as_deref(),
                touch: touch.as_deref(),
            },
        ),
        Command::New {
            slug,
            title,
            difficulty,
            track,
            tags,
        } => scaffold::new(
            &ws,
            &slug,
            title.as_deref(),
            difficulty.into(),
            track.as_deref(),
            &tags,
        ),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{} {err:#}", console::style("error:").red().bold());
            ExitCode::from(USAGE)
        }
    }
}
