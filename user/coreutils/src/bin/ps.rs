//! `ps [-f]`: lists processes: pid, parent pid, state (`run`, `wait`, `ended`), linear
//! memory size and name; `-f` adds the fuel (roughly, instructions) each has used.

use std::io::{self, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match coreutils::start("ps") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let fuel = match coreutils::parse_flags(&args, "f") {
        Ok((flags, operands)) if operands.is_empty() => flags.contains(&'f'),
        Ok(_) => return coreutils::usage("ps", "takes no operands", "ps [-f]"),
        Err(e) => return coreutils::usage("ps", &e, "ps [-f]"),
    };
    let procs = match weft_user::proc_list() {
        Ok(p) => p,
        Err(e) => return coreutils::failed("ps", "listing processes", &e),
    };
    let mut text = String::new();
    text.push_str("  PID  PPID STATE     MEM");
    if fuel {
        text.push_str("           FUEL");
    }
    text.push_str(" NAME\n");
    for p in &procs {
        let mem = format!("{}K", p.memory_bytes() / 1024);
        text.push_str(&format!(
            "{:>5} {:>5} {:<5} {:>7}",
            p.pid,
            p.ppid,
            p.state.name(),
            mem
        ));
        if fuel {
            text.push_str(&format!(" {:>14}", p.fuel));
        }
        text.push(' ');
        text.push_str(&p.name);
        text.push('\n');
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => coreutils::write_failed("ps", &e),
    }
}
