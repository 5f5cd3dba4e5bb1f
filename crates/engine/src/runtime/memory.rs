//! Zero-filled, fallibly allocated bytes for linear memories.
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
#![allow(unsafe_code)]

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
            // nothing writes past the length (the invariant of the module docs).
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
