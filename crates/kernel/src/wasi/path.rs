//! The `path_*` calls: everything that names a file by a path beneath a directory handle.
//!
//! Every path is resolved by [`crate::vfs::Vfs::resolve`] beneath the directory the handle
//! names, so neither `..` nor a symbolic link leads above it. A link at the end of a path is
//! followed only where preview1 says so (`LOOKUPFLAGS_SYMLINK_FOLLOW`, or a trailing `/`);
//! otherwise the call acts on the link itself, and `path_open` refuses it with `LOOP`.

use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;

use super::rights;
use super::{FDFLAGS_APPEND, FDFLAGS_NONBLOCK, FDFLAGS_SYNCS, filestat_bytes, times};
use crate::errno::{Errno, SysResult};
use crate::handle::{Entry, FsRights, Rights};
use crate::object::{Dir, Object, OpenFile};
use crate::sys::{Sys, SysOut};
use crate::vfs::{FileType, OpenOptions, Resolved};

use weft_abi::wasi::LOOKUPFLAGS_SYMLINK_FOLLOW;
use weft_abi::wasi::oflags::{
    CREAT as OFLAGS_CREAT, DIRECTORY as OFLAGS_DIRECTORY, EXCL as OFLAGS_EXCL,
    TRUNC as OFLAGS_TRUNC,
};

/// A path-taking call's directory: its handle, the rights it needs there, and whether a
/// link at the end of the path is followed.
struct At {
    fd: u32,
    /// The WASI right the call needs on the directory.
    right: u64,
    /// Whether the call changes what is beneath the directory (needs the kernel's `WRITE`).
    writes: bool,
    follow: bool,
}

impl At {
    /// A call that looks at what the path names, following a link at its end as its
    /// `lookupflags` say.
    fn look(fd: u32, right: u64, lookupflags: u32) -> At {
        At {
            fd,
            right,
            writes: false,
            follow: lookupflags & LOOKUPFLAGS_SYMLINK_FOLLOW != 0,
        }
    }

    /// A call that changes the directory entry the path names (a link at its end is the
    /// entry, never followed).
    fn change(fd: u32, right: u64) -> At {
        At {
            fd,
            right,
            writes: true,
            follow: false,
        }
    }
}

/// The directory a path was resolved beneath.
struct Parent {
    /// Its WASI rights.
    fs: FsRights,
    /// Its kernel rights.
    kernel: Rights,
}

impl Sys<'_> {
    /// Resolves the guest path at `ptr`/`len` beneath the directory `at.fd` names, checked
    /// for `at`'s needs: `BADF` for no handle, `NOTDIR` for one that is not a directory,
    /// `NOTCAPABLE` for missing rights.
    fn resolve_at(&mut self, at: &At, ptr: u32, len: u32) -> SysResult<(Resolved, Parent)> {
        let e = self.proc.handles.get(at.fd)?;
        let Object::Dir(dir) = &e.object else {
            return Err(Errno::NOTDIR);
        };
        rights::require(e, at.right)?;
        let kernel = if at.writes {
            Rights::READ.with(Rights::WRITE)
        } else {
            Rights::READ
        };
        if !e.rights.has(kernel) {
            return Err(Errno::NOTCAPABLE);
        }
        let (dir, parent) = (
            dir.clone(),
            Parent {
                fs: e.fs,
                kernel: e.rights,
            },
        );
        let rel = self.mem.str(ptr, len)?;
        let r = self
            .k
            .vfs
            .resolve(&mut *self.k.platform, &dir.path, rel, at.follow)?;
        Ok((r, parent))
    }

    /// Resolves as [`Sys::resolve_at`], for calls that need nothing of the directory.
    fn resolve(&mut self, at: &At, ptr: u32, len: u32) -> SysResult<Resolved> {
        self.resolve_at(at, ptr, len).map(|(r, _)| r)
    }

    /// What a resolved path names (not following a link at its end), `None` if nothing.
    fn kind_at(r: &Resolved) -> Option<FileType> {
        r.stat.and_then(|st| st.kind)
    }

    /// Where a new directory entry goes: `EXIST` if something is there already (`NOTDIR`
    /// for a non-directory named with a trailing `/`), `NOENT` for a missing name with a
    /// trailing `/` (only directories are named so, and this call makes none).
    fn new_name(&mut self, r: &Resolved) -> SysResult<()> {
        match Self::kind_at(r) {
            Some(kind) if r.dir && kind != FileType::Directory => Err(Errno::NOTDIR),
            Some(_) => Err(Errno::EXIST),
            None if r.dir => Err(Errno::NOENT),
            None => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_open(
        &mut self,
        fd: u32,
        dirflags: u32,
        path_ptr: u32,
        path_len: u32,
        oflags: u32,
        base: u64,
        _inheriting: u64,
        fdflags: u32,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 4)?;
        let create = oflags & OFLAGS_CREAT != 0;
        let exclusive = oflags & OFLAGS_EXCL != 0;
        let truncate = oflags & OFLAGS_TRUNC != 0;
        let directory = oflags & OFLAGS_DIRECTORY != 0;
        if oflags & !0xf != 0 || (directory && (create || exclusive || truncate)) {
            return Err(Errno::INVAL.into());
        }
        if fdflags & FDFLAGS_SYNCS != 0 {
            // Synchronous writes are not offered (as wasmtime).
            return Err(Errno::NOTSUP.into());
        }
        if fdflags & !(FDFLAGS_APPEND | FDFLAGS_NONBLOCK | FDFLAGS_SYNCS) != 0 {
            return Err(Errno::INVAL.into());
        }
        // The access mode, as wasmtime picks it: writing if asked for, reading if asked
        // for or if not writing. Creating or truncating a file does not need a writable
        // handle to it.
        let write = base & rights::FD_WRITE != 0;
        let read = base & rights::FD_READ != 0 || !write;
        let mut needed = rights::PATH_OPEN;
        if create {
            needed |= rights::PATH_CREATE_FILE;
        }
        if truncate {
            needed |= rights::PATH_FILESTAT_SET_SIZE;
        }
        let at = At {
            fd,
            right: needed,
            writes: write || create || truncate,
            follow: dirflags & LOOKUPFLAGS_SYMLINK_FOLLOW != 0,
        };
        let (r, parent) = self.resolve_at(&at, path_ptr, path_len)?;
        let entry = match Self::kind_at(&r) {
            Some(FileType::Directory) => {
                if create && exclusive {
                    return Err(Errno::EXIST.into());
                }
                if write || create {
                    return Err(Errno::ISDIR.into());
                }
                let dir = Dir {
                    path: r.path,
                    preopen: None,
                };
                Entry {
                    object: Object::Dir(Rc::new(dir)),
                    rights: parent.kernel,
                    fs: rights::for_dir(parent.fs),
                }
            }
            Some(FileType::Symlink) if create && exclusive => return Err(Errno::EXIST.into()),
            Some(FileType::Symlink) => return Err(Errno::LOOP.into()),
            Some(FileType::Regular) if directory || r.dir => return Err(Errno::NOTDIR.into()),
            None if directory || r.dir => return Err(Errno::NOENT.into()),
            _ => {
                let how = OpenOptions {
                    read,
                    write,
                    create,
                    exclusive,
                    truncate,
                    directory: false,
                };
                let node = self.k.vfs.open(&mut *self.k.platform, &r.path, &how)?;
                let mut kernel = Rights::TRANSFER;
                if read {
                    kernel = kernel.with(Rights::READ);
                }
                if write {
                    kernel = kernel.with(Rights::WRITE);
                }
                let mut file = OpenFile::new(node, fdflags & FDFLAGS_APPEND != 0, &self.k.events);
                file.nonblock = fdflags & FDFLAGS_NONBLOCK != 0;
                Entry {
                    object: Object::File(Rc::new(RefCell::new(file))),
                    rights: kernel,
                    fs: rights::for_file(parent.fs, read, write),
                }
            }
        };
        // If the table is full the entry is dropped, and a file closed, here.
        let h = self.proc.handles.insert(entry)?;
        self.mem.write_u32(out, h)?;
        Ok(())
    }

    pub(crate) fn path_create_directory(&mut self, fd: u32, ptr: u32, len: u32) -> SysOut {
        let at = At::change(fd, rights::PATH_CREATE_DIRECTORY);
        let r = self.resolve(&at, ptr, len)?;
        self.k.vfs.mkdir(&mut *self.k.platform, &r.path)?;
        Ok(())
    }

    pub(crate) fn path_filestat_get(
        &mut self,
        fd: u32,
        flags: u32,
        ptr: u32,
        len: u32,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 64)?;
        let at = At::look(fd, rights::PATH_FILESTAT_GET, flags);
        let r = self.resolve(&at, ptr, len)?;
        let st = r.stat.ok_or(Errno::NOENT)?;
        if r.dir && st.kind != Some(FileType::Directory) {
            return Err(Errno::NOTDIR.into());
        }
        self.mem.write(out, &filestat_bytes(&st))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_filestat_set_times(
        &mut self,
        fd: u32,
        flags: u32,
        ptr: u32,
        len: u32,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> SysOut {
        let (atime, mtime) = times(fst, atim, mtim, self.k.platform.wall_clock_ns())?;
        let at = At::look(fd, rights::PATH_FILESTAT_SET_TIMES, flags);
        let r = self.resolve(&at, ptr, len)?;
        self.k
            .vfs
            .set_times_path(&mut *self.k.platform, &r.path, atime, mtime)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_link(
        &mut self,
        fd: u32,
        flags: u32,
        p: u32,
        l: u32,
        fd2: u32,
        p2: u32,
        l2: u32,
    ) -> SysOut {
        let from_at = At::look(fd, rights::PATH_LINK_SOURCE, flags);
        let to_at = At::change(fd2, rights::PATH_LINK_TARGET);
        let from = self.resolve(&from_at, p, l)?;
        let to = self.resolve(&to_at, p2, l2)?;
        match Self::kind_at(&from) {
            None => return Err(Errno::NOENT.into()),
            Some(FileType::Directory) => return Err(Errno::PERM.into()),
            Some(_) if from.dir => return Err(Errno::NOTDIR.into()),
            Some(_) => {}
        }
        match self.new_name(&to) {
            Err(Errno::NOTDIR) => return Err(Errno::EXIST.into()),
            other => other?,
        }
        self.k
            .vfs
            .link(&mut *self.k.platform, &from.path, &to.path)?;
        Ok(())
    }

    pub(crate) fn path_readlink(
        &mut self,
        fd: u32,
        ptr: u32,
        len: u32,
        buf: u32,
        buf_len: u32,
        out: u32,
    ) -> SysOut {
        self.mem.check(buf, buf_len)?;
        self.mem.check(out, 4)?;
        let at = At::look(fd, rights::PATH_READLINK, 0);
        let r = self.resolve(&at, ptr, len)?;
        let target = self.k.vfs.readlink(&mut *self.k.platform, &r.path)?;
        // A buffer too small gets the start of the target, as POSIX readlink.
        let n = target.len().min(buf_len as usize);
        self.mem.write(buf, &target.as_bytes()[..n])?;
        self.mem.write_u32(out, n as u32)?;
        Ok(())
    }

    pub(crate) fn path_remove_directory(&mut self, fd: u32, ptr: u32, len: u32) -> SysOut {
        let at = At::change(fd, rights::PATH_REMOVE_DIRECTORY);
        let r = self.resolve(&at, ptr, len)?;
        self.k.vfs.rmdir(&mut *self.k.platform, &r.path)?;
        Ok(())
    }

    pub(crate) fn path_unlink_file(&mut self, fd: u32, ptr: u32, len: u32) -> SysOut {
        let at = At::change(fd, rights::PATH_UNLINK_FILE);
        let r = self.resolve(&at, ptr, len)?;
        if r.dir {
            // Only directories are named with a trailing `/`, and this removes none.
            return Err(match Self::kind_at(&r) {
                Some(FileType::Directory) => Errno::ISDIR,
                Some(_) => Errno::NOTDIR,
                None => Errno::NOENT,
            }
            .into());
        }
        self.k.vfs.unlink(&mut *self.k.platform, &r.path)?;
        Ok(())
    }

    pub(crate) fn path_rename(
        &mut self,
        fd: u32,
        p: u32,
        l: u32,
        fd2: u32,
        p2: u32,
        l2: u32,
    ) -> SysOut {
        let from_at = At::change(fd, rights::PATH_RENAME_SOURCE);
        let to_at = At::change(fd2, rights::PATH_RENAME_TARGET);
        let from = self.resolve(&from_at, p, l)?;
        let to = self.resolve(&to_at, p2, l2)?;
        if from.dir || to.dir {
            // A trailing `/` on either name: only a directory may move.
            match Self::kind_at(&from) {
                Some(FileType::Directory) => {}
                Some(_) => return Err(Errno::NOTDIR.into()),
                None => return Err(Errno::NOENT.into()),
            }
        }
        self.k
            .vfs
            .rename(&mut *self.k.platform, &from.path, &to.path)?;
        Ok(())
    }

    pub(crate) fn path_symlink(&mut self, p: u32, l: u32, fd: u32, p2: u32, l2: u32) -> SysOut {
        let target = String::from(self.mem.str(p, l)?);
        let at = At::change(fd, rights::PATH_SYMLINK);
        let r = self.resolve(&at, p2, l2)?;
        crate::vfs::path::check_guest(&target).map_err(|e| match e {
            // An absolute link could only ever lead out of the directory it is followed
            // from: refused when made, as wasmtime does.
            Errno::NOTCAPABLE => Errno::PERM,
            e => e,
        })?;
        self.new_name(&r)?;
        self.k
            .vfs
            .symlink(&mut *self.k.platform, &target, &r.path)?;
        Ok(())
    }
}
