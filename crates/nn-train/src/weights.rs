//! Weight files: a model's parameters as safetensors, stored in f16 (the book's choice, half the
//! size of f32), f32 or f64, and loaded back into any compute type.
//!
//! Names are the parameters' own (`layers.0.W`, `layers.0.b`, …); a `1 × n` parameter (a bias) is
//! stored as a vector `[n]`, as NumPy holds it. The files open as they are with
//! `safetensors.numpy.load_file` and `safetensors.torch.load_file`.
//!
//! Loading checks the whole file against the model before changing anything: on any error the
//! model is left as it was.

use crate::io::write_atomic;
use half::f16;
use nn_core::{Backend, DType, Error, Float, ParamStore, Result, Shape};
use nn_layers::Module;
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

fn format_err(path: &Path, detail: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Little-endian bytes of `values` stored as `dtype`, refusing values that `dtype` cannot hold.
fn encode(name: &str, values: &[f64], dtype: DType) -> Result<Vec<u8>> {
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("parameter {name:?} (value {v})")));
    }
    let beyond = |max: f64, kind: &str, instead: &str| match values.iter().find(|v| v.abs() > max) {
        Some(v) => Err(Error::invalid(format!(
            "parameter {name:?} holds {v:e}, beyond {kind}'s range (±{max:e}): save it as {instead}"
        ))),
        None => Ok(()),
    };
    Ok(match dtype {
        DType::F64 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        DType::F32 => {
            beyond(f32::MAX as f64, "f32", "f64")?;
            values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect()
        }
        DType::F16 => {
            beyond(f16::MAX.to_f64(), "f16", "f32")?;
            let mut h = vec![f16::ZERO; values.len()];
            half::slice::HalfFloatSliceExt::convert_from_f64_slice(&mut h[..], values);
            h.iter().flat_map(|v| v.to_le_bytes()).collect()
        }
    })
}

/// Values of a stored tensor, widened to f64.
fn decode(view: &TensorView<'_>) -> Option<Vec<f64>> {
    let b = view.data();
    Some(match view.dtype() {
        StDtype::F64 => b
            .as_chunks::<8>()
            .0
            .iter()
            .map(|&c| f64::from_le_bytes(c))
            .collect(),
        StDtype::F32 => b
            .as_chunks::<4>()
            .0
            .iter()
            .map(|&c| f32::from_le_bytes(c) as f64)
            .collect(),
        StDtype::F16 => {
            let h: Vec<f16> = b
                .as_chunks::<2>()
                .0
                .iter()
                .map(|&c| f16::from_le_bytes(c))
                .collect();
            let mut out = vec![0.0; h.len()];
            half::slice::HalfFloatSliceExt::convert_to_f64_slice(&h[..], &mut out);
            out
        }
        _ => return None,
    })
}

fn st_dtype(d: DType) -> StDtype {
    match d {
        DType::F16 => StDtype::F16,
        DType::F32 => StDtype::F32,
        DType::F64 => StDtype::F64,
    }
}

/// The shape a parameter is stored with: `[n]` for `1 × n`, else `[rows, cols]`.
fn file_shape(s: Shape) -> Vec<usize> {
    if s.rows == 1 {
        vec![s.cols]
    } else {
        vec![s.rows, s.cols]
    }
}

/// Saves every parameter of `model` to `path` as safetensors in `dtype`, atomically.
/// Returns the file's size in bytes.
pub fn save_params<B: Backend, M: Module<B> + ?Sized>(
    model: &M,
    path: &Path,
    dtype: DType,
) -> Result<u64> {
    let b = model.backend();
    let store: &ParamStore<B> = model.params();
    let mut tensors = Vec::with_capacity(store.len());
    for (_, p) in store.iter() {
        let values: Vec<f64> = b.to_host(p.value())?.iter().map(|v| v.f64()).collect();
        let bytes = encode(p.name(), &values, dtype)?;
        tensors.push((p.name().to_owned(), file_shape(b.shape(p.value())), bytes));
    }
    let views = tensors
        .iter()
        .map(|(n, s, bytes)| {
            TensorView::new(st_dtype(dtype), s.clone(), bytes)
                .map(|v| (n.clone(), v))
                .map_err(|e| format_err(path, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    // One entry: safetensors writes its metadata in a HashMap's order, which differs from map
    // to map, so a second entry would make the same weights save to different bytes.
    let info = HashMap::from([("compute_dtype".to_owned(), B::Elem::DTYPE.name().to_owned())]);
    let bytes =
        safetensors::serialize(views, Some(info)).map_err(|e| format_err(path, e.to_string()))?;
    write_atomic(path, &bytes)?;
    Ok(bytes.len() as u64)
}

/// The longest a weights file for a model of `elements` parameter values can be: safetensors'
/// 8-byte header length, its largest header (100 MB) and every value in f64.
fn max_file_len(elements: u64) -> u64 {
    const MAX_HEADER: u64 = 100_000_000;
    elements.saturating_mul(8).saturating_add(8 + MAX_HEADER)
}

/// Reads `path` whole, refusing a file longer than `limit` bytes before reading it (a regular
/// file) or as soon as more arrives (a device or FIFO: `/dev/zero` never ends).
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let too_long = || {
        format_err(
            path,
            format!("longer than the {limit} bytes a weights file for this model can have"),
        )
    };
    // A directory is named as such before it is opened: Windows refuses to open one as a file
    // with a bare "Access denied".
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a weights file",
        )));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_long());
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_long());
    }
    Ok(bytes)
}

/// Loads `path` into `model`, converting to its compute type. The file must hold exactly the
/// model's parameters, with their shapes, and values finite in its compute type; otherwise
/// [`Error::ParamShape`] (a parameter of another shape: a model of other sizes) or
/// [`Error::Format`] names what differs and the model is unchanged. Returns the file's storage
/// dtype.
pub fn load_params<B: Backend, M: Module<B> + ?Sized>(model: &mut M, path: &Path) -> Result<DType> {
    let b = model.backend().clone();
    let store = model.params();
    let elements = store.shapes(&b).iter().map(|(_, s)| s.len() as u64).sum();
    let bytes = read_bounded(path, max_file_len(elements))?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| format_err(path, format!("not a valid safetensors file: {e}")))?;
    let mut names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    names.sort();
    // Every name that differs, both ways, in one message: a file saved from a model whose
    // layers are named otherwise shows at once as such.
    let extra: Vec<&String> = names.iter().filter(|n| store.find(n).is_none()).collect();
    let missing: Vec<&str> = store
        .iter()
        .map(|(_, p)| p.name())
        .filter(|n| names.binary_search_by(|m| m.as_str().cmp(n)).is_err())
        .collect();
    let mut differ = Vec::new();
    if !extra.is_empty() {
        differ.push(format!("tensors the model does not have: {extra:?}"));
    }
    if !missing.is_empty() {
        differ.push(format!("parameters missing from the file: {missing:?}"));
    }
    if !differ.is_empty() {
        return Err(format_err(path, differ.join("; ")));
    }
    let mut stored = None;
    let mut new_values = Vec::with_capacity(store.len());
    for (id, p) in store.iter() {
        let view = st
            .tensor(p.name())
            .map_err(|e| format_err(path, format!("parameter {:?}: {e}", p.name())))?;
        let want = b.shape(p.value());
        let ok =
            view.shape() == file_shape(want).as_slice() || view.shape() == [want.rows, want.cols];
        if !ok {
            return Err(Error::ParamShape {
                path: path.to_path_buf(),
                name: p.name().to_owned(),
                found: view.shape().to_vec(),
                expected: want,
            });
        }
        let values = decode(&view).ok_or_else(|| {
            format_err(
                path,
                format!(
                    "parameter {:?} is stored as {:?}: only F16, F32 and F64 are supported",
                    p.name(),
                    view.dtype()
                ),
            )
        })?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(format_err(
                path,
                format!("parameter {:?} holds NaN or infinite values", p.name()),
            ));
        }
        let dtype = match view.dtype() {
            StDtype::F16 => DType::F16,
            StDtype::F32 => DType::F32,
            _ => DType::F64,
        };
        stored.get_or_insert(dtype);
        // `from_f64` refuses values the compute type cannot hold (1e300 in f32).
        let value = b.from_f64(&values, want).map_err(|e| match e {
            Error::InvalidArgument(d) => format_err(path, format!("parameter {:?}: {d}", p.name())),
            other => other,
        })?;
        new_values.push((id, value));
    }
    let store = model.params_mut();
    for (id, v) in new_values {
        store.set_value(&b, id, v)?;
    }
    Ok(stored.unwrap_or(DType::F32))
}
