//! A driver of an older CUDA major version than the bindings is refused when the backend is
//! made, checked on nn-cuda-emu, which can be told to report another driver
//! (`NN_CUDA_EMU_DRIVER_VERSION`). Elsewhere (no device, or a real GPU) it skips.
use std::io::Write as _;

#[test]
fn an_older_driver_is_refused_at_the_start_with_how_to_rebuild() {
    if std::env::var_os("NN_REQUIRE_EMU").is_none() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED older_driver: needs nn-cuda-emu (NN_REQUIRE_EMU, as `cargo xtask cuda-emu` sets)"
        );
        return;
    }
    let bindings = cudarc::driver::sys::CUDA_VERSION as i32;
    let older = (bindings / 1000 - 1) * 1000 + 80;
    // The only test in this binary, so nothing else opens the device while the driver is old.
    std::env::set_var("NN_CUDA_EMU_DRIVER_VERSION", older.to_string());
    let refused = nn_cuda::Cuda::<f32>::new(0);
    std::env::remove_var("NN_CUDA_EMU_DRIVER_VERSION");
    let msg = refused.expect_err("an older driver").to_string();
    let want = format!(
        "supports CUDA {}.8, but nn-cuda was built for CUDA",
        older / 1000
    );
    assert!(msg.contains(&want), "{msg}");
    // A 12.8 driver under 13.x bindings can be served by the cuda-12080 build, which it names;
    // an 11.8 driver (under the 12.x bindings) has no build to name.
    if bindings >= 13000 {
        assert!(msg.contains("--features cuda-12080"), "{msg}");
    } else {
        assert!(msg.contains("needs CUDA 12.6 or newer"), "{msg}");
    }
    // Nothing was kept of the refused attempt: with the emulator's own driver it opens.
    let b = nn_cuda::Cuda::<f32>::new(0).expect("the emulator's driver");
    assert!(b.is_emulated());
}
