//! The `syscalls` fuzz target: a guest whose code is the fuzz input's system calls,
//! unrolled, run in a kernel with an initrd and tmpfs mounts beside a well-behaved process.
//!
//! The input is read as a sequence of operations ([`decode`]); each is a system call (one
//! of [`SYSCALLS`], WASI preview1 and the native `weft` calls) with arguments drawn from the
//! input, or a store into the guest's memory that prepares a later call's structures (a
//! handle list, a poll subscription, an iovec, a path), or a `memory.grow` of the guest's
//! memory (within its limit or past it; a grown memory makes the edge pointers below valid).
//! [`guest`] unrolls them into the
//! body of one `_start` function (with `wasm-encoder`, no text to parse): cheap to build,
//! and one input exercises many calls. Arguments are chosen with the call's parameters in
//! mind ([`Hint`]): a handle argument is a small number or a handle an earlier call wrote
//! to one of 32 result slots (loaded at run time), a pointer points at one of the guest's
//! prepared structures, a path is one of a list of interesting strings (`..`, links, mount
//! points, a 300-byte name, bytes that are not UTF-8), and each kind also has edge values
//! (pointers at and past the end of memory, wrapping lengths, forged handles) and raw
//! numbers from the input.
//!
//! [`run`] boots a fresh kernel for each input: an initrd at `/` (a small archive with
//! programs in `/bin` for the guest to spawn, and files, a hard link and symbolic links in
//! `/etc`), a tmpfs at `/tmp` with another mounted inside it at `/tmp/m`, and a tmpfs at
//! `/priv` for the well-behaved process. The guest gets `/tmp` and `/etc` preopened; every
//! process has a fuel limit, so that nothing runs for long. Then it checks that
//! - the kernel does not panic (whatever the calls),
//! - the well-behaved process, running beside the guest, ends with its expected status
//!   (its channels, handle passing and files work), and so does a second one started after
//!   everything else has ended,
//! - the kernel runs every process to its end (a deadlock it reports is allowed: the guest
//!   may wait for what never comes, and the kernel then ends the stuck processes),
//! - and once every process has ended and been released, [`Kernel::stats`] is back to
//!   zero: no process entry, handle, channel, message byte, process object or open file is
//!   left over.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::OnceLock;

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, ImportSection, MemArg, MemArgTarget, MemorySection, MemoryType, Module,
    TypeSection, ValType,
};
use weft_kernel::platform::{ConsoleStream, Platform};
use weft_kernel::vfs::Vfs;
use weft_kernel::{Kernel, KernelConfig, KernelStats, Pid, ProcessLimits, Program, SpawnRequest};

/// What a parameter of a system call means, which decides how its argument is drawn. The
/// letters in [`SYSCALLS`]; the upper-case ones other than `I` and `R` stand for two
/// parameters (a pointer and a length or count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// `f`: a handle (an fd): small numbers and handles earlier calls returned.
    Handle,
    /// `o`: where a result goes: one of the 32 result slots.
    Out,
    /// `b`: a buffer with no length beside it.
    Buffer,
    /// `p`: one of the prepared structures (subscriptions, iovecs, handle lists, strings).
    Struct,
    /// `n`: a count.
    Count,
    /// `x`: flags, a clock id, a whence, a signal, an exit code.
    Flags,
    /// `I`: a 64-bit number (an offset, a size, a time, a cookie).
    Number,
    /// `R`: 64-bit WASI rights.
    Rights,
    /// `S`: a string: pointer and length.
    Str,
    /// `V`: iovecs: pointer and count.
    Iovecs,
    /// `B`: a buffer: pointer and length.
    Bytes,
    /// `H`: a list of handles: pointer and count.
    Handles,
}

impl Hint {
    fn of(letter: char) -> Hint {
        match letter {
            'f' => Hint::Handle,
            'o' => Hint::Out,
            'b' => Hint::Buffer,
            'p' => Hint::Struct,
            'n' => Hint::Count,
            'x' => Hint::Flags,
            'I' => Hint::Number,
            'R' => Hint::Rights,
            'S' => Hint::Str,
            'V' => Hint::Iovecs,
            'B' => Hint::Bytes,
            'H' => Hint::Handles,
            _ => panic!("no parameter hint {letter:?}"),
        }
    }

    /// The Wasm parameters it stands for.
    fn params(self) -> &'static [ValType] {
        match self {
            Hint::Number | Hint::Rights => &[ValType::I64],
            Hint::Str | Hint::Iovecs | Hint::Bytes | Hint::Handles => &[ValType::I32, ValType::I32],
            _ => &[ValType::I32],
        }
    }
}

/// Every system call the kernel provides, with its parameters as [`Hint`] letters, in
/// the order of `crates/kernel/src/sys.rs`. An operation names one by its index here.
pub const SYSCALLS: &[(&str, &str, &str)] = &[
    ("wasi_snapshot_preview1", "args_get", "ob"),
    ("wasi_snapshot_preview1", "args_sizes_get", "oo"),
    ("wasi_snapshot_preview1", "environ_get", "ob"),
    ("wasi_snapshot_preview1", "environ_sizes_get", "oo"),
    ("wasi_snapshot_preview1", "clock_res_get", "xo"),
    ("wasi_snapshot_preview1", "clock_time_get", "xIo"),
    ("wasi_snapshot_preview1", "fd_advise", "fIIx"),
    ("wasi_snapshot_preview1", "fd_allocate", "fII"),
    ("wasi_snapshot_preview1", "fd_close", "f"),
    ("wasi_snapshot_preview1", "fd_datasync", "f"),
    ("wasi_snapshot_preview1", "fd_sync", "f"),
    ("wasi_snapshot_preview1", "fd_fdstat_get", "fo"),
    ("wasi_snapshot_preview1", "fd_fdstat_set_flags", "fx"),
    ("wasi_snapshot_preview1", "fd_fdstat_set_rights", "fRR"),
    ("wasi_snapshot_preview1", "fd_filestat_get", "fo"),
    ("wasi_snapshot_preview1", "fd_filestat_set_size", "fI"),
    ("wasi_snapshot_preview1", "fd_filestat_set_times", "fIIx"),
    ("wasi_snapshot_preview1", "fd_pread", "fVIo"),
    ("wasi_snapshot_preview1", "fd_prestat_get", "fo"),
    ("wasi_snapshot_preview1", "fd_prestat_dir_name", "fB"),
    ("wasi_snapshot_preview1", "fd_pwrite", "fVIo"),
    ("wasi_snapshot_preview1", "fd_read", "fVo"),
    ("wasi_snapshot_preview1", "fd_readdir", "fBIo"),
    ("wasi_snapshot_preview1", "fd_renumber", "ff"),
    ("wasi_snapshot_preview1", "fd_seek", "fIxo"),
    ("wasi_snapshot_preview1", "fd_tell", "fo"),
    ("wasi_snapshot_preview1", "fd_write", "fVo"),
    ("wasi_snapshot_preview1", "path_create_directory", "fS"),
    ("wasi_snapshot_preview1", "path_filestat_get", "fxSo"),
    (
        "wasi_snapshot_preview1",
        "path_filestat_set_times",
        "fxSIIx",
    ),
    ("wasi_snapshot_preview1", "path_link", "fxSfS"),
    ("wasi_snapshot_preview1", "path_open", "fxSxRRxo"),
    ("wasi_snapshot_preview1", "path_readlink", "fSBo"),
    ("wasi_snapshot_preview1", "path_remove_directory", "fS"),
    ("wasi_snapshot_preview1", "path_rename", "fSfS"),
    ("wasi_snapshot_preview1", "path_symlink", "SfS"),
    ("wasi_snapshot_preview1", "path_unlink_file", "fS"),
    ("wasi_snapshot_preview1", "poll_oneoff", "pbno"),
    ("wasi_snapshot_preview1", "proc_exit", "x"),
    ("wasi_snapshot_preview1", "proc_raise", "x"),
    ("wasi_snapshot_preview1", "sched_yield", ""),
    ("wasi_snapshot_preview1", "random_get", "B"),
    ("wasi_snapshot_preview1", "sock_accept", "fxo"),
    ("wasi_snapshot_preview1", "sock_recv", "fVxoo"),
    ("wasi_snapshot_preview1", "sock_send", "fVxo"),
    ("wasi_snapshot_preview1", "sock_shutdown", "fx"),
    ("weft", "spawn", "SSSHo"),
    ("weft", "wait", "fxo"),
    ("weft", "kill", "f"),
    ("weft", "proc_pid", "fo"),
    ("weft", "handle_dup", "fxo"),
    ("weft", "getpid", "o"),
    ("weft", "proc_list", "Bo"),
    ("weft", "channel_create", "oo"),
    ("weft", "channel_send", "fBH"),
    ("weft", "channel_recv", "fBHxoo"),
];

/// The index in [`SYSCALLS`] of the call `name`.
///
/// # Panics
/// If there is none.
pub fn syscall_index(name: &str) -> usize {
    SYSCALLS
        .iter()
        .position(|&(_, n, _)| n == name)
        .unwrap_or_else(|| panic!("no system call {name}"))
}

// The guest's memory (two pages). Everything below `BUF` is prepared by a data segment.
/// 32 result slots of 8 bytes: out parameters go here, handle arguments load from here.
pub const SLOTS: u32 = 0x0000;
/// The strings of [`STRINGS`], each followed by a NUL.
const STRING_AREA: u32 = 0x0100;
/// 64 bytes the input writes freely ([`Op::Bytes`]), for paths of its own.
pub const FREE_STR: u32 = 0x0600;
/// 8 iovecs ([`IOVECS`]).
pub const IOVEC_AREA: u32 = 0x0700;
/// 16 handles for `spawn` and `channel_send`: 0, 1, 2 and then empty slots.
pub const HANDLE_LIST: u32 = 0x0780;
/// 4 poll subscriptions of 48 bytes: a relative and an absolute clock, a read of fd 0 and
/// a write of fd 1.
pub const SUBSCRIPTIONS: u32 = 0x0800;
/// `errnos:` and then one byte per call: its result, written to stderr at the end.
const RESULTS: u32 = 0x0900;
/// The iovec and the count of that last write.
const RESULT_IOV: u32 = 0x0A10;
/// Buffers: 64 KiB.
pub const BUF: u32 = 0x1000;
/// The end of the guest's memory.
pub const MEM_END: u32 = 0x2_0000;

/// The prefix of the result line the guest writes to stderr at its end.
pub const RESULTS_MARKER: &[u8] = b"errnos:";

/// The iovecs at [`IOVEC_AREA`]: buffers of several sizes, one of none, one across the end
/// of memory, one past it, and two whose lengths run past it.
const IOVECS: [(u32, u32); 8] = [
    (BUF, 16),
    (BUF + 0x100, 256),
    (BUF + 0x1000, 4096),
    (BUF, 0),
    (MEM_END - 0x10, 0x100),
    (0xFFFF_FFF0, 16),
    (BUF, 0x1_0000),
    (BUF + 8, 0x8000_0000),
];

/// The strings an `S` argument picks from: paths for the preopens (`/tmp`, a tmpfs with
/// another at `m`; `/etc`, in the initrd, with links `hard`, `lnk`, `dangling` and `up`,
/// which points out of it), programs to spawn, arguments and environments, and strings
/// that are not paths at all.
pub const STRINGS: &[&[u8]] = &[
    b"a",
    b"b",
    b"d",
    b"d/a",
    b"d/e",
    b"lnk",
    b"lnk/a",
    b"m",
    b"m/a",
    b".",
    b"..",
    b"../a",
    b"a/..",
    b"d/../a",
    b"/a",
    b"",
    b"a/",
    b"x/y/z",
    b"\xff\xfe",
    b"a\0b",
    b"motd",
    b"hard",
    b"sub",
    b"sub/f",
    b"up",
    b"up/ok",
    b"dangling",
    b"../etc/motd",
    b"../..",
    b"/etc/motd",
    b"/bin/ok",
    b"/bin/cat",
    b"/bin/spin",
    b"/bin/exit",
    b"/bin/relay",
    b"/tmp/a",
    b"/nope",
    b"bin/ok",
    b"/bin",
    b"/priv/g",
    b"x",
    b"x\0",
    b"x\0y\0",
    b"A=1\0",
    // A name longer than NAME_MAX (255).
    &[b'n'; 300],
];

/// The (pointer, length) edge cases of a two-parameter argument.
const PAIR_EDGES: [(u32, u32); 8] = [
    (MEM_END - 1, 2),
    (MEM_END, 0),
    (MEM_END, 1),
    (0xFFFF_FFFF, 1),
    (0, 0x7FFF_FFFF),
    (0, 0xFFFF_FFFF),
    (STRING_AREA, 0x1_0000),
    (0x7FFF_FFFF, 0x7FFF_FFFF),
];

/// Pointers at and past the end of memory, and wrapping ones.
const POINTER_EDGES: [u32; 8] = [
    MEM_END - 1,
    MEM_END - 4,
    MEM_END,
    MEM_END + 4,
    0xFFFF_FFFF,
    0xFFFF_FFFC,
    0x8000_0000,
    0x7FFF_FFFF,
];

/// 32-bit numbers at the edges: of signedness, of handle encoding (a 20-bit index and a
/// generation above it), of the memory.
const INT_EDGES: [u32; 8] = [
    0xFFFF_FFFF,
    0x7FFF_FFFF,
    0x8000_0000,
    0x0010_0003,
    0x000F_FFFF,
    MEM_END,
    0xFFFF,
    0x1_0000,
];

/// 64-bit numbers at the edges.
const NUMBER_EDGES: [i64; 8] = [
    -1,
    i64::MAX,
    i64::MIN,
    0x1_0000_0000,
    0xFFFF_FFFF,
    MEM_END as i64,
    1_700_000_000_000_000_000,
    i64::MAX - 1_000_000_000,
];

/// Every WASI right.
const ALL_RIGHTS: i64 = 0x1FFF_FFFF;

/// Buffer lengths a `B` argument picks from.
const LENGTHS: [u32; 8] = [0, 1, 8, 64, 256, 4096, 16384, 0x1_0000];

/// The most operations one input makes.
const MAX_OPS: usize = 2000;

/// An argument: a constant, or a 32-bit value loaded from memory at run time (a handle
/// an earlier call wrote to a result slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An `i32` constant.
    I32(i32),
    /// An `i64` constant.
    I64(i64),
    /// The `i32` at this address.
    Load(u32),
}

/// One step of the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Calls `SYSCALLS[call]` with these arguments (one per Wasm parameter).
    Call {
        /// The call's index in [`SYSCALLS`].
        call: usize,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// Stores a 32-bit value at one of [`poke_fields`].
    Poke {
        /// Where.
        addr: u32,
        /// What.
        value: Value,
    },
    /// Writes these bytes (at most 64) at [`FREE_STR`].
    Bytes(Vec<u8>),
    /// `memory.grow` of the guest's memory by this many pages (the result dropped).
    Grow(u32),
}

/// The page counts an [`Op::Grow`] asks for: none, within the guest's limit of 4 pages (it
/// starts with 2), past it, and past what any memory may have.
const GROW_PAGES: [u32; 8] = [0, 1, 2, 3, 16, 0x1_0000, 0x7fff_ffff, u32::MAX];

/// The input as a stream of bytes; past its end every byte reads as 0.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
}

/// The addresses an [`Op::Poke`] writes to: the handle list, the subscriptions' tag, fd
/// (or clock id), timeout and flags fields, the iovecs' fields and the result slots.
pub fn poke_fields() -> &'static [u32] {
    static FIELDS: OnceLock<Vec<u32>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        let mut fields: Vec<u32> = (0..16).map(|k| HANDLE_LIST + 4 * k).collect();
        for j in 0..4 {
            for at in [8, 16, 24, 28, 40] {
                fields.push(SUBSCRIPTIONS + 48 * j + at);
            }
        }
        fields.extend((0..16).map(|k| IOVEC_AREA + 4 * k));
        fields.extend((0..32).map(|k| SLOTS + 8 * k));
        fields
    })
}

/// The operation byte of an [`Op::Grow`].
pub const GROW: u8 = 19;

/// The first operation byte that means a call: below it, 0-15 are pokes, 16-18 byte
/// writes and [`GROW`] a `memory.grow`. Call `i` is `CALL_BASE + i` (modulo the number of
/// calls).
pub const CALL_BASE: u8 = 20;

/// Reads the input as operations. Each starts with a byte: a poke (a field index and a
/// value follow), a byte write (a length and the bytes follow), a `memory.grow` (a byte
/// choosing one of [`GROW_PAGES`] follows) or a call (its arguments
/// follow, each a selector byte and a value: one byte, or four or eight raw bytes when
/// the selector is 7 modulo 8).
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut r = Reader(data);
    let mut ops = Vec::new();
    while !r.0.is_empty() && ops.len() < MAX_OPS {
        let op = r.byte();
        if op < 16 {
            let fields = poke_fields();
            let addr = fields[usize::from(r.byte()) % fields.len()];
            let value = arg(&mut r, Hint::Handle)[0];
            ops.push(Op::Poke { addr, value });
        } else if op < GROW {
            let len = usize::from(r.byte()) % 65;
            let bytes = (0..len).map(|_| r.byte()).collect();
            ops.push(Op::Bytes(bytes));
        } else if op == GROW {
            let pages = GROW_PAGES[usize::from(r.byte()) % GROW_PAGES.len()];
            ops.push(Op::Grow(pages));
        } else {
            let call = usize::from(op - CALL_BASE) % SYSCALLS.len();
            let mut args = Vec::new();
            for letter in SYSCALLS[call].2.chars() {
                args.extend(arg(&mut r, Hint::of(letter)));
            }
            ops.push(Op::Call { call, args });
        }
    }
    ops
}

/// The address and length of `STRINGS[i]` in the guest's memory.
pub fn string(i: usize) -> (u32, u32) {
    layout().1[i]
}

/// Draws one argument (two values for the pair hints).
fn arg(r: &mut Reader<'_>, hint: Hint) -> Vec<Value> {
    let sel = r.byte() % 8;
    let i32v = |v: u32| Value::I32(v as i32);
    let pair = |(a, b): (u32, u32)| vec![i32v(a), i32v(b)];
    if sel == 7 {
        return match hint {
            Hint::Number | Hint::Rights => vec![Value::I64(r.u64() as i64)],
            Hint::Str | Hint::Iovecs | Hint::Bytes | Hint::Handles => {
                let a = r.u32();
                pair((a, r.u32()))
            }
            _ => vec![i32v(r.u32())],
        };
    }
    let v = r.byte();
    let small = u32::from(v);
    let low = sel < 3;
    match (hint, sel) {
        (Hint::Handle, _) if low => vec![i32v(small % 8)],
        (Hint::Handle, 3..=5) => vec![Value::Load(SLOTS + 8 * (small % 32))],
        (Hint::Out, 0..=5) => vec![i32v(SLOTS + 8 * (small % 32))],
        (Hint::Buffer, 0..=5) => vec![i32v(BUF + 256 * small)],
        (Hint::Struct, 0..=5) => {
            let areas = [
                SUBSCRIPTIONS,
                SUBSCRIPTIONS + 48,
                SUBSCRIPTIONS + 96,
                SUBSCRIPTIONS + 144,
                IOVEC_AREA,
                HANDLE_LIST,
                STRING_AREA,
                FREE_STR,
                BUF,
                SLOTS,
            ];
            vec![i32v(areas[v as usize % areas.len()])]
        }
        (Hint::Out | Hint::Buffer | Hint::Struct, _) => {
            vec![i32v(POINTER_EDGES[usize::from(v) % 8])]
        }
        (Hint::Count, _) if low => vec![i32v(small % 8)],
        (Hint::Count, 3..=5) => vec![i32v(small)],
        (Hint::Flags, _) if low => vec![i32v(small)],
        (Hint::Flags, 3..=5) => vec![i32v(1 << (small % 32))],
        (Hint::Handle | Hint::Count | Hint::Flags, _) => vec![i32v(INT_EDGES[usize::from(v) % 8])],
        (Hint::Number, _) if low => vec![Value::I64(i64::from(v))],
        (Hint::Number, 3..=5) => vec![Value::I64(1 << (v % 64))],
        (Hint::Rights, _) if low => vec![Value::I64(ALL_RIGHTS)],
        (Hint::Rights, 3..=5) => vec![Value::I64(1 << (v % 64))],
        (Hint::Number | Hint::Rights, _) => vec![Value::I64(NUMBER_EDGES[usize::from(v) % 8])],
        (Hint::Str, 0..=4) => pair(string(usize::from(v) % STRINGS.len())),
        (Hint::Str, 5) => pair((FREE_STR, small % 65)),
        (Hint::Iovecs, 0..=5) => pair((IOVEC_AREA + 8 * (small % 8), (small / 8) % 5)),
        (Hint::Bytes, 0..=5) => pair((BUF + 512 * (small % 32), LENGTHS[usize::from(v / 32)])),
        (Hint::Handles, 0..=5) => pair((HANDLE_LIST + 4 * (small % 16), small / 16)),
        (Hint::Str | Hint::Iovecs | Hint::Bytes | Hint::Handles, _) => {
            pair(PAIR_EDGES[usize::from(v) % 8])
        }
    }
}

/// The prepared part of the guest's memory, and the (address, length) of each of
/// [`STRINGS`] in it.
type Layout = (Vec<u8>, Vec<(u32, u32)>);

/// The prepared part of the guest's memory (everything below [`BUF`]) and where each of
/// [`STRINGS`] is in it.
fn layout() -> &'static Layout {
    static LAYOUT: OnceLock<Layout> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let mut mem = vec![0u8; BUF as usize];
        let put = |mem: &mut Vec<u8>, at: u32, bytes: &[u8]| {
            mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        };
        let mut strings = Vec::new();
        let mut at = STRING_AREA;
        for s in STRINGS {
            put(&mut mem, at, s);
            strings.push((at, s.len() as u32));
            at += s.len() as u32 + 1;
        }
        assert!(at <= FREE_STR, "the strings overflow their area");
        put(&mut mem, FREE_STR, b"a/b\0");
        for (k, (ptr, len)) in IOVECS.iter().enumerate() {
            put(&mut mem, IOVEC_AREA + 8 * k as u32, &ptr.to_le_bytes());
            put(&mut mem, IOVEC_AREA + 8 * k as u32 + 4, &len.to_le_bytes());
        }
        for k in 0..16u32 {
            let h = if k < 3 { k } else { u32::MAX };
            put(&mut mem, HANDLE_LIST + 4 * k, &h.to_le_bytes());
        }
        // Subscriptions: userdata at 0, tag at 8, then clock (id 16, timeout 24,
        // precision 32, flags 40) or fd (16).
        let sub = |j: u32| SUBSCRIPTIONS + 48 * j;
        for j in 0..4 {
            put(&mut mem, sub(j), &u64::from(j + 1).to_le_bytes());
        }
        put(&mut mem, sub(0) + 16, &1u32.to_le_bytes()); // monotonic
        put(&mut mem, sub(0) + 24, &1000u64.to_le_bytes()); // in 1 us
        put(&mut mem, sub(1) + 24, &1u64.to_le_bytes()); // realtime, absolute, past
        put(&mut mem, sub(1) + 40, &1u16.to_le_bytes());
        mem[sub(2) as usize + 8] = 1; // fd_read of 0
        mem[sub(3) as usize + 8] = 2; // fd_write of 1
        put(&mut mem, sub(3) + 16, &1u32.to_le_bytes());
        put(&mut mem, RESULTS, RESULTS_MARKER);
        (mem, strings)
    })
}

/// The guest module for `ops`: it imports every call of [`SYSCALLS`], owns two pages of
/// memory prepared by [`layout`], and its `_start` makes the operations in order, keeping
/// each call's result in a byte at [`RESULTS`]; at the end it writes those bytes to stderr
/// after [`RESULTS_MARKER`] (a line the seed tests read).
pub fn guest(ops: &[Op]) -> Vec<u8> {
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    for (i, &(module, name, hints)) in SYSCALLS.iter().enumerate() {
        let params: Vec<ValType> = hints
            .chars()
            .flat_map(|c| Hint::of(c).params().iter().copied())
            .collect();
        let results: &[ValType] = if name == "proc_exit" {
            &[]
        } else {
            &[ValType::I32]
        };
        types.ty().function(params, results.iter().copied());
        imports.import(module, name, EntityType::Function(i as u32));
    }
    let start_type = SYSCALLS.len() as u32;
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(start_type);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(MEM_END / 0x1_0000),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("_start", ExportKind::Func, SYSCALLS.len() as u32);

    let word = MemArg {
        offset: 0,
        align: 2,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    let byte = MemArg {
        offset: 0,
        align: 0,
        target: MemArgTarget::Memory(0),
        ordering: None,
    };
    let mut body = Function::new([]);
    let mut f = body.instructions();
    let value = |f: &mut wasm_encoder::InstructionSink<'_>, v: Value| match v {
        Value::I32(x) => {
            f.i32_const(x);
        }
        Value::I64(x) => {
            f.i64_const(x);
        }
        Value::Load(at) => {
            f.i32_const(at as i32).i32_load(word);
        }
    };
    let mut calls = 0u32;
    for op in ops {
        match op {
            Op::Call { call, args } => {
                let returns = SYSCALLS[*call].1 != "proc_exit";
                if returns {
                    f.i32_const((RESULTS + RESULTS_MARKER.len() as u32 + calls % 256) as i32);
                }
                for &a in args {
                    value(&mut f, a);
                }
                f.call(*call as u32);
                if returns {
                    f.i32_store8(byte);
                }
                calls += 1;
            }
            Op::Poke { addr, value: v } => {
                f.i32_const(*addr as i32);
                value(&mut f, *v);
                f.i32_store(word);
            }
            Op::Bytes(bytes) => {
                for (i, &b) in bytes.iter().enumerate() {
                    f.i32_const((FREE_STR + i as u32) as i32)
                        .i32_const(i32::from(b))
                        .i32_store8(byte);
                }
            }
            Op::Grow(pages) => {
                f.i32_const(*pages as i32).memory_grow(0).drop();
            }
        }
    }
    // The results line: `errnos:` and a byte per call (the first 256), then a newline.
    let shown = RESULTS_MARKER.len() as u32 + calls.min(256);
    f.i32_const((RESULTS + shown) as i32)
        .i32_const(i32::from(b'\n'))
        .i32_store8(byte);
    f.i32_const(RESULT_IOV as i32)
        .i32_const(RESULTS as i32)
        .i32_store(word);
    f.i32_const(RESULT_IOV as i32 + 4)
        .i32_const(shown as i32 + 1)
        .i32_store(word);
    f.i32_const(2)
        .i32_const(RESULT_IOV as i32)
        .i32_const(1)
        .i32_const(RESULT_IOV as i32 + 8)
        .call(syscall_index("fd_write") as u32)
        .drop()
        .end();
    let mut code = CodeSection::new();
    code.function(&body);
    let mut data = DataSection::new();
    data.active(0, &ConstExpr::i32_const(0), layout().0.iter().copied());
    data.active(
        0,
        &ConstExpr::i32_const(BUF as i32),
        b"hello, weft\n".iter().copied(),
    );

    let mut module = Module::new();
    module
        .section(&types)
        .section(&imports)
        .section(&functions)
        .section(&memories)
        .section(&exports)
        .section(&code)
        .section(&data);
    module.finish()
}

/// The programs in the initrd's `/bin`, for the guest to spawn: `ok` returns, `exit`
/// exits with 3, `spin` loops until its fuel runs out, `cat` copies stdin to stdout, and
/// `relay` sends every message it receives on handle 3 back, with its handles.
const CHILDREN: &[(&str, &str)] = &[
    (
        "ok",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    ),
    (
        "exit",
        r#"(module
             (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
             (memory (export "memory") 1)
             (func (export "_start") (call $exit (i32.const 3))))"#,
    ),
    (
        "spin",
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    ),
    (
        "cat",
        r#"(module
             (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
             (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (func (export "_start")
               (loop $copy
                 (i32.store (i32.const 0) (i32.const 1024))
                 (i32.store (i32.const 4) (i32.const 4096))
                 (br_if 1 (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
                 (br_if 1 (i32.eqz (i32.load (i32.const 8))))
                 (i32.store (i32.const 16) (i32.const 1024))
                 (i32.store (i32.const 20) (i32.load (i32.const 8)))
                 (br_if 1 (call $write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24)))
                 (br $copy))))"#,
    ),
    (
        "relay",
        r#"(module
             (import "weft" "channel_send" (func $send (param i32 i32 i32 i32 i32) (result i32)))
             (import "weft" "channel_recv" (func $recv (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (func (export "_start")
               (loop $relay
                 (br_if 1 (call $recv (i32.const 3) (i32.const 1024) (i32.const 8192) (i32.const 512)
                                      (i32.const 16) (i32.const 0) (i32.const 8) (i32.const 12)))
                 (br_if 1 (call $send (i32.const 3) (i32.const 1024) (i32.load (i32.const 8))
                                      (i32.const 512) (i32.load (i32.const 12))))
                 (br $relay))))"#,
    ),
];

/// The exit status of the well-behaved process when all went as it expects.
pub const GOOD_STATUS: u32 = 42;

/// The well-behaved process: it passes a channel end through another channel and uses it,
/// writes, reads back and removes a file in its own tmpfs (handle 3, `/priv`), computes for
/// several quanta, and exits with [`GOOD_STATUS`]; anything unexpected ends it with the
/// number of the step that failed.
fn good_program() -> String {
    const ROUNDS: i32 = 2000;
    let mut sum: i32 = 0;
    for i in 0..ROUNDS {
        sum = sum.wrapping_add(i.wrapping_mul(i));
    }
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "weft" "channel_create" (func $create (param i32 i32) (result i32)))
  (import "weft" "channel_send" (func $send (param i32 i32 i32 i32 i32) (result i32)))
  (import "weft" "channel_recv" (func $recv (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "good")
  (data (i32.const 300) "g")
  (func $expect (param $got i32) (param $want i32) (param $step i32)
    (if (i32.ne (local.get $got) (local.get $want)) (then (call $exit (local.get $step)))))
  (func (export "_start") (local $i i32) (local $sum i32)
    ;; Channels (0, 4) and (8, 12); end 8 travels through the first.
    (call $expect (call $create (i32.const 0) (i32.const 4)) (i32.const 0) (i32.const 1))
    (call $expect (call $create (i32.const 8) (i32.const 12)) (i32.const 0) (i32.const 2))
    (call $expect (call $send (i32.load (i32.const 0)) (i32.const 256) (i32.const 4) (i32.const 8) (i32.const 1))
                  (i32.const 0) (i32.const 3))
    (call $expect (call $recv (i32.load (i32.const 4)) (i32.const 512) (i32.const 64) (i32.const 600) (i32.const 4)
                              (i32.const 1) (i32.const 620) (i32.const 624))
                  (i32.const 0) (i32.const 4))
    (call $expect (i32.load (i32.const 620)) (i32.const 4) (i32.const 5))
    (call $expect (i32.load (i32.const 624)) (i32.const 1) (i32.const 6))
    (call $expect (i32.load (i32.const 512)) (i32.load (i32.const 256)) (i32.const 7))
    (call $expect (call $send (i32.load (i32.const 600)) (i32.const 256) (i32.const 4) (i32.const 0) (i32.const 0))
                  (i32.const 0) (i32.const 8))
    (call $expect (call $recv (i32.load (i32.const 12)) (i32.const 512) (i32.const 64) (i32.const 640) (i32.const 4)
                              (i32.const 1) (i32.const 620) (i32.const 624))
                  (i32.const 0) (i32.const 9))
    (call $expect (i32.load (i32.const 620)) (i32.const 4) (i32.const 10))
    ;; /priv/g: create, write "good", seek back, read it, close, remove.
    (call $expect (call $open (i32.const 3) (i32.const 0) (i32.const 300) (i32.const 1) (i32.const 9)
                              (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 16))
                  (i32.const 0) (i32.const 11))
    (i32.store (i32.const 32) (i32.const 256))
    (i32.store (i32.const 36) (i32.const 4))
    (call $expect (call $write (i32.load (i32.const 16)) (i32.const 32) (i32.const 1) (i32.const 40)) (i32.const 0) (i32.const 12))
    (call $expect (i32.load (i32.const 40)) (i32.const 4) (i32.const 13))
    (call $expect (call $seek (i32.load (i32.const 16)) (i64.const 0) (i32.const 0) (i32.const 48)) (i32.const 0) (i32.const 14))
    (i32.store (i32.const 64) (i32.const 700))
    (i32.store (i32.const 68) (i32.const 16))
    (call $expect (call $read (i32.load (i32.const 16)) (i32.const 64) (i32.const 1) (i32.const 40)) (i32.const 0) (i32.const 15))
    (call $expect (i32.load (i32.const 40)) (i32.const 4) (i32.const 16))
    (call $expect (i32.load (i32.const 700)) (i32.load (i32.const 256)) (i32.const 17))
    (call $expect (call $close (i32.load (i32.const 16))) (i32.const 0) (i32.const 18))
    (call $expect (call $unlink (i32.const 3) (i32.const 300) (i32.const 1)) (i32.const 0) (i32.const 19))
    ;; Work for several quanta.
    (loop $work
      (local.set $sum (i32.add (local.get $sum) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $work (i32.lt_s (local.get $i) (i32.const {ROUNDS}))))
    (call $expect (local.get $sum) (i32.const {sum}) (i32.const 20))
    (call $exit (i32.const {GOOD_STATUS}))))"#
    )
}

/// A ustar header and data for one member (`kind`: `0` file, `5` directory, `1` hard link,
/// `2` symbolic link), padded to whole blocks.
fn tar_member(out: &mut Vec<u8>, path: &str, kind: u8, data: &[u8], link: &str) {
    fn octal(field: &mut [u8], value: u64) {
        let text = format!("{value:0width$o}\0", width = field.len() - 1);
        field.copy_from_slice(text.as_bytes());
    }
    let mut h = [0u8; 512];
    h[..path.len()].copy_from_slice(path.as_bytes());
    octal(&mut h[100..108], if kind == b'5' { 0o755 } else { 0o644 });
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], data.len() as u64);
    octal(&mut h[136..148], 1_700_000_000);
    h[148..156].fill(b' ');
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// The initrd: [`CHILDREN`] in `bin/`, files and links in `etc/`, and the mount points.
fn initrd() -> &'static [u8] {
    static INITRD: OnceLock<Vec<u8>> = OnceLock::new();
    INITRD.get_or_init(|| {
        let mut tar = Vec::new();
        for dir in ["bin/", "etc/", "etc/sub/", "tmp/", "priv/"] {
            tar_member(&mut tar, dir, b'5', &[], "");
        }
        for (name, wat) in CHILDREN {
            let module = wat::parse_str(wat).expect("the child programs assemble");
            tar_member(&mut tar, &format!("bin/{name}"), b'0', &module, "");
        }
        tar_member(&mut tar, "etc/motd", b'0', b"hello\n", "");
        tar_member(&mut tar, "etc/sub/f", b'0', b"f", "");
        tar_member(&mut tar, "etc/hard", b'1', &[], "etc/motd");
        tar_member(&mut tar, "etc/lnk", b'2', &[], "motd");
        tar_member(&mut tar, "etc/dangling", b'2', &[], "nope");
        tar_member(&mut tar, "etc/up", b'2', &[], "../bin");
        tar.resize(tar.len() + 1024, 0);
        tar
    })
}

/// The well-behaved program, assembled once.
fn good_module() -> &'static [u8] {
    static GOOD: OnceLock<Vec<u8>> = OnceLock::new();
    GOOD.get_or_init(|| wat::parse_str(good_program()).expect("the good program assembles"))
}

/// A deterministic machine: console input is empty (at its end), output is dropped but for
/// the last part of stderr, random bytes come from a fixed generator, and the clock moves
/// 1 us per reading and jumps to the deadline when the kernel idles.
struct FuzzPlatform {
    now: Cell<u64>,
    rng: u64,
    stderr: Rc<RefCell<Vec<u8>>>,
}

/// How much of stderr [`FuzzPlatform`] keeps.
const STDERR_KEPT: usize = 1 << 16;

impl Platform for FuzzPlatform {
    fn console_write(&mut self, stream: ConsoleStream, bytes: &[u8]) {
        if stream == ConsoleStream::Err {
            let mut err = self.stderr.borrow_mut();
            err.extend_from_slice(bytes);
            if err.len() > STDERR_KEPT {
                let cut = err.len() - STDERR_KEPT;
                err.drain(..cut);
            }
        }
    }
    fn console_read(&mut self, _buf: &mut [u8]) -> Option<usize> {
        Some(0)
    }
    fn console_is_terminal(&self) -> bool {
        false
    }
    fn monotonic_ns(&self) -> u64 {
        let t = self.now.get().saturating_add(1000);
        self.now.set(t);
        t
    }
    fn wall_clock_ns(&self) -> u64 {
        self.now.get().saturating_add(1_700_000_000_000_000_000)
    }
    fn random(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            *b = self.rng as u8;
        }
    }
    fn wait(&mut self, deadline: Option<u64>, _console: bool) {
        if let Some(d) = deadline {
            self.now.set(self.now.get().max(d));
        }
    }
}

/// Small limits, so that the guest reaches them (handle tables, processes, channels, file
/// system space) and so that each input runs quickly: every process, the spinner too, ends
/// within 100,000 units of fuel.
pub fn config() -> KernelConfig {
    KernelConfig {
        quantum: 5_000,
        limits: ProcessLimits {
            memory_pages: 4,
            handles: 64,
            fuel: Some(100_000),
            call_depth: 1000,
        },
        max_processes: 12,
        max_channels: 48,
        // The kernel's system calls are the point, and the interpreter starts a process
        // fastest (the default, `Auto`, would compile each program with Cranelift).
        strategy: weft_kernel::Strategy::Interpreter,
        ..KernelConfig::default()
    }
}

/// What [`run`] saw, for the seed tests.
#[derive(Debug)]
pub struct Report {
    /// The operations of the input.
    pub ops: Vec<Op>,
    /// The guest's exit status.
    pub status: u32,
    /// The results of the guest's first 256 calls, in order (`None` if the guest did not
    /// get to write them, e.g. it exited or was ended first).
    pub errnos: Option<Vec<u8>>,
    /// The end of the console's error stream.
    pub stderr: String,
}

/// Runs the input `data` as described in the module documentation.
///
/// # Panics
/// When the kernel is found inconsistent (that is the point): the well-behaved process
/// fails, a process is left running, or a count does not return to zero. A panic in the
/// kernel itself propagates.
pub fn run(data: &[u8]) -> Report {
    let ops = decode(data);
    if std::env::var_os("WEFT_FUZZ_TRACE").is_some() {
        for op in &ops {
            match op {
                Op::Call { call, args } => eprintln!("{}{args:?}", SYSCALLS[*call].1),
                other => eprintln!("{other:?}"),
            }
        }
    }
    let stderr = Rc::new(RefCell::new(Vec::new()));
    let platform = FuzzPlatform {
        now: Cell::new(0),
        rng: 0x9e37_79b9_7f4a_7c15,
        stderr: stderr.clone(),
    };
    let mut vfs = Vfs::new();
    vfs.mount_initrd("/", initrd()).expect("the initrd mounts");
    vfs.mount_tmpfs("/tmp", 64 << 10).expect("/tmp mounts");
    vfs.mount_tmpfs("/tmp/m", 16 << 10).expect("/tmp/m mounts");
    vfs.mount_tmpfs("/priv", 16 << 10).expect("/priv mounts");
    let mut kernel =
        Kernel::new(Box::new(platform), vfs, config()).expect("the interpreter is always there");
    let before = kernel.stats();
    assert_eq!(before, KernelStats::default(), "a new kernel holds nothing");
    let log = || String::from_utf8_lossy(&stderr.borrow()).into_owned();

    // The well-behaved process first: it makes its channels in its first quantum, before
    // the guest can use up the kernel's channels (a limit all processes share).
    let good = spawn_good(&mut kernel);
    let guest = kernel
        .spawn(SpawnRequest {
            program: Program::Bytes {
                name: "guest".into(),
                bytes: self::guest(&ops),
            },
            args: vec!["guest".into(), "arg".into()],
            env: vec!["A=1".into()],
            preopens: vec![
                ("/tmp".into(), "/tmp".into()),
                ("/etc".into(), "/etc".into()),
            ],
        })
        .unwrap_or_else(|e| panic!("the guest does not start: {e}"));
    run_to_end(&mut kernel, &log);
    let good_status = kernel.exit_status(good);
    assert_eq!(
        good_status,
        Some(GOOD_STATUS),
        "the well-behaved process beside the guest failed\n{}",
        log()
    );
    let status = kernel
        .exit_status(guest)
        .expect("the guest has an exit status");

    // The system still works afterwards.
    let after = spawn_good(&mut kernel);
    run_to_end(&mut kernel, &log);
    assert_eq!(
        kernel.exit_status(after),
        Some(GOOD_STATUS),
        "the well-behaved process after the guest failed\n{}",
        log()
    );
    for pid in [guest, good, after] {
        kernel.release(pid);
    }
    assert_eq!(
        kernel.stats(),
        before,
        "kernel objects are left over after every process ended\n{}",
        log()
    );

    let stderr = log();
    let errnos = stderr
        .as_bytes()
        .windows(RESULTS_MARKER.len())
        .position(|w| w == RESULTS_MARKER)
        .map(|at| {
            let rest = &stderr.as_bytes()[at + RESULTS_MARKER.len()..];
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            rest[..end].to_vec()
        });
    Report {
        ops,
        status,
        errnos,
        stderr,
    }
}

fn spawn_good(kernel: &mut Kernel) -> Pid {
    kernel
        .spawn(SpawnRequest {
            program: Program::Bytes {
                name: "good".into(),
                bytes: good_module().to_vec(),
            },
            args: vec!["good".into()],
            env: vec![],
            preopens: vec![("/priv".into(), "/priv".into())],
        })
        .unwrap_or_else(|e| panic!("the well-behaved process does not start: {e}"))
}

/// Runs the kernel until no process is left. A deadlock is allowed (the kernel ends the
/// stuck processes and says so); the next round must then find nothing left to run.
fn run_to_end(kernel: &mut Kernel, log: &dyn Fn() -> String) {
    for _ in 0..4 {
        if kernel.run().is_ok() {
            return;
        }
    }
    panic!(
        "the kernel reports deadlocks after ending the stuck processes\n{}",
        log()
    );
}
