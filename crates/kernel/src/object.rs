//! Kernel objects: what a handle can name.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::errno::{Errno, SysResult};
use crate::handle::Entry;
use crate::vfs::Node;

/// A kernel object. Cloning shares it (a duplicated handle names the same object).
#[derive(Clone)]
pub enum Object {
    /// The console: input, output or error stream.
    Console(ConsoleEnd),
    /// One end of a channel.
    Channel(Rc<ChannelEnd>),
    /// An open file with its offset (shared by duplicated handles, as in POSIX).
    File(Rc<RefCell<OpenFile>>),
    /// A directory, named by its absolute path in the VFS.
    Dir(Rc<Dir>),
}

/// Which console stream a console handle names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleEnd {
    /// Keyboard / standard input.
    In,
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// Something a parked process waits for, raised by the event that may end the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WaitKey {
    /// A channel changed (message queued or taken, an end closed); the channel's id.
    Channel(usize),
    /// A child of this process ended.
    Child(u32),
}

/// Things objects report to the scheduler from wherever they are dropped or changed.
#[derive(Default)]
pub struct Events {
    /// Keys whose waiters should check again.
    pub wake: Vec<WaitKey>,
    /// Files whose last handle went away, to be closed in the VFS.
    pub closed_files: Vec<Node>,
}

/// Shared handle to the kernel's [`Events`].
pub type EventsRef = Rc<RefCell<Events>>;

/// Most bytes a message may carry.
pub const MAX_MESSAGE: usize = 65536;
/// Most handles a message may carry.
pub const MAX_MESSAGE_HANDLES: usize = 16;
/// Most unread bytes queued towards one end before senders wait. Each message counts its
/// length plus [`MESSAGE_OVERHEAD`], so a flood of tiny messages is bounded too.
pub const CHANNEL_CAPACITY: usize = 65536;
/// What a queued message costs beyond its bytes (the kernel's bookkeeping for it).
pub const MESSAGE_OVERHEAD: usize = 64;

/// A message in flight.
pub struct Message {
    /// Its bytes.
    pub data: Vec<u8>,
    /// How many of them a stream read already took.
    pub pos: usize,
    /// Handles it carries (moved from the sender).
    pub handles: Vec<Entry>,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<Message>,
    bytes: usize,
}

/// A two-ended message pipe.
pub struct Channel {
    /// `queues[i]` holds the messages end `i` will receive.
    queues: [Queue; 2],
    open: [bool; 2],
    events: EventsRef,
}

/// One end of a channel. When the last handle to it goes, the end is closed and the peer
/// sees end of stream (`EPIPE` for sends).
pub struct ChannelEnd {
    channel: Rc<RefCell<Channel>>,
    side: usize,
}

impl ChannelEnd {
    /// A new channel's two ends.
    pub fn pair(events: &EventsRef) -> (ChannelEnd, ChannelEnd) {
        let channel = Rc::new(RefCell::new(Channel {
            queues: [Queue::default(), Queue::default()],
            open: [true, true],
            events: events.clone(),
        }));
        (
            ChannelEnd {
                channel: channel.clone(),
                side: 0,
            },
            ChannelEnd { channel, side: 1 },
        )
    }

    /// The channel's identity, for waiting on it.
    pub fn key(&self) -> WaitKey {
        WaitKey::Channel(Rc::as_ptr(&self.channel) as usize)
    }

    fn wake(&self, ch: &Channel) {
        ch.events.borrow_mut().wake.push(self.key());
    }

    /// Whether a receive would not wait (a message is queued, or the peer is gone).
    pub fn readable(&self) -> bool {
        let ch = self.channel.borrow();
        !ch.queues[self.side].messages.is_empty() || !ch.open[1 - self.side]
    }

    /// Whether a send would not wait.
    pub fn writable(&self) -> bool {
        let ch = self.channel.borrow();
        ch.queues[1 - self.side].bytes < CHANNEL_CAPACITY || !ch.open[1 - self.side]
    }

    /// Queues a message for the peer. `AGAIN` when the peer's queue is full (the caller
    /// waits), `PIPE` when the peer is closed, `MSGSIZE` when too big. On error the
    /// handles are given back.
    pub fn send(&self, data: Vec<u8>, handles: Vec<Entry>) -> Result<(), (Errno, Vec<Entry>)> {
        if data.len() > MAX_MESSAGE || handles.len() > MAX_MESSAGE_HANDLES {
            return Err((Errno::MSGSIZE, handles));
        }
        let mut ch = self.channel.borrow_mut();
        let peer = 1 - self.side;
        if !ch.open[peer] {
            return Err((Errno::PIPE, handles));
        }
        let q = &mut ch.queues[peer];
        // A message bigger than the capacity still goes when the queue is empty.
        let cost = data.len() + MESSAGE_OVERHEAD;
        if q.bytes > 0 && q.bytes + cost > CHANNEL_CAPACITY {
            return Err((Errno::AGAIN, handles));
        }
        q.bytes += cost;
        q.messages.push_back(Message {
            data,
            pos: 0,
            handles,
        });
        self.wake(&ch);
        Ok(())
    }

    /// Takes the oldest message if its bytes and handles fit in `max_bytes`/`max_handles`;
    /// otherwise `MSGSIZE` with the sizes it needs. `AGAIN` when empty, `PIPE` when empty
    /// and the peer is closed.
    pub fn recv(
        &self,
        max_bytes: usize,
        max_handles: usize,
    ) -> Result<Message, (Errno, usize, usize)> {
        let mut ch = self.channel.borrow_mut();
        let peer_open = ch.open[1 - self.side];
        let q = &mut ch.queues[self.side];
        let Some(front) = q.messages.front() else {
            let e = if peer_open { Errno::AGAIN } else { Errno::PIPE };
            return Err((e, 0, 0));
        };
        let len = front.data.len() - front.pos;
        if len > max_bytes || front.handles.len() > max_handles {
            return Err((Errno::MSGSIZE, len, front.handles.len()));
        }
        let mut m = q.messages.pop_front().expect("front exists");
        q.bytes -= m.data.len() + MESSAGE_OVERHEAD;
        if m.pos > 0 {
            m.data.drain(..m.pos);
            m.pos = 0;
        }
        self.wake(&ch);
        Ok(m)
    }

    /// Reads queued bytes as a stream into `buf`; a partly read message keeps its rest.
    /// Handles in messages read this way are dropped. `Ok(0)` at end of stream, `AGAIN`
    /// when empty.
    pub fn read_stream(&self, mut buf: &mut [u8]) -> SysResult<usize> {
        let mut ch = self.channel.borrow_mut();
        let peer_open = ch.open[1 - self.side];
        let q = &mut ch.queues[self.side];
        if q.messages.is_empty() {
            return if peer_open { Err(Errno::AGAIN) } else { Ok(0) };
        }
        let mut n = 0;
        while !buf.is_empty() {
            let Some(m) = q.messages.front_mut() else {
                break;
            };
            let take = (m.data.len() - m.pos).min(buf.len());
            buf[..take].copy_from_slice(&m.data[m.pos..m.pos + take]);
            m.pos += take;
            n += take;
            buf = &mut buf[take..];
            if m.pos == m.data.len() {
                q.bytes -= m.data.len() + MESSAGE_OVERHEAD;
                q.messages.pop_front();
            }
        }
        self.wake(&ch);
        Ok(n)
    }

    /// Bytes a stream read could take now.
    pub fn available(&self) -> usize {
        let ch = self.channel.borrow();
        ch.queues[self.side]
            .messages
            .iter()
            .map(|m| m.data.len() - m.pos)
            .sum()
    }
}

impl Drop for ChannelEnd {
    fn drop(&mut self) {
        // Messages still queued towards this end can never be read: drop them (and the
        // handles they carry) once the borrow is released.
        let dropped = {
            let mut ch = self.channel.borrow_mut();
            ch.open[self.side] = false;
            let q = core::mem::take(&mut ch.queues[self.side]);
            self.wake(&ch);
            q
        };
        drop(dropped);
    }
}

/// An open regular file.
pub struct OpenFile {
    node: Option<Node>,
    /// The read/write position.
    pub offset: u64,
    /// Writes go to the end (`O_APPEND`).
    pub append: bool,
    /// Opened non-blocking (`O_NONBLOCK`; reported back, as file reads never wait).
    pub nonblock: bool,
    events: EventsRef,
}

impl OpenFile {
    /// Wraps an open VFS node.
    pub fn new(node: Node, append: bool, events: &EventsRef) -> OpenFile {
        OpenFile {
            node: Some(node),
            offset: 0,
            append,
            nonblock: false,
            events: events.clone(),
        }
    }

    /// The VFS node.
    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("only taken on drop")
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            self.events.borrow_mut().closed_files.push(node);
        }
    }
}

/// A directory handle.
pub struct Dir {
    /// Absolute, normalised path in the VFS.
    pub path: String,
    /// The name it is preopened under (`fd_prestat_dir_name`), if it is a preopen.
    pub preopen: Option<String>,
}
