//! The learner's progress, kept in `.katas/state.json` (gitignored): hints
//! seen and the last verdict of each kata.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::catalog::Workspace;
use crate::verdict::Verdict;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub katas: BTreeMap<String, Progress>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Progress {
    #[serde(default)]
    pub hints_shown: usize,
    /// The last verdict against the learner's code.
    pub last: Option<LastVerdict>,
    /// Unix seconds of the first verdict that passed every spec.
    pub solved_at: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastVerdict {
    pub passed: usize,
    pub total: usize,
    pub compiles: bool,
    /// The spec files had been edited: such a pass does not count.
    #[serde(default)]
    pub spec_modified: bool,
    pub at: u64,
}

fn path(ws: &Workspace) -> PathBuf {
    ws.state_dir().join("state.json")
}

pub fn load(ws: &Workspace) -> Result<State> {
    let path = path(ws);
    match fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; move it aside (your attempts under .katas/attempts are unaffected)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Reads, changes and writes back the state. The write goes to a temporary
/// file renamed over the old one, so a crash leaves either state whole.
pub fn update<T>(ws: &Workspace, change: impl FnOnce(&mut State) -> T) -> Result<T> {
    let mut state = load(ws)?;
    let result = change(&mut state);
    let dir = ws.state_dir();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(&dir)?;
    file.write_all(serde_json::to_string_pretty(&state)?.as_bytes())?;
    file.persist(path(ws)).context("saving .katas/state.json")?;
    Ok(result)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Remembers a verdict on the learner's code.
pub fn record(ws: &Workspace, verdict: &Verdict) -> Result<()> {
    update(ws, |state| {
        let progress = state.katas.entry(verdict.kata.clone()).or_default();
        progress.last = Some(LastVerdict {
            passed: verdict.passed,
            total: verdict.total,
            compiles: verdict.compile_error.is_none(),
            spec_modified: !verdict.modified_specs.is_empty(),
            at: now(),
        });
        if verdict.is_pass() && progress.solved_at.is_none() {
            progress.solved_at = Some(now());
        }
    })
}

impl Progress {
    /// `not started`, `k/n specs pass`, or `solved`.
    pub fn status(&self) -> String {
        match &self.last {
            None => "not started".to_owned(),
            Some(last) if !last.compiles => "does not compile".to_owned(),
            Some(last) if last.total > 0 && last.passed == last.total && !last.spec_modified => {
                "solved".to_owned()
            }
            Some(last) => format!("{}/{} specs pass", last.passed, last.total),
        }
    }
}
