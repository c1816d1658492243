//! `nn-core`: the device contract and what every crate of the workspace shares.
//!
//! - [`Backend`]: the tensor trait, implemented by `nn-cpu` (ndarray) and `nn-cuda` (cuBLAS);
//!   layers, optimizers and the trainer are written against it alone.
//! - [`Float`] and [`DType`]: `f32` (default) and `f64` compute types, `f16` for weight files.
//! - [`Shape`], [`enum@Error`], [`Result`]: shapes and the one error type.
//! - [`ParamStore`]: parameters stored once, referenced by [`ParamId`] (shared weights).
//! - [`NumpyRng`]: NumPy's legacy random stream, so seeded runs match the book.
//! - [`StepGraph`]: a training step captured once as a graph and replayed (CUDA graphs).
//! - `conformance` (feature `conformance`): the suite every backend runs.
//!
//! ```
//! use nn_core::{NumpyRng, Shape};
//! let mut rng = NumpyRng::new(1984);
//! let w: Vec<f64> = rng.randn_vec(6).iter().map(|v| 0.01 * v).collect();
//! assert_eq!(w.len(), Shape::new(2, 3).len());
//! ```
#![warn(missing_docs, missing_debug_implementations)]

pub mod backend;
mod element;
mod error;
mod graph;
pub mod params;
pub mod rng;
mod shape;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::Backend;
pub use element::{DType, Float};
pub use error::{Error, Result};
pub use graph::{GraphStatus, NoGraph, StepGraph};
pub use params::{Param, ParamId, ParamStore};
pub use rng::NumpyRng;
pub use shape::Shape;

/// The label a sequence loss skips (the book's `ignore_label = -1`, as a `u32`): positions
/// labelled so count neither in the loss nor in its mean.
pub const IGNORE_LABEL: u32 = u32::MAX;
