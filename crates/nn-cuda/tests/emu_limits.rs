//! Error paths that need a device in a given state, checked on nn-cuda-emu, which can be told
//! to run out of memory (`NN_CUDA_EMU_MEMORY`). On a GPU, or without a device, they skip.
use nn_core::{Backend, Shape};

#[test]
fn out_of_memory_is_a_clear_error_and_the_device_still_works() {
    let Some(b) = nn_cuda::test_backend::<f32>("out_of_memory") else {
        return;
    };
    if !b.is_emulated() {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED out_of_memory: needs nn-cuda-emu's memory limit (this is {})",
            b.device_name()
        );
        return;
    }
    // The only test in this binary, so no other test allocates while the limit is set.
    std::env::set_var("NN_CUDA_EMU_MEMORY", "1000000");
    let big = b.zeros(Shape::new(1000, 1000));
    let small = b.zeros(Shape::new(10, 10));
    std::env::remove_var("NN_CUDA_EMU_MEMORY");
    let msg = big.expect_err("4 MB past a 1 MB limit").to_string();
    assert!(msg.contains("out of GPU memory"), "{msg}");
    assert!(small.is_ok(), "400 bytes fit under the limit");
    let x = b.from_host(&[1.0, 2.0], Shape::new(1, 2)).unwrap();
    assert_eq!(b.to_host(&b.mul(&x, &x).unwrap()).unwrap(), [1.0, 4.0]);
}
