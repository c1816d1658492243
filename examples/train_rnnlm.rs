//! `ch05/train.py` (and, with `--model lstm`, `ch06/train_rnnlm.py`) in Rust: a language model
//! trained by the book's `RnnlmTrainer`, its perplexity recorded every `--eval-interval`
//! iterations and plotted, and measured on a test corpus after training.
//!
//! ```text
//! cargo run --release --example train_rnnlm
//! cargo run --release --example train_rnnlm -- --model lstm --corpus ptb.train.txt --eval-corpus ptb.test.txt
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use common::rnnlm::{RnnArgs, RnnReport, Settings, CH05, CH06};
use nn::prelude::*;
use nn::train::{eval_perplexity, RnnlmFitOptions, RnnlmTrainer};
use std::path::PathBuf;
use std::time::Instant;

/// The book's two language models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ModelKind {
    /// `SimpleRnnlm` (ch05/train.py): an RNN.
    Simple,
    /// `Rnnlm` (ch06/train_rnnlm.py): an LSTM.
    Lstm,
}

#[derive(Parser, Debug)]
#[command(about = "The book's RnnlmTrainer: an RNN (ch05) or LSTM (ch06) language model")]
struct Cli {
    #[command(flatten)]
    rnn: RnnArgs,
    /// The model; the other flags' defaults follow it (ch05's values or ch06's).
    #[arg(long, value_enum, default_value_t = ModelKind::Simple)]
    model: ModelKind,
    /// sgd or adam (the book's defaults besides --lr).
    #[arg(long, default_value = "sgd")]
    optimizer: String,
    /// Clip the global gradient norm to this value, or `off`. ch05: off; ch06: 0.25.
    #[arg(long, value_parser = parse_max_grad, allow_negative_numbers = true)]
    max_grad: Option<MaxGrad>,
    /// Record and print the perplexity every N iterations.
    #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    eval_interval: usize,
    /// After training, the perplexity on this file (read through the training file's
    /// vocabulary; batches of 10 sequences of 35 steps, as in the book).
    #[arg(long)]
    eval_corpus: Option<PathBuf>,
    /// Replay each step as one CUDA graph (with --backend cuda; the CPU runs it as usual).
    #[arg(long)]
    graph: bool,
}

/// `--max-grad`: a threshold, or `off`.
#[derive(Clone, Copy, Debug)]
struct MaxGrad(Option<f64>);

fn parse_max_grad(s: &str) -> std::result::Result<MaxGrad, String> {
    if s == "off" {
        return Ok(MaxGrad(None));
    }
    match s.parse::<f64>() {
        Ok(g) if g.is_finite() && g > 0.0 => Ok(MaxGrad(Some(g))),
        _ => Err(format!("expected a finite number > 0 or `off`, got {s:?}")),
    }
}

impl Cli {
    fn max_grad(&self) -> Option<f64> {
        match (self.max_grad, self.model) {
            (Some(MaxGrad(g)), _) => g,
            (None, ModelKind::Simple) => None,
            (None, ModelKind::Lstm) => Some(0.25),
        }
    }
}

fn run<B: Backend>(b: B, cli: &Cli, s: &Settings) -> Result<RnnReport> {
    let a = &cli.rnn;
    let data = a.data(s)?;
    say!(
        "corpus size: {}, vocabulary size: {}",
        data.xs.len() + 1,
        data.vocab_size
    );
    // Read before training, so that a bad file stops the run at once.
    let eval_ids = match &cli.eval_corpus {
        Some(p) => Some(data.corpus.encode_file(p)?),
        None => None,
    };
    let mut rng = NumpyRng::new(a.seed);
    let (v, d, h) = (data.vocab_size, s.wordvec, s.hidden);
    let mut model: Box<dyn LanguageModel<B>> = match cli.model {
        ModelKind::Simple => Box::new(SimpleRnnlm::new(&b, v, d, h, &mut rng)?),
        ModelKind::Lstm => Box::new(Rnnlm::new(&b, v, d, h, &mut rng)?),
    };
    a.load_into(model.as_mut())?;
    let optimizer = nn::optim::by_name::<B>(&cli.optimizer, s.lr)?;
    let mut trainer = RnnlmTrainer::new(model, optimizer);
    let options = RnnlmFitOptions {
        max_epoch: s.epochs,
        batch_size: s.batch_size,
        time_size: s.time_size,
        max_grad: cli.max_grad(),
        eval_interval: Some(cli.eval_interval),
        output: Output::Auto,
        graph: cli.graph,
    };
    let start = Instant::now();
    if s.epochs > 0 {
        let fit = trainer.fit(&data.xs, &data.ts, &options)?;
        common::say_graph(cli.graph, &fit.graph, fit.graph_replays);
    }
    b.synchronize()?;
    let train_seconds = start.elapsed().as_secs_f64();
    say!("{:.3} s of training", train_seconds);
    a.save_from(trainer.model().as_ref())?;
    if !a.no_plot && !trainer.ppl_list().is_empty() {
        plot(&trainer, a)?;
    }
    let eval_perplexity = match &eval_ids {
        Some(ids) => {
            let model = trainer.model_mut();
            model.reset_state();
            let ppl = eval_perplexity(model.as_mut(), ids, 10, 35)?;
            say!("test perplexity: {ppl:.2}");
            Some(ppl)
        }
        None => None,
    };
    Ok(RnnReport {
        perplexities: trainer.ppl_list().to_vec(),
        losses: trainer.losses().to_vec(),
        eval_perplexity,
        vocab_size: data.vocab_size,
        train_seconds,
        backend: b.name().into(),
        dtype: a.dtype.name().into(),
    })
}

#[cfg(feature = "plot")]
fn plot<B: Backend, M: LanguageModel<B>, O: Optimizer<B>>(
    trainer: &RnnlmTrainer<B, M, O>,
    a: &RnnArgs,
) -> Result<()> {
    let p = a.figure("rnnlm_perplexity.png");
    trainer.plot(&p, None)?;
    say!("wrote {}", p.display());
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn plot<B: Backend, M: LanguageModel<B>, O: Optimizer<B>>(
    _: &RnnlmTrainer<B, M, O>,
    _: &RnnArgs,
) -> Result<()> {
    anyhow::bail!("figures need the `plot` feature (on by default); or pass --no-plot")
}

fn settings(cli: &Cli) -> Settings {
    cli.rnn.settings(match cli.model {
        ModelKind::Simple => CH05,
        ModelKind::Lstm => CH06,
    })
}

fn check(cli: &Cli, s: &Settings) -> Result<()> {
    cli.rnn.check(s)?;
    if let Some(p) = &cli.eval_corpus {
        if !p.is_file() {
            anyhow::bail!("--eval-corpus {}: no such file", p.display());
        }
    }
    nn::optim::by_name::<Cpu<f32>>(&cli.optimizer, s.lr)?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let s = settings(&cli);
    check(&cli, &s)?;
    let report = dispatch!(cli.rnn.backend, cli.rnn.dtype, |b| run(b, &cli, &s)?);
    if let Some(path) = &cli.rnn.report {
        report.write(path)?;
    }
    Ok(())
}

/// The acceptance: the trainer records the book's perplexities and every iteration's loss, and
/// the test perplexity after training (reference runs in `tests/data/rnnlm`, made by
/// `tests/data/regen_rnnlm.sh`). f64: 1e-9 relative over the first 70% of the run and 1e-6 over
/// all of it (late in a long run rounding differences grow, for the reference as for this
/// code); f32: 1e-4 over the first 10%.
#[cfg(test)]
mod tests {
    use super::*;
    use common::rnnlm::reference::{load, within};

    const CH06: &[&str] = &[
        "--model",
        "lstm",
        "--eval-corpus",
        "tests/data/rnnlm/eval.txt",
    ];

    fn run_with(b: impl Backend, extra: &[&str]) -> RnnReport {
        let argv = ["train_rnnlm", "--no-plot"].iter().chain(extra);
        let mut cli = Cli::try_parse_from(argv).unwrap();
        if let Some(p) = &mut cli.eval_corpus {
            *p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&*p);
        }
        let s = settings(&cli);
        run(b, &cli, &s).unwrap()
    }

    #[track_caller]
    fn compare(r: &RnnReport, name: &str, f64_run: bool) {
        let (ppl, losses) = load(name);
        let (np, nl) = (ppl.len(), losses.len());
        let (early, cut): (f64, fn(usize) -> usize) = if f64_run {
            (1e-9, |n| n * 7 / 10)
        } else {
            (1e-4, |n| n.div_ceil(10))
        };
        let worst = within("perplexity", &r.perplexities, &ppl, cut(np), early).max(within(
            "loss",
            &r.losses,
            &losses,
            cut(nl),
            early,
        ));
        if f64_run {
            within("perplexity", &r.perplexities, &ppl, np, 1e-6);
            within("loss", &r.losses, &losses, nl, 1e-6);
        }
        eprintln!("{name}: worst relative difference {worst:.2e} early on");
    }

    /// The test perplexity, to the tolerance of the run's last losses.
    #[track_caller]
    fn eval_matches(r: &RnnReport, name: &str, rel: f64) {
        let path = format!(
            "{}/tests/data/rnnlm/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let want = v["eval_perplexity"].as_f64().unwrap();
        let got = r.eval_perplexity.unwrap();
        assert!(
            ((got - want) / want).abs() <= rel,
            "test perplexity {got}, the book's {want}"
        );
    }

    #[test]
    fn ch05_simple_rnnlm_f64() {
        let r = run_with(Cpu::<f64>::new(), &["--dtype", "f64"]);
        assert_eq!((r.perplexities.len(), r.losses.len()), (100, 1900));
        compare(&r, "trainer_simple_f64", true);
    }

    #[test]
    fn ch05_simple_rnnlm_f32() {
        compare(
            &run_with(Cpu::<f32>::new(), &[]),
            "trainer_simple_f32",
            false,
        );
    }

    #[test]
    fn ch06_lstm_f64_with_clipping_and_test_perplexity() {
        let r = run_with(Cpu::<f64>::new(), &[CH06, &["--dtype", "f64"]].concat());
        assert_eq!(r.losses.len(), 20);
        compare(&r, "trainer_lstm_f64", true);
        eval_matches(&r, "trainer_lstm_f64", 1e-9);
    }

    #[test]
    fn ch06_lstm_f32() {
        let r = run_with(Cpu::<f32>::new(), CH06);
        compare(&r, "trainer_lstm_f32", false);
        eval_matches(&r, "trainer_lstm_f32", 1e-4);
    }

    #[test]
    fn simple_rnnlm_adam_clipping_other_sizes() {
        let args = [
            "--dtype",
            "f64",
            "--optimizer",
            "adam",
            "--lr",
            "0.005",
            "--max-grad",
            "2.0",
            "--eval-interval",
            "5",
            "--seed",
            "3",
            "--batch-size",
            "8",
            "--time-size",
            "6",
            "--wordvec",
            "20",
            "--hidden",
            "30",
            "--epochs",
            "40",
        ];
        compare(
            &run_with(Cpu::<f64>::new(), &args),
            "trainer_simple_adam_f64",
            true,
        );
    }

    #[test]
    fn lstm_adam_clipping_other_sizes() {
        let args = [
            "--model",
            "lstm",
            "--corpus-size",
            "1000",
            "--vocab",
            "corpus",
            "--batch-size",
            "7",
            "--time-size",
            "9",
            "--lr",
            "0.01",
            "--epochs",
            "30",
            "--max-grad",
            "1.0",
            "--dtype",
            "f64",
            "--optimizer",
            "adam",
            "--eval-interval",
            "3",
            "--seed",
            "7",
        ];
        compare(
            &run_with(Cpu::<f64>::new(), &args),
            "trainer_lstm_adam_f64",
            true,
        );
    }

    #[test]
    fn lstm_sgd_clipping_ch05_sizes_100_epochs() {
        let args = [
            "--model",
            "lstm",
            "--corpus-size",
            "1000",
            "--vocab",
            "corpus",
            "--batch-size",
            "10",
            "--time-size",
            "5",
            "--lr",
            "0.3",
            "--epochs",
            "100",
            "--max-grad",
            "1.0",
            "--dtype",
            "f64",
            "--seed",
            "11",
            "--wordvec",
            "16",
            "--hidden",
            "24",
        ];
        compare(
            &run_with(Cpu::<f64>::new(), &args),
            "trainer_lstm_sgd_f64",
            true,
        );
    }
}
