//! A kata's bank of answers other than the learner's: the known-wrong ones
//! in `wrong/`, which the spec must reject, and the correct ones built
//! differently in `right/`, which it must accept.
//!
//! A wrong answer is normally `wrong/<name>.patch`: a unified diff against
//! the reference (`solutions/<slug>/src/`) with one realistic bug, opened by
//! a prose header (the bug, why candidates write it, a `Symptom:` line, the
//! spec that catches it). A bug is a small change to correct code, so that is
//! how it is stored, the way mutation testing names a mutant; and a change to
//! the reference that a patch no longer fits fails `verify` by name. A whole
//! `wrong/<name>.rs` stays allowed where the bug is a different design; its
//! `//!` header says so in a `Whole file:` line. Right answers are whole
//! files: being built differently is their point.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use diffy::patch_set::{FileOperation, ParseOptions, PatchKind, PatchSet};

use crate::catalog::{Kata, files_under};
use crate::pristine;

/// Which side of the spec an answer belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Known-wrong: the spec must fail it.
    Wrong,
    /// Correct, built differently from the reference: the spec must pass it.
    Right,
}

impl Side {
    pub fn dir_name(self) -> &'static str {
        match self {
            Side::Wrong => "wrong",
            Side::Right => "right",
        }
    }
}

/// How an answer is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A unified diff against the reference's `src/`.
    Patch,
    /// A whole `lib.rs`, compiled beside the stub's other files.
    File,
}

/// One answer of the bank.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The file stem: `float_tokens` for `wrong/float_tokens.patch`.
    pub name: String,
    pub path: PathBuf,
    pub side: Side,
    pub form: Form,
}

/// The `src/` files of a crate, as (`src/...` path, content).
pub type Files = Vec<(String, Vec<u8>)>;

/// The answers of one side of a kata's bank, sorted by name.
pub fn answers(kata: &Kata, side: Side) -> Result<Vec<Answer>> {
    let dir = kata.dir.join(side.dir_name());
    let mut answers = Vec::new();
    for path in files_under(&dir)? {
        if path.parent() != Some(dir.as_path()) {
            continue;
        }
        let form = match path.extension().and_then(|e| e.to_str()) {
            Some("patch") if side == Side::Wrong => Form::Patch,
            Some("rs") => Form::File,
            _ => continue,
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        answers.push(Answer {
            name,
            path,
            side,
            form,
        });
    }
    answers.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(answers)
}

impl Answer {
    /// `wrong/float_tokens.patch`: how the answer is named in reports.
    pub fn label(&self) -> String {
        let file = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{file}", self.side.dir_name())
    }

    fn text(&self) -> Result<String> {
        fs::read_to_string(&self.path).with_context(|| format!("reading {}", self.path.display()))
    }

    /// The prose that opens the answer: a patch's lines before its diff, a
    /// whole file's `//!` lines.
    pub fn header(&self) -> Result<Header> {
        let text = self.text()?;
        let lines: Vec<&str> = match self.form {
            Form::Patch => text.lines().take_while(|l| !starts_diff(l)).collect(),
            Form::File => text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .map(|l| l.trim_start_matches("//!").trim_start())
                .collect(),
        };
        Ok(Header::parse(&lines.join("\n")))
    }

    /// The diff part of a patch answer (empty for a whole file).
    pub fn diff(&self) -> Result<String> {
        let text = self.text()?;
        let start = text
            .lines()
            .take_while(|l| !starts_diff(l))
            .map(|l| l.len() + 1)
            .sum::<usize>()
            .min(text.len());
        Ok(match self.form {
            Form::Patch => text[start..].to_owned(),
            Form::File => String::new(),
        })
    }

    /// The answer's `src/` as a crate would compile it: the reference with
    /// the patch applied, or the pristine stub with this `lib.rs`.
    pub fn materialise(&self, kata: &Kata) -> Result<Files> {
        match self.form {
            Form::Patch => {
                let reference = reference_files(kata)?;
                apply(&self.diff()?, reference, &kata.slug)
                    .with_context(|| format!("{} no longer applies to the reference", self.label()))
            }
            Form::File => {
                let mut files = pristine::stub_files(kata)?;
                let lib = fs::read(&self.path)
                    .with_context(|| format!("reading {}", self.path.display()))?;
                match files.iter_mut().find(|(path, _)| path == "src/lib.rs") {
                    Some(entry) => entry.1 = lib,
                    None => files.push(("src/lib.rs".to_owned(), lib)),
                }
                Ok(files)
            }
        }
    }
}

/// Where a unified diff (plain or git's) begins.
fn starts_diff(line: &str) -> bool {
    line.starts_with("--- ") || line.starts_with("diff --git ")
}

/// What an answer's header says, in the parts the tools use.
#[derive(Debug, Clone, Default)]
pub struct Header {
    /// The whole header, as written.
    pub text: String,
    /// The one line a user or an on-call engineer would report.
    pub symptom: Option<String>,
    /// Why a wrong answer is a whole file rather than a patch.
    pub whole_file: Option<String>,
}

impl Header {
    fn parse(text: &str) -> Header {
        Header {
            text: text.trim().to_owned(),
            symptom: paragraph(text, "Symptom:"),
            whole_file: paragraph(text, "Whole file:"),
        }
    }

    /// The header without its `Symptom:` paragraph: what a bug hunt shows
    /// only once the bug is found.
    pub fn explanation(&self) -> String {
        let mut out = Vec::new();
        let mut skipping = false;
        for line in self.text.lines() {
            if line.starts_with("Symptom:") {
                skipping = true;
            } else if line.trim().is_empty() || starts_field(line) {
                skipping = false;
            }
            if !skipping {
                out.push(line);
            }
        }
        out.join("\n").trim().to_owned()
    }
}

/// A line that opens a new field of a header (`Why candidates write it:`).
fn starts_field(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(head, _)| !head.is_empty() && head.len() < 40 && !head.contains('`'))
        && line.starts_with(|c: char| c.is_ascii_uppercase())
}

/// The paragraph that starts with `field`, without it, joined into one line.
fn paragraph(text: &str, field: &str) -> Option<String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(field));
    let first = lines.next()?.trim_start_matches(field).trim();
    let mut out = first.to_owned();
    for line in lines.take_while(|l| !l.trim().is_empty() && !starts_field(l)) {
        out.push(' ');
        out.push_str(line.trim());
    }
    Some(out)
}

/// The reference's `src/`.
pub fn reference_files(kata: &Kata) -> Result<Files> {
    let src = kata.solution_dir.join("src");
    let mut files = Vec::new();
    for path in files_under(&src)? {
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        files.push((relative_src(&src, &path), bytes));
    }
    if files.is_empty() {
        bail!("the reference has no sources in {}", src.display());
    }
    Ok(files)
}

fn relative_src(src: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(src).unwrap_or(path);
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    format!("src/{}", parts.join("/"))
}

/// Why a patch does not fit the files it is applied to.
#[derive(Debug)]
pub struct StalePatch {
    pub file: String,
    pub hunk: String,
}

impl fmt::Display for StalePatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} does not match", self.file, self.hunk)
    }
}

impl std::error::Error for StalePatch {}

/// `files` with the unified diff `diff` applied. Paths in the diff may be
/// relative to the solution crate (`src/lib.rs`), carry git's `a/`/`b/`
/// prefixes, or start at the repository (`solutions/<slug>/src/lib.rs`).
pub fn apply(diff: &str, mut files: Files, slug: &str) -> Result<Files> {
    if !diff.lines().any(|l| l.starts_with("--- ")) {
        bail!("it holds no diff (a `--- a/src/...` / `+++ b/src/...` pair and its hunks)");
    }
    let format = if diff.lines().any(|l| l.starts_with("diff --git ")) {
        ParseOptions::gitdiff()
    } else {
        ParseOptions::unidiff()
    };
    for patch in PatchSet::parse(diff, format) {
        let patch = patch.context("the diff cannot be parsed")?;
        let PatchKind::Text(text) = patch.patch() else {
            bail!("binary patches are not supported");
        };
        let path = |raw: &str| normalise_path(raw, slug);
        match patch.operation() {
            FileOperation::Modify { original, modified } => {
                let (from, to) = (path(original)?, path(modified)?);
                let index = files
                    .iter()
                    .position(|(p, _)| *p == from)
                    .with_context(|| {
                        format!("the patch changes {from}, which the reference lacks")
                    })?;
                let base = String::from_utf8(files[index].1.clone())
                    .with_context(|| format!("{from} is not UTF-8"))?;
                let patched = diffy::apply(&base, text).map_err(|err| StalePatch {
                    hunk: describe_hunk(text, &err.to_string()),
                    file: from.clone(),
                })?;
                files[index] = (to, patched.into_bytes());
            }
            FileOperation::Create(new) => {
                let new = path(new)?;
                let content = diffy::apply("", text).map_err(|err| StalePatch {
                    hunk: describe_hunk(text, &err.to_string()),
                    file: new.clone(),
                })?;
                files.retain(|(p, _)| *p != new);
                files.push((new, content.into_bytes()));
            }
            FileOperation::Delete(old) => {
                let old = path(old)?;
                files.retain(|(p, _)| *p != old);
            }
            other => bail!("the patch renames or copies a file ({other:?}): write it as a change"),
        }
    }
    files.sort();
    Ok(files)
}

/// `hunk #2 (@@ -40,7 +40,8 @@)` from diffy's "error applying hunk #2".
fn describe_hunk(patch: &diffy::Patch<'_, str>, error: &str) -> String {
    let number: Option<usize> = error.rsplit('#').next().and_then(|n| n.trim().parse().ok());
    match number.and_then(|n| patch.hunks().get(n.checked_sub(1)?).map(|h| (n, h))) {
        Some((n, hunk)) => format!(
            "hunk #{n} (@@ -{} +{} @@)",
            hunk.old_range(),
            hunk.new_range()
        ),
        None => error.to_owned(),
    }
}

fn normalise_path(raw: &str, slug: &str) -> Result<String> {
    // GNU diff may follow the name with a tab and a timestamp.
    let raw = raw.split('\t').next().unwrap_or(raw).trim();
    let raw = raw
        .strip_prefix("a/")
        .or_else(|| raw.strip_prefix("b/"))
        .unwrap_or(raw);
    let prefix = format!("solutions/{slug}/");
    let path = raw.strip_prefix(&prefix).unwrap_or(raw);
    if !path.starts_with("src/") || path.split('/').any(|part| part == "..") {
        bail!("the patch names `{raw}`: paths are the reference's `src/...` files");
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(entries: &[(&str, &str)]) -> Files {
        entries
            .iter()
            .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
            .collect()
    }

    /// A patch of `reference` into `changed`, as an author would write it.
    fn make_patch(reference: &Files, changed: &Files) -> String {
        let mut out = String::new();
        let empty = Vec::new();
        let mut paths: Vec<&String> = reference.iter().chain(changed).map(|(p, _)| p).collect();
        paths.sort();
        paths.dedup();
        for path in paths {
            let find = |files: &'_ Files| {
                files
                    .iter()
                    .find(|(p, _)| p == path)
                    .map(|(_, b)| b.clone())
            };
            let (old, new) = (find(reference), find(changed));
            if old == new {
                continue;
            }
            let old_text = String::from_utf8_lossy(old.as_ref().unwrap_or(&empty)).into_owned();
            let new_text = String::from_utf8_lossy(new.as_ref().unwrap_or(&empty)).into_owned();
            let patch = diffy::create_patch(&old_text, &new_text).to_string();
            let body = patch
                .split_once("+++ modified\n")
                .map_or(patch.as_str(), |(_, body)| body);
            let from = if old.is_some() {
                format!("a/{path}")
            } else {
                "/dev/null".to_owned()
            };
            let to = if new.is_some() {
                format!("b/{path}")
            } else {
                "/dev/null".to_owned()
            };
            out.push_str(&format!("--- {from}\n+++ {to}\n{body}"));
        }
        out
    }

    const REFERENCE: &str =
        "fn a() {}\nfn admit(age: u32, window: u32) -> bool {\n    age >= window\n}\nfn c() {}\n";

    #[test]
    fn a_patch_made_from_two_trees_applies_back_to_the_first() {
        let reference = files(&[("src/lib.rs", REFERENCE), ("src/other.rs", "x\n")]);
        let buggy = files(&[
            ("src/lib.rs", &REFERENCE.replace(">=", ">")),
            ("src/other.rs", "x\n"),
        ]);
        let patch = make_patch(&reference, &buggy);
        assert!(patch.starts_with("--- a/src/lib.rs\n+++ b/src/lib.rs\n@@"));
        assert!(!patch.contains("other.rs"), "unchanged files are left out");
        assert_eq!(apply(&patch, reference, "k").unwrap(), buggy);
    }

    #[test]
    fn a_header_before_the_diff_is_prose_and_paths_may_start_at_the_repository() {
        let reference = files(&[("src/lib.rs", REFERENCE)]);
        let patch = format!(
            "Bug: the window is closed.\nSymptom: throttled early.\n\n{}",
            make_patch(
                &reference,
                &files(&[("src/lib.rs", &REFERENCE.replace(">=", ">"))])
            )
            .replace("a/src/", "a/solutions/k/src/")
            .replace("b/src/", "b/solutions/k/src/")
        );
        let patched = apply(&patch, reference, "k").unwrap();
        assert!(String::from_utf8_lossy(&patched[0].1).contains("age > window"));
    }

    #[test]
    fn a_patch_that_no_longer_fits_names_its_file_and_hunk() {
        let reference = files(&[("src/lib.rs", REFERENCE)]);
        let patch = make_patch(
            &reference,
            &files(&[("src/lib.rs", &REFERENCE.replace(">=", ">"))]),
        );
        let moved_on = files(&[(
            "src/lib.rs",
            &REFERENCE.replace("age >= window", "window <= age"),
        )]);
        let err = apply(&patch, moved_on, "k").unwrap_err();
        let stale = err.downcast_ref::<StalePatch>().expect("a StalePatch");
        assert_eq!(stale.file, "src/lib.rs");
        assert!(stale.hunk.starts_with("hunk #1 (@@ -"), "{}", stale.hunk);
    }

    #[test]
    fn paths_outside_the_reference_sources_are_refused() {
        let reference = files(&[("src/lib.rs", REFERENCE)]);
        let patch = "--- a/Cargo.toml\n+++ b/Cargo.toml\n@@ -1 +1 @@\n-a\n+b\n";
        let err = apply(patch, reference.clone(), "k").unwrap_err();
        assert!(format!("{err:#}").contains("`Cargo.toml`"), "{err:#}");
        let err = apply("no diff here\n", reference, "k").unwrap_err();
        assert!(format!("{err:#}").contains("holds no diff"), "{err:#}");
    }

    #[test]
    fn a_header_gives_its_symptom_and_an_explanation_without_it() {
        let header = Header::parse(
            "Bug: `>` keeps a request exactly one window old.\n\nWhy candidates write it: it reads\nnaturally.\n\nSymptom: clients are refused\na request early.\n\nCaught by: `x`.",
        );
        assert_eq!(
            header.symptom.as_deref(),
            Some("clients are refused a request early.")
        );
        assert!(header.whole_file.is_none());
        let explanation = header.explanation();
        assert!(explanation.contains("Why candidates write it"));
        assert!(explanation.contains("Caught by"));
        assert!(!explanation.contains("refused"), "{explanation}");
    }
}
