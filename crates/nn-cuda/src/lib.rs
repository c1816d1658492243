//! `nn-cuda`: the GPU backend, [`Cuda<E>`], for `E = f32` or `f64`.
//!
//! Matrix products go through cuBLAS (row-major data through the column-major API by swapping
//! the operands, no transposing copies), except those too small for a cuBLAS call to pay (at
//! most 32³ multiply-adds and 256 terms per output, as all of the book's spiral products are),
//! which run in one plain kernel; every other op is a CUDA C kernel from `kernels.cu`,
//! compiled at run time by NVRTC to machine code for the device's compute capability (or to
//! PTX for the driver to compile, when NVRTC does not know the GPU), once per device, and kept
//! on disk for later processes ([`kernel_cache_dir`]; `NN_CUDA_CACHE_DIR` moves it, set empty
//! turns it off). Machine code needs no PTX compiler in the driver, so an NVRTC newer than the
//! driver works. The CUDA libraries are loaded when a backend is first made, so this crate
//! builds and its tests run on machines without CUDA: [`Cuda::new`] then returns an
//! [`Error::Device`] naming what was not found.
//!
//! Tensors stay on the device; the only host round trips are the explicit `to_host` calls.
//! One stream per device, with cudarc's per-buffer event tracking off (it only matters with
//! several streams); allocations use the driver's stream-ordered pool, which keeps freed memory
//! for reuse ([`Cuda::memory_stats`], [`Cuda::release_cached_memory`]).
//!
//! ```no_run
//! use nn_core::{Backend, Shape};
//! use nn_cuda::Cuda;
//! let gpu = Cuda::<f32>::new(0)?;
//! let x = gpu.from_host(&[1.0, 2.0, 3.0, 4.0], Shape::new(2, 2))?;
//! let y = gpu.matmul(&x, false, &x, true)?;
//! assert_eq!(gpu.to_host(&y)?, [5.0, 11.0, 11.0, 25.0]);
//! # Ok::<(), nn_core::Error>(())
//! ```
#![warn(missing_docs, missing_debug_implementations)]

mod device;
mod graph;
mod kernel_cache;
mod memory;
mod ops;

pub use device::{available, Cuda, CudaFloat, CudaIndex, CudaTensor};
pub use graph::CudaGraph;
pub use kernel_cache::kernel_cache_dir;
// For this crate's own tests and the emulator: not part of the documented API.
#[doc(hidden)]
pub use device::{
    compile_kernels, compile_kernels_cubin, kernel_names, test_backend, EMULATOR_NAME,
};
#[doc(hidden)]
pub use kernel_cache::{cached_kernels_cubin, KernelOrigin};
pub use memory::MemoryStats;
pub use nn_core::Error;
