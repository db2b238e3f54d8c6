//! A global allocator that counts what the current thread allocates.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: spec_probes::alloc::Counting = spec_probes::alloc::Counting;
//!
//! let (usage, _) = spec_probes::alloc::measure(|| cache.get(&key));
//! assert_eq!(usage.allocations, 0, "a hit allocates nothing");
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// What one thread allocated while a closure ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocations: u64,
    /// Bytes requested by those calls.
    pub bytes_allocated: u64,
    /// Bytes still allocated at the end that were not at the start (negative
    /// when the closure freed more than it kept).
    pub live_bytes: i64,
    /// The most bytes held at once while the closure ran, above what was
    /// held when it started: what a call needs in memory on its way, even
    /// if it frees it all before returning.
    pub peak_bytes: i64,
}

thread_local! {
    // `const` thread-locals never allocate, which an allocator requires.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    // The highest `LIVE` since the innermost `measure` started.
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn record(allocated: usize, freed: usize) {
    // `try_with`: the thread may be tearing down its locals.
    let _ = ALLOCATIONS.try_with(|c| {
        if allocated > 0 {
            c.set(c.get() + 1);
        }
    });
    let _ = BYTES.try_with(|c| c.set(c.get() + allocated as u64));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + allocated as i64 - freed as i64;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn snapshot() -> Usage {
    Usage {
        allocations: ALLOCATIONS.with(Cell::get),
        bytes_allocated: BYTES.with(Cell::get),
        live_bytes: LIVE.with(Cell::get),
        peak_bytes: PEAK.with(Cell::get),
    }
}

/// The system allocator, counting. Install it with `#[global_allocator]` in
/// the spec file that measures.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees hold; the counting touches only `const`
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), 0);
        // SAFETY: forwarded as received; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size(), 0);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(0, layout.size());
        // SAFETY: `ptr` came from this allocator, so from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size, layout.size());
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds
        // `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` and returns what this thread allocated meanwhile, with `f`'s
/// result. Without [`Counting`] installed as the global allocator every
/// count is zero, so a spec asserting "at most N" must first check that the
/// probe works: [`installed`]. A `measure` inside `f` restarts the peak,
/// so the outer one's `peak_bytes` is then only what followed it.
pub fn measure<T>(f: impl FnOnce() -> T) -> (Usage, T) {
    PEAK.with(|peak| peak.set(LIVE.with(Cell::get)));
    let before = snapshot();
    let out = f();
    let after = snapshot();
    (
        Usage {
            allocations: after.allocations - before.allocations,
            bytes_allocated: after.bytes_allocated - before.bytes_allocated,
            live_bytes: after.live_bytes - before.live_bytes,
            peak_bytes: after.peak_bytes - before.live_bytes,
        },
        out,
    )
}

/// Whether [`Counting`] is the global allocator: a `Box` must register.
pub fn installed() -> bool {
    let (usage, boxed) = measure(|| Box::new(std::hint::black_box(7u64)));
    drop(boxed);
    usage.allocations > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOC: Counting = Counting;

    #[test]
    fn counts_the_allocations_and_live_bytes_of_a_closure() {
        assert!(installed());
        let (usage, v) = measure(|| Vec::<u64>::with_capacity(100));
        assert_eq!(usage.allocations, 1);
        assert_eq!(usage.bytes_allocated, 800);
        assert_eq!(usage.live_bytes, 800);
        let (freed, ()) = measure(|| drop(v));
        assert_eq!(freed.allocations, 0);
        assert_eq!(freed.live_bytes, -800);
    }

    #[test]
    fn the_peak_counts_what_was_held_at_once_even_if_freed() {
        let (usage, ()) = measure(|| {
            let big = vec![0u8; 8_000];
            drop(std::hint::black_box(big));
            let small = vec![0u8; 100];
            drop(std::hint::black_box(small));
        });
        assert_eq!(usage.live_bytes, 0);
        assert_eq!(usage.peak_bytes, 8_000);
        // What was held before the closure is not its peak.
        let held = vec![0u8; 50_000];
        let (usage, ()) = measure(|| drop(std::hint::black_box(vec![0u8; 10])));
        assert_eq!(usage.peak_bytes, 10);
        drop(held);
    }

    #[test]
    fn work_without_allocation_counts_zero() {
        let mut total = 0u64;
        let (usage, ()) = measure(|| {
            for i in 0..1000 {
                total = total.wrapping_add(std::hint::black_box(i));
            }
        });
        assert_eq!(usage, Usage::default());
        assert!(total > 0);
    }

    #[test]
    fn another_thread_does_not_count_here() {
        let (usage, ()) = measure(|| {
            std::thread::scope(|s| {
                s.spawn(|| Vec::<u8>::with_capacity(1 << 20));
            });
        });
        assert!(
            usage.bytes_allocated < 1 << 20,
            "the spawned thread's megabyte is its own: {usage:?}"
        );
    }
}
