//! `matmul_f32`: square products on the CPU (`cpu/N`) and, with `--features cuda` and a GPU,
//! on the GPU (`cuda/N`, synchronised before the clock stops). Throughput in FLOPs (2·N³).
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

fn benches(c: &mut Criterion) {
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
