//! Sorting a large array: the standard library's unstable sort on random `u64` keys and its
//! stable sort on random `(u32, u32)` pairs.

use bench_common::{Rng, mix};

/// The workload: sorts `n` random keys and `n` random pairs; the checksum samples both
/// sorted arrays (and fails loudly if either is not sorted).
pub fn run(n: u32) -> u64 {
    let n = n as usize;
    let mut rng = Rng::new(0x5eed_0001);
    let mut keys: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    keys.sort_unstable();
    let mut pairs: Vec<(u32, u32)> = (0..n).map(|i| (rng.below(1000), i as u32)).collect();
    pairs.sort_by_key(|p| p.0);

    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "keys not sorted");
    assert!(pairs.windows(2).all(|w| w[0] <= w[1]), "pairs not sorted");
    let mut hash = n as u64;
    let stride = (n / 1024).max(1);
    for i in (0..n).step_by(stride) {
        hash = mix(hash, keys[i]);
        hash = mix(hash, (u64::from(pairs[i].0) << 32) | u64::from(pairs[i].1));
    }
    hash
}

bench_common::export_run!(crate::run);
