//! `nn` (the package `nn-scratch`): the book's chapter 1 (*Deep Learning from Scratch 2*) in Rust.
//!
//! This root crate re-exports the workspace's crates so that one dependency gives everything;
//! each crate is also usable alone:
//!
//! | crate | what it is for |
//! |---|---|
//! | [`core`] (`nn-core`) | the `Backend` trait, shapes, errors, parameters, the NumPy-compatible RNG |
//! | [`cpu`] (`nn-cpu`) | the CPU backend on ndarray, f32 and f64 |
//! | [`layers`] (`nn-layers`) | Affine, Sigmoid, SoftmaxWithLoss, … and `TwoLayerNet` |
//! | [`optim`] (`nn-optim`) | SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam |
//! | [`train`] (`nn-train`) | the spiral data set, the `Trainer`, evaluation, figures, weight files |
//! | `cuda` (`nn-cuda`, feature `cuda`) | the GPU backend: cuBLAS and NVRTC kernels via cudarc |
//!
//! ```
//! use nn::prelude::*;
//! let mut rng = NumpyRng::new(1984);
//! let data = spiral::load_data_from(&mut rng);
//! let mut net = TwoLayerNet::new(&Cpu::<f32>::new(), 2, 10, 3, &mut rng)?;
//! let acc = nn::train::eval::accuracy(&mut net, &data)?;
//! assert!(acc < 0.5); // untrained
//! # Ok::<(), nn::core::Error>(())
//! ```
#![warn(missing_docs, missing_debug_implementations)]

pub use nn_core as core;
pub use nn_cpu as cpu;
/// The CUDA backend (feature `cuda`).
#[cfg(feature = "cuda")]
pub use nn_cuda as cuda;
pub use nn_layers as layers;
pub use nn_optim as optim;
pub use nn_train as train;

/// The names the examples and most programs need.
pub mod prelude {
    pub use nn_core::{Backend, DType, Error, Float, NumpyRng, ParamId, ParamStore, Shape};
    pub use nn_cpu::Cpu;
    pub use nn_layers::{
        Affine, Labels, Layer, LossLayer, MatMul, Model, Relu, Sigmoid, SigmoidWithLoss, Softmax,
        SoftmaxWithLoss, TwoLayerNet,
    };
    pub use nn_optim::{AdaGrad, Adam, Momentum, Nesterov, Optimizer, RmsProp, Sgd};
    pub use nn_train::{
        clip_grads, eval, remove_duplicate, spiral, Dataset, FitOptions, Output, Shuffle, Trainer,
    };
}

/// The README's Rust example, compiled and run by `cargo test` (doc tests), so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;
