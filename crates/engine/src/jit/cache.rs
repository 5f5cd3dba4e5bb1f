//! The code cache of [`crate::Strategy::Auto`]: compiled modules written as bytes, read back
//! in a later process.
//!
//! # Key and entry
//! The key names an entry (32 hex digits): a 128-bit hash of the configuration's
//! fingerprint ([`fingerprint`]: the weft version, a hash of the engine's sources and lock
//! file, the entry format, the compiler's target, Cranelift flags and host CPU features,
//! fuel, bounds-check mode, call mode) and of the module's bytes. The hash is not relied on: an entry stores the fingerprint and the
//! module's bytes in full, and [`decode`] compares both, so two modules (or configurations)
//! whose keys collide only miss each other's entries.
//!
//! An entry is: the magic `WEFTJIT\0`, the format version, the fingerprint, the Wasm bytes,
//! the code blob, its functions, host trampolines, trap sites, backtrace ranges and libcall
//! relocations, then a checksum of everything before it. The blob is position independent
//! except for the libcall addresses, which [`decode`] writes again for this process
//! ([`super::compile::relocate_libcalls`]); the engine's own libcalls are reached through
//! the `VMContext`, calls between the module's functions are PC-relative.
//!
//! # Trust
//! Everything [`decode`] checks (lengths, offsets inside the blob, function indices, the
//! checksum) guards against a truncated or damaged file, and any mismatch is a miss. It does
//! not and cannot guard against a deliberately written entry: the cache is trusted like the
//! weft binary (see [`crate::CodeCache`]). [`DirCodeCache`] creates its directory readable
//! and writable by the user only.
extern crate std;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use std::path::PathBuf;

use super::compile::{CompiledModule, FuncCode, LibReloc, TrapSite};
use crate::TrapCode;

const MAGIC: &[u8; 8] = b"WEFTJIT\0";
/// Bumped whenever the entry layout or the meaning of its fields changes.
const FORMAT: u32 = 1;

/// Everything besides the Wasm bytes that decides the code: the weft version, a hash of
/// the engine's sources and lock file (`build.rs`: a rebuild with a changed code generator
/// or Cranelift never loads an older build's code), the entry format and the compiler's own
/// fingerprint.
pub(crate) fn fingerprint(compiler: &str) -> String {
    format!(
        "weft {} source {} format {FORMAT} | {compiler}",
        env!("CARGO_PKG_VERSION"),
        env!("WEFT_ENGINE_SOURCE_HASH"),
    )
}

/// The cache key of a module's `wasm` bytes compiled under `fingerprint`.
pub(crate) fn key(fingerprint: &str, wasm: &[u8]) -> String {
    let mut h = [0x243f_6a88_85a3_08d3u64, 0x1319_8a2e_0370_7344];
    for part in [fingerprint.as_bytes(), wasm] {
        absorb(&mut h, part);
    }
    format!("{:016x}{:016x}", h[0], h[1])
}

/// Mixes `bytes` (and their length) into two 64-bit lanes: fast, and enough to tell entries
/// apart by name (the entry itself is compared in full).
fn absorb(h: &mut [u64; 2], bytes: &[u8]) {
    let mix = |h: u64, w: u64, k: u64| {
        let x = (h ^ w).wrapping_mul(k);
        x ^ (x >> 29)
    };
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        h[0] = mix(h[0], w, 0x9e37_79b9_7f4a_7c15);
        h[1] = mix(h[1].rotate_left(23), w, 0xc2b2_ae3d_27d4_eb4f);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let w = u64::from_le_bytes(tail) ^ ((bytes.len() as u64) << 3);
    h[0] = mix(h[0], w, 0x9e37_79b9_7f4a_7c15);
    h[1] = mix(h[1].rotate_left(23), w, 0xc2b2_ae3d_27d4_eb4f);
}

fn checksum(bytes: &[u8]) -> u64 {
    let mut h = [0x6a09_e667_f3bc_c908u64, 0xbb67_ae85_84ca_a73b];
    absorb(&mut h, bytes);
    h[0] ^ h[1].rotate_left(32)
}

/// Trap codes by their number in an entry (append only).
const TRAPS: [TrapCode; 12] = [
    TrapCode::Unreachable,
    TrapCode::MemoryOutOfBounds,
    TrapCode::TableOutOfBounds,
    TrapCode::IndirectCallTypeMismatch,
    TrapCode::UninitializedElement,
    TrapCode::NullReference,
    TrapCode::IntegerOverflow,
    TrapCode::IntegerDivisionByZero,
    TrapCode::BadConversionToInteger,
    TrapCode::StackOverflow,
    TrapCode::OutOfFuel,
    TrapCode::Host,
];

/// The entry for `compiled`, the code of module `wasm` under `fingerprint`.
pub(crate) fn encode(fingerprint: &str, wasm: &[u8], compiled: &CompiledModule) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + fingerprint.len() + wasm.len() + compiled.code.len());
    out.extend_from_slice(MAGIC);
    put32(&mut out, FORMAT);
    put_bytes(&mut out, fingerprint.as_bytes());
    put_bytes(&mut out, wasm);
    put_bytes(&mut out, &compiled.code);
    put32(&mut out, compiled.funcs.len() as u32);
    for f in &compiled.funcs {
        for v in [f.index, f.offset, f.len, f.array_call] {
            put32(&mut out, v);
        }
    }
    put32(&mut out, compiled.host_trampolines.len() as u32);
    for &t in &compiled.host_trampolines {
        put32(&mut out, t);
    }
    put32(&mut out, compiled.traps.len() as u32);
    for t in &compiled.traps {
        put32(&mut out, t.offset);
        out.push(TRAPS.iter().position(|&c| c == t.code).unwrap_or(0) as u8);
    }
    put32(&mut out, compiled.ranges.len() as u32);
    for &(a, b, i) in &compiled.ranges {
        for v in [a, b, i] {
            put32(&mut out, v);
        }
    }
    put32(&mut out, compiled.lib_relocs.len() as u32);
    for r in &compiled.lib_relocs {
        put32(&mut out, r.offset);
        out.push(r.lib);
        out.extend_from_slice(&r.addend.to_le_bytes());
    }
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

/// A reader that fails (with `None`) instead of reading past the end.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (a, b) = self.bytes.split_at(n);
        self.bytes = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.u64()?).ok()?;
        self.take(n)
    }
    /// A count of items of at least `size` bytes each, no more than the bytes left allow.
    fn count(&mut self, size: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(size)? <= self.bytes.len()).then_some(n)
    }
}

/// The compiled module in `entry`, if the entry is intact and was written for module `wasm`
/// (with `defined` defined functions after `imported` imported ones) under `fingerprint`.
/// Libcall addresses are written for this process. Anything else is `None`: a miss.
pub(crate) fn decode(
    entry: &[u8],
    fingerprint: &str,
    wasm: &[u8],
    imported: u32,
    defined: u32,
) -> Option<CompiledModule> {
    let (body, sum) = entry.split_at_checked(entry.len().checked_sub(8)?)?;
    if checksum(body) != u64::from_le_bytes(sum.try_into().ok()?) {
        return None;
    }
    let mut r = Reader { bytes: body };
    if r.take(8)? != MAGIC || r.u32()? != FORMAT {
        return None;
    }
    if r.bytes()? != fingerprint.as_bytes() || r.bytes()? != wasm {
        return None;
    }
    let mut code = r.bytes()?.to_vec();
    let len = u32::try_from(code.len()).ok()?;
    let inside = |at: u32, n: u32| at.checked_add(n).is_some_and(|end| end <= len);
    let nfuncs = r.count(16)?;
    if nfuncs != defined as usize {
        return None;
    }
    let mut funcs = Vec::with_capacity(nfuncs);
    for i in 0..nfuncs as u32 {
        let f = FuncCode {
            index: r.u32()?,
            offset: r.u32()?,
            len: r.u32()?,
            array_call: r.u32()?,
        };
        if f.index != imported.checked_add(i)? || !inside(f.offset, f.len.max(1)) {
            return None;
        }
        if !inside(f.array_call, 1) {
            return None;
        }
        funcs.push(f);
    }
    let n = r.count(4)?;
    let mut host_trampolines = Vec::with_capacity(n);
    for _ in 0..n {
        let t = r.u32()?;
        if !inside(t, 1) {
            return None;
        }
        host_trampolines.push(t);
    }
    let n = r.count(5)?;
    let mut traps: Vec<TrapSite> = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = r.u32()?;
        let code = *TRAPS.get(r.u8()? as usize)?;
        if !inside(offset, 1) || traps.last().is_some_and(|t| t.offset > offset) {
            return None;
        }
        traps.push(TrapSite { offset, code });
    }
    let n = r.count(12)?;
    let mut ranges = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b, i) = (r.u32()?, r.u32()?, r.u32()?);
        if a > b || b > len || ranges.last().is_some_and(|&(_, pb, _)| pb > a) {
            return None;
        }
        ranges.push((a, b, i));
    }
    let n = r.count(13)?;
    let mut lib_relocs = Vec::with_capacity(n);
    for _ in 0..n {
        let offset = r.u32()?;
        let lib = r.u8()?;
        let addend = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
        lib_relocs.push(LibReloc {
            offset,
            lib,
            addend,
        });
    }
    if !r.bytes.is_empty() {
        return None;
    }
    super::compile::relocate_libcalls(&mut code, &lib_relocs).ok()?;
    Some(CompiledModule {
        code,
        funcs,
        host_trampolines,
        traps,
        ranges,
        lib_relocs,
    })
}

/// A [`crate::CodeCache`] in a directory: one file per key, written to a temporary file
/// and renamed into place, so a reader sees a whole entry or none.
///
/// The directory is bounded: after each write, if its entries take more than the limit
/// ([`DirCodeCache::DEFAULT_MAX_BYTES`] unless [`DirCodeCache::with_max_bytes`] says
/// otherwise), the least recently used ones are deleted until they fit (a hit marks its
/// entry used by setting its modification time; the entry just written is kept). Entries
/// that a build with other sources wrote are never hit again, so they age out this way.
/// Temporary files older than an hour (a writer that died) are deleted too.
#[derive(Debug, Clone)]
pub struct DirCodeCache {
    dir: PathBuf,
    max_bytes: u64,
}

impl DirCodeCache {
    /// The default bound on the bytes of a cache's entries: 1 GiB.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

    /// A cache in `dir` (created when the first entry is written), bounded by
    /// [`DirCodeCache::DEFAULT_MAX_BYTES`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirCodeCache {
            dir: dir.into(),
            max_bytes: Self::DEFAULT_MAX_BYTES,
        }
    }

    /// The same cache with its entries bounded by `max_bytes`.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Deletes the least recently used entries while they take more than the bound, never
    /// `keep`; and temporary files older than an hour. Errors (an entry another process
    /// deleted first, a directory that cannot be read) leave things as they are.
    fn trim(&self, keep: &str) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let now = std::time::SystemTime::now();
        let mut entries = Vec::new();
        let mut total = 0u64;
        for e in dir.flatten() {
            let (Ok(meta), name) = (e.metadata(), e.file_name()) else {
                continue;
            };
            let Some(name) = name.to_str() else { continue };
            let modified = meta.modified().unwrap_or(now);
            if valid_key(name) && meta.is_file() {
                total = total.saturating_add(meta.len());
                if name != keep {
                    entries.push((modified, meta.len(), e.path()));
                }
            } else if name.starts_with('.')
                && name.ends_with(".tmp")
                && now
                    .duration_since(modified)
                    .is_ok_and(|age| age.as_secs() > 3600)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        if total <= self.max_bytes {
            return;
        }
        entries.sort_by_key(|&(modified, _, _)| modified);
        for (_, len, path) in entries {
            if total <= self.max_bytes {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    /// The user's cache directory for weft's JIT: `$XDG_CACHE_HOME/weft/jit`, else
    /// `$HOME/.cache/weft/jit`; `None` if neither variable is set (to an absolute path).
    pub fn default_dir() -> Option<PathBuf> {
        let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
        let base = std::env::var_os("XDG_CACHE_HOME")
            .and_then(abs)
            .or_else(|| {
                std::env::var_os("HOME")
                    .and_then(abs)
                    .map(|h| h.join(".cache"))
            })?;
        Some(base.join("weft").join("jit"))
    }

    /// The directory the entries are in.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl crate::CodeCache for DirCodeCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        if !valid_key(key) {
            return None;
        }
        let path = self.dir.join(key);
        let bytes = std::fs::read(&path).ok()?;
        // Used now: the last entry `trim` deletes.
        if let Ok(f) = std::fs::File::options().write(true).open(&path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Some(bytes)
    }

    fn put(&self, key: &str, bytes: &[u8]) {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if !valid_key(key) {
            return;
        }
        let made = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir);
        if made.is_err() {
            return;
        }
        static NEXT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".{key}.{}.{n}.tmp", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()));
        if written.is_err() || std::fs::rename(&tmp, self.dir.join(key)).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return;
        }
        self.trim(key);
    }
}

/// Keys are 32 hex digits: nothing that could name another path.
fn valid_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}
