//! The on-disk cache of compiled kernels: a second compile reads the first one's entry, and a
//! damaged, foreign or unwritable cache costs only a compile. Needs only the NVRTC library (the
//! pip package nvidia-cuda-nvrtc, or nn-cuda-emu's stand-in), not a GPU; skipped without it.
mod common;

use nn_cuda::{cached_kernels_cubin, KernelOrigin};
use std::path::Path;

/// Whether NVRTC can be loaded; says `SKIPPED` when not.
fn nvrtc_found(test: &str) -> bool {
    // SAFETY: only opens and closes the shared library.
    let found = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    if !found {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: NVRTC not found");
    }
    found
}

/// The one entry for sm_90 in `dir`.
fn entry(dir: &Path) -> std::path::PathBuf {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kernels-sm_90-")
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

#[test]
fn a_second_compile_reads_the_first_ones_entry() {
    if !nvrtc_found("kernel_cache") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Some(dir.path().join("nested/nn-cuda"));
    let cache = cache.as_deref();
    let (first, origin) = cached_kernels_cubin(9, 0, cache).unwrap();
    assert_eq!(origin, KernelOrigin::Compiled);
    assert_eq!(first, nn_cuda::compile_kernels_cubin(9, 0).unwrap());
    let (again, origin) = cached_kernels_cubin(9, 0, cache).unwrap();
    assert_eq!((origin, &again), (KernelOrigin::Cache, &first));

    // Another GPU gets an entry of its own.
    let (turing, origin) = cached_kernels_cubin(7, 5, cache).unwrap();
    assert_eq!(origin, KernelOrigin::Compiled);
    assert_eq!(turing, nn_cuda::compile_kernels_cubin(7, 5).unwrap());
    assert_eq!(
        cached_kernels_cubin(7, 5, cache).unwrap().1,
        KernelOrigin::Cache
    );
    assert_eq!(std::fs::read_dir(cache.unwrap()).unwrap().count(), 2);

    // No cache: always compiled.
    assert_eq!(
        cached_kernels_cubin(9, 0, None).unwrap(),
        (first, KernelOrigin::Compiled)
    );
}

#[test]
fn a_damaged_entry_is_compiled_again_and_replaced() {
    if !nvrtc_found("kernel_cache_damaged") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Some(dir.path());
    let (good, _) = cached_kernels_cubin(9, 0, cache).unwrap();
    let path = entry(dir.path());
    let whole = std::fs::read(&path).unwrap();
    let mut flipped = whole.clone();
    *flipped.last_mut().unwrap() ^= 1; // the machine code's last byte
    let mut other_key = whole.clone();
    let at = other_key.windows(5).position(|w| w == b"nvrtc").unwrap();
    other_key[at + 6] ^= 1; // another NVRTC version
    let damaged: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("truncated", whole[..whole.len() / 2].to_vec()),
        ("one byte flipped", flipped),
        ("made by another NVRTC", other_key),
        ("with bytes after it", [&whole[..], b"x"].concat()),
        (
            "not an entry",
            b"nn-cuda kernel cache 1\n\xff\xff\xff\xff\xff\xff\xff\xff".to_vec(),
        ),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&path, bytes).unwrap();
        let (bin, origin) = cached_kernels_cubin(9, 0, cache).unwrap();
        assert_eq!((origin, &bin), (KernelOrigin::Compiled, &good), "{what}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            whole,
            "{what}: entry replaced"
        );
        assert_eq!(
            cached_kernels_cubin(9, 0, cache).unwrap().1,
            KernelOrigin::Cache
        );
    }
}

#[test]
fn an_unusable_cache_folder_costs_only_the_compile() {
    if !nvrtc_found("kernel_cache_unusable") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a folder").unwrap();
    for cache in [file.clone(), file.join("below-a-file")] {
        let (bin, origin) = cached_kernels_cubin(9, 0, Some(&cache)).unwrap();
        assert_eq!(origin, KernelOrigin::Compiled);
        assert_eq!(bin, nn_cuda::compile_kernels_cubin(9, 0).unwrap());
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");
}

#[test]
fn the_folder_follows_nn_cuda_cache_dir() {
    // The only test here that sets the variable. It puts back the value the run was given:
    // on nn-cuda-emu, the emulator's cache, so that a device this binary opens later does not
    // write the emulator's stand-in code into the user's cache.
    let given = std::env::var_os("NN_CUDA_CACHE_DIR");
    std::env::set_var("NN_CUDA_CACHE_DIR", "/some/where");
    assert_eq!(nn_cuda::kernel_cache_dir(), Some("/some/where".into()));
    std::env::set_var("NN_CUDA_CACHE_DIR", "");
    assert_eq!(nn_cuda::kernel_cache_dir(), None);
    std::env::remove_var("NN_CUDA_CACHE_DIR");
    let default = nn_cuda::kernel_cache_dir();
    if let Some(dir) = given {
        std::env::set_var("NN_CUDA_CACHE_DIR", dir);
    }
    assert!(
        default.as_ref().is_none_or(|d| d.ends_with("nn-cuda")),
        "{default:?}"
    );
}

/// Set in the copy of this test binary that `an_entry_the_driver_refuses_is_replaced` starts.
const REFUSED_CHILD: &str = "NN_TEST_KERNEL_CACHE_CHILD";

/// A cache entry that is whole but that the driver refuses (as one written by another NVRTC
/// library reporting the same version would be) is compiled again when a device opens, and
/// replaced, so that later processes do not meet it again. The device opens once per process:
/// a copy of this binary opens it, with `NN_CUDA_CACHE_DIR` pointing at the forged entry.
#[test]
fn an_entry_the_driver_refuses_is_replaced() {
    if std::env::var_os(REFUSED_CHILD).is_some() {
        let b = nn_cuda::Cuda::<f32>::new(0).expect("the device opens despite the bad entry");
        let x = nn_core::Backend::from_host(&b, &[3.0], nn_core::Shape::scalar()).unwrap();
        let y = nn_core::Backend::sigmoid(&b, &x).unwrap();
        println!("opened: {:?}", nn_core::Backend::to_host(&b, &y).unwrap());
        return;
    }
    let Some(b) = nn_cuda::test_backend::<f32>("kernel_cache_refused") else {
        return;
    };
    drop(b);
    let ctx = cudarc::driver::CudaContext::new(0).unwrap();
    let (major, minor) = ctx.compute_capability().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (good, _) = cached_kernels_cubin(major, minor, Some(dir.path())).unwrap();
    // The entry rewritten around other bytes, its checksum made to match.
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let whole = std::fs::read(&path).unwrap();
    let head = &whole[..whole.len() - good.len() - 16];
    // A broken ELF header: neither machine code nor PTX to a driver.
    let forged = b"\x7fELF, but not machine code for this GPU".to_vec();
    let sum = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        forged[..].hash(&mut h);
        h.finish()
    };
    let len = (forged.len() as u64).to_le_bytes();
    std::fs::write(&path, [head, &sum.to_le_bytes(), &len, &forged].concat()).unwrap();
    let read = cached_kernels_cubin(major, minor, Some(dir.path())).unwrap();
    assert_eq!(
        read,
        (forged, KernelOrigin::Cache),
        "the forged entry is whole"
    );

    let cache = dir.path().to_str().expect("a UTF-8 temporary path");
    let env = [(REFUSED_CHILD, "1"), ("NN_CUDA_CACHE_DIR", cache)];
    let text = common::rerun_alone("an_entry_the_driver_refuses_is_replaced", &env, None);
    assert!(text.contains("opened: [0.95257"), "{text}");
    assert_eq!(
        cached_kernels_cubin(major, minor, Some(dir.path())).unwrap(),
        (good, KernelOrigin::Cache),
        "the entry was replaced"
    );
}
