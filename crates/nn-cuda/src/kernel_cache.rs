//! Compiled kernels kept on disk, so that a process after the first loads them instead of
//! running NVRTC again (most of a second for `kernels.cu`, in every process that opens a
//! device), as CuPy keeps `~/.cupy/kernel_cache`.
//!
//! An entry is used only when it was made from the same `kernels.cu`, with the same NVRTC
//! version and options, by the same nn-cuda version: the file holds all of that and it is
//! compared in full, with a checksum of the machine code. Anything else (an entry of another
//! version, a truncated or damaged file) is compiled again and replaced. Entries are written
//! to a temporary file and renamed into place, so that a crash or a second process writing at
//! the same moment never leaves half an entry.

use crate::device::{compile_kernels_cubin, cubin_options};
use nn_core::Result;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Where [`cached_kernels_cubin`]'s machine code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelOrigin {
    /// Read from the cache: NVRTC did not run.
    Cache,
    /// Compiled by NVRTC in this call (and stored in the cache where there is one).
    Compiled,
}

/// The start of every entry; the number changes when the layout does.
const MAGIC: &[u8] = b"nn-cuda kernel cache 1\n";
/// Entries larger than this are not read (the sm_90 machine code is about 250 KiB).
const MAX_ENTRY: u64 = 64 << 20;

/// The folder [`crate::Cuda::new`] keeps compiled kernels in: `NN_CUDA_CACHE_DIR` when it is
/// set (set but empty: no cache), else `nn-cuda` in the user's cache folder (`$XDG_CACHE_HOME`
/// or `~/.cache` on Linux, `%LOCALAPPDATA%` on Windows); `None` when there is none.
pub fn kernel_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("NN_CUDA_CACHE_DIR") {
        Some(dir) if dir.is_empty() => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => dirs::cache_dir().map(|d| d.join("nn-cuda")),
    }
}

/// `kernels.cu` as machine code for compute capability `major.minor`: from the cache in `dir`
/// when it holds an entry made the same way, else compiled by NVRTC and stored there. A cache
/// that cannot be read or written costs only the compile; `dir: None` always compiles. Errors
/// are NVRTC's (missing library, failed compile, with its log).
pub fn cached_kernels_cubin(
    major: i32,
    minor: i32,
    dir: Option<&Path>,
) -> Result<(Vec<u8>, KernelOrigin)> {
    let entry = Entry::in_dir(major, minor, dir)?;
    if let Some(bin) = entry.as_ref().and_then(Entry::read) {
        return Ok((bin, KernelOrigin::Cache));
    }
    Ok((compile_into(major, minor, entry)?, KernelOrigin::Compiled))
}

/// Compiles the kernels for `major.minor` and replaces the cache's entry for them: for an entry
/// that was whole but that the driver refused (one made by another NVRTC library reporting the
/// same version, say), so that the next process does not read it again.
pub(crate) fn recompile(major: i32, minor: i32, dir: Option<&Path>) -> Result<Vec<u8>> {
    compile_into(major, minor, Entry::in_dir(major, minor, dir)?)
}

/// The kernels compiled for `major.minor`, stored as `entry` where there is one. A write that
/// fails is not an error: the next process compiles again.
fn compile_into(major: i32, minor: i32, entry: Option<Entry>) -> Result<Vec<u8>> {
    let bin = compile_kernels_cubin(major, minor)?;
    if let Some(entry) = entry {
        let _ = entry.write(&bin);
    }
    Ok(bin)
}

/// The cache's entry for one compute capability: its file and what it must have been made from.
struct Entry {
    path: PathBuf,
    key: String,
}

impl Entry {
    /// The entry for `major.minor` in the cache folder `dir`; `None` without a folder.
    fn in_dir(major: i32, minor: i32, dir: Option<&Path>) -> Result<Option<Entry>> {
        dir.map(|d| Entry::new(major, minor, d)).transpose()
    }

    fn new(major: i32, minor: i32, dir: &Path) -> Result<Entry> {
        let (nvrtc_major, nvrtc_minor) = crate::device::nvrtc_version()?;
        let key = format!(
            "nn-cuda {}\nnvrtc {nvrtc_major}.{nvrtc_minor}\noptions {}\n{}",
            env!("CARGO_PKG_VERSION"),
            cubin_options(major, minor).join(" "),
            crate::device::KERNELS
        );
        let name = format!(
            "kernels-sm_{major}{minor}-{:016x}.bin",
            checksum(key.as_bytes())
        );
        Ok(Entry {
            path: dir.join(name),
            key,
        })
    }

    /// The machine code, when the file is whole and was made for this key.
    fn read(&self) -> Option<Vec<u8>> {
        if std::fs::metadata(&self.path).ok()?.len() > MAX_ENTRY {
            return None;
        }
        let file = std::fs::read(&self.path).ok()?;
        let rest = file.strip_prefix(MAGIC)?;
        let (stored_key, rest) = take_sized(rest)?;
        if stored_key != self.key.as_bytes() || rest.len() < 8 {
            return None;
        }
        let (sum, rest) = rest.split_at(8);
        let (bin, rest) = take_sized(rest)?;
        let whole = rest.is_empty() && u64::from_le_bytes(sum.try_into().ok()?) == checksum(bin);
        whole.then(|| bin.to_vec())
    }

    /// Stores `bin`: a temporary file in the cache's folder, renamed into place.
    fn write(&self, bin: &[u8]) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&(self.key.len() as u64).to_le_bytes())?;
        tmp.write_all(self.key.as_bytes())?;
        tmp.write_all(&checksum(bin).to_le_bytes())?;
        tmp.write_all(&(bin.len() as u64).to_le_bytes())?;
        tmp.write_all(bin)?;
        tmp.persist(&self.path)?;
        Ok(())
    }
}

/// A checksum of `bytes` (std's SipHash: a Rust release that changes it only makes entries
/// written before it miss).
fn checksum(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// A length-prefixed (u64, little-endian) run of bytes, and what follows it.
fn take_sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_at_checked(8)?;
    let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
    rest.split_at_checked(len)
}
