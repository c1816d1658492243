//! `load_params` on arbitrary bytes, into an f32 and an f64 model: it never panics, a file it
//! accepts gives finite weights, and one it refuses leaves the model as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_core::{Backend, Float, NumpyRng};
use nn_cpu::Cpu;
use nn_layers::{Module, TwoLayerNet};
use std::path::{Path, PathBuf};

fn values<B: Backend>(m: &TwoLayerNet<B>) -> Vec<Vec<f64>> {
    let b = m.backend();
    m.params()
        .iter()
        .map(|(_, p)| {
            b.to_host(p.value())
                .unwrap()
                .into_iter()
                .map(Float::f64)
                .collect()
        })
        .collect()
}

fn check<B: Backend + Default>(path: &Path) {
    let mut m = TwoLayerNet::new(&B::default(), 2, 4, 3, &mut NumpyRng::new(1)).unwrap();
    let before = values(&m);
    match nn_train::load_params(&mut m, path) {
        Ok(_) => assert!(values(&m).iter().flatten().all(|v| v.is_finite())),
        Err(_) => assert_eq!(values(&m), before),
    }
}

fuzz_target!(|data: &[u8]| {
    // The loader reads files; one per fuzzing process, in memory where there is a tmpfs.
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("nn-fuzz-{}.safetensors", std::process::id()));
    std::fs::write(&path, data).unwrap();
    check::<Cpu<f32>>(&path);
    check::<Cpu<f64>>(&path);
});
