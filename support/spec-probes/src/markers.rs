//! Whether a value's type is `Send` or `Sync`, as a `bool` a spec asserts
//! with a message in the problem's words. A bound the answer fails to meet
//! (`fn shareable<T: Sync>`) could only make the whole suite "not compile";
//! this works for types that cannot be named too (the future of an
//! `async fn`).
//!
//! ```
//! use spec_probes::markers::{Neither, Probe, Send_, Sync_};
//!
//! let counter = std::rc::Rc::new(1);
//! assert!(!(&&Probe(&counter)).is_send());
//! assert!((&&Probe(&7u32)).is_sync());
//! ```
//!
//! It is autoref specialisation: for `&&Probe(&value)`, method lookup tries
//! `&Probe<T>` first, which has the methods answering `true` only when the
//! bound holds, then `Probe<T>`, whose methods answer `false`. It decides
//! at the call, so the value's type must be concrete there (not a generic
//! parameter of the function making the call).

/// A value whose type is asked about.
#[allow(dead_code)] // a type witness, never read
pub struct Probe<'a, T>(pub &'a T);

/// `true`, where the type is `Send`.
#[allow(non_camel_case_types)]
pub trait Send_ {
    fn is_send(&self) -> bool {
        true
    }
}

impl<T: Send> Send_ for &Probe<'_, T> {}

/// `true`, where the type is `Sync`.
#[allow(non_camel_case_types)]
pub trait Sync_ {
    fn is_sync(&self) -> bool {
        true
    }
}

impl<T: Sync> Sync_ for &Probe<'_, T> {}

/// `false`, where the bound asked about does not hold.
pub trait Neither {
    fn is_send(&self) -> bool {
        false
    }

    fn is_sync(&self) -> bool {
        false
    }
}

impl<T> Neither for Probe<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    // The probe asks through `&&`: clippy sees only the case it resolves to.
    #[allow(clippy::needless_borrow)]
    fn tells_send_and_sync_types_from_the_others() {
        assert!((&&Probe(&7u32)).is_send());
        assert!((&&Probe(&7u32)).is_sync());
        assert!(!(&&Probe(&Rc::new(7))).is_send());
        assert!(!(&&Probe(&Rc::new(7))).is_sync());
        // `Cell` is `Send` but not `Sync`.
        assert!((&&Probe(&Cell::new(7))).is_send());
        assert!(!(&&Probe(&Cell::new(7))).is_sync());
        assert!(!(&&Probe(&holds_a_cell_across_an_await(Cell::new(7)))).is_send());
        assert!((&&Probe(&holds_a_cell_across_an_await(7))).is_send());
    }

    /// Its future is `Send` only where `&T` is: only for a `Sync` `T`.
    /// (Asked in the function that defines the future, the compiler could
    /// not yet tell.)
    async fn holds_a_cell_across_an_await<T>(value: T) -> T {
        let held = &value;
        std::future::ready(()).await;
        let _ = held;
        value
    }
}
