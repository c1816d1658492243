//! The chapter's CuPy demonstration (section 1.5.2) in Rust: the same large matrix product on the
//! CPU and on the GPU, both timed (the GPU synchronised before the clock stops), the results
//! compared, GFLOP/s printed for each.
//!
//! ```text
//! cargo run --release --features cuda --example gpu_matmul -- --n 4096
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use nn::prelude::*;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "A large matrix product on CPU and GPU")]
struct Cli {
    /// Matrix size: (n × n) · (n × n).
    #[arg(long, default_value_t = 4096)]
    n: usize,
    /// Timed repetitions (after one warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

/// Seconds per product `x · x` (best of `reps`), and the product.
fn time_matmul<B: Backend>(b: &B, x: &[f64], n: usize, reps: usize) -> Result<(f64, Vec<f32>)> {
    let a = b.from_f64(x, Shape::new(n, n))?;
    let c = a.clone();
    let mut out = b.matmul(&a, false, &c, false)?;
    b.synchronize()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        out = b.matmul(&a, false, &c, false)?;
        b.synchronize()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let host = b.to_host(&out)?.iter().map(|v| v.f64() as f32).collect();
    Ok((best, host))
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.n == 0 {
        anyhow::bail!("--n must be at least 1");
    }
    let n = cli.n;
    let mut rng = NumpyRng::new(0);
    let x: Vec<f64> = (0..n * n).map(|_| rng.random()).collect();
    let flop = 2.0 * (n as f64).powi(3);
    let (tc, rc) = time_matmul(&Cpu::<f32>::new(), &x, n, cli.reps)?;
    say!(
        "cpu : {n}x{n} · {n}x{n} in {:.3} ms, {:.1} GFLOP/s",
        tc * 1e3,
        flop / tc / 1e9
    );
    #[cfg(feature = "cuda")]
    {
        let gpu = nn::cuda::Cuda::<f32>::new(0)?;
        let (tg, rg) = time_matmul(&gpu, &x, n, cli.reps)?;
        say!(
            "cuda: {n}x{n} · {n}x{n} in {:.3} ms, {:.1} GFLOP/s ({})",
            tg * 1e3,
            flop / tg / 1e9,
            gpu.device_name()
        );
        let worst = rc
            .iter()
            .zip(&rg)
            .map(|(a, b)| ((a - b) / a.abs().max(1.0)).abs())
            .fold(0f32, f32::max);
        say!(
            "largest relative difference cpu vs cuda: {worst:.2e}; speed-up {:.1}x",
            tc / tg
        );
        if worst > 1e-3 {
            anyhow::bail!("the CPU and GPU products differ by {worst:e}");
        }
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = rc;
        say!("cuda: not in this build; rebuild with `--features cuda` to compare");
    }
    Ok(())
}
