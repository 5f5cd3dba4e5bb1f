//! Kernel objects: what a handle can name.
//!
//! Objects are reference counted (`Rc`); a handle table entry or a message in flight holds
//! one reference. Two rules keep that from leaking or from overflowing the host stack:
//! - Whatever a dropped channel end still had queued goes to the kernel's *graveyard*
//!   ([`Events::graveyard`]) instead of being dropped on the spot; the scheduler empties it
//!   in a loop, so a chain of ends nested in each other's queues is freed iteratively,
//!   never by recursion, and never while a channel is borrowed.
//! - Ends in flight can form cycles (end `b` queued towards `d`, `d` queued towards `b`)
//!   that no process can reach. A channel's own ends may not travel through it, and the
//!   kernel's collector (`State::collect`, in [`crate::kernel`]) finds and frees the other
//!   cycles: an end is reachable if a handle table holds it, or if it is queued towards a
//!   reachable end; the queues of unreachable ends are emptied, which frees them.

use alloc::collections::VecDeque;
use alloc::rc::{Rc, Weak};
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
    /// A process: `wait` and `kill` act through it.
    Process(Rc<ProcessRef>),
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
    /// The process with this pid ended.
    Exited(u32),
}

/// Things objects report to the scheduler from wherever they are dropped or changed, and
/// the counts of live objects ([`crate::Kernel::stats`]).
#[derive(Default)]
pub struct Events {
    /// Keys whose waiters should check again.
    pub wake: Vec<WaitKey>,
    /// Files whose last handle went away, to be closed in the VFS.
    pub closed_files: Vec<Node>,
    /// Messages that can no longer be received, to be dropped by the scheduler (see the
    /// module docs: dropping them here could recurse without bound).
    pub graveyard: Vec<Message>,
    /// Processes whose last handle went away.
    pub released: Vec<u32>,
    /// Channels that have carried handles, for the collector to visit.
    pub carriers: Vec<Weak<RefCell<Channel>>>,
    /// A handle left a table, or a message carried handles, since the last collection.
    pub dirty: bool,
    /// Live channels.
    pub channels: usize,
    /// Bytes queued in all channels (each message counts its length plus
    /// [`MESSAGE_OVERHEAD`]).
    pub channel_bytes: usize,
    /// Handles carried by queued messages.
    pub in_flight: usize,
    /// Live process objects (one per process that has ever had a handle).
    pub process_refs: usize,
    /// Open files.
    pub open_files: usize,
}

/// Shared handle to the kernel's [`Events`].
pub type EventsRef = Rc<RefCell<Events>>;

/// Most bytes a message may carry.
pub const MAX_MESSAGE: usize = weft_abi::MAX_MESSAGE_BYTES;
/// Most handles a message may carry.
pub const MAX_MESSAGE_HANDLES: usize = weft_abi::MAX_MESSAGE_HANDLES;
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
    /// Handles carried by the queued messages.
    handles: usize,
}

/// A two-ended message pipe.
pub struct Channel {
    /// `queues[i]` holds the messages end `i` will receive.
    queues: [Queue; 2],
    open: [bool; 2],
    /// Listed in [`Events::carriers`].
    carrier: bool,
    events: EventsRef,
}

impl Drop for Channel {
    fn drop(&mut self) {
        // Each end emptied its queue when it closed; only the count is left to settle.
        self.events.borrow_mut().channels -= 1;
    }
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
        events.borrow_mut().channels += 1;
        let channel = Rc::new(RefCell::new(Channel {
            queues: [Queue::default(), Queue::default()],
            open: [true, true],
            carrier: false,
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

    /// Whether `other` is an end of the same channel (either side).
    pub fn same_channel(&self, other: &ChannelEnd) -> bool {
        Rc::ptr_eq(&self.channel, &other.channel)
    }

    /// This end's identity for the collector: its channel and side.
    pub(crate) fn id(&self) -> (usize, usize) {
        (Rc::as_ptr(&self.channel) as usize, self.side)
    }

    /// Channel ends carried by the messages queued towards this end (which whoever holds
    /// this end can receive).
    pub(crate) fn queued_ends(&self) -> Vec<Rc<ChannelEnd>> {
        let ch = self.channel.borrow();
        let q = &ch.queues[self.side];
        if q.handles == 0 {
            return Vec::new();
        }
        q.messages
            .iter()
            .flat_map(|m| m.handles.iter())
            .filter_map(|e| match &e.object {
                Object::Channel(end) => Some(end.clone()),
                _ => None,
            })
            .collect()
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
        let carried = handles.len();
        q.handles += carried;
        q.messages.push_back(Message {
            data,
            pos: 0,
            handles,
        });
        let register = carried > 0 && !ch.carrier;
        ch.carrier |= carried > 0;
        let mut ev = ch.events.borrow_mut();
        ev.channel_bytes += cost;
        ev.in_flight += carried;
        if carried > 0 {
            ev.dirty = true;
        }
        if register {
            ev.carriers.push(Rc::downgrade(&self.channel));
        }
        ev.wake.push(self.key());
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
        let cost = m.data.len() + MESSAGE_OVERHEAD;
        q.bytes -= cost;
        q.handles -= m.handles.len();
        if m.pos > 0 {
            m.data.drain(..m.pos);
            m.pos = 0;
        }
        let mut ev = ch.events.borrow_mut();
        ev.channel_bytes -= cost;
        ev.in_flight -= m.handles.len();
        ev.wake.push(self.key());
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
        let mut done = Vec::new();
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
                let m = q.messages.pop_front().expect("front exists");
                q.bytes -= m.data.len() + MESSAGE_OVERHEAD;
                q.handles -= m.handles.len();
                done.push(m);
            }
        }
        let mut ev = ch.events.borrow_mut();
        for m in &done {
            ev.channel_bytes -= m.data.len() + MESSAGE_OVERHEAD;
            ev.in_flight -= m.handles.len();
        }
        // Their handles may be the last references to other ends: the scheduler drops them.
        ev.graveyard
            .extend(done.into_iter().filter(|m| !m.handles.is_empty()));
        ev.wake.push(self.key());
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

impl ChannelEnd {
    /// Empties the queue towards this end (when it closes): its messages go to the
    /// graveyard.
    pub(crate) fn discard_queue(&self) {
        Self::discard_side(&self.channel, self.side);
    }
}

impl ChannelEnd {
    /// The sides of `channel` whose end is open, holds messages, and is not in `reached`
    /// (as [`ChannelEnd::id`] names ends): the collector's verdict.
    pub(crate) fn unreached_ends(
        channel: &Rc<RefCell<Channel>>,
        reached: &alloc::collections::BTreeSet<(usize, usize)>,
    ) -> Vec<(Rc<RefCell<Channel>>, usize)> {
        let ch = channel.borrow();
        let id = Rc::as_ptr(channel) as usize;
        (0..2)
            .filter(|&side| {
                ch.open[side]
                    && !ch.queues[side].messages.is_empty()
                    && !reached.contains(&(id, side))
            })
            .map(|side| (channel.clone(), side))
            .collect()
    }

    /// Empties the queue towards side `side` of `channel` (see [`ChannelEnd::discard_queue`]).
    pub(crate) fn discard_side(channel: &Rc<RefCell<Channel>>, side: usize) {
        let mut ch = channel.borrow_mut();
        let q = core::mem::take(&mut ch.queues[side]);
        let mut ev = ch.events.borrow_mut();
        ev.channel_bytes -= q.bytes;
        ev.in_flight -= q.handles;
        ev.graveyard.extend(q.messages);
    }
}

impl Drop for ChannelEnd {
    fn drop(&mut self) {
        // Messages still queued towards this end can never be read.
        self.discard_queue();
        let mut ch = self.channel.borrow_mut();
        ch.open[self.side] = false;
        self.wake(&ch);
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
        events.borrow_mut().open_files += 1;
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
        let mut ev = self.events.borrow_mut();
        ev.open_files -= 1;
        if let Some(node) = self.node.take() {
            ev.closed_files.push(node);
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

/// A process, as handles name it. All handles to one process share one `ProcessRef`; when
/// the last goes, the kernel is told, and frees the process's entry once it has ended.
pub struct ProcessRef {
    pid: u32,
    events: EventsRef,
}

impl ProcessRef {
    /// The object for process `pid`.
    pub(crate) fn new(pid: u32, events: &EventsRef) -> ProcessRef {
        events.borrow_mut().process_refs += 1;
        ProcessRef {
            pid,
            events: events.clone(),
        }
    }

    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for ProcessRef {
    fn drop(&mut self) {
        let mut ev = self.events.borrow_mut();
        ev.process_refs -= 1;
        ev.released.push(self.pid);
    }
}
