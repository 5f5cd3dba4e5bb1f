//! Allocation-heavy work that makes the allocator grow linear memory (`memory.grow`):
//! vectors grown by pushing, a `BTreeMap` and a `HashMap` of owned strings (the
//! `HashMap`'s random keys come from `random_get`), and one 48 MiB vector. Prints
//! deterministic results, the same natively and on Wasm.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

struct Lcg(u32);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0 >> 8
    }
}

fn main() -> ExitCode {
    let mut rng = Lcg(12345);

    let mut vectors: Vec<Vec<u32>> = Vec::new();
    for v in 0..500u32 {
        let len = rng.next() % 1024;
        let mut items = Vec::new();
        for i in 0..len {
            items.push(v.wrapping_mul(31).wrapping_add(i));
        }
        vectors.push(items);
    }
    let total: u64 = vectors.iter().flatten().map(|&x| u64::from(x)).sum();
    println!(
        "vectors {} sum {total}",
        vectors.iter().map(Vec::len).sum::<usize>()
    );
    drop(vectors);

    let mut tree = BTreeMap::new();
    let mut hash = HashMap::new();
    for k in 0..10_000u32 {
        let key = format!("key-{k}-{}", k.wrapping_mul(2_654_435_761));
        tree.insert(key.clone(), k);
        hash.insert(key, k);
    }
    let first = tree.keys().next().cloned().unwrap_or_default();
    let last = tree.keys().next_back().cloned().unwrap_or_default();
    let found = tree
        .iter()
        .filter(|(k, v)| hash.get(k.as_str()) == Some(v))
        .count();
    println!("maps {found} first {first} last {last}");

    let size = 48 << 20;
    let mut big = vec![0u8; size];
    for i in (0..size).step_by(65536) {
        big[i] = (i >> 16) as u8;
    }
    big[size - 1] = 0x5A;
    let good = (0..size).step_by(65536).all(|i| big[i] == (i >> 16) as u8) && big[size - 1] == 0x5A;
    if !good {
        eprintln!("FAIL big vector contents");
        return ExitCode::FAILURE;
    }
    println!("big ok");
    #[cfg(target_family = "wasm")]
    if core::arch::wasm32::memory_size(0) * 65536 <= size {
        eprintln!("FAIL linear memory did not grow");
        return ExitCode::FAILURE;
    }
    println!("memory grew ok");
    ExitCode::SUCCESS
}
