//! Your code beside the reference and a naive baseline:
//! `cargo bench -p fenced-lock --features solution`.
//!
//! No crate does this kata's job behind a sans-IO API: the Redlock crates
//! (`redlock`, `rslock`) talk to live Redis servers, and none of them fences.
//! So the baseline is the naive design the kata improves on, named as such:
//! **one** lock server doing `SET lock NX PX ttl` (a lease, no token) and a
//! storage that accepts every write.
//!
//! One iteration is one whole turn of the lock on an in-memory network: a
//! client acquires (five servers answer; the baseline: one; a client that
//! has not seen the latest token is denied once and asks again, as the two
//! clients alternate), writes once, and releases. Criterion measures the CPU it takes. The bench also prints
//! what each design does with a holder paused past its lease: the late
//! write of the paused holder after the next holder wrote.

use std::hint::black_box;
use std::panic;

use criterion::{Criterion, criterion_group, criterion_main};

const SERVERS: [u64; 5] = [1, 2, 3, 4, 5];
const CLIENTS: [u64; 2] = [10, 11];
const STORAGE: u64 = 100;

/// The components of one crate, and a turn of the lock through them.
macro_rules! system {
    ($name:ident, $krate:ident) => {
        mod $name {
            use std::time::Duration;
            use $krate::{Client, Config, LockServer, Message, Outgoing, Persistent, Storage};

            pub struct System {
                servers: Vec<LockServer>,
                clients: Vec<Client>,
                storage: Storage,
                pub now: Duration,
            }

            impl System {
                pub fn new() -> System {
                    let config = Config::default();
                    let start = Duration::ZERO;
                    System {
                        servers: super::SERVERS
                            .iter()
                            .map(|&id| {
                                LockServer::new(
                                    id,
                                    &super::CLIENTS,
                                    config,
                                    Persistent::default(),
                                    start,
                                )
                                .expect("a valid lock server")
                            })
                            .collect(),
                        clients: super::CLIENTS
                            .iter()
                            .map(|&id| {
                                Client::new(id, &super::SERVERS, super::STORAGE, config, start)
                                    .expect("a valid client")
                            })
                            .collect(),
                        storage: Storage::new(super::STORAGE, &super::CLIENTS)
                            .expect("a valid storage"),
                        now: start,
                    }
                }

                /// Delivers `out` from client `c`, and the answers back, until quiet.
                fn deliver(&mut self, c: usize, out: Vec<Outgoing>) -> Vec<Message> {
                    let from = super::CLIENTS[c];
                    let mut answers = Vec::new();
                    for o in out {
                        let back = if o.to == super::STORAGE {
                            self.storage.receive(from, o.message).unwrap_or_default()
                        } else {
                            let s = (o.to - 1) as usize;
                            self.servers[s]
                                .receive(from, o.message, self.now)
                                .unwrap_or_default()
                        };
                        for b in back {
                            answers.push(b.message);
                            let more = self.clients[c]
                                .receive(o.to, b.message, self.now)
                                .unwrap_or_default();
                            self.deliver(c, more);
                        }
                    }
                    answers
                }

                /// One turn of the lock for client `c`: acquire, write `value`, release.
                /// Whether the client held the lock.
                pub fn turn(&mut self, c: usize, value: u64) -> bool {
                    self.now += Duration::from_millis(1);
                    // A client that has not seen the latest token is denied
                    // once, learns it from the `Denied`, and asks again.
                    for _ in 0..2 {
                        let Ok(asks) = self.clients[c].acquire(self.now) else {
                            return false;
                        };
                        self.deliver(c, asks);
                        if self.clients[c].lease(self.now).is_some() {
                            break;
                        }
                    }
                    let held = self.clients[c].lease(self.now).is_some();
                    if let Ok(w) = self.clients[c].write(value, self.now) {
                        self.deliver(c, vec![w]);
                    }
                    let bye = self.clients[c].release(self.now);
                    self.deliver(c, bye);
                    held
                }

                /// Client 0 takes the lock and is paused with a write in hand;
                /// its lease runs out; client 1 takes the lock and writes; then
                /// client 0's write lands. What the storage holds at the end.
                pub fn paused_holder(&mut self) -> Option<u64> {
                    let asks = self.clients[0].acquire(self.now).expect("idle");
                    self.deliver(0, asks);
                    let stale = self.clients[0].write(1, self.now).expect("held");
                    self.now += Duration::from_secs(2);
                    self.turn(1, 2);
                    let from = super::CLIENTS[0];
                    let _ = self.storage.receive(from, stale.message);
                    self.storage.value()
                }
            }
        }
    };
}

system!(reference, fenced_lock_solution);
system!(yours, fenced_lock);

/// The naive design: one lock server, `SET lock NX PX ttl`, no token; a
/// storage that takes every write.
mod naive {
    use std::time::Duration;

    pub struct System {
        lock: Option<(u64, Duration)>,
        value: Option<u64>,
        pub now: Duration,
    }

    const TTL: Duration = Duration::from_millis(1_000);

    impl System {
        pub fn new() -> System {
            System {
                lock: None,
                value: None,
                now: Duration::ZERO,
            }
        }

        fn set_nx_px(&mut self, client: u64) -> bool {
            match self.lock {
                Some((_, until)) if self.now < until => false,
                _ => {
                    self.lock = Some((client, self.now + TTL));
                    true
                }
            }
        }

        fn del_if_mine(&mut self, client: u64) {
            if self.lock.is_some_and(|(holder, _)| holder == client) {
                self.lock = None;
            }
        }

        pub fn turn(&mut self, client: u64, value: u64) -> bool {
            self.now += Duration::from_millis(1);
            let held = self.set_nx_px(client);
            if held {
                self.value = Some(value);
                self.del_if_mine(client);
            }
            held
        }

        pub fn paused_holder(&mut self) -> Option<u64> {
            self.set_nx_px(10);
            self.now += Duration::from_secs(2);
            self.turn(11, 2);
            // The paused holder's write lands: nothing refuses it.
            self.value = Some(1);
            self.value
        }
    }
}

/// Whether the learner's code runs yet (a `todo!()` stub does not).
fn learner_ready() -> bool {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let ready = panic::catch_unwind(|| {
        let mut system = yours::System::new();
        system.turn(0, 1)
    })
    .unwrap_or(false);
    panic::set_hook(hook);
    ready
}

fn turns(c: &mut Criterion) {
    println!(
        "a paused holder's late write, after the next holder wrote 2: the storage ends with {:?} (reference), {:?} (naive single lock, no fencing)",
        reference::System::new().paused_holder(),
        naive::System::new().paused_holder(),
    );
    let mut group = c.benchmark_group("one turn of the lock (acquire, write, release)");
    if learner_ready() {
        println!(
            "yours: the storage ends with {:?}",
            yours::System::new().paused_holder()
        );
        let mut system = yours::System::new();
        let mut i = 0u64;
        group.bench_function("yours", |b| {
            b.iter(|| {
                i += 1;
                black_box(system.turn((i % 2) as usize, i))
            })
        });
    } else {
        println!("your code is still todo!(): benchmarking the reference and the baseline only");
    }
    let mut system = reference::System::new();
    let mut i = 0u64;
    group.bench_function("reference (5 lock servers, fencing)", |b| {
        b.iter(|| {
            i += 1;
            black_box(system.turn((i % 2) as usize, i))
        })
    });
    let mut system = naive::System::new();
    let mut i = 0u64;
    group.bench_function("naive (1 lock server, no fencing)", |b| {
        b.iter(|| {
            i += 1;
            black_box(system.turn(10 + i % 2, i))
        })
    });
    group.finish();
}

criterion_group!(benches, turns);
criterion_main!(benches);
