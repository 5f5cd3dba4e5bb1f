//! Calls into the host: a loop that calls the imported function `env.host_mix` once per
//! iteration. Natively, `host_mix` is a plain Rust function that is never inlined.

/// What `env.host_mix` computes; every runtime's host function and the native build call
/// this, so the checksum is the same everywhere.
pub fn host_mix_impl(x: i32) -> i32 {
    (x.rotate_left(5) ^ 0x2f6b_1d0d).wrapping_add(1)
}

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    /// The host function the harness provides.
    safe fn host_mix(x: i32) -> i32;
}

/// The native stand-in for the host function.
#[cfg(not(target_arch = "wasm32"))]
#[inline(never)]
fn host_mix(x: i32) -> i32 {
    host_mix_impl(core::hint::black_box(x))
}

/// The workload: `n` calls to the host; the checksum is the final accumulator.
pub fn run(n: u32) -> u64 {
    let mut acc = 0i32;
    for i in 0..n {
        acc = host_mix(acc ^ i as i32);
    }
    u64::from(acc as u32)
}

bench_common::export_run!(crate::run);
