//! `ch01/show_spiral_dataset.py` in Rust: the spiral data set as a scatter plot (three marker
//! shapes), and optionally as CSV rows `x0,x1,label` at full precision.
//!
//! ```text
//! cargo run --release --example show_spiral -- --seed 1984 --out out --csv out/spiral.csv
//! ```
mod common;

use anyhow::Result;
use clap::Parser;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(about = "Plot the book's spiral data set")]
struct Cli {
    /// Seed of the NumPy-compatible random stream.
    #[arg(long, default_value_t = 1984)]
    seed: u32,
    /// Directory for the figure (spiral.png).
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Also write the points as CSV rows `x0,x1,label`.
    #[arg(long)]
    csv: Option<PathBuf>,
}

fn csv(data: &nn::train::Dataset) -> String {
    let mut s = String::from("x0,x1,label\n");
    for (i, l) in data.labels().iter().enumerate() {
        let r = data.row(i);
        // `{:?}` prints the shortest decimal that reads back as the same f64.
        let _ = writeln!(s, "{:?},{:?},{l}", r[0], r[1]);
    }
    s
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    common::writable_dir(&cli.out)?;
    let data = nn::train::spiral::load_data(cli.seed);
    say!(
        "x {:?}, t {:?}",
        (data.len(), data.cols()),
        (data.len(), data.classes())
    );
    if let Some(path) = &cli.csv {
        nn::train::io::write_atomic(path, csv(&data).as_bytes())?;
        say!("wrote {}", path.display());
    }
    #[cfg(feature = "plot")]
    {
        let p = cli.out.join("spiral.png");
        nn::train::plot::scatter(&p, &data)?;
        say!("wrote {}", p.display());
    }
    Ok(())
}
