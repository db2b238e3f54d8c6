//! Saves in a kata's sources, as events: what `kata`, `interview` and `hunt`
//! re-run the spec on, and what `measure --warm` times.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{Event, RecursiveMode, Watcher};

use crate::catalog::Kata;

/// How long the events of one save are let settle before the check starts.
/// An editor's save is a few events within a millisecond or two (truncate
/// then write, or write a temporary file then rename it), and the learner
/// waits this long for every verdict: it was 100 ms, a quarter of a red
/// check's rebuild.
pub const SETTLE: Duration = Duration::from_millis(20);

/// Keeps watching while it lives.
pub struct SaveWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Calls `on_save` for every write, creation or removal under the kata's
/// `src/` and `tests/`; an editor's save is often several such events, so
/// callers let a burst settle ([`SETTLE`]). Reads are ignored: the check
/// itself reads the spec files.
pub fn watch_saves(kata: &Kata, on_save: impl Fn() + Send + 'static) -> Result<SaveWatcher> {
    watch_dirs(&[kata.dir.join("src"), kata.dir.join("tests")], on_save)
}

/// [`watch_saves`] for any directories (those that exist).
pub fn watch_dirs(dirs: &[PathBuf], on_save: impl Fn() + Send + 'static) -> Result<SaveWatcher> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        let is_save = match &event {
            Ok(event) => event.kind.is_modify() || event.kind.is_create() || event.kind.is_remove(),
            // A watcher error (a file vanishing mid-save, say) is a reason to look again.
            Err(_) => true,
        };
        if is_save {
            on_save();
        }
    })
    .context("starting the file watcher")?;
    for path in dirs {
        if path.exists() {
            watcher
                .watch(path, RecursiveMode::Recursive)
                .with_context(|| format!("watching {}", path.display()))?;
        }
    }
    Ok(SaveWatcher { _watcher: watcher })
}

/// Blocks until a save, then until no event has come for [`SETTLE`]: one
/// check per save, however many events the editor's save made.
pub fn next_save(saves: &mpsc::Receiver<()>) -> Result<()> {
    saves.recv().context("the file watcher stopped")?;
    while saves.recv_timeout(SETTLE).is_ok() {}
    Ok(())
}
