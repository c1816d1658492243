//! kernels.cu compiles with NVRTC for the GPUs we target and defines every kernel the backend
//! loads. Needs only the NVRTC library (pip package nvidia-cuda-nvrtc), not a GPU; skipped with
//! a notice when the library is absent.

#[test]
fn kernels_compile_for_hopper_and_turing() {
    for (major, minor) in [(9, 0), (7, 5)] {
        let ptx = match nn_cuda::compile_kernels(major, minor) {
            Ok(p) => p,
            Err(e) if e.to_string().contains("was not found") => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "SKIPPED kernels_compile: {e}");
                return;
            }
            Err(e) => panic!("sm_{major}{minor}: {e}"),
        };
        let text = ptx.to_src();
        if text.starts_with("// nn-cuda-emu") {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED kernels_compile: libnvrtc.so is nn-cuda-emu's stand-in, not NVRTC"
            );
            return;
        }
        for name in nn_cuda::kernel_names() {
            assert!(
                text.contains(&format!(".entry {name}(")),
                "sm_{major}{minor}: kernel {name} missing from the PTX"
            );
        }
    }
}
