//! The book's language models, one training iteration (gather the batch on the device,
//! forward, backward, clip where the book clips, SGD), CPU against GPU:
//! - `rnnlm_step/{cpu,cuda}/simple`: ch05's `SimpleRnnlm` (batch 10, 5 steps, D = H = 100,
//!   a vocabulary of 418, PTB's in its first 1000 words), lr 0.1;
//! - `rnnlm_step/{cpu,cuda}/lstm`: ch06's `Rnnlm` (batch 20, 35 steps, D = H = 100, a
//!   vocabulary of 10 000), lr 20, clipping at 0.25;
//! - `rnnlm_step/cuda/{simple,lstm}_graph`: the same steps replayed as one CUDA graph each
//!   ([`StepGraph`]: the batch is the same every iteration here, so nothing is copied in);
//! - `rnnlm_epoch/cpu/ch05`: one epoch of ch05's run (19 iterations) through `RnnlmTrainer`,
//!   the losses read back once.
//!
//! The corpora are random ids of those vocabularies: the cost of a step does not depend on
//! which words they are. `benches/rnnlm_peers.py` times the book's NumPy code and PyTorch eager
//! on the same shapes.
use criterion::{criterion_group, criterion_main, Criterion};
use nn::prelude::*;
use nn::train::{RnnlmFitOptions, RnnlmTrainer};

/// One of the book's two configurations.
#[derive(Clone, Copy)]
struct Config {
    name: &'static str,
    lstm: bool,
    batch: usize,
    time: usize,
    vocab: usize,
    lr: f64,
    max_grad: Option<f64>,
}

const CH05: Config = Config {
    name: "simple",
    lstm: false,
    batch: 10,
    time: 5,
    vocab: 418,
    lr: 0.1,
    max_grad: None,
};

const CH06: Config = Config {
    name: "lstm",
    lstm: true,
    batch: 20,
    time: 35,
    vocab: 10_000,
    lr: 20.0,
    max_grad: Some(0.25),
};

/// `n + 1` word ids drawn uniformly from `vocab`.
fn corpus(n: usize, vocab: usize) -> Vec<u32> {
    let mut rng = NumpyRng::new(7);
    (0..=n)
        .map(|_| rng.interval(vocab as u64 - 1) as u32)
        .collect()
}

fn model<B: Backend>(b: &B, c: Config) -> Box<dyn LanguageModel<B>> {
    let mut rng = NumpyRng::new(1984);
    if c.lstm {
        Box::new(Rnnlm::new(b, c.vocab, 100, 100, &mut rng).unwrap())
    } else {
        Box::new(SimpleRnnlm::new(b, c.vocab, 100, 100, &mut rng).unwrap())
    }
}

fn step<B: Backend>(crit: &mut Criterion, b: B, c: Config, device: &str, graph: bool) {
    let ids = corpus(40 * c.batch * c.time, c.vocab);
    let n = ids.len() - 1;
    let (xs, ts) = (
        b.index_from_host(&ids[..n]).unwrap(),
        b.index_from_host(&ids[1..]).unwrap(),
    );
    let per = c.batch * c.time;
    let pos: Vec<u32> = nn::train::get_batch(
        &(0..n as u32).collect::<Vec<_>>(),
        &vec![0; n],
        c.batch,
        c.time,
        0,
    )
    .0;
    let pos = b.index_from_host(&pos).unwrap();
    let mut m = model(&b, c);
    let mut sgd = Sgd::new(c.lr).unwrap();
    let mut g = crit.benchmark_group("rnnlm_step");
    g.sample_size(if c.lstm { 20 } else { 100 });
    let mut replay = graph.then(|| StepGraph::new(&b));
    let suffix = if graph { "_graph" } else { "" };
    g.bench_function(format!("{device}/{}{suffix}", c.name), |bench| {
        bench.iter(|| {
            let mut one = || -> nn::core::Result<()> {
                let bx = b.gather_index(&xs, &pos, 0, per)?;
                let bt = b.gather_index(&ts, &pos, 0, per)?;
                m.forward(&bx, &bt, c.batch)?;
                m.backward()?;
                if let Some(max) = c.max_grad {
                    b.clip_by_norm(m.params_mut().grads_mut(), max)?;
                }
                sgd.update(&b, m.params_mut())
            };
            match &mut replay {
                Some(r) => r.run(one).unwrap(),
                None => one().unwrap(),
            }
            // Waits for the device, as a step's latency includes its work.
            b.synchronize().unwrap();
        })
    });
}

fn epoch(crit: &mut Criterion) {
    let b = Cpu::<f32>::new();
    let ids = corpus(999, CH05.vocab);
    let n = ids.len() - 1;
    let o = RnnlmFitOptions {
        max_epoch: 1,
        batch_size: CH05.batch,
        time_size: CH05.time,
        eval_interval: None,
        output: Output::Silent,
        ..Default::default()
    };
    let mut t = RnnlmTrainer::new(model(&b, CH05), Sgd::new(CH05.lr).unwrap());
    crit.benchmark_group("rnnlm_epoch")
        .bench_function("cpu/ch05", |bench| {
            bench.iter(|| t.fit(&ids[..n], &ids[1..], &o).unwrap())
        });
}

fn benches(c: &mut Criterion) {
    for cfg in [CH05, CH06] {
        step(c, Cpu::<f32>::new(), cfg, "cpu", false);
    }
    epoch(c);
    #[cfg(feature = "nn-cuda")]
    match nn::cuda::Cuda::<f32>::new(0) {
        Ok(g) => {
            for cfg in [CH05, CH06] {
                step(c, g.clone(), cfg, "cuda", false);
                step(c, g.clone(), cfg, "cuda", true);
            }
        }
        Err(e) => eprintln!("SKIPPED cuda benches: {e}"),
    }
    #[cfg(not(feature = "nn-cuda"))]
    eprintln!("SKIPPED cuda benches: built without --features cuda");
}

criterion_group!(rnnlm, benches);
criterion_main!(rnnlm);
