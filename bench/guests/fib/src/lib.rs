//! Recursive calls: the naive doubly recursive Fibonacci function.

/// `fib(n)`, computed with about `2 * fib(n)` calls.
pub fn fib(n: u32) -> u64 {
    if n < 2 {
        u64::from(n)
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// The workload: `fib(n)` itself is the checksum.
pub fn run(n: u32) -> u64 {
    fib(core::hint::black_box(n))
}

bench_common::export_run!(crate::run);
