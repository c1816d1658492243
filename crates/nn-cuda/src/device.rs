//! Devices, tensors and kernels: what [`Cuda`] holds.

use crate::graph::Buf;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, DevicePtrMut, DeviceRepr,
    LaunchConfig, ValidAsZeroBits,
};
use nn_core::{Error, Float, Result, Shape};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

/// The kernels' source, compiled at run time by NVRTC.
pub(crate) const KERNELS: &str = include_str!("kernels.cu");

/// Kernels instantiated per element type (`NAME_f32`, `NAME_f64`).
const TYPED_KERNELS: &[&str] = &[
    "add_row",
    "matmul_small",
    "mul",
    "sigmoid",
    "sigmoid_backward",
    "relu",
    "relu_backward",
    "axpby",
    "axpy",
    "scale",
    "lerp",
    "lerp_square",
    "add_square",
    "adaptive_step",
    "adaptive_step_at",
    "adam_rate",
    "sum_rows",
    "softmax",
    "softmax_ce",
    "softmax_ce_backward",
    "bce",
    "bce_backward",
    "argmax_rows",
    "gather_rows",
    "reduce_sum",
    "softmax_ce_sum",
    "bce_sum",
    "axpy_many",
    "sum_squares_many",
    "clip_scale_many",
    "gather_batch",
    "tanh",
    "tanh_backward",
    "rnn_step",
    "rnn_step_backward",
    "lstm_step",
    "lstm_step_backward",
    "scatter_add_rows",
    "softmax_masked_rows",
    "masked_loss_sum",
    "softmax_masked_backward",
];

/// An element type the GPU computes in: `f32` or `f64`.
pub trait CudaFloat: Float + DeviceRepr + ValidAsZeroBits + Unpin + crate::graph::Logged {
    /// The kernels' suffix for this type.
    const SUFFIX: &'static str;
    /// `c = alpha · op(a) · op(b) + beta · c` through cuBLAS.
    ///
    /// # Safety
    /// `cfg` must describe matrices that fit the buffers.
    unsafe fn gemm<A: DevicePtr<Self>, B: DevicePtr<Self>, C: DevicePtrMut<Self>>(
        blas: &CudaBlas,
        cfg: GemmConfig<Self>,
        a: &A,
        b: &B,
        c: &mut C,
    ) -> Result<()>;
}

macro_rules! cuda_float {
    ($t:ty, $s:literal) => {
        impl CudaFloat for $t {
            const SUFFIX: &'static str = $s;
            unsafe fn gemm<A: DevicePtr<Self>, B: DevicePtr<Self>, C: DevicePtrMut<Self>>(
                blas: &CudaBlas,
                cfg: GemmConfig<Self>,
                a: &A,
                b: &B,
                c: &mut C,
            ) -> Result<()> {
                // SAFETY: the caller guarantees that `cfg` fits the buffers.
                unsafe { blas.gemm(cfg, a, b, c) }
                    .map_err(|e| Error::Device(format!("cuBLAS gemm failed: {e:?}")))
            }
        }
    };
}
cuda_float!(f32, "f32");
cuda_float!(f64, "f64");

/// One GPU: its context, its stream, a cuBLAS handle and the compiled kernels.
pub(crate) struct Device {
    pub(crate) ordinal: usize,
    pub(crate) name: String,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    /// cuBLAS's scratch memory, given to it so that it does not allocate during a capture.
    _workspace: CudaSlice<u8>,
    funcs: HashMap<(&'static str, &'static str), CudaFunction>,
    /// Other threads' work waits on this while one thread captures a graph.
    pub(crate) capture: crate::graph::CaptureLock,
    /// Bytes the graphs' arenas hold (outside the pool).
    pub(crate) graph_bytes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cuda:{} ({})", self.ordinal, self.name)
    }
}

pub(crate) fn dev_err(what: &str) -> impl FnOnce(cudarc::driver::DriverError) -> Error + '_ {
    move |e| {
        let oom = e.0 == cudarc::driver::sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY;
        if oom {
            Error::Device(format!("{what}: out of GPU memory"))
        } else {
            Error::Device(format!("{what}: {e:?}"))
        }
    }
}

/// The CUDA libraries as this system names them (cudarc tries a list of names for each; these
/// are the ones to look for), and the variable its loader searches. NVIDIA ships CUDA for
/// Linux and Windows only.
const LIBS: Libs = if cfg!(windows) {
    Libs {
        driver: "nvcuda.dll",
        cublas: "cublas64_*.dll",
        nvrtc: "nvrtc64_*.dll",
        path: "PATH",
        pip_dir: "bin",
    }
} else {
    Libs {
        driver: "libcuda.so",
        cublas: "libcublas.so",
        nvrtc: "libnvrtc.so",
        path: "LD_LIBRARY_PATH",
        pip_dir: "lib",
    }
};

struct Libs {
    driver: &'static str,
    cublas: &'static str,
    nvrtc: &'static str,
    /// The loader's search path.
    path: &'static str,
    /// Where the pip packages keep the libraries, under `site-packages/nvidia/<package>/`.
    pip_dir: &'static str,
}

/// The error for a CUDA library (`name`, as [`LIBS`] names it) that cannot be loaded.
fn not_found(name: &str) -> Error {
    if cfg!(target_os = "macos") {
        return Error::Device(format!(
            "{name} was not found: CUDA does not run on macOS (NVIDIA ships it for Linux and \
             Windows)"
        ));
    }
    Error::Device(format!(
        "{name} was not found: install the NVIDIA driver and CUDA libraries (e.g. pip \
         packages nvidia-cublas and nvidia-cuda-nvrtc) and add their {} directories to {}",
        LIBS.pip_dir, LIBS.path
    ))
}

/// Which CUDA libraries can be loaded, as `Err` naming the first that cannot.
pub(crate) fn check_libraries() -> Result<()> {
    // SAFETY: these only try to open the shared libraries (dlopen) and close them again.
    let found = unsafe {
        [
            (
                format!("the CUDA driver ({})", LIBS.driver),
                cudarc::driver::sys::is_culib_present(),
            ),
            (
                format!("cuBLAS ({})", LIBS.cublas),
                cudarc::cublas::sys::is_culib_present(),
            ),
            (
                format!("NVRTC ({})", LIBS.nvrtc),
                cudarc::nvrtc::sys::is_culib_present(),
            ),
        ]
    };
    match found.into_iter().find(|(_, ok)| !ok) {
        Some((name, _)) => Err(not_found(&name)),
        None => Ok(()),
    }
}

/// Refuses a driver of an older major CUDA version than the `cudarc` bindings this build was
/// made with (its `cuda-*` feature): their driver functions and cuBLAS would not match it, and
/// the first function the driver lacks would panic inside cudarc instead of failing here.
/// Versions are written as the driver writes them, 1000 × major + 10 × minor.
fn check_driver_version(driver: i32, bindings: i32) -> Result<()> {
    if driver / 1000 >= bindings / 1000 {
        return Ok(());
    }
    let name = |v: i32| format!("{}.{}", v / 1000, v % 1000 / 10);
    // nn-cuda's oldest bindings are 12.6: an older driver can only be updated.
    let rebuild = if driver >= 12060 {
        ", or rebuild for CUDA 12 (`--no-default-features --features cuda-12080` on nn-cuda, \
         or `--no-default-features --features plot,cuda,cuda-12080` for the examples)"
    } else {
        " (nn-cuda needs CUDA 12.6 or newer)"
    };
    Err(Error::Device(format!(
        "the NVIDIA driver supports CUDA {}, but nn-cuda was built for CUDA {}: update the \
         driver{rebuild}",
        name(driver),
        name(bindings)
    )))
}

/// The CUDA version the driver supports, checked against the bindings'.
fn check_driver() -> Result<()> {
    let mut version = 0;
    // SAFETY: writes one int; present in every driver and needs no `cuInit`.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) }
        .result()
        .map_err(dev_err("reading the driver's CUDA version"))?;
    check_driver_version(version, cudarc::driver::sys::CUDA_VERSION as i32)
}

/// `Ok` when the NVRTC library can be loaded, else an error saying how to get it.
fn nvrtc_present() -> Result<()> {
    // SAFETY: only opens and closes the shared library.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Ok(());
    }
    Err(not_found(&format!("NVRTC ({})", LIBS.nvrtc)))
}

/// The NVRTC library's version, `(major, minor)`.
pub(crate) fn nvrtc_version() -> Result<(i32, i32)> {
    nvrtc_present()?;
    let (mut major, mut minor) = (0, 0);
    // SAFETY: writes two ints.
    unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| Error::Device(format!("NVRTC version: {e}")))?;
    Ok((major, minor))
}

/// Compiles `kernels.cu` with NVRTC for compute capability `major.minor` (no GPU needed, only
/// the NVRTC library). Errors carry NVRTC's log.
pub fn compile_kernels(major: i32, minor: i32) -> Result<cudarc::nvrtc::Ptx> {
    nvrtc_present()?;
    let opts = cudarc::nvrtc::CompileOptions {
        options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(KERNELS, opts).map_err(|e| {
        let log = match &e {
            cudarc::nvrtc::CompileError::CompileError { log, .. } => {
                log.to_string_lossy().into_owned()
            }
            other => format!("{other:?}"),
        };
        Error::Device(format!("NVRTC could not compile kernels.cu:\n{log}"))
    })
}

/// Compiles `kernels.cu` with NVRTC to machine code (a CUBIN) for compute capability
/// `major.minor`: what the device loads without the driver's PTX compiler, so that an NVRTC
/// newer than the driver still works (CUDA's minor-version compatibility covers machine code,
/// not PTX). Needs only the NVRTC library; errors carry NVRTC's log.
///
/// [`Cuda::new`] takes it from [`cached_kernels_cubin`](crate::cached_kernels_cubin), which
/// keeps it on disk for the next process.
pub fn compile_kernels_cubin(major: i32, minor: i32) -> Result<Vec<u8>> {
    use cudarc::nvrtc::{result, sys};
    use std::ffi::{CStr, CString};
    nvrtc_present()?;
    let nvrtc = |what: &str, e: result::NvrtcError| Error::Device(format!("NVRTC {what}: {e}"));
    let src = CString::new(KERNELS).expect("kernels.cu has no NUL");
    let prog = result::create_program(&src, None).map_err(|e| nvrtc("create", e))?;
    let opts = cubin_options(major, minor);
    // SAFETY: `prog` is a live program until `destroy_program` below; the buffers passed to
    // NVRTC have the sizes it reported.
    let out = unsafe {
        match result::compile_program(prog, &opts) {
            Err(e) => {
                let log = result::get_program_log(prog)
                    .map(|l| CStr::from_ptr(l.as_ptr()).to_string_lossy().into_owned())
                    .unwrap_or_default();
                Err(Error::Device(format!(
                    "NVRTC could not compile kernels.cu for sm_{major}{minor} ({e}):\n{log}"
                )))
            }
            Ok(()) => {
                let mut n = 0usize;
                sys::nvrtcGetCUBINSize(prog, &mut n)
                    .result()
                    .map_err(|e| nvrtc("cubin size", e))
                    .and_then(|()| {
                        let mut bin = vec![0u8; n];
                        sys::nvrtcGetCUBIN(prog, bin.as_mut_ptr().cast())
                            .result()
                            .map_err(|e| nvrtc("cubin", e))
                            .map(|()| bin)
                    })
            }
        }
    };
    // SAFETY: destroyed once; not used afterwards.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

/// NVRTC's options for [`compile_kernels_cubin`]: machine code for compute capability
/// `major.minor`.
pub(crate) fn cubin_options(major: i32, minor: i32) -> [String; 1] {
    [format!("--gpu-architecture=sm_{major}{minor}")]
}

/// Names of every kernel in `kernels.cu`, as `Device::open` loads them.
pub fn kernel_names() -> Vec<String> {
    let mut v: Vec<String> = TYPED_KERNELS
        .iter()
        .flat_map(|k| ["f32", "f64"].map(|s| format!("{k}_{s}")))
        .collect();
    v.push("gather_index".into());
    v
}

impl Device {
    fn open(ordinal: usize) -> Result<Device> {
        check_libraries()?;
        check_driver()?;
        let count = CudaContext::device_count().map_err(dev_err("counting CUDA devices"))?;
        if ordinal as i32 >= count {
            return Err(Error::Device(if count == 0 {
                "no CUDA device found".to_string()
            } else {
                format!(
                    "CUDA device {ordinal} asked for, but this machine has {count} (ordinals 0 \
                     to {})",
                    count - 1
                )
            }));
        }
        let ctx = CudaContext::new(ordinal).map_err(dev_err("creating the CUDA context"))?;
        // SAFETY: one stream per device, so cross-stream event tracking is not needed.
        unsafe { ctx.disable_event_tracking() };
        crate::memory::keep_freed_memory(&ctx)?;
        // A stream of its own: the legacy default stream cannot be captured into a graph.
        let stream = ctx
            .new_stream()
            .map_err(dev_err("creating the CUDA stream"))?;
        let blas = CudaBlas::new(stream.clone())
            .map_err(|e| Error::Device(format!("creating the cuBLAS handle: {e:?}")))?;
        let mut workspace = stream
            .alloc_zeros::<u8>(CUBLAS_WORKSPACE)
            .map_err(dev_err("allocating cuBLAS's workspace"))?;
        {
            let (p, _record) = workspace.device_ptr_mut(&stream);
            // SAFETY: a live buffer of CUBLAS_WORKSPACE bytes, kept as long as the handle.
            unsafe {
                cudarc::cublas::sys::cublasSetWorkspace_v2(
                    *blas.handle(),
                    p as *mut std::ffi::c_void,
                    CUBLAS_WORKSPACE,
                )
            }
            .result()
            .map_err(|e| Error::Device(format!("setting cuBLAS's workspace: {e:?}")))?;
        }
        let (major, minor) = ctx
            .compute_capability()
            .map_err(dev_err("reading the compute capability"))?;
        // Machine code for this GPU first; PTX for the driver to compile when NVRTC cannot
        // build machine code for it (an NVRTC older than the GPU).
        use crate::kernel_cache::{self as cache, KernelOrigin};
        let load = |bin| {
            ctx.load_module(cudarc::nvrtc::Ptx::from_binary(bin))
                .map_err(dev_err("loading the kernels' machine code"))
        };
        let dir = cache::kernel_cache_dir();
        let module = cache::cached_kernels_cubin(major, minor, dir.as_deref())
            .and_then(|(bin, origin)| match load(bin) {
                // A cached entry the driver refuses is compiled again, and replaced.
                Err(_) if origin == KernelOrigin::Cache => {
                    load(cache::recompile(major, minor, dir.as_deref())?)
                }
                loaded => loaded,
            })
            .or_else(|first| {
                compile_kernels(major, minor)
                    .and_then(|ptx| {
                        ctx.load_module(ptx)
                            .map_err(dev_err("loading the kernels as PTX"))
                    })
                    .map_err(|second| Error::Device(format!("{first}; and as PTX: {second}")))
            })?;
        let mut funcs = HashMap::new();
        for &k in TYPED_KERNELS {
            for s in ["f32", "f64"] {
                let f = module
                    .load_function(&format!("{k}_{s}"))
                    .map_err(dev_err("looking up a kernel"))?;
                funcs.insert((k, s), f);
            }
        }
        let f = module
            .load_function("gather_index")
            .map_err(dev_err("looking up a kernel"))?;
        funcs.insert(("gather_index", ""), f);
        let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        Ok(Device {
            ordinal,
            name,
            stream,
            blas,
            _workspace: workspace,
            funcs,
            capture: Default::default(),
            graph_bytes: Default::default(),
        })
    }

    /// The device `ordinal`, opened and its kernels compiled on first use, then shared.
    fn get(ordinal: usize) -> Result<Arc<Device>> {
        static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<Device>>>> = OnceLock::new();
        let mut map = DEVICES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(d) = map.get(&ordinal) {
            return Ok(d.clone());
        }
        let d = Arc::new(Device::open(ordinal)?);
        map.insert(ordinal, d.clone());
        Ok(d)
    }

    pub(crate) fn func(&self, name: &'static str, suffix: &'static str) -> &CudaFunction {
        &self.funcs[&(name, suffix)]
    }
}

thread_local! {
    /// Kernel launches and cuBLAS calls made from this thread.
    pub(crate) static LAUNCHES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Copies from the device to the host (each one waits for the GPU) made from this thread.
    pub(crate) static HOST_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Bytes of cuBLAS's workspace (its default size on most GPUs).
const CUBLAS_WORKSPACE: usize = 4 << 20;

/// Threads per block of a grid-stride launch.
const BLOCK: usize = 256;
/// Blocks per grid-stride launch at most: a grid's threads then step through larger tensors.
pub(crate) const MAX_BLOCKS: usize = 4096;
/// The most elements a GPU tensor holds. The kernels index with `u32`, and a grid-stride loop
/// steps its index one whole grid (`MAX_BLOCKS · BLOCK`) past the last element before it
/// stops: that step must not wrap past 2³² back into the tensor.
pub(crate) const MAX_ELEMENTS: usize = u32::MAX as usize - MAX_BLOCKS * BLOCK;

/// Launch shape for `n` independent elements (grid-stride loops inside the kernels).
pub(crate) fn cfg_for(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK).clamp(1, MAX_BLOCKS) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK as u32, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The GPU backend for element type `E` on one device.
pub struct Cuda<E: CudaFloat = f32> {
    pub(crate) dev: Arc<Device>,
    _e: PhantomData<E>,
}

impl<E: CudaFloat> Clone for Cuda<E> {
    fn clone(&self) -> Self {
        Cuda {
            dev: self.dev.clone(),
            _e: PhantomData,
        }
    }
}

impl<E: CudaFloat> std::fmt::Debug for Cuda<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cuda<{}>({:?})", E::DTYPE, self.dev)
    }
}

impl<E: CudaFloat> Cuda<E> {
    /// The backend on GPU `ordinal`. Fails with [`Error::Device`] naming what is missing: a
    /// CUDA library, the device, or the kernels' compilation (with NVRTC's log).
    ///
    /// Its tensors stay on that GPU: an op given a tensor that another GPU's backend made is an
    /// [`Error::Device`] naming both GPUs (kernels cannot read another GPU's memory).
    pub fn new(ordinal: usize) -> Result<Self> {
        Ok(Cuda {
            dev: Device::get(ordinal)?,
            _e: PhantomData,
        })
    }

    /// Kernel launches and cuBLAS calls this thread has made on any device so far: the
    /// difference over a training step is its launch count. Counted per thread, so that other
    /// threads' work (tests running side by side) does not enter the count.
    pub fn launch_count(&self) -> u64 {
        LAUNCHES.get()
    }

    /// Copies from the device to the host this thread has made so far: each waits for the
    /// GPU to finish the work queued before it. Counted per thread, as
    /// [`launch_count`](Cuda::launch_count).
    pub fn host_reads(&self) -> u64 {
        HOST_READS.get()
    }

    /// The GPU's name, as the driver reports it.
    pub fn device_name(&self) -> &str {
        &self.dev.name
    }
}

/// The device name nn-cuda-emu reports: the CPU stand-in for the CUDA libraries that
/// `cargo xtask cuda-emu` builds and runs the tests against (see `emu/emu.cpp`).
pub const EMULATOR_NAME: &str = "nn-cuda-emu (CPU emulation, not a GPU)";

impl<E: CudaFloat> Cuda<E> {
    /// Whether this "device" is nn-cuda-emu, the CPU emulation of the CUDA libraries, rather
    /// than a GPU.
    #[doc(hidden)]
    pub fn is_emulated(&self) -> bool {
        self.dev.name == EMULATOR_NAME
    }
}

/// The backend on device 0 for tests: `None`, after printing `SKIPPED {what}` and the reason
/// to stderr (past the test harness's capture), when no device can be used.
///
/// Two variables turn skipping into failing, so that a pass means the tests ran:
/// `NN_REQUIRE_GPU` requires a real GPU (and refuses nn-cuda-emu), `NN_REQUIRE_EMU` requires
/// nn-cuda-emu (`cargo xtask cuda-emu` sets it).
pub fn test_backend<E: CudaFloat>(what: &str) -> Option<Cuda<E>> {
    let want_gpu = std::env::var_os("NN_REQUIRE_GPU").is_some();
    let want_emu = std::env::var_os("NN_REQUIRE_EMU").is_some();
    match Cuda::<E>::new(0) {
        Ok(b) if want_gpu && b.is_emulated() => {
            panic!("NN_REQUIRE_GPU is set, but {what} found nn-cuda-emu, not a GPU")
        }
        Ok(b) if want_emu && !b.is_emulated() => {
            panic!(
                "NN_REQUIRE_EMU is set, but {what} found {}",
                b.device_name()
            )
        }
        Ok(b) => Some(b),
        Err(e) if want_gpu || want_emu => {
            panic!("NN_REQUIRE_GPU or NN_REQUIRE_EMU is set, but {what} has no device: {e}")
        }
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED {what} (no GPU): {e}");
            None
        }
    }
}

/// Whether a CUDA device can be used here, or why not.
pub fn available() -> Result<()> {
    Device::get(0).map(drop)
}

/// A matrix on the GPU. Clones and row views share the buffer; in-place ops copy it first when
/// shared.
pub struct CudaTensor<E: CudaFloat> {
    pub(crate) buf: Arc<Buf<E>>,
    pub(crate) shape: Shape,
    /// Where the elements start in `buf` (a view of rows of a larger tensor starts past 0).
    pub(crate) offset: usize,
}

impl<E: CudaFloat> Clone for CudaTensor<E> {
    fn clone(&self) -> Self {
        CudaTensor {
            buf: self.buf.clone(),
            shape: self.shape,
            offset: self.offset,
        }
    }
}

impl<E: CudaFloat> std::fmt::Debug for CudaTensor<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaTensor<{}>{}", E::DTYPE, self.shape)
    }
}

/// A vector of `u32` indices on the GPU, with a host copy when it came from the host (so that
/// label and bound checks need no device round trip).
#[derive(Clone)]
pub struct CudaIndex {
    pub(crate) buf: Arc<Buf<u32>>,
    pub(crate) len: usize,
    pub(crate) host: Option<Arc<Vec<u32>>>,
    /// Every index is below this bound.
    pub(crate) bound: u64,
}

impl std::fmt::Debug for CudaIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaIndex[{}]", self.len)
    }
}

// SAFETY: device buffers are plain device memory; all access goes through the one stream.
unsafe impl<E: CudaFloat> Send for CudaTensor<E> {}
// SAFETY: as above; shared references only read.
unsafe impl<E: CudaFloat> Sync for CudaTensor<E> {}

#[cfg(test)]
mod tests {
    use super::{check_driver_version, not_found, LIBS};

    /// The message names the files and the search path of the system it runs on.
    #[test]
    fn a_missing_library_is_named_as_this_system_names_it() {
        let msg = not_found(&format!("the CUDA driver ({})", LIBS.driver)).to_string();
        let expected: &[&str] = if cfg!(windows) {
            &["nvcuda.dll", "bin directories to PATH"]
        } else if cfg!(target_os = "macos") {
            &["libcuda.so", "CUDA does not run on macOS"]
        } else {
            &["libcuda.so", "lib directories to LD_LIBRARY_PATH"]
        };
        for part in expected {
            assert!(msg.contains(part), "{part:?} not in: {msg}");
        }
    }

    #[test]
    fn a_driver_of_an_older_major_version_than_the_bindings_is_refused() {
        let err = check_driver_version(12080, 13000).unwrap_err().to_string();
        for part in ["supports CUDA 12.8", "built for CUDA 13.0", "cuda-12080"] {
            assert!(err.contains(part), "{part:?} not in: {err}");
        }
        // Too old for any of nn-cuda's bindings: no rebuild to suggest.
        for (driver, bindings) in [(12040, 13000), (11080, 12060)] {
            let err = check_driver_version(driver, bindings)
                .unwrap_err()
                .to_string();
            assert!(err.contains("needs CUDA 12.6 or newer"), "{err}");
            assert!(!err.contains("rebuild"), "{err}");
        }
        // The same major version or a newer one: the driver keeps older functions.
        for (driver, bindings) in [
            (13000, 13000),
            (13020, 13000),
            (14000, 13000),
            (12020, 12080),
        ] {
            assert!(
                check_driver_version(driver, bindings).is_ok(),
                "{driver} {bindings}"
            );
        }
    }
}
