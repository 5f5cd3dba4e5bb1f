//! The system-call boundary: how a call from a process reaches the kernel, and how a call
//! that must wait parks the process and completes later.
//!
//! Every system call has one shape: a method of [`Sys`] (the caller's memory, the caller's
//! process data and the kernel state) returning [`SysOut`]: success, an errno for the
//! caller, "wait for this", "end the process", or "yield the processor". The same method is
//! what completes a parked call: the call is kept as a closure over its arguments and run
//! again when its wait may be over.

use alloc::boxed::Box;
use alloc::rc::Weak;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use weft_engine::{Caller, Engine, Error, Linker, Memory, Store};

use crate::errno::Errno;
use crate::handle::Handles;
use crate::kernel::{Pid, State};
use crate::object::WaitKey;
use crate::uaccess::UserMem;

/// Host-yield tag: the process waits in a system call ([`Proc::pending`]).
pub(crate) const YIELD_BLOCK: u64 = 1;
/// Host-yield tag: the process ends ([`Proc::exit`]).
pub(crate) const YIELD_EXIT: u64 = 2;
/// Host-yield tag: the process gives up the rest of its quantum.
pub(crate) const YIELD_SCHED: u64 = 3;

/// A process's own data, kept in its store.
pub struct Proc {
    /// Its pid.
    pub pid: Pid,
    pub(crate) kernel: Weak<RefCell<State>>,
    /// Its handle table (also its WASI file descriptors).
    pub handles: Handles,
    /// Arguments, `argv[0]` first.
    pub(crate) args: Strings,
    /// Environment, `KEY=VALUE`.
    pub(crate) env: Strings,
    /// Its linear memory (exported `memory`, or the imported `env.memory`).
    pub(crate) memory: Option<Memory>,
    /// Set when the process asked to end (`proc_exit`, killing itself).
    pub(crate) exit: Option<u32>,
    /// The system call it waits in.
    pub(crate) pending: Option<Pending>,
    /// Time it has run in its quanta before the current one (its CPU time), in ns.
    pub(crate) cpu_ns: u64,
    /// When its current quantum started (monotonic ns).
    pub(crate) quantum_start_ns: u64,
}

impl Proc {
    pub(crate) fn new(
        pid: Pid,
        kernel: alloc::rc::Rc<RefCell<State>>,
        handles: Handles,
        args: &[String],
        env: &[String],
    ) -> Proc {
        Proc {
            pid,
            kernel: alloc::rc::Rc::downgrade(&kernel),
            handles,
            args: Strings::pack(args),
            env: Strings::pack(env),
            memory: None,
            exit: None,
            pending: None,
            cpu_ns: 0,
            quantum_start_ns: 0,
        }
    }
}

/// Strings as WASI's `args_get` and `environ_get` hand them out: each NUL-terminated, back
/// to back.
pub(crate) struct Strings {
    pub bytes: Vec<u8>,
    pub count: u32,
}

impl Strings {
    fn pack(items: &[String]) -> Strings {
        let mut bytes = Vec::new();
        for s in items {
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
        }
        Strings {
            bytes,
            count: items.len() as u32,
        }
    }
}

/// What a waiting system call waits for. Any one of these ends the wait.
#[derive(Debug, Clone, Default)]
pub struct Wait {
    /// Events that may complete it.
    pub keys: Vec<WaitKey>,
    /// A monotonic deadline.
    pub deadline: Option<u64>,
    /// Console input.
    pub console: bool,
}

impl Wait {
    /// Wait for one event.
    pub fn on(key: WaitKey) -> Wait {
        Wait {
            keys: alloc::vec![key],
            ..Wait::default()
        }
    }
}

/// Why a system call stops short of success.
#[derive(Debug)]
pub enum Stop {
    /// Fails with this errno.
    Errno(Errno),
    /// Must wait.
    Wait(Wait),
    /// Ends the calling process with this status.
    Exit(u32),
    /// Gives up the processor (result 0 when the process runs again).
    Yield,
}

impl From<Errno> for Stop {
    fn from(e: Errno) -> Stop {
        Stop::Errno(e)
    }
}

/// The outcome of a system call.
pub type SysOut = Result<(), Stop>;

/// A system call in progress: what completes it, and what it waits for.
pub struct Pending {
    op: Box<dyn FnMut(&mut Sys<'_>) -> SysOut>,
    /// What it waits for.
    pub wait: Wait,
}

/// A system call's view of the world.
pub struct Sys<'a> {
    /// The caller's memory.
    pub mem: UserMem<'a>,
    /// The caller.
    pub proc: &'a mut Proc,
    /// The kernel.
    pub(crate) k: &'a mut State,
}

/// Runs system call `op` for the process calling through `caller`.
pub(crate) fn call<F>(caller: &mut Caller<'_, Proc>, mut op: F) -> weft_engine::Result<i32>
where
    F: FnMut(&mut Sys<'_>) -> SysOut + 'static,
{
    let memory = caller.data().memory;
    let kernel = caller
        .data()
        .kernel
        .upgrade()
        .ok_or_else(|| Error::host("the kernel is gone"))?;
    let Ok(mut k) = kernel.try_borrow_mut() else {
        return Err(Error::host(
            "system calls from a module's start function are not supported",
        ));
    };
    let (bytes, proc): (&mut [u8], &mut Proc) = match memory {
        Some(m) => m.data_and_store_mut(&mut *caller)?,
        None => (&mut [], caller.data_mut()),
    };
    let out = op(&mut Sys {
        mem: UserMem(bytes),
        proc,
        k: &mut k,
    });
    drop(k);
    match out {
        Ok(()) => Ok(0),
        Err(Stop::Errno(e)) => Ok(i32::from(e.0)),
        Err(Stop::Wait(wait)) => {
            caller.data_mut().pending = Some(Pending {
                op: Box::new(op),
                wait,
            });
            Err(Error::host_yield(YIELD_BLOCK))
        }
        Err(Stop::Exit(code)) => {
            caller.data_mut().exit = Some(code);
            Err(Error::host_yield(YIELD_EXIT))
        }
        Err(Stop::Yield) => Err(Error::host_yield(YIELD_SCHED)),
    }
}

/// How a retried system call came out.
pub(crate) enum Retry {
    /// It completed with this result.
    Done(Errno),
    /// It still waits.
    Wait(Wait),
    /// The process ends.
    Exit(u32),
}

/// Runs a parked system call again (outside any Wasm call).
pub(crate) fn retry(k: &mut State, store: &mut Store<Proc>, pending: &mut Pending) -> Retry {
    let memory = store.data().memory;
    let (bytes, proc): (&mut [u8], &mut Proc) = match memory {
        Some(m) => match m.data_and_store_mut(&mut *store) {
            Ok(pair) => pair,
            Err(_) => return Retry::Exit(crate::kernel::STATUS_TRAPPED),
        },
        None => (&mut [], store.data_mut()),
    };
    let out = (pending.op)(&mut Sys {
        mem: UserMem(bytes),
        proc,
        k,
    });
    match out {
        Ok(()) => Retry::Done(Errno::SUCCESS),
        Err(Stop::Errno(e)) => Retry::Done(e),
        Err(Stop::Wait(w)) => Retry::Wait(w),
        Err(Stop::Exit(code)) => Retry::Exit(code),
        Err(Stop::Yield) => Retry::Done(Errno::SUCCESS),
    }
}

/// Defines system calls in `linker`: each `name(args) => method` becomes a host function
/// that runs `Sys::method` with the arguments converted from Wasm's signed integers.
macro_rules! syscalls {
    ($linker:ident, $module:literal, { $($name:ident($($arg:ident: $ty:ty),*) => $method:ident;)* }) => {
        $(
            $linker
                .func_wrap(
                    $module,
                    stringify!($name),
                    |mut caller: Caller<'_, Proc>, $($arg: $ty),*| -> weft_engine::Result<i32> {
                        call(&mut caller, move |s: &mut Sys<'_>| s.$method($($arg as _),*))
                    },
                )
                .expect("system call names are unique");
        )*
    };
}

/// The linker with every system call weft provides: WASI preview1 and the `weft` module.
pub(crate) fn linker(engine: &Engine) -> Linker<Proc> {
    let mut l = Linker::new(engine);
    syscalls!(l, "wasi_snapshot_preview1", {
        args_get(argv: i32, buf: i32) => args_get;
        args_sizes_get(count: i32, size: i32) => args_sizes_get;
        environ_get(environ: i32, buf: i32) => environ_get;
        environ_sizes_get(count: i32, size: i32) => environ_sizes_get;
        clock_res_get(id: i32, out: i32) => clock_res_get;
        clock_time_get(id: i32, precision: i64, out: i32) => clock_time_get;
        fd_advise(fd: i32, offset: i64, len: i64, advice: i32) => fd_advise;
        fd_allocate(fd: i32, offset: i64, len: i64) => fd_allocate;
        fd_close(fd: i32) => fd_close;
        fd_datasync(fd: i32) => fd_datasync;
        fd_sync(fd: i32) => fd_sync;
        fd_fdstat_get(fd: i32, out: i32) => fd_fdstat_get;
        fd_fdstat_set_flags(fd: i32, flags: i32) => fd_fdstat_set_flags;
        fd_fdstat_set_rights(fd: i32, base: i64, inheriting: i64) => fd_fdstat_set_rights;
        fd_filestat_get(fd: i32, out: i32) => fd_filestat_get;
        fd_filestat_set_size(fd: i32, size: i64) => fd_filestat_set_size;
        fd_filestat_set_times(fd: i32, atim: i64, mtim: i64, flags: i32) => fd_filestat_set_times;
        fd_pread(fd: i32, iovs: i32, count: i32, offset: i64, out: i32) => fd_pread;
        fd_prestat_get(fd: i32, out: i32) => fd_prestat_get;
        fd_prestat_dir_name(fd: i32, buf: i32, len: i32) => fd_prestat_dir_name;
        fd_pwrite(fd: i32, iovs: i32, count: i32, offset: i64, out: i32) => fd_pwrite;
        fd_read(fd: i32, iovs: i32, count: i32, out: i32) => fd_read;
        fd_readdir(fd: i32, buf: i32, len: i32, cookie: i64, out: i32) => fd_readdir;
        fd_renumber(fd: i32, to: i32) => fd_renumber;
        fd_seek(fd: i32, offset: i64, whence: i32, out: i32) => fd_seek;
        fd_tell(fd: i32, out: i32) => fd_tell;
        fd_write(fd: i32, iovs: i32, count: i32, out: i32) => fd_write;
        path_create_directory(fd: i32, path: i32, len: i32) => path_create_directory;
        path_filestat_get(fd: i32, flags: i32, path: i32, len: i32, out: i32) => path_filestat_get;
        path_filestat_set_times(fd: i32, flags: i32, path: i32, len: i32, atim: i64, mtim: i64, fst: i32) => path_filestat_set_times;
        path_link(fd: i32, flags: i32, path: i32, len: i32, fd2: i32, path2: i32, len2: i32) => path_link;
        path_open(fd: i32, dirflags: i32, path: i32, len: i32, oflags: i32, base: i64, inheriting: i64, fdflags: i32, out: i32) => path_open;
        path_readlink(fd: i32, path: i32, len: i32, buf: i32, buf_len: i32, out: i32) => path_readlink;
        path_remove_directory(fd: i32, path: i32, len: i32) => path_remove_directory;
        path_rename(fd: i32, path: i32, len: i32, fd2: i32, path2: i32, len2: i32) => path_rename;
        path_symlink(path: i32, len: i32, fd: i32, path2: i32, len2: i32) => path_symlink;
        path_unlink_file(fd: i32, path: i32, len: i32) => path_unlink_file;
        proc_raise(signal: i32) => proc_raise;
        sched_yield() => sched_yield;
        random_get(buf: i32, len: i32) => random_get;
        sock_accept(fd: i32, flags: i32, out: i32) => sock_accept;
        sock_recv(fd: i32, iovs: i32, count: i32, flags: i32, out: i32, out_flags: i32) => sock_recv;
        sock_send(fd: i32, iovs: i32, count: i32, flags: i32, out: i32) => sock_send;
        sock_shutdown(fd: i32, how: i32) => sock_shutdown;
    });
    // poll_oneoff keeps, across retries, the time of its first attempt: relative timeouts
    // count from there.
    l.func_wrap(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        |mut caller: Caller<'_, Proc>, subs: i32, events: i32, count: i32, out: i32| {
            let mut start = None;
            call(&mut caller, move |s: &mut Sys<'_>| {
                s.poll_oneoff(
                    subs as u32,
                    events as u32,
                    count as u32,
                    out as u32,
                    &mut start,
                )
            })
        },
    )
    .expect("system call names are unique");
    // proc_exit returns nothing.
    l.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |mut caller: Caller<'_, Proc>, code: i32| -> weft_engine::Result<()> {
            call(&mut caller, move |_| Err(Stop::Exit(code as u32))).map(|_| ())
        },
    )
    .expect("system call names are unique");
    syscalls!(l, "weft", {
        spawn(path: i32, path_len: i32, args: i32, args_len: i32, env: i32, env_len: i32, handles: i32, handles_len: i32, out: i32) => spawn;
        wait(process: i32, flags: i32, status_out: i32) => wait;
        kill(process: i32) => kill;
        proc_pid(process: i32, out: i32) => proc_pid;
        handle_dup(h: i32, rights: i32, out: i32) => handle_dup;
        getpid(out: i32) => getpid;
        proc_list(buf: i32, len: i32, out: i32) => proc_list;
        channel_create(out0: i32, out1: i32) => channel_create;
        channel_send(h: i32, data: i32, len: i32, handles: i32, count: i32) => channel_send;
        channel_recv(h: i32, buf: i32, len: i32, handles: i32, cap: i32, flags: i32, len_out: i32, count_out: i32) => channel_recv;
    });
    l
}
