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

/// Through rand 0.10's traits the generator gives the same stream: `Rng`'s raw draws are
/// `NumpyRng`'s, `fill_bytes` is little-endian 32-bit draws, and `RngExt`'s uniform `f64`
/// (the top 53 bits of a 64-bit draw) and `SliceRandom::shuffle` run on it.
#[test]
fn plugs_into_rand() {
    use rand::seq::SliceRandom;
    use rand::{Rng, RngExt};
    let mut a = NumpyRng::new(0);
    let mut b = NumpyRng::new(0);
    let hi = b.next_u32() as u64;
    let lo = b.next_u32() as u64;
    assert_eq!(Rng::next_u64(&mut a), (hi << 32) | lo);
    assert_eq!(Rng::next_u32(&mut a), b.next_u32());

    let mut bytes = [0u8; 7];
    a.fill_bytes(&mut bytes);
    let (w0, w1) = (b.next_u32().to_le_bytes(), b.next_u32().to_le_bytes());
    assert_eq!(bytes[..4], w0);
    assert_eq!(bytes[4..], w1[..3]);

    let x: f64 = RngExt::random(&mut a);
    assert_eq!(x, (b.next_u64() >> 11) as f64 / (1u64 << 53) as f64);

    // `dyn Rng` is how generic code takes a generator.
    let dynamic: &mut dyn Rng = &mut a;
    let k = dynamic.random_range(0..10u32);
    assert!(k < 10);
    let mut v: Vec<u32> = (0..20).collect();
    v.shuffle(&mut a);
    let mut sorted = v.clone();
    sorted.sort();
    assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    assert_ne!(v, sorted, "a shuffle of 20 left them in order");
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

/// `interval` beyond 32 bits (64-bit draws, high word first, masked) and within them, against
/// NumPy 2.4.6's legacy `RandomState(seed).randint(0, max + 1, size=6, dtype=np.uint64)`,
/// which draws by the same masked rejection as the `random_interval` of `shuffle`.
#[test]
fn intervals_match_numpys_masked_draws() {
    let cases: [(u32, u64, [u64; 6]); 5] = [
        (
            0,
            (1 << 33) + 5,
            [
                2546248239, 7921061056, 6973152979, 5945874162, 1277901399, 1171049868,
            ],
        ),
        (
            1984,
            (1 << 40) - 1,
            [
                945407948399,
                1096971585267,
                110883345480,
                717184208648,
                594899407534,
                640485898114,
            ],
        ),
        (
            7,
            (1 << 63) + 12345,
            [
                1407639518939636932,
                8087222774582268115,
                1329108821600893482,
                4951825274897609608,
                9221204519451072486,
                7027123589561703936,
            ],
        ),
        (
            3,
            u64::MAX - 1,
            [
                10160427978662282904,
                13063021645730866819,
                5366245355481424840,
                9423106023066854165,
                16471964004611476115,
                16533689267043216235,
            ],
        ),
        (5, 1000, [867, 206, 701, 998, 118, 400]),
    ];
    for (seed, max, want) in cases {
        let mut r = NumpyRng::new(seed);
        let got: Vec<u64> = (0..6).map(|_| r.interval(max)).collect();
        assert_eq!(got, want, "seed {seed}, max {max}");
    }
    assert_eq!(
        NumpyRng::new(1).interval(0),
        0,
        "a single choice draws nothing"
    );
}
