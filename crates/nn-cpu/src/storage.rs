//! Tensor storage with a per-thread pool of buffers.
//!
//! A training step allocates the same few buffer sizes every iteration. glibc's `malloc` turns
//! each request of 1 KiB or more into a consolidation of its fast bins, which costs more than
//! the book's whole matrix product; so when the last handle to a tensor is dropped, its whole
//! allocation (the reference count and the elements) goes to a per-thread free list, sorted by
//! capacity in powers of two, and the next tensor of that size class takes it back: a training
//! step after the first makes no call to the allocator.

use nn_core::backend::check;
use nn_core::{Float, Result};
use std::cell::RefCell;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::thread::LocalKey;

/// Buffers kept per size class, thread and element type: 16, 4 from 2¹⁶ elements on, 2 from
/// 2²¹ on, so a thread's pool holds at most 2 of each of the largest sizes (the ch06 language
/// model's scores, 700 × 10 000, take a 2²³-element buffer: without the pool every step would
/// map it afresh and pay a page fault per 4 KiB of it).
const fn class_len(class: usize) -> usize {
    if class < 16 {
        16
    } else if class < SMALL_CLASSES {
        4
    } else {
        2
    }
}
/// Size classes: capacities 1, 2, 4, …, 2²⁴ elements. Larger buffers go back to the allocator.
const CLASSES: usize = 25;
/// Classes below this are at most 2²⁰ elements (8 MiB): allocated without a check, as no
/// size a caller could choose is too large for them.
const SMALL_CLASSES: usize = 21;

/// The per-thread free lists for one element type, one per size class.
pub struct Pool<E>([Vec<Arc<Buf<E>>>; CLASSES]);

impl<E> Pool<E> {
    const fn new() -> Self {
        Pool([const { Vec::new() }; CLASSES])
    }
}

impl<E> std::fmt::Debug for Pool<E> {
    /// The number of free buffers in each size class (the elements would say nothing).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("free_per_class", &self.0.each_ref().map(Vec::len))
            .finish()
    }
}

/// The size class holding buffers of capacity `2^class ≥ n`, if `n` is poolable.
fn class(n: usize) -> Option<usize> {
    let c = n.max(1).next_power_of_two().trailing_zeros() as usize;
    (c < CLASSES).then_some(c)
}

/// A compute type of the CPU backend: `f32` or `f64`, each with its buffer pool and its
/// vectorisable exponential and logarithm.
pub trait CpuFloat: Float {
    /// This type's per-thread pool.
    fn pool() -> &'static LocalKey<RefCell<Pool<Self>>>;

    /// `exp(self)`, inlined and vectorisable ([`crate::simd`]): within a few ulp of `exp`,
    /// with results below the smallest normal number flushed to 0. `FMA`: fused multiply-adds,
    /// for code compiled with the `fma` target feature.
    fn exp_fast<const FMA: bool>(self) -> Self;

    /// `ln(self)`, inlined and vectorisable ([`crate::simd`]): within a few ulp of `ln`.
    /// `FMA` as for [`CpuFloat::exp_fast`].
    fn ln_fast<const FMA: bool>(self) -> Self;

    /// `tanh(self)`, inlined and vectorisable ([`crate::simd`]): within a few ulp of `tanh`.
    /// `FMA` as for [`CpuFloat::exp_fast`].
    fn tanh_fast<const FMA: bool>(self) -> Self;
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
    fn exp_fast<const FMA: bool>(self) -> f32 {
        crate::simd::exp_f32::<FMA>(self)
    }
    #[inline(always)]
    fn ln_fast<const FMA: bool>(self) -> f32 {
        crate::simd::ln_f32::<FMA>(self)
    }
    #[inline(always)]
    fn tanh_fast<const FMA: bool>(self) -> f32 {
        crate::simd::tanh_f32::<FMA>(self)
    }
}
impl CpuFloat for f64 {
    fn pool() -> &'static LocalKey<RefCell<Pool<f64>>> {
        &POOL_F64
    }
    #[inline(always)]
    fn exp_fast<const FMA: bool>(self) -> f64 {
        crate::simd::exp_f64::<FMA>(self)
    }
    #[inline(always)]
    fn ln_fast<const FMA: bool>(self) -> f64 {
        crate::simd::ln_f64::<FMA>(self)
    }
    #[inline(always)]
    fn tanh_fast<const FMA: bool>(self) -> f64 {
        crate::simd::tanh_f64::<FMA>(self)
    }
}

/// A uniquely owned buffer with room for `n` elements, from the pool when one is free. A
/// reused buffer still holds its old (initialised) elements: the caller clears or overwrites
/// them. A size the system will not reserve is
/// [`Error::HostMemory`](nn_core::Error::HostMemory) naming `what`.
pub fn pooled<E: CpuFloat>(n: usize, what: impl FnOnce() -> String) -> Result<Arc<Buf<E>>> {
    let Some(c) = class(n) else {
        return Ok(Arc::new(Buf(check::host_vec(n, what)?)));
    };
    let reused = E::pool()
        .try_with(|p| p.borrow_mut().0[c].pop())
        .ok()
        .flatten();
    match reused {
        Some(buf) => Ok(buf),
        None if c < SMALL_CLASSES => Ok(Arc::new(Buf(Vec::with_capacity(1 << c)))),
        None => Ok(Arc::new(Buf(check::host_vec(1 << c, what)?))),
    }
}

/// A tensor's elements.
#[derive(Debug)]
pub struct Buf<E>(pub Vec<E>);

/// Whether `buf` is the only handle to its allocation. No `Weak` is ever made from these
/// buffers, so that is a strong count of 1: a plain load, where `Arc::get_mut` takes a locked
/// compare-and-swap (the largest single cost of building a tensor under perf). The acquire
/// fence orders what follows after the drops of the other handles, as `Arc`'s own drop does.
fn is_unique<E>(buf: &Arc<Buf<E>>) -> bool {
    let unique = Arc::strong_count(buf) == 1;
    if unique {
        fence(Ordering::Acquire);
    }
    unique
}

/// The elements, for writing, when `buf` is the only handle to them.
pub fn get_mut<E>(buf: &mut Arc<Buf<E>>) -> Option<&mut Vec<E>> {
    if !is_unique(buf) {
        return None;
    }
    // SAFETY: this is the only handle (no other strong one, and no `Weak` is ever made), and
    // it is borrowed mutably, so nothing else can reach the elements while the borrow lasts.
    // `Arc::as_ptr` derives from the allocation's pointer without making a shared reference.
    Some(unsafe { &mut (*Arc::as_ptr(buf).cast_mut()).0 })
}

/// Gives a tensor's allocation back to the pool when this was its last handle.
pub fn recycle<E: CpuFloat>(buf: Arc<Buf<E>>) {
    if !is_unique(&buf) {
        return; // another tensor still shares it
    }
    let cap = buf.0.capacity();
    if !cap.is_power_of_two() || class(cap).is_none() {
        return;
    }
    let _ = E::pool().try_with(|p| {
        let c = cap.trailing_zeros() as usize;
        let list = &mut p.borrow_mut().0[c];
        if list.len() < class_len(c) {
            list.push(buf);
        }
    });
}
