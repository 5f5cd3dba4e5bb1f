//! Host directories through the kernel's VFS (`Vfs::mount_host`) on the hosted platform:
//! file I/O, directories, errors, and confinement to the mapped root.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use tempfile::TempDir;
use weft_hosted::HostedPlatform;
use weft_kernel::errno::Errno;
use weft_kernel::platform::Platform;
use weft_kernel::vfs::{FileType, OpenOptions, Vfs};

const READ: OpenOptions = OpenOptions {
    read: true,
    write: false,
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

/// A temporary directory with `root/` (mapped at `/work`) and `outside/` beside it.
struct Setup {
    tmp: TempDir,
    p: HostedPlatform,
    vfs: Vfs,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("root")).unwrap();
        fs::create_dir(tmp.path().join("outside")).unwrap();
        fs::write(tmp.path().join("outside/secret"), b"secret").unwrap();
        let p = HostedPlatform::new(vec![tmp.path().join("root")]).unwrap();
        let mut vfs = Vfs::new();
        vfs.mount_tmpfs("/tmp", 1 << 20).unwrap();
        vfs.mount_host("/work", 0).unwrap();
        Setup { tmp, p, vfs }
    }

    fn host(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn read(&mut self, path: &str) -> Result<Vec<u8>, Errno> {
        let node = self.vfs.open(&mut self.p, path, &READ)?;
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        let result = loop {
            match self
                .vfs
                .read(&mut self.p, &node, out.len() as u64, &mut buf)
            {
                Ok(0) => break Ok(out),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        self.vfs.close(&mut self.p, node);
        result
    }

    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), Errno> {
        let node = self.vfs.open(&mut self.p, path, &CREATE)?;
        let result = self.vfs.write(&mut self.p, &node, 0, data);
        self.vfs.close(&mut self.p, node);
        assert_eq!(result?, data.len());
        Ok(())
    }

    fn names(&mut self, path: &str) -> Result<Vec<String>, Errno> {
        let node = self.vfs.open(&mut self.p, path, &DIR)?;
        let entries = self.vfs.read_dir(&mut self.p, &node);
        self.vfs.close(&mut self.p, node);
        Ok(entries?.into_iter().map(|e| e.name).collect())
    }
}

#[test]
fn file_round_trip() {
    let mut s = Setup::new();
    s.write("/work/hello.txt", b"hello").unwrap();
    assert_eq!(fs::read(s.host("root/hello.txt")).unwrap(), b"hello");
    assert_eq!(s.read("/work/hello.txt").unwrap(), b"hello");

    let write = OpenOptions {
        read: true,
        write: true,
        ..OpenOptions::default()
    };
    let node = s.vfs.open(&mut s.p, "/work/hello.txt", &write).unwrap();
    // Positional writes, past the end too (the gap reads as zeros).
    assert_eq!(s.vfs.write(&mut s.p, &node, 7, b"world"), Ok(5));
    assert_eq!(
        fs::read(s.host("root/hello.txt")).unwrap(),
        b"hello\0\0world"
    );
    let st = s.vfs.stat(&mut s.p, &node).unwrap();
    assert_eq!(
        (st.size, st.kind, st.nlink),
        (12, Some(FileType::Regular), 1)
    );
    let meta = fs::metadata(s.host("root/hello.txt")).unwrap();
    assert_eq!(st.ino, std::os::unix::fs::MetadataExt::ino(&meta));
    assert!(st.mtime_ns > 1_600_000_000_000_000_000);
    s.vfs.set_size(&mut s.p, &node, 3).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(s.vfs.read(&mut s.p, &node, 0, &mut buf), Ok(3));
    assert_eq!(&buf[..3], b"hel");
    s.vfs.close(&mut s.p, node);
    assert_eq!(
        s.vfs.stat_path(&mut s.p, "/work/hello.txt").unwrap().size,
        3
    );

    // Programs load through read_all.
    fs::write(s.host("root/prog.wasm"), vec![7u8; 200_000]).unwrap();
    assert_eq!(
        s.vfs.read_all(&mut s.p, "/work/prog.wasm").unwrap().len(),
        200_000
    );

    // Truncating and exclusive opens.
    let trunc = OpenOptions {
        truncate: true,
        ..write
    };
    let node = s.vfs.open(&mut s.p, "/work/hello.txt", &trunc).unwrap();
    s.vfs.close(&mut s.p, node);
    assert_eq!(fs::read(s.host("root/hello.txt")).unwrap(), b"");
    let excl = OpenOptions {
        exclusive: true,
        ..CREATE
    };
    let e = s.vfs.open(&mut s.p, "/work/hello.txt", &excl).unwrap_err();
    assert_eq!(e, Errno::EXIST);
    let node = s.vfs.open(&mut s.p, "/work/fresh", &excl).unwrap();
    s.vfs.close(&mut s.p, node);
    assert!(s.host("root/fresh").is_file());

    // Errors as POSIX gives them.
    assert_eq!(s.read("/work/missing"), Err(Errno::NOENT));
    assert_eq!(s.write("/work/no/such", b""), Err(Errno::NOENT));
    assert_eq!(s.write("/work/hello.txt/x", b""), Err(Errno::NOTDIR));
    assert_eq!(
        s.vfs.open(&mut s.p, "/work/hello.txt", &DIR).unwrap_err(),
        Errno::NOTDIR
    );
    assert_eq!(
        s.vfs.open(&mut s.p, "/work", &write).unwrap_err(),
        Errno::ISDIR
    );
    assert_eq!(s.vfs.read_all(&mut s.p, "/work"), Err(Errno::ISDIR));

    // Renaming between mounts.
    assert_eq!(
        s.vfs.rename(&mut s.p, "/work/fresh", "/tmp/fresh"),
        Err(Errno::XDEV)
    );
}

#[test]
fn directories() {
    let mut s = Setup::new();
    s.vfs.mkdir(&mut s.p, "/work/d").unwrap();
    assert!(s.host("root/d").is_dir());
    assert_eq!(s.vfs.mkdir(&mut s.p, "/work/d"), Err(Errno::EXIST));
    assert_eq!(s.vfs.mkdir(&mut s.p, "/work"), Err(Errno::EXIST));
    assert_eq!(s.vfs.mkdir(&mut s.p, "/work/x/y"), Err(Errno::NOENT));
    s.write("/work/d/b", b"b").unwrap();
    s.write("/work/d/a", b"a").unwrap();
    s.vfs.mkdir(&mut s.p, "/work/d/c").unwrap();
    assert_eq!(s.names("/work/d").unwrap(), [".", "..", "a", "b", "c"]);
    assert_eq!(s.names("/work").unwrap(), [".", "..", "d"]);
    assert_eq!(s.names("/").unwrap(), [".", "..", "tmp", "work"]);

    let node = s.vfs.open(&mut s.p, "/work/d", &DIR).unwrap();
    let entries = s.vfs.read_dir(&mut s.p, &node).unwrap();
    s.vfs.close(&mut s.p, node);
    let d = s.vfs.stat_path(&mut s.p, "/work/d").unwrap();
    let work = s.vfs.stat_path(&mut s.p, "/work").unwrap();
    assert_eq!(d.kind, Some(FileType::Directory));
    assert_eq!((entries[0].ino, entries[1].ino), (d.ino, work.ino));
    assert_eq!(entries[2].kind, FileType::Regular);
    assert_eq!(entries[4].kind, FileType::Directory);
    assert_eq!(d.dev, work.dev);
    assert_ne!(d.dev, s.vfs.stat_path(&mut s.p, "/tmp").unwrap().dev);

    assert_eq!(s.vfs.rmdir(&mut s.p, "/work/d"), Err(Errno::NOTEMPTY));
    assert_eq!(s.vfs.rmdir(&mut s.p, "/work/d/a"), Err(Errno::NOTDIR));
    assert_eq!(s.vfs.unlink(&mut s.p, "/work/d/c"), Err(Errno::ISDIR));
    assert_eq!(s.vfs.unlink(&mut s.p, "/work/d/zz"), Err(Errno::NOENT));
    assert_eq!(s.vfs.rmdir(&mut s.p, "/work"), Err(Errno::BUSY));

    // rename replaces a file, moves directories, refuses a directory into itself.
    s.vfs.rename(&mut s.p, "/work/d/a", "/work/d/b").unwrap();
    assert_eq!(fs::read(s.host("root/d/b")).unwrap(), b"a");
    assert!(!s.host("root/d/a").exists());
    s.vfs.rename(&mut s.p, "/work/d/c", "/work/c").unwrap();
    assert!(s.host("root/c").is_dir());
    assert_eq!(
        s.vfs.rename(&mut s.p, "/work/d", "/work/d/b/x"),
        Err(Errno::NOTDIR)
    );
    assert_eq!(s.vfs.rename(&mut s.p, "/work/d", "/work/c/in"), Ok(()));
    assert_eq!(
        s.vfs.rename(&mut s.p, "/work/c", "/work/c/in/x"),
        Err(Errno::INVAL)
    );

    s.vfs.unlink(&mut s.p, "/work/c/in/b").unwrap();
    s.vfs.rmdir(&mut s.p, "/work/c/in").unwrap();
    s.vfs.rmdir(&mut s.p, "/work/c").unwrap();
    assert_eq!(s.names("/work").unwrap(), [".", ".."]);
    assert_eq!(fs::read_dir(s.host("root")).unwrap().count(), 0);
}

#[test]
fn symlinks_cannot_escape_the_root() {
    let mut s = Setup::new();
    let outside = s.host("outside");
    symlink(&outside, s.host("root/dirlink")).unwrap();
    symlink(outside.join("secret"), s.host("root/filelink")).unwrap();
    symlink(outside.join("new"), s.host("root/dangling")).unwrap();
    symlink("../outside", s.host("root/relative")).unwrap();
    fs::write(s.host("root/inside"), b"inside").unwrap();
    symlink("inside", s.host("root/goodlink")).unwrap();
    fs::create_dir(s.host("root/sub")).unwrap();
    symlink("..", s.host("root/sub/up")).unwrap();

    // The kernel resolves links itself, beneath the directory it starts from: absolute
    // links and links that climb above it are refused.
    let refused = Err(Errno::NOTCAPABLE);
    for (rel, follow) in [
        ("filelink", true),
        ("dirlink/secret", false),
        ("relative/secret", false),
        ("dangling", true),
        ("dirlink/new", false),
    ] {
        let r = s.vfs.resolve(&mut s.p, "/work", rel, follow);
        assert_eq!(r.map(|r| r.path), refused, "{rel}");
    }
    // Links that stay inside resolve to what they name.
    let inside = s.vfs.resolve(&mut s.p, "/work", "goodlink", true).unwrap();
    assert_eq!(inside.path, "/work/inside");
    assert_eq!(s.read(&inside.path).unwrap(), b"inside");
    let up = s
        .vfs
        .resolve(&mut s.p, "/work", "sub/up/inside", true)
        .unwrap();
    assert_eq!(up.path, "/work/inside");
    // Not following, a link is itself.
    let link = s.vfs.resolve(&mut s.p, "/work", "filelink", false).unwrap();
    assert_eq!(link.path, "/work/filelink");
    let st = s.vfs.stat_path(&mut s.p, "/work/filelink").unwrap();
    assert_eq!(st.kind, Some(FileType::Symlink));

    // Below the kernel the platform follows no link at all, so a path that did pass
    // through one (say, swapped in by another host process) goes nowhere.
    const LOOP: Option<Errno> = Some(Errno::LOOP);
    assert_eq!(s.read("/work/filelink").err(), LOOP);
    assert_eq!(s.read("/work/dirlink/secret").err(), LOOP);
    assert_eq!(s.write("/work/filelink", b"overwritten").err(), LOOP);
    assert_eq!(s.write("/work/dirlink/new", b"x").err(), LOOP);
    assert_eq!(s.names("/work/dirlink").err(), LOOP);
    assert_eq!(s.vfs.mkdir(&mut s.p, "/work/dirlink/d").err(), LOOP);
    assert_eq!(
        s.vfs
            .rename(&mut s.p, "/work/inside", "/work/dirlink/x")
            .err(),
        LOOP
    );
    assert_eq!(s.vfs.unlink(&mut s.p, "/work/dirlink/secret").err(), LOOP);
    assert_eq!(
        s.vfs.read_all(&mut s.p, "/work/filelink").err(),
        Some(Errno::NOTCAPABLE)
    );
    // Nothing outside changed.
    assert_eq!(fs::read(outside.join("secret")).unwrap(), b"secret");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);

    // Listing shows links as links.
    let node = s.vfs.open(&mut s.p, "/work", &DIR).unwrap();
    let entries = s.vfs.read_dir(&mut s.p, &node).unwrap();
    s.vfs.close(&mut s.p, node);
    let kind = |name: &str| entries.iter().find(|e| e.name == name).unwrap().kind;
    assert_eq!(kind("dirlink"), FileType::Symlink);
    assert_eq!(kind("sub"), FileType::Directory);

    // Removing a link removes the link, not its target.
    s.vfs.unlink(&mut s.p, "/work/filelink").unwrap();
    assert!(outside.join("secret").exists());
    assert!(fs::symlink_metadata(s.host("root/filelink")).is_err());
    s.vfs.unlink(&mut s.p, "/work/dirlink").unwrap();
    assert!(outside.is_dir());
}

#[test]
fn links_made_through_the_vfs_reach_the_host() {
    let mut s = Setup::new();
    fs::write(s.host("root/file"), b"data").unwrap();
    s.vfs.symlink(&mut s.p, "file", "/work/sym").unwrap();
    assert_eq!(
        fs::read_link(s.host("root/sym")).unwrap(),
        Path::new("file")
    );
    assert_eq!(s.vfs.readlink(&mut s.p, "/work/sym").unwrap(), "file");
    assert_eq!(s.vfs.readlink(&mut s.p, "/work/file"), Err(Errno::INVAL));
    s.vfs.link(&mut s.p, "/work/file", "/work/hard").unwrap();
    assert_eq!(fs::read(s.host("root/hard")).unwrap(), b"data");
    let st = s.vfs.stat_path(&mut s.p, "/work/hard").unwrap();
    assert_eq!(st.nlink, 2);
    assert_eq!(
        s.vfs.link(&mut s.p, "/work/file", "/work/hard"),
        Err(Errno::EXIST)
    );
    fs::create_dir(s.host("root/d")).unwrap();
    assert_eq!(
        s.vfs.link(&mut s.p, "/work/d", "/work/d2"),
        Err(Errno::PERM)
    );
    // A hard link to a link links the link itself.
    s.vfs.link(&mut s.p, "/work/sym", "/work/sym2").unwrap();
    assert_eq!(
        fs::read_link(s.host("root/sym2")).unwrap(),
        Path::new("file")
    );
    // Times: set on the path (a link's own) and on an open file.
    s.vfs
        .set_times_path(
            &mut s.p,
            "/work/sym",
            Some(5_000_000_000),
            Some(7_000_000_000),
        )
        .unwrap();
    let st = s.vfs.stat_path(&mut s.p, "/work/sym").unwrap();
    assert_eq!((st.atime_ns, st.mtime_ns), (5_000_000_000, 7_000_000_000));
    let file = s.vfs.stat_path(&mut s.p, "/work/file").unwrap();
    assert_ne!(file.mtime_ns, 7_000_000_000);
    let node = s.vfs.open(&mut s.p, "/work/file", &READ).unwrap();
    s.vfs
        .set_times(&mut s.p, &node, None, Some(9_000_000_001))
        .unwrap();
    s.vfs.close(&mut s.p, node);
    let after = s.vfs.stat_path(&mut s.p, "/work/file").unwrap();
    assert_eq!(after.mtime_ns, 9_000_000_001);
    assert_eq!(after.atime_ns, file.atime_ns, "None keeps the access time");
}

#[test]
fn special_files_are_not_opened() {
    let mut s = Setup::new();
    let fifo = s.host("root/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|st| st.success()) {
        eprintln!("mkfifo unavailable; skipping");
        return;
    }
    // Opening a FIFO would block the kernel's only thread.
    assert_eq!(s.read("/work/fifo"), Err(Errno::NOTSUP));
    assert_eq!(
        s.vfs.stat_path(&mut s.p, "/work/fifo").unwrap().kind,
        Some(FileType::Regular)
    );
}

#[test]
fn bad_roots_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let e = HostedPlatform::new(vec![missing.clone()]).err().unwrap();
    assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}");
    let file = tmp.path().join("file");
    fs::write(&file, b"").unwrap();
    let e = HostedPlatform::new(vec![tmp.path().to_path_buf(), file.clone()])
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a directory"), "{e}");
    assert!(e.to_string().contains(&*file.to_string_lossy()), "{e}");
}

#[test]
fn roots_are_numbered_and_checked() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    fs::write(a.path().join("f"), b"in a").unwrap();
    fs::write(b.path().join("f"), b"in b").unwrap();
    let mut p = HostedPlatform::new(vec![a.path().into(), b.path().into()]).unwrap();
    let mut vfs = Vfs::new();
    vfs.mount_host("/a", 0).unwrap();
    vfs.mount_host("/b", 1).unwrap();
    vfs.mount_host("/c", 2).unwrap();
    assert_eq!(&*vfs.read_all(&mut p, "/a/f").unwrap(), b"in a");
    assert_eq!(&*vfs.read_all(&mut p, "/b/f").unwrap(), b"in b");
    assert_eq!(vfs.read_all(&mut p, "/c/f"), Err(Errno::BADF));
    assert_eq!(vfs.rename(&mut p, "/a/f", "/b/g"), Err(Errno::XDEV));

    // The HostFs refuses paths the kernel would never send.
    let host = p.host_fs().unwrap();
    for bad in ["../x", "/etc", "a//b", "./f", "f/.."] {
        assert_eq!(host.stat_path(0, bad), Err(Errno::NOTCAPABLE), "{bad}");
    }
    assert_eq!(host.stat_path(0, "f\0"), Err(Errno::INVAL));
    assert_eq!(host.read(12345, 0, &mut [0; 4]), Err(Errno::BADF));
    assert!(Path::new(a.path()).join("f").exists());
}
