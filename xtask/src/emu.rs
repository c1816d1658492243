//! `cargo xtask cuda-emu`: nn-cuda-emu, a CPU stand-in for the CUDA driver, cuBLAS and NVRTC,
//! built and the CUDA tests run on it.
use crate::must;
use std::path::Path;

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

/// The CUDA tests (conformance, CPU/GPU parity, launch count, graphs, error paths, memory
/// pool, kernel cache) and the `train` example on nn-cuda-emu; the conformance suite also on the CUDA 12.8
/// bindings.
pub fn cuda_emu() {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        eprintln!("SKIPPED cuda-emu: nn-cuda-emu builds on x86-64 Linux only");
        return;
    }
    let dir = build_emulator();
    // The emulator's stand-in "machine code" is cached apart from the user's kernel cache.
    let cache = format!("{dir}/kernel-cache");
    let path = match std::env::var("LD_LIBRARY_PATH") {
        Ok(p) if !p.is_empty() => format!("{dir}:{p}"),
        _ => dir,
    };
    let env = [
        ("LD_LIBRARY_PATH", path.as_str()),
        ("NN_REQUIRE_EMU", "1"),
        ("NN_CUDA_EMU_REPORT", "1"),
        ("NN_CUDA_CACHE_DIR", cache.as_str()),
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
            "rnnlm_parity",
            "--test",
            "graphs",
            "--test",
            "emu_limits",
            "--test",
            "driver_version",
            "--test",
            "memory_pool",
            "--test",
            "kernel_cache",
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
