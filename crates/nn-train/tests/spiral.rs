//! The spiral against the book's `dataset/spiral.py` (reference files in the workspace's
//! `tests/data`, made by `tests/data/regen.sh`): every coordinate within 1e-12.

use nn_train::spiral;

fn reference(seed: u32) -> (Vec<f64>, Vec<u32>) {
    let path = format!(
        "{}/../../tests/data/spiral_{seed}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // {"x": [[a, b], ...], "label": [..]}: parsed by hand to keep this crate's tests lean.
    let (xs, labels) = text.split_once("\"label\"").unwrap();
    let nums = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_ascii_digit() || "-.e".contains(c)))
            .filter(|t| !t.is_empty() && *t != "-" && *t != "e")
            .map(str::to_owned)
            .collect()
    };
    let x = nums(xs).iter().map(|t| t.parse().unwrap()).collect();
    let l = nums(labels).iter().map(|t| t.parse().unwrap()).collect();
    (x, l)
}

#[test]
fn matches_numpy_for_two_seeds() {
    for seed in [1984, 7] {
        let data = spiral::load_data(seed);
        let (x, labels) = reference(seed);
        assert_eq!(data.x().len(), 600);
        assert_eq!(x.len(), 600);
        assert_eq!(data.labels(), &labels[..]);
        for (i, (a, b)) in data.x().iter().zip(&x).enumerate() {
            assert!((a - b).abs() <= 1e-12, "seed {seed}, value {i}: {a} vs {b}");
        }
    }
}

#[test]
fn one_hot_targets_as_in_the_book() {
    let data = spiral::load_data(1984);
    let t = data.one_hot();
    assert_eq!(t.len(), 300 * 3);
    assert_eq!(&t[..3], &[1.0, 0.0, 0.0]);
    assert_eq!(&t[299 * 3..], &[0.0, 0.0, 1.0]);
}

#[test]
fn column_ranges_are_each_columns_min_and_max() {
    let data = spiral::load_data(1984);
    let (x, _) = reference(1984);
    for c in 0..2 {
        let col: Vec<f64> = x.iter().skip(c).step_by(2).copied().collect();
        let lo = col.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (a, b) = data.column_range(c);
        assert!(
            (a - lo).abs() <= 1e-12 && (b - hi).abs() <= 1e-12,
            "column {c}"
        );
    }
}

#[test]
#[should_panic(expected = "column 2 is out of range for data with 2 columns")]
fn a_column_past_the_last_is_refused() {
    // It used to return the range of column 0 (every second value from index 2).
    let _ = spiral::load_data(1984).column_range(2);
}
