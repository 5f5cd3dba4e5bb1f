//! WASI error numbers, the error space of both WASI preview1 and the native `weft` calls.
//!
//! `std::io::Error::from_raw_os_error` would hand the number to the C library's `strerror`,
//! and `io::Error::kind` maps only some numbers; [`Errno`] keeps the exact number, its
//! symbolic name and a description, and converts into an `io::Error` whose message says both.

use std::fmt;
use std::io;

/// A WASI error number (`wasi_snapshot_preview1` `errno`). Never 0 (success) when it is used
/// as an error.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(u16);

/// `(number, name, description)` for every errno the kernel uses.
const TABLE: &[(u16, &str, &str)] = &[
    (1, "E2BIG", "argument list too long"),
    (2, "EACCES", "permission denied"),
    (6, "EAGAIN", "resource unavailable, try again"),
    (8, "EBADF", "bad file descriptor"),
    (10, "EBUSY", "device or resource busy"),
    (12, "ECHILD", "no child processes"),
    (20, "EEXIST", "file exists"),
    (21, "EFAULT", "bad address"),
    (22, "EFBIG", "file too large"),
    (25, "EILSEQ", "illegal byte sequence"),
    (27, "EINTR", "interrupted function"),
    (28, "EINVAL", "invalid argument"),
    (29, "EIO", "I/O error"),
    (31, "EISDIR", "is a directory"),
    (32, "ELOOP", "too many levels of symbolic links"),
    (33, "EMFILE", "too many open files"),
    (35, "EMSGSIZE", "message too large"),
    (37, "ENAMETOOLONG", "filename too long"),
    (44, "ENOENT", "no such file or directory"),
    (45, "ENOEXEC", "executable file format error"),
    (48, "ENOMEM", "not enough space"),
    (51, "ENOSPC", "no space left on device"),
    (52, "ENOSYS", "function not supported"),
    (54, "ENOTDIR", "not a directory"),
    (55, "ENOTEMPTY", "directory not empty"),
    (58, "ENOTSUP", "not supported"),
    (59, "ENOTTY", "inappropriate I/O control operation"),
    (61, "EOVERFLOW", "value too large to be stored in data type"),
    (63, "EPERM", "operation not permitted"),
    (64, "EPIPE", "broken pipe"),
    (68, "ERANGE", "result too large"),
    (69, "EROFS", "read-only file system"),
    (70, "ESPIPE", "invalid seek"),
    (71, "ESRCH", "no such process"),
    (75, "EXDEV", "cross-device link"),
    (76, "ENOTCAPABLE", "capabilities insufficient"),
];

impl Errno {
    /// Argument list too long.
    pub const TOOBIG: Errno = Errno(1);
    /// Resource unavailable, try again (a non-blocking call found nothing).
    pub const AGAIN: Errno = Errno(6);
    /// Bad file descriptor (no such handle, or a stale one).
    pub const BADF: Errno = Errno(8);
    /// No child processes.
    pub const CHILD: Errno = Errno(12);
    /// File exists.
    pub const EXIST: Errno = Errno(20);
    /// Bad address.
    pub const FAULT: Errno = Errno(21);
    /// Invalid argument.
    pub const INVAL: Errno = Errno(28);
    /// Is a directory.
    pub const ISDIR: Errno = Errno(31);
    /// Message too large.
    pub const MSGSIZE: Errno = Errno(35);
    /// No such file or directory.
    pub const NOENT: Errno = Errno(44);
    /// Executable file format error.
    pub const NOEXEC: Errno = Errno(45);
    /// Not enough space (for example, the process limit is reached).
    pub const NOMEM: Errno = Errno(48);
    /// Function not supported.
    pub const NOSYS: Errno = Errno(52);
    /// Not a directory.
    pub const NOTDIR: Errno = Errno(54);
    /// Directory not empty.
    pub const NOTEMPTY: Errno = Errno(55);
    /// Operation not permitted.
    pub const PERM: Errno = Errno(63);
    /// Broken pipe (the other end of a channel is closed).
    pub const PIPE: Errno = Errno(64);
    /// No such process.
    pub const SRCH: Errno = Errno(71);
    /// Capabilities insufficient (a handle lacks a right).
    pub const NOTCAPABLE: Errno = Errno(76);

    /// The errno with this number.
    pub const fn new(raw: u16) -> Errno {
        Errno(raw)
    }

    /// Its number.
    pub const fn raw(self) -> u16 {
        self.0
    }

    fn entry(self) -> Option<&'static (u16, &'static str, &'static str)> {
        TABLE.iter().find(|(n, _, _)| *n == self.0)
    }

    /// The symbolic name, like `"ENOENT"` (`"E?"` for a number weft does not define).
    pub fn name(self) -> &'static str {
        self.entry().map_or("E?", |e| e.1)
    }

    /// A short description, like `strerror`'s.
    pub fn description(self) -> &'static str {
        self.entry().map_or("unknown error", |e| e.2)
    }

    /// Turns a call's return value into a result: 0 is success, anything else an error.
    pub(crate) fn check(code: i32) -> Result<(), Errno> {
        match code {
            0 => Ok(()),
            n => Err(Errno(u16::try_from(n).unwrap_or(u16::MAX))),
        }
    }

    /// The errno inside an `io::Error`: one made from an [`Errno`], or one std made from a
    /// WASI error number (std on WASI reports raw errors in WASI's numbering).
    pub fn from_io(error: &io::Error) -> Option<Errno> {
        if let Some(e) = error.get_ref().and_then(|e| e.downcast_ref::<Errno>()) {
            return Some(*e);
        }
        error
            .raw_os_error()
            .and_then(|n| u16::try_from(n).ok())
            .map(Errno)
    }

    /// The closest `io::ErrorKind`.
    pub fn kind(self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self.0 {
            2 | 63 | 76 => K::PermissionDenied,
            6 => K::WouldBlock,
            20 => K::AlreadyExists,
            27 => K::Interrupted,
            28 => K::InvalidInput,
            31 => K::IsADirectory,
            44 => K::NotFound,
            48 => K::OutOfMemory,
            51 => K::StorageFull,
            52 | 58 => K::Unsupported,
            54 => K::NotADirectory,
            55 => K::DirectoryNotEmpty,
            64 => K::BrokenPipe,
            69 => K::ReadOnlyFilesystem,
            _ => K::Other,
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Some(e) => f.write_str(e.1),
            None => write!(f, "E?({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.description(), self)
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// A message for an I/O error: the errno's description and name when there is one
/// (`"no such file or directory (ENOENT)"`), otherwise the error's own message.
pub fn describe(error: &io::Error) -> String {
    match Errno::from_io(error) {
        Some(e) => e.to_string(),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions() {
        assert_eq!(Errno::NOENT.name(), "ENOENT");
        assert_eq!(
            Errno::NOENT.to_string(),
            "no such file or directory (ENOENT)"
        );
        assert_eq!(format!("{:?}", Errno::new(200)), "E?(200)");
        assert_eq!(Errno::new(200).description(), "unknown error");
    }

    #[test]
    fn round_trips_through_io_error() {
        let e: io::Error = Errno::SRCH.into();
        assert_eq!(Errno::from_io(&e), Some(Errno::SRCH));
        assert_eq!(describe(&e), "no such process (ESRCH)");
        let e: io::Error = Errno::NOENT.into();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert_eq!(Errno::from_io(&io::Error::other("x")), None);
    }

    #[test]
    fn check_maps_codes() {
        assert_eq!(Errno::check(0), Ok(()));
        assert_eq!(Errno::check(64), Err(Errno::PIPE));
        assert_eq!(Errno::check(-1), Err(Errno::new(u16::MAX)));
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(TABLE.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
