//! Loss layers: SoftmaxWithLoss (multi-class) and SigmoidWithLoss (binary).

use crate::cached;
use nn_core::{Backend, Error, Float, Result};

/// Targets for a loss layer: class indices, or one-hot rows (reduced to indices by `argmax`,
/// as the book's `if t.size == y.size: t = t.argmax(axis=1)`).
#[derive(Debug)]
pub enum Labels<'a, B: Backend> {
    /// One class index per row.
    Index(&'a B::Index),
    /// One-hot rows, the same shape as the scores.
    OneHot(&'a B::Tensor),
}

impl<B: Backend> Clone for Labels<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend> Copy for Labels<'_, B> {}

impl<B: Backend> Labels<'_, B> {
    /// The labels as class indices, checking one-hot rows against the scores' shape.
    pub fn to_index(self, backend: &B, scores: &B::Tensor) -> Result<B::Index> {
        match self {
            Labels::Index(i) => Ok(i.clone()),
            Labels::OneHot(t) => {
                let (ts, ss) = (backend.shape(t), backend.shape(scores));
                if ts != ss {
                    return Err(Error::shape(
                        "Labels::OneHot",
                        format!("one-hot targets {ts} for scores {ss}"),
                    ));
                }
                backend.argmax_rows(t)
            }
        }
    }
}

/// A layer that ends the network in a loss: `forward` takes targets and returns a `1 × 1`
/// loss on the device; `backward` starts the gradient flow.
pub trait LossLayer<B: Backend>: std::fmt::Debug {
    /// The mean loss over the batch, as a `1 × 1` tensor.
    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor>;
    /// `dL/dx`, scaled by `dout` (1 in the book).
    fn backward(&mut self, dout: B::Elem) -> Result<B::Tensor>;
}

/// Softmax followed by the cross-entropy error, with the book's `+ 1e-7` inside the log;
/// backward `(y - t) / batch_size`.
#[derive(Debug, Clone)]
pub struct SoftmaxWithLoss<B: Backend> {
    backend: B,
    cache: Option<(B::Tensor, B::Index)>,
}

impl<B: Backend> SoftmaxWithLoss<B> {
    /// A softmax-with-loss layer on `backend`.
    pub fn new(backend: &B) -> Self {
        SoftmaxWithLoss {
            backend: backend.clone(),
            cache: None,
        }
    }
}

impl<B: Backend> LossLayer<B> for SoftmaxWithLoss<B> {
    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor> {
        let t = t.to_index(&self.backend, x)?;
        let (y, loss) = self.backend.softmax_cross_entropy(x, &t)?;
        self.cache = Some((y, t));
        Ok(loss)
    }
    fn backward(&mut self, dout: B::Elem) -> Result<B::Tensor> {
        let (y, t) = cached(&self.cache, "SoftmaxWithLoss")?;
        self.backend.softmax_cross_entropy_backward(y, t, dout)
    }
}

/// Sigmoid followed by the binary cross-entropy (scores `n × 1`, labels 0 or 1);
/// backward `(y - t) / batch_size`. A model ending in it has one output column and tells two
/// classes apart ([`crate::Model::classes`]).
#[derive(Debug, Clone)]
pub struct SigmoidWithLoss<B: Backend> {
    backend: B,
    cache: Option<(B::Tensor, B::Index)>,
}

impl<B: Backend> SigmoidWithLoss<B> {
    /// A sigmoid-with-loss layer on `backend`.
    pub fn new(backend: &B) -> Self {
        SigmoidWithLoss {
            backend: backend.clone(),
            cache: None,
        }
    }
}

impl<B: Backend> LossLayer<B> for SigmoidWithLoss<B> {
    fn forward(&mut self, x: &B::Tensor, t: Labels<'_, B>) -> Result<B::Tensor> {
        let t = match t {
            Labels::Index(i) => i.clone(),
            Labels::OneHot(_) => {
                return Err(Error::invalid(
                    "SigmoidWithLoss takes 0/1 class indices, not one-hot rows",
                ))
            }
        };
        let y = self.backend.sigmoid(x)?;
        let loss = self.backend.binary_cross_entropy(&y, &t)?;
        self.cache = Some((y, t));
        Ok(loss)
    }
    fn backward(&mut self, dout: B::Elem) -> Result<B::Tensor> {
        let (y, t) = cached(&self.cache, "SigmoidWithLoss")?;
        self.backend.binary_cross_entropy_backward(y, t, dout)
    }
}

/// `1` in the element type, the book's default `dout`.
pub(crate) fn one<E: Float>() -> E {
    E::of(1.0)
}
