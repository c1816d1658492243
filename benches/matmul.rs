//! `matmul_f32`: square products on the CPU (`cpu/N`) and, with `--features cuda` and a GPU,
//! on the GPU (`cuda/N`, synchronised before the clock stops). Throughput in FLOPs (2·N³).
//!
//! `matmul_book/cpu_f32/SHAPE`: the five products of one spiral iteration (batch 30, hidden 10),
//! named `m×k·k×n` with `T` marking a transposed operand. They are tiny, so what they measure is
//! call overhead and how well the small-product loops vectorise.
//!
//! `machine_peak/fma_f32/T`: the CPU's ceiling, independent FMAs on `T` threads (AVX-512, or
//! AVX2 where there is none), in FLOPs. No product can beat it; the report shows sgemm as a
//! fraction of it.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nn::prelude::*;

fn square<B: Backend>(b: &B, n: usize) -> B::Tensor {
    let mut rng = NumpyRng::new(0);
    let v: Vec<f64> = (0..n * n).map(|_| rng.random()).collect();
    b.from_f64(&v, Shape::new(n, n)).unwrap()
}

fn bench_backend<B: Backend>(c: &mut Criterion, b: &B, id: &str, sizes: &[usize]) {
    let mut g = c.benchmark_group("matmul_f32");
    for &n in sizes {
        let x = square(b, n);
        g.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        if n >= 1024 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::new(id, n), &n, |bench, _| {
            bench.iter(|| {
                let y = b.matmul(&x, false, &x, false).unwrap();
                b.synchronize().unwrap();
                y
            })
        });
    }
    g.finish();
}

/// The products of the book's training step, with their transpose flags.
fn book_products(c: &mut Criterion) {
    let b = Cpu::<f32>::new();
    let mut rng = NumpyRng::new(0);
    let mut t = |r: usize, c: usize| {
        let v: Vec<f64> = rng.randn_vec(r * c);
        b.from_f64(&v, Shape::new(r, c)).unwrap()
    };
    let (x, w1, h, w2, d2, d1) = (t(30, 2), t(2, 10), t(30, 10), t(10, 3), t(30, 3), t(30, 10));
    let cases = [
        ("30x2.2x10", &x, false, &w1, false),
        ("30x10.10x3", &h, false, &w2, false),
        ("10x30T.30x3", &h, true, &d2, false),
        ("30x3.3x10T", &d2, false, &w2, true),
        ("2x30T.30x10", &x, true, &d1, false),
    ];
    let mut g = c.benchmark_group("matmul_book");
    for (id, a, ta, bb, tb) in cases {
        g.bench_function(BenchmarkId::new("cpu_f32", id), |bench| {
            bench.iter(|| b.matmul(a, ta, bb, tb).unwrap())
        });
    }
    g.finish();
}

/// `iters` rounds of 12 independent vector FMAs; returns a sum so nothing is optimised away.
#[cfg(target_arch = "x86_64")]
mod peak {
    use std::arch::x86_64::*;

    /// f32 lanes per FMA on this CPU, or `None` without AVX2+FMA.
    pub fn lanes() -> Option<u64> {
        if is_x86_feature_detected!("avx512f") {
            Some(16)
        } else if is_x86_feature_detected!("fma") && is_x86_feature_detected!("avx") {
            Some(8)
        } else {
            None
        }
    }

    #[target_feature(enable = "avx512f")]
    fn fma512(iters: u64) -> f32 {
        let mut acc = [_mm512_set1_ps(1.0); 12];
        let (m, a) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm512_fmadd_ps(*r, m, a);
            }
        }
        acc.iter().map(|&r| _mm512_reduce_add_ps(r)).sum()
    }

    #[target_feature(enable = "avx,fma")]
    fn fma256(iters: u64) -> f32 {
        let mut acc = [_mm256_set1_ps(1.0); 12];
        let (m, a) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..iters {
            for r in acc.iter_mut() {
                *r = _mm256_fmadd_ps(*r, m, a);
            }
        }
        let mut out = [0f32; 8];
        for r in acc {
            let mut lanes = [0f32; 8];
            // SAFETY: `lanes` has room for the 8 floats stored.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), r) };
            out.iter_mut().zip(lanes).for_each(|(o, l)| *o += l);
        }
        out.iter().sum()
    }

    /// Runs the FMA loop on `threads` threads at once.
    pub fn run(threads: usize, iters: u64) -> f32 {
        std::thread::scope(|s| {
            let hs: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(move || {
                        if is_x86_feature_detected!("avx512f") {
                            // SAFETY: AVX-512F was detected at run time.
                            unsafe { fma512(iters) }
                        } else {
                            // SAFETY: `lanes()` returned Some, so AVX and FMA are present.
                            unsafe { fma256(iters) }
                        }
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        })
    }
}

/// The machine's FMA ceiling on 1 thread and on all of them.
fn machine_peak(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    {
        let Some(lanes) = peak::lanes() else {
            return eprintln!("SKIPPED machine_peak: no AVX2+FMA on this CPU");
        };
        let iters = 2_000_000u64;
        let all = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut g = c.benchmark_group("machine_peak");
        g.sample_size(10);
        for threads in [1, all] {
            g.throughput(Throughput::Elements(
                threads as u64 * iters * 12 * lanes * 2,
            ));
            g.bench_with_input(BenchmarkId::new("fma_f32", threads), &threads, |b, &t| {
                b.iter(|| peak::run(t, iters))
            });
            if all == 1 {
                break;
            }
        }
        g.finish();
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = c;
        eprintln!("SKIPPED machine_peak: x86-64 only");
    }
}

fn benches(c: &mut Criterion) {
    machine_peak(c);
    book_products(c);
    bench_backend(c, &Cpu::<f32>::new(), "cpu", &[64, 256, 1024, 2048]);
    #[cfg(feature = "nn-cuda")]
    match nn::cuda::Cuda::<f32>::new(0) {
        Ok(g) => bench_backend(c, &g, "cuda", &[64, 256, 1024, 2048, 4096]),
        Err(e) => eprintln!("SKIPPED matmul_f32/cuda/*: {e}"),
    }
    #[cfg(not(feature = "nn-cuda"))]
    eprintln!("SKIPPED matmul_f32/cuda/*: built without --features cuda");
}

criterion_group!(matmul, benches);
criterion_main!(matmul);
