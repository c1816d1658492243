//! Shapes of the library's tensors: matrices, with vectors as one-row matrices.

use std::fmt;

/// The shape of a tensor: `rows × cols`. A bias vector of length `n` is `1 × n`.
///
/// The book's chapter 1 needs nothing but matrices, and keeping to two dimensions keeps every
/// backend op a single, easily checked case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Shape {
    /// Number of rows (the batch dimension for activations).
    pub rows: usize,
    /// Number of columns (features).
    pub cols: usize,
}

impl Shape {
    /// A `rows × cols` shape.
    pub const fn new(rows: usize, cols: usize) -> Self {
        Shape { rows, cols }
    }

    /// A row vector `1 × n`.
    pub const fn row(n: usize) -> Self {
        Shape { rows: 1, cols: n }
    }

    /// The scalar shape `1 × 1` (losses, norms).
    pub const fn scalar() -> Self {
        Shape { rows: 1, cols: 1 }
    }

    /// Number of elements.
    pub const fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether the shape holds no element.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape with rows and columns swapped.
    pub const fn t(&self) -> Self {
        Shape {
            rows: self.cols,
            cols: self.rows,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.rows, self.cols)
    }
}

impl From<(usize, usize)> for Shape {
    fn from((rows, cols): (usize, usize)) -> Self {
        Shape { rows, cols }
    }
}
