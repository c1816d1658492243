//! `nn-cpu`: the CPU backend, [`Cpu<E>`], on `ndarray`, for `E = f32` (default) or `f64`.
//!
//! Tensors are [`CpuTensor`]s: reference-counted `ndarray` matrices, so caching a layer's input
//! for `backward` costs a counter increment, and in-place updates write in place whenever the
//! tensor is not shared. Everything runs on the calling thread: the book's tensors are far too
//! small to pay for waking a thread pool.
//!
//! ```
//! use nn_core::{Backend, Shape};
//! use nn_cpu::Cpu;
//! let b = Cpu::<f32>::new();
//! let x = b.from_host(&[1.0, 2.0, 3.0, 4.0], Shape::new(2, 2))?;
//! let y = b.matmul(&x, false, &x, true)?; // x · xᵀ
//! assert_eq!(b.to_host(&y)?, [5.0, 11.0, 11.0, 25.0]);
//! # Ok::<(), nn_core::Error>(())
//! ```
#![warn(missing_docs)]

mod ops;

use ndarray::{ArcArray1, ArcArray2};
use nn_core::Float;
use std::marker::PhantomData;

/// The CPU backend for element type `E`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu<E: Float = f32>(PhantomData<E>);

impl<E: Float> Cpu<E> {
    /// The CPU backend. It holds no state; every value is the same backend.
    pub fn new() -> Self {
        Cpu(PhantomData)
    }
}

/// A matrix on the CPU: a reference-counted `ndarray` array (copy-on-write).
#[derive(Clone, Debug, PartialEq)]
pub struct CpuTensor<E: Float>(pub ArcArray2<E>);

impl<E: Float> CpuTensor<E> {
    /// The underlying `ndarray` array.
    pub fn array(&self) -> &ArcArray2<E> {
        &self.0
    }
}

/// A vector of indices on the CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuIndex(pub ArcArray1<u32>);
