//! Test support shared by every crate's tests: where the read-only corpus
//! (`../shared/data`, beside the repository) lives, and what to do when it is
//! missing.
//!
//! Policy (DEVELOPERS.md): tests over the shared corpus run in CI, where a
//! missing corpus is a failure (`CI=true`); on a machine without it they print
//! a visible `SKIP:` notice and pass, so a fresh clone still runs green.
//! `KILLCHAIN_SHARED_DATA` points somewhere else.
//!
//! Also [`Rng`], the one deterministic generator tests use for generated
//! data.

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

/// A small deterministic generator (xorshift64, shifts 13 / 7 / 17): the
/// same seed gives the same stream everywhere, with no dependency. For
/// generated test data only (differential tests, long flows); the quality
/// of its randomness does not matter there. A seed of 0 gives only zeros.
///
/// `killchain bench incidents` keeps its own copy of these few lines: it is
/// part of the binary, and this crate is a dev-dependency only.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next value of the stream.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A value in `0..n` (`n` > 0; modulo bias is fine for tests).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// [`Rng::below`] for indexes.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_stream_is_the_xorshift_the_generated_data_was_made_with() {
        // Pinned: the correlate differential test's streams (and `bench
        // incidents`' copy) are made of exactly these values.
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        assert_eq!(r.next_u64(), 0xdc1b_77ae_0bf3_4dad);
        assert_eq!(Rng(1).next_u64(), 1_082_269_761);
        assert_eq!(Rng(1).below(10), 1);
        assert_eq!(Rng(1).index(10), 1);
    }
}
