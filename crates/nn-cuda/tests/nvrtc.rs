//! kernels.cu compiles with NVRTC for the GPUs we target, defines every kernel the backend
//! loads, and its one-block kernels fit 1024 threads. Needs only the NVRTC library (pip package
//! nvidia-cuda-nvrtc), not a GPU; skipped with a notice when the library is absent.

/// Prints `SKIPPED test: why` past the test harness's capture.
fn skip(test: &str, why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The compiled kernels, or `None` (after saying why) without NVRTC or with nn-cuda-emu's
/// stand-in, whose output starts with a marker instead of code. Other errors fail the test.
fn usable<T: AsRef<[u8]>>(
    test: &str,
    (major, minor): (i32, i32),
    r: Result<T, nn_cuda::Error>,
) -> Option<T> {
    match r {
        Ok(code) if code.as_ref().starts_with(b"// nn-cuda-emu") => {
            skip(test, "libnvrtc.so is nn-cuda-emu's stand-in, not NVRTC");
            None
        }
        Ok(code) => Some(code),
        Err(e) if e.to_string().contains("was not found") => {
            skip(test, &e.to_string());
            None
        }
        Err(e) => panic!("sm_{major}{minor}: {e}"),
    }
}

#[test]
fn kernels_compile_for_hopper_and_turing() {
    for (major, minor) in [(9, 0), (7, 5)] {
        let Some(text) = usable(
            "kernels_compile",
            (major, minor),
            nn_cuda::compile_kernels(major, minor).map(|p| p.to_src()),
        ) else {
            return;
        };
        for name in nn_cuda::kernel_names() {
            assert!(
                text.contains(&format!(".entry {name}(")),
                "sm_{major}{minor}: kernel {name} missing from the PTX"
            );
        }
    }
}

/// Registers per thread of each kernel when NVRTC compiles kernels.cu to sm_`XY` machine code,
/// from ptxas's verbose log; `None` without NVRTC or with nn-cuda-emu's stand-in.
fn registers(major: i32, minor: i32) -> Option<Vec<(String, u32)>> {
    use cudarc::nvrtc::{result, sys};
    use std::ffi::{CStr, CString};
    // SAFETY: only opens and closes the shared library.
    if !unsafe { sys::is_culib_present() } {
        return None;
    }
    let src = CString::new(include_str!("../src/kernels.cu")).unwrap();
    let prog = result::create_program(&src, None).unwrap();
    let opts = [
        format!("--gpu-architecture=sm_{major}{minor}"),
        "--ptxas-options=--verbose".to_string(),
    ];
    // SAFETY: `prog` is a live program; it is destroyed once, below.
    let compiled = unsafe { result::compile_program(prog, &opts) };
    // SAFETY: as above.
    let log = unsafe { result::get_program_log(prog) }.unwrap();
    // SAFETY: as above.
    let ptx = unsafe { result::get_ptx(prog) };
    // SAFETY: as above; not used afterwards.
    unsafe { result::destroy_program(prog) }.unwrap();
    // SAFETY: NVRTC's log is NUL-terminated.
    let log = unsafe { CStr::from_ptr(log.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    if let Err(e) = compiled {
        panic!("sm_{major}{minor}: {e:?}\n{log}");
    }
    if let Ok(p) = ptx {
        // SAFETY: as the log.
        let text = unsafe { CStr::from_ptr(p.as_ptr()) }.to_string_lossy();
        if text.starts_with("// nn-cuda-emu") {
            return None;
        }
    }
    // "ptxas info    : Compiling entry function 'NAME' for 'sm_90'", later "... Used N registers".
    let mut out = Vec::new();
    let mut entry: Option<String> = None;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            entry = rest.split('\'').next().map(str::to_string);
        } else if let (Some(name), Some(rest)) = (&entry, line.split("Used ").nth(1)) {
            let n = rest.split(' ').next().and_then(|n| n.parse().ok());
            out.push((name.clone(), n.expect("a register count")));
            entry = None;
        }
    }
    Some(out)
}

/// The kernels launched as one block of 1024 threads must fit a multiprocessor's 65 536
/// registers, 64 a thread, or the launch fails on the GPU with "too many resources requested".
/// ptxas (through NVRTC, no GPU needed) reports what each kernel uses.
#[test]
fn block_kernels_fit_1024_threads() {
    const BLOCK: [&str; 4] = [
        "reduce_sum",
        "softmax_ce_sum",
        "bce_sum",
        "sum_squares_many",
    ];
    for (major, minor) in [(9, 0), (7, 5)] {
        let Some(regs) = registers(major, minor) else {
            skip(
                "block_kernels_fit",
                "NVRTC not found (or nn-cuda-emu's stand-in)",
            );
            return;
        };
        for name in nn_cuda::kernel_names() {
            let Some(&(_, n)) = regs.iter().find(|(k, _)| *k == name) else {
                panic!("sm_{major}{minor}: no register count for {name}");
            };
            let block = BLOCK.iter().any(|b| name.starts_with(&format!("{b}_f")));
            if block {
                println!("sm_{major}{minor} {name}: {n} registers a thread");
                assert!(n <= 64, "sm_{major}{minor}: {name} uses {n} registers");
            }
        }
    }
}

/// The machine code the backend loads first: an ELF image holding every kernel, for Hopper and
/// Turing.
#[test]
fn kernels_compile_to_machine_code() {
    for (major, minor) in [(9, 0), (7, 5)] {
        let Some(bin) = usable(
            "kernels_cubin",
            (major, minor),
            nn_cuda::compile_kernels_cubin(major, minor),
        ) else {
            return;
        };
        assert!(
            bin.starts_with(b"\x7fELF"),
            "sm_{major}{minor}: not an ELF image"
        );
        for name in nn_cuda::kernel_names() {
            let found = bin
                .windows(name.len() + 1)
                .any(|w| w[..name.len()] == *name.as_bytes() && w[name.len()] == 0);
            assert!(
                found,
                "sm_{major}{minor}: kernel {name} missing from the CUBIN"
            );
        }
        println!("sm_{major}{minor}: {} bytes of machine code", bin.len());
    }
}
