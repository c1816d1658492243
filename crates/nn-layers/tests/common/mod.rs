//! What the gradient checks share: central differences in f64 and the comparison.
//!
//! Tolerance: analytic and numerical gradients agree to 1e-6 relative (1e-9 absolute); central
//! differences with h = 1e-5 are accurate to about h² ≈ 1e-10 here.
#![allow(dead_code)]

use approx::assert_relative_eq;
use nn_core::{Backend, NumpyRng, Shape};
use nn_cpu::Cpu;

pub type B = Cpu<f64>;
pub const H: f64 = 1e-5;

pub fn randn(rng: &mut NumpyRng, r: usize, c: usize) -> <B as Backend>::Tensor {
    B::new()
        .from_f64(&rng.randn_vec(r * c), Shape::new(r, c))
        .unwrap()
}

pub fn host(t: &<B as Backend>::Tensor) -> Vec<f64> {
    B::new().to_host(t).unwrap()
}

#[track_caller]
pub fn assert_grad(analytic: &[f64], numeric: &[f64]) {
    assert_grad_tol(analytic, numeric, 1e-6);
}

#[track_caller]
pub fn assert_grad_tol(analytic: &[f64], numeric: &[f64], rel: f64) {
    assert_eq!(analytic.len(), numeric.len());
    for (a, n) in analytic.iter().zip(numeric) {
        assert_relative_eq!(*a, *n, max_relative = rel, epsilon = 1e-9);
    }
}

/// Central differences of `f` with respect to every element of `x`.
pub fn numeric(x: &[f64], mut f: impl FnMut(&[f64]) -> f64) -> Vec<f64> {
    let mut v = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = v[i];
            v[i] = orig + H;
            let up = f(&v);
            v[i] = orig - H;
            let down = f(&v);
            v[i] = orig;
            (up - down) / (2.0 * H)
        })
        .collect()
}
