//! `cargo xtask check-package`: every published crate packed and built as crates.io would.
use crate::must;
use std::path::Path;
use std::process::Command;

/// The crates as crates.io would get them: `cargo package` packs each published member and
/// builds it from its `.crate` file alone, with its dependencies on the other members resolved
/// to their packed versions, so a file left out of a package, a dependency without a version or
/// a name crates.io already has fails here rather than at `cargo publish`.
pub fn check_package() {
    const DIR: &str = "target/package-check";
    // cargo unpacks the packed members into `$CARGO_HOME/registry/src/-HASH/` (a local registry
    // standing in for crates.io) and builds them as registry crates, which it takes to be
    // immutable: an earlier run's sources or builds would be used again, unchanged. So both go.
    let _ = std::fs::remove_dir_all(DIR);
    forget_packed_members();
    must(
        &[
            "cargo",
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--allow-dirty",
        ],
        &[("CARGO_TARGET_DIR", DIR)],
    );
    let _ = std::fs::remove_dir_all(DIR);
    forget_packed_members();
    eprintln!("xtask check-package: every published crate builds from its package alone");
}

/// Removes what earlier `cargo package` runs unpacked of this workspace's members from the
/// local registries under `$CARGO_HOME/registry/src` (folders whose names start with `-`; a
/// remote registry's start with its host). cargo unpacks them again from the `.crate` files.
fn forget_packed_members() {
    let out = Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .expect("run cargo metadata");
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let members: Vec<String> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(format!(
                "{}-{}",
                p["name"].as_str()?,
                p["version"].as_str()?
            ))
        })
        .collect();
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(src) else {
        return;
    };
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for member in &members {
            let _ = std::fs::remove_dir_all(registry.path().join(member));
        }
    }
}
