//! `yes [STRING...]`: writes its arguments joined by spaces (`y` without any) as a line,
//! over and over, until the output is closed.

use std::io::{self, Write};
use std::process::ExitCode;

/// How much is written at a time: many copies of the line.
const CHUNK: usize = 16 * 1024;

fn main() -> ExitCode {
    let args = match coreutils::start("yes") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut line = if args.is_empty() {
        "y".to_string()
    } else {
        args.join(" ")
    };
    line.push('\n');
    let mut chunk = line.repeat((CHUNK / line.len()).max(1));
    chunk.shrink_to_fit();
    let mut out = io::stdout().lock();
    loop {
        if let Err(e) = out.write_all(chunk.as_bytes()) {
            return coreutils::write_failed("yes", &e);
        }
    }
}
