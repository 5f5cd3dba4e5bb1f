//! Host directories as [`HostFs`] roots.
//!
//! Confinement: each root is opened once, when the platform is made, and every operation
//! starts from that descriptor with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`,
//! which the host kernel enforces atomically: no path can climb above its root or pass
//! through a symbolic link, even if another host process swaps a directory for a link
//! meanwhile. Operations on the last component use the `*at` calls without following it
//! (`AT_SYMLINK_NOFOLLOW`, `O_NOFOLLOW`, `linkat` without `AT_SYMLINK_FOLLOW`), so a link
//! there is acted on itself. weft's kernel follows links itself, within the guest's
//! directory handle (see `Vfs::resolve`), and hands this module link-free paths.
//!
//! Only regular files and directories are opened: a FIFO or a device could block the
//! kernel's only thread (`NOTSUP`). This needs `openat2`, Linux 5.6 or later.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use rustix::fs::{
    AtFlags, Dir, FileType as HostType, Mode, OFlags, ResolveFlags, Stat as HostStat, Timespec,
    Timestamps, UTIME_OMIT,
};

use weft_kernel::errno::{Errno, SysResult};
use weft_kernel::platform::HostFs;
use weft_kernel::vfs::{DirEntry, FileType, OpenOptions, Stat};

/// How every path is resolved beneath a root.
const BENEATH: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// The mapped directories and the files open in them.
pub(crate) struct HostDirs {
    /// The roots, opened `O_PATH`.
    roots: Vec<OwnedFd>,
    files: HashMap<u64, File>,
    next_id: u64,
}

/// The errno for a host I/O error.
pub(crate) fn errno(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::ENOENT) => Errno::NOENT,
        Some(libc::EEXIST) => Errno::EXIST,
        Some(libc::ENOTDIR) => Errno::NOTDIR,
        Some(libc::EISDIR) => Errno::ISDIR,
        Some(libc::ENOTEMPTY) => Errno::NOTEMPTY,
        Some(libc::EACCES) => Errno::ACCES,
        Some(libc::EPERM) => Errno::PERM,
        Some(libc::ENOSPC) => Errno::NOSPC,
        Some(libc::EDQUOT) => Errno::NOSPC,
        Some(libc::EXDEV) => Errno::XDEV,
        Some(libc::ELOOP) => Errno::LOOP,
        Some(libc::ENAMETOOLONG) => Errno::NAMETOOLONG,
        Some(libc::EINVAL) => Errno::INVAL,
        Some(libc::EROFS) => Errno::ROFS,
        Some(libc::EFBIG) => Errno::FBIG,
        Some(libc::EBUSY) => Errno::BUSY,
        Some(libc::EMFILE | libc::ENFILE) => Errno::MFILE,
        Some(libc::ENOMEM) => Errno::NOMEM,
        Some(libc::EAGAIN) => Errno::AGAIN,
        Some(libc::EMLINK) => Errno::PERM,
        Some(libc::EOPNOTSUPP) => Errno::NOTSUP,
        _ => match e.kind() {
            io::ErrorKind::NotFound => Errno::NOENT,
            io::ErrorKind::AlreadyExists => Errno::EXIST,
            io::ErrorKind::PermissionDenied => Errno::ACCES,
            io::ErrorKind::InvalidInput => Errno::INVAL,
            io::ErrorKind::OutOfMemory => Errno::NOMEM,
            _ => Errno::IO,
        },
    }
}

fn io<T>(r: io::Result<T>) -> SysResult<T> {
    r.map_err(|e| errno(&e))
}

/// A host call, retried when a signal interrupts it.
fn sys<T>(mut op: impl FnMut() -> rustix::io::Result<T>) -> SysResult<T> {
    loop {
        match op() {
            Err(rustix::io::Errno::INTR) => {}
            r => return r.map_err(|e| errno(&io::Error::from(e))),
        }
    }
}

/// Nanoseconds since the epoch from seconds and nanoseconds (0 before the epoch).
fn ns(secs: i64, nsec: i64) -> u64 {
    let secs = u64::try_from(secs).unwrap_or(0);
    let nsec = u64::try_from(nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn host_type(st: &HostStat) -> HostType {
    HostType::from_raw_mode(st.st_mode as _)
}

// The field types of `stat` differ between architectures; the casts are no-ops on some.
#[allow(clippy::unnecessary_cast)]
fn stat_of(st: &HostStat) -> Stat {
    let kind = match host_type(st) {
        HostType::Directory => FileType::Directory,
        HostType::Symlink => FileType::Symlink,
        _ => FileType::Regular,
    };
    Stat {
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        kind: Some(kind),
        nlink: st.st_nlink as u64,
        size: u64::try_from(st.st_size).unwrap_or(0),
        atime_ns: ns(st.st_atime as i64, st.st_atime_nsec as i64),
        mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
    }
}

/// A time to set, or `UTIME_OMIT` to keep it.
fn timespec(t: Option<u64>) -> Timespec {
    match t {
        Some(ns) => Timespec {
            tv_sec: (ns / 1_000_000_000) as _,
            tv_nsec: (ns % 1_000_000_000) as _,
        },
        None => Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
    }
}

fn timestamps(atime: Option<u64>, mtime: Option<u64>) -> Timestamps {
    Timestamps {
        last_access: timespec(atime),
        last_modification: timespec(mtime),
    }
}

/// Refuses paths the kernel never sends: absolute, with `.`, `..` or empty components.
fn check_rel(rel: &str) -> SysResult<()> {
    if rel.contains('\0') {
        return Err(Errno::INVAL);
    }
    if !rel.is_empty() && rel.split('/').any(|c| matches!(c, "" | "." | "..")) {
        return Err(Errno::NOTCAPABLE);
    }
    Ok(())
}

/// `rel` as a path for the `*at` calls (`.` for the root itself).
fn at_path(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

impl HostDirs {
    /// Opens `dirs`; each must be a directory.
    pub(crate) fn new(dirs: Vec<PathBuf>) -> io::Result<HostDirs> {
        let mut roots = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let fail = |e: io::Error| {
                io::Error::new(e.kind(), format!("host directory {}: {e}", dir.display()))
            };
            let root = rustix::fs::open(
                &dir,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                rustix::io::Errno::NOTDIR => fail(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    "not a directory",
                )),
                e => fail(e.into()),
            })?;
            // Every later operation needs openat2: say so now if the host lacks it.
            rustix::fs::openat2(
                &root,
                ".",
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                BENEATH,
            )
            .map_err(|e| match e {
                rustix::io::Errno::NOSYS => fail(io::Error::other(
                    "mapping host directories needs openat2 (Linux 5.6 or later)",
                )),
                e => fail(e.into()),
            })?;
            roots.push(root);
        }
        Ok(HostDirs {
            roots,
            files: HashMap::new(),
            next_id: 1,
        })
    }

    fn root(&self, root: usize) -> SysResult<BorrowedFd<'_>> {
        self.roots.get(root).map(AsFd::as_fd).ok_or(Errno::BADF)
    }

    /// Opens `rel` beneath `root`, following no link anywhere on the way.
    fn open_beneath(
        &self,
        root: usize,
        rel: &str,
        flags: OFlags,
        mode: Mode,
    ) -> SysResult<OwnedFd> {
        check_rel(rel)?;
        let root = self.root(root)?;
        sys(|| rustix::fs::openat2(root, at_path(rel), flags | OFlags::CLOEXEC, mode, BENEATH))
    }

    /// The directory holding `rel` (opened `O_PATH`) and the last component. `rel` must
    /// not be the root.
    fn parent<'r>(&self, root: usize, rel: &'r str) -> SysResult<(OwnedFd, &'r str)> {
        check_rel(rel)?;
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        if name.is_empty() {
            return Err(Errno::INVAL);
        }
        let dir = self.open_beneath(root, dir, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        Ok((dir, name))
    }

    /// The host status of `rel`, not following a link at its end.
    fn lstat(&self, root: usize, rel: &str) -> SysResult<HostStat> {
        if rel.is_empty() {
            check_rel(rel)?;
            let root = self.root(root)?;
            return sys(|| rustix::fs::fstat(root));
        }
        let (dir, name) = self.parent(root, rel)?;
        sys(|| rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW))
    }

    fn add(&mut self, file: File) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.files.insert(id, file);
        id
    }

    fn file(&self, id: u64) -> SysResult<&File> {
        self.files.get(&id).ok_or(Errno::BADF)
    }
}

/// Retries a std I/O operation interrupted by a signal.
fn retry<T>(mut op: impl FnMut() -> io::Result<T>) -> SysResult<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return io(r),
        }
    }
}

impl HostFs for HostDirs {
    fn open(&mut self, root: usize, path: &str, how: &OpenOptions) -> SysResult<u64> {
        let write = how.write || how.truncate;
        let mut flags = OFlags::NOFOLLOW | OFlags::NONBLOCK;
        flags |= match (how.read || !write, write) {
            (true, true) => OFlags::RDWR,
            (false, true) => OFlags::WRONLY,
            _ => OFlags::RDONLY,
        };
        let fd = match self.lstat(root, path) {
            Ok(st) => {
                let kind = stat_of(&st).kind.unwrap_or(FileType::Regular);
                how.check_existing(kind)?;
                if !matches!(host_type(&st), HostType::Directory | HostType::RegularFile) {
                    return Err(Errno::NOTSUP);
                }
                if how.truncate {
                    flags |= OFlags::TRUNC;
                }
                self.open_beneath(root, path, flags, Mode::empty())?
            }
            Err(Errno::NOENT) if how.create && !how.directory && !path.is_empty() => {
                // O_EXCL: fails rather than follow anything that appeared meanwhile.
                let flags = flags | OFlags::CREATE | OFlags::EXCL;
                self.open_beneath(root, path, flags, Mode::from_raw_mode(0o666))?
            }
            Err(e) => return Err(e),
        };
        // What was opened may not be what was checked, if the host changed meanwhile.
        let st = sys(|| rustix::fs::fstat(&fd))?;
        if !matches!(host_type(&st), HostType::Directory | HostType::RegularFile) {
            return Err(Errno::NOTSUP);
        }
        Ok(self.add(File::from(fd)))
    }

    fn close(&mut self, file: u64) {
        self.files.remove(&file);
    }

    fn read(&mut self, file: u64, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
        let f = self.file(file)?;
        retry(|| f.read_at(buf, offset))
    }

    fn write(&mut self, file: u64, offset: u64, data: &[u8]) -> SysResult<usize> {
        let f = self.file(file)?;
        retry(|| f.write_at(data, offset))
    }

    fn set_size(&mut self, file: u64, size: u64) -> SysResult<()> {
        let f = self.file(file)?;
        retry(|| f.set_len(size))
    }

    fn stat(&mut self, file: u64) -> SysResult<Stat> {
        let f = self.file(file)?;
        Ok(stat_of(&sys(|| rustix::fs::fstat(f))?))
    }

    fn set_times(&mut self, file: u64, atime: Option<u64>, mtime: Option<u64>) -> SysResult<()> {
        let f = self.file(file)?;
        sys(|| rustix::fs::futimens(f, &timestamps(atime, mtime)))
    }

    fn sync(&mut self, file: u64) -> SysResult<()> {
        let f = self.file(file)?;
        retry(|| f.sync_all())
    }

    fn stat_path(&mut self, root: usize, path: &str) -> SysResult<Stat> {
        Ok(stat_of(&self.lstat(root, path)?))
    }

    fn set_times_path(
        &mut self,
        root: usize,
        path: &str,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> SysResult<()> {
        let times = timestamps(atime, mtime);
        if path.is_empty() {
            check_rel(path)?;
            let root = self.root(root)?;
            return sys(|| rustix::fs::utimensat(root, ".", &times, AtFlags::empty()));
        }
        let (dir, name) = self.parent(root, path)?;
        sys(|| rustix::fs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW))
    }

    fn read_dir(&mut self, root: usize, path: &str) -> SysResult<Vec<DirEntry>> {
        let fd = self.open_beneath(
            root,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
        )?;
        let dir = sys(|| Dir::read_from(&fd))?;
        let mut entries = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| errno(&io::Error::from(e)))?;
            // Names that are not UTF-8 cannot be named by the guest; leave them out.
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                HostType::Directory => FileType::Directory,
                HostType::Symlink => FileType::Symlink,
                HostType::Unknown => {
                    match sys(|| rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW)) {
                        Ok(st) => stat_of(&st).kind.unwrap_or(FileType::Regular),
                        Err(_) => continue,
                    }
                }
                _ => FileType::Regular,
            };
            entries.push(DirEntry {
                name: name.to_string(),
                kind,
                ino: entry.ino(),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn mkdir(&mut self, root: usize, path: &str) -> SysResult<()> {
        if path.is_empty() {
            check_rel(path)?;
            self.root(root)?;
            return Err(Errno::EXIST);
        }
        let (dir, name) = self.parent(root, path)?;
        sys(|| rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o777)))
    }

    fn remove(&mut self, root: usize, path: &str, dir: bool) -> SysResult<()> {
        if path.is_empty() {
            self.root(root)?;
            return Err(if dir { Errno::BUSY } else { Errno::ISDIR });
        }
        let (parent, name) = self.parent(root, path)?;
        let st = sys(|| rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW))?;
        let is_dir = host_type(&st) == HostType::Directory;
        match (is_dir, dir) {
            (true, true) => sys(|| rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR)),
            (false, true) => Err(Errno::NOTDIR),
            (true, false) => Err(Errno::ISDIR),
            (false, false) => sys(|| rustix::fs::unlinkat(&parent, name, AtFlags::empty())),
        }
    }

    fn rename(&mut self, root: usize, from: &str, to: &str) -> SysResult<()> {
        if from.is_empty() || to.is_empty() {
            self.root(root)?;
            return Err(Errno::BUSY);
        }
        let (from_dir, from_name) = self.parent(root, from)?;
        let (to_dir, to_name) = self.parent(root, to)?;
        sys(|| rustix::fs::renameat(&from_dir, from_name, &to_dir, to_name))
    }

    fn readlink(&mut self, root: usize, path: &str) -> SysResult<String> {
        if path.is_empty() {
            check_rel(path)?;
            self.root(root)?;
            return Err(Errno::INVAL);
        }
        let (dir, name) = self.parent(root, path)?;
        let target = sys(|| rustix::fs::readlinkat(&dir, name, Vec::new()))?;
        target.into_string().map_err(|_| Errno::ILSEQ)
    }

    fn symlink(&mut self, root: usize, target: &str, path: &str) -> SysResult<()> {
        if path.is_empty() {
            check_rel(path)?;
            self.root(root)?;
            return Err(Errno::EXIST);
        }
        let (dir, name) = self.parent(root, path)?;
        sys(|| rustix::fs::symlinkat(target, &dir, name))
    }

    fn link(&mut self, root: usize, from: &str, to: &str) -> SysResult<()> {
        if from.is_empty() || to.is_empty() {
            self.root(root)?;
            return Err(if from.is_empty() {
                Errno::PERM
            } else {
                Errno::EXIST
            });
        }
        let (from_dir, from_name) = self.parent(root, from)?;
        let (to_dir, to_name) = self.parent(root, to)?;
        sys(|| rustix::fs::linkat(&from_dir, from_name, &to_dir, to_name, AtFlags::empty()))
    }
}
