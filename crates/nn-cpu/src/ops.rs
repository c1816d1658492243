//! `Backend` for [`Cpu`]: each op a loop over contiguous slices into a pooled buffer.

use crate::matmul::{self, Operand};
use crate::simd;
use crate::storage::{self, pooled, CpuFloat};
use crate::{Cpu, CpuIndex, CpuTensor};
use ndarray::ArcArray1;
use nn_core::backend::check;
use nn_core::{Backend, Error, Result, Shape};
use std::mem::ManuallyDrop;

/// A tensor of `shape` whose elements `fill` pushes, in order.
fn build<E: CpuFloat>(shape: Shape, fill: impl FnOnce(&mut Vec<E>)) -> Result<CpuTensor<E>> {
    with_buffer(shape, |v| {
        v.clear();
        fill(v)
    })
}

/// A tensor of `shape` from a pooled buffer that `fill` leaves holding exactly its elements.
/// [`Error::HostMemory`] when the system will not reserve the buffer.
fn with_buffer<E: CpuFloat>(shape: Shape, fill: impl FnOnce(&mut Vec<E>)) -> Result<CpuTensor<E>> {
    let mut buf = pooled(shape.len(), || format!("a {shape} {} tensor", E::DTYPE))?;
    let v = storage::get_mut(&mut buf).expect("pooled buffers are unique");
    fill(v);
    debug_assert_eq!(v.len(), shape.len());
    Ok(CpuTensor {
        shape,
        buf: ManuallyDrop::new(buf),
    })
}

fn data<E: CpuFloat>(t: &CpuTensor<E>) -> &[E] {
    &t.buf.0
}

/// The elements for writing, copied first if another tensor shares them.
fn data_mut<E: CpuFloat>(t: &mut CpuTensor<E>) -> Result<&mut [E]> {
    if storage::get_mut(&mut t.buf).is_none() {
        let copy = build(t.shape, |v| v.extend_from_slice(&t.buf.0))?;
        *t = copy;
    }
    Ok(storage::get_mut(&mut t.buf).expect("just made unique"))
}

/// A tensor of `shape` whose elements `fill` writes, every one of them: the buffer comes with
/// whatever a reused buffer held before (initialised, but stale), which saves zeroing it when
/// the same size comes round every iteration.
fn fill<E: CpuFloat>(shape: Shape, fill: impl FnOnce(&mut [E])) -> Result<CpuTensor<E>> {
    with_buffer(shape, |v| {
        let n = shape.len();
        if v.len() >= n {
            v.truncate(n);
        } else {
            v.resize(n, E::zero());
        }
        fill(v)
    })
}

/// A tensor of `shape` that `fill` accumulates into, starting from zeros.
fn fill_zeroed<E: CpuFloat>(shape: Shape, fill: impl FnOnce(&mut [E])) -> Result<CpuTensor<E>> {
    build(shape, |v| {
        v.resize(shape.len(), E::zero());
        fill(v)
    })
}

fn map<E: CpuFloat>(x: &CpuTensor<E>, f: impl Fn(E) -> E + Sync) -> Result<CpuTensor<E>> {
    fill(x.shape, |o| {
        par_chunks(data(x), o, |xs, os| simd::map_into(xs, os, &f))
    })
}

fn zip_map<E: CpuFloat>(
    op: &'static str,
    a: &CpuTensor<E>,
    b: &CpuTensor<E>,
    f: impl Fn(E, E) -> E + Sync,
) -> Result<CpuTensor<E>> {
    check::same(op, a.shape, b.shape)?;
    let (da, db) = (data(a), data(b));
    fill(a.shape, |o| {
        if da.len() < PARALLEL_ELEMS {
            return simd::zip_into(da, db, o, &f);
        }
        use rayon::prelude::*;
        let chunk = PARALLEL_ELEMS / 2;
        o.par_chunks_mut(chunk)
            .zip(da.par_chunks(chunk).zip(db.par_chunks(chunk)))
            .for_each(|(o, (xa, xb))| simd::zip_into(xa, xb, o, &f));
    })
}

fn update<E: CpuFloat>(
    op: &'static str,
    y: &mut CpuTensor<E>,
    x: &CpuTensor<E>,
    f: impl Fn(&mut E, E) + Sync,
) -> Result<()> {
    check::same(op, y.shape, x.shape)?;
    let (y, x) = (data_mut(y)?, data(x));
    if y.len() < PARALLEL_ELEMS {
        simd::update(y, x, &f);
        return Ok(());
    }
    use rayon::prelude::*;
    let chunk = PARALLEL_ELEMS / 2;
    y.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(ys, xs)| simd::update(ys, xs, &f));
    Ok(())
}

fn labels_in_range(labels: &[u32], classes: usize) -> Result<()> {
    match labels.iter().position(|&l| l as usize >= classes) {
        Some(row) => Err(Error::LabelOutOfRange {
            label: labels[row] as usize,
            row,
            classes,
        }),
        None => Ok(()),
    }
}

/// `t` as a product operand, read transposed when `transposed`.
fn operand<E: CpuFloat>(t: &CpuTensor<E>, transposed: bool) -> Operand<'_, E> {
    Operand {
        data: data(t),
        cols: t.shape.cols,
        t: transposed,
    }
}

fn index_slice(i: &CpuIndex) -> &[u32] {
    i.as_slice()
}

fn scalar<E: CpuFloat>(v: E) -> Result<CpuTensor<E>> {
    build(Shape::scalar(), |b| b.push(v))
}

const LOG_EPS: f64 = 1e-7;

/// Elementwise work from this many elements on is split over the thread pool. Measured on the
/// 2-core development machine: the sigmoid of 256 × 1024 elements takes 0.76 ms on one thread,
/// while a pool wake-up costs some microseconds, so 2¹⁵ elements (about 0.1 ms) is well past
/// the point where threads pay; the book's spiral (at most 300 elements) never reaches it.
pub const PARALLEL_ELEMS: usize = 1 << 15;

/// `f(x_chunk, out_chunk)` over the whole slices, in parallel chunks above [`PARALLEL_ELEMS`].
fn par_chunks<E: CpuFloat>(x: &[E], out: &mut [E], f: impl Fn(&[E], &mut [E]) + Sync) {
    if x.len() < PARALLEL_ELEMS {
        return f(x, out);
    }
    use rayon::prelude::*;
    let chunk = PARALLEL_ELEMS / 2;
    x.par_chunks(chunk)
        .zip(out.par_chunks_mut(chunk))
        .for_each(|(a, o)| f(a, o));
}

impl<E: CpuFloat> Backend for Cpu<E> {
    type Elem = E;
    type Tensor = CpuTensor<E>;
    type Index = CpuIndex;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn from_host(&self, d: &[E], shape: Shape) -> Result<CpuTensor<E>> {
        check::host_len(d.len(), shape)?;
        build(shape, |v| v.extend_from_slice(d))
    }
    /// Rounds straight into the tensor's buffer: no intermediate copy.
    fn from_f64(&self, d: &[f64], shape: Shape) -> Result<CpuTensor<E>> {
        check::host_len(d.len(), shape)?;
        let mut converted = Ok(());
        let t = build(shape, |v| converted = check::convert(d, v))?;
        converted.map(|()| t)
    }
    fn to_host(&self, t: &CpuTensor<E>) -> Result<Vec<E>> {
        check::host_copy(data(t), || format!("to_host's copy of {}", t.shape))
    }
    fn zeros(&self, shape: Shape) -> Result<CpuTensor<E>> {
        let n = check::elements("zeros", shape)?;
        build(shape, |v| v.resize(n, E::zero()))
    }
    fn shape(&self, t: &CpuTensor<E>) -> Shape {
        t.shape
    }
    fn index_from_host(&self, idx: &[u32]) -> Result<CpuIndex> {
        let v = check::host_copy(idx, || format!("a tensor of {} indices", idx.len()))?;
        Ok(CpuIndex(ArcArray1::from(v)))
    }
    fn index_to_host(&self, idx: &CpuIndex) -> Result<Vec<u32>> {
        let idx = index_slice(idx);
        check::host_copy(idx, || {
            format!("index_to_host's copy of {} indices", idx.len())
        })
    }
    fn index_len(&self, idx: &CpuIndex) -> usize {
        idx.0.len()
    }
    fn synchronize(&self) -> Result<()> {
        Ok(())
    }

    fn matmul(
        &self,
        a: &CpuTensor<E>,
        ta: bool,
        b: &CpuTensor<E>,
        tb: bool,
    ) -> Result<CpuTensor<E>> {
        let out = check::matmul(a.shape, ta, b.shape, tb)?;
        let k = if ta { a.shape.rows } else { a.shape.cols };
        let (oa, ob) = (operand(a, ta), operand(b, tb));
        fill(out, |v| matmul::matmul(out.rows, out.cols, k, oa, ob, v))
    }

    /// One pass: each output row starts from the bias and the product is added onto it.
    fn affine(&self, x: &CpuTensor<E>, w: &CpuTensor<E>, b: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        let out = check::matmul(x.shape, false, w.shape, false)?;
        check::row("affine", out, b.shape)?;
        let (ox, ow) = (operand(x, false), operand(w, false));
        fill(out, |v| {
            matmul::matmul_bias(out.rows, out.cols, x.shape.cols, ox, ow, data(b), v)
        })
    }

    fn add_row(&self, a: &CpuTensor<E>, row: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        let s = a.shape;
        check::row("add_row", s, row.shape)?;
        let r = data(row);
        fill(s, |v| {
            simd::add_row(data(a), r, v);
        })
    }

    fn mul(&self, a: &CpuTensor<E>, b: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        zip_map("mul", a, b, |x, y| x * y)
    }

    fn sum_rows(&self, a: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        let s = a.shape;
        if s.is_empty() {
            return self.zeros(Shape::row(s.cols));
        }
        fill_zeroed(Shape::row(s.cols), |acc| {
            simd::add_rows(data(a), s.cols, acc)
        })
    }

    fn sigmoid(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        fill(x.shape, |v| par_chunks(data(x), v, simd::sigmoid))
    }
    fn sigmoid_backward(&self, out: &CpuTensor<E>, dout: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        zip_map("sigmoid_backward", out, dout, |y, d| d * (E::one() - y) * y)
    }
    fn relu(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        map(x, |v| if v > E::zero() { v } else { E::zero() })
    }
    fn relu_backward(&self, x: &CpuTensor<E>, dout: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        zip_map("relu_backward", x, dout, |v, d| {
            if v > E::zero() {
                d
            } else {
                E::zero()
            }
        })
    }
    fn softmax(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        let s = x.shape;
        build(s, |v| {
            v.extend_from_slice(data(x));
            simd::softmax_rows(v, s.cols.max(1));
        })
    }

    fn softmax_cross_entropy(
        &self,
        logits: &CpuTensor<E>,
        labels: &CpuIndex,
    ) -> Result<(CpuTensor<E>, CpuTensor<E>)> {
        let s = logits.shape;
        check::labels("softmax_cross_entropy", s, labels.0.len())?;
        let lab = index_slice(labels);
        labels_in_range(lab, s.cols)?;
        let y = self.softmax(logits)?;
        let eps = E::of(LOG_EPS);
        let total = simd::sum_log_picked(data(&y), s.cols, lab, eps);
        let loss = -total / E::of(s.rows as f64);
        Ok((y, scalar(loss)?))
    }

    fn softmax_cross_entropy_backward(
        &self,
        y: &CpuTensor<E>,
        labels: &CpuIndex,
        dout: E,
    ) -> Result<CpuTensor<E>> {
        let s = y.shape;
        check::labels("softmax_cross_entropy_backward", s, labels.0.len())?;
        let lab = index_slice(labels);
        labels_in_range(lab, s.cols)?;
        let n = E::of(s.rows as f64);
        build(s, |v| {
            v.extend_from_slice(data(y));
            for (row, &l) in v.chunks_exact_mut(s.cols).zip(lab) {
                row[l as usize] -= E::one();
            }
            simd::apply(v, |e| e * dout / n);
        })
    }

    fn binary_cross_entropy(&self, y: &CpuTensor<E>, labels: &CpuIndex) -> Result<CpuTensor<E>> {
        let s = y.shape;
        binary_checks("binary_cross_entropy", s, labels)?;
        let eps = E::of(LOG_EPS);
        let total: E = data(y)
            .iter()
            .zip(labels.0.iter())
            .map(|(&p, &l)| if l == 1 { p + eps } else { E::one() - p + eps }.ln())
            .sum();
        scalar(-total / E::of(s.rows as f64))
    }

    fn binary_cross_entropy_backward(
        &self,
        y: &CpuTensor<E>,
        labels: &CpuIndex,
        dout: E,
    ) -> Result<CpuTensor<E>> {
        let s = y.shape;
        binary_checks("binary_cross_entropy_backward", s, labels)?;
        let n = E::of(s.rows as f64);
        build(s, |v| {
            v.extend(
                data(y)
                    .iter()
                    .zip(labels.0.iter())
                    .map(|(&p, &l)| (p - E::of(l as f64)) * dout / n),
            )
        })
    }

    fn axpy(&self, y: &mut CpuTensor<E>, alpha: E, x: &CpuTensor<E>) -> Result<()> {
        update("axpy", y, x, |a, b| *a += alpha * b)
    }
    fn axpby(&self, y: &mut CpuTensor<E>, alpha: E, x: &CpuTensor<E>, beta: E) -> Result<()> {
        update("axpby", y, x, |a, b| *a = beta * *a + alpha * b)
    }
    fn scale(&self, x: &mut CpuTensor<E>, alpha: E) -> Result<()> {
        simd::apply(data_mut(x)?, |v| v * alpha);
        Ok(())
    }
    fn lerp(&self, y: &mut CpuTensor<E>, x: &CpuTensor<E>, c: E) -> Result<()> {
        update("lerp", y, x, |a, b| *a += c * (b - *a))
    }
    fn lerp_square(&self, y: &mut CpuTensor<E>, x: &CpuTensor<E>, c: E) -> Result<()> {
        update("lerp_square", y, x, |a, b| *a += c * (b * b - *a))
    }
    fn add_square(&self, y: &mut CpuTensor<E>, x: &CpuTensor<E>, c: E) -> Result<()> {
        update("add_square", y, x, |a, b| *a += c * b * b)
    }
    fn adaptive_step(
        &self,
        p: &mut CpuTensor<E>,
        num: &CpuTensor<E>,
        den: &CpuTensor<E>,
        lr: E,
        eps: E,
    ) -> Result<()> {
        check::same("adaptive_step", p.shape, num.shape)?;
        check::same("adaptive_step", p.shape, den.shape)?;
        for ((w, &g), &h) in data_mut(p)?.iter_mut().zip(data(num)).zip(data(den)) {
            *w -= lr * g / (h.sqrt() + eps);
        }
        Ok(())
    }
    fn sum_squares(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        scalar(simd::sum_squares(data(x)))
    }

    fn gather_rows(
        &self,
        src: &CpuTensor<E>,
        idx: &CpuIndex,
        start: usize,
        len: usize,
    ) -> Result<CpuTensor<E>> {
        let s = src.shape;
        check::range("gather_rows", idx.0.len(), start, len)?;
        let rows = &index_slice(idx)[start..start + len];
        if let Some(&bad) = rows.iter().find(|&&i| i as usize >= s.rows) {
            check::index_bound("gather_rows", bad, s.rows)?;
        }
        fill(Shape::new(len, s.cols), |v| {
            simd::gather(data(src), rows, s.cols.max(1), v)
        })
    }

    fn gather_index(
        &self,
        src: &CpuIndex,
        idx: &CpuIndex,
        start: usize,
        len: usize,
    ) -> Result<CpuIndex> {
        check::range("gather_index", idx.0.len(), start, len)?;
        let s = index_slice(src);
        let rows = &index_slice(idx)[start..start + len];
        if let Some(&bad) = rows.iter().find(|&&i| i as usize >= s.len()) {
            check::index_bound("gather_index", bad, s.len())?;
        }
        Ok(CpuIndex(rows.iter().map(|&i| s[i as usize]).collect()))
    }

    fn argmax_rows(&self, x: &CpuTensor<E>) -> Result<CpuIndex> {
        let s = x.shape;
        check::row_width("argmax_rows", s)?;
        let v = data(x)
            .chunks_exact(s.cols.max(1))
            .map(|row| {
                let mut best = 0;
                for (j, &e) in row.iter().enumerate() {
                    if e > row[best] {
                        best = j;
                    }
                }
                best as u32
            })
            .collect::<Vec<_>>();
        Ok(CpuIndex(ArcArray1::from(v)))
    }
}

fn binary_checks(op: &'static str, s: Shape, labels: &CpuIndex) -> Result<()> {
    check::binary(op, s, labels.0.len())?;
    labels_in_range(index_slice(labels), 2)
}
