//! The virtual file system: a read-only root from the initrd, a writable in-memory `/tmp`,
//! and host directories mapped in by the platform.
//!
//! Contract (the WASI layer relies on it):
//! - Paths given to [`Vfs`] are absolute and normalised; anything else is refused with
//!   `INVAL`. Guest paths become such paths through [`Vfs::resolve`], which follows
//!   symbolic links and keeps the result beneath the directory it starts from. Every other
//!   operation takes a resolved path: no component but the last is a symbolic link, and a
//!   link at the end is acted on itself (stat, remove, rename, set times) or refused with
//!   `LOOP` (open). [`Vfs::read_all`] resolves its path itself.
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
    /// A symbolic link (only [`Vfs::stat_path`] and directory listings report one: every
    /// other operation acts on what a link resolves to, see [`Vfs::resolve`]).
    Symlink,
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

/// A guest path resolved beneath a directory by [`Vfs::resolve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The absolute, normalised path. No component but the last is a symbolic link; the
    /// last is one only when the resolution did not follow it.
    pub path: String,
    /// The guest path ended in `/` (or `/.`): what it names must be a directory.
    pub dir: bool,
    /// The status of what `path` names, as [`Vfs::stat_path`] gives it (`None`: nothing
    /// is there), so callers need not ask again.
    pub stat: Option<Stat>,
}

/// The most symbolic links one resolution follows before failing with `LOOP` (Linux's
/// limit).
pub const MAX_SYMLINKS: usize = 40;

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
    /// The checks POSIX `open` makes on an object of kind `kind` that exists: `EXIST` for
    /// an exclusive create, `LOOP` for a symbolic link (opening never follows one: the
    /// kernel resolves links first, see [`Vfs::resolve`]), `NOTDIR` when a directory was
    /// asked for, `ISDIR` for writing, truncating or creating a directory. Every file
    /// system uses these.
    pub fn check_existing(&self, kind: FileType) -> SysResult<()> {
        if self.create && self.exclusive {
            return Err(Errno::EXIST);
        }
        if kind == FileType::Symlink {
            return Err(Errno::LOOP);
        }
        let is_dir = kind == FileType::Directory;
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

/// What [`Vfs::create`] makes.
enum NewNode<'a> {
    Dir,
    Symlink(&'a str),
    /// A hard link to this mount-relative path.
    Link(&'a str),
}

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

/// FNV-1a: a stable 64-bit hash of a name or path (the inode numbers of the directories
/// leading to mount points, the WASI directory cookies).
pub(crate) fn name_hash(path: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in path.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
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
    fn mount_for<'a>(&self, path: &'a str) -> SysResult<(usize, &'a str)> {
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
            ino: name_hash(path) | 1,
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
        let (i, rel) = self.mount_for(path)?;
        let now = self.now(i, p);
        let leads_to_mount = self.mount_below(path);
        let mut how_here = *how;
        if leads_to_mount {
            // The path is a directory in the namespace whatever the file system below
            // holds; never create a file there.
            how.check_existing(FileType::Directory)?;
            how_here.create = false;
        }
        let how = &how_here;
        let found = match &mut self.mounts[i].fs {
            Fs::Initrd(fs) => match fs.lookup(rel) {
                Ok(idx) => {
                    how.check_existing(fs.kind(idx))?;
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

    /// The status of what `path` names; a symbolic link at its end is reported as itself,
    /// not followed (`lstat`).
    ///
    /// # Errors
    /// `NOENT`, `NOTDIR` on the way; the host's errors.
    pub fn stat_path(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<Stat> {
        let (i, rel) = self.mount_for(path)?;
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
        self.create(p, path, NewNode::Dir)
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
        let (i, rel) = self.mount_for(path)?;
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
        let (i, from_rel) = self.mount_for(from)?;
        let (j, to_rel) = self.mount_for(to)?;
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

    /// Resolves the guest path `rel` beneath the directory `base` (absolute, normalised),
    /// component by component, following symbolic links: every link before the last
    /// component, and the last one too when `follow` is set or `rel` ends in `/`. A link's
    /// target is read relative to the directory holding it.
    ///
    /// `base` is the floor: neither `..` nor a link may lead above it, so a directory
    /// handle reaches only what lies beneath it (what wasmtime, through cap-std, also
    /// enforces). The last component need not exist (it may be about to be created).
    ///
    /// # Errors
    /// Those of [`path::check_guest`]; `NOTCAPABLE` when `..` or a link would leave
    /// `base`, or a link is absolute; `LOOP` after [`MAX_SYMLINKS`] links; `NOENT`,
    /// `NOTDIR` for a missing or non-directory component before the last;
    /// `NAMETOOLONG`; the host's errors.
    pub fn resolve(
        &mut self,
        p: &mut dyn Platform,
        base: &str,
        rel: &str,
        follow: bool,
    ) -> SysResult<Resolved> {
        path::check_guest(rel)?;
        if !path::is_normalized(base) {
            return Err(Errno::INVAL);
        }
        let mut dir = path::names_dir(rel);
        if let Some((path, stat)) = self.resolve_direct(p, base, rel, follow || dir)? {
            return Ok(Resolved { path, dir, stat });
        }
        let mut done: Vec<String> = base
            .split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        let floor = done.len();
        // The components still to walk, the next one last.
        let mut todo: Vec<String> = rel
            .split('/')
            .rev()
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        let mut links = 0;
        // The status of what `done` names, when the last step looked it up.
        let mut last_stat: Option<Option<Stat>> = None;
        while let Some(name) = todo.pop() {
            match name.as_str() {
                "." => continue,
                ".." if done.len() == floor => return Err(Errno::NOTCAPABLE),
                ".." => {
                    done.pop();
                    last_stat = None;
                    continue;
                }
                _ if name.len() > path::NAME_MAX => return Err(Errno::NAMETOOLONG),
                _ => {}
            }
            let last = todo.iter().all(|c| c == ".");
            done.push(name);
            let here = path::from_parts(&done)?;
            match self.stat_path(p, &here) {
                Ok(st) if st.kind == Some(FileType::Symlink) && (!last || follow || dir) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(Errno::LOOP);
                    }
                    let target = self.readlink(p, &here)?;
                    if target.starts_with('/') {
                        return Err(Errno::NOTCAPABLE);
                    }
                    if target.is_empty() {
                        return Err(Errno::NOENT);
                    }
                    if last && path::names_dir(&target) {
                        dir = true;
                    }
                    done.pop();
                    last_stat = None;
                    todo.extend(
                        target
                            .split('/')
                            .rev()
                            .filter(|c| !c.is_empty())
                            .map(String::from),
                    );
                }
                Ok(st) if !last && st.kind != Some(FileType::Directory) => {
                    return Err(Errno::NOTDIR);
                }
                Ok(st) => last_stat = Some(Some(st)),
                Err(Errno::NOENT) if last => last_stat = Some(None),
                Err(e) => return Err(e),
            }
        }
        let path = path::from_parts(&done)?;
        let stat = match last_stat {
            Some(stat) => stat,
            // The walk ended on `.` or `..`, or a link's target: look once more.
            None => match self.stat_path(p, &path) {
                Ok(st) => Some(st),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(e),
            },
        };
        Ok(Resolved { path, dir, stat })
    }

    /// The fast path of [`Vfs::resolve`], for the common path without `..` and without a
    /// symbolic link before its end: one status query of the whole path (and of its parent
    /// when the last component is missing) instead of one per component. Every file system
    /// refuses a link before the last component of a path it is given (`NOTDIR`, `LOOP`),
    /// so a successful query proves there is none; then the result is the path itself,
    /// exactly what the component walk would give. `None` means "walk".
    fn resolve_direct(
        &mut self,
        p: &mut dyn Platform,
        base: &str,
        rel: &str,
        follow_last: bool,
    ) -> SysResult<Option<(String, Option<Stat>)>> {
        if rel.split('/').any(|c| c == "..") {
            return Ok(None);
        }
        let mut parts: Vec<&str> = base.split('/').filter(|c| !c.is_empty()).collect();
        for c in rel.split('/') {
            match c {
                "" | "." => {}
                c if c.len() > path::NAME_MAX => return Err(Errno::NAMETOOLONG),
                c => parts.push(c),
            }
        }
        let full = path::from_parts(&parts)?;
        Ok(match self.stat_path(p, &full) {
            Ok(st) if st.kind == Some(FileType::Symlink) && follow_last => None,
            Ok(st) => Some((full, Some(st))),
            Err(Errno::NOENT) if full != base => match self.stat_path(p, path::parent(&full)) {
                Ok(st) if st.kind == Some(FileType::Directory) => Some((full, None)),
                _ => None,
            },
            Err(_) => None,
        })
    }

    /// The target of the symbolic link at `path`.
    ///
    /// # Errors
    /// `INVAL` if it is not a link; `NOENT`; the host's errors.
    pub fn readlink(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<String> {
        let (i, rel) = self.mount_for(path)?;
        let found = match &self.mounts[i].fs {
            Fs::Initrd(fs) => fs.lookup(rel).and_then(|idx| fs.readlink(idx)),
            Fs::Tmp(fs) => fs.lookup(rel).and_then(|t| tmpfs::readlink(&t)),
            Fs::Host { root } => {
                let root = *root;
                host_at(p).and_then(|h| h.readlink(root, rel))
            }
        };
        match found {
            Err(Errno::NOENT) if self.mount_below(path) => Err(Errno::INVAL),
            found => found,
        }
    }

    /// Creates a symbolic link at `path` whose target is `target` (stored as given).
    ///
    /// # Errors
    /// As [`Vfs::mkdir`].
    pub fn symlink(&mut self, p: &mut dyn Platform, target: &str, path: &str) -> SysResult<()> {
        self.create(p, path, NewNode::Symlink(target))
    }

    /// Creates the hard link `to` to the file (or symbolic link) at `from`.
    ///
    /// # Errors
    /// `NOENT`; `PERM` for a directory; `EXIST`; `XDEV` across mounts; `ROFS` on the
    /// initrd; the host's errors.
    pub fn link(&mut self, p: &mut dyn Platform, from: &str, to: &str) -> SysResult<()> {
        let (i, from_rel) = self.mount_for(from)?;
        let (j, _) = self.mount_for(to)?;
        if from_rel.is_empty() || self.mount_below(from) {
            return Err(Errno::PERM);
        }
        match self.stat_path(p, from)?.kind {
            Some(FileType::Directory) => return Err(Errno::PERM),
            _ if i != j => return Err(Errno::XDEV),
            _ => {}
        }
        let from_rel = from_rel.to_string();
        self.create(p, to, NewNode::Link(&from_rel))
    }

    /// Creates a directory, a symbolic link or a hard link at `path`.
    fn create(&mut self, p: &mut dyn Platform, path: &str, new: NewNode<'_>) -> SysResult<()> {
        let (i, rel) = self.mount_for(path)?;
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
            Fs::Tmp(fs) => match new {
                NewNode::Dir => fs.mkdir(rel, now),
                NewNode::Symlink(target) => fs.symlink(rel, target, now),
                NewNode::Link(from) => fs.link(from, rel, now),
            },
            Fs::Host { root } => {
                let root = *root;
                let host = host_at(p)?;
                match new {
                    NewNode::Dir => host.mkdir(root, rel),
                    NewNode::Symlink(target) => host.symlink(root, target, rel),
                    NewNode::Link(from) => host.link(root, from, rel),
                }
            }
        }
    }

    /// Sets the access and modification times (ns since the epoch; `None` keeps one) of
    /// what `path` names, not following a symbolic link at its end.
    ///
    /// # Errors
    /// `NOENT`; `ROFS` on the initrd and for mount points; the host's errors.
    pub fn set_times_path(
        &mut self,
        p: &mut dyn Platform,
        path: &str,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> SysResult<()> {
        let (i, rel) = self.mount_for(path)?;
        let now = self.now(i, p);
        let done = match &self.mounts[i].fs {
            Fs::Initrd(fs) => fs.lookup(rel).and(Err(Errno::ROFS)),
            Fs::Tmp(fs) => fs
                .lookup(rel)
                .map(|t| tmpfs::set_times(&t, atime, mtime, now)),
            Fs::Host { root } => {
                let root = *root;
                host_at(p).and_then(|h| h.set_times_path(root, rel, atime, mtime))
            }
        };
        match done {
            Err(Errno::NOENT) if self.mount_below(path) => Err(Errno::ROFS),
            done => done,
        }
    }

    /// Sets the times of an open node, as [`Vfs::set_times_path`].
    ///
    /// # Errors
    /// `ROFS` on the initrd and for mount points; the host's errors.
    pub fn set_times(
        &mut self,
        p: &mut dyn Platform,
        node: &Node,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> SysResult<()> {
        match &node.obj {
            Obj::Initrd(_) | Obj::Synthetic => Err(Errno::ROFS),
            Obj::Tmp(t) => {
                tmpfs::set_times(t, atime, mtime, p.wall_clock_ns());
                Ok(())
            }
            Obj::Host(file) => host_of(p)?.set_times(*file, atime, mtime),
        }
    }

    /// Flushes an open node to its storage (host files; the others live in memory).
    ///
    /// # Errors
    /// The host's errors.
    pub fn sync(&mut self, p: &mut dyn Platform, node: &Node) -> SysResult<()> {
        match &node.obj {
            Obj::Host(file) => host_of(p)?.sync(*file),
            _ => Ok(()),
        }
    }

    /// The whole contents of a regular file (used to load programs). Initrd files are
    /// borrowed, not copied.
    ///
    /// # Errors
    /// `NOENT`; `ISDIR`; `NOMEM`; the host's errors.
    pub fn read_all(&mut self, p: &mut dyn Platform, path: &str) -> SysResult<Cow<'static, [u8]>> {
        if !path::is_normalized(path) {
            return Err(Errno::INVAL);
        }
        let resolved = self.resolve(p, "/", path.trim_start_matches('/'), true)?;
        let path = resolved.path.as_str();
        let (i, rel) = self.mount_for(path)?;
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
