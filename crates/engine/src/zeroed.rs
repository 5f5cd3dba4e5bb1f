//! Fallible zero-filled allocation for linear memories.
//!
//! A new linear memory is zero-filled. `vec![0; n]` gets that from the allocator for free
//! (`alloc_zeroed`, which for large sizes maps fresh zero pages instead of writing them),
//! but aborts the process when the allocation fails; `try_reserve` + `resize` is fallible
//! but writes every byte. A guest can ask for gigabytes, so the engine needs both: this
//! module's one `unsafe` block pairs `alloc_zeroed` with a null check.
#![allow(unsafe_code)]

use alloc::alloc::{Layout, alloc_zeroed};
use alloc::vec::Vec;

/// `len` zero bytes, or `None` if the allocator cannot provide them.
pub(crate) fn zeroed_bytes(len: usize) -> Option<Vec<u8>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = Layout::array::<u8>(len).ok()?;
    // SAFETY: `layout` has a non-zero size (checked above). A non-null result is a fresh
    // allocation of exactly `len` bytes with alignment 1 from the global allocator, all
    // zero, which is what `Vec::from_raw_parts` requires for capacity and length `len`.
    unsafe {
        let ptr = alloc_zeroed(layout);
        if ptr.is_null() {
            return None;
        }
        Some(Vec::from_raw_parts(ptr, len, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_and_growable() {
        let mut v = zeroed_bytes(3 * 65536).unwrap();
        assert!(v.iter().all(|&b| b == 0));
        v.resize(4 * 65536, 0);
        assert_eq!(v.len(), 4 * 65536);
        assert!(zeroed_bytes(0).unwrap().is_empty());
    }
}
