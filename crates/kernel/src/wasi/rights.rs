//! WASI preview1 rights: the bits, the sets weft hands out, and the checks.
//!
//! weft enforces rights as preview1 defines them, on top of the kernel's own handle rights:
//! a call needs its right in the descriptor's `base` set (`NOTCAPABLE` otherwise), a
//! descriptor opened beneath a directory gets at most the directory's `inheriting` set, and
//! `fd_fdstat_set_rights` only removes rights. What a preopen reports, and how `path_open`
//! picks the access mode from the requested rights (read unless only writing is asked for),
//! follow wasmtime, so programs written against it see the same sets.

use crate::errno::{Errno, SysResult};
use crate::handle::{Entry, FsRights};

pub(crate) use weft_abi::rights::wasi::*;

/// What a directory descriptor can do itself.
pub(crate) const DIR_BASE: u64 = PATH_CREATE_DIRECTORY
    | PATH_CREATE_FILE
    | PATH_LINK_SOURCE
    | PATH_LINK_TARGET
    | PATH_OPEN
    | FD_READDIR
    | PATH_READLINK
    | PATH_RENAME_SOURCE
    | PATH_RENAME_TARGET
    | PATH_SYMLINK
    | PATH_REMOVE_DIRECTORY
    | PATH_UNLINK_FILE
    | PATH_FILESTAT_GET
    | PATH_FILESTAT_SET_SIZE
    | PATH_FILESTAT_SET_TIMES
    | FD_FILESTAT_GET
    | FD_FILESTAT_SET_TIMES
    | FD_SYNC
    | FD_DATASYNC
    | FD_FDSTAT_SET_FLAGS
    | FD_ADVISE;

/// What a regular-file descriptor can do.
pub(crate) const FILE_BASE: u64 = FD_DATASYNC
    | FD_READ
    | FD_SEEK
    | FD_FDSTAT_SET_FLAGS
    | FD_SYNC
    | FD_TELL
    | FD_WRITE
    | FD_ADVISE
    | FD_ALLOCATE
    | FD_FILESTAT_GET
    | FD_FILESTAT_SET_SIZE
    | FD_FILESTAT_SET_TIMES
    | POLL_FD_READWRITE;

/// What a preopened directory gives to what is opened beneath it.
pub(crate) const DIR_INHERITING: u64 = DIR_BASE | FILE_BASE;

/// A preopened directory's rights.
pub(crate) const PREOPEN: FsRights = FsRights {
    base: DIR_BASE,
    inheriting: DIR_INHERITING,
};

/// The rights of a directory opened beneath `parent`.
pub(crate) fn for_dir(parent: FsRights) -> FsRights {
    FsRights {
        base: DIR_BASE & parent.inheriting,
        inheriting: parent.inheriting,
    }
}

/// The rights of a regular file opened beneath `parent` for reading and/or writing.
pub(crate) fn for_file(parent: FsRights, read: bool, write: bool) -> FsRights {
    let mut base = FILE_BASE & parent.inheriting;
    if !read {
        base &= !FD_READ;
    }
    if !write {
        base &= !(FD_WRITE | FD_DATASYNC | FD_ALLOCATE | FD_FILESTAT_SET_SIZE);
    }
    FsRights {
        base,
        inheriting: base,
    }
}

/// Checks that `entry` has every right in `needed` (`NOTCAPABLE` otherwise).
pub(crate) fn require(entry: &Entry, needed: u64) -> SysResult<()> {
    if entry.fs.base & needed == needed {
        Ok(())
    } else {
        Err(Errno::NOTCAPABLE)
    }
}

/// Narrows `entry`'s rights to `base` and `inheriting` (`NOTCAPABLE` if either adds a
/// right).
pub(crate) fn shrink(entry: &mut Entry, base: u64, inheriting: u64) -> SysResult<()> {
    if base & !entry.fs.base != 0 || inheriting & !entry.fs.inheriting != 0 {
        return Err(Errno::NOTCAPABLE);
    }
    entry.fs = FsRights { base, inheriting };
    Ok(())
}
