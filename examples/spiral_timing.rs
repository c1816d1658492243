//! A training step timed as the least of many runs: on a shared or virtual machine the mean
//! moves with the host's load, while the quietest run shows what the code costs. Prints µs per
//! iteration (batch gather, forward, backward, SGD, loss summed on the device, as in
//! `Trainer::fit`); each run's steps are queued back to back and the loss is read once at its
//! end, which on a GPU waits for them all.
//!
//! - `--net spiral` (default): the book's step, batch 30 of the 300 spiral points, 2→10→3,
//!   SGD lr 1. `cargo bench --bench train_step -- spiral_epoch` gives criterion's mean.
//! - `--net mlp`: 784→1024 (sigmoid)→10 at batch 256 over 1 024 random rows, SGD lr 0.1: the
//!   step `benches/gpu_peers.py` times in PyTorch eager, timed the same way (the least of
//!   rounds of back-to-back steps, one wait per round).
//!
//! `--graph` replays the step as one CUDA graph ([`StepGraph`]: one eager step, two captures,
//! then replays; the batch's rows are copied into a fixed index before each), beside the eager
//! launches of the default.
//!
//! ```text
//! cargo run --release --example spiral_timing -- --dtype f64 --runs 200 --iters 1000
//! cargo run --release --features cuda --example spiral_timing -- --backend cuda --net mlp --runs 7 --iters 200
//! cargo run --release --features cuda --example spiral_timing -- --backend cuda --graph
//! ```
mod common;

use anyhow::{ensure, Result};
use clap::{Parser, ValueEnum};
use common::{BackendKind, Dtype};
use nn::prelude::*;
use std::time::Instant;

/// The network and data a step trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Net {
    /// The book's spiral: 2→10→3, batch 30, SGD lr 1.
    Spiral,
    /// 784→1024→10, batch 256 over 1 024 random rows, SGD lr 0.1.
    Mlp,
}

#[derive(Parser, Debug)]
#[command(about = "Least time per training iteration over many runs")]
struct Cli {
    /// Compute precision.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// Device.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    backend: BackendKind,
    /// The step to time.
    #[arg(long, value_enum, default_value_t = Net::Spiral)]
    net: Net,
    /// Timed runs; the least is reported.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Training iterations per run.
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Replay the step as one CUDA graph (the CPU runs it eagerly all the same).
    #[arg(long)]
    graph: bool,
}

/// A data set on the host, the layer sizes, the batch and the learning rate of a `Net`.
struct Task {
    x: Vec<f64>,
    labels: Vec<u32>,
    sizes: (usize, usize, usize),
    batch: usize,
    lr: f64,
}

impl Task {
    fn new(net: Net, rng: &mut NumpyRng) -> Task {
        match net {
            Net::Spiral => {
                let data = spiral::load_data_from(rng);
                Task {
                    x: data.x().to_vec(),
                    labels: data.labels().to_vec(),
                    sizes: (2, 10, 3),
                    batch: 30,
                    lr: 1.0,
                }
            }
            Net::Mlp => {
                let rows = 1024;
                Task {
                    x: rng.randn_vec(rows * 784),
                    labels: (0..rows as u32).map(|i| i % 10).collect(),
                    sizes: (784, 1024, 10),
                    batch: 256,
                    lr: 0.1,
                }
            }
        }
    }
}

/// The least and the median seconds per iteration over `runs` runs of `iters` iterations, and
/// how the steps ran.
fn time<B: Backend>(
    b: B,
    net: Net,
    runs: usize,
    iters: usize,
    graph: bool,
) -> Result<(f64, f64, GraphStatus)> {
    let mut rng = NumpyRng::new(1984);
    let task = Task::new(net, &mut rng);
    let (input, hidden, output) = task.sizes;
    let mut model = TwoLayerNet::new(&b, input, hidden, output, &mut rng)?;
    let mut sgd = Sgd::new(task.lr)?;
    let (rows, batch) = (task.labels.len(), task.batch);
    let x = b.from_f64(&task.x, Shape::new(rows, input))?;
    let t = b.index_from_host(&task.labels)?;
    let order: Vec<u32> = rng.permutation(rows).iter().map(|&i| i as u32).collect();
    let perm = b.index_from_host(&order)?;
    // A graph reads its batch from a fixed index, written before each step.
    let mut rows_of_batch = b.index_from_host(&order[..batch])?;
    let mut graph = graph.then(|| StepGraph::new(&b));
    let mut total = b.zeros(Shape::scalar())?;
    let mut step = |idx: &B::Index, s: usize, total: &mut B::Tensor| -> nn::core::Result<()> {
        let (bx, bt) = b.gather_batch(&x, &t, idx, s, batch)?;
        let loss = model.forward(&bx, Labels::Index(&bt))?;
        model.backward()?;
        sgd.update(&b, model.params_mut())?;
        b.axpy(total, <B::Elem as Float>::of(1.0), &loss)
    };
    let mut per_iter = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        b.scale(&mut total, <B::Elem as Float>::of(0.0))?;
        for i in 0..iters {
            let s = (i % (rows / batch)) * batch;
            match &mut graph {
                Some(g) => {
                    b.write_index(&mut rows_of_batch, &order[s..s + batch])?;
                    g.run(|| step(&rows_of_batch, 0, &mut total))?;
                }
                None => step(&perm, s, &mut total)?,
            }
        }
        let loss = b.scalar(&total)? / iters as f64;
        ensure!(loss.is_finite(), "the loss diverged ({loss})");
        per_iter.push(start.elapsed().as_secs_f64() / iters as f64);
    }
    per_iter.sort_by(f64::total_cmp);
    let status = graph.map(|g| g.status()).unwrap_or_default();
    Ok((per_iter[0], per_iter[per_iter.len() / 2], status))
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    ensure!(
        cli.runs > 0 && cli.iters > 0,
        "--runs and --iters must be at least 1"
    );
    let (best, median, status) = dispatch!(cli.backend, cli.dtype, |b| time(
        b, cli.net, cli.runs, cli.iters, cli.graph
    )?);
    if let GraphStatus::FellBack(why) = &status {
        say!("graph: ran eagerly: {why}");
    }
    say!(
        "{} step{}, {} {}: least {:.3} µs per iteration, median {:.3} µs ({} runs of {} iterations)",
        match cli.net {
            Net::Spiral => "spiral",
            Net::Mlp => "mlp (784-1024-10, batch 256)",
        },
        match status {
            GraphStatus::Replaying => " as a CUDA graph",
            _ => "",
        },
        match cli.backend {
            BackendKind::Cpu => "cpu",
            BackendKind::Cuda => "cuda",
        },
        cli.dtype.name(),
        best * 1e6,
        median * 1e6,
        cli.runs,
        cli.iters
    );
    Ok(())
}
