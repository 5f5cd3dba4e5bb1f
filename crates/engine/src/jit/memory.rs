//! Guarded linear memories: a 32-bit memory whose whole index space plus a guard region is
//! reserved up front, so that generated code can leave most bounds checks to the MMU.
//!
//! A [`GuardedMemory`] reserves [`RESERVATION`] bytes of address space (`PROT_NONE`,
//! `MAP_NORESERVE`: no memory is committed): the 4 GiB a 32-bit index can reach, then
//! [`GUARD_SIZE`] more. `[0, len)` is read/write; growing makes the next pages read/write
//! in place with `mprotect`, so the base never moves. An access at index `i < 2^32` with a
//! static offset plus size of at most `GUARD_SIZE` lies inside the reservation: either in
//! `[0, len)` or in an inaccessible page, whose fault the fault handler (`traps`) turns into
//! `MemoryOutOfBounds`, because the whole reservation is registered as a memory guard region
//! (`code::register_guard`) for as long as the memory lives.
//!
//! # Why a 2 GiB guard
//! A larger static offset keeps an explicit check (`translate`'s `mem_addr`). With 2 GiB,
//! every offset that fits the signed 32-bit displacement of an x86_64/aarch64 address
//! (`Offset32`) needs none, which covers what compilers emit (wasmtime's default for 32-bit
//! memories was 2 GiB for the same reason). The cost is address space only: 6 GiB per
//! memory, about 21,000 live memories in a 47-bit (128 TiB) user address space, fewer than
//! the code registry's limit of ranges ([`super::code::MAX_RANGES`]). When a reservation
//! fails (address-space limits such as `ulimit -v`, or the registry is full),
//! [`new_memory`] falls back to a [`HeapMemory`] and the tier runs that instance's code with
//! explicit checks (see `tier`).
//!
//! # Zeroing
//! The pages of an anonymous private mapping are zero until written, and no page past
//! `len` has ever been accessible (memories never shrink), so growth exposes only zeros.
//! A reservation is never reused: dropping the memory unregisters the guard and unmaps it
//! all (so a store dropped frees its address space). A pool that reused reservations would
//! have to discard the old pages (`madvise(MADV_DONTNEED)`) first.
//!
//! # Stores that straddle the end
//! On x86_64 a store that faults writes none of its bytes, so an out-of-bounds store that
//! straddles `len` leaves memory unchanged, as the spec requires (tested). aarch64 allows an
//! unaligned store across a page boundary to write its bytes in the accessible page before
//! it faults; weft does not yet guard against that partial write there.
//!
//! # Invariants (cited as `mem.N`)
//! 1. `base..base + RESERVATION` is a mapping this memory owns; `base..base + len` is
//!    read/write, the rest `PROT_NONE`, and `len` is a multiple of the host page size.
//! 2. The whole reservation is registered as a guard region from before the memory is
//!    handed out until just before it is unmapped.
extern crate std;

use alloc::boxed::Box;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};

use super::code::{self, CodeError, GuardRegistration};
use crate::runtime::memory::{HeapMemory, LinearMemory};

/// Bytes reserved after the 4 GiB index space (see the module docs).
pub const GUARD_SIZE: u64 = 2 << 30;
/// The 32-bit index space.
const INDEX_SPACE: usize = 1 << 32;
/// Bytes of address space one guarded memory reserves.
pub const RESERVATION: usize = INDEX_SPACE + GUARD_SIZE as usize;
/// A Wasm page.
const WASM_PAGE: usize = 65536;

#[cfg(test)]
std::thread_local! {
    /// Test hook: reservations on this thread fail, as under an address-space limit.
    static REFUSE: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Test hook: makes every reservation on this thread fail while `refuse` is set (as an
/// address-space limit would), to exercise the fallbacks.
#[cfg(test)]
pub(crate) fn refuse_reservations(refuse: bool) {
    REFUSE.with(|r| r.set(refuse));
}

fn os_error(op: &'static str, e: rustix::io::Errno) -> CodeError {
    CodeError {
        op,
        errno: e.raw_os_error(),
    }
}

/// A linear memory in a reservation of its whole index space plus a guard region (see the
/// module docs).
pub(crate) struct GuardedMemory {
    base: NonNull<u8>,
    len: usize,
    /// `Some` until `drop` unregisters it (`mem.2`).
    guard: Option<GuardRegistration>,
}

// SAFETY: the memory owns its mapping (`mem.1`) as a `Vec` owns its buffer; the pointer is
// used only through `&self`/`&mut self` of the memory.
unsafe impl Send for GuardedMemory {}
// SAFETY: see above.
unsafe impl Sync for GuardedMemory {}

impl GuardedMemory {
    /// A memory of `len` zero bytes (a multiple of 64 KiB, at most 4 GiB).
    ///
    /// # Errors
    /// The host page size does not divide a Wasm page, or the reservation, its protection
    /// or the guard's registration failed; nothing stays mapped then.
    pub fn new(len: usize) -> Result<GuardedMemory, CodeError> {
        #[cfg(test)]
        if REFUSE.with(core::cell::Cell::get) {
            return Err(CodeError {
                op: "reservation refused (test hook)",
                errno: 0,
            });
        }
        let page = rustix::param::page_size();
        if page == 0
            || !WASM_PAGE.is_multiple_of(page)
            || !len.is_multiple_of(WASM_PAGE)
            || len > INDEX_SPACE
        {
            return Err(CodeError {
                op: "unsupported page or memory size",
                errno: 0,
            });
        }
        // SAFETY: an anonymous private mapping at an address the kernel chooses aliases no
        // existing Rust object; PROT_NONE and NORESERVE commit no memory.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                RESERVATION,
                rustix::mm::ProtFlags::empty(),
                rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
            )
        }
        .map_err(|e| os_error("mmap", e))?;
        let Some(base) = NonNull::new(base.cast::<u8>()) else {
            return Err(CodeError {
                op: "mmap returned null",
                errno: 0,
            });
        };
        let mut memory = GuardedMemory {
            base,
            len: 0,
            guard: None,
        };
        // From here on, dropping `memory` unmaps the reservation. The owner tag is unique
        // per memory (an address may be reserved again after a memory is gone).
        static NEXT_OWNER: AtomicUsize = AtomicUsize::new(1);
        memory.guard = Some(code::register_guard(
            base.as_ptr() as usize,
            RESERVATION,
            NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
        )?);
        memory.make_accessible(len)?;
        Ok(memory)
    }

    /// Makes `[len, new_len)` read/write (`new_len` page-aligned, within the index space).
    fn make_accessible(&mut self, new_len: usize) -> Result<(), CodeError> {
        if new_len <= self.len {
            return Ok(());
        }
        // SAFETY: `[len, new_len)` lies inside the reservation this memory owns (`mem.1`;
        // `new_len <= INDEX_SPACE < RESERVATION`, checked by the callers) and was
        // inaccessible, so no Rust reference points into it; both ends are page-aligned.
        unsafe {
            rustix::mm::mprotect(
                self.base.as_ptr().add(self.len).cast(),
                new_len - self.len,
                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::WRITE,
            )
        }
        .map_err(|e| os_error("mprotect", e))?;
        self.len = new_len;
        Ok(())
    }
}

impl Drop for GuardedMemory {
    fn drop(&mut self) {
        // Unregister first (`mem.2`): once unmapped, the addresses may be mapped again by
        // someone else, and a fault there must not be taken for this memory's.
        drop(self.guard.take());
        // SAFETY: the reservation is this memory's own mapping (`mem.1`); `&mut self` in
        // `drop` means no slice of the memory is live, and generated code no longer runs
        // against it (the store, which owns the memory, is being dropped).
        let r = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), RESERVATION) };
        debug_assert!(r.is_ok(), "munmap of a linear memory failed: {r:?}");
    }
}

// SAFETY: `[base, base + len)` is read/write and owned by this memory (`mem.1`) and the base
// never moves; growth makes fresh pages accessible, which are zero (see the module docs);
// `base` is never null.
unsafe impl LinearMemory for GuardedMemory {
    fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    fn len(&self) -> u64 {
        self.len as u64
    }

    fn grow_to(&mut self, new_len: u64, _max_len: u64) -> Option<()> {
        let new_len = usize::try_from(new_len).ok()?;
        if new_len > INDEX_SPACE || !new_len.is_multiple_of(WASM_PAGE) {
            return None;
        }
        self.make_accessible(new_len).ok()
    }

    fn guard_bytes(&self) -> u64 {
        GUARD_SIZE
    }
}

/// A memory of `len` zero bytes for a store of a JIT engine with guard regions: a
/// [`GuardedMemory`], or a [`HeapMemory`] if the reservation fails; `None` if neither can
/// be had.
pub(crate) fn new_memory(len: usize) -> Option<Box<dyn LinearMemory>> {
    match GuardedMemory::new(len) {
        Ok(m) => Some(Box::new(m)),
        Err(_) => Some(Box::new(HeapMemory::new(len)?)),
    }
}

/// Whether this host grants a guarded memory's reservation (tried once, by the JIT engine).
pub(crate) fn guard_regions_available() -> bool {
    GuardedMemory::new(0).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: &GuardedMemory) -> &[u8] {
        // SAFETY: `[base, base + len)` is read/write and owned by `m` (`mem.1`); `&m` keeps
        // it from growing or being dropped meanwhile.
        unsafe { core::slice::from_raw_parts(m.base(), m.len) }
    }

    #[test]
    fn grows_in_place_with_zeros() {
        let mut m = GuardedMemory::new(WASM_PAGE).unwrap();
        let base = m.base();
        assert_eq!(m.len(), WASM_PAGE as u64);
        assert_eq!(m.guard_bytes(), GUARD_SIZE);
        // SAFETY: byte 10 is inside the accessible first page.
        unsafe { *base.add(10) = 7 };
        m.grow_to(3 * WASM_PAGE as u64, u64::MAX).unwrap();
        assert_eq!(m.base(), base, "the base never moves");
        assert_eq!(m.len(), 3 * WASM_PAGE as u64);
        let b = bytes(&m);
        assert_eq!(b[10], 7);
        assert_eq!(b.iter().map(|&x| u32::from(x)).sum::<u32>(), 7);
        // Not below the current size, not past the index space, whole pages only.
        m.grow_to(WASM_PAGE as u64, u64::MAX).unwrap();
        assert_eq!(m.len(), 3 * WASM_PAGE as u64);
        assert!(
            m.grow_to(INDEX_SPACE as u64 + WASM_PAGE as u64, u64::MAX)
                .is_none()
        );
        assert!(m.grow_to(3 * WASM_PAGE as u64 + 1, u64::MAX).is_none());
        assert_eq!(m.len(), 3 * WASM_PAGE as u64);
        // The whole index space can be made accessible (nothing is committed until touched).
        m.grow_to(INDEX_SPACE as u64, u64::MAX).unwrap();
        // SAFETY: the last byte of the 4 GiB now accessible.
        unsafe { *base.add(INDEX_SPACE - 1) = 1 };
    }

    #[test]
    fn the_reservation_is_a_registered_guard_until_dropped() {
        let m = GuardedMemory::new(0).unwrap();
        let start = m.base() as usize;
        let owner = code::lookup_guard(start).unwrap();
        assert_eq!(code::lookup_guard(start + RESERVATION - 1), Some(owner));
        // Other tests' memories may lie next to this one, but have owners of their own.
        assert_ne!(code::lookup_guard(start + RESERVATION), Some(owner));
        drop(m);
        assert_ne!(code::lookup_guard(start), Some(owner));
    }

    #[test]
    fn a_refused_reservation_falls_back_to_the_heap() {
        refuse_reservations(true);
        assert!(GuardedMemory::new(WASM_PAGE).is_err());
        assert!(!guard_regions_available());
        let m = new_memory(WASM_PAGE).unwrap();
        refuse_reservations(false);
        assert_eq!(m.guard_bytes(), 0);
        assert_eq!(m.len(), WASM_PAGE as u64);
        assert!(guard_regions_available());
        assert_eq!(new_memory(0).unwrap().guard_bytes(), GUARD_SIZE);
    }

    #[test]
    fn reservations_are_released() {
        // 30,000 x 6 GiB is 180 TiB, more than a 47-bit (128 TiB) address space holds at
        // once: this runs out unless every drop unmaps its reservation.
        for _ in 0..30_000 {
            let mut m = GuardedMemory::new(WASM_PAGE).unwrap();
            m.grow_to(2 * WASM_PAGE as u64, u64::MAX).unwrap();
        }
    }
}
