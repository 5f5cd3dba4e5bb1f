//! `echo [-n] [ARG...]`: prints the arguments separated by spaces, then a newline
//! (none with `-n`).

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match coreutils::start("echo") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let no_newline = args.iter().take_while(|a| *a == "-n").count();
    let mut text = args[no_newline..].join(" ");
    if no_newline == 0 {
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => coreutils::write_failed("echo", &e),
    }
}
