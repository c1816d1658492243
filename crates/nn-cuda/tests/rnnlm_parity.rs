//! The book's language models trained on the CPU and on the GPU by the same `RnnlmTrainer`
//! code: every iteration's loss, every perplexity and the test perplexity agree to 1e-4
//! relative in f32 and 1e-9 in f64 (the GPU's scatter-add adds in the CPU's order; its
//! softmax and loss sums add in another, a difference of rounding). Also the launches of one
//! LSTM iteration, counted. Skipped, with a notice, without a GPU; `cargo xtask cuda-emu` runs
//! it on nn-cuda-emu.

use nn_core::{Backend, NumpyRng};
use nn_cpu::{Cpu, CpuFloat};
use nn_cuda::{Cuda, CudaFloat};
use nn_layers::{LanguageModel, Rnnlm, SimpleRnnlm};
use nn_optim::by_name;
use nn_train::{eval_perplexity, made_up_corpus, Corpus, Output, RnnlmFitOptions, RnnlmTrainer};

/// `(losses, perplexities, test perplexity)` of a short run.
fn train<B: Backend>(b: B, lstm: bool, optimizer: &str, lr: f64) -> (Vec<f64>, Vec<f64>, f64) {
    let c = Corpus::from_text(&made_up_corpus(60, 0)).unwrap();
    let ids = c.ids();
    let mut rng = NumpyRng::new(1984);
    let v = c.vocab_size();
    let model: Box<dyn LanguageModel<B>> = if lstm {
        Box::new(Rnnlm::new(&b, v, 12, 16, &mut rng).unwrap())
    } else {
        Box::new(SimpleRnnlm::new(&b, v, 12, 16, &mut rng).unwrap())
    };
    let mut t = RnnlmTrainer::new(model, by_name::<B>(optimizer, lr).unwrap());
    let o = RnnlmFitOptions {
        max_epoch: 4,
        batch_size: 5,
        time_size: 7,
        max_grad: Some(1.0),
        eval_interval: Some(3),
        output: Output::Silent,
        ..Default::default()
    };
    t.fit(&ids[..ids.len() - 1], &ids[1..], &o).unwrap();
    let m = t.model_mut();
    m.reset_state();
    let ppl = eval_perplexity(m.as_mut(), ids, 4, 6).unwrap();
    (t.losses().to_vec(), t.ppl_list().to_vec(), ppl)
}

fn worst(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) / x).abs())
        .fold(0.0, f64::max)
}

fn compare<E: CudaFloat + CpuFloat>(rel: f64) {
    let Some(g) = nn_cuda::test_backend::<E>("rnnlm_parity") else {
        return;
    };
    for (lstm, opt, lr) in [
        (false, "sgd", 0.5),
        (true, "sgd", 2.0),
        (true, "adam", 0.01),
    ] {
        let (lc, pc, ec) = train(Cpu::<E>::new(), lstm, opt, lr);
        let (lg, pg, eg) = train(g.clone(), lstm, opt, lr);
        let w = worst(&lc, &lg)
            .max(worst(&pc, &pg))
            .max(worst(&[ec], &[eg]));
        let what = format!(
            "{} {opt} {}",
            if lstm { "Rnnlm" } else { "SimpleRnnlm" },
            E::DTYPE
        );
        assert!(
            w <= rel,
            "{what}: worst relative difference {w:e} > {rel:e}"
        );
        println!(
            "parity {what}: {} losses, {} perplexities and the test perplexity, worst rel. \
             diff {w:.2e}",
            lc.len(),
            pc.len()
        );
    }
}

#[test]
fn rnnlm_f32_cpu_and_gpu_agree() {
    compare::<f32>(1e-4);
}

#[test]
fn rnnlm_f64_cpu_and_gpu_agree() {
    compare::<f64>(1e-9);
}

/// Launches (kernels, cuBLAS calls, device copies) of one `RnnlmTrainer` iteration of the
/// ch06 LSTM's shape (batch 20, 35 steps; small widths, which do not change the count), with
/// clipping and SGD, and reads back to the host: printed for the record and bounded so that a
/// change that adds any is noticed. Per step of the LSTM 2 forward (`h·Wh`, the fused step)
/// and 2 backward (the fused step, `dA·Whᵀ`).
#[test]
fn lstm_iteration_launch_count() {
    let Some(g) = nn_cuda::test_backend::<f32>("rnnlm_parity") else {
        return;
    };
    let (v, n, t) = (30, 20, 35);
    let ids: Vec<u32> = (0..(4 * n * t + 1) as u32).map(|i| (i * 7) % v).collect();
    let model = Rnnlm::new(&g, v as usize, 8, 8, &mut NumpyRng::new(1)).unwrap();
    let mut tr = RnnlmTrainer::new(model, by_name::<Cuda<f32>>("sgd", 1.0).unwrap());
    let o = RnnlmFitOptions {
        max_epoch: 1,
        batch_size: n,
        time_size: t,
        max_grad: Some(0.25),
        eval_interval: None,
        output: Output::Silent,
        ..Default::default()
    };
    let (l0, r0) = (g.launch_count(), g.host_reads());
    tr.fit(&ids[..ids.len() - 1], &ids[1..], &o).unwrap();
    let iters = tr.losses().len() as u64;
    assert_eq!(iters, 4);
    let per_iter = (g.launch_count() - l0) as f64 / iters as f64;
    let reads = (g.host_reads() - r0) as f64 / iters as f64;
    println!(
        "{per_iter:.2} launches and {reads:.2} reads to the host per LSTM iteration \
         (batch {n}, {t} steps)"
    );
    // 4 per step, and about 30 around the loop.
    assert!(
        per_iter <= (4 * t + 32) as f64,
        "{per_iter} launches per iteration"
    );
    // One read of the epoch's losses.
    assert!(reads <= 0.25 + 1e-9, "{reads} reads per iteration");
}
