//! Guarded linear memories: a 32-bit memory whose whole index space plus a guard region is
//! reserved up front, so that generated code can leave most bounds checks to the MMU; the
//! engine's pool of idle reservations; and modules' memory images, mapped copy-on-write.
//!
//! A [`GuardedMemory`] reserves [`RESERVATION`] bytes of address space (`PROT_NONE`,
//! `MAP_NORESERVE`: no memory is committed): the 4 GiB a 32-bit index can reach, then
//! [`GUARD_SIZE`] more. `[0, len)` is read/write; growing makes the next pages read/write
//! in place with `mprotect`, so the base never moves. An access at index `i < 2^32` with a
//! static offset plus size of at most `GUARD_SIZE` lies inside the reservation: either in
//! `[0, len)` or in an inaccessible page, whose fault the fault handler (`traps`) turns into
//! `MemoryOutOfBounds`, because the whole reservation is registered as a memory guard region
//! (`code::register_guard`) for as long as it is mapped.
//!
//! Every store of a hosted engine makes its memories here ([`MemoryPool`] is the engine's
//! [`MemoryAllocator`]), whatever its strategy: the JIT needs the guard region, and the
//! interpreter, which checks every access itself, gains the pool and the images below.
//!
//! # Why a 2 GiB guard
//! A larger static offset keeps an explicit check (`translate`'s `mem_addr`). With 2 GiB,
//! every offset that fits the signed 32-bit displacement of an x86_64/aarch64 address
//! (`Offset32`) needs none, which covers what compilers emit (wasmtime's default for 32-bit
//! memories was 2 GiB for the same reason). The cost is address space only: 6 GiB per
//! memory, about 21,000 live memories in a 47-bit (128 TiB) user address space, fewer than
//! the code registry's limit of ranges ([`super::code::MAX_RANGES`]). When a reservation
//! fails (address-space limits such as `ulimit -v`, or the registry is full), the pool
//! falls back to a [`HeapMemory`] and the tier runs that instance's code with explicit
//! checks (see `tier`).
//!
//! # Reuse
//! Reserving and registering 6 GiB, and unmapping it again, costs more than the rest of a
//! small instantiation. So a memory dropped gives its reservation back to its engine's
//! [`MemoryPool`], which keeps up to [`POOL_SIZE`] of them for the engine's next memories
//! (and unmaps the rest, and all of them when the engine goes). Before a reservation goes
//! back, its accessible part is mapped anew as fresh anonymous read/write pages (one `mmap`
//! with `MAP_FIXED`): that discards every page the memory had, its image's mapping
//! included, so a reused reservation reads as zero, like a new one; it stays read/write up
//! to the old length, so a next memory of the same size (the same module instantiated
//! again) needs no `mprotect`, and one of another size one `mprotect` of the difference.
//!
//! # Images
//! A module whose active data segments all have constant offsets into its own memory 0,
//! within the memory's minimum size, gets a memory image when it is made
//! ([`MemoryPool::prepare_image`]): a sealed `memfd` holding the pages the segments write,
//! as the segments leave them. Instantiation maps those pages over the fresh memory,
//! private and copy-on-write ([`LinearMemory::map_image`]), instead of copying the segments:
//! one `mmap`, no copy, and no page is touched until the guest touches it (a read maps the
//! file's page, a write copies it). The file never changes (sealed against writes and
//! resizing), so every instance sees the same initial bytes; a private mapping never writes
//! back. Where `memfd` is missing (not Linux), or it fails, the segments are copied.
//!
//! # Zeroing
//! The pages of an anonymous private mapping are zero until written, and no page past
//! `len` has been written since the reservation was mapped or reset (memories never shrink;
//! a reused reservation's pages past a smaller new length are made inaccessible before the
//! memory is handed out), so growth exposes only zeros.
//!
//! # Stores that straddle the end
//! On x86_64 a store that faults writes none of its bytes, so an out-of-bounds store that
//! straddles `len` leaves memory unchanged, as the spec requires (tested). aarch64 allows an
//! unaligned store across a page boundary to write its bytes in the accessible page before
//! it faults; weft does not yet guard against that partial write there.
//!
//! # Invariants (cited as `mem.N`)
//! 1. `base..base + RESERVATION` is a mapping the [`Reservation`] owns; in a memory,
//!    `base..base + len` is read/write (anonymous pages, or an image's pages mapped
//!    privately), the rest `PROT_NONE`, and `len` is a multiple of the host page size; in
//!    the pool, `[0, rw_len)` is fresh read/write anonymous memory no one has touched since
//!    it was mapped, the rest `PROT_NONE`.
//! 2. The whole reservation is registered as a guard region from before it is handed out
//!    until just before it is unmapped.
//! 3. An image's file is sealed against writes and size changes before any memory maps it.
extern crate std;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::code::{self, CodeError, GuardRegistration};
use crate::runtime::memory::{HeapMemory, LinearMemory, MemoryAllocator, MemoryImage};

/// Bytes reserved after the 4 GiB index space (see the module docs).
pub const GUARD_SIZE: u64 = 2 << 30;
/// The 32-bit index space.
const INDEX_SPACE: usize = 1 << 32;
/// Bytes of address space one guarded memory reserves.
pub const RESERVATION: usize = INDEX_SPACE + GUARD_SIZE as usize;
/// A Wasm page.
const WASM_PAGE: usize = 65536;
/// Idle reservations an engine's pool keeps (192 GiB of address space, committing nothing).
pub const POOL_SIZE: usize = 32;

#[cfg(test)]
std::thread_local! {
    /// Test hook: reservations on this thread fail, as under an address-space limit.
    static REFUSE: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Test hook: makes every reservation on this thread fail while `refuse` is set (as an
/// address-space limit would), pooled ones too, to exercise the fallbacks.
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

/// One reservation of [`RESERVATION`] bytes, registered as a guard region; unregistered
/// and unmapped on drop (`mem.1`, `mem.2`).
pub(crate) struct Reservation {
    base: NonNull<u8>,
    /// `Some` until `drop` unregisters it (`mem.2`).
    guard: Option<GuardRegistration>,
    /// While idle: `[0, rw_len)` is read/write and untouched since it was reset (`mem.1`).
    rw_len: usize,
}

// SAFETY: the reservation owns its mapping (`mem.1`) as a `Vec` owns its buffer; the
// pointer is used only by its owner.
unsafe impl Send for Reservation {}
// SAFETY: see above; `&Reservation` gives no access to the bytes.
unsafe impl Sync for Reservation {}

impl Reservation {
    /// A fresh reservation, all of it `PROT_NONE`.
    ///
    /// # Errors
    /// The host page size does not divide a Wasm page, or the mapping or the guard's
    /// registration failed; nothing stays mapped then.
    fn new() -> Result<Reservation, CodeError> {
        let page = rustix::param::page_size();
        if page == 0 || !WASM_PAGE.is_multiple_of(page) {
            return Err(CodeError {
                op: "unsupported page size",
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
        let mut r = Reservation {
            base,
            guard: None,
            rw_len: 0,
        };
        // From here on, dropping `r` unmaps the reservation. The owner tag is unique per
        // reservation (an address may be reserved again after a reservation is gone).
        static NEXT_OWNER: AtomicUsize = AtomicUsize::new(1);
        r.guard = Some(code::register_guard(
            base.as_ptr() as usize,
            RESERVATION,
            NEXT_OWNER.fetch_add(1, Ordering::Relaxed),
        )?);
        Ok(r)
    }

    /// Makes `[0, len)` (the accessible part; the rest is `PROT_NONE`) fresh read/write
    /// anonymous memory again, discarding its pages (and any image mapped there), so the
    /// reservation is as new except that its next memory of the same size needs no
    /// `mprotect` (`mem.1`).
    ///
    /// # Safety
    /// No reference into `[base, base + len)` is live, and no code runs against it.
    unsafe fn reset(&mut self, len: usize) -> Result<(), CodeError> {
        self.rw_len = 0;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: `[base, base + len)` lies in the mapping this reservation owns (`mem.1`;
        // callers pass a memory's `len <= INDEX_SPACE`), and nothing refers to it (the
        // contract); replacing it with MAP_FIXED touches no other mapping.
        unsafe {
            rustix::mm::mmap_anonymous(
                self.base.as_ptr().cast(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::PRIVATE
                    | rustix::mm::MapFlags::NORESERVE
                    | rustix::mm::MapFlags::FIXED,
            )
        }
        .map_err(|e| os_error("mmap (reset)", e))?;
        self.rw_len = len;
        Ok(())
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // Unregister first (`mem.2`): once unmapped, the addresses may be mapped again by
        // someone else, and a fault there must not be taken for this memory's.
        drop(self.guard.take());
        // SAFETY: the reservation is this value's own mapping (`mem.1`); `&mut self` in
        // `drop` means its owner (a memory being dropped, or the pool) holds no slice of it,
        // and no generated code runs against it any more.
        let r = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), RESERVATION) };
        debug_assert!(r.is_ok(), "munmap of a linear memory failed: {r:?}");
    }
}

/// An engine's idle reservations (see "Reuse"); its [`MemoryAllocator`].
pub(crate) struct MemoryPool {
    /// At most [`POOL_SIZE`], each reset (`mem.1`).
    idle: Mutex<Vec<Reservation>>,
}

impl core::fmt::Debug for MemoryPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryPool").finish_non_exhaustive()
    }
}

impl MemoryPool {
    /// The pool of a hosted engine, if this host grants a guarded memory's reservation (a
    /// probe, which becomes the pool's first idle reservation); `None` if it does not, and
    /// the engine's memories are then the heap's.
    pub fn for_host() -> Option<Arc<MemoryPool>> {
        let pool = Arc::new(MemoryPool {
            idle: Mutex::new(Vec::new()),
        });
        drop(GuardedMemory::new(0, Some(&pool)).ok()?);
        Some(pool)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Reservation>> {
        // A panic while the lock is held leaves a valid list (push and pop are atomic
        // with respect to unwinding).
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle reservation, or a new one.
    fn take(&self) -> Result<Reservation, CodeError> {
        match self.idle().pop() {
            Some(r) => Ok(r),
            None => Reservation::new(),
        }
    }

    /// Keeps `r` (reset, `mem.1`) for a later memory, unless the pool is full: then it is
    /// unmapped.
    fn give_back(&self, r: Reservation) {
        let mut idle = self.idle();
        if idle.len() < POOL_SIZE {
            idle.push(r);
        } else {
            drop(idle);
            drop(r);
        }
    }

    /// How many reservations are idle.
    #[cfg(test)]
    pub fn idle_count(&self) -> usize {
        self.idle().len()
    }
}

impl MemoryAllocator for Arc<MemoryPool> {
    /// A [`GuardedMemory`], or a [`HeapMemory`] if the reservation fails.
    fn allocate(&self, len: usize) -> Option<Box<dyn LinearMemory>> {
        match GuardedMemory::new(len, Some(self)) {
            Ok(m) => Some(Box::new(m)),
            Err(_) => Some(Box::new(HeapMemory::new(len)?)),
        }
    }

    fn prepare_image(&self, segments: &[(usize, &[u8])], len: usize) -> Option<MemoryImage> {
        let image = ImageFile::new(segments, len)?;
        Some(MemoryImage(Box::new(image)))
    }
}

/// A module's memory image (see "Images"): `len` bytes of a sealed file, the memory's
/// bytes from `offset` on (both page-aligned).
pub(crate) struct ImageFile {
    #[cfg_attr(
        not(any(target_os = "linux", target_os = "android")),
        expect(dead_code, reason = "only made where memfd exists")
    )]
    fd: rustix::fd::OwnedFd,
    offset: usize,
    len: usize,
}

impl ImageFile {
    /// The image of `segments` in a memory of `len` bytes, or `None` if there is nothing to
    /// map or the file cannot be made.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn new(segments: &[(usize, &[u8])], len: usize) -> Option<ImageFile> {
        use rustix::fs::{MemfdFlags, SealFlags};
        let page = rustix::param::page_size();
        let lo = segments
            .iter()
            .filter(|(_, b)| !b.is_empty())
            .map(|&(at, _)| at)
            .min()?;
        let hi = segments.iter().map(|&(at, b)| at + b.len()).max()?;
        let offset = lo / page * page;
        let end = hi.checked_next_multiple_of(page)?;
        if end > len {
            return None;
        }
        let fd = rustix::fs::memfd_create(
            "weft-memory-image",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .ok()?;
        rustix::fs::ftruncate(&fd, (end - offset) as u64).ok()?;
        for &(at, bytes) in segments {
            let mut done = 0;
            while done < bytes.len() {
                let n =
                    rustix::io::pwrite(&fd, &bytes[done..], (at - offset + done) as u64).ok()?;
                if n == 0 {
                    return None;
                }
                done += n;
            }
        }
        // `mem.3`: nobody can change the bytes any memory maps from here on.
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SEAL | SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK,
        )
        .ok()?;
        Some(ImageFile {
            fd,
            offset,
            len: end - offset,
        })
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn new(_segments: &[(usize, &[u8])], _len: usize) -> Option<ImageFile> {
        None
    }
}

/// A linear memory in a reservation of its whole index space plus a guard region (see the
/// module docs).
pub(crate) struct GuardedMemory {
    base: NonNull<u8>,
    len: usize,
    /// `Some` until `drop` gives it back or unmaps it.
    reservation: Option<Reservation>,
    /// Where the reservation goes back to when the memory is dropped.
    pool: Option<Arc<MemoryPool>>,
}

impl GuardedMemory {
    /// A memory of `len` zero bytes (a multiple of 64 KiB, at most 4 GiB), in a reservation
    /// from `pool` if there is one idle.
    ///
    /// # Errors
    /// The host page size does not divide a Wasm page, or the reservation, its protection
    /// or the guard's registration failed; nothing stays mapped then (a pooled reservation
    /// goes back to the pool).
    pub fn new(len: usize, pool: Option<&Arc<MemoryPool>>) -> Result<GuardedMemory, CodeError> {
        #[cfg(test)]
        if REFUSE.with(core::cell::Cell::get) {
            return Err(CodeError {
                op: "reservation refused (test hook)",
                errno: 0,
            });
        }
        if !len.is_multiple_of(WASM_PAGE) || len > INDEX_SPACE {
            return Err(CodeError {
                op: "unsupported memory size",
                errno: 0,
            });
        }
        let reservation = match pool {
            Some(pool) => pool.take()?,
            None => Reservation::new()?,
        };
        // From here on, dropping `memory` gives the reservation back (or unmaps it). Its
        // first `rw_len` bytes are zero and read/write already (`mem.1`).
        let mut memory = GuardedMemory {
            base: reservation.base,
            len: reservation.rw_len,
            reservation: Some(reservation),
            pool: pool.cloned(),
        };
        if len < memory.len {
            // SAFETY: `[len, memory.len)` lies in the reservation (`mem.1`), read/write and
            // untouched since its reset, and nothing refers to it (the memory is not handed
            // out yet); both ends are page-aligned.
            unsafe {
                rustix::mm::mprotect(
                    memory.base.as_ptr().add(len).cast(),
                    memory.len - len,
                    rustix::mm::MprotectFlags::empty(),
                )
            }
            .map_err(|e| os_error("mprotect", e))?;
            memory.len = len;
        }
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
        let Some(mut r) = self.reservation.take() else {
            return;
        };
        if let Some(pool) = &self.pool {
            // SAFETY: `&mut self` in `drop` means no slice of the memory is live, and
            // generated code no longer runs against it (the store, which owns the memory,
            // is being dropped).
            if unsafe { r.reset(self.len) }.is_ok() {
                pool.give_back(r);
            }
            // A failed reset leaves pages behind: `r` is dropped, unmapping all of it.
        }
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

    fn map_image(&mut self, image: &MemoryImage) -> bool {
        let Some(image) = image.0.downcast_ref::<ImageFile>() else {
            return false;
        };
        if image
            .offset
            .checked_add(image.len)
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let rw = rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE;
            let at = self.base.as_ptr().wrapping_add(image.offset).cast();
            // SAFETY: `[offset, offset + len)` lies inside `[0, self.len)` (checked above),
            // which this memory owns (`mem.1`) and nothing refers to (`&mut self`); both
            // ends are page-aligned (`ImageFile::new`). Replacing it with a private mapping
            // of the sealed file (`mem.3`) keeps it read/write, and the file's bytes are
            // what the segments would have written over the zeros there.
            let mapped = unsafe {
                rustix::mm::mmap(
                    at,
                    image.len,
                    rw,
                    rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::FIXED,
                    &image.fd,
                    0,
                )
            };
            if mapped.is_ok() {
                return true;
            }
            // A failed MAP_FIXED may have unmapped the range: map fresh zero pages there
            // again, so the caller can copy the segments instead.
            // SAFETY: as above, with anonymous pages: the range is zero and read/write again.
            let restored = unsafe {
                rustix::mm::mmap_anonymous(
                    at,
                    image.len,
                    rw,
                    rustix::mm::MapFlags::PRIVATE
                        | rustix::mm::MapFlags::NORESERVE
                        | rustix::mm::MapFlags::FIXED,
                )
            };
            if restored.is_err() {
                // The range may be a hole that another mapping could take: the memory gives
                // up all its bytes (`len` 0, so every access is out of bounds), and its
                // reservation is never reused nor unmapped (which could hit that mapping).
                self.len = 0;
                core::mem::forget(self.reservation.take());
            }
            false
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        false
    }
}

// SAFETY: the memory owns its mapping (`mem.1`) as a `Vec` owns its buffer; the pointer is
// used only through `&self`/`&mut self` of the memory.
unsafe impl Send for GuardedMemory {}
// SAFETY: see above.
unsafe impl Sync for GuardedMemory {}

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
        let mut m = GuardedMemory::new(WASM_PAGE, None).unwrap();
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
        let m = GuardedMemory::new(0, None).unwrap();
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
        let pool = MemoryPool::for_host().unwrap();
        refuse_reservations(true);
        assert!(GuardedMemory::new(WASM_PAGE, None).is_err());
        assert!(MemoryPool::for_host().is_none());
        // Even with a reservation idle in the pool.
        assert_eq!(pool.idle_count(), 1);
        let m = pool.allocate(WASM_PAGE).unwrap();
        refuse_reservations(false);
        assert_eq!(m.guard_bytes(), 0);
        assert_eq!(m.len(), WASM_PAGE as u64);
        assert!(MemoryPool::for_host().is_some());
        assert_eq!(pool.allocate(0).unwrap().guard_bytes(), GUARD_SIZE);
    }

    /// The bytes of a memory made by an allocator.
    fn data(m: &dyn LinearMemory) -> &[u8] {
        // SAFETY: `base()` is valid for `len()` bytes while `m` is borrowed (memory
        // invariant 2).
        unsafe { core::slice::from_raw_parts(m.base(), m.len() as usize) }
    }

    fn data_mut(m: &mut dyn LinearMemory) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut` makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(m.base(), m.len() as usize) }
    }

    /// Whether the page at `addr` is mapped read/write, from `/proc/self/maps`.
    fn accessible(addr: usize) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        maps.lines().any(|l| {
            let mut f = l.split_whitespace();
            let (range, perms) = (f.next().unwrap(), f.next().unwrap());
            let (lo, hi) = range.split_once('-').unwrap();
            let lo = usize::from_str_radix(lo, 16).unwrap();
            let hi = usize::from_str_radix(hi, 16).unwrap();
            (lo..hi).contains(&addr) && perms.starts_with("rw")
        })
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_reused_reservation_is_zero_and_inaccessible_past_its_length() {
        let pool = MemoryPool::for_host().unwrap();
        let mut m = pool.allocate(2 * WASM_PAGE).unwrap();
        let base = m.base();
        m.grow_to(4 * WASM_PAGE as u64, u64::MAX).unwrap();
        data_mut(&mut *m).fill(0xa5);
        drop(m);
        assert_eq!(pool.idle_count(), 1);
        // The same reservation, at the same address, with every byte zero again.
        let mut m = pool.allocate(WASM_PAGE).unwrap();
        assert_eq!(m.base(), base);
        assert_eq!(pool.idle_count(), 0);
        assert_eq!(m.len(), WASM_PAGE as u64);
        assert!(data(&*m).iter().all(|&b| b == 0));
        // Past the new length the old pages are inaccessible (generated code relies on the
        // guard region there), and still registered as this memory's guard.
        let (inside, past) = (base as usize + WASM_PAGE - 1, base as usize + WASM_PAGE);
        assert!(accessible(inside));
        assert!(!accessible(past), "a page past the length faults");
        assert_eq!(code::lookup_guard(past), code::lookup_guard(inside));
        m.grow_to(4 * WASM_PAGE as u64, u64::MAX).unwrap();
        assert!(
            data(&*m).iter().all(|&b| b == 0),
            "grown pages are zero too"
        );
        data_mut(&mut *m).fill(0x5a);
        drop(m);
        // Reused at the same size (no protection change) and larger: zero again.
        for pages in [4, 6] {
            let mut m = pool.allocate(pages * WASM_PAGE).unwrap();
            assert_eq!(m.base(), base);
            assert!(accessible(base as usize + pages * WASM_PAGE - 1));
            assert!(!accessible(base as usize + pages * WASM_PAGE));
            assert!(data(&*m).iter().all(|&b| b == 0), "{pages} pages");
            data_mut(&mut *m).fill(1);
        }
    }

    #[test]
    fn the_pool_is_bounded() {
        let pool = MemoryPool::for_host().unwrap();
        let memories: Vec<_> = (0..POOL_SIZE + 5)
            .map(|_| pool.allocate(WASM_PAGE).unwrap())
            .collect();
        assert!(memories.iter().all(|m| m.guard_bytes() == GUARD_SIZE));
        assert_eq!(pool.idle_count(), 0);
        drop(memories);
        assert_eq!(pool.idle_count(), POOL_SIZE, "the rest were unmapped");
        // Dropping the pool unmaps them all (each unregistered first).
        let pooled = pool.allocate(0).unwrap().base() as usize;
        let owner = code::lookup_guard(pooled);
        assert!(owner.is_some());
        drop(pool);
        assert_ne!(code::lookup_guard(pooled), owner);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn an_image_maps_the_segments_copy_on_write() {
        let pool = MemoryPool::for_host().unwrap();
        let page = rustix::param::page_size();
        let len = 3 * WASM_PAGE;
        // Overlapping segments: the later one wins, as when they are copied in order.
        let (a, b) = ([1u8; 100], [2u8; 10]);
        let segments = [(WASM_PAGE + 5, &a[..]), (WASM_PAGE + 50, &b[..])];
        let image = pool.prepare_image(&segments, len).unwrap();
        let file = image.0.downcast_ref::<ImageFile>().unwrap();
        assert_eq!((file.offset, file.len), (WASM_PAGE, page));
        let expected = |i: usize| match i {
            i if (WASM_PAGE + 50..WASM_PAGE + 60).contains(&i) => 2,
            i if (WASM_PAGE + 5..WASM_PAGE + 105).contains(&i) => 1,
            _ => 0,
        };
        for round in 0..2 {
            let mut m = pool.allocate(len).unwrap();
            assert!(m.map_image(&image));
            let bytes = data_mut(&mut *m);
            assert!(
                bytes.iter().enumerate().all(|(i, &x)| x == expected(i)),
                "round {round}"
            );
            // A write goes to this memory's private copy, never to the image.
            bytes[WASM_PAGE + 5] = 9;
            bytes[WASM_PAGE - 1] = 9;
        }
        // Nothing to map, or an image that does not fit: none.
        assert!(pool.prepare_image(&[], len).is_none());
        assert!(pool.prepare_image(&[(len - 1, &a[..2])], len).is_none());
        // A memory too small for the image refuses it, and so does the heap's.
        let mut small = pool.allocate(WASM_PAGE).unwrap();
        assert!(!small.map_image(&image));
        let mut heap = HeapMemory::new(len).unwrap();
        assert!(!heap.map_image(&image));
    }

    #[test]
    fn reservations_are_released() {
        // 30,000 x 6 GiB is 180 TiB, more than a 47-bit (128 TiB) address space holds at
        // once: this runs out unless every drop unmaps its reservation.
        for _ in 0..30_000 {
            let mut m = GuardedMemory::new(WASM_PAGE, None).unwrap();
            m.grow_to(2 * WASM_PAGE as u64, u64::MAX).unwrap();
        }
    }
}
