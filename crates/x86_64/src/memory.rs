//! The kernel heap: every usable region of RAM in the boot memory map.
//!
//! The bootloader maps all physical memory at one offset (`physical_memory_offset`) and
//! reports which frames are free (`MemoryRegionKind::Usable`); the rest (the kernel image,
//! the stack, page tables, the boot information, firmware areas) it marks as taken. Each
//! usable region becomes one heap of the [`talc`] allocator, so the heap is as large as the
//! machine (`-m 128M` or `-m 2G`) and nothing is reserved up front. When it runs out, an
//! allocation fails: the engine turns that into a failed `memory.grow`, the kernel into
//! `ENOMEM`.

use bootloader_api::info::{MemoryRegion, MemoryRegionKind};
use spinning_top::RawSpinlock;
use talc::TalcLock;
use talc::source::Manual;

/// Regions smaller than this are not worth a heap of their own.
const MIN_REGION: u64 = 64 * 1024;

/// The global allocator. Interrupt handlers never allocate, so the spin lock is only ever
/// taken by the kernel's one thread of execution.
#[global_allocator]
static HEAP: TalcLock<RawSpinlock, Manual> = TalcLock::new(Manual);

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
        if unsafe { HEAP.lock().claim(base, size) }.is_some() {
            total += len;
        }
    }
    total
}
