//! SQLite as a benchmark workload: an in-memory database filled, indexed, queried and
//! changed by `driver.c` (see the comment at its top). This crate is the native side: the
//! driver and SQLite compiled by the build script, and where their sources are, for the
//! harness's wasm32-wasi build of the same files.

/// The driver: `run(n)` of the Wasm build (wasm32-wasi), linked from `driver.c`.
pub const DRIVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/driver.c");

/// SQLite's amalgamation, in the source of the `libsqlite3-sys` crate.
pub const AMALGAMATION: &str = env!("BENCH_SQLITE_AMALGAMATION");

/// The compiler of the native build (the first line of its `--version`).
pub const NATIVE_COMPILER: &str = env!("BENCH_SQLITE_NATIVE_CC");

#[expect(unsafe_code, reason = "the one foreign function, defined in driver.c")]
mod ffi {
    unsafe extern "C" {
        /// Defined in driver.c; touches nothing but its own (SQLite's) state.
        pub safe fn bench_sqlite_run(n: u32) -> u64;
    }
}

/// The workload at size `n`: its checksum, or a value with `0xdead` in the top 16 bits
/// naming the step where SQLite reported an error.
pub fn run(n: u32) -> u64 {
    ffi::bench_sqlite_run(n)
}

/// Whether `checksum` is the driver's report of a failed step rather than a result.
pub fn failed(checksum: u64) -> bool {
    checksum >> 48 == 0xdead
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_without_an_error_and_repeats_itself() {
        for n in [0, 1, 200, 2_000] {
            let first = run(n);
            assert!(!failed(first), "run({n}) failed: {first:#018x}");
            assert_eq!(run(n), first, "run({n}) differs on its second call");
        }
        assert_ne!(
            run(200),
            run(201),
            "the checksum does not depend on the rows"
        );
    }

    #[test]
    fn sources_exist() {
        assert!(std::path::Path::new(DRIVER).is_file());
        assert!(std::path::Path::new(AMALGAMATION).is_file());
    }
}
