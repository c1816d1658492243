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

fn main() -> std::process::ExitCode {
    common::exit_status(run(&Cli::parse()))
}

fn run(cli: &Cli) -> Result<()> {
    common::writable_dir(&cli.out)?;
    if let Some(path) = &cli.csv {
        common::output_file(path)?;
    }
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
    #[cfg(not(feature = "plot"))]
    say!("no figure: this build has the `plot` feature off");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(["show_spiral"].iter().chain(args)).unwrap()
    }

    #[test]
    fn the_csv_reads_back_as_the_data_set_and_its_directory_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("new/dir/spiral.csv");
        let out = dir.path().join("figs");
        let (csv_s, out_s) = (csv.to_str().unwrap(), out.to_str().unwrap());
        run(&cli(&["--seed", "7", "--out", out_s, "--csv", csv_s])).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        let data = nn::train::spiral::load_data(7);
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("x0,x1,label"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), data.len());
        for (i, row) in rows.iter().enumerate() {
            let f: Vec<&str> = row.split(',').collect();
            // Full precision: every coordinate reads back bit for bit.
            let x: Vec<f64> = f[..2].iter().map(|v| v.parse().unwrap()).collect();
            assert_eq!(x, data.row(i), "row {i}");
            assert_eq!(f[2].parse::<u32>().unwrap(), data.labels()[i], "row {i}");
        }
        #[cfg(feature = "plot")]
        assert!(out.join("spiral.png").is_file());
    }

    #[test]
    fn a_directory_as_the_csv_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("figs");
        let d = dir.path().to_str().unwrap();
        let err = run(&cli(&["--out", out.to_str().unwrap(), "--csv", d]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory: give a file name"), "{err}");
        assert!(!out.join("spiral.png").exists());
    }
}
