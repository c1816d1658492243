//! What several test binaries share.

/// Runs test `name` of this test binary again, alone, in a child process with `env` added and,
/// with `address_space_kib`, under `ulimit -v` of that many KiB (through bash). Fails the
/// calling test when the child fails; otherwise returns what it printed to stdout.
///
/// For what one process cannot check twice: the device opens once per process, and a memory
/// limit cannot be lifted once set.
pub fn rerun_alone(name: &str, env: &[(&str, &str)], address_space_kib: Option<u64>) -> String {
    let ulimit = address_space_kib.map_or(String::new(), |k| format!("ulimit -v {k} && "));
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("{ulimit}exec \"$0\" \"$@\""))
        .arg(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {env:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The backend on nn-cuda-emu, for a test of what only the emulator can be told to do
/// (`needs`); `None`, after printing `SKIPPED {what}` and why, without a device or on a GPU.
#[allow(dead_code)] // not every test binary that includes this module needs it
pub fn emulated_backend(what: &str, needs: &str) -> Option<nn_cuda::Cuda<f32>> {
    let b = nn_cuda::test_backend::<f32>(what)?;
    if b.is_emulated() {
        return Some(b);
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {what}: needs {needs} (this is {})",
        b.device_name()
    );
    None
}
