//! The book's layers for sequences (`common/time_layers.py`): Embedding, RNN, LSTM, one step
//! at a time and over whole sequences, and the sequence loss.
//!
//! A batch of `n` sequences of `T` steps is a time-major matrix: `(T·n) × D`, rows
//! `t·n .. (t+1)·n` holding step `t` (word ids likewise, `T·n` of them in that order). So the
//! book's `TimeEmbedding`, `TimeAffine` and `TimeSoftmaxWithLoss` are one op over all steps
//! (`TimeAffine` is [`Affine`](crate::Affine) itself), and only the recurrence loops over time.
//!
//! Ops per step of a [`TimeRnn`] or [`TimeLstm`] (each one kernel launch, or one cuBLAS
//! call, on a GPU): forward, the product `h_prev · Wh` and the fused step; backward, the fused
//! step and the product `dt · Whᵀ` (the gradient into the step before). Around the loop, once
//! per sequence: forward, `x · Wx` for all steps and one write of the initial state (two for an
//! LSTM); backward, `dWx`, `dWh`, `db` and `dx` as four ops over all steps. A layer of `T`
//! steps is `2T + 2` ops forward (LSTM `2T + 3`, as it zeroes its cell state too) and
//! `2T + 5` backward (LSTM `2T + 6`).

use crate::cached;
use nn_core::{Backend, Error, NumpyRng, ParamId, ParamStore, Result, Shape};

/// The book's `Embedding`: `forward` picks rows of `W` by word id; `backward` adds `dout`'s
/// rows into a zeroed `dW`, so that repeated ids accumulate (`np.add.at`). With ids of all
/// steps at once (time-major), it is the book's `TimeEmbedding` too.
#[derive(Debug, Clone)]
pub struct Embedding<B: Backend> {
    backend: B,
    w: ParamId,
    idx: Option<B::Index>,
}

/// The book's `TimeEmbedding`: an [`Embedding`] of the time-major ids of all steps at once.
pub type TimeEmbedding<B> = Embedding<B>;

impl<B: Backend> Embedding<B> {
    /// Registers `W` (`vocabulary × D`) in `store` as `{name}.W`.
    pub fn new(backend: &B, store: &mut ParamStore<B>, name: &str, w: B::Tensor) -> Result<Self> {
        let w = store.add(format!("{name}.W"), w)?;
        Ok(Self::from_id(backend, w))
    }

    /// An embedding over a weight already in the store.
    pub fn from_id(backend: &B, w: ParamId) -> Self {
        Embedding {
            backend: backend.clone(),
            w,
            idx: None,
        }
    }

    /// Rows `W[idx[i]]`, one per id (`len × D`). An id past the vocabulary is an error.
    pub fn forward(&mut self, params: &ParamStore<B>, idx: &B::Index) -> Result<B::Tensor> {
        let b = &self.backend;
        let out = b.gather_rows(params.value(self.w), idx, 0, b.index_len(idx))?;
        self.idx = Some(idx.clone());
        Ok(out)
    }

    /// Adds `dW` (zero but for the rows of the ids, where `dout`'s rows are summed) into
    /// `params`. There is no `dx`: ids have no gradient.
    pub fn backward(&mut self, params: &mut ParamStore<B>, dout: &B::Tensor) -> Result<()> {
        let b = &self.backend;
        let idx = cached(&self.idx, "Embedding")?;
        let mut dw = b.zeros(b.shape(params.value(self.w)))?;
        b.scatter_add_rows(&mut dw, idx, dout)?;
        params.accumulate_grad(b, self.w, dw)
    }

    /// The id of `W` (the book's `params`).
    pub fn params(&self) -> Vec<ParamId> {
        vec![self.w]
    }
}

/// Weights of a recurrent layer, drawn as the book draws them: `Wx = randn(D, k·H) / √D`, then
/// `Wh = randn(H, k·H) / √H`, `b = 0` (k = 1 for the RNN, 4 for the LSTM's gates).
fn recurrent_weights<B: Backend>(
    backend: &B,
    store: &mut ParamStore<B>,
    name: &str,
    d: usize,
    h: usize,
    k: usize,
    rng: &mut NumpyRng,
) -> Result<[ParamId; 3]> {
    let wx = scaled_randn(backend, rng, d, k * h, (d as f64).sqrt())?;
    let wh = scaled_randn(backend, rng, h, k * h, (h as f64).sqrt())?;
    let wx = store.add(format!("{name}.Wx"), wx)?;
    let wh = store.add(format!("{name}.Wh"), wh)?;
    let b = store.add(format!("{name}.b"), backend.zeros(Shape::row(k * h))?)?;
    Ok([wx, wh, b])
}

/// `randn(rows, cols) / div`, drawn row-major from `rng` in f64 and rounded to the backend's
/// type, as the book's `(np.random.randn(r, c) / div).astype(dtype)`.
pub fn scaled_randn<B: Backend>(
    backend: &B,
    rng: &mut NumpyRng,
    rows: usize,
    cols: usize,
    div: f64,
) -> Result<B::Tensor> {
    let shape = Shape::new(rows, cols);
    let n = nn_core::backend::check::elements("randn", shape)?;
    let mut v = nn_core::backend::check::host_vec(n, || format!("{shape} random weights"))?;
    v.extend((0..n).map(|_| rng.randn() / div));
    backend.from_f64(&v, shape)
}

/// The parameters of a recurrent layer and the shapes they imply.
#[derive(Debug, Clone, Copy)]
struct Weights {
    wx: ParamId,
    wh: ParamId,
    b: ParamId,
}

impl Weights {
    /// `(D, H)` from `Wx` (`D × k·H`) and `Wh` (`H × k·H`).
    fn sizes<B: Backend>(&self, b: &B, params: &ParamStore<B>) -> (usize, usize) {
        let (x, h) = (
            b.shape(params.value(self.wx)),
            b.shape(params.value(self.wh)),
        );
        (x.rows, h.rows)
    }

    /// The checks every recurrent forward makes: `xs` is `(T·n) × D` with `n ≥ 1` dividing
    /// its rows. Returns `(T, H)`.
    fn check_input<B: Backend>(
        &self,
        op: &'static str,
        b: &B,
        params: &ParamStore<B>,
        xs: &B::Tensor,
        n: usize,
    ) -> Result<(usize, usize)> {
        let (d, h) = self.sizes(b, params);
        let s = b.shape(xs);
        if s.cols != d {
            return Err(Error::shape(
                op,
                format!("input {s} has {} columns; the layer takes {d}", s.cols),
            ));
        }
        if n == 0 || !s.rows.is_multiple_of(n) {
            return Err(Error::shape(
                op,
                format!("{} rows do not make time steps of a batch of {n}", s.rows),
            ));
        }
        Ok((s.rows / n, h))
    }

    /// `dWx = xsᵀ · da`, `dWh = h_prevᵀ · da`, `db = Σ da` into `params`, and `dxs = da · Wxᵀ`.
    fn backward<B: Backend>(
        &self,
        b: &B,
        params: &mut ParamStore<B>,
        xs: &B::Tensor,
        h_prev: &B::Tensor,
        da: &B::Tensor,
    ) -> Result<B::Tensor> {
        let dwx = b.matmul(xs, true, da, false)?;
        let dwh = b.matmul(h_prev, true, da, false)?;
        let db = b.sum_rows(da)?;
        params.accumulate_grad(b, self.wx, dwx)?;
        params.accumulate_grad(b, self.wh, dwh)?;
        params.accumulate_grad(b, self.b, db)?;
        b.matmul(da, false, params.value(self.wx), true)
    }
}

/// The state carried between batches: `None`, or tensors of `n` rows.
fn check_state<B: Backend>(
    op: &'static str,
    b: &B,
    state: Option<&B::Tensor>,
    n: usize,
    h: usize,
) -> Result<()> {
    match state {
        Some(s) if b.shape(s) != Shape::new(n, h) => Err(Error::shape(
            op,
            format!(
                "the state carried from the last batch is {}, this batch has {n} rows: call \
                 reset_state() when the batch size changes",
                b.shape(s)
            ),
        )),
        _ => Ok(()),
    }
}

/// What every recurrent layer over time offers, so that a language model takes either.
pub trait Recurrent<B: Backend>: Sized {
    /// Gates per unit: 1 for the RNN, 4 for the LSTM.
    const GATES: usize;
    /// A stateful layer of `h` units over inputs `d` wide, its weights drawn from `rng` as the
    /// book draws them and registered in `store` as `{name}.Wx`, `{name}.Wh`, `{name}.b`.
    fn init(
        backend: &B,
        store: &mut ParamStore<B>,
        name: &str,
        d: usize,
        h: usize,
        rng: &mut NumpyRng,
    ) -> Result<Self>;
    /// The hidden states of all steps (`(T·n) × H`) for inputs `xs` (`(T·n) × D`), `n`
    /// sequences a step.
    fn forward(&mut self, params: &ParamStore<B>, xs: &B::Tensor, n: usize) -> Result<B::Tensor>;
    /// Given `dL/dhs`, adds the weights' gradients into `params` and returns `dL/dxs`. No
    /// gradient enters from beyond the last step (truncated BPTT).
    fn backward(&mut self, params: &mut ParamStore<B>, dhs: &B::Tensor) -> Result<B::Tensor>;
    /// Forgets the carried state: the next batch starts from zeros.
    fn reset_state(&mut self);
    /// The ids of `Wx`, `Wh`, `b` (the book's `params`).
    fn params(&self) -> Vec<ParamId>;
}

/// The book's `RNN`, one step: `h_next = tanh(h_prev · Wh + x · Wx + b)`.
#[derive(Debug, Clone)]
pub struct Rnn<B: Backend> {
    backend: B,
    w: Weights,
    cache: Option<(B::Tensor, B::Tensor, B::Tensor)>,
}

impl<B: Backend> Rnn<B> {
    /// An RNN step over the parameters `Wx` (`D × H`), `Wh` (`H × H`) and `b` (`1 × H`).
    pub fn from_ids(backend: &B, wx: ParamId, wh: ParamId, b: ParamId) -> Self {
        Rnn {
            backend: backend.clone(),
            w: Weights { wx, wh, b },
            cache: None,
        }
    }

    /// `h_next` (`n × H`) from `x` (`n × D`) and `h_prev` (`n × H`).
    pub fn forward(
        &mut self,
        params: &ParamStore<B>,
        x: &B::Tensor,
        h_prev: &B::Tensor,
    ) -> Result<B::Tensor> {
        let b = &self.backend;
        let xw = b.matmul(x, false, params.value(self.w.wx), false)?;
        let hw = b.matmul(h_prev, false, params.value(self.w.wh), false)?;
        let mut h = b.zeros(b.shape(&hw))?;
        b.rnn_step(&mut h, 0, &hw, &xw, params.value(self.w.b))?;
        self.cache = Some((x.clone(), h_prev.clone(), h.clone()));
        Ok(h)
    }

    /// `(dx, dh_prev)` from `dh_next`, the weights' gradients added into `params`.
    pub fn backward(
        &mut self,
        params: &mut ParamStore<B>,
        dh_next: &B::Tensor,
    ) -> Result<(B::Tensor, B::Tensor)> {
        let b = &self.backend;
        let (x, h_prev, h) = cached(&self.cache, "RNN")?;
        let mut dt = b.zeros(b.shape(h))?;
        b.rnn_step_backward(&mut dt, 0, dh_next, None, h)?;
        let dh_prev = b.matmul(&dt, false, params.value(self.w.wh), true)?;
        let dx = self.w.backward(b, params, x, h_prev, &dt)?;
        Ok((dx, dh_prev))
    }
}

/// Copies `last` into the carried state `state` in place (a buffer of its own, made on first
/// use), so that a captured step ([`nn_core::StepGraph`]) carries it through the same memory
/// every replay instead of a view of that step's buffers.
fn carry<B: Backend>(b: &B, state: &mut Option<B::Tensor>, last: &B::Tensor) -> Result<()> {
    match state {
        Some(s) if b.shape(s) == b.shape(last) => b.write_rows(s, 0, last),
        _ => {
            let mut s = b.zeros(b.shape(last))?;
            b.write_rows(&mut s, 0, last)?;
            *state = Some(s);
            Ok(())
        }
    }
}

/// The book's `TimeRNN` (stateful): an [`Rnn`] step over every time step of a time-major
/// batch, the last hidden state carried into the next batch until [`reset_state`](Recurrent::reset_state).
#[derive(Debug, Clone)]
pub struct TimeRnn<B: Backend> {
    backend: B,
    w: Weights,
    stateful: bool,
    h: Option<B::Tensor>,
    dh: Option<B::Tensor>,
    /// The inputs and the states `[h_init; h_0; …; h_{T-1}]` (`(T+1)·n` rows).
    cache: Option<(B::Tensor, B::Tensor, usize)>,
}

impl<B: Backend> TimeRnn<B> {
    /// A layer over parameters already in the store; `stateful` carries the state across
    /// batches (the book's `stateful=True`).
    pub fn from_ids(backend: &B, wx: ParamId, wh: ParamId, b: ParamId, stateful: bool) -> Self {
        TimeRnn {
            backend: backend.clone(),
            w: Weights { wx, wh, b },
            stateful,
            h: None,
            dh: None,
            cache: None,
        }
    }

    /// The hidden state carried into the next batch (`n × H`), if any.
    pub fn state(&self) -> Option<&B::Tensor> {
        self.h.as_ref()
    }

    /// The gradient into the first step's state, from the last `backward` (the book's `dh`).
    pub fn dh(&self) -> Option<&B::Tensor> {
        self.dh.as_ref()
    }
}

impl<B: Backend> Recurrent<B> for TimeRnn<B> {
    const GATES: usize = 1;

    fn init(
        backend: &B,
        store: &mut ParamStore<B>,
        name: &str,
        d: usize,
        h: usize,
        rng: &mut NumpyRng,
    ) -> Result<Self> {
        let [wx, wh, b] = recurrent_weights(backend, store, name, d, h, 1, rng)?;
        Ok(Self::from_ids(backend, wx, wh, b, true))
    }

    fn forward(&mut self, params: &ParamStore<B>, xs: &B::Tensor, n: usize) -> Result<B::Tensor> {
        let b = &self.backend;
        let (steps, h) = self.w.check_input("TimeRNN", b, params, xs, n)?;
        if !self.stateful {
            self.h = None;
        }
        check_state("TimeRNN", b, self.h.as_ref(), n, h)?;
        let (wh, bias) = (params.value(self.w.wh), params.value(self.w.b));
        let xw = b.matmul(xs, false, params.value(self.w.wx), false)?;
        let mut hs = b.zeros(Shape::new((steps + 1) * n, h))?;
        if let Some(h0) = &self.h {
            b.write_rows(&mut hs, 0, h0)?;
        }
        for t in 0..steps {
            let hw = b.matmul(&b.rows(&hs, t * n, n)?, false, wh, false)?;
            b.rnn_step(&mut hs, (t + 1) * n, &hw, &b.rows(&xw, t * n, n)?, bias)?;
        }
        carry(b, &mut self.h, &b.rows(&hs, steps * n, n)?)?;
        let out = b.rows(&hs, n, steps * n)?;
        self.cache = Some((xs.clone(), hs, n));
        Ok(out)
    }

    fn backward(&mut self, params: &mut ParamStore<B>, dhs: &B::Tensor) -> Result<B::Tensor> {
        let b = &self.backend;
        let (xs, hs, n) = cached(&self.cache, "TimeRNN")?;
        let n = *n;
        let steps = b.shape(xs).rows / n;
        let h = b.shape(hs).cols;
        nn_core::backend::check::same("TimeRNN.backward", b.shape(dhs), Shape::new(steps * n, h))?;
        let wh = params.value(self.w.wh);
        let mut dts = b.zeros(Shape::new(steps * n, h))?;
        let mut dh: Option<B::Tensor> = None;
        for t in (0..steps).rev() {
            let h_t = b.rows(hs, (t + 1) * n, n)?;
            b.rnn_step_backward(&mut dts, t * n, &b.rows(dhs, t * n, n)?, dh.as_ref(), &h_t)?;
            dh = Some(b.matmul(&b.rows(&dts, t * n, n)?, false, wh, true)?);
        }
        self.dh = dh;
        let h_prev = b.rows(hs, 0, steps * n)?;
        self.w.backward(b, params, xs, &h_prev, &dts)
    }

    fn reset_state(&mut self) {
        self.h = None;
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.w.wx, self.w.wh, self.w.b]
    }
}

/// The book's `LSTM`, one step: gates `a = x · Wx + h_prev · Wh + b` split as `f, g, i, o`
/// (`f, i, o` through the sigmoid, `g` through tanh), `c_next = f·c_prev + g·i`,
/// `h_next = o·tanh(c_next)`.
#[derive(Debug, Clone)]
pub struct Lstm<B: Backend> {
    backend: B,
    w: Weights,
    /// `x`, `h_prev`, the cells `[c_prev; c_next]` and the gates.
    cache: Option<[B::Tensor; 4]>,
}

impl<B: Backend> Lstm<B> {
    /// An LSTM step over `Wx` (`D × 4H`), `Wh` (`H × 4H`) and `b` (`1 × 4H`).
    pub fn from_ids(backend: &B, wx: ParamId, wh: ParamId, b: ParamId) -> Self {
        Lstm {
            backend: backend.clone(),
            w: Weights { wx, wh, b },
            cache: None,
        }
    }

    /// `(h_next, c_next)` (`n × H` each) from `x`, `h_prev` and `c_prev`.
    pub fn forward(
        &mut self,
        params: &ParamStore<B>,
        x: &B::Tensor,
        h_prev: &B::Tensor,
        c_prev: &B::Tensor,
    ) -> Result<(B::Tensor, B::Tensor)> {
        let b = &self.backend;
        let s = b.shape(h_prev);
        nn_core::backend::check::same("LSTM", s, b.shape(c_prev))?;
        let xw = b.matmul(x, false, params.value(self.w.wx), false)?;
        let hw = b.matmul(h_prev, false, params.value(self.w.wh), false)?;
        let n = s.rows;
        let mut hs = b.zeros(Shape::new(2 * n, s.cols))?;
        let mut cs = b.zeros(Shape::new(2 * n, s.cols))?;
        b.write_rows(&mut cs, 0, c_prev)?;
        let mut gates = b.zeros(b.shape(&xw))?;
        b.lstm_step(
            &mut hs,
            &mut cs,
            &mut gates,
            0,
            &xw,
            &hw,
            params.value(self.w.b),
        )?;
        let (h, c) = (b.rows(&hs, n, n)?, b.rows(&cs, n, n)?);
        self.cache = Some([x.clone(), h_prev.clone(), cs, gates]);
        Ok((h, c))
    }

    /// `(dx, dh_prev, dc_prev)` from `dh_next` and `dc_next`, the weights' gradients added into
    /// `params`.
    pub fn backward(
        &mut self,
        params: &mut ParamStore<B>,
        dh_next: &B::Tensor,
        dc_next: &B::Tensor,
    ) -> Result<(B::Tensor, B::Tensor, B::Tensor)> {
        let b = &self.backend;
        let [x, h_prev, cs, gates] = cached(&self.cache, "LSTM")?;
        let mut da = b.zeros(b.shape(gates))?;
        let mut dc = dc_next.clone();
        b.lstm_step_backward(&mut da, &mut dc, 0, dh_next, None, cs, gates)?;
        let dh_prev = b.matmul(&da, false, params.value(self.w.wh), true)?;
        let dx = self.w.backward(b, params, x, h_prev, &da)?;
        Ok((dx, dh_prev, dc))
    }
}

/// The book's `TimeLSTM` (stateful): an [`Lstm`] step over every time step of a time-major
/// batch, `h` and `c` carried into the next batch until [`reset_state`](Recurrent::reset_state).
#[derive(Debug, Clone)]
pub struct TimeLstm<B: Backend> {
    backend: B,
    w: Weights,
    stateful: bool,
    state: Option<(B::Tensor, B::Tensor)>,
    dh: Option<B::Tensor>,
    cache: Option<LstmCache<B>>,
}

/// What `TimeLstm::backward` needs from the forward pass.
#[derive(Debug, Clone)]
struct LstmCache<B: Backend> {
    xs: B::Tensor,
    /// `[h_init; h_0; …; h_{T-1}]` and `[c_init; c_0; …]`: `(T+1)·n` rows each.
    hs: B::Tensor,
    cs: B::Tensor,
    /// The activated gates of every step, `T·n × 4H`.
    gates: B::Tensor,
    n: usize,
}

impl<B: Backend> TimeLstm<B> {
    /// A layer over parameters already in the store; `stateful` carries `h` and `c` across
    /// batches (the book's `stateful=True`).
    pub fn from_ids(backend: &B, wx: ParamId, wh: ParamId, b: ParamId, stateful: bool) -> Self {
        TimeLstm {
            backend: backend.clone(),
            w: Weights { wx, wh, b },
            stateful,
            state: None,
            dh: None,
            cache: None,
        }
    }

    /// `(h, c)` carried into the next batch (`n × H` each), if any.
    pub fn state(&self) -> Option<(&B::Tensor, &B::Tensor)> {
        self.state.as_ref().map(|(h, c)| (h, c))
    }

    /// The gradient into the first step's `h`, from the last `backward` (the book's `dh`).
    pub fn dh(&self) -> Option<&B::Tensor> {
        self.dh.as_ref()
    }
}

impl<B: Backend> Recurrent<B> for TimeLstm<B> {
    const GATES: usize = 4;

    fn init(
        backend: &B,
        store: &mut ParamStore<B>,
        name: &str,
        d: usize,
        h: usize,
        rng: &mut NumpyRng,
    ) -> Result<Self> {
        let [wx, wh, b] = recurrent_weights(backend, store, name, d, h, 4, rng)?;
        Ok(Self::from_ids(backend, wx, wh, b, true))
    }

    fn forward(&mut self, params: &ParamStore<B>, xs: &B::Tensor, n: usize) -> Result<B::Tensor> {
        let b = &self.backend;
        let (steps, h) = self.w.check_input("TimeLSTM", b, params, xs, n)?;
        if !self.stateful {
            self.state = None;
        }
        check_state("TimeLSTM", b, self.state.as_ref().map(|s| &s.0), n, h)?;
        let (wh, bias) = (params.value(self.w.wh), params.value(self.w.b));
        let xw = b.matmul(xs, false, params.value(self.w.wx), false)?;
        let mut hs = b.zeros(Shape::new((steps + 1) * n, h))?;
        let mut cs = b.zeros(Shape::new((steps + 1) * n, h))?;
        let mut gates = b.zeros(Shape::new(steps * n, 4 * h))?;
        if let Some((h0, c0)) = &self.state {
            b.write_rows(&mut hs, 0, h0)?;
            b.write_rows(&mut cs, 0, c0)?;
        }
        for t in 0..steps {
            let hw = b.matmul(&b.rows(&hs, t * n, n)?, false, wh, false)?;
            let xw_t = b.rows(&xw, t * n, n)?;
            b.lstm_step(&mut hs, &mut cs, &mut gates, t, &xw_t, &hw, bias)?;
        }
        let (h_last, c_last) = (b.rows(&hs, steps * n, n)?, b.rows(&cs, steps * n, n)?);
        let (mut h, mut c) = self
            .state
            .take()
            .map_or((None, None), |(h, c)| (Some(h), Some(c)));
        carry(b, &mut h, &h_last)?;
        carry(b, &mut c, &c_last)?;
        self.state = h.zip(c);
        let out = b.rows(&hs, n, steps * n)?;
        self.cache = Some(LstmCache {
            xs: xs.clone(),
            hs,
            cs,
            gates,
            n,
        });
        Ok(out)
    }

    fn backward(&mut self, params: &mut ParamStore<B>, dhs: &B::Tensor) -> Result<B::Tensor> {
        let b = &self.backend;
        let LstmCache {
            xs,
            hs,
            cs,
            gates,
            n,
        } = cached(&self.cache, "TimeLSTM")?;
        let n = *n;
        let steps = b.shape(xs).rows / n;
        let h = b.shape(hs).cols;
        nn_core::backend::check::same("TimeLSTM.backward", b.shape(dhs), Shape::new(steps * n, h))?;
        let wh = params.value(self.w.wh);
        let mut da = b.zeros(b.shape(gates))?;
        let mut dc = b.zeros(Shape::new(n, h))?;
        let mut dh: Option<B::Tensor> = None;
        for t in (0..steps).rev() {
            let dh_t = b.rows(dhs, t * n, n)?;
            b.lstm_step_backward(&mut da, &mut dc, t, &dh_t, dh.as_ref(), cs, gates)?;
            dh = Some(b.matmul(&b.rows(&da, t * n, n)?, false, wh, true)?);
        }
        self.dh = dh;
        let h_prev = b.rows(hs, 0, steps * n)?;
        self.w.backward(b, params, xs, &h_prev, &da)
    }

    fn reset_state(&mut self) {
        self.state = None;
    }

    fn params(&self) -> Vec<ParamId> {
        vec![self.w.wx, self.w.wh, self.w.b]
    }
}

/// The book's `TimeSoftmaxWithLoss`: softmax over each row of scores and the mean
/// cross-entropy over the positions whose label is not
/// [`IGNORE_LABEL`](nn_core::IGNORE_LABEL) (the book's `-1`), without the `1e-7` that
/// `SoftmaxWithLoss` adds inside the log; backward `(y - t) · dout / count`, 0 at ignored
/// positions.
#[derive(Debug, Clone)]
pub struct TimeSoftmaxWithLoss<B: Backend> {
    backend: B,
    cache: Option<(B::Tensor, B::Index)>,
}

impl<B: Backend> TimeSoftmaxWithLoss<B> {
    /// A sequence loss layer on `backend`.
    pub fn new(backend: &B) -> Self {
        TimeSoftmaxWithLoss {
            backend: backend.clone(),
            cache: None,
        }
    }

    /// The mean loss (`1 × 1`) of scores `xs` (`(T·n) × V`, taken by value: the softmax may be
    /// written over them) against word ids `ts` (`T·n`, time-major as `xs`).
    pub fn forward(&mut self, xs: B::Tensor, ts: &B::Index) -> Result<B::Tensor> {
        let (y, loss) = self.backend.softmax_cross_entropy_masked(xs, ts)?;
        self.cache = Some((y, ts.clone()));
        Ok(loss)
    }

    /// `dL/dxs`, scaled by `dout` (1 in the book). Uses up what `forward` kept: a second call
    /// needs another `forward`.
    pub fn backward(&mut self, dout: B::Elem) -> Result<B::Tensor> {
        let (y, t) = self
            .cache
            .take()
            .ok_or_else(|| Error::invalid("TimeSoftmaxWithLoss: backward called before forward"))?;
        self.backend
            .softmax_cross_entropy_masked_backward(y, &t, dout)
    }
}
