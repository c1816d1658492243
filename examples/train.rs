//! `ch01/train.py` in Rust: the spiral (or your data) and a two-layer net trained by the
//! reusable `Trainer`.
//!
//! ```text
//! cargo run --release --example train -- --optimizer adam --lr 0.01 --max-grad 5
//! cargo run --release --example train -- --data x.npy --labels t.npy --hidden 50
//! cargo run --release --example train -- --data points.csv
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use common::{Report, TrainArgs};
use nn::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "The book's Trainer on the spiral data set")]
struct Cli {
    #[command(flatten)]
    train: TrainArgs,
    /// sgd, momentum, nesterov, adagrad, rmsprop or adam (the book's defaults besides --lr).
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    /// Clip the global gradient norm to this value.
    #[arg(long, allow_negative_numbers = true)]
    max_grad: Option<f64>,
    /// Record and print the mean loss every N iterations.
    #[arg(long, default_value_t = 10)]
    eval_interval: usize,
    /// Train on these inputs instead of the spiral: a NumPy .npy file (rows × features,
    /// float32 or float64; with --labels) or a CSV file (the last column the class).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The labels of --data x.npy: class indices (int64, int32, uint8, …) or one-hot rows.
    #[arg(long, requires = "data")]
    labels: Option<PathBuf>,
    /// Replay each step as one CUDA graph (with --backend cuda; the CPU runs it as usual).
    #[arg(long)]
    graph: bool,
}

/// `--data` (and `--labels`), read; `None` for the spiral.
fn user_data(cli: &Cli) -> Result<Option<Dataset>> {
    let Some(x) = &cli.data else { return Ok(None) };
    let csv = x.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let d = match (&cli.labels, csv) {
        (Some(t), false) => Dataset::from_npy(x, t)?,
        (None, true) => Dataset::from_csv(x)?,
        (None, false) => anyhow::bail!(
            "--data {}: give its labels with --labels FILE.npy",
            x.display()
        ),
        (Some(_), true) => anyhow::bail!(
            "--data {}: a CSV file holds its labels in its last column; leave out --labels",
            x.display()
        ),
    };
    if d.classes() < 2 {
        anyhow::bail!(
            "--data {}: the labels name one class: there is nothing to tell apart",
            x.display()
        );
    }
    Ok(Some(d))
}

fn run<B: Backend>(b: B, cli: &Cli, user: Option<&Dataset>) -> Result<Report> {
    let a = &cli.train;
    let mut rng = NumpyRng::new(a.seed);
    let data = match user {
        Some(d) => {
            say!(
                "data: {} ({} rows of {} {}, {} classes)",
                cli.data
                    .as_deref()
                    .unwrap_or(std::path::Path::new("?"))
                    .display(),
                d.len(),
                d.cols(),
                d.dtype(),
                d.classes()
            );
            d.clone()
        }
        None => spiral::load_data_from(&mut rng),
    };
    let mut model = TwoLayerNet::new(&b, data.cols(), a.hidden, data.classes(), &mut rng)?;
    a.load_into(&mut model)?;
    let optimizer = nn::optim::by_name::<B>(&cli.optimizer, a.lr)?;
    let mut trainer = Trainer::new(model, optimizer);

    let options = FitOptions {
        max_epoch: a.epochs,
        batch_size: a.batch_size,
        max_grad: cli.max_grad,
        eval_interval: Some(cli.eval_interval),
        output: Output::Auto,
        graph: cli.graph,
    };
    let start = Instant::now();
    let fit = trainer.fit(&data, &options, &mut rng)?;
    common::say_graph(cli.graph, &fit.graph, fit.graph_replays);
    b.synchronize()?;
    let train_seconds = start.elapsed().as_secs_f64();

    a.save_from(trainer.model())?;
    let train_accuracy = eval::accuracy(trainer.model_mut(), &data)?;
    say!(
        "train accuracy {train_accuracy:.4} ({:.3} ms of training)",
        train_seconds * 1e3
    );
    if !a.no_plot {
        plot_all(&mut trainer, &data, a)?;
    }
    Ok(Report {
        losses: trainer.loss_list().to_vec(),
        train_accuracy,
        train_seconds,
        backend: b.name().into(),
        dtype: a.dtype.name().into(),
    })
}

#[cfg(feature = "plot")]
fn plot_all<B: Backend, O: Optimizer<B>>(
    trainer: &mut Trainer<B, TwoLayerNet<B>, O>,
    data: &Dataset,
    a: &TrainArgs,
) -> Result<()> {
    if !trainer.loss_list().is_empty() {
        let p = a.out.join("train_loss.png");
        trainer.plot(&p, None)?;
        say!("wrote {}", p.display());
    }
    if data.cols() != 2 || data.classes() > 3 {
        say!("no decision boundary: it is drawn for 2-D inputs of up to 3 classes");
        return Ok(());
    }
    let boundary = eval::decision_boundary(trainer.model_mut(), data, 0.001)?;
    let p = a.out.join("train_decision_boundary.png");
    nn::train::plot::decision_boundary(&p, &boundary, data)?;
    say!("wrote {}", p.display());
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn plot_all<B: Backend, O: Optimizer<B>>(
    _: &mut Trainer<B, TwoLayerNet<B>, O>,
    _: &Dataset,
    _: &TrainArgs,
) -> Result<()> {
    anyhow::bail!("figures need the `plot` feature (on by default); or pass --no-plot")
}

fn check(cli: &Cli, user: Option<&Dataset>) -> Result<()> {
    match user {
        Some(d) => cli.train.check_for("the data", d.len())?,
        None => cli.train.check()?,
    }
    if cli.eval_interval == 0 {
        anyhow::bail!("--eval-interval must be at least 1");
    }
    if let Some(g) = cli.max_grad {
        if !(g.is_finite() && g > 0.0) {
            anyhow::bail!("--max-grad must be a finite number > 0, got {g}");
        }
    }
    nn::optim::by_name::<Cpu<f32>>(&cli.optimizer, cli.train.lr)?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let user = user_data(&cli)?;
    check(&cli, user.as_ref())?;
    let report = dispatch!(cli.train.backend, cli.train.dtype, |b| run(
        b,
        &cli,
        user.as_ref()
    )?);
    if let Some(path) = &cli.train.report {
        report.write(path)?;
        say!("wrote {}", path.display());
    }
    Ok(())
}

/// The acceptance: the Trainer records the book's losses (reference runs in `tests/data`).
#[cfg(test)]
mod tests {
    use super::*;
    use common::reference::{assert_losses, load};

    fn cli(extra: &[&str]) -> Cli {
        let argv = ["train", "--no-plot"].iter().chain(extra);
        let mut c = Cli::try_parse_from(argv).unwrap();
        c.train.report = None;
        c
    }

    #[test]
    fn f64_gives_the_books_losses_to_1e_9() {
        let r = run(Cpu::<f64>::new(), &cli(&["--dtype", "f64"]), None).unwrap();
        let (want, acc) = load("trainer_f64");
        assert_losses(&r.losses, &want, 1e-9);
        assert_eq!(r.train_accuracy, acc);
    }

    #[test]
    fn f32_gives_the_books_losses_to_1e_4() {
        let r = run(Cpu::<f32>::new(), &cli(&[]), None).unwrap();
        let (want, acc) = load("trainer_f32");
        assert_losses(&r.losses, &want, 1e-4);
        assert_eq!(r.train_accuracy, acc);
    }

    #[test]
    fn every_optimizer_matches_the_book() {
        for (opt, lr) in [
            ("sgd", "1.0"),
            ("momentum", "0.1"),
            ("nesterov", "0.1"),
            ("adagrad", "0.01"),
            ("rmsprop", "0.01"),
            ("adam", "0.01"),
        ] {
            let c = cli(&[
                "--dtype",
                "f64",
                "--optimizer",
                opt,
                "--lr",
                lr,
                "--epochs",
                "40",
            ]);
            let r = run(Cpu::<f64>::new(), &c, None).unwrap();
            let (want, acc) = load(&format!("trainer_{opt}_f64"));
            assert_losses(&r.losses, &want, 1e-9);
            assert_eq!(r.train_accuracy, acc, "{opt}");
        }
    }

    #[test]
    fn clipping_other_seed_and_interval_match() {
        let c = cli(&[
            "--dtype",
            "f64",
            "--seed",
            "3",
            "--max-grad",
            "0.5",
            "--eval-interval",
            "3",
            "--batch-size",
            "20",
            "--epochs",
            "50",
        ]);
        let r = run(Cpu::<f64>::new(), &c, None).unwrap();
        let (want, acc) = load("trainer_maxgrad_f64");
        assert_losses(&r.losses, &want, 1e-9);
        assert_eq!(r.train_accuracy, acc);
    }

    #[test]
    fn bad_flags_are_refused_with_a_message() {
        for (bad, msg) in [
            (&["--eval-interval", "0"][..], "--eval-interval"),
            (&["--max-grad", "-1"], "--max-grad"),
            (&["--optimizer", "adamw"], "unknown optimizer"),
        ] {
            let err = check(&cli(bad), None).unwrap_err().to_string();
            assert!(err.contains(msg), "{bad:?}: {err}");
        }
    }
}

/// The user's own data: files NumPy wrote (`crates/nn-train/tests/data/npy/make.py`), the net's
/// sizes from the data, and bad files refused with their names.
#[cfg(test)]
mod user_data_tests {
    use super::*;

    fn npy(name: &str) -> String {
        format!(
            "{}/crates/nn-train/tests/data/npy/{name}",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn cli(extra: &[&str]) -> Cli {
        let argv = ["train", "--no-plot"].iter().chain(extra);
        Cli::try_parse_from(argv).unwrap()
    }

    #[test]
    fn npy_files_train_a_net_sized_from_them() {
        let (x, t) = (npy("x_f32.npy"), npy("t_onehot.npy"));
        let c = cli(&[
            "--data",
            &x,
            "--labels",
            &t,
            "--batch-size",
            "3",
            "--epochs",
            "50",
            "--eval-interval",
            "1",
        ]);
        let d = user_data(&c).unwrap().unwrap();
        check(&c, Some(&d)).unwrap();
        let r = run(Cpu::<f32>::new(), &c, Some(&d)).unwrap();
        assert_eq!(r.losses.len(), 100);
        assert!(r.losses[99] < r.losses[0], "{:?}", &r.losses[..3]);
        assert!((0.0..=1.0).contains(&r.train_accuracy));
    }

    #[test]
    fn bad_data_flags_and_files_are_clear_errors() {
        let x = npy("x_f64.npy");
        for (args, part) in [
            (vec!["--data", &x], "give its labels with --labels"),
            (vec!["--data", &x, "--labels", "/nope/t.npy"], "/nope/t.npy"),
        ] {
            let e = user_data(&cli(&args)).unwrap_err().to_string();
            assert!(e.contains(part), "{part:?} not in {e}");
        }
        let t = npy("t_int64.npy");
        let c = cli(&["--data", &x, "--labels", &t, "--batch-size", "7"]);
        let d = user_data(&c).unwrap().unwrap();
        let e = check(&c, Some(&d)).unwrap_err().to_string();
        assert!(
            e.contains("--batch-size 7 is larger than the data (6 rows)"),
            "{e}"
        );
        assert!(Cli::try_parse_from(["train", "--labels", &t]).is_err());
    }
}
