//! Ends in the way it is told, after writing a line to stdout and to stderr.
//!
//! - `exit exit CODE`: `std::process::exit(CODE)`;
//! - `exit return CODE`: returns `ExitCode::from(CODE)` from `main`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(code)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: exit exit|return CODE");
        return ExitCode::from(2);
    };
    let Ok(code) = code.parse::<u8>() else {
        eprintln!("exit: bad code {code}");
        return ExitCode::from(2);
    };
    println!("stdout before {mode}");
    eprintln!("stderr before {mode}");
    match mode.as_str() {
        "exit" => std::process::exit(i32::from(code)),
        "return" => ExitCode::from(code),
        _ => {
            eprintln!("exit: unknown mode {mode}");
            ExitCode::from(2)
        }
    }
}
