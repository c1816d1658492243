//! NumpyRng against values printed by NumPy 2.4 (legacy `np.random.seed` stream).

use nn_core::NumpyRng;

// python3 -c "import numpy as np; np.random.seed(0); print(np.random.randint(0, 2**32, size=3, dtype=np.uint64))"
#[test]
fn raw_u32_matches_mt19937() {
    let mut r = NumpyRng::new(0);
    assert_eq!(
        [r.next_u32(), r.next_u32(), r.next_u32()],
        [2357136044, 2546248239, 3071714933]
    );
}

// python3 -c "import numpy as np; np.random.seed(42); print(np.random.random_sample(3).tolist())"
#[test]
fn random_doubles_match() {
    let mut r = NumpyRng::new(42);
    let got: Vec<f64> = (0..3).map(|_| r.random()).collect();
    assert_eq!(
        got,
        [0.3745401188473625, 0.9507143064099162, 0.7319939418114051]
    );
}

// python3 -c "import numpy as np; np.random.seed(42); print(np.random.randn(5).tolist())"
#[test]
fn randn_matches_with_cached_second_value() {
    let mut r = NumpyRng::new(42);
    assert_eq!(
        r.randn_vec(5),
        [
            0.4967141530112327,
            -0.13826430117118466,
            0.6476885381006925,
            1.5230298564080254,
            -0.23415337472333597
        ]
    );
}

// python3 -c "import numpy as np; np.random.seed(7); print(np.random.permutation(10).tolist(), np.random.permutation(300)[:8].tolist())"
#[test]
fn permutations_match() {
    let mut r = NumpyRng::new(7);
    assert_eq!(r.permutation(10), [8, 5, 0, 2, 1, 9, 7, 3, 6, 4]);
    assert_eq!(
        r.permutation(300)[..8],
        [37, 171, 277, 60, 153, 176, 30, 99]
    );
}

#[test]
fn plugs_into_rand() {
    use rand::RngCore;
    let mut a = NumpyRng::new(0);
    let mut b = NumpyRng::new(0);
    let hi = b.next_u32() as u64;
    let lo = b.next_u32() as u64;
    assert_eq!(RngCore::next_u64(&mut a), (hi << 32) | lo);
}

/// NumPy's stream for seven seeds (0 to 2³² − 1), uniform, normal and permutation draws
/// interleaved: the cached second normal of `randn` survives the permutations between, and the
/// permutation sizes sit on both sides of powers of two, where `interval`'s mask changes.
/// `tests/data/rng_stream.py` wrote the file with NumPy 2.4.6. Compared exactly.
#[test]
fn interleaved_draws_match_numpy_for_many_seeds() {
    let text = include_str!("data/rng_stream.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 7);
    let mut checked = 0;
    for case in cases {
        let seed = case["seed"].as_u64().unwrap();
        let mut r = NumpyRng::new(u32::try_from(seed).unwrap());
        for step in case["steps"].as_array().unwrap() {
            let n = step["n"].as_u64().unwrap() as usize;
            let want = step["values"].as_array().unwrap();
            let op = step["op"].as_str().unwrap();
            let got: Vec<f64> = match op {
                "random" => (0..n).map(|_| r.random()).collect(),
                "randn" => r.randn_vec(n),
                "permutation" => r.permutation(n).into_iter().map(|i| i as f64).collect(),
                other => panic!("unknown op {other}"),
            };
            let want: Vec<f64> = want.iter().map(|x| x.as_f64().unwrap()).collect();
            assert_eq!(got, want, "seed {seed}, {op}({n})");
            checked += n;
        }
    }
    assert!(checked > 7 * 2000, "{checked} values");
}
