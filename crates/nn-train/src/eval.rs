//! Prediction in bounded chunks, over host data or a copy on the device: classes, accuracy,
//! the decision boundary.

use crate::{Dataset, DeviceData, HostFloat};
use nn_core::{Backend, Error, Float, Result, Shape};
use nn_layers::Model;

/// Rows predicted per chunk at most: bounds memory whatever the number of points.
pub const CHUNK_ROWS: usize = 1 << 16;
/// Input values (rows × columns) predicted per chunk at most, so that wide rows make shorter
/// chunks: 1337 rows of 784 values (MNIST's width), while 2-wide rows (the spiral, the
/// decision boundary's grid) stay at [`CHUNK_ROWS`]. One chunk of a large data set would hold
/// all its hidden activations at once: bounded chunks take a fraction of the memory, and less
/// time too, as they stay in cache.
pub const CHUNK_VALUES: usize = 1 << 20;

/// The predicted class (`argmax` of the scores; for one output column, score above 0: see
/// [`Model::classes`]) of every row of `x` (`cols` per row). Inputs that are not finite, and
/// scores that are NaN, are an error, not a class picked from NaN.
pub fn predict_classes<B: Backend, M: Model<B> + ?Sized, E: HostFloat>(
    model: &mut M,
    x: &[E],
    cols: usize,
) -> Result<Vec<u32>> {
    if cols != model.input_size() {
        return Err(Error::shape(
            "predict_classes",
            format!(
                "rows of {cols} values; the model takes {}",
                model.input_size()
            ),
        ));
    }
    if !x.len().is_multiple_of(cols) {
        return Err(Error::shape(
            "predict_classes",
            format!("{} values do not make rows of {cols}", x.len()),
        ));
    }
    crate::data::finite_rows(x, cols)?;
    let b = model.backend().clone();
    let mut out = Vec::with_capacity(x.len() / cols);
    // `max(1)`: a model of no inputs (cols 0) gets no rows, not a panic from `chunks(0)`.
    for chunk in x.chunks(chunk_rows(cols).saturating_mul(cols).max(1)) {
        let t = E::upload(&b, chunk, Shape::new(chunk.len() / cols, cols))?;
        out.extend(classes_of(&b, &model.predict(&t)?, out.len())?);
    }
    Ok(out)
}

/// Rows of `cols` values per chunk: [`CHUNK_VALUES`] values, between 1 and [`CHUNK_ROWS`] rows.
fn chunk_rows(cols: usize) -> usize {
    (CHUNK_VALUES / cols.max(1)).clamp(1, CHUNK_ROWS)
}

/// The predicted class of every row of `data`, a copy on the device made by
/// [`Dataset::to_device`]: [`predict_classes`] without converting and copying the inputs from
/// the host again. Data that fits one chunk is predicted as it is; larger data is gathered
/// into chunks on the device (by row numbers uploaded once a call, 4 bytes a row). The model
/// must take `data`'s rows and tell its classes apart.
pub fn predict_classes_device<B: Backend, M: Model<B> + ?Sized>(
    model: &mut M,
    data: &DeviceData<B>,
) -> Result<Vec<u32>> {
    data.check_model("predict_classes_device", model)?;
    let b = model.backend().clone();
    let (len, rows) = (data.len(), chunk_rows(data.cols()));
    if len <= rows {
        return classes_of(&b, &model.predict(data.x())?, 0);
    }
    // `Dataset` limits rows to `u32::MAX`, so the indices fit.
    let order = b.index_from_host(&(0..len as u32).collect::<Vec<_>>())?;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let n = rows.min(len - out.len());
        let x = b.gather_rows(data.x(), &order, out.len(), n)?;
        out.extend(classes_of(&b, &model.predict(&x)?, out.len())?);
    }
    Ok(out)
}

/// The class of each row of `scores` (`first_row` is its first row's number in the whole
/// input, for errors): the `argmax`, or for one column (a binary classifier's logit, see
/// [`Model::classes`]) 1 where the score is above 0. A NaN score is an error, not the class 0
/// that `argmax` or `> 0` would make of it.
fn classes_of<B: Backend>(b: &B, scores: &B::Tensor, first_row: usize) -> Result<Vec<u32>> {
    let cols = b.shape(scores).cols;
    if cols == 1 {
        let s = b.to_host(scores)?;
        no_nan(&s, 1, first_row)?;
        return Ok(s.iter().map(|v| u32::from(v.f64() > 0.0)).collect());
    }
    // A NaN anywhere makes the sum of squares NaN (infinities make it infinite): one reduction
    // on the device; the scores come to the host only to name the row.
    if b.scalar(&b.sum_squares(scores)?)?.is_nan() {
        no_nan(&b.to_host(scores)?, cols, first_row)?;
    }
    b.index_to_host(&b.argmax_rows(scores)?)
}

fn no_nan<E: Float>(scores: &[E], cols: usize, first_row: usize) -> Result<()> {
    match scores.iter().position(|v| v.f64().is_nan()) {
        None => Ok(()),
        Some(i) => Err(Error::invalid(format!(
            "the model's score for row {} (column {}) is NaN: its weights are not finite, or \
             they and the inputs overflow",
            first_row + i / cols,
            i % cols
        ))),
    }
}

/// The fraction of rows of `data` whose predicted class is the label. The model must take
/// `data`'s rows and tell its classes apart, as for [`crate::Trainer::fit`].
pub fn accuracy<B: Backend, M: Model<B> + ?Sized>(model: &mut M, data: &Dataset) -> Result<f64> {
    data.check_model("accuracy", model)?;
    let pred = data.predict_classes(model)?;
    Ok(hit_rate(&pred, data.labels()))
}

/// [`accuracy`] over a copy of the data on the device ([`Dataset::to_device`]), as
/// [`Trainer::fit_device`](crate::Trainer::fit_device) trains on one: the inputs are not
/// converted and copied again. What comes back to the host is the predicted classes (4 bytes a
/// row) and the labels (`index_to_host`, which the CUDA backend answers from its host copy).
pub fn accuracy_device<B: Backend, M: Model<B> + ?Sized>(
    model: &mut M,
    data: &DeviceData<B>,
) -> Result<f64> {
    data.check_model("accuracy_device", model)?;
    let pred = predict_classes_device(model, data)?;
    let labels = model.backend().index_to_host(data.t())?;
    Ok(hit_rate(&pred, &labels))
}

/// The fraction of `pred` equal to `labels` (as many, at least one).
fn hit_rate(pred: &[u32], labels: &[u32]) -> f64 {
    let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    hits as f64 / labels.len() as f64
}

/// The predicted class at every point of a grid over the data (the book's decision-boundary
/// figure): `np.meshgrid(np.arange(x_min, x_max, h), np.arange(y_min, y_max, h))`.
#[derive(Clone, Debug)]
pub struct Boundary {
    /// First grid coordinate on the x axis.
    pub x_min: f64,
    /// First grid coordinate on the y axis.
    pub y_min: f64,
    /// Grid step.
    pub h: f64,
    /// Points along x.
    pub nx: usize,
    /// Points along y.
    pub ny: usize,
    /// `ny × nx` classes, row-major (row = y): a byte each, so at most 256 classes.
    pub classes: Vec<u8>,
}

fn arange_len(start: f64, stop: f64, h: f64) -> usize {
    ((stop - start) / h).ceil().max(0.0) as usize
}

/// The most points [`decision_boundary`] evaluates: 10⁸ (the book's grid, step 0.001 over the
/// spiral, is 2112 × 2047 ≈ 4.3 × 10⁶).
pub const MAX_GRID_POINTS: usize = 100_000_000;

/// Predicts the class on a grid of step `h` over the 2-D inputs of `data`, margin 0.1, as the
/// book does, in chunks of [`CHUNK_ROWS`] points. A step that would give more than
/// [`MAX_GRID_POINTS`] points is an error.
pub fn decision_boundary<B: Backend, M: Model<B> + ?Sized>(
    model: &mut M,
    data: &Dataset,
    h: f64,
) -> Result<Boundary> {
    if data.cols() != 2 {
        return Err(Error::invalid("a decision boundary needs 2-D inputs"));
    }
    if model.classes() > 256 {
        return Err(Error::invalid(format!(
            "a decision boundary keeps classes as bytes: at most 256, the model has {}",
            model.classes()
        )));
    }
    if !(h.is_finite() && h > 0.0) {
        return Err(Error::invalid(format!("grid step must be > 0, got {h}")));
    }
    let range = |c: usize| {
        let (lo, hi) = data.column_range(c);
        (lo - 0.1, hi + 0.1)
    };
    let ((x0, x1), (y0, y1)) = (range(0), range(1));
    let (nx, ny) = (arange_len(x0, x1, h), arange_len(y0, y1, h));
    let total = nx
        .checked_mul(ny)
        .filter(|&n| n <= MAX_GRID_POINTS)
        .ok_or_else(|| {
            Error::invalid(format!(
                "grid step {h:e} gives {nx} × {ny} points, more than {MAX_GRID_POINTS}: use a larger step"
            ))
        })?;
    let b = model.backend().clone();
    let mut classes = Vec::with_capacity(total);
    let mut buf = Vec::with_capacity(CHUNK_ROWS * 2);
    let mut k = 0;
    while k < total {
        let n = CHUNK_ROWS.min(total - k);
        buf.clear();
        for p in k..k + n {
            buf.push(x0 + (p % nx) as f64 * h);
            buf.push(y0 + (p / nx) as f64 * h);
        }
        let scores = model.predict(&b.from_f64(&buf, Shape::new(n, 2))?)?;
        classes.extend(classes_of(&b, &scores, k)?.iter().map(|&c| c as u8));
        k += n;
    }
    Ok(Boundary {
        x_min: x0,
        y_min: y0,
        h,
        nx,
        ny,
        classes,
    })
}
