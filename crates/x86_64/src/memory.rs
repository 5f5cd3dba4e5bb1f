//! The kernel heap: every usable region of RAM in the boot memory map.
//!
//! The bootloader maps all physical memory at one offset (`physical_memory_offset`) and
//! reports which frames are free (`MemoryRegionKind::Usable`); the rest (the kernel image,
//! the stack, page tables, the boot information, firmware areas) it marks as taken. Each
//! usable region becomes one heap of the [`talc`] allocator, so the heap is as large as the
//! machine (`-m 128M` or `-m 2G`) and nothing is reserved up front. When it runs out, an
//! allocation fails: the engine turns that into a failed `memory.grow`, the kernel into
//! `ENOMEM`.
//!
//! The allocations a guest decides the size of (linear memories, tmpfs files, host-file
//! buffers) are large, and the kernel makes them all fallibly; the kernel's own bookkeeping
//! (process records, handles, messages) is small and allocated as Rust usually does, with
//! an allocation failure ending the machine. So that no guest can starve the kernel by
//! taking all of RAM, large allocations ([`LARGE`] bytes or more) fail while they would
//! leave less than a reserve ([`reserve`]) of the heap free: processes run out of memory
//! first, and the kernel keeps the headroom to clean up after them.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use spinning_top::RawSpinlock;
use talc::TalcLock;
use talc::source::Manual;

/// Regions smaller than this are not worth a heap of their own.
const MIN_REGION: u64 = 64 * 1024;

/// Allocations of this size or more are the large ones that must leave the reserve.
pub const LARGE: usize = 64 * 1024;

/// The heap kept back from large allocations: 1/16 of it, at least 4 MiB and at most
/// 64 MiB.
pub fn reserve(heap: usize) -> usize {
    (heap / 16).clamp(4 << 20, 64 << 20)
}

/// The global allocator. Interrupt handlers never allocate, so the spin lock is only ever
/// taken by the kernel's one thread of execution.
#[global_allocator]
static HEAP: Heap = Heap {
    talc: TalcLock::new(Manual),
    in_use: AtomicUsize::new(0),
    large_limit: AtomicUsize::new(0),
};

/// talc, with a count of the bytes in use and the reserve policy of the module docs.
struct Heap {
    talc: TalcLock<RawSpinlock, Manual>,
    /// Bytes allocated and not yet freed (as requested; talc's own overhead is not
    /// counted, the reserve covers it).
    in_use: AtomicUsize,
    /// The most bytes that may be in use after a large allocation: the heap less the
    /// reserve (0 until [`init`] sets it, which refuses every large allocation).
    large_limit: AtomicUsize,
}

impl Heap {
    /// Whether growing an allocation from `old` to `new` bytes may go ahead.
    fn admits(&self, old: usize, new: usize) -> bool {
        if new < LARGE || new <= old {
            return true;
        }
        let after = self
            .in_use
            .load(Ordering::Relaxed)
            .saturating_add(new - old);
        after <= self.large_limit.load(Ordering::Relaxed)
    }

    /// Counts a successful change from `old` to `new` bytes at `ptr` (null: it failed).
    fn count(&self, ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
        if !ptr.is_null() {
            self.in_use.fetch_add(new, Ordering::Relaxed);
            self.in_use.fetch_sub(old, Ordering::Relaxed);
        }
        ptr
    }
}

// SAFETY: every method passes its arguments on to talc's `GlobalAlloc` unchanged, under the
// same contract the caller gave, or returns null (an allowed answer: allocation failed)
// without touching memory; the counters are plain atomics that no pointer depends on.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.admits(0, layout.size()) {
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc`, passed on.
        let ptr = unsafe { self.talc.alloc(layout) };
        self.count(ptr, 0, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.admits(0, layout.size()) {
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        let ptr = unsafe { self.talc.alloc_zeroed(layout) };
        self.count(ptr, 0, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`: `ptr` came from this allocator
        // (hence from talc) with `layout`.
        unsafe { self.talc.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.admits(layout.size(), new_size) {
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `realloc`, passed on; on failure the old
        // allocation is untouched, as `realloc` requires.
        let new = unsafe { self.talc.realloc(ptr, layout, new_size) };
        self.count(new, layout.size(), new_size)
    }
}

/// Gives every usable region of `regions` to the heap; returns the bytes claimed.
///
/// Called once, at boot, before anything allocates.
pub fn init(physical_memory_offset: u64, regions: &[MemoryRegion]) -> u64 {
    let mut total = 0;
    for region in regions {
        // Frame 0 stays out of the heap so that no allocation can sit at its address.
        let start = region.start.max(0x1000);
        if region.kind != MemoryRegionKind::Usable || region.end <= start {
            continue;
        }
        let len = region.end - start;
        if len < MIN_REGION {
            continue;
        }
        let Some(virt) = physical_memory_offset.checked_add(start) else {
            continue;
        };
        let (Ok(size), Ok(base)) = (usize::try_from(len), usize::try_from(virt)) else {
            continue;
        };
        let base = base as *mut u8;
        // SAFETY: the bootloader maps all physical memory, writable, at
        // `physical_memory_offset`, so `base..base + size` is mapped; the region is
        // `Usable`, which the bootloader reports only for frames that nothing (kernel image,
        // stack, page tables, boot information, firmware) uses; and the memory map's
        // regions do not overlap, so each span is claimed once and by the heap alone.
        if unsafe { HEAP.talc.lock().claim(base, size) }.is_some() {
            total += len;
        }
    }
    let heap = usize::try_from(total).unwrap_or(usize::MAX);
    HEAP.large_limit
        .store(heap.saturating_sub(reserve(heap)), Ordering::Relaxed);
    total
}
