//! Weight files: round trips in each precision, the acceptance (f16 keeps the accuracy at about
//! half the size), and every kind of bad file refused with the model unchanged.

use nn_core::{Backend, DType, Error, NumpyRng};
use nn_cpu::Cpu;
use nn_layers::{Model, Module, TwoLayerNet};
use nn_optim::Sgd;
use nn_train::{eval, load_params, save_params, spiral, FitOptions, Output, Trainer};
use proptest::prelude::*;
use std::path::Path;

type B = Cpu<f32>;

fn net(seed: u32, hidden: usize) -> TwoLayerNet<B> {
    TwoLayerNet::new(&B::new(), 2, hidden, 3, &mut NumpyRng::new(seed)).unwrap()
}

fn values<M: Model<B>>(m: &M) -> Vec<Vec<f32>> {
    let b = m.backend();
    m.params()
        .iter()
        .map(|(_, p)| b.to_host(p.value()).unwrap())
        .collect()
}

#[test]
fn round_trip_in_each_precision() {
    let dir = tempfile::tempdir().unwrap();
    let src = net(1, 10);
    for (dtype, rel) in [(DType::F64, 0.0), (DType::F32, 0.0), (DType::F16, 1e-3)] {
        let p = dir.path().join(format!("w_{dtype}.safetensors"));
        save_params(&src, &p, dtype).unwrap();
        let mut dst = net(2, 10);
        assert_eq!(load_params(&mut dst, &p).unwrap(), dtype);
        for (a, b) in values(&src)
            .iter()
            .flatten()
            .zip(values(&dst).iter().flatten())
        {
            assert!((a - b).abs() <= rel * a.abs(), "{dtype}: {a} vs {b}");
        }
    }
}

/// The same weights save to the same bytes, every time: files can be compared, hashed and
/// cached. (Two metadata entries, written in a HashMap's order, made 8 saves agree with odds
/// of 1 in 128.)
#[test]
fn the_same_weights_save_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let src = net(1, 10);
    let bytes: Vec<Vec<u8>> = (0..8)
        .map(|i| {
            let p = dir.path().join(format!("w{i}.safetensors"));
            save_params(&src, &p, DType::F16).unwrap();
            std::fs::read(&p).unwrap()
        })
        .collect();
    assert!(bytes.iter().all(|b| b == &bytes[0]));
    let text = String::from_utf8_lossy(&bytes[0]);
    assert!(
        text.contains(r#""__metadata__":{"compute_dtype":"float32"}"#),
        "{text}"
    );
}

#[test]
fn f16_keeps_the_accuracy_at_about_half_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = NumpyRng::new(1984);
    let data = spiral::load_data_from(&mut rng);
    let model = TwoLayerNet::new(&B::new(), 2, 10, 3, &mut rng).unwrap();
    let mut t = Trainer::new(model, Sgd::new(1.0).unwrap());
    let o = FitOptions {
        max_epoch: 300,
        batch_size: 30,
        output: Output::Silent,
        ..Default::default()
    };
    t.fit(&data, &o, &mut rng).unwrap();
    let before = eval::accuracy(t.model_mut(), &data).unwrap();
    let (p16, p32) = (
        dir.path().join("w16.safetensors"),
        dir.path().join("w32.safetensors"),
    );
    let n16 = save_params(t.model(), &p16, DType::F16).unwrap();
    let n32 = save_params(t.model(), &p32, DType::F32).unwrap();
    let mut reloaded = net(5, 10);
    load_params(&mut reloaded, &p16).unwrap();
    assert_eq!(eval::accuracy(&mut reloaded, &data).unwrap(), before);
    assert!(before > 0.9, "{before}");
    // The header is the same size in both; the data is exactly half.
    let header =
        |p: &Path| 8 + u64::from_le_bytes(std::fs::read(p).unwrap()[..8].try_into().unwrap());
    assert_eq!((n16 - header(&p16)) * 2, n32 - header(&p32));
    // For a net whose data outweighs the header, the whole file is about half.
    let big = net(1, 1000);
    let n16 = save_params(&big, &p16, DType::F16).unwrap() as f64;
    let n32 = save_params(&big, &p32, DType::F32).unwrap() as f64;
    assert!(n16 / n32 < 0.52, "{n16} vs {n32}");
}

/// A valid file's bytes, to corrupt.
fn valid_file(dir: &Path) -> Vec<u8> {
    let p = dir.join("valid.safetensors");
    save_params(&net(1, 4), &p, DType::F32).unwrap();
    std::fs::read(p).unwrap()
}

/// Loads `bytes` into a fresh model and checks that an error leaves the model as it was.
fn load_bytes(dir: &Path, bytes: &[u8]) -> Result<DType, Error> {
    let p = dir.join("candidate.safetensors");
    std::fs::write(&p, bytes).unwrap();
    let mut m = net(3, 4);
    let before = values(&m);
    let r = load_params(&mut m, &p);
    if r.is_err() {
        assert_eq!(values(&m), before, "a failed load changed the model");
    }
    r
}

/// A safetensors file built by hand from a JSON header and data.
fn handmade(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(header.as_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn bad_files_give_clear_errors_and_leave_the_model_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = valid_file(d);
    let msg = |bytes: &[u8]| load_bytes(d, bytes).unwrap_err().to_string();

    let mut m = net(3, 4);
    let missing = load_params(&mut m, &d.join("nope.safetensors")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
    // The OS's reason is in the message once: not repeated as a cause in an error chain.
    let reason = std::fs::File::open(d.join("nope.safetensors"))
        .unwrap_err()
        .to_string(); // the OS's words: "No such file or directory" on Linux
    assert!(missing.to_string().ends_with(&reason), "{missing}");
    assert!(std::error::Error::source(&missing).is_none());
    assert!(msg(&good[..good.len() - 5]).contains("not a valid safetensors file"));
    assert!(msg(&good[..4]).contains("not a valid safetensors file"));
    assert!(msg(b"random bytes that are not a weight file at all")
        .contains("not a valid safetensors file"));
    // A header that claims more data than there is.
    let lying = handmade(
        r#"{"layers.0.W":{"dtype":"F32","shape":[2,4],"data_offsets":[0,3200]}}"#,
        &[0; 32],
    );
    assert!(msg(&lying).contains("not a valid safetensors file"));
    // Valid files that do not fit the model.
    let w = |name: &str, dtype: &str, shape: &str, n: usize| {
        format!(
            r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{},{}]}}"#,
            0, n
        )
    };
    let only_w = handmade(
        &format!("{{{}}}", w("layers.0.W", "F32", "[2,4]", 32)),
        &[0; 32],
    );
    let e = msg(&only_w);
    assert!(
        e.contains(
            r#"parameters missing from the file: ["layers.0.b", "layers.2.W", "layers.2.b"]"#
        ) && !e.contains("does not have"),
        "{e}"
    );
    // Names that differ both ways are named both ways, in one message.
    let other = handmade(
        &format!("{{{}}}", w("encoder.W", "F32", "[2,4]", 32)),
        &[0; 32],
    );
    let e = msg(&other);
    assert!(
        e.contains(r#"tensors the model does not have: ["encoder.W"]; parameters missing from the file: ["layers.0.W", "layers.0.b", "#),
        "{e}"
    );
    let src = tempfile::tempdir().unwrap();
    let wide = src.path().join("wide.safetensors");
    save_params(&net(1, 5), &wide, DType::F32).unwrap();
    let e = load_bytes(d, &std::fs::read(&wide).unwrap()).unwrap_err();
    // Its own kind, so a caller can tell a model of other sizes from a corrupt file.
    match &e {
        Error::ParamShape {
            name,
            found,
            expected,
            ..
        } => assert_eq!(
            (name.as_str(), found.as_slice(), *expected),
            ("layers.0.W", &[2, 5][..], nn_core::Shape::new(2, 4))
        ),
        other => panic!("expected Error::ParamShape, got {other:?}"),
    }
    assert!(
        e.to_string()
            .contains("parameter \"layers.0.W\" has shape (2, 5); the model's is (2, 4)"),
        "{e}"
    );
    // Every parameter present, one of them stored as integers.
    let ints = handmade(
        concat!(
            r#"{"layers.0.W":{"dtype":"I32","shape":[2,4],"data_offsets":[0,32]},"#,
            r#""layers.0.b":{"dtype":"F32","shape":[4],"data_offsets":[32,48]},"#,
            r#""layers.2.W":{"dtype":"F32","shape":[4,3],"data_offsets":[48,96]},"#,
            r#""layers.2.b":{"dtype":"F32","shape":[3],"data_offsets":[96,108]}}"#
        ),
        &[0; 108],
    );
    let e = msg(&ints);
    assert!(
        e.contains(r#"parameter "layers.0.W" is stored as I32: only F16, F32 and F64"#),
        "{e}"
    );
}

#[test]
fn files_too_long_for_the_model_and_directories_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut m = net(3, 4);
    let before = values(&m);
    // 2×4 + 4 + 4×3 + 3 = 27 values: no weights file for this model passes 8 + 10⁸ + 27 × 8
    // bytes. A sparse 1 GB file is refused from its length, without reading it.
    let huge = d.join("huge.safetensors");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let e = load_params(&mut m, &huge).unwrap_err().to_string();
    assert!(
        e.contains("longer than the 100000224 bytes a weights file for this model can have"),
        "{e}"
    );
    let e = load_params(&mut m, d).unwrap_err().to_string();
    assert!(e.contains("is a directory, not a weights file"), "{e}");
    if cfg!(unix) {
        // A device that never ends is read only up to that bound.
        let e = load_params(&mut m, Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than the 100000224 bytes"), "{e}");
        // An empty device is read and refused as not a weights file.
        let e = load_params(&mut m, Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a valid safetensors file"), "{e}");
    }
    assert_eq!(values(&m), before);
}

#[test]
fn unsupported_dtype_and_nan_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A complete parameter set with one tensor stored as I32.
    let mut header = String::from("{");
    let mut off = 0;
    let mut data = Vec::new();
    for (name, shape, n, dtype) in [
        ("layers.0.W", "[2,4]", 8, "I32"),
        ("layers.0.b", "[4]", 4, "F32"),
        ("layers.2.W", "[4,3]", 12, "F32"),
        ("layers.2.b", "[3]", 3, "F32"),
    ] {
        header += &format!(
            r#""{name}":{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{off},{}]}},"#,
            off + 4 * n
        );
        off += 4 * n;
        data.extend(std::iter::repeat_n(0u8, 4 * n));
    }
    header.pop();
    header.push('}');
    let e = load_bytes(d, &handmade(&header, &data))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("stored as I32: only F16, F32 and F64 are supported"),
        "{e}"
    );
    let nan = header.replace("I32", "F32");
    let mut nan_data = data.clone();
    nan_data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = load_bytes(d, &handmade(&nan, &nan_data))
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN or infinite"), "{e}");
    assert!(load_bytes(d, &handmade(&nan, &data)).is_ok());
}

#[test]
fn saving_non_finite_or_out_of_f16_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = B::new();
    let mut m = net(1, 4);
    let id = m.params().find("layers.0.b").unwrap();
    m.params_mut()
        .set_value(
            &b,
            id,
            b.from_host(&[1e5, 0.0, 0.0, 0.0], nn_core::Shape::row(4))
                .unwrap(),
        )
        .unwrap();
    let p = dir.path().join("w.safetensors");
    let e = save_params(&m, &p, DType::F16).unwrap_err().to_string();
    assert!(e.contains("beyond f16's range"), "{e}");
    assert!(!p.exists(), "nothing is written on error");
    save_params(&m, &p, DType::F32).unwrap();
    // A diverged model (NaN or infinite weights) is not saved, in any precision.
    let before = std::fs::read(&p).unwrap();
    for bad in [f32::NAN, f32::INFINITY] {
        m.params_mut()
            .set_value(
                &b,
                id,
                b.from_host(&[0.0, bad, 0.0, 0.0], nn_core::Shape::row(4))
                    .unwrap(),
            )
            .unwrap();
        for dtype in [DType::F16, DType::F32, DType::F64] {
            let e = save_params(&m, &p, dtype).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "parameter \"layers.0.b\" (value {}) contains NaN or infinite values",
                    bad
                )
            );
        }
    }
    assert_eq!(std::fs::read(&p).unwrap(), before, "the saved file is kept");
}

#[test]
fn saving_an_f64_model_out_of_f32_range_as_f32_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let b = Cpu::<f64>::new();
    let mut m = TwoLayerNet::new(&b, 2, 4, 3, &mut NumpyRng::new(1)).unwrap();
    let id = m.params().find("layers.2.b").unwrap();
    let big = b
        .from_host(&[0.0, -1e300, 0.0], nn_core::Shape::row(3))
        .unwrap();
    m.params_mut().set_value(&b, id, big).unwrap();
    let p = dir.path().join("w.safetensors");
    // `as f32` would have written -inf.
    let e = save_params(&m, &p, DType::F32).unwrap_err().to_string();
    assert!(e.contains("beyond f32's range"), "{e}");
    assert!(e.contains("layers.2.b"), "{e}");
    assert!(!p.exists(), "nothing is written on error");
    save_params(&m, &p, DType::F64).unwrap();
    // Loaded into an f32 model, -1e300 would become -inf: refused, the model unchanged.
    let mut small = net(1, 4);
    let before = values(&small);
    let e = load_params(&mut small, &p).unwrap_err().to_string();
    assert!(e.contains("beyond the range of f32"), "{e}");
    assert!(
        e.contains("layers.2.b") && e.contains("w.safetensors"),
        "{e}"
    );
    assert_eq!(values(&small), before);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Random bytes never panic the loader.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let _ = load_bytes(dir.path(), &bytes);
    }

    /// A valid file with bytes flipped, cut or extended never panics the loader, and whatever
    /// loads is finite.
    #[test]
    fn mutated_files_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = valid_file(dir.path());
        for (i, v) in flips {
            let n = bytes.len();
            bytes[i % n] ^= v;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        let _ = load_bytes(dir.path(), &bytes);
    }
}
