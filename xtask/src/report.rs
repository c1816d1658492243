//! `cargo xtask bench-report`: criterion's results as a Markdown table and the CPU-vs-GPU
//! crossover plot.
use crate::must;
use std::path::Path;
use std::process::exit;

/// One criterion result: its id, mean time in ns and elements per iteration (if any).
struct BenchResult {
    id: String,
    mean_ns: f64,
    elements: Option<f64>,
}

fn read_results(dir: &Path, out: &mut Vec<BenchResult>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") {
                let read = |f: &str| -> Option<serde_json::Value> {
                    serde_json::from_str(&std::fs::read_to_string(p.join(f)).ok()?).ok()
                };
                if let (Some(est), Some(meta)) = (read("estimates.json"), read("benchmark.json")) {
                    out.push(BenchResult {
                        id: meta["full_id"].as_str().unwrap_or("?").to_string(),
                        mean_ns: est["mean"]["point_estimate"].as_f64().unwrap_or(f64::NAN),
                        elements: meta["throughput"]["Elements"].as_f64(),
                    });
                }
            } else {
                read_results(&p, out);
            }
        }
    }
}

fn human(ns: f64) -> String {
    match ns {
        n if n >= 1e6 => format!("{:.3} ms", n / 1e6),
        n if n >= 1e3 => format!("{:.2} µs", n / 1e3),
        n => format!("{n:.0} ns"),
    }
}

pub fn bench_report(run_first: bool) {
    if run_first {
        must(&["cargo", "bench", "--features", "cuda"], &[]);
    }
    let mut results = Vec::new();
    read_results(Path::new("target/criterion"), &mut results);
    if results.is_empty() {
        eprintln!(
            "xtask: no criterion results under target/criterion: run `cargo bench` (or pass --run)"
        );
        exit(1);
    }
    // By group and device, then by size numerically (64 before 256 before 1024).
    let key = |id: &str| {
        let (head, last) = id.rsplit_once('/').unwrap_or((id, ""));
        (
            head.to_string(),
            last.parse::<u64>().unwrap_or(0),
            last.to_string(),
        )
    };
    results.sort_by_key(|r| key(&r.id));
    // The CPU's FMA ceiling on all threads (`machine_peak/fma_f32/T` with the largest T).
    let peak = results
        .iter()
        .filter(|r| r.id.starts_with("machine_peak/fma_f32/"))
        .max_by_key(|r| key(&r.id).1)
        .and_then(|r| Some(r.elements? / r.mean_ns));
    let mut md = String::from("| benchmark | mean time | throughput |\n|---|---|---|\n");
    for r in &results {
        let thr = match (r.elements, peak) {
            (Some(e), Some(p)) if r.id.starts_with("matmul_f32/cpu/") => format!(
                "{:.1} GFLOP/s ({:.0}% of the FMA peak)",
                e / r.mean_ns,
                100.0 * e / r.mean_ns / p
            ),
            (Some(e), _) => format!("{:.1} GFLOP/s", e / r.mean_ns),
            (None, _) => String::new(),
        };
        let per_iter = if r.id.starts_with("spiral_epoch/") {
            format!(" ({} per iteration)", human(r.mean_ns / 10.0))
        } else {
            String::new()
        };
        md += &format!("| `{}` | {}{per_iter} | {thr} |\n", r.id, human(r.mean_ns));
    }
    std::fs::write("target/bench-report.md", &md).expect("write target/bench-report.md");
    print!("{md}");
    let series: Vec<(String, Vec<(f64, f64)>)> = ["cpu", "cuda"]
        .iter()
        .filter_map(|dev| {
            let prefix = format!("two_layer_step/{dev}/");
            let mut v: Vec<(f64, f64)> = results
                .iter()
                .filter_map(|r| {
                    let h: f64 = r.id.strip_prefix(&prefix)?.parse().ok()?;
                    Some((h.log10(), (r.mean_ns / 1e3).log10()))
                })
                .collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!v.is_empty()).then(|| (dev.to_string(), v))
        })
        .collect();
    if series.is_empty() {
        eprintln!("no two_layer_step results: no crossover plot");
        return;
    }
    let png = Path::new("target/bench-crossover.png");
    match nn_train::plot::lines(
        png,
        "log10(hidden units), batch 256",
        "log10(µs per step)",
        &series,
        None,
    ) {
        Ok(()) => eprintln!("wrote target/bench-report.md and {}", png.display()),
        Err(e) => {
            eprintln!("xtask: {e}");
            exit(1)
        }
    }
}
