//! Device memory: the driver's stream-ordered pool, kept warm across synchronisations.
//!
//! cudarc allocates with `cuMemAllocAsync` from the device's pool. The driver's default
//! release threshold for that pool is 0: at every stream, event or context synchronisation
//! (`Backend::synchronize`, which `gpu_matmul` and the benches call after each timed product)
//! it hands the pool's unused memory back to the OS, and the next allocations map it again.
//! The threshold is raised to "never" when a device is opened, so freed memory stays cached
//! for reuse, as PyTorch's caching allocator keeps it; [`Cuda::release_cached_memory`] hands
//! it back on request. (rapidsai/rmm and NVIDIA's cuda-python raise it likewise.)
//!
//! `NN_CUDA_NO_MEMORY_CACHING=1` (as PyTorch's `PYTORCH_NO_CUDA_MEMORY_CACHING`) leaves the
//! driver's default, to measure the difference or to share a GPU tightly with other processes.

use crate::device::{dev_err, Cuda, CudaFloat};
use cudarc::driver::sys::{CUmemPool_attribute, CUmemoryPool};
use cudarc::driver::{result, CudaContext};
use nn_core::{Backend, Error, Result};

/// Device memory as the stream-ordered pool counts it, in bytes (PyTorch's
/// `torch.cuda.memory_allocated()` and `memory_reserved()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryStats {
    /// Held by live buffers (tensors, indices, scratch space not yet freed on the stream) and
    /// by captured graphs.
    pub allocated: u64,
    /// Held by the pool: `allocated` plus freed memory cached for reuse.
    pub reserved: u64,
}

/// The pool `cuMemAllocAsync` draws from on `ctx`'s device; `None` where cudarc allocates
/// without one (`cuMemAlloc`, on devices without pools).
fn pool_of(ctx: &CudaContext) -> Result<Option<CUmemoryPool>> {
    if !ctx.has_async_alloc() {
        return Ok(None);
    }
    // SAFETY: the device comes from a context cudarc made for it.
    unsafe { result::device::get_mem_pool(ctx.cu_device()) }
        .map(Some)
        .map_err(dev_err("finding the memory pool"))
}

/// Raises the release threshold of the pool `ctx` allocates from, so that freed memory stays
/// cached across synchronisations (see the module's documentation). Nothing to do where
/// cudarc allocates without a pool (`cuMemAlloc`, on devices without one).
pub(crate) fn keep_freed_memory(ctx: &CudaContext) -> Result<()> {
    if std::env::var_os("NN_CUDA_NO_MEMORY_CACHING").is_some_and(|v| v != "0") {
        return Ok(());
    }
    let Some(pool) = pool_of(ctx)? else {
        return Ok(());
    };
    let mut never: u64 = u64::MAX;
    // SAFETY: a valid pool, and the release threshold's value is a `cuuint64_t`.
    unsafe {
        result::mem_pool::set_attribute(
            pool,
            CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut never as *mut u64).cast(),
        )
    }
    .map_err(dev_err("setting the memory pool's release threshold"))
}

impl<E: CudaFloat> Cuda<E> {
    /// The device's memory as its pool counts it, with the memory of captured graphs
    /// ([`Cuda::capture`]) added to both: what live buffers hold and what the pool holds.
    /// Memory other processes or libraries took outside the pool is not counted.
    /// [`Error::Unsupported`] on a device without a stream-ordered pool.
    pub fn memory_stats(&self) -> Result<MemoryStats> {
        let Some(pool) = pool_of(self.dev.stream.context())? else {
            return Err(Error::Unsupported(format!(
                "memory_stats: {} has no stream-ordered memory pool",
                self.dev.name
            )));
        };
        let read = |attr| {
            let mut v: u64 = 0;
            // SAFETY: a valid pool; both attributes read are `cuuint64_t`s.
            unsafe { result::mem_pool::get_attribute(pool, attr, (&mut v as *mut u64).cast()) }
                .map_err(dev_err("reading the memory pool's counters"))?;
            Ok(v)
        };
        let graphs = self
            .dev
            .graph_bytes
            .load(std::sync::atomic::Ordering::Relaxed);
        Ok(MemoryStats {
            allocated: read(CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_CURRENT)? + graphs,
            reserved: read(CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT)? + graphs,
        })
    }

    /// Hands the memory the pool caches but no buffer holds back to the driver, for other
    /// processes or libraries (PyTorch's `torch.cuda.empty_cache()`), after waiting for the
    /// work queued so far, whose frees then count. Live tensors are untouched; later
    /// allocations grow the pool again.
    ///
    /// ```no_run
    /// use nn_core::{Backend, Shape};
    /// let gpu = nn_cuda::Cuda::<f32>::new(0)?;
    /// drop(gpu.zeros(Shape::new(4096, 4096))?); // 64 MiB, freed into the pool
    /// gpu.synchronize()?;
    /// let cached = gpu.memory_stats()?;
    /// assert!(cached.reserved - cached.allocated >= 64 << 20); // kept for the next tensor
    /// gpu.release_cached_memory()?;
    /// println!("{:?}", gpu.memory_stats()?); // the 64 MiB went back to the driver
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn release_cached_memory(&self) -> Result<()> {
        let Some(pool) = pool_of(self.dev.stream.context())? else {
            return Ok(()); // memory freed without a pool went back at once
        };
        self.synchronize()?;
        // SAFETY: a valid pool.
        unsafe { result::mem_pool::trim_to(pool, 0) }
            .map_err(dev_err("releasing the pool's cached memory"))
    }
}
