//! The chapter's CuPy demonstration (section 1.5.2) in Rust: the same large matrix product on the
//! CPU and on the GPU, both timed (the GPU synchronised before the clock stops), the results
//! compared, GFLOP/s printed for each, with the time one read-back of the product to a new host
//! vector takes (GPU to host on the GPU; a copy into fresh memory on the CPU).
//!
//! ```text
//! cargo run --release --features cuda --example gpu_matmul -- --n 4096
//! ```
mod common;

use anyhow::{Context, Result};
use clap::Parser;
use nn::prelude::*;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "A large matrix product on CPU and GPU")]
struct Cli {
    /// Matrix size: (n × n) · (n × n), at least 1.
    #[arg(long, default_value_t = 4096, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    n: usize,
    /// Timed repetitions (after one warm-up), at least 1.
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    reps: usize,
}

/// What [`time_matmul`] measured.
struct Timing {
    /// Seconds per product (best of the repetitions).
    product: f64,
    /// Seconds to copy the product to a new host vector (`to_host`, once).
    read_back: f64,
    /// Bytes that copy moved, in the backend's element type.
    read_back_bytes: usize,
    /// The product, on the host.
    result: Vec<f32>,
}

/// Times the product `x · x` (best of `reps`) and reading it back.
fn time_matmul<B: Backend>(b: &B, x: &[f64], n: usize, reps: usize) -> Result<Timing> {
    let a = b.from_f64(x, Shape::new(n, n))?;
    let c = a.clone();
    let mut out = b.matmul(&a, false, &c, false)?;
    b.synchronize()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        out = b.matmul(&a, false, &c, false)?;
        b.synchronize()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let host = b.to_host(&out)?;
    let read_back = t.elapsed().as_secs_f64();
    Ok(Timing {
        product: best,
        read_back,
        read_back_bytes: std::mem::size_of_val(host.as_slice()),
        result: host.iter().map(|v| v.f64() as f32).collect(),
    })
}

/// `read back 64.0 MiB in 5.123 ms, 13.1 GB/s`, for the product's read-back in `t`.
fn read_back_line(t: &Timing) -> String {
    let (bytes, seconds) = (t.read_back_bytes as f64, t.read_back);
    format!(
        "read back {:.1} MiB in {:.3} ms, {:.1} GB/s",
        bytes / 1048576.0,
        seconds * 1e3,
        bytes / seconds / 1e9
    )
}

/// The `n × n` input, uniform in [0, 1) from seed 0, made on the host in f64. A size whose
/// `n × n` does not fit in memory is refused with a message rather than in the allocator.
fn host_input(n: usize) -> Result<Vec<f64>> {
    let elements = n
        .checked_mul(n)
        .filter(|e| {
            e.checked_mul(8)
                .is_some_and(|bytes| bytes <= isize::MAX as usize)
        })
        .with_context(|| format!("--n {n}: a {n} × {n} matrix does not fit in memory"))?;
    let mut x: Vec<f64> = Vec::new();
    x.try_reserve_exact(elements)
        .with_context(|| format!("--n {n}: cannot allocate the {n} × {n} input on the host"))?;
    let mut rng = NumpyRng::new(0);
    x.extend((0..elements).map(|_| rng.random()));
    Ok(x)
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let n = cli.n;
    let x = host_input(n)?;
    let flop = 2.0 * (n as f64).powi(3);
    let cpu = time_matmul(&Cpu::<f32>::new(), &x, n, cli.reps)?;
    let tc = cpu.product;
    say!(
        "cpu : {n}x{n} · {n}x{n} in {:.3} ms, {:.1} GFLOP/s; {}",
        tc * 1e3,
        flop / tc / 1e9,
        read_back_line(&cpu)
    );
    #[cfg(feature = "nn-cuda")]
    {
        let opening = Instant::now();
        let gpu = nn::cuda::Cuda::<f32>::new(0)?;
        say!(
            "cuda: device opened in {:.3} s (context, cuBLAS, kernels compiled or read from the \
             cache)",
            opening.elapsed().as_secs_f64()
        );
        let cuda = time_matmul(&gpu, &x, n, cli.reps)?;
        let tg = cuda.product;
        say!(
            "cuda: {n}x{n} · {n}x{n} in {:.3} ms, {:.1} GFLOP/s ({}); {}",
            tg * 1e3,
            flop / tg / 1e9,
            gpu.device_name(),
            read_back_line(&cuda)
        );
        match gpu.memory_stats() {
            Ok(m) => say!(
                "cuda memory: {:.1} MiB allocated, {:.1} MiB held by the pool",
                m.allocated as f64 / 1048576.0,
                m.reserved as f64 / 1048576.0
            ),
            // Informational: the product above ran; say why there is no figure.
            Err(e) => say!("cuda memory: not reported ({e})"),
        }
        let worst = cpu
            .result
            .iter()
            .zip(&cuda.result)
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
    #[cfg(not(feature = "nn-cuda"))]
    {
        let _ = cpu.result;
        say!("cuda: not in this build; rebuild with `--features cuda` to compare");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_repetitions_below_one_are_refused() {
        for args in [["--n", "0"], ["--reps", "0"], ["--n", "-3"]] {
            let parsed = Cli::try_parse_from(["gpu_matmul", args[0], args[1]]);
            assert!(parsed.is_err(), "{args:?} was accepted");
        }
        let cli = Cli::try_parse_from(["gpu_matmul", "--n", "7", "--reps", "2"]).unwrap();
        assert_eq!((cli.n, cli.reps), (7, 2));
    }

    #[test]
    fn an_input_too_large_for_memory_is_an_error() {
        for n in [1usize << 32, 1 << 31, usize::MAX] {
            let err = host_input(n).unwrap_err().to_string();
            assert!(err.contains("does not fit in memory"), "n = {n}: {err}");
        }
    }

    #[test]
    fn the_input_is_numpy_seed_0() {
        let x = host_input(2).unwrap();
        let mut rng = NumpyRng::new(0);
        let want: Vec<f64> = (0..4).map(|_| rng.random()).collect();
        assert_eq!(x, want);
        // np.random.seed(0); np.random.rand() == 0.5488135039273248
        assert_eq!(x[0], 0.5488135039273248);
    }
}
