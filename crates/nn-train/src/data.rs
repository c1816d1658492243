//! Data sets on the host, checked once, and their copies on the device.

use nn_core::{Backend, DType, Error, Float, NumpyRng, Result, Shape};
use nn_layers::Model;
use std::borrow::Cow;

/// A classification data set on the host: `rows × cols` inputs and one class label per row.
///
/// Built only through checking constructors, so a `Dataset` always has finite inputs, at least
/// one row, and labels below `classes`. The inputs stay in the precision they came in (`f32`
/// or `f64`): a large single-precision data set is not copied into double precision, and goes
/// to an f32 device as it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    x: Values,
    cols: usize,
    labels: Vec<u32>,
    classes: usize,
}

/// Input values in the precision they came in.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// The host precisions a [`Dataset`] holds its inputs in: `f32` and `f64`.
pub trait HostFloat: Float + sealed::Sealed {
    /// Copies rows of this type to `backend`'s device, in its element type.
    fn upload<B: Backend>(backend: &B, data: &[Self], shape: Shape) -> Result<B::Tensor>;
    #[doc(hidden)]
    fn into_values(v: Vec<Self>) -> ValuesOf;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// Opaque: a [`Dataset`]'s storage (for [`HostFloat`]'s sake).
#[doc(hidden)]
#[derive(Debug)]
pub struct ValuesOf(Values);

impl HostFloat for f32 {
    fn upload<B: Backend>(backend: &B, data: &[f32], shape: Shape) -> Result<B::Tensor> {
        backend.from_f32(data, shape)
    }
    fn into_values(v: Vec<f32>) -> ValuesOf {
        ValuesOf(Values::F32(v))
    }
}

impl HostFloat for f64 {
    fn upload<B: Backend>(backend: &B, data: &[f64], shape: Shape) -> Result<B::Tensor> {
        backend.from_f64(data, shape)
    }
    fn into_values(v: Vec<f64>) -> ValuesOf {
        ValuesOf(Values::F64(v))
    }
}

/// Calls `$f(values)` with the inputs as `&[f32]` or `&[f64]`.
macro_rules! with_values {
    ($x:expr, |$v:ident| $body:expr) => {
        match $x {
            Values::F32($v) => $body,
            Values::F64($v) => $body,
        }
    };
}

/// Every value of `x` (rows of `cols`) must be finite: the error names the first that is not.
pub(crate) fn finite_rows<E: Float>(x: &[E], cols: usize) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::NonFinite(format!(
            "x (row {}, column {})",
            i / cols,
            i % cols
        ))),
    }
}

impl Dataset {
    /// Inputs `x` (row-major, `cols` per row; `f32` or `f64`, kept as they are) with class
    /// indices `labels` in `0..classes`.
    pub fn new<E: HostFloat>(
        x: Vec<E>,
        cols: usize,
        labels: Vec<u32>,
        classes: usize,
    ) -> Result<Self> {
        if x.is_empty() || cols == 0 {
            return Err(Error::Empty("the input data x".into()));
        }
        if !x.len().is_multiple_of(cols) {
            return Err(Error::shape(
                "Dataset",
                format!("{} values do not make rows of {cols}", x.len()),
            ));
        }
        let rows = x.len() / cols;
        if rows > u32::MAX as usize {
            return Err(Error::invalid(format!(
                "{rows} rows: batches are gathered by 32-bit row indices, so at most {}",
                u32::MAX
            )));
        }
        if rows != labels.len() {
            return Err(Error::shape(
                "Dataset",
                format!("x has {rows} rows but t has {}", labels.len()),
            ));
        }
        finite_rows(&x, cols)?;
        if let Some(row) = labels.iter().position(|&l| l as usize >= classes) {
            return Err(Error::LabelOutOfRange {
                label: labels[row] as usize,
                row,
                classes,
            });
        }
        Ok(Dataset {
            x: E::into_values(x).0,
            cols,
            labels,
            classes,
        })
    }

    /// Inputs with one-hot targets `t` (`rows × classes`), as the book's `spiral.load_data`
    /// returns them. Each row of `t` must hold a single 1 and zeros elsewhere.
    pub fn from_one_hot<E: HostFloat>(
        x: Vec<E>,
        cols: usize,
        t: &[f64],
        classes: usize,
    ) -> Result<Self> {
        if classes == 0 || !t.len().is_multiple_of(classes) {
            return Err(Error::shape(
                "Dataset",
                format!(
                    "{} target values do not make rows of {classes} classes",
                    t.len()
                ),
            ));
        }
        let mut labels = Vec::with_capacity(t.len() / classes);
        for (row, r) in t.chunks_exact(classes).enumerate() {
            let ones: Vec<usize> = (0..classes).filter(|&j| r[j] == 1.0).collect();
            if ones.len() != 1 || r.iter().any(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::invalid(format!(
                    "row {row} of t is not one-hot: {r:?}"
                )));
            }
            labels.push(ones[0] as u32);
        }
        Self::new(x, cols, labels, classes)
    }

    /// Number of rows (samples).
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// Always false: a `Dataset` has at least one row.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Width of an input row.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// That `model` takes rows this wide and tells this many classes apart
    /// ([`Model::classes`]); `op` names the caller in the error.
    pub(crate) fn check_model<B: Backend, M: Model<B> + ?Sized>(
        &self,
        op: &'static str,
        model: &M,
    ) -> Result<()> {
        check_model(op, self.cols, self.classes, model)
    }
    /// [`eval::predict_classes`](crate::eval::predict_classes) of the inputs, in their
    /// precision.
    pub(crate) fn predict_classes<B: Backend, M: Model<B> + ?Sized>(
        &self,
        model: &mut M,
    ) -> Result<Vec<u32>> {
        with_values!(&self.x, |x| crate::eval::predict_classes(
            model, x, self.cols
        ))
    }

    /// Inputs, row-major, as `f64` (a copy when they are held in `f32`).
    pub fn x(&self) -> Cow<'_, [f64]> {
        match &self.x {
            Values::F64(v) => Cow::Borrowed(v),
            Values::F32(v) => Cow::Owned(v.iter().map(|&x| f64::from(x)).collect()),
        }
    }
    /// The precision the inputs are held in.
    pub fn dtype(&self) -> DType {
        match self.x {
            Values::F32(_) => DType::F32,
            Values::F64(_) => DType::F64,
        }
    }
    /// Class labels.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }
    /// The smallest and largest value of input column `c`.
    ///
    /// # Panics
    /// If `c` is not below [`cols`](Self::cols), as indexing past a slice does.
    pub fn column_range(&self, c: usize) -> (f64, f64) {
        assert!(
            c < self.cols,
            "column {c} is out of range for data with {} columns",
            self.cols
        );
        with_values!(&self.x, |x| {
            let v = x.iter().skip(c).step_by(self.cols).map(|&e| e.f64());
            let lo = v.clone().fold(f64::INFINITY, f64::min);
            let hi = v.fold(f64::NEG_INFINITY, f64::max);
            (lo, hi)
        })
    }
    /// One row of inputs.
    ///
    /// # Panics
    /// If `i` is not below [`len`](Self::len), as indexing past a slice does.
    pub fn row(&self, i: usize) -> Vec<f64> {
        let r = i * self.cols..(i + 1) * self.cols;
        with_values!(&self.x, |x| x[r].iter().map(|&e| e.f64()).collect())
    }
    /// The targets as one-hot rows (`len × classes`).
    pub fn one_hot(&self) -> Vec<f64> {
        let mut t = vec![0.0; self.len() * self.classes];
        for (i, &l) in self.labels.iter().enumerate() {
            t[i * self.classes + l as usize] = 1.0;
        }
        t
    }

    /// Copies the data set to `backend`'s device once, converting inputs to its element type.
    /// [`Trainer::fit_device`](crate::Trainer::fit_device) trains on the copy, and
    /// [`eval::accuracy_device`](crate::eval::accuracy_device) evaluates on it, without making
    /// another.
    pub fn to_device<B: Backend>(&self, backend: &B) -> Result<DeviceData<B>> {
        let shape = Shape::new(self.len(), self.cols);
        Ok(DeviceData {
            x: with_values!(&self.x, |x| HostFloat::upload(backend, x, shape))?,
            t: backend.index_from_host(&self.labels)?,
            len: self.len(),
            cols: self.cols,
            classes: self.classes,
        })
    }
}

/// That `model` takes rows `cols` wide and tells `classes` classes apart.
fn check_model<B: Backend, M: Model<B> + ?Sized>(
    op: &'static str,
    cols: usize,
    classes: usize,
    model: &M,
) -> Result<()> {
    if cols != model.input_size() {
        return Err(Error::shape(
            op,
            format!(
                "x has {cols} columns; the model takes {}",
                model.input_size()
            ),
        ));
    }
    if classes != model.classes() {
        return Err(Error::shape(
            op,
            format!(
                "t has {classes} classes; the model tells {} apart",
                model.classes()
            ),
        ));
    }
    Ok(())
}

/// A [`Dataset`] copied to a backend's device by [`Dataset::to_device`]; batches are gathered
/// from it there. Only `to_device` makes one, so its labels are known to be below
/// [`classes`](Self::classes).
#[derive(Clone, Debug)]
pub struct DeviceData<B: Backend> {
    x: B::Tensor,
    t: B::Index,
    len: usize,
    cols: usize,
    classes: usize,
}

impl<B: Backend> DeviceData<B> {
    /// Inputs, `len × cols`.
    pub fn x(&self) -> &B::Tensor {
        &self.x
    }
    /// Class labels.
    pub fn t(&self) -> &B::Index {
        &self.t
    }
    /// Number of rows (at least one).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Always false, as for [`Dataset`].
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Width of an input row.
    pub fn cols(&self) -> usize {
        self.cols
    }
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }
    /// That `model` fits this data; `op` names the caller in the error.
    pub(crate) fn check_model<M: Model<B> + ?Sized>(
        &self,
        op: &'static str,
        model: &M,
    ) -> Result<()> {
        check_model(op, self.cols, self.classes, model)
    }
}

/// The book's spiral data set (`dataset/spiral.py`): three interleaved arms of 100 points each.
pub mod spiral {
    use super::Dataset;
    use nn_core::NumpyRng;

    /// Points per class.
    pub const N: usize = 100;
    /// Input dimension.
    pub const DIM: usize = 2;
    /// Number of classes.
    pub const CLS_NUM: usize = 3;

    /// `load_data(seed)` as the book calls it: seeds a fresh NumPy-compatible stream.
    /// To go on drawing from the same stream (initial weights, shuffles), use [`load_data_from`].
    pub fn load_data(seed: u32) -> Dataset {
        load_data_from(&mut NumpyRng::new(seed))
    }

    /// The spiral drawn from `rng`, which then continues where the book's stream would.
    pub fn load_data_from(rng: &mut NumpyRng) -> Dataset {
        let mut x = vec![0.0; N * CLS_NUM * DIM];
        let mut labels = vec![0u32; N * CLS_NUM];
        for j in 0..CLS_NUM {
            for i in 0..N {
                let rate = i as f64 / N as f64;
                let radius = 1.0 * rate;
                let theta = j as f64 * 4.0 + 4.0 * rate + rng.randn() * 0.2;
                let ix = N * j + i;
                x[ix * DIM] = radius * theta.sin();
                x[ix * DIM + 1] = radius * theta.cos();
                labels[ix] = j as u32;
            }
        }
        Dataset::new(x, DIM, labels, CLS_NUM).expect("the spiral is finite and labelled")
    }
}

/// The book's shuffle, as indices: `x = x[perm]` composes each epoch's permutation with the
/// order so far, so the order is kept on the host and uploaded once per epoch.
#[derive(Clone, Debug)]
pub struct Shuffle {
    order: Vec<u32>,
}

impl Shuffle {
    /// The identity order over `n` rows.
    ///
    /// # Panics
    /// If `n` is above `u32::MAX` (row indices are 32-bit; [`Dataset::new`] refuses such data).
    pub fn new(n: usize) -> Self {
        assert!(
            u32::try_from(n).is_ok(),
            "Shuffle::new: {n} rows do not fit 32-bit row indices"
        );
        Shuffle {
            order: (0..n as u32).collect(),
        }
    }

    /// Draws `np.random.permutation(n)` and applies it as the book's `x = x[idx]` does.
    pub fn next_epoch(&mut self, rng: &mut NumpyRng) -> &[u32] {
        let perm = rng.permutation(self.order.len());
        self.order = perm.iter().map(|&i| self.order[i]).collect();
        &self.order
    }

    /// The current order: row `k` of the shuffled data is row `order()[k]` of the original.
    pub fn order(&self) -> &[u32] {
        &self.order
    }
}
