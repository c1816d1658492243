//! Numerical gradient checks (central differences, f64) for every layer and for TwoLayerNet.
//!
//! Tolerance: the analytic and numerical gradients agree to 1e-6 relative (1e-9 absolute);
//! central differences with h = 1e-5 are accurate to about h² ≈ 1e-10 here. Where the loss has
//! the book's `log(y + 1e-7)`, its analytic gradient `(y - t) / n` ignores that 1e-7 by design,
//! which moves it by about 1e-7 / y relative: those checks allow 1e-5 relative.

mod common;

use common::{assert_grad, assert_grad_tol, host, numeric, randn, B};
use nn_core::{Backend, NumpyRng, ParamStore, Shape};
use nn_layers::{
    Affine, Labels, Layer, LossLayer, MatMul, Model, Module, Relu, Sigmoid, SigmoidWithLoss,
    Softmax, SoftmaxWithLoss, TwoLayerNet,
};

/// Checks dL/dx and dL/dparam for `L = Σ forward(x) ⊙ r`.
fn check_layer(
    layer: &mut dyn Layer<B>,
    store: &mut ParamStore<B>,
    x_shape: Shape,
    out_cols: usize,
) {
    let b = B::new();
    let mut rng = NumpyRng::new(3);
    let x = randn(&mut rng, x_shape.rows, x_shape.cols);
    let r = randn(&mut rng, x_shape.rows, out_cols);
    let rv = host(&r);
    let loss =
        |y: &<B as Backend>::Tensor| host(y).iter().zip(&rv).map(|(a, b)| a * b).sum::<f64>();

    layer.forward(store, &x).unwrap();
    store.zero_grads();
    let dx = layer.backward(store, &r).unwrap();

    let num_dx = numeric(&host(&x), |v| {
        let xv = b.from_host(v, x_shape).unwrap();
        loss(&layer.forward(store, &xv).unwrap())
    });
    assert_grad(&host(&dx), &num_dx);

    // The book's `grads`: this step's gradients, in the order of `params`.
    let grads: Vec<Vec<f64>> = layer
        .grads(store)
        .into_iter()
        .map(|g| host(g.expect("backward wrote a gradient")))
        .collect();
    assert_eq!(grads.len(), layer.params().len());
    // A first layer's backward, which skips dL/dx, gives the same parameter gradients.
    layer.forward(store, &x).unwrap();
    store.zero_grads();
    layer.backward_params_only(store, &r).unwrap();
    for (id, g) in layer.params().into_iter().zip(&grads) {
        assert_eq!(&host(store.grad(id).unwrap()), g);
    }
    for (id, analytic) in layer.params().into_iter().zip(grads) {
        let shape = b.shape(store.value(id));
        let p0 = host(store.value(id));
        let num = numeric(&p0, |v| {
            store
                .set_value(&b, id, b.from_host(v, shape).unwrap())
                .unwrap();
            loss(&layer.forward(store, &x).unwrap())
        });
        store
            .set_value(&b, id, b.from_host(&p0, shape).unwrap())
            .unwrap();
        assert_grad(&analytic, &num);
    }
}

#[test]
fn affine() {
    let (b, mut rng, mut store) = (B::new(), NumpyRng::new(1), ParamStore::new());
    let mut l = Affine::new(
        &b,
        &mut store,
        "a",
        randn(&mut rng, 4, 3),
        randn(&mut rng, 1, 3),
    )
    .unwrap();
    check_layer(&mut l, &mut store, Shape::new(5, 4), 3);
}

#[test]
fn matmul_and_transposed() {
    let (b, mut rng, mut store) = (B::new(), NumpyRng::new(2), ParamStore::new());
    let mut l = MatMul::new(&b, &mut store, "m", randn(&mut rng, 4, 3)).unwrap();
    check_layer(&mut l, &mut store, Shape::new(5, 4), 3);
    let id = l.params()[0];
    let mut lt = MatMul::transposed(&b, id);
    check_layer(&mut lt, &mut store, Shape::new(5, 3), 4);
}

#[test]
fn sigmoid() {
    let b = B::new();
    check_layer(
        &mut Sigmoid::new(&b),
        &mut ParamStore::new(),
        Shape::new(4, 3),
        3,
    );
}

#[test]
fn relu() {
    let b = B::new();
    check_layer(
        &mut Relu::new(&b),
        &mut ParamStore::new(),
        Shape::new(4, 3),
        3,
    );
}

#[test]
fn softmax() {
    let b = B::new();
    check_layer(
        &mut Softmax::new(&b),
        &mut ParamStore::new(),
        Shape::new(4, 3),
        3,
    );
}

/// Checks dL/dx of a loss layer.
fn check_loss(layer: &mut dyn LossLayer<B>, x_shape: Shape, labels: &[u32]) {
    let b = B::new();
    let x = randn(&mut NumpyRng::new(4), x_shape.rows, x_shape.cols);
    let t = b.index_from_host(labels).unwrap();
    layer.forward(&x, Labels::Index(&t)).unwrap();
    let dx = layer.backward(1.0).unwrap();
    let num = numeric(&host(&x), |v| {
        let xv = b.from_host(v, x_shape).unwrap();
        b.scalar(&layer.forward(&xv, Labels::Index(&t)).unwrap())
            .unwrap()
    });
    assert_grad_tol(&host(&dx), &num, 1e-5);
}

#[test]
fn softmax_with_loss() {
    check_loss(
        &mut SoftmaxWithLoss::new(&B::new()),
        Shape::new(4, 3),
        &[0, 2, 1, 2],
    );
}

#[test]
fn sigmoid_with_loss() {
    check_loss(
        &mut SigmoidWithLoss::new(&B::new()),
        Shape::new(4, 1),
        &[0, 1, 1, 0],
    );
}

#[test]
fn one_hot_labels_equal_index_labels() {
    let b = B::new();
    let x = randn(&mut NumpyRng::new(5), 3, 3);
    let onehot = b
        .from_f64(&[0., 1., 0., 0., 0., 1., 1., 0., 0.], Shape::new(3, 3))
        .unwrap();
    let idx = b.index_from_host(&[1, 2, 0]).unwrap();
    let mut l = SoftmaxWithLoss::new(&b);
    let a = b
        .scalar(&l.forward(&x, Labels::OneHot(&onehot)).unwrap())
        .unwrap();
    let c = b
        .scalar(&l.forward(&x, Labels::Index(&idx)).unwrap())
        .unwrap();
    assert_eq!(a, c);
    let wrong = b.zeros(Shape::new(3, 2)).unwrap();
    assert!(l.forward(&x, Labels::OneHot(&wrong)).is_err());
}

#[test]
fn two_layer_net() {
    let b = B::new();
    let mut net = TwoLayerNet::new(&b, 2, 5, 3, &mut NumpyRng::new(6)).unwrap();
    // Weights of 0.5·randn rather than the book's 0.01 so that every gradient is far from zero,
    // yet no class probability is so small that the loss's 1e-7 matters.
    let ids: Vec<_> = net.params().ids().collect();
    let mut rng = NumpyRng::new(7);
    for &id in &ids {
        let s = b.shape(net.params().value(id));
        let w: Vec<f64> = rng.randn_vec(s.len()).iter().map(|v| 0.5 * v).collect();
        net.params_mut()
            .set_value(&b, id, b.from_host(&w, s).unwrap())
            .unwrap();
    }
    let x = randn(&mut rng, 6, 2);
    let t = b.index_from_host(&[0, 1, 2, 2, 1, 0]).unwrap();
    net.forward(&x, Labels::Index(&t)).unwrap();
    net.backward().unwrap();
    for id in ids {
        let analytic = host(net.params().grad(id).unwrap());
        let s = b.shape(net.params().value(id));
        let p0 = host(net.params().value(id));
        let num = numeric(&p0, |v| {
            net.params_mut()
                .set_value(&b, id, b.from_host(v, s).unwrap())
                .unwrap();
            b.scalar(&net.forward(&x, Labels::Index(&t)).unwrap())
                .unwrap()
        });
        net.params_mut()
            .set_value(&b, id, b.from_host(&p0, s).unwrap())
            .unwrap();
        assert_grad_tol(&analytic, &num, 1e-5);
    }
}

#[test]
fn backward_before_forward_is_an_error() {
    let b = B::new();
    let err = Sigmoid::new(&b)
        .backward(&mut ParamStore::new(), &b.zeros(Shape::new(1, 1)).unwrap())
        .unwrap_err();
    assert!(
        err.to_string().contains("backward called before forward"),
        "{err}"
    );
}

#[test]
fn wrong_input_width_is_a_clear_error() {
    let b = B::new();
    let mut net = TwoLayerNet::new(&b, 2, 5, 3, &mut NumpyRng::new(6)).unwrap();
    let err = net
        .predict(&b.zeros(Shape::new(4, 3)).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("the model takes 2"), "{err}");
    assert!(TwoLayerNet::new(&b, 2, 0, 3, &mut NumpyRng::new(6)).is_err());
    // Sizes whose product overflows are an error before anything is drawn or allocated (in a
    // debug build this was "attempt to multiply with overflow").
    let err = TwoLayerNet::new(&b, 1 << 40, 1 << 40, 3, &mut NumpyRng::new(6)).unwrap_err();
    assert!(
        err.to_string()
            .contains("has more elements than a usize can count"),
        "{err}"
    );
    // A width that counts but fits no machine's memory (2⁴⁷ weights, a pebibyte as f64 draws)
    // is an error before anything is drawn, not the end of the process.
    let err = TwoLayerNet::new(&b, 2, 1 << 46, 3, &mut NumpyRng::new(6)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "out of host memory: 1125899906842624 bytes for Sequential::affine's (2, 70368744177664) \
         weights, more than the system would reserve"
    );
}

#[test]
fn misused_parameters_and_labels_are_clear_errors() {
    let b = B::new();
    let mut store = ParamStore::new();
    let w = store.add("W", b.zeros(Shape::new(2, 3)).unwrap()).unwrap();
    let err = store
        .add("W", b.zeros(Shape::new(2, 3)).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid argument: a parameter named "W" exists already"#
    );
    assert_eq!(store.len(), 1);
    let err = store
        .accumulate_grad(&b, w, b.zeros(Shape::new(3, 2)).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"shape mismatch in accumulate_grad: gradient (3, 2) for parameter "W" of shape (2, 3)"#
    );
    assert!(store.grad(w).is_none(), "a refused gradient is not kept");
    // SigmoidWithLoss takes class indices; one-hot rows would be read as something else.
    let x = b.zeros(Shape::new(2, 1)).unwrap();
    let t = b.from_f64(&[1.0, 0.0, 0.0, 1.0], Shape::new(2, 2)).unwrap();
    let err = SigmoidWithLoss::new(&b)
        .forward(&x, Labels::OneHot(&t))
        .unwrap_err();
    assert!(err.to_string().contains("not one-hot rows"), "{err}");
}
