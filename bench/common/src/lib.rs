//! What every benchmark guest shares: a deterministic random generator for making inputs,
//! a checksum mixer, and the macro that exports a workload as the Wasm entry point
//! `run(n: i32) -> i64`.
//!
//! A guest crate defines `pub fn run(n: u32) -> u64` (the workload at size `n`, returning a
//! checksum of its result) and invokes [`export_run!`]. Built for `wasm32`, the macro adds
//! the `#[no_mangle]` export the harness calls; built natively, it adds nothing, and the
//! harness calls `run` as a plain Rust function.
#![no_std]

/// A small, fast, deterministic pseudo-random generator (xorshift64*), so that every
/// runtime and the native build see exactly the same input.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (any value; zero is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..bound` (`bound > 0`; slightly biased, which does not matter here).
    pub fn below(&mut self, bound: u32) -> u32 {
        ((u64::from(self.next_u32()) * u64::from(bound)) >> 32) as u32
    }

    /// A float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Folds `value` into the running checksum `hash` (order-sensitive).
pub fn mix(hash: u64, value: u64) -> u64 {
    let x = (hash ^ value).wrapping_mul(0x0000_0100_0000_01b3);
    x ^ (x >> 29)
}

/// Exports `$run` (a `fn(u32) -> u64`) as the Wasm function `run(i32) -> i64` when building
/// for `wasm32`; does nothing natively, where the harness calls the Rust function directly.
#[macro_export]
macro_rules! export_run {
    ($run:path) => {
        #[cfg(target_arch = "wasm32")]
        mod wasm_export {
            /// The Wasm entry point the harness calls: the workload at size `n`.
            #[unsafe(no_mangle)]
            pub extern "C" fn run(n: u32) -> u64 {
                $run(n)
            }
        }
    };
}
