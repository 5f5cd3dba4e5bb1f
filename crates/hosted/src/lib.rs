//! weft's hosted platform: the kernel running as an ordinary Linux process.
//!
//! [`HostedPlatform`] gives the kernel ([`weft_kernel::platform::Platform`]) the process's
//! standard streams as the console, the host's clocks and random numbers, and host
//! directories (`weft run --dir`) as [`HostFs`] roots. It is the one place where weft
//! meets the host operating system, so it holds the host-specific choices:
//!
//! - Console input is read by a background thread, started on first use, so that the
//!   kernel's single thread never blocks on standard input; the kernel idles in
//!   [`Platform::wait`] until input arrives or a timer is due.
//! - Console output is written and flushed at once; a closed pipe (`EPIPE`) is not an
//!   error the kernel can do anything about, so write errors are dropped.
//! - Host directories are confined to their roots, symbolic links included: a path is
//!   resolved on the host and must stay under its root.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod hostfs;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError, sync_channel};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use weft_kernel::platform::{ConsoleStream, HostFs, Platform};

use hostfs::HostDirs;

/// How much console input the reader thread takes at a time.
const STDIN_CHUNK: usize = 64 * 1024;

/// How many chunks of console input may wait for the kernel before the reader thread
/// stops reading (back-pressure on whatever feeds standard input).
const STDIN_QUEUE: usize = 4;

/// The kernel's machine when it runs as a Linux process.
pub struct HostedPlatform {
    start: Instant,
    stdin: Console,
    dirs: HostDirs,
}

/// Console input: chunks from the reader thread, and what is left of the last one.
#[derive(Default)]
struct Console {
    chunks: Option<Receiver<Vec<u8>>>,
    pending: Vec<u8>,
    taken: usize,
    eof: bool,
    /// The terminal reported end of input once (Ctrl-D); input may go on after it.
    eof_once: bool,
}

impl Console {
    /// Starts the reader thread if it is not running yet.
    fn start(&mut self) {
        if self.chunks.is_some() || self.eof {
            return;
        }
        let (tx, rx) = sync_channel(STDIN_QUEUE);
        // On a terminal, end of input (Ctrl-D) ends one read, not the input: pass it on as
        // an empty chunk and keep reading.
        let terminal = io::stdin().is_terminal();
        let reader = thread::Builder::new()
            .name("weft-stdin".to_string())
            .spawn(move || {
                let mut stdin = io::stdin().lock();
                loop {
                    let mut chunk = vec![0; STDIN_CHUNK];
                    match stdin.read(&mut chunk) {
                        Ok(0) if terminal => {
                            if tx.send(Vec::new()).is_err() {
                                break;
                            }
                        }
                        Ok(0) => break,
                        Ok(n) => {
                            chunk.truncate(n);
                            if tx.send(chunk).is_err() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // An unreadable stdin is as good as an empty one.
                        Err(_) => break,
                    }
                }
            });
        match reader {
            Ok(_) => self.chunks = Some(rx),
            // Without a thread there is no input: report its end rather than hang.
            Err(_) => self.eof = true,
        }
    }

    fn has_pending(&self) -> bool {
        self.taken < self.pending.len()
    }

    fn accept(&mut self, chunk: Vec<u8>) {
        self.eof_once = chunk.is_empty();
        self.pending = chunk;
        self.taken = 0;
    }

    fn ended(&mut self) {
        self.eof = true;
        self.chunks = None;
    }

    fn read(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.start();
        if self.eof_once {
            self.eof_once = false;
            return Some(0);
        }
        if !self.has_pending() {
            match self.chunks.as_ref().map(Receiver::try_recv) {
                Some(Ok(chunk)) if chunk.is_empty() => return Some(0),
                Some(Ok(chunk)) => self.accept(chunk),
                Some(Err(TryRecvError::Empty)) => return None,
                Some(Err(TryRecvError::Disconnected)) | None => {
                    self.ended();
                    return Some(0);
                }
            }
        }
        if buf.is_empty() {
            return None;
        }
        let rest = &self.pending[self.taken..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.taken += n;
        Some(n)
    }

    /// Blocks until input is available or `timeout` (if any) passes.
    fn wait(&mut self, timeout: Option<Duration>) {
        self.start();
        if self.has_pending() || self.eof || self.eof_once {
            return;
        }
        let Some(chunks) = &self.chunks else {
            return;
        };
        let got = match timeout {
            Some(t) => chunks.recv_timeout(t),
            None => chunks.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match got {
            Ok(chunk) => self.accept(chunk),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.ended(),
        }
    }
}

impl HostedPlatform {
    /// A platform mapping the host directories `dirs` (index = the [`HostFs`] `root`
    /// number).
    ///
    /// # Errors
    /// A directory that does not exist, cannot be resolved or is not a directory; the
    /// message names it.
    pub fn new(dirs: Vec<PathBuf>) -> io::Result<HostedPlatform> {
        Ok(HostedPlatform {
            start: Instant::now(),
            stdin: Console::default(),
            dirs: HostDirs::new(dirs)?,
        })
    }
}

impl Platform for HostedPlatform {
    fn console_write(&mut self, stream: ConsoleStream, bytes: &[u8]) {
        // Errors (a closed pipe, a full disk) are dropped: the kernel has nowhere to
        // report them, and Rust ignores SIGPIPE, so they never end the process.
        let _ = match stream {
            ConsoleStream::Out => {
                let mut out = io::stdout().lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            ConsoleStream::Err => {
                let mut err = io::stderr().lock();
                err.write_all(bytes).and_then(|()| err.flush())
            }
        };
    }

    fn console_read(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.stdin.read(buf)
    }

    fn console_is_terminal(&self) -> bool {
        io::stdin().is_terminal()
    }

    fn console_output_is_terminal(&self) -> bool {
        io::stdout().is_terminal()
    }

    fn monotonic_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wall_clock_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn random(&mut self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_ok() {
            return;
        }
        // The OS source failed (it practically never does). Fall back to SipHash keyed
        // by std's per-process random keys, with a counter, rather than panic.
        let state = RandomState::new();
        for (i, chunk) in buf.chunks_mut(8).enumerate() {
            let mut h = state.build_hasher();
            h.write_usize(i);
            h.write_u64(self.monotonic_ns());
            let bytes = h.finish().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn wait(&mut self, deadline: Option<u64>, console: bool) {
        let timeout = deadline.map(|d| Duration::from_nanos(d.saturating_sub(self.monotonic_ns())));
        if console {
            self.stdin.wait(timeout);
        } else if let Some(t) = timeout {
            thread::sleep(t);
        }
    }

    fn host_fs(&mut self) -> Option<&mut dyn HostFs> {
        Some(&mut self.dirs)
    }
}
