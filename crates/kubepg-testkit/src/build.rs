//! Building the `kubepg` binary from a test or the bench: Cargo only gives a program the
//! binaries of its own package, and `kubepg` belongs to `kubepg-cli`. The build runs with the
//! cargo running the caller, into the caller's target directory, and the binary's path comes
//! from cargo's own build messages; when nothing changed the build is a no-op.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// Builds `kubepg` with `profile` (`[]` for dev, `["--release"]`, `["--profile", name]`) and
/// returns its path. `stderr` is where cargo's progress goes; when it is piped, a failed build's
/// error carries it.
pub fn build_kubepg(profile: &[&str], stderr: Stdio) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "kubepg-cli", "--bin", "kubepg"])
        .args(profile)
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(workspace_manifest()?);
    let exe = std::env::current_exe().map_err(|e| format!("the caller's own path: {e}"))?;
    if let Some(target) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()) {
        cmd.arg("--target-dir").arg(target);
    }
    // Cargo gives the caller the variables of its own unit (`CARGO_PKG_NAME`,
    // `CARGO_MANIFEST_DIR`, `OUT_DIR`, …). Build scripts such as ring's say
    // `rerun-if-env-changed` for some of them, so passing them on would make this build and a
    // plain `cargo build` invalidate each other's artifacts, rebuilding half the tree each time.
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name == "OUT_DIR"
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || name.starts_with("CARGO_BIN_")
            || matches!(
                &*name,
                "CARGO_CRATE_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "CARGO_RUSTC_CURRENT_DIR"
            )
        {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .stdin(Stdio::null())
        .stderr(stderr)
        .output()
        .map_err(|e| format!("running cargo build -p kubepg-cli: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build -p kubepg-cli {} failed ({}):\n{}",
            profile.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    out.stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "kubepg")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo built no kubepg executable".to_string())
}

/// The workspace's Cargo.toml, found from the caller's package directory at run time (cargo
/// sets CARGO_MANIFEST_DIR for tests and `cargo run`); the compile-time path is the fallback,
/// since it is another checkout's when a shared target directory holds the caller from there.
fn workspace_manifest() -> Result<PathBuf, String> {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    package
        .ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|m| is_workspace(m))
        .ok_or_else(|| format!("no workspace Cargo.toml above {}", package.display()))
}

fn is_workspace(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest).is_ok_and(|text| text.contains("[workspace]"))
}
