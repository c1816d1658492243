//! Parameter-free layers: Sigmoid, ReLU, Softmax.

use crate::{cached, Layer};
use nn_core::{Backend, Float, ParamStore, Result, Shape};

/// `1 / (1 + exp(-x))`; backward `dout · (1 - out) · out`.
#[derive(Debug, Clone)]
pub struct Sigmoid<B: Backend> {
    backend: B,
    out: Option<B::Tensor>,
}

impl<B: Backend> Sigmoid<B> {
    /// A sigmoid layer on `backend`.
    pub fn new(backend: &B) -> Self {
        Sigmoid {
            backend: backend.clone(),
            out: None,
        }
    }
}

impl<B: Backend> Layer<B> for Sigmoid<B> {
    fn forward(&mut self, _: &ParamStore<B>, x: &B::Tensor) -> Result<B::Tensor> {
        let out = self.backend.sigmoid(x)?;
        self.out = Some(out.clone());
        Ok(out)
    }
    fn backward(&mut self, _: &mut ParamStore<B>, dout: &B::Tensor) -> Result<B::Tensor> {
        self.backend
            .sigmoid_backward(cached(&self.out, "Sigmoid")?, dout)
    }
}

/// `max(x, 0)`; backward passes `dout` where `x > 0`.
#[derive(Debug, Clone)]
pub struct Relu<B: Backend> {
    backend: B,
    x: Option<B::Tensor>,
}

impl<B: Backend> Relu<B> {
    /// A ReLU layer on `backend`.
    pub fn new(backend: &B) -> Self {
        Relu {
            backend: backend.clone(),
            x: None,
        }
    }
}

impl<B: Backend> Layer<B> for Relu<B> {
    fn forward(&mut self, _: &ParamStore<B>, x: &B::Tensor) -> Result<B::Tensor> {
        self.x = Some(x.clone());
        self.backend.relu(x)
    }
    fn backward(&mut self, _: &mut ParamStore<B>, dout: &B::Tensor) -> Result<B::Tensor> {
        self.backend.relu_backward(cached(&self.x, "Relu")?, dout)
    }
}

/// Row-wise softmax (the book's `Softmax` layer, used for prediction). Its backward is
/// `y · (dout - Σ(dout · y))` per row; training goes through [`SoftmaxWithLoss`](crate::SoftmaxWithLoss).
#[derive(Debug, Clone)]
pub struct Softmax<B: Backend> {
    backend: B,
    out: Option<B::Tensor>,
}

impl<B: Backend> Softmax<B> {
    /// A softmax layer on `backend`.
    pub fn new(backend: &B) -> Self {
        Softmax {
            backend: backend.clone(),
            out: None,
        }
    }
}

impl<B: Backend> Layer<B> for Softmax<B> {
    fn forward(&mut self, _: &ParamStore<B>, x: &B::Tensor) -> Result<B::Tensor> {
        let out = self.backend.softmax(x)?;
        self.out = Some(out.clone());
        Ok(out)
    }
    /// The book's `dx = y·dout; dx -= y · sum(dx, axis=1)`, the row sums and their broadcast
    /// done as products with a ones vector.
    fn backward(&mut self, _: &mut ParamStore<B>, dout: &B::Tensor) -> Result<B::Tensor> {
        let b = &self.backend;
        let y = cached(&self.out, "Softmax")?;
        let mut dx = b.mul(y, dout)?;
        let ones = b.from_f64(&vec![1.0; b.shape(y).cols], Shape::row(b.shape(y).cols))?;
        let sums = b.matmul(&dx, false, &ones, true)?;
        let spread = b.matmul(&sums, false, &ones, false)?;
        b.axpy(&mut dx, B::Elem::of(-1.0), &b.mul(y, &spread)?)?;
        Ok(dx)
    }
}
