//! A tight integer loop: Collatz sequence lengths, all in registers, no memory traffic.

/// The number of Collatz steps from `x` down to 1.
fn steps(mut x: u64) -> u32 {
    let mut steps = 0;
    while x != 1 {
        x = if x & 1 == 0 { x >> 1 } else { 3 * x + 1 };
        steps += 1;
    }
    steps
}

/// The workload: the lengths of the Collatz sequences of every start value in `1..=n`.
/// The checksum combines their sum, the longest one and the value that starts it.
pub fn run(n: u32) -> u64 {
    let mut total = 0u64;
    let (mut longest, mut argmax) = (0u32, 0u64);
    for x in 1..=u64::from(n) {
        let s = steps(x);
        total += u64::from(s);
        if s > longest {
            longest = s;
            argmax = x;
        }
    }
    bench_common::mix(bench_common::mix(total, u64::from(longest)), argmax)
}

bench_common::export_run!(crate::run);
