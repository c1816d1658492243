//! `nn-train`: everything around the model in the book's chapter 1.
//!
//! - [`spiral`]: the spiral data set, drawn from the NumPy-compatible stream;
//! - [`Dataset`]: host data, checked once (shapes, labels, finite values);
//! - [`Trainer`]: the book's `fit` with its loss log, gradient clipping and plot;
//! - [`Corpus`], [`made_up_corpus`]: text in PTB's format as word ids (`dataset/ptb.py`);
//! - [`RnnlmTrainer`], [`eval_perplexity`], [`get_batch`]: language models trained and
//!   measured by perplexity;
//! - [`clip_grads`], [`remove_duplicate`]: the book's helpers;
//! - [`eval`]: accuracy (over host data or a [`DeviceData`] copy) and the decision boundary,
//!   predicted in bounded chunks;
//! - [`save_params`], [`load_params`]: weight files (safetensors; f16, f32 or f64);
//! - [`io`]: atomic file writes; `plot` (feature `plot`): figures as PNG or SVG.
#![warn(missing_docs, missing_debug_implementations)]

mod clip;
mod corpus;
mod data;
pub mod eval;
mod files;
pub mod io;
#[cfg(feature = "plot")]
pub mod plot;
mod rnnlm;
mod trainer;
mod weights;

pub use clip::{clip_grads, remove_duplicate};
pub use corpus::{made_up_corpus, Corpus, PTB_URL};
pub use data::{spiral, Dataset, DeviceData, HostFloat, Shuffle};
pub use rnnlm::{eval_perplexity, get_batch, RnnlmFitOptions, RnnlmFitReport, RnnlmTrainer};
pub use trainer::{FitOptions, FitReport, Flow, Output, Record, Trainer};
pub use weights::{load_params, save_params};
