//! `ch01/train_custom_loop.py` in Rust: the spiral, a two-layer net, SGD, a hand-written loop.
//!
//! ```text
//! cargo run --release --example train_custom_loop -- --dtype f64 --report out/report.json
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use common::{Report, TrainArgs};
use nn::prelude::*;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "The book's custom training loop on the spiral data set")]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
}

fn run<B: Backend>(b: B, a: &TrainArgs) -> Result<Report> {
    // One random stream, in the book's order: data, initial weights, shuffles.
    let mut rng = NumpyRng::new(a.seed);
    let data = spiral::load_data_from(&mut rng);
    let mut model = TwoLayerNet::new(&b, 2, a.hidden, 3, &mut rng)?;
    a.load_into(&mut model)?;
    let mut optimizer = Sgd::new(a.lr)?;

    let dev = data.to_device(&b)?;
    let (data_size, batch_size) = (data.len(), a.batch_size);
    let max_iters = data_size / batch_size;
    let mut shuffle = Shuffle::new(data_size);
    let mut total_loss = b.zeros(Shape::scalar())?;
    let mut loss_count = 0;
    let mut loss_list = Vec::new();

    let start = Instant::now();
    for epoch in 0..a.epochs {
        // The data is shuffled once per epoch; batches are gathered on the device.
        let idx = b.index_from_host(shuffle.next_epoch(&mut rng))?;
        for iters in 0..max_iters {
            let batch_x = b.gather_rows(dev.x(), &idx, iters * batch_size, batch_size)?;
            let batch_t = b.gather_index(dev.t(), &idx, iters * batch_size, batch_size)?;

            let loss = model.forward(&batch_x, Labels::Index(&batch_t))?;
            model.backward()?;
            optimizer.update(&b, model.params_mut())?;

            b.axpy(&mut total_loss, <B::Elem as Float>::of(1.0), &loss)?;
            loss_count += 1;

            if (iters + 1) % 10 == 0 {
                let avg_loss = b.scalar(&total_loss)? / loss_count as f64;
                say!(
                    "| epoch {} |  iter {} / {} | loss {:.2}",
                    epoch + 1,
                    iters + 1,
                    max_iters,
                    avg_loss
                );
                loss_list.push(avg_loss);
                total_loss = b.zeros(Shape::scalar())?;
                loss_count = 0;
            }
        }
    }
    b.synchronize()?;
    let train_seconds = start.elapsed().as_secs_f64();
    if a.epochs == 0 {
        say!("--epochs 0: no training; reporting the initial model");
    }

    a.save_from(&model)?;
    let train_accuracy = eval::accuracy(&mut model, &data)?;
    say!(
        "train accuracy {train_accuracy:.4} ({:.3} ms of training)",
        train_seconds * 1e3
    );
    if !a.no_plot {
        plot_all(&mut model, &data, &loss_list, a)?;
    }
    Ok(Report {
        losses: loss_list,
        train_accuracy,
        train_seconds,
        backend: b.name().into(),
        dtype: a.dtype.name().into(),
    })
}

#[cfg(feature = "plot")]
fn plot_all<B: Backend>(
    model: &mut TwoLayerNet<B>,
    data: &Dataset,
    losses: &[f64],
    a: &TrainArgs,
) -> Result<()> {
    if !losses.is_empty() {
        let p = a.out.join("loss.png");
        nn_train::plot::loss_curve(&p, losses, 10, None)?;
        say!("wrote {}", p.display());
    }
    let boundary = eval::decision_boundary(model, data, 0.001)?;
    let p = a.out.join("decision_boundary.png");
    nn_train::plot::decision_boundary(&p, &boundary, data)?;
    say!(
        "wrote {} ({} grid points)",
        p.display(),
        boundary.classes.len()
    );
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn plot_all<B: Backend>(
    _: &mut TwoLayerNet<B>,
    _: &Dataset,
    _: &[f64],
    _: &TrainArgs,
) -> Result<()> {
    anyhow::bail!("figures need the `plot` feature (on by default); or pass --no-plot")
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let a = &cli.train;
    a.check()?;
    let report = dispatch!(a.backend, a.dtype, |b| run(b, a)?);
    if let Some(path) = &a.report {
        report.write(path)?;
        say!("wrote {}", path.display());
    }
    Ok(())
}

/// The acceptance: this loop prints the book's losses (reference runs in `tests/data`).
#[cfg(test)]
mod tests {
    use super::*;
    use common::reference::{assert_losses, load};

    fn args(extra: &[&str]) -> TrainArgs {
        let argv = ["train_custom_loop", "--no-plot"].iter().chain(extra);
        Cli::try_parse_from(argv).unwrap().train
    }

    #[test]
    fn f64_gives_the_books_losses_to_1e_9() {
        let r = run(Cpu::<f64>::new(), &args(&["--dtype", "f64"])).unwrap();
        let (want, acc) = load("custom_loop_f64");
        let worst = assert_losses(&r.losses, &want, 1e-9);
        eprintln!("f64: worst relative loss error against the book's code {worst:.1e}");
        assert_eq!(r.train_accuracy, acc);
        assert_eq!(acc, 0.97);
    }

    #[test]
    fn f32_gives_the_books_losses_to_1e_4() {
        let r = run(Cpu::<f32>::new(), &args(&[])).unwrap();
        let (want, acc) = load("custom_loop_f32");
        let worst = assert_losses(&r.losses, &want, 1e-4);
        eprintln!("f32: worst relative loss error against the book's code {worst:.1e}");
        assert_eq!(r.train_accuracy, acc);
    }

    #[test]
    fn other_seed_and_hyperparameters_match_too() {
        let a = args(&[
            "--dtype",
            "f64",
            "--seed",
            "7",
            "--epochs",
            "60",
            "--batch-size",
            "25",
            "--hidden",
            "20",
            "--lr",
            "0.5",
        ]);
        let r = run(Cpu::<f64>::new(), &a).unwrap();
        let (want, acc) = load("custom_loop_f64_seed7");
        assert_losses(&r.losses, &want, 1e-9);
        assert_eq!(r.train_accuracy, acc);
    }

    #[test]
    fn bad_flags_are_refused_with_a_message() {
        let parse = |extra: &[&str]| {
            let argv = ["train_custom_loop", "--no-plot"].iter().chain(extra);
            Cli::try_parse_from(argv).map(|c| c.train)
        };
        for bad in [
            &["--hidden", "0"][..],
            &["--batch-size", "0"],
            &["--dtype", "f16x"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        for (bad, msg) in [
            (&["--batch-size", "301"][..], "larger than the spiral"),
            (&["--lr", "-1"], "--lr must be"),
            (&["--lr", "NaN"], "--lr must be"),
        ] {
            let err = parse(bad).unwrap().check().unwrap_err().to_string();
            assert!(err.contains(msg), "{bad:?}: {err}");
        }
        let mut a = args(&[]);
        a.no_plot = false;
        a.out = "/proc/nn-cannot-write-here".into();
        // Built without `plot`, figures are refused first, before any training.
        let want = if cfg!(feature = "plot") {
            "output directory"
        } else {
            "figures need the `plot` feature"
        };
        let err = a.check().unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
        // --save and --report name files: a directory is refused before training, not after.
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        for flag in ["--save", "--report"] {
            let err = args(&[flag, d]).check().unwrap_err().to_string();
            assert!(err.contains("is a directory"), "{flag} {d}: {err}");
        }
    }

    #[test]
    fn save_then_load_and_evaluate_gives_the_same_accuracy() {
        let dir = tempfile::tempdir().unwrap();
        let w = dir.path().join("w.safetensors");
        let w = w.to_str().unwrap();
        let trained = run(Cpu::<f32>::new(), &args(&["--save", w])).unwrap();
        let reloaded = run(
            Cpu::<f64>::new(),
            &args(&["--load", w, "--epochs", "0", "--dtype", "f64"]),
        )
        .unwrap();
        assert_eq!(reloaded.train_accuracy, trained.train_accuracy);
        // Weights of another hidden size: the message says which flag to give.
        let err = run(Cpu::<f32>::new(), &args(&["--load", w, "--hidden", "7"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has shape (2, 10); the model's is (2, 7)")
                && err.contains("give the --hidden the file was saved with"),
            "{err}"
        );
        let err = args(&["--load", "/no/such/file"])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = args(&["--load", dir.path().to_str().unwrap()])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory, not a weights file"), "{err}");
        // A read-only file is refused before training wherever std::fs::write would refuse it
        // (not as root).
        let frozen = dir.path().join("frozen.safetensors");
        std::fs::write(&frozen, b"").unwrap();
        let mut perms = std::fs::metadata(&frozen).unwrap().permissions();
        perms.set_readonly(true);
        std::fs::set_permissions(&frozen, perms).unwrap();
        let writable = std::fs::OpenOptions::new()
            .write(true)
            .open(&frozen)
            .is_ok();
        let r = args(&["--save", frozen.to_str().unwrap()]).check();
        assert_eq!(r.is_ok(), writable, "{r:?}");
        // A device is written in place: its directory need not be writable (Unix devices;
        // Windows' NUL is not supported: under Wine it is refused with an error).
        if cfg!(unix) {
            assert!(args(&["--report", "/dev/null", "--save", "/dev/null"])
                .check()
                .is_ok());
        }
    }

    #[cfg(not(feature = "nn-cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_rebuild_this_example() {
        let a = args(&["--backend", "cuda"]);
        let r = (|| -> Result<Report> { Ok(dispatch!(a.backend, a.dtype, |b| run(b, &a)?)) })();
        let err = r.unwrap_err().to_string();
        assert!(
            err.contains("cargo run --release --features cuda --example train_custom_loop --"),
            "{err}"
        );
    }

    #[test]
    fn the_report_is_json_ending_in_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        let r = run(Cpu::<f32>::new(), &args(&["--epochs", "1"])).unwrap();
        r.write(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["losses"].as_array().unwrap().len(), r.losses.len());
        assert_eq!(json["backend"], "cpu");
        assert_eq!(json["dtype"], "f32");
    }

    #[test]
    fn zero_epochs_reports_the_untrained_model() {
        let r = run(Cpu::<f32>::new(), &args(&["--epochs", "0"])).unwrap();
        assert!(r.losses.is_empty());
        assert!(r.train_accuracy < 0.5, "{}", r.train_accuracy);
    }
}
