//! Gradient clipping and the book's `remove_duplicate`.

use nn_core::{Backend, Error, Float, ParamId, ParamStore, Result};

/// The book's `clip_grads`: the global L2 norm over all of this step's gradients;
/// `rate = max_norm / (norm + 1e-6)`; when `rate < 1` every gradient is scaled by it.
/// Returns the norm. The squared sums are added on the device (one launch on a GPU) and read
/// back once.
pub fn clip_grads<B: Backend>(b: &B, params: &mut ParamStore<B>, max_norm: f64) -> Result<f64> {
    if !(max_norm.is_finite() && max_norm > 0.0) {
        return Err(Error::invalid(format!(
            "max_norm must be > 0, got {max_norm}"
        )));
    }
    let squares = b.sum_squares_many(params.grads_mut().map(|g| &*g))?;
    let norm = b.scalar(&squares)?.sqrt();
    let rate = max_norm / (norm + 1e-6);
    if rate < 1.0 {
        for g in params.grads_mut() {
            b.scale(g, B::Elem::of(rate))?;
        }
    }
    Ok(norm)
}

/// The book's `remove_duplicate`, for a list of parameter ids that may name a parameter twice
/// (two layers sharing a weight): the ids, each once, in first-seen order.
///
/// Gradients need no merging here: a [`ParamStore`] adds every layer's gradient of a shared
/// parameter (also one used transposed, through `MatMul::transposed`) into its single gradient
/// while `backward` runs, so each shared weight is updated once with the summed gradient.
pub fn remove_duplicate(params: &[ParamId]) -> Vec<ParamId> {
    let mut seen = Vec::with_capacity(params.len());
    for &p in params {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen
}
