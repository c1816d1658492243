//! Project tasks.
//!
//! - `cargo xtask ci`: what CI runs (fmt check, clippy, tests, docs).
//! - `cargo xtask gpu-test`: the CUDA tests with `NN_REQUIRE_GPU=1`, so that a missing GPU fails
//!   instead of skipping: a pass here means verified on a GPU.
//! - `cargo xtask check-fallback`: the nn-cpu unit tests under valgrind (no AVX-512), requiring
//!   the run-time choice of the AVX2 kernels.
//! - `cargo xtask check-baseline`: the nn-cpu tests and the book's loop under QEMU's Nehalem
//!   CPU (no AVX), requiring the scalar kernels; skipped without `qemu-x86_64`.
//! - `cargo xtask check-aarch64`: the workspace's tests cross-built for aarch64 and run under
//!   QEMU (needs the rustup target, Debian's `gcc-aarch64-linux-gnu` and `qemu-user`).
//! - `cargo xtask check-windows`: the workspace's tests built for 64-bit Windows (MinGW-w64)
//!   and run under Wine, and the book's loop there against Linux's (needs the rustup target,
//!   Debian's `wine64` and `gcc-mingw-w64-x86-64`).
//! - `cargo xtask check-targets`: the libraries under clippy for macOS (Apple silicon) and
//!   Windows, adding the targets with rustup.
//! - `cargo xtask check-msrv`: the workspace checked with the `rust-version` Cargo.toml
//!   declares, installed by rustup.
//! - `cargo xtask check-package`: every published crate packed as for crates.io and built from
//!   its package alone (`cargo package --workspace`).
//! - `cargo xtask miri`: the nn-cpu code that uses `unsafe` (the buffer pool, the `gemm` call)
//!   under Miri, which checks each memory access against its allocation's bounds and Rust's
//!   aliasing rules. Needs a nightly toolchain with the `miri` component.
//! - `cargo xtask bench-report [--run]`: reads criterion's results (running `cargo bench` first
//!   with `--run`) and writes `target/bench-report.md` and the CPU-vs-GPU crossover plot
//!   `target/bench-crossover.png`.
//! - `cargo xtask cuda-emu`: builds nn-cuda-emu (`crates/nn-cuda/emu/emu.cpp`, a CPU stand-in
//!   for the CUDA driver, cuBLAS and NVRTC) and runs the CUDA tests and the `train` example on
//!   it with `NN_REQUIRE_EMU=1`. It checks the host code and the kernels' logic, not a GPU.
//! - `cargo xtask bundle`: builds the CUDA test, bench and example binaries in release mode into
//!   `bundle/` with `run.sh` and the peers' scripts, for a GPU machine without a Rust toolchain.
//!   `NN_BUNDLE_EMU=$PWD/target/cuda-emu bash bundle/run.sh` dry-runs it on nn-cuda-emu.
mod bundle;
mod emu;
mod package;
mod platforms;
mod report;

use std::process::{exit, Command};

/// The CI steps, in order: each a program and its arguments.
const CI: &[&[&str]] = &[
    &["cargo", "fmt", "--all", "--", "--check"],
    &[
        "cargo",
        "clippy",
        "--workspace",
        "--all-targets",
        "--features",
        "cuda",
        "--",
        "-D",
        "warnings",
    ],
    &["cargo", "test", "--workspace"],
    &[
        "cargo",
        "doc",
        "--workspace",
        "--no-deps",
        "--features",
        "cuda,nn-core/conformance",
    ],
];

fn run(step: &[&str], envs: &[(&str, &str)]) -> bool {
    eprintln!("$ {}", step.join(" "));
    let mut cmd = Command::new(step[0]);
    cmd.args(&step[1..]).envs(envs.iter().copied());
    if step.get(1) == Some(&"doc") {
        cmd.env("RUSTDOCFLAGS", "-D warnings");
    }
    match cmd.status() {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("cannot run {}: {e}", step[0]);
            false
        }
    }
}

fn must(step: &[&str], envs: &[(&str, &str)]) {
    if !run(step, envs) {
        eprintln!("xtask: `{}` failed", step.join(" "));
        exit(1);
    }
}

/// Paths of the executables cargo reports building (`--message-format=json`).
fn built_executables(args: &[&str]) -> Vec<String> {
    eprintln!("$ cargo {}", args.join(" "));
    let out = Command::new("cargo")
        .args(args)
        .arg("--message-format=json")
        .output()
        .unwrap_or_else(|e| {
            eprintln!("cannot run cargo: {e}");
            exit(1)
        });
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        exit(1);
    }
    let key = "\"executable\":\"";
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let i = l.find(key)? + key.len();
            let end = l[i..].find('"')?;
            Some(l[i..i + end].to_string())
        })
        .collect()
}

/// Runs `step` (a download) under a time limit of `secs` where coreutils' `timeout` exists, so
/// that an unreachable server costs minutes at most; whether it succeeded.
fn run_limited(secs: u32, step: &[&str]) -> bool {
    if !found("timeout") {
        return run(step, &[]);
    }
    let secs = secs.to_string();
    run(&[&["timeout", secs.as_str()][..], step].concat(), &[])
}

/// Whether `program` runs (`--version`).
fn found(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds the release test binary that `target` (cargo's selection flags) names and runs it
/// with `args` under `runner` (valgrind, QEMU), failing when the run fails.
fn under(runner: &[&str], target: &[&str], args: &[&str], env: &[(&str, &str)]) {
    let mut build = vec!["test", "--release", "--no-run"];
    build.extend_from_slice(target);
    let exes = built_executables(&build);
    let Some(exe) = exes.first() else {
        eprintln!("xtask: no test binary was built for {target:?}");
        exit(1);
    };
    let mut cmd = runner.to_vec();
    cmd.push(exe.as_str());
    cmd.extend_from_slice(args);
    must(&cmd, env);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => {
            for step in CI {
                must(step, &[]);
            }
            eprintln!("xtask ci: all steps passed");
        }
        Some("gpu-test") => {
            must(
                &[
                    "cargo",
                    "test",
                    "--release",
                    "-p",
                    "nn-cuda",
                    "--",
                    "--nocapture",
                ],
                &[("NN_REQUIRE_GPU", "1")],
            );
            eprintln!("xtask gpu-test: the CUDA tests passed on a GPU");
        }
        Some("bundle") => bundle::bundle(),
        Some("cuda-emu") => emu::cuda_emu(),
        Some("check-fallback") => platforms::check_fallback(),
        Some("check-baseline") => platforms::check_baseline(),
        Some("check-aarch64") => platforms::check_aarch64(),
        Some("check-windows") => platforms::check_windows(),
        Some("check-targets") => platforms::check_targets(),
        Some("check-msrv") => platforms::check_msrv(),
        Some("check-package") => package::check_package(),
        Some("miri") => platforms::miri(),
        Some("bench-report") => {
            report::bench_report(args.get(1).map(String::as_str) == Some("--run"))
        }
        _ => {
            eprintln!("usage: cargo xtask ci | gpu-test | cuda-emu | check-fallback | check-baseline | check-aarch64 | check-windows | check-targets | check-msrv | check-package | miri | bundle | bench-report");
            exit(2);
        }
    }
}
