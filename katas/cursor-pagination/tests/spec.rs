//! The specification of the cursor-pagination kata.
//!
//! Every test name is a requirement; read the failing names first. Each test
//! opens a pager on a fresh SQLite file in a temporary directory, and writes
//! rows into `items` directly with a connection of its own (as the rest of
//! the service would), between pages where stability is the point.
//!
//! `cargo test -p cursor-pagination` judges your code;
//! `cargo test -p cursor-pagination --features solution` judges the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use cursor_pagination as subject;
#[cfg(feature = "solution")]
use cursor_pagination_solution as subject;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use rstest::rstest;
use rusqlite::{Connection, params};
use subject::{Direction, Item, Page, PageError, Pager};
use tempfile::TempDir;

// ───────────────────────────── helpers ─────────────────────────────

const SECRET: &[u8] = b"the cursor secret of the spec";

/// At most this many pages in one walk: a pager that never says "no next
/// page" fails instead of looping for ever.
const MAX_PAGES: usize = 500;

/// A fresh database file, the pager under test, and the spec's own
/// connection for writing rows behind the pager's back.
struct Db {
    _dir: TempDir,
    path: PathBuf,
    pager: Pager,
    conn: Connection,
}

impl Db {
    fn new() -> Db {
        let dir = TempDir::new().expect("create a temporary directory");
        let path = dir.path().join("items.db");
        let pager = Pager::open(&path, SECRET)
            .expect("Pager::open should create the items table on a new database file");
        let conn = Connection::open(&path).expect("the spec opens its own connection");
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .expect("set the spec connection's busy timeout");
        // The spec's writes need no durability: skip the slow fsyncs.
        conn.execute_batch("PRAGMA synchronous = OFF;")
            .expect("turn off fsync for the spec's connection");
        Db {
            _dir: dir,
            path,
            pager,
            conn,
        }
    }

    /// A database holding `rows` of `(id, created_at)`.
    fn with(rows: &[(i64, i64)]) -> Db {
        let db = Db::new();
        db.insert_all(rows);
        db
    }

    fn insert_all(&self, rows: &[(i64, i64)]) {
        self.conn
            .execute_batch("BEGIN")
            .expect("begin the spec's insert");
        for &(id, created_at) in rows {
            self.insert(id, created_at);
        }
        self.conn
            .execute_batch("COMMIT")
            .expect("commit the spec's insert");
    }

    fn insert(&self, id: i64, created_at: i64) {
        self.conn
            .execute(
                "INSERT INTO items (id, created_at, body) VALUES (?1, ?2, ?3)",
                params![id, created_at, body(id, created_at)],
            )
            .expect("the spec inserts a row into items (id, created_at, body)");
    }

    fn delete(&self, id: i64) {
        self.conn
            .execute("DELETE FROM items WHERE id = ?1", params![id])
            .expect("the spec deletes a row from items");
    }

    fn page(&self, cursor: Option<&str>, limit: u32, direction: Direction) -> Page {
        self.pager
            .page(cursor, limit, direction)
            .unwrap_or_else(|e| {
                panic!(
                    "page(cursor {cursor:?}, limit {limit}, {direction:?}) should succeed, \
                     got the error {e:?}"
                )
            })
    }
}

fn body(id: i64, created_at: i64) -> String {
    format!("row {id} created at {created_at}")
}

fn item(id: i64, created_at: i64) -> Item {
    Item {
        id,
        created_at,
        body: body(id, created_at),
    }
}

/// The `(id, created_at)` pairs of a page, for short messages.
fn keys(items: &[Item]) -> Vec<(i64, i64)> {
    items.iter().map(|i| (i.id, i.created_at)).collect()
}

/// `rows` of `(id, created_at)` in the order the pager must return them.
fn sorted(rows: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|&(id, created_at)| (created_at, id));
    rows
}

/// Walks the whole table in `direction` and returns the pages in the order
/// they were read.
fn walk(db: &Db, limit: u32, direction: Direction) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = db.page(cursor.as_deref(), limit, direction);
        cursor = match direction {
            Direction::Forward => page.next.clone(),
            Direction::Backward => page.prev.clone(),
        };
        pages.push(page);
        assert!(
            pages.len() <= MAX_PAGES,
            "a walk {direction:?} with limit {limit} should end (no more cursor) within \
             {MAX_PAGES} pages"
        );
        if cursor.is_none() {
            return pages;
        }
    }
}

/// The rows of a walk in ascending order (backward pages are read newest
/// page first).
fn rows_of(pages: &[Page], direction: Direction) -> Vec<(i64, i64)> {
    let mut pages: Vec<&Page> = pages.iter().collect();
    if direction == Direction::Backward {
        pages.reverse();
    }
    pages.iter().flat_map(|p| keys(&p.items)).collect()
}

/// Ties on `created_at`, and ids that do not follow `created_at` (rows
/// backdated on insert): `(id, created_at)`.
const TABLE: [(i64, i64); 12] = [
    (1, 10),
    (2, 10),
    (3, 10),
    (4, 20),
    (5, 5),
    (6, 20),
    (7, 30),
    (8, 10),
    (9, 30),
    (10, 1),
    (11, 30),
    (12, 25),
];

// ─────────────────── Order, both ends, and whole walks ───────────────────

#[test]
fn first_page_forward_is_the_oldest_rows_in_created_at_then_id_order() {
    let db = Db::with(&TABLE);
    let page = db.page(None, 5, Direction::Forward);
    assert_eq!(
        keys(&page.items),
        sorted(&TABLE)[..5].to_vec(),
        "the first page forward should hold the 5 oldest rows, ordered by created_at and \
         then by id (as (id, created_at))"
    );
    assert_eq!(
        page.items[0],
        item(10, 1),
        "items carry id, created_at and body"
    );
}

#[test]
fn first_page_backward_is_the_newest_rows_still_oldest_first() {
    let db = Db::with(&TABLE);
    let page = db.page(None, 4, Direction::Backward);
    assert_eq!(
        keys(&page.items),
        sorted(&TABLE)[8..].to_vec(),
        "the first page backward should hold the 4 newest rows, listed oldest first \
         (as (id, created_at))"
    );
}

#[rstest]
#[case::one_row_per_page(1)]
#[case::two_per_page(2)]
#[case::five_per_page(5)]
#[case::a_page_as_large_as_the_table(12)]
#[case::a_page_larger_than_the_table(100)]
fn walks_forward_through_every_row_exactly_once(#[case] limit: u32) {
    let db = Db::with(&TABLE);
    let pages = walk(&db, limit, Direction::Forward);
    for page in &pages {
        assert!(
            page.items.len() <= limit as usize,
            "a page holds at most limit = {limit} rows, got {:?}",
            keys(&page.items)
        );
    }
    assert_eq!(
        rows_of(&pages, Direction::Forward),
        sorted(&TABLE),
        "following `next` from the first page with limit {limit} should return every row \
         exactly once, in (created_at, id) order"
    );
}

#[rstest]
#[case::one_row_per_page(1)]
#[case::three_per_page(3)]
#[case::five_per_page(5)]
#[case::a_page_larger_than_the_table(100)]
fn walks_backward_through_every_row_exactly_once(#[case] limit: u32) {
    let db = Db::with(&TABLE);
    let pages = walk(&db, limit, Direction::Backward);
    assert_eq!(
        rows_of(&pages, Direction::Backward),
        sorted(&TABLE),
        "following `prev` backward from the newest page with limit {limit} should return \
         every row exactly once, each page oldest first"
    );
}

#[test]
fn rows_with_the_same_created_at_are_not_skipped_at_a_page_boundary() {
    // Five rows at one instant; the page boundary falls in the middle.
    let rows = [(1, 7), (2, 7), (3, 7), (4, 7), (5, 7), (6, 8)];
    let db = Db::with(&rows);
    let first = db.page(None, 2, Direction::Forward);
    let second = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(
        keys(&second.items),
        vec![(3, 7), (4, 7)],
        "after a page ending at (id 2, created_at 7), the next page should start with the \
         other rows created at 7: the cursor must hold the id as well as created_at"
    );
}

#[test]
fn ids_need_not_follow_created_at_order() {
    // Row 9 was backdated: a newer id with an older created_at.
    let rows = [(1, 100), (2, 200), (9, 150), (3, 300)];
    let db = Db::with(&rows);
    let first = db.page(None, 2, Direction::Forward);
    assert_eq!(keys(&first.items), vec![(1, 100), (9, 150)]);
    let second = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(
        keys(&second.items),
        vec![(2, 200), (3, 300)],
        "the rows after (created_at 150, id 9) are those with a greater (created_at, id) \
         pair, compared as a tuple: `created_at > 150 OR id > 9` is not the same"
    );
    let back = db.page(second.prev.as_deref(), 2, Direction::Backward);
    assert_eq!(
        keys(&back.items),
        vec![(1, 100), (9, 150)],
        "the rows before (created_at 200, id 2) are (1, 100) and (9, 150)"
    );
}

#[test]
fn negative_and_extreme_created_at_values_survive_the_cursor() {
    let rows = [
        (1, i64::MIN),
        (2, -5),
        (3, 0),
        (i64::MAX, 0),
        (4, i64::MAX),
        (5, i64::MAX),
    ];
    let db = Db::with(&rows);
    let pages = walk(&db, 1, Direction::Forward);
    assert_eq!(
        rows_of(&pages, Direction::Forward),
        sorted(&rows),
        "a cursor must carry any i64 created_at and id exactly (negative, i64::MIN, i64::MAX)"
    );
    let pages = walk(&db, 2, Direction::Backward);
    assert_eq!(rows_of(&pages, Direction::Backward), sorted(&rows));
}

// ─────────────────────────── next and prev ───────────────────────────

#[test]
fn next_and_prev_say_exactly_whether_rows_lie_beyond_the_page() {
    let db = Db::with(&[(1, 1), (2, 2), (3, 3), (4, 4)]);
    let first = db.page(None, 2, Direction::Forward);
    assert!(
        first.prev.is_none(),
        "the first page has no prev: nothing lies before row 1"
    );
    assert!(
        first.next.is_some(),
        "rows 3 and 4 lie after the first page of 2: next is Some"
    );
    let last = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(keys(&last.items), vec![(3, 3), (4, 4)]);
    assert!(
        last.next.is_none(),
        "a page that ends at the newest row has no next, even when it is full"
    );
    assert!(
        last.prev.is_some(),
        "rows 1 and 2 lie before the second page: prev is Some"
    );
    let newest = db.page(None, 4, Direction::Backward);
    assert!(
        newest.next.is_none() && newest.prev.is_none(),
        "a page holding the whole table has neither next nor prev, got next {:?} prev {:?}",
        newest.next,
        newest.prev
    );
}

#[test]
fn an_empty_table_gives_an_empty_page_without_cursors() {
    let db = Db::new();
    for direction in [Direction::Forward, Direction::Backward] {
        let page = db.page(None, 10, direction);
        assert_eq!(
            page,
            Page {
                items: vec![],
                next: None,
                prev: None
            },
            "an empty table gives an empty page with no cursors ({direction:?})"
        );
    }
}

#[test]
fn prev_of_a_page_leads_back_to_the_page_before_it() {
    let db = Db::with(&TABLE);
    let first = db.page(None, 3, Direction::Forward);
    let second = db.page(first.next.as_deref(), 3, Direction::Forward);
    let third = db.page(second.next.as_deref(), 3, Direction::Forward);
    let back = db.page(third.prev.as_deref(), 3, Direction::Backward);
    assert_eq!(
        keys(&back.items),
        keys(&second.items),
        "going backward from the third page's prev should give the second page again"
    );
    let forth = db.page(back.next.as_deref(), 3, Direction::Forward);
    assert_eq!(
        keys(&forth.items),
        keys(&third.items),
        "and going forward from that page's next gives the third page again"
    );
}

#[test]
fn a_limit_of_zero_is_treated_as_one() {
    let db = Db::with(&[(1, 1), (2, 2), (3, 3)]);
    let first = db.page(None, 0, Direction::Forward);
    assert_eq!(
        keys(&first.items),
        vec![(1, 1)],
        "page(None, limit 0, Forward) should read one row: a limit of 0 is treated as 1"
    );
    assert!(
        first.next.is_some(),
        "rows 2 and 3 lie after the page: next is Some"
    );
    let second = db.page(first.next.as_deref(), 0, Direction::Forward);
    assert_eq!(
        keys(&second.items),
        vec![(2, 2)],
        "a limit of 0 after a cursor reads the one next row"
    );
    let newest = db.page(None, 0, Direction::Backward);
    assert_eq!(
        keys(&newest.items),
        vec![(3, 3)],
        "page(None, limit 0, Backward) should read the newest row"
    );
    assert!(
        newest.prev.is_some(),
        "rows 1 and 2 lie before the page: prev is Some"
    );
}

#[test]
fn a_limit_of_u32_max_reads_every_row_without_overflowing() {
    let db = Db::with(&TABLE);
    for direction in [Direction::Forward, Direction::Backward] {
        let page = db.page(None, u32::MAX, direction);
        assert_eq!(
            keys(&page.items),
            sorted(&TABLE),
            "page(None, limit u32::MAX, {direction:?}) should hold the whole table: the \
             look-ahead row (limit + 1) must not overflow"
        );
        assert!(
            page.next.is_none() && page.prev.is_none(),
            "a page holding the whole table has neither next nor prev ({direction:?})"
        );
    }
    let first = db.page(None, 2, Direction::Forward);
    let rest = db.page(first.next.as_deref(), u32::MAX, Direction::Forward);
    assert_eq!(
        keys(&rest.items),
        sorted(&TABLE)[2..].to_vec(),
        "limit u32::MAX after a cursor reads every row after it"
    );
}

#[test]
fn next_and_prev_are_none_once_the_rows_beyond_were_deleted_after_the_cursor_was_issued() {
    let db = Db::with(&[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]);
    let first = db.page(None, 2, Direction::Forward);
    db.delete(1);
    db.delete(2);
    let second = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(keys(&second.items), vec![(3, 3), (4, 4)]);
    assert!(
        second.prev.is_none(),
        "rows 1 and 2 were deleted before the page after them was read: nothing lies before \
         row 3 any more, so prev should be None, got {:?}",
        second.prev
    );
    let newest = db.page(None, 2, Direction::Backward);
    assert_eq!(keys(&newest.items), vec![(5, 5), (6, 6)]);
    db.delete(5);
    db.delete(6);
    let before = db.page(newest.prev.as_deref(), 2, Direction::Backward);
    assert_eq!(keys(&before.items), vec![(3, 3), (4, 4)]);
    assert!(
        before.next.is_none(),
        "rows 5 and 6 were deleted before the page before them was read: nothing lies after \
         row 4 any more, so next should be None, got {:?}",
        before.next
    );
}

// ─────────────── Stability while rows are inserted and deleted ───────────────

#[test]
fn deleting_rows_already_read_does_not_skip_rows_on_the_next_page() {
    let db = Db::with(&[(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6)]);
    let first = db.page(None, 2, Direction::Forward);
    assert_eq!(keys(&first.items), vec![(1, 1), (2, 2)]);
    db.delete(1);
    db.delete(2);
    let second = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(
        keys(&second.items),
        vec![(3, 3), (4, 4)],
        "after reading rows 1-2 and deleting them, the next page should be rows 3-4: \
         a cursor that counts rows (an offset) skips 3 and 4"
    );
}

#[test]
fn inserting_rows_before_the_cursor_does_not_repeat_rows_on_the_next_page() {
    let db = Db::with(&[(1, 10), (2, 20), (3, 30), (4, 40), (5, 50)]);
    let first = db.page(None, 2, Direction::Forward);
    db.insert_all(&[(6, 5), (7, 15)]);
    let second = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(
        keys(&second.items),
        vec![(3, 30), (4, 40)],
        "rows inserted before the cursor (created_at 5 and 15) should not push rows already \
         read (1, 2) into the next page"
    );
}

#[test]
fn a_cursor_stays_valid_when_its_own_row_is_deleted() {
    let db = Db::with(&[(1, 1), (2, 2), (3, 3), (4, 4)]);
    let first = db.page(None, 2, Direction::Forward);
    db.delete(2);
    let second = db.page(first.next.as_deref(), 2, Direction::Forward);
    assert_eq!(
        keys(&second.items),
        vec![(3, 3), (4, 4)],
        "a cursor is a position, not a row: deleting the row it was taken from (2) must \
         not lose the rows after it"
    );
    db.delete(3);
    let back = db.page(second.prev.as_deref(), 2, Direction::Backward);
    assert_eq!(keys(&back.items), vec![(1, 1)]);
}

// ───────────────────────── An opaque, signed cursor ─────────────────────────

#[rstest]
#[case::empty("")]
#[case::words("not a cursor")]
#[case::punctuation("%%%%")]
#[case::emoji("🙂🙂🙂")]
#[case::a_plain_offset("10")]
#[case::sql("1 OR 1=1; DROP TABLE items")]
fn a_malformed_cursor_is_a_typed_error(#[case] cursor: &str) {
    let db = Db::with(&TABLE);
    for direction in [Direction::Forward, Direction::Backward] {
        let result = db.pager.page(Some(cursor), 3, direction);
        assert!(
            matches!(result, Err(PageError::MalformedCursor)),
            "the cursor {cursor:?} was not issued by the pager: page({direction:?}) should be \
             Err(MalformedCursor), got {result:?}"
        );
    }
    let still = db.page(None, 3, Direction::Forward);
    assert_eq!(still.items.len(), 3, "a bad cursor must not harm the table");
}

#[test]
fn a_cursor_with_any_character_changed_is_rejected() {
    let db = Db::with(&TABLE);
    let first = db.page(None, 3, Direction::Forward);
    let cursor = first
        .next
        .expect("9 rows follow the first page of 3: next is Some");
    let chars: Vec<char> = cursor.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // Another character of the same kind, so the cursor still looks valid.
        let other = match c {
            '0' => '1',
            '1'..='9' => '0',
            'a' => 'b',
            'A' => 'B',
            c if c.is_ascii_lowercase() => 'a',
            c if c.is_ascii_uppercase() => 'A',
            _ => '0',
        };
        let mut altered = chars.clone();
        altered[i] = other;
        let altered: String = altered.into_iter().collect();
        for direction in [Direction::Forward, Direction::Backward] {
            let result = db.pager.page(Some(&altered), 3, direction);
            assert!(
                matches!(
                    result,
                    Err(PageError::TamperedCursor | PageError::MalformedCursor)
                ),
                "the cursor {cursor:?} with character {i} changed to {other:?} ({altered:?}) \
                 should be rejected as TamperedCursor (or MalformedCursor), got {result:?}"
            );
        }
    }
}

#[test]
fn an_upper_cased_or_otherwise_non_canonical_cursor_is_rejected() {
    let db = Db::with(&TABLE);
    let cursor = db
        .page(None, 3, Direction::Forward)
        .next
        .expect("9 rows follow the first page of 3: next is Some");
    let chars: Vec<char> = cursor.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        // Every other printable character: the other case of a letter, a
        // `+` or a space before a digit, padding, separators.
        for other in (' '..='~').filter(|&o| o != c) {
            let mut altered = chars.clone();
            altered[i] = other;
            let altered: String = altered.into_iter().collect();
            let result = db.pager.page(Some(&altered), 3, Direction::Forward);
            assert!(
                matches!(
                    result,
                    Err(PageError::TamperedCursor | PageError::MalformedCursor)
                ),
                "the cursor {cursor:?} with character {i} ({c:?}) changed to {other:?} \
                 ({altered:?}) should be rejected: every character counts, so a decoder that \
                 accepts another spelling of the same bytes (upper case, a sign) must refuse \
                 it. Got {result:?}"
            );
        }
    }
}

#[test]
fn a_cursor_issued_under_another_secret_is_tampered() {
    let db = Db::with(&TABLE);
    let other = Pager::open(&db.path, b"someone else's secret")
        .expect("a second pager opens on the same database");
    let foreign = other
        .page(None, 3, Direction::Forward)
        .expect("the second pager reads a page")
        .next
        .expect("9 rows follow the first page of 3: next is Some");
    let result = db.pager.page(Some(&foreign), 3, Direction::Forward);
    assert!(
        matches!(result, Err(PageError::TamperedCursor)),
        "a well-formed cursor issued under another secret should be Err(TamperedCursor): a \
         client must not be able to forge a position; got {result:?}"
    );
}

#[test]
fn a_cursor_works_in_another_pager_with_the_same_secret() {
    let db = Db::with(&TABLE);
    let first = db.page(None, 3, Direction::Forward);
    let other = Pager::open(&db.path, SECRET).expect("a second pager opens on the same database");
    let second = other
        .page(first.next.as_deref(), 3, Direction::Forward)
        .expect("a cursor is valid in any pager with the same secret (another server)");
    assert_eq!(
        keys(&second.items),
        sorted(&TABLE)[3..6].to_vec(),
        "the cursor carries its position itself: no state in the pager that issued it"
    );
}

// ─────────────────────────── The index ───────────────────────────

#[test]
fn open_creates_an_index_on_created_at_then_id() {
    let db = Db::new();
    let mut list = db
        .conn
        .prepare("SELECT name FROM pragma_index_list('items')")
        .expect("list the indexes of items");
    let names: Vec<String> = list
        .query_map([], |row| row.get(0))
        .expect("read the index list")
        .collect::<Result<_, _>>()
        .expect("read the index names");
    let mut found = Vec::new();
    for name in &names {
        let mut info = db
            .conn
            .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
            .expect("describe an index");
        let columns: Vec<Option<String>> = info
            .query_map([name], |row| row.get(0))
            .expect("read the index columns")
            .collect::<Result<_, _>>()
            .expect("read the index column names");
        found.push((name.clone(), columns.clone()));
        if columns.len() >= 2
            && columns[0].as_deref() == Some("created_at")
            && columns[1].as_deref() == Some("id")
        {
            return;
        }
    }
    panic!(
        "Pager::open should create an index on items (created_at, id); the indexes are \
         {found:?}"
    );
}

#[rstest]
#[case::forward(Direction::Forward)]
#[case::backward(Direction::Backward)]
fn followup_the_page_query_searches_the_index_instead_of_scanning_the_table(
    #[case] direction: Direction,
) {
    let db = Db::with(&TABLE);
    // Let the planner see the table's statistics, as a real one would have.
    db.conn
        .execute_batch("ANALYZE;")
        .expect("analyze the table");
    let plan = db
        .pager
        .page_query_plan(direction)
        .expect("page_query_plan should explain the page query");
    let searches_index = plan
        .iter()
        .any(|line| line.starts_with("SEARCH") && line.contains("INDEX"));
    let scans = plan
        .iter()
        .any(|line| line.starts_with("SCAN") || line.contains("TEMP B-TREE"));
    assert!(
        searches_index && !scans,
        "the page query {direction:?} should SEARCH an index on (created_at, id) for the \
         rows beyond the cursor and read them in index order: no SCAN of the table, no \
         temporary B-tree for ORDER BY. The plan was {plan:?}"
    );
}

// ──────────────── Model-based: random tables, writes between pages ────────────────

/// A write the rest of the service makes between two pages.
#[derive(Debug, Clone)]
enum Write {
    /// A new row (a fresh id) at this created_at: before, at or after the
    /// cursor.
    Insert { created_at: i64 },
    /// Delete one of the rows present now.
    Delete { pick: prop::sample::Index },
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        (0..8_i64).prop_map(|created_at| Write::Insert { created_at }),
        any::<prop::sample::Index>().prop_map(|pick| Write::Delete { pick }),
    ]
}

/// A random table: distinct ids in no relation to created_at, few distinct
/// created_at values (many ties).
fn table() -> impl Strategy<Value = Vec<(i64, i64)>> {
    btree_set(1..1000_i64, 0..30).prop_flat_map(|ids| {
        let n = ids.len();
        vec(0..8_i64, n).prop_map(move |ats| ids.iter().copied().zip(ats).collect::<Vec<_>>())
    })
}

/// Walks the table in `direction`, applying `writes[i]` after page `i`, and
/// checks every page against a `BTreeMap` of the rows present at that time.
fn walk_against_the_model(
    rows: &[(i64, i64)],
    limit: u32,
    direction: Direction,
    writes: &[Vec<Write>],
) -> Result<(), TestCaseError> {
    let db = Db::with(rows);
    // The model: (created_at, id) -> body, and the rows no write touched.
    let mut model: BTreeMap<(i64, i64), String> = rows
        .iter()
        .map(|&(id, at)| ((at, id), body(id, at)))
        .collect();
    let mut throughout: HashSet<i64> = rows.iter().map(|&(id, _)| id).collect();
    let mut seen: HashSet<i64> = HashSet::new();
    let mut next_id = 1000;
    let mut cursor: Option<String> = None;
    // The position the cursor names: the last (forward) or first (backward)
    // item of the previous page.
    let mut position: Option<(i64, i64)> = None;
    for step in 0..MAX_PAGES {
        let page = db
            .pager
            .page(cursor.as_deref(), limit, direction)
            .map_err(|e| TestCaseError::fail(format!("page {step} failed: {e:?}")))?;
        let got: Vec<(i64, i64)> = page.items.iter().map(|i| (i.created_at, i.id)).collect();
        for item in &page.items {
            prop_assert!(
                seen.insert(item.id),
                "page {step} ({direction:?}, limit {limit}) repeats row id {} (created_at {}), \
                 already returned by an earlier page",
                item.id,
                item.created_at
            );
        }
        let expected: Vec<(i64, i64)> = match (direction, position) {
            (Direction::Forward, None) => model.keys().take(limit as usize).copied().collect(),
            (Direction::Forward, Some(p)) => model
                .range((std::ops::Bound::Excluded(p), std::ops::Bound::Unbounded))
                .take(limit as usize)
                .map(|(k, _)| *k)
                .collect(),
            (Direction::Backward, p) => {
                let before: Vec<(i64, i64)> = match p {
                    None => model.keys().copied().collect(),
                    Some(p) => model.range(..p).map(|(k, _)| *k).collect(),
                };
                before[before.len().saturating_sub(limit as usize)..].to_vec()
            }
        };
        prop_assert_eq!(
            &got,
            &expected,
            "page {} ({:?}, limit {}) after the position (created_at, id) {:?} should hold \
             the rows (created_at, id) beyond it, closest first, listed oldest first",
            step,
            direction,
            limit,
            position
        );
        for item in &page.items {
            prop_assert_eq!(
                Some(&item.body),
                model.get(&(item.created_at, item.id)),
                "row {} should carry its body",
                item.id
            );
        }
        let (first, last) = (got.first().copied(), got.last().copied());
        let any_after = last.is_some_and(|l| {
            model
                .range((std::ops::Bound::Excluded(l), std::ops::Bound::Unbounded))
                .next()
                .is_some()
        });
        let any_before = first.is_some_and(|f| model.range(..f).next().is_some());
        prop_assert_eq!(
            page.next.is_some(),
            any_after,
            "page {} {:?}: next should be Some exactly when a row lies after its last item",
            step,
            got
        );
        prop_assert_eq!(
            page.prev.is_some(),
            any_before,
            "page {} {:?}: prev should be Some exactly when a row lies before its first item",
            step,
            got
        );
        (cursor, position) = match direction {
            Direction::Forward => (page.next, last),
            Direction::Backward => (page.prev, first),
        };
        if cursor.is_none() {
            let missed: Vec<i64> = throughout.difference(&seen).copied().collect();
            prop_assert!(
                missed.is_empty(),
                "the walk {direction:?} (limit {limit}) skipped rows {missed:?} that existed \
                 from its start to its end"
            );
            return Ok(());
        }
        for write in writes.get(step).into_iter().flatten() {
            match write {
                Write::Insert { created_at } => {
                    next_id += 1;
                    db.insert(next_id, *created_at);
                    model.insert((*created_at, next_id), body(next_id, *created_at));
                }
                Write::Delete { pick } => {
                    if model.is_empty() {
                        continue;
                    }
                    let key = *model
                        .keys()
                        .nth(pick.index(model.len()))
                        .expect("the pick is in range");
                    db.delete(key.1);
                    model.remove(&key);
                    throughout.remove(&key.1);
                }
            }
        }
    }
    Err(TestCaseError::fail(format!(
        "the walk {direction:?} (limit {limit}) did not end within {MAX_PAGES} pages"
    )))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn followup_a_forward_walk_under_interleaved_writes_agrees_with_the_model(
        rows in table(),
        limit in 1..6_u32,
        writes in vec(vec(write(), 0..4), 0..30),
    ) {
        walk_against_the_model(&rows, limit, Direction::Forward, &writes)?;
    }

    #[test]
    fn followup_a_backward_walk_under_interleaved_writes_agrees_with_the_model(
        rows in table(),
        limit in 1..6_u32,
        writes in vec(vec(write(), 0..4), 0..30),
    ) {
        walk_against_the_model(&rows, limit, Direction::Backward, &writes)?;
    }
}
