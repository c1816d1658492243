//! `nn-cpu`: the CPU backend, [`Cpu<E>`], for `E = f32` (default) or `f64`.
//!
//! Tensors are [`CpuTensor`]s: reference-counted row-major buffers (viewable as `ndarray`
//! arrays), so caching a layer's input for `backward` costs a counter increment, and in-place
//! updates write in place whenever the tensor is not shared. Buffers are recycled through a
//! per-thread pool. Products go through the `gemm` crate, or const-width loops when tiny
//! (`matmul`); work is split over threads only above sizes where it pays, so the book's tiny
//! tensors stay on the calling thread.
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
#![warn(missing_docs, missing_debug_implementations)]

/// Calls `$f::<E, W>(args)` with the width `W` as a constant for widths 1 to 16, so that the
/// innermost loop is unrolled and vectorised; `$generic(args)` for other widths.
macro_rules! by_width {
    ($w:expr, $f:ident, $generic:ident, ($($arg:expr),*)) => {
        match $w {
            1 => $f::<E, 1>($($arg),*),
            2 => $f::<E, 2>($($arg),*),
            3 => $f::<E, 3>($($arg),*),
            4 => $f::<E, 4>($($arg),*),
            5 => $f::<E, 5>($($arg),*),
            6 => $f::<E, 6>($($arg),*),
            7 => $f::<E, 7>($($arg),*),
            8 => $f::<E, 8>($($arg),*),
            9 => $f::<E, 9>($($arg),*),
            10 => $f::<E, 10>($($arg),*),
            11 => $f::<E, 11>($($arg),*),
            12 => $f::<E, 12>($($arg),*),
            13 => $f::<E, 13>($($arg),*),
            14 => $f::<E, 14>($($arg),*),
            15 => $f::<E, 15>($($arg),*),
            16 => $f::<E, 16>($($arg),*),
            _ => $generic($($arg),*),
        }
    };
}

// The products and the vectorised loops, public for benches and tests of their own: not part of
// the documented API.
#[doc(hidden)]
pub mod matmul;
mod ops;
#[doc(hidden)]
pub mod simd;
mod storage;

/// The `ndarray` this crate is built on, whose views [`CpuTensor::array`] returns and
/// [`Cpu::from_array`] takes: use it (`nn_cpu::ndarray`) to get the matching version.
pub use ndarray;
pub use storage::CpuFloat;

use ndarray::{ArcArray1, ArrayView2};
use nn_core::Shape;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use storage::Buf;

/// The CPU backend for element type `E`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu<E: CpuFloat = f32>(PhantomData<E>);

impl<E: CpuFloat> Cpu<E> {
    /// The CPU backend. It holds no state; every value is the same backend.
    pub fn new() -> Self {
        Cpu(PhantomData)
    }

    /// A tensor holding a copy of an `ndarray` matrix, whatever its memory order (a transposed
    /// or sliced view is copied row by row): the way in for data already in `ndarray`, as
    /// [`CpuTensor::array`] is the way out.
    ///
    /// ```
    /// use nn_cpu::ndarray::array;
    /// use nn_core::Backend;
    /// use nn_cpu::Cpu;
    /// let b = Cpu::<f64>::new();
    /// let x = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]];
    /// let t = b.from_array(x.t())?; // 3 × 2
    /// assert_eq!(t.array(), x.t());
    /// assert_eq!(b.to_host(&t)?, [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn from_array(&self, a: ArrayView2<'_, E>) -> nn_core::Result<CpuTensor<E>> {
        let shape = Shape::new(a.nrows(), a.ncols());
        let a = a.as_standard_layout();
        let data = a.as_slice().expect("standard layout is contiguous");
        nn_core::Backend::from_host(self, data, shape)
    }
}

/// A row-major matrix on the CPU. Clones and row views ([`Backend::rows`](nn_core::Backend::rows))
/// share the buffer (a reference count); in-place ops copy it first when it is shared.
#[derive(Clone)]
pub struct CpuTensor<E: CpuFloat> {
    shape: Shape,
    /// Where the elements start in `buf` (a view of rows of a larger tensor starts past 0).
    offset: usize,
    buf: ManuallyDrop<Arc<Buf<E>>>,
}

impl<E: CpuFloat> Drop for CpuTensor<E> {
    fn drop(&mut self) {
        // SAFETY: `buf` is taken once, here, and `self` is not used afterwards.
        storage::recycle(unsafe { ManuallyDrop::take(&mut self.buf) });
    }
}

impl<E: CpuFloat> std::fmt::Debug for CpuTensor<E> {
    /// The type, the shape and the elements as `ndarray` prints them (rows on their own lines,
    /// large tensors elided): `CpuTensor<f32>(2, 2) [[1, 2],\n [3, 4]]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuTensor<{}>{} {}", E::DTYPE, self.shape, self.array())
    }
}

impl<E: CpuFloat> CpuTensor<E> {
    /// The tensor as an `ndarray` view.
    pub fn array(&self) -> ArrayView2<'_, E> {
        ArrayView2::from_shape((self.shape.rows, self.shape.cols), self.as_slice())
            .expect("a tensor's buffer fills its shape")
    }
    /// The elements, row-major.
    pub fn as_slice(&self) -> &[E] {
        &self.buf.0[self.offset..self.offset + self.shape.len()]
    }
}

/// A vector of indices on the CPU (always contiguous).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuIndex(pub(crate) ArcArray1<u32>);

impl CpuIndex {
    /// The indices.
    pub fn as_slice(&self) -> &[u32] {
        self.0.as_slice().expect("built contiguous by this crate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nn_core::Backend;

    #[test]
    fn debug_shows_type_shape_and_elements() {
        let b = Cpu::<f64>::new();
        let x = b
            .from_host(&[1.0, 2.5, -3.0, 4.0, 5.0, 6.0], Shape::new(2, 3))
            .unwrap();
        assert_eq!(
            format!("{x:?}"),
            "CpuTensor<f64>(2, 3) [[1, 2.5, -3],\n [4, 5, 6]]"
        );
        // Large tensors are elided as ndarray does, not printed in full.
        let big = Cpu::<f32>::new().zeros(Shape::new(1000, 1000)).unwrap();
        let text = format!("{big:?}");
        assert!(
            text.starts_with("CpuTensor<f32>(1000, 1000) [[0, 0, 0, 0, 0, ..., 0, 0, 0, 0, 0],"),
            "{text}"
        );
        assert!(text.len() < 1000, "{} characters", text.len());
    }

    #[test]
    fn from_array_copies_any_layout_row_by_row() {
        use ndarray::{s, Array2};
        let b = Cpu::<f32>::new();
        let a = Array2::from_shape_fn((4, 5), |(i, j)| (10 * i + j) as f32);
        for view in [
            a.view(),
            a.t(),
            a.slice(s![1..3, ..;2]),
            a.slice(s![..;-1, 1..2]),
        ] {
            let t = b.from_array(view).unwrap();
            assert_eq!(b.shape(&t), Shape::new(view.nrows(), view.ncols()));
            assert_eq!(t.array(), view);
            let rows: Vec<f32> = view.iter().copied().collect(); // logical (row-major) order
            assert_eq!(b.to_host(&t).unwrap(), rows);
        }
        let empty = b.from_array(a.slice(s![..0, ..])).unwrap();
        assert_eq!(b.shape(&empty), Shape::new(0, 5));
    }
}
