//! The kernel's only way to the machine.
//!
//! A platform (the hosted one is a Linux process, a bare-metal one drives devices) gives
//! the kernel a console, clocks, random bytes and, optionally, host directories. Every
//! platform runs the very same kernel.

use alloc::string::String;
use alloc::vec::Vec;

use crate::errno::SysResult;
use crate::vfs::{DirEntry, OpenOptions, Stat};

/// Console output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleStream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// What the kernel needs from the machine.
pub trait Platform {
    /// Writes bytes to the console.
    fn console_write(&mut self, stream: ConsoleStream, bytes: &[u8]);

    /// Reads console input without blocking: `Some(n)` bytes were read (`Some(0)` means
    /// end of input: for a terminal that ends one read (Ctrl-D) and input may follow),
    /// `None` means nothing is available yet.
    fn console_read(&mut self, buf: &mut [u8]) -> Option<usize>;

    /// Whether console input is an interactive terminal.
    fn console_is_terminal(&self) -> bool;

    /// Whether console output goes to a terminal (rather than a file or pipe). Programs
    /// use it to choose their output format, like `isatty(1)`.
    fn console_output_is_terminal(&self) -> bool {
        false
    }

    /// Monotonic time in nanoseconds since an arbitrary start.
    fn monotonic_ns(&self) -> u64;

    /// Wall-clock time in nanoseconds since the Unix epoch.
    fn wall_clock_ns(&self) -> u64;

    /// Fills `buf` with random bytes.
    fn random(&mut self, buf: &mut [u8]);

    /// Idles the machine until console input may be available (when `console` is true) or
    /// the monotonic clock reaches `deadline` (when given), whichever comes first. It may
    /// return early; the kernel checks again.
    fn wait(&mut self, deadline: Option<u64>, console: bool);

    /// The host directories this platform maps into the guest file system, if any.
    fn host_fs(&mut self) -> Option<&mut dyn HostFs> {
        None
    }
}

/// Host directories mapped into the guest (`weft run --dir HOST::GUEST`).
///
/// `root` selects one mapped directory (its index in the platform's list); `path` is
/// relative to it, already normalised by the kernel (no `.` or `..` components, no leading
/// `/`; empty for the root itself). The kernel resolves symbolic links itself (see
/// [`crate::vfs::Vfs::resolve`]), so no component of `path` but the last is a link, and a
/// link at the end is acted on itself. The platform must follow no link at all: then a
/// path cannot leave its root, even if another host process swaps a directory for a link.
pub trait HostFs {
    /// Opens a file or directory and returns the platform's id for it. An object that
    /// exists is checked with [`OpenOptions::check_existing`] (a link at the end: `LOOP`).
    fn open(&mut self, root: usize, path: &str, how: &OpenOptions) -> SysResult<u64>;
    /// Closes an id from [`HostFs::open`].
    fn close(&mut self, file: u64);
    /// Reads at `offset`; returns the number of bytes read (0 at the end).
    fn read(&mut self, file: u64, offset: u64, buf: &mut [u8]) -> SysResult<usize>;
    /// Writes at `offset`; returns the number of bytes written.
    fn write(&mut self, file: u64, offset: u64, data: &[u8]) -> SysResult<usize>;
    /// Sets the file's size.
    fn set_size(&mut self, file: u64, size: u64) -> SysResult<()>;
    /// The status of an open file.
    fn stat(&mut self, file: u64) -> SysResult<Stat>;
    /// Sets an open file's access and modification times (ns since the epoch; `None`
    /// keeps one).
    fn set_times(&mut self, file: u64, atime: Option<u64>, mtime: Option<u64>) -> SysResult<()>;
    /// Flushes an open file to storage.
    fn sync(&mut self, file: u64) -> SysResult<()>;
    /// The status of a path (a link at the end is reported as itself).
    fn stat_path(&mut self, root: usize, path: &str) -> SysResult<Stat>;
    /// Sets the times of a path, as [`HostFs::set_times`] (a link at the end: the link's).
    fn set_times_path(
        &mut self,
        root: usize,
        path: &str,
        atime: Option<u64>,
        mtime: Option<u64>,
    ) -> SysResult<()>;
    /// The entries of a directory (without `.` and `..`), in a stable order.
    fn read_dir(&mut self, root: usize, path: &str) -> SysResult<Vec<DirEntry>>;
    /// Creates a directory.
    fn mkdir(&mut self, root: usize, path: &str) -> SysResult<()>;
    /// Removes a file or link (`dir` false) or an empty directory (`dir` true).
    fn remove(&mut self, root: usize, path: &str, dir: bool) -> SysResult<()>;
    /// Renames within one root.
    fn rename(&mut self, root: usize, from: &str, to: &str) -> SysResult<()>;
    /// The target of the symbolic link at `path` (`INVAL` if it is not one).
    fn readlink(&mut self, root: usize, path: &str) -> SysResult<String>;
    /// Creates a symbolic link at `path` with this target (the kernel has checked it).
    fn symlink(&mut self, root: usize, target: &str, path: &str) -> SysResult<()>;
    /// Creates the hard link `to` to the file or link at `from`.
    fn link(&mut self, root: usize, from: &str, to: &str) -> SysResult<()>;
}
