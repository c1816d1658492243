//! `nn` (the package `nn-scratch`): the book's chapter 1 (*Deep Learning from Scratch 2*) in Rust.
//!
//! This root crate re-exports the workspace's crates so that one dependency gives everything;
//! each crate is also usable alone:
//!
//! | crate | what it is for |
//! |---|---|
//! | [`core`] (`nn-core`) | the `Backend` trait, shapes, errors, parameters, the NumPy-compatible RNG |
//! | [`cpu`] (`nn-cpu`) | the CPU backend on ndarray, f32 and f64 |
//! | [`layers`] (`nn-layers`) | Affine, Sigmoid, SoftmaxWithLoss, … and `TwoLayerNet` |
//! | [`optim`] (`nn-optim`) | SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam |
//! | [`train`] (`nn-train`) | the spiral data set, the `Trainer`, evaluation, figures, weight files |
//! | `cuda` (`nn-cuda`, feature `cuda`) | the GPU backend: cuBLAS and NVRTC kernels via cudarc |
//!
//! ```
//! use nn::prelude::*;
//! let mut rng = NumpyRng::new(1984);
//! let data = spiral::load_data_from(&mut rng);
//! let mut net = TwoLayerNet::new(&Cpu::<f32>::new(), 2, 10, 3, &mut rng)?;
//! let acc = nn::train::eval::accuracy(&mut net, &data)?;
//! assert!(acc < 0.5); // untrained
//! # Ok::<(), nn::core::Error>(())
//! ```
//!
//! # From the book's Python
//!
//! Where each name of the chapter's code lives here (`b` is the backend, `Cpu::<f32>::new()`;
//! every call that can fail returns a `Result`):
//!
//! | the book | here |
//! |---|---|
//! | `np.random.seed(1984)` | [`NumpyRng::new(1984)`](core::NumpyRng::new): one stream, passed where the book draws |
//! | `x, t = spiral.load_data()` | [`spiral::load_data_from(&mut rng)`](train::spiral::load_data_from), a [`Dataset`](train::Dataset) ([`x`](train::Dataset::x), [`labels`](train::Dataset::labels), [`one_hot`](train::Dataset::one_hot)) |
//! | `x, t = np.load('x.npy'), np.load('t.npy')` | [`Dataset::from_npy(x_path, t_path)`](train::Dataset::from_npy), [`Dataset::from_csv`](train::Dataset::from_csv), [`Dataset::new(x, cols, labels, classes)`](train::Dataset::new) (f32 or f64 kept as they are) |
//! | `np.float32`, `np.float64` | [`Cpu::<f32>`](cpu::Cpu), [`Cpu::<f64>`](cpu::Cpu): the element type is the backend's |
//! | `import cupy as np` | `cuda::Cuda::<f32>::new(0)` in place of `Cpu::<f32>::new()` (feature `cuda`) |
//! | `TwoLayerNet(2, 10, 3)` | [`TwoLayerNet::new(&b, 2, 10, 3, &mut rng)`](layers::TwoLayerNet::new) |
//! | `self.layers = [Affine(…), Relu(), …]`, `self.loss_layer` | [`Sequential::new(&b, 2)?.affine(10, &mut rng)?.relu()…softmax_with_loss()`](layers::Sequential) |
//! | `Affine(W, b)`, `Sigmoid()`, `SoftmaxWithLoss()` | [`Affine::new`](layers::Affine::new) (registers `W`, `b` in a [`ParamStore`](core::ParamStore)), [`Sigmoid::new`](layers::Sigmoid::new), [`SoftmaxWithLoss::new`](layers::SoftmaxWithLoss::new) |
//! | `layer.forward(x)`, `layer.backward(dout)` | [`Layer::forward(&store, &x)`](layers::Layer::forward), [`Layer::backward(&mut store, &dout)`](layers::Layer::backward) |
//! | `model.params`, `model.grads` | [`Module::params`](layers::Module::params): a [`ParamStore`](core::ParamStore) of values and gradients by [`ParamId`](core::ParamId) |
//! | `model.predict(x)`, `model.forward(x, t)`, `model.backward()` | [`Model::predict`](layers::Model::predict), [`Model::forward(&x, Labels::Index(&t))`](layers::Model::forward), [`Model::backward`](layers::Model::backward) |
//! | `SGD(lr=1.0)`, `optimizer.update(model.params, model.grads)` | [`Sgd::new(1.0)`](optim::Sgd::new), [`Optimizer::update(&b, model.params_mut())`](optim::Optimizer::update); also [`Momentum`](optim::Momentum), [`Nesterov`](optim::Nesterov), [`AdaGrad`](optim::AdaGrad), [`RmsProp`](optim::RmsProp), [`Adam`](optim::Adam) |
//! | `idx = np.random.permutation(data_size)` | [`Shuffle::next_epoch(&mut rng)`](train::Shuffle::next_epoch) |
//! | `x[idx[iters*batch_size:(iters+1)*batch_size]]` | [`Backend::gather_rows(&x, &idx, iters * batch_size, batch_size)`](core::Backend::gather_rows), on data copied once with [`Dataset::to_device`](train::Dataset::to_device) |
//! | `np.argmax(model.predict(x), axis=1)`, accuracy | [`eval::predict_classes`](train::eval::predict_classes), [`eval::accuracy`](train::eval::accuracy); [`eval::accuracy_device`](train::eval::accuracy_device) on data copied once |
//! | `Trainer(model, optimizer)` | [`Trainer::new(model, optimizer)`](train::Trainer::new) |
//! | `trainer.fit(x, t, max_epoch, batch_size, max_grad, eval_interval)` | [`Trainer::fit(&data, &FitOptions { .. }, &mut rng)`](train::Trainer::fit) ([`FitOptions`](train::FitOptions) has the same four, with the book's defaults; it returns a [`FitReport`](train::FitReport)); [`Trainer::fit_with`](train::Trainer::fit_with) calls back at each record (validation, early stop); [`Trainer::fit_device`](train::Trainer::fit_device) on data copied once |
//! | `trainer.loss_list`, `trainer.plot()` | [`Trainer::loss_list`](train::Trainer::loss_list), `Trainer::plot(path, ylim)` (feature `plot`) |
//! | `clip_grads(grads, max_norm)` | [`clip_grads(&b, model.params_mut(), max_norm)`](train::clip_grads) |
//! | `remove_duplicate(params, grads)` | [`remove_duplicate(&ids)`](train::remove_duplicate): a [`ParamStore`](core::ParamStore) already sums a shared weight's gradients |
//! | `params.astype(np.float16)`, pickled | [`save_params(&model, path, DType::F16)`](train::save_params), [`load_params`](train::load_params): safetensors |
//! | `corpus, word_to_id, id_to_word = ptb.load_data('train')` | [`Corpus::load(path)`](train::Corpus::load) ([`ids`](train::Corpus::ids), [`id`](train::Corpus::id), [`word`](train::Corpus::word)); [`Corpus::encode_file`](train::Corpus::encode_file) for `'test'` |
//! | `Embedding`, `TimeEmbedding` | [`Embedding`](layers::Embedding) (over time-major ids, it is `TimeEmbedding` too) |
//! | `RNN`, `TimeRNN`, `LSTM`, `TimeLSTM` | [`Rnn`](layers::Rnn), [`TimeRnn`](layers::TimeRnn), [`Lstm`](layers::Lstm), [`TimeLstm`](layers::TimeLstm); `reset_state` on the [`Recurrent`](layers::Recurrent) trait |
//! | `TimeAffine`, `TimeSoftmaxWithLoss` | [`Affine`](layers::Affine) (on a time-major matrix), [`TimeSoftmaxWithLoss`](layers::TimeSoftmaxWithLoss) |
//! | `batch_x[i, t]` of an `(N, T)` batch | id `t * N + i` of a time-major [`Backend::Index`](core::Backend::Index) |
//! | `SimpleRnnlm(V, D, H)`, `Rnnlm(V, D, H)` | [`SimpleRnnlm::new(&b, V, D, H, &mut rng)`](layers::RnnLanguageModel::new), [`Rnnlm`](layers::Rnnlm); [`LanguageModel::forward(&xs, &ts, N)`](layers::LanguageModel::forward) |
//! | `RnnlmTrainer(model, optimizer)`, `fit(xs, ts, max_epoch, batch_size, time_size, max_grad, eval_interval)` | [`RnnlmTrainer::new`](train::RnnlmTrainer::new), [`RnnlmTrainer::fit(&xs, &ts, &RnnlmFitOptions { .. })`](train::RnnlmTrainer::fit); [`ppl_list`](train::RnnlmTrainer::ppl_list), `plot` |
//! | `get_batch`, `eval_perplexity(model, corpus)` | [`get_batch`](train::get_batch), [`eval_perplexity(&mut model, &ids, 10, 35)`](train::eval_perplexity) |
#![warn(missing_docs, missing_debug_implementations)]

pub use nn_core as core;
pub use nn_cpu as cpu;
/// The CUDA backend (feature `cuda`).
#[cfg(feature = "nn-cuda")]
pub use nn_cuda as cuda;
pub use nn_layers as layers;
pub use nn_optim as optim;
pub use nn_train as train;

/// The names the examples and most programs need.
pub mod prelude {
    pub use nn_core::{
        Backend, DType, Error, Float, GraphStatus, NumpyRng, ParamId, ParamStore, Shape, StepGraph,
    };
    pub use nn_cpu::Cpu;
    pub use nn_layers::{
        Affine, Embedding, Labels, LanguageModel, Layer, LossLayer, MatMul, Model, Module, Relu,
        Rnnlm, Sequential, Sigmoid, SigmoidWithLoss, SimpleRnnlm, Softmax, SoftmaxWithLoss,
        TimeLstm, TimeRnn, TimeSoftmaxWithLoss, TwoLayerNet,
    };
    pub use nn_optim::{AdaGrad, Adam, Momentum, Nesterov, Optimizer, RmsProp, Sgd};
    pub use nn_train::{
        clip_grads, eval, remove_duplicate, spiral, Corpus, Dataset, FitOptions, FitReport, Flow,
        Output, RnnlmFitOptions, RnnlmTrainer, Shuffle, Trainer,
    };
}

/// The README's Rust example, compiled and run by `cargo test` (doc tests), so that it stays
/// true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct Readme;

/// The Rust example of `docs/language-models.md`, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../docs/language-models.md")]
struct LanguageModelsDoc;
