//! WASI preview1 (`wasi_snapshot_preview1`) system calls.
//!
//! File descriptors are handles (see [`crate::handle`]): stdio and preopened directories
//! are the first handles of a process, and channel ends work with `fd_read`/`fd_write`
//! as byte streams. Calls weft does not support return `ENOSYS`.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::errno::{Errno, SysResult};
use crate::handle::{Entry, Rights};
use crate::object::{ConsoleEnd, Dir, MAX_MESSAGE, Object, OpenFile};
use crate::platform::ConsoleStream;
use crate::sys::{Stop, Strings, Sys, SysOut, Wait};
use crate::uaccess::UserMem;
use crate::vfs::{FileType, OpenOptions, Stat, path};

/// WASI `filetype` values.
mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_STREAM: u8 = 6;
}

/// WASI rights bits used here.
mod right {
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    /// Every right preview1 defines.
    pub const ALL: u64 = (1 << 30) - 1;
}

const OFLAGS_CREAT: u32 = 1;
const OFLAGS_DIRECTORY: u32 = 2;
const OFLAGS_EXCL: u32 = 4;
const OFLAGS_TRUNC: u32 = 8;
const FDFLAGS_APPEND: u32 = 1;

const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const CLOCK_PROCESS_CPUTIME: u32 = 2;
const CLOCK_THREAD_CPUTIME: u32 = 3;

fn wasi_filetype(kind: Option<FileType>) -> u8 {
    match kind {
        Some(FileType::Directory) => filetype::DIRECTORY,
        Some(FileType::Regular) => filetype::REGULAR_FILE,
        None => filetype::UNKNOWN,
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
    fn object(&self, fd: u32, needed: Rights) -> SysResult<Object> {
        Ok(self.proc.handles.get(fd)?.require(needed)?.clone())
    }

    fn dir(&self, fd: u32) -> SysResult<(Rc<Dir>, Rights)> {
        let e = self.proc.handles.get(fd)?;
        match &e.object {
            Object::Dir(d) => Ok((d.clone(), e.rights)),
            _ => Err(Errno::NOTDIR),
        }
    }

    /// The absolute VFS path of `path` (guest memory) beneath directory `fd`.
    fn path_at(&self, fd: u32, ptr: u32, len: u32, needed: Rights) -> SysResult<String> {
        let (dir, rights) = self.dir(fd)?;
        if !rights.has(needed) {
            return Err(Errno::NOTCAPABLE);
        }
        let rel = self.mem.str(ptr, len)?;
        path::join_within(&dir.path, rel)
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
            // Processes share one host thread; their CPU time is approximated by the time
            // since they started.
            CLOCK_PROCESS_CPUTIME | CLOCK_THREAD_CPUTIME => {
                let now = self.k.platform.monotonic_ns();
                let start = *self.proc.started_ns.get_or_insert(now);
                Ok(now - start)
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
        self.proc.handles.get(fd)?;
        Ok(())
    }

    pub(crate) fn fd_advise(&mut self, fd: u32, _offset: u64, _len: u64, advice: u32) -> SysOut {
        match self.object(fd, Rights(0))? {
            Object::File(_) if advice <= 5 => Ok(()),
            Object::File(_) => Err(Errno::INVAL.into()),
            _ => Err(Errno::SPIPE.into()),
        }
    }

    pub(crate) fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> SysOut {
        let Object::File(f) = self.object(fd, Rights::WRITE)? else {
            return Err(Errno::BADF.into());
        };
        let end = offset.checked_add(len).ok_or(Errno::FBIG)?;
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
        let (filetype, flags, rights) = match &entry.object {
            Object::Console(ConsoleEnd::In) => {
                let t = if self.k.platform.console_is_terminal() {
                    filetype::CHARACTER_DEVICE
                } else {
                    filetype::UNKNOWN
                };
                (t, 0u16, right::FD_READ)
            }
            Object::Console(_) => {
                let t = if self.k.platform.console_output_is_terminal() {
                    filetype::CHARACTER_DEVICE
                } else {
                    filetype::UNKNOWN
                };
                (t, 0, right::FD_WRITE)
            }
            Object::Channel(_) => (filetype::SOCKET_STREAM, 0, right::FD_READ | right::FD_WRITE),
            Object::File(f) => {
                let mut r = 0;
                if entry.rights.has(Rights::READ) {
                    r |= right::ALL & !(right::FD_WRITE | right::FD_ALLOCATE);
                }
                if entry.rights.has(Rights::WRITE) {
                    r |= right::FD_WRITE | right::FD_ALLOCATE | right::FD_FILESTAT_SET_SIZE;
                }
                (filetype::REGULAR_FILE, u16::from(f.borrow().append), r)
            }
            Object::Dir(_) => (filetype::DIRECTORY, 0, right::ALL),
            Object::Process(_) => (filetype::UNKNOWN, 0, 0),
        };
        let mut b = [0u8; 24];
        b[0] = filetype;
        b[2..4].copy_from_slice(&flags.to_le_bytes());
        b[8..16].copy_from_slice(&rights.to_le_bytes());
        b[16..24].copy_from_slice(&right::ALL.to_le_bytes());
        self.mem.write(out, &b)?;
        Ok(())
    }

    pub(crate) fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> SysOut {
        match self.object(fd, Rights(0))? {
            Object::File(f) if flags & !FDFLAGS_APPEND == 0 => {
                f.borrow_mut().append = flags & FDFLAGS_APPEND != 0;
                Ok(())
            }
            _ if flags == 0 => Ok(()),
            _ => Err(Errno::NOTSUP.into()),
        }
    }

    pub(crate) fn fd_fdstat_set_rights(&mut self, fd: u32, _base: u64, _inh: u64) -> SysOut {
        self.proc.handles.get(fd)?;
        Err(Errno::NOSYS.into())
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
        let object = self.object(fd, Rights(0))?;
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
        match self.object(fd, Rights::WRITE)? {
            Object::File(f) => {
                let f = f.borrow();
                self.k.vfs.set_size(&mut *self.k.platform, f.node(), size)?;
                Ok(())
            }
            Object::Dir(_) => Err(Errno::ISDIR.into()),
            _ => Err(Errno::INVAL.into()),
        }
    }

    pub(crate) fn fd_filestat_set_times(&mut self, fd: u32, _a: u64, _m: u64, _f: u32) -> SysOut {
        self.proc.handles.get(fd)?;
        Err(Errno::NOSYS.into())
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
        let object = self.object(fd, right)?;
        if at.is_some() && !matches!(object, Object::File(_)) {
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
        let Object::File(f) = self.object(fd, Rights(0))? else {
            return Err(Errno::SPIPE.into());
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
        let Object::File(f) = self.object(fd, Rights(0))? else {
            return Err(Errno::SPIPE.into());
        };
        let offset = f.borrow().offset;
        self.mem.write_u64(out, offset)?;
        Ok(())
    }

    pub(crate) fn fd_prestat_get(&mut self, fd: u32, out: u32) -> SysOut {
        self.mem.check(out, 8)?;
        let Object::Dir(d) = self.object(fd, Rights(0))? else {
            return Err(Errno::BADF.into());
        };
        let Some(name) = &d.preopen else {
            return Err(Errno::BADF.into());
        };
        let mut b = [0u8; 8];
        b[4..8].copy_from_slice(&(name.len() as u32).to_le_bytes());
        self.mem.write(out, &b)?;
        Ok(())
    }

    pub(crate) fn fd_prestat_dir_name(&mut self, fd: u32, buf: u32, len: u32) -> SysOut {
        let Object::Dir(d) = self.object(fd, Rights(0))? else {
            return Err(Errno::BADF.into());
        };
        let Some(name) = &d.preopen else {
            return Err(Errno::BADF.into());
        };
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
        let (dir, rights) = self.dir(fd).map_err(|_| Errno::BADF)?;
        if !rights.has(Rights::READ) {
            return Err(Errno::NOTCAPABLE.into());
        }
        let how = OpenOptions {
            read: true,
            directory: true,
            ..OpenOptions::default()
        };
        let node = self.k.vfs.open(&mut *self.k.platform, &dir.path, &how)?;
        let entries = self.k.vfs.read_dir(&mut *self.k.platform, &node);
        self.k.vfs.close(&mut *self.k.platform, node);
        let entries = entries?;
        let mut used = 0u32;
        let skip = usize::try_from(cookie).unwrap_or(usize::MAX);
        for (i, e) in entries.iter().enumerate().skip(skip) {
            let mut rec = Vec::with_capacity(24 + e.name.len());
            rec.extend_from_slice(&(i as u64 + 1).to_le_bytes());
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

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_open(
        &mut self,
        fd: u32,
        _dirflags: u32,
        path_ptr: u32,
        path_len: u32,
        oflags: u32,
        base: u64,
        _inheriting: u64,
        fdflags: u32,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 4)?;
        let (dir, dir_rights) = self.dir(fd)?;
        let rel = self.mem.str(path_ptr, path_len)?;
        let path = path::join_within(&dir.path, rel)?;
        let write = base & (right::FD_WRITE | right::FD_ALLOCATE | right::FD_FILESTAT_SET_SIZE)
            != 0
            || oflags & OFLAGS_TRUNC != 0;
        let read = base & right::FD_READ != 0 || !write;
        if (write || oflags & OFLAGS_CREAT != 0) && !dir_rights.has(Rights::WRITE) {
            return Err(Errno::NOTCAPABLE.into());
        }
        if !dir_rights.has(Rights::READ) {
            return Err(Errno::NOTCAPABLE.into());
        }
        let existing = self.k.vfs.stat_path(&mut *self.k.platform, &path);
        let is_dir = matches!(&existing, Ok(st) if st.kind == Some(FileType::Directory));
        if oflags & OFLAGS_DIRECTORY != 0 || is_dir {
            match existing {
                Ok(_) if oflags & OFLAGS_CREAT != 0 && oflags & OFLAGS_EXCL != 0 => {
                    return Err(Errno::EXIST.into());
                }
                Ok(_) if !is_dir => return Err(Errno::NOTDIR.into()),
                Ok(_) if write => return Err(Errno::ISDIR.into()),
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            let entry = Entry {
                object: Object::Dir(Rc::new(Dir {
                    path,
                    preopen: None,
                })),
                rights: dir_rights,
            };
            let h = self.proc.handles.insert(entry)?;
            self.mem.write_u32(out, h)?;
            return Ok(());
        }
        let how = OpenOptions {
            read,
            write,
            create: oflags & OFLAGS_CREAT != 0,
            exclusive: oflags & OFLAGS_EXCL != 0,
            truncate: oflags & OFLAGS_TRUNC != 0,
            directory: false,
        };
        let node = self.k.vfs.open(&mut *self.k.platform, &path, &how)?;
        let mut rights = Rights::TRANSFER;
        if read {
            rights = rights.with(Rights::READ);
        }
        if write {
            rights = rights.with(Rights::WRITE);
        }
        let file = OpenFile::new(node, fdflags & FDFLAGS_APPEND != 0, &self.k.events);
        let entry = Entry {
            object: Object::File(Rc::new(RefCell::new(file))),
            rights,
        };
        // If the table is full the entry is dropped, and the file closed, here.
        let h = self.proc.handles.insert(entry)?;
        self.mem.write_u32(out, h)?;
        Ok(())
    }

    pub(crate) fn path_create_directory(&mut self, fd: u32, ptr: u32, len: u32) -> SysOut {
        let path = self.path_at(fd, ptr, len, Rights::WRITE)?;
        self.k.vfs.mkdir(&mut *self.k.platform, &path)?;
        Ok(())
    }

    pub(crate) fn path_filestat_get(
        &mut self,
        fd: u32,
        _flags: u32,
        ptr: u32,
        len: u32,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 64)?;
        let path = self.path_at(fd, ptr, len, Rights::READ)?;
        let st = self.k.vfs.stat_path(&mut *self.k.platform, &path)?;
        self.mem.write(out, &filestat_bytes(&st))?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_filestat_set_times(
        &mut self,
        fd: u32,
        _flags: u32,
        ptr: u32,
        len: u32,
        _atim: u64,
        _mtim: u64,
        _fst: u32,
    ) -> SysOut {
        self.path_at(fd, ptr, len, Rights::WRITE)?;
        Err(Errno::NOSYS.into())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_link(
        &mut self,
        fd: u32,
        _f: u32,
        p: u32,
        l: u32,
        fd2: u32,
        p2: u32,
        l2: u32,
    ) -> SysOut {
        self.path_at(fd, p, l, Rights::READ)?;
        self.path_at(fd2, p2, l2, Rights::WRITE)?;
        Err(Errno::NOSYS.into())
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
        let path = self.path_at(fd, ptr, len, Rights::READ)?;
        // weft's file systems have no symbolic links.
        self.k.vfs.stat_path(&mut *self.k.platform, &path)?;
        Err(Errno::INVAL.into())
    }

    pub(crate) fn path_remove_directory(&mut self, fd: u32, ptr: u32, len: u32) -> SysOut {
        let path = self.path_at(fd, ptr, len, Rights::WRITE)?;
        self.k.vfs.rmdir(&mut *self.k.platform, &path)?;
        Ok(())
    }

    pub(crate) fn path_unlink_file(&mut self, fd: u32, ptr: u32, len: u32) -> SysOut {
        let path = self.path_at(fd, ptr, len, Rights::WRITE)?;
        self.k.vfs.unlink(&mut *self.k.platform, &path)?;
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
        let from = self.path_at(fd, p, l, Rights::WRITE)?;
        let to = self.path_at(fd2, p2, l2, Rights::WRITE)?;
        self.k.vfs.rename(&mut *self.k.platform, &from, &to)?;
        Ok(())
    }

    pub(crate) fn path_symlink(&mut self, p: u32, l: u32, fd: u32, p2: u32, l2: u32) -> SysOut {
        self.mem.str(p, l)?;
        self.path_at(fd, p2, l2, Rights::WRITE)?;
        Err(Errno::NOSYS.into())
    }

    pub(crate) fn sock_accept(&mut self, fd: u32, _flags: u32, out: u32) -> SysOut {
        self.mem.check(out, 4)?;
        self.proc.handles.get(fd)?;
        Err(Errno::NOSYS.into())
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
        self.proc.handles.get(fd)?;
        Err(Errno::NOSYS.into())
    }

    pub(crate) fn sock_send(&mut self, fd: u32, _i: u32, _c: u32, _f: u32, _o: u32) -> SysOut {
        self.proc.handles.get(fd)?;
        Err(Errno::NOSYS.into())
    }

    pub(crate) fn sock_shutdown(&mut self, fd: u32, _how: u32) -> SysOut {
        self.proc.handles.get(fd)?;
        Err(Errno::NOSYS.into())
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
