//! A [`Dataset`] from a user's files: NumPy's `.npy` (through the `npyz` crate) and CSV
//! (through the `csv` crate).

use crate::Dataset;
use nn_core::{Error, Result};
use npyz::{DType as NpyDType, NpyFile, Order, TypeChar};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

fn format(path: &Path, detail: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn open(path: &Path) -> Result<NpyFile<BufReader<File>>> {
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    if path.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a .npy file",
        )));
    }
    let file = File::open(path).map_err(io)?;
    NpyFile::new(BufReader::new(file))
        .map_err(|e| format(path, format!("not a NumPy .npy file ({e})")))
}

/// The shape as NumPy prints it.
fn shape_str(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A plain dtype's kind and size in bytes (`('f', 4)` for `<f4`), or an error naming it.
fn plain(path: &Path, dtype: &NpyDType, what: &str) -> Result<(TypeChar, u64)> {
    match dtype {
        NpyDType::Plain(t) => Ok((t.type_char(), t.size_field())),
        other => Err(format(path, format!("dtype {}: {what}", other.descr()))),
    }
}

/// Reads every value as `T`, the file's own type; a short file is an error naming it.
fn values<T: npyz::Deserialize>(path: &Path, npy: NpyFile<BufReader<File>>) -> Result<Vec<T>> {
    npy.into_vec::<T>()
        .map_err(|e| format(path, format!("truncated or corrupt data ({e})")))
}

/// `v` (column-major, `rows × cols`, as a Fortran-order file holds it) in row-major order.
fn to_row_major<T: Copy>(v: Vec<T>, rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for i in 0..rows {
        out.extend((0..cols).map(|j| v[j * rows + i]));
    }
    out
}

/// A 2-D array's values, row-major, with its shape (a 1-D array read as one column).
enum Matrix {
    F32(Vec<f32>, usize, usize),
    F64(Vec<f64>, usize, usize),
    /// Integers (as i128, which every NumPy integer type fits) and the number of columns.
    Int(Vec<i128>, usize),
}

fn read(path: &Path, what: &str, allow_1d: bool) -> Result<Matrix> {
    let npy = open(path)?;
    let shape = npy.shape().to_vec();
    let (rows, cols) = match shape[..] {
        [r, c] => (r as usize, c as usize),
        [r] if allow_1d => (r as usize, 1),
        _ => {
            return Err(format(
                path,
                format!("an array of shape {}: {what}", shape_str(&shape)),
            ))
        }
    };
    let fortran = npy.order() == Order::Fortran && rows > 1 && cols > 1;
    let (kind, size) = plain(path, &npy.dtype(), what)?;
    let ints = |v: Vec<i128>| Matrix::Int(order_f(v, fortran, rows, cols), cols);
    Ok(match (kind, size) {
        (TypeChar::Float, 4) => {
            Matrix::F32(order_f(values(path, npy)?, fortran, rows, cols), rows, cols)
        }
        (TypeChar::Float, 8) => {
            Matrix::F64(order_f(values(path, npy)?, fortran, rows, cols), rows, cols)
        }
        (TypeChar::Int, 1) => ints(
            values::<i8>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Int, 2) => ints(
            values::<i16>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Int, 4) => ints(
            values::<i32>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Int, 8) => ints(
            values::<i64>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Uint, 1) => ints(
            values::<u8>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Uint, 2) => ints(
            values::<u16>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Uint, 4) => ints(
            values::<u32>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        (TypeChar::Uint, 8) => ints(
            values::<u64>(path, npy)?
                .into_iter()
                .map(i128::from)
                .collect(),
        ),
        _ => {
            return Err(format(
                path,
                format!("dtype {}: {what}", npy.dtype().descr()),
            ))
        }
    })
}

fn order_f<T: Copy>(v: Vec<T>, fortran: bool, rows: usize, cols: usize) -> Vec<T> {
    if fortran {
        to_row_major(v, rows, cols)
    } else {
        v
    }
}

/// Class indices from integer labels (one per row), or from one-hot rows; their number of
/// classes.
fn labels(path: &Path, m: Matrix) -> Result<(Vec<u32>, usize)> {
    let index = |i: usize, v: i128| {
        u32::try_from(v)
            .ok()
            .filter(|&l| l != u32::MAX)
            .ok_or_else(|| format(path, format!("label {v} at row {i} is not a class index")))
    };
    let one_hot = |v: Vec<f64>, cols: usize| -> Result<(Vec<u32>, usize)> {
        let mut out = Vec::with_capacity(v.len() / cols.max(1));
        for (i, row) in v.chunks_exact(cols).enumerate() {
            let hot: Vec<usize> = (0..cols).filter(|&j| row[j] == 1.0).collect();
            if hot.len() != 1 || row.iter().any(|&x| x != 0.0 && x != 1.0) {
                return Err(format(path, format!("row {i} is not one-hot: {row:?}")));
            }
            out.push(hot[0] as u32);
        }
        Ok((out, cols))
    };
    match m {
        Matrix::Int(v, 1) => {
            let l = v
                .into_iter()
                .enumerate()
                .map(|(i, x)| index(i, x))
                .collect::<Result<Vec<u32>>>()?;
            let classes = l.iter().max().map_or(0, |&m| m as usize + 1);
            Ok((l, classes))
        }
        Matrix::Int(v, cols) => one_hot(v.into_iter().map(|x| x as f64).collect(), cols),
        Matrix::F32(v, _, cols) if cols > 1 => {
            one_hot(v.into_iter().map(f64::from).collect(), cols)
        }
        Matrix::F64(v, _, cols) if cols > 1 => one_hot(v, cols),
        Matrix::F32(..) | Matrix::F64(..) => Err(format(
            path,
            "float labels in one column: give class indices as integers (int64, int32, \
             uint8, …) or one-hot rows",
        )),
    }
}

impl Dataset {
    /// A data set from two NumPy `.npy` files, as `np.save` writes them: the inputs `x`, a
    /// `rows × features` array of float32 or float64 (kept in that precision; C or Fortran
    /// order), and the labels `t`, one class index per row (any integer dtype: NumPy's default
    /// int64, int32, uint8, …) or one-hot rows (`rows × classes`, float or integer). The number
    /// of classes is the largest index plus one, or the one-hot width.
    ///
    /// Every problem is an error naming the file: missing, not `.npy`, truncated, another
    /// dtype, another shape, rows that do not match, a label that is negative or not one-hot,
    /// a NaN or infinite input.
    pub fn from_npy(x: impl AsRef<Path>, t: impl AsRef<Path>) -> Result<Dataset> {
        let (x, t) = (x.as_ref(), t.as_ref());
        const INPUTS: &str =
            "the inputs must be a 2-D array (rows × features) of float32 or float64";
        const LABELS: &str =
            "the labels must be class indices (1-D, integers) or one-hot rows (2-D)";
        let (labels, classes) = labels(t, read(t, LABELS, true)?)?;
        let rows_of = |rows: usize| -> Result<()> {
            if rows != labels.len() {
                return Err(format(
                    t,
                    format!(
                        "{} labels for the {rows} rows of {}",
                        labels.len(),
                        x.display()
                    ),
                ));
            }
            Ok(())
        };
        let made = match read(x, INPUTS, false)? {
            Matrix::F32(v, rows, cols) => {
                rows_of(rows)?;
                Dataset::new(v, cols, labels, classes)
            }
            Matrix::F64(v, rows, cols) => {
                rows_of(rows)?;
                Dataset::new(v, cols, labels, classes)
            }
            Matrix::Int(..) => {
                return Err(format(
                    x,
                    format!("integer inputs: {INPUTS} (convert with .astype(np.float32))"),
                ))
            }
        };
        made.map_err(|e| match e {
            Error::NonFinite(what) => format(x, format!("{what} is NaN or infinite")),
            Error::Empty(what) => format(x, format!("{what} is empty")),
            e => e,
        })
    }

    /// A data set from a CSV file of numbers, one row a line, the last column the class index
    /// (a whole number ≥ 0), the others the inputs (f64). A first line that is not numbers is
    /// taken as a header and skipped. A field that is not a number, a fractional or negative
    /// class, or rows of different lengths are errors naming the line.
    pub fn from_csv(path: impl AsRef<Path>) -> Result<Dataset> {
        let path = path.as_ref();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .trim(csv::Trim::All)
            .from_path(path)
            .map_err(|e| csv_error(path, e))?;
        let (mut x, mut labels, mut cols) = (Vec::new(), Vec::new(), None);
        for (n, record) in reader.records().enumerate() {
            let record = record.map_err(|e| csv_error(path, e))?;
            let line = record.position().map_or(n as u64 + 1, |p| p.line());
            let parsed: std::result::Result<Vec<f64>, _> =
                record.iter().map(|f| f.parse::<f64>()).collect();
            let values = match parsed {
                Ok(v) => v,
                Err(_) if n == 0 => continue, // a header
                Err(_) => {
                    let (c, f) = record
                        .iter()
                        .enumerate()
                        .find(|(_, f)| f.parse::<f64>().is_err())
                        .expect("one field failed");
                    return Err(format(
                        path,
                        format!("line {line}, column {}: {f:?} is not a number", c + 1),
                    ));
                }
            };
            if values.len() < 2 {
                return Err(format(
                    path,
                    format!("line {line}: an input and a label need at least 2 columns"),
                ));
            }
            let (label, inputs) = values.split_last().expect("at least 2");
            if *cols.get_or_insert(inputs.len()) != inputs.len() {
                return Err(format(
                    path,
                    format!("line {line} has another number of columns"),
                ));
            }
            if !(label.fract() == 0.0 && *label >= 0.0 && *label < u32::MAX as f64) {
                return Err(format(
                    path,
                    format!("line {line}: the label {label} is not a class index"),
                ));
            }
            labels.push(*label as u32);
            x.extend_from_slice(inputs);
        }
        let cols = cols.ok_or_else(|| format(path, "holds no rows"))?;
        let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
        Dataset::new(x, cols, labels, classes).map_err(|e| match e {
            Error::NonFinite(what) => format(path, format!("{what} is NaN or infinite")),
            e => e,
        })
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(error) => Error::Io {
            path: path.to_path_buf(),
            error,
        },
        csv::ErrorKind::UnequalLengths { pos, .. } => format(
            path,
            format!(
                "line {} has another number of columns",
                pos.map_or(0, |p| p.line())
            ),
        ),
        other => format(path, format!("{other:?}")),
    }
}
