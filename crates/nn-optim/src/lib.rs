//! `nn-optim`: the book's optimizers (`common/optimizer.py`), for any [`Backend`].
//!
//! Each optimizer updates every parameter that received a gradient this step, with the book's
//! formulas evaluated in the book's order (so f64 runs match NumPy to rounding). Per-parameter
//! state (velocities, squared sums, moments) is created lazily, indexed by [`ParamId`], and
//! belongs to the parameters of the first update: an optimizer given another model's is an
//! error. Every optimizer is made the same way: `X::new(lr)` is the book's `X(lr=...)`, the
//! other hyperparameters at the book's values (`with_momentum`, `with_decay_rate`,
//! `with_betas` change them), and `Default` is the book's `X()`. They are public fields,
//! checked when the optimizer is made and at every update.
//!
//! ```
//! use nn_core::{Backend, ParamStore, Shape};
//! use nn_cpu::Cpu;
//! use nn_optim::{Optimizer, Sgd};
//! let b = Cpu::<f64>::new();
//! let mut store = ParamStore::new();
//! let w = store.add("w", b.from_f64(&[1.0, 2.0], Shape::row(2))?)?;
//! store.accumulate_grad(&b, w, b.from_f64(&[0.5, -1.0], Shape::row(2))?)?;
//! Sgd::new(0.1)?.update(&b, &mut store)?;
//! assert_eq!(b.to_host(store.value(w))?, [0.95, 2.1]);
//! # Ok::<(), nn_core::Error>(())
//! ```
#![warn(missing_docs, missing_debug_implementations)]

use nn_core::{Backend, Error, Float, ParamId, ParamStore, Result};

/// Updates parameters from their gradients.
pub trait Optimizer<B: Backend> {
    /// One step over every parameter with a gradient this step (the book's `update(params, grads)`).
    fn update(&mut self, backend: &B, params: &mut ParamStore<B>) -> Result<()>;
}

fn check_rate(what: &str, v: f64) -> Result<()> {
    if !v.is_finite() || v < 0.0 {
        return Err(Error::invalid(format!(
            "{what} must be a finite number ≥ 0, got {v}"
        )));
    }
    Ok(())
}

fn check_fraction(what: &str, v: f64) -> Result<()> {
    if !(0.0..1.0).contains(&v) {
        return Err(Error::invalid(format!("{what} must be in [0, 1), got {v}")));
    }
    Ok(())
}

/// An optimizer's hyperparameters, checked when it is made and again at every `update`: they
/// are public fields (a schedule may lower `lr` between epochs), so a value set to NaN or out of
/// range is refused before it reaches the weights.
trait Hyper: Sized {
    /// The learning rate.
    fn lr(&self) -> f64;
    /// Every hyperparameter within its range.
    fn check(&self) -> Result<()>;
    fn checked(self) -> Result<Self> {
        self.check().map(|()| self)
    }
    /// [`Hyper::check`], and the learning rate within the range of the compute type `E`
    /// (`1e39` is infinite in f32): what `update` runs first.
    fn ready<E: Float>(&self) -> Result<()> {
        self.check()?;
        let lr = self.lr();
        if E::of(lr).f64().is_finite() {
            return Ok(());
        }
        Err(Error::invalid(format!(
            "learning rate {lr:e} is beyond the range of {}",
            E::DTYPE
        )))
    }
}

/// Per-parameter state tensors, created as zeros of the parameter's shape on first use, and
/// the parameters they belong to: the store of the first update (its
/// [`uid`](ParamStore::uid)). An update of another store is an error, not a mix of two
/// models' state.
#[derive(Debug, Clone)]
struct State<B: Backend> {
    slots: Vec<Option<B::Tensor>>,
    owner: Option<u64>,
}

impl<B: Backend> Default for State<B> {
    fn default() -> Self {
        State {
            slots: Vec::new(),
            owner: None,
        }
    }
}

impl<B: Backend> State<B> {
    /// Ties the state to `params` on the first update; refuses any other store after.
    fn bind(&mut self, params: &ParamStore<B>) -> Result<()> {
        match self.owner {
            None => {
                self.owner = Some(params.uid());
                Ok(())
            }
            Some(uid) if uid == params.uid() => Ok(()),
            Some(_) => Err(Error::invalid(
                "this optimizer's state belongs to the parameters of another model (or of a \
                 copy): make one optimizer per model",
            )),
        }
    }

    fn get(&mut self, b: &B, id: ParamId, like: &B::Tensor) -> Result<&mut B::Tensor> {
        let i = id.index();
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        let slot = &mut self.slots[i];
        if slot.is_none() {
            *slot = Some(b.zeros(b.shape(like))?);
        }
        Ok(slot.as_mut().expect("just filled"))
    }
}

/// Visits every parameter with a gradient this step.
fn each<B: Backend>(
    params: &mut ParamStore<B>,
    mut f: impl FnMut(ParamId, &mut B::Tensor, &B::Tensor) -> Result<()>,
) -> Result<()> {
    let ids: Vec<ParamId> = params.ids().collect();
    for id in ids {
        if let Some((p, g)) = params.value_and_grad_mut(id) {
            f(id, p, g)?;
        }
    }
    Ok(())
}

/// Stochastic gradient descent: `param -= lr · grad`.
#[derive(Debug, Clone)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
}

impl Sgd {
    /// SGD with learning rate `lr` (the book's `SGD(lr=...)`; [`Default`] gives its 0.01).
    pub fn new(lr: f64) -> Result<Self> {
        Sgd { lr }.checked()
    }
}

impl Hyper for Sgd {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn check(&self) -> Result<()> {
        check_rate("learning rate", self.lr)
    }
}

/// The book's default, `lr = 0.01`.
impl Default for Sgd {
    fn default() -> Self {
        Sgd { lr: 0.01 }
    }
}

impl<B: Backend> Optimizer<B> for Sgd {
    fn update(&mut self, b: &B, params: &mut ParamStore<B>) -> Result<()> {
        self.ready::<B::Elem>()?;
        // One call for all parameters: one launch on a GPU.
        b.axpy_many(B::Elem::of(-self.lr), params.values_and_grads_mut())
    }
}

/// Momentum SGD: `v = momentum · v - lr · grad; param += v`.
#[derive(Debug, Clone)]
pub struct Momentum<B: Backend> {
    /// Learning rate.
    pub lr: f64,
    /// Momentum coefficient.
    pub momentum: f64,
    v: State<B>,
}

impl<B: Backend> Momentum<B> {
    /// Momentum with learning rate `lr` and the book's coefficient 0.9 (the book's
    /// `Momentum(lr=...)`; [`Default`] gives its 0.01 and 0.9).
    pub fn new(lr: f64) -> Result<Self> {
        Momentum {
            lr,
            ..Self::default()
        }
        .checked()
    }

    /// The same with another momentum coefficient, in `[0, 1)`.
    pub fn with_momentum(self, momentum: f64) -> Result<Self> {
        Momentum { momentum, ..self }.checked()
    }
}

impl<B: Backend> Hyper for Momentum<B> {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn check(&self) -> Result<()> {
        check_rate("learning rate", self.lr)?;
        check_fraction("momentum", self.momentum)
    }
}

/// The book's defaults, `lr = 0.01`, `momentum = 0.9`.
impl<B: Backend> Default for Momentum<B> {
    fn default() -> Self {
        Momentum {
            lr: 0.01,
            momentum: 0.9,
            v: State::default(),
        }
    }
}

impl<B: Backend> Optimizer<B> for Momentum<B> {
    fn update(&mut self, b: &B, params: &mut ParamStore<B>) -> Result<()> {
        self.ready::<B::Elem>()?;
        self.v.bind(params)?;
        let (m, lr) = (B::Elem::of(self.momentum), B::Elem::of(-self.lr));
        each(params, |id, p, g| {
            let v = self.v.get(b, id, p)?;
            b.axpby(v, lr, g, m)?;
            b.axpy(p, B::Elem::of(1.0), v)
        })
    }
}

/// Nesterov's accelerated gradient, as the book writes it
/// (<https://arxiv.org/abs/1212.0901>): `v = m·v - lr·g; p += m²·v; p -= (1 + m)·lr·g`.
#[derive(Debug, Clone)]
pub struct Nesterov<B: Backend> {
    /// Learning rate.
    pub lr: f64,
    /// Momentum coefficient.
    pub momentum: f64,
    v: State<B>,
}

impl<B: Backend> Nesterov<B> {
    /// Nesterov with learning rate `lr` and the book's coefficient 0.9 (the book's
    /// `Nesterov(lr=...)`; [`Default`] gives its 0.01 and 0.9).
    pub fn new(lr: f64) -> Result<Self> {
        Nesterov {
            lr,
            ..Self::default()
        }
        .checked()
    }

    /// The same with another momentum coefficient, in `[0, 1)`.
    pub fn with_momentum(self, momentum: f64) -> Result<Self> {
        Nesterov { momentum, ..self }.checked()
    }
}

impl<B: Backend> Hyper for Nesterov<B> {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn check(&self) -> Result<()> {
        check_rate("learning rate", self.lr)?;
        check_fraction("momentum", self.momentum)
    }
}

/// The book's defaults, `lr = 0.01`, `momentum = 0.9`.
impl<B: Backend> Default for Nesterov<B> {
    fn default() -> Self {
        Nesterov {
            lr: 0.01,
            momentum: 0.9,
            v: State::default(),
        }
    }
}

impl<B: Backend> Optimizer<B> for Nesterov<B> {
    fn update(&mut self, b: &B, params: &mut ParamStore<B>) -> Result<()> {
        self.ready::<B::Elem>()?;
        self.v.bind(params)?;
        let m = self.momentum;
        let e = B::Elem::of;
        each(params, |id, p, g| {
            let v = self.v.get(b, id, p)?;
            b.scale(v, e(m))?;
            b.axpy(v, e(-self.lr), g)?;
            b.axpy(p, e(m * m), v)?;
            b.axpy(p, e(-((1.0 + m) * self.lr)), g)
        })
    }
}

/// AdaGrad: `h += g²; param -= lr · g / (sqrt(h) + 1e-7)`.
#[derive(Debug, Clone)]
pub struct AdaGrad<B: Backend> {
    /// Learning rate.
    pub lr: f64,
    h: State<B>,
}

impl<B: Backend> AdaGrad<B> {
    /// AdaGrad with learning rate `lr` (the book's `AdaGrad(lr=...)`; [`Default`] gives its
    /// 0.01).
    pub fn new(lr: f64) -> Result<Self> {
        AdaGrad {
            lr,
            ..Self::default()
        }
        .checked()
    }
}

impl<B: Backend> Hyper for AdaGrad<B> {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn check(&self) -> Result<()> {
        check_rate("learning rate", self.lr)
    }
}

/// The book's default, `lr = 0.01`.
impl<B: Backend> Default for AdaGrad<B> {
    fn default() -> Self {
        AdaGrad {
            lr: 0.01,
            h: State::default(),
        }
    }
}

impl<B: Backend> Optimizer<B> for AdaGrad<B> {
    fn update(&mut self, b: &B, params: &mut ParamStore<B>) -> Result<()> {
        self.ready::<B::Elem>()?;
        self.h.bind(params)?;
        let e = B::Elem::of;
        each(params, |id, p, g| {
            let h = self.h.get(b, id, p)?;
            b.add_square(h, g, e(1.0))?;
            b.adaptive_step(p, g, h, e(self.lr), e(1e-7))
        })
    }
}

/// RMSprop: `h = decay · h + (1 - decay) · g²; param -= lr · g / (sqrt(h) + 1e-7)`.
#[derive(Debug, Clone)]
pub struct RmsProp<B: Backend> {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the running mean of squares.
    pub decay_rate: f64,
    h: State<B>,
}

impl<B: Backend> RmsProp<B> {
    /// RMSprop with learning rate `lr` and the book's decay rate 0.99 (the book's
    /// `RMSprop(lr=...)`; [`Default`] gives its 0.01 and 0.99).
    pub fn new(lr: f64) -> Result<Self> {
        RmsProp {
            lr,
            ..Self::default()
        }
        .checked()
    }

    /// The same with another decay rate, in `[0, 1)`.
    pub fn with_decay_rate(self, decay_rate: f64) -> Result<Self> {
        RmsProp { decay_rate, ..self }.checked()
    }
}

impl<B: Backend> Hyper for RmsProp<B> {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn check(&self) -> Result<()> {
        check_rate("learning rate", self.lr)?;
        check_fraction("decay rate", self.decay_rate)
    }
}

/// The book's defaults, `lr = 0.01`, `decay_rate = 0.99`.
impl<B: Backend> Default for RmsProp<B> {
    fn default() -> Self {
        RmsProp {
            lr: 0.01,
            decay_rate: 0.99,
            h: State::default(),
        }
    }
}

impl<B: Backend> Optimizer<B> for RmsProp<B> {
    fn update(&mut self, b: &B, params: &mut ParamStore<B>) -> Result<()> {
        self.ready::<B::Elem>()?;
        self.h.bind(params)?;
        let e = B::Elem::of;
        each(params, |id, p, g| {
            let h = self.h.get(b, id, p)?;
            b.scale(h, e(self.decay_rate))?;
            b.add_square(h, g, e(1.0 - self.decay_rate))?;
            b.adaptive_step(p, g, h, e(self.lr), e(1e-7))
        })
    }
}

/// Adam (<http://arxiv.org/abs/1412.6980v8>) as the book writes it: bias correction folded into
/// `lr_t = lr · sqrt(1 - β₂ᵗ) / (1 - β₁ᵗ)`, and `1e-7` in the denominator.
#[derive(Debug, Clone)]
pub struct Adam<B: Backend> {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// The step count and that step's rate, `1 × 1` tensors on the device (made on the first
    /// update): a captured step reads and advances them there.
    rate: Option<(B::Tensor, B::Tensor)>,
    m: State<B>,
    v: State<B>,
}

impl<B: Backend> Adam<B> {
    /// Adam with learning rate `lr` and the book's moment decays 0.9 and 0.999 (the book's
    /// `Adam(lr=...)`; [`Default`] gives its 0.001, 0.9 and 0.999).
    pub fn new(lr: f64) -> Result<Self> {
        Adam {
            lr,
            ..Self::default()
        }
        .checked()
    }

    /// The same with other moment decays, each in `[0, 1)`.
    pub fn with_betas(self, beta1: f64, beta2: f64) -> Result<Self> {
        Adam {
            beta1,
            beta2,
            ..self
        }
        .checked()
    }
}

impl<B: Backend> Hyper for Adam<B> {
    fn lr(&self) -> f64 {
        self.lr
    }
    fn check(&self) -> Result<()> {
        check_rate("learning rate", self.lr)?;
        check_fraction("beta1", self.beta1)?;
        check_fraction("beta2", self.beta2)
    }
}

/// The book's defaults, `lr = 0.001`, `beta1 = 0.9`, `beta2 = 0.999`.
impl<B: Backend> Default for Adam<B> {
    fn default() -> Self {
        Adam {
            lr: 0.001,
            beta1: 0.9,
            beta2: 0.999,
            rate: None,
            m: State::default(),
            v: State::default(),
        }
    }
}

impl<B: Backend> Optimizer<B> for Adam<B> {
    fn update(&mut self, b: &B, params: &mut ParamStore<B>) -> Result<()> {
        self.ready::<B::Elem>()?;
        self.m.bind(params)?;
        self.v.bind(params)?;
        let (step, lr_t) = match &mut self.rate {
            Some(r) => r,
            None => {
                let zero = || b.zeros(nn_core::Shape::scalar());
                self.rate.insert((zero()?, zero()?))
            }
        };
        // lr_t = lr · sqrt(1 - β₂ᵗ) / (1 - β₁ᵗ), with t counted on the device.
        b.adam_rate(step, lr_t, self.lr, self.beta1, self.beta2)?;
        let lr_t = &*lr_t;
        let e = B::Elem::of;
        let (m, v) = (&mut self.m, &mut self.v);
        each(params, |id, p, g| {
            let mi = m.get(b, id, p)?;
            b.lerp(mi, g, e(1.0 - self.beta1))?;
            let vi = v.get(b, id, p)?;
            b.lerp_square(vi, g, e(1.0 - self.beta2))?;
            b.adaptive_step_at(p, mi, vi, lr_t, e(1e-7))
        })
    }
}

/// The optimizers by name, for command lines: `sgd`, `momentum`, `nesterov`, `adagrad`,
/// `rmsprop`, `adam`, each with the book's defaults apart from `lr`.
pub fn by_name<B: Backend>(name: &str, lr: f64) -> Result<Box<dyn Optimizer<B>>> {
    Ok(match name {
        "sgd" => Box::new(Sgd::new(lr)?),
        "momentum" => Box::new(Momentum::new(lr)?),
        "nesterov" => Box::new(Nesterov::new(lr)?),
        "adagrad" => Box::new(AdaGrad::new(lr)?),
        "rmsprop" => Box::new(RmsProp::new(lr)?),
        "adam" => Box::new(Adam::new(lr)?),
        _ => {
            return Err(Error::invalid(format!(
                "unknown optimizer {name:?}: expected one of {}",
                NAMES.join(", ")
            )))
        }
    })
}

/// Names accepted by [`by_name`].
pub const NAMES: [&str; 6] = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"];

impl<B: Backend, O: Optimizer<B> + ?Sized> Optimizer<B> for Box<O> {
    fn update(&mut self, backend: &B, params: &mut ParamStore<B>) -> Result<()> {
        (**self).update(backend, params)
    }
}
