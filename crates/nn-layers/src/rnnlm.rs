//! Language models: the [`LanguageModel`] trait the sequence trainer drives, and the book's
//! [`SimpleRnnlm`] (ch05, an RNN) and [`Rnnlm`] (ch06, an LSTM).

use crate::loss::one;
use crate::time::{scaled_randn, Recurrent, TimeEmbedding, TimeLstm, TimeRnn, TimeSoftmaxWithLoss};
use crate::{Affine, Layer, Module};
use nn_core::{Backend, Error, NumpyRng, ParamStore, Result, Shape};

/// What the sequence trainer needs from a language model: the loss of a batch of word-id
/// sequences, its gradients, and a state to reset, on top of its parameters ([`Module`]).
///
/// Batches are time-major (see [`crate::time`]): `xs` and `ts` hold the ids of `batch`
/// sequences, step after step, so id `t · batch + i` is step `t` of sequence `i`.
pub trait LanguageModel<B: Backend>: Module<B> {
    /// The mean loss (`1 × 1`, on the device) of predicting `ts` from `xs`: `batch` sequences
    /// of `xs.len() / batch` steps.
    fn forward(&mut self, xs: &B::Index, ts: &B::Index, batch: usize) -> Result<B::Tensor>;
    /// Gradients of the last `forward`'s loss, written into [`Module::params`] in place of the
    /// last step's, as [`crate::Model::backward`] does.
    fn backward(&mut self) -> Result<()>;
    /// Forgets the state carried from batch to batch (before evaluating, or a new text).
    fn reset_state(&mut self);
    /// The number of word ids the model predicts over.
    fn vocab_size(&self) -> usize;
}

impl<B: Backend, M: LanguageModel<B> + ?Sized> LanguageModel<B> for Box<M> {
    fn forward(&mut self, xs: &B::Index, ts: &B::Index, batch: usize) -> Result<B::Tensor> {
        (**self).forward(xs, ts, batch)
    }
    fn backward(&mut self) -> Result<()> {
        (**self).backward()
    }
    fn reset_state(&mut self) {
        (**self).reset_state()
    }
    fn vocab_size(&self) -> usize {
        (**self).vocab_size()
    }
}

/// The book's language models: `TimeEmbedding → recurrent layer R → TimeAffine`, with
/// `TimeSoftmaxWithLoss`. [`SimpleRnnlm`] has an RNN for `R`, [`Rnnlm`] an LSTM.
///
/// Weights are drawn from the given stream in the book's order: `embed_W = randn(V, D) / 100`,
/// the recurrent layer's `Wx = randn(D, k·H) / √D` and `Wh = randn(H, k·H) / √H`, then
/// `affine_W = randn(H, V) / √H`; biases are zeros. Parameters are named after the book's layer
/// list: `layers.0.W`, `layers.1.Wx`, `layers.1.Wh`, `layers.1.b`, `layers.2.W`, `layers.2.b`.
///
/// ```
/// use nn_core::{Backend, NumpyRng};
/// use nn_cpu::Cpu;
/// use nn_layers::{LanguageModel, SimpleRnnlm};
///
/// let b = Cpu::<f64>::new();
/// let mut model = SimpleRnnlm::new(&b, 10, 4, 5, &mut NumpyRng::new(1984))?;
/// // Two sequences of three steps, time-major: step 0 of both, then step 1, then step 2.
/// let xs = b.index_from_host(&[0, 5, 1, 6, 2, 7])?;
/// let ts = b.index_from_host(&[1, 6, 2, 7, 3, 8])?;
/// let loss = model.forward(&xs, &ts, 2)?;
/// model.backward()?;
/// assert!((b.scalar(&loss)? - 10f64.ln()).abs() < 0.1); // near-uniform at the start
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RnnLanguageModel<B: Backend, R: Recurrent<B>> {
    backend: B,
    store: ParamStore<B>,
    embed: TimeEmbedding<B>,
    rnn: R,
    affine: Affine<B>,
    loss: TimeSoftmaxWithLoss<B>,
    sizes: (usize, usize, usize),
}

/// The book's `SimpleRnnlm` (ch05): an RNN language model.
pub type SimpleRnnlm<B> = RnnLanguageModel<B, TimeRnn<B>>;

/// The book's `Rnnlm` (ch06): an LSTM language model.
pub type Rnnlm<B> = RnnLanguageModel<B, TimeLstm<B>>;

impl<B: Backend, R: Recurrent<B>> RnnLanguageModel<B, R> {
    /// A model over `vocab` word ids with `wordvec`-wide embeddings and `hidden` recurrent
    /// units, initialised from `rng`.
    pub fn new(
        backend: &B,
        vocab: usize,
        wordvec: usize,
        hidden: usize,
        rng: &mut NumpyRng,
    ) -> Result<Self> {
        for (what, n) in [
            ("vocabulary", vocab),
            ("wordvec", wordvec),
            ("hidden", hidden),
        ] {
            if n == 0 {
                return Err(Error::invalid(format!(
                    "a language model's {what} size must be at least 1"
                )));
            }
        }
        let mut store = ParamStore::new();
        let embed_w = scaled_randn(backend, rng, vocab, wordvec, 100.0)?;
        let embed = TimeEmbedding::new(backend, &mut store, "layers.0", embed_w)?;
        let rnn = R::init(backend, &mut store, "layers.1", wordvec, hidden, rng)?;
        let affine_w = scaled_randn(backend, rng, hidden, vocab, (hidden as f64).sqrt())?;
        let affine_b = backend.zeros(Shape::row(vocab))?;
        let affine = Affine::new(backend, &mut store, "layers.2", affine_w, affine_b)?;
        Ok(RnnLanguageModel {
            backend: backend.clone(),
            store,
            embed,
            rnn,
            affine,
            loss: TimeSoftmaxWithLoss::new(backend),
            sizes: (vocab, wordvec, hidden),
        })
    }

    /// The embedding width (the book's `wordvec_size`).
    pub fn wordvec_size(&self) -> usize {
        self.sizes.1
    }

    /// The recurrent layer's units (the book's `hidden_size`).
    pub fn hidden_size(&self) -> usize {
        self.sizes.2
    }

    /// The recurrent layer (its carried state, its `dh`).
    pub fn recurrent(&self) -> &R {
        &self.rnn
    }
}

impl<B: Backend, R: Recurrent<B>> Module<B> for RnnLanguageModel<B, R> {
    fn backend(&self) -> &B {
        &self.backend
    }
    fn params(&self) -> &ParamStore<B> {
        &self.store
    }
    fn params_mut(&mut self) -> &mut ParamStore<B> {
        &mut self.store
    }
}

impl<B: Backend, R: Recurrent<B>> LanguageModel<B> for RnnLanguageModel<B, R> {
    fn forward(&mut self, xs: &B::Index, ts: &B::Index, batch: usize) -> Result<B::Tensor> {
        let b = &self.backend;
        let (nx, nt) = (b.index_len(xs), b.index_len(ts));
        if nx != nt || nx == 0 {
            return Err(Error::shape(
                "Rnnlm.forward",
                format!("{nx} input ids and {nt} target ids: expected as many, at least one"),
            ));
        }
        let x = self.embed.forward(&self.store, xs)?;
        let h = self.rnn.forward(&self.store, &x, batch)?;
        let score = self.affine.forward(&self.store, &h)?;
        self.loss.forward(score, ts)
    }

    fn backward(&mut self) -> Result<()> {
        self.store.zero_grads();
        let d = self.loss.backward(one())?;
        let d = self.affine.backward(&mut self.store, &d)?;
        let d = self.rnn.backward(&mut self.store, &d)?;
        self.embed.backward(&mut self.store, &d)
    }

    fn reset_state(&mut self) {
        self.rnn.reset_state();
    }

    fn vocab_size(&self) -> usize {
        self.sizes.0
    }
}
