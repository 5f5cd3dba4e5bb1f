//! `sort [-r] [-u] [FILE...]`: writes the lines of the files (stdin for none, or for `-`)
//! sorted by their bytes; `-r` reverses the order, `-u` keeps one of each run of equal
//! lines. The whole input is held in memory: when there is not enough, sort says so and
//! exits 2 without output.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

const USAGE: &str = "sort [-r] [-u] [FILE...]";

/// Why sorting stopped.
enum Failure {
    /// Reading the named input failed.
    Read(String, io::Error),
    /// There was not memory enough to hold the input.
    Memory,
}

/// Appends the whole of `input` to `text`.
fn read_all(name: &str, input: &mut dyn Read, text: &mut Vec<u8>) -> Result<(), Failure> {
    match input.read_to_end(text) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::OutOfMemory => Err(Failure::Memory),
        Err(e) => Err(Failure::Read(name.to_string(), e)),
    }
}

/// The lines of `text`, without their line ends (a last line may lack one).
fn lines(text: &[u8]) -> Result<Vec<&[u8]>, Failure> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b'\n');
        let (line, after) = match end {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        lines.try_reserve(1).map_err(|_| Failure::Memory)?;
        lines.push(line);
        rest = after;
    }
    Ok(lines)
}

fn main() -> ExitCode {
    let args = match coreutils::start("sort") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (flags, mut operands) = match coreutils::parse_flags(&args, "ru") {
        Ok(parsed) => parsed,
        Err(e) => return coreutils::usage("sort", &e, USAGE),
    };
    if operands.is_empty() {
        operands.push("-".to_string());
    }
    let mut text = Vec::new();
    let mut result = Ok(());
    for name in &operands {
        result = if name == "-" {
            read_all(name, &mut io::stdin().lock(), &mut text)
        } else {
            match File::open(name) {
                Ok(mut file) => read_all(name, &mut file, &mut text),
                Err(e) => Err(Failure::Read(name.clone(), e)),
            }
        };
        if result.is_err() {
            break;
        }
        // A last line without a line end still ends before the next file's first.
        if text.last().is_some_and(|&b| b != b'\n') {
            if text.try_reserve(1).is_err() {
                result = Err(Failure::Memory);
                break;
            }
            text.push(b'\n');
        }
    }
    let sorted = result.and_then(|()| lines(&text)).map(|mut lines| {
        // Equal lines are equal bytes, so an unstable sort (which needs no memory of its
        // own) gives the same output as a stable one.
        lines.sort_unstable();
        if flags.contains(&'r') {
            lines.reverse();
        }
        if flags.contains(&'u') {
            lines.dedup();
        }
        lines
    });
    let lines = match sorted {
        Ok(lines) => lines,
        Err(Failure::Memory) => {
            eprintln!("sort: not enough memory to hold the input");
            return ExitCode::from(2);
        }
        Err(Failure::Read(name, e)) => {
            coreutils::failed("sort", &name, &e);
            return ExitCode::from(2);
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    for line in lines {
        if let Err(e) = out.write_all(line).and_then(|()| out.write_all(b"\n")) {
            return coreutils::write_failed("sort", &e);
        }
    }
    match out.flush() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => coreutils::write_failed("sort", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_newlines_and_keep_a_last_partial_line() {
        let got = lines(b"b\na\n\nc").ok().expect("memory enough");
        assert_eq!(got, [&b"b"[..], b"a", b"", b"c"]);
        assert!(lines(b"").ok().expect("memory enough").is_empty());
    }
}
