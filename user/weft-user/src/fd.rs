//! WASI file-descriptor helpers: terminals, preopened directories, the working directory.

use std::io;

use crate::RawHandle;
use crate::errno::Errno;
use crate::sys;

/// Whether `fd` is a terminal (the console): WASI `fd_fdstat_get` reports a character
/// device. False for anything else, and for a handle that does not exist.
pub fn is_terminal(fd: RawHandle) -> bool {
    sys::filetype(fd) == Ok(sys::FILETYPE_CHARACTER_DEVICE)
}

/// Most preopened directories probed for.
const MAX_PREOPENS: u32 = 64;

/// Our preopened directories: handles 3, 4, ... for which `fd_prestat_get` succeeds, up to
/// the first that fails (as wasi-libc finds them at start-up).
pub fn preopens() -> Vec<RawHandle> {
    (3..3 + MAX_PREOPENS)
        .take_while(|&fd| sys::prestat(fd).is_ok())
        .collect()
}

/// Changes into the directory named by the environment variable `PWD`, if it is set and not
/// empty. A child does not inherit its parent's working directory on weft; the shell passes
/// `PWD` instead, and programs call this first thing.
///
/// # Errors
/// When `PWD` names no directory we can reach; the message names it.
pub fn init_cwd() -> io::Result<()> {
    let Some(pwd) = std::env::var_os("PWD") else {
        return Ok(());
    };
    if pwd.is_empty() {
        return Ok(());
    }
    std::env::set_current_dir(&pwd).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot change to PWD={}: {}",
                pwd.to_string_lossy(),
                crate::errno::describe(&e)
            ),
        )
    })
}

/// Whether `e` is the error of a write to a closed pipe or channel (`EPIPE`), which
/// programs usually end on quietly.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || Errno::from_io(e) == Some(Errno::PIPE)
}
