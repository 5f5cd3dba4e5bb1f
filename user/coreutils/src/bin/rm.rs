//! `rm [-r] [-f] PATH...`: removes files; `-r` removes directories and what they hold;
//! `-f` ignores paths that do not exist.

use std::fs;
use std::io;
use std::path::{Component, Path};
use std::process::ExitCode;

const USAGE: &str = "rm [-r] [-f] PATH...";

fn main() -> ExitCode {
    let args = match coreutils::start("rm") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (flags, operands) = match coreutils::parse_flags(&args, "rRf") {
        Ok(parsed) => parsed,
        Err(e) => return coreutils::usage("rm", &e, USAGE),
    };
    let recursive = flags.contains(&'r') || flags.contains(&'R');
    let force = flags.contains(&'f');
    if operands.is_empty() && !force {
        return coreutils::usage("rm", "missing operand", USAGE);
    }
    let mut status = ExitCode::SUCCESS;
    for name in &operands {
        let path = Path::new(name);
        if path.has_root() && path.components().all(|c| c == Component::RootDir) {
            eprintln!("rm: refusing to remove `/`");
            status = ExitCode::FAILURE;
            continue;
        }
        if matches!(
            path.components().next_back(),
            Some(Component::CurDir | Component::ParentDir)
        ) || name.ends_with("/.")
        {
            eprintln!("rm: refusing to remove `.` or `..`: {name}");
            status = ExitCode::FAILURE;
            continue;
        }
        let result = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                if recursive {
                    fs::remove_dir_all(path)
                } else {
                    eprintln!("rm: {name}: is a directory (use -r)");
                    status = ExitCode::FAILURE;
                    continue;
                }
            }
            Ok(_) => fs::remove_file(path),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {}
            Err(e) if force && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => status = coreutils::failed("rm", name, &e),
        }
    }
    status
}
