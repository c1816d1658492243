//! A `Dataset` from a user's files: `.npy` files NumPy wrote (`tests/data/npy/make.py`) and CSV,
//! read right, and every bad file a clear error naming it.

use nn_core::{DType, NumpyRng};
use nn_cpu::Cpu;
use nn_layers::TwoLayerNet;
use nn_optim::Sgd;
use nn_train::{eval, Dataset, FitOptions, Output, Trainer};
use std::path::{Path, PathBuf};

fn npy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/npy")
        .join(name)
}

const X: [f64; 12] = [
    0.5, -1.0, 1.5, 2.0, -0.25, 0.75, 3.0, -2.5, 0.0, 1.0, 2.25, -0.5,
];
const T: [u32; 6] = [0, 2, 1, 1, 0, 2];

#[test]
fn npy_inputs_and_labels_of_every_kind_numpy_writes() {
    for (x, dtype) in [
        ("x_f64.npy", DType::F64),
        ("x_f32.npy", DType::F32),
        ("x_fortran.npy", DType::F64),
        ("x_big_endian.npy", DType::F32),
    ] {
        for t in [
            "t_int64.npy",
            "t_int32.npy",
            "t_uint8.npy",
            "t_column.npy",
            "t_onehot.npy",
        ] {
            let d = Dataset::from_npy(npy(x), npy(t)).unwrap_or_else(|e| panic!("{x} {t}: {e}"));
            assert_eq!((d.len(), d.cols(), d.classes()), (6, 2, 3), "{x} {t}");
            assert_eq!(d.dtype(), dtype, "{x}");
            assert_eq!(&*d.x(), &X, "{x}: row-major, in order");
            assert_eq!(d.labels(), &T, "{t}");
        }
    }
}

#[test]
fn bad_npy_files_are_clear_errors() {
    let x = npy("x_f64.npy");
    let t = npy("t_int64.npy");
    let err = |x: &Path, t: &Path| Dataset::from_npy(x, t).unwrap_err().to_string();
    let cases: [(&str, &Path, &Path, &[&str]); 11] = [
        (
            "missing",
            &npy("nope.npy"),
            &t,
            &["nope.npy", "No such file"],
        ),
        (
            "not .npy",
            &npy("not_npy.npy"),
            &t,
            &["not_npy.npy", "not a NumPy .npy file"],
        ),
        (
            "truncated",
            &npy("x_truncated.npy"),
            &t,
            &["x_truncated.npy", "truncated"],
        ),
        (
            "integer inputs",
            &npy("x_int.npy"),
            &t,
            &["x_int.npy", "integer inputs"],
        ),
        (
            "complex",
            &npy("x_complex.npy"),
            &t,
            &["x_complex.npy", "<c8", "float32 or float64"],
        ),
        (
            "1-D inputs",
            &npy("x_1d.npy"),
            &t,
            &["x_1d.npy", "shape (6,)", "2-D"],
        ),
        (
            "NaN",
            &npy("x_nan.npy"),
            &t,
            &["x_nan.npy", "row 3, column 1", "NaN"],
        ),
        (
            "negative label",
            &x,
            &npy("t_negative.npy"),
            &["t_negative.npy", "label -1 at row 2"],
        ),
        (
            "float labels",
            &x,
            &npy("t_float.npy"),
            &["t_float.npy", "integers"],
        ),
        (
            "too few labels",
            &x,
            &npy("t_short.npy"),
            &["t_short.npy", "5 labels for the 6 rows"],
        ),
        (
            "not one-hot",
            &x,
            &npy("t_not_onehot.npy"),
            &["t_not_onehot.npy", "row 4 is not one-hot"],
        ),
    ];
    for (what, x, t, parts) in cases {
        let e = err(x, t);
        for p in parts {
            assert!(e.contains(p), "{what}: {p:?} not in {e:?}");
        }
    }
    let dir = std::env::temp_dir();
    assert!(err(&dir, &t).contains("is a directory"));
}

#[test]
fn csv_with_or_without_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.csv");
    std::fs::write(&path, "x0,x1,label\n0.5,-1,0\n1.5, 2.0 ,2\n-0.25,0.75,1\n").unwrap();
    let d = Dataset::from_csv(&path).unwrap();
    assert_eq!((d.len(), d.cols(), d.classes()), (3, 2, 3));
    assert_eq!(&*d.x(), &X[..6]);
    assert_eq!(d.labels(), &T[..3]);
    std::fs::write(&path, "0.5,-1,0\n1.5,2,1.0\n").unwrap();
    assert_eq!(Dataset::from_csv(&path).unwrap().labels(), &[0, 1]);
    let bad = |text: &str, part: &str| {
        std::fs::write(&path, text).unwrap();
        let e = Dataset::from_csv(&path).unwrap_err().to_string();
        assert!(
            e.contains("data.csv") && e.contains(part),
            "{part:?} not in {e:?}"
        );
    };
    bad(
        "a,b,c\n1,2,0\n1,x,1\n",
        "line 3, column 2: \"x\" is not a number",
    );
    bad(
        "1,2,0\n1,2,0.5\n",
        "line 2: the label 0.5 is not a class index",
    );
    bad("1,2,0\n1,2,-1\n", "the label -1 is not a class index");
    bad("1,2,0\n1,2,3,1\n", "line 2 has another number of columns");
    bad("1,nan,0\n", "NaN or infinite");
    bad("1\n", "at least 2 columns");
    bad("x,y,label\n", "holds no rows");
    assert!(Dataset::from_csv(dir.path().join("none.csv")).is_err());
}

/// Data in f32 trains an f32 model as the same data in f64 does: the inputs go to the device
/// as they are, with the same losses.
#[test]
fn f32_data_trains_as_its_f64_copy() {
    let a = Dataset::from_npy(npy("x_f32.npy"), npy("t_int64.npy")).unwrap();
    let b = Dataset::from_npy(npy("x_f64.npy"), npy("t_int64.npy")).unwrap();
    let run = |d: &Dataset| {
        let be = Cpu::<f32>::new();
        let mut rng = NumpyRng::new(1);
        let net = TwoLayerNet::new(&be, 2, 5, 3, &mut rng).unwrap();
        let mut t = Trainer::new(net, Sgd::new(0.5).unwrap());
        let o = FitOptions {
            max_epoch: 20,
            batch_size: 3,
            eval_interval: Some(1),
            output: Output::Silent,
            ..Default::default()
        };
        let r = t.fit(d, &o, &mut rng).unwrap();
        (r.losses, eval::accuracy(t.model_mut(), d).unwrap())
    };
    assert_eq!(run(&a), run(&b));
}
