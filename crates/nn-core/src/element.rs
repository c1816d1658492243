//! Element types: what a tensor holds.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// The storage types the library knows, including `F16`, which is used for weight files only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE half precision: storage only (the book's choice for saved weights).
    F16,
    /// IEEE single precision: the default compute type.
    F32,
    /// IEEE double precision: NumPy's default, available on the CPU.
    F64,
}

impl DType {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F16 => 2,
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// The NumPy-style name (`float16`, `float32`, `float64`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }
}

impl Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::F64 => "f64",
        })
    }
}

impl std::str::FromStr for DType {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "f16" | "float16" => Ok(DType::F16),
            "f32" | "float32" => Ok(DType::F32),
            "f64" | "float64" => Ok(DType::F64),
            _ => Err(crate::Error::invalid(format!(
                "unknown dtype {s:?}: expected f16, f32 or f64"
            ))),
        }
    }
}

/// A compute element type: `f32` (default) or `f64`.
///
/// Backends are generic over it, so the same layer code runs in either precision.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Debug
    + Display
    + Default
    + Send
    + Sync
    + 'static
{
    /// This type's [`DType`].
    const DTYPE: DType;
    /// Converts from `f64` with rounding to nearest (how NumPy casts a Python float).
    fn of(v: f64) -> Self;
    /// Widens to `f64`.
    fn f64(self) -> f64;
}

impl Float for f32 {
    const DTYPE: DType = DType::F32;
    #[inline]
    fn of(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        self as f64
    }
}

impl Float for f64 {
    const DTYPE: DType = DType::F64;
    #[inline]
    fn of(v: f64) -> Self {
        v
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::{DType, Float};

    /// Each name parses back to its type, in Rust's spelling and NumPy's; sizes are IEEE's.
    #[test]
    fn names_parse_back_and_sizes_are_ieee() {
        for (d, bytes) in [(DType::F16, 2), (DType::F32, 4), (DType::F64, 8)] {
            assert_eq!(d.to_string().parse::<DType>().unwrap(), d);
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
            assert_eq!(d.size_in_bytes(), bytes);
        }
        assert_eq!(<f32 as Float>::DTYPE.size_in_bytes(), size_of::<f32>());
        assert_eq!(<f64 as Float>::DTYPE.size_in_bytes(), size_of::<f64>());
        assert_eq!(
            "bf16".parse::<DType>().unwrap_err().to_string(),
            r#"invalid argument: unknown dtype "bf16": expected f16, f32 or f64"#
        );
    }
}
