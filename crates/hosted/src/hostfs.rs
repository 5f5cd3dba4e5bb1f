//! Host directories as [`HostFs`] roots.
//!
//! Confinement: each root is canonicalised when the platform is made. A path the guest
//! names is resolved on the host (`realpath`, following symbolic links) and must stay
//! under its root, or the operation is refused with `NOTCAPABLE`. Paths that do not exist
//! yet are checked through their parent. Files are created with `O_EXCL`, which never
//! follows a symbolic link, and opened by their resolved path with `O_NOFOLLOW`; removing
//! and renaming act on the link itself, not on what it points to. The guest cannot make
//! symbolic links (weft has no such call), so only links already on the host matter; the
//! checks do not defend against another host process swapping directories for links
//! between the check and the use.
//!
//! Only regular files and directories are opened: a FIFO or a device could block the
//! kernel's only thread (`NOTSUP`).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use weft_kernel::errno::{Errno, SysResult};
use weft_kernel::platform::HostFs;
use weft_kernel::vfs::{DirEntry, FileType, OpenOptions, Stat};

/// The mapped directories and the files open in them.
pub(crate) struct HostDirs {
    /// Canonical roots.
    roots: Vec<PathBuf>,
    files: HashMap<u64, File>,
    next_id: u64,
}

/// A path resolved inside a root.
enum Resolved {
    /// It exists; this is its canonical path.
    Existing(PathBuf),
    /// Nothing is there: the canonical parent joined with the name; `dangling` if the
    /// name is a symbolic link to nothing.
    Missing { path: PathBuf, dangling: bool },
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

/// Nanoseconds since the epoch from seconds and nanoseconds (0 before the epoch).
fn ns(secs: i64, nsec: i64) -> u64 {
    let secs = u64::try_from(secs).unwrap_or(0);
    let nsec = u64::try_from(nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn stat_of(meta: &Metadata) -> Stat {
    Stat {
        dev: meta.dev(),
        ino: meta.ino(),
        kind: Some(if meta.is_dir() {
            FileType::Directory
        } else {
            FileType::Regular
        }),
        nlink: meta.nlink(),
        size: meta.size(),
        atime_ns: ns(meta.atime(), meta.atime_nsec()),
        mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
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

impl HostDirs {
    /// Canonicalises `dirs`; each must be a directory.
    pub(crate) fn new(dirs: Vec<PathBuf>) -> io::Result<HostDirs> {
        let mut roots = Vec::with_capacity(dirs.len());
        for dir in dirs {
            let root = fs::canonicalize(&dir).map_err(|e| {
                io::Error::new(e.kind(), format!("host directory {}: {e}", dir.display()))
            })?;
            if !fs::metadata(&root)?.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("host directory {}: not a directory", dir.display()),
                ));
            }
            roots.push(root);
        }
        Ok(HostDirs {
            roots,
            files: HashMap::new(),
            next_id: 1,
        })
    }

    fn root(&self, root: usize) -> SysResult<&Path> {
        self.roots
            .get(root)
            .map(PathBuf::as_path)
            .ok_or(Errno::BADF)
    }

    /// Canonicalises `path` and checks it is under `root`.
    fn confined(root: &Path, path: &Path) -> SysResult<PathBuf> {
        let real = io(fs::canonicalize(path))?;
        if real.starts_with(root) {
            Ok(real)
        } else {
            Err(Errno::NOTCAPABLE)
        }
    }

    /// The directory holding `rel` (canonical, confined) and the last component.
    fn parent<'r>(&self, root: usize, rel: &'r str) -> SysResult<(PathBuf, &'r str)> {
        check_rel(rel)?;
        let base = self.root(root)?;
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let dir = Self::confined(base, &base.join(dir))?;
        if !io(fs::metadata(&dir))?.is_dir() {
            return Err(Errno::NOTDIR);
        }
        Ok((dir, name))
    }

    /// Resolves `rel`, following symbolic links, within `root`.
    fn resolve(&self, root: usize, rel: &str) -> SysResult<Resolved> {
        check_rel(rel)?;
        let base = self.root(root)?;
        match Self::confined(base, &base.join(rel)) {
            Ok(real) => Ok(Resolved::Existing(real)),
            Err(Errno::NOENT) if !rel.is_empty() => {
                let (dir, name) = self.parent(root, rel)?;
                let path = dir.join(name);
                let dangling = fs::symlink_metadata(&path).is_ok();
                Ok(Resolved::Missing { path, dangling })
            }
            Err(e) => Err(e),
        }
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

/// Retries an operation interrupted by a signal.
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
        let flags = libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let file = match self.resolve(root, path)? {
            Resolved::Existing(real) => {
                let meta = io(fs::metadata(&real))?;
                let is_dir = meta.is_dir();
                if !is_dir && !meta.is_file() {
                    return Err(Errno::NOTSUP);
                }
                how.check_existing(is_dir)?;
                let write = how.write || how.truncate;
                io(fs::OpenOptions::new()
                    .read(how.read || !write)
                    .write(write)
                    .truncate(how.truncate)
                    .custom_flags(flags)
                    .open(&real))?
            }
            Resolved::Missing {
                path: real,
                dangling,
            } => {
                if !how.create || how.directory {
                    return Err(Errno::NOENT);
                }
                if dangling {
                    // Creating would create the link's target, wherever it points.
                    return Err(Errno::NOTCAPABLE);
                }
                // O_EXCL: fails rather than follow anything that appeared meanwhile.
                io(fs::OpenOptions::new()
                    .read(how.read)
                    .write(true)
                    .create_new(true)
                    .custom_flags(flags)
                    .open(&real))?
            }
        };
        Ok(self.add(file))
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
        Ok(stat_of(&io(f.metadata())?))
    }

    fn stat_path(&mut self, root: usize, path: &str) -> SysResult<Stat> {
        match self.resolve(root, path)? {
            Resolved::Existing(real) => Ok(stat_of(&io(fs::metadata(real))?)),
            Resolved::Missing { .. } => Err(Errno::NOENT),
        }
    }

    fn read_dir(&mut self, root: usize, path: &str) -> SysResult<Vec<DirEntry>> {
        let Resolved::Existing(dir) = self.resolve(root, path)? else {
            return Err(Errno::NOENT);
        };
        if !io(fs::metadata(&dir))?.is_dir() {
            return Err(Errno::NOTDIR);
        }
        let base = self.root(root)?;
        let mut entries = Vec::new();
        for entry in io(fs::read_dir(&dir))? {
            let entry = io(entry)?;
            // Names that are not UTF-8 cannot be named by the guest; leave them out.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let file_type = io(entry.file_type())?;
            let is_dir = if file_type.is_symlink() {
                // A link counts as what it points to, if that is inside the root.
                Self::confined(base, &entry.path())
                    .ok()
                    .and_then(|real| fs::metadata(real).ok())
                    .is_some_and(|m| m.is_dir())
            } else {
                file_type.is_dir()
            };
            entries.push(DirEntry {
                name,
                kind: if is_dir {
                    FileType::Directory
                } else {
                    FileType::Regular
                },
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
        io(fs::create_dir(dir.join(name)))
    }

    fn remove(&mut self, root: usize, path: &str, dir: bool) -> SysResult<()> {
        if path.is_empty() {
            self.root(root)?;
            return Err(if dir { Errno::BUSY } else { Errno::ISDIR });
        }
        let (parent, name) = self.parent(root, path)?;
        let target = parent.join(name);
        // The link itself, not its target.
        let meta = io(fs::symlink_metadata(&target))?;
        match (meta.is_dir(), dir) {
            (true, true) => io(fs::remove_dir(&target)),
            (false, true) => Err(Errno::NOTDIR),
            (true, false) => Err(Errno::ISDIR),
            (false, false) => io(fs::remove_file(&target)),
        }
    }

    fn rename(&mut self, root: usize, from: &str, to: &str) -> SysResult<()> {
        if from.is_empty() || to.is_empty() {
            self.root(root)?;
            return Err(Errno::BUSY);
        }
        let (from_dir, from_name) = self.parent(root, from)?;
        let (to_dir, to_name) = self.parent(root, to)?;
        io(fs::rename(
            from_dir.join(OsStr::new(from_name)),
            to_dir.join(OsStr::new(to_name)),
        ))
    }
}
