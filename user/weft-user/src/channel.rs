//! Handles and channels: creating channels, sending and receiving messages (bytes plus
//! handles), closing handles.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use crate::RawHandle;
use crate::errno::Errno;
use crate::sys::{self, Recv};

/// Most handles one message carries (docs/abi.md).
pub const MAX_MESSAGE_HANDLES: usize = weft_abi::MAX_MESSAGE_HANDLES;
/// Largest message, in bytes (docs/abi.md).
pub const MAX_MESSAGE_BYTES: usize = weft_abi::MAX_MESSAGE_BYTES;

/// An owned handle: closed when dropped.
///
/// A handle is also a WASI file descriptor, so a channel end converts into a [`File`]
/// whose `read` and `write` treat the channel as a byte stream, and a [`File`] converts
/// into a handle that can be sent or passed to a child.
#[derive(Debug)]
pub struct Handle(OwnedFd);

impl Handle {
    /// Its number in our handle table.
    pub fn raw(&self) -> RawHandle {
        self.0.as_raw_fd().cast_unsigned()
    }
}

impl AsFd for Handle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for Handle {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl From<OwnedFd> for Handle {
    fn from(fd: OwnedFd) -> Handle {
        Handle(fd)
    }
}

impl From<Handle> for OwnedFd {
    fn from(h: Handle) -> OwnedFd {
        h.0
    }
}

impl From<File> for Handle {
    fn from(file: File) -> Handle {
        Handle(file.into())
    }
}

impl From<Handle> for File {
    fn from(h: Handle) -> File {
        File::from(h.0)
    }
}

/// Channels: pairs of connected ends.
#[derive(Debug)]
pub struct Channel;

impl Channel {
    /// Creates a channel and returns its two ends (each readable, writable, transferable).
    ///
    /// # Errors
    /// `EMFILE`/`ENOMEM` when a limit is reached.
    pub fn create() -> io::Result<(Handle, Handle)> {
        let (a, b) = sys::channel_create()?;
        Ok((Handle(a), Handle(b)))
    }
}

/// Sends one message on the channel end `h`: `bytes` plus `handles`, which move to the
/// receiver (they leave our table).
///
/// # Errors
/// `EPIPE` if the other end is closed, `EMSGSIZE` if the message is too big (more than
/// [`MAX_MESSAGE_BYTES`] or [`MAX_MESSAGE_HANDLES`]), `ENOTCAPABLE` if `h` may not write
/// or a handle may not be transferred. Nothing is sent then, and `handles` are closed.
pub fn send(h: &Handle, bytes: &[u8], handles: Vec<Handle>) -> io::Result<()> {
    let raws: Vec<u32> = handles.iter().map(Handle::raw).collect();
    sys::channel_send(h.raw(), bytes, &raws)?;
    // They are the receiver's now: give up our numbers without closing them.
    for handle in handles {
        let _moved: RawFd = handle.0.into_raw_fd();
    }
    Ok(())
}

/// Receives the oldest message on the channel end `h`, waiting while there is none:
/// its bytes and the handles it carried (now ours). The buffer grows to fit the message.
///
/// # Errors
/// `EPIPE` (kind `BrokenPipe`) when the channel is empty and the other end is closed;
/// `ENOTCAPABLE` if `h` may not read.
pub fn recv(h: &Handle) -> io::Result<(Vec<u8>, Vec<Handle>)> {
    receive(h, 0)?.ok_or_else(|| Errno::AGAIN.into())
}

/// Like [`recv`], but returns `Ok(None)` instead of waiting when the channel is empty.
///
/// # Errors
/// As [`recv`].
pub fn try_recv(h: &Handle) -> io::Result<Option<(Vec<u8>, Vec<Handle>)>> {
    receive(h, sys::RECV_NONBLOCK)
}

fn receive(h: &Handle, flags: u32) -> io::Result<Option<(Vec<u8>, Vec<Handle>)>> {
    let mut buf = vec![0u8; 4096];
    let mut handles = [0u32; MAX_MESSAGE_HANDLES];
    loop {
        match sys::channel_recv(h.raw(), &mut buf, &mut handles, flags) {
            Ok(Recv::Message(len, owned)) => {
                buf.truncate(len);
                return Ok(Some((buf, owned.into_iter().map(Handle).collect())));
            }
            // The message needs more room than we gave; it stays queued, so retry bigger.
            // (Handles are never more than MAX_MESSAGE_HANDLES.)
            Ok(Recv::TooSmall(len, nh)) => {
                if nh > handles.len() || len <= buf.len() {
                    return Err(Errno::MSGSIZE.into());
                }
                buf.resize(len, 0);
            }
            Err(Errno::AGAIN) if flags & sys::RECV_NONBLOCK != 0 => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Closes a handle (WASI `fd_close`), reporting an error that dropping it would ignore.
///
/// # Errors
/// `EBADF` if the kernel no longer knows it.
pub fn close(h: Handle) -> io::Result<()> {
    let raw = h.raw();
    let _released: RawFd = h.0.into_raw_fd();
    Ok(sys::close(raw)?)
}
