//! Numerical gradient checks (central differences, f64) for the sequence layers and the two
//! language models, as `gradcheck.rs` does for the others: analytic and numerical gradients
//! agree to 1e-6 relative (1e-9 absolute); with h = 1e-5 the differences are accurate to about
//! h² ≈ 1e-10. The sequence loss has no `1e-7` inside its log, so its gradient is exact.

mod common;

use approx::assert_relative_eq;
use common::{assert_grad, host, numeric, randn, B};
use nn_core::{Backend, NumpyRng, ParamId, ParamStore, Shape, IGNORE_LABEL};
use nn_layers::{
    Embedding, LanguageModel, Lstm, Module, Recurrent, Rnn, Rnnlm, SimpleRnnlm, TimeLstm, TimeRnn,
    TimeSoftmaxWithLoss,
};

type T = <B as Backend>::Tensor;

fn b() -> B {
    B::new()
}

/// `Σ y ⊙ r`: a loss whose gradient with respect to `y` is `r`.
fn dot(y: &T, r: &T) -> f64 {
    host(y).iter().zip(host(r)).map(|(a, b)| a * b).sum()
}

/// The numerical gradient of `loss` with respect to the input `x`.
#[track_caller]
fn check_input(x: &T, analytic: &T, mut loss: impl FnMut(&T) -> f64) {
    let s = b().shape(x);
    let num = numeric(&host(x), |v| loss(&b().from_host(v, s).unwrap()));
    assert_grad(&host(analytic), &num);
}

/// Each parameter's analytic gradient (from `store`, taken before) against central
/// differences of `loss`, which runs a fresh forward pass.
#[track_caller]
fn check_params(
    store: &mut ParamStore<B>,
    ids: &[ParamId],
    mut loss: impl FnMut(&ParamStore<B>) -> f64,
) {
    let grads: Vec<Vec<f64>> = ids
        .iter()
        .map(|&id| host(store.grad(id).expect("backward wrote a gradient")))
        .collect();
    for (&id, analytic) in ids.iter().zip(grads) {
        let shape = b().shape(store.value(id));
        let p0 = host(store.value(id));
        let num = numeric(&p0, |v| {
            store
                .set_value(&b(), id, b().from_host(v, shape).unwrap())
                .unwrap();
            loss(store)
        });
        store
            .set_value(&b(), id, b().from_host(&p0, shape).unwrap())
            .unwrap();
        assert_grad(&analytic, &num);
    }
}

fn store_with(
    rng: &mut NumpyRng,
    shapes: &[(&str, usize, usize)],
) -> (ParamStore<B>, Vec<ParamId>) {
    let mut store = ParamStore::new();
    let ids = shapes
        .iter()
        .map(|&(name, r, c)| store.add(name, randn(rng, r, c)).unwrap())
        .collect();
    (store, ids)
}

#[test]
fn embedding_with_repeated_ids() {
    let mut rng = NumpyRng::new(1);
    let (mut store, ids) = store_with(&mut rng, &[("W", 5, 3)]);
    let mut e = Embedding::from_id(&b(), ids[0]);
    let words = b().index_from_host(&[1, 3, 1, 0, 1]).unwrap();
    let r = randn(&mut rng, 5, 3);
    e.forward(&store, &words).unwrap();
    store.zero_grads();
    e.backward(&mut store, &r).unwrap();
    check_params(&mut store, &ids, |s| {
        dot(
            &Embedding::from_id(&b(), ids[0]).forward(s, &words).unwrap(),
            &r,
        )
    });
    // Rows of ids never used get zero gradient.
    let g = host(store.grad(ids[0]).unwrap());
    assert!(g[2 * 3..3 * 3].iter().chain(&g[4 * 3..]).all(|&v| v == 0.0));
}

#[test]
fn rnn_step() {
    let (n, d, h) = (3, 4, 5);
    let mut rng = NumpyRng::new(2);
    let (mut store, ids) = store_with(&mut rng, &[("Wx", d, h), ("Wh", h, h), ("b", 1, h)]);
    let rnn = || Rnn::from_ids(&b(), ids[0], ids[1], ids[2]);
    let (x, h_prev, r) = (
        randn(&mut rng, n, d),
        randn(&mut rng, n, h),
        randn(&mut rng, n, h),
    );
    let mut l = rnn();
    l.forward(&store, &x, &h_prev).unwrap();
    store.zero_grads();
    let (dx, dh_prev) = l.backward(&mut store, &r).unwrap();
    check_input(&x, &dx, |x| {
        dot(&rnn().forward(&store, x, &h_prev).unwrap(), &r)
    });
    check_input(&h_prev, &dh_prev, |hp| {
        dot(&rnn().forward(&store, &x, hp).unwrap(), &r)
    });
    check_params(&mut store, &ids, |s| {
        dot(&rnn().forward(s, &x, &h_prev).unwrap(), &r)
    });
}

#[test]
fn lstm_step() {
    let (n, d, h) = (2, 3, 4);
    let mut rng = NumpyRng::new(3);
    let (mut store, ids) = store_with(
        &mut rng,
        &[("Wx", d, 4 * h), ("Wh", h, 4 * h), ("b", 1, 4 * h)],
    );
    let lstm = || Lstm::from_ids(&b(), ids[0], ids[1], ids[2]);
    let (x, hp, cp) = (
        randn(&mut rng, n, d),
        randn(&mut rng, n, h),
        randn(&mut rng, n, h),
    );
    let (rh, rc) = (randn(&mut rng, n, h), randn(&mut rng, n, h));
    // L = Σ h ⊙ rh + Σ c ⊙ rc, so both outputs carry a gradient.
    let loss = |s: &ParamStore<B>, x: &T, hp: &T, cp: &T| {
        let (h, c) = lstm().forward(s, x, hp, cp).unwrap();
        dot(&h, &rh) + dot(&c, &rc)
    };
    let mut l = lstm();
    l.forward(&store, &x, &hp, &cp).unwrap();
    store.zero_grads();
    let (dx, dhp, dcp) = l.backward(&mut store, &rh, &rc).unwrap();
    check_input(&x, &dx, |v| loss(&store, v, &hp, &cp));
    check_input(&hp, &dhp, |v| loss(&store, &x, v, &cp));
    check_input(&cp, &dcp, |v| loss(&store, &x, &hp, v));
    check_params(&mut store, &ids, |s| loss(s, &x, &hp, &cp));
}

/// A recurrent layer over `steps` steps of `n` sequences, not stateful (so that every
/// forward of the numerical check starts from zeros), through all time steps.
fn check_time_layer<R: Recurrent<B>>(make: impl Fn(&[ParamId]) -> R, gates: usize, seed: u32) {
    let (n, steps, d, h) = (2, 4, 3, 3);
    let mut rng = NumpyRng::new(seed);
    let (mut store, ids) = store_with(
        &mut rng,
        &[
            ("Wx", d, gates * h),
            ("Wh", h, gates * h),
            ("b", 1, gates * h),
        ],
    );
    let xs = randn(&mut rng, steps * n, d);
    let r = randn(&mut rng, steps * n, h);
    let mut l = make(&ids);
    l.forward(&store, &xs, n).unwrap();
    store.zero_grads();
    let dxs = l.backward(&mut store, &r).unwrap();
    check_input(&xs, &dxs, |x| {
        dot(&make(&ids).forward(&store, x, n).unwrap(), &r)
    });
    check_params(&mut store, &ids, |s| {
        dot(&make(&ids).forward(s, &xs, n).unwrap(), &r)
    });
}

#[test]
fn time_rnn() {
    check_time_layer(
        |ids| TimeRnn::from_ids(&b(), ids[0], ids[1], ids[2], false),
        1,
        4,
    );
}

#[test]
fn time_lstm() {
    check_time_layer(
        |ids| TimeLstm::from_ids(&b(), ids[0], ids[1], ids[2], false),
        4,
        5,
    );
}

/// Stateful layers carry the last state into the next batch: two batches of 3 steps give the
/// states one batch of 6 steps does; `reset_state` starts again from zeros; a batch of another
/// size with a state carried is an error, not a silent mix.
fn carries_state<R: Recurrent<B>>(gates: usize) {
    let (n, d, h) = (2, 3, 4);
    let mut rng = NumpyRng::new(6);
    let mut store = ParamStore::new();
    let mut l = R::init(&b(), &mut store, "rnn", d, h, &mut rng).unwrap();
    assert_eq!(
        b().shape(store.value(l.params()[0])),
        Shape::new(d, gates * h)
    );
    let xs = randn(&mut rng, 6 * n, d);
    let whole = host(&l.forward(&store, &xs, n).unwrap());
    l.reset_state();
    let first = l
        .forward(&store, &b().rows(&xs, 0, 3 * n).unwrap(), n)
        .unwrap();
    let second = l
        .forward(&store, &b().rows(&xs, 3 * n, 3 * n).unwrap(), n)
        .unwrap();
    let split: Vec<f64> = host(&first).into_iter().chain(host(&second)).collect();
    assert_eq!(split.len(), whole.len());
    for (a, w) in split.iter().zip(&whole) {
        assert_relative_eq!(*a, *w, max_relative = 1e-14, epsilon = 1e-15);
    }
    let err = l.forward(&store, &randn(&mut rng, 3, d), 3).unwrap_err();
    assert!(err.to_string().contains("reset_state"), "{err}");
    l.reset_state();
    let again = host(
        &l.forward(&store, &b().rows(&xs, 0, 3 * n).unwrap(), n)
            .unwrap(),
    );
    assert_eq!(again, host(&first));
    // A batch size that does not divide the rows is refused.
    assert!(l.forward(&store, &xs, 5).is_err());
    assert!(l.forward(&store, &xs, 0).is_err());
}

#[test]
fn time_layers_carry_their_state() {
    carries_state::<TimeRnn<B>>(1);
    carries_state::<TimeLstm<B>>(4);
}

#[test]
fn time_softmax_with_loss_skips_ignored_positions() {
    let mut rng = NumpyRng::new(7);
    let xs = randn(&mut rng, 6, 4);
    let ts = b()
        .index_from_host(&[3, 0, IGNORE_LABEL, 1, 2, IGNORE_LABEL])
        .unwrap();
    let loss = |x: &T| {
        let mut l = TimeSoftmaxWithLoss::new(&b());
        b().scalar(&l.forward(x.clone(), &ts).unwrap()).unwrap()
    };
    let mut l = TimeSoftmaxWithLoss::new(&b());
    l.forward(xs.clone(), &ts).unwrap();
    let dx = l.backward(1.0).unwrap();
    check_input(&xs, &dx, loss);
    // Ignored rows get no gradient; backward again needs another forward.
    let d = host(&dx);
    assert!(d[8..12].iter().chain(&d[20..]).all(|&v| v == 0.0));
    assert!(l.backward(1.0).is_err());
}

/// The whole model: every parameter's gradient, each forward from a reset state.
fn check_model<M: LanguageModel<B>>(mut model: M) {
    let xs = b().index_from_host(&[0, 5, 1, 6, 2, 7, 3, 8]).unwrap();
    let ts = b().index_from_host(&[1, 6, 2, 7, 3, 8, 4, 9]).unwrap();
    model.forward(&xs, &ts, 2).unwrap();
    model.backward().unwrap();
    let ids: Vec<ParamId> = model.params().ids().collect();
    assert_eq!(ids.len(), 6);
    let grads: Vec<Vec<f64>> = ids
        .iter()
        .map(|&id| host(model.params().grad(id).unwrap()))
        .collect();
    for (&id, analytic) in ids.iter().zip(grads) {
        let shape = b().shape(model.params().value(id));
        let p0 = host(model.params().value(id));
        let num = numeric(&p0, |v| {
            let t = b().from_host(v, shape).unwrap();
            model.params_mut().set_value(&b(), id, t).unwrap();
            model.reset_state();
            b().scalar(&model.forward(&xs, &ts, 2).unwrap()).unwrap()
        });
        let t = b().from_host(&p0, shape).unwrap();
        model.params_mut().set_value(&b(), id, t).unwrap();
        assert_grad(&analytic, &num);
    }
}

#[test]
fn simple_rnnlm() {
    let model = SimpleRnnlm::new(&b(), 10, 3, 4, &mut NumpyRng::new(8)).unwrap();
    let names: Vec<String> = model
        .params()
        .iter()
        .map(|(_, p)| p.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "layers.0.W",
            "layers.1.Wx",
            "layers.1.Wh",
            "layers.1.b",
            "layers.2.W",
            "layers.2.b"
        ]
    );
    check_model(model);
}

#[test]
fn rnnlm_lstm() {
    let model = Rnnlm::new(&b(), 10, 3, 4, &mut NumpyRng::new(9)).unwrap();
    assert_eq!(
        b().shape(
            model
                .params()
                .value(model.params().find("layers.1.Wh").unwrap())
        ),
        Shape::new(4, 16)
    );
    check_model(model);
}
