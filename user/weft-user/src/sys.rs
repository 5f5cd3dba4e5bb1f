//! The raw system calls: the `weft` imports of docs/abi.md and the few WASI preview1 calls
//! std does not expose. This module holds all of this crate's `unsafe` code; every function
//! it exports is safe, takes Rust slices and returns `Result<_, Errno>`.
//!
//! Pointers and lengths are passed as wasm32 `i32`s; the kernel checks every range against
//! our memory (a bad one gives `EFAULT`), so the only obligation on our side is that a
//! range we hand over is memory the kernel may read or write for the length of the call.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::errno::Errno;

pub(crate) use weft_abi::syscall::{RECV_NONBLOCK, WAIT_NOHANG};
pub(crate) use weft_abi::wasi::filetype::CHARACTER_DEVICE as FILETYPE_CHARACTER_DEVICE;
/// Handle right `READ`: receive, read; `wait` for a process (docs/abi.md).
pub const RIGHT_READ: u32 = weft_abi::rights::READ;
/// Handle right `WRITE`: send, write.
pub const RIGHT_WRITE: u32 = weft_abi::rights::WRITE;
/// Handle right `TRANSFER`: pass to another process.
pub const RIGHT_TRANSFER: u32 = weft_abi::rights::TRANSFER;
/// Handle right `KILL`: end the process a process handle names.
pub const RIGHT_KILL: u32 = weft_abi::rights::KILL;

/// Declares imports: on WASI as the real imports; elsewhere (host-side unit tests of the
/// pure parts of userland) as functions that fail with `ENOSYS`, so that tests link.
macro_rules! imports {
    ($module:literal { $(fn $name:ident = $import:literal ($($arg:ident: $ty:ty),* $(,)?);)* }) => {
        #[cfg(target_os = "wasi")]
        #[link(wasm_import_module = $module)]
        unsafe extern "C" {
            $(
                #[link_name = $import]
                pub(super) fn $name($($arg: $ty),*) -> i32;
            )*
        }
        $(
            #[cfg(not(target_os = "wasi"))]
            #[allow(clippy::too_many_arguments, reason = "mirrors the import")]
            pub(super) unsafe fn $name($($arg: $ty),*) -> i32 {
                let _ = ($($arg,)*);
                Errno::NOSYS.raw().into()
            }
        )*
    };
}

mod raw {
    #[cfg(not(target_os = "wasi"))]
    use crate::errno::Errno;

    // The Rust names carry a prefix and `link_name` gives the import name, so that they
    // never clash with libc symbols of the same name in the final link (wasi-libc has its
    // own `getpid`, for example).
    imports!("weft" {
        fn weft_spawn = "spawn"(
            path: *const u8,
            path_len: usize,
            args: *const u8,
            args_len: usize,
            env: *const u8,
            env_len: usize,
            handles: *const u32,
            handles_len: usize,
            process_out: *mut u32,
        );
        fn weft_wait = "wait"(process: u32, flags: u32, status_out: *mut u32);
        fn weft_kill = "kill"(process: u32);
        fn weft_proc_pid = "proc_pid"(process: u32, pid_out: *mut u32);
        fn weft_handle_dup = "handle_dup"(handle: u32, rights: u32, handle_out: *mut u32);
        fn weft_getpid = "getpid"(pid_out: *mut u32);
        fn weft_proc_list = "proc_list"(buf: *mut u8, buf_len: usize, count_out: *mut u32);
        fn weft_channel_create = "channel_create"(end0_out: *mut u32, end1_out: *mut u32);
        fn weft_channel_send = "channel_send"(
            handle: u32,
            data: *const u8,
            data_len: usize,
            handles: *const u32,
            handles_len: usize,
        );
        fn weft_channel_recv = "channel_recv"(
            handle: u32,
            buf: *mut u8,
            buf_len: usize,
            handles: *mut u32,
            handles_cap: usize,
            flags: u32,
            len_out: *mut u32,
            handles_len_out: *mut u32,
        );
    });

    // The same signatures (all `i32`) as std's own declarations of these imports, so that
    // the declarations agree when LTO merges them.
    imports!("wasi_snapshot_preview1" {
        fn fd_close = "fd_close"(fd: i32);
        fn fd_fdstat_get = "fd_fdstat_get"(fd: i32, stat_out: i32);
        fn fd_prestat_get = "fd_prestat_get"(fd: i32, prestat_out: i32);
    });
}

/// Our view of a length for the ABI: lengths are `u32`, so anything larger is refused
/// before it reaches the kernel (it cannot happen on wasm32, where `usize` is 32 bits).
fn len(n: usize) -> Result<usize, Errno> {
    if u32::try_from(n).is_ok() {
        Ok(n)
    } else {
        Err(Errno::INVAL)
    }
}

/// A handle number as the `i32` WASI uses for fds. Handles fit in 31 bits (a 20-bit slot and
/// an 11-bit generation), so anything else is not a handle.
fn fd(handle: u32) -> Result<RawFd, Errno> {
    RawFd::try_from(handle).map_err(|_| Errno::BADF)
}

/// A pointer as the `i32` the WASI declarations take (a wasm32 address).
fn addr<T>(p: *mut T) -> i32 {
    // On wasm32 an address is 32 bits, so this is the pointer's own value.
    p as usize as i32
}

/// Takes ownership of a handle the kernel has just put in our table.
fn own(handle: u32) -> Result<OwnedFd, Errno> {
    let raw = fd(handle)?;
    // SAFETY: `handle` was just returned by the kernel as a new entry of our handle table
    // (from `spawn`, `handle_dup`, `channel_create` or `channel_recv`), so nothing else in
    // this process owns it and closing it when the `OwnedFd` drops is the only close.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Starts a process; returns the handle to it (ours to close).
pub(crate) fn spawn(
    path: &[u8],
    args: &[u8],
    env: &[u8],
    handles: &[u32],
) -> Result<OwnedFd, Errno> {
    let mut process = 0u32;
    // SAFETY: every pointer comes from a live slice with its own length (in elements for
    // `handles`, as the ABI counts them), read-only for the kernel; `process` is a live
    // `u32` the kernel may write. The kernel reads and writes nothing else.
    let code = unsafe {
        raw::weft_spawn(
            path.as_ptr(),
            len(path.len())?,
            args.as_ptr(),
            len(args.len())?,
            env.as_ptr(),
            len(env.len())?,
            handles.as_ptr(),
            len(handles.len())?,
            &mut process,
        )
    };
    Errno::check(code)?;
    own(process)
}

/// Waits for the process `process` names to end; returns its status.
pub(crate) fn wait(process: u32, flags: u32) -> Result<u32, Errno> {
    let mut status = 0u32;
    // SAFETY: the out-pointer is a live `u32` of this frame.
    let code = unsafe { raw::weft_wait(process, flags, &mut status) };
    Errno::check(code).map(|()| status)
}

pub(crate) fn kill(process: u32) -> Result<(), Errno> {
    // SAFETY: takes no pointers.
    Errno::check(unsafe { raw::weft_kill(process) })
}

/// The pid of the process `process` names.
pub(crate) fn proc_pid(process: u32) -> Result<u32, Errno> {
    let mut pid = 0u32;
    // SAFETY: `pid` is a live `u32` the kernel may write.
    Errno::check(unsafe { raw::weft_proc_pid(process, &mut pid) }).map(|()| pid)
}

/// A new handle to what `handle` names, with `rights` (no more than it has).
pub(crate) fn handle_dup(handle: u32, rights: u32) -> Result<OwnedFd, Errno> {
    let mut out = 0u32;
    // SAFETY: `out` is a live `u32` the kernel may write.
    Errno::check(unsafe { raw::weft_handle_dup(handle, rights, &mut out) })?;
    own(out)
}

pub(crate) fn getpid() -> Result<u32, Errno> {
    let mut pid = 0u32;
    // SAFETY: `pid` is a live `u32` the kernel may write.
    Errno::check(unsafe { raw::weft_getpid(&mut pid) }).map(|()| pid)
}

/// Fills `buf` with as many 64-byte records as fit; returns the total number of processes.
pub(crate) fn proc_list(buf: &mut [u8]) -> Result<u32, Errno> {
    let mut count = 0u32;
    // SAFETY: `buf` is a live, writable slice of exactly the length passed; `count` is a
    // live `u32`.
    let code = unsafe { raw::weft_proc_list(buf.as_mut_ptr(), len(buf.len())?, &mut count) };
    Errno::check(code).map(|()| count)
}

pub(crate) fn channel_create() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: both out-pointers are live, distinct `u32`s of this frame.
    Errno::check(unsafe { raw::weft_channel_create(&mut a, &mut b) })?;
    Ok((own(a)?, own(b)?))
}

pub(crate) fn channel_send(handle: u32, data: &[u8], handles: &[u32]) -> Result<(), Errno> {
    // SAFETY: both pointers come from live slices with their own lengths (`handles` in
    // elements); the kernel only reads them.
    let code = unsafe {
        raw::weft_channel_send(
            handle,
            data.as_ptr(),
            len(data.len())?,
            handles.as_ptr(),
            len(handles.len())?,
        )
    };
    Errno::check(code)
}

/// What a `channel_recv` gave.
pub(crate) enum Recv {
    /// A message: its byte length and the handles it carried (now ours).
    Message(usize, Vec<OwnedFd>),
    /// The buffers were too small: the sizes the message needs (it stays queued).
    TooSmall(usize, usize),
}

pub(crate) fn channel_recv(
    handle: u32,
    buf: &mut [u8],
    handles: &mut [u32],
    flags: u32,
) -> Result<Recv, Errno> {
    let (mut n, mut nh) = (0u32, 0u32);
    // SAFETY: `buf` and `handles` are live, writable slices of exactly the lengths passed
    // (`handles` in elements); `n` and `nh` are live, distinct `u32`s.
    let code = unsafe {
        raw::weft_channel_recv(
            handle,
            buf.as_mut_ptr(),
            len(buf.len())?,
            handles.as_mut_ptr(),
            len(handles.len())?,
            flags,
            &mut n,
            &mut nh,
        )
    };
    let (n, nh) = (n as usize, nh as usize);
    match Errno::check(code) {
        Ok(()) => {
            // A kernel that claimed more than fits would be broken; take what is there.
            let received = handles.get(..nh).unwrap_or(handles);
            let owned = received.iter().map(|&h| own(h)).collect::<Result<_, _>>()?;
            Ok(Recv::Message(n.min(buf.len()), owned))
        }
        Err(Errno::MSGSIZE) if n > buf.len() || nh > handles.len() => Ok(Recv::TooSmall(n, nh)),
        Err(e) => Err(e),
    }
}

/// WASI `fd_close` on a raw handle. The caller gives up ownership of `handle`.
pub(crate) fn close(handle: u32) -> Result<(), Errno> {
    let raw = fd(handle)?;
    // SAFETY: takes no pointers.
    Errno::check(unsafe { raw::fd_close(raw) })
}

/// WASI `fdstat`, laid out as preview1 defines it (24 bytes, 8-aligned).
#[repr(C)]
#[derive(Default)]
struct FdStat {
    filetype: u8,
    flags: u16,
    rights_base: u64,
    rights_inheriting: u64,
}

/// The WASI file type of `handle` (`fd_fdstat_get`).
pub(crate) fn filetype(handle: u32) -> Result<u8, Errno> {
    let raw = fd(handle)?;
    let mut stat = FdStat::default();
    // SAFETY: `stat` is a live, writable `FdStat`, which has the size and alignment of the
    // preview1 `fdstat` the kernel writes.
    Errno::check(unsafe { raw::fd_fdstat_get(raw, addr(&mut stat)) })?;
    Ok(stat.filetype)
}

/// WASI `prestat` (8 bytes: a tag and the name length).
#[repr(C)]
#[derive(Default)]
struct Prestat {
    tag: u8,
    name_len: u32,
}

/// Whether `handle` is a preopened directory (`fd_prestat_get` succeeds); the error is
/// `EBADF` past the last preopen.
pub(crate) fn prestat(handle: u32) -> Result<(), Errno> {
    let raw = fd(handle)?;
    let mut pre = Prestat::default();
    // SAFETY: `pre` is a live, writable `Prestat`, with the size and alignment of the
    // preview1 `prestat` the kernel writes.
    Errno::check(unsafe { raw::fd_prestat_get(raw, addr(&mut pre)) })
}
