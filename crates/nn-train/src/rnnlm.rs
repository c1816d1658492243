//! The book's `RnnlmTrainer` (`common/trainer.py`) and `eval_perplexity` (`common/util.py`):
//! language models trained on a corpus of word ids, their perplexity recorded and plotted.

use crate::trainer::{check_finite, check_loss, clip_and_update, Printer};
use crate::{Flow, Output, Record};
use nn_core::{Backend, Error, GraphStatus, Result, Shape, StepGraph, IGNORE_LABEL};
use nn_layers::LanguageModel;
use nn_optim::Optimizer;
use std::time::Instant;

/// `RnnlmTrainer::fit`'s options, with the book's defaults.
#[derive(Clone, Debug)]
pub struct RnnlmFitOptions {
    /// Epochs (passes over the corpus). Default 10; 0 trains nothing.
    pub max_epoch: usize,
    /// Sequences per batch. Default 20.
    pub batch_size: usize,
    /// Time steps per batch (the length of truncated BPTT). Default 35.
    pub time_size: usize,
    /// Clip the global gradient norm to this value. Default `None`.
    pub max_grad: Option<f64>,
    /// Record (and print) the perplexity every this many iterations. Default `Some(20)`.
    pub eval_interval: Option<usize>,
    /// What to print.
    pub output: Output,
    /// Replay each step as one captured graph where the backend has graphs (CUDA), as
    /// [`FitOptions::graph`](crate::FitOptions::graph) does; the recurrent layers carry their
    /// state in place, so the step is the same every time. Default `false`.
    pub graph: bool,
}

impl Default for RnnlmFitOptions {
    fn default() -> Self {
        RnnlmFitOptions {
            max_epoch: 10,
            batch_size: 20,
            time_size: 35,
            max_grad: None,
            eval_interval: Some(20),
            output: Output::Auto,
            graph: false,
        }
    }
}

/// What an `RnnlmTrainer::fit` did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RnnlmFitReport {
    /// The perplexities recorded, every `eval_interval` iterations (as `ppl_list`).
    pub perplexities: Vec<f64>,
    /// Every iteration's loss.
    pub losses: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// Epochs run, the last one cut short when a callback stopped training.
    pub epochs: usize,
    /// Seconds of training, the device's queued work included.
    pub seconds: f64,
    /// Whether a callback stopped training ([`Flow::Stop`]).
    pub stopped: bool,
    /// How the steps ran at the end (see [`FitReport::graph`](crate::FitReport::graph)).
    pub graph: GraphStatus,
    /// Steps that were replays of a captured graph.
    pub graph_replays: u64,
}

/// The book's `get_batch`: `batch_size` sequences of `time_size` ids, sequence `i` reading
/// from offset `i · (len / batch_size)` past `time_idx`, wrapping around the corpus. Returns
/// `(batch_x, batch_t, time_idx + time_size)`, time-major (id `s · batch_size + i` is step `s`
/// of sequence `i`), as the language models take them.
///
/// ```
/// let xs: Vec<u32> = (0..10).collect();
/// let ts: Vec<u32> = (1..11).collect();
/// let (bx, bt, next) = nn_train::get_batch(&xs, &ts, 2, 3, 0);
/// assert_eq!(bx, [0, 5, 1, 6, 2, 7]); // step 0 of both, step 1, step 2
/// assert_eq!(bt, [1, 6, 2, 7, 3, 8]);
/// assert_eq!(next, 3);
/// ```
///
/// # Panics
/// If `xs` and `ts` differ in length, are shorter than `batch_size`, or `batch_size` is 0.
pub fn get_batch(
    xs: &[u32],
    ts: &[u32],
    batch_size: usize,
    time_size: usize,
    time_idx: usize,
) -> (Vec<u32>, Vec<u32>, usize) {
    assert_eq!(xs.len(), ts.len(), "get_batch: xs and ts differ in length");
    let pos = positions(xs.len(), batch_size, time_size, time_idx, 1);
    let pick = |v: &[u32]| pos.iter().map(|&p| v[p as usize]).collect();
    (pick(xs), pick(ts), time_idx + time_size)
}

/// Corpus positions of `iters` consecutive batches (time-major each), from `time_idx` on:
/// `(i · (len / batch) + time_idx + step) mod len`.
fn positions(len: usize, batch: usize, time: usize, time_idx: usize, iters: usize) -> Vec<u32> {
    assert!(
        batch > 0 && len >= batch,
        "{len} ids cannot make {batch} sequences"
    );
    let jump = len / batch;
    let mut pos = Vec::with_capacity(iters * time * batch);
    for step in 0..iters * time {
        for i in 0..batch {
            pos.push(((i * jump + time_idx + step) % len) as u32);
        }
    }
    pos
}

/// Trains a [`LanguageModel`] on a corpus with an [`Optimizer`], as the book's
/// `RnnlmTrainer` does, on whatever backend the model lives on.
///
/// Each iteration takes the next batch of [`get_batch`] (the corpus and the epoch's batch
/// positions are copied to the device once; batches are gathered there), runs forward and
/// backward, clips when asked, and updates. Shared weights need no `remove_duplicate`: a
/// [`ParamStore`](nn_core::ParamStore) adds the gradients of every layer using a weight
/// (also transposed) into its one gradient. Every iteration's loss is kept on the device and
/// read back only when a perplexity is recorded (and at the end of an epoch).
///
/// ```
/// use nn_core::NumpyRng;
/// use nn_cpu::Cpu;
/// use nn_layers::SimpleRnnlm;
/// use nn_optim::Sgd;
/// use nn_train::{Corpus, Output, RnnlmFitOptions, RnnlmTrainer};
///
/// let corpus = Corpus::from_text(&nn_train::made_up_corpus(20, 0))?;
/// let ids = corpus.ids();
/// let model = SimpleRnnlm::new(&Cpu::<f32>::new(), corpus.vocab_size(), 8, 8, &mut NumpyRng::new(1))?;
/// let mut trainer = RnnlmTrainer::new(model, Sgd::new(0.1)?);
/// let o = RnnlmFitOptions { max_epoch: 2, batch_size: 4, time_size: 5, output: Output::Silent, ..Default::default() };
/// trainer.fit(&ids[..ids.len() - 1], &ids[1..], &o)?;
/// assert!(trainer.ppl_list()[0] > 1.0);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct RnnlmTrainer<B: Backend, M: LanguageModel<B>, O: Optimizer<B>> {
    model: M,
    optimizer: O,
    ppl_list: Vec<f64>,
    losses: Vec<f64>,
    eval_interval: usize,
    current_epoch: usize,
    time_idx: usize,
    _backend: std::marker::PhantomData<B>,
}

impl<B: Backend, M: LanguageModel<B>, O: Optimizer<B>> RnnlmTrainer<B, M, O> {
    /// A trainer for `model` with `optimizer`.
    pub fn new(model: M, optimizer: O) -> Self {
        RnnlmTrainer {
            model,
            optimizer,
            ppl_list: Vec::new(),
            losses: Vec::new(),
            eval_interval: 20,
            current_epoch: 0,
            time_idx: 0,
            _backend: std::marker::PhantomData,
        }
    }

    /// The perplexities recorded by the last `fit`, every `eval_interval` iterations.
    pub fn ppl_list(&self) -> &[f64] {
        &self.ppl_list
    }
    /// Every iteration's loss in the last `fit`.
    pub fn losses(&self) -> &[f64] {
        &self.losses
    }
    /// Epochs trained so far, over all calls to `fit`.
    pub fn current_epoch(&self) -> usize {
        self.current_epoch
    }
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// The model, mutable (to evaluate, save or load).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }
    /// The model and the optimizer back.
    pub fn into_inner(self) -> (M, O) {
        (self.model, self.optimizer)
    }

    /// The book's `fit(xs, ts, max_epoch, batch_size, time_size, max_grad, eval_interval)`:
    /// `len(xs) / (batch_size · time_size)` iterations an epoch over batches from
    /// [`get_batch`], whose `time_idx` starts at 0 and runs on across epochs; the perplexity
    /// `exp(mean loss)` of the iterations since the last record is recorded when
    /// `iters % eval_interval == 0`, and printed as the book prints it.
    ///
    /// `ts` may hold [`IGNORE_LABEL`] at positions that are not to be learned. Word ids at or
    /// beyond the model's vocabulary, a corpus shorter than one batch, and bad options are
    /// errors, before any work.
    pub fn fit(&mut self, xs: &[u32], ts: &[u32], o: &RnnlmFitOptions) -> Result<RnnlmFitReport> {
        self.fit_with(xs, ts, o, |_, _| Ok(Flow::Continue))
    }

    /// [`fit`](Self::fit), calling `on_record` with every recorded perplexity (its
    /// [`Record::value`]) and the model, to evaluate a validation corpus with
    /// [`eval_perplexity`] say; [`Flow::Stop`] ends training there. A model evaluated in the
    /// callback with another batch size needs its state reset before and after.
    pub fn fit_with(
        &mut self,
        xs: &[u32],
        ts: &[u32],
        o: &RnnlmFitOptions,
        mut on_record: impl FnMut(&Record, &mut M) -> Result<Flow>,
    ) -> Result<RnnlmFitReport> {
        let max_iters = check_fit(xs, ts, self.model.vocab_size(), o)?;
        let b = self.model.backend().clone();
        let (xs_dev, ts_dev) = (b.index_from_host(xs)?, b.index_from_host(ts)?);
        let (bs, ts_len) = (o.batch_size, o.time_size);
        let per_iter = bs * ts_len;
        self.time_idx = 0;
        self.ppl_list.clear();
        self.losses.clear();
        self.eval_interval = o.eval_interval.unwrap_or(self.eval_interval);
        let out = Printer::new(o.output, o.max_epoch, max_iters);
        let mut log = b.zeros(Shape::new(max_iters, 1))?;
        // The iterations since the last record: their losses' sum and count.
        let (mut total, mut count) = (0.0, 0usize);
        let (mut iterations, mut epochs, mut stopped) = (0, 0, false);
        let mut graph = o.graph.then(|| StepGraph::new(&b));
        // A captured step gathers through an index it reads in place, and leaves its loss in
        // `last`, copied into the log after it.
        let (mut batch, mut last) = match &graph {
            Some(_) => (
                Some(b.index_from_host(&vec![0; per_iter])?),
                Some(b.zeros(Shape::scalar())?),
            ),
            None => (None, None),
        };
        let start = Instant::now();
        for _ in 0..o.max_epoch {
            let epoch = self.current_epoch + 1;
            let pos_host = positions(xs.len(), bs, ts_len, self.time_idx, max_iters);
            let pos = match batch {
                Some(_) => None,
                None => Some(b.index_from_host(&pos_host)?),
            };
            let mut unread = 0;
            for iters in 0..max_iters {
                let at = iters * per_iter;
                if let Some(idx) = &mut batch {
                    b.write_index(idx, &pos_host[at..at + per_iter])?;
                }
                let (model, optimizer) = (&mut self.model, &mut self.optimizer);
                let mut step = |log: &mut B::Tensor| -> Result<()> {
                    let (idx, start) = match (&pos, &batch) {
                        (Some(pos), _) => (pos, at),
                        (None, Some(idx)) => (idx, 0),
                        (None, None) => unreachable!("one of the two is made"),
                    };
                    let bx = b.gather_index(&xs_dev, idx, start, per_iter)?;
                    let bt = b.gather_index(&ts_dev, idx, start, per_iter)?;
                    let loss = model.forward(&bx, &bt, bs)?;
                    check_loss(&b, &loss)?;
                    model.backward()?;
                    clip_and_update(&b, model.params_mut(), o.max_grad, optimizer)?;
                    let row = if pos.is_some() { iters } else { 0 };
                    b.write_rows(log, row, &loss)
                };
                match (&mut graph, &mut last) {
                    (Some(g), Some(last)) => {
                        g.run(|| step(last))?;
                        b.write_rows(&mut log, iters, last)?;
                    }
                    _ => step(&mut log)?,
                }
                let due = o.eval_interval.is_some_and(|e| iters % e == 0);
                if due || iters + 1 == max_iters {
                    let read = b.to_host(&b.rows(&log, unread, iters + 1 - unread)?)?;
                    unread = iters + 1;
                    for v in read {
                        let v = nn_core::Float::f64(v);
                        total += v;
                        count += 1;
                        self.losses.push(v);
                    }
                    check_finite(total, epoch, iters + 1, count)?;
                }
                if due {
                    let ppl = (total / count as f64).exp();
                    out.message(format!("epoch {epoch} | perplexity {ppl:.2}"));
                    out.line(format!(
                        "| epoch {} |  iter {} / {} | time {}[s] | perplexity {:.2}",
                        epoch,
                        iters + 1,
                        max_iters,
                        start.elapsed().as_secs(),
                        ppl
                    ));
                    self.ppl_list.push(ppl);
                    (total, count) = (0.0, 0);
                    let record = Record {
                        epoch,
                        iteration: iters + 1,
                        iterations_per_epoch: max_iters,
                        value: ppl,
                        seconds: start.elapsed().as_secs_f64(),
                    };
                    stopped = on_record(&record, &mut self.model)? == Flow::Stop;
                }
                iterations += 1;
                out.tick();
                if stopped {
                    // A record reads every loss up to it: `losses` is complete.
                    break;
                }
            }
            self.time_idx += max_iters * ts_len;
            self.current_epoch += 1;
            epochs += 1;
            if stopped {
                break;
            }
        }
        out.finish();
        b.synchronize()?;
        Ok(RnnlmFitReport {
            perplexities: self.ppl_list.clone(),
            losses: self.losses.clone(),
            iterations,
            epochs,
            seconds: start.elapsed().as_secs_f64(),
            stopped,
            graph: graph.as_ref().map(|g| g.status()).unwrap_or_default(),
            graph_replays: graph.as_ref().map_or(0, |g| g.replays()),
        })
    }

    /// The book's `plot`: the recorded perplexities against `iterations (x{eval_interval})`,
    /// as PNG or SVG by `path`'s extension, with optional y-limits.
    #[cfg(feature = "plot")]
    pub fn plot(&self, path: &std::path::Path, ylim: Option<(f64, f64)>) -> Result<()> {
        let xlabel = format!("iterations (x{})", self.eval_interval);
        crate::plot::curve(path, &self.ppl_list, &xlabel, "perplexity", ylim)
    }
}

/// Word ids must be below the model's vocabulary (targets may also be [`IGNORE_LABEL`]);
/// `what` names them.
fn check_ids(ids: &[u32], vocab: usize, what: &str, ignore_ok: bool) -> Result<()> {
    match ids
        .iter()
        .position(|&i| i as usize >= vocab && !(ignore_ok && i == IGNORE_LABEL))
    {
        Some(k) => Err(Error::invalid(format!(
            "{what}: word id {} at position {k} is beyond the model's vocabulary of {vocab}",
            ids[k]
        ))),
        None => Ok(()),
    }
}

/// `fit`'s data and options, checked; the iterations per epoch.
fn check_fit(xs: &[u32], ts: &[u32], vocab: usize, o: &RnnlmFitOptions) -> Result<usize> {
    if xs.len() != ts.len() {
        return Err(Error::shape(
            "fit",
            format!("{} input ids but {} target ids", xs.len(), ts.len()),
        ));
    }
    if o.batch_size == 0 || o.time_size == 0 {
        return Err(Error::invalid(
            "batch_size and time_size must be at least 1",
        ));
    }
    crate::trainer::check_interval_and_clip(o.eval_interval, o.max_grad)?;
    let per_iter = o.batch_size.saturating_mul(o.time_size);
    let max_iters = xs.len() / per_iter;
    if max_iters == 0 {
        return Err(Error::invalid(format!(
            "a corpus of {} words is shorter than one batch of {} sequences of {} steps ({per_iter} words)",
            xs.len(),
            o.batch_size,
            o.time_size
        )));
    }
    if xs.len() > u32::MAX as usize {
        return Err(Error::invalid(format!(
            "{} words: batches are gathered by 32-bit positions, so at most {}",
            xs.len(),
            u32::MAX
        )));
    }
    check_ids(xs, vocab, "the inputs", false)?;
    check_ids(ts, vocab, "the targets", true)?;
    Ok(max_iters)
}

/// The book's `eval_perplexity(model, corpus, batch_size=10, time_size=35)`: the model's
/// perplexity over `corpus`, predicting each word from the ones before it, in
/// `(len - 1) / (batch_size · time_size)` batches, sequence `i` from offset
/// `i · ((len - 1) / batch_size)`. Forward passes only; the model's state runs on from batch
/// to batch (reset it first, as the book does, when it holds a state of another batch size).
pub fn eval_perplexity<B: Backend, M: LanguageModel<B> + ?Sized>(
    model: &mut M,
    corpus: &[u32],
    batch_size: usize,
    time_size: usize,
) -> Result<f64> {
    if batch_size == 0 || time_size == 0 {
        return Err(Error::invalid(
            "batch_size and time_size must be at least 1",
        ));
    }
    let n = corpus.len();
    let per_iter = batch_size.saturating_mul(time_size);
    let max_iters = n.saturating_sub(1) / per_iter;
    if max_iters == 0 {
        return Err(Error::invalid(format!(
            "a corpus of {n} words is too short to evaluate in batches of {batch_size} \
             sequences of {time_size} steps (it needs more than {per_iter} words)"
        )));
    }
    check_ids(corpus, model.vocab_size(), "the corpus", false)?;
    let b = model.backend().clone();
    let jump = (n - 1) / batch_size;
    let mut log = b.zeros(Shape::new(max_iters, 1))?;
    let (mut xs, mut ts) = (vec![0; per_iter], vec![0; per_iter]);
    for iters in 0..max_iters {
        let time_offset = iters * time_size;
        for t in 0..time_size {
            for i in 0..batch_size {
                let p = time_offset + i * jump + t;
                xs[t * batch_size + i] = corpus[p % n];
                ts[t * batch_size + i] = corpus[(p + 1) % n];
            }
        }
        let (bx, bt) = (b.index_from_host(&xs)?, b.index_from_host(&ts)?);
        let loss = model.forward(&bx, &bt, batch_size)?;
        b.write_rows(&mut log, iters, &loss)?;
    }
    let total: f64 = b
        .to_host(&log)?
        .iter()
        .map(|&v| nn_core::Float::f64(v))
        .sum();
    Ok((total / max_iters as f64).exp())
}
