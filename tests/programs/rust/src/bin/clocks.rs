//! Checks `std::time`: `Instant` never goes back and advances across some work, and
//! `SystemTime::now()` is after 2020-01-01 and before 2200. Prints `... ok` per check, or
//! `FAIL ...` on stderr and exits 1.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let mut ok = true;
    let mut report = |good: bool, what: &str| {
        if good {
            println!("{what} ok");
        } else {
            eprintln!("FAIL {what}");
            ok = false;
        }
    };

    let first = Instant::now();
    let mut prev = first;
    let mut backwards = false;
    let mut x = 1u32;
    for _ in 0..1_000_000 {
        for _ in 0..100 {
            x = black_box(x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223));
        }
        let now = Instant::now();
        backwards |= now < prev;
        prev = now;
        if prev > first {
            break;
        }
    }
    report(!backwards && prev > first, "monotonic");

    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since_epoch.as_secs();
    report(secs > 1_577_836_800 && secs < 7_258_118_400, "realtime");

    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
