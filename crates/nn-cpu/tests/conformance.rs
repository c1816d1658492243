//! The nn-core conformance suite on the CPU backend, in f32 and f64.
use nn_cpu::Cpu;

nn_core::conformance_tests!(cpu_f32, || Some(Cpu::<f32>::new()));
nn_core::conformance_tests!(cpu_f64, || Some(Cpu::<f64>::new()));
