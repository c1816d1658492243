//! The figures: the decision-boundary grid against NumPy's, files written by extension, and
//! the refusal of what cannot be drawn (which must neither hang nor leave a file behind).
#![cfg(feature = "plot")]

use nn_core::{Error, NumpyRng};
use nn_cpu::Cpu;
use nn_layers::TwoLayerNet;
use nn_train::{eval, plot, spiral, Dataset};
use std::path::Path;

fn net(rng: &mut NumpyRng) -> TwoLayerNet<Cpu<f32>> {
    TwoLayerNet::new(&Cpu::<f32>::new(), 2, 10, 3, rng).unwrap()
}

/// The files in `dir`, so that a refused figure can be seen to leave nothing (not even a
/// temporary file).
fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn decision_boundary_grid_is_numpys_arange() {
    let mut rng = NumpyRng::new(1984);
    let data = spiral::load_data_from(&mut rng);
    let mut model = net(&mut rng);
    // np.arange(x[:, 0].min() - .1, x[:, 0].max() + .1, h) and the same for x[:, 1], from
    // the reference's load_data(1984): lengths and first points.
    for (h, nx, ny) in [(0.01, 212, 205), (0.001, 2112, 2047)] {
        let b = eval::decision_boundary(&mut model, &data, h).unwrap();
        assert_eq!((b.nx, b.ny), (nx, ny), "h = {h}");
        assert_eq!(b.classes.len(), nx * ny);
        assert!(b.classes.iter().all(|&c| c < 3));
        approx::assert_relative_eq!(b.x_min, -1.0223506996640548, max_relative = 1e-15);
        approx::assert_relative_eq!(b.y_min, -0.9886726617070215, max_relative = 1e-15);
    }
}

#[test]
fn a_grid_step_too_small_or_not_positive_is_an_error() {
    let mut rng = NumpyRng::new(1984);
    let data = spiral::load_data_from(&mut rng);
    let mut model = net(&mut rng);
    // 1e-5 gives about 4.8 × 10¹⁰ points; 1e-300 more than a usize counts.
    for h in [1e-5, 1e-300] {
        let e = eval::decision_boundary(&mut model, &data, h).unwrap_err();
        assert!(e.to_string().contains("use a larger step"), "{e}");
    }
    // Classes are kept as bytes: a model with more than 256 is refused, not wrapped.
    let mut wide = TwoLayerNet::new(&Cpu::<f32>::new(), 2, 4, 257, &mut rng).unwrap();
    let e = eval::decision_boundary(&mut wide, &data, 0.1).unwrap_err();
    assert!(e.to_string().contains("at most 256"), "{e}");
    for h in [0.0, -0.1, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            eval::decision_boundary(&mut model, &data, h),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn figures_are_png_or_svg_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    let losses = [1.1, 0.9, 0.5, 0.2];
    let png = dir.path().join("loss.png");
    plot::loss_curve(&png, &losses, 10, None).unwrap();
    assert!(std::fs::read(&png)
        .unwrap()
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg = dir.path().join("loss.SVG");
    plot::loss_curve(&svg, &losses, 10, Some((0.0, 1.2))).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let data = spiral::load_data(1984);
    plot::scatter(&dir.path().join("spiral.png"), &data).unwrap();
    let e = plot::loss_curve(&dir.path().join("loss.jpg"), &losses, 10, None).unwrap_err();
    assert!(e.to_string().contains(".png or .svg"), "{e}");
    assert_eq!(files(dir.path()), ["loss.SVG", "loss.png", "spiral.png"]);
}

#[test]
fn what_cannot_be_drawn_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("loss.png");
    let refused = |losses: &[f64], ylim| plot::loss_curve(&p, losses, 10, ylim).unwrap_err();
    assert!(matches!(refused(&[], None), Error::Empty(_)));
    // Non-finite losses (drawing an all-NaN or infinite series hung in plotters before).
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert!(matches!(refused(&[bad], None), Error::NonFinite(_)));
        assert!(matches!(refused(&[1.0, bad], None), Error::NonFinite(_)));
    }
    // y-limits that are not finite and increasing, and spans an f64 cannot hold.
    for ylim in [
        (1.0, 0.0),
        (1.0, 1.0),
        (f64::NAN, 1.0),
        (0.0, f64::INFINITY),
    ] {
        assert!(matches!(
            refused(&[0.5, 0.4], Some(ylim)),
            Error::InvalidArgument(_)
        ));
    }
    assert!(matches!(
        refused(&[-1e308, 1e308], None),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        refused(&[0.5], Some((-1e308, 1e308))),
        Error::InvalidArgument(_)
    ));
    // A hand-built grid must hold one class per point, from a finite origin and step.
    let data = spiral::load_data(1984);
    let grid = eval::Boundary {
        x_min: -1.0,
        y_min: -1.0,
        h: 0.5,
        nx: 4,
        ny: 4,
        classes: vec![0; 16],
    };
    let b = dir.path().join("boundary.png");
    for bad in [
        eval::Boundary {
            classes: vec![0; 15],
            ..grid.clone()
        },
        eval::Boundary {
            nx: 0,
            ..grid.clone()
        },
        eval::Boundary {
            h: 0.0,
            ..grid.clone()
        },
        eval::Boundary {
            x_min: f64::NAN,
            ..grid.clone()
        },
    ] {
        assert!(plot::decision_boundary(&b, &bad, &data).is_err(), "{bad:?}");
    }
    // Scatter plots and decision boundaries are of 2-D inputs.
    let three = Dataset::new(vec![0.0; 6], 3, vec![0, 1], 3).unwrap();
    let e = plot::scatter(&dir.path().join("three.png"), &three).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid argument: a scatter plot needs 2-D inputs"
    );
    let mut model = net(&mut NumpyRng::new(1));
    let e = eval::decision_boundary(&mut model, &three, 0.1).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid argument: a decision boundary needs 2-D inputs"
    );
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    plot::decision_boundary(&b, &grid, &data).unwrap();
    assert_eq!(files(dir.path()), ["boundary.png"]);
}

/// The font is looked up once per process, so this runs the lookup in a child process (this
/// test binary again, with `NN_FONT` set).
#[test]
fn an_unusable_nn_font_is_named() {
    if std::env::var_os("NN_FONT_CHILD").is_some() {
        let _ = plot::font_available();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.ttf");
    std::fs::write(&junk, b"not a font at all").unwrap();
    let missing = dir.path().join("missing.ttf");
    // The OS's words for a missing file: "No such file or directory" on Linux.
    let not_found = std::fs::File::open(&missing).unwrap_err().to_string();
    for (font, says) in [
        (&junk, "is not a TrueType font; looking elsewhere"),
        (&missing, not_found.as_str()),
    ] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["an_unusable_nn_font_is_named", "--exact", "--nocapture"])
            .env("NN_FONT_CHILD", "1")
            .env("NN_FONT", font)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "the child test failed ({}): {err}",
            out.status
        );
        let want = format!("note: NN_FONT={}", font.display());
        assert!(err.contains(&want) && err.contains(says), "{err}");
    }
}
