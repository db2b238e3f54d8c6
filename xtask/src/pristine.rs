//! The pristine copy of a kata's stub and spec.
//!
//! A learner edits `src/` in place and may commit it, so neither the working
//! tree nor `HEAD` can be trusted to hold the original. Each kata records the
//! git blob id of every pristine file in `pristine.lock` (written by
//! `cargo xtask bless`). A blob id is a hash of the content, so comparing
//! against it needs no git at all, and restoring is `git cat-file blob <id>`:
//! the object is in every clone because the maintainers committed it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::catalog::{Kata, files_under, rust_files};

pub const LOCK_FILE: &str = "pristine.lock";

/// One pristine file: its path inside the kata and its git blob id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub blob: String,
}

/// Git's id for a file with these bytes (`git hash-object`).
pub fn blob_id(bytes: &[u8]) -> String {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    hasher.digest().to_string()
}

pub fn lock_path(kata: &Kata) -> PathBuf {
    kata.dir.join(LOCK_FILE)
}

/// The entries of `pristine.lock`; `None` if the kata has none yet.
pub fn read_lock(kata: &Kata) -> Result<Option<Vec<Entry>>> {
    let path = lock_path(kata);
    if !path.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut entries = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let Some((blob, file)) = line.split_once(char::is_whitespace) else {
            bail!("{}: malformed line `{line}`", path.display());
        };
        entries.push(Entry {
            path: file.trim().to_owned(),
            blob: blob.to_owned(),
        });
    }
    Ok(Some(entries))
}

/// The files `bless` records: everything in `src/` and the spec files.
fn tracked_files(kata: &Kata) -> Result<Vec<String>> {
    let mut files = stub_paths(kata)?;
    for spec in rust_files(&kata.dir.join("tests"))? {
        files.push(relative(&kata.dir, &spec));
    }
    files.sort();
    Ok(files)
}

/// Every file under the kata's `src/`, as `src/...`.
fn stub_paths(kata: &Kata) -> Result<Vec<String>> {
    Ok(files_under(&kata.dir.join("src"))?
        .iter()
        .map(|path| relative(&kata.dir, path))
        .collect())
}

fn relative(base: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn current_blob(kata: &Kata, path: &str) -> Option<String> {
    fs::read(kata.dir.join(path))
        .ok()
        .map(|bytes| blob_id(&bytes))
}

/// Records the kata's current stub and spec as pristine, and stores the
/// blobs in git's object database so that they can be restored before they
/// are even committed.
pub fn bless(kata: &Kata) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for path in tracked_files(kata)? {
        let output = git(&kata.dir)
            .args(["hash-object", "-w", "--"])
            .arg(kata.dir.join(&path))
            .output()
            .context("running git hash-object")?;
        if !output.status.success() {
            bail!(
                "git hash-object {path}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        entries.push(Entry {
            blob: String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            path,
        });
    }
    let mut text = format!(
        "# The pristine stub and spec of this kata, as git blob ids.\n\
         # Written by `cargo xtask bless {slug}` after a change to src/ or tests/;\n\
         # read by `reset` to restore the stub and by `check` to spot an edited spec.\n",
        slug = kata.slug
    );
    for entry in &entries {
        text.push_str(&format!("{}  {}\n", entry.blob, entry.path));
    }
    fs::write(lock_path(kata), text)?;
    Ok(entries)
}

/// The spec files (`tests/*.rs`) that differ from the pristine spec, were
/// added to it, or are missing. Empty for a kata without a lock.
pub fn modified_specs(kata: &Kata) -> Result<Vec<String>> {
    let Some(entries) = read_lock(kata)? else {
        return Ok(Vec::new());
    };
    let mut modified = Vec::new();
    for entry in entries.iter().filter(|e| e.path.starts_with("tests/")) {
        if current_blob(kata, &entry.path).as_deref() != Some(entry.blob.as_str()) {
            modified.push(entry.path.clone());
        }
    }
    for spec in rust_files(&kata.dir.join("tests"))? {
        let path = relative(&kata.dir, &spec);
        if !entries.iter().any(|e| e.path == path) {
            modified.push(path);
        }
    }
    Ok(modified)
}

/// The `src/` files that differ from the stub, were added, or are missing.
pub fn modified_stub(kata: &Kata) -> Result<Vec<String>> {
    let entries = require_lock(kata)?;
    let mut modified: Vec<String> = entries
        .iter()
        .filter(|e| e.path.starts_with("src/"))
        .filter(|e| current_blob(kata, &e.path).as_deref() != Some(e.blob.as_str()))
        .map(|e| e.path.clone())
        .collect();
    modified.extend(
        stub_paths(kata)?
            .into_iter()
            .filter(|p| !entries.iter().any(|e| &e.path == p)),
    );
    modified.sort();
    Ok(modified)
}

fn require_lock(kata: &Kata) -> Result<Vec<Entry>> {
    read_lock(kata)?.with_context(|| {
        format!(
            "{} has no {LOCK_FILE}: run `cargo xtask bless {}`",
            kata.dir.display(),
            kata.slug
        )
    })
}

/// The pristine stub: every `src/` file with its original content.
pub fn stub_files(kata: &Kata) -> Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    for entry in require_lock(kata)?
        .into_iter()
        .filter(|e| e.path.starts_with("src/"))
    {
        let on_disk = fs::read(kata.dir.join(&entry.path)).ok();
        let bytes = match on_disk {
            Some(bytes) if blob_id(&bytes) == entry.blob => bytes,
            _ => cat_blob(&kata.dir, &entry)?,
        };
        files.push((entry.path, bytes));
    }
    Ok(files)
}

fn cat_blob(dir: &Path, entry: &Entry) -> Result<Vec<u8>> {
    let output = git(dir)
        .args(["cat-file", "blob", &entry.blob])
        .output()
        .context("running git (needed to restore the pristine stub)")?;
    if !output.status.success() {
        bail!(
            "the pristine {} (git blob {}) is not in this repository's git objects: \
             is this a git clone of backend-katas? ({})",
            entry.path,
            entry.blob,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// Git in the kata's own repository (a pack may be a repository of its own).
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ids_match_git_hash_object() {
        // `printf 'hello\n' | git hash-object --stdin`, and the same for nothing.
        assert_eq!(
            blob_id(b"hello\n"),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }
}
