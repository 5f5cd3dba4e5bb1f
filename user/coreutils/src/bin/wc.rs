//! `wc [-l] [-w] [-c] [FILE...]`: counts lines, words and bytes of the files (stdin for
//! none, or for `-`); all three unless some are chosen. Formatted like GNU wc: counts
//! right-aligned to a common width, the name after them, a `total` line for several files.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;

const USAGE: &str = "wc [-l] [-w] [-c] [FILE...]";

#[derive(Clone, Copy, Default)]
struct Counts {
    lines: u64,
    words: u64,
    bytes: u64,
}

/// Counts a stream.
fn count(input: &mut dyn Read) -> io::Result<Counts> {
    let mut c = Counts::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut in_word = false;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(c),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        c.bytes += n as u64;
        for &b in &buf[..n] {
            if b == b'\n' {
                c.lines += 1;
            }
            let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
            if !space && !in_word {
                c.words += 1;
            }
            in_word = !space;
        }
    }
}

struct Row {
    counts: Counts,
    name: Option<String>,
}

fn main() -> ExitCode {
    let args = match coreutils::start("wc") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (mut flags, operands) = match coreutils::parse_flags(&args, "lwc") {
        Ok(parsed) => parsed,
        Err(e) => return coreutils::usage("wc", &e, USAGE),
    };
    if flags.is_empty() {
        flags.extend(['l', 'w', 'c']);
    }
    let mut status = ExitCode::SUCCESS;
    let mut rows = Vec::new();
    let mut streams = false;
    if operands.is_empty() {
        streams = true;
        match count(&mut io::stdin().lock()) {
            Ok(counts) => rows.push(Row { counts, name: None }),
            Err(e) => status = coreutils::failed("wc", "stdin", &e),
        }
    }
    for name in &operands {
        let result = if name == "-" {
            streams = true;
            count(&mut io::stdin().lock())
        } else {
            File::open(name).and_then(|mut f| {
                if !f.metadata()?.is_file() {
                    streams = true;
                }
                count(&mut f)
            })
        };
        match result {
            Ok(counts) => rows.push(Row {
                counts,
                name: Some(name.clone()),
            }),
            Err(e) => status = coreutils::failed("wc", name, &e),
        }
    }
    if operands.len() > 1 {
        let total = rows.iter().fold(Counts::default(), |t, r| Counts {
            lines: t.lines + r.counts.lines,
            words: t.words + r.counts.words,
            bytes: t.bytes + r.counts.bytes,
        });
        rows.push(Row {
            counts: total,
            name: Some("total".to_string()),
        });
    }
    let pick = |c: &Counts| -> Vec<u64> {
        let mut v = Vec::new();
        if flags.contains(&'l') {
            v.push(c.lines);
        }
        if flags.contains(&'w') {
            v.push(c.words);
        }
        if flags.contains(&'c') {
            v.push(c.bytes);
        }
        v
    };
    let widest = rows
        .iter()
        .flat_map(|r| pick(&r.counts))
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(1);
    // One number for one input stands alone; otherwise columns line up, at least 7 wide
    // for streams, whose size is not known in advance.
    let width = if flags.len() == 1 && rows.len() == 1 {
        1
    } else if streams {
        widest.max(7)
    } else {
        widest
    };
    let mut out = io::stdout().lock();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = pick(&row.counts)
            .iter()
            .map(|n| format!("{n:>width$}"))
            .collect();
        text.push_str(&cells.join(" "));
        if let Some(name) = &row.name {
            text.push(' ');
            text.push_str(name);
        }
        text.push('\n');
    }
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(e) => coreutils::write_failed("wc", &e),
    }
}
