//! Access to a process's linear memory on behalf of a system call.
//!
//! Every pointer and length a guest passes is an allegation until it is checked here against
//! the memory it points into; a range that does not fit gives `EFAULT`, never a panic.

use crate::errno::{Errno, SysResult};

/// The calling process's linear memory (empty for a module without one).
pub struct UserMem<'a>(pub &'a mut [u8]);

impl UserMem<'_> {
    fn range(&self, ptr: u32, len: u32) -> SysResult<core::ops::Range<usize>> {
        let start = ptr as usize;
        let end = start.checked_add(len as usize).ok_or(Errno::FAULT)?;
        if end > self.0.len() {
            return Err(Errno::FAULT);
        }
        Ok(start..end)
    }

    /// `len` bytes at `ptr`.
    pub fn bytes(&self, ptr: u32, len: u32) -> SysResult<&[u8]> {
        let r = self.range(ptr, len)?;
        Ok(&self.0[r])
    }

    /// `len` bytes at `ptr`, writable.
    pub fn bytes_mut(&mut self, ptr: u32, len: u32) -> SysResult<&mut [u8]> {
        let r = self.range(ptr, len)?;
        Ok(&mut self.0[r])
    }

    /// Checks that `len` bytes at `ptr` are inside the memory.
    pub fn check(&self, ptr: u32, len: u32) -> SysResult<()> {
        self.range(ptr, len).map(|_| ())
    }

    /// A UTF-8 string of `len` bytes at `ptr` (`ILSEQ` if it is not UTF-8).
    pub fn str(&self, ptr: u32, len: u32) -> SysResult<&str> {
        core::str::from_utf8(self.bytes(ptr, len)?).map_err(|_| Errno::ILSEQ)
    }

    /// A little-endian `u32` at `ptr`.
    pub fn read_u32(&self, ptr: u32) -> SysResult<u32> {
        let b = self.bytes(ptr, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian `u64` at `ptr`.
    pub fn read_u64(&self, ptr: u32) -> SysResult<u64> {
        let mut v = [0; 8];
        v.copy_from_slice(self.bytes(ptr, 8)?);
        Ok(u64::from_le_bytes(v))
    }

    /// Writes `bytes` at `ptr`.
    pub fn write(&mut self, ptr: u32, bytes: &[u8]) -> SysResult<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| Errno::FAULT)?;
        self.bytes_mut(ptr, len)?.copy_from_slice(bytes);
        Ok(())
    }

    /// Writes a little-endian `u32` at `ptr`.
    pub fn write_u32(&mut self, ptr: u32, v: u32) -> SysResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// Writes a little-endian `u64` at `ptr`.
    pub fn write_u64(&mut self, ptr: u32, v: u64) -> SysResult<()> {
        self.write(ptr, &v.to_le_bytes())
    }

    /// The `i`th `(buf, len)` pair of the iovec array at `iovs`, its buffer checked.
    pub fn iovec(&self, iovs: u32, i: u32) -> SysResult<(u32, u32)> {
        let at = i
            .checked_mul(8)
            .and_then(|o| iovs.checked_add(o))
            .ok_or(Errno::FAULT)?;
        let buf = self.read_u32(at)?;
        let len = self.read_u32(at.checked_add(4).ok_or(Errno::FAULT)?)?;
        self.check(buf, len)?;
        Ok((buf, len))
    }

    /// Checks a whole iovec array and its buffers; returns the total length.
    pub fn iovecs_len(&self, iovs: u32, count: u32) -> SysResult<u64> {
        self.check(iovs, count.checked_mul(8).ok_or(Errno::FAULT)?)?;
        let mut total = 0u64;
        for i in 0..count {
            total += u64::from(self.iovec(iovs, i)?.1);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_outside_memory_are_efault() {
        let mut m = [0u8; 16];
        let mut mem = UserMem(&mut m);
        assert_eq!(mem.bytes(16, 0).map(<[u8]>::len), Ok(0));
        assert_eq!(mem.bytes(15, 2), Err(Errno::FAULT));
        assert_eq!(mem.bytes(u32::MAX, 2), Err(Errno::FAULT));
        assert_eq!(mem.read_u32(13), Err(Errno::FAULT));
        assert_eq!(mem.write_u64(9, 1), Err(Errno::FAULT));
        mem.write_u32(12, 0xdead_beef).unwrap();
        assert_eq!(mem.read_u32(12), Ok(0xdead_beef));
        // An iovec whose buffer runs past the end.
        mem.write_u32(0, 10).unwrap();
        mem.write_u32(4, 7).unwrap();
        assert_eq!(mem.iovec(0, 0), Err(Errno::FAULT));
        assert_eq!(mem.iovecs_len(u32::MAX - 3, 1), Err(Errno::FAULT));
        assert_eq!(mem.iovecs_len(0, u32::MAX), Err(Errno::FAULT));
    }
}
