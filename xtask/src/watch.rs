//! Saves in a kata's sources, as events: what `kata` and `interview` re-run
//! the spec on.

use anyhow::{Context, Result};
use notify::{Event, RecursiveMode, Watcher};

use crate::catalog::Kata;

/// Keeps watching while it lives.
pub struct SaveWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Calls `on_save` for every write, creation or removal under the kata's
/// `src/` and `tests/`; an editor's save is often several such events, so
/// callers let a burst settle. Reads are ignored: the check itself reads
/// the spec files.
pub fn watch_saves(kata: &Kata, on_save: impl Fn() + Send + 'static) -> Result<SaveWatcher> {
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
    for path in [kata.dir.join("src"), kata.dir.join("tests")] {
        if path.exists() {
            watcher
                .watch(&path, RecursiveMode::Recursive)
                .with_context(|| format!("watching {}", path.display()))?;
        }
    }
    Ok(SaveWatcher { _watcher: watcher })
}
