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
