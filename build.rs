//! Build facts for `--version` and `scimdrift_build_info`: the git revision (or
//! `SCIMDRIFT_BUILD_REVISION` for builds outside a git checkout, `unknown` otherwise) and the
//! compiler's version.

use std::process::Command;

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    let revision = std::env::var("SCIMDRIFT_BUILD_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    // `rustc 1.95.0 (59807616e 2026-04-14)` → `1.95.0`.
    let rustc_version = output(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SCIMDRIFT_REVISION={revision}");
    println!("cargo:rustc-env=SCIMDRIFT_RUSTC={rustc_version}");
    println!("cargo:rerun-if-env-changed=SCIMDRIFT_BUILD_REVISION");
    // A new commit moves the branch's ref (or packed-refs), not HEAD itself.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/packed-refs");
    if let Some(head) = std::fs::read_to_string(".git/HEAD").ok()
        && let Some(r) = head.trim().strip_prefix("ref: ")
    {
        println!("cargo:rerun-if-changed=.git/{r}");
    }
}
