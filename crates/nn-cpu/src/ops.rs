//! `Backend` for [`Cpu`]: each op a loop over contiguous slices into a pooled buffer.

use crate::matmul::{self, Operand};
use crate::simd;
use crate::storage::{self, pooled, CpuFloat};
use crate::{Cpu, CpuIndex, CpuTensor};
use ndarray::ArcArray1;
use nn_core::backend::check;
use nn_core::{Backend, Error, Result, Shape, IGNORE_LABEL};
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
        offset: 0,
        buf: ManuallyDrop::new(buf),
    })
}

fn data<E: CpuFloat>(t: &CpuTensor<E>) -> &[E] {
    t.as_slice()
}

/// The elements for writing, copied first if another tensor shares them.
fn data_mut<E: CpuFloat>(t: &mut CpuTensor<E>) -> Result<&mut [E]> {
    if storage::get_mut(&mut t.buf).is_none() {
        let copy = build(t.shape, |v| v.extend_from_slice(t.as_slice()))?;
        *t = copy;
    }
    let (start, end) = (t.offset, t.offset + t.shape.len());
    Ok(&mut storage::get_mut(&mut t.buf).expect("just made unique")[start..end])
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

/// Elementwise work from this many elements on is split over the thread pool. Waking a pool
/// that has gone to sleep between steps costs, on some virtual machines, as much as a cheap op
/// over a few hundred thousand elements, so smaller tensors (a language model's weights, the
/// book's spiral) stay on the calling thread; a vocabulary's scores go to the pool.
pub const PARALLEL_ELEMS: usize = 1 << 18;

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
    type Graph = nn_core::NoGraph;

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
    /// Converts straight into the tensor's buffer (a copy, in f32).
    fn from_f32(&self, d: &[f32], shape: Shape) -> Result<CpuTensor<E>> {
        check::host_len(d.len(), shape)?;
        build(shape, |v| v.extend(d.iter().map(|&x| E::of(f64::from(x)))))
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
        let x = data(a);
        fill_zeroed(Shape::row(s.cols), |acc| {
            if s.len() < PARALLEL_ELEMS || s.cols < 64 {
                return simd::add_rows(x, s.cols, acc);
            }
            // Each thread sums all rows of half the columns, in the same order as one would.
            let half = (s.cols / 2).next_multiple_of(16);
            let (left, right) = acc.split_at_mut(half);
            rayon::join(
                || simd::add_rows_of_columns(x, s.cols, 0, left),
                || simd::add_rows_of_columns(x, s.cols, half, right),
            );
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

    fn rows(&self, x: &CpuTensor<E>, start: usize, len: usize) -> Result<CpuTensor<E>> {
        check::rows("rows", x.shape, start, len)?;
        let mut v = x.clone();
        v.offset += start * x.shape.cols;
        v.shape = Shape::new(len, x.shape.cols);
        Ok(v)
    }
    fn write_rows(&self, dst: &mut CpuTensor<E>, start: usize, src: &CpuTensor<E>) -> Result<()> {
        check::block("write_rows", dst.shape, start, src.shape)?;
        let c = dst.shape.cols;
        data_mut(dst)?[start * c..(start + src.shape.rows) * c].copy_from_slice(data(src));
        Ok(())
    }
    fn scatter_add_rows(
        &self,
        dst: &mut CpuTensor<E>,
        idx: &CpuIndex,
        src: &CpuTensor<E>,
    ) -> Result<()> {
        let ids = index_slice(idx);
        if src.shape.rows != ids.len() || src.shape.cols != dst.shape.cols {
            return Err(Error::shape(
                "scatter_add_rows",
                format!(
                    "{} rows of {} into rows of {} by {} indices",
                    src.shape.rows,
                    src.shape,
                    dst.shape,
                    ids.len()
                ),
            ));
        }
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= dst.shape.rows) {
            check::index_bound("scatter_add_rows", bad, dst.shape.rows)?;
        }
        let c = dst.shape.cols;
        let d = data_mut(dst)?;
        for (&k, row) in ids.iter().zip(data(src).chunks_exact(c.max(1))) {
            let k = k as usize * c;
            for (a, &v) in d[k..k + c].iter_mut().zip(row) {
                *a += v;
            }
        }
        Ok(())
    }
    fn tanh(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        fill(x.shape, |v| par_chunks(data(x), v, simd::tanh))
    }
    fn tanh_backward(&self, y: &CpuTensor<E>, dout: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        zip_map("tanh_backward", y, dout, |y, d| d * (E::one() - y * y))
    }
    fn rnn_step(
        &self,
        hs: &mut CpuTensor<E>,
        start: usize,
        hw: &CpuTensor<E>,
        xw: &CpuTensor<E>,
        b: &CpuTensor<E>,
    ) -> Result<()> {
        check::rnn_step("rnn_step", hs.shape, start, hw.shape, xw.shape, b.shape)?;
        let (c, n) = (hs.shape.cols, hw.shape.rows);
        let out = &mut data_mut(hs)?[start * c..(start + n) * c];
        simd::rnn_step(data(hw), data(xw), data(b), out);
        Ok(())
    }
    fn rnn_step_backward(
        &self,
        dts: &mut CpuTensor<E>,
        start: usize,
        dh: &CpuTensor<E>,
        dh_next: Option<&CpuTensor<E>>,
        h: &CpuTensor<E>,
    ) -> Result<()> {
        check::rnn_step_backward(
            dts.shape,
            start,
            dh.shape,
            dh_next.map(|d| d.shape),
            h.shape,
        )?;
        let c = dts.shape.cols;
        let out = &mut data_mut(dts)?[start * c..(start + dh.shape.rows) * c];
        let one = E::one();
        match dh_next {
            Some(n) => {
                for (((o, &d), &dn), &y) in out.iter_mut().zip(data(dh)).zip(data(n)).zip(data(h)) {
                    *o = (d + dn) * (one - y * y);
                }
            }
            None => simd::zip_into(data(dh), data(h), out, |d, y| d * (one - y * y)),
        }
        Ok(())
    }
    fn lstm_step(
        &self,
        hs: &mut CpuTensor<E>,
        cs: &mut CpuTensor<E>,
        gates: &mut CpuTensor<E>,
        t: usize,
        xw: &CpuTensor<E>,
        hw: &CpuTensor<E>,
        b: &CpuTensor<E>,
    ) -> Result<()> {
        check::lstm_forward(
            t,
            xw.shape,
            hw.shape,
            b.shape,
            hs.shape,
            cs.shape,
            gates.shape,
        )?;
        let (n, hh) = (xw.shape.rows, hs.shape.cols);
        let block = n * hh;
        let (c_prev, c) = data_mut(cs)?.split_at_mut((t + 1) * block);
        let h = &mut data_mut(hs)?[(t + 1) * block..(t + 2) * block];
        let g = &mut data_mut(gates)?[t * 4 * block..(t + 1) * 4 * block];
        simd::lstm_step(
            data(xw),
            data(hw),
            data(b),
            &c_prev[t * block..],
            g,
            &mut c[..block],
            h,
        );
        Ok(())
    }
    fn lstm_step_backward(
        &self,
        da: &mut CpuTensor<E>,
        dc: &mut CpuTensor<E>,
        t: usize,
        dh: &CpuTensor<E>,
        dh_next: Option<&CpuTensor<E>>,
        cs: &CpuTensor<E>,
        gates: &CpuTensor<E>,
    ) -> Result<()> {
        let dn = dh_next.map(|d| d.shape);
        check::lstm_backward(t, da.shape, dc.shape, dh.shape, dn, cs.shape, gates.shape)?;
        let (n, hh) = (dh.shape.rows, dh.shape.cols);
        let block = n * hh;
        let cv = data(cs);
        let g = &data(gates)[t * 4 * block..(t + 1) * 4 * block];
        let out = &mut data_mut(da)?[t * 4 * block..(t + 1) * 4 * block];
        simd::lstm_step_backward(
            hh,
            data(dh),
            dh_next.map(data),
            &cv[t * block..(t + 1) * block],
            &cv[(t + 1) * block..(t + 2) * block],
            g,
            data_mut(dc)?,
            out,
        );
        Ok(())
    }
    fn softmax_cross_entropy_masked(
        &self,
        logits: CpuTensor<E>,
        labels: &CpuIndex,
    ) -> Result<(CpuTensor<E>, CpuTensor<E>)> {
        let op = "softmax_cross_entropy_masked";
        let s = logits.shape;
        let lab = index_slice(labels);
        masked_checks(op, s, lab)?;
        let mut y = logits;
        let cols = s.cols.max(1);
        par_rows(data_mut(&mut y)?, cols, |v, _| simd::softmax_rows(v, cols));
        let (total, count) = simd::sum_log_picked_masked(data(&y), cols, lab, IGNORE_LABEL);
        let loss = -total / E::of(count as f64);
        Ok((y, scalar(loss)?))
    }
    fn softmax_cross_entropy_masked_backward(
        &self,
        y: CpuTensor<E>,
        labels: &CpuIndex,
        dout: E,
    ) -> Result<CpuTensor<E>> {
        let op = "softmax_cross_entropy_masked_backward";
        let s = y.shape;
        let lab = index_slice(labels);
        let count = E::of(masked_checks(op, s, lab)? as f64);
        let mut dx = y;
        let cols = s.cols.max(1);
        par_rows(data_mut(&mut dx)?, cols, |v, first| {
            let labs = &lab[first..first + v.len() / cols];
            for (row, &l) in v.chunks_exact_mut(cols).zip(labs) {
                if l == IGNORE_LABEL {
                    row.fill(E::zero());
                    continue;
                }
                row[l as usize] -= E::one();
                simd::apply(row, |e| e * dout / count);
            }
        });
        Ok(dx)
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

/// A masked loss's labels: one per row, at least one row, those not ignored in range, and at
/// least one of them. Returns how many are not ignored.
fn masked_checks(op: &'static str, s: Shape, labels: &[u32]) -> Result<usize> {
    check::labels(op, s, labels.len())?;
    let mut count = 0;
    for (row, &l) in labels.iter().enumerate() {
        if l == IGNORE_LABEL {
            continue;
        }
        if l as usize >= s.cols {
            return Err(Error::LabelOutOfRange {
                label: l as usize,
                row,
                classes: s.cols,
            });
        }
        count += 1;
    }
    if count == 0 {
        return Err(Error::invalid(format!(
            "{op}: every label is the ignore label, so the mean loss is over no position"
        )));
    }
    Ok(count)
}

/// `f(rows, first_row)` over whole rows of `v` (`cols` wide), in parallel chunks of rows above
/// [`PARALLEL_ELEMS`] elements.
fn par_rows<E: CpuFloat>(v: &mut [E], cols: usize, f: impl Fn(&mut [E], usize) + Sync) {
    if v.len() < PARALLEL_ELEMS {
        return f(v, 0);
    }
    use rayon::prelude::*;
    let rows = (PARALLEL_ELEMS / 2).div_ceil(cols);
    v.par_chunks_mut(rows * cols)
        .enumerate()
        .for_each(|(k, chunk)| f(chunk, k * rows));
}

fn binary_checks(op: &'static str, s: Shape, labels: &CpuIndex) -> Result<()> {
    check::binary(op, s, labels.0.len())?;
    labels_in_range(index_slice(labels), 2)
}
