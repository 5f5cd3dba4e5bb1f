//! `spin N`: computes for N rounds without a single system call, then prints a checksum.
//! A process that never waits: the scheduler can only take the CPU from it by preemption
//! (fuel), which is what it is for (`spin 4000000000 &` and the shell still answers).

use std::hint::black_box;
use std::process::ExitCode;

const USAGE: &str = "spin ROUNDS";

fn main() -> ExitCode {
    let args = match coreutils::start("spin") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let [rounds] = args.as_slice() else {
        return coreutils::usage("spin", "expected one operand", USAGE);
    };
    let Ok(rounds) = rounds.parse::<u64>() else {
        return coreutils::usage("spin", &format!("`{rounds}` is not a count"), USAGE);
    };
    // An xorshift generator: cheap, and its state depends on every round.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = black_box(x);
    }
    println!("spin: {x:#018x}");
    ExitCode::SUCCESS
}
