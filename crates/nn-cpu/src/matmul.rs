//! Matrix products on the CPU through the `gemm` crate: AVX-512, AVX2+FMA or scalar kernels,
//! picked at run time from what the CPU supports; threads only for large products.
//!
//! The book's matrices are tiny (30 × 2 · 2 × 10): there `gemm` spends most of its time
//! allocating and zeroing packing buffers sized for the L2 cache, so products of up to
//! [`SMALL`] multiply-adds run in plain loops instead.

use nn_core::Float;

/// Calls `$f::<E, W>(args)` with the width `W` as a constant for widths 1 to 16, so that the
/// innermost loop is unrolled and vectorised; `$generic(args)` for other widths.
macro_rules! by_width {
    ($w:expr, $f:ident, $generic:ident, ($($arg:expr),*)) => {
        match $w {
            1 => $f::<E, 1>($($arg),*),
            2 => $f::<E, 2>($($arg),*),
            3 => $f::<E, 3>($($arg),*),
            4 => $f::<E, 4>($($arg),*),
            5 => $f::<E, 5>($($arg),*),
            6 => $f::<E, 6>($($arg),*),
            7 => $f::<E, 7>($($arg),*),
            8 => $f::<E, 8>($($arg),*),
            9 => $f::<E, 9>($($arg),*),
            10 => $f::<E, 10>($($arg),*),
            11 => $f::<E, 11>($($arg),*),
            12 => $f::<E, 12>($($arg),*),
            13 => $f::<E, 13>($($arg),*),
            14 => $f::<E, 14>($($arg),*),
            15 => $f::<E, 15>($($arg),*),
            16 => $f::<E, 16>($($arg),*),
            _ => $generic($($arg),*),
        }
    };
}

/// Up to this many multiply-adds (`m·n·k`), plain loops.
pub const SMALL: usize = 32 * 32 * 32;
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
    product(m, n, k, a, b, out, false)
}

/// `out (m × n) += op(a) (m × k) · op(b) (k × n)` (the Affine forward adds the product to rows
/// that already hold the bias).
pub fn matmul_acc<E: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
) {
    product(m, n, k, a, b, out, true)
}

fn product<E: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
    accumulate: bool,
) {
    debug_assert_eq!(out.len(), m * n);
    let work = m * n * k;
    if work == 0 {
        if !accumulate {
            out.fill(E::zero());
        }
        return;
    }
    if work <= SMALL {
        if !accumulate || a.t || b.t {
            if !accumulate {
                return small(m, n, k, a, b, out);
            }
            // Accumulating transposed tiny products is not on any hot path: via a temporary.
            let mut tmp = vec![E::zero(); m * n];
            small(m, n, k, a, b, &mut tmp);
            out.iter_mut().zip(tmp).for_each(|(o, t)| *o += t);
            return;
        }
        return by_width!(n, nn_fixed_acc, nn_any_acc, (m, n, k, a, b, out));
    }
    let (ars, acs) = a.strides();
    let (brs, bcs) = b.strides();
    let par = if work >= PARALLEL {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the strides and sizes describe exactly the row-major slices `a`, `b` (read as
    // transposed when flagged) and `out`, whose lengths the backend checked; `out` is read only
    // when accumulating (`read_dst`), and it is initialised memory either way.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            acs,
            ars,
            b.data.as_ptr(),
            bcs,
            brs,
            // dst = alpha · dst + beta · lhs · rhs, dst read only when accumulating.
            if accumulate { E::one() } else { E::zero() },
            E::one(),
            false,
            false,
            false,
            par,
        )
    }
}

/// Plain loops for tiny products, one per transpose case, each with a contiguous inner loop.
fn small<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    match (a.t, b.t) {
        (false, false) => by_width!(n, nn_fixed, nn_any, (m, n, k, a, b, out)),
        (true, false) => by_width!(n, tn_fixed, tn_any, (m, n, k, a, b, out)),
        (false, true) => by_width!(k, nt_fixed, nt_any, (m, n, k, a, b, out)),
        (true, true) => tt_any(m, n, k, a, b, out),
    }
}

/// `out[i, :] = Σ_p a[i, p] · b[p, :]` with `n = N` columns, accumulated in registers.
fn nn_fixed<E: Float, const N: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
) {
    out.fill(E::zero());
    nn_fixed_acc::<E, N>(m, n, k, a, b, out)
}

/// `out[i, :] += Σ_p a[i, p] · b[p, :]` with `n = N` columns.
fn nn_fixed_acc<E: Float, const N: usize>(
    m: usize,
    _: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
) {
    for (i, orow) in out.chunks_exact_mut(N).enumerate().take(m) {
        let arow = &a.data[i * a.cols..i * a.cols + k];
        let mut acc: [E; N] = (&*orow).try_into().expect("N columns");
        for (p, &av) in arow.iter().enumerate() {
            let brow: &[E; N] = b.data[p * b.cols..p * b.cols + N]
                .try_into()
                .expect("N columns");
            for j in 0..N {
                acc[j] += av * brow[j];
            }
        }
        orow.copy_from_slice(&acc);
    }
}

fn nn_any<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    out.fill(E::zero());
    nn_any_acc(m, n, k, a, b, out)
}

fn nn_any_acc<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    for i in 0..m {
        let orow = &mut out[i * n..(i + 1) * n];
        for p in 0..k {
            let av = a.data[i * a.cols + p];
            for (o, &bv) in orow.iter_mut().zip(&b.data[p * b.cols..p * b.cols + n]) {
                *o += av * bv;
            }
        }
    }
}

/// `out = Σ_p a[p, :]ᵀ ⊗ b[p, :]` (a stored `k × m`) with `n = N` columns.
fn tn_fixed<E: Float, const N: usize>(
    m: usize,
    _: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
) {
    out.fill(E::zero());
    for p in 0..k {
        let arow = &a.data[p * a.cols..p * a.cols + m];
        let brow: &[E; N] = b.data[p * b.cols..p * b.cols + N]
            .try_into()
            .expect("N columns");
        for (orow, &av) in out.chunks_exact_mut(N).zip(arow) {
            for j in 0..N {
                orow[j] += av * brow[j];
            }
        }
    }
}

fn tn_any<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    out.fill(E::zero());
    for p in 0..k {
        let brow = &b.data[p * b.cols..p * b.cols + n];
        for i in 0..m {
            let av = a.data[p * a.cols + i];
            for (o, &bv) in out[i * n..(i + 1) * n].iter_mut().zip(brow) {
                *o += av * bv;
            }
        }
    }
}

/// `out[i, j] = a[i, :] · b[j, :]` (b stored `n × k`) with `k = K`.
fn nt_fixed<E: Float, const K: usize>(
    m: usize,
    n: usize,
    _: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
) {
    for i in 0..m {
        let arow: &[E; K] = a.data[i * a.cols..i * a.cols + K]
            .try_into()
            .expect("K columns");
        for (j, o) in out[i * n..(i + 1) * n].iter_mut().enumerate() {
            let brow: &[E; K] = b.data[j * b.cols..j * b.cols + K]
                .try_into()
                .expect("K columns");
            let mut s = E::zero();
            for p in 0..K {
                s += arow[p] * brow[p];
            }
            *o = s;
        }
    }
}

fn nt_any<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    for i in 0..m {
        let arow = &a.data[i * a.cols..i * a.cols + k];
        for j in 0..n {
            let brow = &b.data[j * b.cols..j * b.cols + k];
            out[i * n + j] = arow
                .iter()
                .zip(brow)
                .fold(E::zero(), |s, (&x, &y)| s + x * y);
        }
    }
}

fn tt_any<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = E::zero();
            for p in 0..k {
                s += a.data[p * a.cols + i] * b.data[j * b.cols + p];
            }
            out[i * n + j] = s;
        }
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
        for (m, n, k) in [
            (3, 4, 5),
            (30, 10, 2),
            (10, 3, 30),
            (30, 17, 17),
            (70, 50, 40),
            (130, 110, 120),
            (40, 40, 40),
        ] {
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
                let mut acc = vec![1.0; m * n];
                matmul_acc(m, n, k, oa, ob, &mut acc);
                let plus_one: Vec<f64> = want.iter().map(|w| w + 1.0).collect();
                assert_eq!(acc, plus_one, "accumulating {m}x{n}x{k} ta={ta} tb={tb}");
            }
        }
    }
}
