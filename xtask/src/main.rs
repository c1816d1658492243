//! Project tasks: `cargo xtask ci` runs what CI runs (fmt check, clippy, tests, docs).
use std::process::{exit, Command};

/// The CI steps, in order: each a program and its arguments.
const CI: &[&[&str]] = &[
    &["cargo", "fmt", "--all", "--", "--check"],
    &[
        "cargo",
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ],
    &["cargo", "test", "--workspace"],
    &["cargo", "doc", "--workspace", "--no-deps"],
];

fn run(step: &[&str]) -> bool {
    eprintln!("$ {}", step.join(" "));
    let mut cmd = Command::new(step[0]);
    cmd.args(&step[1..]);
    if step[1] == "doc" {
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => {
            for step in CI {
                if !run(step) {
                    eprintln!("xtask ci: `{}` failed", step.join(" "));
                    exit(1);
                }
            }
            eprintln!("xtask ci: all steps passed");
        }
        _ => {
            eprintln!("usage: cargo xtask ci   # fmt check, clippy -D warnings, tests, docs");
            exit(2);
        }
    }
}
