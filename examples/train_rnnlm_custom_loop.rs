//! `ch05/train_custom_loop.py` in Rust: a simple RNN language model (`SimpleRnnlm`) trained by
//! a hand-written loop of truncated BPTT, its perplexity printed once per epoch.
//!
//! ```text
//! cargo run --release --example train_rnnlm_custom_loop
//! cargo run --release --example train_rnnlm_custom_loop -- --corpus ptb.train.txt --dtype f64
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use common::rnnlm::{RnnArgs, RnnReport, Settings, CH05};
use nn::prelude::*;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "The book's RNN language model (ch05) trained by a hand-written loop")]
struct Cli {
    #[command(flatten)]
    rnn: RnnArgs,
}

fn run<B: Backend>(b: B, a: &RnnArgs, s: &Settings) -> Result<RnnReport> {
    let data = a.data(s)?;
    let (xs, ts) = (&data.xs, &data.ts);
    let corpus_size = xs.len() + 1;
    say!(
        "corpus size: {corpus_size}, vocabulary size: {}",
        data.vocab_size
    );

    let (batch_size, time_size) = (s.batch_size, s.time_size);
    let data_size = xs.len();
    let max_iters = data_size / (batch_size * time_size);
    if max_iters == 0 && s.epochs > 0 {
        anyhow::bail!(
            "a corpus of {corpus_size} words is shorter than one batch ({batch_size} × \
             {time_size} words): lower --batch-size or --time-size, or raise --corpus-size"
        );
    }
    let mut model = SimpleRnnlm::new(
        &b,
        data.vocab_size,
        s.wordvec,
        s.hidden,
        &mut NumpyRng::new(a.seed),
    )?;
    a.load_into(&mut model)?;
    let mut optimizer = Sgd::new(s.lr)?;

    // Each sequence of the batch reads the corpus from its own offset.
    let jump = (corpus_size - 1) / batch_size;
    let offsets: Vec<usize> = (0..batch_size).map(|i| i * jump).collect();
    let mut time_idx = 0;
    let (mut total_loss, mut loss_count) = (0.0, 0);
    let (mut ppl_list, mut losses) = (Vec::new(), Vec::new());
    // Time-major: step t of sequence i at t · batch_size + i, as the models take batches.
    let mut batch_x = vec![0u32; batch_size * time_size];
    let mut batch_t = vec![0u32; batch_size * time_size];

    let start = Instant::now();
    for epoch in 0..s.epochs {
        for _ in 0..max_iters {
            for t in 0..time_size {
                for (i, offset) in offsets.iter().enumerate() {
                    batch_x[t * batch_size + i] = xs[(offset + time_idx) % data_size];
                    batch_t[t * batch_size + i] = ts[(offset + time_idx) % data_size];
                }
                time_idx += 1;
            }
            let (bx, bt) = (b.index_from_host(&batch_x)?, b.index_from_host(&batch_t)?);
            let loss = model.forward(&bx, &bt, batch_size)?;
            model.backward()?;
            optimizer.update(&b, model.params_mut())?;
            let loss = b.scalar(&loss)?;
            total_loss += loss;
            loss_count += 1;
            losses.push(loss);
        }
        let ppl = f64::exp(total_loss / loss_count as f64);
        say!("| epoch {} | perplexity {:.2}", epoch + 1, ppl);
        ppl_list.push(ppl);
        (total_loss, loss_count) = (0.0, 0);
    }
    b.synchronize()?;
    let train_seconds = start.elapsed().as_secs_f64();
    say!("{:.3} s of training", train_seconds);

    a.save_from(&model)?;
    if !a.no_plot && !ppl_list.is_empty() {
        plot(&ppl_list, a)?;
    }
    Ok(RnnReport {
        perplexities: ppl_list,
        losses,
        eval_perplexity: None,
        vocab_size: data.vocab_size,
        train_seconds,
        backend: b.name().into(),
        dtype: a.dtype.name().into(),
    })
}

#[cfg(feature = "plot")]
fn plot(ppl_list: &[f64], a: &RnnArgs) -> Result<()> {
    let p = a.figure("rnnlm_custom_loop_perplexity.png");
    nn::train::plot::curve(&p, ppl_list, "epochs", "perplexity", None)?;
    say!("wrote {}", p.display());
    Ok(())
}

#[cfg(not(feature = "plot"))]
fn plot(_: &[f64], _: &RnnArgs) -> Result<()> {
    anyhow::bail!("figures need the `plot` feature (on by default); or pass --no-plot")
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let a = &cli.rnn;
    let s = a.settings(CH05);
    a.check(&s)?;
    let report = dispatch!(a.backend, a.dtype, |b| run(b, a, &s)?);
    if let Some(path) = &a.report {
        report.write(path)?;
    }
    Ok(())
}

/// The acceptance: this loop prints the book's perplexities and losses (reference runs in
/// `tests/data/rnnlm`, made by `tests/data/regen_rnnlm.sh`). f64: 1e-9 relative over the first
/// 70% of the run and 1e-6 over all of it (late in a long run, rounding differences grow: the
/// reference's own losses move by up to 3e-8 when its initial weights move by 1e-15); f32: 1e-4
/// over the first 10%.
#[cfg(test)]
mod tests {
    use super::*;
    use common::rnnlm::reference::{load, within};

    fn run_with(b: impl Backend, extra: &[&str]) -> RnnReport {
        let argv = ["train_rnnlm_custom_loop", "--no-plot"].iter().chain(extra);
        let cli = Cli::try_parse_from(argv).unwrap();
        let s = cli.rnn.settings(CH05);
        run(b, &cli.rnn, &s).unwrap()
    }

    #[track_caller]
    fn compare(r: &RnnReport, name: &str, early: f64, late: Option<f64>) {
        let (ppl, losses) = load(name);
        let (np, nl) = (ppl.len(), losses.len());
        let cut = |n: usize| {
            if late.is_some() {
                n * 7 / 10
            } else {
                n.div_ceil(10)
            }
        };
        let worst = within("perplexity", &r.perplexities, &ppl, cut(np), early).max(within(
            "loss",
            &r.losses,
            &losses,
            cut(nl),
            early,
        ));
        if let Some(late) = late {
            within("perplexity", &r.perplexities, &ppl, np, late);
            within("loss", &r.losses, &losses, nl, late);
        }
        eprintln!("{name}: worst relative difference {worst:.2e} early on");
    }

    #[test]
    fn f64_gives_the_books_perplexities() {
        let r = run_with(Cpu::<f64>::new(), &["--dtype", "f64"]);
        assert_eq!(
            (r.perplexities.len(), r.losses.len(), r.vocab_size),
            (100, 1900, 94)
        );
        compare(&r, "custom_loop_f64", 1e-9, Some(1e-6));
    }

    #[test]
    fn f32_gives_the_books_perplexities() {
        let r = run_with(Cpu::<f32>::new(), &[]);
        compare(&r, "custom_loop_f32", 1e-4, None);
    }

    #[test]
    fn other_sizes_and_seed_too() {
        let args = [
            "--dtype",
            "f64",
            "--seed",
            "7",
            "--batch-size",
            "6",
            "--time-size",
            "8",
            "--corpus-size",
            "800",
            "--wordvec",
            "30",
            "--hidden",
            "40",
            "--lr",
            "0.2",
            "--epochs",
            "40",
        ];
        let r = run_with(Cpu::<f64>::new(), &args);
        compare(&r, "custom_loop_f64_seed7", 1e-9, Some(1e-6));
    }

    #[test]
    fn the_made_up_corpus_is_the_references() {
        let want = std::fs::read_to_string(format!(
            "{}/tests/data/rnnlm/made_up.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let (sentences, seed) = common::rnnlm::MADE_UP;
        assert_eq!(nn::train::made_up_corpus(sentences, seed), want);
    }
}
