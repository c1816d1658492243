//! The book's `Trainer` (`common/trainer.py`): fit, loss log, gradient clipping, plot.

use crate::{Dataset, DeviceData, Shuffle};
use indicatif::{ProgressBar, ProgressStyle};
use nn_core::{Backend, Error, Float, GraphStatus, NumpyRng, Result, Shape, StepGraph};
use nn_layers::{Labels, Model};
use nn_optim::Optimizer;
use std::io::{IsTerminal, Write};
use std::time::Instant;

/// What `fit` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Output {
    /// The book's lines; on a terminal (and not under CI) a progress bar too.
    #[default]
    Auto,
    /// The book's lines only.
    Lines,
    /// Nothing.
    Silent,
}

/// `fit`'s options, with the book's defaults.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Epochs (passes over the data). Default 10; 0 trains nothing.
    pub max_epoch: usize,
    /// Rows per batch. Default 32; the remainder of `len / batch_size` is dropped each epoch.
    pub batch_size: usize,
    /// Clip the global gradient norm to this value. Default `None`.
    pub max_grad: Option<f64>,
    /// Record (and print) the mean loss every this many iterations. Default `Some(20)`.
    pub eval_interval: Option<usize>,
    /// What to print.
    pub output: Output,
    /// Replay each step as one captured graph where the backend has graphs (CUDA), so that a
    /// step costs one launch instead of one per op; the results are the eager step's, bit for
    /// bit. The first step runs eagerly, the next two are captured and compared; if the two
    /// differ, training goes on eagerly and [`FitReport::graph`] says why. Elsewhere (the
    /// CPU) it changes nothing. Default `false`.
    pub graph: bool,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            max_epoch: 10,
            batch_size: 32,
            max_grad: None,
            eval_interval: Some(20),
            output: Output::Auto,
            graph: false,
        }
    }
}

/// What a `fit` did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitReport {
    /// The mean losses this call recorded, every `eval_interval` iterations (also appended to
    /// the trainer's `loss_list`).
    pub losses: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// Epochs run, the last one cut short when a callback stopped training.
    pub epochs: usize,
    /// Seconds of training, the device's queued work included.
    pub seconds: f64,
    /// Whether a callback stopped training ([`Flow::Stop`]).
    pub stopped: bool,
    /// How the steps ran at the end: eagerly, replayed as a graph ([`FitOptions::graph`]), or
    /// eagerly after a capture showed the step cannot be replayed (and why).
    pub graph: GraphStatus,
    /// Steps that were replays of a captured graph.
    pub graph_replays: u64,
}

/// One recorded point of a `fit`: what the callback of `fit_with` is given.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Record {
    /// The epoch, from 1 (counted over all calls to `fit`, as the printed lines count).
    pub epoch: usize,
    /// The iteration within the epoch, from 1.
    pub iteration: usize,
    /// Iterations per epoch.
    pub iterations_per_epoch: usize,
    /// The value recorded: the mean loss since the last record (the language-model trainer:
    /// the perplexity).
    pub value: f64,
    /// Seconds since the call began.
    pub seconds: f64,
}

/// Whether training goes on after a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop after this iteration.
    Stop,
}

/// Trains a [`Model`] with an [`Optimizer`], on whatever backend the model lives on.
///
/// ```
/// use nn_core::NumpyRng;
/// use nn_cpu::Cpu;
/// use nn_layers::TwoLayerNet;
/// use nn_optim::Sgd;
/// use nn_train::{spiral, FitOptions, Output, Trainer};
///
/// let mut rng = NumpyRng::new(1984);
/// let data = spiral::load_data_from(&mut rng);
/// let model = TwoLayerNet::new(&Cpu::<f32>::new(), 2, 10, 3, &mut rng)?;
/// let mut trainer = Trainer::new(model, Sgd::new(1.0)?);
/// let opts = FitOptions { max_epoch: 3, batch_size: 30, eval_interval: Some(10), output: Output::Silent, ..Default::default() };
/// trainer.fit(&data, &opts, &mut rng)?;
/// assert_eq!(trainer.loss_list().len(), 3);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Trainer<B: Backend, M: Model<B>, O: Optimizer<B>> {
    model: M,
    optimizer: O,
    loss_list: Vec<f64>,
    eval_interval: usize,
    current_epoch: usize,
    _backend: std::marker::PhantomData<B>,
}

impl<B: Backend, M: Model<B>, O: Optimizer<B>> Trainer<B, M, O> {
    /// A trainer for `model` with `optimizer`.
    pub fn new(model: M, optimizer: O) -> Self {
        Trainer {
            model,
            optimizer,
            loss_list: Vec::new(),
            eval_interval: 20,
            current_epoch: 0,
            _backend: std::marker::PhantomData,
        }
    }

    /// The mean losses recorded every `eval_interval` iterations.
    pub fn loss_list(&self) -> &[f64] {
        &self.loss_list
    }
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// The model, mutable (to predict, save or load).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }
    /// The model and the optimizer back.
    pub fn into_inner(self) -> (M, O) {
        (self.model, self.optimizer)
    }
    /// Epochs trained so far, over all calls to `fit`.
    pub fn current_epoch(&self) -> usize {
        self.current_epoch
    }

    /// The book's `fit`: each epoch one permutation of the data from `rng`, then
    /// `len / batch_size` iterations of forward, backward, (clip,) update. The data set is
    /// copied to the device once per call; batches are gathered there; the loss is summed there
    /// and read back only when a line is recorded.
    ///
    /// To call `fit` many times over the same large data set (an epoch at a time, say, with an
    /// evaluation between), copy it once with [`Dataset::to_device`] and call
    /// [`fit_device`](Self::fit_device) instead.
    pub fn fit(&mut self, data: &Dataset, o: &FitOptions, rng: &mut NumpyRng) -> Result<FitReport> {
        self.fit_with(data, o, rng, |_, _| Ok(Flow::Continue))
    }

    /// [`fit`](Self::fit), calling `on_record` with every recorded loss and the model (to
    /// measure a validation set, say); [`Flow::Stop`] ends training there (an early stop), an
    /// error ends it with that error.
    ///
    /// ```
    /// # use nn_core::NumpyRng;
    /// # use nn_cpu::Cpu;
    /// # use nn_layers::TwoLayerNet;
    /// # use nn_optim::Sgd;
    /// # use nn_train::{eval, spiral, FitOptions, Flow, Output, Trainer};
    /// let b = Cpu::<f32>::new();
    /// let mut rng = NumpyRng::new(1984);
    /// let data = spiral::load_data_from(&mut rng);
    /// let mut trainer = Trainer::new(TwoLayerNet::new(&b, 2, 10, 3, &mut rng)?, Sgd::new(1.0)?);
    /// let opts = FitOptions { max_epoch: 300, batch_size: 30, eval_interval: Some(10), output: Output::Silent, ..Default::default() };
    /// // Stop once 90% of the points are classified right.
    /// let report = trainer.fit_with(&data, &opts, &mut rng, |_record, model| {
    ///     let acc = eval::accuracy(model, &data)?;
    ///     Ok(if acc >= 0.9 { Flow::Stop } else { Flow::Continue })
    /// })?;
    /// assert!(report.stopped && report.epochs < 300);
    /// assert!(eval::accuracy(trainer.model_mut(), &data)? >= 0.9);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn fit_with(
        &mut self,
        data: &Dataset,
        o: &FitOptions,
        rng: &mut NumpyRng,
        on_record: impl FnMut(&Record, &mut M) -> Result<Flow>,
    ) -> Result<FitReport> {
        // The cheap checks first, so that a bad option does not wait for a copy.
        data.check_model("fit", &self.model)?;
        check_options(data.len(), o)?;
        let dev = data.to_device(self.model.backend())?;
        self.train(&dev, o, rng, on_record)
    }

    /// [`fit`](Self::fit) on a data set already on the model's device.
    ///
    /// ```
    /// # use nn_core::NumpyRng;
    /// # use nn_cpu::Cpu;
    /// # use nn_layers::TwoLayerNet;
    /// # use nn_optim::Sgd;
    /// # use nn_train::{eval, spiral, FitOptions, Output, Trainer};
    /// let b = Cpu::<f32>::new();
    /// let mut rng = NumpyRng::new(1984);
    /// let data = spiral::load_data_from(&mut rng);
    /// let mut trainer = Trainer::new(TwoLayerNet::new(&b, 2, 10, 3, &mut rng)?, Sgd::new(1.0)?);
    /// let dev = data.to_device(&b)?; // copied once
    /// let opts = FitOptions { max_epoch: 1, batch_size: 30, output: Output::Silent, ..Default::default() };
    /// for _ in 0..3 {
    ///     trainer.fit_device(&dev, &opts, &mut rng)?;
    ///     let _acc = eval::accuracy_device(trainer.model_mut(), &dev)?;
    /// }
    /// assert_eq!(trainer.current_epoch(), 3);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn fit_device(
        &mut self,
        data: &DeviceData<B>,
        o: &FitOptions,
        rng: &mut NumpyRng,
    ) -> Result<FitReport> {
        self.fit_device_with(data, o, rng, |_, _| Ok(Flow::Continue))
    }

    /// [`fit_with`](Self::fit_with) on a data set already on the model's device.
    pub fn fit_device_with(
        &mut self,
        data: &DeviceData<B>,
        o: &FitOptions,
        rng: &mut NumpyRng,
        on_record: impl FnMut(&Record, &mut M) -> Result<Flow>,
    ) -> Result<FitReport> {
        data.check_model("fit", &self.model)?;
        check_options(data.len(), o)?;
        self.train(data, o, rng, on_record)
    }

    /// `fit`'s loop, on checked data and options.
    fn train(
        &mut self,
        data: &DeviceData<B>,
        o: &FitOptions,
        rng: &mut NumpyRng,
        mut on_record: impl FnMut(&Record, &mut M) -> Result<Flow>,
    ) -> Result<FitReport> {
        let b = self.model.backend().clone();
        let mut shuffle = Shuffle::new(data.len());
        let max_iters = data.len() / o.batch_size;
        self.eval_interval = o.eval_interval.unwrap_or(self.eval_interval);
        let out = Printer::new(o.output, o.max_epoch, max_iters);
        let one = B::Elem::of(1.0);
        // Updated in place, so that a captured step adds to the same sum every replay.
        let mut total = b.zeros(Shape::scalar())?;
        let mut count = 0usize;
        let mut report = FitReport::default();
        let mut graph = o.graph.then(|| StepGraph::new(&b));
        // A captured step gathers its batch through an index it reads in place.
        let mut batch = match &graph {
            Some(_) => Some(b.index_from_host(&vec![0; o.batch_size])?),
            None => None,
        };
        let start = Instant::now();
        for _ in 0..o.max_epoch {
            let epoch = self.current_epoch + 1;
            let order = shuffle.next_epoch(rng);
            let idx = match batch {
                Some(_) => None,
                None => Some(b.index_from_host(order)?),
            };
            for iters in 0..max_iters {
                let s = iters * o.batch_size;
                if let Some(batch) = &mut batch {
                    b.write_index(batch, &order[s..s + o.batch_size])?;
                }
                let (model, optimizer) = (&mut self.model, &mut self.optimizer);
                let mut step = || -> Result<()> {
                    let (bx, bt) = match (&idx, &batch) {
                        (Some(idx), _) => {
                            b.gather_batch(data.x(), data.t(), idx, s, o.batch_size)?
                        }
                        (None, Some(batch)) => {
                            b.gather_batch(data.x(), data.t(), batch, 0, o.batch_size)?
                        }
                        (None, None) => unreachable!("one of the two is made"),
                    };
                    let loss = model.forward(&bx, Labels::Index(&bt))?;
                    check_loss(&b, &loss)?;
                    model.backward()?;
                    // Shared parameters were merged as backward ran (ParamStore sums by id).
                    clip_and_update(&b, model.params_mut(), o.max_grad, optimizer)?;
                    b.axpy(&mut total, one, &loss)
                };
                match &mut graph {
                    Some(g) => g.run(&mut step)?,
                    None => step()?,
                }
                count += 1;
                if let Some(every) = o.eval_interval {
                    if iters % every == 0 {
                        let avg = b.scalar(&total)? / count as f64;
                        check_finite(avg, epoch, iters + 1, count)?;
                        out.message(format!("epoch {epoch} | loss {avg:.4}"));
                        out.line(format!(
                            "| epoch {} |  iter {} / {} | time {}[s] | loss {:.2}",
                            epoch,
                            iters + 1,
                            max_iters,
                            start.elapsed().as_secs(),
                            avg
                        ));
                        self.loss_list.push(avg);
                        report.losses.push(avg);
                        if graph.is_some() {
                            // In place, where the captured step adds (finite: checked above).
                            b.scale(&mut total, B::Elem::of(0.0))?;
                        } else {
                            total = b.zeros(Shape::scalar())?;
                        }
                        count = 0;
                        let record = Record {
                            epoch,
                            iteration: iters + 1,
                            iterations_per_epoch: max_iters,
                            value: avg,
                            seconds: start.elapsed().as_secs_f64(),
                        };
                        if on_record(&record, &mut self.model)? == Flow::Stop {
                            report.stopped = true;
                        }
                    }
                }
                report.iterations += 1;
                out.tick();
                if report.stopped {
                    break;
                }
            }
            if o.eval_interval.is_none() && count > 0 {
                check_finite(b.scalar(&total)?, epoch, max_iters, count)?;
            }
            self.current_epoch += 1;
            report.epochs += 1;
            if report.stopped {
                break;
            }
        }
        out.finish();
        b.synchronize()?;
        report.seconds = start.elapsed().as_secs_f64();
        if let Some(g) = &graph {
            report.graph = g.status();
            report.graph_replays = g.replays();
        }
        Ok(report)
    }

    /// The book's `plot`: the recorded losses against `iterations (x{eval_interval})`, as PNG
    /// or SVG by `path`'s extension, with optional y-limits.
    #[cfg(feature = "plot")]
    pub fn plot(&self, path: &std::path::Path, ylim: Option<(f64, f64)>) -> Result<()> {
        crate::plot::loss_curve(path, &self.loss_list, self.eval_interval, ylim)
    }
}

/// A model's forward returned a `1 × 1` loss.
pub(crate) fn check_loss<B: Backend>(b: &B, loss: &B::Tensor) -> Result<()> {
    let shape = b.shape(loss);
    if shape != Shape::scalar() {
        return Err(Error::shape(
            "fit",
            format!("the model's forward returned {shape}; a loss is (1, 1)"),
        ));
    }
    Ok(())
}

/// The end of a step: clipping when asked (on the device, nothing read back), then the update.
pub(crate) fn clip_and_update<B: Backend, O: Optimizer<B>>(
    b: &B,
    params: &mut nn_core::ParamStore<B>,
    max_grad: Option<f64>,
    optimizer: &mut O,
) -> Result<()> {
    if let Some(max) = max_grad {
        b.clip_by_norm(params.grads_mut(), max)?;
    }
    optimizer.update(b, params)
}

/// `fit`'s options, checked against a data set of `rows` rows.
fn check_options(rows: usize, o: &FitOptions) -> Result<()> {
    if o.batch_size == 0 {
        return Err(Error::invalid("batch_size must be at least 1"));
    }
    if o.batch_size > rows {
        return Err(Error::invalid(format!(
            "batch_size {} is larger than the data set ({} rows)",
            o.batch_size, rows
        )));
    }
    check_interval_and_clip(o.eval_interval, o.max_grad)
}

/// The options both trainers share: a record interval of at least 1, a clipping threshold
/// finite and above 0.
pub(crate) fn check_interval_and_clip(
    eval_interval: Option<usize>,
    max_grad: Option<f64>,
) -> Result<()> {
    if eval_interval == Some(0) {
        return Err(Error::invalid("eval_interval must be at least 1 (or None)"));
    }
    if let Some(g) = max_grad {
        if !(g.is_finite() && g > 0.0) {
            return Err(Error::invalid(format!(
                "max_grad must be a finite number > 0, got {g}"
            )));
        }
    }
    Ok(())
}

/// Stops training when the mean loss of the last `window` iterations, up to `iteration` of
/// `epoch`, is not finite.
pub(crate) fn check_finite(loss: f64, epoch: usize, iteration: usize, window: usize) -> Result<()> {
    if loss.is_finite() {
        return Ok(());
    }
    Err(Error::Diverged {
        epoch,
        iteration,
        window,
    })
}

/// What a trainer prints: the book's lines and, on a terminal (and not under CI) with
/// [`Output::Auto`], a progress bar over every iteration below them.
pub(crate) struct Printer {
    output: Output,
    bar: Option<ProgressBar>,
}

impl Printer {
    pub(crate) fn new(output: Output, max_epoch: usize, max_iters: usize) -> Self {
        let wanted = output == Output::Auto
            && std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none();
        let bar = wanted.then(|| {
            // Saturating: `max_epoch` may be usize::MAX (train until stopped).
            let bar = ProgressBar::new((max_epoch as u64).saturating_mul(max_iters as u64));
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} iterations | {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Printer { output, bar }
    }

    /// Prints a line (above the bar, if there is one).
    pub(crate) fn line(&self, line: String) {
        match (&self.bar, self.output) {
            (_, Output::Silent) => {}
            (Some(bar), _) => bar.println(line),
            // A closed pipe (`| head`) must not stop training.
            (None, _) => {
                let _ = writeln!(std::io::stdout(), "{line}");
            }
        }
    }

    /// Sets the bar's message: before the line it goes with, so that the bar redrawn under the
    /// line shows that line's epoch, not the last one's.
    pub(crate) fn message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// One iteration done.
    pub(crate) fn tick(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Removes the bar.
    pub(crate) fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
