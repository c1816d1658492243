//! Gradient clipping and the book's `remove_duplicate`.

use nn_core::{Backend, ParamId, ParamStore, Result};

/// The book's `clip_grads`: the global L2 norm over all of this step's gradients;
/// `rate = max_norm / (norm + 1e-6)`; when `rate < 1` every gradient is scaled by it.
/// Returns the norm, which it reads back from the device; [`Backend::clip_by_norm`] (what the
/// `Trainer` calls) does the same without reading anything back.
pub fn clip_grads<B: Backend>(b: &B, params: &mut ParamStore<B>, max_norm: f64) -> Result<f64> {
    let squares = b.clip_by_norm(params.grads_mut(), max_norm)?;
    Ok(b.scalar(&squares)?.sqrt())
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
