//! `EXPLAIN QUERY PLAN` for rusqlite: what SQLite will do for a statement,
//! and an assertion that it searches an index instead of scanning a table
//! or sorting in a temporary B-tree.

use rusqlite::{Connection, Params};

/// The `detail` column of `EXPLAIN QUERY PLAN` for `sql`, one line a step:
/// `SEARCH jobs USING INDEX jobs_by_state (state=? AND run_at<?)`,
/// `SCAN jobs`, `USE TEMP B-TREE FOR ORDER BY`.
pub fn query_plan(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(params, |row| row.get::<_, String>(3))?;
    rows.collect()
}

/// The steps of `plan` that break a promise of an index on `table`: a scan
/// of it (a covering index scan is a search in all but name and passes), or
/// a temporary B-tree for sorting or grouping.
pub fn unindexed_steps(plan: &[String], table: &str) -> Vec<String> {
    plan.iter()
        .filter(|step| {
            let scan = step.starts_with(&format!("SCAN {table}"))
                && !step.contains("USING COVERING INDEX")
                && !step.contains("USING INDEX");
            scan || step.contains("USE TEMP B-TREE")
        })
        .cloned()
        .collect()
}

/// Panics, naming the plan, unless `sql` reads `table` through an index and
/// sorts nothing in a temporary B-tree.
#[track_caller]
pub fn assert_indexed(conn: &Connection, sql: &str, params: impl Params, table: &str) {
    let plan =
        query_plan(conn, sql, params).unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {sql}: {e}"));
    let bad = unindexed_steps(&plan, table);
    assert!(
        bad.is_empty(),
        "the query should search an index on `{table}`, but its plan has {bad:?}.\n  query: {sql}\n  plan: {plan:#?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL, run_at INTEGER NOT NULL);",
        )
        .unwrap();
        conn
    }

    const CLAIM: &str =
        "SELECT id FROM jobs WHERE state = 'ready' AND run_at <= ?1 ORDER BY run_at LIMIT 1";

    #[test]
    fn a_query_without_its_index_scans_and_sorts() {
        let conn = jobs();
        let plan = query_plan(&conn, CLAIM, [5]).unwrap();
        assert!(plan.iter().any(|s| s.starts_with("SCAN jobs")), "{plan:?}");
        assert!(!unindexed_steps(&plan, "jobs").is_empty());
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_indexed(&conn, CLAIM, [5], "jobs")
        }));
        assert!(caught.is_err());
    }

    #[test]
    fn an_index_on_state_only_still_sorts_in_a_temporary_btree() {
        let conn = jobs();
        conn.execute_batch("CREATE INDEX jobs_by_state ON jobs (state);")
            .unwrap();
        let plan = query_plan(&conn, CLAIM, [5]).unwrap();
        assert_eq!(
            unindexed_steps(&plan, "jobs"),
            ["USE TEMP B-TREE FOR ORDER BY"],
            "{plan:?}"
        );
    }

    #[test]
    fn the_right_index_passes() {
        let conn = jobs();
        conn.execute_batch("CREATE INDEX jobs_ready ON jobs (state, run_at);")
            .unwrap();
        assert_indexed(&conn, CLAIM, [5], "jobs");
    }
}
