//! [`Sequential`]: a model made of a list of layers and a loss layer, as the book builds its
//! models (`self.layers`, `self.loss_layer`).

use crate::loss::one;
use crate::{
    Affine, Labels, Layer, LossLayer, Model, Module, Relu, Sigmoid, SigmoidWithLoss,
    SoftmaxWithLoss,
};
use nn_core::backend::check;
use nn_core::{Backend, Error, NumpyRng, ParamStore, Result, Shape};

/// Layers run forward in order and backward in reverse, then a loss layer: the book's models.
/// Parameters are named after the layer's place in the list, as the book's `layers` index
/// them: `layers.{i}.W`, `layers.{i}.b`.
///
/// The book's two-layer net with ReLU in place of the sigmoid (`TwoLayerNet` is the sigmoid
/// one), trained by the `Trainer` or a hand-written loop like any model:
///
/// ```
/// use nn_core::{Backend, NumpyRng, Shape};
/// use nn_cpu::Cpu;
/// use nn_layers::{Labels, Model, Module, Sequential};
///
/// let b = Cpu::<f64>::new();
/// let mut rng = NumpyRng::new(1984);
/// let mut net = Sequential::new(&b, 2)?
///     .affine(10, &mut rng)? // layers.0: W = 0.01 · randn(2, 10), b = 0
///     .relu() //                layers.1
///     .affine(3, &mut rng)? //  layers.2
///     .softmax_with_loss();
/// let x = b.from_f64(&[0.5, -0.2, 0.1, 0.9], Shape::new(2, 2))?;
/// let t = b.index_from_host(&[2, 0])?;
/// let loss = net.forward(&x, Labels::Index(&t))?;
/// net.backward()?;
/// assert!(b.scalar(&loss)? > 0.0);
/// assert!(net.params().ids().all(|id| net.params().grad(id).is_some()));
/// assert_eq!(net.params().iter().map(|(_, p)| p.name()).collect::<Vec<_>>(),
///            ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b"]);
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// Any [`Layer`] goes in with [`layer`](Self::layer); a model that needs more than a list
/// (several inputs, weights shared in other ways) implements [`Model`] itself.
#[derive(Debug)]
pub struct Sequential<B: Backend> {
    backend: B,
    store: ParamStore<B>,
    layers: Vec<Box<dyn Layer<B> + Send + Sync>>,
    loss: Option<Box<dyn LossLayer<B> + Send + Sync>>,
    input: usize,
    width: usize,
}

impl<B: Backend> Sequential<B> {
    /// An empty model taking rows `input` wide.
    pub fn new(backend: &B, input: usize) -> Result<Self> {
        if input == 0 {
            return Err(Error::invalid(
                "Sequential: the input width must be at least 1",
            ));
        }
        Ok(Sequential {
            backend: backend.clone(),
            store: ParamStore::new(),
            layers: Vec::new(),
            loss: None,
            input,
            width: input,
        })
    }

    /// Adds an `Affine` layer of `out` units, its weights `0.01 · randn(in, out)` drawn from
    /// `rng` (the book's `weight_init_std = 0.01`) and its bias zeros.
    pub fn affine(self, out: usize, rng: &mut NumpyRng) -> Result<Self> {
        if out == 0 {
            return Err(Error::invalid(
                "Sequential: an affine layer needs at least 1 unit",
            ));
        }
        let shape = Shape::new(self.width, out);
        let n = check::elements("Sequential::affine", shape)?;
        // Drawn into a buffer reserved first, so that a width beyond the machine's memory is
        // an error rather than the end of the process.
        let mut v = check::host_vec(n, || format!("Sequential::affine's {shape} weights"))?;
        v.extend((0..n).map(|_| 0.01 * rng.randn()));
        let w = self.backend.from_f64(&v, shape)?;
        let b = self.backend.zeros(Shape::row(out))?;
        self.affine_with(w, b)
    }

    /// Adds an `Affine` layer with the given weights (`in × out`) and bias (`1 × out`).
    pub fn affine_with(self, w: B::Tensor, b: B::Tensor) -> Result<Self> {
        let s = self.backend.shape(&w);
        if s.rows != self.width {
            return Err(Error::shape(
                "Sequential::affine_with",
                format!("weights {s} after a layer {} wide", self.width),
            ));
        }
        self.layer(s.cols, |backend, store, name| {
            Affine::new(backend, store, name, w, b)
        })
    }

    /// Adds a `Sigmoid` layer.
    pub fn sigmoid(self) -> Self {
        let (w, layer) = (self.width, Sigmoid::new(&self.backend));
        self.push(Box::new(layer), w)
    }

    /// Adds a `Relu` layer.
    pub fn relu(self) -> Self {
        let (w, layer) = (self.width, Relu::new(&self.backend));
        self.push(Box::new(layer), w)
    }

    /// Adds a layer of yours whose output is `out` wide, made by `make(backend, store, name)`
    /// so that it can register its parameters under `name` (`layers.{i}`).
    pub fn layer<L: Layer<B> + Send + Sync + 'static>(
        mut self,
        out: usize,
        make: impl FnOnce(&B, &mut ParamStore<B>, &str) -> Result<L>,
    ) -> Result<Self> {
        let name = format!("layers.{}", self.layers.len());
        let layer = make(&self.backend, &mut self.store, &name)?;
        Ok(self.push(Box::new(layer), out))
    }

    fn push(mut self, layer: Box<dyn Layer<B> + Send + Sync>, out: usize) -> Self {
        self.layers.push(layer);
        self.width = out;
        self
    }

    /// Ends the model in `loss`.
    pub fn with_loss(mut self, loss: impl LossLayer<B> + Send + Sync + 'static) -> Self {
        self.loss = Some(Box::new(loss));
        self
    }

    /// Ends the model in `SoftmaxWithLoss` (the book's classifiers).
    pub fn softmax_with_loss(self) -> Self {
        let loss = SoftmaxWithLoss::new(&self.backend);
        self.with_loss(loss)
    }

    /// Ends the model in `SigmoidWithLoss` (a binary classifier of one output column).
    pub fn sigmoid_with_loss(self) -> Self {
        let loss = SigmoidWithLoss::new(&self.backend);
        self.with_loss(loss)
    }

    /// Number of layers (the loss layer not counted).
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl<B: Backend> Module<B> for Sequential<B> {
    fn backend(&self) -> &B {
        &self.backend
    }
    fn params(&self) -> &ParamStore<B> {
        &self.store
    }
    fn params_mut(&mut self) -> &mut ParamStore<B> {
        &mut self.store
    }
}

impl<B: Backend> Model<B> for Sequential<B> {
    fn predict(&mut self, x: &B::Tensor) -> Result<B::Tensor> {
        let s = self.backend.shape(x);
        if s.cols != self.input {
            return Err(Error::shape(
                "Sequential.predict",
                format!(
                    "input {s} has {} columns; the model takes {}",
                    s.cols, self.input
                ),
            ));
        }
        let mut layers = self.layers.iter_mut();
        let Some(first) = layers.next() else {
            return Ok(x.clone());
        };
        let mut h = first.forward(&self.store, x)?;
        for layer in layers {
            h = layer.forward(&self.store, &h)?;
        }
        Ok(h)
    }

    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor> {
        let score = self.predict(x)?;
        match &mut self.loss {
            Some(loss) => loss.forward(&score, t),
            None => Err(Error::invalid(
                "Sequential: the model has no loss layer (end it with softmax_with_loss, \
                 sigmoid_with_loss or with_loss)",
            )),
        }
    }

    fn backward(&mut self) -> Result<()> {
        self.store.zero_grads();
        let loss = self
            .loss
            .as_mut()
            .ok_or_else(|| Error::invalid("Sequential: the model has no loss layer"))?;
        let mut d = loss.backward(one())?;
        // The first layer's dx would go nowhere: layers with a product skip it.
        for (i, layer) in self.layers.iter_mut().enumerate().rev() {
            if i == 0 {
                return layer.backward_params_only(&mut self.store, &d);
            }
            d = layer.backward(&mut self.store, &d)?;
        }
        Ok(())
    }

    fn input_size(&self) -> usize {
        self.input
    }
    fn output_size(&self) -> usize {
        self.width
    }
}
