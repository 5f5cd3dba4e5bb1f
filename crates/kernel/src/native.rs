//! The native `weft` system calls: processes and channels (see `docs/abi.md`).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::errno::{Errno, SysResult};
use crate::handle::{Entry, Rights};
use crate::kernel::ProcState;
use crate::object::{ChannelEnd, Object, ProcessRef, WaitKey};
use crate::sys::{Stop, Sys, SysOut, Wait};

use weft_abi::syscall::{RECV_NONBLOCK, WAIT_NOHANG};

/// "No handle" for `spawn`.
const NONE: u32 = weft_abi::syscall::EMPTY_SLOT;
/// Size of one `proc_list` record.
const PROC_RECORD: u32 = weft_abi::syscall::PROC_RECORD_SIZE as u32;

/// Splits a buffer of NUL-terminated strings.
fn strings(bytes: &[u8]) -> SysResult<Vec<String>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    if bytes.last() != Some(&0) {
        return Err(Errno::INVAL);
    }
    bytes[..bytes.len() - 1]
        .split(|&b| b == 0)
        .map(|s| {
            core::str::from_utf8(s)
                .map(ToString::to_string)
                .map_err(|_| Errno::ILSEQ)
        })
        .collect()
}

impl Sys<'_> {
    fn channel(&self, h: u32, needed: Rights) -> SysResult<alloc::rc::Rc<ChannelEnd>> {
        match self.proc.handles.get(h)?.require(needed)? {
            Object::Channel(end) => Ok(end.clone()),
            _ => Err(Errno::BADF),
        }
    }

    /// The process `h` names: `BADF` if it names something else, `NOTCAPABLE` without
    /// `needed`.
    fn process(&self, h: u32, needed: Rights) -> SysResult<alloc::rc::Rc<ProcessRef>> {
        let entry = self.proc.handles.get(h)?;
        let Object::Process(p) = &entry.object else {
            return Err(Errno::BADF);
        };
        entry.require(needed)?;
        Ok(p.clone())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn spawn(
        &mut self,
        path: u32,
        path_len: u32,
        args: u32,
        args_len: u32,
        env: u32,
        env_len: u32,
        handles: u32,
        handles_len: u32,
        out: u32,
    ) -> SysOut {
        self.mem.check(out, 4)?;
        let path = self.mem.str(path, path_len)?.to_string();
        if !path.starts_with('/') {
            return Err(Errno::NOENT.into());
        }
        let args = strings(self.mem.bytes(args, args_len)?)?;
        let env = strings(self.mem.bytes(env, env_len)?)?;
        if handles_len as usize > self.k.config.limits.handles || self.proc.handles.is_full() {
            return Err(Errno::MFILE.into());
        }
        self.mem
            .check(handles, handles_len.checked_mul(4).ok_or(Errno::FAULT)?)?;
        let mut passed: Vec<Option<Entry>> = Vec::with_capacity(handles_len as usize);
        for i in 0..handles_len {
            let h = self.mem.read_u32(handles + 4 * i)?;
            if h == NONE {
                passed.push(None);
                continue;
            }
            let entry = self.proc.handles.get(h)?;
            entry.require(Rights::TRANSFER)?;
            passed.push(Some(entry.clone()));
        }
        let bytes = self.k.read_program(&path).map_err(|e| e.errno)?;
        let spawned = self
            .k
            .spawn(self.proc.pid, &path, bytes, &args, &env, passed);
        let pid = match spawned {
            Ok(pid) => pid,
            Err(e) => {
                // The errno alone would not say which import or section is wrong.
                if e.errno == Errno::NOEXEC {
                    self.k
                        .report(&alloc::format!("weft: spawn {}\n", e.message));
                }
                return Err(e.errno.into());
            }
        };
        let object = self
            .k
            .process_object(pid)
            .expect("the child was just added");
        let h = self
            .proc
            .handles
            .insert(Entry::new(Object::Process(object), Rights::PROCESS))?;
        // `out` was checked above and nothing since can have shrunk the memory.
        self.mem.write_u32(out, h)?;
        Ok(())
    }

    pub(crate) fn wait(&mut self, h: u32, flags: u32, status_out: u32) -> SysOut {
        self.mem.check(status_out, 4)?;
        let process = self.process(h, Rights::READ)?;
        let pid = process.pid();
        // A process's entry lives as long as a handle to it: this one.
        match self.k.procs.get(&pid).map(|p| p.state) {
            Some(ProcState::Ended(status)) => {
                self.mem.write_u32(status_out, status)?;
                Ok(())
            }
            Some(_) if flags & WAIT_NOHANG == 0 => Err(Stop::Wait(Wait::on(WaitKey::Exited(pid)))),
            Some(_) => Err(Errno::AGAIN.into()),
            None => Err(Errno::SRCH.into()),
        }
    }

    pub(crate) fn kill(&mut self, h: u32) -> SysOut {
        let pid = self.process(h, Rights::KILL)?.pid();
        if pid == self.proc.pid {
            return Err(Stop::Exit(crate::kernel::STATUS_KILLED));
        }
        self.k.kill(pid)?;
        Ok(())
    }

    pub(crate) fn proc_pid(&mut self, h: u32, out: u32) -> SysOut {
        self.mem.check(out, 4)?;
        let pid = self.process(h, Rights(0))?.pid();
        self.mem.write_u32(out, pid)?;
        Ok(())
    }

    pub(crate) fn handle_dup(&mut self, h: u32, rights: u32, out: u32) -> SysOut {
        self.mem.check(out, 4)?;
        let entry = self.proc.handles.get(h)?;
        let rights = Rights(rights);
        if !Rights::DEFINED.has(rights) {
            return Err(Errno::INVAL.into());
        }
        if !entry.rights.has(rights) {
            return Err(Errno::NOTCAPABLE.into());
        }
        let dup = Entry {
            object: entry.object.clone(),
            rights,
            fs: entry.fs,
        };
        let nh = self.proc.handles.insert(dup)?;
        self.mem.write_u32(out, nh)?;
        Ok(())
    }

    pub(crate) fn getpid(&mut self, out: u32) -> SysOut {
        self.mem.write_u32(out, self.proc.pid)?;
        Ok(())
    }

    pub(crate) fn proc_list(&mut self, buf: u32, len: u32, out: u32) -> SysOut {
        self.mem.check(out, 4)?;
        self.mem.check(buf, len)?;
        let fit = len / PROC_RECORD;
        let mut n = 0u32;
        for p in self.k.procs.values() {
            if n < fit {
                let mut rec = [0u8; PROC_RECORD as usize];
                let state = match p.state {
                    ProcState::Runnable => 0u32,
                    ProcState::Waiting => 1,
                    ProcState::Ended(_) => 2,
                };
                rec[0..4].copy_from_slice(&p.pid.to_le_bytes());
                rec[4..8].copy_from_slice(&p.parent.to_le_bytes());
                rec[8..12].copy_from_slice(&state.to_le_bytes());
                rec[12..16].copy_from_slice(&p.pages.to_le_bytes());
                rec[16..24].copy_from_slice(&p.fuel_used.to_le_bytes());
                let name = p.name.as_bytes();
                let take = name.len().min(40);
                rec[24..24 + take].copy_from_slice(&name[..take]);
                self.mem.write(buf + n * PROC_RECORD, &rec)?;
            }
            n += 1;
        }
        self.mem.write_u32(out, n)?;
        Ok(())
    }

    pub(crate) fn channel_create(&mut self, out0: u32, out1: u32) -> SysOut {
        self.mem.check(out0, 4)?;
        self.mem.check(out1, 4)?;
        if self.k.events.borrow().channels >= self.k.config.max_channels {
            return Err(Errno::NOMEM.into());
        }
        let (a, b) = ChannelEnd::pair(&self.k.events);
        let entry = |end| Entry::new(Object::Channel(alloc::rc::Rc::new(end)), Rights::ALL);
        let h0 = self.proc.handles.insert(entry(a))?;
        let h1 = match self.proc.handles.insert(entry(b)) {
            Ok(h) => h,
            Err(e) => {
                let _ = self.proc.handles.remove(h0);
                return Err(e.into());
            }
        };
        self.mem.write_u32(out0, h0)?;
        self.mem.write_u32(out1, h1)?;
        Ok(())
    }

    pub(crate) fn channel_send(
        &mut self,
        h: u32,
        data: u32,
        len: u32,
        handles: u32,
        count: u32,
    ) -> SysOut {
        let end = self.channel(h, Rights::WRITE)?;
        if len as usize > crate::object::MAX_MESSAGE
            || count as usize > crate::object::MAX_MESSAGE_HANDLES
        {
            return Err(Errno::MSGSIZE.into());
        }
        let bytes = self.mem.bytes(data, len)?.to_vec();
        self.mem.check(handles, count * 4)?;
        let mut moved = Vec::with_capacity(count as usize);
        let mut entries = Vec::with_capacity(count as usize);
        for i in 0..count {
            let mh = self.mem.read_u32(handles + 4 * i)?;
            if moved.contains(&mh) {
                return Err(Errno::INVAL.into());
            }
            let entry = self.proc.handles.get(mh)?;
            entry.require(Rights::TRANSFER)?;
            // A channel's own ends may not travel through it: queued towards the end they
            // came from or its peer, they could keep themselves alive unreachably.
            if let Object::Channel(other) = &entry.object
                && other.same_channel(&end)
            {
                return Err(Errno::INVAL.into());
            }
            entries.push(entry.clone());
            moved.push(mh);
        }
        match end.send(bytes, entries) {
            Ok(()) => {
                for mh in moved {
                    let _ = self.proc.handles.remove(mh);
                }
                Ok(())
            }
            Err((Errno::AGAIN, _)) => Err(Stop::Wait(Wait::on(end.key()))),
            Err((e, _)) => Err(e.into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn channel_recv(
        &mut self,
        h: u32,
        buf: u32,
        len: u32,
        handles: u32,
        cap: u32,
        flags: u32,
        len_out: u32,
        count_out: u32,
    ) -> SysOut {
        self.mem.check(buf, len)?;
        self.mem
            .check(handles, cap.checked_mul(4).ok_or(Errno::FAULT)?)?;
        self.mem.check(len_out, 4)?;
        self.mem.check(count_out, 4)?;
        let end = self.channel(h, Rights::READ)?;
        let room = self.k.config.limits.handles - self.proc.handles.len();
        let max_handles = (cap as usize).min(room);
        match end.recv(len as usize, max_handles) {
            Ok(m) => {
                self.mem.write(buf, &m.data)?;
                let n = m.handles.len() as u32;
                for (i, entry) in m.handles.into_iter().enumerate() {
                    let nh = self.proc.handles.insert(entry)?;
                    self.mem.write_u32(handles + 4 * i as u32, nh)?;
                }
                self.mem.write_u32(len_out, m.data.len() as u32)?;
                self.mem.write_u32(count_out, n)?;
                Ok(())
            }
            Err((Errno::MSGSIZE, need_len, need_handles)) => {
                self.mem.write_u32(len_out, need_len as u32)?;
                self.mem.write_u32(count_out, need_handles as u32)?;
                if need_handles > room {
                    return Err(Errno::MFILE.into());
                }
                Err(Errno::MSGSIZE.into())
            }
            Err((Errno::AGAIN, ..)) if flags & RECV_NONBLOCK == 0 => {
                Err(Stop::Wait(Wait::on(end.key())))
            }
            Err((e, ..)) => Err(e.into()),
        }
    }
}
