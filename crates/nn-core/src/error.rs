//! The error type shared by every crate of the workspace.

use std::path::PathBuf;

/// Result with the workspace's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, with messages that name what was wrong and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Operands whose shapes do not fit the operation.
    #[error("shape mismatch in {op}: {detail}")]
    Shape {
        /// The operation that refused the shapes.
        op: &'static str,
        /// What was given and what was expected.
        detail: String,
    },
    /// A class label outside `0..classes`.
    #[error("label {label} at row {row} is out of range: the classes are 0..{classes}")]
    LabelOutOfRange {
        /// The offending label.
        label: usize,
        /// Its row in the data.
        row: usize,
        /// The number of classes.
        classes: usize,
    },
    /// A NaN or infinite value where finite numbers are required.
    #[error("{0} contains NaN or infinite values")]
    NonFinite(String),
    /// The training loss became NaN or infinite.
    #[error(
        "the training loss became NaN or infinite by epoch {epoch}, iteration {iteration} \
         (mean of the last {window} iterations): training stopped; try a smaller learning rate \
         or gradient clipping"
    )]
    Diverged {
        /// The epoch (from 1).
        epoch: usize,
        /// The iteration within the epoch (from 1) at which the loss was read.
        iteration: usize,
        /// How many iterations the mean covered.
        window: usize,
    },
    /// Empty data where some is required.
    #[error("{0} is empty")]
    Empty(String),
    /// An argument out of its valid range (batch size 0, negative learning rate, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The device could not be used: no driver, no library, no GPU, out of memory, a kernel failure.
    #[error("device error: {0}")]
    Device(String),
    /// Host memory that the system would not reserve: a size far beyond the machine's memory
    /// (a hidden layer of 3 · 10⁹ units asks for 48 GB of weights). What the system does
    /// reserve is not checked further: memory that is promised but not there when it is first
    /// written still ends the process (Linux's OOM killer).
    #[error("out of host memory: {bytes} bytes for {what}, more than the system would reserve")]
    HostMemory {
        /// What the memory was for.
        what: String,
        /// How many bytes were asked for.
        bytes: u128,
    },
    /// A feature that this build or this backend does not provide.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A file that could not be read or written.
    ///
    /// The OS's message is part of this error's own text, so it is not also given as
    /// [`source`](std::error::Error::source) (which would print it twice in a chain of
    /// causes, as `anyhow` shows them).
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// A file whose contents are corrupt or do not match the model.
    #[error("{path}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A weights file whose parameter has another shape than the model's: a well-formed file
    /// saved from a model of other sizes (another hidden size, say).
    #[error(
        "{path}: parameter {name:?} has shape {}; the model's is {expected}",
        numpy_shape(found)
    )]
    ParamShape {
        /// The file.
        path: PathBuf,
        /// The parameter's name (`layers.0.W`).
        name: String,
        /// Its shape in the file.
        found: Vec<usize>,
        /// Its shape in the model.
        expected: crate::Shape,
    },
}

/// A stored shape as NumPy prints it: `(2, 5)`, `(5,)`.
fn numpy_shape(dims: &[usize]) -> String {
    match dims {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

impl Error {
    /// Shorthand for [`Error::Shape`].
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(detail: impl Into<String>) -> Self {
        Error::InvalidArgument(detail.into())
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn stored_shapes_read_as_numpy_prints_them() {
        let e = |found: Vec<usize>| {
            Error::ParamShape {
                path: "w.safetensors".into(),
                name: "layers.0.b".into(),
                found,
                expected: crate::Shape::row(4),
            }
            .to_string()
        };
        assert_eq!(
            e(vec![5]),
            r#"w.safetensors: parameter "layers.0.b" has shape (5,); the model's is (1, 4)"#
        );
        assert!(e(vec![2, 5]).contains("has shape (2, 5);"));
        assert!(e(vec![1, 2, 5]).contains("has shape (1, 2, 5);"));
    }
}
