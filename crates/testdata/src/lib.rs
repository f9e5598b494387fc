//! Test support shared by every crate's tests: where the read-only corpus
//! (`../shared/data`, beside the repository) lives, and what to do when it is
//! missing.
//!
//! Policy (DEVELOPERS.md): tests over the shared corpus run in CI, where a
//! missing corpus is a failure (`CI=true`); on a machine without it they print
//! a visible `SKIP:` notice and pass, so a fresh clone still runs green.
//! `KILLCHAIN_SHARED_DATA` points somewhere else.

use std::path::{Path, PathBuf};

/// The corpus root: `$KILLCHAIN_SHARED_DATA`, else `../shared/data` beside
/// the workspace. Not checked for existence.
pub fn root() -> PathBuf {
    match std::env::var_os("KILLCHAIN_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// `rel` inside the corpus (`""` for the root) if it exists. Otherwise:
/// panics under `CI=true`, else prints `SKIP: <path> not found` and returns
/// None so the caller can return early.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = if rel.is_empty() {
        root()
    } else {
        root().join(rel)
    };
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is missing and CI=true: CI needs ../shared beside the repository",
        p.display()
    );
    eprintln!(
        "SKIP: {} not found (needs ../shared/data beside the repository)",
        p.display()
    );
    None
}

/// The corpus root if present (see [`shared`]).
pub fn shared_data() -> Option<PathBuf> {
    shared("")
}
