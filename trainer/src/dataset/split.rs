//! Seeded train/valid/test split by file (DESIGN.md: every note in the test split is also
//! in the training split, unless notes are held out on purpose).

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use sackbut_model::rng::SplitMix64;

use super::manifest::Split;

/// How to split.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitParams {
    /// Share of the (not held-out) examples for validation, 0 ≤ valid < 1.
    pub valid_fraction: f64,
    /// Share of the (not held-out) examples for test, valid + test < 1.
    pub test_fraction: f64,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Notes whose examples all go to the test split (and nowhere else).
    pub hold_out_notes: Vec<u8>,
}

impl SplitParams {
    /// Checks the fractions.
    pub fn validate(&self) -> Result<()> {
        let (v, t) = (self.valid_fraction, self.test_fraction);
        if !(v.is_finite() && t.is_finite() && v >= 0.0 && t >= 0.0 && v + t < 1.0) {
            bail!("--valid {v} and --test {t} must be non-negative shares that sum to less than 1");
        }
        Ok(())
    }
}

/// The split of each example, given each example's note (in the order the examples are
/// listed). Deterministic for a seed:
/// 1. examples of held-out notes go to test;
/// 2. the others are shuffled (Fisher–Yates with SplitMix64 from the seed); the first
///    round(n · valid) go to valid, the next round(n · test) to test, the rest to train;
/// 3. a note that ended up with no training example gets its first valid/test example (in
///    shuffled order) moved to train, so every note the model is tested on was trained on.
pub fn assign_splits(notes: &[u8], p: &SplitParams) -> Vec<Split> {
    let held: BTreeSet<u8> = p.hold_out_notes.iter().copied().collect();
    let mut splits = vec![Split::Train; notes.len()];
    let mut pool: Vec<usize> = Vec::with_capacity(notes.len());
    for (i, n) in notes.iter().enumerate() {
        if held.contains(n) {
            splits[i] = Split::Test;
        } else {
            pool.push(i);
        }
    }
    let mut rng = SplitMix64::new(p.seed);
    for i in (1..pool.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        pool.swap(i, j);
    }
    let n = pool.len();
    let n_valid = ((n as f64 * p.valid_fraction).round() as usize).min(n);
    let n_test = ((n as f64 * p.test_fraction).round() as usize).min(n - n_valid);
    for (k, &i) in pool.iter().enumerate() {
        splits[i] = if k < n_valid {
            Split::Valid
        } else if k < n_valid + n_test {
            Split::Test
        } else {
            Split::Train
        };
    }
    let trained: BTreeSet<u8> = pool.iter().filter(|&&i| splits[i] == Split::Train).map(|&i| notes[i]).collect();
    let mut moved = BTreeSet::new();
    for &i in &pool {
        if !trained.contains(&notes[i]) && moved.insert(notes[i]) {
            splits[i] = Split::Train;
        }
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(seed: u64, hold: &[u8]) -> SplitParams {
        SplitParams { valid_fraction: 0.1, test_fraction: 0.1, seed, hold_out_notes: hold.to_vec() }
    }

    /// Notes 40..=77, 9 examples each (3 velocities × 3 durations), as the default dataset.
    fn default_notes() -> Vec<u8> {
        (40..=77u8).flat_map(|n| std::iter::repeat_n(n, 9)).collect()
    }

    fn count(s: &[Split], which: Split) -> usize {
        s.iter().filter(|&&x| x == which).count()
    }

    #[test]
    fn deterministic_for_a_seed_and_different_across_seeds() {
        let notes = default_notes();
        let a = assign_splits(&notes, &params(3, &[]));
        assert_eq!(a, assign_splits(&notes, &params(3, &[])));
        assert_ne!(a, assign_splits(&notes, &params(4, &[])));
        // 342 examples: round(34.2) = 34 valid and 34 test.
        assert_eq!((count(&a, Split::Valid), count(&a, Split::Test)), (34, 34));
        assert_eq!(count(&a, Split::Train), 342 - 68);
    }

    #[test]
    fn every_valid_or_test_note_is_also_trained() {
        // Few examples per note: many notes would otherwise have none in train.
        let notes: Vec<u8> = (40..60u8).flat_map(|n| [n, n]).chain([70]).collect();
        for seed in 0..50 {
            let p = SplitParams { valid_fraction: 0.3, test_fraction: 0.3, seed, hold_out_notes: vec![] };
            let s = assign_splits(&notes, &p);
            let trained: BTreeSet<u8> = notes.iter().zip(&s).filter(|(_, &x)| x == Split::Train).map(|(&n, _)| n).collect();
            for (n, x) in notes.iter().zip(&s) {
                assert!(trained.contains(n), "seed {seed}: note {n} in {x:?} but not in train");
            }
            assert!(count(&s, Split::Valid) + count(&s, Split::Test) > 0, "seed {seed}");
        }
    }

    #[test]
    fn held_out_notes_are_only_in_test() {
        let notes = default_notes();
        let s = assign_splits(&notes, &params(1, &[45, 47]));
        for (n, x) in notes.iter().zip(&s) {
            if *n == 45 || *n == 47 {
                assert_eq!(*x, Split::Test, "held-out note {n}");
            }
        }
        // The other 36 notes (324 examples) are split as usual: 32 valid, 32 test + 18 held out.
        assert_eq!((count(&s, Split::Valid), count(&s, Split::Test)), (32, 32 + 18));
    }

    #[test]
    fn edge_cases() {
        assert!(assign_splits(&[], &params(0, &[])).is_empty());
        assert_eq!(assign_splits(&[60], &params(0, &[])), vec![Split::Train]);
        let none = SplitParams { valid_fraction: 0.0, test_fraction: 0.0, seed: 0, hold_out_notes: vec![] };
        assert!(assign_splits(&default_notes(), &none).iter().all(|&x| x == Split::Train));
        assert!(SplitParams { valid_fraction: 0.5, test_fraction: 0.5, ..none.clone() }.validate().is_err());
        assert!(SplitParams { valid_fraction: -0.1, ..none.clone() }.validate().is_err());
        assert!(none.validate().is_ok());
    }
}
