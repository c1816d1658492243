//! Matrix products on the CPU through the `gemm` crate: AVX-512, AVX2+FMA or scalar kernels,
//! picked at run time from what the CPU supports; threads only for large products.
//!
//! The book's matrices are tiny (30 × 2 · 2 × 10): there `gemm` spends most of its time
//! allocating and zeroing packing buffers sized for the L2 cache, so products of up to
//! [`SMALL`] multiply-adds run in plain loops instead.

use nn_core::Float;

/// Up to this many multiply-adds (`m·n·k`), plain loops.
pub const SMALL: usize = 32 * 32 * 32;
/// From this many multiply-adds on, `gemm` splits the work over threads: below it, waking a
/// sleeping pool can cost more than the second thread saves (docs/performance.md has the
/// measurements).
pub const PARALLEL: usize = 256 * 256 * 256;

/// The instruction set `gemm` picks on this CPU, by the same run-time test it makes:
/// `"avx512f"`, `"fma"` (AVX2 + FMA) or `"scalar"` on x86-64; `"neon"` on aarch64, where
/// every CPU has it.
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
    if cfg!(target_arch = "aarch64") {
        return "neon";
    }
    "scalar"
}

/// Row-major operand `x` of `rows × cols`, read as transposed when `t`.
#[derive(Clone, Copy, Debug)]
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

/// What each element of a product's output starts from before the products are added.
#[derive(Clone, Copy)]
enum Start<'a, E> {
    /// Zero: `out = op(a) · op(b)`.
    Zero,
    /// The output's own contents: `out += op(a) · op(b)`.
    Out,
    /// This row, in every row: `out = op(a) · op(b) + row` (the Affine bias).
    Row(&'a [E]),
}

impl<E: Float> Start<'_, E> {
    /// Sets a row's accumulators `acc` to where it starts; `own` is the row's current contents.
    #[inline(always)]
    fn init(self, acc: &mut [E], own: &[E]) {
        match self {
            Start::Zero => acc.fill(E::zero()),
            Start::Out => acc.copy_from_slice(own),
            Start::Row(row) => acc.copy_from_slice(row),
        }
    }
}

/// `out (m × n) = op(a) (m × k) · op(b) (k × n)`; `out` is overwritten.
pub fn matmul<E: Float>(m: usize, n: usize, k: usize, a: Operand<E>, b: Operand<E>, out: &mut [E]) {
    product(m, n, k, a, b, out, Start::Zero)
}

/// `out (m × n) += op(a) (m × k) · op(b) (k × n)`.
pub fn matmul_acc<E: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
) {
    product(m, n, k, a, b, out, Start::Out)
}

/// `out (m × n) = op(a) (m × k) · op(b) (k × n) + bias`, the `1 × n` bias added to every row
/// (the Affine forward). Tiny products start each row's sums from the bias; larger ones write
/// the bias rows first and let `gemm` add the product onto them, except when the output is
/// much larger than the weights (a language model's scores over its vocabulary): there the
/// bias is the last term of one product `[a 1] · [b; bias]`, so that the output is written
/// once instead of written, read back and written again.
pub fn matmul_bias<E: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    bias: &[E],
    out: &mut [E],
) {
    debug_assert_eq!(bias.len(), n);
    let work = m * n * k;
    if work > SMALL && m >= 4 * (k + 1) && !a.t && !b.t {
        return with_scratch(|a1: &mut Vec<E>, b1: &mut Vec<E>| {
            a1.clear();
            for row in a.data.chunks_exact(a.cols).take(m) {
                a1.extend_from_slice(&row[..k]);
                a1.push(E::one());
            }
            b1.clear();
            b1.extend_from_slice(&b.data[..k * n]);
            b1.extend_from_slice(bias);
            let (a1, b1) = (
                Operand {
                    data: a1,
                    cols: k + 1,
                    t: false,
                },
                Operand {
                    data: b1,
                    cols: n,
                    t: false,
                },
            );
            product(m, n, k + 1, a1, b1, out, Start::Zero)
        });
    }
    product(m, n, k, a, b, out, Start::Row(bias))
}

/// `f` with two scratch buffers of this thread's, kept between calls so that their pages are
/// not mapped afresh each time (`E` is f32 or f64: one pair for each).
fn with_scratch<E: Float, R>(f: impl FnOnce(&mut Vec<E>, &mut Vec<E>) -> R) -> R {
    use std::any::Any;
    use std::cell::RefCell;
    thread_local! {
        static SCRATCH: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| {
        let mut list = cell.borrow_mut();
        let pos = list.iter().position(|b| b.is::<(Vec<E>, Vec<E>)>());
        let mut pair = match pos {
            Some(i) => *list
                .swap_remove(i)
                .downcast::<(Vec<E>, Vec<E>)>()
                .expect("checked"),
            None => (Vec::new(), Vec::new()),
        };
        drop(list);
        let r = f(&mut pair.0, &mut pair.1);
        cell.borrow_mut().push(Box::new(pair));
        r
    })
}

fn product<E: Float>(
    m: usize,
    n: usize,
    k: usize,
    a: Operand<E>,
    b: Operand<E>,
    out: &mut [E],
    start: Start<'_, E>,
) {
    debug_assert_eq!(out.len(), m * n);
    let work = m * n * k;
    if work <= SMALL && work > 0 {
        return small_product(m, n, k, a, b, out, start);
    }
    let accumulate = match start {
        Start::Zero => false,
        Start::Out => true,
        Start::Row(row) => {
            for o in out.chunks_exact_mut(n.max(1)) {
                o.copy_from_slice(row);
            }
            true
        }
    };
    if work == 0 {
        if !accumulate {
            out.fill(E::zero());
        }
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

crate::simd::dispatched! {
    /// Products up to [`SMALL`] multiply-adds, without `gemm`'s packing.
    ///
    /// Each output row is a sum of rows of `op(b)` scaled by elements of `op(a)`, so the inner
    /// loop runs along the output's columns. When those are few (the book's 3 classes) and the
    /// rows many, the transposed product `outᵀ = op(b)ᵀ · op(a)ᵀ` is computed instead, so the
    /// inner loop runs along the batch; the choice is by an estimate of operations, counting
    /// the transposing copies either way needs.
    fn small_product<E: Float>(
        m: usize,
        n: usize,
        k: usize,
        a: Operand<E>,
        b: Operand<E>,
        out: &mut [E],
        start: Start<'_, E>,
    ) {
        // Vector operations: a broadcast and a row of products per (row, p), and about four per
        // element for a transposing copy, which does not vectorise.
        let direct = m * k * (1 + n.div_ceil(8)) + if b.t { 4 * k * n } else { 0 };
        let flipped = n * k * (1 + m.div_ceil(8)) + 4 * (if a.t { 0 } else { m * k } + m * n);
        let mut stack = [E::zero(); STACK];
        let mut heap = Vec::new();
        if direct <= flipped {
            let (ars, acs) = a.strides();
            let rhs = rows_of(b, k, n, &mut stack, &mut heap);
            return rows_times(m, n, a.data, ars as usize, acs as usize, rhs, out, start);
        }
        // outᵀ (n × m) = op(b)ᵀ · op(a)ᵀ, then written back transposed.
        let (brs, bcs) = b.strides();
        let mut out_stack = [E::zero(); STACK];
        let mut out_heap = Vec::new();
        let out_t = if m * n <= STACK {
            &mut out_stack[..m * n]
        } else {
            out_heap.resize(m * n, E::zero());
            &mut out_heap[..]
        };
        let rhs = rows_of(a.transposed(), k, m, &mut stack, &mut heap);
        rows_times(n, m, b.data, bcs as usize, brs as usize, rhs, out_t, Start::Zero);
        for (i, orow) in out.chunks_exact_mut(n).enumerate() {
            for (j, o) in orow.iter_mut().enumerate() {
                let v = out_t[j * m + i];
                *o = match start {
                    Start::Zero => v,
                    Start::Out => *o + v,
                    Start::Row(row) => row[j] + v,
                };
            }
        }
    }
}

/// Rows computed together by the narrow-output product loop.
const ROWS: usize = 4;

/// Transposing copies of up to this many elements live on the stack (zeroed on every call, so
/// it is kept small: the book's weights are 30 elements).
const STACK: usize = 64;

impl<'a, E: Float> Operand<'a, E> {
    /// The same matrix read the other way round: `op(x)ᵀ`.
    fn transposed(self) -> Self {
        Operand { t: !self.t, ..self }
    }
}

/// `op(x)` (`rows × cols`) as contiguous row-major rows: the data itself when not transposed,
/// else a transposing copy into `stack` (or `heap` when it does not fit).
#[inline(always)]
fn rows_of<'a, E: Float>(
    x: Operand<'a, E>,
    rows: usize,
    cols: usize,
    stack: &'a mut [E; STACK],
    heap: &'a mut Vec<E>,
) -> &'a [E] {
    if !x.t {
        return &x.data[..rows * cols];
    }
    let dst = if rows * cols <= STACK {
        &mut stack[..rows * cols]
    } else {
        heap.resize(rows * cols, E::zero());
        &mut heap[..]
    };
    // x is stored cols × rows.
    for (c, src) in x.data.chunks_exact(x.cols).take(cols).enumerate() {
        for (r, &v) in src.iter().take(rows).enumerate() {
            dst[r * cols + c] = v;
        }
    }
    dst
}

/// `out[i, :] = start + Σ_p lhs[i·rs + p·cs] · rhs[p, :]`: `out` is `m × n`, `rhs` is `k × n`
/// row-major, `lhs` any strided `m × k`. Widths up to 16 are constants, so a row of `out`
/// stays in registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_times<E: Float>(
    m: usize,
    n: usize,
    lhs: &[E],
    rs: usize,
    cs: usize,
    rhs: &[E],
    out: &mut [E],
    start: Start<'_, E>,
) {
    by_width!(
        n,
        rows_fixed,
        rows_any,
        (m, n, lhs, rs, cs, rhs, out, start)
    )
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_fixed<E: Float, const N: usize>(
    m: usize,
    _: usize,
    lhs: &[E],
    rs: usize,
    cs: usize,
    rhs: &[E],
    out: &mut [E],
    start: Start<'_, E>,
) {
    let k = rhs.len() / N;
    // Narrow outputs (the book's 3 classes) with contiguous rows: four rows at once, so four
    // independent chains of additions overlap instead of each row waiting on its own. Wider
    // outputs gain nothing from it.
    let blocks = if N < 8 && cs == 1 { m / ROWS } else { 0 };
    for (bi, ob) in out.chunks_exact_mut(ROWS * N).enumerate().take(blocks) {
        let i = ROWS * bi;
        let mut acc = [[E::zero(); N]; ROWS];
        for (a, own) in acc.iter_mut().zip(ob.as_chunks::<N>().0) {
            start.init(a, own);
        }
        let rows: [&[E]; ROWS] = std::array::from_fn(|r| &lhs[(i + r) * rs..(i + r) * rs + k]);
        for (p, brow) in rhs.as_chunks::<N>().0.iter().enumerate() {
            for (a, row) in acc.iter_mut().zip(&rows) {
                let x = row[p];
                for j in 0..N {
                    a[j] += x * brow[j];
                }
            }
        }
        for (o, a) in ob.as_chunks_mut::<N>().0.iter_mut().zip(&acc) {
            *o = *a;
        }
    }
    let done = ROWS * blocks;
    let (out, lhs) = (&mut out[done * N..], &lhs[(done * rs).min(lhs.len())..]);
    for (i, orow) in out
        .as_chunks_mut::<N>()
        .0
        .iter_mut()
        .enumerate()
        .take(m - done)
    {
        let mut acc = [E::zero(); N];
        start.init(&mut acc, orow);
        if cs == 1 {
            // A contiguous row of lhs: no index arithmetic or bounds check per element.
            for (&av, brow) in lhs[i * rs..i * rs + k].iter().zip(rhs.as_chunks::<N>().0) {
                for j in 0..N {
                    acc[j] += av * brow[j];
                }
            }
        } else {
            for (p, brow) in rhs.as_chunks::<N>().0.iter().enumerate() {
                let av = lhs[i * rs + p * cs];
                for j in 0..N {
                    acc[j] += av * brow[j];
                }
            }
        }
        *orow = acc;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn rows_any<E: Float>(
    m: usize,
    n: usize,
    lhs: &[E],
    rs: usize,
    cs: usize,
    rhs: &[E],
    out: &mut [E],
    start: Start<'_, E>,
) {
    for (i, orow) in out.chunks_exact_mut(n).enumerate().take(m) {
        match start {
            Start::Zero => orow.fill(E::zero()),
            Start::Out => {}
            Start::Row(row) => orow.copy_from_slice(row),
        }
        for (p, brow) in rhs.chunks_exact(n).enumerate() {
            axpy_row(orow, lhs[i * rs + p * cs], brow);
        }
    }
}

/// `c += a · b` in fixed blocks of 16 and 8 (whole vectors at any width), then one by one.
#[inline(always)]
fn axpy_row<E: Float>(c: &mut [E], a: E, b: &[E]) {
    let ((c16, c), (b16, b)) = (c.as_chunks_mut::<16>(), b.as_chunks::<16>());
    for (x, y) in c16.iter_mut().zip(b16) {
        for j in 0..16 {
            x[j] += a * y[j];
        }
    }
    let ((c8, c), (b8, b)) = (c.as_chunks_mut::<8>(), b.as_chunks::<8>());
    for (x, y) in c8.iter_mut().zip(b8) {
        for j in 0..8 {
            x[j] += a * y[j];
        }
    }
    for (x, &y) in c.iter_mut().zip(b) {
        *x += a * y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `op(x)` from its stored form: `x` (`cols` wide) or, transposed, `xt` (`rows` wide).
    fn op<'a, E>(t: bool, x: &'a [E], xt: &'a [E], rows: usize, cols: usize) -> Operand<'a, E> {
        Operand {
            data: if t { xt } else { x },
            cols: if t { rows } else { cols },
            t,
        }
    }

    /// `op(a) · op(b)` of integer-valued `m × k` and `k × n` matrices against the definition,
    /// for every transpose case and each start (zero, accumulate, bias), compared exactly
    /// (every sum is an integer or a half well inside `E`'s mantissa).
    fn check_against_definition<E: Float>(m: usize, n: usize, k: usize) {
        let a: Vec<E> = (0..m * k).map(|i| E::of((i % 7) as f64 - 3.0)).collect();
        let b: Vec<E> = (0..k * n).map(|i| E::of((i % 5) as f64 * 0.5)).collect();
        let want: Vec<E> = (0..m * n)
            .map(|ij| {
                let dot: f64 = (0..k)
                    .map(|p| a[ij / n * k + p].f64() * b[p * n + ij % n].f64())
                    .sum();
                E::of(dot)
            })
            .collect();
        let at: Vec<E> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let bt: Vec<E> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let (oa, ob) = (op(ta, &a, &at, m, k), op(tb, &b, &bt, k, n));
            let case = format!("{m}x{n}x{k} ta={ta} tb={tb}");
            let mut out = vec![E::of(f64::NAN); m * n];
            matmul(m, n, k, oa, ob, &mut out);
            assert_eq!(out, want, "{case}");
            let mut acc = vec![E::one(); m * n];
            matmul_acc(m, n, k, oa, ob, &mut acc);
            let plus_one: Vec<E> = want.iter().map(|&w| w + E::one()).collect();
            assert_eq!(acc, plus_one, "accumulating {case}");
            let bias: Vec<E> = (0..n).map(|j| E::of(j as f64 - 2.5)).collect();
            let mut biased = vec![E::of(f64::NAN); m * n];
            matmul_bias(m, n, k, oa, ob, &bias, &mut biased);
            let with_bias: Vec<E> = (0..m * n).map(|ij| want[ij] + bias[ij % n]).collect();
            assert_eq!(biased, with_bias, "with a bias {case}");
        }
    }

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
        let shapes: &[(usize, usize, usize)] = if cfg!(miri) {
            // `cargo xtask miri`: a small product and one just past SMALL (through `gemm` on
            // one thread); Miri takes about 80 s for the two.
            &[(3, 4, 5), (33, 33, 31)]
        } else {
            &[
                (3, 4, 5),
                (30, 10, 2),
                (10, 3, 30),
                (30, 17, 17),
                (70, 50, 40),
                (130, 110, 120),
                (40, 40, 40),
            ]
        };
        for &(m, n, k) in shapes {
            check_against_definition::<f64>(m, n, k);
        }
    }

    /// The small-product paths over every output width up to 20 (the constant widths 1 to 16
    /// and the general loop), row counts around the 4-row blocks, direct and flipped products
    /// (chosen by shape and transposes), stack and heap transposing copies; in f32 and f64.
    #[test]
    fn every_small_shape_agrees_with_the_definition() {
        for m in 1..=20 {
            for n in 1..=20 {
                for k in [1, 2, 3, 5, 8, 31] {
                    check_against_definition::<f32>(m, n, k);
                    check_against_definition::<f64>(m, n, k);
                }
            }
        }
    }
}
