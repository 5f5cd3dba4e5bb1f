//! Executable memory for generated code, and the process-wide registry of published code.
//!
//! # Life of a code region
//! 1. [`CodeBuilder::new`] asks a [`CodeMemory`] for a region: readable and writable, never
//!    executable.
//! 2. The code generator writes machine code into [`CodeBuilder::as_mut_slice`].
//! 3. [`CodeBuilder::publish`] makes the region readable and executable (no longer writable),
//!    then registers its address range with its trap table and an owner tag, and returns a
//!    [`PublishedCode`]. From then on the region is never writable again.
//! 4. Dropping the [`PublishedCode`] unregisters the range, then frees the region.
//!
//! # Invariants (cited as `code.N` from SAFETY comments)
//! 1. A region is writable or executable, never both at once (W^X): a [`CodeBuilder`] owns a
//!    read+write region and can hand out a `&mut [u8]` to it; a [`PublishedCode`] owns a
//!    read+execute region and hands out only addresses.
//! 2. A range is in the registry exactly while its [`PublishedCode`] lives: it is registered
//!    after the region is executable and before anyone can call into it (the caller has no
//!    address before `publish` returns), and unregistered before the region is freed.
//! 3. Whoever drops a [`PublishedCode`] guarantees that no thread executes it any more (no
//!    fiber is running or suspended inside it). So a signal handler that finds the PC of the
//!    thread it interrupted inside a registered range can read that range's trap table for as
//!    long as it runs: that thread is executing the code, so it is not being freed.
//! 4. The registry's slots are never freed (chunks are allocated once and leaked), so a reader
//!    never touches freed memory for a slot, whatever the writers do.
//!
//! # Why a fixed set of slots with sequence counters (and not an RCU snapshot)
//! The fault handler must look a PC up without allocating and without taking any lock the
//! interrupted thread could hold. An immutable snapshot swapped atomically is simple to read,
//! but freeing the old snapshot needs to know that no handler on another thread still reads
//! it (hazard pointers or epochs). Slots that are never freed avoid that question: each slot
//! is a small seqlock (a counter that is odd while a writer changes the slot). A reader never
//! waits: a slot that is odd, or whose counter moved while it was read, is skipped. That is
//! correct because a slot is only written while its code is not executable by anyone yet
//! (registration) or not executed by anyone any more (unregistration, `code.3`), so it can
//! never describe the PC the handler is asking about. Writers serialise on a `Mutex` that
//! only writers take (never a signal handler). Lookups scan the slots in use linearly: they
//! happen only when a fault or a trap is handled, never on a hot path.
#![allow(unsafe_code)]

extern crate std;

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
use std::sync::Mutex;

use crate::TrapCode;

/// Why the platform could not provide or change code memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeError {
    /// The operation that failed (`"mmap"`, `"mprotect"`, `"registry full"` ...).
    pub op: &'static str,
    /// The OS error number, 0 if none.
    pub errno: i32,
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errno != 0 {
            write!(f, "code memory: {} failed (errno {})", self.op, self.errno)
        } else {
            write!(f, "code memory: {}", self.op)
        }
    }
}

/// What a platform provides so that generated code can be written and then run.
///
/// # Safety
/// Implementations guarantee, for every region they hand out:
/// - `allocate(len)` returns a page-aligned region of at least `len` bytes that is readable
///   and writable and **not** executable, and that nothing else uses until `free`;
/// - `publish` makes the whole region readable and executable and **not** writable, and makes
///   the bytes written before it visible to instruction fetch on every core (cache
///   maintenance where the architecture needs it);
/// - `free` returns the region; its addresses are invalid afterwards.
pub unsafe trait CodeMemory: Send + Sync {
    /// The granule of protection changes, a power of two.
    fn page_size(&self) -> usize;

    /// Allocates a read+write (not executable) region of at least `len` bytes, rounded up to
    /// whole pages.
    ///
    /// # Errors
    /// The platform could not map the memory.
    fn allocate(&self, len: usize) -> Result<NonNull<u8>, CodeError>;

    /// Makes `[ptr, ptr + len)` read+execute and no longer writable.
    ///
    /// # Errors
    /// The platform could not change the protection (the region stays as it was).
    ///
    /// # Safety
    /// `ptr` and `len` are a region returned by `allocate(len)` of this object, not yet freed.
    unsafe fn publish(&self, ptr: NonNull<u8>, len: usize) -> Result<(), CodeError>;

    /// Frees a region.
    ///
    /// # Safety
    /// `ptr` and `len` are a region returned by `allocate(len)` of this object, not yet freed,
    /// and nothing will access it again.
    unsafe fn free(&self, ptr: NonNull<u8>, len: usize);
}

fn round_up(len: usize, page: usize) -> Option<usize> {
    len.max(1).checked_add(page - 1).map(|l| l & !(page - 1))
}

/// Code memory of a hosted (unix) process: anonymous `mmap`, `mprotect` to publish.
#[derive(Clone, Copy, Debug, Default)]
pub struct HostedCodeMemory;

/// The hosted code memory, for [`CodeBuilder::new`].
pub static HOSTED_CODE_MEMORY: HostedCodeMemory = HostedCodeMemory;

fn os_error(op: &'static str, e: rustix::io::Errno) -> CodeError {
    CodeError {
        op,
        errno: e.raw_os_error(),
    }
}

// SAFETY: `allocate` maps fresh anonymous memory PROT_READ|PROT_WRITE (never EXEC), rounded
// to whole pages and owned by the caller until `free`; `publish` sets PROT_READ|PROT_EXEC on
// exactly that mapping (so it is no longer writable) after making the written bytes visible
// to instruction fetch (`flush_icache`); `free` unmaps it.
unsafe impl CodeMemory for HostedCodeMemory {
    fn page_size(&self) -> usize {
        rustix::param::page_size()
    }

    fn allocate(&self, len: usize) -> Result<NonNull<u8>, CodeError> {
        let len = round_up(len, self.page_size()).ok_or(CodeError {
            op: "size overflow",
            errno: 0,
        })?;
        // SAFETY: an anonymous private mapping at an address the kernel chooses aliases no
        // existing Rust object.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE,
            )
        }
        .map_err(|e| os_error("mmap", e))?;
        NonNull::new(ptr.cast::<u8>()).ok_or(CodeError {
            op: "mmap returned null",
            errno: 0,
        })
    }

    unsafe fn publish(&self, ptr: NonNull<u8>, len: usize) -> Result<(), CodeError> {
        let len = round_up(len, self.page_size()).expect("allocate checked this length");
        flush_icache(ptr.as_ptr(), len);
        // SAFETY: the caller passes a live region from `allocate` (the trait's contract);
        // changing its protection affects no other mapping.
        unsafe {
            rustix::mm::mprotect(
                ptr.as_ptr().cast(),
                len,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::EXEC,
            )
        }
        .map_err(|e| os_error("mprotect", e))
    }

    unsafe fn free(&self, ptr: NonNull<u8>, len: usize) {
        let len = round_up(len, self.page_size()).expect("allocate checked this length");
        // SAFETY: the caller passes a live region from `allocate` that nothing accesses again.
        let r = unsafe { rustix::mm::munmap(ptr.as_ptr().cast(), len) };
        debug_assert!(r.is_ok(), "munmap of a code region failed: {r:?}");
    }
}

/// Makes freshly written code visible to instruction fetch.
#[cfg(any(target_arch = "x86_64", target_arch = "x86"))]
fn flush_icache(_ptr: *mut u8, _len: usize) {
    // x86 keeps instruction fetch coherent with data writes; the `mprotect` system call that
    // follows serialises this core, and other cores see the code only after they learn its
    // address, through a synchronising operation.
}

/// Makes freshly written code visible to instruction fetch.
#[cfg(target_arch = "aarch64")]
fn flush_icache(ptr: *mut u8, len: usize) {
    // Clean the data cache to the point of unification, invalidate the instruction cache,
    // line by line, then synchronise (the architecture's recipe for self-modifying code).
    let ctr: u64;
    // SAFETY: reading CTR_EL0 is allowed at EL0 on Linux and has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    let dline = 4usize << ((ctr >> 16) & 0xf);
    let iline = 4usize << (ctr & 0xf);
    let start = ptr as usize;
    let end = start + len;
    let mut a = start & !(dline - 1);
    while a < end {
        // SAFETY: cache maintenance by address on memory this process mapped; no data changes.
        unsafe { core::arch::asm!("dc cvau, {}", in(reg) a, options(nostack)) };
        a += dline;
    }
    // SAFETY: a barrier only.
    unsafe { core::arch::asm!("dsb ish", options(nostack)) };
    let mut a = start & !(iline - 1);
    while a < end {
        // SAFETY: cache maintenance by address on memory this process mapped; no data changes.
        unsafe { core::arch::asm!("ic ivau, {}", in(reg) a, options(nostack)) };
        a += iline;
    }
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
}

/// One entry of a trap table: the instruction at `offset` from the start of the region traps
/// with `code` when it faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapEntry {
    /// Offset of the trapping instruction from the start of the code region.
    pub offset: u32,
    /// The trap it stands for.
    pub code: TrapCode,
}

/// A code region being written: read+write, not executable (`code.1`).
pub struct CodeBuilder {
    mem: &'static dyn CodeMemory,
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the builder owns its region exclusively; nothing in it is tied to a thread.
unsafe impl Send for CodeBuilder {}

impl CodeBuilder {
    /// Allocates a writable region of `len` bytes (at least one byte) from `mem`.
    ///
    /// # Errors
    /// The platform could not map the memory.
    pub fn new(mem: &'static dyn CodeMemory, len: usize) -> Result<Self, CodeError> {
        let len = len.max(1);
        let ptr = mem.allocate(len)?;
        Ok(Self { mem, ptr, len })
    }

    /// The region's bytes, to write code into.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `allocate` returned `len` readable and writable bytes that this builder owns
        // exclusively until it is published or dropped (`code.1`); `&mut self` makes this the
        // only reference.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Makes the region executable (and no longer writable), registers it with its trap
    /// table (sorted here) and `owner` (an opaque tag the embedder can ask the registry for),
    /// and returns it.
    ///
    /// # Errors
    /// The protection change failed or the registry is full; the region is freed.
    pub fn publish(
        self,
        mut traps: Vec<TrapEntry>,
        owner: usize,
    ) -> Result<PublishedCode, CodeError> {
        let this = core::mem::ManuallyDrop::new(self);
        let (mem, ptr, len) = (this.mem, this.ptr, this.len);
        // SAFETY: `ptr`/`len` are the live region this builder got from `mem.allocate(len)`.
        if let Err(e) = unsafe { mem.publish(ptr, len) } {
            // SAFETY: the same live region; the builder is consumed, so nothing uses it again.
            unsafe { mem.free(ptr, len) };
            return Err(e);
        }
        traps.sort_by_key(|t| t.offset);
        traps.dedup_by_key(|t| t.offset);
        let traps = traps.into_boxed_slice();
        let start = ptr.as_ptr() as usize;
        let slot = match register(Range {
            start,
            end: start + len,
            kind: Kind::Code,
            traps: traps.as_ptr(),
            traps_len: traps.len(),
            owner,
        }) {
            Ok(slot) => slot,
            Err(e) => {
                // SAFETY: the region was never registered or handed out, nothing runs it.
                unsafe { mem.free(ptr, len) };
                return Err(e);
            }
        };
        Ok(PublishedCode {
            mem,
            ptr,
            len,
            traps,
            slot,
        })
    }
}

impl Drop for CodeBuilder {
    fn drop(&mut self) {
        // SAFETY: the region is live and was never published, so no code runs from it.
        unsafe { self.mem.free(self.ptr, self.len) };
    }
}

/// A published region: read+execute, registered for the fault handler (`code.1`, `code.2`).
///
/// Dropping it unregisters and frees the code: the owner must make sure that no thread is
/// running or suspended inside it by then (`code.3`).
pub struct PublishedCode {
    mem: &'static dyn CodeMemory,
    ptr: NonNull<u8>,
    len: usize,
    /// Read by signal handlers through the registry (raw pointer); freed after unregistering.
    traps: Box<[TrapEntry]>,
    slot: usize,
}

// SAFETY: the region is immutable (read+execute) while this lives and the registry is made for
// concurrent readers, so sharing or moving the handle between threads is fine.
unsafe impl Send for PublishedCode {}
// SAFETY: as above; `&PublishedCode` gives only addresses and the immutable trap table.
unsafe impl Sync for PublishedCode {}

impl PublishedCode {
    /// The address of the first byte.
    pub fn base(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// The region's length in bytes (as requested, not rounded to pages).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty (never: a region has at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address at `offset`, or `None` past the end.
    pub fn at(&self, offset: usize) -> Option<*const u8> {
        (offset < self.len).then(|| self.base().wrapping_add(offset))
    }

    /// The sorted trap table.
    pub fn traps(&self) -> &[TrapEntry] {
        &self.traps
    }
}

impl Drop for PublishedCode {
    fn drop(&mut self) {
        unregister(self.slot);
        // SAFETY: unregistered first (`code.2`); the owner guarantees no thread executes the
        // code any more (`code.3`), so nothing accesses the region again.
        unsafe { self.mem.free(self.ptr, self.len) };
    }
}

/// What a registered range is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Published code with a trap table.
    Code = 1,
    /// An inaccessible guard region of a linear memory: a fault there from JIT code is
    /// `MemoryOutOfBounds`.
    MemoryGuard = 2,
}

#[derive(Clone, Copy)]
struct Range {
    start: usize,
    end: usize,
    kind: Kind,
    traps: *const TrapEntry,
    traps_len: usize,
    owner: usize,
}

/// One registry slot, a seqlock: `seq` is odd while a writer changes the other fields.
/// `end == 0` marks a free slot.
struct Slot {
    seq: AtomicUsize,
    start: AtomicUsize,
    end: AtomicUsize,
    kind: AtomicUsize,
    traps: AtomicPtr<TrapEntry>,
    traps_len: AtomicUsize,
    owner: AtomicUsize,
}

impl Slot {
    const fn empty() -> Slot {
        Slot {
            seq: AtomicUsize::new(0),
            start: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
            kind: AtomicUsize::new(0),
            traps: AtomicPtr::new(ptr::null_mut()),
            traps_len: AtomicUsize::new(0),
            owner: AtomicUsize::new(0),
        }
    }

    /// Writes the slot (writers hold `WRITER`, so there is one writer at a time).
    fn write(&self, r: Option<Range>) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let r = r.unwrap_or(Range {
            start: 0,
            end: 0,
            kind: Kind::Code,
            traps: ptr::null(),
            traps_len: 0,
            owner: 0,
        });
        self.start.store(r.start, Ordering::Relaxed);
        self.end.store(r.end, Ordering::Relaxed);
        self.kind.store(r.kind as usize, Ordering::Relaxed);
        self.traps.store(r.traps.cast_mut(), Ordering::Relaxed);
        self.traps_len.store(r.traps_len, Ordering::Relaxed);
        self.owner.store(r.owner, Ordering::Relaxed);
        self.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Reads a consistent copy, or `None` if the slot is free or being written. Never waits.
    fn read(&self) -> Option<Range> {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 1 {
            return None;
        }
        let start = self.start.load(Ordering::Relaxed);
        let end = self.end.load(Ordering::Relaxed);
        let kind = self.kind.load(Ordering::Relaxed);
        let traps = self.traps.load(Ordering::Relaxed);
        let traps_len = self.traps_len.load(Ordering::Relaxed);
        let owner = self.owner.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != s1 || end == 0 {
            return None;
        }
        let kind = if kind == Kind::MemoryGuard as usize {
            Kind::MemoryGuard
        } else {
            Kind::Code
        };
        Some(Range {
            start,
            end,
            kind,
            traps,
            traps_len,
            owner,
        })
    }
}

const CHUNK_SLOTS: usize = 256;
const CHUNKS: usize = 256;
/// The most ranges (code regions plus guard regions) registered at once.
pub const MAX_RANGES: usize = CHUNK_SLOTS * CHUNKS;

type Chunk = [Slot; CHUNK_SLOTS];

/// Chunks of slots, allocated on demand and never freed (`code.4`).
static CHUNK_TABLE: [AtomicPtr<Chunk>; CHUNKS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS];
/// How many slots readers must scan (only grows).
static SLOTS_USED: AtomicUsize = AtomicUsize::new(0);

/// Writers' state: free slot indices below `SLOTS_USED`.
static WRITER: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn slot(i: usize) -> Option<&'static Slot> {
    let chunk = CHUNK_TABLE[i / CHUNK_SLOTS].load(Ordering::Acquire);
    // SAFETY: a non-null chunk pointer came from `Box::leak` in `register` and is never freed
    // (`code.4`); the Acquire load pairs with the Release store that published it.
    let chunk = unsafe { chunk.as_ref()? };
    Some(&chunk[i % CHUNK_SLOTS])
}

fn register(r: Range) -> Result<usize, CodeError> {
    let mut free = WRITER.lock().unwrap_or_else(|p| p.into_inner());
    let i = match free.pop() {
        Some(i) => i,
        None => {
            let i = SLOTS_USED.load(Ordering::Relaxed);
            if i == MAX_RANGES {
                return Err(CodeError {
                    op: "registry full",
                    errno: 0,
                });
            }
            let c = &CHUNK_TABLE[i / CHUNK_SLOTS];
            if c.load(Ordering::Relaxed).is_null() {
                let chunk: &'static mut Chunk =
                    Box::leak(Box::new([const { Slot::empty() }; CHUNK_SLOTS]));
                c.store(chunk, Ordering::Release);
            }
            i
        }
    };
    slot(i).expect("chunk allocated above").write(Some(r));
    if i == SLOTS_USED.load(Ordering::Relaxed) {
        SLOTS_USED.store(i + 1, Ordering::Release);
    }
    Ok(i)
}

fn unregister(i: usize) {
    let mut free = WRITER.lock().unwrap_or_else(|p| p.into_inner());
    slot(i).expect("a registered slot exists").write(None);
    free.push(i);
}

/// What the registry knows about a PC inside published code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeHit {
    /// Start of the code region.
    pub start: usize,
    /// The PC's offset from `start`.
    pub offset: u32,
    /// The trap table's entry for exactly this offset, if any.
    pub trap: Option<TrapCode>,
    /// The owner tag given to [`CodeBuilder::publish`].
    pub owner: usize,
}

fn find(addr: usize, kind: Kind) -> Option<Range> {
    let used = SLOTS_USED.load(Ordering::Acquire);
    (0..used)
        .filter_map(slot)
        .filter_map(Slot::read)
        .find(|r| r.kind == kind && r.start <= addr && addr < r.end)
}

/// Looks `pc` up among published code, with its trap-table entry. Allocates nothing and takes
/// no lock, so a signal handler may call it. [`lookup_pc_range`] is the safe variant without
/// the trap table.
///
/// # Safety
/// If `pc` is inside published code, that code is not freed during this call: it is the PC
/// that the calling signal handler interrupted on its own thread (`code.3`), or the caller
/// holds the [`PublishedCode`].
pub unsafe fn lookup_pc(pc: usize) -> Option<CodeHit> {
    let r = find(pc, Kind::Code)?;
    let offset = u32::try_from(pc - r.start).ok()?;
    let trap = if r.traps.is_null() || r.traps_len == 0 {
        None
    } else {
        // SAFETY: `r` was read consistently from a registered slot, so `traps`/`traps_len` are
        // the boxed trap table of a `PublishedCode` that was live at that moment; `pc` lies in
        // that code and the caller guarantees it is not freed during this call (its table is
        // freed only after it is unregistered).
        let table = unsafe { core::slice::from_raw_parts(r.traps, r.traps_len) };
        table
            .binary_search_by_key(&offset, |t| t.offset)
            .ok()
            .map(|i| table[i].code)
    };
    Some(CodeHit {
        start: r.start,
        offset,
        trap,
        owner: r.owner,
    })
}

/// Whether `pc` is inside published code (without reading any trap table), with the region's
/// start and owner.
pub fn lookup_pc_range(pc: usize) -> Option<(usize, usize)> {
    find(pc, Kind::Code).map(|r| (r.start, r.owner))
}

/// If `addr` is inside a registered memory guard region, its owner tag. Signal-safe like
/// [`lookup_pc`].
pub fn lookup_guard(addr: usize) -> Option<usize> {
    find(addr, Kind::MemoryGuard).map(|r| r.owner)
}

/// A registered guard region of a linear memory; unregistered on drop.
#[derive(Debug)]
pub struct GuardRegistration {
    slot: usize,
}

/// Registers `[start, start + len)` as a memory guard region: a fault at an address in it, from
/// an instruction in JIT code without a trap-table entry, is `MemoryOutOfBounds`.
///
/// # Errors
/// The registry is full.
pub fn register_guard(
    start: usize,
    len: usize,
    owner: usize,
) -> Result<GuardRegistration, CodeError> {
    let end = start
        .checked_add(len)
        .filter(|&e| e > start)
        .ok_or(CodeError {
            op: "empty or wrapping guard region",
            errno: 0,
        })?;
    register(Range {
        start,
        end,
        kind: Kind::MemoryGuard,
        traps: ptr::null(),
        traps_len: 0,
        owner,
    })
    .map(|slot| GuardRegistration { slot })
}

impl Drop for GuardRegistration {
    fn drop(&mut self) {
        unregister(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn builder_writes_then_publishes() {
        let mut b = CodeBuilder::new(&HOSTED_CODE_MEMORY, 10).unwrap();
        b.as_mut_slice()[..3].copy_from_slice(&[0x90, 0x90, 0xc3]);
        let code = b
            .publish(
                vec![
                    TrapEntry {
                        offset: 2,
                        code: TrapCode::Unreachable,
                    },
                    TrapEntry {
                        offset: 1,
                        code: TrapCode::IntegerOverflow,
                    },
                ],
                77,
            )
            .unwrap();
        assert_eq!(code.traps()[0].offset, 1);
        let base = code.base() as usize;
        // SAFETY: the region is readable (read+execute).
        assert_eq!(unsafe { *code.base().add(2) }, 0xc3);
        // SAFETY: `code` is alive.
        let hit = unsafe { lookup_pc(base + 2) }.unwrap();
        assert_eq!(hit.trap, Some(TrapCode::Unreachable));
        assert_eq!(hit.owner, 77);
        // SAFETY: as above.
        assert_eq!(unsafe { lookup_pc(base + 3) }.unwrap().trap, None);
        // SAFETY: as above.
        let hit = unsafe { lookup_pc(base + 1) }.unwrap();
        assert_eq!(hit.trap, Some(TrapCode::IntegerOverflow));
        drop(code);
        assert_eq!(lookup_pc_range(base + 2), None);
    }

    #[test]
    fn many_regions_register_and_unregister() {
        let mut v = Vec::new();
        for i in 0..600 {
            let b = CodeBuilder::new(&HOSTED_CODE_MEMORY, 1).unwrap();
            v.push(b.publish(Vec::new(), 1_000_000 + i).unwrap());
        }
        for (i, c) in v.iter().enumerate() {
            assert_eq!(lookup_pc_range(c.base() as usize).unwrap().1, 1_000_000 + i);
        }
        let bases: Vec<usize> = v.iter().map(|c| c.base() as usize).collect();
        v.clear();
        // (Other tests may map new code at a freed address meanwhile: check our owner tags.)
        for (i, b) in bases.into_iter().enumerate() {
            assert_ne!(lookup_pc_range(b).map(|r| r.1), Some(1_000_000 + i));
        }
    }

    /// The permissions column of /proc/self/maps for the mapping holding `addr`.
    #[cfg(target_os = "linux")]
    fn perms_of(addr: usize) -> std::string::String {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        for line in maps.lines() {
            let mut it = line.split_whitespace();
            let range = it.next().unwrap();
            let perms = it.next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            let (a, b) = (
                usize::from_str_radix(a, 16).unwrap(),
                usize::from_str_radix(b, 16).unwrap(),
            );
            if a <= addr && addr < b {
                return perms.into();
            }
        }
        panic!("{addr:#x} is not mapped");
    }

    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn runs_published_code_and_is_never_writable_and_executable() {
        let mut b = CodeBuilder::new(&HOSTED_CODE_MEMORY, 6).unwrap();
        let addr = b.as_mut_slice().as_ptr() as usize;
        assert_eq!(&perms_of(addr)[..3], "rw-");
        // mov eax, 42; ret
        b.as_mut_slice()[..6].copy_from_slice(&[0xb8, 42, 0, 0, 0, 0xc3]);
        let code = b.publish(Vec::new(), 0).unwrap();
        assert_eq!(&perms_of(addr)[..3], "r-x");
        // SAFETY: the region holds a complete `extern "C" fn() -> u32` and is executable.
        let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(code.base()) };
        assert_eq!(f(), 42);
    }

    #[test]
    fn guard_regions() {
        let g = register_guard(0x1000_0000, 0x1000, 5).unwrap();
        assert_eq!(lookup_guard(0x1000_0fff), Some(5));
        assert_eq!(lookup_guard(0x1000_1000), None);
        assert_eq!(lookup_pc_range(0x1000_0000), None);
        drop(g);
        assert_eq!(lookup_guard(0x1000_0000), None);
        assert!(register_guard(usize::MAX, 2, 0).is_err());
    }
}
