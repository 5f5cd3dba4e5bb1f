//! `hello`: a greeting, the smallest program that shows weft runs things.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "Hello from weft!").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => coreutils::write_failed("hello", &e),
    }
}
