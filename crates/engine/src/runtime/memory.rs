//! Linear memories: the [`LinearMemory`] abstraction, the store's [`MemoryEntity`], and the
//! default implementation on zero-filled heap bytes.
//!
//! A linear memory is a base address and a length (a `u64`, for memory64 later), growth,
//! and optionally a guard region: bytes reserved past the length that fault when touched,
//! which lets a JIT drop bounds checks. The store keeps a [`VMMemoryDefinition`] per memory
//! at a stable address and rewrites it on growth, so the interpreter and generated code
//! read the same base and length. Implementations: [`HeapMemory`] (below; no guard region),
//! the JIT's `jit::memory::GuardedMemory` (a reservation of the whole 32-bit index space
//! plus a guard region, on hosts that can map pages); page-table-backed memory (bare metal)
//! would implement the same trait. A store makes its memories with its engine's
//! [`MemoryAllocator`] (the heap by default; a hosted engine installs the guarded memories
//! of `jit::memory`), so this layer names no tier. An allocator may also prepare a
//! module's [`MemoryImage`] once: instantiation then maps it instead of copying the data
//! segments ([`LinearMemory::map_image`]).
//!
//! # Heap memory
//!
//! A linear memory is zero-filled when it is created and wherever it grows. Writing those
//! zeros would commit every page at once (4 GiB for a memory grown to its full size), so
//! the bytes come from `alloc_zeroed` instead, which hosted allocators serve from fresh
//! zero pages for large sizes: a page costs nothing until the guest touches it. And a guest
//! decides the size, so a failed allocation must be an error, never an abort, which rules
//! out `vec![0; n]` and `Vec::resize`.
//!
//! [`ZeroedBytes`] keeps one invariant beyond a `Vec<u8>`'s: every byte of its spare
//! capacity is zero (it came from `alloc_zeroed` and nothing ever writes past the length).
//! Growing within the capacity is then only a new length, and growing past it allocates a
//! larger zeroed buffer (at least double, up to the memory's maximum, so that growing page
//! by page costs amortized constant time) and copies only the old pages that are not all
//! zero, so untouched pages stay untouched. It derefs to `[u8]`, never to the `Vec`, so no
//! other code can reallocate it or write its spare capacity.
//!
//! # Safety
//! Invariants this module's `unsafe` relies on (cited as "memory invariant N"):
//! 1. [`ZeroedBytes`]: every byte of the buffer's spare capacity is zero;
//! 2. a [`LinearMemory`] implementation's `base()` is valid for reads and writes of
//!    `len()` bytes until it is grown or dropped, and it alone owns those bytes (the
//!    contract of the `unsafe trait`);
//! 3. a [`MemoryEntity`]'s definition holds its memory's current `base()` and `len()`
//!    (rewritten by `grow`, the only way its size changes).
#![allow(unsafe_code)]

use alloc::boxed::Box;

use crate::runtime::vm::{VMMemoryDefinition, VmCell};
use crate::types::MemoryType;

/// The bytes of a linear memory.
///
/// # Safety
/// `base()` must be valid for reads and writes of `len()` bytes, owned by this memory
/// alone, from when the memory is made or last grown until it is grown again or dropped;
/// `grow_to` must leave the old bytes in place (at the possibly new base) and the new ones
/// zero; `base()` is never null (dangling if `len()` is 0).
pub(crate) unsafe trait LinearMemory: Send + Sync {
    /// The address of byte 0.
    fn base(&self) -> *mut u8;
    /// The size in bytes.
    fn len(&self) -> u64;
    /// Grows to `new_len` bytes (not below the current length), the new bytes zero,
    /// reserving up to `max_len` for later growth if the implementation wants; `None`
    /// (and nothing changed) if it cannot.
    fn grow_to(&mut self, new_len: u64, max_len: u64) -> Option<()>;
    /// For a memory whose whole 32-bit index space (4 GiB from `base()`) is reserved, the
    /// bytes reserved after it: everything in the reservation past `len()` faults on
    /// access, so an access at an index below 2^32 whose static offset plus size is at most
    /// this needs no bounds check. 0 for a memory without such a reservation.
    fn guard_bytes(&self) -> u64 {
        0
    }
    /// Makes the memory's bytes those of `image` (made by the allocator that made this
    /// memory) where the image has any, as if its segments were copied in, and returns
    /// whether it did; `false` (and nothing changed) if this memory cannot map it (the
    /// default), so the caller copies the segments instead. Only on a fresh memory, before
    /// anything has read or written it.
    fn map_image(&mut self, image: &MemoryImage) -> bool {
        let _ = image;
        false
    }
}

/// Makes the memories of an engine's stores (the heap unless the engine installs another,
/// see `Store::new`), and prepares modules' memory images for them. One allocator serves
/// every store of its engine, from any thread.
pub(crate) trait MemoryAllocator: Send + Sync + core::fmt::Debug {
    /// `len` zero bytes (a multiple of 64 KiB), or `None` if the host cannot provide them.
    fn allocate(&self, len: usize) -> Option<Box<dyn LinearMemory>>;

    /// An image of the bytes `segments` (each an offset and its bytes, applied in order)
    /// leave in a fresh memory of at least `len` bytes, in a form this allocator's memories
    /// can map ([`LinearMemory::map_image`]); `None` if it has none (the default). Made once
    /// per module; every segment lies within `len`.
    fn prepare_image(&self, segments: &[(usize, &[u8])], len: usize) -> Option<MemoryImage> {
        let _ = (segments, len);
        None
    }
}

/// A module's initial memory contents as a [`MemoryAllocator`] prepared them: opaque to
/// the runtime, which only hands it back to a memory of the same allocator.
pub(crate) struct MemoryImage(
    #[cfg_attr(
        not(feature = "jit"),
        expect(dead_code, reason = "only the hosted memories make images")
    )]
    pub Box<dyn core::any::Any + Send + Sync>,
);

impl core::fmt::Debug for MemoryImage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MemoryImage")
    }
}

/// The default [`MemoryAllocator`]: [`HeapMemory`].
#[derive(Debug)]
pub(crate) struct HeapAllocator;

impl MemoryAllocator for HeapAllocator {
    fn allocate(&self, len: usize) -> Option<Box<dyn LinearMemory>> {
        Some(Box::new(HeapMemory::new(len)?))
    }
}

/// A memory on the heap: zero-filled bytes that grow lazily (see the module docs). No
/// guard region: every access is bounds-checked.
pub(crate) struct HeapMemory {
    bytes: ZeroedBytes,
    /// `bytes.0.as_mut_ptr()`, taken whenever the buffer may have moved, so that every
    /// access derives from a pointer with write permission.
    base: *mut u8,
}

impl HeapMemory {
    /// `len` zero bytes, or `None` if the host cannot provide them.
    pub fn new(len: usize) -> Option<HeapMemory> {
        let mut bytes = ZeroedBytes::new(len)?;
        let base = bytes.0.as_mut_ptr();
        Some(HeapMemory { bytes, base })
    }
}

// SAFETY: `HeapMemory` owns its buffer like the `Vec<u8>` it is; `base` only points into
// it, and is used only through `&self`/`&mut self` of the memory, as a `Vec` would be.
unsafe impl Send for HeapMemory {}
// SAFETY: see above.
unsafe impl Sync for HeapMemory {}

// SAFETY: the bytes are the `Vec`'s initialized buffer, which `HeapMemory` owns and moves
// only in `grow_to`, after which `base` is taken again (memory invariant 2); the growth
// keeps the old bytes and zeroes the new (memory invariant 1); `as_mut_ptr` of an empty
// `Vec` is dangling, not null.
unsafe impl LinearMemory for HeapMemory {
    fn base(&self) -> *mut u8 {
        self.base
    }

    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn grow_to(&mut self, new_len: u64, max_len: u64) -> Option<()> {
        let new_len = usize::try_from(new_len).ok()?;
        let max_len = usize::try_from(max_len).unwrap_or(usize::MAX);
        let grown = self.bytes.grow(new_len, max_len);
        self.base = self.bytes.0.as_mut_ptr();
        grown
    }
}

/// A linear memory of a store: its type, its bytes and their definition at a stable
/// address (memory invariant 3).
pub(crate) struct MemoryEntity {
    ty: MemoryType,
    memory: Box<dyn LinearMemory>,
    definition: VmCell<VMMemoryDefinition>,
}

impl MemoryEntity {
    pub const PAGE: usize = 65536;

    /// A memory of type `ty` in `memory`.
    pub fn new(ty: MemoryType, memory: Box<dyn LinearMemory>) -> MemoryEntity {
        let definition = VmCell::new(VMMemoryDefinition {
            base: memory.base(),
            length: memory.len(),
        });
        MemoryEntity {
            ty,
            memory,
            definition,
        }
    }

    pub fn ty(&self) -> MemoryType {
        self.ty
    }

    /// The definition, at an address that stays the same for the memory's life.
    pub fn definition(&self) -> *mut VMMemoryDefinition {
        self.definition.ptr()
    }

    /// Bytes reserved past the length that fault when touched (see
    /// [`LinearMemory::guard_bytes`]).
    #[cfg_attr(
        not(any(test, feature = "jit")),
        expect(dead_code, reason = "for the JIT, which elides bounds checks")
    )]
    pub fn guard_bytes(&self) -> u64 {
        self.memory.guard_bytes()
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.memory.len() as usize
    }

    pub fn pages(&self) -> u32 {
        (self.len() / Self::PAGE) as u32
    }

    /// The bytes.
    pub fn data(&self) -> &[u8] {
        // SAFETY: `base()` is valid for `len()` bytes while the memory is not grown, which
        // `&self` rules out (memory invariant 2), and the bytes are initialized.
        unsafe { core::slice::from_raw_parts(self.memory.base(), self.len()) }
    }

    /// The bytes, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`, and `&mut self` makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(self.memory.base(), self.len()) }
    }

    /// Maps `image` (see [`LinearMemory::map_image`]) into this fresh memory; whether it
    /// did (else the caller copies the segments). The definition stays current.
    pub fn map_image(&mut self, image: &MemoryImage) -> bool {
        let mapped = self.memory.map_image(image);
        self.definition.set(VMMemoryDefinition {
            base: self.memory.base(),
            length: self.memory.len(),
        });
        mapped
    }

    /// Grows by `delta` pages; returns the old size in pages, or `None` when the type's
    /// maximum, the store limit or the host's allocator says no. The new pages cost
    /// nothing until they are touched, and room up to the maximum is reserved as the
    /// memory grows, so growing page by page does not copy it each time.
    pub fn grow(&mut self, delta: u32, limit: u32) -> Option<u32> {
        let old = self.pages();
        let new = old.checked_add(delta)?;
        let max = self.ty.maximum().unwrap_or(65536).min(65536).min(limit);
        if new > max {
            return None;
        }
        let new_len = (new as usize).checked_mul(Self::PAGE)?;
        let max_len = (max as usize).saturating_mul(Self::PAGE);
        self.memory.grow_to(new_len as u64, max_len as u64)?;
        self.definition.set(VMMemoryDefinition {
            base: self.memory.base(),
            length: self.memory.len(),
        });
        Some(old)
    }
}

use alloc::alloc::{Layout, alloc_zeroed};

use alloc::vec::Vec;

/// Zero-filled bytes whose spare capacity is zero too (see the module docs).
pub(crate) struct ZeroedBytes(Vec<u8>);

/// The granule of the copy on reallocation: an all-zero chunk is skipped.
const CHUNK: usize = 65536;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

impl ZeroedBytes {
    /// `len` zero bytes, or `None` if the allocator cannot provide them.
    pub fn new(len: usize) -> Option<ZeroedBytes> {
        Some(ZeroedBytes(alloc_zeroed_vec(len, len)?))
    }

    /// Grows to `new_len` bytes, the new ones zero, reserving up to `max_len` bytes for
    /// later growth; `None` (and nothing changed) if the allocator cannot provide them.
    /// `new_len` must not be below the current length, nor `max_len` below `new_len`.
    pub fn grow(&mut self, new_len: usize, max_len: usize) -> Option<()> {
        let len = self.0.len();
        if new_len <= len {
            return Some(());
        }
        if new_len <= self.0.capacity() {
            // SAFETY: `new_len` is within the capacity, and the bytes between the length
            // and it are initialized, to zero: the allocation came from `alloc_zeroed` and
            // nothing writes past the length (memory invariant 1).
            unsafe { self.0.set_len(new_len) };
            return Some(());
        }
        let capacity = self
            .0
            .capacity()
            .saturating_mul(2)
            .clamp(new_len, max_len.max(new_len));
        let mut grown = alloc_zeroed_vec(new_len, capacity)?;
        for (to, from) in grown.chunks_mut(CHUNK).zip(self.0.chunks(CHUNK)) {
            // Most chunks of a large memory are untouched zeros, which must stay
            // untouched in the copy. Comparing slices of bytes is a `memcmp`, fast even
            // in unoptimized builds.
            if from != &ZEROS[..from.len()] {
                to.copy_from_slice(from);
            }
        }
        self.0 = grown;
        Some(())
    }
}

impl core::ops::Deref for ZeroedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl core::ops::DerefMut for ZeroedBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// A vector of `len` zero bytes with `capacity` (at least `len`) zero bytes allocated.
fn alloc_zeroed_vec(len: usize, capacity: usize) -> Option<Vec<u8>> {
    debug_assert!(len <= capacity);
    if capacity == 0 {
        return Some(Vec::new());
    }
    let layout = Layout::array::<u8>(capacity).ok()?;
    // SAFETY: `layout` has a non-zero size (checked above). A non-null result is a fresh
    // allocation of exactly `capacity` bytes with alignment 1 from the global allocator,
    // all initialized to zero, which is what `Vec::from_raw_parts` requires for that
    // capacity and a length `len <= capacity`.
    unsafe {
        let ptr = alloc_zeroed(layout);
        if ptr.is_null() {
            return None;
        }
        Some(Vec::from_raw_parts(ptr, len.min(capacity), capacity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_growable() {
        let mut v = ZeroedBytes::new(3 * CHUNK).unwrap();
        assert!(v.iter().all(|&b| b == 0));
        v[5] = 1;
        v[2 * CHUNK + 1] = 2;
        v.grow(4 * CHUNK, 100 * CHUNK).unwrap();
        assert_eq!(v.len(), 4 * CHUNK);
        assert_eq!(v.0.capacity(), 6 * CHUNK);
        assert_eq!((v[5], v[2 * CHUNK + 1]), (1, 2));
        assert_eq!(v.iter().map(|&b| u32::from(b)).sum::<u32>(), 3);
        // Within the capacity: the same buffer, the new bytes zero.
        let at = v.as_ptr();
        v[4 * CHUNK - 1] = 3;
        v.grow(6 * CHUNK, 100 * CHUNK).unwrap();
        assert_eq!(v.as_ptr(), at);
        assert_eq!(v.iter().map(|&b| u32::from(b)).sum::<u32>(), 6);
        // The maximum caps the reservation.
        v.grow(7 * CHUNK, 8 * CHUNK).unwrap();
        assert_eq!(v.0.capacity(), 8 * CHUNK);
        assert!(ZeroedBytes::new(0).unwrap().is_empty());
        let mut empty = ZeroedBytes::new(0).unwrap();
        empty.grow(10, 10).unwrap();
        assert_eq!(&*empty, &[0; 10]);
    }

    #[test]
    fn a_failed_allocation_is_none() {
        let mut v = ZeroedBytes::new(16).unwrap();
        assert!(v.grow(usize::MAX / 2, usize::MAX / 2).is_none());
        assert_eq!(v.len(), 16);
        assert!(ZeroedBytes::new(usize::MAX).is_none());
    }
}
