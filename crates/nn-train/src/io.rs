//! Atomic file writes: a temporary file in the same directory, flushed, then renamed.

use nn_core::{Error, Result};
use std::io::Write;
use std::path::Path;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The directory the temporary file goes in: `path`'s own. A `path` that names a directory is
/// refused before anything is written (renaming a file over a directory fails only at the end,
/// with an obscure "Device or resource busy" for `.`).
fn dir_of(path: &Path) -> Result<&Path> {
    if path.is_dir() {
        return Err(io_err(path)(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a file name",
        )));
    }
    Ok(match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    })
}

/// Temporary files are created private (0600); the finished file gets the usual 0644.
fn publish(tmp: &tempfile::NamedTempFile, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io_err(path))?;
    }
    let _ = (tmp, path);
    Ok(())
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir_of(path)?).map_err(io_err(path))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    publish(&tmp, path)?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

/// Lets `render` write a file at a temporary path with `path`'s extension (for writers that
/// choose the format by extension), then renames it over `path`.
pub fn render_atomic(path: &Path, render: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(".nn-")
        .suffix(&ext)
        .tempfile_in(dir_of(path)?)
        .map_err(io_err(path))?;
    render(tmp.path())?;
    publish(&tmp, path)?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}
