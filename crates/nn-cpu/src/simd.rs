//! The element-wise loops, compiled once per instruction set and picked at run time.
//!
//! A binary built for plain x86-64 only has SSE2; the book's step is a few dozen loops over a
//! few hundred elements, so how wide those loops are decides its speed. Each function here is
//! compiled for AVX-512, for AVX2 + FMA and for the baseline by the `multiversion` crate, which
//! tests the CPU once and then calls the best version directly. The closures and the
//! exponential are inlined into each version, so they are vectorised at its width.
//!
//! The exponential is the usual range reduction (`x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`) with a
//! polynomial for `exp(r)` and the exponent bits written directly, so it vectorises where the
//! C library's `exp` is a call per element. It is within a few ulp of `exp` (tested against it),
//! propagates NaN, overflows to `+∞` and flushes results below the smallest normal number to 0.
//! The logarithm ([`ln_f32`], [`ln_f64`]) is built the same way, for the cross-entropy loss.
//!
//! Their `FMA` parameter fuses each step of the polynomials into one multiply-add. The
//! dispatched functions set it to whether their version has the `fma` target feature (the
//! AVX-512 and AVX2 ones): a fused step is one instruction where two were and rounds once
//! where two did (the f64 sigmoid's AVX-512 loop, 8 values a turn, is 46 instructions instead
//! of 56). Without the feature, `mul_add` would be a library call per element, so the baseline
//! keeps separate products and sums. Both are within the same bounds of libm (tested); they
//! agree to an ulp or so, not bit for bit.

use crate::storage::CpuFloat;
use multiversion::target::target_cfg_f;

/// Applies `#[multiversion]` with the library's targets to each function.
macro_rules! dispatched {
    ($($item:item)*) => {$(
        #[::multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512cd+avx512dq+avx512vl+avx2+fma",
            "x86_64+avx2+fma",
            "aarch64+neon",
        ))]
        $item
    )*};
}
pub(crate) use dispatched;

/// `a · b + c`: fused (one rounding) when `FMA`, else a product and a sum.
#[inline(always)]
fn madd<T: nn_core::Float, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `exp(x)` for `f32`, vectorisable (see the module documentation for `FMA`).
#[inline(always)]
pub fn exp_f32<const FMA: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that `n · LN2_HI` is exact for the `n` that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 · 2²³ rounds to an integer, which then sits in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    const OVER: f32 = 88.722_84;
    const UNDER: f32 = -87.336_55;
    // Keeps n in [-126, 128] (out-of-range x are answered by the selects at the end); r is
    // taken from the unclamped x, so NaN stays NaN.
    let xc = x.clamp(-88.0, 89.0);
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Cephes' minimax polynomial for exp(r) on |r| ≤ ln 2 / 2.
    let mut p = 1.987_569_1e-4_f32;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = madd::<f32, FMA>(p, r, c);
    }
    let y = (p * (r * r) + r) + 1.0;
    // 2ⁿ from the exponent bits; n = 128 (just below overflow) as 2¹²⁷ · 2.
    let big = n > 127.0;
    let t = if big { t - 1.0 } else { t };
    let scale = f32::from_bits(t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127) << 23);
    let y = y * scale;
    if x > OVER {
        f32::INFINITY
    } else if x < UNDER {
        0.0
    } else if big {
        y * 2.0
    } else {
        y
    }
}

/// `exp(x)` for `f64`, vectorisable (see the module documentation for `FMA`).
#[inline(always)]
pub fn exp_f64<const FMA: bool>(x: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    // fdlibm's split of ln 2.
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 · 2⁵²
    const OVER: f64 = 709.782_712_893_384;
    const UNDER: f64 = -708.396_418_532_264_1;
    // n in [-1022, 1024], as for f32.
    let xc = x.clamp(-709.0, 710.0);
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series to r¹³: the first left-out term is below 5e-18 for |r| ≤ ln 2 / 2.
    const INV_FACT: [f64; 12] = [
        1.0 / 6_227_020_800.0,
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let mut p = INV_FACT[0];
    for c in &INV_FACT[1..] {
        p = madd::<f64, FMA>(p, r, *c);
    }
    let y = (p * (r * r) + r) + 1.0;
    let big = n > 1023.0;
    let t = if big { t - 1.0 } else { t };
    let scale = f64::from_bits(t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(1023) << 52);
    let y = y * scale;
    if x > OVER {
        f64::INFINITY
    } else if x < UNDER {
        0.0
    } else if big {
        y * 2.0
    } else {
        y
    }
}

/// `ln(x)` for `f64`, vectorisable: `x = m · 2ᵉ` with `m` in `[√½, √2)`, then
/// `ln m = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, by its series (exact coefficients `1/(2k+1)`;
/// `|s| ≤ 0.172`, so twelve terms reach 1e-18). Within a few ulp of `ln` (tested); NaN and
/// negative inputs give NaN, 0 gives `-∞`, `+∞` gives `+∞`, subnormal inputs are scaled first.
#[inline(always)]
pub fn ln_f64<const FMA: bool>(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    let tiny = x < f64::MIN_POSITIVE;
    const TWO_54: f64 = 18_014_398_509_481_984.0;
    let xs = if tiny { x * TWO_54 } else { x };
    let bits = xs.to_bits();
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    let e = ((bits >> 52) & 0x7ff) as i32 - if tiny { 1023 + 54 } else { 1023 };
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = f64::from(if big { e + 1 } else { e });
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = 1.0 / 25.0;
    for k in (1..12).rev() {
        p = madd::<f64, FMA>(p, s2, 1.0 / f64::from(2 * k + 1));
    }
    let y = e * LN2_HI + ((2.0 * s) * (s2 * p) + e * LN2_LO + 2.0 * s);
    if x.is_nan() || x < 0.0 {
        f64::NAN
    } else if x == 0.0 {
        f64::NEG_INFINITY
    } else if x == f64::INFINITY {
        x
    } else {
        y
    }
}

/// `ln(x)` for `f32`, as [`ln_f64`] (six terms of the series).
#[inline(always)]
pub fn ln_f32<const FMA: bool>(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let tiny = x < f32::MIN_POSITIVE;
    const TWO_24: f32 = 16_777_216.0;
    let xs = if tiny { x * TWO_24 } else { x };
    let bits = xs.to_bits();
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // [1, 2)
    let e = ((bits >> 23) & 0xff) as i32 - if tiny { 127 + 24 } else { 127 };
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = (if big { e + 1 } else { e }) as f32;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = 1.0 / 13.0;
    for k in (1..6).rev() {
        p = madd::<f32, FMA>(p, s2, 1.0 / (2 * k + 1) as f32);
    }
    let y = e * LN2_HI + ((2.0 * s) * (s2 * p) + e * LN2_LO + 2.0 * s);
    if x.is_nan() || x < 0.0 {
        f32::NAN
    } else if x == 0.0 {
        f32::NEG_INFINITY
    } else if x == f32::INFINITY {
        x
    } else {
        y
    }
}

/// `tanh(x)` for `f64`, vectorisable: Cephes' rational approximation for `|x| < 0.625` and
/// `1 - 2 / (exp(2|x|) + 1)` beyond, where no cancellation can occur. Within a few ulp of
/// `tanh` (tested); NaN stays NaN, `±∞` gives `±1`.
#[inline(always)]
pub fn tanh_f64<const FMA: bool>(x: f64) -> f64 {
    let a = x.abs();
    let e = exp_f64::<FMA>(2.0 * a);
    let big = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    let z = x * x;
    let p = madd::<f64, FMA>(
        madd::<f64, FMA>(-9.643_991_794_250_523e-1, z, -9.928_772_310_019_186e1),
        z,
        -1.614_687_684_417_084_5e3,
    );
    let q = madd::<f64, FMA>(
        madd::<f64, FMA>(z + 1.128_116_784_916_329_3e2, z, 2.235_488_390_601_004_5e3),
        z,
        4.844_063_053_251_255e3,
    );
    let small = x + x * (z * p / q);
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// `tanh(x)` for `f32`, as [`tanh_f64`] with Cephes' single-precision polynomial.
#[inline(always)]
pub fn tanh_f32<const FMA: bool>(x: f32) -> f32 {
    let a = x.abs();
    let e = exp_f32::<FMA>(2.0 * a);
    let big = (1.0 - 2.0 / (e + 1.0)).copysign(x);
    let z = x * x;
    let mut p = -5.704_988_7e-3_f32;
    for c in [2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1] {
        p = madd::<f32, FMA>(p, z, c);
    }
    let small = madd::<f32, FMA>(p * z, x, x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

/// `1 / (1 + exp(-x))`, inlined.
#[inline(always)]
fn sig<E: CpuFloat, const FMA: bool>(x: E) -> E {
    E::one() / (E::one() + (-x).exp_fast::<FMA>())
}

dispatched! {
    /// `out[i] = tanh(x[i])`.
    pub fn tanh<E: CpuFloat>(x: &[E], out: &mut [E]) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v.tanh_fast::<FMA>();
        }
    }

    /// One RNN step: `out[r, :] = tanh((hw[r, :] + xw[r, :]) + b)`, rows `b.len()` wide.
    pub fn rnn_step<E: CpuFloat>(hw: &[E], xw: &[E], b: &[E], out: &mut [E]) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        let h = b.len().max(1);
        for ((o, hr), xr) in out.chunks_exact_mut(h).zip(hw.chunks_exact(h)).zip(xw.chunks_exact(h)) {
            for (((o, &p), &q), &c) in o.iter_mut().zip(hr).zip(xr).zip(b) {
                *o = ((p + q) + c).tanh_fast::<FMA>();
            }
        }
    }

    /// One LSTM step over rows of `H = c.len() / rows` units: the gates `f, g, i, o` (`4H`
    /// wide, written activated into `gates`), the cell `c` and the output `h`.
    #[allow(clippy::too_many_arguments)]
    pub fn lstm_step<E: CpuFloat>(
        xw: &[E],
        hw: &[E],
        b: &[E],
        c_prev: &[E],
        gates: &mut [E],
        c: &mut [E],
        h: &mut [E],
    ) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        let h4 = b.len().max(4);
        let hh = h4 / 4;
        let rows = gates.chunks_exact_mut(h4).zip(xw.chunks_exact(h4)).zip(hw.chunks_exact(h4));
        for (r, ((g, xr), hr)) in rows.enumerate() {
            for (((a, &p), &q), &bias) in g.iter_mut().zip(xr).zip(hr).zip(b) {
                *a = (p + q) + bias;
            }
            let (f, rest) = g.split_at_mut(hh);
            let (gg, rest) = rest.split_at_mut(hh);
            let (i, o) = rest.split_at_mut(hh);
            for v in f.iter_mut().chain(i.iter_mut()).chain(o.iter_mut()) {
                *v = sig::<E, FMA>(*v);
            }
            for v in gg.iter_mut() {
                *v = v.tanh_fast::<FMA>();
            }
            let span = r * hh..(r + 1) * hh;
            let (cp, cr, hr) = (&c_prev[span.clone()], &mut c[span.clone()], &mut h[span]);
            for j in 0..hh {
                let cn = f[j] * cp[j] + gg[j] * i[j];
                cr[j] = cn;
                hr[j] = o[j] * cn.tanh_fast::<FMA>();
            }
        }
    }

    /// The LSTM step's backward (see `Backend::lstm_step_backward`) over rows of `hh` units:
    /// `da` (`4·hh` wide) from `dh` (plus `dh_next`), the carried `dc` (updated in place), the cells and the gates.
    #[allow(clippy::too_many_arguments)]
    pub fn lstm_step_backward<E: CpuFloat>(
        hh: usize,
        dh: &[E],
        dh_next: Option<&[E]>,
        c_prev: &[E],
        c: &[E],
        gates: &[E],
        dc: &mut [E],
        da: &mut [E],
    ) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        let h4 = 4 * hh.max(1);
        let one = E::one();
        for (r, (g, d)) in gates.chunks_exact(h4).zip(da.chunks_exact_mut(h4)).enumerate() {
            let span = r * hh..(r + 1) * hh;
            let (f, gg, i, o) = (&g[..hh], &g[hh..2 * hh], &g[2 * hh..3 * hh], &g[3 * hh..]);
            let (df, rest) = d.split_at_mut(hh);
            let (dg, rest) = rest.split_at_mut(hh);
            let (di, d_o) = rest.split_at_mut(hh);
            let (dhr, cp, cr) = (&dh[span.clone()], &c_prev[span.clone()], &c[span.clone()]);
            let dnr = dh_next.map(|n| &n[span.clone()]);
            let dcr = &mut dc[span];
            for j in 0..hh {
                let dht = match dnr {
                    Some(n) => dhr[j] + n[j],
                    None => dhr[j],
                };
                let tc = cr[j].tanh_fast::<FMA>();
                let ds = dcr[j] + (dht * o[j]) * (one - tc * tc);
                dcr[j] = ds * f[j];
                df[j] = (ds * cp[j]) * (f[j] * (one - f[j]));
                dg[j] = (ds * i[j]) * (one - gg[j] * gg[j]);
                di[j] = (ds * gg[j]) * (i[j] * (one - i[j]));
                d_o[j] = (dht * tc) * (o[j] * (one - o[j]));
            }
        }
    }

    /// `Σ ln y[r, labels[r]]` over the rows whose label is not `ignore` (`cols` wide; the
    /// others' labels in range), and how many rows that is.
    pub fn sum_log_picked_masked<E: CpuFloat>(y: &[E], cols: usize, labels: &[u32], ignore: u32) -> (E, usize) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        let mut total = E::zero();
        let mut count = 0;
        for (rows, labs) in y.chunks(cols * 64).zip(labels.chunks(64)) {
            let mut picked = [E::one(); 64];
            for ((p, row), &l) in picked.iter_mut().zip(rows.chunks_exact(cols)).zip(labs) {
                if l != ignore {
                    *p = row[l as usize];
                    count += 1;
                }
            }
            let used = labs.len().div_ceil(8) * 8;
            for p in picked[..used].iter_mut() {
                *p = p.ln_fast::<FMA>();
            }
            // An ignored row adds ln 1 = 0, which leaves the sum as it is.
            total = picked[..labs.len()].iter().fold(total, |s, &v| s + v);
        }
        (total, count)
    }
}

dispatched! {
    /// `out[i] = 1 / (1 + exp(-x[i]))`.
    pub fn sigmoid<E: CpuFloat>(x: &[E], out: &mut [E]) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        for (o, &v) in out.iter_mut().zip(x) {
            *o = E::one() / (E::one() + (-v).exp_fast::<FMA>());
        }
    }

    /// Row-wise softmax in place (`cols` wide): subtract each row's maximum, exponentiate the
    /// whole buffer at once (vectorised across rows, which are only a few classes wide), divide
    /// each row by its sum. Widths up to 16 are constants, so the row loops are straight code.
    ///
    /// Wider rows (a vocabulary) are done one at a time, all three passes while the row is in
    /// cache, each row's sum NumPy's pairwise one.
    pub fn softmax_rows<E: CpuFloat>(v: &mut [E], cols: usize) {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        if cols > 16 {
            for row in v.chunks_exact_mut(cols) {
                let m = max_of(row);
                for e in row.iter_mut() {
                    *e = (*e - m).exp_fast::<FMA>();
                }
                let sum = pairwise_sum(row);
                for e in row.iter_mut() {
                    *e /= sum;
                }
            }
            return;
        }
        by_width!(cols, softmax_fixed, softmax_any, (v, cols));
        for e in v.iter_mut() {
            *e = e.exp_fast::<FMA>();
        }
        by_width!(cols, normalise_fixed, normalise_any, (v, cols));
    }

    /// `Σ_i ln(y[i, labels[i]] + eps)` over the rows of `y` (`cols` wide; labels in range).
    pub fn sum_log_picked<E: CpuFloat>(y: &[E], cols: usize, labels: &[u32], eps: E) -> E {
        const FMA: bool = target_cfg_f!(target_feature = "fma");
        // Gathered first, so that the logarithms run as whole vectors.
        let mut total = E::zero();
        for (rows, labs) in y.chunks(cols * 64).zip(labels.chunks(64)) {
            let mut picked = [E::one(); 64];
            for ((p, row), &l) in picked.iter_mut().zip(rows.chunks_exact(cols)).zip(labs) {
                *p = row[l as usize] + eps;
            }
            // Whole blocks of 8, so the tail costs at most 7 spare logarithms of 1.
            let used = labs.len().div_ceil(8) * 8;
            for p in picked[..used].iter_mut() {
                *p = p.ln_fast::<FMA>();
            }
            total = picked[..labs.len()].iter().fold(total, |s, &v| s + v);
        }
        total
    }

    /// `out[i] = f(x[i])`.
    pub fn map_into<E: CpuFloat>(x: &[E], out: &mut [E], f: impl Fn(E) -> E) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    }

    /// `x[i] = f(x[i])`, in place.
    pub fn apply<E: CpuFloat>(x: &mut [E], f: impl Fn(E) -> E) {
        for v in x.iter_mut() {
            *v = f(*v);
        }
    }

    /// `out[i, :] = x[i, :] + row` for every row of `x` (`row.len()` wide).
    pub fn add_row<E: CpuFloat>(x: &[E], row: &[E], out: &mut [E]) {
        let cols = row.len().max(1);
        for (o, xr) in out.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
            for ((o, &a), &b) in o.iter_mut().zip(xr).zip(row) {
                *o = a + b;
            }
        }
    }

    /// `out[i] = f(a[i], b[i])`.
    pub fn zip_into<E: CpuFloat>(a: &[E], b: &[E], out: &mut [E], f: impl Fn(E, E) -> E) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    }

    /// `f(&mut y[i], x[i])` for every `i`.
    pub fn update<E: CpuFloat>(y: &mut [E], x: &[E], f: impl Fn(&mut E, E)) {
        for (a, &b) in y.iter_mut().zip(x) {
            f(a, b);
        }
    }

    /// `acc[j] += Σ_i x[i, j]` over the rows of `x` (`cols` wide); widths up to 16 are
    /// constants, so `acc` stays in registers.
    pub fn add_rows<E: CpuFloat>(x: &[E], cols: usize, acc: &mut [E]) {
        by_width!(cols, add_rows_fixed, add_rows_any, (x, cols, acc))
    }

    /// `acc[j] += Σ_i x[i, start + j]`: [`add_rows`] over the columns `start..start +
    /// acc.len()` of rows `cols` wide, so that threads can share the columns of a wide matrix.
    pub fn add_rows_of_columns<E: CpuFloat>(x: &[E], cols: usize, start: usize, acc: &mut [E]) {
        let w = acc.len();
        for row in x.chunks_exact(cols) {
            for (a, &v) in acc.iter_mut().zip(&row[start..start + w]) {
                *a += v;
            }
        }
    }

    /// `out[r, :] = src[idx[r], :]` for rows `cols` wide; widths up to 16 are copied as
    /// constants (a call to `memcpy` per row cost more than the book's 2-wide rows).
    pub fn gather<E: CpuFloat>(src: &[E], idx: &[u32], cols: usize, out: &mut [E]) {
        by_width!(cols, gather_fixed, gather_any, (src, idx, cols, out))
    }

    /// `Σ x[i]²`.
    pub fn sum_squares<E: CpuFloat>(x: &[E]) -> E {
        // Eight partial sums, so the loop vectorises without reassociating floats.
        let mut acc = [E::zero(); 8];
        let (chunks, rest) = x.as_chunks::<8>();
        for c in chunks {
            for (a, &v) in acc.iter_mut().zip(c) {
                *a += v * v;
            }
        }
        let rest = rest.iter().fold(E::zero(), |s, &v| s + v * v);
        acc.iter().fold(E::zero(), |s, &a| s + a) + rest
    }
}

/// The largest of `x` (`-∞` for none), by 16 running maxima so that the loop vectorises.
#[inline(always)]
fn max_of<E: CpuFloat>(x: &[E]) -> E {
    let mut m = [E::neg_infinity(); 16];
    let (chunks, rest) = x.as_chunks::<16>();
    for c in chunks {
        for (a, &v) in m.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    let m = m
        .iter()
        .fold(E::neg_infinity(), |a, &b| if b > a { b } else { a });
    rest.iter().fold(m, |a, &b| if b > a { b } else { a })
}

/// NumPy's pairwise sum of contiguous values (what `np.sum` does along a row): up to 128
/// values by eight running sums combined as a tree, then the rest one by one; more split in
/// two at a multiple of 8. It vectorises, and rounds as NumPy does.
#[inline(always)]
pub fn pairwise_sum<E: nn_core::Float>(x: &[E]) -> E {
    let n = x.len();
    if n < 8 {
        return x.iter().fold(E::zero(), |s, &v| s + v);
    }
    if n <= 128 {
        let mut r = [E::zero(); 8];
        r.copy_from_slice(&x[..8]);
        let whole = n - n % 8;
        for c in x[8..whole].as_chunks::<8>().0 {
            for (a, &v) in r.iter_mut().zip(c) {
                *a += v;
            }
        }
        let s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        return x[whole..].iter().fold(s, |s, &v| s + v);
    }
    let half = n / 2;
    let half = half - half % 8;
    pairwise_sum(&x[..half]) + pairwise_sum(&x[half..])
}

#[inline(always)]
fn softmax_fixed<E: CpuFloat, const N: usize>(v: &mut [E], _: usize) {
    for row in v.as_chunks_mut::<N>().0 {
        let m = row.iter().fold(E::neg_infinity(), |m, &e| m.max(e));
        for e in row.iter_mut() {
            *e -= m;
        }
    }
}

#[inline(always)]
fn softmax_any<E: CpuFloat>(v: &mut [E], cols: usize) {
    for row in v.chunks_exact_mut(cols) {
        let m = row.iter().fold(E::neg_infinity(), |m, &e| m.max(e));
        row.iter_mut().for_each(|e| *e -= m);
    }
}

#[inline(always)]
fn normalise_fixed<E: CpuFloat, const N: usize>(v: &mut [E], _: usize) {
    for row in v.as_chunks_mut::<N>().0 {
        let sum = row.iter().fold(E::zero(), |s, &e| s + e);
        for e in row.iter_mut() {
            *e /= sum;
        }
    }
}

#[inline(always)]
fn normalise_any<E: CpuFloat>(v: &mut [E], cols: usize) {
    for row in v.chunks_exact_mut(cols) {
        let sum = row.iter().fold(E::zero(), |s, &e| s + e);
        row.iter_mut().for_each(|e| *e /= sum);
    }
}

#[inline(always)]
fn add_rows_fixed<E: CpuFloat, const N: usize>(x: &[E], _: usize, acc: &mut [E]) {
    let mut sum = [E::zero(); N];
    sum.copy_from_slice(&acc[..N]);
    for row in x.as_chunks::<N>().0 {
        for j in 0..N {
            sum[j] += row[j];
        }
    }
    acc[..N].copy_from_slice(&sum);
}

#[inline(always)]
fn add_rows_any<E: CpuFloat>(x: &[E], cols: usize, acc: &mut [E]) {
    for row in x.chunks_exact(cols) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
}

#[inline(always)]
fn gather_fixed<E: CpuFloat, const N: usize>(src: &[E], idx: &[u32], _: usize, out: &mut [E]) {
    let rows = src.as_chunks::<N>().0;
    for (o, &i) in out.as_chunks_mut::<N>().0.iter_mut().zip(idx) {
        *o = rows[i as usize];
    }
}

#[inline(always)]
fn gather_any<E: CpuFloat>(src: &[E], idx: &[u32], cols: usize, out: &mut [E]) {
    for (o, &i) in out.chunks_exact_mut(cols).zip(idx) {
        let i = i as usize * cols;
        o.copy_from_slice(&src[i..i + cols]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error against the C library's `exp`, in units of the type's epsilon.
    fn worst<E: CpuFloat, const FMA: bool>(xs: impl Iterator<Item = f64>) -> f64 {
        let mut worst: f64 = 0.0;
        for x in xs {
            let x = E::of(x);
            let (got, want) = (x.exp_fast::<FMA>(), x.exp());
            if want.f64() < E::min_positive_value().f64() {
                assert_eq!(got, E::zero(), "exp({x}) flushes to 0");
                continue;
            }
            let rel = ((got - want) / want).f64().abs() / E::epsilon().f64();
            worst = worst.max(rel);
        }
        worst
    }

    /// Both variants, fused and not (the fused one through the library's `fma` here, which
    /// rounds as the instruction does).
    fn exp_within_a_few_ulp<const FMA: bool>() {
        let grid = |lo: f64, hi: f64| (0..200_001).map(move |i| lo + (hi - lo) * i as f64 / 2e5);
        // Measured: 1.0 ulp for both, fused or not; the bound leaves room for other compilers
        // and CPUs.
        let w32 = worst::<f32, FMA>(grid(-87.3, 88.7));
        let w64 = worst::<f64, FMA>(grid(-708.3, 709.7));
        eprintln!("exp (FMA {FMA}): worst relative error f32 {w32:.2} ulp, f64 {w64:.2} ulp");
        assert!(w32 <= 4.0, "f32 exp off by {w32} ulp");
        assert!(w64 <= 4.0, "f64 exp off by {w64} ulp");
        assert!(worst::<f32, FMA>(grid(-1.0, 1.0)) <= 4.0);
        assert!(worst::<f64, FMA>(grid(-1.0, 1.0)) <= 4.0);
    }

    #[test]
    fn exp_is_within_a_few_ulp_of_libm_over_the_whole_range() {
        exp_within_a_few_ulp::<false>();
        exp_within_a_few_ulp::<true>();
    }

    fn ln_within_a_few_ulp<const FMA: bool>() {
        let mut w32: f64 = 0.0;
        let mut w64: f64 = 0.0;
        // Log-spaced over the whole positive range, subnormals included, plus around 1.
        let xs = (0..400_001).map(|i| (i as f64 / 400_000.0 * 1480.0 - 745.0).exp());
        for x in xs.chain((0..100_001).map(|i| 0.5 + i as f64 / 1e5)) {
            let x32 = x as f32;
            if x32 > 0.0 && x32.is_finite() {
                let (got, want) = (ln_f32::<FMA>(x32) as f64, (x32 as f64).ln());
                // Near ln = 0 compare absolutely (relative error is unbounded there).
                w32 = w32.max((got - want).abs() / want.abs().max(1.0) / f32::EPSILON as f64);
            }
            if x > 0.0 && x.is_finite() {
                let (got, want) = (ln_f64::<FMA>(x), x.ln());
                w64 = w64.max((got - want).abs() / want.abs().max(1.0) / f64::EPSILON);
            }
        }
        eprintln!("ln (FMA {FMA}): worst error f32 {w32:.2} ulp, f64 {w64:.2} ulp");
        assert!(w32 <= 4.0, "f32 ln off by {w32} ulp");
        assert!(w64 <= 4.0, "f64 ln off by {w64} ulp");
        assert!(ln_f32::<FMA>(f32::NAN).is_nan() && ln_f64::<FMA>(f64::NAN).is_nan());
        assert!(ln_f32::<FMA>(-1.0).is_nan() && ln_f64::<FMA>(-1.0).is_nan());
        assert_eq!(ln_f32::<FMA>(0.0), f32::NEG_INFINITY);
        assert_eq!(ln_f64::<FMA>(0.0), f64::NEG_INFINITY);
        assert_eq!(ln_f32::<FMA>(f32::INFINITY), f32::INFINITY);
        assert_eq!(ln_f64::<FMA>(f64::INFINITY), f64::INFINITY);
        assert_eq!(ln_f32::<FMA>(1.0), 0.0);
        assert_eq!(ln_f64::<FMA>(1.0), 0.0);
    }

    #[test]
    fn ln_is_within_a_few_ulp_of_libm_including_subnormals() {
        ln_within_a_few_ulp::<false>();
        ln_within_a_few_ulp::<true>();
    }

    fn tanh_within_a_few_ulp<const FMA: bool>() {
        let (mut w32, mut w64): (f64, f64) = (0.0, 0.0);
        // Dense around 0 (where the rational part works) and out to saturation, both signs.
        let xs = (0..400_001)
            .map(|i| (i as f64 - 200_000.0) / 10_000.0)
            .chain((0..2001).map(|i| 1e-9 * (i as f64 - 1000.0)));
        for x in xs {
            let x32 = x as f32;
            let (got, want) = (tanh_f32::<FMA>(x32) as f64, (x32 as f64).tanh());
            if want != 0.0 {
                w32 = w32.max(((got - want) / want).abs() / f32::EPSILON as f64);
            }
            let (got, want) = (tanh_f64::<FMA>(x), x.tanh());
            if want != 0.0 {
                w64 = w64.max(((got - want) / want).abs() / f64::EPSILON);
            }
        }
        eprintln!("tanh (FMA {FMA}): worst relative error f32 {w32:.2} ulp, f64 {w64:.2} ulp");
        assert!(w32 <= 4.0, "f32 tanh off by {w32} ulp");
        assert!(w64 <= 4.0, "f64 tanh off by {w64} ulp");
        assert!(tanh_f32::<FMA>(f32::NAN).is_nan() && tanh_f64::<FMA>(f64::NAN).is_nan());
        assert_eq!(tanh_f64::<FMA>(f64::INFINITY), 1.0);
        assert_eq!(tanh_f64::<FMA>(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32::<FMA>(-1e4), -1.0);
        assert_eq!(tanh_f64::<FMA>(0.0), 0.0);
    }

    #[test]
    fn tanh_is_within_a_few_ulp_of_libm() {
        tanh_within_a_few_ulp::<false>();
        tanh_within_a_few_ulp::<true>();
    }

    fn exp_edges<const FMA: bool>() {
        let (e32, e64) = (exp_f32::<FMA>, exp_f64::<FMA>);
        assert!(e32(f32::NAN).is_nan());
        assert!(e64(f64::NAN).is_nan());
        assert_eq!(e32(f32::INFINITY), f32::INFINITY);
        assert_eq!(e64(f64::INFINITY), f64::INFINITY);
        assert_eq!(e32(f32::NEG_INFINITY), 0.0);
        assert_eq!(e64(f64::NEG_INFINITY), 0.0);
        assert_eq!(e32(89.0), f32::INFINITY);
        assert_eq!(e64(710.0), f64::INFINITY);
        assert_eq!(e32(-88.0), 0.0);
        assert_eq!(e64(-709.0), 0.0);
        assert_eq!(e32(0.0), 1.0);
        assert_eq!(e64(0.0), 1.0);
        assert!(e32(88.7).is_finite() && e64(709.7).is_finite());
    }

    #[test]
    fn exp_edges_nan_infinities_and_underflow() {
        exp_edges::<false>();
        exp_edges::<true>();
    }

    /// NumPy's own results (`np.sum`, NumPy 2.4.6) for alternating harmonic values, bit for
    /// bit: below 8 values, up to 128, and split in halves.
    #[test]
    fn pairwise_sum_rounds_as_numpy_does() {
        let want: [(usize, u32, u64); 4] = [
            (5, 3_193_822_685, 13_820_346_296_034_131_968),
            (100, 1_061_187_430, 4_604_945_929_085_124_608),
            (1000, 1_069_746_221, 4_609_540_894_856_577_024),
            (4099, 1_073_694_111, 4_611_660_402_818_285_568),
        ];
        for (n, w32, w64) in want {
            let v: Vec<f32> = (0..n)
                .map(|i| {
                    let x = (1.0 / (i as f64 + 1.0)) as f32;
                    if i % 3 == 0 {
                        -x
                    } else {
                        x
                    }
                })
                .collect();
            let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
            assert_eq!(pairwise_sum(&v).to_bits(), w32, "f32, {n} values");
            assert_eq!(pairwise_sum(&v64).to_bits(), w64, "f64, {n} values");
        }
    }

    #[test]
    fn dispatched_loops_match_their_definitions() {
        let x: Vec<f64> = (0..37).map(|i| i as f64 * 0.37 - 6.0).collect();
        let mut out = vec![0.0; 37];
        sigmoid(&x, &mut out);
        for (o, v) in out.iter().zip(&x) {
            approx::assert_relative_eq!(*o, 1.0 / (1.0 + (-v).exp()), max_relative = 1e-15);
        }
        // Softmax over rows of 3 (a constant width) and one row of 37 (any width).
        for cols in [3, 37] {
            let mut y = x[..x.len() / cols * cols].to_vec();
            softmax_rows(&mut y, cols);
            for (row, xr) in y.chunks_exact(cols).zip(x.chunks_exact(cols)) {
                let m = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = xr.iter().map(|v| (v - m).exp()).sum();
                for (o, v) in row.iter().zip(xr) {
                    approx::assert_relative_eq!(*o, (v - m).exp() / sum, max_relative = 1e-14);
                }
            }
        }
        let want: f64 = x.iter().map(|v| v * v).sum();
        approx::assert_relative_eq!(sum_squares(&x), want, max_relative = 1e-14);
        let mut acc = vec![1.0; 2];
        add_rows(&x[..36], 2, &mut acc);
        let even: f64 = x[..36].iter().step_by(2).sum();
        approx::assert_relative_eq!(acc[0], 1.0 + even, max_relative = 1e-14);
    }
}
