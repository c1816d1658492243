//! The nn-core conformance suite on the GPU, in f32 and f64. Without a usable GPU each test
//! prints that it was skipped and why; `cargo xtask gpu-test` runs them with NN_REQUIRE_GPU=1,
//! which turns a missing GPU into a failure.
use nn_cuda::Cuda;

fn make<E: nn_cuda::CudaFloat>() -> Option<Cuda<E>> {
    match Cuda::<E>::new(0) {
        Ok(b) => Some(b),
        Err(e) if std::env::var_os("NN_REQUIRE_GPU").is_some() => {
            panic!("NN_REQUIRE_GPU is set: {e}")
        }
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "SKIPPED (no GPU): {e}");
            None
        }
    }
}

nn_core::conformance_tests!(cuda_f32, make::<f32>);
nn_core::conformance_tests!(cuda_f64, make::<f64>);
