//! `nn-layers`: the book's layers, its two-layer net and its RNN language models, for any
//! [`Backend`].
//!
//! Every layer keeps its parameters' ids (`params`) and, after `backward`, their gradients are
//! in the model's [`ParamStore`] (`grads`), as in the book's
//! `common/layers.py`. Layers never look inside a tensor: they call backend ops.
//!
//! ```
//! use nn_core::{Backend, NumpyRng, Shape};
//! use nn_cpu::Cpu;
//! use nn_layers::{Labels, Model, Module, TwoLayerNet};
//!
//! let b = Cpu::<f64>::new();
//! let mut rng = NumpyRng::new(1984);
//! let mut net = TwoLayerNet::new(&b, 2, 10, 3, &mut rng)?;
//! let x = b.from_f64(&[0.1, 0.2, -0.3, 0.4], Shape::new(2, 2))?;
//! let t = b.index_from_host(&[0, 2])?;
//! let loss = net.forward(&x, Labels::Index(&t))?;
//! net.backward()?;
//! assert!((b.scalar(&loss)? - 3f64.ln()).abs() < 1e-2); // near-uniform at the start
//! # Ok::<(), nn_core::Error>(())
//! ```
#![warn(missing_docs, missing_debug_implementations)]

mod activation;
mod affine;
mod loss;
mod model;
mod rnnlm;
mod sequential;
pub mod time;

pub use activation::{Relu, Sigmoid, Softmax};
pub use affine::{Affine, MatMul};
pub use loss::{Labels, LossLayer, SigmoidWithLoss, SoftmaxWithLoss};
pub use model::{Model, Module, TwoLayerNet};
pub use rnnlm::{LanguageModel, RnnLanguageModel, Rnnlm, SimpleRnnlm};
pub use sequential::Sequential;
pub use time::{
    Embedding, Lstm, Recurrent, Rnn, TimeEmbedding, TimeLstm, TimeRnn, TimeSoftmaxWithLoss,
};

use nn_core::{Backend, Error, ParamId, ParamStore, Result};

/// A layer: `forward`, `backward`, and the ids of its parameters.
pub trait Layer<B: Backend>: std::fmt::Debug {
    /// Computes the output and keeps what `backward` needs.
    fn forward(&mut self, params: &ParamStore<B>, x: &B::Tensor) -> Result<B::Tensor>;
    /// Given `dL/dout`, adds the parameters' gradients into `params` and returns `dL/dx`.
    fn backward(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<B::Tensor>;
    /// As [`Layer::backward`] for a first layer, whose `dL/dx` nobody needs: layers with a
    /// matrix product skip computing it.
    fn backward_params_only(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<()> {
        self.backward(params, dout).map(drop)
    }
    /// The ids of this layer's parameters (the book's `params`).
    fn params(&self) -> Vec<ParamId> {
        Vec::new()
    }
    /// This step's gradients of [`Layer::params`], in the same order (the book's `grads`).
    fn grads<'s>(&self, store: &'s ParamStore<B>) -> Vec<Option<&'s B::Tensor>> {
        self.params().into_iter().map(|id| store.grad(id)).collect()
    }
}

/// The cached value of a forward pass, or the error of calling `backward` without one.
pub(crate) fn cached<'a, T>(slot: &'a Option<T>, layer: &str) -> Result<&'a T> {
    slot.as_ref()
        .ok_or_else(|| Error::invalid(format!("{layer}: backward called before forward")))
}
