//! `mkdir [-p] DIR...`: creates directories; `-p` creates missing parents too and does not
//! mind directories that exist.

use std::fs;
use std::process::ExitCode;

const USAGE: &str = "mkdir [-p] DIR...";

fn main() -> ExitCode {
    let args = match coreutils::start("mkdir") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (flags, operands) = match coreutils::parse_flags(&args, "p") {
        Ok(parsed) => parsed,
        Err(e) => return coreutils::usage("mkdir", &e, USAGE),
    };
    if operands.is_empty() {
        return coreutils::usage("mkdir", "missing operand", USAGE);
    }
    let parents = flags.contains(&'p');
    let mut status = ExitCode::SUCCESS;
    for dir in &operands {
        let result = if parents {
            fs::create_dir_all(dir)
        } else {
            fs::create_dir(dir)
        };
        if let Err(e) = result {
            status = coreutils::failed("mkdir", dir, &e);
        }
    }
    status
}
