//! `kill [-9 | -KILL] PID...`: ends processes (their status becomes 137). weft has one
//! way to end a process, so `-9`/`-KILL` are accepted and change nothing.

use std::process::ExitCode;

use weft_user::{Errno, Pid};

const USAGE: &str = "kill [-9 | -KILL] PID...";

fn main() -> ExitCode {
    let args = match coreutils::start("kill") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut pids = Vec::new();
    for arg in &args {
        match arg.as_str() {
            "-9" | "-KILL" | "-SIGKILL" => {}
            a if a.starts_with('-') => {
                return coreutils::usage(
                    "kill",
                    &format!("{a}: only KILL (-9) is supported"),
                    USAGE,
                );
            }
            a => match a.parse::<Pid>() {
                Ok(pid) => pids.push(pid),
                Err(_) => {
                    return coreutils::usage("kill", &format!("{a}: not a process id"), USAGE);
                }
            },
        }
    }
    if pids.is_empty() {
        return coreutils::usage("kill", "missing process id", USAGE);
    }
    let mut status = ExitCode::SUCCESS;
    for pid in pids {
        if let Err(e) = weft_user::kill(pid) {
            let why = match Errno::from_io(&e) {
                Some(Errno::SRCH) => "no such process".to_string(),
                Some(Errno::PERM) => "not permitted (init cannot be killed)".to_string(),
                _ => coreutils::describe(&e),
            };
            eprintln!("kill: {pid}: {why}");
            status = ExitCode::FAILURE;
        }
    }
    status
}
