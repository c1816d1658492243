//! `Backend` for [`Cpu`]: each op a loop over contiguous slices, matmul through ndarray.

use crate::{Cpu, CpuIndex, CpuTensor};
use ndarray::{ArcArray1, ArcArray2, ArrayView2};
use nn_core::backend::check;
use nn_core::{Backend, Error, Float, Result, Shape};
use std::borrow::Cow;

fn shape_of<E: Float>(t: &CpuTensor<E>) -> Shape {
    let (r, c) = t.0.dim();
    Shape::new(r, c)
}

/// The elements in row-major order (borrowed when the array is contiguous, as ours always are).
fn data<E: Float>(t: &CpuTensor<E>) -> Cow<'_, [E]> {
    match t.0.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.0.iter().copied().collect()),
    }
}

/// Mutable row-major elements, made unique and contiguous first.
fn data_mut<E: Float>(t: &mut CpuTensor<E>) -> &mut [E] {
    if !t.0.is_standard_layout() {
        t.0 = t.0.as_standard_layout().to_owned().into_shared();
    }
    t.0.as_slice_mut()
        .expect("standard layout was just ensured")
}

fn tensor<E: Float>(v: Vec<E>, s: Shape) -> CpuTensor<E> {
    CpuTensor(ArcArray2::from_shape_vec((s.rows, s.cols), v).expect("length matches shape"))
}

fn map<E: Float>(x: &CpuTensor<E>, f: impl Fn(E) -> E) -> CpuTensor<E> {
    tensor(data(x).iter().map(|&v| f(v)).collect(), shape_of(x))
}

fn zip_map<E: Float>(
    op: &'static str,
    a: &CpuTensor<E>,
    b: &CpuTensor<E>,
    f: impl Fn(E, E) -> E,
) -> Result<CpuTensor<E>> {
    check::same(op, shape_of(a), shape_of(b))?;
    let v = data(a)
        .iter()
        .zip(data(b).iter())
        .map(|(&x, &y)| f(x, y))
        .collect();
    Ok(tensor(v, shape_of(a)))
}

fn update<E: Float>(
    op: &'static str,
    y: &mut CpuTensor<E>,
    x: &CpuTensor<E>,
    f: impl Fn(&mut E, E),
) -> Result<()> {
    check::same(op, shape_of(y), shape_of(x))?;
    let xs = data(x);
    for (a, &b) in data_mut(y).iter_mut().zip(xs.iter()) {
        f(a, b);
    }
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

fn scalar<E: Float>(v: E) -> CpuTensor<E> {
    tensor(vec![v], Shape::scalar())
}

const LOG_EPS: f64 = 1e-7;

impl<E: Float> Backend for Cpu<E> {
    type Elem = E;
    type Tensor = CpuTensor<E>;
    type Index = CpuIndex;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn from_host(&self, d: &[E], shape: Shape) -> Result<CpuTensor<E>> {
        check::host_len(d.len(), shape)?;
        Ok(tensor(d.to_vec(), shape))
    }
    fn to_host(&self, t: &CpuTensor<E>) -> Result<Vec<E>> {
        Ok(data(t).into_owned())
    }
    fn zeros(&self, shape: Shape) -> Result<CpuTensor<E>> {
        Ok(tensor(vec![E::zero(); shape.len()], shape))
    }
    fn shape(&self, t: &CpuTensor<E>) -> Shape {
        shape_of(t)
    }
    fn index_from_host(&self, idx: &[u32]) -> Result<CpuIndex> {
        Ok(CpuIndex(ArcArray1::from(idx.to_vec())))
    }
    fn index_to_host(&self, idx: &CpuIndex) -> Result<Vec<u32>> {
        Ok(idx.0.to_vec())
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
        let out = check::matmul(shape_of(a), ta, shape_of(b), tb)?;
        let av: ArrayView2<E> = if ta { a.0.t() } else { a.0.view() };
        let bv: ArrayView2<E> = if tb { b.0.t() } else { b.0.view() };
        let mut c = ndarray::Array2::<E>::zeros((out.rows, out.cols));
        ndarray::linalg::general_mat_mul(E::one(), &av, &bv, E::zero(), &mut c);
        Ok(CpuTensor(c.into_shared()))
    }

    fn add_row(&self, a: &CpuTensor<E>, row: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        let s = shape_of(a);
        check::row("add_row", s, shape_of(row))?;
        let r = data(row);
        let mut v = data(a).into_owned();
        for chunk in v.chunks_exact_mut(s.cols.max(1)) {
            for (x, &b) in chunk.iter_mut().zip(r.iter()) {
                *x += b;
            }
        }
        Ok(tensor(v, s))
    }

    fn mul(&self, a: &CpuTensor<E>, b: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        zip_map("mul", a, b, |x, y| x * y)
    }

    fn sum_rows(&self, a: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        let s = shape_of(a);
        let mut acc = vec![E::zero(); s.cols];
        for chunk in data(a).chunks_exact(s.cols.max(1)) {
            for (x, &v) in acc.iter_mut().zip(chunk) {
                *x += v;
            }
        }
        Ok(tensor(acc, Shape::row(s.cols)))
    }

    fn sigmoid(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        Ok(map(x, |v| E::one() / (E::one() + (-v).exp())))
    }
    fn sigmoid_backward(&self, out: &CpuTensor<E>, dout: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        zip_map("sigmoid_backward", out, dout, |y, d| d * (E::one() - y) * y)
    }
    fn relu(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        Ok(map(x, |v| if v > E::zero() { v } else { E::zero() }))
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
        let s = shape_of(x);
        let mut v = data(x).into_owned();
        for row in v.chunks_exact_mut(s.cols.max(1)) {
            let m = row.iter().copied().fold(E::neg_infinity(), E::max);
            let mut sum = E::zero();
            for e in row.iter_mut() {
                *e = (*e - m).exp();
                sum += *e;
            }
            for e in row.iter_mut() {
                *e /= sum;
            }
        }
        Ok(tensor(v, s))
    }

    fn softmax_cross_entropy(
        &self,
        logits: &CpuTensor<E>,
        labels: &CpuIndex,
    ) -> Result<(CpuTensor<E>, CpuTensor<E>)> {
        let s = shape_of(logits);
        check::labels("softmax_cross_entropy", s, labels.0.len())?;
        let lab = labels.0.as_slice().expect("1-D index is contiguous");
        labels_in_range(lab, s.cols)?;
        let y = self.softmax(logits)?;
        let yv = data(&y);
        let eps = E::of(LOG_EPS);
        let total: E = lab
            .iter()
            .enumerate()
            .map(|(i, &l)| (yv[i * s.cols + l as usize] + eps).ln())
            .sum();
        let loss = -total / E::of(s.rows as f64);
        drop(yv);
        Ok((y, scalar(loss)))
    }

    fn softmax_cross_entropy_backward(
        &self,
        y: &CpuTensor<E>,
        labels: &CpuIndex,
        dout: E,
    ) -> Result<CpuTensor<E>> {
        let s = shape_of(y);
        check::labels("softmax_cross_entropy_backward", s, labels.0.len())?;
        let lab = labels.0.as_slice().expect("1-D index is contiguous");
        labels_in_range(lab, s.cols)?;
        let n = E::of(s.rows as f64);
        let mut v = data(y).into_owned();
        for (row, &l) in v.chunks_exact_mut(s.cols).zip(lab) {
            row[l as usize] -= E::one();
            for e in row.iter_mut() {
                *e = *e * dout / n;
            }
        }
        Ok(tensor(v, s))
    }

    fn binary_cross_entropy(&self, y: &CpuTensor<E>, labels: &CpuIndex) -> Result<CpuTensor<E>> {
        let s = shape_of(y);
        binary_checks("binary_cross_entropy", s, labels)?;
        let eps = E::of(LOG_EPS);
        let total: E = data(y)
            .iter()
            .zip(labels.0.iter())
            .map(|(&p, &l)| if l == 1 { p + eps } else { E::one() - p + eps }.ln())
            .sum();
        Ok(scalar(-total / E::of(s.rows as f64)))
    }

    fn binary_cross_entropy_backward(
        &self,
        y: &CpuTensor<E>,
        labels: &CpuIndex,
        dout: E,
    ) -> Result<CpuTensor<E>> {
        let s = shape_of(y);
        binary_checks("binary_cross_entropy_backward", s, labels)?;
        let n = E::of(s.rows as f64);
        let v = data(y)
            .iter()
            .zip(labels.0.iter())
            .map(|(&p, &l)| (p - E::of(l as f64)) * dout / n)
            .collect();
        Ok(tensor(v, s))
    }

    fn axpy(&self, y: &mut CpuTensor<E>, alpha: E, x: &CpuTensor<E>) -> Result<()> {
        update("axpy", y, x, |a, b| *a += alpha * b)
    }
    fn axpby(&self, y: &mut CpuTensor<E>, alpha: E, x: &CpuTensor<E>, beta: E) -> Result<()> {
        update("axpby", y, x, |a, b| *a = beta * *a + alpha * b)
    }
    fn scale(&self, x: &mut CpuTensor<E>, alpha: E) -> Result<()> {
        data_mut(x).iter_mut().for_each(|v| *v *= alpha);
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
        check::same("adaptive_step", shape_of(p), shape_of(num))?;
        check::same("adaptive_step", shape_of(p), shape_of(den))?;
        let (nv, dv) = (data(num), data(den));
        for ((w, &g), &h) in data_mut(p).iter_mut().zip(nv.iter()).zip(dv.iter()) {
            *w -= lr * g / (h.sqrt() + eps);
        }
        Ok(())
    }
    fn sum_squares(&self, x: &CpuTensor<E>) -> Result<CpuTensor<E>> {
        Ok(scalar(data(x).iter().map(|&v| v * v).sum()))
    }

    fn gather_rows(
        &self,
        src: &CpuTensor<E>,
        idx: &CpuIndex,
        start: usize,
        len: usize,
    ) -> Result<CpuTensor<E>> {
        let s = shape_of(src);
        check::range("gather_rows", idx.0.len(), start, len)?;
        let d = data(src);
        let mut v = Vec::with_capacity(len * s.cols);
        for &i in idx.0.slice(ndarray::s![start..start + len]) {
            check::index_bound("gather_rows", i, s.rows)?;
            let i = i as usize;
            v.extend_from_slice(&d[i * s.cols..(i + 1) * s.cols]);
        }
        Ok(tensor(v, Shape::new(len, s.cols)))
    }

    fn gather_index(
        &self,
        src: &CpuIndex,
        idx: &CpuIndex,
        start: usize,
        len: usize,
    ) -> Result<CpuIndex> {
        check::range("gather_index", idx.0.len(), start, len)?;
        let mut v = Vec::with_capacity(len);
        for &i in idx.0.slice(ndarray::s![start..start + len]) {
            check::index_bound("gather_index", i, src.0.len())?;
            v.push(src.0[i as usize]);
        }
        Ok(CpuIndex(ArcArray1::from(v)))
    }

    fn argmax_rows(&self, x: &CpuTensor<E>) -> Result<CpuIndex> {
        let s = shape_of(x);
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
    if s.cols != 1 {
        return Err(Error::shape(
            op,
            format!("expected an (n, 1) input, got {s}"),
        ));
    }
    check::labels(op, s, labels.0.len())?;
    labels_in_range(labels.0.as_slice().expect("1-D index is contiguous"), 2)
}
