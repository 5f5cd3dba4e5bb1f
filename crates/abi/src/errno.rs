//! Error numbers, as WASI preview1 numbers them (`wasi_snapshot_preview1` `errno`): the
//! error space of every system call, WASI and native alike.

use core::fmt;

/// A WASI error number. [`Errno::SUCCESS`] is 0; every other value is an error.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub u16);

macro_rules! errnos {
    ($($name:ident = $value:literal, $symbol:literal, $text:literal;)*) => {
        impl Errno {
            $(#[doc = $text] pub const $name: Errno = Errno($value);)*

            /// Every errno preview1 defines, as `(errno, symbolic name, description)`.
            pub const ALL: &'static [(Errno, &'static str, &'static str)] =
                &[$((Errno($value), $symbol, $text)),*];

            /// A short description, like `strerror`'s (`"unknown error"` for a number
            /// preview1 does not define).
            pub fn description(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "unknown error",
                }
            }

            /// The symbolic name, like `"ENOENT"` (`"E?"` for a number preview1 does not
            /// define).
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($value => $symbol,)*
                    _ => "E?",
                }
            }
        }
    };
}

errnos! {
    SUCCESS = 0, "ESUCCESS", "no error";
    TOOBIG = 1, "E2BIG", "argument list too long";
    ACCES = 2, "EACCES", "permission denied";
    ADDRINUSE = 3, "EADDRINUSE", "address in use";
    ADDRNOTAVAIL = 4, "EADDRNOTAVAIL", "address not available";
    AFNOSUPPORT = 5, "EAFNOSUPPORT", "address family not supported";
    AGAIN = 6, "EAGAIN", "resource unavailable, try again";
    ALREADY = 7, "EALREADY", "connection already in progress";
    BADF = 8, "EBADF", "bad file descriptor";
    BADMSG = 9, "EBADMSG", "bad message";
    BUSY = 10, "EBUSY", "device or resource busy";
    CANCELED = 11, "ECANCELED", "operation canceled";
    CHILD = 12, "ECHILD", "no child processes";
    CONNABORTED = 13, "ECONNABORTED", "connection aborted";
    CONNREFUSED = 14, "ECONNREFUSED", "connection refused";
    CONNRESET = 15, "ECONNRESET", "connection reset";
    DEADLK = 16, "EDEADLK", "resource deadlock would occur";
    DESTADDRREQ = 17, "EDESTADDRREQ", "destination address required";
    DOM = 18, "EDOM", "mathematics argument out of domain of function";
    DQUOT = 19, "EDQUOT", "disk quota exceeded";
    EXIST = 20, "EEXIST", "file exists";
    FAULT = 21, "EFAULT", "bad address";
    FBIG = 22, "EFBIG", "file too large";
    HOSTUNREACH = 23, "EHOSTUNREACH", "host is unreachable";
    IDRM = 24, "EIDRM", "identifier removed";
    ILSEQ = 25, "EILSEQ", "illegal byte sequence";
    INPROGRESS = 26, "EINPROGRESS", "operation in progress";
    INTR = 27, "EINTR", "interrupted function";
    INVAL = 28, "EINVAL", "invalid argument";
    IO = 29, "EIO", "I/O error";
    ISCONN = 30, "EISCONN", "socket is connected";
    ISDIR = 31, "EISDIR", "is a directory";
    LOOP = 32, "ELOOP", "too many levels of symbolic links";
    MFILE = 33, "EMFILE", "too many open files";
    MLINK = 34, "EMLINK", "too many links";
    MSGSIZE = 35, "EMSGSIZE", "message too large";
    MULTIHOP = 36, "EMULTIHOP", "multihop attempted";
    NAMETOOLONG = 37, "ENAMETOOLONG", "filename too long";
    NETDOWN = 38, "ENETDOWN", "network is down";
    NETRESET = 39, "ENETRESET", "connection aborted by network";
    NETUNREACH = 40, "ENETUNREACH", "network unreachable";
    NFILE = 41, "ENFILE", "too many files open in system";
    NOBUFS = 42, "ENOBUFS", "no buffer space available";
    NODEV = 43, "ENODEV", "no such device";
    NOENT = 44, "ENOENT", "no such file or directory";
    NOEXEC = 45, "ENOEXEC", "executable file format error";
    NOLCK = 46, "ENOLCK", "no locks available";
    NOLINK = 47, "ENOLINK", "link has been severed";
    NOMEM = 48, "ENOMEM", "not enough space";
    NOMSG = 49, "ENOMSG", "no message of the desired type";
    NOPROTOOPT = 50, "ENOPROTOOPT", "protocol not available";
    NOSPC = 51, "ENOSPC", "no space left on device";
    NOSYS = 52, "ENOSYS", "function not supported";
    NOTCONN = 53, "ENOTCONN", "the socket is not connected";
    NOTDIR = 54, "ENOTDIR", "not a directory";
    NOTEMPTY = 55, "ENOTEMPTY", "directory not empty";
    NOTRECOVERABLE = 56, "ENOTRECOVERABLE", "state not recoverable";
    NOTSOCK = 57, "ENOTSOCK", "not a socket";
    NOTSUP = 58, "ENOTSUP", "not supported";
    NOTTY = 59, "ENOTTY", "inappropriate I/O control operation";
    NXIO = 60, "ENXIO", "no such device or address";
    OVERFLOW = 61, "EOVERFLOW", "value too large to be stored in data type";
    OWNERDEAD = 62, "EOWNERDEAD", "previous owner died";
    PERM = 63, "EPERM", "operation not permitted";
    PIPE = 64, "EPIPE", "broken pipe";
    PROTO = 65, "EPROTO", "protocol error";
    PROTONOSUPPORT = 66, "EPROTONOSUPPORT", "protocol not supported";
    PROTOTYPE = 67, "EPROTOTYPE", "protocol wrong type for socket";
    RANGE = 68, "ERANGE", "result too large";
    ROFS = 69, "EROFS", "read-only file system";
    SPIPE = 70, "ESPIPE", "invalid seek";
    SRCH = 71, "ESRCH", "no such process";
    STALE = 72, "ESTALE", "stale file handle";
    TIMEDOUT = 73, "ETIMEDOUT", "connection timed out";
    TXTBSY = 74, "ETXTBSY", "text file busy";
    XDEV = 75, "EXDEV", "cross-device link";
    NOTCAPABLE = 76, "ENOTCAPABLE", "capabilities insufficient";
}

impl Errno {
    /// The errno with this number.
    pub const fn new(raw: u16) -> Errno {
        Errno(raw)
    }

    /// Its number.
    pub const fn raw(self) -> u16 {
        self.0
    }

    /// A call's return value as a result: 0 is success, anything else that error.
    pub fn check(code: i32) -> Result<(), Errno> {
        match code {
            0 => Ok(()),
            n => Err(Errno(u16::try_from(n).unwrap_or(u16::MAX))),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            "E?" => write!(f, "E?({})", self.0),
            name => f.write_str(name),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.description(), self)
    }
}

#[cfg(feature = "std")]
mod io {
    use super::Errno;
    use std::io;

    impl std::error::Error for Errno {}

    impl Errno {
        /// The closest `io::ErrorKind`.
        pub fn kind(self) -> io::ErrorKind {
            use io::ErrorKind as K;
            match self {
                Errno::ACCES | Errno::PERM | Errno::NOTCAPABLE => K::PermissionDenied,
                Errno::AGAIN => K::WouldBlock,
                Errno::EXIST => K::AlreadyExists,
                Errno::INTR => K::Interrupted,
                Errno::INVAL => K::InvalidInput,
                Errno::ISDIR => K::IsADirectory,
                Errno::NOENT => K::NotFound,
                Errno::NOMEM => K::OutOfMemory,
                Errno::NOSPC => K::StorageFull,
                Errno::NOSYS | Errno::NOTSUP => K::Unsupported,
                Errno::NOTDIR => K::NotADirectory,
                Errno::NOTEMPTY => K::DirectoryNotEmpty,
                Errno::PIPE => K::BrokenPipe,
                Errno::ROFS => K::ReadOnlyFilesystem,
                _ => K::Other,
            }
        }

        /// The errno inside an `io::Error`: one made from an [`Errno`], or one std made
        /// from a WASI error number (std on WASI reports raw errors in WASI's numbering).
        pub fn from_io(error: &io::Error) -> Option<Errno> {
            if let Some(e) = error.get_ref().and_then(|e| e.downcast_ref::<Errno>()) {
                return Some(*e);
            }
            error
                .raw_os_error()
                .and_then(|n| u16::try_from(n).ok())
                .map(Errno)
        }
    }

    impl From<Errno> for io::Error {
        fn from(e: Errno) -> io::Error {
            io::Error::new(e.kind(), e)
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn every_number_once_in_order() {
        for (i, (e, name, text)) in Errno::ALL.iter().enumerate() {
            assert_eq!(usize::from(e.raw()), i);
            assert_eq!(e.name(), *name);
            assert_eq!(e.description(), *text);
        }
        assert_eq!(Errno::ALL.len(), 77);
        assert_eq!(Errno::NOTCAPABLE.raw(), 76);
        assert_eq!(Errno(200).name(), "E?");
        assert_eq!(Errno(200).description(), "unknown error");
        assert_eq!(
            std::format!("{}", Errno::NOENT),
            "no such file or directory (ENOENT)"
        );
        assert_eq!(std::format!("{:?}", Errno(200)), "E?(200)");
        assert_eq!(Errno::check(0), Ok(()));
        assert_eq!(Errno::check(44), Err(Errno::NOENT));
        assert_eq!(Errno::check(-1), Err(Errno(u16::MAX)));
    }
}
