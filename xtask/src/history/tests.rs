use super::*;
use crate::verdict::{SpecResult, Status};

fn verdict(kata: &str, passed: usize, total: usize) -> Verdict {
    let specs = (0..total)
        .map(|i| SpecResult {
            name: format!("spec_{i}"),
            status: if i < passed {
                Status::Pass
            } else {
                Status::Fail
            },
            message: String::new(),
            suite: "spec".to_owned(),
        })
        .collect();
    Verdict::new(kata, Mode::Kata, specs)
}

fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    (dir, path)
}

#[test]
fn a_new_file_gets_the_current_schema_and_records_sessions() {
    let (_dir, path) = temp_db();
    let history = History::open_at(&path).unwrap();
    let id = history
        .start(Kind::Kata, "rate-limiter", Mode::Kata, None)
        .unwrap();
    history
        .progress(id, &verdict("rate-limiter", 3, 10))
        .unwrap();
    history
        .finish(
            id,
            Outcome::Solved,
            Some(&verdict("rate-limiter", 10, 10)),
            Some(2),
            Some(90),
        )
        .unwrap();
    history
        .record_check(&verdict("rate-limiter", 4, 10), 1)
        .unwrap();
    let sessions = history.sessions(Some("rate-limiter")).unwrap();
    assert_eq!(sessions.len(), 2);
    let practice = sessions
        .iter()
        .find(|s| s.kind == Kind::Kata)
        .expect("the practice session");
    assert_eq!(practice.outcome, Outcome::Solved);
    assert_eq!(
        (practice.passed, practice.total, practice.hints),
        (10, 10, 2)
    );
    assert_eq!(practice.score, Some(90));
    let check = sessions
        .iter()
        .find(|s| s.kind == Kind::Check)
        .expect("the check");
    assert_eq!((check.outcome, check.passed), (Outcome::Failed, 4));
    let version: i64 = history
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, SCHEMA_VERSION);
}

#[test]
fn a_file_of_the_previous_schema_is_upgraded_in_place_keeping_its_sessions() {
    let (_dir, path) = temp_db();
    {
        // What schema 1 wrote, by schema 1's own migration.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;"
        ))
        .unwrap();
        conn.execute(
            "INSERT INTO sessions (kind, kata, mode, started_at, updated_at, ended_at, outcome, passed, total, pid)
             VALUES ('kata', 'rate-limiter', 'kata', 100, 200, 200, 'solved', 5, 5, 1)",
            [],
        )
        .unwrap();
    }
    let history = History::open_at(&path).unwrap();
    let sessions = history.sessions(None).unwrap();
    assert_eq!(sessions.len(), 1, "the old session survives the upgrade");
    assert_eq!(
        (
            sessions[0].outcome,
            sessions[0].seconds(),
            sessions[0].hints
        ),
        (Outcome::Solved, 100, 0)
    );
    assert_eq!(
        history.next_hint("rate-limiter", 3).unwrap(),
        1,
        "schema 2's tables exist"
    );
}

#[test]
fn a_foreign_sqlite_file_is_refused_and_left_untouched() {
    let (_dir, path) = temp_db();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE customers (id INTEGER); INSERT INTO customers VALUES (7);",
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = History::open_at(&path).err().expect("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains(&path.display().to_string()),
        "names the file: {message}"
    );
    assert!(
        message.contains("Move it aside"),
        "says what to do: {message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "never overwritten");
}

#[test]
fn a_damaged_file_is_refused_with_the_way_out() {
    let (_dir, path) = temp_db();
    std::fs::write(
        &path,
        b"this is not a database, it is a shopping list\n".repeat(100),
    )
    .unwrap();
    let err = History::open_at(&path).err().expect("refused");
    let message = format!("{err:#}");
    assert!(message.contains("mv "), "{message}");
    assert!(
        std::fs::read(&path)
            .unwrap()
            .starts_with(b"this is not a database")
    );
}

#[test]
fn a_session_left_running_by_a_dead_process_is_abandoned_on_the_next_open() {
    let (_dir, path) = temp_db();
    {
        let history = History::open_at(&path).unwrap();
        let id = history
            .start(Kind::Interview, "rate-limiter", Mode::Kata, Some(45))
            .unwrap();
        // As if another process had started it and died: no such pid runs.
        history
            .conn
            .execute(
                "UPDATE sessions SET pid = ?2 WHERE id = ?1",
                params![id, u32::MAX],
            )
            .unwrap();
        let live = history
            .start(Kind::Kata, "rate-limiter", Mode::Kata, None)
            .unwrap();
        assert!(live > id);
    }
    let history = History::open_at(&path).unwrap();
    let sessions = history.sessions(None).unwrap();
    assert_eq!(sessions[0].outcome, Outcome::Abandoned);
    assert!(sessions[0].ended_at.is_some());
    assert_eq!(
        sessions[1].outcome,
        Outcome::Running,
        "this process's own session still runs"
    );
}

#[test]
fn two_writers_at_once_neither_fail_nor_lose_a_session() {
    let (_dir, path) = temp_db();
    History::open_at(&path).unwrap();
    std::thread::scope(|scope| {
        for writer in 0..2 {
            let path = &path;
            scope.spawn(move || {
                let history = History::open_at(path).unwrap();
                for i in 0..50 {
                    history
                        .record_check(&verdict(&format!("kata-{writer}"), i % 5, 5), 0)
                        .unwrap_or_else(|e| panic!("writer {writer} failed: {e:#}"));
                }
            });
        }
    });
    let history = History::open_at(&path).unwrap();
    assert_eq!(history.sessions(None).unwrap().len(), 100);
    let ok: String = history
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn hints_are_counted_up_to_the_last_one() {
    let (_dir, path) = temp_db();
    let history = History::open_at(&path).unwrap();
    assert_eq!(history.next_hint("k", 2).unwrap(), 1);
    assert_eq!(history.next_hint("k", 2).unwrap(), 2);
    assert_eq!(history.next_hint("k", 2).unwrap(), 2);
    assert_eq!(history.next_hint("other", 2).unwrap(), 1);
}
