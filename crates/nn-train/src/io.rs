//! Atomic file writes: a temporary file in the same directory, flushed, then renamed.
//!
//! What a plain `std::fs::write` would do is kept where it makes sense:
//! - a symbolic link is written through: the file it names is replaced and the link stays;
//! - a file that is replaced keeps its permissions, and a new file gets the same permissions
//!   `std::fs::write` would give it (`0o666` less the umask);
//! - a file this user may not write is refused, as `std::fs::write` would refuse it, not
//!   replaced;
//! - a device, FIFO or socket (`/dev/stdout`, say) is written in place, as there is no file to
//!   rename over.

use nn_core::{Error, Result};
use std::fs::{self, Permissions};
use std::io::Write;
use std::path::{Path, PathBuf};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Where the bytes of a write to a given path end up.
enum Destination {
    /// A regular file at this path (links resolved), and the permissions of the file it
    /// replaces, if there is one.
    File {
        path: PathBuf,
        replaces: Option<Permissions>,
    },
    /// Not a regular file: written in place.
    Special,
}

/// Symbolic links followed, at most, while looking for the file a dangling link names (Linux
/// gives up after 40 as well).
const MAX_LINKS: usize = 40;

/// Resolves `path` to where its bytes go. A `path` that names a directory is refused before
/// anything is written (renaming a file over a directory fails only at the end, with an obscure
/// "Device or resource busy" for `.`).
fn destination(path: &Path) -> Result<Destination> {
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(io_err(path)(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory: give a file name",
        ))),
        Ok(meta) if meta.is_file() => {
            // A file this user may not write (read-only) is not replaced behind their back:
            // the error is the one `std::fs::write` would give. Opening without truncating
            // changes nothing.
            fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io_err(path))?;
            Ok(Destination::File {
                path: fs::canonicalize(path).map_err(io_err(path))?,
                replaces: Some(meta.permissions()),
            })
        }
        Ok(_) => Ok(Destination::Special),
        // Nothing there, or a link to nothing: the file is created where the link chain ends.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut target = path.to_path_buf();
            for _ in 0..MAX_LINKS {
                match fs::symlink_metadata(&target) {
                    Ok(meta) if meta.file_type().is_symlink() => {
                        let link = fs::read_link(&target).map_err(io_err(path))?;
                        target = parent(&target).join(link);
                    }
                    _ => break,
                }
            }
            Ok(Destination::File {
                path: target,
                replaces: None,
            })
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An empty temporary file beside `path`, named `.nn-…{suffix}`, with the permissions the
/// finished file is to have.
fn temp_beside(
    path: &Path,
    suffix: &str,
    replaces: Option<Permissions>,
    user_path: &Path,
) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".nn-").suffix(suffix);
    #[cfg(unix)]
    {
        // The umask applies, as it does to `std::fs::write`.
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(Permissions::from_mode(0o666));
    }
    let dir = parent(path);
    let tmp = builder.tempfile_in(dir).map_err(|e| {
        // tempfile ends its message with the random file name it tried (`… at path "…"`);
        // the directory says more.
        let text = e.to_string();
        let reason = text
            .split_once(" at path ")
            .map_or(text.as_str(), |(r, _)| r);
        io_err(user_path)(std::io::Error::new(
            e.kind(),
            format!("cannot create a file in {}: {reason}", dir.display()),
        ))
    })?;
    if let Some(perms) = replaces {
        fs::set_permissions(tmp.path(), perms).map_err(io_err(user_path))?;
    }
    Ok(tmp)
}

/// Renames the finished temporary file over `path`, then flushes the directory so that the
/// rename itself survives a crash. Some file systems cannot flush a directory; the rename is
/// still atomic there, so that flush is best effort.
fn commit(tmp: tempfile::NamedTempFile, path: &Path, user_path: &Path) -> Result<()> {
    tmp.persist(path).map_err(|e| io_err(user_path)(e.error))?;
    #[cfg(unix)]
    if let Ok(dir) = fs::File::open(parent(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Writes `bytes` over a device, FIFO or socket.
fn write_in_place(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    file.write_all(bytes).map_err(io_err(path))?;
    file.flush().map_err(io_err(path))
}

/// Checks, writing nothing, that [`write_atomic`] or [`render_atomic`] to `path` can succeed:
/// not a directory, a file this user may write if one is there, and a directory in which the
/// temporary file can be made. For programs to call before long work whose result goes there.
pub fn check_writable(path: &Path) -> Result<()> {
    match destination(path)? {
        Destination::Special => Ok(()),
        // The probe is removed when dropped.
        Destination::File {
            path: real,
            replaces,
        } => temp_beside(&real, "", replaces, path).map(drop),
    }
}

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never half.
///
/// A symbolic link is written through, a replaced file keeps its permissions, and a device or
/// FIFO (`/dev/stdout`) is written in place; see the [module docs](self).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    match destination(path)? {
        Destination::Special => write_in_place(path, bytes),
        Destination::File {
            path: real,
            replaces,
        } => {
            let mut tmp = temp_beside(&real, "", replaces, path)?;
            tmp.write_all(bytes).map_err(io_err(path))?;
            tmp.as_file().sync_all().map_err(io_err(path))?;
            commit(tmp, &real, path)
        }
    }
}

/// Lets `render` write a file at a temporary path with `path`'s extension (for writers that
/// choose the format by extension), then renames it over `path`, as [`write_atomic`] does.
pub fn render_atomic(path: &Path, render: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    match destination(path)? {
        Destination::Special => {
            // Rendered in the system's temporary directory, then copied.
            let tmp = tempfile::Builder::new()
                .prefix(".nn-")
                .suffix(&ext)
                .tempfile()
                .map_err(io_err(path))?;
            render(tmp.path())?;
            let bytes = fs::read(tmp.path()).map_err(io_err(path))?;
            write_in_place(path, &bytes)
        }
        Destination::File {
            path: real,
            replaces,
        } => {
            let tmp = temp_beside(&real, &ext, replaces, path)?;
            render(tmp.path())?;
            // Flushed through the temporary file's own handle, which can write: Windows refuses
            // to flush a handle opened only to read ("Access denied"), and a flush covers the
            // file's data whichever handle wrote it.
            tmp.as_file().sync_all().map_err(io_err(path))?;
            commit(tmp, &real, path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parent;
    use std::path::Path;

    /// A bare file name (`--save w.safetensors`) gets its temporary file in the current
    /// directory: `Path::parent` gives `""` there, where nothing can be created.
    #[test]
    fn a_bare_file_name_is_in_the_current_directory() {
        assert_eq!(parent(Path::new("w.safetensors")), Path::new("."));
        assert_eq!(parent(Path::new("out/w.safetensors")), Path::new("out"));
        assert_eq!(parent(Path::new("/w.safetensors")), Path::new("/"));
    }
}
