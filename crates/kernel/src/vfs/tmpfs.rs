//! tmpfs: a writable file system in kernel memory.
//!
//! Objects are reference-counted, so a file unlinked while open lives on through its open
//! [`super::Node`]s until the last is closed (POSIX). Space is accounted per file system:
//! file contents plus [`NODE_COST`] bytes per object, so a guest can exhaust neither the
//! limit with data nor kernel memory with millions of empty files. An object gives its
//! space back when it is dropped, which for an unlinked open file is at its last close.
//! Allocation failures are reported as `NOMEM`, never as an abort.

use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use super::{DirEntry, FileType, OpenOptions, Stat};
use crate::errno::{Errno, SysResult};

/// The bytes charged for each object besides its contents (metadata and name).
pub(crate) const NODE_COST: u64 = 256;

/// A tmpfs object.
pub(crate) type TRef = Rc<RefCell<TNode>>;

/// Space used and allowed, shared by a file system and its objects.
struct Space {
    used: Cell<u64>,
    max: u64,
}

impl Space {
    fn charge(&self, bytes: u64) -> SysResult<()> {
        let used = self
            .used
            .get()
            .checked_add(bytes)
            .filter(|&u| u <= self.max)
            .ok_or(Errno::NOSPC)?;
        self.used.set(used);
        Ok(())
    }

    fn release(&self, bytes: u64) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }
}

enum Body {
    File(Vec<u8>),
    Dir(BTreeMap<String, TRef>),
    /// A symbolic link's target.
    Symlink(String),
}

/// A file or directory.
pub(crate) struct TNode {
    ino: u64,
    /// Names referring to it (hard links); 0 once unlinked. A directory has one name at
    /// most; its subdirectories' `..` are counted at stat time.
    links: u64,
    atime_ns: u64,
    mtime_ns: u64,
    ctime_ns: u64,
    body: Body,
    /// `None` for the root, which is not charged.
    space: Option<Rc<Space>>,
}

impl Drop for TNode {
    fn drop(&mut self) {
        if let Some(space) = &self.space {
            let data = match &self.body {
                Body::File(bytes) => bytes.len() as u64,
                Body::Symlink(target) => target.len() as u64,
                Body::Dir(_) => 0,
            };
            space.release(NODE_COST + data);
        }
    }
}

impl TNode {
    fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }

    fn kind(&self) -> FileType {
        match self.body {
            Body::File(_) => FileType::Regular,
            Body::Dir(_) => FileType::Directory,
            Body::Symlink(_) => FileType::Symlink,
        }
    }

    fn touch(&mut self, now: u64) {
        self.mtime_ns = now;
        self.ctime_ns = now;
    }
}

impl core::fmt::Debug for TNode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = match self.body {
            Body::File(_) => "file",
            Body::Dir(_) => "dir",
            Body::Symlink(_) => "symlink",
        };
        write!(f, "tmpfs {kind} #{}", self.ino)
    }
}

/// One tmpfs.
pub(crate) struct Tmpfs {
    root: TRef,
    space: Rc<Space>,
    next_ino: u64,
    /// Whether the root's times have been set (mounting happens before there is a clock).
    stamped: bool,
}

impl Tmpfs {
    /// An empty tmpfs holding at most `max_bytes` (see the module docs).
    pub(crate) fn new(max_bytes: u64, now: u64) -> Tmpfs {
        let space = Rc::new(Space {
            used: Cell::new(0),
            max: max_bytes,
        });
        let root = TNode {
            ino: 1,
            links: 1,
            atime_ns: now,
            mtime_ns: now,
            ctime_ns: now,
            body: Body::Dir(BTreeMap::new()),
            space: None,
        };
        Tmpfs {
            root: Rc::new(RefCell::new(root)),
            space,
            next_ino: 2,
            stamped: now != 0,
        }
    }

    /// Sets the root's times to `now` if they have not been set yet.
    pub(crate) fn stamp(&mut self, now: u64) {
        if !self.stamped {
            self.stamped = true;
            let mut root = self.root.borrow_mut();
            root.atime_ns = now;
            root.touch(now);
        }
    }

    fn new_node(&mut self, body: Body, now: u64) -> SysResult<TRef> {
        self.space.charge(NODE_COST)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        Ok(Rc::new(RefCell::new(TNode {
            ino,
            links: 1,
            atime_ns: now,
            mtime_ns: now,
            ctime_ns: now,
            body,
            space: Some(self.space.clone()),
        })))
    }

    /// The object at mount-relative path `rel` (`""` is the root).
    ///
    /// # Errors
    /// `NOENT` if missing, `NOTDIR` if a file is used as a directory on the way.
    pub(crate) fn lookup(&self, rel: &str) -> SysResult<TRef> {
        let mut at = self.root.clone();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            let next = match &at.borrow().body {
                Body::Dir(children) => children.get(part).cloned().ok_or(Errno::NOENT)?,
                Body::File(_) | Body::Symlink(_) => return Err(Errno::NOTDIR),
            };
            at = next;
        }
        Ok(at)
    }

    /// The directory holding `rel` and the last component's name.
    fn parent<'r>(&self, rel: &'r str) -> SysResult<(TRef, &'r str)> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let dir = self.lookup(dir)?;
        if !dir.borrow().is_dir() {
            return Err(Errno::NOTDIR);
        }
        Ok((dir, name))
    }

    /// Opens (maybe creates) `rel`.
    ///
    /// # Errors
    /// `EXIST`, `NOTDIR`, `ISDIR`, `NOENT` as POSIX `open`; `NOSPC` when creating beyond
    /// the limit.
    pub(crate) fn open(&mut self, rel: &str, how: &OpenOptions, now: u64) -> SysResult<TRef> {
        match self.lookup(rel) {
            Ok(node) => {
                {
                    let mut n = node.borrow_mut();
                    how.check_existing(n.kind())?;
                    if how.truncate && !n.is_dir() {
                        set_len(&mut n, 0, now)?;
                    }
                }
                Ok(node)
            }
            Err(Errno::NOENT) if how.create && !how.directory && !rel.is_empty() => {
                let (dir, name) = self.parent(rel)?;
                let node = self.new_node(Body::File(Vec::new()), now)?;
                let mut d = dir.borrow_mut();
                if let Body::Dir(children) = &mut d.body {
                    children.insert(name.to_string(), node.clone());
                }
                d.touch(now);
                Ok(node)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a directory.
    ///
    /// # Errors
    /// `EXIST`, `NOENT`, `NOTDIR`, `NOSPC`.
    pub(crate) fn mkdir(&mut self, rel: &str, now: u64) -> SysResult<()> {
        self.insert_new(rel, now, |fs| fs.new_node(Body::Dir(BTreeMap::new()), now))
    }

    /// Creates a symbolic link to `target`, charged like a file of its length.
    ///
    /// # Errors
    /// As [`Tmpfs::mkdir`].
    pub(crate) fn symlink(&mut self, rel: &str, target: &str, now: u64) -> SysResult<()> {
        self.insert_new(rel, now, |fs| {
            let size = target.len() as u64;
            fs.space.charge(size)?;
            let mut owned = String::new();
            if owned.try_reserve_exact(target.len()).is_err() {
                fs.space.release(size);
                return Err(Errno::NOMEM);
            }
            owned.push_str(target);
            fs.new_node(Body::Symlink(owned), now)
                .inspect_err(|_| fs.space.release(size))
        })
    }

    /// Gives the file or symbolic link at `from` the further name `to`.
    ///
    /// # Errors
    /// `NOENT`; `PERM` for a directory; as [`Tmpfs::mkdir`] for `to`.
    pub(crate) fn link(&mut self, from: &str, to: &str, now: u64) -> SysResult<()> {
        let node = self.lookup(from)?;
        if node.borrow().is_dir() {
            return Err(Errno::PERM);
        }
        self.insert_new(to, now, |_| {
            let mut n = node.borrow_mut();
            n.links += 1;
            n.ctime_ns = now;
            drop(n);
            Ok(node.clone())
        })
    }

    /// Puts the object `make` returns at `rel`, which must not exist yet (`make` runs only
    /// then).
    fn insert_new(
        &mut self,
        rel: &str,
        now: u64,
        make: impl FnOnce(&mut Tmpfs) -> SysResult<TRef>,
    ) -> SysResult<()> {
        if rel.is_empty() {
            return Err(Errno::EXIST);
        }
        let (dir, name) = self.parent(rel)?;
        if let Body::Dir(children) = &dir.borrow().body
            && children.contains_key(name)
        {
            return Err(Errno::EXIST);
        }
        let node = make(self)?;
        let mut d = dir.borrow_mut();
        if let Body::Dir(children) = &mut d.body {
            children.insert(name.to_string(), node);
        }
        d.touch(now);
        Ok(())
    }

    /// Removes a file (`dir` false) or an empty directory (`dir` true).
    ///
    /// # Errors
    /// `NOENT`; `ISDIR` removing a directory as a file; `NOTDIR`, `NOTEMPTY` removing a
    /// file or a non-empty directory as a directory; `BUSY` for the root.
    pub(crate) fn remove(&mut self, rel: &str, dir: bool, now: u64) -> SysResult<()> {
        if rel.is_empty() {
            return Err(if dir { Errno::BUSY } else { Errno::ISDIR });
        }
        let (parent, name) = self.parent(rel)?;
        let mut p = parent.borrow_mut();
        let Body::Dir(children) = &mut p.body else {
            return Err(Errno::NOTDIR);
        };
        let node = children.get(name).ok_or(Errno::NOENT)?;
        {
            let n = node.borrow();
            match (&n.body, dir) {
                (Body::Dir(_), false) => return Err(Errno::ISDIR),
                (Body::File(_) | Body::Symlink(_), true) => return Err(Errno::NOTDIR),
                (Body::Dir(entries), true) if !entries.is_empty() => {
                    return Err(Errno::NOTEMPTY);
                }
                _ => {}
            }
        }
        if let Some(node) = children.remove(name) {
            let mut n = node.borrow_mut();
            n.links = n.links.saturating_sub(1);
            n.ctime_ns = now;
        }
        p.touch(now);
        Ok(())
    }

    /// Renames `from` to `to`, replacing a file or an empty directory at `to` (POSIX).
    ///
    /// # Errors
    /// `NOENT`; `BUSY` for the root; `INVAL` moving a directory into itself; `ISDIR`,
    /// `NOTDIR`, `NOTEMPTY` for an incompatible target.
    pub(crate) fn rename(&mut self, from: &str, to: &str, now: u64) -> SysResult<()> {
        if from.is_empty() || to.is_empty() {
            return Err(Errno::BUSY);
        }
        let node = self.lookup(from)?;
        let (to_dir, to_name) = self.parent(to)?;
        if from == to {
            return Ok(());
        }
        if super::path::strip_dir(&alloc::format!("/{to}"), &alloc::format!("/{from}")).is_some() {
            return Err(Errno::INVAL);
        }
        let moving_dir = node.borrow().is_dir();
        if let Body::Dir(children) = &to_dir.borrow().body
            && let Some(existing) = children.get(to_name)
        {
            if Rc::ptr_eq(existing, &node) {
                // Two names of one object: POSIX leaves both.
                return Ok(());
            }
            match (&existing.borrow().body, moving_dir) {
                (Body::Dir(_), false) => return Err(Errno::ISDIR),
                (Body::File(_) | Body::Symlink(_), true) => return Err(Errno::NOTDIR),
                (Body::Dir(entries), true) if !entries.is_empty() => {
                    return Err(Errno::NOTEMPTY);
                }
                _ => {}
            }
        }
        let (from_dir, from_name) = self.parent(from)?;
        {
            let mut d = from_dir.borrow_mut();
            if let Body::Dir(children) = &mut d.body {
                children.remove(from_name);
            }
            d.touch(now);
        }
        let replaced = {
            let mut d = to_dir.borrow_mut();
            let replaced = match &mut d.body {
                Body::Dir(children) => children.insert(to_name.to_string(), node.clone()),
                Body::File(_) | Body::Symlink(_) => None,
            };
            d.touch(now);
            replaced
        };
        if let Some(old) = replaced {
            let mut o = old.borrow_mut();
            o.links = o.links.saturating_sub(1);
            o.ctime_ns = now;
        }
        node.borrow_mut().ctime_ns = now;
        Ok(())
    }
}

/// Reads from a file at `offset`.
///
/// # Errors
/// `ISDIR` for a directory.
pub(crate) fn read(node: &TRef, offset: u64, buf: &mut [u8]) -> SysResult<usize> {
    let n = node.borrow();
    let bytes = match &n.body {
        Body::File(bytes) => bytes,
        Body::Dir(_) => return Err(Errno::ISDIR),
        Body::Symlink(_) => return Err(Errno::LOOP),
    };
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let avail = &bytes[start..];
    let len = avail.len().min(buf.len());
    buf[..len].copy_from_slice(&avail[..len]);
    Ok(len)
}

/// Writes to a file at `offset`, zero-filling any gap after the end.
///
/// # Errors
/// `ISDIR`; `FBIG` past the largest offset; `NOSPC` beyond the file system's limit;
/// `NOMEM` if the kernel is out of memory.
pub(crate) fn write(node: &TRef, offset: u64, data: &[u8], now: u64) -> SysResult<usize> {
    let mut n = node.borrow_mut();
    let end = offset.checked_add(data.len() as u64).ok_or(Errno::FBIG)?;
    let len = match &n.body {
        Body::File(bytes) => bytes.len() as u64,
        Body::Dir(_) => return Err(Errno::ISDIR),
        Body::Symlink(_) => return Err(Errno::LOOP),
    };
    if data.is_empty() {
        return Ok(0);
    }
    if end > len {
        set_len(&mut n, end, now)?;
    }
    let start = usize::try_from(offset).map_err(|_| Errno::FBIG)?;
    if let Body::File(bytes) = &mut n.body {
        bytes[start..start + data.len()].copy_from_slice(data);
    }
    n.touch(now);
    Ok(data.len())
}

/// Grows (with zeros) or shrinks a file.
///
/// # Errors
/// As [`write`].
pub(crate) fn set_size(node: &TRef, size: u64, now: u64) -> SysResult<()> {
    set_len(&mut node.borrow_mut(), size, now)
}

fn set_len(n: &mut TNode, size: u64, now: u64) -> SysResult<()> {
    let new_len = usize::try_from(size).map_err(|_| Errno::FBIG)?;
    let space = n.space.clone();
    let bytes = match &mut n.body {
        Body::File(bytes) => bytes,
        Body::Dir(_) => return Err(Errno::ISDIR),
        Body::Symlink(_) => return Err(Errno::LOOP),
    };
    let old = bytes.len() as u64;
    if size > old {
        if let Some(space) = &space {
            space.charge(size - old)?;
        }
        // Amortised growth: appending in small writes stays linear.
        if bytes.try_reserve(new_len - bytes.len()).is_err() {
            if let Some(space) = &space {
                space.release(size - old);
            }
            return Err(Errno::NOMEM);
        }
        bytes.resize(new_len, 0);
    } else {
        bytes.truncate(new_len);
        if bytes.capacity() / 2 > new_len {
            bytes.shrink_to(new_len);
        }
        if let Some(space) = &space {
            space.release(old - size);
        }
    }
    n.touch(now);
    Ok(())
}

/// The whole contents of a file.
///
/// # Errors
/// `ISDIR`; `NOMEM`.
pub(crate) fn contents(node: &TRef) -> SysResult<Vec<u8>> {
    let n = node.borrow();
    let bytes = match &n.body {
        Body::File(bytes) => bytes,
        Body::Dir(_) => return Err(Errno::ISDIR),
        Body::Symlink(_) => return Err(Errno::LOOP),
    };
    let mut out = Vec::new();
    out.try_reserve_exact(bytes.len())
        .map_err(|_| Errno::NOMEM)?;
    out.extend_from_slice(bytes);
    Ok(out)
}

/// The status of an object on device `dev`.
pub(crate) fn stat(node: &TRef, dev: u64) -> Stat {
    let n = node.borrow();
    let (kind, size, nlink) = match &n.body {
        Body::File(bytes) => (FileType::Regular, bytes.len() as u64, n.links),
        Body::Symlink(target) => (FileType::Symlink, target.len() as u64, n.links),
        Body::Dir(children) => {
            let subdirs = children.values().filter(|c| c.borrow().is_dir()).count() as u64;
            let own = if n.links > 0 { 2 } else { 0 };
            (FileType::Directory, 0, own + subdirs)
        }
    };
    Stat {
        dev,
        ino: n.ino,
        kind: Some(kind),
        nlink,
        size,
        atime_ns: n.atime_ns,
        mtime_ns: n.mtime_ns,
        ctime_ns: n.ctime_ns,
    }
}

/// The entries of a directory, sorted by name, without `.` and `..`.
///
/// # Errors
/// `NOTDIR` for a file.
pub(crate) fn read_dir(node: &TRef) -> SysResult<Vec<DirEntry>> {
    let n = node.borrow();
    let Body::Dir(children) = &n.body else {
        return Err(Errno::NOTDIR);
    };
    Ok(children
        .iter()
        .map(|(name, child)| {
            let c = child.borrow();
            DirEntry {
                name: name.clone(),
                kind: c.kind(),
                ino: c.ino,
            }
        })
        .collect())
}

/// The target of a symbolic link.
///
/// # Errors
/// `INVAL` if it is not one.
pub(crate) fn readlink(node: &TRef) -> SysResult<String> {
    match &node.borrow().body {
        Body::Symlink(target) => Ok(target.clone()),
        _ => Err(Errno::INVAL),
    }
}

/// Sets the access and modification times (`None` keeps one); the change time becomes
/// `now`.
pub(crate) fn set_times(node: &TRef, atime: Option<u64>, mtime: Option<u64>, now: u64) {
    let mut n = node.borrow_mut();
    if let Some(t) = atime {
        n.atime_ns = t;
    }
    if let Some(t) = mtime {
        n.mtime_ns = t;
    }
    n.ctime_ns = now;
}
