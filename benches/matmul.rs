//! `matmul_f32`: square products on the CPU (`cpu/N`) and, with `--features cuda` and a GPU,
//! on the GPU (`cuda/N`, synchronised before the clock stops). Throughput in FLOPs (2·N³).
//!
//! `matmul_book/cpu_f32/SHAPE`: the five products of one spiral iteration (batch 30, hidden 10),
//! named `m×k·k×n` with `T` marking a transposed operand. They are tiny, so what they measure is
//! call overhead and how well the small-product loops vectorise.
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

fn benches(c: &mut Criterion) {
    book_products(c);
    bench_backend(c, &Cpu::<f32>::new(), "cpu", &[64, 256, 1024, 2048]);
    #[cfg(feature = "cuda")]
    match nn::cuda::Cuda::<f32>::new(0) {
        Ok(g) => bench_backend(c, &g, "cuda", &[64, 256, 1024, 2048, 4096]),
        Err(e) => eprintln!("SKIPPED matmul_f32/cuda/*: {e}"),
    }
    #[cfg(not(feature = "cuda"))]
    eprintln!("SKIPPED matmul_f32/cuda/*: built without --features cuda");
}

criterion_group!(matmul, benches);
criterion_main!(matmul);
