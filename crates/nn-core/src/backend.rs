//! The device contract: every op a layer, optimizer or trainer needs, on opaque tensors.
//!
//! Why it is shaped this way:
//! - **Opaque handles.** A backend owns its tensors; data crosses to and from the host only
//!   through [`Backend::from_host`] and [`Backend::to_host`], so a GPU backend never pays a
//!   hidden copy and a training step stays on the device.
//! - **Coarse ops.** Each op does a whole layer's worth of work (softmax with cross-entropy
//!   is one call), so a training step is a few dozen calls and per-call overhead stays small.
//! - **One element type per backend value.** `Cpu<f32>`, `Cpu<f64>` and `Cuda<f32>` are distinct
//!   backends; layer code is generic over `B: Backend` alone and never matches on a dtype.
//! - **Losses and norms stay on the device** as `1 × 1` tensors until someone reads them.
//!
//! Shapes are checked by every op (see [`check`]); a wrong shape is an [`Error::Shape`], never
//! a panic.

use crate::{Error, Float, Result, Shape};
use std::fmt::Debug;

/// A tensor backend: memory, linear algebra, activations, losses, in-place updates, indexing.
///
/// Implemented by `nn_cpu::Cpu<E>` (ndarray) and `nn_cuda::Cuda<E>` (cuBLAS + NVRTC kernels).
/// Backend values are cheap to clone (a handle to the device context).
// `from_host(&self, ..)` reads as what it does: the backend value is the device the data goes to.
#[allow(clippy::wrong_self_convention)]
pub trait Backend: Clone + Debug + Send + Sync + 'static {
    /// The compute element type.
    type Elem: Float;
    /// A matrix of `Elem` owned by the backend.
    type Tensor: Clone + Debug + Send + Sync;
    /// A vector of `u32` indices (class labels, permutations) owned by the backend.
    type Index: Clone + Debug + Send + Sync;
    /// Device work recorded once and replayed ([`capture`](Backend::capture)): a CUDA graph;
    /// [`NoGraph`](crate::NoGraph) where the backend has none.
    type Graph: Debug;

    /// Short name of the device kind: `"cpu"` or `"cuda"`.
    fn name(&self) -> &'static str;

    // ---- memory ----------------------------------------------------------------------------
    /// Copies row-major host data of the given shape to the device.
    fn from_host(&self, data: &[Self::Elem], shape: Shape) -> Result<Self::Tensor>;
    /// Copies a tensor back to the host, row-major.
    fn to_host(&self, t: &Self::Tensor) -> Result<Vec<Self::Elem>>;
    /// A tensor of zeros.
    fn zeros(&self, shape: Shape) -> Result<Self::Tensor>;
    /// The shape of a tensor.
    fn shape(&self, t: &Self::Tensor) -> Shape;
    /// Copies host indices to the device.
    fn index_from_host(&self, idx: &[u32]) -> Result<Self::Index>;
    /// Copies indices back to the host.
    fn index_to_host(&self, idx: &Self::Index) -> Result<Vec<u32>>;
    /// Number of indices.
    fn index_len(&self, idx: &Self::Index) -> usize;
    /// Waits until all queued work is done (a no-op on the CPU).
    fn synchronize(&self) -> Result<()>;

    // ---- linear algebra ----------------------------------------------------------------------
    /// `op(a) · op(b)`, where `op` transposes when its flag is set.
    fn matmul(
        &self,
        a: &Self::Tensor,
        ta: bool,
        b: &Self::Tensor,
        tb: bool,
    ) -> Result<Self::Tensor>;
    /// `a + row`, the `1 × n` row broadcast over every row of `a` (the Affine bias).
    fn add_row(&self, a: &Self::Tensor, row: &Self::Tensor) -> Result<Self::Tensor>;
    /// Elementwise product `a · b`.
    fn mul(&self, a: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor>;
    /// Column sums: `(m, n) → (1, n)` (NumPy's `sum(axis=0)`).
    fn sum_rows(&self, a: &Self::Tensor) -> Result<Self::Tensor>;

    // ---- activations -------------------------------------------------------------------------
    /// `1 / (1 + exp(-x))`, elementwise.
    fn sigmoid(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
    /// `dout · (1 - out) · out`, given the sigmoid's output.
    fn sigmoid_backward(&self, out: &Self::Tensor, dout: &Self::Tensor) -> Result<Self::Tensor>;
    /// `max(x, 0)`, elementwise.
    fn relu(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
    /// `dout` where `x > 0`, else 0.
    fn relu_backward(&self, x: &Self::Tensor, dout: &Self::Tensor) -> Result<Self::Tensor>;
    /// Row-wise softmax, stabilised by subtracting each row's maximum.
    fn softmax(&self, x: &Self::Tensor) -> Result<Self::Tensor>;

    // ---- losses (results stay on the device as 1 × 1 tensors) --------------------------------
    /// Softmax of `logits` and the mean cross-entropy `-Σ log(y[i, t[i]] + 1e-7) / n`.
    fn softmax_cross_entropy(
        &self,
        logits: &Self::Tensor,
        labels: &Self::Index,
    ) -> Result<(Self::Tensor, Self::Tensor)>;
    /// `(y - onehot(t)) · dout / n`, given the softmax output `y`.
    fn softmax_cross_entropy_backward(
        &self,
        y: &Self::Tensor,
        labels: &Self::Index,
        dout: Self::Elem,
    ) -> Result<Self::Tensor>;
    /// Binary cross-entropy of sigmoid outputs `y` (`n × 1`) against 0/1 labels:
    /// `-Σ log(p[i] + 1e-7) / n` with `p = y` where `t = 1`, `1 - y` where `t = 0`.
    fn binary_cross_entropy(&self, y: &Self::Tensor, labels: &Self::Index) -> Result<Self::Tensor>;
    /// `(y - t) · dout / n` for sigmoid outputs `y` (`n × 1`) and 0/1 labels.
    fn binary_cross_entropy_backward(
        &self,
        y: &Self::Tensor,
        labels: &Self::Index,
        dout: Self::Elem,
    ) -> Result<Self::Tensor>;

    // ---- in-place updates (optimizers, clipping, loss accumulation) --------------------------
    /// `y += alpha · x`.
    fn axpy(&self, y: &mut Self::Tensor, alpha: Self::Elem, x: &Self::Tensor) -> Result<()>;
    /// `y = beta · y + alpha · x`.
    fn axpby(
        &self,
        y: &mut Self::Tensor,
        alpha: Self::Elem,
        x: &Self::Tensor,
        beta: Self::Elem,
    ) -> Result<()>;
    /// `x *= alpha`.
    fn scale(&self, x: &mut Self::Tensor, alpha: Self::Elem) -> Result<()>;
    /// `y += c · (x - y)` (Adam's first moment).
    fn lerp(&self, y: &mut Self::Tensor, x: &Self::Tensor, c: Self::Elem) -> Result<()>;
    /// `y += c · (x² - y)` (Adam's second moment).
    fn lerp_square(&self, y: &mut Self::Tensor, x: &Self::Tensor, c: Self::Elem) -> Result<()>;
    /// `y += (c · x) · x` (AdaGrad's and RMSprop's sums of squares).
    fn add_square(&self, y: &mut Self::Tensor, x: &Self::Tensor, c: Self::Elem) -> Result<()>;
    /// `p -= (lr · num) / (sqrt(den) + eps)` (the adaptive optimizers' step).
    fn adaptive_step(
        &self,
        p: &mut Self::Tensor,
        num: &Self::Tensor,
        den: &Self::Tensor,
        lr: Self::Elem,
        eps: Self::Elem,
    ) -> Result<()>;
    /// `Σ x²` as a `1 × 1` tensor (for gradient clipping).
    fn sum_squares(&self, x: &Self::Tensor) -> Result<Self::Tensor>;

    // ---- indexing ----------------------------------------------------------------------------
    /// Rows `src[idx[start]], …, src[idx[start + len - 1]]`: a shuffled batch, gathered on the device.
    fn gather_rows(
        &self,
        src: &Self::Tensor,
        idx: &Self::Index,
        start: usize,
        len: usize,
    ) -> Result<Self::Tensor>;
    /// `src[idx[start]], …, src[idx[start + len - 1]]` for index vectors (labels of a batch).
    fn gather_index(
        &self,
        src: &Self::Index,
        idx: &Self::Index,
        start: usize,
        len: usize,
    ) -> Result<Self::Index>;
    /// The column of each row's maximum (the first one on ties, as NumPy's `argmax`).
    fn argmax_rows(&self, x: &Self::Tensor) -> Result<Self::Index>;

    // ---- sequences -------------------------------------------------------------------------
    // A batch of `n` sequences over `T` time steps is held time-major: a `(T·n) × D` matrix
    // whose rows `t·n .. (t+1)·n` are time step `t`, so that each step is one contiguous block
    // of rows and the layers around the recurrence (embedding, affine, loss) are one op over
    // all steps.
    /// Rows `start..start + len` of `x` as a tensor sharing its memory (no copy). Like any
    /// shared tensor, writing to it (or to `x`) copies it first.
    fn rows(&self, x: &Self::Tensor, start: usize, len: usize) -> Result<Self::Tensor>;
    /// Copies `src` over rows `start..start + src.rows` of `dst`, in place.
    fn write_rows(&self, dst: &mut Self::Tensor, start: usize, src: &Self::Tensor) -> Result<()>;
    /// `dst[idx[i], :] += src[i, :]` for every row `i` of `src`, in order, so that repeated
    /// indices accumulate (NumPy's `np.add.at`: the Embedding backward).
    fn scatter_add_rows(
        &self,
        dst: &mut Self::Tensor,
        idx: &Self::Index,
        src: &Self::Tensor,
    ) -> Result<()>;
    /// `tanh(x)`, elementwise.
    fn tanh(&self, x: &Self::Tensor) -> Result<Self::Tensor>;
    /// `dout · (1 - y²)`, given the tanh's output `y`.
    fn tanh_backward(&self, y: &Self::Tensor, dout: &Self::Tensor) -> Result<Self::Tensor>;
    /// One RNN step, written over rows `start..start + n` of `hs`:
    /// `tanh((hw + xw) + b)`, with `hw = h_prev · Wh` and `xw = x · Wx` (`n × H`), `b` `1 × H`.
    fn rnn_step(
        &self,
        hs: &mut Self::Tensor,
        start: usize,
        hw: &Self::Tensor,
        xw: &Self::Tensor,
        b: &Self::Tensor,
    ) -> Result<()>;
    /// The RNN step's backward, written over rows `start..start + n` of `dts`:
    /// `dt = (dh + dh_next) · (1 - h²)` (`dh_next` absent: 0), given the step's output `h`.
    fn rnn_step_backward(
        &self,
        dts: &mut Self::Tensor,
        start: usize,
        dh: &Self::Tensor,
        dh_next: Option<&Self::Tensor>,
        h: &Self::Tensor,
    ) -> Result<()>;
    /// One LSTM step `t` over blocks of `n` rows (`n` = the rows of `xw`):
    /// `a = (xw + hw) + b` (`n × 4H`, the gates `f, g, i, o` in that order),
    /// `f, i, o = sigmoid(·)`, `g = tanh(·)`, `c = f·c_prev + g·i`, `h = o·tanh(c)`. Reads
    /// `c_prev` from block `t` of `cs`, writes `c` and `h` over block `t + 1` of `cs` and `hs`
    /// (`H` wide), and the activated gates over block `t` of `gates` (`4H` wide).
    #[allow(clippy::too_many_arguments)]
    fn lstm_step(
        &self,
        hs: &mut Self::Tensor,
        cs: &mut Self::Tensor,
        gates: &mut Self::Tensor,
        t: usize,
        xw: &Self::Tensor,
        hw: &Self::Tensor,
        b: &Self::Tensor,
    ) -> Result<()>;
    /// The LSTM step's backward at step `t` (blocks of `n` rows, `n` = the rows of `dh`), from
    /// what [`lstm_step`](Backend::lstm_step) left in `cs` and `gates`. With `dh' = dh + dh_next`
    /// (`dh_next` absent: 0) and `tc = tanh(c)`: `ds = dc + (dh'·o)·(1 - tc²)`;
    /// `df = (ds·c_prev)·(f(1-f))`, `dg = (ds·i)·(1 - g²)`, `di = (ds·g)·(i(1-i))`,
    /// `do = (dh'·tc)·(o(1-o))` written over block `t` of `da` (`4H` wide); `dc` (`n × H`,
    /// the gradient from step `t + 1`, zeros at the last step) becomes `ds·f` in place.
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_backward(
        &self,
        da: &mut Self::Tensor,
        dc: &mut Self::Tensor,
        t: usize,
        dh: &Self::Tensor,
        dh_next: Option<&Self::Tensor>,
        cs: &Self::Tensor,
        gates: &Self::Tensor,
    ) -> Result<()>;
    /// Row-wise softmax of `logits` and the mean cross-entropy `-Σ log y[i, t[i]] / count`
    /// over the rows whose label is not [`IGNORE_LABEL`](crate::IGNORE_LABEL) (`count` of
    /// them; no `1e-7` inside the log: the book's `TimeSoftmaxWithLoss`). Takes the logits by
    /// value, so that a backend may write the softmax over them. Every label ignored is an
    /// error: the mean of nothing.
    fn softmax_cross_entropy_masked(
        &self,
        logits: Self::Tensor,
        labels: &Self::Index,
    ) -> Result<(Self::Tensor, Self::Tensor)>;
    /// `(y - onehot(t)) · dout / count` on the rows whose label is not ignored, 0 on the
    /// others, given the softmax `y` (taken by value: a backend may write the result over it).
    fn softmax_cross_entropy_masked_backward(
        &self,
        y: Self::Tensor,
        labels: &Self::Index,
        dout: Self::Elem,
    ) -> Result<Self::Tensor>;

    // ---- provided (backends may override to fuse) --------------------------------------------
    /// `x · w + b` with the `1 × n` bias broadcast over the rows: the Affine forward, one call
    /// so that a backend can add the bias inside the product.
    fn affine(&self, x: &Self::Tensor, w: &Self::Tensor, b: &Self::Tensor) -> Result<Self::Tensor> {
        let y = self.matmul(x, false, w, false)?;
        self.add_row(&y, b)
    }

    /// `y += alpha · x` for every pair `(y, x)` (SGD over all of a step's parameters). A GPU
    /// does it in one launch; this default calls [`axpy`](Backend::axpy) per pair. A pair of
    /// different shapes is an error (this default may have updated the pairs before it).
    fn axpy_many<'t>(
        &self,
        alpha: Self::Elem,
        pairs: impl IntoIterator<Item = (&'t mut Self::Tensor, &'t Self::Tensor)>,
    ) -> Result<()>
    where
        Self::Tensor: 't,
    {
        for (y, x) in pairs {
            self.axpy(y, alpha, x)?;
        }
        Ok(())
    }

    /// `Σ Σ x²` over all of `xs`, as a `1 × 1` tensor, one tensor's sum added at a time (the
    /// squared norm of a step's gradients, for clipping). A GPU does it in one launch; this
    /// default calls [`sum_squares`](Backend::sum_squares) and [`axpy`](Backend::axpy) per
    /// tensor.
    fn sum_squares_many<'t>(
        &self,
        xs: impl IntoIterator<Item = &'t Self::Tensor>,
    ) -> Result<Self::Tensor>
    where
        Self::Tensor: 't,
    {
        let mut total = self.zeros(Shape::scalar())?;
        for x in xs {
            let s = self.sum_squares(x)?;
            self.axpy(&mut total, Self::Elem::of(1.0), &s)?;
        }
        Ok(total)
    }

    /// The book's `clip_grads`: with `norm = sqrt(Σ Σ g²)` over all of `grads` and
    /// `rate = max_norm / (norm + 1e-6)` (both in `f64`), every gradient is scaled by `rate`
    /// when `rate < 1`. Returns the squared norm as a `1 × 1` tensor, so that nothing need be
    /// read back: a GPU does all of it in two launches, without a host round trip, where this
    /// default reads the norm to decide.
    fn clip_by_norm<'t>(
        &self,
        grads: impl IntoIterator<Item = &'t mut Self::Tensor>,
        max_norm: f64,
    ) -> Result<Self::Tensor>
    where
        Self::Tensor: 't,
    {
        check::max_norm(max_norm)?;
        let mut grads: Vec<&mut Self::Tensor> = grads.into_iter().collect();
        let squares = self.sum_squares_many(grads.iter().map(|g| &**g))?;
        let rate = max_norm / (self.scalar(&squares)?.sqrt() + 1e-6);
        if rate < 1.0 {
            for g in grads.iter_mut() {
                self.scale(g, Self::Elem::of(rate))?;
            }
        }
        Ok(squares)
    }

    /// A shuffled batch: [`gather_rows`](Backend::gather_rows) of `x` and
    /// [`gather_index`](Backend::gather_index) of its labels `t`, by the same `idx` window. A
    /// GPU does both in one launch.
    fn gather_batch(
        &self,
        x: &Self::Tensor,
        t: &Self::Index,
        idx: &Self::Index,
        start: usize,
        len: usize,
    ) -> Result<(Self::Tensor, Self::Index)> {
        Ok((
            self.gather_rows(x, idx, start, len)?,
            self.gather_index(t, idx, start, len)?,
        ))
    }

    /// Copies `f64` host data to the device, rounding to `Elem`. A finite value that `Elem`
    /// cannot hold (`1e300` in `f32`) is an [`Error::InvalidArgument`], not a silent infinity;
    /// NaN and infinities are carried over as they are.
    fn from_f64(&self, data: &[f64], shape: Shape) -> Result<Self::Tensor> {
        let mut v = check::host_vec(data.len(), || {
            format!("from_f64's {} copy of {shape}", Self::Elem::DTYPE)
        })?;
        check::convert(data, &mut v)?;
        self.from_host(&v, shape)
    }
    /// Copies `f32` host data to the device as `Elem` (exactly: every `f32` is an `f64` too),
    /// so that data kept in single precision needs no copy in double first. This default goes
    /// through [`from_f64`](Backend::from_f64); backends copy straight in.
    fn from_f32(&self, data: &[f32], shape: Shape) -> Result<Self::Tensor> {
        check::host_len(data.len(), shape)?;
        let mut v = check::host_vec(data.len(), || format!("from_f32's f64 copy of {shape}"))?;
        v.extend(data.iter().map(|&x| f64::from(x)));
        self.from_f64(&v, shape)
    }
    /// Overwrites the indices of `idx` with `data`, of the same length, in place: the same
    /// device memory, so that a captured graph reading `idx` reads the new indices when it is
    /// replayed (a batch's rows, say). This default makes a new index.
    fn write_index(&self, idx: &mut Self::Index, data: &[u32]) -> Result<()> {
        check::index_write(self.index_len(idx), data.len())?;
        *idx = self.index_from_host(data)?;
        Ok(())
    }

    /// Adam's rate for its next step, worked out where the step count lives: `step += 1`,
    /// then `lr_t = lr · sqrt(1 − β₂^step) / (1 − β₁^step)` in `f64` (powers by squaring, as
    /// Rust's `powi`), rounded to `Elem`, into `lr_t`; both `1 × 1`. A GPU does it in one
    /// launch without a host read, so a captured step stays the same from step to step; this
    /// default reads the count.
    fn adam_rate(
        &self,
        step: &mut Self::Tensor,
        lr_t: &mut Self::Tensor,
        lr: f64,
        beta1: f64,
        beta2: f64,
    ) -> Result<()> {
        check::scalar_arg("adam_rate", "step", self.shape(step))?;
        check::scalar_arg("adam_rate", "lr_t", self.shape(lr_t))?;
        let t = self.scalar(step)? + 1.0;
        let it = check::adam_step::<Self::Elem>(t)?;
        let rate = lr * (1.0 - beta2.powi(it)).sqrt() / (1.0 - beta1.powi(it));
        *step = self.from_f64(&[t], Shape::scalar())?;
        *lr_t = self.from_f64(&[rate], Shape::scalar())?;
        Ok(())
    }

    /// [`adaptive_step`](Backend::adaptive_step) with the rate read from the `1 × 1` tensor
    /// `lr` (Adam's [`adam_rate`](Backend::adam_rate)). This default reads it back.
    fn adaptive_step_at(
        &self,
        p: &mut Self::Tensor,
        num: &Self::Tensor,
        den: &Self::Tensor,
        lr: &Self::Tensor,
        eps: Self::Elem,
    ) -> Result<()> {
        check::scalar_arg("adaptive_step_at", "the rate", self.shape(lr))?;
        let lr = Self::Elem::of(self.scalar(lr)?);
        self.adaptive_step(p, num, den, lr, eps)
    }

    /// Whether [`capture`](Backend::capture) works here (on `nn_cuda::Cuda`, yes).
    fn supports_graphs(&self) -> bool {
        false
    }

    /// Records the device work `f` queues, without running it, as a graph that
    /// [`replay`](Backend::replay) runs in one launch (see `nn_cuda::Cuda::capture` for
    /// what a captured step may do). [`crate::StepGraph`] drives it for a training step.
    /// This default is an [`Error::Unsupported`].
    fn capture(&self, f: &mut dyn FnMut() -> Result<()>) -> Result<Self::Graph> {
        let _ = f;
        Err(Error::Unsupported(format!(
            "graph capture on the {} backend",
            self.name()
        )))
    }

    /// Runs a captured graph once more.
    fn replay(&self, graph: &Self::Graph) -> Result<()> {
        let _ = graph;
        Err(Error::Unsupported(format!(
            "graph replay on the {} backend",
            self.name()
        )))
    }

    /// `None` when `later`, the capture of the step after `earlier`'s, does the same work
    /// (so replaying it is the step every time); else what differs first.
    fn graph_difference(&self, later: &Self::Graph, earlier: &Self::Graph) -> Option<String> {
        let _ = (later, earlier);
        None
    }

    /// Reads a `1 × 1` tensor (a loss, a norm) back as `f64`.
    fn scalar(&self, t: &Self::Tensor) -> Result<f64> {
        let s = self.shape(t);
        if s != Shape::scalar() {
            return Err(Error::shape("scalar", format!("expected (1, 1), got {s}")));
        }
        Ok(self.to_host(t)?[0].f64())
    }
}

/// Shape checks shared by every backend, so that all backends refuse the same inputs alike.
pub mod check {
    use crate::{Error, Float, Result, Shape};

    /// The shape of `op(a) · op(b)`, or an error naming both operands.
    pub fn matmul(a: Shape, ta: bool, b: Shape, tb: bool) -> Result<Shape> {
        let a2 = if ta { a.t() } else { a };
        let b2 = if tb { b.t() } else { b };
        if a2.cols != b2.rows {
            return Err(Error::shape(
                "matmul",
                format!(
                    "{}{a} · {}{b}: inner dimensions {} and {} differ",
                    if ta { "ᵀ" } else { "" },
                    if tb { "ᵀ" } else { "" },
                    a2.cols,
                    b2.rows
                ),
            ));
        }
        Ok(Shape::new(a2.rows, b2.cols))
    }

    /// Two operands of an elementwise op must have equal shapes.
    pub fn same(op: &'static str, a: Shape, b: Shape) -> Result<()> {
        if a != b {
            return Err(Error::shape(op, format!("{a} and {b} differ")));
        }
        Ok(())
    }

    /// `row` must be `1 × a.cols`.
    pub fn row(op: &'static str, a: Shape, row: Shape) -> Result<()> {
        if row != Shape::row(a.cols) {
            return Err(Error::shape(
                op,
                format!(
                    "row operand {row} does not fit {a}: expected (1, {})",
                    a.cols
                ),
            ));
        }
        Ok(())
    }

    /// One label per row of `x`, and at least one row.
    pub fn labels(op: &'static str, x: Shape, labels: usize) -> Result<()> {
        if x.rows != labels {
            return Err(Error::shape(
                op,
                format!("{} rows but {labels} labels", x.rows),
            ));
        }
        if x.rows == 0 {
            return Err(Error::Empty(format!("{op}: the batch")));
        }
        Ok(())
    }

    /// A binary loss's input: one column (the logit or probability of class 1) and one label
    /// per row, at least one row.
    pub fn binary(op: &'static str, x: Shape, labels: usize) -> Result<()> {
        if x.cols != 1 {
            return Err(Error::shape(
                op,
                format!("expected an (n, 1) input, got {x}"),
            ));
        }
        self::labels(op, x, labels)
    }

    /// A range `start..start + len` inside `idx_len` indices.
    pub fn range(op: &'static str, idx_len: usize, start: usize, len: usize) -> Result<()> {
        if start.checked_add(len).is_none_or(|end| end > idx_len) {
            return Err(Error::shape(
                op,
                format!("{len} indices from {start} do not fit in the {idx_len} indices"),
            ));
        }
        Ok(())
    }

    /// Each index must address a row of a source of `rows` rows.
    pub fn index_bound(op: &'static str, i: u32, rows: usize) -> Result<()> {
        if i as usize >= rows {
            return Err(Error::shape(
                op,
                format!("index {i} is out of range for {rows} rows"),
            ));
        }
        Ok(())
    }

    /// Rows to take a maximum over must have at least one column (NumPy's `argmax` of an
    /// empty sequence is an error too).
    pub fn row_width(op: &'static str, x: Shape) -> Result<()> {
        if x.cols == 0 && x.rows > 0 {
            return Err(Error::Empty(format!("{op}: rows of {x}")));
        }
        Ok(())
    }

    /// A clipping threshold must be a finite number above 0.
    pub fn max_norm(v: f64) -> Result<()> {
        if v.is_finite() && v > 0.0 {
            return Ok(());
        }
        Err(Error::invalid(format!("max_norm must be > 0, got {v}")))
    }

    /// The number of elements of a `shape` given by the caller, or an error when that number
    /// overflows `usize` (where [`Shape::len`] would wrap).
    pub fn elements(op: &'static str, shape: Shape) -> Result<usize> {
        shape.rows.checked_mul(shape.cols).ok_or_else(|| {
            Error::shape(
                op,
                format!("{shape} has more elements than a usize can count"),
            )
        })
    }

    /// Appends `data` rounded to `E` to `out`, for
    /// [`Backend::from_f64`](crate::Backend::from_f64): a finite value that `E` cannot hold is
    /// an error naming its index.
    pub fn convert<E: Float>(data: &[f64], out: &mut Vec<E>) -> Result<()> {
        let start = out.len();
        out.extend(data.iter().map(|&x| E::of(x)));
        match data
            .iter()
            .zip(&out[start..])
            .position(|(x, y)| x.is_finite() && !y.f64().is_finite())
        {
            None => Ok(()),
            Some(i) => Err(Error::invalid(format!(
                "value {:e} at index {i} is beyond the range of {}",
                data[i],
                E::DTYPE
            ))),
        }
    }

    /// An empty `Vec` with room for `len` elements, or [`Error::HostMemory`] naming `what` it
    /// was for where the system will not reserve that much: a size the caller chose (a
    /// layer's width) must not end the process, as `Vec::with_capacity` would.
    pub fn host_vec<T>(len: usize, what: impl FnOnce() -> String) -> Result<Vec<T>> {
        let mut v = Vec::new();
        match v.try_reserve_exact(len) {
            Ok(()) => Ok(v),
            Err(_) => Err(Error::HostMemory {
                what: what(),
                bytes: len as u128 * std::mem::size_of::<T>() as u128,
            }),
        }
    }

    /// A copy of `data` in a [`host_vec`]: [`Error::HostMemory`] naming `what` where the
    /// system will not reserve room for it, rather than `to_vec`'s end of the process.
    pub fn host_copy<T: Clone>(data: &[T], what: impl FnOnce() -> String) -> Result<Vec<T>> {
        let mut v = host_vec(data.len(), what)?;
        v.extend_from_slice(data);
        Ok(v)
    }

    /// Rows `start..start + len` must lie inside `x`.
    pub fn rows(op: &'static str, x: Shape, start: usize, len: usize) -> Result<()> {
        if start.checked_add(len).is_none_or(|end| end > x.rows) {
            return Err(Error::shape(
                op,
                format!("rows {start}..{} of {x}", start.saturating_add(len)),
            ));
        }
        Ok(())
    }

    /// `src` must fit over rows `start..start + src.rows` of `dst`: as wide, and inside it.
    pub fn block(op: &'static str, dst: Shape, start: usize, src: Shape) -> Result<()> {
        if src.cols != dst.cols {
            return Err(Error::shape(
                op,
                format!("a block {src} written into {dst}: the widths differ"),
            ));
        }
        rows(op, dst, start, src.rows)
    }

    /// An RNN step's operands: `hw` and `xw` of one shape `n × H`, the bias `1 × H`, the
    /// output rows `start..start + n` inside `hs` (`H` wide).
    pub fn rnn_step(
        op: &'static str,
        hs: Shape,
        start: usize,
        hw: Shape,
        xw: Shape,
        b: Shape,
    ) -> Result<()> {
        same(op, hw, xw)?;
        row(op, hw, b)?;
        block(op, hs, start, hw)
    }

    /// An RNN step backward's operands: `dh`, `h` and `dh_next` (when given) of one shape, the
    /// output rows `start..start + n` inside `dts`.
    pub fn rnn_step_backward(
        dts: Shape,
        start: usize,
        dh: Shape,
        dh_next: Option<Shape>,
        h: Shape,
    ) -> Result<()> {
        let op = "rnn_step_backward";
        same(op, dh, h)?;
        if let Some(d) = dh_next {
            same(op, dh, d)?;
        }
        block(op, dts, start, dh)
    }

    /// [`Backend::lstm_step`](crate::Backend::lstm_step)'s operands: `xw` and `hw` of one shape
    /// `n × 4H`, the bias `1 × 4H`, the states and gates as [`lstm_step`] requires.
    pub fn lstm_forward(
        t: usize,
        xw: Shape,
        hw: Shape,
        b: Shape,
        hs: Shape,
        cs: Shape,
        gates: Shape,
    ) -> Result<()> {
        let op = "lstm_step";
        same(op, xw, hw)?;
        row(op, xw, b)?;
        lstm_step(op, t, xw, hs, cs, gates)
    }

    /// [`Backend::lstm_step_backward`](crate::Backend::lstm_step_backward)'s operands: `dh`,
    /// `dc` and `dh_next` (when given) `n × H`, the cells and gates as [`lstm_step`] requires,
    /// block `t` inside `da` (`4H` wide).
    pub fn lstm_backward(
        t: usize,
        da: Shape,
        dc: Shape,
        dh: Shape,
        dh_next: Option<Shape>,
        cs: Shape,
        gates: Shape,
    ) -> Result<()> {
        let op = "lstm_step_backward";
        let a = Shape::new(dh.rows, 4 * dh.cols);
        lstm_step(op, t, a, cs, cs, gates)?;
        same(op, dh, dc)?;
        if let Some(d) = dh_next {
            same(op, dh, d)?;
        }
        block(op, da, t * dh.rows, a)
    }

    /// An LSTM step's operands at step `t` over blocks of `n` rows of `H` units: `a` (the
    /// gates' pre-activations or their gradients) `n × 4H`, `hs` and `cs` at least `(t + 2)·n`
    /// rows of `H`, `gates` at least `(t + 1)·n` rows of `4H`.
    pub fn lstm_step(
        op: &'static str,
        t: usize,
        a: Shape,
        hs: Shape,
        cs: Shape,
        gates: Shape,
    ) -> Result<()> {
        let (n, h4) = (a.rows, a.cols);
        if h4 % 4 != 0 {
            return Err(Error::shape(
                op,
                format!("gates {a}: the width is not 4·H (f, g, i, o)"),
            ));
        }
        let h = h4 / 4;
        same(op, hs, cs)?;
        if hs.cols != h {
            return Err(Error::shape(
                op,
                format!("states {hs} for gates {a}: expected {h} columns"),
            ));
        }
        let end = |k: usize| t.checked_add(k).and_then(|v| v.checked_mul(n));
        if end(2).is_none_or(|e| e > hs.rows) {
            return Err(Error::shape(
                op,
                format!("step {t} of {n} rows is past the states {hs}"),
            ));
        }
        if gates.cols != h4 || end(1).is_none_or(|e| e > gates.rows) {
            return Err(Error::shape(
                op,
                format!(
                    "step {t} of {n} rows does not fit the gates {gates}: expected {h4} columns"
                ),
            ));
        }
        Ok(())
    }

    /// `what`, an argument of `op` that is one value on the device, is `1 × 1`.
    pub fn scalar_arg(op: &'static str, what: &str, shape: Shape) -> Result<()> {
        if shape == Shape::scalar() {
            return Ok(());
        }
        Err(Error::shape(
            op,
            format!("{what} is {shape}, expected (1, 1)"),
        ))
    }

    /// `data.len()` indices written over an index of `len`: the same length.
    pub fn index_write(len: usize, data: usize) -> Result<()> {
        if len == data {
            return Ok(());
        }
        Err(Error::shape(
            "write_index",
            format!("{data} indices written over an index of {len}"),
        ))
    }

    /// Adam's step count `t` (after its increment) as `i32`, when `E` still holds it exactly.
    pub fn adam_step<E: Float>(t: f64) -> Result<i32> {
        if t <= f64::from(i32::MAX) && E::of(t).f64() == t {
            return Ok(t as i32);
        }
        Err(Error::Unsupported(format!(
            "Adam's step {t}: past what its {} step count holds exactly",
            E::DTYPE
        )))
    }

    /// Host data of `len` elements must fill `shape` exactly.
    pub fn host_len(len: usize, shape: Shape) -> Result<()> {
        if len != elements("from_host", shape)? {
            return Err(Error::shape(
                "from_host",
                format!("{len} elements cannot fill {shape}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check::{host_copy, host_vec};
    use crate::Error;

    #[test]
    fn host_buffers_beyond_what_the_system_reserves_are_errors() {
        // 2⁶² u64s are 2⁶⁵ bytes: more than any address space.
        let e = host_vec::<u64>(1 << 62, || "a test's buffer".into()).unwrap_err();
        assert!(
            matches!(&e, Error::HostMemory { what, bytes } if what == "a test's buffer" && *bytes == 1 << 65),
            "{e:?}"
        );
        let v = host_vec::<u64>(3, || unreachable!("named only on failure")).unwrap();
        assert!(v.is_empty() && v.capacity() >= 3);
        assert_eq!(
            host_copy(&[1u32, 2, 3], || unreachable!()).unwrap(),
            [1, 2, 3]
        );
    }
}
