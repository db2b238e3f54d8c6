//! The parser against real harness output, captured from this repository's
//! rate-limiter spec run against two of its known-wrong answers.

use super::*;

/// rstest cases and a proptest property failing, beside passes
/// (`wrong/refill_not_capped.rs`, the `spec` suite filtered to `capacity`).
const PROPTEST_AND_RSTEST: &str = include_str!("fixtures/proptest_and_rstest.txt");
/// Every loom model failing (`wrong/check_then_act_race.rs`).
const LOOM: &str = include_str!("fixtures/loom.txt");

fn outcome<'a>(outcomes: &'a [Outcome], name: &str) -> &'a Outcome {
    outcomes
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no outcome for {name}"))
}

#[test]
fn reads_every_result_line_with_its_status() {
    let outcomes = parse_run(PROPTEST_AND_RSTEST);
    assert_eq!(outcomes.len(), 16);
    assert_eq!(
        outcomes.iter().filter(|o| o.status == Status::Pass).count(),
        8
    );
    assert_eq!(
        outcome(
            &outcomes,
            "starts_full_and_admits_a_burst_of_exactly_capacity::case_2_capacity_five"
        )
        .status,
        Status::Pass
    );
    assert!(
        outcomes
            .iter()
            .filter(|o| o.status == Status::Pass)
            .all(|o| o.message.is_empty()),
        "a pass carries no message"
    );
}

#[test]
fn keeps_a_multi_line_assertion_message_whole() {
    let outcomes = parse_run(PROPTEST_AND_RSTEST);
    let failure = outcome(
        &outcomes,
        "capacity_one_admits_one_request_per_token_interval",
    );
    assert_eq!(failure.status, Status::Fail);
    assert_eq!(
        failure.message,
        "panicked at /work/main/katas/rate-limiter/tests/spec.rs:308:9:\n\
         assertion `left == right` failed: a bucket of capacity 1 refilling 2 tokens per second should refuse \
         the request at t0 + 3s (sequence: [(0ns, true), (0ns, false), (499ms, false), (500ms, true), \
         (500ms, false), (1s, true), (3s, true), (3s, false)])\n  left: true\n right: false"
    );
}

#[test]
fn keeps_the_shrunk_input_of_a_failing_property() {
    let outcomes = parse_run(PROPTEST_AND_RSTEST);
    let failure = outcome(
        &outcomes,
        "never_admits_more_than_capacity_plus_the_refill_of_any_interval",
    );
    assert_eq!(failure.status, Status::Fail);
    assert!(
        failure
            .message
            .contains("Test failed: a bucket of capacity 0"),
        "{}",
        failure.message
    );
    assert!(
        failure
            .message
            .contains("minimal failing input: (capacity, rate, requests) = (\n    0,"),
        "{}",
        failure.message
    );
    assert!(
        failure.message.ends_with("global rejects: 0"),
        "{}",
        failure.message
    );
    assert!(
        !failure.message.contains("\nfailures:"),
        "the section stops at the harness's summary"
    );
}

#[test]
fn drops_the_backtrace_note_and_the_thread_id() {
    for outcome in parse_run(PROPTEST_AND_RSTEST)
        .iter()
        .chain(&parse_run(LOOM))
    {
        assert!(
            !outcome.message.contains("RUST_BACKTRACE"),
            "{}",
            outcome.message
        );
        assert!(!outcome.message.contains("thread '"), "{}", outcome.message);
    }
}

#[test]
fn reads_loom_model_failures() {
    let outcomes = parse_run(LOOM);
    assert_eq!(outcomes.len(), 4);
    assert!(outcomes.iter().all(|o| o.status == Status::Fail));
    let failure = outcome(
        &outcomes,
        "racing_threads_never_take_more_tokens_than_the_bucket_holds",
    );
    assert!(
        failure
            .message
            .contains("admitted: [true, true, true]\n  left: 3\n right: 2"),
        "{}",
        failure.message
    );
}

#[test]
fn reads_the_names_a_test_binary_lists() {
    let listed = "a::b: test\nsecond: test\n\n2 tests, 0 benchmarks\n";
    assert_eq!(parse_list(listed), ["a::b", "second"]);
}

#[test]
fn a_run_without_result_lines_yields_nothing() {
    assert!(
        parse_run("thread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n")
            .is_empty()
    );
}

#[test]
fn reads_the_result_of_a_should_panic_test_under_its_own_name() {
    let output = "running 2 tests\ntest refuses_zero - should panic ... ok\ntest other - should panic ... FAILED\n";
    let outcomes = parse_run(output);
    assert_eq!(outcomes.len(), 2);
    assert_eq!(
        (outcomes[0].name.as_str(), outcomes[0].status),
        ("refuses_zero", Status::Pass)
    );
    assert_eq!(
        (outcomes[1].name.as_str(), outcomes[1].status),
        ("other", Status::Fail)
    );
}

#[test]
fn a_dead_process_is_explained_by_its_first_panic() {
    let output = "running 1 test\n\
        thread 'model' (7) panicked at loom/src/rt/mod.rs:1:1:\ndeadlock; threads = [(0, Blocked)]\n\
        thread 'model' (7) panicked at loom/src/rt/object.rs:2:2:\ncalled `Option::unwrap()` on a `None` value\n\
        fatal runtime error: failed to initiate panic\n";
    let message = first_panic(output, 2);
    assert_eq!(
        message,
        "panicked at loom/src/rt/mod.rs:1:1:\ndeadlock; threads = [(0, Blocked)]"
    );
    assert_eq!(
        first_panic("a\nb\nc\n", 2),
        "b\nc",
        "nothing panicked: the last lines"
    );
}
