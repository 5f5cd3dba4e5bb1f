//! `ls [-l] [-a] [-1] [PATH...]`: lists directories (the working directory by default).
//!
//! `-l`: one entry per line with its kind (`d` directory, `-` file, `l` link, `?` other)
//! and size in bytes. `-a`: include names starting with `.`.
//! `-1`: one name per line (the default unless stdout is a terminal, where names are
//! set in columns).

use std::fs::{self, FileType};
use std::io::{self, Write};
use std::process::ExitCode;

const USAGE: &str = "ls [-l] [-a] [-1] [PATH...]";

struct Entry {
    name: String,
    kind: char,
    size: u64,
}

fn kind(t: &FileType) -> char {
    if t.is_dir() {
        'd'
    } else if t.is_file() {
        '-'
    } else if t.is_symlink() {
        'l'
    } else {
        '?'
    }
}

struct Options {
    long: bool,
    all: bool,
    columns: Option<usize>,
}

fn print(out: &mut dyn Write, entries: &[Entry], opts: &Options) -> io::Result<()> {
    if opts.long {
        let width = entries
            .iter()
            .map(|e| e.size.to_string().len())
            .max()
            .unwrap_or(1);
        for e in entries {
            writeln!(out, "{} {:>width$} {}", e.kind, e.size, e.name)?;
        }
        return Ok(());
    }
    let Some(total_width) = opts.columns else {
        for e in entries {
            writeln!(out, "{}", e.name)?;
        }
        return Ok(());
    };
    if entries.is_empty() {
        return Ok(());
    }
    let col = entries
        .iter()
        .map(|e| e.name.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let cols = (total_width / col).max(1);
    let rows = entries.len().div_ceil(cols);
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..cols {
            if let Some(e) = entries.get(c * rows + r) {
                line.push_str(&format!("{:<col$}", e.name));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The entries of directory `path`, sorted by name.
fn read_dir(path: &str, opts: &Options) -> io::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !opts.all && name.starts_with('.') {
            continue;
        }
        let file_type = entry.file_type()?;
        // The size needs a stat per entry; only -l shows it.
        let size = if opts.long {
            entry.metadata().map(|m| m.len()).unwrap_or(0)
        } else {
            0
        };
        entries.push(Entry {
            name,
            kind: kind(&file_type),
            size,
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn main() -> ExitCode {
    let args = match coreutils::start("ls") {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (flags, mut operands) = match coreutils::parse_flags(&args, "la1") {
        Ok(parsed) => parsed,
        Err(e) => return coreutils::usage("ls", &e, USAGE),
    };
    if operands.is_empty() {
        operands.push(".".to_string());
    }
    let columns = (!flags.contains(&'1') && weft_user::is_terminal(1)).then(|| {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80)
    });
    let opts = Options {
        long: flags.contains(&'l'),
        all: flags.contains(&'a'),
        columns,
    };
    let mut status = ExitCode::SUCCESS;
    // Files named on the command line come first, then each directory's listing.
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for name in operands {
        match fs::metadata(&name) {
            Ok(m) if m.is_dir() => dirs.push(name),
            Ok(m) => files.push(Entry {
                kind: kind(&m.file_type()),
                size: m.len(),
                name,
            }),
            Err(e) => status = coreutils::failed("ls", &name, &e),
        }
    }
    let headers = files.len() + dirs.len() > 1;
    let mut out = io::stdout().lock();
    let mut result = print(&mut out, &files, &opts);
    for (i, dir) in dirs.iter().enumerate() {
        if result.is_err() {
            break;
        }
        let entries = match read_dir(dir, &opts) {
            Ok(entries) => entries,
            Err(e) => {
                status = coreutils::failed("ls", dir, &e);
                continue;
            }
        };
        result = (|| {
            if headers {
                if i > 0 || !files.is_empty() {
                    writeln!(out)?;
                }
                writeln!(out, "{dir}:")?;
            }
            print(&mut out, &entries, &opts)
        })();
    }
    match result.and_then(|()| out.flush()) {
        Ok(()) => status,
        Err(e) => coreutils::write_failed("ls", &e),
    }
}
