//! `cat [FILE...]`: copies the files (stdin for none, or for `-`) to stdout.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;

/// Why a copy stopped.
enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy(from: &mut dyn Read, to: &mut dyn Write, buf: &mut [u8]) -> Result<(), CopyError> {
    loop {
        let n = match from.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        to.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

fn main() -> ExitCode {
    let args = match coreutils::start("cat") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let operands = match coreutils::parse_flags(&args, "") {
        Ok((_, o)) if o.is_empty() => vec!["-".to_string()],
        Ok((_, o)) => o,
        Err(e) => return coreutils::usage("cat", &e, "cat [FILE...]"),
    };
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let mut status = ExitCode::SUCCESS;
    for name in &operands {
        let result = if name == "-" {
            // stdout is line-buffered, so lines typed at a terminal come back at once.
            copy(&mut io::stdin().lock(), &mut out, &mut buf)
        } else {
            match File::open(name) {
                Ok(mut file) => copy(&mut file, &mut out, &mut buf),
                Err(e) => Err(CopyError::Read(e)),
            }
        };
        match result.and_then(|()| out.flush().map_err(CopyError::Write)) {
            Ok(()) => {}
            Err(CopyError::Read(e)) => status = coreutils::failed("cat", name, &e),
            Err(CopyError::Write(e)) => return coreutils::write_failed("cat", &e),
        }
    }
    status
}
