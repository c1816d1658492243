//! What the two language-model examples share: the flags of `ch05/train_custom_loop.py`,
//! `ch05/train.py` and `ch06/train_rnnlm.py` (the book's values as defaults, which differ by
//! model), the corpus, weight files and the JSON report.

use super::{output_file, writable_dir, BackendKind, Dtype, SaveDtype};
use anyhow::{bail, Result};
use clap::Args;
use nn::train::{made_up_corpus, Corpus};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Sentences and seed of the corpus made up when no `--corpus` is given (the reference's).
pub const MADE_UP: (usize, u32) = (400, 0);

/// The flags; those left out take the model's book values ([`Book`]).
#[derive(Args, Debug, Clone)]
pub struct RnnArgs {
    /// A text file in PTB's format (one sentence a line), e.g. ptb.train.txt; without it, a
    /// corpus made up by the library.
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Train on the first N words (0: all). ch05: 1000; ch06: all.
    #[arg(long)]
    pub corpus_size: Option<usize>,
    /// The vocabulary size: `corpus` as ch05 takes it (the largest id of the words used, plus
    /// one) or `file` as ch06 does (every word of the file). ch05: corpus; ch06: file.
    #[arg(long, value_enum)]
    pub vocab: Option<Vocab>,
    /// Seed of the NumPy-compatible stream the weights are drawn from.
    #[arg(long, default_value_t = 1984)]
    pub seed: u32,
    /// Compute precision.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
    /// Device.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    pub backend: BackendKind,
    /// Sequences per batch. ch05: 10; ch06: 20.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch_size: Option<usize>,
    /// Time steps per batch (truncated BPTT). ch05: 5; ch06: 35.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub time_size: Option<usize>,
    /// Word-vector width. 100.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub wordvec: Option<usize>,
    /// Recurrent units. 100.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub hidden: Option<usize>,
    /// Learning rate (finite, ≥ 0). ch05: 0.1; ch06: 20.
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Epochs (0: no training, the model is evaluated and reported). ch05: 100; ch06: 4.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Directory for the figure.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Skip the figure.
    #[arg(long)]
    pub no_plot: bool,
    /// Write a JSON report (perplexities, every iteration's loss, …) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Load the parameters from this safetensors file before training.
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Save the parameters to this safetensors file after training.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Storage precision of --save (the book stores weights in f16).
    #[arg(long, value_enum, default_value_t = SaveDtype::F16)]
    pub save_dtype: SaveDtype,
}

/// How the vocabulary size is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Vocab {
    /// `max(corpus) + 1` of the words trained on (ch05).
    Corpus,
    /// Every word of the file (ch06's `len(word_to_id)`).
    File,
}

/// The book's values for one script.
#[derive(Clone, Copy, Debug)]
pub struct Book {
    pub corpus_size: usize,
    pub vocab: Vocab,
    pub batch_size: usize,
    pub time_size: usize,
    pub wordvec: usize,
    pub hidden: usize,
    pub lr: f64,
    pub epochs: usize,
}

/// `ch05/train_custom_loop.py` and `ch05/train.py`.
pub const CH05: Book = Book {
    corpus_size: 1000,
    vocab: Vocab::Corpus,
    batch_size: 10,
    time_size: 5,
    wordvec: 100,
    hidden: 100,
    lr: 0.1,
    epochs: 100,
};

/// `ch06/train_rnnlm.py`.
pub const CH06: Book = Book {
    corpus_size: 0,
    vocab: Vocab::File,
    batch_size: 20,
    time_size: 35,
    wordvec: 100,
    hidden: 100,
    lr: 20.0,
    epochs: 4,
};

/// The flags with the book's values filled in.
#[derive(Clone, Debug)]
pub struct Settings {
    pub corpus_size: usize,
    pub vocab: Vocab,
    pub batch_size: usize,
    pub time_size: usize,
    pub wordvec: usize,
    pub hidden: usize,
    pub lr: f64,
    pub epochs: usize,
}

/// The words to train on: inputs, targets, the vocabulary size, and the whole file's corpus
/// (for `--eval-corpus`, read through its vocabulary).
pub struct Data {
    pub xs: Vec<u32>,
    pub ts: Vec<u32>,
    pub vocab_size: usize,
    pub corpus: Corpus,
}

impl RnnArgs {
    /// The flags given, the book's values `book` for the others.
    pub fn settings(&self, book: Book) -> Settings {
        Settings {
            corpus_size: self.corpus_size.unwrap_or(book.corpus_size),
            vocab: self.vocab.unwrap_or(book.vocab),
            batch_size: self.batch_size.unwrap_or(book.batch_size),
            time_size: self.time_size.unwrap_or(book.time_size),
            wordvec: self.wordvec.unwrap_or(book.wordvec),
            hidden: self.hidden.unwrap_or(book.hidden),
            lr: self.lr.unwrap_or(book.lr),
            epochs: self.epochs.unwrap_or(book.epochs),
        }
    }

    /// Refuses bad values before any work starts.
    pub fn check(&self, s: &Settings) -> Result<()> {
        if !s.lr.is_finite() || s.lr < 0.0 {
            bail!("--lr must be a finite number ≥ 0, got {}", s.lr);
        }
        if !self.no_plot {
            if !cfg!(feature = "plot") {
                bail!(
                    "figures need the `plot` feature, which this build has off: rebuild \
                     without --no-default-features, or pass --no-plot"
                );
            }
            writable_dir(&self.out)?;
        }
        for file in [&self.report, &self.save].into_iter().flatten() {
            output_file(file)?;
        }
        if let Some(p) = &self.load {
            if !p.is_file() {
                bail!("--load {}: no such weights file", p.display());
            }
        }
        Ok(())
    }

    /// The corpus (`--corpus`, or the made-up one, saying so first), cut to `--corpus-size`,
    /// as the book's scripts prepare it: `xs = corpus[:-1]`, `ts = corpus[1:]`.
    pub fn data(&self, s: &Settings) -> Result<Data> {
        let corpus = match &self.corpus {
            Some(p) => {
                let c = Corpus::load(p)?;
                say!("corpus: {} ({} words)", p.display(), c.len());
                c
            }
            None => {
                let (sentences, seed) = MADE_UP;
                let c = Corpus::from_text(&made_up_corpus(sentences, seed))?;
                say!(
                    "corpus: made up by the library ({sentences} sentences of a small grammar, \
                     seed {seed}, {} words; --corpus ptb.train.txt for the book's data)",
                    c.len()
                );
                c
            }
        };
        let used = match s.corpus_size {
            0 => corpus.ids(),
            n => &corpus.ids()[..n.min(corpus.len())],
        };
        if used.len() < 2 {
            bail!("a corpus of {} word(s) has nothing to predict", used.len());
        }
        let vocab_size = match s.vocab {
            Vocab::Corpus => *used.iter().max().expect("not empty") as usize + 1,
            Vocab::File => corpus.vocab_size(),
        };
        Ok(Data {
            xs: used[..used.len() - 1].to_vec(),
            ts: used[1..].to_vec(),
            vocab_size,
            corpus,
        })
    }

    /// Loads `--load` into `model`, if given.
    pub fn load_into<B: nn::core::Backend, M: nn::layers::Module<B> + ?Sized>(
        &self,
        model: &mut M,
    ) -> Result<()> {
        if let Some(p) = &self.load {
            let stored = nn::train::load_params(model, p).map_err(|e| match e {
                nn::core::Error::ParamShape { .. } => anyhow::anyhow!(
                    "{e}: give the --wordvec, --hidden and vocabulary the file was saved with"
                ),
                e => e.into(),
            })?;
            say!("loaded {} ({stored} weights)", p.display());
        }
        Ok(())
    }

    /// Saves `model` to `--save`, if given.
    pub fn save_from<B: nn::core::Backend, M: nn::layers::Module<B> + ?Sized>(
        &self,
        model: &M,
    ) -> Result<()> {
        if let Some(p) = &self.save {
            let dtype = self.save_dtype.dtype();
            let n = nn::train::save_params(model, p, dtype)?;
            say!("saved {} ({dtype}, {n} bytes)", p.display());
        }
        Ok(())
    }

    /// The figure's path.
    pub fn figure(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }
}

/// The JSON report of a language-model run.
#[derive(Serialize, Debug)]
pub struct RnnReport {
    pub perplexities: Vec<f64>,
    pub losses: Vec<f64>,
    pub eval_perplexity: Option<f64>,
    pub vocab_size: usize,
    pub train_seconds: f64,
    pub backend: String,
    pub dtype: String,
}

impl RnnReport {
    /// Writes the report atomically, as pretty JSON ending in a newline.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        nn_train::io::write_atomic(path, &json)?;
        say!("wrote {}", path.display());
        Ok(())
    }
}

/// Test helpers: the reference runs in `tests/data/rnnlm` (see `tests/data/regen_rnnlm.sh`).
#[cfg(test)]
pub mod reference {
    /// `(perplexities, losses)` of a reference run.
    pub fn load(name: &str) -> (Vec<f64>, Vec<f64>) {
        let path = format!(
            "{}/tests/data/rnnlm/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let list = |k: &str| -> Vec<f64> {
            v[k].as_array()
                .unwrap_or_else(|| panic!("{path}: no {k}"))
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        (list("perplexities"), list("losses"))
    }

    /// The largest relative difference of `got` from `want` over the first `n` values, asserted
    /// to be within `rel`.
    #[track_caller]
    pub fn within(what: &str, got: &[f64], want: &[f64], n: usize, rel: f64) -> f64 {
        assert_eq!(got.len(), want.len(), "{what}: how many");
        let mut worst = 0f64;
        for (i, (g, w)) in got.iter().zip(want).take(n).enumerate() {
            let e = ((g - w) / w).abs();
            assert!(
                e <= rel,
                "{what} {i}: got {g}, the book's code gives {w} (rel. error {e:e} > {rel:e})"
            );
            worst = worst.max(e);
        }
        worst
    }
}
