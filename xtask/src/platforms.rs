//! Other CPUs, systems and toolchains: the AVX2 and scalar fallbacks (valgrind, QEMU), aarch64
//! (QEMU), Windows (Wine), the macOS and Windows targets (clippy), the oldest supported Rust,
//! and nn-cpu's `unsafe` code under Miri.
use crate::{found, must, run_limited, under};
use std::process::exit;

/// Runs the nn-cpu unit tests (products, and the dispatched element-wise loops, exp and ln)
/// under valgrind, whose virtual CPU lacks AVX-512, and requires the AVX2 kernels to be chosen
/// and to give the right results; then the book's training loop, whose losses must still match
/// the reference run.
pub fn check_fallback() {
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
pub fn check_baseline() {
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

/// The libraries (both backends, figures, weight files) under clippy for macOS on Apple
/// silicon and for Windows: they compile there, with no warning. Only the libraries: the tests,
/// examples and benches need criterion, whose `alloca` dependency needs a C compiler for the
/// target. Targets rustup cannot add (offline) are skipped, saying so.
pub fn check_targets() {
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
pub fn check_msrv() {
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
pub fn check_aarch64() {
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
const BCRYPTPRIMITIVES_C: &str = include_str!("bcryptprimitives.c");

/// The workspace's tests built for 64-bit Windows (the GNU toolchain, MinGW-w64) and run under
/// Wine in a prefix of its own (`target/wine/prefix`), then `train_custom_loop` there and on
/// Linux: same losses, and figures byte for byte the same. Wine is not Windows, but it runs
/// the Windows code paths (file APIs, paths, the standard library's Windows side).
pub fn check_windows() {
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

pub fn miri() {
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
