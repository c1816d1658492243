//! Tensor storage with a per-thread pool of buffers.
//!
//! A training step allocates the same few buffer sizes every iteration. glibc's `malloc` turns
//! each request of 1 KiB or more into a consolidation of its fast bins, which costs more than
//! the book's whole matrix product; so buffers are returned to a small per-thread free list when
//! a tensor is dropped and reused by the next tensor of a similar size.

use nn_core::Float;
use std::cell::RefCell;
use std::thread::LocalKey;

/// Buffers kept per thread and element type.
const POOL_LEN: usize = 64;
/// Buffers larger than this (elements) go back to the allocator: the pool stays small.
const POOL_MAX_ELEMS: usize = 1 << 20;

/// The per-thread free list for one element type.
pub struct Pool<E>(Vec<Vec<E>>);

impl<E> Pool<E> {
    const fn new() -> Self {
        Pool(Vec::new())
    }
}

/// A compute type of the CPU backend: `f32` or `f64`, each with its buffer pool and its
/// vectorisable exponential.
pub trait CpuFloat: Float {
    /// This type's per-thread pool.
    fn pool() -> &'static LocalKey<RefCell<Pool<Self>>>;

    /// `exp(self)`, inlined and vectorisable ([`crate::simd`]): within a few ulp of `exp`,
    /// with results below the smallest normal number flushed to 0.
    fn exp_fast(self) -> Self;
}

thread_local! {
    static POOL_F32: RefCell<Pool<f32>> = const { RefCell::new(Pool::new()) };
    static POOL_F64: RefCell<Pool<f64>> = const { RefCell::new(Pool::new()) };
}

impl CpuFloat for f32 {
    fn pool() -> &'static LocalKey<RefCell<Pool<f32>>> {
        &POOL_F32
    }

    #[inline(always)]
    fn exp_fast(self) -> f32 {
        crate::simd::exp_f32(self)
    }
}
impl CpuFloat for f64 {
    fn pool() -> &'static LocalKey<RefCell<Pool<f64>>> {
        &POOL_F64
    }
    #[inline(always)]
    fn exp_fast(self) -> f64 {
        crate::simd::exp_f64(self)
    }
}

/// An empty vector with room for `n` elements, from the pool when one fits.
pub fn pooled<E: CpuFloat>(n: usize) -> Vec<E> {
    let reused = E::pool()
        .try_with(|p| {
            let mut p = p.borrow_mut();
            let i =
                p.0.iter()
                    .position(|v| v.capacity() >= n && v.capacity() <= 2 * n + 16)?;
            Some(p.0.swap_remove(i))
        })
        .ok()
        .flatten();
    match reused {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(n),
    }
}

/// A tensor's elements; given back to the pool on drop.
#[derive(Debug)]
pub struct Buf<E: CpuFloat>(pub Vec<E>);

impl<E: CpuFloat> Drop for Buf<E> {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.capacity() == 0 || v.capacity() > POOL_MAX_ELEMS {
            return;
        }
        let _ = E::pool().try_with(|p| {
            let mut p = p.borrow_mut();
            if p.0.len() < POOL_LEN {
                p.0.push(v);
            }
        });
    }
}
