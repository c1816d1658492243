//! The nn-core conformance suite on the GPU, in f32 and f64. Without a usable GPU each test
//! prints that it was skipped and why; `cargo xtask gpu-test` runs them with NN_REQUIRE_GPU=1,
//! which turns a missing GPU into a failure; `cargo xtask cuda-emu` runs them on nn-cuda-emu, the
//! CPU emulation of the CUDA libraries.
use nn_cuda::Cuda;

fn make<E: nn_cuda::CudaFloat>() -> Option<Cuda<E>> {
    nn_cuda::test_backend("conformance")
}

nn_core::conformance_tests!(cuda_f32, make::<f32>);
nn_core::conformance_tests!(cuda_f64, make::<f64>);

/// Tensors and indices made on one thread are read back on another, whose first CUDA call that
/// read is: the copy makes the device's context current there, as cudarc's own calls do.
#[test]
fn read_back_on_a_thread_without_the_context() {
    use nn_core::{Backend, Shape};
    let Some(b) = make::<f32>() else {
        return;
    };
    let t = b.from_host(&[1.0, 5.0, 3.0], Shape::new(1, 3)).unwrap();
    // Made on the device, so its read-back is a copy, not the host copy an upload keeps.
    let idx = b.argmax_rows(&t).unwrap();
    let (values, classes) = std::thread::scope(|s| {
        s.spawn(|| (b.to_host(&t).unwrap(), b.index_to_host(&idx).unwrap()))
            .join()
            .unwrap()
    });
    assert_eq!(values, [1.0, 5.0, 3.0]);
    assert_eq!(classes, [1]);
}
