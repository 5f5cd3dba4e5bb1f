//! Tests of the VFS: the initrd reader against archives written by the `tar` crate, tmpfs
//! semantics, the mount table, and host mounts through a recording `HostFs`.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use std::format;

use super::*;
use crate::platform::ConsoleStream;

// ---------------------------------------------------------------------------------------
// Test platform

/// A platform with a settable wall clock and, optionally, host directories.
struct TestPlatform {
    now: u64,
    host: Option<MockHost>,
}

impl TestPlatform {
    fn new() -> TestPlatform {
        TestPlatform {
            now: 1_000_000_000_000,
            host: None,
        }
    }
}

impl Platform for TestPlatform {
    fn console_write(&mut self, _: ConsoleStream, _: &[u8]) {}
    fn console_read(&mut self, _: &mut [u8]) -> Option<usize> {
        None
    }
    fn console_is_terminal(&self) -> bool {
        false
    }
    fn monotonic_ns(&self) -> u64 {
        self.now
    }
    fn wall_clock_ns(&self) -> u64 {
        self.now
    }
    fn random(&mut self, buf: &mut [u8]) {
        buf.fill(4);
    }
    fn wait(&mut self, _: Option<u64>, _: bool) {}
    fn host_fs(&mut self) -> Option<&mut dyn HostFs> {
        self.host.as_mut().map(|h| h as &mut dyn HostFs)
    }
}

/// An in-memory `HostFs` with one root, recording the paths it is given.
#[derive(Default)]
struct MockHost {
    files: BTreeMap<String, Vec<u8>>,
    dirs: Vec<String>,
    links: BTreeMap<String, String>,
    open: BTreeMap<u64, String>,
    next: u64,
    calls: Vec<String>,
}

impl MockHost {
    fn stat_of(&self, path: &str) -> SysResult<Stat> {
        let (kind, size) = if let Some(data) = self.files.get(path) {
            (FileType::Regular, data.len() as u64)
        } else if let Some(target) = self.links.get(path) {
            (FileType::Symlink, target.len() as u64)
        } else if path.is_empty() || self.dirs.iter().any(|d| d == path) {
            (FileType::Directory, 0)
        } else {
            return Err(Errno::NOENT);
        };
        Ok(Stat {
            dev: 77,
            ino: crate::vfs::name_hash(path),
            kind: Some(kind),
            nlink: 1,
            size,
            ..Stat::default()
        })
    }
}

impl HostFs for MockHost {
    fn open(&mut self, root: usize, path: &str, how: &OpenOptions) -> SysResult<u64> {
        self.calls.push(format!("open {root} {path:?}"));
        if root != 0 {
            return Err(Errno::BADF);
        }
        if self.stat_of(path).is_err() {
            if !how.create {
                return Err(Errno::NOENT);
            }
            self.files.insert(path.to_string(), Vec::new());
        }
        self.next += 1;
        self.open.insert(self.next, path.to_string());
        Ok(self.next)
    }
    fn close(&mut self, file: u64) {
        self.calls.push(format!("close {file}"));
        self.open.remove(&file);
    }
    fn read(&mut self, file: u64, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let path = self.open.get(&file).ok_or(Errno::BADF)?;
        let data = self.files.get(path).ok_or(Errno::ISDIR)?;
        let start = (offset as usize).min(data.len());
        let n = (data.len() - start).min(buf.len());
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
    fn write(&mut self, file: u64, offset: u64, data: &[u8]) -> SysResult<usize> {
        let path = self.open.get(&file).ok_or(Errno::BADF)?;
        let bytes = self.files.get_mut(path).ok_or(Errno::ISDIR)?;
        let end = offset as usize + data.len();
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[offset as usize..end].copy_from_slice(data);
        Ok(data.len())
    }
    fn set_size(&mut self, _: u64, _: u64) -> SysResult<()> {
        Err(Errno::NOSYS)
    }
    fn stat(&mut self, file: u64) -> SysResult<Stat> {
        let path = self.open.get(&file).ok_or(Errno::BADF)?.clone();
        self.stat_of(&path)
    }
    fn stat_path(&mut self, root: usize, path: &str) -> SysResult<Stat> {
        self.calls.push(format!("stat {root} {path:?}"));
        self.stat_of(path)
    }
    fn read_dir(&mut self, root: usize, path: &str) -> SysResult<Vec<DirEntry>> {
        self.calls.push(format!("read_dir {root} {path:?}"));
        Ok(self
            .files
            .keys()
            .filter(|f| path.is_empty() && !f.contains('/'))
            .map(|f| DirEntry {
                name: f.clone(),
                kind: FileType::Regular,
                ino: crate::vfs::name_hash(f),
            })
            .collect())
    }
    fn mkdir(&mut self, root: usize, path: &str) -> SysResult<()> {
        self.calls.push(format!("mkdir {root} {path:?}"));
        self.dirs.push(path.to_string());
        Ok(())
    }
    fn remove(&mut self, root: usize, path: &str, dir: bool) -> SysResult<()> {
        self.calls.push(format!("remove {root} {path:?} {dir}"));
        Ok(())
    }
    fn rename(&mut self, root: usize, from: &str, to: &str) -> SysResult<()> {
        self.calls.push(format!("rename {root} {from:?} {to:?}"));
        Ok(())
    }
    fn set_times(&mut self, file: u64, _: Option<u64>, _: Option<u64>) -> SysResult<()> {
        self.calls.push(format!("set_times {file}"));
        Ok(())
    }
    fn sync(&mut self, _: u64) -> SysResult<()> {
        Ok(())
    }
    fn set_times_path(
        &mut self,
        root: usize,
        path: &str,
        _: Option<u64>,
        _: Option<u64>,
    ) -> SysResult<()> {
        self.calls.push(format!("set_times_path {root} {path:?}"));
        self.stat_of(path).map(|_| ())
    }
    fn readlink(&mut self, root: usize, path: &str) -> SysResult<String> {
        self.calls.push(format!("readlink {root} {path:?}"));
        self.links.get(path).cloned().ok_or(Errno::INVAL)
    }
    fn symlink(&mut self, root: usize, target: &str, path: &str) -> SysResult<()> {
        self.calls
            .push(format!("symlink {root} {target:?} {path:?}"));
        self.links.insert(path.to_string(), target.to_string());
        Ok(())
    }
    fn link(&mut self, root: usize, from: &str, to: &str) -> SysResult<()> {
        self.calls.push(format!("link {root} {from:?} {to:?}"));
        let data = self.files.get(from).cloned().ok_or(Errno::NOENT)?;
        self.files.insert(to.to_string(), data);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

const READ: OpenOptions = OpenOptions {
    read: true,
    write: false,
    create: false,
    exclusive: false,
    truncate: false,
    directory: false,
};
const WRITE: OpenOptions = OpenOptions {
    read: true,
    write: true,
    create: false,
    exclusive: false,
    truncate: false,
    directory: false,
};
const CREATE: OpenOptions = OpenOptions {
    read: true,
    write: true,
    create: true,
    exclusive: false,
    truncate: false,
    directory: false,
};
const DIR: OpenOptions = OpenOptions {
    read: true,
    write: false,
    create: false,
    exclusive: false,
    truncate: false,
    directory: true,
};

/// Writes an archive with the `tar` crate and leaks it, as an initrd is `'static`.
fn archive(build: impl FnOnce(&mut ::tar::Builder<Vec<u8>>)) -> &'static [u8] {
    let mut b = ::tar::Builder::new(Vec::new());
    build(&mut b);
    Box::leak(b.into_inner().unwrap().into_boxed_slice())
}

fn add_file(b: &mut ::tar::Builder<Vec<u8>>, path: &str, data: &[u8], mtime: u64) {
    let mut h = ::tar::Header::new_ustar();
    h.set_entry_type(::tar::EntryType::Regular);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    b.append_data(&mut h, path, data).unwrap();
}

fn add_dir(b: &mut ::tar::Builder<Vec<u8>>, path: &str, mtime: u64) {
    let mut h = ::tar::Header::new_ustar();
    h.set_entry_type(::tar::EntryType::Directory);
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(mtime);
    b.append_data(&mut h, path, &[][..]).unwrap();
}

fn read_file(vfs: &mut Vfs, p: &mut TestPlatform, path: &str) -> SysResult<Vec<u8>> {
    let node = vfs.open(p, path, &READ)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = vfs.read(p, &node, out.len() as u64, &mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    vfs.close(p, node);
    Ok(out)
}

fn write_file(vfs: &mut Vfs, p: &mut TestPlatform, path: &str, data: &[u8]) -> SysResult<()> {
    let node = vfs.open(p, path, &CREATE)?;
    let result = vfs.write(p, &node, 0, data);
    vfs.close(p, node);
    assert_eq!(result?, data.len());
    Ok(())
}

fn names(vfs: &mut Vfs, p: &mut TestPlatform, path: &str) -> Vec<String> {
    let node = vfs.open(p, path, &DIR).unwrap();
    let entries = vfs.read_dir(p, &node).unwrap();
    vfs.close(p, node);
    entries.into_iter().map(|e| e.name).collect()
}

fn sample_initrd() -> &'static [u8] {
    archive(|b| {
        add_dir(b, "./", 1_600_000_000);
        add_dir(b, "./bin", 1_600_000_001);
        add_file(b, "./bin/ls", b"ls program", 1_600_000_002);
        add_file(b, "bin/cat", b"cat program", 1_600_000_003);
        add_file(b, "etc/motd", b"hello\n", 1_600_000_004);
        add_dir(b, "empty", 1_600_000_005);
        let mut h = ::tar::Header::new_ustar();
        h.set_entry_type(::tar::EntryType::Link);
        h.set_size(0);
        h.set_mtime(1_600_000_006);
        b.append_link(&mut h, "bin/list", "./bin/ls").unwrap();
        let mut h = ::tar::Header::new_ustar();
        h.set_entry_type(::tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "bin/sym", "ls").unwrap();
    })
}

// ---------------------------------------------------------------------------------------
// The initrd

#[test]
fn initrd_files_and_implied_directories() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", sample_initrd()).unwrap();

    assert_eq!(
        read_file(&mut vfs, &mut p, "/bin/ls").unwrap(),
        b"ls program"
    );
    assert_eq!(
        read_file(&mut vfs, &mut p, "/bin/cat").unwrap(),
        b"cat program"
    );
    assert_eq!(
        read_file(&mut vfs, &mut p, "/etc/motd").unwrap(),
        b"hello\n"
    );
    assert_eq!(
        names(&mut vfs, &mut p, "/"),
        [".", "..", "bin", "empty", "etc"]
    );
    assert_eq!(
        names(&mut vfs, &mut p, "/bin"),
        [".", "..", "cat", "list", "ls", "sym"]
    );
    // A symbolic link in the archive is one in the tree, followed where asked.
    let sym = vfs.stat_path(&mut p, "/bin/sym").unwrap();
    assert_eq!(sym.kind, Some(FileType::Symlink));
    assert_eq!(vfs.readlink(&mut p, "/bin/sym").unwrap(), "ls");
    assert_eq!(
        vfs.resolve(&mut p, "/", "bin/sym", true).unwrap().path,
        "/bin/ls"
    );
    assert_eq!(&*vfs.read_all(&mut p, "/bin/sym").unwrap(), b"ls program");
    assert_eq!(vfs.open(&mut p, "/bin/sym", &READ).err(), Some(Errno::LOOP));
    assert_eq!(names(&mut vfs, &mut p, "/empty"), [".", ".."]);

    // `etc` has no entry of its own: it takes the time of the file that implied it.
    let etc = vfs.stat_path(&mut p, "/etc").unwrap();
    assert_eq!(etc.kind, Some(FileType::Directory));
    assert_eq!(etc.mtime_ns, 1_600_000_004_000_000_000);
    let root = vfs.stat_path(&mut p, "/").unwrap();
    assert_eq!(root.mtime_ns, 1_600_000_000_000_000_000);
    assert_eq!(root.nlink, 2 + 3);

    let ls = vfs.stat_path(&mut p, "/bin/ls").unwrap();
    assert_eq!(ls.kind, Some(FileType::Regular));
    assert_eq!(ls.size, 10);
    assert_eq!(ls.mtime_ns, 1_600_000_002_000_000_000);
    // The hard link is the same object.
    let list = vfs.stat_path(&mut p, "/bin/list").unwrap();
    assert_eq!((list.ino, list.dev, list.nlink), (ls.ino, ls.dev, 2));

    // read_all borrows from the archive.
    let bytes = vfs.read_all(&mut p, "/bin/cat").unwrap();
    assert!(matches!(bytes, Cow::Borrowed(b"cat program")));
    assert_eq!(vfs.read_all(&mut p, "/bin"), Err(Errno::ISDIR));
    assert_eq!(vfs.read_all(&mut p, "/nope"), Err(Errno::NOENT));
}

#[test]
fn initrd_is_read_only() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", sample_initrd()).unwrap();
    let p = &mut p;

    assert_eq!(vfs.open(p, "/bin/ls", &WRITE).unwrap_err(), Errno::ROFS);
    assert_eq!(vfs.open(p, "/bin/new", &CREATE).unwrap_err(), Errno::ROFS);
    assert_eq!(
        vfs.open(p, "/nodir/new", &CREATE).unwrap_err(),
        Errno::NOENT
    );
    assert_eq!(
        vfs.open(p, "/bin/ls/x", &CREATE).unwrap_err(),
        Errno::NOTDIR
    );
    let excl = OpenOptions {
        exclusive: true,
        ..CREATE
    };
    assert_eq!(vfs.open(p, "/bin/ls", &excl).unwrap_err(), Errno::EXIST);
    assert_eq!(vfs.open(p, "/bin", &WRITE).unwrap_err(), Errno::ISDIR);
    assert_eq!(vfs.open(p, "/bin/ls", &DIR).unwrap_err(), Errno::NOTDIR);
    assert_eq!(vfs.mkdir(p, "/bin"), Err(Errno::EXIST));
    assert_eq!(vfs.mkdir(p, "/new"), Err(Errno::ROFS));
    assert_eq!(vfs.mkdir(p, "/x/y"), Err(Errno::NOENT));
    assert_eq!(vfs.unlink(p, "/bin/ls"), Err(Errno::ROFS));
    assert_eq!(vfs.unlink(p, "/bin"), Err(Errno::ISDIR));
    assert_eq!(vfs.unlink(p, "/nope"), Err(Errno::NOENT));
    assert_eq!(vfs.rmdir(p, "/empty"), Err(Errno::ROFS));
    assert_eq!(vfs.rmdir(p, "/bin/ls"), Err(Errno::NOTDIR));
    assert_eq!(vfs.rename(p, "/bin/ls", "/bin/x"), Err(Errno::ROFS));
    assert_eq!(vfs.rename(p, "/nope", "/bin/x"), Err(Errno::NOENT));

    // A node opened for reading cannot write.
    let node = vfs.open(p, "/bin/ls", &READ).unwrap();
    assert_eq!(vfs.write(p, &node, 0, b"x"), Err(Errno::BADF));
    assert_eq!(vfs.set_size(p, &node, 0), Err(Errno::BADF));
    let mut buf = [0u8; 4];
    assert_eq!(vfs.read(p, &node, 3, &mut buf), Ok(4));
    assert_eq!(&buf, b"prog");
    assert_eq!(vfs.read(p, &node, 10, &mut buf), Ok(0));
    assert_eq!(vfs.read(p, &node, u64::MAX, &mut buf), Ok(0));
    vfs.close(p, node);
}

#[test]
fn initrd_long_names_prefix_and_pax() {
    // 150 bytes: the ustar writer splits it into the prefix and name fields.
    let prefixed = format!("{}/{}", "p".repeat(90), "n".repeat(59));
    // 302 bytes: too long for ustar; the `tar` crate writes a GNU long-name entry.
    let long = format!(
        "{}/{}/{}",
        "a".repeat(100),
        "b".repeat(100),
        "c".repeat(100)
    );
    let (prefixed2, long2) = (prefixed.clone(), long.clone());
    let data = archive(move |b| {
        add_file(b, &prefixed2, b"prefixed", 1);
        let mut h = ::tar::Header::new_gnu();
        h.set_size(4);
        h.set_mtime(2);
        b.append_data(&mut h, &long2, &b"long"[..]).unwrap();
        b.append_pax_extensions([("path", &b"pax/named.txt"[..]), ("mtime", b"1.25")])
            .unwrap();
        add_file(b, "ignored-name", b"pax", 3);
    });
    // The writer did use the prefix field.
    assert_ne!(&data[345..350], &[0u8; 5]);

    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", data).unwrap();
    let p = &mut p;
    assert_eq!(
        read_file(&mut vfs, p, &format!("/{prefixed}")).unwrap(),
        b"prefixed"
    );
    assert_eq!(
        read_file(&mut vfs, p, &format!("/{long}")).unwrap(),
        b"long"
    );
    assert_eq!(read_file(&mut vfs, p, "/pax/named.txt").unwrap(), b"pax");
    assert_eq!(
        vfs.stat_path(p, "/pax/named.txt").unwrap().mtime_ns,
        1_250_000_000
    );
    assert_eq!(vfs.stat_path(p, "/ignored-name"), Err(Errno::NOENT));
}

#[test]
fn initrd_later_members_replace_earlier_files() {
    let data = archive(|b| {
        add_file(b, "f", b"old", 1);
        add_file(b, "f", b"new", 2);
    });
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", data).unwrap();
    assert_eq!(read_file(&mut vfs, &mut p, "/f").unwrap(), b"new");
    assert_eq!(vfs.stat_path(&mut p, "/f").unwrap().nlink, 1);
}

#[test]
fn initrd_empty_and_unterminated_archives() {
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", &[]).unwrap();
    vfs.mount_initrd("/", &[0; 1024]).unwrap();
    // No end-of-archive blocks and no padding after the last member: still complete.
    let data = archive(|b| add_file(b, "x", b"abc", 0));
    let unterminated: &'static [u8] = &data[..512 + 3];
    let mut p = TestPlatform::new();
    vfs.mount_initrd("/", unterminated).unwrap();
    assert_eq!(read_file(&mut vfs, &mut p, "/x").unwrap(), b"abc");
}

#[test]
fn initrd_malformed_archives_are_errors() {
    let good = archive(|b| {
        add_file(b, "a/b", b"0123456789", 0);
        add_file(b, "c", b"x", 0);
    });
    let mut vfs = Vfs::new();

    let mut bad_sum = good.to_vec();
    bad_sum[0] ^= 1;
    let e = vfs
        .mount_initrd("/", Box::leak(bad_sum.into_boxed_slice()))
        .unwrap_err();
    assert!(e.contains("byte 0") && e.contains("checksum"), "{e}");

    let truncated: &'static [u8] = &good[..512 + 5];
    let e = vfs.mount_initrd("/", truncated).unwrap_err();
    assert!(e.contains("do not fit"), "{e}");

    let partial_header: &'static [u8] = &good[..1024 + 100];
    let e = vfs.mount_initrd("/", partial_header).unwrap_err();
    assert!(e.contains("truncated header at byte 1024"), "{e}");

    let e = vfs.mount_initrd("/", b"not a tar archive").unwrap_err();
    assert!(e.contains("truncated header"), "{e}");

    let escaping = archive(|b| {
        let mut h = ::tar::Header::new_ustar();
        h.set_size(1);
        // `append_data` refuses `..`; write the name field directly.
        h.as_mut_bytes()[..7].copy_from_slice(b"../evil");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
    });
    let e = vfs.mount_initrd("/", escaping).unwrap_err();
    assert!(e.contains("climbs out"), "{e}");

    let conflict = archive(|b| {
        add_file(b, "f", b"x", 0);
        add_file(b, "f/g", b"y", 0);
    });
    let e = vfs.mount_initrd("/", conflict).unwrap_err();
    assert!(e.contains("used as a directory"), "{e}");

    let dangling = archive(|b| {
        let mut h = ::tar::Header::new_ustar();
        h.set_entry_type(::tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, "l", "missing").unwrap();
    });
    let e = vfs.mount_initrd("/", dangling).unwrap_err();
    assert!(e.contains("hard link to missing"), "{e}");

    // After all that, the namespace is untouched.
    let mut p = TestPlatform::new();
    assert_eq!(names(&mut vfs, &mut p, "/"), [".", ".."]);
}

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Recomputes the checksum of the header at `at`, so corruption reaches past it.
fn fix_checksum(data: &mut [u8], at: usize) {
    let header = &mut data[at..at + 512];
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

#[test]
fn initrd_survives_hostile_bytes() {
    let good = archive(|b| {
        add_dir(b, "d", 5);
        add_file(b, "d/one", &[1; 700], 1);
        add_file(b, &"x".repeat(200), b"long", 2);
        b.append_pax_extensions([("path", &b"p/q"[..]), ("size", b"3")])
            .unwrap();
        add_file(b, "pq", b"abc", 3);
        add_file(b, "two", b"2", 4);
    });
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut outcomes = [0usize; 2];
    let mut mount = |bytes: Vec<u8>| {
        let mut vfs = Vfs::new();
        let ok = vfs
            .mount_initrd("/", Box::leak(bytes.into_boxed_slice()))
            .is_ok();
        outcomes[usize::from(ok)] += 1;
        if ok {
            // Whatever was accepted can be walked.
            let mut p = TestPlatform::new();
            walk(&mut vfs, &mut p, "/", 0);
        }
    };
    // Every truncation.
    for len in 0..good.len() {
        mount(good[..len].to_vec());
    }
    // Random corruption, with the checksums of the headers fixed up so that the fields
    // behind them are exercised.
    for _ in 0..3000 {
        let mut bytes = good.to_vec();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
        }
        if rng.below(4) != 0 {
            for block in (0..bytes.len()).step_by(512) {
                if bytes[block..block + 512].iter().any(|&b| b != 0) && rng.below(2) == 0 {
                    fix_checksum(&mut bytes, block);
                }
            }
        }
        mount(bytes);
    }
    // Pure noise, some of it shaped like headers.
    for _ in 0..1000 {
        let len = rng.below(4096);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 512 {
            fix_checksum(&mut bytes, 0);
        }
        mount(bytes);
    }
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
}

fn walk(vfs: &mut Vfs, p: &mut TestPlatform, path: &str, depth: usize) {
    let st = vfs.stat_path(p, path).unwrap();
    if st.kind == Some(FileType::Directory) {
        for name in names(vfs, p, path).into_iter().skip(2) {
            let child = if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            };
            if path::is_normalized(&child) && depth < 64 {
                walk(vfs, p, &child, depth + 1);
            }
        }
    } else {
        let data = vfs.read_all(p, path).unwrap();
        assert_eq!(data.len() as u64, st.size);
    }
}

// ---------------------------------------------------------------------------------------
// tmpfs

#[test]
fn tmpfs_files() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;

    assert_eq!(vfs.open(p, "/tmp/f", &WRITE).unwrap_err(), Errno::NOENT);
    assert_eq!(vfs.open(p, "/tmp/no/f", &CREATE).unwrap_err(), Errno::NOENT);
    p.now = 5_000;
    let node = vfs.open(p, "/tmp/f", &CREATE).unwrap();
    assert_eq!(vfs.write(p, &node, 0, b"hello"), Ok(5));
    // Writing past the end zero-fills the gap.
    p.now = 6_000;
    assert_eq!(vfs.write(p, &node, 8, b"!"), Ok(1));
    let mut buf = [9u8; 16];
    assert_eq!(vfs.read(p, &node, 0, &mut buf), Ok(9));
    assert_eq!(&buf[..9], b"hello\0\0\0!");
    assert_eq!(vfs.read(p, &node, 9, &mut buf), Ok(0));
    // An empty write does not extend the file.
    assert_eq!(vfs.write(p, &node, 100, b""), Ok(0));

    let st = vfs.stat(p, &node).unwrap();
    assert_eq!(
        (st.size, st.nlink, st.kind),
        (9, 1, Some(FileType::Regular))
    );
    assert_eq!((st.atime_ns, st.mtime_ns), (5_000, 6_000));
    assert_eq!(vfs.stat_path(p, "/tmp/f").unwrap(), st);

    // set_size shrinks and grows.
    vfs.set_size(p, &node, 2).unwrap();
    vfs.set_size(p, &node, 4).unwrap();
    assert_eq!(vfs.read(p, &node, 0, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"he\0\0");
    vfs.close(p, node);

    // Truncating on open; exclusive creation.
    let trunc = OpenOptions {
        truncate: true,
        ..WRITE
    };
    let node = vfs.open(p, "/tmp/f", &trunc).unwrap();
    assert_eq!(vfs.stat(p, &node).unwrap().size, 0);
    vfs.close(p, node);
    let excl = OpenOptions {
        exclusive: true,
        ..CREATE
    };
    assert_eq!(vfs.open(p, "/tmp/f", &excl).unwrap_err(), Errno::EXIST);
    assert_eq!(vfs.open(p, "/tmp/f", &DIR).unwrap_err(), Errno::NOTDIR);
    assert_eq!(vfs.open(p, "/tmp/f/g", &CREATE).unwrap_err(), Errno::NOTDIR);
    assert_eq!(vfs.open(p, "/tmp", &WRITE).unwrap_err(), Errno::ISDIR);
    assert_eq!(vfs.open(p, "/tmp", &CREATE).unwrap_err(), Errno::ISDIR);

    // Offsets beyond what fits are errors, not panics.
    let node = vfs.open(p, "/tmp/f", &WRITE).unwrap();
    assert_eq!(vfs.write(p, &node, u64::MAX, b"x"), Err(Errno::FBIG));
    assert_eq!(vfs.write(p, &node, u64::MAX - 1, b"x"), Err(Errno::NOSPC));
    assert_eq!(vfs.set_size(p, &node, u64::MAX), Err(Errno::NOSPC));
    vfs.close(p, node);

    // read_all copies.
    write_file(&mut vfs, p, "/tmp/g", b"program").unwrap();
    assert!(matches!(vfs.read_all(p, "/tmp/g").unwrap(), Cow::Owned(v) if v == b"program"));
}

#[test]
fn tmpfs_unlinked_open_file_lives_until_closed() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    // Room for two objects of NODE_COST bytes and a little data.
    vfs.mount_tmpfs("/tmp", 2 * tmpfs::NODE_COST + 10).unwrap();
    let p = &mut p;

    let node = vfs.open(p, "/tmp/f", &CREATE).unwrap();
    assert_eq!(vfs.write(p, &node, 0, b"0123456789"), Ok(10));
    vfs.unlink(p, "/tmp/f").unwrap();
    assert_eq!(vfs.stat_path(p, "/tmp/f"), Err(Errno::NOENT));
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", ".."]);
    // Still readable and writable through the open node, with no links.
    let mut buf = [0u8; 10];
    assert_eq!(vfs.read(p, &node, 0, &mut buf), Ok(10));
    assert_eq!(&buf, b"0123456789");
    assert_eq!(vfs.write(p, &node, 0, b"ab"), Ok(2));
    assert_eq!(vfs.stat(p, &node).unwrap().nlink, 0);
    // Its space is still taken: only one more object fits, with no data.
    write_file(&mut vfs, p, "/tmp/g", b"").unwrap();
    assert_eq!(write_file(&mut vfs, p, "/tmp/h", b""), Err(Errno::NOSPC));
    assert_eq!(write_file(&mut vfs, p, "/tmp/g", b"x"), Err(Errno::NOSPC));
    // Closing frees it.
    vfs.close(p, node);
    write_file(&mut vfs, p, "/tmp/g", b"0123456789").unwrap();
    write_file(&mut vfs, p, "/tmp/h", b"").unwrap();
}

#[test]
fn tmpfs_limit_counts_data() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", tmpfs::NODE_COST + 1000).unwrap();
    let p = &mut p;
    let node = vfs.open(p, "/tmp/f", &CREATE).unwrap();
    assert_eq!(vfs.write(p, &node, 0, &[1; 1000]), Ok(1000));
    assert_eq!(vfs.write(p, &node, 1000, &[1]), Err(Errno::NOSPC));
    assert_eq!(vfs.set_size(p, &node, 1001), Err(Errno::NOSPC));
    // Overwriting in place needs no space; shrinking gives it back.
    assert_eq!(vfs.write(p, &node, 500, &[2; 500]), Ok(500));
    vfs.set_size(p, &node, 100).unwrap();
    assert_eq!(vfs.write(p, &node, 100, &[3; 900]), Ok(900));
    vfs.close(p, node);
    assert_eq!(vfs.mkdir(p, "/tmp/d"), Err(Errno::NOSPC));
    vfs.unlink(p, "/tmp/f").unwrap();
    vfs.mkdir(p, "/tmp/d").unwrap();
}

#[test]
fn tmpfs_directories() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;

    vfs.mkdir(p, "/tmp/d").unwrap();
    assert_eq!(vfs.mkdir(p, "/tmp/d"), Err(Errno::EXIST));
    assert_eq!(vfs.mkdir(p, "/tmp/x/y"), Err(Errno::NOENT));
    assert_eq!(vfs.mkdir(p, "/tmp"), Err(Errno::EXIST));
    vfs.mkdir(p, "/tmp/d/e").unwrap();
    write_file(&mut vfs, p, "/tmp/d/f", b"f").unwrap();
    assert_eq!(vfs.mkdir(p, "/tmp/d/f/g"), Err(Errno::NOTDIR));
    assert_eq!(names(&mut vfs, p, "/tmp/d"), [".", "..", "e", "f"]);

    let d = vfs.stat_path(p, "/tmp/d").unwrap();
    assert_eq!((d.kind, d.nlink), (Some(FileType::Directory), 3));
    let tmp = vfs.stat_path(p, "/tmp").unwrap();
    assert_eq!(tmp.nlink, 3);
    assert_eq!(tmp.mtime_ns, p.now);

    // `.` and `..` carry the right inode numbers.
    let node = vfs.open(p, "/tmp/d", &DIR).unwrap();
    let entries = vfs.read_dir(p, &node).unwrap();
    vfs.close(p, node);
    assert_eq!(entries[0].ino, d.ino);
    assert_eq!(entries[1].ino, tmp.ino);
    assert_eq!(entries[2].kind, FileType::Directory);
    assert_eq!(entries[3].kind, FileType::Regular);

    assert_eq!(vfs.rmdir(p, "/tmp/d"), Err(Errno::NOTEMPTY));
    assert_eq!(vfs.rmdir(p, "/tmp/d/f"), Err(Errno::NOTDIR));
    assert_eq!(vfs.unlink(p, "/tmp/d/e"), Err(Errno::ISDIR));
    assert_eq!(vfs.rmdir(p, "/tmp/nope"), Err(Errno::NOENT));
    vfs.rmdir(p, "/tmp/d/e").unwrap();
    vfs.unlink(p, "/tmp/d/f").unwrap();
    vfs.rmdir(p, "/tmp/d").unwrap();
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", ".."]);

    // A directory is not readable as a file.
    let node = vfs.open(p, "/tmp", &DIR).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(vfs.read(p, &node, 0, &mut buf), Err(Errno::ISDIR));
    vfs.close(p, node);
    let node = vfs.open(p, "/tmp", &READ).unwrap();
    assert_eq!(vfs.read(p, &node, 0, &mut buf), Err(Errno::ISDIR));
    vfs.close(p, node);
    assert_eq!(vfs.read_all(p, "/tmp"), Err(Errno::ISDIR));
}

#[test]
fn tmpfs_rename() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;

    write_file(&mut vfs, p, "/tmp/a", b"a").unwrap();
    write_file(&mut vfs, p, "/tmp/b", b"b").unwrap();
    let a_ino = vfs.stat_path(p, "/tmp/a").unwrap().ino;
    // Replaces an existing file; an open node of the replaced file keeps it.
    let old_b = vfs.open(p, "/tmp/b", &READ).unwrap();
    vfs.rename(p, "/tmp/a", "/tmp/b").unwrap();
    assert_eq!(vfs.stat_path(p, "/tmp/a"), Err(Errno::NOENT));
    assert_eq!(vfs.stat_path(p, "/tmp/b").unwrap().ino, a_ino);
    assert_eq!(read_file(&mut vfs, p, "/tmp/b").unwrap(), b"a");
    let mut buf = [0u8; 1];
    assert_eq!(vfs.read(p, &old_b, 0, &mut buf), Ok(1));
    assert_eq!(&buf, b"b");
    assert_eq!(vfs.stat(p, &old_b).unwrap().nlink, 0);
    vfs.close(p, old_b);

    // Directories move with their contents.
    vfs.mkdir(p, "/tmp/d").unwrap();
    vfs.mkdir(p, "/tmp/e").unwrap();
    vfs.rename(p, "/tmp/b", "/tmp/d/b").unwrap();
    vfs.rename(p, "/tmp/d", "/tmp/e/d").unwrap();
    assert_eq!(read_file(&mut vfs, p, "/tmp/e/d/b").unwrap(), b"a");
    assert_eq!(vfs.stat_path(p, "/tmp/e").unwrap().nlink, 3);
    assert_eq!(vfs.stat_path(p, "/tmp").unwrap().nlink, 3);

    assert_eq!(vfs.rename(p, "/tmp/e", "/tmp/e/d/x"), Err(Errno::INVAL));
    assert_eq!(vfs.rename(p, "/tmp/e/d/b", "/tmp/e"), Err(Errno::ISDIR));
    assert_eq!(vfs.rename(p, "/tmp/e/d", "/tmp/e/d/b"), Err(Errno::INVAL));
    write_file(&mut vfs, p, "/tmp/f", b"").unwrap();
    assert_eq!(vfs.rename(p, "/tmp/e", "/tmp/f"), Err(Errno::NOTDIR));
    vfs.mkdir(p, "/tmp/g").unwrap();
    assert_eq!(vfs.rename(p, "/tmp/g", "/tmp/e"), Err(Errno::NOTEMPTY));
    vfs.rename(p, "/tmp/e", "/tmp/g").unwrap();
    assert_eq!(vfs.rename(p, "/tmp/nope", "/tmp/x"), Err(Errno::NOENT));
    assert_eq!(vfs.rename(p, "/tmp/f", "/tmp/nope/x"), Err(Errno::NOENT));
    vfs.rename(p, "/tmp/f", "/tmp/f").unwrap();
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", "..", "f", "g"]);
    assert_eq!(names(&mut vfs, p, "/tmp/g/d"), [".", "..", "b"]);
}

#[test]
fn tmpfs_inodes_are_unique_and_stable() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;
    let mut seen = Vec::new();
    for i in 0..20 {
        let path = format!("/tmp/{i}");
        write_file(&mut vfs, p, &path, b"").unwrap();
        let ino = vfs.stat_path(p, &path).unwrap().ino;
        assert!(!seen.contains(&ino));
        seen.push(ino);
        if i % 2 == 0 {
            vfs.unlink(p, &path).unwrap();
        }
    }
    assert_eq!(vfs.stat_path(p, "/tmp/19").unwrap().ino, seen[19]);
}

// ---------------------------------------------------------------------------------------
// The mount table

#[test]
fn mounts_resolve_by_longest_prefix() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", sample_initrd()).unwrap();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    vfs.mount_tmpfs("/tmp/inner", 1 << 20).unwrap();
    vfs.mount_tmpfs("/deep/er/mount", 1 << 20).unwrap();
    let p = &mut p;

    write_file(&mut vfs, p, "/tmp/a", b"outer").unwrap();
    write_file(&mut vfs, p, "/tmp/inner/a", b"inner").unwrap();
    assert_eq!(read_file(&mut vfs, p, "/tmp/a").unwrap(), b"outer");
    assert_eq!(read_file(&mut vfs, p, "/tmp/inner/a").unwrap(), b"inner");
    // "/tmpx" is not inside "/tmp".
    assert_eq!(vfs.open(p, "/tmpx", &CREATE).unwrap_err(), Errno::ROFS);

    // Each mount is its own device; the root of each has its own inode.
    let devs: Vec<u64> = [
        "/",
        "/bin/ls",
        "/tmp",
        "/tmp/a",
        "/tmp/inner",
        "/deep/er/mount",
    ]
    .iter()
    .map(|path| vfs.stat_path(p, path).unwrap().dev)
    .collect();
    assert_eq!(devs[0], devs[1]);
    assert_eq!(devs[2], devs[3]);
    let mut unique = vec![devs[0], devs[2], devs[4], devs[5]];
    unique.dedup();
    assert_eq!(unique.len(), 4);

    // Mount points show in listings, and the directories on the way to one exist.
    assert_eq!(
        names(&mut vfs, p, "/"),
        [".", "..", "bin", "deep", "empty", "etc", "tmp"]
    );
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", "..", "a", "inner"]);
    assert_eq!(names(&mut vfs, p, "/deep"), [".", "..", "er"]);
    let deep = vfs.stat_path(p, "/deep/er").unwrap();
    assert_eq!(deep.kind, Some(FileType::Directory));
    let node = vfs.open(p, "/", &DIR).unwrap();
    let root = vfs.read_dir(p, &node).unwrap();
    vfs.close(p, node);
    let tmp = root.iter().find(|e| e.name == "tmp").unwrap();
    assert_eq!(tmp.ino, vfs.stat_path(p, "/tmp").unwrap().ino);
    assert_eq!(tmp.kind, FileType::Directory);
    let node = vfs.open(p, "/tmp/inner", &DIR).unwrap();
    let inner = vfs.read_dir(p, &node).unwrap();
    vfs.close(p, node);
    assert_eq!(inner[1].ino, vfs.stat_path(p, "/tmp").unwrap().ino);

    // They cannot be removed, renamed, replaced or written as files.
    assert_eq!(vfs.rmdir(p, "/tmp"), Err(Errno::BUSY));
    assert_eq!(vfs.rmdir(p, "/tmp/inner"), Err(Errno::BUSY));
    assert_eq!(vfs.rmdir(p, "/deep"), Err(Errno::BUSY));
    assert_eq!(vfs.unlink(p, "/tmp/inner"), Err(Errno::ISDIR));
    assert_eq!(vfs.mkdir(p, "/deep/er"), Err(Errno::EXIST));
    assert_eq!(vfs.mkdir(p, "/tmp/inner"), Err(Errno::EXIST));
    assert_eq!(vfs.rename(p, "/tmp/inner", "/tmp/b"), Err(Errno::BUSY));
    assert_eq!(vfs.rename(p, "/tmp/a", "/tmp/inner"), Err(Errno::BUSY));
    assert_eq!(vfs.open(p, "/deep", &WRITE).unwrap_err(), Errno::ISDIR);
    assert_eq!(vfs.read_all(p, "/deep"), Err(Errno::ISDIR));
    let node = vfs.open(p, "/deep", &READ).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(vfs.read(p, &node, 0, &mut buf), Err(Errno::ISDIR));
    vfs.close(p, node);

    // Renaming across mounts.
    assert_eq!(vfs.rename(p, "/tmp/a", "/tmp/inner/b"), Err(Errno::XDEV));
    assert_eq!(vfs.rename(p, "/tmp/a", "/bin/a"), Err(Errno::XDEV));

    // A later mount at the same point shadows the earlier one.
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    assert_eq!(vfs.stat_path(p, "/tmp/a"), Err(Errno::NOENT));
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", "..", "inner"]);
}

#[test]
fn paths_must_be_normalised() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;
    for bad in ["", "tmp", "/tmp/", "/tmp/../etc", "/tmp/./x", "//tmp"] {
        assert_eq!(vfs.stat_path(p, bad), Err(Errno::INVAL), "{bad:?}");
        assert_eq!(
            vfs.open(p, bad, &CREATE).unwrap_err(),
            Errno::INVAL,
            "{bad:?}"
        );
    }
    assert!(vfs.mount_tmpfs("tmp", 1).is_err());
    assert!(
        vfs.mount_host("/a/../b", 0)
            .unwrap_err()
            .contains("normalised")
    );
}

#[test]
fn empty_root() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    let p = &mut p;
    assert_eq!(names(&mut vfs, p, "/"), [".", ".."]);
    let root = vfs.stat_path(p, "/").unwrap();
    assert_eq!(root.kind, Some(FileType::Directory));
    assert_eq!(vfs.open(p, "/f", &CREATE).unwrap_err(), Errno::ROFS);
    assert_eq!(vfs.mkdir(p, "/d"), Err(Errno::ROFS));
    assert_eq!(vfs.rmdir(p, "/"), Err(Errno::BUSY));
}

// ---------------------------------------------------------------------------------------
// Host mounts

#[test]
fn host_mount_passes_mount_relative_paths() {
    let mut p = TestPlatform::new();
    let mut host = MockHost::default();
    host.files.insert("f".to_string(), b"host data".to_vec());
    p.host = Some(host);
    let mut vfs = Vfs::new();
    vfs.mount_host("/work", 0).unwrap();
    let p = &mut p;

    assert_eq!(read_file(&mut vfs, p, "/work/f").unwrap(), b"host data");
    write_file(&mut vfs, p, "/work/g", b"new").unwrap();
    assert_eq!(
        vfs.read_all(p, "/work/g").unwrap(),
        Cow::<[u8]>::Owned(b"new".to_vec())
    );
    let st = vfs.stat_path(p, "/work/f").unwrap();
    assert_ne!(st.dev, 77, "the mount's device number replaces the host's");
    assert_eq!(st.dev, vfs.stat_path(p, "/work").unwrap().dev);
    assert_eq!(names(&mut vfs, p, "/work"), [".", "..", "f", "g"]);
    assert_eq!(names(&mut vfs, p, "/"), [".", "..", "work"]);
    vfs.mkdir(p, "/work/d").unwrap();
    vfs.rename(p, "/work/g", "/work/d/g").unwrap();
    vfs.unlink(p, "/work/d/g").unwrap();
    vfs.rmdir(p, "/work/d").unwrap();
    assert_eq!(vfs.rmdir(p, "/work"), Err(Errno::BUSY));

    let host = p.host.as_mut().unwrap();
    assert!(host.open.is_empty(), "every host file was closed");
    let calls = host.calls.join("\n");
    for expected in [
        "open 0 \"f\"",
        "stat 0 \"f\"",
        "stat 0 \"\"",
        "read_dir 0 \"\"",
        "mkdir 0 \"d\"",
        "rename 0 \"g\" \"d/g\"",
        "remove 0 \"d/g\" false",
        "remove 0 \"d\" true",
    ] {
        assert!(calls.contains(expected), "{expected} not in\n{calls}");
    }
    assert!(!calls.contains("\"/"), "no path starts with '/':\n{calls}");
}

#[test]
fn host_mount_without_host_directories() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_host("/work", 0).unwrap();
    let p = &mut p;
    assert_eq!(vfs.stat_path(p, "/work").unwrap_err(), Errno::NOENT);
    assert_eq!(vfs.open(p, "/work/f", &READ).unwrap_err(), Errno::NOENT);
    assert_eq!(vfs.read_all(p, "/work/f"), Err(Errno::NOENT));
    assert_eq!(vfs.mkdir(p, "/work/d"), Err(Errno::NOENT));
    // The mount point still shows in its parent.
    assert_eq!(names(&mut vfs, p, "/"), [".", "..", "work"]);
}

#[test]
fn no_file_is_created_where_a_mount_point_leads() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    vfs.mount_tmpfs("/tmp/x/y", 1 << 20).unwrap();
    let p = &mut p;
    assert_eq!(vfs.open(p, "/tmp/x", &CREATE).unwrap_err(), Errno::ISDIR);
    let excl = OpenOptions {
        exclusive: true,
        ..CREATE
    };
    assert_eq!(vfs.open(p, "/tmp/x", &excl).unwrap_err(), Errno::EXIST);
    assert_eq!(vfs.open(p, "/tmp/x", &DIR).unwrap().path, "/tmp/x");
    // A real directory below the mount point's path is used where there is one.
    vfs.mkdir(p, "/tmp/z").unwrap();
    vfs.mount_tmpfs("/tmp/z/w", 1 << 20).unwrap();
    write_file(&mut vfs, p, "/tmp/z/file", b"").unwrap();
    assert_eq!(names(&mut vfs, p, "/tmp/z"), [".", "..", "file", "w"]);
    assert_eq!(names(&mut vfs, p, "/tmp/x"), [".", "..", "y"]);
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", "..", "x", "z"]);
}

// ---------------------------------------------------------------------------------------
// Symbolic links, hard links and resolution

#[test]
fn resolve_follows_links_within_the_base() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;
    vfs.mkdir(p, "/tmp/d").unwrap();
    vfs.mkdir(p, "/tmp/d/sub").unwrap();
    write_file(&mut vfs, p, "/tmp/d/f", b"data").unwrap();
    vfs.symlink(p, "f", "/tmp/d/to_f").unwrap();
    vfs.symlink(p, "sub", "/tmp/d/to_sub").unwrap();
    vfs.symlink(p, "../f", "/tmp/d/sub/up").unwrap();
    vfs.symlink(p, "../../x", "/tmp/d/out").unwrap();
    vfs.symlink(p, "/tmp/d/f", "/tmp/d/abs").unwrap();
    vfs.symlink(p, "self", "/tmp/d/self").unwrap();
    vfs.symlink(p, "f/", "/tmp/d/slash").unwrap();
    let mut r = |rel: &str, follow: bool| vfs.resolve(p, "/tmp/d", rel, follow).map(|r| r.path);

    assert_eq!(r("to_f", true).as_deref(), Ok("/tmp/d/f"));
    assert_eq!(r("to_f", false).as_deref(), Ok("/tmp/d/to_f"));
    // Links before the last component are always followed; `..` is physical.
    assert_eq!(r("to_sub/up", true).as_deref(), Ok("/tmp/d/f"));
    assert_eq!(r("to_sub/../f", false).as_deref(), Ok("/tmp/d/f"));
    // A trailing slash follows the last link too.
    assert_eq!(r("to_sub/", false).as_deref(), Ok("/tmp/d/sub"));
    // Nothing leads above the base: not `..`, not a link, not an absolute link.
    assert_eq!(r("..", false), Err(Errno::NOTCAPABLE));
    assert_eq!(r("sub/../..", false), Err(Errno::NOTCAPABLE));
    assert_eq!(r("out", true), Err(Errno::NOTCAPABLE));
    assert_eq!(r("out", false).as_deref(), Ok("/tmp/d/out"));
    assert_eq!(r("abs", true), Err(Errno::NOTCAPABLE));
    assert_eq!(r("/tmp/d/f", true), Err(Errno::NOTCAPABLE));
    // Loops end after MAX_SYMLINKS links.
    assert_eq!(r("self", true), Err(Errno::LOOP));
    assert_eq!(r("self/x", false), Err(Errno::LOOP));
    // A missing last component is fine (it may be created); a missing directory is not.
    assert_eq!(r("new", false).as_deref(), Ok("/tmp/d/new"));
    assert_eq!(r("no/new", false), Err(Errno::NOENT));
    assert_eq!(r("f/x", false), Err(Errno::NOTDIR));
    assert_eq!(r("", false), Err(Errno::NOENT));
    let slash = vfs.resolve(p, "/tmp/d", "slash", true).unwrap();
    assert!(slash.dir, "a target ending in / names a directory");

    // A chain of exactly MAX_SYMLINKS links resolves; one more does not.
    for i in 0..=MAX_SYMLINKS {
        let target = if i == 0 {
            "f".to_string()
        } else {
            format!("l{}", i - 1)
        };
        vfs.symlink(p, &target, &format!("/tmp/d/l{i}")).unwrap();
    }
    let last = format!("l{}", MAX_SYMLINKS - 1);
    assert_eq!(
        vfs.resolve(p, "/tmp/d", &last, true)
            .map(|r| r.path)
            .as_deref(),
        Ok("/tmp/d/f")
    );
    let over = format!("l{MAX_SYMLINKS}");
    assert_eq!(
        vfs.resolve(p, "/tmp/d", &over, true).map(|r| r.path),
        Err(Errno::LOOP)
    );
}

#[test]
fn tmpfs_links_and_times() {
    let mut p = TestPlatform::new();
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
    let p = &mut p;
    write_file(&mut vfs, p, "/tmp/f", b"data").unwrap();

    // Symbolic links are themselves for stat, readlink, unlink, rename; open refuses them.
    vfs.symlink(p, "f", "/tmp/s").unwrap();
    let st = vfs.stat_path(p, "/tmp/s").unwrap();
    assert_eq!((st.kind, st.size), (Some(FileType::Symlink), 1));
    assert_eq!(vfs.readlink(p, "/tmp/s").as_deref(), Ok("f"));
    assert_eq!(vfs.readlink(p, "/tmp/f"), Err(Errno::INVAL));
    assert_eq!(vfs.open(p, "/tmp/s", &READ).unwrap_err(), Errno::LOOP);
    assert_eq!(vfs.symlink(p, "g", "/tmp/s"), Err(Errno::EXIST));
    assert_eq!(vfs.rmdir(p, "/tmp/s"), Err(Errno::NOTDIR));
    let listed = names(&mut vfs, p, "/tmp");
    assert_eq!(listed, [".", "..", "f", "s"]);

    // Hard links share the object and count names.
    vfs.link(p, "/tmp/f", "/tmp/h").unwrap();
    let (f, h) = (
        vfs.stat_path(p, "/tmp/f").unwrap(),
        vfs.stat_path(p, "/tmp/h").unwrap(),
    );
    assert_eq!((f.ino, f.nlink), (h.ino, 2));
    assert_eq!(vfs.link(p, "/tmp/f", "/tmp/h"), Err(Errno::EXIST));
    assert_eq!(vfs.link(p, "/tmp", "/tmp/x"), Err(Errno::PERM));
    vfs.mkdir(p, "/tmp/dir").unwrap();
    assert_eq!(vfs.link(p, "/tmp/dir", "/tmp/x"), Err(Errno::PERM));
    // Renaming one name onto another of the same object keeps both (POSIX).
    vfs.rename(p, "/tmp/f", "/tmp/h").unwrap();
    assert_eq!(vfs.stat_path(p, "/tmp/f").unwrap().nlink, 2);
    vfs.unlink(p, "/tmp/f").unwrap();
    assert_eq!(vfs.stat_path(p, "/tmp/h").unwrap().nlink, 1);
    assert_eq!(&*vfs.read_all(p, "/tmp/h").unwrap(), b"data");
    // A hard link to a symbolic link is a link to the link.
    vfs.link(p, "/tmp/s", "/tmp/s2").unwrap();
    assert_eq!(vfs.readlink(p, "/tmp/s2").as_deref(), Ok("f"));

    // Times: each may be kept; the change time becomes now.
    p.now = 77;
    vfs.set_times_path(p, "/tmp/h", Some(10), None).unwrap();
    let st = vfs.stat_path(p, "/tmp/h").unwrap();
    assert_eq!((st.atime_ns, st.ctime_ns), (10, 77));
    assert_ne!(st.mtime_ns, 10);
    let node = vfs.open(p, "/tmp/h", &READ).unwrap();
    vfs.set_times(p, &node, None, Some(20)).unwrap();
    vfs.close(p, node);
    let st = vfs.stat_path(p, "/tmp/h").unwrap();
    assert_eq!((st.atime_ns, st.mtime_ns), (10, 20));
    assert_eq!(
        vfs.set_times_path(p, "/tmp/nope", None, None),
        Err(Errno::NOENT)
    );

    // Removing the links leaves what they named.
    vfs.unlink(p, "/tmp/s").unwrap();
    vfs.unlink(p, "/tmp/s2").unwrap();
    assert_eq!(names(&mut vfs, p, "/tmp"), [".", "..", "dir", "h"]);
}
