//! The Trainer's data checks, NaN stop, clipping, and shared (tied) weights.

use approx::assert_relative_eq;
use nn_core::{Backend, DType, Error, NumpyRng, ParamStore, Result, Shape};
use nn_cpu::Cpu;
use nn_layers::{
    Affine, Labels, Layer, LossLayer, MatMul, Model, Module, SigmoidWithLoss, SoftmaxWithLoss,
    TwoLayerNet,
};
use nn_optim::Sgd;
use nn_train::{
    clip_grads, eval, load_params, remove_duplicate, save_params, spiral, Dataset, FitOptions,
    Output, Trainer,
};

type B = Cpu<f64>;

fn quiet(max_epoch: usize, batch_size: usize) -> FitOptions {
    FitOptions {
        max_epoch,
        batch_size,
        eval_interval: Some(10),
        output: Output::Silent,
        ..Default::default()
    }
}

fn trainer(hidden: usize) -> Trainer<B, TwoLayerNet<B>, Sgd> {
    let net = TwoLayerNet::new(&B::new(), 2, hidden, 3, &mut NumpyRng::new(1)).unwrap();
    Trainer::new(net, Sgd::new(1.0).unwrap())
}

/// `fit`'s error, which `fit_device` must give alike.
fn fit_err(data: &Dataset, o: &FitOptions) -> String {
    let msg = trainer(4)
        .fit(data, o, &mut NumpyRng::new(0))
        .unwrap_err()
        .to_string();
    let dev = data.to_device(&B::new()).unwrap();
    let on_device = trainer(4)
        .fit_device(&dev, o, &mut NumpyRng::new(0))
        .unwrap_err()
        .to_string();
    assert_eq!(msg, on_device);
    msg
}

#[test]
fn data_checks_give_clear_errors() {
    let spiral = spiral::load_data(1984);
    let msg = |r: Result<Dataset>| r.unwrap_err().to_string();
    assert_eq!(
        msg(Dataset::new(vec![0.0; 6], 2, vec![0, 1], 3)),
        "shape mismatch in Dataset: x has 3 rows but t has 2"
    );
    assert_eq!(
        msg(Dataset::new(vec![0.0; 4], 2, vec![0, 3], 3)),
        "label 3 at row 1 is out of range: the classes are 0..3"
    );
    assert_eq!(
        msg(Dataset::new(vec![0.0, f64::NAN], 2, vec![0], 3)),
        "x (row 0, column 1) contains NaN or infinite values"
    );
    assert_eq!(
        msg(Dataset::new(Vec::<f64>::new(), 2, vec![], 3)),
        "the input data x is empty"
    );
    assert_eq!(
        msg(Dataset::new(vec![0.0; 5], 2, vec![0, 1], 3)),
        "shape mismatch in Dataset: 5 values do not make rows of 2"
    );
    assert_eq!(
        msg(Dataset::from_one_hot(vec![0.0; 2], 2, &[0.0, 0.5, 0.5], 3)),
        "invalid argument: row 0 of t is not one-hot: [0.0, 0.5, 0.5]"
    );
    assert_eq!(
        msg(Dataset::from_one_hot(vec![0.0; 2], 2, &[1.0, 0.0, 1.0], 3)),
        "invalid argument: row 0 of t is not one-hot: [1.0, 0.0, 1.0]"
    );
    for (t, classes) in [(&[0.0, 1.0, 0.0, 1.0][..], 3), (&[1.0][..], 0)] {
        assert_eq!(
            msg(Dataset::from_one_hot(vec![0.0; 2], 2, t, classes)),
            format!(
                "shape mismatch in Dataset: {} target values do not make rows of {classes} \
                 classes",
                t.len()
            )
        );
    }
    // One-hot rows become the class indices that `Dataset::new` takes.
    let t = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
    let one_hot = Dataset::from_one_hot(vec![0.0; 6], 2, &t, 3).unwrap();
    assert_eq!(one_hot.labels(), &[2, 0, 1]);
    assert_eq!(one_hot.one_hot(), t);
    assert_eq!(
        fit_err(&spiral, &quiet(1, 0)),
        "invalid argument: batch_size must be at least 1"
    );
    assert_eq!(
        fit_err(&spiral, &quiet(1, 301)),
        "invalid argument: batch_size 301 is larger than the data set (300 rows)"
    );
    let mut o = quiet(1, 30);
    o.eval_interval = Some(0);
    assert_eq!(
        fit_err(&spiral, &o),
        "invalid argument: eval_interval must be at least 1 (or None)"
    );
    for g in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let mut o = quiet(1, 30);
        o.max_grad = Some(g);
        assert_eq!(
            fit_err(&spiral, &o),
            format!("invalid argument: max_grad must be a finite number > 0, got {g}")
        );
    }
    let wide = Dataset::new(vec![0.0; 6], 3, vec![0, 1], 3).unwrap();
    assert_eq!(
        fit_err(&wide, &quiet(1, 1)),
        "shape mismatch in fit: x has 3 columns; the model takes 2"
    );
    let four = Dataset::new(vec![0.0; 4], 2, vec![0, 3], 4).unwrap();
    assert_eq!(
        fit_err(&four, &quiet(1, 1)),
        "shape mismatch in fit: t has 4 classes; the model tells 3 apart"
    );
    // Finite data that an f32 model cannot hold is refused, not trained on as infinity.
    let huge = Dataset::new(vec![0.0, 1.0, 2.0, 1e300], 2, vec![0, 1], 3).unwrap();
    let net32 = TwoLayerNet::new(&Cpu::<f32>::new(), 2, 4, 3, &mut NumpyRng::new(1)).unwrap();
    let err = Trainer::new(net32, Sgd::new(1.0).unwrap())
        .fit(&huge, &quiet(1, 1), &mut NumpyRng::new(0))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "invalid argument: value 1e300 at index 3 is beyond the range of f32"
    );
    // Prediction on raw host rows: the same checks, and no class picked from NaN scores.
    let mut net = trainer(4).into_inner().0;
    let predict = |net: &mut TwoLayerNet<B>, x: &[f64], cols| {
        eval::predict_classes(net, x, cols).map_err(|e| e.to_string())
    };
    assert_eq!(
        predict(&mut net, &[0.5, -0.5, 0.0, 1.0], 2).unwrap().len(),
        2
    );
    assert_eq!(
        predict(&mut net, &[0.0, f64::INFINITY], 2).unwrap_err(),
        "x (row 0, column 1) contains NaN or infinite values"
    );
    assert_eq!(
        predict(&mut net, &[0.0; 3], 2).unwrap_err(),
        "shape mismatch in predict_classes: 3 values do not make rows of 2"
    );
    assert_eq!(
        predict(&mut net, &[0.0; 3], 3).unwrap_err(),
        "shape mismatch in predict_classes: rows of 3 values; the model takes 2"
    );
    // Finite inputs and weights whose products overflow (inf - inf) give NaN scores: an error
    // naming the row, not class 0.
    let b = B::new();
    let w1 = net.params().find("layers.0.W").unwrap();
    let big = [1e300, 1e300, 1e300, 1e300, -1e300, -1e300, -1e300, -1e300];
    let big = b.from_f64(&big, Shape::new(2, 4)).unwrap();
    net.params_mut().set_value(&b, w1, big).unwrap();
    assert_eq!(
        predict(&mut net, &[0.5, -0.5, 1e10, 1e10], 2).unwrap_err(),
        "invalid argument: the model's score for row 1 (column 0) is NaN: its weights are not \
         finite, or they and the inputs overflow"
    );
}

#[test]
fn a_diverging_loss_stops_training_naming_epoch_and_iteration() {
    let spiral = spiral::load_data(1984);
    let net = TwoLayerNet::new(&B::new(), 2, 10, 3, &mut NumpyRng::new(1)).unwrap();
    let mut t = Trainer::new(net, Sgd::new(f64::MAX).unwrap());
    let err = t
        .fit(&spiral, &quiet(5, 30), &mut NumpyRng::new(0))
        .unwrap_err();
    // The first update makes the weights infinite: the first iteration's loss is finite and
    // read alone (iteration 1 is logged), the next nine are not and are read with the next
    // epoch's first.
    assert!(
        matches!(
            err,
            Error::Diverged {
                epoch: 2,
                iteration: 1,
                window: 10
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("NaN or infinite by epoch 2, iteration 1 "),
        "{err}"
    );
    // Without a loss log the sum is still read once an epoch, to stop where it went wrong.
    let net = TwoLayerNet::new(&B::new(), 2, 10, 3, &mut NumpyRng::new(1)).unwrap();
    let mut t = Trainer::new(net, Sgd::new(f64::MAX).unwrap());
    let mut o = quiet(5, 30);
    o.eval_interval = None;
    let err = t.fit(&spiral, &o, &mut NumpyRng::new(0)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Diverged {
                epoch: 1,
                iteration: 10,
                window: 10
            }
        ),
        "{err}"
    );
    assert!(t.loss_list().is_empty());
}

#[test]
fn fit_device_on_data_copied_once_trains_as_fit_does() {
    let spiral = spiral::load_data(1984);
    let dev = spiral.to_device(&B::new()).unwrap();
    let (mut by_fit, mut by_device) = (trainer(10), trainer(10));
    let (mut r1, mut r2) = (NumpyRng::new(7), NumpyRng::new(7));
    // An epoch per call, as a loop with an evaluation between calls would: each call starts
    // from the data's own order, as the book's `fit` does.
    for _ in 0..3 {
        by_fit.fit(&spiral, &quiet(1, 30), &mut r1).unwrap();
        by_device.fit_device(&dev, &quiet(1, 30), &mut r2).unwrap();
    }
    assert_eq!(by_fit.loss_list().len(), 3);
    assert_eq!(by_fit.loss_list(), by_device.loss_list());
    assert_eq!(by_device.current_epoch(), 3);
    let weights = |t: &Trainer<B, TwoLayerNet<B>, Sgd>| {
        let b = B::new();
        let p = t.model().params();
        p.ids()
            .map(|id| b.to_host(p.value(id)).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(weights(&by_fit), weights(&by_device));
    // The order matters: one three-epoch call, whose shuffles compose across epochs, ends
    // elsewhere. So the equality above says both calls restart from the data's own order.
    let mut once = trainer(10);
    once.fit(&spiral, &quiet(3, 30), &mut NumpyRng::new(7))
        .unwrap();
    assert_ne!(weights(&once), weights(&by_fit));
}

#[test]
fn a_trainer_and_its_data_move_to_another_thread_and_back() {
    // As a program with a window would train: off its main thread, then use the model there.
    let spiral = spiral::load_data(1984);
    let dev = spiral.to_device(&B::new()).unwrap();
    let mut t = trainer(10);
    let t = std::thread::spawn(move || {
        t.fit_device(&dev, &quiet(2, 30), &mut NumpyRng::new(7))
            .unwrap();
        t
    })
    .join()
    .unwrap();
    assert_eq!(t.current_epoch(), 2);
    let mut here = trainer(10);
    here.fit(&spiral, &quiet(2, 30), &mut NumpyRng::new(7))
        .unwrap();
    assert_eq!(t.loss_list(), here.loss_list());
}

#[test]
fn zero_epochs_train_nothing() {
    let mut t = trainer(4);
    t.fit(
        &spiral::load_data(1984),
        &quiet(0, 30),
        &mut NumpyRng::new(0),
    )
    .unwrap();
    assert!(t.loss_list().is_empty());
    assert_eq!(t.current_epoch(), 0);
}

#[test]
fn clip_grads_scales_to_max_norm() {
    let b = B::new();
    let mut store = ParamStore::new();
    let a = store.add("a", b.zeros(Shape::row(2)).unwrap()).unwrap();
    let c = store.add("c", b.zeros(Shape::row(1)).unwrap()).unwrap();
    store
        .accumulate_grad(&b, a, b.from_f64(&[3.0, 0.0], Shape::row(2)).unwrap())
        .unwrap();
    store
        .accumulate_grad(&b, c, b.from_f64(&[4.0], Shape::row(1)).unwrap())
        .unwrap();
    let norm = clip_grads(&b, &mut store, 1.0).unwrap();
    assert_relative_eq!(norm, 5.0, max_relative = 1e-15);
    let rate = 1.0 / (5.0 + 1e-6);
    assert_relative_eq!(
        b.to_host(store.grad(a).unwrap()).unwrap()[0],
        3.0 * rate,
        max_relative = 1e-15
    );
    assert_relative_eq!(
        b.to_host(store.grad(c).unwrap()).unwrap()[0],
        4.0 * rate,
        max_relative = 1e-15
    );
    // Below the limit nothing changes.
    clip_grads(&b, &mut store, 10.0).unwrap();
    assert_relative_eq!(
        b.to_host(store.grad(c).unwrap()).unwrap()[0],
        4.0 * rate,
        max_relative = 1e-15
    );
}

/// A model whose output layer reuses the input embedding transposed (weight tying):
/// `score = (x · W) · Wᵀ`, W shared by both MatMul layers.
struct Tied {
    b: B,
    store: ParamStore<B>,
    enc: MatMul<B>,
    dec: MatMul<B>,
    loss: SoftmaxWithLoss<B>,
}

impl Tied {
    fn new(w: &[f64]) -> Self {
        let b = B::new();
        let mut store = ParamStore::new();
        let enc = MatMul::new(
            &b,
            &mut store,
            "W",
            b.from_f64(w, Shape::new(3, 2)).unwrap(),
        )
        .unwrap();
        let dec = MatMul::transposed(&b, enc.params()[0]);
        Tied {
            loss: SoftmaxWithLoss::new(&b),
            b,
            store,
            enc,
            dec,
        }
    }
}

impl Module<B> for Tied {
    fn backend(&self) -> &B {
        &self.b
    }
    fn params(&self) -> &ParamStore<B> {
        &self.store
    }
    fn params_mut(&mut self) -> &mut ParamStore<B> {
        &mut self.store
    }
}

impl Model<B> for Tied {
    fn predict(&mut self, x: &<B as Backend>::Tensor) -> Result<<B as Backend>::Tensor> {
        let h = self.enc.forward(&self.store, x)?;
        self.dec.forward(&self.store, &h)
    }
    fn forward(
        &mut self,
        x: &<B as Backend>::Tensor,
        t: Labels<'_, B>,
    ) -> Result<<B as Backend>::Tensor> {
        let s = self.predict(x)?;
        self.loss.forward(&s, t)
    }
    fn backward(&mut self) -> Result<()> {
        self.store.zero_grads();
        let d = self.loss.backward(1.0)?;
        let d = self.dec.backward(&mut self.store, &d)?;
        self.enc.backward_params_only(&mut self.store, &d)
    }
    fn input_size(&self) -> usize {
        3
    }
    fn output_size(&self) -> usize {
        3
    }
}

#[test]
fn shared_weight_gets_the_summed_gradient_including_transposed_use() {
    let w0 = [0.3, -0.2, 0.5, 0.1, -0.4, 0.6];
    let x = [1.0, 0.5, -0.5, 0.2, -1.0, 0.3];
    let labels = [2u32, 0];
    let b = B::new();
    let xt = b.from_f64(&x, Shape::new(2, 3)).unwrap();
    let t = b.index_from_host(&labels).unwrap();
    let loss_at = |w: &[f64]| {
        let mut m = Tied::new(w);
        b.scalar(&m.forward(&xt, Labels::Index(&t)).unwrap())
            .unwrap()
    };
    let mut m = Tied::new(&w0);
    assert_eq!(m.params().len(), 1, "one stored weight");
    assert_eq!(
        remove_duplicate(&[m.enc.params()[0], m.dec.params()[0]]).len(),
        1
    );
    m.forward(&xt, Labels::Index(&t)).unwrap();
    m.backward().unwrap();
    let g = b
        .to_host(m.params().grad(m.enc.params()[0]).unwrap())
        .unwrap();
    let h = 1e-6;
    for i in 0..6 {
        let (mut up, mut down) = (w0, w0);
        up[i] += h;
        down[i] -= h;
        let num = (loss_at(&up) - loss_at(&down)) / (2.0 * h);
        // 1e-5 relative: the analytic gradient ignores the loss's 1e-7 inside the log.
        assert_relative_eq!(g[i], num, max_relative = 1e-5, epsilon = 1e-9);
    }
    // And the Trainer updates the shared weight once per step with that summed gradient.
    let data = Dataset::new(x.to_vec(), 3, labels.to_vec(), 3).unwrap();
    let mut tr = Trainer::new(Tied::new(&w0), Sgd::new(0.1).unwrap());
    let o = FitOptions {
        max_epoch: 1,
        batch_size: 2,
        output: Output::Silent,
        ..Default::default()
    };
    tr.fit(&data, &o, &mut NumpyRng::new(0)).unwrap();
    let w1 = b
        .to_host(
            tr.model()
                .params()
                .value(tr.model().params().ids().next().unwrap()),
        )
        .unwrap();
    for i in 0..6 {
        assert_relative_eq!(w1[i], w0[i] - 0.1 * g[i], max_relative = 1e-12);
    }
}

/// Gradients are the model's to start afresh: its `backward` replaces the last step's, so a
/// second `backward` of the same forward pass gives the same gradients, not twice them.
#[test]
fn backward_replaces_the_last_steps_gradients() {
    let b = B::new();
    let mut net = TwoLayerNet::new(&b, 3, 4, 3, &mut NumpyRng::new(5)).unwrap();
    let x = b
        .from_f64(&[1.0, 0.5, -0.5, 0.2, -1.0, 0.3], Shape::new(2, 3))
        .unwrap();
    let t = b.index_from_host(&[2, 0]).unwrap();
    let grads = |net: &TwoLayerNet<B>| -> Vec<Vec<f64>> {
        net.params()
            .ids()
            .map(|id| b.to_host(net.params().grad(id).unwrap()).unwrap())
            .collect()
    };
    net.forward(&x, Labels::Index(&t)).unwrap();
    net.backward().unwrap();
    let once = grads(&net);
    net.backward().unwrap();
    assert_eq!(grads(&net), once);
    let mut tied = Tied::new(&[0.3, -0.2, 0.5, 0.1, -0.4, 0.6]);
    tied.forward(&x, Labels::Index(&t)).unwrap();
    tied.backward().unwrap();
    let w = tied.params().ids().next().unwrap();
    let g1 = b.to_host(tied.params().grad(w).unwrap()).unwrap();
    tied.backward().unwrap();
    assert_eq!(b.to_host(tied.params().grad(w).unwrap()).unwrap(), g1);
}

/// A model chosen at run time, as `Box<dyn Model>`, trains, evaluates and saves as the model
/// itself, and loads its weights back.
#[test]
fn a_boxed_model_trains_as_the_model_itself() {
    let data = spiral::load_data(1984);
    let o = quiet(3, 30);
    let mut plain = trainer(10);
    plain.fit(&data, &o, &mut NumpyRng::new(7)).unwrap();
    let net = TwoLayerNet::new(&B::new(), 2, 10, 3, &mut NumpyRng::new(1)).unwrap();
    let boxed: Box<dyn Model<B>> = Box::new(net);
    let mut tr = Trainer::new(boxed, Sgd::new(1.0).unwrap());
    tr.fit(&data, &o, &mut NumpyRng::new(7)).unwrap();
    assert_eq!(tr.loss_list(), plain.loss_list());
    assert_eq!(tr.loss_list().len(), 3);
    assert_eq!(
        eval::accuracy(tr.model_mut(), &data).unwrap(),
        eval::accuracy(plain.model_mut(), &data).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let (from_box, from_plain) = (dir.path().join("box.st"), dir.path().join("plain.st"));
    save_params(tr.model_mut(), &from_box, DType::F64).unwrap();
    save_params(plain.model_mut(), &from_plain, DType::F64).unwrap();
    assert_eq!(
        std::fs::read(&from_box).unwrap(),
        std::fs::read(&from_plain).unwrap()
    );
    let fresh = TwoLayerNet::new(&B::new(), 2, 10, 3, &mut NumpyRng::new(2)).unwrap();
    let mut fresh: Box<dyn Model<B>> = Box::new(fresh);
    assert_eq!(fresh.output_size(), 3);
    load_params(&mut fresh, &from_box).unwrap();
    assert_eq!(
        eval::accuracy(&mut fresh, &data).unwrap(),
        eval::accuracy(plain.model_mut(), &data).unwrap()
    );
}

/// Logistic regression: one output column, the logit of class 1, with SigmoidWithLoss.
struct Logistic {
    b: B,
    store: ParamStore<B>,
    affine: Affine<B>,
    loss: SigmoidWithLoss<B>,
    /// A bug to catch: `forward` returns the scores, not the loss.
    returns_scores: bool,
}

impl Module<B> for Logistic {
    fn backend(&self) -> &B {
        &self.b
    }
    fn params(&self) -> &ParamStore<B> {
        &self.store
    }
    fn params_mut(&mut self) -> &mut ParamStore<B> {
        &mut self.store
    }
}

impl Model<B> for Logistic {
    fn predict(&mut self, x: &<B as Backend>::Tensor) -> Result<<B as Backend>::Tensor> {
        self.affine.forward(&self.store, x)
    }
    fn forward(
        &mut self,
        x: &<B as Backend>::Tensor,
        t: Labels<'_, B>,
    ) -> Result<<B as Backend>::Tensor> {
        let s = self.predict(x)?;
        let loss = self.loss.forward(&s, t)?;
        Ok(if self.returns_scores { s } else { loss })
    }
    fn backward(&mut self) -> Result<()> {
        self.store.zero_grads();
        let d = self.loss.backward(1.0)?;
        self.affine.backward_params_only(&mut self.store, &d)
    }
    fn input_size(&self) -> usize {
        2
    }
    fn output_size(&self) -> usize {
        1
    }
}

/// A binary classifier (one output column and SigmoidWithLoss) trains with the Trainer on a
/// data set of 2 classes, and the evaluation takes a score above 0 as class 1 (an `argmax` of
/// one column would say class 0 everywhere).
#[test]
fn a_binary_classifier_with_one_output_trains_and_evaluates() {
    let b = B::new();
    let mut rng = NumpyRng::new(3);
    let x = rng.randn_vec(400);
    let labels: Vec<u32> = x.chunks(2).map(|p| u32::from(p[0] + p[1] > 0.0)).collect();
    let data = Dataset::new(x.clone(), 2, labels.clone(), 2).unwrap();
    let mut store = ParamStore::new();
    let w = b.from_f64(&[0.1, -0.3], Shape::new(2, 1)).unwrap();
    let affine = Affine::new(&b, &mut store, "fc", w, b.zeros(Shape::row(1)).unwrap()).unwrap();
    let model = Logistic {
        loss: SigmoidWithLoss::new(&b),
        b,
        store,
        affine,
        returns_scores: true,
    };
    assert_eq!(model.classes(), 2);
    let mut tr = Trainer::new(model, Sgd::new(1.0).unwrap());
    // A forward that returns anything but a 1 × 1 loss is refused before any update.
    assert_eq!(
        tr.fit(&data, &quiet(1, 20), &mut rng)
            .unwrap_err()
            .to_string(),
        "shape mismatch in fit: the model's forward returned (20, 1); a loss is (1, 1)"
    );
    let w = tr.model().params().ids().next().unwrap();
    let value = |tr: &Trainer<B, Logistic, Sgd>| b.to_host(tr.model().params().value(w)).unwrap();
    assert_eq!(value(&tr), [0.1, -0.3]);
    tr.model_mut().returns_scores = false;
    let three = Dataset::new(x.clone(), 2, vec![2; 200], 3).unwrap();
    assert_eq!(
        tr.fit(&three, &quiet(1, 20), &mut rng)
            .unwrap_err()
            .to_string(),
        "shape mismatch in fit: t has 3 classes; the model tells 2 apart"
    );
    tr.fit(&data, &quiet(30, 20), &mut rng).unwrap();
    let losses = tr.loss_list();
    assert!(losses[losses.len() - 1] < losses[0] / 4.0, "{:?}", losses);
    // The accuracy counts sigmoid(score) > 0.5, worked out here on the host.
    let m = tr.model_mut();
    let scores = b
        .to_host(
            &m.predict(&b.from_f64(&x, Shape::new(200, 2)).unwrap())
                .unwrap(),
        )
        .unwrap();
    let hits = scores
        .iter()
        .zip(&labels)
        .filter(|(s, &l)| u32::from(1.0 / (1.0 + (-**s).exp()) > 0.5) == l)
        .count();
    let acc = eval::accuracy(m, &data).unwrap();
    assert_eq!(acc, hits as f64 / 200.0);
    assert!(acc >= 0.95, "{acc}");
    assert_eq!(
        eval::accuracy(m, &three).unwrap_err().to_string(),
        "shape mismatch in accuracy: t has 3 classes; the model tells 2 apart"
    );
    // The boundary: class 0 at the lower left corner (x0 + x1 < 0), class 1 at the upper right.
    let g = eval::decision_boundary(m, &data, 0.05).unwrap();
    assert_eq!(g.classes[0], 0);
    assert_eq!(g.classes[g.nx * g.ny - 1], 1);
    // A NaN score is an error, not class 0.
    let nan = b.from_f64(&[f64::NAN, 0.0], Shape::new(2, 1)).unwrap();
    m.params_mut().set_value(&b, w, nan).unwrap();
    let e = eval::accuracy(m, &data).unwrap_err().to_string();
    assert!(e.contains("score for row 0 (column 0) is NaN"), "{e}");
}

#[test]
fn a_softmax_net_of_one_output_is_refused() {
    let e = TwoLayerNet::new(&B::new(), 2, 4, 1, &mut NumpyRng::new(1)).unwrap_err();
    assert!(
        e.to_string().contains("output size must be at least 2"),
        "{e}"
    );
}

#[test]
#[cfg(feature = "plot")]
fn plot_writes_png_and_svg_and_refuses_other_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = trainer(4);
    t.fit(
        &spiral::load_data(1984),
        &quiet(3, 30),
        &mut NumpyRng::new(0),
    )
    .unwrap();
    for name in ["loss.png", "loss.svg"] {
        let p = dir.path().join(name);
        t.plot(&p, Some((0.0, 2.0))).unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 1000, "{name}");
    }
    assert!(t.plot(&dir.path().join("loss.jpg"), None).is_err());
    assert!(t
        .plot(&dir.path().join("no/such/dir/loss.png"), None)
        .is_err());
}

/// Wide rows are predicted in shorter chunks (`eval::CHUNK_VALUES` values each): 1200 rows of
/// 2000 values make three chunks (524, 524, 152 rows), and every row gets the class it gets
/// when predicted alone.
#[test]
fn wide_rows_predicted_in_chunks_get_the_classes_they_get_alone() {
    let (rows, cols) = (1200, 2000);
    assert!(
        rows * cols > 2 * eval::CHUNK_VALUES,
        "the test needs three chunks"
    );
    let mut rng = NumpyRng::new(5);
    let mut net = TwoLayerNet::new(&B::new(), cols, 8, 3, &mut rng).unwrap();
    let x: Vec<f64> = (0..rows * cols).map(|_| 40.0 * rng.randn()).collect();
    let all = eval::predict_classes(&mut net, &x, cols).unwrap();
    let alone: Vec<u32> = x
        .chunks(cols)
        .flat_map(|row| eval::predict_classes(&mut net, row, cols).unwrap())
        .collect();
    assert_eq!(all, alone);
    // Not one class everywhere, which any chunking would reproduce.
    assert!((0..3).all(|c| all.contains(&c)), "{:?}", &all[..20]);
}

/// Prediction over a copy on the device gives the classes, accuracy and errors of prediction
/// over the host data: in one chunk (the spiral), in chunks of wide rows (1200 rows of 2000
/// values, gathered on the device three times), and a NaN score in a later chunk names its row
/// in the whole data.
#[test]
fn prediction_on_the_device_copy_matches_prediction_on_the_host() {
    let b = B::new();
    let spiral = spiral::load_data(1984);
    let mut t = trainer(10);
    t.fit(&spiral, &quiet(30, 30), &mut NumpyRng::new(7))
        .unwrap();
    let dev = spiral.to_device(&b).unwrap();
    let net = t.model_mut();
    let on_host = eval::predict_classes(net, &spiral.x(), 2).unwrap();
    assert_eq!(eval::predict_classes_device(net, &dev).unwrap(), on_host);
    let acc = eval::accuracy(net, &spiral).unwrap();
    assert_eq!(eval::accuracy_device(net, &dev).unwrap(), acc);
    // Neither chance (1/3) nor perfect, so a wrong label order would show.
    assert!(acc > 0.4 && acc < 1.0, "{acc}");

    let (rows, cols) = (1200, 2000);
    let mut rng = NumpyRng::new(5);
    let mut wide = TwoLayerNet::new(&b, cols, 8, 3, &mut rng).unwrap();
    let mut x: Vec<f64> = (0..rows * cols).map(|_| 40.0 * rng.randn()).collect();
    let labels: Vec<u32> = (0..rows as u32).map(|i| i % 3).collect();
    let data = Dataset::new(x.clone(), cols, labels.clone(), 3).unwrap();
    let dev = data.to_device(&b).unwrap();
    let on_host = eval::predict_classes(&mut wide, &x, cols).unwrap();
    assert!((0..3).all(|c| on_host.contains(&c)), "{:?}", &on_host[..20]);
    assert_eq!(
        eval::predict_classes_device(&mut wide, &dev).unwrap(),
        on_host
    );
    assert_eq!(
        eval::accuracy_device(&mut wide, &dev).unwrap(),
        eval::accuracy(&mut wide, &data).unwrap()
    );

    // Row 1100 (in the third chunk) is the only one whose first layer makes inf - inf: its
    // product overflows to inf and meets a bias of -inf. (An overflow inside the product is
    // no sure way: `gemm`'s fused multiply-adds carry inf past a later -1e600, where separate
    // ones make NaN.) Every other row's product is 0, so its hidden layer is sigmoid(-inf) = 0.
    let p = wide.params();
    let (w1, b1) = (p.find("layers.0.W").unwrap(), p.find("layers.0.b").unwrap());
    let w = b
        .from_f64(&vec![1e300; cols * 8], Shape::new(cols, 8))
        .unwrap();
    let bias = b
        .from_f64(&[f64::NEG_INFINITY; 8], Shape::new(1, 8))
        .unwrap();
    wide.params_mut().set_value(&b, w1, w).unwrap();
    wide.params_mut().set_value(&b, b1, bias).unwrap();
    x.iter_mut().for_each(|v| *v = 0.0);
    x[1100 * cols] = 1e300;
    let data = Dataset::new(x, cols, labels, 3).unwrap();
    let dev = data.to_device(&b).unwrap();
    let msg = "invalid argument: the model's score for row 1100 (column 0) is NaN: its weights \
               are not finite, or they and the inputs overflow";
    for e in [
        eval::accuracy(&mut wide, &data).unwrap_err(),
        eval::accuracy_device(&mut wide, &dev).unwrap_err(),
    ] {
        assert_eq!(e.to_string(), msg);
    }

    // A model that does not fit the data is refused, as by `accuracy`.
    let e = eval::accuracy_device(t.model_mut(), &dev).unwrap_err();
    assert_eq!(
        e.to_string(),
        "shape mismatch in accuracy_device: x has 2000 columns; the model takes 2"
    );
}

/// `graph: true` on a backend without graphs trains exactly as without, and says it ran
/// eagerly: the option changes nothing on the CPU.
#[test]
fn graphs_asked_for_on_the_cpu_train_as_without() {
    let spiral = spiral::load_data(1984);
    let run = |graph: bool| {
        let mut t = trainer(10);
        let o = FitOptions {
            graph,
            max_grad: Some(1.0),
            ..quiet(5, 30)
        };
        let report = t.fit(&spiral, &o, &mut NumpyRng::new(3)).unwrap();
        (t.loss_list().to_vec(), report)
    };
    let (eager, _) = run(false);
    let (graphed, report) = run(true);
    assert_eq!(eager, graphed);
    assert_eq!(report.graph, nn_core::GraphStatus::Eager);
    assert_eq!(report.graph_replays, 0);
}
