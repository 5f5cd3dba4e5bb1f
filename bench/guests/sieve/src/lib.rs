//! A tight loop over memory: the sieve of Eratosthenes.

/// The workload: sieves the primes below `n`; the checksum combines their count and sum.
pub fn run(n: u32) -> u64 {
    let n = n as usize;
    let mut composite = vec![false; n.max(2)];
    let (mut count, mut sum) = (0u64, 0u64);
    for i in 2..n {
        if composite[i] {
            continue;
        }
        count += 1;
        sum += i as u64;
        // `i * i` overflows a 32-bit `usize` (wasm32) for large `i`: then nothing is left
        // to cross out.
        let Some(mut j) = i.checked_mul(i) else {
            continue;
        };
        while j < n {
            composite[j] = true;
            j += i;
        }
    }
    bench_common::mix(count, sum)
}

bench_common::export_run!(crate::run);
