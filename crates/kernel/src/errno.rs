//! Error numbers, as WASI preview1 defines them (`wasi_snapshot_preview1` `errno`).
//!
//! The kernel uses these everywhere a guest can see an error, the native `weft` API too,
//! so userland has one error space.

use core::fmt;

/// A WASI error number. `Errno::SUCCESS` is 0; every other value is an error.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl Errno {
            $(#[doc = $text] pub const $name: Errno = Errno($value);)*

            /// A short description, like `strerror`.
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "unknown error",
                }
            }

            /// The symbolic name (`"NOENT"`).
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => stringify!($name),)*
                    _ => "?",
                }
            }
        }
    };
}

errnos! {
    SUCCESS = 0, "no error";
    TOOBIG = 1, "argument list too long";
    ACCES = 2, "permission denied";
    AGAIN = 6, "resource unavailable, try again";
    BADF = 8, "bad file descriptor";
    BUSY = 10, "device or resource busy";
    CHILD = 12, "no child processes";
    EXIST = 20, "file exists";
    FAULT = 21, "bad address";
    FBIG = 22, "file too large";
    ILSEQ = 25, "illegal byte sequence";
    INTR = 27, "interrupted function";
    INVAL = 28, "invalid argument";
    IO = 29, "I/O error";
    ISDIR = 31, "is a directory";
    LOOP = 32, "too many levels of symbolic links";
    MFILE = 33, "too many open files";
    MSGSIZE = 35, "message too large";
    NAMETOOLONG = 37, "filename too long";
    NOENT = 44, "no such file or directory";
    NOEXEC = 45, "executable file format error";
    NOMEM = 48, "not enough space";
    NOSPC = 51, "no space left on device";
    NOSYS = 52, "function not supported";
    NOTDIR = 54, "not a directory";
    NOTEMPTY = 55, "directory not empty";
    NOTSOCK = 57, "not a socket";
    NOTSUP = 58, "not supported";
    NOTTY = 59, "inappropriate I/O control operation";
    OVERFLOW = 61, "value too large to be stored in data type";
    PERM = 63, "operation not permitted";
    PIPE = 64, "broken pipe";
    RANGE = 68, "result too large";
    ROFS = 69, "read-only file system";
    SPIPE = 70, "invalid seek";
    SRCH = 71, "no such process";
    XDEV = 75, "cross-device link";
    NOTCAPABLE = 76, "extension: capabilities insufficient";
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}", self.name())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A kernel result whose error a guest sees as an errno.
pub type SysResult<T> = Result<T, Errno>;
