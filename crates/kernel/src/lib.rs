//! weft's kernel: processes, the scheduler, handles, channels, the VFS and WASI.
//!
//! A process is an engine store running one module that owns its memory; all processes
//! run on one host thread, preempted by fuel and parked in system calls that wait (see
//! [`kernel`]). Processes name kernel objects only through their handle tables
//! ([`handle`]). The machine is reached only through [`platform::Platform`].
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod errno;
pub mod handle;
pub mod kernel;
mod native;
pub mod object;
pub mod platform;
pub mod sys;
pub mod uaccess;
pub mod vfs;
mod wasi;

pub use errno::{Errno, SysResult};
pub use kernel::{
    Kernel, KernelConfig, KernelError, KernelStats, Pid, ProcState, ProcessLimits, Program,
    SpawnRequest,
};
pub use platform::{ConsoleStream, HostFs, Platform};
/// The engine tier of [`KernelConfig::strategy`].
pub use weft_engine::Strategy;
