//! Exercises `std::fs` in a directory it was given: the Rust twin of the C program `files`.
//!
//! `files ROOT`: ROOT must hold `input.txt` (written by the caller) and no `work`
//! directory. Prints one line per step; a failed step prints `FAIL ...` on stderr and
//! exits 1. Afterwards ROOT/work holds, for the caller to check on the host:
//! - `renamed.bin`: 10006 bytes, `pattern(i)` for i < 9990, then `0123456789`, `ABCDEF`;
//! - `note.txt`: `created by guest\n`;
//! - `a.txt`: `alpha\n`; `c.txt`: `gamma` (truncated from `gamma ray\n`);
//!
//! and no longer `data.bin`, `b.txt` or the directory `zdir`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const DATA_SIZE: usize = 10_000;

/// `ENOTEMPTY` as `raw_os_error` reports it: std on wasm32-wasip1 (as of Rust 1.95) maps
/// WASI's `ENOTEMPTY` to `ErrorKind::Uncategorized`, not `DirectoryNotEmpty`.
#[cfg(target_os = "wasi")]
const ENOTEMPTY: i32 = 55;
#[cfg(not(target_os = "wasi"))]
const ENOTEMPTY: i32 = 39;

fn pattern(i: usize) -> u8 {
    ((i * 7 + i / 251) % 251) as u8
}

fn list(dir: &Path) -> io::Result<()> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let kind = if kind.is_dir() {
            "dir"
        } else if kind.is_file() {
            "file"
        } else {
            "other"
        };
        names.push(format!("{} {kind}", entry.file_name().to_string_lossy()));
    }
    names.sort();
    for name in names {
        println!("entry {name}");
    }
    Ok(())
}

fn expect_missing(path: &Path, what: &str) -> Result<(), String> {
    match fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => Err(format!(
            "{what}: {} still there ({other:?})",
            path.display()
        )),
    }
}

/// Adds what was being done to an I/O error.
trait Step<T> {
    fn step(self, what: &str) -> Result<T, String>;
}

impl<T> Step<T> for io::Result<T> {
    fn step(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

fn run(root: &Path) -> Result<(), String> {
    let work: PathBuf = root.join("work");
    let at = |name: &str| work.join(name);

    let input = fs::read_to_string(root.join("input.txt")).step("read input.txt")?;
    for line in input.lines() {
        println!("input: {line}");
    }

    fs::create_dir(&work).step("create_dir work")?;
    if !fs::metadata(&work).step("metadata work")?.is_dir() {
        return Err("work is not a directory".into());
    }
    println!("mkdir ok");

    let data: Vec<u8> = (0..DATA_SIZE).map(pattern).collect();
    fs::write(at("data.bin"), &data).step("write data.bin")?;
    let meta = fs::metadata(at("data.bin")).step("metadata data.bin")?;
    if !meta.is_file() {
        return Err("data.bin is not a file".into());
    }
    println!("stat size {}", meta.len());

    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(at("data.bin"))
        .step("open data.bin for update")?;
    f.seek(SeekFrom::Start(5000)).step("seek 5000")?;
    println!("ftell {}", f.stream_position().step("position")?);
    let mut chunk = [0u8; 100];
    f.read_exact(&mut chunk).step("read at 5000")?;
    if chunk[..] != data[5000..5100] {
        return Err("contents at 5000 differ".into());
    }
    println!("ftell after read {}", f.stream_position().step("position")?);
    println!("ftell end {}", f.seek(SeekFrom::End(0)).step("seek end")?);
    f.seek(SeekFrom::End(-10)).step("seek end-10")?;
    f.write_all(b"0123456789").step("overwrite tail")?;
    f.write_all(b"ABCDEF").step("append")?;
    println!("fstat size {}", f.metadata().step("fstat")?.len());
    f.rewind().step("rewind")?;
    let mut back = Vec::new();
    f.read_to_end(&mut back).step("read back")?;
    drop(f);
    let sum = back
        .iter()
        .fold(0u32, |s, &b| s.wrapping_mul(31).wrapping_add(u32::from(b)));
    println!("read back {} bytes checksum {sum:08x}", back.len());

    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(at("data.bin"))
    {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => println!("O_EXCL existing: EEXIST"),
        other => return Err(format!("create_new on an existing file: {other:?}")),
    }
    let mut note = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(at("note.txt"))
        .step("create_new note.txt")?;
    note.write_all(b"created by guest\n").step("write note")?;
    drop(note);
    println!("O_EXCL new: created");

    fs::write(at("c.txt"), "gamma ray\n").step("write c.txt")?;
    fs::write(at("a.txt"), "alpha\n").step("write a.txt")?;
    fs::write(at("b.txt"), "beta\n").step("write b.txt")?;
    fs::create_dir(at("zdir")).step("create_dir zdir")?;
    list(&work).step("read_dir")?;

    let c = OpenOptions::new()
        .write(true)
        .open(at("c.txt"))
        .step("open c.txt")?;
    c.set_len(5).step("set_len")?;
    if c.metadata().step("fstat c.txt")?.len() != 5 {
        return Err("c.txt size after set_len".into());
    }
    drop(c);
    println!("ftruncate ok");

    fs::rename(at("data.bin"), at("renamed.bin")).step("rename")?;
    expect_missing(&at("data.bin"), "rename")?;
    if fs::metadata(at("renamed.bin"))
        .step("metadata renamed")?
        .len()
        != DATA_SIZE as u64 + 6
    {
        return Err("renamed.bin has the wrong size".into());
    }
    println!("rename ok");
    fs::remove_file(at("b.txt")).step("remove_file")?;
    expect_missing(&at("b.txt"), "remove_file")?;
    println!("unlink ok");
    match fs::remove_dir(&work) {
        Err(e)
            if e.kind() == ErrorKind::DirectoryNotEmpty || e.raw_os_error() == Some(ENOTEMPTY) =>
        {
            println!("rmdir non-empty: ENOTEMPTY")
        }
        other => return Err(format!("remove_dir of a non-empty directory: {other:?}")),
    }
    fs::remove_dir(at("zdir")).step("remove_dir")?;
    expect_missing(&at("zdir"), "remove_dir")?;
    println!("rmdir ok");

    match File::open(at("missing.txt")) {
        Err(e) if e.kind() == ErrorKind::NotFound => println!("missing: {:?}", e.kind()),
        other => return Err(format!("open of a missing file: {other:?}")),
    }

    list(&work).step("read_dir")?;
    println!("done");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, root] = args.as_slice() else {
        eprintln!("usage: files ROOT");
        return ExitCode::from(2);
    };
    match run(Path::new(root)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAIL {e}");
            ExitCode::FAILURE
        }
    }
}
