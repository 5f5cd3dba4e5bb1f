//! What weft's small commands share: argument handling and error reporting.
//!
//! Conventions for every command here: errors go to stderr as `NAME: WHAT: REASON`;
//! status 0 is success, 1 a failure on some operand (the rest are still processed),
//! 2 a usage error. A write to a closed pipe ends a command quietly with status 1.

use std::collections::BTreeSet;
use std::io;
use std::process::ExitCode;

pub use weft_user::describe;

/// A command's name and its start-up: changes into `PWD` and returns the arguments
/// (without `argv[0]`).
///
/// # Errors
/// An argument that is not UTF-8 (WASI paths are UTF-8 strings anyway): the message
/// says which.
pub fn start(name: &str) -> Result<Vec<String>, ExitCode> {
    if let Err(e) = weft_user::init_cwd() {
        eprintln!("{name}: {e}");
    }
    let mut args = Vec::new();
    for (i, arg) in std::env::args_os().enumerate().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(bad) => {
                eprintln!(
                    "{name}: argument {i} ({}) is not valid UTF-8",
                    bad.to_string_lossy()
                );
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(args)
}

/// Splits `args` into flags (single letters from `allowed`, which may be grouped: `-la`)
/// and operands. `--` ends the flags; `-` alone is an operand.
///
/// # Errors
/// An unknown flag: the message names it and the allowed ones.
pub fn parse_flags(
    args: &[String],
    allowed: &str,
) -> Result<(BTreeSet<char>, Vec<String>), String> {
    let mut flags = BTreeSet::new();
    let mut operands = Vec::new();
    let mut only_operands = false;
    for arg in args {
        if only_operands || arg == "-" || !arg.starts_with('-') {
            operands.push(arg.clone());
        } else if arg == "--" {
            only_operands = true;
        } else {
            for c in arg.chars().skip(1) {
                if !allowed.contains(c) {
                    return Err(if allowed.is_empty() {
                        format!("unknown option -{c} (this command has none)")
                    } else {
                        let list: Vec<String> = allowed.chars().map(|c| format!("-{c}")).collect();
                        format!("unknown option -{c} (known: {})", list.join(" "))
                    });
                }
                flags.insert(c);
            }
        }
    }
    Ok((flags, operands))
}

/// Prints a usage error and returns status 2.
pub fn usage(name: &str, message: &str, usage: &str) -> ExitCode {
    eprintln!("{name}: {message}\nusage: {usage}");
    ExitCode::from(2)
}

/// Reports a failed operation on `what` and returns status 1.
pub fn failed(name: &str, what: &str, error: &io::Error) -> ExitCode {
    eprintln!("{name}: {what}: {}", describe(error));
    ExitCode::FAILURE
}

/// The status for an error writing to stdout: quiet for a closed pipe, reported otherwise.
pub fn write_failed(name: &str, error: &io::Error) -> ExitCode {
    if !weft_user::is_broken_pipe(error) {
        eprintln!("{name}: write error: {}", describe(error));
    }
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_operands() {
        let (f, o) = parse_flags(&strings(&["-la", "x", "-", "--", "-r"]), "la1").unwrap();
        assert_eq!(f, BTreeSet::from(['l', 'a']));
        assert_eq!(o, ["x", "-", "-r"]);
        let e = parse_flags(&strings(&["-z"]), "lw").unwrap_err();
        assert_eq!(e, "unknown option -z (known: -l -w)");
        let e = parse_flags(&strings(&["-z"]), "").unwrap_err();
        assert!(e.contains("has none"));
    }
}
