//! Models: [`Module`] (a backend and parameters), the [`Model`] trait the trainer drives, and
//! the book's [`TwoLayerNet`].

use crate::Labels;
use nn_core::{Backend, Error, NumpyRng, ParamStore, Result};

/// What every model has: a backend and its parameters in one [`ParamStore`]. Optimizers,
/// clipping and weight files need nothing more, so they take a classifier ([`Model`]) and a
/// language model ([`LanguageModel`](crate::LanguageModel)) alike.
pub trait Module<B: Backend> {
    /// The backend the model lives on.
    fn backend(&self) -> &B;
    /// The parameters and their gradients.
    fn params(&self) -> &ParamStore<B>;
    /// The parameters, mutable (for optimizers and loading).
    fn params_mut(&mut self) -> &mut ParamStore<B>;
}

/// A boxed module is a module, as a boxed model is a model.
impl<B: Backend, M: Module<B> + ?Sized> Module<B> for Box<M> {
    fn backend(&self) -> &B {
        (**self).backend()
    }
    fn params(&self) -> &ParamStore<B> {
        (**self).params()
    }
    fn params_mut(&mut self) -> &mut ParamStore<B> {
        (**self).params_mut()
    }
}

/// What a trainer needs from a classifier: prediction, a loss and gradients, on top of its
/// parameters ([`Module`]).
///
/// Most models are a list of layers and a loss layer: build those as a
/// [`Sequential`](crate::Sequential) (the book's two-layer net with ReLU is five lines there).
/// A model that needs more (several inputs, weights shared in other ways) implements this
/// trait: it keeps its parameters in one [`ParamStore`] and its layers in fields, runs them in
/// order in `predict`, and back in reverse order in `backward`, starting from the loss layer
/// with `dout = 1` as the book does. Here the same ReLU net written by hand:
///
/// ```
/// use nn_core::{Backend, Float, ParamStore, Result, Shape};
/// use nn_layers::{Affine, Labels, Layer, LossLayer, Model, Module, Relu, SoftmaxWithLoss};
///
/// struct ReluNet<B: Backend> {
///     backend: B,
///     store: ParamStore<B>,
///     affine1: Affine<B>,
///     relu: Relu<B>,
///     affine2: Affine<B>,
///     loss: SoftmaxWithLoss<B>,
/// }
///
/// impl<B: Backend> ReluNet<B> {
///     /// Weights from `w1` (`2 × 4`) and `w2` (`4 × 3`), biases zero.
///     fn new(b: &B, w1: &[f64], w2: &[f64]) -> Result<Self> {
///         let mut store = ParamStore::new();
///         let (w1, w2) = (b.from_f64(w1, Shape::new(2, 4))?, b.from_f64(w2, Shape::new(4, 3))?);
///         let affine1 = Affine::new(b, &mut store, "layers.0", w1, b.zeros(Shape::row(4))?)?;
///         let affine2 = Affine::new(b, &mut store, "layers.2", w2, b.zeros(Shape::row(3))?)?;
///         let (relu, loss) = (Relu::new(b), SoftmaxWithLoss::new(b));
///         Ok(ReluNet { backend: b.clone(), store, affine1, relu, affine2, loss })
///     }
/// }
///
/// impl<B: Backend> Module<B> for ReluNet<B> {
///     fn backend(&self) -> &B { &self.backend }
///     fn params(&self) -> &ParamStore<B> { &self.store }
///     fn params_mut(&mut self) -> &mut ParamStore<B> { &mut self.store }
/// }
///
/// impl<B: Backend> Model<B> for ReluNet<B> {
///     fn predict(&mut self, x: &B::Tensor) -> Result<B::Tensor> {
///         let h = self.affine1.forward(&self.store, x)?;
///         let h = self.relu.forward(&self.store, &h)?;
///         self.affine2.forward(&self.store, &h)
///     }
///     fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor> {
///         let score = self.predict(x)?;
///         self.loss.forward(&score, t)
///     }
///     fn backward(&mut self) -> Result<()> {
///         self.store.zero_grads();
///         let d = self.loss.backward(B::Elem::of(1.0))?;
///         let d = self.affine2.backward(&mut self.store, &d)?;
///         let d = self.relu.backward(&mut self.store, &d)?;
///         self.affine1.backward_params_only(&mut self.store, &d)
///     }
///     fn input_size(&self) -> usize { 2 }
///     fn output_size(&self) -> usize { 3 }
/// }
///
/// // One forward and backward pass on the CPU: every parameter now has its gradient.
/// let b = nn_cpu::Cpu::<f64>::new();
/// let w1: Vec<f64> = (0..8).map(|i| 0.1 * i as f64 - 0.35).collect();
/// let w2: Vec<f64> = (0..12).map(|i| 0.05 * i as f64 - 0.3).collect();
/// let mut net = ReluNet::new(&b, &w1, &w2)?;
/// let x = b.from_f64(&[0.5, -0.2, 0.1, 0.9], Shape::new(2, 2))?;
/// let t = b.index_from_host(&[2, 0])?;
/// let loss = net.forward(&x, Labels::Index(&t))?;
/// net.backward()?;
/// assert!(b.scalar(&loss)? > 0.0);
/// assert!(net.params().ids().all(|id| net.params().grad(id).is_some()));
/// # Ok::<(), nn_core::Error>(())
/// ```
pub trait Model<B: Backend>: Module<B> {
    /// Scores for a batch `x` (`n × input_size`), before the softmax (or, for one output
    /// column, the sigmoid).
    fn predict(&mut self, x: &B::Tensor) -> Result<B::Tensor>;
    /// The mean loss over the batch, as a `1 × 1` tensor on the device.
    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor>;
    /// Gradients of the last `forward`'s loss, written into [`Module::params`] in place of the
    /// last step's, as the book's `backward` overwrites `grads`. This is the one place that
    /// starts a step's gradients afresh (trainers and hand-written loops rely on it): begin
    /// with [`ParamStore::zero_grads`], after which the layers add into what this step writes.
    fn backward(&mut self) -> Result<()>;
    /// Width of an input row.
    fn input_size(&self) -> usize;
    /// Number of output scores per row.
    fn output_size(&self) -> usize;
    /// Number of classes the model tells apart: [`Model::output_size`], except that one
    /// output column is a binary classifier (the logit of class 1, as [`crate::SigmoidWithLoss`]
    /// takes it), so 2. The `Trainer` checks a data set's classes against this, and
    /// `nn_train::eval` predicts class 1 where such a score is above 0 (the sigmoid above 0.5)
    /// and the `argmax` of the scores otherwise.
    fn classes(&self) -> usize {
        match self.output_size() {
            1 => 2,
            n => n,
        }
    }
}

/// A boxed model is a model, so that one chosen at run time (`Box<dyn Model<B>>`) goes to the
/// trainer, the evaluation and the weight files as any other.
impl<B: Backend, M: Model<B> + ?Sized> Model<B> for Box<M> {
    fn predict(&mut self, x: &B::Tensor) -> Result<B::Tensor> {
        (**self).predict(x)
    }
    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor> {
        (**self).forward(x, t)
    }
    fn backward(&mut self) -> Result<()> {
        (**self).backward()
    }
    fn input_size(&self) -> usize {
        (**self).input_size()
    }
    fn output_size(&self) -> usize {
        (**self).output_size()
    }
    fn classes(&self) -> usize {
        (**self).classes()
    }
}

/// The book's `TwoLayerNet`: Affine → Sigmoid → Affine, with SoftmaxWithLoss, a
/// [`Sequential`](crate::Sequential) of those layers.
///
/// Weights start as `0.01 · randn`, biases as zeros, drawn from the given stream in the book's
/// order (W1, then W2), so a seeded net equals NumPy's. Parameters are named `layers.0.W`,
/// `layers.0.b`, `layers.2.W`, `layers.2.b` after the book's layer list.
#[derive(Debug)]
pub struct TwoLayerNet<B: Backend> {
    net: crate::Sequential<B>,
    hidden: usize,
}

impl<B: Backend> TwoLayerNet<B> {
    /// A net of `input → hidden → output` units, initialised from `rng`. `output` is at least
    /// 2: a softmax over one class learns nothing (a binary classifier is one output column
    /// with [`crate::SigmoidWithLoss`]; see [`Model::classes`]).
    pub fn new(
        backend: &B,
        input: usize,
        hidden: usize,
        output: usize,
        rng: &mut NumpyRng,
    ) -> Result<Self> {
        for (what, n) in [("input", input), ("hidden", hidden), ("output", output)] {
            if n == 0 {
                return Err(Error::invalid(format!(
                    "TwoLayerNet: {what} size must be at least 1"
                )));
            }
        }
        if output == 1 {
            return Err(Error::invalid(
                "TwoLayerNet: output size must be at least 2: a softmax over one class learns \
                 nothing (for two classes, give 2 outputs, or write a model with one output and \
                 SigmoidWithLoss)",
            ));
        }
        let net = crate::Sequential::new(backend, input)?
            .affine(hidden, rng)?
            .sigmoid()
            .affine(output, rng)?
            .softmax_with_loss();
        Ok(TwoLayerNet { net, hidden })
    }

    /// Number of hidden units.
    pub fn hidden_size(&self) -> usize {
        self.hidden
    }
}

impl<B: Backend> Module<B> for TwoLayerNet<B> {
    fn backend(&self) -> &B {
        self.net.backend()
    }
    fn params(&self) -> &ParamStore<B> {
        self.net.params()
    }
    fn params_mut(&mut self) -> &mut ParamStore<B> {
        self.net.params_mut()
    }
}

impl<B: Backend> Model<B> for TwoLayerNet<B> {
    fn predict(&mut self, x: &B::Tensor) -> Result<B::Tensor> {
        self.net.predict(x)
    }
    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor> {
        self.net.forward(x, t)
    }
    fn backward(&mut self) -> Result<()> {
        self.net.backward()
    }
    fn input_size(&self) -> usize {
        self.net.input_size()
    }
    fn output_size(&self) -> usize {
        self.net.output_size()
    }
}
