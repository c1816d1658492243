//! Training steps, CPU against GPU:
//! - `spiral_epoch/{cpu_f32,cpu_f64,cuda_f32}`: one epoch of the book's spiral run (10 iterations
//!   of batch 30, hidden 10: gather, forward, backward, SGD), loss read back once per epoch;
//! - `mlp_step/{cpu_f32,cuda_f32}`: 784→1024 (sigmoid)→10, softmax cross-entropy, batch 256, SGD,
//!   one step and its loss read back per iteration (on a GPU, a step's latency; the
//!   `spiral_timing --net mlp` example times back-to-back steps, as `gpu_peers.py` does PyTorch's);
//! - `two_layer_step/{cpu,cuda}/H`: 2→H→3 at batch 256, H from 10 to 4096, to show where the GPU
//!   starts to win;
//! - `spiral_epoch/cuda_f32_graph` and `mlp_step/cuda_f32_graph`: the same steps replayed as one
//!   CUDA graph each ([`StepGraph`]; the batch's rows copied into a fixed index before each).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nn::prelude::*;

/// A model, its optimizer and a device-resident data set with a fixed shuffle.
// The graph variant's parts are for the CUDA benches.
#[cfg_attr(not(feature = "nn-cuda"), allow(dead_code))]
struct Setup<B: Backend> {
    b: B,
    net: TwoLayerNet<B>,
    sgd: Sgd,
    x: B::Tensor,
    t: B::Index,
    perm: B::Index,
    rows: usize,
    /// The graph variant's: the shuffle on the host, the batch's rows, the step, the loss sum.
    order: Vec<u32>,
    batch_rows: Option<B::Index>,
    graph: StepGraph<B>,
    total: B::Tensor,
}

impl<B: Backend> Setup<B> {
    fn new(b: B, input: usize, hidden: usize, output: usize, rows: usize) -> Self {
        let mut rng = NumpyRng::new(1984);
        let x: Vec<f64> = rng.randn_vec(rows * input);
        let labels: Vec<u32> = (0..rows).map(|i| (i % output) as u32).collect();
        let net = TwoLayerNet::new(&b, input, hidden, output, &mut rng).unwrap();
        let perm: Vec<u32> = rng.permutation(rows).iter().map(|&i| i as u32).collect();
        Setup {
            x: b.from_f64(&x, Shape::new(rows, input)).unwrap(),
            t: b.index_from_host(&labels).unwrap(),
            perm: b.index_from_host(&perm).unwrap(),
            net,
            sgd: Sgd::new(0.1).unwrap(),
            rows,
            order: perm,
            batch_rows: None,
            graph: StepGraph::new(&b),
            total: b.zeros(Shape::scalar()).unwrap(),
            b,
        }
    }

    /// [`run`](Self::run) with each iteration a replay of one captured step.
    #[cfg_attr(not(feature = "nn-cuda"), allow(dead_code))]
    fn run_graph(&mut self, iters: usize, batch: usize) -> f64 {
        let b = &self.b;
        b.scale(&mut self.total, <B::Elem as Float>::of(0.0))
            .unwrap();
        let rows = self
            .batch_rows
            .get_or_insert_with(|| b.index_from_host(&vec![0; batch]).unwrap());
        for i in 0..iters {
            let s = (i * batch) % (self.rows - batch + 1);
            b.write_index(rows, &self.order[s..s + batch]).unwrap();
            let (net, sgd, total) = (&mut self.net, &mut self.sgd, &mut self.total);
            let (x, t, rows) = (&self.x, &self.t, &*rows);
            self.graph
                .run(|| {
                    let (bx, bt) = b.gather_batch(x, t, rows, 0, batch)?;
                    let loss = net.forward(&bx, Labels::Index(&bt))?;
                    net.backward()?;
                    sgd.update(b, net.params_mut())?;
                    b.axpy(total, <B::Elem as Float>::of(1.0), &loss)
                })
                .unwrap();
        }
        b.scalar(&self.total).unwrap()
    }

    /// `iters` training iterations of `batch` rows; the summed loss stays on the device.
    fn run(&mut self, iters: usize, batch: usize) -> f64 {
        let b = &self.b;
        let mut total = b.zeros(Shape::scalar()).unwrap();
        for i in 0..iters {
            let s = (i * batch) % (self.rows - batch + 1);
            let (bx, bt) = b
                .gather_batch(&self.x, &self.t, &self.perm, s, batch)
                .unwrap();
            let loss = self.net.forward(&bx, Labels::Index(&bt)).unwrap();
            self.net.backward().unwrap();
            self.sgd.update(b, self.net.params_mut()).unwrap();
            b.axpy(&mut total, <B::Elem as Float>::of(1.0), &loss)
                .unwrap();
        }
        b.scalar(&total).unwrap()
    }
}

fn spiral<B: Backend>(c: &mut Criterion, b: B, id: &str) {
    let mut s = Setup::new(b, 2, 10, 3, 300);
    c.benchmark_group("spiral_epoch")
        .bench_function(id, |bench| bench.iter(|| s.run(10, 30)));
}

fn mlp<B: Backend>(c: &mut Criterion, b: B, id: &str) {
    let mut s = Setup::new(b, 784, 1024, 10, 1024);
    let mut g = c.benchmark_group("mlp_step");
    g.sample_size(20);
    g.bench_function(id, |bench| bench.iter(|| s.run(1, 256)));
}

fn two_layer<B: Backend>(c: &mut Criterion, b: B, id: &str) {
    let mut g = c.benchmark_group("two_layer_step");
    g.sample_size(20);
    for h in [10, 64, 256, 1024, 4096] {
        let mut s = Setup::new(b.clone(), 2, h, 3, 1024);
        g.bench_with_input(BenchmarkId::new(id, h), &h, |bench, _| {
            bench.iter(|| s.run(1, 256))
        });
    }
}

/// The spiral epoch and the MLP step as replays of captured graphs, beside the eager ones.
#[cfg(feature = "nn-cuda")]
fn graphs(c: &mut Criterion, b: nn::cuda::Cuda<f32>) {
    let mut s = Setup::new(b.clone(), 2, 10, 3, 300);
    c.benchmark_group("spiral_epoch")
        .bench_function("cuda_f32_graph", |bench| bench.iter(|| s.run_graph(10, 30)));
    let mut s = Setup::new(b, 784, 1024, 10, 1024);
    let mut g = c.benchmark_group("mlp_step");
    g.sample_size(20);
    g.bench_function("cuda_f32_graph", |bench| bench.iter(|| s.run_graph(1, 256)));
}

fn benches(c: &mut Criterion) {
    spiral(c, Cpu::<f32>::new(), "cpu_f32");
    spiral(c, Cpu::<f64>::new(), "cpu_f64");
    mlp(c, Cpu::<f32>::new(), "cpu_f32");
    two_layer(c, Cpu::<f32>::new(), "cpu");
    #[cfg(feature = "nn-cuda")]
    match nn::cuda::Cuda::<f32>::new(0) {
        Ok(g) => {
            spiral(c, g.clone(), "cuda_f32");
            mlp(c, g.clone(), "cuda_f32");
            graphs(c, g.clone());
            two_layer(c, g, "cuda");
        }
        Err(e) => eprintln!("SKIPPED cuda benches: {e}"),
    }
    #[cfg(not(feature = "nn-cuda"))]
    eprintln!("SKIPPED cuda benches: built without --features cuda");
}

criterion_group!(train_step, benches);
criterion_main!(train_step);
