//! WASI preview1 (`wasi_snapshot_preview1`) system calls.
//!
//! File descriptors are handles (see [`crate::handle`]): stdio and preopened directories
//! are the first handles of a process, and channel ends work with `fd_read`/`fd_write`
//! as byte streams. Calls weft does not support return `ENOSYS`.

mod path;
pub(crate) mod rights;

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;

use crate::errno::{Errno, SysResult};
use crate::handle::{Entry, Rights};
use crate::object::{ConsoleEnd, Dir, MAX_MESSAGE, Object};
use crate::platform::ConsoleStream;
use crate::sys::{Stop, Strings, Sys, SysOut, Wait};
use crate::uaccess::UserMem;
use crate::vfs::{FileType, Stat};

use weft_abi::wasi::clock::{
    MONOTONIC as CLOCK_MONOTONIC, PROCESS_CPUTIME as CLOCK_PROCESS_CPUTIME,
    REALTIME as CLOCK_REALTIME, THREAD_CPUTIME as CLOCK_THREAD_CPUTIME,
};
use weft_abi::wasi::fdflags::{APPEND as FDFLAGS_APPEND, NONBLOCK as FDFLAGS_NONBLOCK};
use weft_abi::wasi::filetype;
use weft_abi::wasi::fstflags::{
    ATIM as FSTFLAGS_ATIM, ATIM_NOW as FSTFLAGS_ATIM_NOW, MTIM as FSTFLAGS_MTIM,
    MTIM_NOW as FSTFLAGS_MTIM_NOW,
};

/// `DSYNC`, `RSYNC` and `SYNC`: synchronous writes, which weft does not offer.
const FDFLAGS_SYNCS: u32 =
    weft_abi::wasi::fdflags::DSYNC | weft_abi::wasi::fdflags::RSYNC | weft_abi::wasi::fdflags::SYNC;

/// The handle of a preopened directory: VFS path `path`, reported to the guest as `guest`.
pub(crate) fn preopen(path: String, guest: String) -> Entry {
    let dir = Dir {
        path,
        preopen: Some(guest),
    };
    Entry {
        object: Object::Dir(Rc::new(dir)),
        rights: Rights::ALL,
        fs: rights::PREOPEN,
    }
}

fn wasi_filetype(kind: Option<FileType>) -> u8 {
    match kind {
        Some(FileType::Directory) => filetype::DIRECTORY,
        Some(FileType::Regular) => filetype::REGULAR_FILE,
        Some(FileType::Symlink) => filetype::SYMBOLIC_LINK,
        None => filetype::UNKNOWN,
    }
}

/// The times `fd_filestat_set_times`/`path_filestat_set_times` set: each a time, "now"
/// (`now`) or unchanged (`None`).
///
/// # Errors
/// `INVAL` for unknown flags, or a time given both as a value and as now.
fn times(fst: u32, atim: u64, mtim: u64, now: u64) -> SysResult<(Option<u64>, Option<u64>)> {
    if fst & !0xf != 0
        || (fst & FSTFLAGS_ATIM != 0 && fst & FSTFLAGS_ATIM_NOW != 0)
        || (fst & FSTFLAGS_MTIM != 0 && fst & FSTFLAGS_MTIM_NOW != 0)
    {
        return Err(Errno::INVAL);
    }
    let pick = |value_flag: u32, now_flag: u32, value: u64| {
        if fst & now_flag != 0 {
            Some(now)
        } else if fst & value_flag != 0 {
            Some(value)
        } else {
            None
        }
    };
    Ok((
        pick(FSTFLAGS_ATIM, FSTFLAGS_ATIM_NOW, atim),
        pick(FSTFLAGS_MTIM, FSTFLAGS_MTIM_NOW, mtim),
    ))
}

/// The `d_next` cookie of a directory entry: `.` is 1, `..` is 2, any other a hash of its
/// name (at least 3). `fd_readdir` lists entries in cookie order and resumes after the
/// cookie it is given, so a cookie keeps its place when entries are added or removed
/// between calls (two names whose 62-bit hashes collide would share one place: the second
/// is skipped when a call resumes between them).
fn dir_cookie(name: &str) -> u64 {
    match name {
        "." => 1,
        ".." => 2,
        _ => (crate::vfs::name_hash(name) >> 2) + 3,
    }
}

/// The 64-byte `filestat` layout.
fn filestat_bytes(st: &Stat) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&st.dev.to_le_bytes());
    b[8..16].copy_from_slice(&st.ino.to_le_bytes());
    b[16] = wasi_filetype(st.kind);
    b[24..32].copy_from_slice(&st.nlink.to_le_bytes());
    b[32..40].copy_from_slice(&st.size.to_le_bytes());
    b[40..48].copy_from_slice(&st.atime_ns.to_le_bytes());
    b[48..56].copy_from_slice(&st.mtime_ns.to_le_bytes());
    b[56..64].copy_from_slice(&st.ctime_ns.to_le_bytes());
    b
}

/// `args_get`/`environ_get`: pointers to each string into `list`, the strings into `buf`.
fn strings_get(mem: &mut UserMem<'_>, strings: &Strings, list: u32, buf: u32) -> SysOut {
    mem.check(list, strings.count.checked_mul(4).ok_or(Errno::FAULT)?)?;
    let len = u32::try_from(strings.bytes.len()).map_err(|_| Errno::OVERFLOW)?;
    mem.check(buf, len)?;
    let mut at = buf;
    for (i, s) in strings.bytes.split_inclusive(|&b| b == 0).enumerate() {
        mem.write_u32(list + 4 * i as u32, at)?;
        mem.write(at, s)?;
        at += s.len() as u32;
    }
    Ok(())
}

/// `args_sizes_get`/`environ_sizes_get`: the number of strings and their total size.
fn strings_sizes_get(mem: &mut UserMem<'_>, strings: &Strings, count: u32, size: u32) -> SysOut {
    mem.check(count, 4)?;
    mem.check(size, 4)?;
    mem.write_u32(count, strings.count)?;
    mem.write_u32(size, strings.bytes.len() as u32)?;
    Ok(())
}

impl Sys<'_> {
    /// The entry `fd` names, checked for the WASI rights `needed`.
    fn entry(&self, fd: u32, needed: u64) -> SysResult<&Entry> {
        let e = self.proc.handles.get(fd)?;
        rights::require(e, needed)?;
        Ok(e)
    }

    /// The object `fd` names, checked for the WASI rights `needed`.
    fn object(&self, fd: u32, needed: u64) -> SysResult<Object> {
        Ok(self.entry(fd, needed)?.object.clone())
    }

    pub(crate) fn args_get(&mut self, argv: u32, buf: u32) -> SysOut {
        strings_get(&mut self.mem, &self.proc.args, argv, buf)
    }

    pub(crate) fn args_sizes_get(&mut self, count: u32, size: u32) -> SysOut {
        strings_sizes_get(&mut self.mem, &self.proc.args, count, size)
    }

    pub(crate) fn environ_get(&mut self, environ: u32, buf: u32) -> SysOut {
        strings_get(&mut self.mem, &self.proc.env, environ, buf)
    }

    pub(crate) fn environ_sizes_get(&mut self, count: u32, size: u32) -> SysOut {
        strings_sizes_get(&mut self.mem, &self.proc.env, count, size)
    }

    fn clock_now(&mut self, id: u32) -> SysResult<u64> {
        match id {
            CLOCK_REALTIME => Ok(self.k.platform.wall_clock_ns()),
            CLOCK_MONOTONIC => Ok(self.k.platform.monotonic_ns()),
            // The time the process itself has run: its finished quanta and the current
            // one so far (waiting in a system call or for the processor does not count).
            CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => {
                let now = self.k.platform.monotonic_ns();
                Ok(self.proc.cpu_ns + now.saturating_sub(self.proc.quantum_start_ns))
            }
            _ => Err(Errno::INVAL),
        }
    }

    pub(crate) fn clock_res_get(&mut self, id: u32, out: u32) -> SysOut {
        self.clock_now(id)?;
        self.mem.write_u64(out, 1_000)?;
        Ok(())
    }

    pub(crate) fn clock_time_get(&mut self, id: u32, _precision: u64, out: u32) -> SysOut {
        self.mem.check(out, 8)?;
        let t = self.clock_now(id)?;
        self.mem.write_u64(out, t)?;
        Ok(())
    }

    pub(crate) fn random_get(&mut self, buf: u32, len: u32) -> SysOut {
        let bytes = self.mem.bytes_mut(buf, len)?;
        self.k.platform.random(bytes);
        Ok(())
    }

    pub(crate) fn sched_yield(&mut self) -> SysOut {
        Err(Stop::Yield)
    }

    pub(crate) fn proc_raise(&mut self, _signal: u32) -> SysOut {
        Err(Errno::NOSYS.into())
    }

    pub(crate) fn fd_close(&mut self, fd: u32) -> SysOut {
        let entry = self.proc.handles.remove(fd)?;
        drop(entry);
        Ok(())
    }

    pub(crate) fn fd_sync(&mut self, fd: u32) -> SysOut {
        self.sync_fd(fd, rights::FD_SYNC)
    }

    pub(crate) fn fd_datasync(&mut self, fd: u32) -> SysOut {
        self.sync_fd(fd, rights::FD_DATASYNC)
    }

    /// `fd_sync` and `fd_datasync` (`right` tells which).
    fn sync_fd(&mut self, fd: u32, right: u64) -> SysOut {
        match self.object(fd, right)? {
            Object::File(f) => {
                let f = f.borrow();
                self.k.vfs.sync(&mut *self.k.platform, f.node())?;
                Ok(())
            }
            Object::Dir(_) => Ok(()),
            Object::Console(_) | Object::Channel(_) | Object::Process(_) => {
                Err(Errno::INVAL.into())
            }
        }
    }

    pub(crate) fn fd_advise(&mut self, fd: u32, _offset: u64, _len: u64, advice: u32) -> SysOut {
        match self.object(fd, rights::FD_ADVISE)? {
            Object::File(_) if advice <= 5 => Ok(()),
            Object::File(_) | Object::Dir(_) | Object::Process(_) => Err(Errno::INVAL.into()),
            Object::Console(_) | Object::Channel(_) => Err(Errno::SPIPE.into()),
        }
    }

    pub(crate) fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> SysOut {
        let f = match self.object(fd, rights::FD_ALLOCATE)? {
            Object::File(f) => f,
            Object::Dir(_) => return Err(Errno::ISDIR.into()),
            Object::Process(_) => return Err(Errno::BADF.into()),
            Object::Console(_) | Object::Channel(_) => return Err(Errno::SPIPE.into()),
        };
        let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
        if end > i64::MAX as u64 {
            return Err(Errno::FBIG.into());
        }
        let f = f.borrow();
        let size = self.k.vfs.stat(&mut *self.k.platform, f.node())?.size;
        if end > size {
            self.k.vfs.set_size(&mut *self.k.platform, f.node(), end)?;
        }
        Ok(())
    }

    pub(crate) fn fd_fdstat_get(&mut self, fd: u32, out: u32) -> SysOut {
        self.mem.check(out, 24)?;
        let entry = self.proc.handles.get(fd)?;
        // Streams report what they can do, narrowed by what the holder may.
        let stream = |can: u64| (can & entry.fs.base, can & entry.fs.inheriting);
        let (filetype, flags, (base, inheriting)) = match &entry.object {
            Object::Console(end) => {
                let terminal = match end {
                    ConsoleEnd::In => self.k.platform.console_is_terminal(),
                    _ => self.k.platform.console_output_is_terminal(),
                };
                // wasi-libc's isatty: a character device without seek or tell rights.
                let t = if terminal {
                    filetype::CHARACTER_DEVICE
                } else {
                    filetype::UNKNOWN
                };
                let can = if *end == ConsoleEnd::In {
                    rights::FD_READ
                } else {
                    rights::FD_WRITE
                };
                (t, 0u16, stream(can | rights::POLL_FD_READWRITE))
            }
            Object::Channel(_) => (
                filetype::SOCKET_STREAM,
                0,
                stream(rights::FD_READ | rights::FD_WRITE | rights::POLL_FD_READWRITE),
            ),
            Object::File(f) => {
                let f = f.borrow();
                let mut flags = 0;
                if f.append {
                    flags |= FDFLAGS_APPEND as u16;
                }
                if f.nonblock {
                    flags |= FDFLAGS_NONBLOCK as u16;
                }
                (
                    filetype::REGULAR_FILE,
                    flags,
                    (entry.fs.base, entry.fs.inheriting),
                )
            }
            Object::Dir(_) => (filetype::DIRECTORY, 0, (entry.fs.base, entry.fs.inheriting)),
            Object::Process(_) => (filetype::UNKNOWN, 0, (0, 0)),
        };
        let mut b = [0u8; 24];
        b[0] = filetype;
        b[2..4].copy_from_slice(&flags.to_le_bytes());
        b[8..16].copy_from_slice(&base.to_le_bytes());
        b[16..24].copy_from_slice(&inheriting.to_le_bytes());
        self.mem.write(out, &b)?;
        Ok(())
    }

    pub(crate) fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> SysOut {
        if flags & FDFLAGS_SYNCS != 0 || flags & !(FDFLAGS_APPEND | FDFLAGS_NONBLOCK) != 0 {
            return Err(Errno::INVAL.into());
        }
        match self.object(fd, rights::FD_FDSTAT_SET_FLAGS)? {
            Object::File(f) => {
                let mut f = f.borrow_mut();
                f.append = flags & FDFLAGS_APPEND != 0;
                f.nonblock = flags & FDFLAGS_NONBLOCK != 0;
                Ok(())
            }
            Object::Dir(_) if flags & FDFLAGS_APPEND == 0 => Ok(()),
            _ if flags == 0 => Ok(()),
            // Non-blocking streams (reads and writes that fail with AGAIN instead of
            // waiting) are not offered.
            _ => Err(Errno::NOTSUP.into()),
        }
    }

    pub(crate) fn fd_fdstat_set_rights(&mut self, fd: u32, base: u64, inheriting: u64) -> SysOut {
        let entry = self.proc.handles.get_mut(fd)?;
        rights::shrink(entry, base, inheriting)?;
        Ok(())
    }

    fn stat_object(&mut self, object: &Object) -> SysResult<Stat> {
        match object {
            Object::File(f) => self.k.vfs.stat(&mut *self.k.platform, f.borrow().node()),
            Object::Dir(d) => self.k.vfs.stat_path(&mut *self.k.platform, &d.path),
            Object::Console(_) | Object::Channel(_) | Object::Process(_) => Ok(Stat {
                nlink: 1,
                ..Stat::default()
            }),
        }
    }

    pub(crate) fn fd_filestat_get(&mut self, fd: u32, out: u32) -> SysOut {
        self.mem.check(out, 64)?;
        let entry = self.proc.handles.get(fd)?;
        // Streams have a status whatever their rights; files and directories need the right.
        if !matches!(entry.object, Object::Console(_) | Object::Channel(_)) {
            rights::require(entry, rights::FD_FILESTAT_GET)?;
        }
        let object = entry.object.clone();
        let st = self.stat_object(&object)?;
        let mut b = filestat_bytes(&st);
        match object {
            Object::Console(_) => b[16] = filetype::CHARACTER_DEVICE,
            Object::Channel(_) => b[16] = filetype::SOCKET_STREAM,
            _ => {}
        }
        self.mem.write(out, &b)?;
        Ok(())
    }

    pub(crate) fn fd_filestat_set_size(&mut self, fd: u32, size: u64) -> SysOut {
        match self.object(fd, rights::FD_FILESTAT_SET_SIZE)? {
            Object::File(f) => {
                if size > i64::MAX as u64 {
                    return Err(Errno::FBIG.into());
                }
                let f = f.borrow();
                self.k.vfs.set_size(&mut *self.k.platform, f.node(), size)?;
                Ok(())
            }
            Object::Dir(_) => Err(Errno::ISDIR.into()),
            _ => Err(Errno::INVAL.into()),
        }
    }

    pub(crate) fn fd_filestat_set_times(
        &mut self,
        fd: u32,
        atim: u64,
        mtim: u64,
        fst: u32,
    ) -> SysOut {
        let (atime, mtime) = times(fst, atim, mtim, self.k.platform.wall_clock_ns())?;
        match self.object(fd, rights::FD_FILESTAT_SET_TIMES)? {
            Object::File(f) => {
                let f = f.borrow();
                self.k
                    .vfs
                    .set_times(&mut *self.k.platform, f.node(), atime, mtime)?;
            }
            Object::Dir(d) => {
                self.k
                    .vfs
                    .set_times_path(&mut *self.k.platform, &d.path, atime, mtime)?;
            }
            Object::Console(_) | Object::Channel(_) | Object::Process(_) => {
                return Err(Errno::BADF.into());
            }
        }
        Ok(())
    }

    /// Reads into the iovecs at `iovs` from `object`; `at` is the file position for
    /// positioned reads. Returns the byte count.
    fn read_into(
        &mut self,
        object: &Object,
        iovs: u32,
        count: u32,
        at: Option<u64>,
    ) -> Result<u64, Stop> {
        self.mem.iovecs_len(iovs, count)?;
        let mut file = match object {
            Object::File(f) => Some(f.borrow_mut()),
            Object::Channel(_) | Object::Console(ConsoleEnd::In) if at.is_some() => {
                return Err(Errno::SPIPE.into());
            }
            Object::Channel(_) | Object::Console(ConsoleEnd::In) => None,
            Object::Console(_) | Object::Process(_) => return Err(Errno::BADF.into()),
            Object::Dir(_) => return Err(Errno::ISDIR.into()),
        };
        let mut pos = at.or(file.as_ref().map(|f| f.offset)).unwrap_or(0);
        let mut total = 0u64;
        for i in 0..count {
            let (buf, len) = self.mem.iovec(iovs, i)?;
            let dst = self.mem.bytes_mut(buf, len)?;
            let got = match (object, &file) {
                (_, Some(f)) => self.k.vfs.read(&mut *self.k.platform, f.node(), pos, dst),
                (Object::Channel(end), None) => end.read_stream(dst),
                (_, None) => self.k.console_read(dst),
            };
            // A stream with nothing to read: a read that got something returns it, one
            // that got nothing waits.
            let n = match got {
                Ok(n) => n,
                Err(Errno::AGAIN) if total > 0 => break,
                Err(Errno::AGAIN) => {
                    return Err(Stop::Wait(match object {
                        Object::Channel(end) => Wait::on(end.key()),
                        _ => Wait {
                            console: true,
                            ..Wait::default()
                        },
                    }));
                }
                Err(e) => return Err(e.into()),
            };
            pos += n as u64;
            total += n as u64;
            if n < len as usize {
                break;
            }
        }
        if let Some(f) = &mut file
            && at.is_none()
        {
            f.offset = pos;
        }
        Ok(total)
    }

    /// Writes the iovecs at `iovs` to `object`. Returns the byte count.
    fn write_from(
        &mut self,
        object: &Object,
        iovs: u32,
        count: u32,
        at: Option<u64>,
    ) -> Result<u64, Stop> {
        let len = self.mem.iovecs_len(iovs, count)?;
        let mut total = 0u64;
        match object {
            Object::Console(end @ (ConsoleEnd::Out | ConsoleEnd::Err)) => {
                if at.is_some() {
                    return Err(Errno::SPIPE.into());
                }
                let stream = if *end == ConsoleEnd::Out {
                    ConsoleStream::Out
                } else {
                    ConsoleStream::Err
                };
                for i in 0..count {
                    let (buf, len) = self.mem.iovec(iovs, i)?;
                    self.k
                        .platform
                        .console_write(stream, self.mem.bytes(buf, len)?);
                    total += u64::from(len);
                }
            }
            Object::Channel(end) => {
                if at.is_some() {
                    return Err(Errno::SPIPE.into());
                }
                // One message of at most MAX_MESSAGE bytes: a short write beyond that.
                let take = (len as usize).min(MAX_MESSAGE);
                let mut data = Vec::with_capacity(take);
                for i in 0..count {
                    let (buf, len) = self.mem.iovec(iovs, i)?;
                    let room = take - data.len();
                    let src = self.mem.bytes(buf, len)?;
                    data.extend_from_slice(&src[..src.len().min(room)]);
                    if data.len() == take {
                        break;
                    }
                }
                total = data.len() as u64;
                match end.send(data, Vec::new()) {
                    Ok(()) => {}
                    Err((Errno::AGAIN, _)) => return Err(Stop::Wait(Wait::on(end.key()))),
                    Err((e, _)) => return Err(e.into()),
                }
            }
            Object::File(f) => {
                let mut f = f.borrow_mut();
                let mut pos = match at {
                    Some(p) => p,
                    None if f.append => self.k.vfs.stat(&mut *self.k.platform, f.node())?.size,
                    None => f.offset,
                };
                for i in 0..count {
                    let (buf, len) = self.mem.iovec(iovs, i)?;
                    let src = self.mem.bytes(buf, len)?;
                    let n = self
                        .k
                        .vfs
                        .write(&mut *self.k.platform, f.node(), pos, src)?;
                    pos += n as u64;
                    total += n as u64;
                    if n < len as usize {
                        break;
                    }
                }
                if at.is_none() {
                    f.offset = pos;
                }
            }
            Object::Console(ConsoleEnd::In) | Object::Process(_) => return Err(Errno::BADF.into()),
            Object::Dir(_) => return Err(Errno::ISDIR.into()),
        }
        Ok(total)
    }

    pub(crate) fn fd_read(&mut self, fd: u32, iovs: u32, count: u32, out: u32) -> SysOut {
        self.transfer(Rights::READ, fd, iovs, count, None, out)
    }

    pub(crate) fn fd_pread(&mut self, fd: u32, iovs: u32, count: u32, at: u64, out: u32) -> SysOut {
        self.transfer(Rights::READ, fd, iovs, count, Some(at), out)
    }

    pub(crate) fn fd_write(&mut self, fd: u32, iovs: u32, count: u32, out: u32) -> SysOut {
        self.transfer(Rights::WRITE, fd, iovs, count, None, out)
    }

    pub(crate) fn fd_pwrite(
        &mut self,
        fd: u32,
        iovs: u32,
        count: u32,
        at: u64,
        out: u32,
    ) -> SysOut {
        self.transfer(Rights::WRITE, fd, iovs, count, Some(at), out)
    }

    /// `fd_read`/`fd_write` (`right` READ or WRITE), positioned at `at` for `fd_pread` and
    /// `fd_pwrite` (files only); the byte count goes to `out`.
    fn transfer(
        &mut self,
        right: Rights,
        fd: u32,
        iovs: u32,
        count: u32,
        at: Option<u64>,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 4)?;
        let mut needed = if right == Rights::READ {
            rights::FD_READ
        } else {
            rights::FD_WRITE
        };
        if at.is_some() {
            needed |= rights::FD_SEEK;
        }
        let entry = self.entry(fd, needed)?;
        let object = entry.require(right)?.clone();
        if at.is_some() && !matches!(object, Object::File(_) | Object::Dir(_)) {
            return Err(Errno::SPIPE.into());
        }
        let n = if right == Rights::READ {
            self.read_into(&object, iovs, count, at)?
        } else {
            self.write_from(&object, iovs, count, at)?
        };
        self.mem.write_u32(out, n as u32)?;
        Ok(())
    }

    pub(crate) fn fd_seek(&mut self, fd: u32, offset: u64, whence: u32, out: u32) -> SysOut {
        self.mem.check(out, 8)?;
        // Asking where the position is needs only the right to tell.
        let needed = if whence == 1 && offset == 0 {
            rights::FD_TELL
        } else {
            rights::FD_SEEK
        };
        let f = match self.object(fd, needed)? {
            Object::File(f) => f,
            Object::Dir(_) => return Err(Errno::ISDIR.into()),
            Object::Process(_) => return Err(Errno::BADF.into()),
            Object::Console(_) | Object::Channel(_) => return Err(Errno::SPIPE.into()),
        };
        let mut f = f.borrow_mut();
        let base = match whence {
            0 => 0,
            1 => f.offset,
            2 => self.k.vfs.stat(&mut *self.k.platform, f.node())?.size,
            _ => return Err(Errno::INVAL.into()),
        };
        let new = base.checked_add_signed(offset as i64).ok_or(Errno::INVAL)?;
        if new > i64::MAX as u64 {
            return Err(Errno::INVAL.into());
        }
        f.offset = new;
        self.mem.write_u64(out, new)?;
        Ok(())
    }

    pub(crate) fn fd_tell(&mut self, fd: u32, out: u32) -> SysOut {
        self.mem.check(out, 8)?;
        let f = match self.object(fd, rights::FD_TELL)? {
            Object::File(f) => f,
            Object::Dir(_) => return Err(Errno::ISDIR.into()),
            Object::Process(_) => return Err(Errno::BADF.into()),
            Object::Console(_) | Object::Channel(_) => return Err(Errno::SPIPE.into()),
        };
        let offset = f.borrow().offset;
        self.mem.write_u64(out, offset)?;
        Ok(())
    }

    /// The name directory `fd` is preopened under (`BADF` if it is not a preopen).
    fn preopen_name(&self, fd: u32) -> SysResult<Rc<Dir>> {
        match &self.proc.handles.get(fd)?.object {
            Object::Dir(d) if d.preopen.is_some() => Ok(d.clone()),
            _ => Err(Errno::BADF),
        }
    }

    pub(crate) fn fd_prestat_get(&mut self, fd: u32, out: u32) -> SysOut {
        self.mem.check(out, 8)?;
        let d = self.preopen_name(fd)?;
        let name = d.preopen.as_deref().unwrap_or_default();
        let mut b = [0u8; 8];
        b[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
        self.mem.write(out, &b)?;
        Ok(())
    }

    pub(crate) fn fd_prestat_dir_name(&mut self, fd: u32, buf: u32, len: u32) -> SysOut {
        let d = self.preopen_name(fd)?;
        let name = d.preopen.as_deref().unwrap_or_default();
        if (len as usize) < name.len() {
            return Err(Errno::NAMETOOLONG.into());
        }
        self.mem.write(buf, name.as_bytes())?;
        Ok(())
    }

    pub(crate) fn fd_readdir(
        &mut self,
        fd: u32,
        buf: u32,
        len: u32,
        cookie: u64,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 4)?;
        self.mem.check(buf, len)?;
        let dir = match self.object(fd, rights::FD_READDIR)? {
            Object::Dir(d) => d,
            _ => return Err(Errno::NOTDIR.into()),
        };
        let how = crate::vfs::OpenOptions {
            read: true,
            directory: true,
            ..Default::default()
        };
        let node = self.k.vfs.open(&mut *self.k.platform, &dir.path, &how)?;
        let entries = self.k.vfs.read_dir(&mut *self.k.platform, &node);
        self.k.vfs.close(&mut *self.k.platform, node);
        let mut entries: Vec<(u64, crate::vfs::DirEntry)> = entries?
            .into_iter()
            .map(|e| (dir_cookie(&e.name), e))
            .collect();
        entries.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
        let mut used = 0u32;
        for (next, e) in entries.iter().filter(|(c, _)| *c > cookie) {
            let mut rec = Vec::with_capacity(24 + e.name.len());
            rec.extend_from_slice(&next.to_le_bytes());
            rec.extend_from_slice(&e.ino.to_le_bytes());
            rec.extend_from_slice(&(e.name.len() as u32).to_le_bytes());
            rec.push(wasi_filetype(Some(e.kind)));
            rec.extend_from_slice(&[0, 0, 0]);
            rec.extend_from_slice(e.name.as_bytes());
            // A record that does not fit is cut off; a full buffer tells the caller to
            // call again with a bigger one.
            let room = (len - used) as usize;
            let take = rec.len().min(room);
            self.mem.write(buf + used, &rec[..take])?;
            used += take as u32;
            if used == len {
                break;
            }
        }
        self.mem.write_u32(out, used)?;
        Ok(())
    }

    pub(crate) fn fd_renumber(&mut self, fd: u32, to: u32) -> SysOut {
        self.proc.handles.renumber(fd, to)?;
        Ok(())
    }

    /// The `sock_*` calls: weft has no sockets (channels are its streams), so each fails
    /// with `NOTSOCK` on any handle, `BADF` on none.
    fn not_a_socket(&self, fd: u32) -> SysOut {
        self.proc.handles.get(fd)?;
        Err(Errno::NOTSOCK.into())
    }

    pub(crate) fn sock_accept(&mut self, fd: u32, _flags: u32, _out: u32) -> SysOut {
        self.not_a_socket(fd)
    }

    pub(crate) fn sock_recv(
        &mut self,
        fd: u32,
        _i: u32,
        _c: u32,
        _f: u32,
        _o: u32,
        _of: u32,
    ) -> SysOut {
        self.not_a_socket(fd)
    }

    pub(crate) fn sock_send(&mut self, fd: u32, _i: u32, _c: u32, _f: u32, _o: u32) -> SysOut {
        self.not_a_socket(fd)
    }

    pub(crate) fn sock_shutdown(&mut self, fd: u32, _how: u32) -> SysOut {
        self.not_a_socket(fd)
    }

    /// `poll_oneoff`: waits until a clock subscription expires or an fd subscription is
    /// ready. `start` is the monotonic time of the first attempt (relative timeouts count
    /// from it).
    pub(crate) fn poll_oneoff(
        &mut self,
        subs: u32,
        events: u32,
        count: u32,
        out: u32,
        start: &mut Option<u64>,
    ) -> SysOut {
        if count == 0 {
            return Err(Errno::INVAL.into());
        }
        self.mem
            .check(subs, count.checked_mul(48).ok_or(Errno::FAULT)?)?;
        self.mem
            .check(events, count.checked_mul(32).ok_or(Errno::FAULT)?)?;
        self.mem.check(out, 4)?;
        let now = self.k.platform.monotonic_ns();
        let start = *start.get_or_insert(now);
        let mut ready: Vec<[u8; 32]> = Vec::new();
        let mut wait = Wait::default();
        for i in 0..count {
            let s = subs + i * 48;
            let userdata = self.mem.read_u64(s)?;
            let tag = self.mem.bytes(s + 8, 1)?[0];
            let mut event = [0u8; 32];
            event[0..8].copy_from_slice(&userdata.to_le_bytes());
            event[10] = tag;
            match tag {
                0 => {
                    let id = self.mem.read_u32(s + 16)?;
                    let timeout = self.mem.read_u64(s + 24)?;
                    let flags =
                        u16::from_le_bytes(self.mem.bytes(s + 40, 2)?.try_into().unwrap_or([0; 2]));
                    let deadline = if flags & 1 != 0 {
                        match id {
                            CLOCK_MONOTONIC => timeout,
                            CLOCK_REALTIME => {
                                let wall = self.k.platform.wall_clock_ns();
                                now.saturating_add(timeout.saturating_sub(wall))
                            }
                            _ => return Err(Errno::INVAL.into()),
                        }
                    } else {
                        if !matches!(id, CLOCK_MONOTONIC | CLOCK_REALTIME) {
                            return Err(Errno::INVAL.into());
                        }
                        start.saturating_add(timeout)
                    };
                    if now >= deadline {
                        ready.push(event);
                    } else {
                        wait.deadline = Some(wait.deadline.map_or(deadline, |d| d.min(deadline)));
                    }
                }
                1 | 2 => {
                    let fd = self.mem.read_u32(s + 16)?;
                    let object = match self.proc.handles.get(fd) {
                        Ok(e) => Some(e.object.clone()),
                        Err(e) => {
                            event[8..10].copy_from_slice(&e.0.to_le_bytes());
                            ready.push(event);
                            None
                        }
                    };
                    let Some(object) = object else { continue };
                    let (is_ready, nbytes, hangup) = match (&object, tag) {
                        (Object::Channel(end), 1) => {
                            let r = end.readable();
                            if !r {
                                wait.keys.push(end.key());
                            }
                            (r, end.available() as u64, r && end.available() == 0)
                        }
                        (Object::Channel(end), _) => {
                            let r = end.writable();
                            if !r {
                                wait.keys.push(end.key());
                            }
                            (r, 0, false)
                        }
                        (Object::Console(ConsoleEnd::In), 1) => {
                            let r = self.k.console_ready();
                            let n = self.k.console_in.len() as u64;
                            if !r {
                                wait.console = true;
                            }
                            (r, n, r && n == 0)
                        }
                        _ => (true, 0, false),
                    };
                    if is_ready {
                        event[16..24].copy_from_slice(&nbytes.to_le_bytes());
                        if hangup {
                            event[24] = 1;
                        }
                        ready.push(event);
                    }
                }
                _ => {
                    event[8..10].copy_from_slice(&Errno::INVAL.0.to_le_bytes());
                    ready.push(event);
                }
            }
        }
        if ready.is_empty() {
            return Err(Stop::Wait(wait));
        }
        for (i, e) in ready.iter().enumerate() {
            self.mem.write(events + 32 * i as u32, e)?;
        }
        self.mem.write_u32(out, ready.len() as u32)?;
        Ok(())
    }
}
