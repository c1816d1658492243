//! Each optimizer against the book's NumPy code: three updates of one parameter, lr = 0.1.
//!
//! Values from (in `../shared/reference`):
//! ```text
//! python3 -c "
//! import numpy as np, book_ch01 as b
//! gs=[np.array([[0.1,-0.2],[0.3,0.05]]),np.array([[-0.4,0.2],[0.0,1.5]]),np.array([[0.25,0.25],[-0.75,0.5]])]
//! for name in ['sgd','momentum','nesterov','adagrad','rmsprop','adam']:
//!     p=np.array([[0.5,-1.0],[2.0,0.1]])
//!     o=b.OPTIMIZERS[name](lr=0.1)
//!     for g in gs: o.update([p],[g.copy()])
//!     print(name, p.ravel().tolist())"
//! ```
//! Tolerance: 1e-14 relative in f64 (the same formulas in the same order), 1e-5 in f32.

use approx::assert_relative_eq;
use nn_core::{Backend, ParamStore, Shape};
use nn_cpu::Cpu;
use nn_optim::{by_name, AdaGrad, Adam, Momentum, Nesterov, Optimizer, RmsProp, Sgd};

const GRADS: [[f64; 4]; 3] = [
    [0.1, -0.2, 0.3, 0.05],
    [-0.4, 0.2, 0.0, 1.5],
    [0.25, 0.25, -0.75, 0.5],
];

const EXPECTED: [(&str, [f64; 4]); 6] = [
    ("sgd", [0.505, -1.025, 2.045, -0.10500000000000002]),
    ("momentum", [0.5239, -1.0088, 1.9937, -0.24855000000000008]),
    (
        "nesterov",
        [
            0.5288590000000001,
            -1.0546280000000001,
            2.080397,
            -0.5718255000000001,
        ],
    ),
    (
        "adagrad",
        [
            0.4451667525011918,
            -1.0369373034280358,
            1.9928476909275967,
            -0.13155125910309726,
        ],
    ),
    (
        "rmsprop",
        [
            -0.05005676048576568,
            -1.3739449134997546,
            1.92975575505786,
            -2.216933088337328,
        ],
    ),
    (
        "adam",
        [
            0.45979657455287043,
            -0.9506359309535518,
            1.8730964581456278,
            -0.1529734158197993,
        ],
    ),
];

fn run<E: nn_cpu::CpuFloat>(name: &str) -> Vec<f64> {
    run_with(by_name::<Cpu<E>>(name, 0.1).unwrap())
}

/// The parameter after `opt`'s three updates with [`GRADS`].
fn run_with<E: nn_cpu::CpuFloat>(mut opt: impl Optimizer<Cpu<E>>) -> Vec<f64> {
    let b = Cpu::<E>::new();
    let s = Shape::new(2, 2);
    let mut store = ParamStore::new();
    let id = store
        .add("p", b.from_f64(&[0.5, -1.0, 2.0, 0.1], s).unwrap())
        .unwrap();
    for g in GRADS {
        store.zero_grads();
        store
            .accumulate_grad(&b, id, b.from_f64(&g, s).unwrap())
            .unwrap();
        opt.update(&b, &mut store).unwrap();
    }
    b.to_host(store.value(id))
        .unwrap()
        .iter()
        .map(|v| v.f64())
        .collect()
}

#[test]
fn f64_matches_numpy() {
    for (name, want) in EXPECTED {
        for (g, w) in run::<f64>(name).iter().zip(want) {
            assert_relative_eq!(*g, w, max_relative = 1e-14);
        }
    }
}

#[test]
fn f32_matches_numpy() {
    for (name, want) in EXPECTED {
        for (g, w) in run::<f32>(name).iter().zip(want) {
            assert_relative_eq!(*g, w, max_relative = 1e-5);
        }
    }
}

#[test]
fn bad_hyperparameters_are_refused() {
    for lr in [-0.1, f64::NAN, f64::INFINITY] {
        let err = by_name::<Cpu<f32>>("sgd", lr).err().expect("refused");
        assert!(err.to_string().contains("learning rate"), "{err}");
    }
    let err = by_name::<Cpu<f32>>("adamw", 0.1).err().expect("refused");
    assert!(err.to_string().contains("expected one of sgd"), "{err}");
    type B = Cpu<f32>;
    let msg = |r: Result<(), nn_core::Error>| r.unwrap_err().to_string();
    let fraction =
        |what: &str, v: f64| format!("invalid argument: {what} must be in [0, 1), got {v}");
    assert_eq!(
        msg(Momentum::<B>::new(0.1)
            .and_then(|o| o.with_momentum(1.5))
            .map(drop)),
        fraction("momentum", 1.5)
    );
    assert_eq!(
        msg(Nesterov::<B>::new(0.1)
            .and_then(|o| o.with_momentum(1.0))
            .map(drop)),
        fraction("momentum", 1.0)
    );
    assert_eq!(
        msg(RmsProp::<B>::new(0.1)
            .and_then(|o| o.with_decay_rate(-0.1))
            .map(drop)),
        fraction("decay rate", -0.1)
    );
    assert_eq!(
        msg(Adam::<B>::new(0.1)
            .and_then(|o| o.with_betas(f64::NAN, 0.999))
            .map(drop)),
        fraction("beta1", f64::NAN)
    );
    assert_eq!(
        msg(Adam::<B>::new(0.1)
            .and_then(|o| o.with_betas(0.9, 1.0))
            .map(drop)),
        fraction("beta2", 1.0)
    );
    // The constructors with every hyperparameter give what they were given.
    let n = Nesterov::<B>::new(0.5).unwrap().with_momentum(0.8).unwrap();
    let r = RmsProp::<B>::new(0.5)
        .unwrap()
        .with_decay_rate(0.8)
        .unwrap();
    let a = Adam::<B>::new(0.5).unwrap().with_betas(0.8, 0.7).unwrap();
    assert_eq!((n.lr, n.momentum, r.lr, r.decay_rate), (0.5, 0.8, 0.5, 0.8));
    assert_eq!((a.lr, a.beta1, a.beta2), (0.5, 0.8, 0.7));
}

#[test]
fn parameters_without_gradient_are_left_alone() {
    let b = Cpu::<f64>::new();
    let mut store = ParamStore::new();
    let id = store
        .add("p", b.from_f64(&[1.0], Shape::scalar()).unwrap())
        .unwrap();
    by_name::<Cpu<f64>>("adam", 0.1)
        .unwrap()
        .update(&b, &mut store)
        .unwrap();
    assert_eq!(b.to_host(store.value(id)).unwrap(), [1.0]);
}

/// `Default` gives the book's defaults, and `new(lr)` those with another learning rate: with
/// the reference's 0.1, each optimizer matches the NumPy run (which used the book's defaults
/// for everything but `lr`).
#[test]
fn defaults_are_the_books() {
    type B = Cpu<f64>;
    let runs: [(&str, Vec<f64>); 6] = [
        ("sgd", run_with::<f64>(Sgd::new(0.1).unwrap())),
        ("momentum", run_with(Momentum::<B>::new(0.1).unwrap())),
        ("nesterov", run_with(Nesterov::<B>::new(0.1).unwrap())),
        ("adagrad", run_with(AdaGrad::<B>::new(0.1).unwrap())),
        ("rmsprop", run_with(RmsProp::<B>::new(0.1).unwrap())),
        ("adam", run_with(Adam::<B>::new(0.1).unwrap())),
    ];
    for ((name, got), (want_name, want)) in runs.iter().zip(EXPECTED) {
        assert_eq!(*name, want_name);
        for (g, w) in got.iter().zip(want) {
            assert_relative_eq!(*g, w, max_relative = 1e-14);
        }
    }
    assert_eq!(Sgd::default().lr, 0.01);
    assert_eq!(AdaGrad::<B>::default().lr, 0.01);
    assert_eq!(Adam::<B>::default().lr, 0.001);
    assert!(Adam::<B>::new(-1.0).is_err() && RmsProp::<B>::new(f64::NAN).is_err());
}

/// Hyperparameters are public fields; one set out of range after construction is refused at
/// the next `update`, before any parameter changes.
#[test]
fn hyperparameters_changed_later_are_checked_at_update() {
    type B = Cpu<f64>;
    let b = B::new();
    let mut store = ParamStore::new();
    let id = store
        .add("p", b.from_f64(&[1.0, 2.0], Shape::row(2)).unwrap())
        .unwrap();
    store
        .accumulate_grad(&b, id, b.from_f64(&[0.5, 0.5], Shape::row(2)).unwrap())
        .unwrap();
    let sgd = Sgd { lr: f64::NAN };
    let mut momentum = Momentum::<B>::default();
    momentum.momentum = 1.0;
    let mut nesterov = Nesterov::<B>::default();
    nesterov.lr = -1.0;
    let mut adagrad = AdaGrad::<B>::default();
    adagrad.lr = f64::INFINITY;
    let mut rmsprop = RmsProp::<B>::default();
    rmsprop.decay_rate = f64::NAN;
    let mut adam = Adam::<B>::default();
    adam.beta2 = -0.5;
    let cases: [(Box<dyn Optimizer<B>>, &str); 6] = [
        (
            Box::new(sgd),
            "learning rate must be a finite number ≥ 0, got NaN",
        ),
        (Box::new(momentum), "momentum must be in [0, 1), got 1"),
        (
            Box::new(nesterov),
            "learning rate must be a finite number ≥ 0, got -1",
        ),
        (
            Box::new(adagrad),
            "learning rate must be a finite number ≥ 0, got inf",
        ),
        (Box::new(rmsprop), "decay rate must be in [0, 1), got NaN"),
        (Box::new(adam), "beta2 must be in [0, 1), got -0.5"),
    ];
    for (mut opt, want) in cases {
        let err = opt.update(&b, &mut store).expect_err("refused");
        assert!(err.to_string().contains(want), "{err}");
        assert_eq!(b.to_host(store.value(id)).unwrap(), [1.0, 2.0]);
    }
}

/// A learning rate that is finite in f64 but not in the compute type is refused at `update`
/// rather than turning the weights into infinities.
#[test]
fn a_learning_rate_beyond_f32_is_refused_in_f32() {
    fn store_with_grad<E: nn_cpu::CpuFloat>(b: &Cpu<E>) -> ParamStore<Cpu<E>> {
        let mut store = ParamStore::new();
        let id = store
            .add("p", b.from_f64(&[1.0], Shape::scalar()).unwrap())
            .unwrap();
        store
            .accumulate_grad(b, id, b.from_f64(&[0.5], Shape::scalar()).unwrap())
            .unwrap();
        store
    }
    let b = Cpu::<f32>::new();
    let mut store = store_with_grad(&b);
    for name in nn_optim::NAMES {
        let mut opt = by_name::<Cpu<f32>>(name, 1e39).unwrap();
        let err = opt.update(&b, &mut store).expect_err(name);
        assert_eq!(
            err.to_string(),
            "invalid argument: learning rate 1e39 is beyond the range of f32",
            "{name}"
        );
        assert_eq!(
            b.to_host(store.value(store.ids().next().unwrap())).unwrap(),
            [1.0]
        );
    }
    // In f64 the same rate is a (huge) number like any other.
    let b = Cpu::<f64>::new();
    let mut store = store_with_grad(&b);
    Sgd::new(1e39).unwrap().update(&b, &mut store).unwrap();
    assert_eq!(
        b.to_host(store.value(store.ids().next().unwrap())).unwrap(),
        [1.0 - 0.5e39]
    );
}

/// An optimizer's state belongs to the parameters of its first update: given another model's
/// (or a copy's), it refuses before changing anything; SGD keeps no state and takes any.
#[test]
fn state_belongs_to_the_first_parameters() {
    let b = Cpu::<f64>::new();
    let with_grad = || {
        let mut store = ParamStore::new();
        let id = store
            .add("p", b.from_f64(&[1.0], Shape::scalar()).unwrap())
            .unwrap();
        store
            .accumulate_grad(&b, id, b.from_f64(&[0.5], Shape::scalar()).unwrap())
            .unwrap();
        store
    };
    let (mut first, mut other) = (with_grad(), with_grad());
    for name in nn_optim::NAMES {
        let mut opt = by_name::<Cpu<f64>>(name, 0.1).unwrap();
        opt.update(&b, &mut first).unwrap();
        opt.update(&b, &mut first).unwrap();
        let before = b.to_host(other.value(other.ids().next().unwrap())).unwrap();
        let result = opt.update(&b, &mut other);
        let mut copy = first.clone();
        let on_copy = opt.update(&b, &mut copy);
        if name == "sgd" {
            assert!(result.is_ok() && on_copy.is_ok());
            continue;
        }
        let e = result.expect_err(name).to_string();
        assert!(e.contains("another model"), "{name}: {e}");
        assert!(on_copy.is_err(), "{name}: a copy is another model");
        assert_eq!(
            b.to_host(other.value(other.ids().next().unwrap())).unwrap(),
            before
        );
    }
}
