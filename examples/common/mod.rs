//! What the examples share: the command-line flags of the book's scripts, output checks, the
//! JSON report, how an example ends on an error ([`exit_status`]). Each example includes it
//! with `mod common;`.
#![allow(dead_code)]

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Prints a line to stdout; a closed pipe (`| head`) ends the program quietly instead of
/// panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Ends an example: exit status 0, or on an error `Error: …` on stderr and exit status 1, as
/// `fn main() -> Result` would, but on one line (each cause after a colon) and without the
/// backtrace that anyhow adds there whenever `RUST_BACKTRACE` is set. These errors are the
/// user's (a bad flag, a missing file or GPU), and the backtrace would only show the example's
/// own frames; a panic still prints its backtrace.
pub fn exit_status(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// `Error: ` and the error with its causes (`{:#}`).
fn error_line(e: &anyhow::Error) -> String {
    format!("Error: {e:#}")
}

/// The compute element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dtype {
    /// Single precision (the default, as in the book).
    F32,
    /// Double precision (NumPy's default).
    F64,
}

impl Dtype {
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::F64 => "f64",
        }
    }
}

/// The device the examples run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// ndarray on the CPU.
    Cpu,
    /// cuBLAS and NVRTC kernels on GPU 0 (build with `--features cuda`).
    Cuda,
}

/// Calls `$run(backend)` with the backend and element type chosen on the command line:
/// `dispatch!(kind, dtype, |b| run(b, &args))`. The model code is the same for every arm.
#[macro_export]
macro_rules! dispatch {
    ($kind:expr, $dtype:expr, |$b:ident| $body:expr) => {{
        use $crate::common::{BackendKind, Dtype};
        match ($kind, $dtype) {
            (BackendKind::Cpu, Dtype::F32) => {
                let $b = nn::cpu::Cpu::<f32>::new();
                $body
            }
            (BackendKind::Cpu, Dtype::F64) => {
                let $b = nn::cpu::Cpu::<f64>::new();
                $body
            }
            #[cfg(feature = "nn-cuda")]
            (BackendKind::Cuda, Dtype::F32) => {
                let $b = nn::cuda::Cuda::<f32>::new(0)?;
                $body
            }
            #[cfg(feature = "nn-cuda")]
            (BackendKind::Cuda, Dtype::F64) => {
                let $b = nn::cuda::Cuda::<f64>::new(0)?;
                $body
            }
            #[cfg(not(feature = "nn-cuda"))]
            (BackendKind::Cuda, _) => anyhow::bail!(concat!(
                "this build has no CUDA backend: rebuild with `--features cuda`: \
                 cargo run --release --features cuda --example ",
                env!("CARGO_CRATE_NAME"),
                " -- --backend cuda"
            )),
        }
    }};
}

/// The flags of `ch01/train_custom_loop.py` and `ch01/train.py`, with the book's values.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Epochs (0: no training, the initial model is evaluated and reported).
    #[arg(long, default_value_t = 300)]
    pub epochs: usize,
    /// Rows per batch (at least 1, at most the data set's 300 rows).
    #[arg(long, default_value_t = 30, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub batch_size: usize,
    /// Hidden units (at least 1).
    #[arg(long, default_value_t = 10, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub hidden: usize,
    /// Learning rate (finite, ≥ 0).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub lr: f64,
    /// Seed of the NumPy-compatible random stream.
    #[arg(long, default_value_t = 1984)]
    pub seed: u32,
    /// Compute precision.
    #[arg(long, value_enum, default_value_t = Dtype::F32)]
    pub dtype: Dtype,
    /// Device.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    pub backend: BackendKind,
    /// Directory for the figures.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Skip the figures.
    #[arg(long)]
    pub no_plot: bool,
    /// Write a JSON report (losses, accuracy, training seconds, backend, dtype) to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Load the parameters from this safetensors file before training (then evaluate, or go on
    /// training for --epochs).
    #[arg(long)]
    pub load: Option<PathBuf>,
    /// Save the parameters to this safetensors file after training.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Storage precision of --save (the book stores weights in f16).
    #[arg(long, value_enum, default_value_t = SaveDtype::F16)]
    pub save_dtype: SaveDtype,
}

/// Storage precision of weight files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SaveDtype {
    F16,
    F32,
    F64,
}

impl SaveDtype {
    pub fn dtype(self) -> nn::core::DType {
        match self {
            SaveDtype::F16 => nn::core::DType::F16,
            SaveDtype::F32 => nn::core::DType::F32,
            SaveDtype::F64 => nn::core::DType::F64,
        }
    }
}

impl TrainArgs {
    /// Loads `--load` into `model`, if given.
    pub fn load_into<B: nn::core::Backend, M: nn::layers::Module<B>>(
        &self,
        model: &mut M,
    ) -> Result<()> {
        if let Some(p) = &self.load {
            let stored = nn::train::load_params(model, p).map_err(|e| match e {
                // Input and output sizes are the spiral's: only --hidden can differ.
                nn::core::Error::ParamShape { .. } => {
                    anyhow::anyhow!("{e}: give the --hidden the file was saved with")
                }
                e => e.into(),
            })?;
            say!("loaded {} ({stored} weights)", p.display());
        }
        Ok(())
    }

    /// Saves `model` to `--save`, if given.
    pub fn save_from<B: nn::core::Backend, M: nn::layers::Module<B>>(
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
}

impl TrainArgs {
    /// Refuses bad values before any work starts (the data: the spiral's 300 rows).
    pub fn check(&self) -> Result<()> {
        self.check_for("the spiral data set", 300)
    }

    /// [`check`](Self::check) for `rows` rows of data, `what` naming them.
    pub fn check_for(&self, what: &str, rows: usize) -> Result<()> {
        if !self.lr.is_finite() || self.lr < 0.0 {
            bail!("--lr must be a finite number ≥ 0, got {}", self.lr);
        }
        if self.batch_size > rows {
            bail!(
                "--batch-size {} is larger than {what} ({rows} rows)",
                self.batch_size
            );
        }
        if !self.no_plot {
            // Before training, not after it.
            if !cfg!(feature = "plot") {
                bail!(
                    "figures need the `plot` feature, which this build has off: \
                     rebuild without --no-default-features, or pass --no-plot"
                );
            }
            writable_dir(&self.out)?;
        }
        for file in [&self.report, &self.save].into_iter().flatten() {
            output_file(file)?;
        }
        if let Some(p) = &self.load {
            match std::fs::metadata(p) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    bail!("--load {}: no such file", p.display())
                }
                Err(e) => bail!("--load {}: {e}", p.display()),
                Ok(m) if m.is_dir() => {
                    bail!("--load {}: is a directory, not a weights file", p.display())
                }
                Ok(_) => {}
            }
        }
        Ok(())
    }
}

/// Checks, before any work, that `file` can be written (`nn_train::io::check_writable`), after
/// creating its directory if needed, as for `--out`.
pub fn output_file(file: &Path) -> Result<()> {
    if let Some(dir) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    nn_train::io::check_writable(file)?;
    Ok(())
}

/// Creates `dir` if needed and checks that a file can be written in it.
pub fn writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    tempfile::tempfile_in(dir)
        .with_context(|| format!("cannot write in output directory {}", dir.display()))?;
    Ok(())
}

/// The JSON report of a training run.
#[derive(Serialize, Debug)]
pub struct Report {
    pub losses: Vec<f64>,
    pub train_accuracy: f64,
    pub train_seconds: f64,
    pub backend: String,
    pub dtype: String,
}

impl Report {
    /// Writes the report atomically, as pretty JSON ending in a newline.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        nn_train::io::write_atomic(path, &json)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    #[test]
    fn an_error_is_one_line_with_its_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = Err::<(), _>(io)
            .context("cannot create output directory /x")
            .unwrap_err();
        assert_eq!(
            super::error_line(&e),
            "Error: cannot create output directory /x: No such file or directory"
        );
    }
}

/// Test helpers: the reference results in `tests/data` (see `tests/data/regen.sh`).
#[cfg(test)]
pub mod reference {
    /// `(losses, accuracy)` of a reference run.
    pub fn load(name: &str) -> (Vec<f64>, f64) {
        let path = format!("{}/tests/data/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let losses = v["losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        (losses, v["acc"].as_f64().unwrap())
    }

    /// Asserts that `got` equals the reference losses to `rel` relative error, and returns the
    /// largest relative error seen.
    #[track_caller]
    pub fn assert_losses(got: &[f64], want: &[f64], rel: f64) -> f64 {
        assert_eq!(got.len(), want.len(), "number of recorded losses");
        let mut worst = 0f64;
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let e = ((g - w) / w).abs();
            assert!(
                e <= rel,
                "loss {i}: got {g}, the book's code gives {w} (rel. error {e:e} > {rel:e})"
            );
            worst = worst.max(e);
        }
        worst
    }
}

pub mod rnnlm;

/// Says how a trainer's steps ran when graphs were asked for (`--graph`): replayed, or eagerly
/// and why.
pub fn say_graph(asked: bool, status: &nn::core::GraphStatus, replays: u64) {
    match status {
        nn::core::GraphStatus::FellBack(why) => say!("graph: ran eagerly: {why}"),
        _ if asked => say!("graph: {status:?}, {replays} steps replayed"),
        _ => {}
    }
}
