//! `sh`: weft's shell.
//!
//! ```text
//! sh                      interactive when stdin is a terminal, else reads a script from stdin
//! sh -i                   interactive even when stdin is not a terminal
//! sh -c COMMAND [NAME [ARG...]]   runs COMMAND ($0 = NAME, $1... = ARGs)
//! sh FILE [ARG...]        runs the script FILE
//! ```
//!
//! The prompt (`$ `, or `PS1`) and job notices go to stderr, as in POSIX shells, so that
//! stdout carries only what commands print. Run `help` in the shell for its language.

mod shell;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use sh::syntax::{self, ParseError};
use shell::Shell;

const USAGE: &str = "usage: sh [-i] [-c COMMAND [NAME [ARG...]] | FILE [ARG...]]";

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(args) => args,
        Err(bad) => {
            eprintln!("sh: argument {} is not valid UTF-8", bad.to_string_lossy());
            return ExitCode::from(2);
        }
    };
    let mut rest = args.get(1..).unwrap_or_default();
    let mut force_interactive = false;
    if rest.first().map(String::as_str) == Some("-i") {
        force_interactive = true;
        rest = &rest[1..];
    }
    let status = match rest.first().map(String::as_str) {
        Some("-h" | "--help") => {
            println!("{USAGE}");
            0
        }
        Some("-c") => {
            let Some(command) = rest.get(1) else {
                eprintln!("sh: -c needs a command\n{USAGE}");
                return ExitCode::from(2);
            };
            let name = rest.get(2).cloned().unwrap_or_else(|| "sh".to_string());
            let positional = rest.get(3..).unwrap_or_default().to_vec();
            let mut shell = Shell::new(name, positional, false);
            shell.run_text(command);
            shell.exit_status()
        }
        Some(opt) if opt.starts_with('-') && opt != "-" => {
            eprintln!("sh: unknown option {opt}\n{USAGE}");
            return ExitCode::from(2);
        }
        Some(file) if file != "-" => {
            let text = match std::fs::read(file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    eprintln!("sh: {file}: {}", weft_user::describe(&e));
                    return ExitCode::from(127);
                }
            };
            let mut shell = Shell::new(file.to_string(), rest[1..].to_vec(), false);
            shell.run_text(&text);
            shell.exit_status()
        }
        _ => {
            let positional = rest.get(1..).unwrap_or_default().to_vec();
            let interactive = force_interactive || weft_user::is_terminal(0);
            let mut shell = Shell::new("sh".to_string(), positional, interactive);
            read_loop(&mut shell);
            shell.exit_status()
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX))
}

/// Reads commands from stdin a line at a time, running each complete one; prompts when
/// interactive.
fn read_loop(shell: &mut Shell) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut pending = String::new();
    let mut line = Vec::new();
    loop {
        if shell.interactive() {
            shell.report_jobs();
            let prompt = if pending.is_empty() {
                shell.prompt()
            } else {
                "> ".to_string()
            };
            let mut err = io::stderr();
            // A prompt that cannot be shown is no reason to stop reading.
            let _ = err.write_all(prompt.as_bytes()).and_then(|()| err.flush());
        }
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => {
                if !pending.is_empty()
                    && let Err(e) = syntax::parse(&pending)
                {
                    eprintln!("sh: {e}");
                    shell.set_status(2);
                }
                if shell.interactive() {
                    eprintln!();
                }
                return;
            }
            Ok(_) => pending.push_str(&String::from_utf8_lossy(&line)),
            Err(e) => {
                eprintln!("sh: reading input: {}", weft_user::describe(&e));
                shell.set_status(1);
                return;
            }
        }
        match syntax::parse(&pending) {
            Ok(program) => {
                pending.clear();
                shell.run(&program);
            }
            Err(ParseError::Incomplete(_)) => continue,
            Err(e) => {
                pending.clear();
                eprintln!("sh: {e}");
                shell.set_status(2);
                if !shell.interactive() {
                    return;
                }
            }
        }
        if shell.exit_requested() {
            return;
        }
    }
}
