//! The backend conformance suite: every op against small hand-computed values.
//!
//! Written once, generic over the backend; each backend crate runs it in f32 and f64 with
//! [`conformance_tests!`](crate::conformance_tests):
//!
//! ```ignore
//! nn_core::conformance_tests!(cpu_f32, || Some(nn_cpu::Cpu::<f32>::new()));
//! ```
//!
//! The closure returns `None` when the device is absent (a CUDA build on a machine without a GPU);
//! each test then prints that it was skipped, and why, instead of passing silently.
//! Tolerances: `64 · ε` of the element type, relative (f32: 7.6e-6, f64: 1.4e-14).

use crate::{Backend, Error, Float, Shape};

fn tol<B: Backend>() -> f64 {
    64.0 * <B::Elem as num_traits::Float>::epsilon().f64()
}

fn t<B: Backend>(b: &B, rows: usize, cols: usize, v: &[f64]) -> B::Tensor {
    b.from_f64(v, Shape::new(rows, cols)).expect("from_host")
}

fn host<B: Backend>(b: &B, x: &B::Tensor) -> Vec<f64> {
    b.to_host(x)
        .expect("to_host")
        .iter()
        .map(|v| v.f64())
        .collect()
}

fn idx<B: Backend>(b: &B, v: &[u32]) -> B::Index {
    b.index_from_host(v).expect("index_from_host")
}

#[track_caller]
fn close<B: Backend>(b: &B, x: &B::Tensor, shape: (usize, usize), want: &[f64]) {
    assert_eq!(b.shape(x), Shape::from(shape), "shape");
    let got = host(b, x);
    for (g, w) in got.iter().zip(want) {
        approx::assert_relative_eq!(*g, *w, max_relative = tol::<B>(), epsilon = tol::<B>());
    }
    assert_eq!(got.len(), want.len());
}

/// Host round trips, zeros, shapes, indices, and the refusal of mis-sized host data.
pub fn memory<B: Backend>(b: &B) {
    let x = t(b, 2, 3, &[1., 2., 3., 4., 5., 6.]);
    close(b, &x, (2, 3), &[1., 2., 3., 4., 5., 6.]);
    close(b, &b.zeros(Shape::new(3, 2)).unwrap(), (3, 2), &[0.; 6]);
    let i = idx(b, &[3, 0, 2]);
    assert_eq!(b.index_len(&i), 3);
    assert_eq!(b.index_to_host(&i).unwrap(), [3, 0, 2]);
    assert!(b.from_f64(&[1., 2., 3.], Shape::new(2, 2)).is_err());
    // A finite value the element type cannot hold is refused; one it can is kept.
    let f32_max = f32::MAX as f64;
    let fits = B::Elem::DTYPE == crate::DType::F64;
    assert_eq!(b.from_f64(&[0.0, 1e300], Shape::row(2)).is_ok(), fits);
    assert_eq!(b.from_f64(&[-1e39], Shape::row(1)).is_ok(), fits);
    close(b, &t(b, 1, 1, &[f32_max]), (1, 1), &[f32_max]);
    // NaN and infinities pass through as they are (the checks that refuse them are elsewhere).
    let odd = b
        .from_f64(&[f64::NAN, f64::INFINITY], Shape::row(2))
        .unwrap();
    let back = b.to_host(&odd).unwrap();
    assert!(back[0].f64().is_nan() && back[1].f64() == f64::INFINITY);
    // Shapes whose element count overflows (and would wrap to 0 or 2⁶⁴ − 2) are refused.
    let half = 1usize << (usize::BITS - 1);
    assert!(b.from_host(&[], Shape::new(half, 2)).is_err());
    assert!(b.zeros(Shape::new(usize::MAX, 2)).is_err());
    assert_eq!(b.scalar(&t(b, 1, 1, &[2.5])).unwrap(), 2.5);
    assert!(b.scalar(&x).is_err());
    // f32 host data goes in exactly, NaN and infinities as they are; a size mismatch is refused.
    let f = b
        .from_f32(&[1.5, -0.1, f32::MAX, f32::NAN], Shape::new(2, 2))
        .unwrap();
    let back = host(b, &f);
    assert_eq!(&back[..3], &[1.5, f64::from(-0.1f32), f64::from(f32::MAX)]);
    assert!(back[3].is_nan());
    assert!(b.from_f32(&[1.0], Shape::new(1, 2)).is_err());
    b.synchronize().unwrap();
}

/// `matmul` with all four transpose combinations, rectangular products around the sizes where a
/// backend may change method, and a shape error.
pub fn matmul<B: Backend>(b: &B) {
    let a = t(b, 2, 3, &[1., 2., 3., 4., 5., 6.]);
    let c = t(b, 3, 2, &[7., 8., 9., 10., 11., 12.]);
    let want = [58., 64., 139., 154.];
    close(b, &b.matmul(&a, false, &c, false).unwrap(), (2, 2), &want);
    let at = t(b, 3, 2, &[1., 4., 2., 5., 3., 6.]);
    let ct = t(b, 2, 3, &[7., 9., 11., 8., 10., 12.]);
    close(b, &b.matmul(&at, true, &c, false).unwrap(), (2, 2), &want);
    close(b, &b.matmul(&a, false, &ct, true).unwrap(), (2, 2), &want);
    close(b, &b.matmul(&at, true, &ct, true).unwrap(), (2, 2), &want);
    // (3, 2) · (2, 3) gives a 3 × 3 product.
    close(
        b,
        &b.matmul(&c, false, &a, false).unwrap(),
        (3, 3),
        &[39., 54., 69., 49., 68., 87., 59., 82., 105.],
    );
    assert!(b.matmul(&a, false, &a, false).is_err());
    // Rectangular products on both sides of the sizes where a backend may change method (the
    // GPU's small-product kernel takes up to 32³ multiply-adds and 256 terms per output): the
    // spiral's products, 32³ and one row more, 256 and 257 terms.
    products(
        b,
        &[
            (30, 2, 10),
            (30, 10, 3),
            (32, 32, 32),
            (33, 32, 32),
            (7, 256, 5),
            (3, 257, 2),
        ],
    );
    let bias = t(b, 1, 2, &[0.5, -1.0]);
    close(
        b,
        &b.affine(&a, &c, &bias).unwrap(),
        (2, 2),
        &[58.5, 63., 139.5, 153.],
    );
    assert!(b.affine(&a, &c, &t(b, 1, 3, &[0., 0., 0.])).is_err());
    assert!(b.affine(&a, &a, &bias).is_err());
}

/// `add_row` and `sum_rows`.
pub fn bias<B: Backend>(b: &B) {
    let a = t(b, 2, 3, &[1., 2., 3., 4., 5., 6.]);
    let r = t(b, 1, 3, &[10., 20., 30.]);
    close(
        b,
        &b.add_row(&a, &r).unwrap(),
        (2, 3),
        &[11., 22., 33., 14., 25., 36.],
    );
    assert!(b.add_row(&a, &t(b, 1, 2, &[1., 2.])).is_err());
    close(b, &b.sum_rows(&a).unwrap(), (1, 3), &[5., 7., 9.]);
    close(
        b,
        &b.mul(&a, &a).unwrap(),
        (2, 3),
        &[1., 4., 9., 16., 25., 36.],
    );
    assert!(b.mul(&a, &r).is_err());
}

/// Sigmoid, ReLU and softmax with their backward passes.
pub fn activations<B: Backend>(b: &B) {
    let x = t(b, 1, 3, &[0., 2., -1.]);
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    let y = b.sigmoid(&x).unwrap();
    close(b, &y, (1, 3), &[0.5, s(2.), s(-1.)]);
    let d = t(b, 1, 3, &[1., 2., 3.]);
    close(
        b,
        &b.sigmoid_backward(&y, &d).unwrap(),
        (1, 3),
        &[0.25, 2. * (1. - s(2.)) * s(2.), 3. * (1. - s(-1.)) * s(-1.)],
    );
    close(b, &b.relu(&x).unwrap(), (1, 3), &[0., 2., 0.]);
    close(b, &b.relu_backward(&x, &d).unwrap(), (1, 3), &[0., 2., 0.]);
    assert!(b.sigmoid_backward(&y, &t(b, 3, 1, &[1., 2., 3.])).is_err());
    // Large logits must not overflow: the row maximum is subtracted first.
    let z = t(b, 2, 3, &[1., 2., 3., 1000., 1000., 1000.]);
    let e = [(-2f64).exp(), (-1f64).exp(), 1.0];
    let sum: f64 = e.iter().sum();
    close(
        b,
        &b.softmax(&z).unwrap(),
        (2, 3),
        &[
            e[0] / sum,
            e[1] / sum,
            e[2] / sum,
            1. / 3.,
            1. / 3.,
            1. / 3.,
        ],
    );
}

/// Softmax cross-entropy and binary cross-entropy, forward and backward, and label checks.
pub fn losses<B: Backend>(b: &B) {
    let z = t(b, 2, 3, &[1., 2., 3., 0., 0., 0.]);
    let lab = idx(b, &[2, 0]);
    let (y, loss) = b.softmax_cross_entropy(&z, &lab).unwrap();
    let e = [(-2f64).exp(), (-1f64).exp(), 1.0];
    let sum: f64 = e.iter().sum();
    let p = [e[0] / sum, e[1] / sum, e[2] / sum];
    let want = -((p[2] + 1e-7).ln() + (1f64 / 3. + 1e-7).ln()) / 2.;
    close(b, &loss, (1, 1), &[want]);
    close(
        b,
        &y,
        (2, 3),
        &[p[0], p[1], p[2], 1. / 3., 1. / 3., 1. / 3.],
    );
    let dx = b
        .softmax_cross_entropy_backward(&y, &lab, B::Elem::of(2.0))
        .unwrap();
    close(
        b,
        &dx,
        (2, 3),
        &[p[0], p[1], p[2] - 1., 1. / 3. - 1., 1. / 3., 1. / 3.],
    );
    assert!(b.softmax_cross_entropy(&z, &idx(b, &[0])).is_err());
    assert!(b.softmax_cross_entropy(&z, &idx(b, &[0, 3])).is_err());

    let yb = t(b, 2, 1, &[0.8, 0.25]);
    let lb = idx(b, &[1, 0]);
    let want = -((0.8f64 + 1e-7).ln() + (0.75f64 + 1e-7).ln()) / 2.;
    close(
        b,
        &b.binary_cross_entropy(&yb, &lb).unwrap(),
        (1, 1),
        &[want],
    );
    close(
        b,
        &b.binary_cross_entropy_backward(&yb, &lb, B::Elem::of(1.0))
            .unwrap(),
        (2, 1),
        &[(0.8 - 1.) / 2., 0.25 / 2.],
    );
    assert!(b.binary_cross_entropy(&yb, &idx(b, &[1, 2])).is_err());
    // One column per row: two-class softmax scores are not a binary loss's input.
    let wide = t(b, 2, 2, &[0.8, 0.2, 0.25, 0.75]);
    for r in [
        b.binary_cross_entropy(&wide, &lb),
        b.binary_cross_entropy_backward(&wide, &lb, B::Elem::of(1.0)),
    ] {
        let e = r.map(drop).unwrap_err().to_string();
        assert!(e.contains("expected an (n, 1) input, got (2, 2)"), "{e}");
    }
}

/// The in-place updates used by optimizers and clipping.
pub fn updates<B: Backend>(b: &B) {
    let e = B::Elem::of;
    let x = t(b, 1, 3, &[1., 2., 3.]);
    let mut y = t(b, 1, 3, &[1., 1., 4.]);
    b.axpy(&mut y, e(2.), &x).unwrap();
    close(b, &y, (1, 3), &[3., 5., 10.]);
    b.axpby(&mut y, e(-1.), &x, e(0.5)).unwrap();
    close(b, &y, (1, 3), &[0.5, 0.5, 2.]);
    b.scale(&mut y, e(4.)).unwrap();
    close(b, &y, (1, 3), &[2., 2., 8.]);
    b.lerp(&mut y, &x, e(0.5)).unwrap();
    close(b, &y, (1, 3), &[1.5, 2., 5.5]);
    b.lerp_square(&mut y, &x, e(0.5)).unwrap();
    close(b, &y, (1, 3), &[1.25, 3., 7.25]);
    b.add_square(&mut y, &x, e(2.)).unwrap();
    close(b, &y, (1, 3), &[3.25, 11., 25.25]);
    let mut p = t(b, 1, 3, &[1., 1., 1.]);
    let den = t(b, 1, 3, &[4., 16., 0.]);
    b.adaptive_step(&mut p, &x, &den, e(0.5), e(1.)).unwrap();
    close(b, &p, (1, 3), &[1. - 0.5 / 3., 1. - 1. / 5., 1. - 1.5]);
    close(b, &b.sum_squares(&x).unwrap(), (1, 1), &[14.]);
    assert!(b.axpy(&mut p, e(1.), &t(b, 3, 1, &[1., 2., 3.])).is_err());

    // The multi-tensor forms, over more tensors than a GPU launch takes at once (8).
    let shapes: Vec<(usize, usize)> = (1..=11).map(|i| (i % 3 + 1, i)).collect();
    let xs_v: Vec<Vec<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(r, c))| ints(r * c, i))
        .collect();
    let ys_v: Vec<Vec<f64>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(r, c))| ints(r * c, i + 20))
        .collect();
    let xs: Vec<B::Tensor> = shapes
        .iter()
        .zip(&xs_v)
        .map(|(&(r, c), v)| t(b, r, c, v))
        .collect();
    let mut ys: Vec<B::Tensor> = shapes
        .iter()
        .zip(&ys_v)
        .map(|(&(r, c), v)| t(b, r, c, v))
        .collect();
    b.axpy_many(e(-2.), ys.iter_mut().zip(&xs)).unwrap();
    for (i, y) in ys.iter().enumerate() {
        let want: Vec<f64> = ys_v[i]
            .iter()
            .zip(&xs_v[i])
            .map(|(y, x)| y - 2. * x)
            .collect();
        close(b, y, shapes[i], &want);
    }
    let want: f64 = xs_v.iter().flatten().map(|v| v * v).sum();
    close(b, &b.sum_squares_many(&xs).unwrap(), (1, 1), &[want]);
    close(b, &b.sum_squares_many([]).unwrap(), (1, 1), &[0.]);
    // A pair of different shapes is refused.
    assert!(b
        .axpy_many(e(1.), ys.iter_mut().zip(xs.iter().skip(1)))
        .is_err());

    // Clipping by the global norm, over the 11 tensors: scaled when the norm is above the
    // threshold, untouched below it; the squared norm comes back either way.
    let squares: f64 = xs_v.iter().flatten().map(|v| v * v).sum();
    let mut gs: Vec<B::Tensor> = xs.clone();
    let max_norm = squares.sqrt() / 4.;
    let rate = max_norm / (squares.sqrt() + 1e-6);
    let sq = b.clip_by_norm(gs.iter_mut(), max_norm).unwrap();
    close(b, &sq, (1, 1), &[squares]);
    for (i, g) in gs.iter().enumerate() {
        let want: Vec<f64> = xs_v[i].iter().map(|v| v * rate).collect();
        close(b, g, shapes[i], &want);
    }
    let mut gs: Vec<B::Tensor> = xs.clone();
    b.clip_by_norm(gs.iter_mut(), squares.sqrt() * 2.).unwrap();
    for (i, g) in gs.iter().enumerate() {
        close(b, g, shapes[i], &xs_v[i]);
    }
    for bad in [0., -1., f64::NAN, f64::INFINITY] {
        assert!(
            b.clip_by_norm(gs.iter_mut(), bad).is_err(),
            "max_norm {bad}"
        );
    }
}

/// What a captured step reads from device memory: indices written in place, Adam's rate
/// worked out from a step count on the device (bit for bit the host's `powi` formula, rounded
/// to the element type), and the adaptive step with its rate from a tensor.
pub fn graph_inputs<B: Backend>(b: &B) {
    let e = B::Elem::of;
    let mut i = idx(b, &[4, 0, 2]);
    b.write_index(&mut i, &[1, 3, 0]).unwrap();
    assert_eq!(b.index_to_host(&i).unwrap(), [1, 3, 0]);
    // Gathers read the new indices.
    let x = t(b, 4, 1, &[10., 11., 12., 13.]);
    close(
        b,
        &b.gather_rows(&x, &i, 0, 3).unwrap(),
        (3, 1),
        &[11., 13., 10.],
    );
    assert!(b.write_index(&mut i, &[1, 2]).is_err(), "another length");

    let (lr, b1, b2) = (0.01, 0.9, 0.999);
    let mut step = b.zeros(Shape::scalar()).unwrap();
    let mut lr_t = b.zeros(Shape::scalar()).unwrap();
    for k in 1..=40 {
        b.adam_rate(&mut step, &mut lr_t, lr, b1, b2).unwrap();
        let want = e(lr * (1.0 - b2.powi(k)).sqrt() / (1.0 - b1.powi(k)));
        assert_eq!(b.to_host(&step).unwrap(), [e(f64::from(k))], "step {k}");
        assert_eq!(b.to_host(&lr_t).unwrap(), [want], "the rate of step {k}");
    }
    let bad = b.zeros(Shape::row(2)).unwrap();
    assert!(b
        .adam_rate(&mut bad.clone(), &mut lr_t, lr, b1, b2)
        .is_err());

    let g = t(b, 1, 3, &[1., 2., 3.]);
    let den = t(b, 1, 3, &[4., 16., 0.]);
    let mut p = t(b, 1, 3, &[1., 1., 1.]);
    let mut q = p.clone();
    b.adaptive_step(&mut p, &g, &den, e(0.5), e(1.)).unwrap();
    let rate = t(b, 1, 1, &[0.5]);
    b.adaptive_step_at(&mut q, &g, &den, &rate, e(1.)).unwrap();
    assert_eq!(b.to_host(&p).unwrap(), b.to_host(&q).unwrap());
    assert!(b.adaptive_step_at(&mut q, &g, &den, &bad, e(1.)).is_err());
}

/// Row gathers, index gathers and argmax (first maximum on ties).
pub fn indexing<B: Backend>(b: &B) {
    let src = t(b, 4, 2, &[0., 1., 10., 11., 20., 21., 30., 31.]);
    let perm = idx(b, &[3, 1, 0, 2]);
    close(
        b,
        &b.gather_rows(&src, &perm, 1, 2).unwrap(),
        (2, 2),
        &[10., 11., 0., 1.],
    );
    assert!(b.gather_rows(&src, &perm, 3, 2).is_err());
    // A range whose end overflows is an error too, not an overflow panic.
    assert!(b.gather_rows(&src, &perm, usize::MAX, 2).is_err());
    assert!(b.gather_index(&idx(b, &[1]), &perm, 1, usize::MAX).is_err());
    assert!(b.gather_rows(&src, &idx(b, &[4]), 0, 1).is_err());
    let labels = idx(b, &[5, 6, 7, 8]);
    let g = b.gather_index(&labels, &perm, 0, 3).unwrap();
    assert_eq!(b.index_to_host(&g).unwrap(), [8, 6, 5]);
    let (bx, bt) = b.gather_batch(&src, &labels, &perm, 1, 3).unwrap();
    close(b, &bx, (3, 2), &[10., 11., 0., 1., 20., 21.]);
    assert_eq!(b.index_to_host(&bt).unwrap(), [6, 5, 7]);
    assert!(b.gather_batch(&src, &labels, &perm, 2, 3).is_err());
    assert!(b.gather_batch(&src, &idx(b, &[5, 6]), &perm, 0, 1).is_err());
    let z = t(b, 3, 3, &[1., 3., 3., -1., -2., -3., 0., 0., 5.]);
    assert_eq!(
        b.index_to_host(&b.argmax_rows(&z).unwrap()).unwrap(),
        [1, 0, 2]
    );
    // An index beyond the source is refused by index gathers as by row gathers.
    assert!(b.gather_index(&labels, &idx(b, &[0, 4]), 0, 2).is_err());
    // Indices made on the device (argmax), of which a device keeps no host copy: gathered
    // there, read back, and used as labels, each from the device's own values.
    let onehot = [
        0., 1., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 0., 0., 0., 1.,
    ];
    let made = b.argmax_rows(&t(b, 4, 4, &onehot)).unwrap(); // [1, 2, 0, 3]
    let g = b.gather_index(&made, &perm, 0, 4).unwrap();
    assert_eq!(b.index_to_host(&g).unwrap(), [3, 2, 1, 0]);
    match b.softmax_cross_entropy(&t(b, 4, 3, &[0.; 12]), &g) {
        Err(Error::LabelOutOfRange {
            label: 3,
            row: 0,
            classes: 3,
        }) => {}
        other => panic!("label 3 of 3 classes: {:?}", other.map(drop)),
    }
    let in_range = b.gather_index(&made, &perm, 1, 3).unwrap(); // [2, 1, 0]
    let (_, loss) = b
        .softmax_cross_entropy(&t(b, 3, 3, &[0.; 9]), &in_range)
        .unwrap();
    close(b, &loss, (1, 1), &[-(1f64 / 3. + 1e-7).ln()]);
}

fn sig(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Values spread over `[-2, 2]`, distinct per `seed`: activations' inputs.
fn spread(n: usize, seed: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 37 + seed * 11) % 41) as f64 / 10.0 - 2.0)
        .collect()
}

/// Row views, row writes, the row scatter-add, tanh and its backward: the sequence layers'
/// plumbing. A view shares its tensor's memory, yet writing to either leaves the other as it
/// was.
pub fn sequences<B: Backend>(b: &B) {
    let xv: Vec<f64> = (0..12).map(f64::from).collect();
    let mut x = t(b, 4, 3, &xv);
    let v = b.rows(&x, 1, 2).unwrap();
    close(b, &v, (2, 3), &xv[3..9]);
    // A view of a view, and the empty view at the end.
    close(b, &b.rows(&v, 1, 1).unwrap(), (1, 3), &xv[6..9]);
    assert_eq!(b.shape(&b.rows(&x, 4, 0).unwrap()), Shape::new(0, 3));
    assert!(b.rows(&x, 3, 2).is_err());
    assert!(b.rows(&x, usize::MAX, 2).is_err());
    // Views are operands like any tensor (here a product and an elementwise op).
    let w = t(b, 3, 1, &[1., 1., 1.]);
    close(
        b,
        &b.matmul(&v, false, &w, false).unwrap(),
        (2, 1),
        &[12., 21.],
    );
    close(
        b,
        &b.mul(&v, &v).unwrap(),
        (2, 3),
        &[9., 16., 25., 36., 49., 64.],
    );
    // Writing rows of x leaves the view as it was; an in-place op on the view leaves x.
    b.write_rows(&mut x, 2, &t(b, 2, 3, &[-1.; 6])).unwrap();
    close(b, &v, (2, 3), &xv[3..9]);
    close(
        b,
        &x,
        (4, 3),
        &[0., 1., 2., 3., 4., 5., -1., -1., -1., -1., -1., -1.],
    );
    let mut v2 = b.rows(&x, 0, 1).unwrap();
    b.scale(&mut v2, B::Elem::of(10.)).unwrap();
    close(b, &v2, (1, 3), &[0., 10., 20.]);
    close(b, &b.rows(&x, 0, 1).unwrap(), (1, 3), &[0., 1., 2.]);
    assert!(b.write_rows(&mut x, 3, &t(b, 2, 3, &[0.; 6])).is_err());
    assert!(b.write_rows(&mut x, 0, &t(b, 1, 2, &[0.; 2])).is_err());

    // np.add.at: repeated indices accumulate.
    let mut dw = b.zeros(Shape::new(4, 2)).unwrap();
    let src = t(b, 3, 2, &[1., 2., 10., 20., 100., 200.]);
    b.scatter_add_rows(&mut dw, &idx(b, &[1, 3, 1]), &src)
        .unwrap();
    close(b, &dw, (4, 2), &[0., 0., 101., 202., 0., 0., 10., 20.]);
    // From a view, into a tensor that already holds values.
    let tail = b.rows(&src, 1, 2).unwrap();
    b.scatter_add_rows(&mut dw, &idx(b, &[0, 0]), &tail)
        .unwrap();
    close(b, &dw, (4, 2), &[110., 220., 101., 202., 0., 0., 10., 20.]);
    assert!(b
        .scatter_add_rows(&mut dw, &idx(b, &[4, 0, 0]), &src)
        .is_err());
    assert!(b.scatter_add_rows(&mut dw, &idx(b, &[0, 0]), &src).is_err());
    assert!(b
        .scatter_add_rows(&mut dw, &idx(b, &[0, 0, 0]), &t(b, 3, 1, &[0.; 3]))
        .is_err());

    let zv = spread(10, 1);
    let z = t(b, 2, 5, &zv);
    let y = b.tanh(&z).unwrap();
    close(
        b,
        &y,
        (2, 5),
        &zv.iter().map(|v| v.tanh()).collect::<Vec<_>>(),
    );
    let dv = spread(10, 2);
    let want: Vec<f64> = zv
        .iter()
        .zip(&dv)
        .map(|(z, d)| d * (1. - z.tanh() * z.tanh()))
        .collect();
    close(
        b,
        &b.tanh_backward(&y, &t(b, 2, 5, &dv)).unwrap(),
        (2, 5),
        &want,
    );
    assert!(b.tanh_backward(&y, &t(b, 5, 2, &dv)).is_err());
    // Large and tiny arguments: tanh saturates at ±1 and is x near 0.
    let edge = t(b, 1, 4, &[30., -30., 1e-8, -0.6]);
    close(
        b,
        &b.tanh(&edge).unwrap(),
        (1, 4),
        &[1., -1., 1e-8, (-0.6f64).tanh()],
    );
}

/// The RNN and LSTM steps, forward and backward, against the book's formulas in `f64`, with
/// operands that are row views (as the time layers pass them) and outputs written over one
/// block of a larger tensor, the other blocks untouched.
pub fn recurrent<B: Backend>(b: &B) {
    let (n, h) = (2, 3);
    let nh = n * h;
    // RNN: block 1 of a 3-block tensor.
    let (hwv, xwv, bv) = (spread(nh, 3), spread(3 * nh, 4), spread(h, 5));
    let xw_all = t(b, 3 * n, h, &xwv);
    let xw = b.rows(&xw_all, n, n).unwrap();
    let mut hs = t(b, 3 * n, h, &[7.; 18]);
    b.rnn_step(&mut hs, n, &t(b, n, h, &hwv), &xw, &t(b, 1, h, &bv))
        .unwrap();
    let out: Vec<f64> = (0..nh)
        .map(|i| ((hwv[i] + xwv[nh + i]) + bv[i % h]).tanh())
        .collect();
    let mut want = vec![7.; 18];
    want[nh..2 * nh].copy_from_slice(&out);
    close(b, &hs, (3 * n, h), &want);
    assert!(b
        .rnn_step(&mut hs, 2 * n, &t(b, n, h, &hwv), &xw, &t(b, 1, h, &bv))
        .is_ok());
    assert!(b
        .rnn_step(&mut hs, 2 * n + 1, &t(b, n, h, &hwv), &xw, &t(b, 1, h, &bv))
        .is_err());
    assert!(b
        .rnn_step(&mut hs, 0, &t(b, n, h, &hwv), &xw, &t(b, 1, 2, &[0.; 2]))
        .is_err());
    let hv = b.rows(&hs, n, n).unwrap();
    let (dhv, dnv) = (spread(nh, 6), spread(nh, 7));
    let mut dts = b.zeros(Shape::new(2 * n, h)).unwrap();
    b.rnn_step_backward(&mut dts, 0, &t(b, n, h, &dhv), None, &hv)
        .unwrap();
    let dn = t(b, n, h, &dnv);
    b.rnn_step_backward(&mut dts, n, &t(b, n, h, &dhv), Some(&dn), &hv)
        .unwrap();
    let want: Vec<f64> = (0..2 * nh)
        .map(|k| {
            let i = k % nh;
            let d = if k < nh { dhv[i] } else { dhv[i] + dnv[i] };
            d * (1. - out[i] * out[i])
        })
        .collect();
    close(b, &dts, (2 * n, h), &want);
    assert!(b
        .rnn_step_backward(
            &mut dts,
            n,
            &t(b, n, h, &dhv),
            Some(&t(b, 1, h, &[0.; 3])),
            &hv
        )
        .is_err());

    // LSTM step 1 of 2 (blocks of n rows): c_prev from block 1 of cs.
    let h4 = 4 * h;
    let (xwv, hwv, bv) = (spread(2 * n * h4, 8), spread(n * h4, 9), spread(h4, 10));
    let cv = spread(3 * nh, 11);
    let xw_all = t(b, 2 * n, h4, &xwv);
    let xw = b.rows(&xw_all, n, n).unwrap();
    let mut hs = t(b, 3 * n, h, &[5.; 18]);
    let mut cs = t(b, 3 * n, h, &cv);
    let mut gates = t(b, 2 * n, h4, &vec![9.; 2 * n * h4]);
    let bias = t(b, 1, h4, &bv);
    b.lstm_step(
        &mut hs,
        &mut cs,
        &mut gates,
        1,
        &xw,
        &t(b, n, h4, &hwv),
        &bias,
    )
    .unwrap();
    let mut g_want = vec![9.; 2 * n * h4];
    let (mut h_want, mut c_want) = (vec![5.; 18], cv.clone());
    for r in 0..n {
        let a = |gate: usize, j: usize| {
            let k = r * h4 + gate * h + j;
            (xwv[n * h4 + k] + hwv[k]) + bv[gate * h + j]
        };
        for j in 0..h {
            let (f, g, i, o) = (sig(a(0, j)), a(1, j).tanh(), sig(a(2, j)), sig(a(3, j)));
            for (gate, v) in [f, g, i, o].into_iter().enumerate() {
                g_want[n * h4 + r * h4 + gate * h + j] = v;
            }
            let c = f * cv[nh + r * h + j] + g * i;
            c_want[2 * nh + r * h + j] = c;
            h_want[2 * nh + r * h + j] = o * c.tanh();
        }
    }
    close(b, &gates, (2 * n, h4), &g_want);
    close(b, &cs, (3 * n, h), &c_want);
    close(b, &hs, (3 * n, h), &h_want);
    // Step 2 would write block 3 of a 3-block state: refused.
    assert!(b
        .lstm_step(
            &mut hs,
            &mut cs,
            &mut gates,
            2,
            &xw,
            &t(b, n, h4, &hwv),
            &bias
        )
        .is_err());
    assert!(b
        .lstm_step(
            &mut hs,
            &mut cs,
            &mut gates,
            0,
            &xw,
            &t(b, n, h4, &hwv),
            &t(b, 1, h, &[0.; 3])
        )
        .is_err());

    let (dhv, dnv, dcv) = (spread(nh, 12), spread(nh, 13), spread(nh, 14));
    let mut da = t(b, 2 * n, h4, &vec![3.; 2 * n * h4]);
    let mut dc = t(b, n, h, &dcv);
    let dn = t(b, n, h, &dnv);
    b.lstm_step_backward(
        &mut da,
        &mut dc,
        1,
        &t(b, n, h, &dhv),
        Some(&dn),
        &cs,
        &gates,
    )
    .unwrap();
    // The book's LSTM backward at step `t`, from `dc_in`: block `t` of `da` and the new `dc`.
    let step_want = |t: usize, dn: Option<&[f64]>, dc_in: &[f64]| {
        let (mut da_t, mut dc_out) = (vec![0.; n * h4], vec![0.; nh]);
        for r in 0..n {
            for j in 0..h {
                let g = |gate: usize| g_want[t * n * h4 + r * h4 + gate * h + j];
                let (f, gg, i, o) = (g(0), g(1), g(2), g(3));
                let k = r * h + j;
                let (c_prev, c) = (c_want[t * nh + k], c_want[(t + 1) * nh + k]);
                let dh = dhv[k] + dn.map_or(0., |d| d[k]);
                let tc = c.tanh();
                let ds = dc_in[k] + (dh * o) * (1. - tc * tc);
                dc_out[k] = ds * f;
                let d = [
                    (ds * c_prev) * (f * (1. - f)),
                    (ds * i) * (1. - gg * gg),
                    (ds * gg) * (i * (1. - i)),
                    (dh * tc) * (o * (1. - o)),
                ];
                for (gate, v) in d.into_iter().enumerate() {
                    da_t[r * h4 + gate * h + j] = v;
                }
            }
        }
        (da_t, dc_out)
    };
    let (da1, dc1) = step_want(1, Some(&dnv), &dcv);
    let mut da_want = vec![3.; 2 * n * h4];
    da_want[n * h4..].copy_from_slice(&da1);
    close(b, &da, (2 * n, h4), &da_want);
    close(b, &dc, (n, h), &dc1);
    // Without dh_next, at step 0 (gates of 9 there, as left unwritten): block 0 of da from dh
    // and the dc of step 1.
    b.lstm_step_backward(&mut da, &mut dc, 0, &t(b, n, h, &dhv), None, &cs, &gates)
        .unwrap();
    let (da0, dc0) = step_want(0, None, &dc1);
    da_want[..n * h4].copy_from_slice(&da0);
    close(b, &da, (2 * n, h4), &da_want);
    close(b, &dc, (n, h), &dc0);
    assert!(b
        .lstm_step_backward(&mut da, &mut dc, 2, &t(b, n, h, &dhv), None, &cs, &gates)
        .is_err());
}

/// The sequence loss: softmax with the mean cross-entropy over the positions not labelled
/// [`IGNORE_LABEL`](crate::IGNORE_LABEL), no `1e-7` in the log, and its backward (ignored rows
/// get no gradient); label checks; rows wide enough for a GPU to spread one over a block.
pub fn masked_loss<B: Backend>(b: &B) {
    use crate::IGNORE_LABEL as IGN;
    for (rows, cols) in [(3, 4), (5, 1000), (70, 600)] {
        let zv: Vec<f64> = (0..rows * cols)
            .map(|i| ((i * 7919) % 23) as f64 / 4.0 - 3.0)
            .collect();
        let labels: Vec<u32> = (0..rows)
            .map(|r| {
                if r % 3 == 1 {
                    IGN
                } else {
                    ((r * 31) % cols) as u32
                }
            })
            .collect();
        let mut y_want = zv.clone();
        for row in y_want.chunks_exact_mut(cols) {
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
            row.iter_mut().for_each(|v| *v = (*v - m).exp() / s);
        }
        let kept: Vec<usize> = (0..rows).filter(|&r| labels[r] != IGN).collect();
        let count = kept.len() as f64;
        let loss_want = -kept
            .iter()
            .map(|&r| y_want[r * cols + labels[r] as usize].ln())
            .sum::<f64>()
            / count;
        let lab = idx(b, &labels);
        let (y, loss) = b
            .softmax_cross_entropy_masked(t(b, rows, cols, &zv), &lab)
            .unwrap();
        close(b, &y, (rows, cols), &y_want);
        let got = b.scalar(&loss).unwrap();
        approx::assert_relative_eq!(got, loss_want, max_relative = 4. * tol::<B>());
        let dx = b
            .softmax_cross_entropy_masked_backward(y, &lab, B::Elem::of(2.0))
            .unwrap();
        let mut dx_want = y_want.clone();
        for r in 0..rows {
            let row = &mut dx_want[r * cols..(r + 1) * cols];
            if labels[r] == IGN {
                row.fill(0.);
                continue;
            }
            row[labels[r] as usize] -= 1.;
            row.iter_mut().for_each(|v| *v = *v * 2.0 / count);
        }
        close(b, &dx, (rows, cols), &dx_want);
    }
    let z = t(b, 2, 3, &[0.; 6]);
    let (_, loss) = b
        .softmax_cross_entropy_masked(z.clone(), &idx(b, &[0, 2]))
        .unwrap();
    close(b, &loss, (1, 1), &[3f64.ln()]);
    assert!(matches!(
        b.softmax_cross_entropy_masked(z.clone(), &idx(b, &[0, 3])),
        Err(Error::LabelOutOfRange {
            label: 3,
            row: 1,
            classes: 3
        })
    ));
    assert!(b
        .softmax_cross_entropy_masked(z.clone(), &idx(b, &[IGN, IGN]))
        .is_err());
    assert!(b
        .softmax_cross_entropy_masked(z.clone(), &idx(b, &[0]))
        .is_err());
    assert!(b
        .softmax_cross_entropy_masked_backward(z.clone(), &idx(b, &[IGN, IGN]), B::Elem::of(1.0))
        .is_err());
    assert!(b
        .softmax_cross_entropy_masked_backward(z, &idx(b, &[0, 5]), B::Elem::of(1.0))
        .is_err());
}

/// Small integers in `[-6, 6]`, spread by `i`: sums and products of a few thousand of them are
/// exact in `f32`, so large results can be compared exactly.
fn ints(n: usize, seed: usize) -> Vec<f64> {
    (0..n)
        .map(|i| ((i * 7919 + seed * 104_729) % 13) as f64 - 6.)
        .collect()
}

/// The naive product `op(a) · op(b)` of row-major host matrices, for reference.
#[allow(clippy::too_many_arguments)]
fn host_matmul(
    a: &[f64],
    ar: usize,
    ac: usize,
    ta: bool,
    b: &[f64],
    bc: usize,
    tb: bool,
    m: usize,
    n: usize,
) -> Vec<f64> {
    let k = if ta { ar } else { ac };
    let at = |i: usize, l: usize| if ta { a[l * ac + i] } else { a[i * ac + l] };
    let bt = |l: usize, j: usize| if tb { b[j * bc + l] } else { b[l * bc + j] };
    let mut out = vec![0.; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|l| at(i, l) * bt(l, j)).sum();
        }
    }
    out
}

/// Sizes that no small test reaches: over a million elements (more than one pass of a GPU
/// grid-stride loop), reductions over more values than a block has threads, rectangular
/// products of every transpose case large enough for a blocked or threaded GEMM, and gathers
/// and row losses over thousands of rows. Integer data make most results exact; the loss sums
/// over 1 023 to 9 000 rows use a looser tolerance, as a sum in `f32` rounds at every one of
/// thousands of additions (f32: 5e-5, 2.5 times the 2.0e-5 measured on the CPU's sequential sum
/// of 9 000 rows; f64: 1e-12; relative). Leaving out one of 1 500 rows would move the sum by
/// about 7e-4.
pub fn large<B: Backend>(b: &B) {
    // 1025 × 1025: 1 050 625 elements.
    let n = 1025;
    let xv = ints(n * n, 1);
    let x = t(b, n, n, &xv);
    let rowv = ints(n, 2);
    let row = t(b, 1, n, &rowv);
    let want: Vec<f64> = xv
        .iter()
        .enumerate()
        .map(|(i, v)| v + rowv[i % n])
        .collect();
    close(b, &b.add_row(&x, &row).unwrap(), (n, n), &want);
    let want: Vec<f64> = xv.iter().map(|v| v * v).collect();
    close(b, &b.mul(&x, &x).unwrap(), (n, n), &want);
    let mut y = b.mul(&x, &x).unwrap();
    b.axpy(&mut y, B::Elem::of(-2.), &x).unwrap();
    let want: Vec<f64> = xv.iter().map(|v| v * v - 2. * v).collect();
    close(b, &y, (n, n), &want);
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    let want: Vec<f64> = xv.iter().map(|&v| s(v)).collect();
    close(b, &b.sigmoid(&x).unwrap(), (n, n), &want);
    let want: Vec<f64> = (0..n)
        .map(|j| (0..n).map(|r| xv[r * n + j]).sum())
        .collect();
    close(b, &b.sum_rows(&x).unwrap(), (1, n), &want);
    let want: f64 = xv.iter().map(|v| v * v).sum();
    close(b, &b.sum_squares(&x).unwrap(), (1, 1), &[want]);

    // Products: every transpose case, shapes that are multiples of nothing.
    products(b, &[(37, 53, 29), (300, 257, 130)]);
    // An affine whose output dwarfs its weights (a vocabulary's scores), and one that does not.
    for (m, k, nn) in [(700, 20, 300), (33, 64, 50)] {
        let (av, wv, bv) = (ints(m * k, 5), ints(k * nn, 6), ints(nn, 7));
        let mut want = host_matmul(&av, m, k, false, &wv, nn, false, m, nn);
        for (i, v) in want.iter_mut().enumerate() {
            *v += bv[i % nn];
        }
        let got = b
            .affine(&t(b, m, k, &av), &t(b, k, nn, &wv), &t(b, 1, nn, &bv))
            .unwrap();
        close(b, &got, (m, nn), &want);
    }

    // Row losses, gathers and argmax over 1 023 to 9 000 rows: around a 1 024-thread block,
    // and on both sides of the 8 192 rows up to which a GPU sums the loss in the loss kernel
    // itself (above, in a separate launch).
    for rows in [1023, 1024, 1025, 1500, 8192, 8193, 9000] {
        large_rows(b, rows);
    }
}

/// `op(a) · op(b)` for each `(m, k, n)` in `shapes` and every transpose case, against the naive
/// host product, on integer data (exact).
fn products<B: Backend>(b: &B, shapes: &[(usize, usize, usize)]) {
    for &(m, k, nn) in shapes {
        let av = ints(m * k, 3);
        let bv = ints(k * nn, 4);
        let want = host_matmul(&av, m, k, false, &bv, nn, false, m, nn);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            // The same matrices, stored transposed where the case says so.
            let a_st: Vec<f64> = if ta {
                (0..k * m).map(|i| av[(i % m) * k + i / m]).collect()
            } else {
                av.clone()
            };
            let b_st: Vec<f64> = if tb {
                (0..nn * k).map(|i| bv[(i % k) * nn + i / k]).collect()
            } else {
                bv.clone()
            };
            let a = if ta {
                t(b, k, m, &a_st)
            } else {
                t(b, m, k, &a_st)
            };
            let bm = if tb {
                t(b, nn, k, &b_st)
            } else {
                t(b, k, nn, &b_st)
            };
            close(b, &b.matmul(&a, ta, &bm, tb).unwrap(), (m, nn), &want);
        }
    }
}

fn large_rows<B: Backend>(b: &B, rows: usize) {
    let zv: Vec<f64> = ints(rows * 3, 5).iter().map(|v| v / 4.).collect();
    let z = t(b, rows, 3, &zv);
    let lv: Vec<u32> = (0..rows as u32).map(|i| (i * 7) % 3).collect();
    let labels = idx(b, &lv);
    let mut p = vec![0.; rows * 3];
    let mut loss = 0.;
    for r in 0..rows {
        let m = zv[r * 3..r * 3 + 3]
            .iter()
            .cloned()
            .fold(f64::MIN, f64::max);
        let e: Vec<f64> = (0..3).map(|j| (zv[r * 3 + j] - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        for j in 0..3 {
            p[r * 3 + j] = e[j] / sum;
        }
        loss -= (p[r * 3 + lv[r] as usize] + 1e-7).ln();
    }
    let (yv, lossv) = b.softmax_cross_entropy(&z, &labels).unwrap();
    close(b, &yv, (rows, 3), &p);
    let f32_like = <B::Elem as num_traits::Float>::epsilon().f64() > 1e-10;
    let sum_tol = if f32_like { 5e-5 } else { 1e-12 };
    approx::assert_relative_eq!(
        b.scalar(&lossv).unwrap(),
        loss / rows as f64,
        max_relative = sum_tol
    );
    let dx = b
        .softmax_cross_entropy_backward(&yv, &labels, B::Elem::of(1.))
        .unwrap();
    let want: Vec<f64> = (0..rows * 3)
        .map(|i| (p[i] - if lv[i / 3] as usize == i % 3 { 1. } else { 0. }) / rows as f64)
        .collect();
    close(b, &dx, (rows, 3), &want);
    let argmax: Vec<u32> = (0..rows)
        .map(|r| {
            let row = &zv[r * 3..r * 3 + 3];
            (1..3).fold(0, |best, j| if row[j] > row[best] { j } else { best }) as u32
        })
        .collect();
    assert_eq!(
        b.index_to_host(&b.argmax_rows(&z).unwrap()).unwrap(),
        argmax
    );
    let perm: Vec<u32> = (0..rows as u32).map(|i| (i * 853) % rows as u32).collect();
    assert_eq!(
        perm.iter().collect::<std::collections::BTreeSet<_>>().len(),
        rows
    );
    let pi = idx(b, &perm);
    let (start, len) = (100, 1300.min(rows - 100));
    let want: Vec<f64> = perm[start..start + len]
        .iter()
        .flat_map(|&r| zv[r as usize * 3..r as usize * 3 + 3].to_vec())
        .collect();
    close(
        b,
        &b.gather_rows(&z, &pi, start, len).unwrap(),
        (len, 3),
        &want,
    );
    let want: Vec<u32> = perm[start..start + len]
        .iter()
        .map(|&r| lv[r as usize])
        .collect();
    assert_eq!(
        b.index_to_host(&b.gather_index(&labels, &pi, start, len).unwrap())
            .unwrap(),
        want
    );
    let (bx, bt) = b.gather_batch(&z, &labels, &pi, start, len).unwrap();
    assert_eq!(
        b.to_host(&bx).unwrap(),
        b.to_host(&b.gather_rows(&z, &pi, start, len).unwrap())
            .unwrap()
    );
    assert_eq!(b.index_to_host(&bt).unwrap(), want);
    let yb = t(
        b,
        rows,
        1,
        &(0..rows)
            .map(|i| (i % 9 + 1) as f64 / 10.)
            .collect::<Vec<_>>(),
    );
    let lb: Vec<u32> = (0..rows as u32).map(|i| i % 2).collect();
    let want: f64 = (0..rows)
        .map(|i| {
            let y = (i % 9 + 1) as f64 / 10.;
            -(if lb[i] == 1 { y + 1e-7 } else { 1. - y + 1e-7 }).ln()
        })
        .sum::<f64>()
        / rows as f64;
    let got = b
        .scalar(&b.binary_cross_entropy(&yb, &idx(b, &lb)).unwrap())
        .unwrap();
    approx::assert_relative_eq!(got, want, max_relative = sum_tol);
}

/// The row-wise ops at every width from 1 to 20 columns (backends specialise narrow rows:
/// the CPU compiles widths up to 16 as constants) and row counts around their blocks (1, 4, 5,
/// 67: the CPU takes the labels' logarithms in blocks of 64 and of 8): softmax, softmax with
/// its loss and backward, bias add, column sums, argmax and row gathers, against a direct f64
/// computation. The loss is a sum over the rows, so its tolerance is 4 times the element's
/// (relative, and absolute for losses near 0).
pub fn widths<B: Backend>(b: &B) {
    for cols in 1..=20 {
        for rows in [1, 4, 5, 67] {
            let zv: Vec<f64> = ints(rows * cols, cols).iter().map(|v| v / 4.).collect();
            let z = t(b, rows, cols, &zv);
            let lv: Vec<u32> = (0..rows).map(|r| ((r * 7 + cols) % cols) as u32).collect();
            let labels = idx(b, &lv);
            let row = |r: usize| &zv[r * cols..(r + 1) * cols];
            let mut p = Vec::with_capacity(rows * cols);
            let mut loss = 0.;
            for r in 0..rows {
                let m = row(r).iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = row(r).iter().map(|v| (v - m).exp()).collect();
                let sum: f64 = e.iter().sum();
                p.extend(e.iter().map(|v| v / sum));
                loss -= (p[r * cols + lv[r] as usize] + 1e-7).ln();
            }
            let shape = (rows, cols);
            close(b, &b.softmax(&z).unwrap(), shape, &p);
            let (y, l) = b.softmax_cross_entropy(&z, &labels).unwrap();
            close(b, &y, shape, &p);
            approx::assert_relative_eq!(
                b.scalar(&l).unwrap(),
                loss / rows as f64,
                max_relative = 4. * tol::<B>(),
                // One column: the loss is -ln(1 + 1e-7), and 1 + 1e-7 rounds to 1 + 2⁻²³ in f32.
                epsilon = 4. * tol::<B>()
            );
            let want: Vec<f64> = (0..rows * cols)
                .map(|i| {
                    let hit = lv[i / cols] as usize == i % cols;
                    (p[i] - if hit { 1. } else { 0. }) / rows as f64
                })
                .collect();
            let dx = b
                .softmax_cross_entropy_backward(&y, &labels, B::Elem::of(1.))
                .unwrap();
            close(b, &dx, shape, &want);
            let biasv: Vec<f64> = (0..cols).map(|j| j as f64 - 2.5).collect();
            let want: Vec<f64> = zv
                .iter()
                .enumerate()
                .map(|(i, v)| v + biasv[i % cols])
                .collect();
            close(
                b,
                &b.add_row(&z, &t(b, 1, cols, &biasv)).unwrap(),
                shape,
                &want,
            );
            let want: Vec<f64> = (0..cols)
                .map(|j| (0..rows).map(|r| zv[r * cols + j]).sum())
                .collect();
            close(b, &b.sum_rows(&z).unwrap(), (1, cols), &want);
            let argmax: Vec<u32> = (0..rows)
                .map(|r| (1..cols).fold(0, |m, j| if row(r)[j] > row(r)[m] { j } else { m }) as u32)
                .collect();
            assert_eq!(
                b.index_to_host(&b.argmax_rows(&z).unwrap()).unwrap(),
                argmax
            );
            let perm: Vec<u32> = (0..rows as u32).rev().collect();
            let want: Vec<f64> = perm
                .iter()
                .flat_map(|&r| row(r as usize).to_vec())
                .collect();
            let g = b.gather_rows(&z, &idx(b, &perm), 0, rows).unwrap();
            close(b, &g, shape, &want);
        }
    }
}

/// Tensors without elements (`0 × n`, `n × 0`, `0 × 0`): every op either gives the empty
/// result its shapes imply or, where NumPy has no answer (the argmax of an empty row, the loss
/// of an empty batch), an error; none panics.
pub fn empty<B: Backend>(b: &B) {
    let one = B::Elem::of(1.);
    for (rows, cols) in [(0, 3), (3, 0), (0, 0)] {
        let s = Shape::new(rows, cols);
        let x = b.zeros(s).unwrap();
        assert_eq!(b.shape(&x), s);
        assert!(b.to_host(&x).unwrap().is_empty());
        let x = b.from_host(&[], s).unwrap();
        let row = b.zeros(Shape::row(cols)).unwrap();
        close(b, &b.add_row(&x, &row).unwrap(), (rows, cols), &[]);
        close(b, &b.mul(&x, &x).unwrap(), (rows, cols), &[]);
        close(b, &b.sum_rows(&x).unwrap(), (1, cols), &vec![0.; cols]);
        close(b, &b.sigmoid(&x).unwrap(), (rows, cols), &[]);
        close(b, &b.sigmoid_backward(&x, &x).unwrap(), (rows, cols), &[]);
        close(b, &b.relu(&x).unwrap(), (rows, cols), &[]);
        close(b, &b.relu_backward(&x, &x).unwrap(), (rows, cols), &[]);
        close(b, &b.softmax(&x).unwrap(), (rows, cols), &[]);
        close(b, &b.sum_squares(&x).unwrap(), (1, 1), &[0.]);
        let mut y = b.zeros(s).unwrap();
        b.axpy(&mut y, one, &x).unwrap();
        b.axpby(&mut y, one, &x, one).unwrap();
        b.scale(&mut y, one).unwrap();
        b.lerp(&mut y, &x, one).unwrap();
        b.lerp_square(&mut y, &x, one).unwrap();
        b.add_square(&mut y, &x, one).unwrap();
        b.adaptive_step(&mut y, &x, &x, one, one).unwrap();
        close(b, &y, (rows, cols), &[]);
        let labels = idx(b, &vec![0; rows]);
        assert!(b.softmax_cross_entropy(&x, &labels).is_err());
        assert!(b.scalar(&x).is_err());
        let argmax = b.argmax_rows(&x);
        if rows > 0 {
            assert!(argmax.is_err(), "argmax of empty rows");
        } else {
            let argmax = argmax.unwrap();
            assert_eq!(b.index_len(&argmax), 0);
            assert!(b.index_to_host(&argmax).unwrap().is_empty());
        }
        // Products with an empty side: (rows × cols) · (cols × 2) and its transposes.
        let w = b.zeros(Shape::new(cols, 2)).unwrap();
        close(
            b,
            &b.matmul(&x, false, &w, false).unwrap(),
            (rows, 2),
            &vec![0.; rows * 2],
        );
        let xt = b.zeros(s.t()).unwrap();
        close(
            b,
            &b.matmul(&xt, true, &w, false).unwrap(),
            (rows, 2),
            &vec![0.; rows * 2],
        );
    }
    let none = idx(b, &[]);
    let src = b.zeros(Shape::new(2, 3)).unwrap();
    close(b, &b.gather_rows(&src, &none, 0, 0).unwrap(), (0, 3), &[]);
    let (bx, bt) = b.gather_batch(&src, &idx(b, &[0, 1]), &none, 0, 0).unwrap();
    assert_eq!((b.shape(&bx), b.index_len(&bt)), (Shape::new(0, 3), 0));
}

/// Sizes that fit a `usize` but no machine's memory: 2⁴⁸ elements (a pebibyte in f32, beyond
/// the address space of today's 64-bit systems), asked for by `zeros` and as the output of an
/// outer product. Each is an error of a resource kind ([`Error::HostMemory`] on the CPU;
/// [`Error::Unsupported`], a size its kernels cannot index, on the GPU; [`Error::Device`] for a
/// device out of memory), not the end of the process, and the backend works on.
pub fn beyond_memory<B: Backend>(b: &B) {
    let side = 1usize << 24;
    let column = b.zeros(Shape::new(side, 1)).unwrap();
    let row = b.zeros(Shape::new(1, side)).unwrap();
    for r in [
        b.zeros(Shape::new(side, side)),
        b.matmul(&column, false, &row, false),
    ] {
        match r {
            Ok(_) => panic!("a tensor of 2⁴⁸ elements was made"),
            // What a backend may answer: no host memory, no device memory, or a size it
            // cannot address; not, say, a shape error for shapes that are fine.
            Err(Error::HostMemory { .. }) | Err(Error::Device(_)) | Err(Error::Unsupported(_)) => {}
            Err(e) => panic!("a tensor of 2⁴⁸ elements: unexpected kind of error: {e}"),
        }
    }
    close(
        b,
        &b.matmul(&row, false, &column, false).unwrap(),
        (1, 1),
        &[0.],
    );
}

/// Runs the suite as `#[test]`s, one per group of ops, for a backend made by `$make`
/// (a closure returning `Option<B>`; `None` skips, with a printed notice).
#[macro_export]
macro_rules! conformance_tests {
    ($name:ident, $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_tests!(@each $make;
                memory, matmul, bias, activations, losses, updates, graph_inputs, indexing,
                sequences, recurrent, masked_loss, empty, widths, large, beyond_memory);
        }
    };
    (@each $make:expr; $($op:ident),*) => {
        $(
            #[test]
            fn $op() {
                match ($make)() {
                    Some(b) => $crate::conformance::$op(&b),
                    // Written to stderr directly, past the test harness's capture, so that a
                    // skipped test is seen as skipped.
                    None => {
                        use std::io::Write as _;
                        let _ = writeln!(
                            std::io::stderr(),
                            "SKIPPED conformance::{}::{}: backend unavailable",
                            module_path!(),
                            stringify!($op)
                        );
                    }
                }
            }
        )*
    };
}
