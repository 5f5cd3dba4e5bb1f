//! The initrd: a read-only file system built once from a tar archive whose file contents
//! stay in the (static) archive bytes.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::tar::{self, Kind};
use super::{DirEntry, FileType, Stat};
use crate::errno::{Errno, SysResult};

/// An object's index in [`Initrd::nodes`]; its inode number is the index plus one.
pub(crate) type Index = usize;

enum Body {
    Dir(BTreeMap<String, Index>),
    File(&'static [u8]),
    Symlink(String),
}

struct INode {
    body: Body,
    mtime_ns: u64,
    /// Names that refer to this object (hard links in the archive); directories count
    /// their subdirectories' `..` at stat time.
    names: u64,
}

/// A read-only tree. Index 0 is the root.
pub(crate) struct Initrd {
    nodes: Vec<INode>,
}

impl Initrd {
    /// An empty root directory.
    pub(crate) fn empty() -> Initrd {
        Initrd {
            nodes: vec![INode {
                body: Body::Dir(BTreeMap::new()),
                mtime_ns: 0,
                names: 1,
            }],
        }
    }

    /// Builds the tree of `archive`. Directories implied by a member's path exist even
    /// without their own entry (with that member's mtime); later members replace earlier
    /// files of the same name, as extracting would.
    ///
    /// # Errors
    /// A malformed archive, or members that contradict each other (a file used as a
    /// directory, a directory replaced by a file, a hard link to nothing).
    pub(crate) fn from_tar(archive: &'static [u8]) -> Result<Initrd, String> {
        let mut fs = Initrd::empty();
        for entry in tar::parse(archive)? {
            fs.add(&entry.path, entry.kind, entry.mtime_ns)
                .map_err(|e| format!("{:?}: {e}", entry.path))?;
        }
        Ok(fs)
    }

    fn add(&mut self, path: &str, kind: Kind<'static>, mtime_ns: u64) -> Result<(), String> {
        if path.is_empty() {
            return match kind {
                Kind::Directory => {
                    self.nodes[0].mtime_ns = mtime_ns;
                    Ok(())
                }
                _ => Err("the root must be a directory".to_string()),
            };
        }
        let (dir_path, name) = path.rsplit_once('/').unwrap_or(("", path));
        let mut dir = 0;
        for part in dir_path.split('/').filter(|p| !p.is_empty()) {
            dir = self.child_dir(dir, part, mtime_ns)?;
        }
        let existing = self.children(dir).and_then(|c| c.get(name).copied());
        let existing_is_dir = existing.is_some_and(|i| matches!(self.nodes[i].body, Body::Dir(_)));
        let target = match kind {
            Kind::Directory => {
                match existing {
                    Some(i) if existing_is_dir => self.nodes[i].mtime_ns = mtime_ns,
                    Some(_) => return Err("a directory replaces a file".to_string()),
                    None => {
                        let i = self.push(Body::Dir(BTreeMap::new()), mtime_ns);
                        self.link(dir, name, i);
                    }
                }
                return Ok(());
            }
            _ if existing_is_dir => return Err("a file replaces a directory".to_string()),
            Kind::File(data) => self.push(Body::File(data), mtime_ns),
            Kind::Symlink(target) => self.push(Body::Symlink(target), mtime_ns),
            Kind::HardLink(target) => match self.lookup(&target) {
                Ok(i) if !matches!(self.nodes[i].body, Body::Dir(_)) => i,
                Ok(_) => return Err(format!("hard link to directory {target:?}")),
                Err(_) => return Err(format!("hard link to missing {target:?}")),
            },
        };
        if let Some(old) = existing {
            self.nodes[old].names -= 1;
        }
        self.link(dir, name, target);
        Ok(())
    }

    /// The subdirectory `name` of `dir`, created if missing.
    fn child_dir(&mut self, dir: Index, name: &str, mtime_ns: u64) -> Result<Index, String> {
        match self.children(dir).and_then(|c| c.get(name).copied()) {
            Some(i) if matches!(self.nodes[i].body, Body::Dir(_)) => Ok(i),
            Some(_) => Err(format!("{name:?} is a file but is used as a directory")),
            None => {
                let i = self.push(Body::Dir(BTreeMap::new()), mtime_ns);
                self.link(dir, name, i);
                Ok(i)
            }
        }
    }

    fn push(&mut self, body: Body, mtime_ns: u64) -> Index {
        self.nodes.push(INode {
            body,
            mtime_ns,
            names: 0,
        });
        self.nodes.len() - 1
    }

    fn link(&mut self, dir: Index, name: &str, target: Index) {
        self.nodes[target].names += 1;
        if let Body::Dir(children) = &mut self.nodes[dir].body {
            children.insert(name.to_string(), target);
        }
    }

    fn children(&self, dir: Index) -> Option<&BTreeMap<String, Index>> {
        match &self.nodes.get(dir)?.body {
            Body::Dir(children) => Some(children),
            Body::File(_) | Body::Symlink(_) => None,
        }
    }

    /// The object at mount-relative path `rel` (`""` for the root).
    ///
    /// # Errors
    /// `NOENT` if missing, `NOTDIR` if a file is used as a directory on the way.
    pub(crate) fn lookup(&self, rel: &str) -> SysResult<Index> {
        let mut at = 0;
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            let children = self.children(at).ok_or(Errno::NOTDIR)?;
            at = *children.get(part).ok_or(Errno::NOENT)?;
        }
        Ok(at)
    }

    /// Whether the object is a directory.
    pub(crate) fn is_dir(&self, i: Index) -> bool {
        self.children(i).is_some()
    }

    /// The kind of an object.
    pub(crate) fn kind(&self, i: Index) -> FileType {
        match self.nodes.get(i).map(|n| &n.body) {
            Some(Body::Dir(_)) => FileType::Directory,
            Some(Body::Symlink(_)) => FileType::Symlink,
            _ => FileType::Regular,
        }
    }

    /// The target of a symbolic link.
    ///
    /// # Errors
    /// `INVAL` if it is not one.
    pub(crate) fn readlink(&self, i: Index) -> SysResult<String> {
        match self.nodes.get(i).map(|n| &n.body) {
            Some(Body::Symlink(target)) => Ok(target.clone()),
            _ => Err(Errno::INVAL),
        }
    }

    /// The contents of a regular file.
    ///
    /// # Errors
    /// `ISDIR` for a directory.
    pub(crate) fn data(&self, i: Index) -> SysResult<&'static [u8]> {
        match self.nodes.get(i).map(|n| &n.body) {
            Some(Body::File(data)) => Ok(data),
            Some(Body::Dir(_)) => Err(Errno::ISDIR),
            Some(Body::Symlink(_)) => Err(Errno::LOOP),
            None => Err(Errno::BADF),
        }
    }

    /// The status of an object, on device `dev`.
    pub(crate) fn stat(&self, i: Index, dev: u64) -> Stat {
        let Some(node) = self.nodes.get(i) else {
            return Stat::default();
        };
        let (kind, size, nlink) = match &node.body {
            Body::File(data) => (FileType::Regular, data.len() as u64, node.names),
            Body::Symlink(target) => (FileType::Symlink, target.len() as u64, node.names),
            Body::Dir(children) => {
                let subdirs = children.values().filter(|&&c| self.is_dir(c)).count() as u64;
                (FileType::Directory, 0, 2 + subdirs)
            }
        };
        Stat {
            dev,
            ino: i as u64 + 1,
            kind: Some(kind),
            nlink,
            size,
            atime_ns: node.mtime_ns,
            mtime_ns: node.mtime_ns,
            ctime_ns: node.mtime_ns,
        }
    }

    /// The entries of a directory, sorted by name, without `.` and `..`.
    ///
    /// # Errors
    /// `NOTDIR` for a file.
    pub(crate) fn read_dir(&self, i: Index) -> SysResult<Vec<DirEntry>> {
        let children = self.children(i).ok_or(Errno::NOTDIR)?;
        Ok(children
            .iter()
            .map(|(name, &c)| DirEntry {
                name: name.clone(),
                kind: self.kind(c),
                ino: c as u64 + 1,
            })
            .collect())
    }
}
