//! `sleep DURATION...`: waits for the sum of the durations: numbers of seconds, fractions
//! allowed, with an optional unit `s`, `m`, `h` or `d` (`sleep 0.5`, `sleep 1m 30`).

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "sleep NUMBER[s|m|h|d]...";

/// Parses one duration.
fn parse(arg: &str) -> Result<f64, String> {
    let (number, scale) = match arg.char_indices().last() {
        Some((i, 's')) => (&arg[..i], 1.0),
        Some((i, 'm')) => (&arg[..i], 60.0),
        Some((i, 'h')) => (&arg[..i], 3600.0),
        Some((i, 'd')) => (&arg[..i], 86400.0),
        _ => (arg, 1.0),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n * scale),
        _ => Err(format!("invalid time interval `{arg}`")),
    }
}

fn main() -> ExitCode {
    let args = match coreutils::start("sleep") {
        Ok(a) => a,
        Err(code) => return code,
    };
    if args.is_empty() {
        return coreutils::usage("sleep", "missing operand", USAGE);
    }
    let mut seconds = 0.0;
    for arg in &args {
        match parse(arg) {
            Ok(s) => seconds += s,
            Err(e) => return coreutils::usage("sleep", &e, USAGE),
        }
    }
    match Duration::try_from_secs_f64(seconds) {
        Ok(d) => {
            std::thread::sleep(d);
            ExitCode::SUCCESS
        }
        Err(_) => coreutils::usage("sleep", "interval too long", USAGE),
    }
}
