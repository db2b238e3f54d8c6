//! The fenced-lock kata's bound on a client's state, by counting: "a
//! client's state does not grow with its attempts" (README, Constraints).
//! A counting global allocator needs a test binary of its own, hence this
//! file.
//!
//! `cargo test -p fenced-lock` judges your code;
//! `cargo test -p fenced-lock --features solution` judges the reference.

// The workspace's loom build (`--cfg kata_loom`) skips this file.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use fenced_lock as subject;
#[cfg(feature = "solution")]
use fenced_lock_solution as subject;

use std::time::Duration;

use spec_probes::alloc::{Counting, installed, measure};
use subject::{Client, Config, Message};

#[global_allocator]
static ALLOC: Counting = Counting;

/// What a client may keep for one attempt and its bookkeeping: far less
/// than an entry per attempt it ever made.
const SMALL: i64 = 4 * 1024;

/// `rounds` rounds of four attempts each, one of every ending: won, written
/// under and released; denied by a majority; timed out in `tick`; released
/// while in flight. Old answers arrive late in between.
fn attempts(client: &mut Client, now: &mut Duration, rounds: u64) {
    let step = Duration::from_millis(1);
    for _ in 0..rounds {
        // Won, written, released.
        *now += step;
        let token = client.acquire(*now).map_or(1, |out| out[0].message.token());
        for s in [1, 2, 3] {
            let _ = client.receive(s, Message::Granted { token }, *now);
        }
        let _ = client.write(1, *now);
        let _ = client.receive(100, Message::WriteAck { token }, *now);
        let _ = client.release(*now);
        // Denied by a majority.
        *now += step;
        let token = client.acquire(*now).map_or(1, |out| out[0].message.token());
        let _ = client.receive(5, Message::Granted { token }, *now);
        for s in [1, 2, 3] {
            let _ = client.receive(
                s,
                Message::Denied {
                    token,
                    highest: token,
                },
                *now,
            );
        }
        // Timed out.
        *now += step;
        let token = client.acquire(*now).map_or(1, |out| out[0].message.token());
        let _ = client.receive(4, Message::Granted { token }, *now);
        *now += Duration::from_secs(1);
        let _ = client.tick(*now);
        // Released while in flight; its answers come late.
        *now += step;
        let token = client.acquire(*now).map_or(1, |out| out[0].message.token());
        let _ = client.release(*now);
        for s in [1, 2, 3, 4, 5] {
            let _ = client.receive(s, Message::Granted { token }, *now);
        }
    }
}

#[test]
fn a_client_keeps_bounded_state_however_many_attempts_it_makes() {
    assert!(installed(), "the counting allocator should be installed");
    let mut client = Client::new(10, &[1, 2, 3, 4, 5], 100, Config::default(), Duration::ZERO)
        .expect("a valid configuration");
    let mut now = Duration::ZERO;
    attempts(&mut client, &mut now, 20);
    let before = client.acquire(now).map_or(0, |out| out[0].message.token());
    let _ = client.release(now);
    let (usage, ()) = measure(|| attempts(&mut client, &mut now, 500));
    let after = client.acquire(now).map_or(0, |out| out[0].message.token());
    assert!(
        after >= before + 2_000,
        "2,000 more attempts, each under a new token: tokens went from {before} to {after}"
    );
    assert!(
        usage.live_bytes <= SMALL,
        "after 2,000 more attempts the client holds {} more bytes: its state is its servers, the highest token seen, the attempt in flight and its lease, nothing per past attempt or per message (README, Constraints)",
        usage.live_bytes
    );
}
