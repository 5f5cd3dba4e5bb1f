//! The executor: runs internal code on an explicit, heap-allocated stack.
//!
//! A Wasm-to-Wasm call pushes a [`Frame`] onto the frame stack and continues in the same
//! loop, so guest recursion never recurses on the host stack; the depth is bounded by the
//! store's call-depth limit and the value stack by [`crate::Config::max_stack_slots`], both
//! reported as [`TrapCode::StackOverflow`].
//!
//! All execution state lives in the [`Stack`], so execution can stop at any block boundary
//! (fuel exhausted) or host call (host yield) and continue later exactly where it stopped:
//! that is what [`crate::ResumableCall`] hands to the embedder.
//!
//! # Threaded code
//!
//! Each instruction of a function's code is an [`Op`]: the address of the *handler* that
//! executes it, next to its operands. A handler receives the interpreter's hot registers
//! as arguments (the instruction pointer, the frame pointer, the memory's base and
//! length, and the rest of the state in [`Cx`]), does its work and ends by calling the
//! handler of the next instruction with the updated registers. In optimized builds for
//! targets where LLVM turns such calls in tail position into jumps (sibling calls; the
//! build script sets `weft_tail_calls`), every instruction dispatches straight to the next
//! through its own indirect jump, with no loop and no return in between. Otherwise (debug
//! builds) a handler stores the registers back into [`Cx`] and returns, and a loop calls the
//! next handler: the same handlers, only the last step differs (`dispatch!`).
//!
//! A handler leaves the threaded code by returning an [`Exit`]: the call finished, a trap,
//! fuel ran out, or an instruction that needs the store (host calls, indirect calls to a
//! host function or another instance, tables, `memory.grow`, ...). Those run out of line
//! in [`Executor::slow`], and execution re-enters the threaded code after them. The
//! executor sees the store as `&mut dyn StoreOps` (`crate::runtime`): nothing here is
//! generic over the host data, and the one call that needs it, a host function's, goes
//! through `StoreOps::call_host`.
//!
//! The executor reads the runtime's state where the runtime keeps it for every tier
//! (`crate::runtime::vm`): a memory's base and length from its `VMMemoryDefinition`, a
//! global's value from its cell, a table's elements through its `VMTableDefinition`,
//! callees of `call_indirect` from the store's `VMFuncRef` array, and the fuel from the
//! store's `VMStoreContext` (copied into [`Cx`] while the threaded code runs and written
//! back on every exit).
//!
//! # Safety
//! This module, `runtime::memory` and `runtime::vm` are the engine's only places with
//! `unsafe` code: the interpreter reads frame slots, code, linear memory and globals
//! through raw pointers. The invariants it relies on are listed on [`Cx`] and cited by
//! each `// SAFETY:` ("invariant N"; "vm invariant N" are those of `runtime::vm`).
#![allow(unsafe_code)]

use alloc::vec::Vec;
use core::hint::unreachable_unchecked;

use crate::error::{Error, ErrorKind, FrameInfo, Result, TrapCode};
use crate::interp::ir::{AccUse, Encode, FuncCode, Instr, Slot, for_each_op};
use crate::ops;
use crate::runtime::store::bulk_range;
use crate::runtime::vm::{VMFuncRef, VMMemoryDefinition, VMStoreContext, VMTableDefinition, VmPtr};
use crate::runtime::{FuncKind, HostVals, StoreCore, StoreId, StoreOps};
use crate::value::{Val, raw_ref_index};

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Where to continue: the function's entry, then saved when the frame calls out or
    /// the execution suspends.
    ip: CodePtr,
    /// Index of the frame's slot 0 in the value slots.
    base: usize,
    /// Store index of the instance whose code runs in this frame.
    instance: u32,
}

/// A pointer into a function's code, kept in frame records.
#[derive(Debug, Clone, Copy)]
struct CodePtr(*const Op);

// SAFETY: code is immutable once translated and owned by its module, which the store
// keeps alive through the instance for as long as any frame of that instance exists;
// sending or sharing the pointer between threads sends or shares only that read-only
// code, as a `&[Op]` would.
unsafe impl Send for CodePtr {}
// SAFETY: see above.
unsafe impl Sync for CodePtr {}

/// The state of one execution: value slots and frames.
#[derive(Debug, Default)]
pub(crate) struct Stack {
    slots: Vec<u64>,
    frames: Vec<Frame>,
    host_vals: HostVals,
}

/// Why [`run`] returned without a trap.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// The entry function returned; its results are at slot 0.
    Done,
    /// Fuel ran out at a block boundary; running again continues there.
    OutOfFuel,
    /// Host function `func` (a store index) yielded with `tag`; its results go to
    /// `results_at` before running again.
    Yield {
        tag: u64,
        func: u32,
        results_at: usize,
    },
}

impl Stack {
    /// Prepares a call of Wasm function `def` of `instance` with `params`.
    pub fn start(
        &mut self,
        store: &StoreCore,
        instance: u32,
        def: u32,
        params: &[Val],
        num_results: usize,
    ) -> Result<()> {
        self.start_raw(store, instance, def, num_results, |slots| {
            for (slot, p) in slots.iter_mut().zip(params) {
                *slot = p.to_raw(store.id())?;
            }
            Ok(())
        })
    }

    /// Prepares a call of Wasm function `def` of `instance` whose arguments `write_params`
    /// writes as raw slots.
    pub fn start_raw(
        &mut self,
        store: &StoreCore,
        instance: u32,
        def: u32,
        num_results: usize,
        write_params: impl FnOnce(&mut [u64]) -> Result<()>,
    ) -> Result<()> {
        self.slots.clear();
        self.frames.clear();
        let module = store.instance(instance).module();
        let func = module.interp_code().func(def);
        let need = (func.frame_size as usize).max(num_results);
        let max_slots = store.max_stack_slots();
        if need > max_slots {
            return Err(TrapCode::StackOverflow.into());
        }
        self.slots.resize(need, 0);
        init_frame(&mut self.slots[..func.frame_size as usize], func);
        write_params(&mut self.slots)?;
        self.frames.push(Frame {
            ip: CodePtr(func.code.as_ptr()),
            base: 0,
            instance,
        });
        Ok(())
    }

    /// The raw results of a finished call, from slot 0.
    pub fn raw_results(&self) -> &[u64] {
        &self.slots
    }

    /// The results of a finished call.
    pub fn results(&self, types: &[crate::ValType], store: StoreId, out: &mut [Val]) {
        for ((o, &ty), &raw) in out.iter_mut().zip(types).zip(&self.slots) {
            *o = Val::from_raw(raw, ty, store);
        }
    }

    /// Writes a yielded host function's results, checking their types.
    pub fn supply_host_results(
        &mut self,
        store: StoreId,
        types: &[crate::ValType],
        at: usize,
        results: &[Val],
    ) -> Result<()> {
        if results.len() != types.len() {
            return Err(Error::usage(alloc::format!(
                "expected {} host results to resume with, got {}",
                types.len(),
                results.len()
            )));
        }
        for (i, (v, &ty)) in results.iter().zip(types).enumerate() {
            if v.ty() != ty {
                return Err(Error::usage(alloc::format!(
                    "host result {i} has type {}, expected {ty}",
                    v.ty()
                )));
            }
            self.slots[at + i] = v.to_raw(store)?;
        }
        Ok(())
    }
}

/// Pushes a frame for `func` whose arguments are already at `base`: checks the limits,
/// zeroes the declared locals and copies the constant pool into the frame's tail.
#[inline(always)]
fn enter(
    frames: &mut Vec<Frame>,
    slots: &mut Vec<u64>,
    limits: (usize, usize),
    instance: u32,
    func: &CompiledFunc,
    base: usize,
) -> core::result::Result<(), TrapCode> {
    let end = base + func.frame_size as usize;
    // `slots` never grows past the slot limit, so a frame that fits in it is within limits.
    if frames.len() >= limits.0 || end > slots.len() {
        grow_stack(frames.len(), slots, limits, end)?;
    }
    init_frame(&mut slots[base..end], func);
    frames.push(Frame {
        ip: CodePtr(func.code.as_ptr()),
        base,
        instance,
    });
    Ok(())
}

/// Makes room for one more frame ending at slot `end`, or reports a stack overflow. Kept
/// out of line so that a call's common path stays small.
#[cold]
#[inline(never)]
fn grow_stack(
    depth: usize,
    slots: &mut Vec<u64>,
    (max_depth, max_slots): (usize, usize),
    end: usize,
) -> core::result::Result<(), TrapCode> {
    if depth >= max_depth || end > max_slots {
        return Err(TrapCode::StackOverflow);
    }
    if slots.len() < end {
        let new_len = end.max(slots.len() * 2).min(max_slots);
        slots.resize(new_len, 0);
    }
    Ok(())
}

/// Initializes a new frame past its parameters: declared locals zeroed, then constants.
#[inline(always)]
fn init_frame(frame: &mut [u64], func: &CompiledFunc) {
    let params = func.num_params as usize;
    for (i, chunk) in func.frame_init.iter().enumerate() {
        let at = params + 4 * i;
        frame[at..at + 4].copy_from_slice(chunk);
    }
}

/// Saves the return point after the call at `ip` and pushes the frame record of a call of
/// `f` whose frame starts at `base`; returns the new frame pointer.
///
/// # Safety
/// `frames` must have room for one more record and `slots` for the frame (invariant 2).
#[inline(always)]
unsafe fn push_frame(ip: *const Op, cx: &mut Cx, f: &CompiledFunc, base: usize) -> *mut u64 {
    // SAFETY: a call is never the last instruction of its code (invariant 1).
    cx.save_ip(unsafe { ip.add(1) });
    let depth = cx.frames.len();
    // SAFETY: there is room for the record (the caller's obligation).
    unsafe {
        cx.frames.as_mut_ptr().add(depth).write(Frame {
            ip: CodePtr(f.code.as_ptr()),
            base,
            instance: cx.instance,
        });
        cx.frames.set_len(depth + 1);
    }
    cx.base = base;
    // SAFETY: the frame lies inside `slots` (the caller's obligation).
    unsafe { cx.slots.as_mut_ptr().add(base) }
}

/// The store index of `instance`'s first memory and its definition; `u32::MAX` and null
/// if it has none.
fn first_memory(store: &StoreCore, instance: u32) -> (u32, *const VMMemoryDefinition) {
    match store.instance(instance).memories().first() {
        Some(&m) => (m, store.memory(m).definition()),
        None => (u32::MAX, core::ptr::null()),
    }
}

/// A raw view of the memory `definition` describes (null: no memory) for the executor's
/// loads and stores.
///
/// # Safety
/// `definition` must be null or a memory definition of the store (vm invariant 3).
unsafe fn memory_view(definition: *const VMMemoryDefinition) -> (*mut u8, usize) {
    if definition.is_null() {
        return (core::ptr::NonNull::dangling().as_ptr(), 0);
    }
    // SAFETY: the caller's obligation; the definition is current (vm invariant 2) and a
    // memory's length fits in `usize`, since its bytes are in this address space.
    let VMMemoryDefinition { base, length } = unsafe { definition.read() };
    (base, length as usize)
}

/// A handler: executes the instruction at `ip` with the frame at `fp` and the memory
/// `mem[..len]`, then the instructions after it (see the module docs).
type Handler =
    unsafe fn(ip: *const Op, fp: *mut u64, mem: *mut u8, len: usize, cx: &mut Cx, acc: u64) -> Exit;

/// One instruction of threaded code: its handler and its operands, 32 bytes (measured
/// faster than 24: an instruction never straddles a cache line).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(crate) struct Op {
    handler: Handler,
    pub(crate) instr: Instr,
}

/// The translator encodes each instruction by asking for its handler (`handler_of`).
impl Encode for Op {
    /// `instr` with the handler that executes it, taking the values `acc` says through
    /// the accumulator; `None` if the instruction cannot.
    #[inline(always)]
    fn encode(instr: Instr, acc: AccUse) -> Option<Op> {
        Some(Op {
            handler: handler_of(&instr, acc)?,
            instr,
        })
    }

    /// Switches to the handler for accumulator uses `acc`; `None` if there is none.
    fn set_acc(&mut self, acc: AccUse) -> Option<()> {
        self.handler = handler_of(&self.instr, acc)?;
        Some(())
    }
}

/// A translated function as the executor runs it.
pub(crate) type CompiledFunc = FuncCode<Op>;

const _: () = assert!(core::mem::size_of::<Op>() == 32);

impl core::fmt::Debug for Op {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.instr.fmt(f)
    }
}

/// Why the threaded code returned to [`Executor::drive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Run the handler at `Cx::ip` next (the dispatch loop of unoptimized builds).
    #[cfg_attr(weft_tail_calls, allow(dead_code))]
    Continue,
    /// The entry function returned.
    Done,
    /// A trap, with its code in `Cx::trap`.
    Trap,
    /// Fuel ran out; the current frame's `pc` is the `ConsumeFuel` to run again.
    OutOfFuel,
    /// The instruction at `Cx::ip` needs the store: run it out of line.
    Slow,
    /// A return into another instance's frame: reload the instance's state.
    Resume,
}

/// The interpreter's state outside the registers its handlers pass along.
///
/// Pointer validity rests on these invariants, cited by every `// SAFETY:` comment:
/// 1. the translator's last pass (`translate::layout_and_encode`) proved every slot
///    operand inside the frame, every jump inside the code, and that the code ends in a
///    jump, return or trap; and every `Op`'s handler is the one for its instruction's
///    variant (`handler_of`);
/// 2. `slots` holds at least `base + frame_size` slots for every frame on the stack, the
///    frame pointer points at the current frame's first slot, and the instruction pointer
///    and every frame record's `ip` into their function's code, which the modules of the
///    store's instances keep alive; all are re-derived whenever `slots` may have been
///    reallocated or the frame changed;
/// 3. the memory view (`mem_ptr`/`mem_len` and the handlers' `mem`/`len`) describes the
///    current instance's memory as its definition `mem_def` says (one truth for every
///    tier: `crate::runtime::vm`); `context` is the store's context; `instance_globals`
///    and `instance_tables` list the current instance's global cells and table
///    definitions, one per module global and table; `func_refs`/`func_refs_len` are the
///    store's function array as the context names it, and `instance_types` the
///    instance's interned types. The cells and definitions live as long as the store (vm
///    invariant 3); the memory view, the function array and the instance's lists are
///    re-read after anything that can resize, move or otherwise borrow them:
///    `memory.grow`, bulk memory operations run out of line, host calls (which may create
///    functions, tables and instances) and switching instances. A table's definition is
///    read each time, so a table growing does not stale it.
struct Cx {
    slots: Vec<u64>,
    frames: Vec<Frame>,
    /// Maximum call depth and value stack slots.
    limits: (usize, usize),
    /// The store's fuel while the threaded code runs (written back whenever it exits).
    fuel: i64,
    instance: u32,
    /// The current instance's module's defined functions, which the store keeps alive
    /// (instances are never removed).
    funcs: *const CompiledFunc,
    /// The current frame's base in `slots`.
    base: usize,
    /// The store index of the current instance's memory (`u32::MAX`: none) and its
    /// definition (null: none), from which `mem_ptr`/`mem_len` are read.
    mem: u32,
    mem_def: *const VMMemoryDefinition,
    /// The store's context: fuel (written back on every exit) and the function array.
    context: *mut VMStoreContext,
    /// The current instance's global cells, in module index order.
    instance_globals: *const VmPtr<u64>,
    /// For indirect calls: the store's functions (`func_refs_len` of them), and the
    /// current instance's table definitions and interned types.
    func_refs: *const VMFuncRef,
    func_refs_len: usize,
    instance_tables: *const VmPtr<VMTableDefinition>,
    instance_types: *const u32,
    /// The registers, saved when the threaded code exits and loaded when it is entered.
    ip: *const Op,
    fp: *mut u64,
    mem_ptr: *mut u8,
    mem_len: usize,
    acc: u64,
    /// Why the threaded code trapped.
    trap: TrapCode,
}

/// Leaves the threaded code with `exit`, saving the registers.
macro_rules! exit {
    ($exit:expr, $ip:expr, $fp:expr, $mem:expr, $len:expr, $cx:expr, $acc:expr) => {{
        let registers = ($ip, $fp, $mem, $len, $acc);
        let cx: &mut Cx = $cx;
        (cx.ip, cx.fp, cx.mem_ptr, cx.mem_len, cx.acc) = registers;
        return $exit;
    }};
}

/// Continues with the instruction at `$ip`: a call of its handler in tail position, which
/// LLVM turns into a jump.
#[cfg(weft_tail_calls)]
macro_rules! dispatch {
    ($ip:expr, $fp:expr, $mem:expr, $len:expr, $cx:expr, $acc:expr) => {{
        let ip: *const Op = $ip;
        // SAFETY: `ip` is inside the code (invariants 1 and 2) and the registers are the
        // current ones, as every handler requires.
        return unsafe { ((*ip).handler)(ip, $fp, $mem, $len, $cx, $acc) };
    }};
}

/// Continues with the instruction at `$ip`: saves the registers and returns to the
/// dispatch loop in [`execute`].
#[cfg(not(weft_tail_calls))]
macro_rules! dispatch {
    ($ip:expr, $fp:expr, $mem:expr, $len:expr, $cx:expr, $acc:expr) => {
        exit!(Exit::Continue, $ip, $fp, $mem, $len, $cx, $acc)
    };
}

/// Runs threaded code from the registers saved in `cx` until it exits.
fn execute(cx: &mut Cx) -> Exit {
    #[cfg(weft_tail_calls)]
    {
        let (ip, fp, mem, len, acc) = (cx.ip, cx.fp, cx.mem_ptr, cx.mem_len, cx.acc);
        // SAFETY: the registers in `cx` are current and `ip` is inside the code: the
        // executor loads them from the frame it resumes and every exit saves them.
        unsafe { ((*ip).handler)(ip, fp, mem, len, cx, acc) }
    }
    #[cfg(not(weft_tail_calls))]
    loop {
        let (ip, fp, mem, len, acc) = (cx.ip, cx.fp, cx.mem_ptr, cx.mem_len, cx.acc);
        // SAFETY: as above; every handler that continues saves the registers first.
        let exit = unsafe { ((*ip).handler)(ip, fp, mem, len, cx, acc) };
        if exit != Exit::Continue {
            return exit;
        }
    }
}

/// Records `code` as the reason for [`Exit::Trap`].
#[cold]
#[inline(never)]
fn trap(cx: &mut Cx, code: TrapCode) -> Exit {
    cx.trap = code;
    Exit::Trap
}

/// The slow path of a call at `ip` whose frame (ending at slot `end`) or frame record does
/// not fit: grows the stack within its limits and runs the call again, or traps with a
/// stack overflow. Out of line, so that the common path of a call stays small.
#[cold]
#[inline(never)]
fn make_room(
    ip: *const Op,
    _fp: *mut u64,
    mem: *mut u8,
    len: usize,
    cx: &mut Cx,
    acc: u64,
    end: usize,
) -> Exit {
    if let Err(code) = grow_stack(cx.frames.len(), &mut cx.slots, cx.limits, end) {
        return trap(cx, code);
    }
    cx.frames.reserve(1);
    // Growing may have moved the slots; the current frame starts at `base` (invariant 2).
    let fp = cx.slots[cx.base..].as_mut_ptr();
    dispatch!(ip, fp, mem, len, cx, acc)
}

/// Calls function `func` defined by the current module, with arguments at slot `at`: the
/// common path of [`Instr::CallInternal`] and same-instance [`Instr::CallIndirect`].
///
/// # Safety
/// The registers must be current and `func` one of the module's defined functions.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn call_defined(
    ip: *const Op,
    fp: *mut u64,
    mem: *mut u8,
    len: usize,
    cx: &mut Cx,
    acc: u64,
    func: u32,
    at: Slot,
) -> Exit {
    let base = cx.base + at as usize;
    // SAFETY: `func` is a defined function of the current module (the caller's obligation).
    let f = unsafe { &*cx.funcs.add(func as usize) };
    let end = base + f.frame_size as usize;
    let depth = cx.frames.len();
    if depth >= cx.limits.0 || depth == cx.frames.capacity() || end > cx.slots.len() {
        return make_room(ip, fp, mem, len, cx, acc, end);
    }
    if f.frame_init.len() > 4 {
        return call_large_frame(ip, mem, len, cx, acc, func);
    }
    // SAFETY: there is room for the frame and its record, checked above; the frame has room
    // for `frame_init` (see `CompiledFunc`), at most four chunks, moved without a loop.
    let fp = unsafe {
        let fp = push_frame(ip, cx, f, base);
        let dst = fp.add(f.num_params as usize).cast::<[u64; 4]>();
        // At most four iterations (checked above): LLVM unrolls them into moves.
        for (i, &chunk) in f.frame_init.iter().take(4).enumerate() {
            dst.add(i).write(chunk);
        }
        fp
    };
    dispatch!(f.code.as_ptr(), fp, mem, len, cx, acc)
}

/// A call at `ip` of defined function `func` whose `frame_init` has more than four chunks
/// (and whose frame fits, checked by the caller): the frame is initialized by a loop, kept
/// out of the common call path so that path needs no saved registers.
#[cold]
#[inline(never)]
fn call_large_frame(
    ip: *const Op,
    mem: *mut u8,
    len: usize,
    cx: &mut Cx,
    acc: u64,
    func: u32,
) -> Exit {
    // SAFETY: `ip` holds a call of `func`, a defined function of the current module (the
    // caller checked that), whose frame and record fit (checked there too); the frame has
    // room for `frame_init`.
    let (f, fp) = unsafe {
        let (Instr::CallInternal { base: at, .. } | Instr::CallIndirect { base: at, .. }) =
            (*ip).instr
        else {
            unreachable_unchecked()
        };
        let f = &*cx.funcs.add(func as usize);
        let fp = push_frame(ip, cx, f, cx.base + at as usize);
        let dst = fp.add(f.num_params as usize).cast::<[u64; 4]>();
        core::ptr::copy_nonoverlapping(f.frame_init.as_ptr(), dst, f.frame_init.len());
        (f, fp)
    };
    dispatch!(f.code.as_ptr(), fp, mem, len, cx, acc)
}

/// Pops the current frame, whose results are in place, and continues in its caller.
///
/// # Safety
/// The registers must be current (see [`Cx`]).
#[inline(always)]
unsafe fn return_to_caller(
    ip: *const Op,
    fp: *mut u64,
    mem: *mut u8,
    len: usize,
    cx: &mut Cx,
    acc: u64,
) -> Exit {
    cx.frames.pop();
    let Some(&f) = cx.frames.last() else {
        exit!(Exit::Done, ip, fp, mem, len, cx, acc)
    };
    if f.instance != cx.instance {
        exit!(Exit::Resume, ip, fp, mem, len, cx, acc)
    }
    // Same instance: the memory view is still current (a `memory.grow` in the callee
    // refreshed it), only the frame changes. Saved frames lie inside `slots`, and their
    // `ip` inside their code (invariant 2).
    cx.base = f.base;
    // SAFETY: see above.
    let fp = unsafe { cx.slots.as_mut_ptr().add(f.base) };
    dispatch!(f.ip.0, fp, mem, len, cx, acc)
}

/// Reads frame slot `slot`.
///
/// # Safety
/// `slot` must be inside the frame at `fp` (invariants 1 and 2).
#[inline(always)]
unsafe fn get(fp: *mut u64, slot: Slot) -> u64 {
    // SAFETY: the caller's obligation.
    unsafe { fp.add(slot as usize).read() }
}

/// Writes frame slot `slot`.
///
/// # Safety
/// As for [`get`].
#[inline(always)]
unsafe fn set(fp: *mut u64, slot: Slot, value: u64) {
    // SAFETY: the caller's obligation.
    unsafe { fp.add(slot as usize).write(value) }
}

/// `base + (index << shift)` in 32 bits, from slots `base` and `index`: an array element's
/// address. Inlined with a constant `shift`, it becomes an addressing mode.
///
/// # Safety
/// As for [`get`].
#[inline(always)]
unsafe fn scaled(fp: *mut u64, base: Slot, index: Slot, shift: u8) -> u32 {
    // SAFETY: the caller's obligation.
    unsafe { (get(fp, base) as u32).wrapping_add((get(fp, index) as u32) << shift) }
}

/// The `N` bytes of memory at effective address `ea`, if they lie inside `mem[..len]`.
///
/// # Safety
/// `mem[..len]` must be the current memory (invariant 3).
#[inline(always)]
unsafe fn load<const N: usize>(mem: *mut u8, len: usize, ea: u64) -> Option<[u8; N]> {
    if ea + N as u64 > len as u64 {
        return None;
    }
    // SAFETY: `[ea, ea + N)` lies inside the memory, checked just above.
    Some(unsafe { mem.add(ea as usize).cast::<[u8; N]>().read() })
}

/// Writes `bytes` at effective address `ea` if they fit inside `mem[..len]`.
///
/// # Safety
/// As for [`load`].
#[inline(always)]
#[must_use]
unsafe fn store<const N: usize>(mem: *mut u8, len: usize, ea: u64, bytes: [u8; N]) -> bool {
    if ea + N as u64 > len as u64 {
        return false;
    }
    // SAFETY: in bounds, checked just above.
    unsafe { mem.add(ea as usize).cast::<[u8; N]>().write(bytes) };
    true
}

/// The instruction pointer `offset` instructions after `ip`'s successor (a jump).
///
/// # Safety
/// The target must be inside the code (invariant 1).
#[inline(always)]
unsafe fn jump(ip: *const Op, offset: u32) -> *const Op {
    // SAFETY: the caller's obligation.
    unsafe { ip.add(1).offset(offset as i32 as isize) }
}

/// Defines a handler: `$pat` names the instruction's operands, `$body` runs it and ends
/// by dispatching the next instruction or exiting.
macro_rules! handler {
    ($name:ident($ip:ident, $fp:ident, $mem:ident, $len:ident, $cx:ident, $acc:ident) $pat:pat => $body:block) => {
        #[allow(
            non_snake_case,
            unused_variables,
            unused_unsafe,
            unused_mut,
            unused_assignments
        )]
        pub(in crate::interp::exec) unsafe fn $name(
            $ip: *const Op,
            $fp: *mut u64,
            $mem: *mut u8,
            $len: usize,
            $cx: &mut Cx,
            mut $acc: u64,
        ) -> Exit {
            // SAFETY: `$ip` is inside the code (invariant 2) and its handler, this one, was
            // chosen by its instruction's variant (invariant 1).
            let $pat = (unsafe { *$ip }).instr else {
                // SAFETY: see above: no other variant reaches this handler.
                unsafe { unreachable_unchecked() }
            };
            // SAFETY: slot operands are inside the frame at `$fp`, jump targets inside the
            // code (invariants 1 and 2), and `$mem[..$len]` is the current memory
            // (invariant 3), which is what `get`, `set`, `jump`, `load` and `store` need.
            unsafe { $body }
        }
    };
}

/// An operand of a handler variant: `A` reads the accumulator, `S` the operand's slot,
/// `I` takes the field as an immediate (sign-extended from 32 bits; see `AccUse::imm`).
macro_rules! val {
    (I, $fp:ident, $acc:ident, $slot:expr) => {
        $slot as i32 as i64 as u64
    };
    (S, $fp:ident, $acc:ident, $slot:expr) => {
        get($fp, $slot)
    };
    (A, $fp:ident, $acc:ident, $slot:expr) => {
        $acc
    };
}

/// The result of a handler variant: `A` goes to the accumulator, `S` to its slot.
macro_rules! put {
    (S, $fp:ident, $acc:ident, $slot:expr, $value:expr) => {
        set($fp, $slot, $value)
    };
    (A, $fp:ident, $acc:ident, $slot:expr, $value:expr) => {
        $acc = $value
    };
}

/// The variants of a unary operator `$op` computing `$f`: `[NAME: result operand]`.
macro_rules! unary_variants {
    ($op:ident, $f:path, $([$name:ident: $d:ident $s:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, src } => {
            put!($d, fp, acc, dst, $f(val!($s, fp, acc, src)));
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// As [`unary_variants`] for an operator that can trap.
macro_rules! unary_trap_variants {
    ($op:ident, $f:path, $([$name:ident: $d:ident $s:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, src } => {
            match $f(val!($s, fp, acc, src)) {
                Ok(v) => put!($d, fp, acc, dst, v),
                Err(code) => return trap(cx, code),
            }
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The variants of a binary operator: `[NAME: result lhs rhs]`.
macro_rules! binary_variants {
    ($op:ident, $f:path, $([$name:ident: $d:ident $l:ident $r:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, lhs, rhs } => {
            put!($d, fp, acc, dst, $f(val!($l, fp, acc, lhs), val!($r, fp, acc, rhs)));
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// As [`binary_variants`] for an operator that can trap.
macro_rules! binary_trap_variants {
    ($op:ident, $f:path, $([$name:ident: $d:ident $l:ident $r:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, lhs, rhs } => {
            match $f(val!($l, fp, acc, lhs), val!($r, fp, acc, rhs)) {
                Ok(v) => put!($d, fp, acc, dst, v),
                Err(code) => return trap(cx, code),
            }
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The variants of a load of `$n` bytes converted by `$conv`: `[NAME: result address]`.
macro_rules! load_variants {
    ($op:ident, $n:literal, $conv:expr, $([$name:ident: $d:ident $a:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, addr, offset } => {
            let ea = (val!($a, fp, acc, addr) as u32 as u64) + u64::from(offset);
            let Some(bytes) = load::<$n>(mem, len, ea) else {
                return trap(cx, TrapCode::MemoryOutOfBounds);
            };
            put!($d, fp, acc, dst, ($conv)(bytes));
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The shift of an indexed access: the instruction's (`_`) or a constant, so that common
/// scales compile to an addressing mode instead of a shift by a register.
macro_rules! shift {
    (_, $shift:ident) => {
        $shift
    };
    ($constant:literal, $shift:ident) => {
        $constant
    };
}

/// The handler variant of module `$m` for a shift, with or without the accumulator
/// (`$acc`): `S`/`A` for any shift, `S0`..`S4`/`A0`..`A4` for those.
macro_rules! pick_shift {
    ($acc:expr, $shift:expr, $m:ident) => {
        Some(match ($acc, $shift) {
            (false, 0) => h::$m::S0 as Handler,
            (false, 1) => h::$m::S1,
            (false, 2) => h::$m::S2,
            (false, 3) => h::$m::S3,
            (false, 4) => h::$m::S4,
            (false, _) => h::$m::S,
            (true, 0) => h::$m::A0,
            (true, 1) => h::$m::A1,
            (true, 2) => h::$m::A2,
            (true, 3) => h::$m::A3,
            (true, 4) => h::$m::A4,
            (true, _) => h::$m::A,
        })
    };
}

/// The variants of a load at `base + (index << shift)`: `[NAME: result shift]`.
macro_rules! load_idx_variants {
    ($op:ident, $n:literal, $conv:expr, $([$name:ident: $d:ident $sh:tt])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, base, index, shift } => {
            let ea = scaled(fp, base, index, shift!($sh, shift));
            let Some(bytes) = load::<$n>(mem, len, u64::from(ea)) else {
                return trap(cx, TrapCode::MemoryOutOfBounds);
            };
            put!($d, fp, acc, dst, ($conv)(bytes));
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The variants of a store of `$n` bytes made by `$conv`: `[NAME: address value]`.
macro_rules! store_variants {
    ($op:ident, $n:literal, $conv:expr, $([$name:ident: $a:ident $v:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { addr, val, offset } => {
            let ea = (val!($a, fp, acc, addr) as u32 as u64) + u64::from(offset);
            if !store::<$n>(mem, len, ea, ($conv)(val!($v, fp, acc, val))) {
                return trap(cx, TrapCode::MemoryOutOfBounds);
            }
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The variants of a store at `base + (index << shift)`: `[NAME: value shift]`.
macro_rules! store_idx_variants {
    ($op:ident, $n:literal, $conv:expr, $([$name:ident: $v:ident $sh:tt])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { base, index, val, shift } => {
            let ea = scaled(fp, base, index, shift!($sh, shift));
            if !store::<$n>(mem, len, u64::from(ea), ($conv)(val!($v, fp, acc, val))) {
                return trap(cx, TrapCode::MemoryOutOfBounds);
            }
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The variants of a compare-and-branch: `[NAME: lhs rhs]`.
macro_rules! cmp_branch_variants {
    ($op:ident, $f:path, $([$name:ident: $l:ident $r:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { lhs, rhs, target } => {
            if $f(val!($l, fp, acc, lhs), val!($r, fp, acc, rhs)) != 0 {
                dispatch!(jump(ip, target), fp, mem, len, cx, acc)
            }
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// `[NAME: condition]` variants of a conditional branch on the i32 `cond` `$test`.
macro_rules! br_if_variants {
    ($op:ident, |$c:ident| $test:expr, $([$name:ident: $s:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { cond, target } => {
            let $c = val!($s, fp, acc, cond) as u32;
            if $test {
                dispatch!(jump(ip, target), fp, mem, len, cx, acc)
            }
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// `[NAME: index]` variants of [`Instr::BrTable`].
macro_rules! br_table_variants {
    ($([$name:ident: $s:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::BrTable { index, len: n } => {
            // The `n + 1` entries follow the instruction (invariant 1).
            let entry = ip.add(1 + (val!($s, fp, acc, index) as u32).min(n) as usize);
            // An entry is a `Br`: take its jump here rather than dispatching it.
            match (*entry).instr {
                Instr::Br(target) => dispatch!(jump(entry, target), fp, mem, len, cx, acc),
                _ => dispatch!(entry, fp, mem, len, cx, acc),
            }
        });
    )*};
}

/// `[NAME: result condition]` variants of a select: `a` if `$test` holds of the
/// condition, else `b`.
macro_rules! select_variants {
    ($op:ident, |$c:ident| $test:expr, $([$name:ident: $d:ident $s:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::$op { dst, a, b, cond } => {
            let $c = val!($s, fp, acc, cond);
            let value = if $test { get(fp, a) } else { get(fp, b) };
            put!($d, fp, acc, dst, value);
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// `[NAME: result shift]` variants of [`Instr::I32AddShl`].
macro_rules! add_shl_variants {
    ($([$name:ident: $d:ident $sh:tt])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::I32AddShl { dst, base, index, shift } => {
            let v = scaled(fp, base, index, shift!($sh, shift));
            put!($d, fp, acc, dst, u64::from(v));
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// `[NAME: result]` variants of [`Instr::GlobalGet`].
macro_rules! global_get_variants {
    ($([$name:ident: $d:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::GlobalGet { dst, global } => {
            put!($d, fp, acc, dst, *cx.global(global));
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// `[NAME: value]` variants of [`Instr::GlobalSet`].
macro_rules! global_set_variants {
    ($([$name:ident: $s:ident])*) => {$(
        handler!($name(ip, fp, mem, len, cx, acc) Instr::GlobalSet { src, global } => {
            *cx.global(global) = val!($s, fp, acc, src);
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        });
    )*};
}

/// The handler variant for `acc` among `(result, operand) => NAME` pairs of module `$m`.
macro_rules! pick {
    ($acc:expr, $m:ident; $($dst:literal, $src:literal => $v:ident),* $(,)?
        $(; imm: $($idst:literal, $isrc:literal => $iv:ident),* $(,)?)?) => {
        match ($acc.dst, $acc.src, $acc.imm) {
            $(($dst, $src, false) => Some(h::$m::$v as Handler),)*
            $($(($idst, $isrc, true) => Some(h::$m::$iv as Handler),)*)?
            _ => None,
        }
    };
}

macro_rules! define_handlers {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) / $ldx:ident => $ldf:expr,)* }
        store { $($st:ident($stn:literal) / $stx:ident => $stf:expr,)* }
        cmp_branch { $($cb:ident => $cbf:ident,)* }
    ) => {
/// The handlers, one per instruction the threaded code runs itself, named after it; an
/// instruction that can use the accumulator has a module of variants instead, named by
/// where its result and then its operands go (`A`ccumulator or `S`lot; see `AccUse`).
#[allow(non_snake_case)]
mod h {
    use super::*;

    $(pub(super) mod $un {
        use super::*;
        unary_variants!($un, ops::$unf, [SS: S S] [AS: A S] [SA: S A] [AA: A A]);
    })*
    $(pub(super) mod $ut {
        use super::*;
        unary_trap_variants!($ut, ops::$utf, [SS: S S] [AS: A S] [SA: S A] [AA: A A]);
    })*
    $(pub(super) mod $bin {
        use super::*;
        binary_variants!($bin, ops::$binf, [SSS: S S S] [ASS: A S S] [SAS: S A S]
            [SSA: S S A] [AAS: A A S] [ASA: A S A] [SSI: S S I] [ASI: A S I] [SAI: S A I]
            [AAI: A A I]);
    })*
    $(pub(super) mod $bt {
        use super::*;
        binary_trap_variants!($bt, ops::$btf, [SSS: S S S] [ASS: A S S] [SAS: S A S]
            [SSA: S S A] [AAS: A A S] [ASA: A S A] [SSI: S S I] [ASI: A S I] [SAI: S A I]
            [AAI: A A I]);
    })*
    $(pub(super) mod $ld {
        use super::*;
        load_variants!($ld, $ldn, $ldf, [SS: S S] [AS: A S] [SA: S A] [AA: A A]);
    })*
    $(pub(super) mod $ldx {
        use super::*;
        load_idx_variants!($ldx, $ldn, $ldf, [S: S _] [A: A _] [S0: S 0] [A0: A 0] [S1: S 1] [A1: A 1] [S2: S 2] [A2: A 2]
            [S3: S 3] [A3: A 3] [S4: S 4] [A4: A 4]);
    })*
    $(pub(super) mod $st {
        use super::*;
        store_variants!($st, $stn, $stf, [SS: S S] [AS: A S] [SA: S A] [SI: S I] [AI: A I]);
    })*
    $(pub(super) mod $stx {
        use super::*;
        store_idx_variants!($stx, $stn, $stf, [S: S _] [A: A _] [S0: S 0] [A0: A 0] [S1: S 1] [A1: A 1] [S2: S 2] [A2: A 2]
            [S3: S 3] [A3: A 3] [S4: S 4] [A4: A 4]);
    })*
    $(pub(super) mod $cb {
        use super::*;
        cmp_branch_variants!($cb, ops::$cbf, [SS: S S] [AS: A S] [SA: S A] [SI: S I] [AI: A I]);
    })*

    handler!(Unreachable(ip, fp, mem, len, cx, acc) Instr::Unreachable => {
        trap(cx, TrapCode::Unreachable)
    });
    handler!(Br(ip, fp, mem, len, cx, acc) Instr::Br(target) => {
        dispatch!(jump(ip, target), fp, mem, len, cx, acc)
    });
    pub(super) mod BrIfNez {
        use super::*;
        br_if_variants!(BrIfNez, |c| c != 0, [S: S] [A: A]);
    }
    pub(super) mod BrIfEqz {
        use super::*;
        br_if_variants!(BrIfEqz, |c| c == 0, [S: S] [A: A]);
    }
    pub(super) mod BrTable {
        use super::*;
        br_table_variants!([S: S] [A: A]);
    }
    handler!(Copy(ip, fp, mem, len, cx, acc) Instr::Copy { dst, src } => {
        set(fp, dst, get(fp, src));
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    handler!(CopyRange(ip, fp, mem, len, cx, acc) Instr::CopyRange { dst, src, n } => {
        // Both ranges are inside the frame; ascending order is what the instruction says
        // where they overlap. A loop, not a call of `memmove`: `n` is small as a rule.
        for i in 0..n {
            set(fp, dst + i, get(fp, src + i));
        }
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    handler!(AddBrI32LtU(ip, fp, mem, len, cx, acc) Instr::AddBrI32LtU { var, step, limit, target } => {
        let v = (get(fp, var) as u32).wrapping_add(get(fp, step.into()) as u32);
        set(fp, var, u64::from(v));
        if v < get(fp, limit.into()) as u32 {
            dispatch!(jump(ip, target), fp, mem, len, cx, acc)
        }
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    handler!(AddBrI32LtS(ip, fp, mem, len, cx, acc) Instr::AddBrI32LtS { var, step, limit, target } => {
        let v = (get(fp, var) as u32).wrapping_add(get(fp, step.into()) as u32);
        set(fp, var, u64::from(v));
        if (v as i32) < (get(fp, limit.into()) as u32 as i32) {
            dispatch!(jump(ip, target), fp, mem, len, cx, acc)
        }
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    handler!(AddBrI32Ne(ip, fp, mem, len, cx, acc) Instr::AddBrI32Ne { var, step, limit, target } => {
        let v = (get(fp, var) as u32).wrapping_add(get(fp, step.into()) as u32);
        set(fp, var, u64::from(v));
        if v != get(fp, limit.into()) as u32 {
            dispatch!(jump(ip, target), fp, mem, len, cx, acc)
        }
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    pub(super) mod I32AddShl {
        use super::*;
        add_shl_variants!([S: S _] [A: A _] [S0: S 0] [A0: A 0] [S1: S 1] [A1: A 1] [S2: S 2] [A2: A 2]
            [S3: S 3] [A3: A 3] [S4: S 4] [A4: A 4]);
    }
    pub(super) mod Select32 {
        use super::*;
        select_variants!(Select32, |c| c as u32 != 0, [SS: S S] [AS: A S] [SA: S A] [AA: A A]);
    }
    pub(super) mod Select64 {
        use super::*;
        select_variants!(Select64, |c| c != 0, [SS: S S] [AS: A S] [SA: S A] [AA: A A]);
    }
    pub(super) mod GlobalGet {
        use super::*;
        global_get_variants!([S: S] [A: A]);
    }
    pub(super) mod GlobalSet {
        use super::*;
        global_set_variants!([S: S] [A: A]);
    }
    handler!(ConsumeFuel(ip, fp, mem, len, cx, acc) Instr::ConsumeFuel(cost) => {
        if cx.fuel > 0 {
            cx.fuel -= i64::from(cost);
            dispatch!(ip.add(1), fp, mem, len, cx, acc)
        }
        // Suspend before this instruction, so resuming charges its block again.
        cx.save_ip(ip);
        exit!(Exit::OutOfFuel, ip, fp, mem, len, cx, acc)
    });
    handler!(CallInternal(ip, fp, mem, len, cx, acc) Instr::CallInternal { func, base: at } => {
        // The validator checked `func` against the module's functions.
        call_defined(ip, fp, mem, len, cx, acc, func, at)
    });
    handler!(CallIndirect(ip, fp, mem, len, cx, acc) Instr::CallIndirect { ty, table, base: at, index } => {
        // The validator checked `table` and `ty` against the module's tables and types, and
        // the instance lists one table definition and type per module table and type
        // (invariant 3).
        let table = (*cx.instance_tables.add(table as usize)).0.as_ptr().read();
        let i = get(fp, index) as u32;
        if u64::from(i) >= table.length {
            return trap(cx, TrapCode::TableOutOfBounds);
        }
        // In bounds of the table's elements, which its definition describes (vm
        // invariant 2), checked just above.
        let element = table.base.add(i as usize).read();
        let Some(f) = raw_ref_index(element) else {
            return trap(cx, TrapCode::UninitializedElement);
        };
        if f as usize >= cx.func_refs_len {
            // Not a function of this store: cannot happen, but the generic path checks.
            exit!(Exit::Slow, ip, fp, mem, len, cx, acc)
        }
        let callee = *cx.func_refs.add(f as usize);
        if callee.ty != *cx.instance_types.add(ty as usize) {
            return trap(cx, TrapCode::IndirectCallTypeMismatch);
        }
        if callee.instance != cx.instance {
            // A host function or another instance's: the store's generic path.
            exit!(Exit::Slow, ip, fp, mem, len, cx, acc)
        }
        call_defined(ip, fp, mem, len, cx, acc, callee.index, at)
    });
    handler!(Return(ip, fp, mem, len, cx, acc) Instr::Return { src, n } => {
        if src != 0 {
            // `[src, src + n)` and `[0, n)` are inside the frame; with `src > 0` a forward
            // copy is right even where they overlap. A loop, not a call of `memmove`.
            for i in 0..n {
                set(fp, i, get(fp, src + i));
            }
        }
        return_to_caller(ip, fp, mem, len, cx, acc)
    });
    handler!(Return0(ip, fp, mem, len, cx, acc) Instr::Return { .. } => {
        return_to_caller(ip, fp, mem, len, cx, acc)
    });
    handler!(Return1(ip, fp, mem, len, cx, acc) Instr::Return { src, .. } => {
        set(fp, 0, get(fp, src));
        return_to_caller(ip, fp, mem, len, cx, acc)
    });
    handler!(MemoryFill(ip, fp, mem, len, cx, acc) Instr::MemoryFill { base: at } => {
        let (start, value, n) = (get(fp, at), get(fp, at + 1), get(fp, at + 2));
        let Some(r) = bulk_range(len, start, n) else {
            return trap(cx, TrapCode::MemoryOutOfBounds);
        };
        // The range lies inside the memory, checked just above.
        core::ptr::write_bytes(mem.add(r.start), value as u8, r.len());
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    handler!(MemoryCopy(ip, fp, mem, len, cx, acc) Instr::MemoryCopy { base: at } => {
        let (d, s, n) = (get(fp, at), get(fp, at + 1), get(fp, at + 2));
        let (Some(dst), Some(src)) = (bulk_range(len, d, n), bulk_range(len, s, n)) else {
            return trap(cx, TrapCode::MemoryOutOfBounds);
        };
        // Both ranges lie inside the memory, checked just above; `copy` allows overlap.
        core::ptr::copy(mem.add(src.start), mem.add(dst.start), src.len());
        dispatch!(ip.add(1), fp, mem, len, cx, acc)
    });
    /// Every instruction that needs the store: [`Executor::slow`] runs it.
    pub(super) unsafe fn Slow(
        ip: *const Op,
        fp: *mut u64,
        mem: *mut u8,
        len: usize,
        cx: &mut Cx,
        acc: u64,
    ) -> Exit {
        exit!(Exit::Slow, ip, fp, mem, len, cx, acc)
    }
}

/// The handler that executes `instr` with the accumulator uses `acc`, if there is one.
#[inline(always)]
fn handler_of(instr: &Instr, acc: AccUse) -> Option<Handler> {
    // Instructions with one handler take no value through the accumulator.
    let only = |h: Handler| (acc == AccUse::default()).then_some(h);
    match instr {
        $(Instr::$un { .. } => pick!(acc, $un; false, 0 => SS, true, 0 => AS, false, 1 => SA, true, 1 => AA),)*
        $(Instr::$ut { .. } => pick!(acc, $ut; false, 0 => SS, true, 0 => AS, false, 1 => SA, true, 1 => AA),)*
        $(Instr::$bin { .. } => pick!(acc, $bin; false, 0 => SSS, true, 0 => ASS,
            false, 1 => SAS, false, 2 => SSA, true, 1 => AAS, true, 2 => ASA;
            imm: false, 0 => SSI, true, 0 => ASI, false, 1 => SAI, true, 1 => AAI),)*
        $(Instr::$bt { .. } => pick!(acc, $bt; false, 0 => SSS, true, 0 => ASS,
            false, 1 => SAS, false, 2 => SSA, true, 1 => AAS, true, 2 => ASA;
            imm: false, 0 => SSI, true, 0 => ASI, false, 1 => SAI, true, 1 => AAI),)*
        $(Instr::$ld { .. } => pick!(acc, $ld; false, 0 => SS, true, 0 => AS, false, 1 => SA, true, 1 => AA),)*
        $(Instr::$ldx { shift, .. } if acc.src == 0 && !acc.imm => {
            pick_shift!(acc.dst, *shift, $ldx)
        })*
        $(Instr::$st { .. } => pick!(acc, $st; false, 0 => SS, false, 1 => AS, false, 2 => SA;
            imm: false, 0 => SI, false, 1 => AI),)*
        $(Instr::$stx { shift, .. } if !acc.dst && acc.src <= 1 && !acc.imm => {
            pick_shift!(acc.src == 1, *shift, $stx)
        })*
        $(Instr::$cb { .. } => pick!(acc, $cb; false, 0 => SS, false, 1 => AS, false, 2 => SA;
            imm: false, 0 => SI, false, 1 => AI),)*
        Instr::BrIfNez { .. } => pick!(acc, BrIfNez; false, 0 => S, false, 1 => A),
        Instr::BrIfEqz { .. } => pick!(acc, BrIfEqz; false, 0 => S, false, 1 => A),
        Instr::Select32 { .. } => pick!(acc, Select32; false, 0 => SS, true, 0 => AS, false, 1 => SA, true, 1 => AA),
        Instr::Select64 { .. } => pick!(acc, Select64; false, 0 => SS, true, 0 => AS, false, 1 => SA, true, 1 => AA),
        Instr::I32AddShl { shift, .. } if acc.src == 0 && !acc.imm => {
            pick_shift!(acc.dst, *shift, I32AddShl)
        }
        Instr::GlobalGet { .. } => pick!(acc, GlobalGet; false, 0 => S, true, 0 => A),
        Instr::GlobalSet { .. } => pick!(acc, GlobalSet; false, 0 => S, false, 1 => A),
        Instr::Unreachable => only(h::Unreachable),
        Instr::Br(_) => only(h::Br),
        Instr::BrTable { .. } => pick!(acc, BrTable; false, 0 => S, false, 1 => A),
        Instr::Copy { .. } => only(h::Copy),
        Instr::CopyRange { .. } => only(h::CopyRange),
        Instr::AddBrI32LtU { .. } => only(h::AddBrI32LtU),
        Instr::AddBrI32LtS { .. } => only(h::AddBrI32LtS),
        Instr::AddBrI32Ne { .. } => only(h::AddBrI32Ne),
        Instr::ConsumeFuel(_) => only(h::ConsumeFuel),
        Instr::CallInternal { .. } => only(h::CallInternal),
        Instr::CallIndirect { .. } => only(h::CallIndirect),
        Instr::Return { n: 0, .. } => only(h::Return0),
        Instr::Return { n: 1, .. } => only(h::Return1),
        Instr::Return { .. } => only(h::Return),
        Instr::MemoryFill { .. } => only(h::MemoryFill),
        Instr::MemoryCopy { .. } => only(h::MemoryCopy),
        Instr::CallImported { .. }
        | Instr::RefFunc { .. }
        | Instr::MemorySize { .. }
        | Instr::MemoryGrow { .. }
        | Instr::MemoryInit { .. }
        | Instr::DataDrop { .. }
        | Instr::TableGet { .. }
        | Instr::TableSet { .. }
        | Instr::TableSize { .. }
        | Instr::TableGrow { .. }
        | Instr::TableFill { .. }
        | Instr::TableCopy { .. }
        | Instr::TableInit { .. }
        | Instr::ElemDrop { .. } => only(h::Slow),
        // An accumulator use the instruction does not have.
        _ => None,
    }
}
    };
}
for_each_op!(define_handlers);

impl Cx {
    /// The cell of global `global` of the current instance.
    #[inline(always)]
    fn global(&self, global: u32) -> *mut u64 {
        // SAFETY: the validator checked `global` against the module's globals, and the
        // instance lists one cell per module global (invariant 3).
        unsafe { (*self.instance_globals.add(global as usize)).0.as_ptr() }
    }

    /// Records `ip` as where the current frame continues.
    #[inline(always)]
    fn save_ip(&mut self, ip: *const Op) {
        if let Some(frame) = self.frames.last_mut() {
            frame.ip = CodePtr(ip);
        }
    }
}

/// What the driver does after an out-of-line instruction.
enum Next {
    /// Continue with the registers in [`Cx`].
    Continue,
    /// Stop running.
    Exit(Outcome),
}

/// Runs the top frame of `stack` until the entry function returns, a trap, fuel running
/// out, or a host yield. See [`Cx`] for the invariants behind the raw pointers.
pub(crate) fn run(store: &mut dyn StoreOps, stack: &mut Stack) -> Result<Outcome> {
    let core = store.core();
    let context = core.context();
    let mut cx = Cx {
        slots: core::mem::take(&mut stack.slots),
        frames: core::mem::take(&mut stack.frames),
        limits: (core.max_call_depth() as usize, core.max_stack_slots()),
        fuel: core.fuel(),
        // Differs from the top frame's, so `resume_top` loads everything.
        instance: u32::MAX,
        funcs: core::ptr::null(),
        base: 0,
        mem: u32::MAX,
        mem_def: core::ptr::null(),
        context,
        instance_globals: core::ptr::null(),
        func_refs: core::ptr::null(),
        func_refs_len: 0,
        instance_tables: core::ptr::null(),
        instance_types: core::ptr::null(),
        ip: core::ptr::null(),
        fp: core::ptr::null_mut(),
        mem_ptr: core::ptr::null_mut(),
        mem_len: 0,
        acc: 0,
        trap: TrapCode::Unreachable,
    };
    let mut ex = Executor {
        store: &mut *store,
        cx: &mut cx,
        host_vals: &mut stack.host_vals,
    };
    let mut outcome = ex.drive();
    if let Err(e) = &mut outcome
        && e.is_trap()
    {
        e.add_frames(backtrace(store.core(), &cx.frames));
    }
    stack.slots = core::mem::take(&mut cx.slots);
    stack.frames = core::mem::take(&mut cx.frames);
    outcome
}

/// The functions of `frames`, innermost first, for the backtrace of a trap. Every frame
/// record's `ip` points into its function's code (invariant 2), which identifies the
/// function; a frame of the same function as the one before it (recursion) is found
/// without a search.
fn backtrace(store: &StoreCore, frames: &[Frame]) -> Vec<FrameInfo> {
    let mut out: Vec<FrameInfo> = Vec::with_capacity(frames.len());
    let mut last: Option<(u32, u32)> = None;
    for frame in frames.iter().rev() {
        if frame.instance as usize >= store.num_instances() {
            continue;
        }
        let module = store.instance(frame.instance).module();
        let code = module.interp_code().funcs();
        let contains = |def: u32| {
            code.get(def as usize)
                .is_some_and(|f| f.code.as_ptr_range().contains(&frame.ip.0))
        };
        let def = match last {
            Some((i, def)) if i == frame.instance && contains(def) => Some(def),
            _ => (0..code.len() as u32).find(|&def| contains(def)),
        };
        let Some(def) = def else { continue };
        last = Some((frame.instance, def));
        let index = module.info().num_imported_funcs + def;
        out.push(FrameInfo::new(module.clone(), index));
    }
    out
}

/// The generic side of the interpreter: enters the threaded code and runs what it leaves
/// to the store (see the module docs). It sees the store as `dyn StoreOps`, so nothing of
/// the interpreter is generic over the host data; only `StoreOps::call_host` is.
struct Executor<'a> {
    store: &'a mut dyn StoreOps,
    cx: &'a mut Cx,
    host_vals: &'a mut HostVals,
}

impl Executor<'_> {
    fn drive(&mut self) -> Result<Outcome> {
        self.resume_top();
        loop {
            let exit = execute(self.cx);
            // SAFETY: the context is the store's and lives as long as it (vm invariants 1
            // and 3); nothing else accesses it while the executor holds the store.
            unsafe { (*self.cx.context).fuel = self.cx.fuel };
            match exit {
                Exit::Continue => {}
                Exit::Done => return Ok(Outcome::Done),
                Exit::Trap => return Err(self.cx.trap.into()),
                Exit::OutOfFuel => return Ok(Outcome::OutOfFuel),
                Exit::Resume => self.resume_top(),
                Exit::Slow => {
                    // SAFETY: the slow instruction is inside the code (invariant 2), and so
                    // is the one after it, since code ends in a jump, return or trap.
                    let instr = unsafe { (*self.cx.ip).instr };
                    // SAFETY: see above.
                    self.cx.ip = unsafe { self.cx.ip.add(1) };
                    let next = self.slow(instr);
                    // Host functions may have changed the fuel.
                    // SAFETY: as above.
                    self.cx.fuel = unsafe { (*self.cx.context).fuel };
                    if let Next::Exit(outcome) = next? {
                        return Ok(outcome);
                    }
                }
            }
        }
    }

    #[inline(always)]
    fn get(&self, slot: Slot) -> u64 {
        // SAFETY: the slot is an operand of the current instruction, inside the current
        // frame (invariants 1 and 2).
        unsafe { get(self.cx.fp, slot) }
    }

    #[inline(always)]
    fn set(&mut self, slot: Slot, value: u64) {
        // SAFETY: as in `get`.
        unsafe { set(self.cx.fp, slot, value) }
    }

    /// Re-reads the raw views of the memory, the globals, the tables and the functions
    /// (invariant 3).
    fn refresh_views(&mut self) {
        let cx = &mut *self.cx;
        let core = self.store.core();
        // SAFETY: `mem_def` is null or the current instance's memory's definition
        // (invariant 3).
        (cx.mem_ptr, cx.mem_len) = unsafe { memory_view(cx.mem_def) };
        // SAFETY: the store's context (invariant 3; vm invariants 1 and 3).
        let context = unsafe { cx.context.read() };
        cx.func_refs = context.funcs;
        cx.func_refs_len = context.funcs_len as usize;
        let instance = core.instance(cx.instance);
        cx.instance_globals = instance.global_cells().as_ptr();
        cx.instance_tables = instance.table_definitions().as_ptr();
        cx.instance_types = instance.types().as_ptr();
    }

    /// Continues in the frame now on top of the frame stack.
    fn resume_top(&mut self) {
        let f = *self.cx.frames.last().expect("a frame");
        if f.instance != self.cx.instance {
            self.cx.instance = f.instance;
            let core = self.store.core();
            let module = core.instance(f.instance).module();
            self.cx.funcs = module.interp_code().funcs().as_ptr();
            (self.cx.mem, self.cx.mem_def) = first_memory(core, f.instance);
        }
        self.refresh_views();
        self.cx.ip = f.ip.0;
        self.cx.base = f.base;
        self.cx.fp = self.cx.slots[f.base..].as_mut_ptr();
    }

    /// Calls store function `func` with arguments at frame slot `at`.
    fn call_store_func(&mut self, func_index: u32, at: Slot) -> Result<Next> {
        self.cx.save_ip(self.cx.ip);
        let new_base = self.cx.base + at as usize;
        let core = self.store.core();
        match core.func(func_index).kind() {
            FuncKind::Wasm { instance, def } => {
                let f = core.instance(instance).module().interp_code().func(def);
                let cx = &mut *self.cx;
                enter(
                    &mut cx.frames,
                    &mut cx.slots,
                    cx.limits,
                    instance,
                    f,
                    new_base,
                )?;
                self.resume_top();
            }
            FuncKind::Host(host) => {
                let ty = core.func_type(func_index);
                let width = ty.params().len().max(ty.results().len());
                // SAFETY: the verifier proved the call's `[at, at + width)` inside the
                // frame (invariant 1). While the host function runs, this slice is the only
                // use of the frame: the threaded code waits, and the host function reaches
                // only the store, never this stack.
                let slots =
                    unsafe { core::slice::from_raw_parts_mut(self.cx.fp.add(at as usize), width) };
                let outcome = self
                    .store
                    .call_host(host, self.cx.instance, slots, self.host_vals);
                self.refresh_views();
                if let Err(e) = outcome {
                    if let ErrorKind::Yield(tag) = e.kind() {
                        return Ok(Next::Exit(Outcome::Yield {
                            tag: *tag,
                            func: func_index,
                            results_at: new_base,
                        }));
                    }
                    return Err(e);
                }
            }
        }
        Ok(Next::Continue)
    }

    fn call_indirect(&mut self, ty: u32, table: u32, at: Slot) -> Result<Next> {
        let core = self.store.core();
        let inst = core.instance(self.cx.instance);
        let np = inst.module().info().types[ty as usize].params().len();
        let index = self.get(at + np as u32) as u32;
        let raw = *core
            .table(inst.tables()[table as usize])
            .elements()
            .get(index as usize)
            .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
        let f = raw_ref_index(raw).ok_or(Error::trap(TrapCode::UninitializedElement))?;
        if core.func(f).ty != inst.types()[ty as usize] {
            return Err(TrapCode::IndirectCallTypeMismatch.into());
        }
        self.call_store_func(f, at)
    }

    fn table_index(&self, table: u32) -> u32 {
        self.store.core().instance(self.cx.instance).tables()[table as usize]
    }

    /// Runs an instruction the threaded code leaves to the store (see `handler_of`); the
    /// instruction pointer is already past it.
    #[inline(never)]
    fn slow(&mut self, instr: Instr) -> Result<Next> {
        let instance = self.cx.instance;
        let mem = self.cx.mem;
        let table_oob = || Error::trap(TrapCode::TableOutOfBounds);
        match instr {
            Instr::CallImported { func, base } => {
                let f = self.store.core().instance(instance).funcs()[func as usize];
                return self.call_store_func(f, base);
            }
            Instr::CallIndirect {
                ty, table, base, ..
            } => return self.call_indirect(ty, table, base),
            Instr::RefFunc { dst, func } => {
                let f = self.store.core().instance(instance).funcs()[func as usize];
                self.set(dst, u64::from(f) + 1);
            }
            Instr::MemorySize { dst } => {
                let pages = self.store.core().memory(mem).pages();
                self.set(dst, u64::from(pages));
            }
            Instr::MemoryGrow { dst } => {
                let delta = self.get(dst) as u32;
                let old = self.store.core_mut().grow_memory(mem, delta);
                self.set(dst, u64::from(old.unwrap_or(u32::MAX)));
                self.refresh_views();
            }
            Instr::MemoryInit { base: at, data } => {
                let args = (self.get(at), self.get(at + 1), self.get(at + 2));
                let r = self.store.core_mut().memory_init(instance, mem, data, args);
                self.refresh_views();
                r?;
            }
            Instr::DataDrop { data } => {
                self.store.core_mut().instance_mut(instance).drop_data(data);
            }
            Instr::TableGet { dst, table } => {
                let t = self.table_index(table);
                let index = self.get(dst) as u32 as usize;
                let value = *self
                    .store
                    .core()
                    .table(t)
                    .elements()
                    .get(index)
                    .ok_or_else(table_oob)?;
                self.set(dst, value);
            }
            Instr::TableSet { base: at, table } => {
                let t = self.table_index(table);
                let (index, value) = (self.get(at) as u32 as usize, self.get(at + 1));
                let e = self
                    .store
                    .core_mut()
                    .table_mut(t)
                    .elements_mut()
                    .get_mut(index)
                    .ok_or_else(table_oob)?;
                *e = value;
            }
            Instr::TableSize { dst, table } => {
                let t = self.table_index(table);
                let len = self.store.core().table(t).elements().len();
                self.set(dst, len as u64);
            }
            Instr::TableGrow { base: at, table } => {
                let t = self.table_index(table);
                let (init, delta) = (self.get(at), self.get(at + 1) as u32);
                let old = self.store.core_mut().grow_table(t, delta, init);
                self.set(at, u64::from(old.unwrap_or(u32::MAX)));
            }
            Instr::TableFill { base: at, table } => {
                let t = self.table_index(table);
                let (start, value, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                self.store.core_mut().table_fill(t, start, value, n)?;
            }
            Instr::TableCopy {
                base: at,
                dst_table,
                src_table,
            } => {
                let (d, s) = (self.table_index(dst_table), self.table_index(src_table));
                let args = (self.get(at), self.get(at + 1), self.get(at + 2));
                self.store.core_mut().table_copy(d, s, args)?;
            }
            Instr::TableInit {
                base: at,
                table,
                elem,
            } => {
                let t = self.table_index(table);
                let args = (self.get(at), self.get(at + 1), self.get(at + 2));
                self.store.core_mut().table_init(instance, t, elem, args)?;
            }
            Instr::ElemDrop { elem } => {
                self.store.core_mut().instance_mut(instance).drop_elem(elem);
            }
            other => unreachable!("{other:?} runs in the threaded code"),
        }
        Ok(Next::Continue)
    }
}
