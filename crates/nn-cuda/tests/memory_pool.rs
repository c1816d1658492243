//! The device's memory pool keeps freed memory across synchronisations, and gives it back on
//! request. A binary of its own, so that no other test allocates while the counters are read.
use nn_core::{Backend, Shape};

const MIB: u64 = 1 << 20;

#[test]
fn freed_memory_stays_cached_until_released() {
    let Some(b) = nn_cuda::test_backend::<f32>("memory_pool") else {
        return;
    };
    b.release_cached_memory().unwrap();
    let start = b.memory_stats().unwrap();
    assert!(start.reserved >= start.allocated, "{start:?}");

    let t = b.zeros(Shape::new(4096, 4096)).unwrap(); // 64 MiB
    let live = b.memory_stats().unwrap();
    assert!(live.allocated >= start.allocated + 64 * MIB, "{live:?}");
    drop(t);
    let one = b.from_host(&[1.0], Shape::scalar()).unwrap();
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
