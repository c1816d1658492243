//! Error paths that need a device in a given state, checked on nn-cuda-emu, which can be told
//! to run out of memory (`NN_CUDA_EMU_MEMORY`) or to have a second device
//! (`NN_CUDA_EMU_DEVICES`), and whose device memory counts against the process's address
//! space (`ulimit -v`). Without a device they skip; on a GPU, so do the emulator's memory
//! tests, the out-of-memory test fills the GPU itself when `NN_CUDA_TEST_FILL_GPU` is set, and
//! the second-device test runs where there are two GPUs.
mod common;

use nn_core::{Backend, NumpyRng, Shape};
use nn_cuda::Cuda;
use std::io::Write as _;
use std::sync::Mutex;

/// The tests set the emulator's variables while they run: one at a time.
static EMU_ENV: Mutex<()> = Mutex::new(());

#[test]
fn out_of_memory_is_a_clear_error_and_the_device_still_works() {
    let _env = EMU_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = common::emulated_backend("out_of_memory", "nn-cuda-emu's memory limit") else {
        return;
    };
    // Under EMU_ENV, so no other test allocates while the limit is set. 1 MB past what is in
    // use (cuBLAS's workspace, other tests' tensors).
    let used = b.memory_stats().unwrap().allocated;
    std::env::set_var("NN_CUDA_EMU_MEMORY", (used + 1_000_000).to_string());
    let big = b.zeros(Shape::new(1000, 1000));
    let small = b.zeros(Shape::new(10, 10));
    std::env::remove_var("NN_CUDA_EMU_MEMORY");
    let msg = big.expect_err("4 MB past a 1 MB limit").to_string();
    assert!(msg.contains("out of GPU memory"), "{msg}");
    assert!(small.is_ok(), "400 bytes fit under the limit");
    let x = b.from_host(&[1.0, 2.0], Shape::new(1, 2)).unwrap();
    assert_eq!(b.to_host(&b.mul(&x, &x).unwrap()).unwrap(), [1.0, 4.0]);
}

/// The same on a real GPU, filled with 8 GiB tensors until one does not fit: that one is an
/// error saying the GPU is out of memory, and once they are dropped the GPU works on. It takes
/// all of the GPU's memory for a moment, so it runs only when `NN_CUDA_TEST_FILL_GPU` is set
/// (`bundle/run.sh` sets it on the GPU machine).
#[test]
fn filling_a_gpu_is_a_clear_error_and_it_works_on() {
    let _env = EMU_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = nn_cuda::test_backend::<f32>("fill_gpu") else {
        return;
    };
    let skip = if b.is_emulated() {
        "needs a GPU (nn-cuda-emu runs out of memory in the test above)"
    } else if std::env::var_os("NN_CUDA_TEST_FILL_GPU").is_none() {
        "takes all of the GPU's memory: set NN_CUDA_TEST_FILL_GPU=1 to run it"
    } else {
        ""
    };
    if !skip.is_empty() {
        let _ = writeln!(std::io::stderr(), "SKIPPED fill_gpu: {skip}");
        return;
    }
    // 2³¹ f32 elements: 8 GiB, within the kernels' u32 indexing.
    let shape = Shape::new(1 << 16, 1 << 15);
    let mut held = Vec::new();
    let mut refused = None;
    // 64 × 8 GiB = 512 GiB, more than any GPU of today holds.
    for _ in 0..64 {
        match b.zeros(shape) {
            Ok(t) => held.push(t),
            Err(e) => {
                refused = Some(e.to_string());
                break;
            }
        }
    }
    let msg = refused.expect("512 GiB of tensors fitted on one GPU");
    println!(
        "fill_gpu: {} tensors of 8 GiB held, then: {msg}",
        held.len()
    );
    assert!(msg.contains("out of GPU memory"), "{msg}");
    assert!(!held.is_empty(), "not even one 8 GiB tensor fitted: {msg}");
    drop(held);
    b.release_cached_memory().unwrap();
    let again = b
        .zeros(shape)
        .expect("8 GiB fit again once the others are dropped");
    let total = b.scalar(&b.sum_squares(&again).unwrap()).unwrap();
    assert_eq!(total, 0.0, "a fresh 8 GiB tensor of zeros");
    let x = b.from_host(&[1.0, 2.0], Shape::new(1, 2)).unwrap();
    assert_eq!(b.to_host(&b.mul(&x, &x).unwrap()).unwrap(), [1.0, 4.0]);
}

/// A GPU that is not there is an error naming the ones that are, and GPU 0 works on.
#[test]
fn a_device_that_is_not_there_is_named() {
    let _env = EMU_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = nn_cuda::test_backend::<f32>("missing_device") else {
        return;
    };
    let e = Cuda::<f32>::new(1000).unwrap_err().to_string();
    assert!(
        e.starts_with("device error: CUDA device 1000 asked for, but this machine has "),
        "{e}"
    );
    if b.is_emulated() {
        assert!(e.ends_with("has 1 (ordinals 0 to 0)"), "{e}");
    }
    let x = b.from_host(&[3.0], Shape::scalar()).unwrap();
    assert_eq!(b.to_host(&x).unwrap(), [3.0]);
}

/// One GPU's tensors given to another GPU's backend are an error naming both, before any kernel
/// sees the other GPU's memory; both backends still work after it.
#[test]
fn a_tensor_of_another_gpu_is_refused() {
    let _env = EMU_ENV.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b0) = nn_cuda::test_backend::<f32>("another_gpu") else {
        return;
    };
    if b0.is_emulated() {
        std::env::set_var("NN_CUDA_EMU_DEVICES", "2");
    }
    let b1 = Cuda::<f32>::new(1);
    std::env::remove_var("NN_CUDA_EMU_DEVICES");
    let b1 = match b1 {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "SKIPPED another_gpu: {e}");
            return;
        }
    };
    let x0 = b0.from_host(&[1.0, 2.0], Shape::new(1, 2)).unwrap();
    let x1 = b1.from_host(&[1.0, 2.0], Shape::new(1, 2)).unwrap();
    let labels1 = b1.index_from_host(&[1]).unwrap();
    let classes1 = b1.argmax_rows(&x1).unwrap(); // no host copy: read from the device
    let refused = |what: &str, r: nn_core::Result<()>| {
        let e = r.expect_err(what).to_string();
        assert!(
            e.contains("a tensor of cuda:1 given to the backend of cuda:0 ("),
            "{what}: {e}"
        );
    };
    refused("mul", b0.mul(&x0, &x1).map(drop));
    refused("sigmoid", b0.sigmoid(&x1).map(drop));
    refused("matmul", b0.matmul(&x0, false, &x1, true).map(drop));
    refused("to_host", b0.to_host(&x1).map(drop));
    refused("axpy x", b0.axpy(&mut x0.clone(), 1.0, &x1));
    refused("axpy y", b0.axpy(&mut x1.clone(), 1.0, &x0));
    refused(
        "sum_squares_many",
        b0.sum_squares_many([&x0, &x1]).map(drop),
    );
    refused("index_to_host", b0.index_to_host(&classes1).map(drop));
    refused(
        "softmax_cross_entropy",
        b0.softmax_cross_entropy(&x0, &labels1).map(drop),
    );
    // SGD over a step's parameters: the second pair is another GPU's, and the first is left
    // as it was.
    let (mut y0, mut y1) = (x0.clone(), x1.clone());
    refused(
        "axpy_many",
        b0.axpy_many(1.0, [(&mut y0, &x0), (&mut y1, &x0)]),
    );
    assert_eq!(b0.to_host(&y0).unwrap(), [1.0, 2.0]);
    // As a user meets it: a model on one GPU, its data copied to the other.
    let mut rng = NumpyRng::new(1984);
    let data = nn_train::spiral::load_data_from(&mut rng);
    let net = nn_layers::TwoLayerNet::new(&b0, 2, 10, 3, &mut rng).unwrap();
    let mut t = nn_train::Trainer::new(net, nn_optim::Sgd::new(1.0).unwrap());
    let on_1 = data.to_device(&b1).unwrap();
    let o = nn_train::FitOptions {
        max_epoch: 1,
        output: nn_train::Output::Silent,
        ..Default::default()
    };
    refused("fit_device", t.fit_device(&on_1, &o, &mut rng).map(drop));
    // Each backend still works on its own tensors.
    assert_eq!(b0.to_host(&b0.mul(&x0, &x0).unwrap()).unwrap(), [1.0, 4.0]);
    assert_eq!(b1.to_host(&b1.mul(&x1, &x1).unwrap()).unwrap(), [1.0, 4.0]);
}

/// Set in the copy of this test binary that `a_host_copy_beyond_host_memory_is_an_error`
/// starts: `measure` or `limited`.
const HOST_LIMIT_CHILD: &str = "NN_TEST_HOST_LIMIT_CHILD";

/// Reading a tensor back when the host will not reserve room for it is an error naming the
/// tensor, not the end of the process (`memory allocation of … failed`, as through cudarc's
/// `clone_dtoh`). The test runs a copy of itself twice: once to measure its address space with
/// a 256 MiB tensor on the device (nn-cuda-emu keeps device memory in the process), then under
/// `ulimit -v` of that plus 128 MiB, where the tensor fits and its host copy does not.
#[test]
fn a_host_copy_beyond_host_memory_is_an_error() {
    if let Ok(mode) = std::env::var(HOST_LIMIT_CHILD) {
        return host_copy_child(&mode);
    }
    let _env = EMU_ENV.lock().unwrap_or_else(|e| e.into_inner());
    // A GPU's context takes address space of its own.
    let needs = "nn-cuda-emu, whose device memory is the process's address space";
    if common::emulated_backend("host_copy_limit", needs).is_none() {
        return;
    }
    let child = |mode: &str, limit_kib: Option<u64>| {
        let test = "a_host_copy_beyond_host_memory_is_an_error";
        common::rerun_alone(test, &[(HOST_LIMIT_CHILD, mode)], limit_kib)
    };
    let measured = child("measure", None);
    let vm_kib: u64 = measured
        .lines()
        // libtest's `test NAME ... ` may stand before it on the line.
        .find_map(|l| l.split_once("vm_kib ")?.1.trim().parse().ok())
        .unwrap_or_else(|| panic!("no vm_kib line in {measured}"));
    assert!(measured.contains("copied 67108864 values"), "{measured}");
    let limited = child("limited", Some(vm_kib + 128 * 1024));
    assert!(
        limited.contains(
            "refused: out of host memory: 268435456 bytes for to_host's copy of (8192, 8192)"
        ),
        "{limited}"
    );
    assert!(limited.contains("small copy [2.0]"), "{limited}");
}

/// The copy's side: a 256 MiB tensor, the address space it then takes, and its host copy
/// (`measure`: must succeed; `limited`: must be refused, and a small copy still work).
fn host_copy_child(mode: &str) {
    let b = Cuda::<f32>::new(0).unwrap();
    let t = b.zeros(Shape::new(8192, 8192)).unwrap();
    let small = b.from_host(&[2.0], Shape::scalar()).unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    println!("vm_kib {}", vm.split_whitespace().nth(1).unwrap());
    match (mode, b.to_host(&t)) {
        ("measure", Ok(v)) => println!("copied {} values", v.len()),
        ("limited", Err(e)) => println!("refused: {e}"),
        (_, r) => panic!("{mode}: {:?}", r.map(|v| v.len())),
    }
    println!("small copy {:?}", b.to_host(&small).unwrap());
}
