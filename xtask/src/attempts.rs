//! The learner's attempts: archived (never deleted) before anything replaces
//! them, in `.katas/attempts/<slug>/<timestamp>/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::catalog::{Kata, Workspace};
use crate::pristine;

/// Copies the learner's `src/` into the archive, unless it is the pristine
/// stub (there is nothing of theirs to keep). Returns where it went.
pub fn archive(ws: &Workspace, kata: &Kata) -> Result<Option<PathBuf>> {
    if pristine::modified_stub(kata)?.is_empty() {
        return Ok(None);
    }
    let dir = unique_dir(
        &ws.state_dir().join("attempts").join(&kata.slug),
        &timestamp(),
    )?;
    copy_tree(&kata.dir.join("src"), &dir.join("src"))
        .with_context(|| format!("archiving the attempt to {}", dir.display()))?;
    Ok(Some(dir))
}

/// Archives the attempt, then puts the pristine stub back. The pristine
/// files are fetched first, so a failure leaves `src/` untouched.
pub fn reset(ws: &Workspace, kata: &Kata) -> Result<Option<PathBuf>> {
    let stub = pristine::stub_files(kata)?;
    replace(ws, kata, &stub)
}

/// Archives the attempt, then makes `src/` exactly `files` (`src/...`
/// paths): the stub, or the code a bug hunt plants.
pub fn replace(
    ws: &Workspace,
    kata: &Kata,
    files: &[(String, Vec<u8>)],
) -> Result<Option<PathBuf>> {
    let archived = archive(ws, kata)?;
    let src = kata.dir.join("src");
    if src.exists() {
        fs::remove_dir_all(&src).with_context(|| format!("clearing {}", src.display()))?;
    }
    for (path, bytes) in files {
        let target = kata.dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, bytes).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(archived)
}

/// `2026-11-22T17-23-31Z`: sortable, and valid as a file name everywhere.
fn timestamp() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .replace(':', "-")
}

fn unique_dir(parent: &Path, name: &str) -> Result<PathBuf> {
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut candidate = parent.join(name);
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = parent.join(format!("{name}-{n}"));
    }
    Ok(candidate)
}

pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
