//! Section 1.5.1 of the chapter, "bit precision", with numbers from this machine: the sizes of
//! the three floating-point types, the spiral trained in f64 and in f32, and the learned weights
//! saved as f16, f32 and f64 and loaded back. `--backend cuda` does the training and the
//! reloading on the GPU.
//!
//! ```text
//! cargo run --release --example precision
//! cargo run --release --features cuda --example precision -- --backend cuda
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use common::BackendKind;
use nn::prelude::*;
use nn::train::{load_params, save_params};
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    about = "Section 1.5.1: f64 against f32 training, weights stored as f16/f32/f64 (Markdown on stdout)"
)]
struct Cli {
    /// Device to train and reload on.
    #[arg(long, value_enum, default_value_t = BackendKind::Cpu)]
    backend: BackendKind,
}

/// What the walk-through shows of one compute type's run.
struct Trained {
    losses: Vec<f64>,
    accuracy: f64,
    seconds: f64,
    /// One table row per storage type: the model saved in it and loaded back (when asked for).
    reloads: Vec<String>,
    /// Parameters in the model.
    weights: usize,
}

/// Trains the book's spiral net on `b`; with `reload`, then saves its weights as f16, f32 and f64
/// and loads each back into a fresh model on `b`.
fn train<B: Backend>(b: B, data_seed: u32, reload: bool) -> Result<Trained> {
    let mut rng = NumpyRng::new(data_seed);
    let data = spiral::load_data_from(&mut rng);
    let model = TwoLayerNet::new(&b, 2, 10, 3, &mut rng)?;
    let mut t = Trainer::new(model, Sgd::new(1.0)?);
    let o = FitOptions {
        max_epoch: 300,
        batch_size: 30,
        eval_interval: Some(10),
        output: Output::Silent,
        ..Default::default()
    };
    let start = Instant::now();
    t.fit(&data, &o, &mut rng)?;
    b.synchronize()?;
    let seconds = start.elapsed().as_secs_f64();
    let accuracy = eval::accuracy(t.model_mut(), &data)?;
    let losses = t.loss_list().to_vec();
    let model = t.into_inner().0;

    let weights = model.params().shapes(&b).iter().map(|(_, s)| s.len()).sum();
    let reloads = if reload {
        reload_rows(&b, &model, &data)?
    } else {
        Vec::new()
    };
    Ok(Trained {
        losses,
        accuracy,
        seconds,
        reloads,
        weights,
    })
}

/// Saves `model` as f16, f32 and f64, loads each file back into a fresh model on `b`, and gives
/// one table row per storage type.
fn reload_rows<B: Backend>(b: &B, model: &TwoLayerNet<B>, data: &Dataset) -> Result<Vec<String>> {
    let dir = tempfile::tempdir()?;
    let original = host_params(model)?;
    let mut rows = Vec::new();
    for dtype in [DType::F16, DType::F32, DType::F64] {
        let path = dir.path().join(format!("spiral_{dtype}.safetensors"));
        let bytes = save_params(model, &path, dtype)?;
        let mut reloaded = TwoLayerNet::new(b, 2, 10, 3, &mut NumpyRng::new(0))?;
        load_params(&mut reloaded, &path)?;
        let diff = host_params(&reloaded)?
            .iter()
            .zip(&original)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let acc = eval::accuracy(&mut reloaded, data)?;
        let data_bytes = original.len() * dtype.size_in_bytes();
        rows.push(format!(
            "| {dtype} | {bytes} bytes | {data_bytes} bytes | {diff:.2e} | {acc:.4} |"
        ));
    }
    Ok(rows)
}

fn host_params<B: Backend>(m: &TwoLayerNet<B>) -> Result<Vec<f64>> {
    let b = m.backend();
    let mut v = Vec::new();
    for (_, p) in m.params().iter() {
        v.extend(b.to_host(p.value())?.iter().map(|x| x.f64()));
    }
    Ok(v)
}

fn main() -> std::process::ExitCode {
    common::exit_status(try_main())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let seed = 1984;
    // Both runs before any output, so that a missing GPU stops the walk-through at once.
    let t64 = dispatch!(cli.backend, common::Dtype::F64, |b| train(b, seed, false)?);
    let t32 = dispatch!(cli.backend, common::Dtype::F32, |b| train(b, seed, true)?);
    let device = match cli.backend {
        BackendKind::Cpu => "the CPU",
        BackendKind::Cuda => "the GPU",
    };
    say!("## Sizes of the floating-point types\n");
    say!("| type | bytes | bits of mantissa | largest finite |");
    say!("|---|---|---|---|");
    say!(
        "| f16 | {} | 10 | {} |",
        DType::F16.size_in_bytes(),
        half::f16::MAX
    );
    say!(
        "| f32 | {} | 23 | {:e} |",
        DType::F32.size_in_bytes(),
        f32::MAX
    );
    say!(
        "| f64 | {} | 52 | {:e} |",
        DType::F64.size_in_bytes(),
        f64::MAX
    );

    say!(
        "\n## The spiral trained in f64 and in f32 on {device} (300 epochs, batch 30, hidden 10, lr 1)\n"
    );
    say!("| epoch | loss f64 | loss f32 | relative difference |");
    say!("|---|---|---|---|");
    for e in [0, 1, 9, 99, 199, 299] {
        let (a, b) = (t64.losses[e], t32.losses[e]);
        say!(
            "| {} | {a:.10} | {b:.10} | {:.1e} |",
            e + 1,
            ((a - b) / a).abs()
        );
    }
    say!("\n| compute type | train accuracy | training time |");
    say!("|---|---|---|");
    say!(
        "| f64 | {:.4} | {:.1} ms |",
        t64.accuracy,
        t64.seconds * 1e3
    );
    say!(
        "| f32 | {:.4} | {:.1} ms |",
        t32.accuracy,
        t32.seconds * 1e3
    );

    say!("\n## The f32 model's weights saved and loaded back\n");
    say!("| stored as | file size | of which weights | largest abs. difference after reload | accuracy after reload |");
    say!("|---|---|---|---|---|");
    for row in &t32.reloads {
        say!("{row}");
    }
    say!(
        "\n(File sizes include the safetensors header, {} parameters in all.)",
        t32.weights
    );
    Ok(())
}
