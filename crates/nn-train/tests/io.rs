//! Atomic writes (`nn_train::io`): whole files, links written through, permissions kept,
//! devices and FIFOs written in place, directories refused.

use nn_train::io::{check_writable, render_atomic, write_atomic};
use std::fs;
use std::path::Path;

/// Entries in `dir`, to show that no temporary file is left behind.
fn entries(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn atomic_writes_replace_whole_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.bin");
    write_atomic(&p, b"first version").unwrap();
    write_atomic(&p, b"second").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"second");
    assert_eq!(entries(dir.path()), 1);
    let missing = dir.path().join("missing");
    let err = write_atomic(&missing.join("f.bin"), b"x")
        .unwrap_err()
        .to_string();
    // The directory is named, not tempfile's random file name in it.
    let reason = fs::File::open(missing.join("f.bin")).unwrap_err(); // "No such file …" on Linux
    let want = format!("cannot create a file in {}: {reason}", missing.display());
    assert!(err.contains(&want) && !err.contains(".nn-"), "{err}");
    assert_eq!(entries(dir.path()), 1);
    // A path through a file (`f.bin/g.bin`) is refused as the OS refuses it; f.bin is kept.
    let err = write_atomic(&p.join("g.bin"), b"x")
        .unwrap_err()
        .to_string();
    let reason = fs::File::create(p.join("g.bin")).unwrap_err(); // "Not a directory" on Linux
    assert!(err.contains(&reason.to_string()), "{err}");
    assert_eq!(fs::read(&p).unwrap(), b"second");
    assert_eq!(entries(dir.path()), 1);
}

#[test]
fn check_writable_writes_nothing_and_refuses_what_a_write_would() {
    let dir = tempfile::tempdir().unwrap();
    check_writable(&dir.path().join("new.json")).unwrap();
    let err = check_writable(dir.path()).unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    let err = check_writable(&dir.path().join("missing/new.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot create a file in"), "{err}");
    // No probe file is left behind.
    assert_eq!(entries(dir.path()), 0);
}

#[test]
fn a_directory_is_not_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("figures");
    fs::create_dir(&sub).unwrap();
    let err = write_atomic(&sub, b"x").unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    let err = render_atomic(&sub, |_| panic!("rendered into a directory"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is a directory"), "{err}");
    // Nothing was written, and the directory is still a directory.
    assert!(sub.is_dir());
    assert_eq!(entries(dir.path()), 1);
    assert_eq!(entries(&sub), 0);
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    /// Writes "old" to `p` and gives it mode `m`.
    fn old_file(p: &Path, m: u32) {
        fs::write(p, b"old").unwrap();
        fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn new_files_get_the_permissions_std_fs_write_gives() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        fs::write(&plain, b"x").unwrap();
        let ours = dir.path().join("ours");
        write_atomic(&ours, b"x").unwrap();
        let rendered = dir.path().join("rendered.svg");
        render_atomic(&rendered, |tmp| {
            fs::write(tmp, b"<svg/>").map_err(|error| nn_core::Error::Io {
                path: tmp.to_path_buf(),
                error,
            })
        })
        .unwrap();
        // Not the temporary file's private 0600 (unless the umask says so).
        assert_eq!(mode(&ours), mode(&plain));
        assert_eq!(mode(&rendered), mode(&plain));
    }

    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        let dir = tempfile::tempdir().unwrap();
        for (name, m) in [("private", 0o600), ("shared", 0o664), ("script", 0o750)] {
            let p = dir.path().join(name);
            old_file(&p, m);
            write_atomic(&p, b"new").unwrap();
            assert_eq!(fs::read(&p).unwrap(), b"new");
            assert_eq!(mode(&p), m, "{name}");
        }
        assert_eq!(entries(dir.path()), 3);
    }

    #[test]
    fn a_read_only_file_is_replaced_only_where_std_fs_write_could_write_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("frozen");
        old_file(&p, 0o444);
        // Root may write it, anyone else may not: compare with what std::fs::write may do.
        let writable = fs::OpenOptions::new().write(true).open(&p).is_ok();
        let r = write_atomic(&p, b"new");
        assert_eq!(r.is_ok(), writable, "{r:?}");
        let want: &[u8] = if writable { b"new" } else { b"old" };
        assert_eq!(fs::read(&p).unwrap(), want);
        if let Err(e) = r {
            assert!(e.to_string().contains("Permission denied"), "{e}");
        }
        assert_eq!(mode(&p), 0o444);
        assert_eq!(entries(dir.path()), 1);
    }

    #[test]
    fn a_symbolic_link_is_written_through_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("weights.safetensors");
        old_file(&real, 0o640);
        // A link to a link, the second one relative to its own directory.
        fs::create_dir(dir.path().join("sub")).unwrap();
        let inner = dir.path().join("sub/inner");
        symlink("../weights.safetensors", &inner).unwrap();
        let outer = dir.path().join("latest");
        symlink(&inner, &outer).unwrap();

        write_atomic(&outer, b"new").unwrap();
        assert!(fs::symlink_metadata(&outer)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(fs::symlink_metadata(&inner)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert_eq!(mode(&real), 0o640);
        // weights.safetensors, sub, latest: no temporary file left in either directory.
        assert_eq!(entries(dir.path()), 3);
        assert_eq!(entries(&dir.path().join("sub")), 1);
    }

    #[test]
    fn a_dangling_link_gets_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("report.json");
        symlink("runs/report-1.json", &link).unwrap();
        fs::create_dir(dir.path().join("runs")).unwrap();
        write_atomic(&link, b"{}").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            fs::read(dir.path().join("runs/report-1.json")).unwrap(),
            b"{}"
        );

        // A link into a directory that does not exist is an error naming the link.
        let broken = dir.path().join("broken");
        symlink("nowhere/file", &broken).unwrap();
        let err = write_atomic(&broken, b"x").unwrap_err().to_string();
        assert!(err.contains("broken"), "{err}");
    }

    /// Makes a FIFO with `mkfifo` and reads it to the end on another thread.
    fn fifo_reader(
        dir: &Path,
        name: &str,
    ) -> (std::path::PathBuf, std::thread::JoinHandle<Vec<u8>>) {
        let fifo = dir.join(name);
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs")
            .success();
        assert!(ok, "mkfifo failed");
        let path = fifo.clone();
        let reader = std::thread::spawn(move || fs::read(path).unwrap());
        (fifo, reader)
    }

    #[test]
    fn a_fifo_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let (fifo, reader) = fifo_reader(dir.path(), "pipe");
        write_atomic(&fifo, b"through the pipe").unwrap();
        // Checked first: a reader blocked on a FIFO that was renamed over would wait forever.
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert_eq!(entries(dir.path()), 1);

        let (fifo, reader) = fifo_reader(dir.path(), "figure.svg");
        render_atomic(&fifo, |tmp| {
            assert_eq!(tmp.parent(), Some(std::env::temp_dir().as_path()));
            fs::write(tmp, b"rendered").map_err(|error| nn_core::Error::Io {
                path: tmp.to_path_buf(),
                error,
            })
        })
        .unwrap();
        // Checked first: a reader blocked on a FIFO that was renamed over would wait forever.
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(reader.join().unwrap(), b"rendered");
        assert_eq!(entries(dir.path()), 2);
    }

    #[test]
    fn a_device_is_written_in_place_and_its_errors_come_back() {
        // /dev/null takes anything and stays a device.
        let null = Path::new("/dev/null");
        write_atomic(null, b"discarded").unwrap();
        assert!(fs::metadata(null).unwrap().file_type().is_char_device());
        // /dev/full refuses every write with "No space left on device".
        let full = Path::new("/dev/full");
        if fs::metadata(full).is_ok_and(|m| m.file_type().is_char_device()) {
            let err = write_atomic(full, b"x").unwrap_err().to_string();
            assert!(err.contains("/dev/full"), "{err}");
            assert!(fs::metadata(full).unwrap().file_type().is_char_device());
        }
    }
}
