//! A random source that reproduces NumPy's legacy `np.random.seed(s)` stream bit for bit.
//!
//! The book seeds NumPy once and draws everything from that stream in a fixed order: the spiral's
//! noise, then the initial weights, then one permutation per epoch. [`NumpyRng`] is the same
//! Mersenne Twister (MT19937, `init_genrand` seeding) with the same derived draws:
//!
//! - [`NumpyRng::random`]: 53-bit doubles from two 32-bit draws (`(a >> 5, b >> 6)`);
//! - [`NumpyRng::randn`]: the polar Box–Muller method, caching its second value (`legacy_gauss`);
//! - [`NumpyRng::permutation`]: Fisher–Yates from the end, with masked rejection sampling.
//!
//! It implements [`rand::TryRng`] with [`Infallible`](core::convert::Infallible) errors, so it is a
//! [`rand::Rng`] (rand 0.10) and plugs into the `rand` ecosystem: `rand::RngExt`'s
//! `random_range`, `rand::seq::SliceRandom::shuffle` and the distributions all take it.
//! Its own [`NumpyRng::random`] (NumPy's `random_sample`, no type parameter) comes first in method
//! calls; `rand::RngExt::random::<T>(&mut rng)` reaches rand's.
//!
//! ```
//! use nn_core::NumpyRng;
//! // python3 -c "import numpy as np; np.random.seed(1984); print(np.random.randn())"
//! let mut rng = NumpyRng::new(1984);
//! assert_eq!(rng.randn(), -0.026902226847232345);
//! ```

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// NumPy's legacy `RandomState` stream (MT19937 with its Gaussian cache).
#[derive(Clone)]
pub struct NumpyRng {
    mt: [u32; N],
    pos: usize,
    gauss: Option<f64>,
}

impl std::fmt::Debug for NumpyRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumpyRng")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl NumpyRng {
    /// The stream of `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        NumpyRng {
            mt,
            pos: N,
            gauss: None,
        }
    }

    /// The next 624 words. Three loops, as in the reference implementation, so no index needs
    /// a `% N` (two integer divisions per word made this the largest cost of a shuffle).
    fn generate(&mut self) {
        let mt = &mut self.mt;
        let twist = |cur: u32, next: u32, far: u32| {
            let y = (cur & UPPER_MASK) | (next & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            far ^ (y >> 1) ^ mag
        };
        for i in 0..N - M {
            mt[i] = twist(mt[i], mt[i + 1], mt[i + M]);
        }
        for i in N - M..N - 1 {
            mt[i] = twist(mt[i], mt[i + 1], mt[i + M - N]);
        }
        mt[N - 1] = twist(mt[N - 1], mt[0], mt[M - 1]);
        self.pos = 0;
    }

    /// The next raw 32-bit output (`next_uint32`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos == N {
            self.generate();
        }
        let mut y = self.mt[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// NumPy's `next_uint64` for MT19937: two 32-bit draws, the first the high word.
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// A uniform double in `[0, 1)` with 53 random bits (`np.random.random_sample()`).
    pub fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// A standard normal draw (`np.random.randn()`).
    pub fn randn(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random() - 1.0;
            let x2 = 2.0 * self.random() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `n` standard normal draws in C order (`np.random.randn(rows, cols).ravel()`).
    pub fn randn_vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.randn()).collect()
    }

    /// A uniform integer in `0..=max` by masked rejection (`random_interval`).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> s;
        }
        if max <= u32::MAX as u64 {
            loop {
                let v = (self.next_u32() as u64) & mask;
                if v <= max {
                    return v;
                }
            }
        } else {
            loop {
                let v = self.next_u64() & mask;
                if v <= max {
                    return v;
                }
            }
        }
    }

    /// Shuffles in place as NumPy's legacy `shuffle` does for a 1-D array.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `np.random.permutation(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

impl rand::TryRng for NumpyRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next_u64())
    }

    /// Four bytes per 32-bit draw, little-endian; a last partial chunk takes the low bytes.
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dest.chunks_mut(4) {
            let v = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}
