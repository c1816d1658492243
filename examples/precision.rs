//! Section 1.5.1 of the chapter, "bit precision", with numbers from this machine: the sizes of
//! the three floating-point types, the spiral trained in f64 and in f32, and the learned weights
//! saved as f16, f32 and f64 and loaded back.
//!
//! ```text
//! cargo run --release --example precision
//! ```
mod common;

use anyhow::Result;
use nn::prelude::*;
use nn::train::{load_params, save_params};
use std::time::Instant;

struct Trained<B: Backend> {
    model: TwoLayerNet<B>,
    losses: Vec<f64>,
    accuracy: f64,
    seconds: f64,
}

fn train<B: Backend>(b: B, data_seed: u32) -> Result<Trained<B>> {
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
    Ok(Trained {
        model: t.into_inner().0,
        losses,
        accuracy,
        seconds,
    })
}

fn host_params<B: Backend>(m: &TwoLayerNet<B>) -> Result<Vec<f64>> {
    let b = m.backend();
    let mut v = Vec::new();
    for (_, p) in m.params().iter() {
        v.extend(b.to_host(p.value())?.iter().map(|x| x.f64()));
    }
    Ok(v)
}

/// The walk-through takes no options; parsing still answers `--help` and refuses stray ones.
#[derive(clap::Parser, Debug)]
#[command(
    about = "Section 1.5.1: f64 against f32 training, weights stored as f16/f32/f64 (Markdown on stdout)"
)]
struct Cli {}

fn main() -> Result<()> {
    <Cli as clap::Parser>::parse();
    let seed = 1984;
    let data = spiral::load_data(seed);
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

    let t64 = train(Cpu::<f64>::new(), seed)?;
    let t32 = train(Cpu::<f32>::new(), seed)?;
    say!("\n## The spiral trained in f64 and in f32 (300 epochs, batch 30, hidden 10, lr 1)\n");
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
    let dir = tempfile::tempdir()?;
    let original = host_params(&t32.model)?;
    for dtype in [DType::F16, DType::F32, DType::F64] {
        let path = dir.path().join(format!("spiral_{dtype}.safetensors"));
        let bytes = save_params(&t32.model, &path, dtype)?;
        let mut reloaded = TwoLayerNet::new(&Cpu::<f32>::new(), 2, 10, 3, &mut NumpyRng::new(0))?;
        load_params(&mut reloaded, &path)?;
        let diff = host_params(&reloaded)?
            .iter()
            .zip(&original)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        let acc = eval::accuracy(&mut reloaded, &data)?;
        let data_bytes = original.len() * dtype.size_in_bytes();
        say!("| {dtype} | {bytes} bytes | {data_bytes} bytes | {diff:.2e} | {acc:.4} |");
    }
    say!(
        "\n(File sizes include the safetensors header, {} parameters in all.)",
        original.len()
    );
    Ok(())
}
