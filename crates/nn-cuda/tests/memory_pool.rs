//! The device's memory pool keeps freed memory across synchronisations, and gives it back on
//! request. A binary of its own, its tests one at a time, so that nothing else allocates
//! while the counters are read.
mod common;

use nn_core::{Backend, Shape};
use std::sync::Mutex;

const MIB: u64 = 1 << 20;

/// For a test that opens the device with `var=1` (the device opens once per process): `true`
/// in the copy of this binary that has it set, where the test goes on. In the test's own run,
/// when `device_here` finds a device that can run it, runs `test` again alone with `var=1` and
/// requires `expect` in what it prints; then `false`, and the test ends there.
fn in_copy_with(var: &str, test: &str, expect: &str, device_here: impl FnOnce() -> bool) -> bool {
    if std::env::var_os(var).is_some() {
        return true;
    }
    if device_here() {
        let text = common::rerun_alone(test, &[(var, "1")], None);
        assert!(text.contains(expect), "{test}: {text}");
    }
    false
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn freed_memory_stays_cached_until_released() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(b) = nn_cuda::test_backend::<f32>("memory_pool") else {
        return;
    };
    // Made first, so that it lies outside the 64 MiB the test frees and releases.
    let one = b.from_host(&[1.0], Shape::scalar()).unwrap();
    b.release_cached_memory().unwrap();
    let start = b.memory_stats().unwrap();
    assert!(start.reserved >= start.allocated, "{start:?}");

    let t = b.zeros(Shape::new(4096, 4096)).unwrap(); // 64 MiB
    let live = b.memory_stats().unwrap();
    assert!(live.allocated >= start.allocated + 64 * MIB, "{live:?}");
    drop(t);
    // As `gpu_matmul` and the matmul bench wait for each product: the driver's default pool
    // would give the freed 64 MiB back to the OS here, to be mapped again by the next one.
    b.synchronize().unwrap();
    let synced = b.memory_stats().unwrap();
    assert!(
        synced.allocated + 63 * MIB <= live.allocated,
        "freed: {live:?} then {synced:?}"
    );
    assert!(
        synced.reserved >= start.reserved + 64 * MIB,
        "the freed 64 MiB stay in the pool across a synchronisation: {start:?} then {synced:?}"
    );

    b.release_cached_memory().unwrap();
    let released = b.memory_stats().unwrap();
    assert!(
        released.reserved + 63 * MIB <= synced.reserved,
        "release_cached_memory gives them back: {synced:?} then {released:?}"
    );
    // The live tensor and the device work on.
    assert_eq!(b.to_host(&one).unwrap(), [1.0]);
    let again = b.zeros(Shape::new(4096, 4096)).unwrap();
    assert_eq!(b.scalar(&b.sum_squares(&again).unwrap()).unwrap(), 0.0);
}

/// `NN_CUDA_NO_MEMORY_CACHING=1` leaves the driver's default pool, which gives freed memory
/// back at a synchronisation. Run in a copy of this binary started with it set, as the device
/// is opened once per process.
#[test]
fn without_caching_freed_memory_goes_back_at_a_synchronisation() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !in_copy_with(
        "NN_CUDA_NO_MEMORY_CACHING",
        "without_caching_freed_memory_goes_back_at_a_synchronisation",
        "released at the synchronisation",
        || nn_cuda::test_backend::<f32>("memory_pool_opt_out").is_some(),
    ) {
        return;
    }
    let b = nn_cuda::Cuda::<f32>::new(0).unwrap();
    drop(b.zeros(Shape::new(4096, 4096)).unwrap());
    b.synchronize().unwrap();
    let m = b.memory_stats().unwrap();
    assert!(m.reserved < 64 * MIB, "{m:?}");
    println!("released at the synchronisation: {m:?}");
}

/// On a device without a stream-ordered pool (cudarc then allocates with `cuMemAlloc`),
/// `memory_stats` says so, releasing is a no-op, and tensors work. nn-cuda-emu plays such a
/// device (`NN_CUDA_EMU_NO_POOLS`) in a copy of this binary; on a GPU it skips.
#[test]
fn a_device_without_a_pool_works_and_says_so() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let needs = "nn-cuda-emu to play a device without a pool";
    if !in_copy_with(
        "NN_CUDA_EMU_NO_POOLS",
        "a_device_without_a_pool_works_and_says_so",
        "without a pool: [1.0, 4.0]",
        || common::emulated_backend("memory_pool_none", needs).is_some(),
    ) {
        return;
    }
    let b = nn_cuda::Cuda::<f32>::new(0).unwrap();
    let e = b.memory_stats().unwrap_err().to_string();
    assert!(e.contains("has no stream-ordered memory pool"), "{e}");
    b.release_cached_memory().unwrap();
    let x = b.from_host(&[1.0, 2.0], Shape::new(1, 2)).unwrap();
    let y = b.mul(&x, &x).unwrap();
    drop(b.zeros(Shape::new(256, 256)).unwrap());
    println!("without a pool: {:?}", b.to_host(&y).unwrap());
}
