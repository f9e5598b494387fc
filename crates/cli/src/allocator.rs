//! mimalloc settings for the binary (the allocator itself is chosen in
//! `main.rs`).
//!
//! One setting: freed memory that mimalloc gives back to the OS is
//! released with `MADV_FREE` ("reset") instead of `MADV_DONTNEED`
//! ("decommit", mimalloc's default on Linux). Why: the stream commands free
//! and allocate large amounts in waves (incidents closing, the correlator's
//! slab, hunt's per-file batches). With decommit, every page mimalloc gave
//! back (10 ms after it went idle) is unmapped, and the next allocation
//! there makes the kernel zero a fresh page; with transparent huge pages,
//! 2 MiB at a time. perf put 16-25% of `bench incidents` in the kernel's
//! `clear_page_erms`, and its result swung from 257k to 579k findings/s
//! between runs. With `MADV_FREE` the kernel takes the pages back only
//! when it needs memory, and until then reusing them costs nothing: the
//! same bench gives 537-608k. The price: `top` and `ps` show those pages in
//! RSS until the kernel reclaims them (they are available to other
//! processes all along). `MIMALLOC_PURGE_DECOMMITS=1` in the environment
//! restores mimalloc's default.

use std::ffi::{c_int, c_long};

// The option's number in `mi_option_t` of the mimalloc bundled by
// libmimalloc-sys 0.1.49 (mimalloc v3, `include/mimalloc.h`); the test
// below checks its and its neighbours' defaults, so a renumbering upstream
// fails there rather than setting the wrong option.
const PURGE_DECOMMITS: c_int = 5;

unsafe extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// Applies the settings above, unless the user set the option in the
/// environment (mimalloc reads `MIMALLOC_*` variables at start-up).
pub fn tune() {
    if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_some() {
        return;
    }
    // SAFETY: plain calls into the linked mimalloc; options may be set at
    // any time and are read when memory is purged.
    unsafe { mi_option_set(PURGE_DECOMMITS, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARENA_EAGER_COMMIT: c_int = 4;
    const ALLOW_LARGE_OS_PAGES: c_int = 6;

    unsafe extern "C" {
        fn mi_option_get(option: c_int) -> c_long;
    }

    /// The option numbers still mean what we think: the defaults of the
    /// option and its neighbours (mimalloc v3 `options.c`) line up.
    #[test]
    fn option_numbers_match_the_bundled_mimalloc() {
        if std::env::var_os("MIMALLOC_PURGE_DECOMMITS").is_some()
            || std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_some()
            || std::env::var_os("MIMALLOC_ALLOW_LARGE_OS_PAGES").is_some()
        {
            eprintln!("NOTICE: MIMALLOC_* options set in the environment; defaults not checked");
            return;
        }
        // SAFETY: as in `tune`.
        let (eager, decommits, large) = unsafe {
            (
                mi_option_get(ARENA_EAGER_COMMIT),
                mi_option_get(PURGE_DECOMMITS),
                mi_option_get(ALLOW_LARGE_OS_PAGES),
            )
        };
        assert_eq!((eager, decommits, large), (2, 1, 0));
        tune();
        // SAFETY: as in `tune`.
        assert_eq!(unsafe { mi_option_get(PURGE_DECOMMITS) }, 0);
    }
}
