//! Reads all of stdin as UTF-8 (`read_to_string`), writes it upper-cased to stdout and
//! reports the byte and line counts of the input on stderr.

use std::io::{self, Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut input = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut input) {
        eprintln!("upper: read: {e}");
        return ExitCode::FAILURE;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = out
        .write_all(input.to_uppercase().as_bytes())
        .and_then(|()| out.flush())
    {
        eprintln!("upper: write: {e}");
        return ExitCode::FAILURE;
    }
    let lines = input.bytes().filter(|&b| b == b'\n').count();
    eprintln!("bytes={} lines={lines}", input.len());
    ExitCode::SUCCESS
}
