//! The virtual file system: a read-only root from the initrd, a writable in-memory `/tmp`,
//! and host directories mapped in by the platform.
//!
//! Contract (the WASI layer relies on it):
//! - Paths given to [`Vfs`] are absolute and normalised (see [`path::join_within`] and
//!   [`path::normalize`]); anything else is refused with `INVAL`.
//! - A path belongs to the mount with the longest mount point that is a prefix of it (at a
//!   component boundary); a later mount at the same point shadows an earlier one. Mount
//!   points need not exist in the file system below: the directories on the way to a mount
//!   point appear as read-only directories when nothing else is there, and a mount point
//!   appears in its parent's listing.
//! - A [`Node`] is an open file or directory; it is closed with [`Vfs::close`]. Reading
//!   needs a node opened with `read`, writing and resizing one opened with `write` (`BADF`
//!   otherwise).
//! - Errors are WASI errnos, as POSIX gives them for the same operation. Mount points and
//!   the directories leading to them cannot be removed or renamed (`BUSY`); renaming
//!   between mounts is `XDEV`; changing the initrd is `ROFS`.
//! - Each mount has its own device number (`Stat::dev`); inode numbers are stable and
//!   unique within a device.
//!
//! Host directories are reached through [`HostFs`] with mount-relative paths (no leading
//! `/`, `""` for the mount's root); on a platform without host directories a host mount is
//! empty (`NOENT`).

pub mod path;

mod initrd;
mod tar;
#[cfg(test)]
mod tests;
mod tmpfs;

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::errno::{Errno, SysResult};
use crate::platform::{HostFs, Platform};
use initrd::Initrd;
use tmpfs::{TRef, Tmpfs};

/// The kind of a file-system object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A directory.
    Directory,
    /// A regular file.
    Regular,
}

/// File status, as `fd_filestat_get` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    /// Device id (one per mount).
    pub dev: u64,
    /// Inode number, unique within the device.
    pub ino: u64,
    /// Kind.
    pub kind: Option<FileType>,
    /// Number of hard links.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Last access, ns since the epoch.
    pub atime_ns: u64,
    /// Last modification, ns since the epoch.
    pub mtime_ns: u64,
    /// Last status change, ns since the epoch.
    pub ctime_ns: u64,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Name (no `/`).
    pub name: String,
    /// Kind.
    pub kind: FileType,
    /// Inode number.
    pub ino: u64,
}

/// How to open a path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Will read.
    pub read: bool,
    /// Will write (fails with `ROFS` on the initrd).
    pub write: bool,
    /// Create a regular file if missing.
    pub create: bool,
    /// With `create`: fail with `EXIST` if it exists.
    pub exclusive: bool,
    /// Truncate to 0.
    pub truncate: bool,
    /// Must be a directory (`NOTDIR` otherwise).
    pub directory: bool,
}

impl OpenOptions {
    /// The checks POSIX `open` makes on an object that exists (a directory if `is_dir`):
    /// `EXIST` for an exclusive create, `NOTDIR` when a directory was asked for, `ISDIR`
    /// for writing, truncating or creating a directory. Every file system uses these.
    pub fn check_existing(&self, is_dir: bool) -> SysResult<()> {
        if self.create && self.exclusive {
            return Err(Errno::EXIST);
        }
        if self.directory && !is_dir {
            return Err(Errno::NOTDIR);
        }
        if is_dir && (self.write || self.truncate || self.create) {
            return Err(Errno::ISDIR);
        }
        Ok(())
    }
}

/// The device number of the directories leading to mount points, which belong to no mount.
const SYNTHETIC_DEV: u64 = 1;

/// How much [`Vfs::read_all`] reads from a host file at a time.
const HOST_CHUNK: usize = 64 * 1024;

enum Fs {
    Initrd(Initrd),
    Tmp(Tmpfs),
    Host { root: usize },
}

struct Mount {
    /// The mount point: absolute, normalised.
    at: String,
    dev: u64,
    fs: Fs,
}

/// The file-system namespace: a table of mounts.
pub struct Vfs {
    mounts: Vec<Mount>,
}

/// What a [`Node`] refers to.
enum Obj {
    Initrd(initrd::Index),
    Tmp(TRef),
    /// A platform file id from [`HostFs::open`].
    Host(u64),
    /// A directory on the way to a mount point.
    Synthetic,
}

/// An open file or directory.
pub struct Node {
    mount: usize,
    /// The path it was opened by.
    path: String,
    read: bool,
    write: bool,
    obj: Obj,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let obj = match &self.obj {
            Obj::Initrd(i) => format!("initrd #{}", i + 1),
            Obj::Tmp(t) => format!("{:?}", t.borrow()),
            Obj::Host(id) => format!("host file {id}"),
            Obj::Synthetic => "mount-point directory".to_string(),
        };
        f.debug_struct("Node")
            .field("path", &self.path)
            .field("mount", &self.mount)
            .field("read", &self.read)
            .field("write", &self.write)
            .field("object", &obj)
            .finish()
    }
}

impl Default for Vfs {
    fn default() -> Vfs {
        Vfs::new()
    }
}

/// The platform's host directories, for operations on a path (`NOENT`: nothing is there).
fn host_at(p: &mut dyn Platform) -> SysResult<&mut dyn HostFs> {
    p.host_fs().ok_or(Errno::NOENT)
}

/// The platform's host directories, for operations on an open node (which cannot exist
/// without them: `IO`).
fn host_of(p: &mut dyn Platform) -> SysResult<&mut dyn HostFs> {
    p.host_fs().ok_or(Errno::IO)
}

/// The error creating `rel` in a read-only tree would give: `ROFS` if its parent is a
/// directory.
fn initrd_create_error(fs: &Initrd, rel: &str) -> Errno {
    let parent = rel.rsplit_once('/').map_or("", |(dir, _)| dir);
    match fs.lookup(parent) {
        Ok(dir) if fs.is_dir(dir) => Errno::ROFS,
        Ok(_) => Errno::NOTDIR,
        Err(e) => e,
    }
}

/// FNV-1a, for the inode numbers of the directories leading to mount points.
fn path_ino(path: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in path.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash | 1
}

impl Vfs {
    /// A file system whose root `/` is an empty read-only directory.
    pub fn new() -> Vfs {
        let mut vfs = Vfs { mounts: Vec::new() };
        vfs.mounts.push(Mount {
            at: "/".to_string(),
            dev: 2,
            fs: Fs::Initrd(Initrd::empty()),
        });
        vfs
    }

    fn mount(&mut self, at: &str, fs: Fs) -> Result<(), String> {
        if !path::is_normalized(at) {
            return Err(format!(
                "mount point {at:?} is not an absolute normalised path"
            ));
        }
        let dev = self.mounts.len() as u64 + 2;
        self.mounts.push(Mount {
            at: at.to_string(),
            dev,
            fs,
        });
        Ok(())
    }

    /// Mounts the initrd read-only at `path`. The archive is a tar archive (ustar, pax or
    /// GNU); it holds regular files, directories and hard links, with paths like `bin/ls`
    /// or `./bin/ls`; directories implied by file paths exist even without their own
    /// entry. File contents are not copied: they are borrowed from `archive`.
    ///
    /// # Errors
    /// A message saying what is wrong with the archive and where, or with `path`.
    pub fn mount_initrd(&mut self, path: &str, archive: &'static [u8]) -> Result<(), String> {
        let fs = Initrd::from_tar(archive)?;
        self.mount(path, Fs::Initrd(fs))
    }

    /// Mounts an empty writable in-memory file system at `path` (used for `/tmp`). It holds
    /// at most `max_bytes`: file contents plus a small fixed charge per file and directory;
    /// beyond that writes fail with `NOSPC`.
    ///
    /// # Errors
    /// `path` is not absolute and normalised.
    pub fn mount_tmpfs(&mut self, path: &str, max_bytes: u64) -> Result<(), String> {
        self.mount(path, Fs::Tmp(Tmpfs::new(max_bytes, 0)))
    }

    /// Mounts the platform's host directory number `root` at `path` (operations go through
    /// [`Platform::host_fs`]).
    ///
    /// # Errors
    /// `path` is not absolute and normalised.
    pub fn mount_host(&mut self, path: &str, root: usize) -> Result<(), String> {
        self.mount(path, Fs::Host { root })
    }

    /// The mount holding `path` and the path relative to its mount point.
    fn resolve<'a>(&self, path: &'a str) -> SysResult<(usize, &'a str)> {
        if !path::is_normalized(path) {
            return Err(Errno::INVAL);
        }
        let mut best: Option<(usize, usize)> = None;
        for (i, m) in self.mounts.iter().enumerate() {
            let inside = path == m.at || path::strip_dir(path, &m.at).is_some();
            if inside && best.is_none_or(|(_, len)| m.at.len() >= len) {
                best = Some((i, m.at.len()));
            }
        }
        let (i, _) = best.ok_or(Errno::NOENT)?;
        Ok((i, path::strip_dir(path, &self.mounts[i].at).unwrap_or("")))
    }

    /// Whether a mount point lies strictly below `path`.
    fn mount_below(&self, path: &str) -> bool {
        self.mounts
            .iter()
            .any(|m| path::strip_dir(&m.at, path).is_some())
    }

    /// The current time for tmpfs mount `i`, stamping its root's times on first use.
    fn now(&mut self, i: usize, p: &mut dyn Platform) -> u64 {
        let now = p.wall_clock_ns();
        if let Some(Mount {
            fs: Fs::Tmp(fs), ..
        }) = self.mounts.get_mut(i)
        {
            fs.stamp(now);
        }
        now
    }

    fn mount_of(&self, node: &Node) -> SysResult<&Mount> {
        self.mounts.get(node.mount).ok_or(Errno::BADF)
    }

    fn synthetic_stat(path: &str) -> Stat {
        Stat {
            dev: SYNTHETIC_DEV,
            ino: path_ino(path),
            kind: Some(FileType::Directory),
            nlink: 2,
            ..Stat::default()
        }
    }

    /// Opens a file or directory.
    ///
    /// # Errors
    /// As POSIX `open`: `NOENT` (missing, or its parent is), `EXIST` (`create` and
    /// `exclusive`), `NOTDIR` (`directory` on a file), `ISDIR` (writing or creating a
    /// directory), `ROFS` (writing the initrd), `NOSPC`.
    pub fn open(&mut self, p: &mut dyn Platform, path: &str, how: &OpenOptions) -> SysResult<Node> {
        let (i, rel) = self.resolve(path)?;
        let now = self.now(i, p);
        let leads_to_mount = self.mount_below(path);
        let mut how_here = *how;
        if leads_to_mount {
            // The path is a directory in the namespace whatever the file system below
            // holds; never create a file there.
            how.check_existing(true)?;
            how_here.create = false;
        }
        let how = &how_here;
        let found = match &mut self.mounts[i].fs {
            Fs::Initrd(fs) => match fs.lookup(rel) {
                Ok(idx) => {
                    how.check_existing(fs.is_dir(idx))?;
                    if how.write || how.truncate {
                        return Err(Errno::ROFS);
                    }
                    Ok(Obj::Initrd(idx))
                }
                Err(Errno::NOENT) if how.create && !how.directory => {
                    Err(initrd_create_error(fs, rel))
                }
                Err(e) => Err(e),
            },
            Fs::Tmp(fs) => fs.open(rel, how, now).map(Obj::Tmp),
            Fs::Host { root } => {
                let root = *root;
                host_at(p)
                    .and_then(|h| h.open(root, rel, how))
                    .map(Obj::Host)
            }
        };
        let obj = match found {
            Err(Errno::NOENT) if leads_to_mount => Obj::Synthetic,
            found => found?,
        };
        Ok(Node {
            mount: i,
            path: path.to_string(),
            read: how.read,
            write: how.write,
            obj,
        })
    }

    /// Closes a node. A tmpfs file unlinked while open goes away with its last node.
    pub fn close(&mut self, p: &mut dyn Platform, node: Node) {
        if let Obj::Host(file) = node.obj
            && let Some(host) = p.host_fs()
        {
            host.close(file);
        }
    }

    /// Reads at `offset`; returns the number of bytes read (0 at the end).
    ///
    /// # Errors
    /// `BADF` if not opened for reading; `ISDIR`; the host's errors.
    pub fn read(
        &mut self,
        p: &mut dyn Platform,
        node: &Node,
        offset: u64,
        buf: &mut [u8],
    ) -> SysResult<usize> {
        if !node.read {
            return Err(Errno::BADF);
        }
        match (&node.obj, &self.mount_of(node)?.fs) {
            (Obj::Initrd(idx), Fs::Initrd(fs)) => {
                let data = fs.data(*idx)?;
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let n = (data.len() - start).min(buf.len());
                buf[..n].copy_from_slice(&data[start..start + n]);
                Ok(n)
            }
            (Obj::Tmp(t), _) => tmpfs::read(t, offset, buf),
            (Obj::Host(file), _) => host_of(p)?.read(*file, offset, buf),
            (Obj::Synthetic, _) => Err(Errno::ISDIR),
            _ => Err(Errno::BADF),
        }
    }

    /// Writes at `offset`, zero-filling a gap after the end; returns the bytes written.
    ///
    /// # Errors
    /// `BADF` if not opened for writing; `ISDIR`; `NOSPC`, `FBIG`, `NOMEM` on tmpfs; the
    /// host's errors.
    pub fn write(
        &mut self,
        p: &mut dyn Platform,
        node: &Node,
        offset: u64,
        data: &[u8],
    ) -> SysResult<usize> {
        if !node.write {
            return Err(Errno::BADF);
        }
        match &node.obj {
            Obj::Initrd(_) => Err(Errno::ROFS),
            Obj::Tmp(t) => tmpfs::write(t, offset, data, p.wall_clock_ns()),
            Obj::Host(file) => host_of(p)?.write(*file, offset, data),
            Obj::Synthetic => Err(Errno::ISDIR),
        }
    }

    /// Sets a file's size, zero-filling when it grows.
    ///
    /// # Errors
    /// As [`Vfs::write`].
    pub fn set_size(&mut self, p: &mut dyn Platform, node: &Node, size: u64) -> SysResult<()> {
        if !node.write {
            return Err(Errno::BADF);
        }
        match &node.obj {
            Obj::Initrd(_) => Err(Errno::ROFS),
            Obj::Tmp(t) => tmpfs::set_size(t, size, p.wall_clock_ns()),
            Obj::Host(file) => host_of(p)?.set_size(*file, size),
            Obj::Synthetic => Err(Errno::ISDIR),
        }
    }

    /// The status of an open node.
    ///
    /// # Errors
    /// The host's errors.
    pub fn stat(&mut self, p: &mut dyn Platform, node: &Node) -> SysResult<Stat> {
        let mount = self.mount_of(node)?;
        match (&node.obj, &mount.fs) {
            (Obj::Initrd(idx), Fs::Initrd(fs)) => Ok(fs.stat(*idx, mount.dev)),
            (Obj::Tmp(t), _) => Ok(tmpfs::stat(t, mount.dev)),
            (Obj::Host(file), _) => {
                let dev = mount.dev;
                let st = host_of(p)?.stat(*file)?;
                Ok(Stat { dev, ..st })
            }
            (Obj::Synthetic, _) => Ok(Self::synthetic_stat(&node.path)),
            _ => Err(Errno::BADF),
        }
    }

    /// The status of a path.
    ///
    /// # Errors
    /// `NOENT`, `NOTDIR` on the way; the host's errors.
    pub fn stat_path(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<Stat> {
        let (i, rel) = self.resolve(path)?;
        self.now(i, p);
        let mount = &self.mounts[i];
        let found = match &mount.fs {
            Fs::Initrd(fs) => fs.lookup(rel).map(|idx| fs.stat(idx, mount.dev)),
            Fs::Tmp(fs) => fs.lookup(rel).map(|t| tmpfs::stat(&t, mount.dev)),
            Fs::Host { root } => {
                let dev = mount.dev;
                host_at(p)
                    .and_then(|h| h.stat_path(*root, rel))
                    .map(|st| Stat { dev, ..st })
            }
        };
        match found {
            Err(Errno::NOENT) if self.mount_below(path) => Ok(Self::synthetic_stat(path)),
            found => found,
        }
    }

    /// The entries of an open directory: `.` and `..` first, then the rest sorted by name.
    /// Mount points appear in their parent's listing, as directories.
    ///
    /// # Errors
    /// `NOTDIR` for a file; the host's errors.
    pub fn read_dir(&mut self, p: &mut dyn Platform, node: &Node) -> SysResult<Vec<DirEntry>> {
        let mount = self.mount_of(node)?;
        let mut entries = match (&node.obj, &mount.fs) {
            (Obj::Initrd(idx), Fs::Initrd(fs)) => fs.read_dir(*idx)?,
            (Obj::Tmp(t), _) => tmpfs::read_dir(t)?,
            (Obj::Host(_), Fs::Host { root }) => {
                let rel = path::strip_dir(&node.path, &mount.at).unwrap_or("");
                host_of(p)?.read_dir(*root, rel)?
            }
            (Obj::Synthetic, _) => Vec::new(),
            _ => return Err(Errno::BADF),
        };
        // The first component below this directory of each mount point under it.
        let mut mount_names: Vec<String> = Vec::new();
        for m in &self.mounts {
            if let Some(rest) = path::strip_dir(&m.at, &node.path) {
                let name = rest.split('/').next().unwrap_or(rest);
                if !mount_names.iter().any(|n| n == name) {
                    mount_names.push(name.to_string());
                }
            }
        }
        for name in mount_names {
            let child = if node.path == "/" {
                format!("/{name}")
            } else {
                format!("{}/{name}", node.path)
            };
            let ino = self.stat_path(p, &child).map_or(0, |st| st.ino);
            match entries.iter_mut().find(|e| e.name == name) {
                Some(e) => {
                    e.kind = FileType::Directory;
                    e.ino = ino;
                }
                None => entries.push(DirEntry {
                    name,
                    kind: FileType::Directory,
                    ino,
                }),
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        let own = self.stat(p, node)?.ino;
        let up = if node.path == "/" {
            own
        } else {
            self.stat_path(p, path::parent(&node.path))
                .map_or(own, |st| st.ino)
        };
        let mut out = Vec::with_capacity(entries.len() + 2);
        for (name, ino) in [(".", own), ("..", up)] {
            out.push(DirEntry {
                name: name.to_string(),
                kind: FileType::Directory,
                ino,
            });
        }
        out.extend(entries);
        Ok(out)
    }

    /// Creates a directory.
    ///
    /// # Errors
    /// `EXIST`; `NOENT`, `NOTDIR` for the parent; `ROFS` on the initrd; `NOSPC`.
    pub fn mkdir(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<()> {
        let (i, rel) = self.resolve(path)?;
        if rel.is_empty() || self.mount_below(path) {
            return Err(Errno::EXIST);
        }
        let now = self.now(i, p);
        match &mut self.mounts[i].fs {
            Fs::Initrd(fs) => match fs.lookup(rel) {
                Ok(_) => Err(Errno::EXIST),
                Err(Errno::NOENT) => Err(initrd_create_error(fs, rel)),
                Err(e) => Err(e),
            },
            Fs::Tmp(fs) => fs.mkdir(rel, now),
            Fs::Host { root } => {
                let root = *root;
                host_at(p)?.mkdir(root, rel)
            }
        }
    }

    /// Removes a regular file.
    ///
    /// # Errors
    /// `NOENT`; `ISDIR` for a directory; `ROFS` on the initrd.
    pub fn unlink(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<()> {
        self.remove(p, path, false)
    }

    /// Removes an empty directory.
    ///
    /// # Errors
    /// `NOENT`; `NOTDIR` for a file; `NOTEMPTY`; `BUSY` for a mount point (or a directory
    /// leading to one); `ROFS` on the initrd.
    pub fn rmdir(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<()> {
        self.remove(p, path, true)
    }

    fn remove(&mut self, p: &mut dyn Platform, path: &str, dir: bool) -> SysResult<()> {
        let (i, rel) = self.resolve(path)?;
        if rel.is_empty() || self.mount_below(path) {
            return Err(if dir { Errno::BUSY } else { Errno::ISDIR });
        }
        let now = self.now(i, p);
        match &mut self.mounts[i].fs {
            Fs::Initrd(fs) => {
                let is_dir = fs.is_dir(fs.lookup(rel)?);
                Err(match (is_dir, dir) {
                    (true, false) => Errno::ISDIR,
                    (false, true) => Errno::NOTDIR,
                    _ => Errno::ROFS,
                })
            }
            Fs::Tmp(fs) => fs.remove(rel, dir, now),
            Fs::Host { root } => {
                let root = *root;
                host_at(p)?.remove(root, rel, dir)
            }
        }
    }

    /// Renames within one mount, replacing an existing file (or empty directory) at `to`
    /// like POSIX `rename`.
    ///
    /// # Errors
    /// `NOENT`; `XDEV` across mounts; `BUSY` for mount points (and directories leading to
    /// them); `INVAL` moving a directory into itself; `ISDIR`, `NOTDIR`, `NOTEMPTY` for an
    /// incompatible target; `ROFS` on the initrd.
    pub fn rename(&mut self, p: &mut dyn Platform, from: &str, to: &str) -> SysResult<()> {
        let (i, from_rel) = self.resolve(from)?;
        let (j, to_rel) = self.resolve(to)?;
        if from_rel.is_empty()
            || to_rel.is_empty()
            || self.mount_below(from)
            || self.mount_below(to)
        {
            return Err(Errno::BUSY);
        }
        if i != j {
            return Err(Errno::XDEV);
        }
        let now = self.now(i, p);
        match &mut self.mounts[i].fs {
            Fs::Initrd(fs) => {
                fs.lookup(from_rel)?;
                Err(Errno::ROFS)
            }
            Fs::Tmp(fs) => fs.rename(from_rel, to_rel, now),
            Fs::Host { root } => {
                let root = *root;
                host_at(p)?.rename(root, from_rel, to_rel)
            }
        }
    }

    /// The whole contents of a regular file (used to load programs). Initrd files are
    /// borrowed, not copied.
    ///
    /// # Errors
    /// `NOENT`; `ISDIR`; `NOMEM`; the host's errors.
    pub fn read_all(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<Cow<'static, [u8]>> {
        let (i, rel) = self.resolve(path)?;
        self.now(i, p);
        let found = match &self.mounts[i].fs {
            Fs::Initrd(fs) => fs
                .lookup(rel)
                .and_then(|idx| fs.data(idx))
                .map(Cow::Borrowed),
            Fs::Tmp(fs) => fs
                .lookup(rel)
                .and_then(|t| tmpfs::contents(&t))
                .map(Cow::Owned),
            Fs::Host { root } => {
                let root = *root;
                host_at(p).and_then(|h| read_host_file(h, root, rel).map(Cow::Owned))
            }
        };
        match found {
            Err(Errno::NOENT) if self.mount_below(path) => Err(Errno::ISDIR),
            found => found,
        }
    }
}

/// Reads a whole host file.
fn read_host_file(host: &mut dyn HostFs, root: usize, rel: &str) -> SysResult<Vec<u8>> {
    let how = OpenOptions {
        read: true,
        ..OpenOptions::default()
    };
    let file = host.open(root, rel, &how)?;
    let result = read_host_open(host, file);
    host.close(file);
    result
}

fn read_host_open(host: &mut dyn HostFs, file: u64) -> SysResult<Vec<u8>> {
    if host.stat(file)?.kind == Some(FileType::Directory) {
        return Err(Errno::ISDIR);
    }
    let mut out: Vec<u8> = Vec::new();
    loop {
        let start = out.len();
        out.try_reserve(HOST_CHUNK).map_err(|_| Errno::NOMEM)?;
        out.resize(start + HOST_CHUNK, 0);
        let n = host.read(file, start as u64, &mut out[start..])?;
        out.truncate(start + n.min(HOST_CHUNK));
        if n == 0 {
            return Ok(out);
        }
    }
}
