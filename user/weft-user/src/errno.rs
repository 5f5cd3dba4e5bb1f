//! WASI error numbers, the error space of both WASI preview1 and the native `weft` calls.
//!
//! `std::io::Error::from_raw_os_error` would hand the number to the C library's `strerror`,
//! and `io::Error::kind` maps only some numbers; [`Errno`] (from the ABI crate, `weft-abi`,
//! which the kernel uses too) keeps the exact number, its symbolic name and a description,
//! and converts into an `io::Error` whose message says both.

use std::io;

pub use weft_abi::Errno;

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
}
