//! Layers with a weight matrix: Affine (`x·W + b`) and MatMul (`x·W`, or `x·Wᵀ` for tied weights).

use crate::{cached, Layer};
use nn_core::{Backend, ParamId, ParamStore, Result};

/// `x · W + b`. Backward: `dx = dout · Wᵀ`, `dW = xᵀ · dout`, `db = Σ_rows dout`.
#[derive(Debug, Clone)]
pub struct Affine<B: Backend> {
    backend: B,
    w: ParamId,
    b: ParamId,
    x: Option<B::Tensor>,
}

impl<B: Backend> Affine<B> {
    /// Registers `W` (`in × out`) and `b` (`1 × out`) in `store` as `{name}.W` and `{name}.b`.
    pub fn new(
        backend: &B,
        store: &mut ParamStore<B>,
        name: &str,
        w: B::Tensor,
        b: B::Tensor,
    ) -> Result<Self> {
        nn_core::backend::check::row("Affine::new", backend.shape(&w), backend.shape(&b))?;
        let w = store.add(format!("{name}.W"), w)?;
        let b = store.add(format!("{name}.b"), b)?;
        Ok(Self::from_ids(backend, w, b))
    }

    /// An Affine layer over parameters already in the store (shared with other layers).
    pub fn from_ids(backend: &B, w: ParamId, b: ParamId) -> Self {
        Affine {
            backend: backend.clone(),
            w,
            b,
            x: None,
        }
    }

    fn param_grads(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<()> {
        let be = &self.backend;
        let x = cached(&self.x, "Affine")?;
        let dw = be.matmul(x, true, dout, false)?;
        let db = be.sum_rows(dout)?;
        params.accumulate_grad(be, self.w, dw)?;
        params.accumulate_grad(be, self.b, db)
    }
}

impl<B: Backend> Layer<B> for Affine<B> {
    fn forward(&mut self, params: &ParamStore<B>, x: &B::Tensor) -> Result<B::Tensor> {
        let y = self
            .backend
            .affine(x, params.value(self.w), params.value(self.b))?;
        self.x = Some(x.clone());
        Ok(y)
    }
    fn backward(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<B::Tensor> {
        self.param_grads(params, dout)?;
        self.backend.matmul(dout, false, params.value(self.w), true)
    }
    fn backward_params_only(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<()> {
        self.param_grads(params, dout)
    }
    fn params(&self) -> Vec<ParamId> {
        vec![self.w, self.b]
    }
}

/// `x · W`, or `x · Wᵀ` when built [`MatMul::transposed`]: a weight shared as its transpose
/// (an embedding tied to an output layer) gets `dW = doutᵀ · x` added to its gradient.
#[derive(Debug, Clone)]
pub struct MatMul<B: Backend> {
    backend: B,
    w: ParamId,
    transposed: bool,
    x: Option<B::Tensor>,
}

impl<B: Backend> MatMul<B> {
    /// Registers `W` in `store` as `{name}.W`.
    pub fn new(backend: &B, store: &mut ParamStore<B>, name: &str, w: B::Tensor) -> Result<Self> {
        let w = store.add(format!("{name}.W"), w)?;
        Ok(Self::from_id(backend, w))
    }

    /// `x · W` over a parameter already in the store.
    pub fn from_id(backend: &B, w: ParamId) -> Self {
        MatMul {
            backend: backend.clone(),
            w,
            transposed: false,
            x: None,
        }
    }

    /// `x · Wᵀ` over a parameter already in the store.
    pub fn transposed(backend: &B, w: ParamId) -> Self {
        MatMul {
            transposed: true,
            ..Self::from_id(backend, w)
        }
    }

    fn param_grads(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<()> {
        let be = &self.backend;
        let x = cached(&self.x, "MatMul")?;
        let dw = if self.transposed {
            be.matmul(dout, true, x, false)?
        } else {
            be.matmul(x, true, dout, false)?
        };
        params.accumulate_grad(be, self.w, dw)
    }
}

impl<B: Backend> Layer<B> for MatMul<B> {
    fn forward(&mut self, params: &ParamStore<B>, x: &B::Tensor) -> Result<B::Tensor> {
        let y = self
            .backend
            .matmul(x, false, params.value(self.w), self.transposed)?;
        self.x = Some(x.clone());
        Ok(y)
    }
    fn backward(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<B::Tensor> {
        self.param_grads(params, dout)?;
        self.backend
            .matmul(dout, false, params.value(self.w), !self.transposed)
    }
    fn backward_params_only(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<()> {
        self.param_grads(params, dout)
    }
    fn params(&self) -> Vec<ParamId> {
        vec![self.w]
    }
}
