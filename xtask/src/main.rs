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
//!   `bundle/` with `run.sh` and `gpu_peers.py`, for a GPU machine without a Rust toolchain.
//!   `NN_BUNDLE_EMU=$PWD/target/cuda-emu bash bundle/run.sh` dry-runs it on nn-cuda-emu.
use std::path::Path;
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

const RUN_SH: &str = r#"#!/usr/bin/env bash
# Runs the bundled CUDA tests, parity and launch-count test, examples, benches and the PyTorch /
# CuPy peers on a GPU machine, each step under a time limit so that one hang cannot spend the
# whole device budget. The CUDA libraries are looked up in python3's nvidia-* pip packages.
set -uo pipefail
cd "$(dirname "$0")"
libs=$(python3 - <<'PY'
import glob, os, site
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for f in glob.glob(os.path.join(sp, "nvidia", "**", "lib*.so*"), recursive=True):
        # A stub libcuda.so ahead of the driver's would make every CUDA call fail.
        if "stubs" not in f.split(os.sep):
            dirs.add(os.path.dirname(f))
print(":".join(sorted(dirs)))
PY
)
# The driver's usual folders go last, in case the image's loader path lacks them.
export LD_LIBRARY_PATH="${libs}:${LD_LIBRARY_PATH:-}:/usr/local/nvidia/lib64:/usr/local/nvidia/lib"
# A dry run on nn-cuda-emu (`NN_BUNDLE_EMU=DIR`, the directory `cargo xtask cuda-emu` builds):
# the same steps at sizes a CPU emulation finishes, to check this script before a GPU runs it.
if [ -n "${NN_BUNDLE_EMU:-}" ]; then
  export LD_LIBRARY_PATH="${NN_BUNDLE_EMU}:${LD_LIBRARY_PATH}" NN_REQUIRE_EMU=1
  n=256; bench_filter='cuda(_f32|/(10|64|256))$'; mlp_runs=(--runs 1 --iters 2)
else
  export NN_REQUIRE_GPU=1
  n=4096; bench_filter=cuda; mlp_runs=(--runs 7 --iters 200)
fi
log="${OUT:-.}/run.log"
step() { local limit=$1; shift; echo "== $* (limit ${limit}s)"; timeout "$limit" "$@" || { echo "!! failed ($?): $*"; return 1; }; }
steps() {
  local status=0
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  # Which driver, cuBLAS and NVRTC the loader will find first (cudarc asks for lib*.so*).
  for l in cuda cublas nvrtc; do
    found=""
    IFS=: read -ra dirs <<< "$LD_LIBRARY_PATH"
    for d in "${dirs[@]}"; do
      f=$(ls "$d"/lib$l.so* 2>/dev/null | head -1); [ -n "$f" ] && { found=$f; break; }
    done
    [ -z "$found" ] && found=$(ldconfig -p 2>/dev/null | awk -v l="lib$l.so" 'index($1, l) == 1 { print $NF; exit }')
    echo "lib$l: ${found:-NOT FOUND}"
  done
  for t in tests/*; do step 240 "$t" --test-threads=1 --nocapture || status=1; done
  step 60 ./examples/gpu_matmul --n "$n" || status=1
  for b in cuda cpu; do
    for d in f32 f64; do step 60 ./examples/spiral_timing --backend "$b" --dtype "$d" --runs 20 --iters 1000 || status=1; done
  done
  # The MLP step as gpu_peers.py times PyTorch's: the least of 7 rounds of 200 back-to-back steps.
  step 120 ./examples/spiral_timing --backend cuda --net mlp "${mlp_runs[@]}" || status=1
  step 60 ./examples/spiral_timing --backend cpu --net mlp --runs 3 --iters 10 || status=1
  # Section 1.5.1 on the GPU: f64 against f32 training, weights saved and reloaded.
  step 60 ./examples/precision --backend cuda || status=1
  for e in train_custom_loop train; do
    step 60 bash -c "./examples/$e --backend cuda --no-plot --report '${OUT:-.}/${e}_cuda.json' | tail -3" || status=1
  done
  for b in benches/*; do step 180 "$b" --bench --warm-up-time 1 --measurement-time 3 "$bench_filter" || status=1; done
  step 180 python3 gpu_peers.py || status=1
  return $status
}
# Everything goes to $log too (the device tool returns only the last 12 000 characters of the
# output, and files under $OUT); the summary below, the last thing printed, has the figures.
steps 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "== summary (the whole output: $log)"
grep -E '^(== |!! |\| )|^lib(cuda|cublas|nvrtc): |test result|FAILED|panicked|SKIPPED|GFLOP/s|per iteration|launches|largest relative|accuracy|^parity |^(torch|cupy|gpu_peers)|, [0-9]+ MiB$' "$log"
# Criterion's estimates; a long bench name stands on the line before its `time:`.
awk '/^ +time: +\[/ { print prev } /(time|thrpt): +\[/ { print } { prev = $0 }' "$log"
echo "== run.sh: status $status"
exit $status
"#;

fn bundle() {
    let dir = Path::new("bundle");
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["tests", "examples", "benches"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create bundle/");
    }
    let sets: [(&str, Vec<&str>); 3] = [
        (
            "tests",
            vec!["test", "--release", "-p", "nn-cuda", "--no-run"],
        ),
        (
            "examples",
            vec!["build", "--release", "--features", "cuda", "--examples"],
        ),
        (
            "benches",
            vec![
                "bench",
                "--features",
                "cuda",
                "--no-run",
                "--bench",
                "matmul",
                "--bench",
                "train_step",
            ],
        ),
    ];
    for (sub, args) in sets {
        for exe in built_executables(&args) {
            let name = Path::new(&exe)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            // Test binaries are named `NAME-HASH`; keep the name.
            let short = match sub {
                "examples" => name.clone(),
                _ => name
                    .rsplit_once('-')
                    .map_or(name.clone(), |(n, _)| n.to_string()),
            };
            let to = dir.join(sub).join(&short);
            std::fs::copy(&exe, &to).expect("copy binary");
            strip_debug_info(&to);
            eprintln!("bundled {sub}/{short}");
        }
    }
    std::fs::copy("benches/gpu_peers.py", dir.join("gpu_peers.py")).expect("copy gpu_peers.py");
    let run_sh = dir.join("run.sh");
    std::fs::write(&run_sh, RUN_SH).expect("write run.sh");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run_sh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let size = dir_size(dir);
    eprintln!(
        "bundle/ ready ({:.1} MiB): copy it to the GPU machine and run bundle/run.sh",
        size as f64 / MIB
    );
    if size as f64 > BUNDLE_LIMIT_MIB * MIB {
        eprintln!(
            "xtask: bundle/ is over {BUNDLE_LIMIT_MIB} MiB, more than the device tool carries \
             (64 MiB with the working tree)"
        );
        exit(1);
    }
}

const MIB: f64 = 1024.0 * 1024.0;
/// The most `bundle/` may hold: the device tool carries 64 MiB, the working tree included.
const BUNDLE_LIMIT_MIB: f64 = 60.0;

/// Drops the debug information from a bundled binary (the release profile keeps line tables,
/// which make the bundle ten times larger); the symbols stay, so backtraces still name
/// functions. Without binutils' `strip` the binary stays as it is, with a warning.
fn strip_debug_info(path: &Path) {
    match Command::new("strip")
        .arg("--strip-debug")
        .arg(path)
        .status()
    {
        Ok(s) if s.success() => {}
        other => eprintln!(
            "xtask: could not strip {} ({other:?}); it keeps its debug information",
            path.display()
        ),
    }
}

/// Bytes in the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Runs the nn-cpu unit tests (products, and the dispatched element-wise loops, exp and ln)
/// under valgrind, whose virtual CPU lacks AVX-512, and requires the AVX2 kernels to be chosen
/// and to give the right results; then the book's training loop, whose losses must still match
/// the reference run.
fn check_fallback() {
    let valgrind = ["valgrind", "-q", "--error-exitcode=9"];
    under(
        &valgrind,
        &["-p", "nn-cpu", "--lib"],
        &["--nocapture", "--test-threads=1"],
        &[("NN_EXPECT_KERNEL", "fma")],
    );
    // The book's training loop on those kernels: the losses still match the reference.
    under(
        &valgrind,
        &["--example", "train_custom_loop"],
        &["gives_the_books"],
        &[],
    );
    eprintln!("xtask check-fallback: the AVX2 path ran and gave the right results");
}

/// The same tests on a CPU without AVX (QEMU's Nehalem model, SSE4.2 at most): the baseline
/// element-wise loops and `gemm`'s scalar kernels, which no CPU of ours runs otherwise.
fn check_baseline() {
    if !cfg!(target_arch = "x86_64") || !found("qemu-x86_64") {
        eprintln!("SKIPPED check-baseline: needs qemu-x86_64 (Debian's qemu-user) on x86-64");
        return;
    }
    let nehalem = ["qemu-x86_64", "-cpu", "Nehalem"];
    let scalar = [("NN_EXPECT_KERNEL", "scalar")];
    under(
        &nehalem,
        &["-p", "nn-cpu", "--lib"],
        &["--nocapture"],
        &scalar,
    );
    under(
        &nehalem,
        &["-p", "nn-cpu", "--test", "conformance"],
        &[],
        &[],
    );
    under(&nehalem, &["--example", "train_custom_loop"], &[], &[]);
    eprintln!(
        "xtask check-baseline: on a CPU without AVX the scalar kernels ran, the conformance \
         suite passed and the book's losses matched"
    );
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

/// The libraries (both backends, figures, weight files) under clippy for macOS on Apple
/// silicon and for Windows: they compile there, with no warning. Only the libraries: the tests,
/// examples and benches need criterion, whose `alloca` dependency needs a C compiler for the
/// target. Targets rustup cannot add (offline) are skipped, saying so.
fn check_targets() {
    for target in ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"] {
        if !run_limited(180, &["rustup", "target", "add", target]) {
            eprintln!("SKIPPED check-targets {target}: rustup could not add the target");
            continue;
        }
        must(
            &[
                "cargo",
                "clippy",
                "--workspace",
                "--lib",
                "--features",
                "cuda",
                "--target",
                target,
                "--",
                "-D",
                "warnings",
            ],
            &[],
        );
    }
    eprintln!("xtask check-targets: the libraries compile for the targets not skipped above");
}

/// The workspace checked with the oldest Rust it declares (`rust-version` in Cargo.toml), with
/// the locked dependencies: the promise to users on that toolchain. rustup installs it when
/// missing (a download; skipped, saying so, when that fails).
fn check_msrv() {
    let manifest = std::fs::read_to_string("Cargo.toml").expect("read Cargo.toml");
    let Some(version) = manifest.lines().find_map(|l| {
        let v = l
            .strip_prefix("rust-version")?
            .trim_start()
            .strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_string())
    }) else {
        eprintln!("xtask check-msrv: no rust-version in Cargo.toml");
        exit(1);
    };
    let install = [
        "rustup",
        "toolchain",
        "install",
        &version,
        "--profile",
        "minimal",
    ];
    if !run_limited(300, &install) {
        eprintln!("SKIPPED check-msrv: rustup could not install Rust {version}");
        return;
    }
    let toolchain = format!("+{version}");
    must(
        &[
            "cargo",
            &toolchain,
            "check",
            "--locked",
            "--workspace",
            "--all-targets",
            "--features",
            "cuda",
        ],
        &[("CARGO_TARGET_DIR", "target/msrv")],
    );
    eprintln!("xtask check-msrv: the workspace type-checks with Rust {version}");
}

/// The workspace's tests built for 64-bit ARM Linux (Graviton, Grace, Raspberry Pi; the
/// instruction set of Apple silicon) and run under QEMU: NEON instead of AVX, `gemm`'s ARM
/// kernels, another libm.
fn check_aarch64() {
    let triple = "aarch64-unknown-linux-gnu";
    let linker = "aarch64-linux-gnu-gcc";
    let missing: Vec<&str> = [linker, "qemu-aarch64"]
        .into_iter()
        .filter(|p| !found(p))
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "xtask check-aarch64: {} not found; on Debian: `apt-get install qemu-user \
             gcc-aarch64-linux-gnu libc6-dev-arm64-cross`, and `rustup target add {triple}`",
            missing.join(" and ")
        );
        exit(1);
    }
    let env = [
        ("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", linker),
        (
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER",
            "qemu-aarch64 -L /usr/aarch64-linux-gnu",
        ),
    ];
    // The font test starts a child process of itself, which QEMU's user mode cannot
    // (`posix_spawn` of an ARM binary on an x86 host exits 127); it runs natively in CI.
    must(
        &[
            "cargo",
            "test",
            "--release",
            "--workspace",
            "--target",
            triple,
            "--",
            "--skip",
            "an_unusable_nn_font_is_named",
        ],
        &env,
    );
    eprintln!("xtask check-aarch64: the workspace's tests passed on aarch64 (under QEMU)");
}

/// Wine 8 (Debian 12's) lacks `bcryptprimitives.dll`, whose `ProcessPrng` Rust's standard
/// library calls for random bytes (HashMap keys); this stand-in asks `RtlGenRandom` instead.
/// It is installed only into a prefix that has no such DLL (newer Wine ships one).
const BCRYPTPRIMITIVES_C: &str = r#"#include <windows.h>
#include <ntsecapi.h>
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
"#;

/// The workspace's tests built for 64-bit Windows (the GNU toolchain, MinGW-w64) and run under
/// Wine in a prefix of its own (`target/wine/prefix`), then `train_custom_loop` there and on
/// Linux: same losses, and figures byte for byte the same. Wine is not Windows, but it runs
/// the Windows code paths (file APIs, paths, the standard library's Windows side).
fn check_windows() {
    let triple = "x86_64-pc-windows-gnu";
    let linker = "x86_64-w64-mingw32-gcc";
    let missing: Vec<&str> = [linker, "wine"].into_iter().filter(|p| !found(p)).collect();
    if !missing.is_empty() {
        eprintln!(
            "xtask check-windows: {} not found; on Debian: `apt-get install wine64 \
             gcc-mingw-w64-x86-64`, and `rustup target add {triple}`",
            missing.join(" and ")
        );
        exit(1);
    }
    let root = std::env::current_dir().expect("the current directory");
    let wine = root.join("target/wine");
    let prefix = wine.join("prefix");
    let prefix_s = prefix.to_string_lossy().into_owned();
    let env = [
        ("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", linker),
        ("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER", "wine"),
        ("WINEPREFIX", prefix_s.as_str()),
        ("WINEDEBUG", "-all"),
    ];
    std::fs::create_dir_all(&wine).expect("target/wine");
    must(&["wine", "wineboot", "--init"], &env);
    let system32 = prefix.join("drive_c/windows/system32");
    if !system32.join("bcryptprimitives.dll").exists() {
        let src = wine.join("bcryptprimitives.c");
        std::fs::write(&src, BCRYPTPRIMITIVES_C).expect("writing the stand-in's source");
        let (src, dll) = (src.to_string_lossy(), system32.join("bcryptprimitives.dll"));
        must(
            &[
                linker,
                "-shared",
                "-O2",
                "-o",
                &dll.to_string_lossy(),
                &src,
                "-ladvapi32",
            ],
            &[],
        );
    }
    let target = ["--target", triple];
    must(
        &[
            &[
                "cargo",
                "test",
                "--release",
                "--workspace",
                "--exclude",
                "xtask",
            ][..],
            &target,
        ]
        .concat(),
        &env,
    );
    // The book's loop on both systems, every output written.
    let example = |dir: &str, target: &[&str]| {
        let out = format!("target/wine/{dir}");
        let _ = std::fs::remove_dir_all(&out);
        let (report, save) = (format!("{out}/report.json"), format!("{out}/w.safetensors"));
        let mut cmd = vec![
            "cargo",
            "run",
            "--release",
            "--example",
            "train_custom_loop",
        ];
        cmd.extend_from_slice(target);
        cmd.extend_from_slice(&["--", "--out", &out, "--report", &report, "--save", &save]);
        must(&cmd, &env);
        out
    };
    let (windows, linux) = (example("windows", &target), example("linux", &[]));
    for file in [
        "loss.png",
        "decision_boundary.png",
        "report.json",
        "w.safetensors",
    ] {
        let read = |dir: &str| std::fs::read(format!("{dir}/{file}")).unwrap_or_default();
        let (mut w, mut l) = (read(&windows), read(&linux));
        if file == "report.json" {
            // Everything but the training time, which comes after the losses and accuracy.
            let cut = |b: &mut Vec<u8>| {
                let end = b.windows(15).position(|s| s == b"\"train_seconds\"");
                b.truncate(end.unwrap_or(b.len()));
            };
            cut(&mut w);
            cut(&mut l);
        }
        if w.is_empty() || w != l {
            eprintln!("xtask check-windows: {file} differs between Windows (Wine) and Linux");
            exit(1);
        }
    }
    eprintln!(
        "xtask check-windows: the workspace's tests passed on Windows (under Wine), and \
         train_custom_loop wrote the same losses, weights and figures as on Linux"
    );
}

fn miri() {
    let test = |args: &[&str]| {
        let mut cmd = vec!["cargo", "+nightly", "miri", "test", "-p", "nn-cpu"];
        cmd.extend_from_slice(args);
        must(&cmd, &[]);
    };
    // Every op through the pooled buffers. `large` and `widths` (big and many shapes) would take
    // an interpreter hours and reach no unsafe code of ours that the others do not; nor would
    // `beyond_memory`, whose vectors of 2²⁴ elements ran past 15 minutes under Miri.
    test(&[
        "--test",
        "conformance",
        "--",
        "--skip",
        "large",
        "--skip",
        "widths",
        "--skip",
        "beyond_memory",
    ]);
    // The products, one through `gemm` (fewer shapes under Miri: see the test).
    test(&["--lib", "--", "all_paths"]);
    eprintln!("xtask miri: no undefined behaviour found in the nn-cpu tests it ran");
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

/// Builds nn-cuda-emu into `target/cuda-emu/` under the names cudarc loads, and returns that
/// directory.
fn build_emulator() -> String {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = Path::new(&target).join("cuda-emu");
    std::fs::create_dir_all(&dir).expect("create target/cuda-emu");
    let lib = dir.join("libnn_cuda_emu.so");
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    must(
        &[
            &cxx,
            "-std=c++17",
            "-O2",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-shared",
            "-fPIC",
            "-o",
            lib.to_str().expect("UTF-8 path"),
            "crates/nn-cuda/emu/emu.cpp",
            "-Wl,-soname,libnn_cuda_emu.so",
        ],
        &[],
    );
    for name in ["libcuda.so", "libcublas.so", "libnvrtc.so"] {
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        #[cfg(unix)]
        std::os::unix::fs::symlink("libnn_cuda_emu.so", &link).expect("symlink");
    }
    std::fs::canonicalize(&dir)
        .expect("target/cuda-emu")
        .to_string_lossy()
        .into_owned()
}

/// The CUDA tests (conformance, CPU/GPU parity, launch count, error paths) and the `train`
/// example on nn-cuda-emu; the conformance suite also on the CUDA 12.8 bindings.
fn cuda_emu() {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        eprintln!("SKIPPED cuda-emu: nn-cuda-emu builds on x86-64 Linux only");
        return;
    }
    let dir = build_emulator();
    let path = match std::env::var("LD_LIBRARY_PATH") {
        Ok(p) if !p.is_empty() => format!("{dir}:{p}"),
        _ => dir,
    };
    let env = [
        ("LD_LIBRARY_PATH", path.as_str()),
        ("NN_REQUIRE_EMU", "1"),
        ("NN_CUDA_EMU_REPORT", "1"),
    ];
    must(
        &[
            "cargo",
            "test",
            "-p",
            "nn-cuda",
            "--test",
            "conformance",
            "--test",
            "parity",
            "--test",
            "emu_limits",
            "--test",
            "driver_version",
            "--",
            "--nocapture",
        ],
        &env,
    );
    // The host code again on cudarc's CUDA 12.8 bindings (the `cuda-12080` build).
    must(
        &[
            "cargo",
            "test",
            "-p",
            "nn-cuda",
            "--no-default-features",
            "--features",
            "cuda-12080",
            "--test",
            "conformance",
            "--test",
            "driver_version",
        ],
        &env,
    );
    must(
        &[
            "cargo",
            "run",
            "--features",
            "cuda",
            "--example",
            "train",
            "--",
            "--backend",
            "cuda",
            "--no-plot",
            "--epochs",
            "30",
        ],
        &env,
    );
    eprintln!(
        "xtask cuda-emu: the CUDA tests passed on nn-cuda-emu, a CPU emulation of the CUDA \
         libraries (host code and kernel logic verified; not a GPU)"
    );
}

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

fn bench_report(run_first: bool) {
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

/// The crates as crates.io would get them: `cargo package` packs each published member and
/// builds it from its `.crate` file alone, with its dependencies on the other members resolved
/// to their packed versions, so a file left out of a package, a dependency without a version or
/// a name crates.io already has fails here rather than at `cargo publish`.
fn check_package() {
    const DIR: &str = "target/package-check";
    // cargo unpacks the packed members into `$CARGO_HOME/registry/src/-HASH/` (a local registry
    // standing in for crates.io) and builds them as registry crates, which it takes to be
    // immutable: an earlier run's sources or builds would be used again, unchanged. So both go.
    let _ = std::fs::remove_dir_all(DIR);
    forget_packed_members();
    must(
        &[
            "cargo",
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--allow-dirty",
        ],
        &[("CARGO_TARGET_DIR", DIR)],
    );
    let _ = std::fs::remove_dir_all(DIR);
    forget_packed_members();
    eprintln!("xtask check-package: every published crate builds from its package alone");
}

/// Removes what earlier `cargo package` runs unpacked of this workspace's members from the
/// local registries under `$CARGO_HOME/registry/src` (folders whose names start with `-`; a
/// remote registry's start with its host). cargo unpacks them again from the `.crate` files.
fn forget_packed_members() {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("run cargo metadata");
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let members: Vec<String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(format!(
                "{}-{}",
                p["name"].as_str()?,
                p["version"].as_str()?
            ))
        })
        .collect();
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(src) else {
        return;
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for member in &members {
            let _ = std::fs::remove_dir_all(registry.path().join(member));
        }
    }
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
        Some("bundle") => bundle(),
        Some("cuda-emu") => cuda_emu(),
        Some("check-fallback") => check_fallback(),
        Some("check-baseline") => check_baseline(),
        Some("check-aarch64") => check_aarch64(),
        Some("check-windows") => check_windows(),
        Some("check-targets") => check_targets(),
        Some("check-msrv") => check_msrv(),
        Some("check-package") => check_package(),
        Some("miri") => miri(),
        Some("bench-report") => bench_report(args.get(1).map(String::as_str) == Some("--run")),
        _ => {
            eprintln!("usage: cargo xtask ci | gpu-test | cuda-emu | check-fallback | check-baseline | check-aarch64 | check-windows | check-targets | check-msrv | check-package | miri | bundle | bench-report");
            exit(2);
        }
    }
}
