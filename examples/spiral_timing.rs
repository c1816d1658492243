//! The book's training step on the spiral, timed as the least of many runs: on a shared or
//! virtual machine the mean moves with the host's load, while the quietest run shows what the
//! code costs. Prints µs per iteration (gather, forward, backward, SGD, loss summed on the
//! device), next to which `cargo bench --bench train_step -- spiral_epoch` gives criterion's mean.
//!
//! ```text
//! cargo run --release --example spiral_timing -- --dtype f64 --runs 200 --iters 1000
//! ```
mod common;

use anyhow::{ensure, Result};
use clap::Parser;
use common::{BackendKind, Dtype};
use nn::prelude::*;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Least time per spiral training iteration over many runs")]
struct Cli {
    /// Compute precision.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    dtype: Dtype,
    /// Device.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    backend: BackendKind,
    /// Timed runs; the least is reported.
    #[arg(long, default_value_t = 200)]
    runs: usize,
    /// Training iterations per run (batch 30 of the 300 spiral points, hidden 10, SGD lr 1).
    #[arg(long, default_value_t = 1000)]
    iters: usize,
}

/// The least and the median seconds per iteration over `runs` runs of `iters` iterations.
fn time<B: Backend>(b: B, runs: usize, iters: usize) -> Result<(f64, f64)> {
    let mut rng = NumpyRng::new(1984);
    let data = spiral::load_data_from(&mut rng);
    let mut model = TwoLayerNet::new(&b, 2, 10, 3, &mut rng)?;
    let mut sgd = Sgd::new(1.0)?;
    let dev = data.to_device(&b)?;
    let (rows, batch) = (data.len(), 30);
    let perm: Vec<u32> = rng.permutation(rows).iter().map(|&i| i as u32).collect();
    let perm = b.index_from_host(&perm)?;
    let mut per_iter = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let mut total = b.zeros(Shape::scalar())?;
        for i in 0..iters {
            let s = (i % (rows / batch)) * batch;
            let bx = b.gather_rows(&dev.x, &perm, s, batch)?;
            let bt = b.gather_index(&dev.t, &perm, s, batch)?;
            let loss = model.forward(&bx, Labels::Index(&bt))?;
            model.backward()?;
            sgd.update(&b, model.params_mut())?;
            b.axpy(&mut total, <B::Elem as Float>::of(1.0), &loss)?;
        }
        let loss = b.scalar(&total)? / iters as f64;
        ensure!(loss.is_finite(), "the loss diverged ({loss})");
        per_iter.push(start.elapsed().as_secs_f64() / iters as f64);
    }
    per_iter.sort_by(f64::total_cmp);
    Ok((per_iter[0], per_iter[per_iter.len() / 2]))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    ensure!(
        cli.runs > 0 && cli.iters > 0,
        "--runs and --iters must be at least 1"
    );
    let (best, median) = dispatch!(cli.backend, cli.dtype, |b| time(b, cli.runs, cli.iters)?);
    say!(
        "spiral step, {} {}: least {:.3} µs per iteration, median {:.3} µs ({} runs of {} iterations)",
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
