//! Matrix products on the CPU through the `gemm` crate: AVX-512, AVX2+FMA or scalar kernels,
//! picked at run time from what the CPU supports; threads only for large products.
//!
//! Even for the book's tiny matrices (30 × 2 · 2 × 10) `gemm`'s small-size kernels measured
//! twice as fast as plain loops, so every size goes through it.

use nn_core::Float;

/// From this many multiply-adds on, `gemm` splits the work over threads (measured on the
/// 2-core development machine: below it, waking the pool costs more than it saves).
pub const PARALLEL: usize = 96 * 96 * 96;

/// The instruction set `gemm` picks on this CPU, by the same run-time test it makes:
/// `"avx512f"`, `"fma"` (AVX2 + FMA) or `"scalar"`.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "fma";
        }
    }
    "scalar"
}

/// Row-major operand `x` of `rows × cols`, read as transposed when `t`.
#[derive(Clone, Copy)]
pub struct Operand<'a, E> {
    /// The row-major elements.
    pub data: &'a [E],
    /// Columns of the stored matrix (before any transpose).
    pub cols: usize,
    /// Read the matrix as its transpose.
    pub t: bool,
}

impl<E: Float> Operand<'_, E> {
    /// (row stride, column stride) of `op(x)` in elements.
    fn strides(&self) -> (isize, isize) {
        if self.t {
            (1, self.cols as isize)
        } else {
            (self.cols as isize, 1)
        }
    }
}

/// `out (m × n) = op(a) (m × k) · op(b) (k × n)`; `out` is overwritten.
pub fn matmul<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    debug_assert_eq!(out.len(), m * n);
    let work = m * n * k;
    if work == 0 {
        out.fill(E::zero());
        return;
    }
    let (ars, acs) = a.strides();
    let (brs, bcs) = b.strides();
    let par = if work >= PARALLEL {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the strides and sizes describe exactly the row-major slices `a`, `b` (read as
    // transposed when flagged) and `out`, whose lengths the backend checked; `read_dst` is false,
    // so `out` is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.data.as_ptr(),
            acs,
            ars,
            b.data.as_ptr(),
            bcs,
            brs,
            E::zero(),
            E::one(),
            false,
            false,
            false,
            par,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every transpose case, small and large, against the definition. With
    /// `NN_EXPECT_KERNEL=fma` this also asserts that the AVX2 fallback is the path taken:
    /// `cargo xtask check-fallback` runs it under valgrind, whose CPU has no AVX-512, to show
    /// that a binary built on an AVX-512 machine runs correctly without it.
    #[test]
    fn all_paths_and_transposes_agree_with_the_definition() {
        if let Ok(want) = std::env::var("NN_EXPECT_KERNEL") {
            assert_eq!(simd_level(), want, "kernel chosen at run time");
        }
        eprintln!("gemm kernel: {}", simd_level());
        for (m, n, k) in [(3, 4, 5), (30, 10, 2), (70, 50, 40), (130, 110, 120)] {
            let a: Vec<f64> = (0..m * k).map(|i| (i % 7) as f64 - 3.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| (i % 5) as f64 * 0.5).collect();
            let want: Vec<f64> = (0..m * n)
                .map(|ij| (0..k).map(|p| a[ij / n * k + p] * b[p * n + ij % n]).sum())
                .collect();
            let at: Vec<f64> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let bt: Vec<f64> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let oa = if ta {
                    Operand {
                        data: &at,
                        cols: m,
                        t: true,
                    }
                } else {
                    Operand {
                        data: &a,
                        cols: k,
                        t: false,
                    }
                };
                let ob = if tb {
                    Operand {
                        data: &bt,
                        cols: k,
                        t: true,
                    }
                } else {
                    Operand {
                        data: &b,
                        cols: n,
                        t: false,
                    }
                };
                let mut out = vec![f64::NAN; m * n];
                matmul(m, n, k, oa, ob, &mut out);
                assert_eq!(out, want, "{m}x{n}x{k} ta={ta} tb={tb}");
            }
        }
    }
}
