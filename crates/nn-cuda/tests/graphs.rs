//! CUDA graphs: training steps captured and replayed give the eager steps' results bit for
//! bit; what a capture cannot hold is a clear error; a step that is not the same every time
//! falls back to running eagerly, with the right results. Skipped, with a notice, without a
//! device; `cargo xtask cuda-emu` runs them on nn-cuda-emu, whose capture and replay record and
//! run the launches in order (the host side; no GPU timing).

mod common;

use nn_core::{Backend, Float, GraphStatus, NumpyRng, Shape, StepGraph};
use nn_cuda::{Cuda, CudaFloat};
use nn_layers::{LanguageModel, Model, Module, Rnnlm, Sequential, SimpleRnnlm, TwoLayerNet};
use nn_optim::{by_name, NAMES};
use nn_train::{
    made_up_corpus, spiral, Corpus, Dataset, FitOptions, FitReport, Output, RnnlmFitOptions,
    RnnlmFitReport, RnnlmTrainer, Trainer,
};

fn gpu<E: CudaFloat>() -> Option<Cuda<E>> {
    nn_cuda::test_backend("graphs")
}

/// Every parameter of a model, as host values.
fn weights<B: Backend, M: Module<B> + ?Sized>(m: &M) -> Vec<Vec<B::Elem>> {
    let b = m.backend();
    let p = m.params();
    p.ids().map(|id| b.to_host(p.value(id)).unwrap()).collect()
}

/// `model` trained on `data` with `optimizer`, eagerly or as graphs: its losses, its weights
/// and the report.
fn fit<B: Backend, M: Model<B>>(
    model: M,
    data: &Dataset,
    optimizer: &str,
    lr: f64,
    max_grad: Option<f64>,
    graph: bool,
) -> (Vec<f64>, Vec<Vec<B::Elem>>, FitReport) {
    let mut rng = NumpyRng::new(7);
    let mut t = Trainer::new(model, by_name::<B>(optimizer, lr).unwrap());
    let o = FitOptions {
        max_epoch: 6,
        batch_size: 30,
        max_grad,
        eval_interval: Some(4),
        output: Output::Silent,
        graph,
    };
    let report = t.fit(data, &o, &mut rng).unwrap();
    (t.loss_list().to_vec(), weights(t.model()), report)
}

fn spiral_net<E: CudaFloat>(b: &Cuda<E>) -> (TwoLayerNet<Cuda<E>>, Dataset) {
    let mut rng = NumpyRng::new(1984);
    let data = spiral::load_data_from(&mut rng);
    (TwoLayerNet::new(b, 2, 10, 3, &mut rng).unwrap(), data)
}

/// Every optimizer, with and without clipping: the same losses and weights, exactly, and all
/// but the first three steps (one eager, two captures) replayed.
fn spiral_every_optimizer<E: CudaFloat>() {
    let Some(b) = gpu::<E>() else { return };
    for name in NAMES {
        let lr = if name == "sgd" { 1.0 } else { 0.05 };
        for clip in [None, Some(0.5)] {
            let (net, data) = spiral_net(&b);
            let (eager_loss, eager_w, eager) = fit(net, &data, name, lr, clip, false);
            let (net, _) = spiral_net(&b);
            let (graph_loss, graph_w, graph) = fit(net, &data, name, lr, clip, true);
            assert_eq!(eager.graph, GraphStatus::Eager);
            assert_eq!(graph.graph, GraphStatus::Replaying, "{name} {clip:?}");
            assert_eq!(graph.graph_replays, 60 - 3, "{name} {clip:?}");
            assert_eq!(
                eager_loss,
                graph_loss,
                "{name} {clip:?} {}: losses",
                E::DTYPE
            );
            assert!(eager_w == graph_w, "{name} {clip:?} {}: weights", E::DTYPE);
        }
    }
}

#[test]
fn spiral_graphs_are_the_eager_steps_for_every_optimizer_f32() {
    spiral_every_optimizer::<f32>();
}

#[test]
fn spiral_graphs_are_the_eager_steps_for_every_optimizer_f64() {
    spiral_every_optimizer::<f64>();
}

/// An MLP whose products are large enough for cuBLAS (the spiral's run in one small kernel):
/// graphs of cuBLAS calls give the eager results too.
#[test]
fn mlp_graphs_with_cublas_products_are_the_eager_steps() {
    let Some(b) = gpu::<f32>() else { return };
    let mut rng = NumpyRng::new(3);
    let (rows, cols) = (120, 64);
    let x: Vec<f64> = rng.randn_vec(rows * cols);
    let t: Vec<u32> = (0..rows).map(|i| (i % 10) as u32).collect();
    let data = Dataset::new(x, cols, t, 10).unwrap();
    let net = |b: &Cuda<f32>| {
        let mut rng = NumpyRng::new(5);
        Sequential::new(b, cols)
            .unwrap()
            .affine(128, &mut rng)
            .unwrap()
            .relu()
            .affine(10, &mut rng)
            .unwrap()
            .softmax_with_loss()
    };
    for (opt, clip) in [("sgd", None), ("adam", Some(1.0)), ("momentum", Some(0.1))] {
        let (el, ew, _) = fit(net(&b), &data, opt, 0.1, clip, false);
        let (gl, gw, g) = fit(net(&b), &data, opt, 0.1, clip, true);
        assert_eq!(g.graph, GraphStatus::Replaying, "{opt}");
        assert_eq!(el, gl, "{opt}: losses");
        assert!(ew == gw, "{opt}: weights");
    }
}

/// A replayed spiral step is one launch (and the loss's reset at each record one more).
#[test]
fn a_replayed_step_is_one_launch() {
    let Some(b) = gpu::<f32>() else { return };
    let (net, data) = spiral_net(&b);
    let before = b.launch_count();
    let (_, _, report) = fit(net, &data, "sgd", 1.0, Some(5.0), true);
    let per_step = (b.launch_count() - before) as f64 / report.iterations as f64;
    println!(
        "{per_step:.2} launches per graph step over {} steps",
        report.iterations
    );
    // 3 steps of 18 (the two captured ones count their ops as they are recorded), 59 replays
    // (the captures' own included), 15 resets of the loss sum, and the last accuracy's: about
    // 131 / 60, where the eager steps are 18 each.
    assert!(per_step < 2.5, "{per_step} launches per step");
}

#[test]
fn capture_then_replay_runs_the_work_each_time() {
    let Some(b) = gpu::<f32>() else { return };
    let x = b.from_host(&[1.0, 2.0], Shape::row(2)).unwrap();
    let mut y = b.zeros(Shape::row(2)).unwrap();
    // Memory from before the capture, dropped during it: freed after the first replay (a
    // free during the capture is refused by the driver, and by nn-cuda-emu).
    let old = b.zeros(Shape::new(64, 64)).unwrap();
    let graph = b
        .capture(|| {
            drop(old);
            b.axpy(&mut y, 0.5, &x)
        })
        .unwrap();
    assert_eq!(graph.len(), 1);
    // Captured, not run.
    assert_eq!(b.to_host(&y).unwrap(), [0.0, 0.0]);
    for _ in 0..4 {
        graph.replay().unwrap();
    }
    assert_eq!(b.to_host(&y).unwrap(), [2.0, 4.0]);
}

/// Host reads, host copies, synchronisation and nested captures are errors that say so, and
/// the device works on (eagerly and with a new capture) after each.
#[test]
fn what_a_graph_cannot_hold_is_a_clear_error() {
    let Some(b) = gpu::<f32>() else { return };
    let x = b.from_host(&[3.0], Shape::scalar()).unwrap();
    let index = std::cell::RefCell::new(b.index_from_host(&[0]).unwrap());
    type Step<'a> = Box<dyn Fn(&Cuda<f32>) -> nn_core::Result<()> + 'a>;
    let cases: Vec<(&str, Step)> = vec![
        ("reading", Box::new(|b| b.scalar(&x).map(drop))),
        (
            "copying host data",
            Box::new(|b| b.from_host(&[1.0], Shape::scalar()).map(drop)),
        ),
        ("synchronizing", Box::new(|b| b.synchronize())),
        (
            "copying host data",
            Box::new(|b| b.write_index(&mut index.borrow_mut(), &[0])),
        ),
    ];
    for (what, step) in &cases {
        let err = b
            .capture(|| {
                let _y = b.mul(&x, &x)?;
                step(&b)
            })
            .expect_err(what)
            .to_string();
        assert!(err.contains(what), "{what}: {err}");
        assert!(
            err.contains("while a CUDA graph is being captured"),
            "{err}"
        );
        // Eager work and captures work on.
        assert_eq!(b.to_host(&b.mul(&x, &x).unwrap()).unwrap(), [9.0]);
        let mut y = b.zeros(Shape::scalar()).unwrap();
        b.capture(|| b.axpy(&mut y, 1.0, &x))
            .unwrap()
            .replay()
            .unwrap();
        assert_eq!(b.to_host(&y).unwrap(), [3.0]);
    }
    let err = b
        .capture(|| b.capture(|| Ok(())).map(drop))
        .unwrap_err()
        .to_string();
    assert!(err.contains("inside another"), "{err}");
}

/// A step whose scalar changes from call to call (frozen by a capture) falls back to eager,
/// saying why, and every call computes the step all the same.
#[test]
fn a_step_with_a_changing_scalar_falls_back_and_stays_right() {
    let Some(b) = gpu::<f64>() else { return };
    let x = b.from_host(&[1.0], Shape::scalar()).unwrap();
    let mut y = b.zeros(Shape::scalar()).unwrap();
    let mut step = StepGraph::new(&b);
    for k in 1..=10 {
        step.run(|| b.axpy(&mut y, f64::of(k as f64), &x)).unwrap();
    }
    assert_eq!(b.to_host(&y).unwrap(), [55.0]);
    match step.status() {
        GraphStatus::FellBack(why) => assert!(why.contains("arguments changed"), "{why}"),
        other => panic!("{other:?}"),
    }
}

/// State replaced by a new tensor each step (not updated in place) moves to new memory under
/// capture: found by the second capture, and the steps stay right.
#[test]
fn state_that_moves_falls_back_and_stays_right() {
    let Some(b) = gpu::<f64>() else { return };
    let two = b.from_host(&[2.0], Shape::scalar()).unwrap();
    let mut s = b.from_host(&[1.0], Shape::scalar()).unwrap();
    let mut step = StepGraph::new(&b);
    for _ in 0..8 {
        step.run(|| {
            s = b.mul(&s, &two)?;
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(b.to_host(&s).unwrap(), [256.0]);
    assert!(
        matches!(step.status(), GraphStatus::FellBack(_)),
        "{:?}",
        step.status()
    );
}

/// A graph's memory goes back when the graph and its tensors are gone. Counted in a process
/// of its own, where no other test's tensors come and go.
#[test]
fn a_graphs_memory_is_freed_with_it() {
    if std::env::var_os("NN_GRAPH_TEST_ALONE").is_none() {
        if gpu::<f32>().is_some() {
            common::rerun_alone(
                "a_graphs_memory_is_freed_with_it",
                &[("NN_GRAPH_TEST_ALONE", "1")],
                None,
            );
        }
        return;
    }
    let b = gpu::<f32>().expect("checked by the parent");
    let x = b.zeros(Shape::new(512, 512)).unwrap();
    b.synchronize().unwrap();
    let before = b.memory_stats().unwrap().allocated;
    let mut out = None;
    let g = b
        .capture(|| {
            out = Some(b.mul(&x, &x)?);
            Ok(())
        })
        .unwrap();
    g.replay().unwrap();
    assert!(b.memory_stats().unwrap().allocated >= before + (1 << 20));
    drop(g);
    drop(out);
    b.synchronize().unwrap();
    assert_eq!(b.memory_stats().unwrap().allocated, before);
}

static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Another thread's work waits for a capture to end instead of landing in the graph.
#[test]
fn other_threads_wait_for_a_capture() {
    let Some(b) = gpu::<f32>() else { return };
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let x = b.from_host(&[2.0], Shape::scalar()).unwrap();
    let mut y = b.zeros(Shape::scalar()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let other = {
        let (b, x) = (b.clone(), x.clone());
        std::thread::spawn(move || {
            rx.recv().unwrap();
            let z = b.mul(&x, &x).unwrap();
            (b.to_host(&z).unwrap(), std::time::Instant::now())
        })
    };
    // When the step ends: the capture (and its lock) ends only after it.
    let step_end = std::cell::Cell::new(None);
    let g = b
        .capture(|| {
            b.axpy(&mut y, 1.0, &x)?;
            tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
            let done = b.axpy(&mut y, 1.0, &x);
            step_end.set(Some(std::time::Instant::now()));
            done
        })
        .unwrap();
    let (z, at) = other.join().unwrap();
    assert_eq!(z, [4.0]);
    let step_end = step_end.get().expect("the step ran");
    assert!(
        at >= step_end,
        "the other thread's op ran during the capture"
    );
    assert_eq!(g.len(), 2);
    g.replay().unwrap();
    assert_eq!(b.to_host(&y).unwrap(), [4.0]);
}

/// The emulator refuses, at the driver, what a GPU refuses while a stream captures: a
/// synchronisation, a copy to the host, work on the legacy default stream.
#[test]
fn the_emulator_refuses_what_a_gpu_refuses_during_capture() {
    let Some(b) = gpu::<f32>() else { return };
    if !b.is_emulated() {
        return;
    }
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    use cudarc::driver::{sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED as RELAXED, *};
    let ctx = CudaContext::new(0).unwrap();
    // SAFETY: one stream's work only, as nn-cuda's (whose events this turns off too).
    unsafe { ctx.disable_event_tracking() };
    let s = ctx.new_stream().unwrap();
    let buf = s.clone_htod(&[1.0f32, 2.0]).unwrap();
    type Op = Box<dyn Fn(&std::sync::Arc<CudaStream>) -> std::result::Result<(), DriverError>>;
    let legacy = ctx.default_stream();
    let ops: Vec<(&str, Op)> = vec![
        ("synchronize", Box::new(|s| s.synchronize())),
        ("read", Box::new(move |s| s.clone_dtoh(&buf).map(drop))),
        (
            "legacy stream",
            Box::new(move |_| legacy.clone_htod(&[1.0f32]).map(drop)),
        ),
    ];
    for (what, op) in &ops {
        s.begin_capture(RELAXED).unwrap();
        assert!(op(&s).is_err(), "{what} during a capture");
        let ended = s.end_capture(sys::CUgraphInstantiate_flags(0));
        assert!(ended.is_err(), "{what}: the capture is invalidated");
    }
    // And an empty capture is fine.
    s.begin_capture(RELAXED).unwrap();
    assert!(s.end_capture(sys::CUgraphInstantiate_flags(0)).is_ok());
}

/// A language model's losses, perplexities, weights and report after training.
type LmRun<B> = (
    Vec<f64>,
    Vec<f64>,
    Vec<Vec<<B as Backend>::Elem>>,
    RnnlmFitReport,
);

/// A language model trained eagerly or as graphs.
fn fit_lm<B: Backend>(
    model: Box<dyn LanguageModel<B>>,
    ids: &[u32],
    optimizer: &str,
    graph: bool,
) -> LmRun<B> {
    let mut t = RnnlmTrainer::new(model, by_name::<B>(optimizer, 0.1).unwrap());
    let o = RnnlmFitOptions {
        max_epoch: 3,
        batch_size: 4,
        time_size: 6,
        max_grad: Some(0.5),
        eval_interval: Some(2),
        output: Output::Silent,
        graph,
    };
    let report = t.fit(&ids[..ids.len() - 1], &ids[1..], &o).unwrap();
    let w = weights(t.model().as_ref());
    (t.losses().to_vec(), t.ppl_list().to_vec(), w, report)
}

/// The book's two language models, stateful across batches: graphs give the eager losses,
/// perplexities and weights exactly, and a replayed LSTM iteration is a few launches.
#[test]
fn language_model_graphs_are_the_eager_steps() {
    let Some(b) = gpu::<f32>() else { return };
    let c = Corpus::from_text(&made_up_corpus(80, 1)).unwrap();
    let v = c.vocab_size();
    for lstm in [false, true] {
        let model = |b: &Cuda<f32>| -> Box<dyn LanguageModel<Cuda<f32>>> {
            let mut rng = NumpyRng::new(1984);
            if lstm {
                Box::new(Rnnlm::new(b, v, 8, 12, &mut rng).unwrap())
            } else {
                Box::new(SimpleRnnlm::new(b, v, 8, 12, &mut rng).unwrap())
            }
        };
        for opt in ["sgd", "adam"] {
            let l0 = b.launch_count();
            let (el, ep, ew, e) = fit_lm(model(&b), c.ids(), opt, false);
            let eager = b.launch_count() - l0;
            let l0 = b.launch_count();
            let (gl, gp, gw, g) = fit_lm(model(&b), c.ids(), opt, true);
            let graphed = b.launch_count() - l0;
            assert_eq!(g.graph, GraphStatus::Replaying, "lstm {lstm} {opt}");
            assert_eq!(g.graph_replays as usize, g.iterations - 3);
            assert_eq!(el, gl, "lstm {lstm} {opt}: losses");
            assert_eq!(ep, gp, "lstm {lstm} {opt}: perplexities");
            assert!(ew == gw, "lstm {lstm} {opt}: weights");
            let per = |n: u64| n as f64 / e.iterations as f64;
            println!(
                "lstm {lstm} {opt}: {:.1} launches per eager iteration, {:.1} with graphs \
                 ({} iterations)",
                per(eager),
                per(graphed),
                e.iterations
            );
            assert!(per(graphed) * 3.0 < per(eager), "{graphed} vs {eager}");
        }
    }
}
