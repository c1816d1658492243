//! `cargo xtask bundle`: the release CUDA test, example and bench binaries in `bundle/`
//! (gzipped; `run.sh` unpacks them), with `run.sh`, the peers' scripts and `launch_floor.cu`,
//! for a GPU machine without a Rust toolchain.
use crate::built_executables;
use std::path::Path;
use std::process::{exit, Command};

/// The script that runs the bundle on the GPU machine (or, with `NN_BUNDLE_EMU`, on
/// nn-cuda-emu): a file of its own, so that shell tools read it as shell.
const RUN_SH: &str = include_str!("run.sh");

pub fn bundle() {
    let dir = Path::new("bundle");
    let _ = std::fs::remove_dir_all(dir);
    for sub in ["tests", "examples", "benches"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create bundle/");
    }
    let sets: [(&str, Vec<&str>); 3] = [
        (
            "tests",
            vec!["test", "--release", "-p", "nn-cuda", "--no-run"],
        ),
        (
            "examples",
            // Without figures (run.sh passes --no-plot): plotters would make the bundle larger
            // than the device tool carries.
            vec![
                "build",
                "--release",
                "--no-default-features",
                "--features",
                "cuda",
                "--examples",
            ],
        ),
        (
            "benches",
            vec![
                "bench",
                "--no-default-features",
                "--features",
                "cuda",
                "--no-run",
                "--bench",
                "matmul",
                "--bench",
                "train_step",
                "--bench",
                "rnnlm",
            ],
        ),
    ];
    for (sub, args) in sets {
        for exe in built_executables(&args) {
            let name = Path::new(&exe)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            // Test binaries are named `NAME-HASH`; keep the name.
            let short = match sub {
                "examples" => name.clone(),
                _ => name
                    .rsplit_once('-')
                    .map_or(name.clone(), |(n, _)| n.to_string()),
            };
            let to = dir.join(sub).join(&short);
            std::fs::copy(&exe, &to).expect("copy binary");
            strip_debug_info(&to);
            compress(&to);
            eprintln!("bundled {sub}/{short}");
        }
    }
    for file in ["gpu_peers.py", "rnnlm_peers.py", "launch_floor.cu"] {
        std::fs::copy(Path::new("benches").join(file), dir.join(file)).expect("copy a bench file");
    }
    // The book's NumPy code, for rnnlm_peers.py, where the checkout has it beside it.
    let book = Path::new("../shared/reference/book_ch05.py");
    if book.is_file() {
        std::fs::copy(book, dir.join("book_ch05.py")).expect("copy book_ch05.py");
    } else {
        eprintln!(
            "xtask: {} not found; rnnlm_peers.py will skip NumPy",
            book.display()
        );
    }
    let run_sh = dir.join("run.sh");
    std::fs::write(&run_sh, RUN_SH).expect("write run.sh");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run_sh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let size = dir_size(dir);
    eprintln!(
        "bundle/ ready ({:.1} MiB): copy it to the GPU machine and run bundle/run.sh",
        size as f64 / MIB
    );
    if size as f64 > BUNDLE_LIMIT_MIB * MIB {
        eprintln!(
            "xtask: bundle/ is over {BUNDLE_LIMIT_MIB} MiB, more than the device tool carries \
             (64 MiB with the working tree)"
        );
        exit(1);
    }
}

const MIB: f64 = 1024.0 * 1024.0;
/// The most `bundle/` may hold: the device tool carries 64 MiB, the working tree included.
const BUNDLE_LIMIT_MIB: f64 = 60.0;

/// Drops the debug information from a bundled binary (the release profile keeps line tables,
/// which make the bundle ten times larger); the symbols stay, so backtraces still name
/// functions. Without binutils' `strip` the binary stays as it is, with a warning.
fn strip_debug_info(path: &Path) {
    match Command::new("strip")
        .arg("--strip-debug")
        .arg(path)
        .status()
    {
        Ok(s) if s.success() => {}
        other => eprintln!(
            "xtask: could not strip {} ({other:?}); it keeps its debug information",
            path.display()
        ),
    }
}

/// Replaces a bundled binary by `NAME.gz` (`run.sh` unpacks them first), so that the bundle
/// keeps the binaries' symbols and still fits what the device tool carries. Without `gzip` the
/// binary stays as it is, with a warning.
fn compress(path: &Path) {
    match Command::new("gzip")
        .args(["-9", "-n", "-f"])
        .arg(path)
        .status()
    {
        Ok(s) if s.success() => {}
        other => eprintln!(
            "xtask: could not gzip {} ({other:?}); it stays uncompressed",
            path.display()
        ),
    }
}

/// Bytes in the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    /// The script is checked here, not first on the GPU machine: bash parses all of it.
    #[test]
    fn run_sh_is_valid_bash() {
        let out = std::process::Command::new("bash")
            .args(["-n", "-c", super::RUN_SH])
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "bash -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
