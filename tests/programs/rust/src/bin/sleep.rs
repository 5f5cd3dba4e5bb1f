//! `sleep MILLISECONDS`: `std::thread::sleep` (poll_oneoff with a clock subscription on
//! wasm32-wasip1), checked against `Instant` to have returned no earlier than asked.
//! Prints `sleep ok`, or `FAIL ...` on stderr and exits 1.

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn main() -> ExitCode {
    let Some(ms) = std::env::args().nth(1).and_then(|a| a.parse::<u64>().ok()) else {
        eprintln!("usage: sleep MILLISECONDS");
        return ExitCode::from(2);
    };
    let wanted = Duration::from_millis(ms);
    let start = Instant::now();
    std::thread::sleep(wanted);
    let elapsed = start.elapsed();
    if elapsed < wanted {
        eprintln!("FAIL sleep: returned after {elapsed:?}, wanted {wanted:?}");
        return ExitCode::FAILURE;
    }
    println!("sleep ok");
    ExitCode::SUCCESS
}
