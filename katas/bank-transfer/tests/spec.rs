//! The specification of the bank-transfer kata.
//!
//! Every test name is a requirement; read the failing names first. Most
//! specs run on one bank; the ones about several connections use a real file
//! in a temporary directory (removed afterwards), with one `Bank` (one
//! connection) per thread, as several application servers would share one
//! database. Threads report back through a channel with a deadline, so a
//! bank that deadlocks fails its spec instead of hanging.
//!
//! The spec goes through the API only, with one exception: to simulate a
//! failed write it installs a trigger on your table `ledger` from a
//! connection of its own.
//!
//! `cargo test -p bank-transfer` judges your code;
//! `cargo test -p bank-transfer --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use bank_transfer as subject;
#[cfg(feature = "solution")]
use bank_transfer_solution as subject;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rstest::rstest;
use rusqlite::{Connection, ffi};
use subject::{AccountId, Bank, Transfer, TransferError, TransferId};
use tempfile::TempDir;

// ─────────────────────────── helpers ───────────────────────────

/// How long the threads of one concurrency spec may take, all together.
const DEADLINE: Duration = Duration::from_secs(25);

/// A bank on a fresh in-memory database.
fn in_memory() -> Bank {
    watch_statements_of_new_connections();
    let conn = Connection::open_in_memory().expect("an in-memory SQLite database");
    Bank::with_connection(conn).expect("a bank on a fresh in-memory database should open")
}

/// A temporary directory (removed when dropped) and a database path in it.
fn fresh_file() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bank.db");
    (dir, path)
}

fn open(path: &Path) -> Bank {
    watch_statements_of_new_connections();
    Bank::open(path).unwrap_or_else(|e| panic!("a bank on {} should open: {e}", path.display()))
}

fn account(bank: &mut Bank, initial: u64) -> AccountId {
    bank.open_account(initial)
        .unwrap_or_else(|e| panic!("opening an account with {initial} should succeed: {e:?}"))
}

fn balance(bank: &Bank, id: AccountId) -> i64 {
    bank.balance(id)
        .unwrap_or_else(|e| panic!("the balance of {id:?} should be readable: {e:?}"))
}

fn ledger(bank: &Bank) -> Vec<Transfer> {
    bank.ledger()
        .unwrap_or_else(|e| panic!("the ledger should be readable: {e:?}"))
}

fn transfer(bank: &mut Bank, from: AccountId, to: AccountId, amount: i64) -> TransferId {
    bank.transfer(from, to, amount).unwrap_or_else(|e| {
        panic!("transferring {amount} from {from:?} to {to:?} should succeed, but failed: {e:?}")
    })
}

/// A hook on the statements the current thread starts: called with each
/// one's SQL text before it runs, until it returns `true`.
type Hook = Box<dyn FnMut(&str) -> bool>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// SQLite calls this when a statement starts running on any connection,
/// before the statement takes a lock.
unsafe extern "C" fn on_statement(
    _event: c_uint,
    _context: *mut c_void,
    _statement: *mut c_void,
    sql: *mut c_void,
) -> c_int {
    let sql = if sql.is_null() {
        ""
    } else {
        // SAFETY: for SQLITE_TRACE_STMT the last argument is the statement's
        // SQL text, a NUL-terminated string valid during the call.
        unsafe { CStr::from_ptr(sql.cast::<c_char>()) }
            .to_str()
            .unwrap_or("")
    };
    // Never unwind into SQLite; take the hook out while it runs, so that the
    // statements it runs itself do not call it again.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let Some(mut hook) = HOOK.with(|h| h.borrow_mut().take()) else {
            return;
        };
        if !hook(sql) {
            HOOK.with(|h| *h.borrow_mut() = Some(hook));
        }
    }));
    0
}

/// The auto-extension: every new connection reports the statements it starts.
unsafe extern "C" fn report_statements(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    // SAFETY: SQLite calls this with the connection it is opening, which is
    // valid; `on_statement` ignores its context, so a null one is fine.
    unsafe {
        ffi::sqlite3_trace_v2(
            db,
            ffi::SQLITE_TRACE_STMT as c_uint,
            Some(on_statement),
            std::ptr::null_mut(),
        )
    }
}

/// From now on, every connection the process opens (the banks' own
/// included) lets the spec act just before one of its statements runs: that
/// is how the specs below put another connection's work exactly between two
/// statements of a bank, on every run.
fn watch_statements_of_new_connections() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `report_statements` has the signature SQLite expects of an
        // extension entry point, and is a plain function that lives for ever.
        let rc = unsafe { ffi::sqlite3_auto_extension(Some(report_statements)) };
        assert_eq!(
            rc,
            ffi::SQLITE_OK,
            "register the statement-watching auto-extension"
        );
    });
}

/// Whether `sql` starts with one of the `keywords`, ignoring case.
fn starts_with_any(sql: &str, keywords: &[&str]) -> bool {
    let sql = sql.trim_start().to_ascii_uppercase();
    keywords.iter().any(|k| sql.starts_with(k))
}

/// Runs `action` on this thread just before the first statement that
/// `trigger` picks (given each statement's SQL, in order), and says whether
/// it ran. Cleared by `hook_done`.
fn before_statement(
    mut trigger: impl FnMut(&str) -> bool + 'static,
    action: impl FnOnce() + 'static,
) -> Rc<Cell<bool>> {
    let ran = Rc::new(Cell::new(false));
    let flag = Rc::clone(&ran);
    let mut action = Some(action);
    let hook: Hook = Box::new(move |sql| {
        if !trigger(sql) {
            return false;
        }
        if let Some(action) = action.take() {
            action();
            flag.set(true);
        }
        true
    });
    HOOK.with(|h| *h.borrow_mut() = Some(hook));
    ran
}

/// Removes this thread's hook (whether it ran or not).
fn hook_done() {
    HOOK.with(|h| h.borrow_mut().take());
}

/// A bank with two accounts holding `a` and `b`.
fn two_accounts(a: u64, b: u64) -> (Bank, AccountId, AccountId) {
    let mut bank = in_memory();
    let alice = account(&mut bank, a);
    let bob = account(&mut bank, b);
    (bank, alice, bob)
}

/// Asserts that nothing moved: the balances are as given and the ledger is
/// empty.
fn assert_unchanged(bank: &Bank, alice: AccountId, bob: AccountId, a: i64, b: i64, what: &str) {
    assert_eq!(
        (balance(bank, alice), balance(bank, bob)),
        (a, b),
        "{what} must not move any money"
    );
    assert_eq!(
        ledger(bank),
        vec![],
        "{what} must not be recorded in the ledger"
    );
}

// ─────────────────────────── accounts ───────────────────────────

#[test]
fn a_new_account_holds_its_initial_balance() {
    let mut bank = in_memory();
    let rich = account(&mut bank, 1_000_000);
    let empty = account(&mut bank, 0);
    assert_eq!(
        balance(&bank, rich),
        1_000_000,
        "an account opened with 1,000,000 cents"
    );
    assert_eq!(balance(&bank, empty), 0, "an account opened with 0 cents");
    assert_eq!(ledger(&bank), vec![], "opening accounts is not a transfer");
}

#[test]
fn every_account_gets_a_distinct_id() {
    let mut bank = in_memory();
    let ids: Vec<AccountId> = (0..20).map(|i| account(&mut bank, i)).collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), ids.len(), "20 accounts got ids {ids:?}");
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            balance(&bank, *id),
            i as i64,
            "account {id:?} was opened with {i}"
        );
    }
}

#[rstest]
#[case::just_past_i64_max(1 << 63)]
#[case::u64_max(u64::MAX)]
fn an_opening_balance_beyond_i64_max_is_refused_instead_of_wrapping(#[case] initial: u64) {
    let mut bank = in_memory();
    let alice = account(&mut bank, 100);
    let result = bank.open_account(initial);
    if let Ok(id) = result {
        let held = bank.balance(id);
        panic!(
            "open_account({initial}) cannot hold its opening balance in an i64 balance: it \
             should be refused with an error (any), not opened as {id:?} holding {held:?} (a \
             wrapping `as i64`)"
        );
    }
    assert_eq!(balance(&bank, alice), 100, "the refusal changes nothing");
    assert_eq!(ledger(&bank), vec![], "the refusal is not a transfer");
}

#[test]
fn the_balance_of_an_unknown_account_is_an_error_naming_it() {
    let mut bank = in_memory();
    let known = account(&mut bank, 10);
    let unknown = AccountId(known.0 + 1000);
    assert!(
        matches!(bank.balance(unknown), Err(TransferError::UnknownAccount(id)) if id == unknown),
        "the balance of {unknown:?}, which was never opened, should be UnknownAccount({unknown:?}), got {:?}",
        bank.balance(unknown)
    );
}

// ─────────────────────────── transfers ───────────────────────────

#[test]
fn a_transfer_moves_the_amount_from_one_account_to_the_other() {
    let (mut bank, alice, bob) = two_accounts(100, 5);
    transfer(&mut bank, alice, bob, 30);
    assert_eq!(balance(&bank, alice), 70, "alice had 100 and sent 30");
    assert_eq!(balance(&bank, bob), 35, "bob had 5 and received 30");
    transfer(&mut bank, bob, alice, 35);
    assert_eq!(balance(&bank, alice), 105, "alice had 70 and received 35");
    assert_eq!(balance(&bank, bob), 0, "bob had 35 and sent 35");
}

#[test]
fn every_transfer_is_in_the_ledger_once_under_the_id_it_returned() {
    let (mut bank, alice, bob) = two_accounts(100, 0);
    let first = transfer(&mut bank, alice, bob, 10);
    let second = transfer(&mut bank, bob, alice, 4);
    let third = transfer(&mut bank, alice, bob, 25);
    assert!(
        first != second && second != third && first != third,
        "three transfers got the ids {first:?}, {second:?}, {third:?}: they must differ"
    );
    assert_eq!(
        ledger(&bank),
        vec![
            Transfer {
                id: first,
                from: alice,
                to: bob,
                amount: 10
            },
            Transfer {
                id: second,
                from: bob,
                to: alice,
                amount: 4
            },
            Transfer {
                id: third,
                from: alice,
                to: bob,
                amount: 25
            },
        ],
        "the ledger should list the three transfers, oldest first, under the ids transfer returned"
    );
}

#[test]
fn an_account_can_transfer_its_whole_balance() {
    let (mut bank, alice, bob) = two_accounts(50, 0);
    transfer(&mut bank, alice, bob, 50);
    assert_eq!(
        (balance(&bank, alice), balance(&bank, bob)),
        (0, 50),
        "transferring all of alice's 50 to bob"
    );
}

#[test]
fn refuses_a_transfer_larger_than_the_balance_and_changes_nothing() {
    let (mut bank, alice, bob) = two_accounts(50, 7);
    let result = bank.transfer(alice, bob, 51);
    assert!(
        matches!(result, Err(TransferError::InsufficientFunds)),
        "transferring 51 from an account holding 50 should be InsufficientFunds, got {result:?}"
    );
    assert_unchanged(
        &bank,
        alice,
        bob,
        50,
        7,
        "a refused transfer of 51 out of 50",
    );
}

#[rstest]
#[case::zero(0)]
#[case::minus_one(-1)]
#[case::minus_a_hundred(-100)]
#[case::the_most_negative_amount(i64::MIN)]
fn rejects_zero_and_negative_amounts(#[case] amount: i64) {
    let (mut bank, alice, bob) = two_accounts(100, 100);
    let result = bank.transfer(alice, bob, amount);
    assert!(
        matches!(result, Err(TransferError::NonPositiveAmount)),
        "transferring {amount} should be NonPositiveAmount, got {result:?}"
    );
    assert_unchanged(
        &bank,
        alice,
        bob,
        100,
        100,
        &format!("a rejected transfer of {amount}"),
    );
}

#[test]
fn rejects_a_transfer_to_the_same_account() {
    let (mut bank, alice, bob) = two_accounts(100, 0);
    let result = bank.transfer(alice, alice, 10);
    assert!(
        matches!(result, Err(TransferError::SameAccount)),
        "transferring 10 from alice to alice should be SameAccount, got {result:?}"
    );
    assert_unchanged(&bank, alice, bob, 100, 0, "a transfer from alice to alice");
}

#[rstest]
#[case::unknown_source(true)]
#[case::unknown_destination(false)]
fn rejects_unknown_accounts_naming_the_unknown_one(#[case] unknown_is_source: bool) {
    let (mut bank, alice, bob) = two_accounts(100, 0);
    let ghost = AccountId(alice.0.max(bob.0) + 1000);
    let (from, to) = if unknown_is_source {
        (ghost, alice)
    } else {
        (alice, ghost)
    };
    let result = bank.transfer(from, to, 10);
    assert!(
        matches!(result, Err(TransferError::UnknownAccount(id)) if id == ghost),
        "transferring 10 from {from:?} to {to:?}, where {ghost:?} was never opened, should be UnknownAccount({ghost:?}), got {result:?}"
    );
    assert_unchanged(
        &bank,
        alice,
        bob,
        100,
        0,
        "a transfer involving an unknown account",
    );
}

#[test]
fn accounts_and_the_ledger_survive_reopening_the_database() {
    let (_dir, path) = fresh_file();
    let (alice, bob, id) = {
        let mut bank = open(&path);
        let alice = account(&mut bank, 100);
        let bob = account(&mut bank, 0);
        let id = transfer(&mut bank, alice, bob, 40);
        (alice, bob, id)
    };
    let mut bank = open(&path);
    assert_eq!(
        (balance(&bank, alice), balance(&bank, bob)),
        (60, 40),
        "after reopening the file, alice and bob should still hold 60 and 40"
    );
    assert_eq!(
        ledger(&bank),
        vec![Transfer {
            id,
            from: alice,
            to: bob,
            amount: 40
        }],
        "after reopening the file, the ledger should still hold the transfer"
    );
    let carol = account(&mut bank, 0);
    assert!(
        carol != alice && carol != bob,
        "an account opened after reopening got {carol:?}, an id already in use"
    );
}

#[test]
fn two_banks_on_one_file_see_each_others_accounts_and_transfers() {
    let (_dir, path) = fresh_file();
    let mut first = open(&path);
    let mut second = open(&path);
    let alice = account(&mut first, 100);
    let bob = account(&mut second, 0);
    assert_ne!(
        alice, bob,
        "two banks on one file issued the same account id"
    );
    transfer(&mut second, alice, bob, 30);
    transfer(&mut first, bob, alice, 10);
    for (name, bank) in [("the first bank", &first), ("the second bank", &second)] {
        assert_eq!(
            (balance(bank, alice), balance(bank, bob)),
            (80, 20),
            "{name} should see both transfers: 100 → 30 to bob → 10 back"
        );
        assert_eq!(
            ledger(bank).len(),
            2,
            "{name} should see both transfers in the ledger"
        );
    }
}

/// Another bank on the file commits a transfer right after this bank's
/// transfer commits, before its next statement: the id this transfer returns
/// must still be its own (taken inside its transaction), not the newest row
/// of the ledger.
#[test]
fn the_id_a_transfer_returns_is_its_own_even_if_another_bank_commits_right_after_it() {
    let (_dir, path) = fresh_file();
    let mut ours = open(&path);
    let mut theirs = open(&path);
    let alice = account(&mut ours, 100);
    let bob = account(&mut ours, 0);
    let carol = account(&mut theirs, 100);
    let dave = account(&mut theirs, 0);
    let (their_id_tx, their_id) = mpsc::channel();
    let mut committed = false;
    before_statement(
        move |sql| {
            if committed {
                return true;
            }
            committed = starts_with_any(sql, &["COMMIT", "END", "RELEASE"]);
            false
        },
        move || {
            let _ = their_id_tx.send(theirs.transfer(carol, dave, 7));
        },
    );
    let result = ours.transfer(alice, bob, 5);
    hook_done();
    let id = result.unwrap_or_else(|e| panic!("transferring 5 from alice to bob failed: {e:?}"));
    let rows = ledger(&ours);
    let row = rows.iter().find(|t| t.id == id);
    assert_eq!(
        row,
        Some(&Transfer {
            id,
            from: alice,
            to: bob,
            amount: 5
        }),
        "transfer(alice, bob, 5) returned {id:?}, which must be the id of its own ledger row; \
         another bank committed a transfer right after it (its result: {:?}). The ledger: \
         {rows:?}",
        their_id.try_recv().ok()
    );
}

/// Another connection holds the write lock when a transfer starts, and keeps
/// it for a second after the transfer has started its first statement (or
/// until the transfer gives up): the transfer must wait its turn and then
/// succeed, not fail with "database is locked".
#[test]
fn a_transfer_waits_for_another_connections_write_lock_instead_of_failing() {
    const HOLD: Duration = Duration::from_secs(1);
    let (_dir, path) = fresh_file();
    let (alice, bob) = {
        let mut bank = open(&path);
        (account(&mut bank, 100), account(&mut bank, 0))
    };
    let other = Connection::open(&path).expect("the spec opens its own connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("the spec's connection takes the write lock");
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || {
        let mut bank = open(&path);
        before_statement(
            |_| true,
            move || {
                let _ = started_tx.send(());
            },
        );
        let result = bank.transfer(alice, bob, 30);
        hook_done();
        let balances = (bank.balance(alice).ok(), bank.balance(bob).ok());
        let _ = done_tx.send((result, balances));
    });
    started
        .recv_timeout(DEADLINE)
        .expect("the transfer should start a statement");
    // Hold the lock while the transfer waits for it (or until it gives up).
    let early = done.recv_timeout(HOLD).ok();
    other
        .execute_batch("COMMIT")
        .expect("the spec's connection releases the write lock");
    let (result, balances) = match early {
        Some(answer) => answer,
        None => done
            .recv_timeout(DEADLINE)
            .expect("the transfer should finish once the lock is free"),
    };
    assert!(
        result.is_ok(),
        "another connection held the write lock for {HOLD:?} while transfer(alice, bob, 30) ran: \
         it should wait for the lock (a busy timeout of several seconds) and succeed, got \
         {result:?}"
    );
    assert_eq!(balances, (Some(70), Some(30)), "the transfer moved 30 once");
}

// ───────────────────── a model of balances and a ledger ─────────────────────

#[derive(Debug, Clone)]
enum Op {
    Open(u64),
    /// Indices into the accounts opened so far (an index past the end is an
    /// account that does not exist).
    Transfer(usize, usize, i64),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        1 => (0u64..200).prop_map(Op::Open),
        5 => (0usize..6, 0usize..6, -5i64..150).prop_map(|(f, t, a)| Op::Transfer(f, t, a)),
    ]
}

/// What a transfer may answer, given the model: every error that applies
/// (any one of them is fine when several do), or success when none does.
fn allowed_errors(balances: &[i64], from: usize, to: usize, amount: i64) -> Vec<&'static str> {
    let mut allowed = Vec::new();
    if amount <= 0 {
        allowed.push("NonPositiveAmount");
    }
    if from == to {
        allowed.push("SameAccount");
    }
    if from >= balances.len() || to >= balances.len() {
        allowed.push("UnknownAccount");
    }
    // The README: when several errors apply, any one of them is correct. An
    // existing source holding less than the amount is short of funds even if
    // the destination is unknown or the same account.
    if from < balances.len() && balances[from] < amount {
        allowed.push("InsufficientFunds");
    }
    allowed
}

fn error_name(e: &TransferError) -> &'static str {
    match e {
        TransferError::UnknownAccount(_) => "UnknownAccount",
        TransferError::SameAccount => "SameAccount",
        TransferError::NonPositiveAmount => "NonPositiveAmount",
        TransferError::InsufficientFunds => "InsufficientFunds",
        TransferError::Database(_) => "Database",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn transfers_agree_with_a_model_of_balances_and_a_ledger(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let mut bank = in_memory();
        let mut ids: Vec<AccountId> = Vec::new();
        let mut balances: Vec<i64> = Vec::new();
        let mut expected_ledger: Vec<Transfer> = Vec::new();
        for op in &ops {
            match *op {
                Op::Open(initial) => {
                    ids.push(account(&mut bank, initial));
                    balances.push(initial as i64);
                }
                Op::Transfer(from, to, amount) => {
                    // An index past the end stands for an id never opened.
                    let id_of = |i: usize| ids.get(i).copied()
                        .unwrap_or(AccountId(ids.iter().map(|a| a.0).max().unwrap_or(0) + 1000 + i as i64));
                    let (from_id, to_id) = (id_of(from), id_of(to));
                    let allowed = allowed_errors(&balances, from, to, amount);
                    match bank.transfer(from_id, to_id, amount) {
                        Ok(id) => {
                            prop_assert!(allowed.is_empty(),
                                "transferring {amount} from {from_id:?} to {to_id:?} with balances {balances:?} succeeded, but should be one of {allowed:?}");
                            balances[from] -= amount;
                            balances[to] += amount;
                            expected_ledger.push(Transfer { id, from: from_id, to: to_id, amount });
                        }
                        Err(e) => prop_assert!(allowed.contains(&error_name(&e)),
                            "transferring {amount} from {from_id:?} to {to_id:?} with balances {balances:?} failed with {e:?}, but should {}",
                            if allowed.is_empty() { "succeed".to_owned() } else { format!("be one of {allowed:?}") }),
                    }
                }
            }
            for (id, expected) in ids.iter().zip(&balances) {
                prop_assert_eq!(balance(&bank, *id), *expected, "the balance of {:?} after {:?}", id, op);
            }
        }
        prop_assert_eq!(ledger(&bank), expected_ledger, "the ledger should hold every successful transfer, in order, and nothing else");
    }
}

// ─────────────────────────── failures ───────────────────────────

#[test]
fn followup_a_transfer_whose_ledger_write_fails_moves_no_money() {
    let (_dir, path) = fresh_file();
    let mut bank = open(&path);
    let alice = account(&mut bank, 100);
    let bob = account(&mut bank, 0);
    // Simulate a failure half-way through (a full disk, a crash): from now
    // on, every insert into the ledger fails.
    let saboteur = Connection::open(&path).expect("a second connection to the bank's file");
    saboteur
        .execute_batch(
            "CREATE TRIGGER ledger_is_full BEFORE INSERT ON ledger
             BEGIN SELECT RAISE(ABORT, 'simulated failure: the ledger is full'); END;",
        )
        .expect("the table of transfers must be called `ledger` (the spec installs a failing trigger on it)");
    let result = bank.transfer(alice, bob, 30);
    assert!(
        matches!(result, Err(TransferError::Database(_))),
        "a transfer whose ledger row cannot be written should fail with Database, got {result:?}"
    );
    assert_unchanged(
        &bank,
        alice,
        bob,
        100,
        0,
        "a transfer whose ledger row could not be written",
    );

    // The failure is over: the same transfer goes through, once.
    saboteur
        .execute_batch("DROP TRIGGER ledger_is_full;")
        .expect("dropping the failing trigger");
    let id = transfer(&mut bank, alice, bob, 30);
    assert_eq!(
        (balance(&bank, alice), balance(&bank, bob)),
        (70, 30),
        "once the ledger can be written again, 30 moves from alice to bob"
    );
    assert_eq!(
        ledger(&bank),
        vec![Transfer {
            id,
            from: alice,
            to: bob,
            amount: 30
        }]
    );
}

// ─────────────────────── several connections at once ───────────────────────

const THREADS: usize = 4;
const TRANSFERS_PER_THREAD: usize = 150;
const ACCOUNTS: usize = 4;
const INITIAL: u64 = 100;

/// What one thread did.
#[derive(Debug, Default)]
struct Report {
    /// Transfers that returned Ok: (id, from, to, amount).
    succeeded: Vec<Transfer>,
    /// Refusals the spec expects under contention (InsufficientFunds).
    refused: usize,
    /// Every other error, as text.
    failed: Vec<String>,
}

/// A small deterministic generator (xorshift), one seed per thread.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `THREADS` threads, each with its own bank on one file, transfer at random
/// between `ACCOUNTS` accounts of `INITIAL` cents. Returns the bank file's
/// directory, the accounts and every thread's report.
fn transfer_concurrently() -> (TempDir, PathBuf, Vec<AccountId>, Vec<Report>) {
    let (dir, path) = fresh_file();
    // The accounts are opened, and this bank closed, before the threads start.
    let accounts: Vec<AccountId> = {
        let mut bank = open(&path);
        (0..ACCOUNTS).map(|_| account(&mut bank, INITIAL)).collect()
    };

    let (tx, rx) = mpsc::channel();
    for t in 0..THREADS {
        let tx = tx.clone();
        let path = path.clone();
        let accounts = accounts.clone();
        thread::spawn(move || {
            let mut report = Report::default();
            let mut bank = match Bank::open(&path) {
                Ok(bank) => bank,
                Err(e) => {
                    report.failed.push(format!("Bank::open failed: {e}"));
                    let _ = tx.send(report);
                    return;
                }
            };
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x2545_f491_4f6c_dd1d));
            for _ in 0..TRANSFERS_PER_THREAD {
                let from = rng.below(ACCOUNTS as u64) as usize;
                let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
                let amount = 1 + rng.below(60) as i64;
                let (from, to) = (accounts[from], accounts[to]);
                match bank.transfer(from, to, amount) {
                    Ok(id) => report.succeeded.push(Transfer {
                        id,
                        from,
                        to,
                        amount,
                    }),
                    Err(TransferError::InsufficientFunds) => report.refused += 1,
                    Err(e) => report.failed.push(format!(
                        "transferring {amount} from {from:?} to {to:?}: {e:?}"
                    )),
                }
            }
            let _ = tx.send(report);
        });
    }
    drop(tx);

    let start = Instant::now();
    let mut reports = Vec::new();
    for _ in 0..THREADS {
        let left = DEADLINE.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(report) => reports.push(report),
            Err(_) => panic!(
                "{THREADS} threads making {TRANSFERS_PER_THREAD} transfers each should finish within {DEADLINE:?}, \
                 but only {} did: a deadlock, or transactions waiting on each other?",
                reports.len()
            ),
        }
    }
    (dir, path, accounts, reports)
}

#[test]
fn followup_concurrent_transfers_never_fail_with_database_is_locked() {
    let (_dir, _path, _accounts, reports) = transfer_concurrently();
    let failed: Vec<&String> = reports.iter().flat_map(|r| &r.failed).collect();
    assert!(
        failed.is_empty(),
        "{THREADS} connections transferring at once: every transfer should succeed or be refused for \
         insufficient funds, but {} failed (a connection must wait for another's write lock, not fail), \
         for example: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    let succeeded: usize = reports.iter().map(|r| r.succeeded.len()).sum();
    assert!(
        succeeded > 0,
        "of {} concurrent transfers none succeeded",
        THREADS * TRANSFERS_PER_THREAD
    );
}

#[test]
fn followup_concurrent_transfers_conserve_money_never_overdraw_and_are_each_in_the_ledger_once() {
    let (_dir, path, accounts, reports) = transfer_concurrently();
    let bank = open(&path);
    let balances: Vec<i64> = accounts.iter().map(|&id| balance(&bank, id)).collect();

    let total: i64 = balances.iter().sum();
    assert_eq!(
        total,
        (ACCOUNTS as u64 * INITIAL) as i64,
        "{ACCOUNTS} accounts of {INITIAL} after concurrent transfers hold {balances:?}: money was created or destroyed"
    );
    assert!(
        balances.iter().all(|&b| b >= 0),
        "after concurrent transfers the balances are {balances:?}: an account was overdrawn"
    );

    // Every reported success is in the ledger exactly once, and nothing else is.
    let reported: BTreeMap<TransferId, Transfer> = reports
        .iter()
        .flat_map(|r| &r.succeeded)
        .map(|t| (t.id, *t))
        .collect();
    let successes: usize = reports.iter().map(|r| r.succeeded.len()).sum();
    assert_eq!(
        reported.len(),
        successes,
        "two successful transfers reported the same id"
    );
    let rows = ledger(&bank);
    let recorded: BTreeMap<TransferId, Transfer> = rows.iter().map(|t| (t.id, *t)).collect();
    assert_eq!(recorded.len(), rows.len(), "the ledger lists one id twice");
    for (id, t) in &reported {
        assert_eq!(
            recorded.get(id),
            Some(t),
            "transfer {id:?} reported success but the ledger does not hold it as reported"
        );
    }
    assert_eq!(
        rows.len(),
        reported.len(),
        "the ledger holds {} transfers but only {} were reported successful: a failed transfer was recorded",
        rows.len(),
        reported.len()
    );

    // And the balances are exactly what the ledger says.
    for (&id, &actual) in accounts.iter().zip(&balances) {
        let credits: i64 = rows.iter().filter(|t| t.to == id).map(|t| t.amount).sum();
        let debits: i64 = rows.iter().filter(|t| t.from == id).map(|t| t.amount).sum();
        assert_eq!(
            actual,
            INITIAL as i64 + credits - debits,
            "{id:?} holds {actual}, but {INITIAL} + its ledger credits {credits} - debits {debits} say otherwise"
        );
    }
}
