//! The specification of the {{slug}} kata: one example of each kind of test.
//! TODO(author): the kata's own specs, named as requirements.
//! Each fails against the stub and passes against the reference.

// The loom build (`--cfg kata_loom`) runs tests/loom.rs only.
#![cfg(not(kata_loom))]

#[cfg(not(feature = "solution"))]
use {{crate}} as subject;
#[cfg(feature = "solution")]
use {{crate}}_solution as subject;

use proptest::prelude::*;
use rstest::rstest;
use subject::Counter;

// An rstest table: one case per edge, each named.
#[rstest]
#[case::nothing_added(&[], 0)]
#[case::one_addition(&[5], 5)]
#[case::zero_adds_nothing(&[0, 0], 0)]
fn get_is_the_sum_of_every_addition(#[case] adds: &[u64], #[case] expected: u64) {
    let counter = Counter::new();
    for &n in adds {
        counter.add(n);
    }
    assert_eq!(counter.get(), expected, "after adding {adds:?}, the counter should read {expected}");
}

// A proptest property: shrinks any counterexample to a small one.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_counter_agrees_with_a_running_total(adds in prop::collection::vec(0u64..1_000, 0..50)) {
        let counter = Counter::new();
        let mut model = 0;
        for n in &adds {
            counter.add(*n);
            model += n;
            prop_assert_eq!(counter.get(), model, "after adding {:?}", adds);
        }
    }
}
