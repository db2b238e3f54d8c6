//! `cargo xtask new <slug>`: a new kata from the templates in
//! `xtask/templates/`, wired for kata and solution mode, that compiles at
//! once and that `verify` fails with the list of what is left to write
//! (every `TODO(author)` marker, the missing wrong answers, ...).

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use console::style;

use crate::catalog::{Difficulty, Kata, Origin, TRACKS, Workspace, closest, files_under};
use crate::{USAGE, pristine};

/// The marker every template placeholder carries; `verify` lists each one
/// left in a kata.
pub const MARKER: &str = "TODO(author)";

/// (path inside the kata, template) for `katas/<slug>/`.
const KATA: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/kata/Cargo.toml")),
    ("README.md", include_str!("../templates/kata/README.md")),
    ("src/lib.rs", include_str!("../templates/kata/src/lib.rs")),
    ("src/sync.rs", include_str!("../templates/kata/src/sync.rs")),
    (
        "tests/spec.rs",
        include_str!("../templates/kata/tests/spec.rs"),
    ),
    (
        "tests/loom.rs",
        include_str!("../templates/kata/tests/loom.rs"),
    ),
    (
        "benches/{{slug}}.rs",
        include_str!("../templates/kata/benches/bench.rs"),
    ),
    (
        "wrong/lost_update.patch",
        include_str!("../templates/kata/wrong/lost_update.patch"),
    ),
    (
        "right/mutex_total.rs",
        include_str!("../templates/kata/right/mutex_total.rs"),
    ),
];

/// (path inside the solution, template) for `solutions/<slug>/`.
const SOLUTION: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        include_str!("../templates/solution/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../templates/solution/src/lib.rs"),
    ),
    // One shim for both crates: the stub and the reference must agree on
    // where shared-state primitives come from.
    ("src/sync.rs", include_str!("../templates/kata/src/sync.rs")),
];

/// Names a kata crate cannot take: the compiler's own crates, and what
/// would collide with this repository's crates.
const RESERVED: &[&str] = &["alloc", "core", "proc-macro", "std", "test", "xtask"];

/// Why a slug is refused, if it is.
pub fn slug_problem(slug: &str) -> Option<String> {
    let kebab = !slug.is_empty()
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !kebab {
        return Some(format!(
            "`{slug}` is not a kebab-case slug: lowercase letters and digits in words joined by single dashes, \
             starting with a letter (for example `lru-cache`)"
        ));
    }
    if RESERVED.contains(&slug) || slug.ends_with("-solution") {
        return Some(format!("`{slug}` is reserved: choose another name"));
    }
    None
}

pub fn new(
    ws: &Workspace,
    slug: &str,
    title: Option<&str>,
    difficulty: Difficulty,
    track: Option<&str>,
    tags: &[String],
) -> Result<ExitCode> {
    let refuse = |why: String| {
        eprintln!(
            "{} {why}\n  nothing was written.",
            style("error:").red().bold()
        );
        Ok(ExitCode::from(USAGE))
    };
    if let Some(problem) = slug_problem(slug) {
        return refuse(problem);
    }
    if let Some(track) = track.filter(|t| !TRACKS.contains(t)) {
        let suggestion = closest(track, TRACKS)
            .map(|t| format!(" (did you mean `{t}`?)"))
            .unwrap_or_default();
        return refuse(format!(
            "`{track}` is not a track{suggestion}: one of {}",
            TRACKS.join(", ")
        ));
    }
    if let Ok(existing) = ws.kata(slug) {
        return refuse(format!(
            "the kata `{slug}` already exists in {}",
            existing.dir.display()
        ));
    }
    let kata_dir = ws.root.join("katas").join(slug);
    let solution_dir = ws.root.join("solutions").join(slug);
    for dir in [&kata_dir, &solution_dir] {
        if dir.exists() {
            return refuse(format!("{} already exists", dir.display()));
        }
    }

    let title = title.map_or_else(|| title_from(slug), str::to_owned);
    let tags = if tags.is_empty() {
        vec![slug.to_owned()]
    } else {
        tags.to_vec()
    };
    let track = track.map_or_else(
        || format!("{MARKER}: one of {}", TRACKS.join(", ")),
        str::to_owned,
    );
    let values = [
        ("{{slug}}", slug.to_owned()),
        ("{{crate}}", slug.replace('-', "_")),
        ("{{title}}", title.replace('"', "'")),
        ("{{difficulty}}", difficulty.to_string()),
        ("{{track}}", track),
        ("{{tags}}", toml::Value::from(tags).to_string()),
    ];
    let render = |text: &str| {
        values
            .iter()
            .fold(text.to_owned(), |t, (key, value)| t.replace(key, value))
    };

    let written = write_all(&kata_dir, KATA, &render)
        .and_then(|()| write_all(&solution_dir, SOLUTION, &render));
    if let Err(err) = written {
        // Half a kata is worse than none: take back what was written.
        let _ = fs::remove_dir_all(&kata_dir);
        let _ = fs::remove_dir_all(&solution_dir);
        return Err(err);
    }
    let kata = Kata::load(&ws.root, Origin::BuiltIn, &kata_dir)?;
    let blessed = pristine::bless(&kata);

    println!(
        "Created the kata {} from the templates:",
        style(slug).bold()
    );
    println!(
        "  {}  the stub, spec, README, metadata, bench, wrong/, right/",
        ws.relative(&kata_dir).display()
    );
    println!(
        "  {}  the reference solution",
        ws.relative(&solution_dir).display()
    );
    if let Err(err) = blessed {
        println!(
            "{} could not record the pristine stub ({err:#}); run `cargo xtask bless {slug}` in a git checkout.",
            style("note:").yellow().bold()
        );
    }
    println!(
        "\nIt compiles already, with an example API to replace. Next:\n  \
         cargo xtask check {slug} --solution   # the example reference passes its spec\n  \
         cargo xtask verify {slug}             # lists what is left to write\n\
         Re-run `cargo xtask bless {slug}` after each change to its src/ or tests/. CONTRIBUTING.md says how to write a kata."
    );
    Ok(ExitCode::SUCCESS)
}

fn write_all(dir: &Path, files: &[(&str, &str)], render: &dyn Fn(&str) -> String) -> Result<()> {
    for (path, template) in files {
        let target = dir.join(render(path));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&target, render(template))
            .with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(())
}

/// `lru-cache` → `Lru cache`.
fn title_from(slug: &str) -> String {
    let words = slug.replace('-', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Every `TODO(author)` marker left in a kata and its solution, as
/// `path:line: text`.
pub fn markers(kata: &Kata) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for base in [&kata.dir, &kata.solution_dir] {
        for file in files_under(base)? {
            let Ok(text) = fs::read_to_string(&file) else {
                continue;
            };
            for (number, line) in text.lines().enumerate() {
                if let Some(at) = line.find(MARKER) {
                    let what = line[at + MARKER.len()..]
                        .trim_start_matches(':')
                        .trim()
                        .trim_end_matches([',', '"']);
                    let shown = file.strip_prefix(&kata.root).unwrap_or(&file);
                    found.push(format!("{}:{}: {what}", shown.display(), number + 1));
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_kebab_case_slugs() {
        for slug in ["lru-cache", "spin-lock", "b-tree2", "raft"] {
            assert_eq!(slug_problem(slug), None, "{slug}");
        }
    }

    #[test]
    fn refuses_slugs_that_are_not_kebab_case_or_reserved() {
        for slug in [
            "",
            "LruCache",
            "lru_cache",
            "-lru",
            "lru-",
            "lru--cache",
            "2pc",
            "lru cache",
            "test",
            "x-solution",
        ] {
            assert!(slug_problem(slug).is_some(), "`{slug}` should be refused");
        }
    }

    #[test]
    fn titles_a_slug() {
        assert_eq!(title_from("lru-cache"), "Lru cache");
    }
}
