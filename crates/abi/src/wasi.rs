//! WASI preview1's flags and enumerations that weft's kernel and userland use.

/// `filetype` values.
pub mod filetype {
    /// Unknown (what weft's console is when it is not a terminal).
    pub const UNKNOWN: u8 = 0;
    /// A character device (a terminal).
    pub const CHARACTER_DEVICE: u8 = 2;
    /// A directory.
    pub const DIRECTORY: u8 = 3;
    /// A regular file.
    pub const REGULAR_FILE: u8 = 4;
    /// A stream socket (what a channel end is).
    pub const SOCKET_STREAM: u8 = 6;
    /// A symbolic link.
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `oflags` of `path_open`.
pub mod oflags {
    /// Create if missing.
    pub const CREAT: u32 = 1;
    /// Must be a directory.
    pub const DIRECTORY: u32 = 2;
    /// With `CREAT`: fail if it exists.
    pub const EXCL: u32 = 4;
    /// Truncate to 0.
    pub const TRUNC: u32 = 8;
}

/// `fdflags`.
pub mod fdflags {
    /// Writes go to the end.
    pub const APPEND: u32 = 1;
    /// Synchronized data writes.
    pub const DSYNC: u32 = 2;
    /// Non-blocking.
    pub const NONBLOCK: u32 = 4;
    /// Synchronized reads.
    pub const RSYNC: u32 = 8;
    /// Synchronized writes.
    pub const SYNC: u32 = 16;
}

/// `fstflags` of the `*_set_times` calls.
pub mod fstflags {
    /// Set the access time to the value given.
    pub const ATIM: u32 = 1;
    /// Set the access time to now.
    pub const ATIM_NOW: u32 = 2;
    /// Set the modification time to the value given.
    pub const MTIM: u32 = 4;
    /// Set the modification time to now.
    pub const MTIM_NOW: u32 = 8;
}

/// `lookupflags`: follow a symbolic link at the end of the path.
pub const LOOKUPFLAGS_SYMLINK_FOLLOW: u32 = 1;

/// `clockid` values.
pub mod clock {
    /// Wall-clock time.
    pub const REALTIME: u32 = 0;
    /// Monotonic time.
    pub const MONOTONIC: u32 = 1;
    /// The process's CPU time.
    pub const PROCESS_CPUTIME: u32 = 2;
    /// The thread's CPU time (a weft process has one thread).
    pub const THREAD_CPUTIME: u32 = 3;
}
