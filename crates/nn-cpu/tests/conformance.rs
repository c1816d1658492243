//! The nn-core conformance suite on the CPU backend, in f32 and f64.
use nn_cpu::Cpu;

nn_core::conformance_tests!(cpu_f32, || Some(Cpu::<f32>::new()));
nn_core::conformance_tests!(cpu_f64, || Some(Cpu::<f64>::new()));

/// A size no machine holds is an out-of-memory error naming the tensor (the suite's
/// `beyond_memory` accepts any error, as devices refuse such sizes in other ways).
#[test]
fn a_tensor_beyond_memory_is_named() {
    use nn_core::{Backend, Error, Shape};
    let e = Cpu::<f32>::new()
        .zeros(Shape::new(1 << 24, 1 << 24))
        .unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "out of host memory: 1125899906842624 bytes for a (16777216, 16777216) f32 tensor, \
         more than the system would reserve"
    );
}
