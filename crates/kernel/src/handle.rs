//! Per-process handle tables.
//!
//! A handle names an entry of its process's table: the low [`INDEX_BITS`] bits are the slot
//! index and the next [`GEN_BITS`] bits the slot's generation, bumped each time the slot is
//! freed. A closed handle therefore fails with `EBADF` even after its slot is reused (until
//! the generation wraps around after 2048 reuses of one slot). Handles are also WASI file
//! descriptors: fresh slots have generation 0, so a process's first handles are 0, 1, 2...

use alloc::vec::Vec;

use crate::errno::{Errno, SysResult};
use crate::object::{EventsRef, Object};

/// Bits of a handle that hold the slot index.
pub const INDEX_BITS: u32 = 20;
/// Bits of a handle that hold the generation.
pub const GEN_BITS: u32 = 11;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u32 = (1 << GEN_BITS) - 1;

/// What a handle allows. The bits are part of the ABI (docs/abi.md), defined in
/// `weft-abi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights(pub u32);

impl Rights {
    /// Read from it (receive, `fd_read`, list a directory, open files beneath it; `wait`
    /// for a process).
    pub const READ: Rights = Rights(weft_abi::rights::READ);
    /// Write to it (send, `fd_write`, create and remove files beneath a directory).
    pub const WRITE: Rights = Rights(weft_abi::rights::WRITE);
    /// Pass it to another process (`spawn`, `channel_send`).
    pub const TRANSFER: Rights = Rights(weft_abi::rights::TRANSFER);
    /// End the process it names (`kill`).
    pub const KILL: Rights = Rights(weft_abi::rights::KILL);
    /// Every right of a channel end, a file or a directory.
    pub const ALL: Rights =
        Rights(weft_abi::rights::READ | weft_abi::rights::WRITE | weft_abi::rights::TRANSFER);
    /// Every right of a process handle, as `spawn` returns it.
    pub const PROCESS: Rights =
        Rights(weft_abi::rights::READ | weft_abi::rights::TRANSFER | weft_abi::rights::KILL);
    /// Every bit the kernel defines.
    pub const DEFINED: Rights = Rights(Rights::ALL.0 | Rights::KILL.0);

    /// Whether all of `other` is included.
    pub fn has(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    #[must_use]
    pub fn with(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
}

/// WASI's rights of a file descriptor (preview1 `rights`, one bit per operation): what
/// the holder may do with it (`base`) and what descriptors opened beneath a directory may
/// get (`inheriting`). They only shrink (`fd_fdstat_set_rights`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsRights {
    /// Rights on this descriptor.
    pub base: u64,
    /// Rights that descriptors opened through it may have.
    pub inheriting: u64,
}

impl FsRights {
    /// Every right preview1 defines.
    pub const ALL: FsRights = FsRights {
        base: weft_abi::rights::wasi::ALL,
        inheriting: weft_abi::rights::wasi::ALL,
    };
}

/// An object together with the rights its holder has on it.
#[derive(Clone)]
pub struct Entry {
    /// The kernel object.
    pub object: Object,
    /// What the holder may do with it.
    pub rights: Rights,
    /// Its WASI rights (what WASI calls on it may do, on top of `rights`).
    pub fs: FsRights,
}

impl Entry {
    /// An entry with every WASI right (the WASI layer narrows those of files and
    /// directories when it opens them).
    pub fn new(object: Object, rights: Rights) -> Entry {
        Entry {
            object,
            rights,
            fs: FsRights::ALL,
        }
    }

    /// Checks `needed`, with `NOTCAPABLE` if missing.
    pub fn require(&self, needed: Rights) -> SysResult<&Object> {
        if self.rights.has(needed) {
            Ok(&self.object)
        } else {
            Err(Errno::NOTCAPABLE)
        }
    }
}

struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// A process's handle table.
pub struct Handles {
    slots: Vec<Slot>,
    live: usize,
    limit: usize,
    /// Told when a handle leaves the table (the collector may have work).
    events: Option<EventsRef>,
}

impl Handles {
    /// An empty table holding at most `limit` handles.
    pub fn new(limit: usize) -> Handles {
        Handles {
            slots: Vec::new(),
            live: 0,
            limit: limit.min(INDEX_MASK as usize + 1),
            events: None,
        }
    }

    /// Reports every handle that leaves the table to `events` (the kernel's collector of
    /// unreachable channel ends runs only after one did).
    pub(crate) fn watch(&mut self, events: EventsRef) {
        self.events = Some(events);
    }

    fn left(&self) {
        if let Some(ev) = &self.events {
            ev.borrow_mut().dirty = true;
        }
    }

    /// Whether the table is at its limit (an insertion would fail with `MFILE`).
    pub fn is_full(&self) -> bool {
        self.live >= self.limit
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn handle(index: usize, generation: u32) -> u32 {
        index as u32 | (generation << INDEX_BITS)
    }

    fn slot(&self, handle: u32) -> SysResult<usize> {
        let index = (handle & INDEX_MASK) as usize;
        let generation = (handle >> INDEX_BITS) & GEN_MASK;
        match self.slots.get(index) {
            Some(s) if s.entry.is_some() && s.generation == generation && handle >> 31 == 0 => {
                Ok(index)
            }
            _ => Err(Errno::BADF),
        }
    }

    /// Adds `entry` in the lowest free slot and returns its handle (`MFILE` when full).
    pub fn insert(&mut self, entry: Entry) -> SysResult<u32> {
        if self.live >= self.limit {
            return Err(Errno::MFILE);
        }
        let index = match self.slots.iter().position(|s| s.entry.is_none()) {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                self.slots.len() - 1
            }
        };
        let slot = &mut self.slots[index];
        slot.entry = Some(entry);
        self.live += 1;
        Ok(Self::handle(index, slot.generation))
    }

    /// Puts `entry` at slot `index` (which must be free), for setting up a new process.
    pub fn insert_at(&mut self, index: usize, entry: Entry) -> SysResult<u32> {
        if self.live >= self.limit || index > INDEX_MASK as usize {
            return Err(Errno::MFILE);
        }
        while self.slots.len() <= index {
            self.slots.push(Slot {
                generation: 0,
                entry: None,
            });
        }
        let slot = &mut self.slots[index];
        if slot.entry.is_some() {
            return Err(Errno::BUSY);
        }
        slot.entry = Some(entry);
        self.live += 1;
        Ok(Self::handle(index, slot.generation))
    }

    /// The entry `handle` names.
    pub fn get(&self, handle: u32) -> SysResult<&Entry> {
        let i = self.slot(handle)?;
        Ok(self.slots[i]
            .entry
            .as_ref()
            .expect("slot() checked it is occupied"))
    }

    /// The entry `handle` names, mutably.
    pub fn get_mut(&mut self, handle: u32) -> SysResult<&mut Entry> {
        let i = self.slot(handle)?;
        Ok(self.slots[i]
            .entry
            .as_mut()
            .expect("slot() checked it is occupied"))
    }

    /// Removes `handle`, returning its entry.
    pub fn remove(&mut self, handle: u32) -> SysResult<Entry> {
        let i = self.slot(handle)?;
        let slot = &mut self.slots[i];
        slot.generation = (slot.generation + 1) & GEN_MASK;
        self.live -= 1;
        let entry = slot.entry.take().expect("slot() checked it is occupied");
        self.left();
        Ok(entry)
    }

    /// Moves the entry of `from` to the slot of `to`, closing what `to` named
    /// (`fd_renumber`). `from` is closed; `to` keeps its number.
    pub fn renumber(&mut self, from: u32, to: u32) -> SysResult<()> {
        let to_index = self.slot(to)?;
        self.slot(from)?;
        if from == to {
            return Ok(());
        }
        let entry = self.remove(from)?;
        let old = self.slots[to_index].entry.replace(entry);
        drop(old);
        self.left();
        Ok(())
    }

    /// Every open handle and its entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.entry.as_ref().map(|e| (Self::handle(i, s.generation), e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console() -> Entry {
        Entry::new(Object::Console(crate::object::ConsoleEnd::Out), Rights::ALL)
    }

    #[test]
    fn stale_and_forged_handles_fail() {
        let mut t = Handles::new(8);
        let a = t.insert(console()).unwrap();
        let b = t.insert(console()).unwrap();
        assert_eq!((a, b), (0, 1));
        t.remove(a).unwrap();
        let c = t.insert(console()).unwrap();
        assert_eq!(c & INDEX_MASK, 0, "lowest free slot is reused");
        assert_ne!(c, a, "with a new generation");
        assert_eq!(t.get(a).err(), Some(Errno::BADF));
        assert!(t.get(c).is_ok());
        assert_eq!(t.get(7).err(), Some(Errno::BADF));
        assert_eq!(t.get(u32::MAX).err(), Some(Errno::BADF));
        assert_eq!(t.get(1 | (1 << 31)).err(), Some(Errno::BADF));
    }

    #[test]
    fn limit_gives_mfile() {
        let mut t = Handles::new(2);
        t.insert(console()).unwrap();
        t.insert(console()).unwrap();
        assert_eq!(t.insert(console()).err(), Some(Errno::MFILE));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn renumber_replaces_the_target() {
        let mut t = Handles::new(8);
        let a = t.insert(console()).unwrap();
        let b = t.insert(console()).unwrap();
        t.renumber(b, a).unwrap();
        assert!(t.get(a).is_ok());
        assert_eq!(t.get(b).err(), Some(Errno::BADF));
        assert_eq!(t.len(), 1);
        assert_eq!(t.renumber(b, a), Err(Errno::BADF));
    }
}
