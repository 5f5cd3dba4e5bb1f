//! The executor: runs internal code on an explicit, heap-allocated stack.
//!
//! A Wasm-to-Wasm call pushes a [`Frame`] onto [`Stack::frames`] and continues in the same
//! loop, so guest recursion never recurses on the host stack; the depth is bounded by the
//! store's call-depth limit and the value stack by [`crate::Config::max_stack_slots`], both
//! reported as [`TrapCode::StackOverflow`].
//!
//! All execution state lives in the [`Stack`], so the loop can stop at any block boundary
//! (fuel exhausted) or host call (host yield) and continue later exactly where it stopped:
//! that is what [`crate::ResumableCall`] hands to the embedder.
//!
//! This module and `zeroed` are the engine's only places with `unsafe` code: the
//! interpreter reads frame slots, code, linear memory and globals through raw pointers.
//! The invariants it relies on are listed on [`Executor`] and cited by each `// SAFETY:`.
#![allow(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Instance;
use crate::error::{Error, ErrorKind, Result, TrapCode};
use crate::func::{HostFnKind, HostFunc};
use crate::ir::{CompiledFunc, Instr, Slot, for_each_op};
use crate::module::Module;
use crate::ops;
use crate::store::{Caller, FuncEntity, GlobalEntity, Store, StoreInner};
use crate::value::{Val, raw_ref_index};

#[derive(Debug, Clone, Copy)]
struct Frame {
    /// Store index of the instance whose code runs in this frame.
    instance: u32,
    /// Index among the module's defined functions.
    func: u32,
    /// Where to continue: saved when the frame calls out or the execution suspends.
    pc: u32,
    /// Index of the frame's slot 0 in [`Stack::slots`].
    base: usize,
}

/// The state of one execution: value slots and frames.
#[derive(Debug, Default)]
pub(crate) struct Stack {
    slots: Vec<u64>,
    frames: Vec<Frame>,
    host_args: Vec<Val>,
    host_results: Vec<Val>,
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
    pub fn start<T>(
        &mut self,
        store: &StoreInner<T>,
        instance: u32,
        def: u32,
        params: &[Val],
        num_results: usize,
    ) -> Result<()> {
        self.slots.clear();
        self.frames.clear();
        let module = &store.instances[instance as usize].module;
        let func = &module.inner.code[def as usize];
        let need = (func.frame_size as usize).max(num_results);
        let max_slots = store.engine.config().max_stack_slots;
        if need > max_slots {
            return Err(TrapCode::StackOverflow.into());
        }
        self.slots.resize(need, 0);
        init_frame(&mut self.slots[..func.frame_size as usize], func);
        for (slot, p) in self.slots.iter_mut().zip(params) {
            *slot = p.to_raw(store.id)?;
        }
        self.frames.push(Frame {
            instance,
            func: def,
            pc: 0,
            base: 0,
        });
        Ok(())
    }

    /// The results of a finished call.
    pub fn results(&self, types: &[crate::ValType], store: crate::store::StoreId, out: &mut [Val]) {
        for ((o, &ty), &raw) in out.iter_mut().zip(types).zip(&self.slots) {
            *o = Val::from_raw(raw, ty, store);
        }
    }

    /// Writes a yielded host function's results, checking their types.
    pub fn supply_host_results(
        &mut self,
        store: crate::store::StoreId,
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
    def: u32,
    func: &CompiledFunc,
    base: usize,
) -> Result<()> {
    let (max_depth, max_slots) = limits;
    let end = base + func.frame_size as usize;
    if frames.len() >= max_depth || end > max_slots {
        return Err(TrapCode::StackOverflow.into());
    }
    if slots.len() < end {
        let new_len = end.max(slots.len() * 2).min(max_slots);
        slots.resize(new_len, 0);
    }
    init_frame(&mut slots[base..end], func);
    frames.push(Frame {
        instance,
        func: def,
        pc: 0,
        base,
    });
    Ok(())
}

/// Initializes a new frame past its parameters: declared locals zeroed, then constants.
#[inline(always)]
fn init_frame(frame: &mut [u64], func: &CompiledFunc) {
    let params = func.num_params as usize;
    let init = &func.frame_init[..];
    let dst = &mut frame[params..params + init.len()];
    // Frames are mostly small: fixed-size chunks compile to a few vector moves where a
    // `memcpy` call would cost more than the copy.
    let mut dst_chunks = dst.chunks_exact_mut(4);
    let mut init_chunks = init.chunks_exact(4);
    for (d, s) in (&mut dst_chunks).zip(&mut init_chunks) {
        d.copy_from_slice(s);
    }
    for (d, s) in dst_chunks
        .into_remainder()
        .iter_mut()
        .zip(init_chunks.remainder())
    {
        *d = *s;
    }
}

/// The range `[start, start + n)` of a sequence of `len` items, or `trap`.
#[inline(always)]
fn bulk_range(len: usize, start: u64, n: u64, trap: TrapCode) -> Result<core::ops::Range<usize>> {
    let start = start as u32 as u64;
    let end = start + (n as u32 as u64);
    if end > len as u64 {
        return Err(trap.into());
    }
    Ok(start as usize..end as usize)
}

fn first_memory<T>(store: &StoreInner<T>, instance: u32) -> usize {
    store.instances[instance as usize]
        .memories
        .first()
        .map_or(usize::MAX, |&m| m as usize)
}

/// A raw view of memory `mem` (`usize::MAX`: none) for the executor's loads and stores.
fn memory_view<T>(store: &mut StoreInner<T>, mem: usize) -> (*mut u8, usize) {
    match store.memories.get_mut(mem) {
        Some(m) => (m.data.as_mut_ptr(), m.data.len()),
        None => (core::ptr::NonNull::dangling().as_ptr(), 0),
    }
}

/// What the interpreter loop does after an out-of-line instruction.
enum Next {
    /// Continue with the (possibly changed) registers in the executor.
    Continue,
    /// Stop running.
    Exit(Outcome),
}

/// The interpreter's state apart from its hot registers.
///
/// The loop in [`run`] keeps the instruction pointer, the frame pointer and the memory
/// view in locals; instructions that need more of the machine (calls, returns, tables,
/// bulk memory, host functions) run out of line as methods here, after the loop has stored
/// its registers back (`ip`, `fp`, `mem_ptr`, `mem_len`), and the loop reloads them after.
///
/// Pointer validity rests on these invariants, cited by every `// SAFETY:` comment:
/// 1. the translator's verifier (`translate::verify`) proved every slot operand inside the
///    frame, every jump inside the code, and that the code ends in a jump, return or trap;
/// 2. `slots` holds at least `base + frame_size` slots for every frame on the stack, `fp`
///    points at the current frame's first slot and `code`/`ip` into the current
///    function's code, which `module` keeps alive; all are re-derived whenever `slots` may
///    have been reallocated or the frame changed;
/// 3. `mem_ptr`/`mem_len` describe the current instance's memory, and `globals`/
///    `instance_globals` the store's global cells and the instance's indices into them;
///    all are re-read after anything that can resize, move or otherwise borrow them:
///    `memory.grow`, bulk memory operations, host calls and switching instances.
struct Executor<'a, T> {
    store: &'a mut Store<T>,
    slots: &'a mut Vec<u64>,
    frames: &'a mut Vec<Frame>,
    host_args: &'a mut Vec<Val>,
    host_results: &'a mut Vec<Val>,
    /// Maximum call depth and value stack slots.
    limits: (usize, usize),
    instance: u32,
    module: Module,
    code: *const Instr,
    ip: *const Instr,
    base: usize,
    fp: *mut u64,
    mem: usize,
    mem_ptr: *mut u8,
    mem_len: usize,
    /// The store's global cells and the current instance's indices into them.
    globals: *mut GlobalEntity,
    instance_globals: *const u32,
}

impl<T> Executor<'_, T> {
    #[inline(always)]
    fn get(&self, slot: Slot) -> u64 {
        // SAFETY: the slot is an operand of the current instruction, inside the current
        // frame (invariants 1 and 2).
        unsafe { self.fp.add(slot as usize).read() }
    }

    #[inline(always)]
    fn set(&mut self, slot: Slot, value: u64) {
        // SAFETY: as in `get`.
        unsafe { self.fp.add(slot as usize).write(value) }
    }

    fn pc(&self) -> u32 {
        // SAFETY: `ip` and `code` point into the same function's code (invariant 2).
        unsafe { self.ip.offset_from(self.code) as u32 }
    }

    /// Re-reads the raw views of the memory and the globals (invariant 3).
    fn refresh_memory(&mut self) {
        (self.mem_ptr, self.mem_len) = memory_view(&mut self.store.inner, self.mem);
        self.globals = self.store.inner.globals.as_mut_ptr();
        self.instance_globals = self.store.inner.instances[self.instance as usize]
            .globals
            .as_ptr();
    }

    /// The cell of global `global` of the current instance.
    #[inline(always)]
    fn global(&self, global: u32) -> *mut GlobalEntity {
        // SAFETY: the validator checked `global` against the module's globals, and the
        // instance lists one store index per module global; store indices are in bounds of
        // the store's globals, and both pointers are current (invariant 3).
        unsafe {
            let index = *self.instance_globals.add(global as usize);
            self.globals.add(index as usize)
        }
    }

    /// Continues in the frame now on top of `frames`.
    fn resume_top(&mut self) {
        let f = *self.frames.last().expect("a frame");
        if f.instance != self.instance {
            self.instance = f.instance;
            self.module = self.store.inner.instances[f.instance as usize]
                .module
                .clone();
            self.mem = first_memory(&self.store.inner, f.instance);
        }
        self.refresh_memory();
        let code = &self.module.inner.code[f.func as usize].code;
        self.code = code.as_ptr();
        self.ip = code[f.pc as usize..].as_ptr();
        self.base = f.base;
        self.fp = self.slots[f.base..].as_mut_ptr();
    }

    fn save_pc(&mut self) {
        let pc = self.pc();
        if let Some(frame) = self.frames.last_mut() {
            frame.pc = pc;
        }
    }

    /// Calls defined function `func` of the current module, arguments at slot `at`.
    #[inline(never)]
    fn call_internal(&mut self, func: u32, at: Slot) -> Result<()> {
        self.save_pc();
        let base = self.base + at as usize;
        let f = &self.module.inner.code[func as usize];
        enter(
            self.frames,
            self.slots,
            self.limits,
            self.instance,
            func,
            f,
            base,
        )?;
        self.code = f.code.as_ptr();
        self.ip = self.code;
        self.base = base;
        self.fp = self.slots[base..].as_mut_ptr();
        Ok(())
    }

    /// Returns from the current frame with `n` results at slot `src`.
    #[inline(never)]
    fn ret(&mut self, src: Slot, n: u32) -> Next {
        if n == 1 {
            // The common case, without a call to `memmove`.
            let value = self.get(src);
            self.set(0, value);
        } else if src != 0 {
            // SAFETY: `[src, src + n)` and `[0, n)` are inside the frame (invariant 1);
            // `copy` allows overlap.
            unsafe { core::ptr::copy(self.fp.add(src as usize), self.fp, n as usize) };
        }
        self.frames.pop();
        let Some(&f) = self.frames.last() else {
            return Next::Exit(Outcome::Done);
        };
        if f.instance != self.instance {
            self.resume_top();
            return Next::Continue;
        }
        // Same instance: the memory view is still current (a `memory.grow` in the callee
        // refreshed it), only the code and frame change.
        let code = &self.module.inner.code[f.func as usize].code;
        self.code = code.as_ptr();
        self.ip = code[f.pc as usize..].as_ptr();
        self.base = f.base;
        self.fp = self.slots[f.base..].as_mut_ptr();
        Next::Continue
    }

    /// Calls store function `func` with arguments at frame slot `at`.
    #[inline(never)]
    fn call_store_func(&mut self, func_index: u32, at: Slot) -> Result<Next> {
        self.save_pc();
        let new_base = self.base + at as usize;
        let store_id = self.store.inner.id;
        match &self.store.inner.funcs[func_index as usize] {
            &FuncEntity::Wasm { instance, def, .. } => {
                let f = &self.store.inner.instances[instance as usize]
                    .module
                    .inner
                    .code[def as usize];
                enter(
                    self.frames,
                    self.slots,
                    self.limits,
                    instance,
                    def,
                    f,
                    new_base,
                )?;
                self.resume_top();
            }
            FuncEntity::Host { func, .. } => {
                // No reference counting on this path: the store owns an `Arc` of every
                // host function for its whole life (function entities are never removed)
                // and the host function only gets `&mut Store` through a `Caller`, which
                // cannot move or drop the store, so the pointee outlives the call.
                let host: *const HostFunc<T> = Arc::as_ptr(func);
                // SAFETY: `host` points into an `Arc` the store keeps alive (see above).
                let host = unsafe { &*host };
                let caller_instance = Some(Instance::new_handle(store_id, self.instance));
                let outcome = match &host.func {
                    HostFnKind::Raw(f) => {
                        let width = host.ty.params().len().max(host.ty.results().len());
                        // SAFETY: the verifier proved the call's `[at, at + width)` inside
                        // the frame (invariant 1). While the host function runs, this slice
                        // is the only use of the frame: the loop's registers wait, and the
                        // host function reaches only the store, never this stack.
                        let slots = unsafe {
                            core::slice::from_raw_parts_mut(self.fp.add(at as usize), width)
                        };
                        let caller = Caller {
                            store: &mut *self.store,
                            instance: caller_instance,
                        };
                        f(caller, slots)
                    }
                    HostFnKind::Vals(_) => {
                        let ty = &host.ty;
                        self.host_args.clear();
                        for (i, &t) in ty.params().iter().enumerate() {
                            let raw = self.get(at + i as u32);
                            self.host_args.push(Val::from_raw(raw, t, store_id));
                        }
                        self.host_results.clear();
                        self.host_results
                            .extend(ty.results().iter().map(|&t| Val::default_for(t)));
                        let caller = Caller {
                            store: &mut *self.store,
                            instance: caller_instance,
                        };
                        let outcome = host.call_vals(caller, self.host_args, self.host_results);
                        if outcome.is_ok() {
                            for i in 0..self.host_results.len() {
                                let raw = self.host_results[i].to_raw(store_id)?;
                                self.set(at + i as u32, raw);
                            }
                        }
                        outcome
                    }
                };
                self.refresh_memory();
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

    #[inline(never)]
    fn call_indirect(&mut self, ty: u32, table: u32, at: Slot) -> Result<Next> {
        let np = self.module.inner.types[ty as usize].params().len();
        let index = self.get(at + np as u32) as u32;
        let inner = &self.store.inner;
        let inst = &inner.instances[self.instance as usize];
        let raw = *inner.tables[inst.tables[table as usize] as usize]
            .elements
            .get(index as usize)
            .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
        let f = raw_ref_index(raw).ok_or(Error::trap(TrapCode::UninitializedElement))?;
        if inner.funcs[f as usize].ty() != inst.types[ty as usize] {
            return Err(TrapCode::IndirectCallTypeMismatch.into());
        }
        self.call_store_func(f, at)
    }

    fn table_index(&self, table: u32) -> usize {
        self.store.inner.instances[self.instance as usize].tables[table as usize] as usize
    }

    /// Suspends before the `ConsumeFuel` just executed, so resuming charges its block again.
    #[cold]
    #[inline(never)]
    fn out_of_fuel(&mut self) -> Next {
        // SAFETY: the loop advanced `ip` past this instruction, which is in the code.
        self.ip = unsafe { self.ip.sub(1) };
        self.save_pc();
        Next::Exit(Outcome::OutOfFuel)
    }

    /// The instructions that are neither arithmetic, memory access nor control flow.
    #[inline(never)]
    fn misc(&mut self, instr: Instr) -> Result<Next> {
        let inner = &mut self.store.inner;
        match instr {
            Instr::CallImported { func, base } => {
                let f = inner.instances[self.instance as usize].funcs[func as usize];
                return self.call_store_func(f, base);
            }
            Instr::CallIndirect { ty, table, base } => return self.call_indirect(ty, table, base),
            Instr::RefFunc { dst, func } => {
                let f = inner.instances[self.instance as usize].funcs[func as usize];
                self.set(dst, u64::from(f) + 1);
            }
            Instr::MemorySize { dst } => {
                let pages = inner.memories[self.mem].pages();
                self.set(dst, u64::from(pages));
            }
            Instr::MemoryGrow { dst } => {
                let limit = inner.limits.memory_pages;
                let delta = self.get(dst) as u32;
                let old = self.store.inner.memories[self.mem].grow(delta, limit);
                self.set(dst, u64::from(old.unwrap_or(u32::MAX)));
                self.refresh_memory();
            }
            Instr::MemoryFill { base: at } => {
                let (start, value, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                let m = &mut self.store.inner.memories[self.mem].data;
                let r = bulk_range(m.len(), start, n, TrapCode::MemoryOutOfBounds)?;
                m[r].fill(value as u8);
                self.refresh_memory();
            }
            Instr::MemoryCopy { base: at } => {
                let (d, s, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                let m = &mut self.store.inner.memories[self.mem].data;
                let dst = bulk_range(m.len(), d, n, TrapCode::MemoryOutOfBounds)?;
                let src = bulk_range(m.len(), s, n, TrapCode::MemoryOutOfBounds)?;
                m.copy_within(src, dst.start);
                self.refresh_memory();
            }
            Instr::MemoryInit { base: at, data } => {
                let (d, s, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                let inner = &mut self.store.inner;
                let seg = &inner.instances[self.instance as usize].datas[data as usize];
                let src = bulk_range(seg.len(), s, n, TrapCode::MemoryOutOfBounds)?;
                let m = &mut inner.memories[self.mem].data;
                let dst = bulk_range(m.len(), d, n, TrapCode::MemoryOutOfBounds)?;
                m[dst].copy_from_slice(&seg[src]);
                self.refresh_memory();
            }
            Instr::DataDrop { data } => {
                inner.instances[self.instance as usize].datas[data as usize] = Arc::from([]);
            }
            Instr::TableGet { dst, table } => {
                let t = self.table_index(table);
                let index = self.get(dst) as u32 as usize;
                let value = *self.store.inner.tables[t]
                    .elements
                    .get(index)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
                self.set(dst, value);
            }
            Instr::TableSet { base: at, table } => {
                let t = self.table_index(table);
                let (index, value) = (self.get(at) as u32 as usize, self.get(at + 1));
                let e = self.store.inner.tables[t]
                    .elements
                    .get_mut(index)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
                *e = value;
            }
            Instr::TableSize { dst, table } => {
                let t = self.table_index(table);
                let len = self.store.inner.tables[t].elements.len();
                self.set(dst, len as u64);
            }
            Instr::TableGrow { base: at, table } => {
                let t = self.table_index(table);
                let limit = self.store.inner.limits.table_elements;
                let (init, delta) = (self.get(at), self.get(at + 1) as u32);
                let old = self.store.inner.tables[t].grow(delta, init, limit);
                self.set(at, u64::from(old.unwrap_or(u32::MAX)));
            }
            Instr::TableFill { base: at, table } => {
                let t = self.table_index(table);
                let (start, value, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                let elements = &mut self.store.inner.tables[t].elements;
                let r = bulk_range(elements.len(), start, n, TrapCode::TableOutOfBounds)?;
                elements[r].fill(value);
            }
            Instr::TableCopy {
                base: at,
                dst_table,
                src_table,
            } => {
                let (d, s) = (self.table_index(dst_table), self.table_index(src_table));
                let (d_start, s_start, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                let tables = &mut self.store.inner.tables;
                let oob = TrapCode::TableOutOfBounds;
                let dr = bulk_range(tables[d].elements.len(), d_start, n, oob)?;
                let sr = bulk_range(tables[s].elements.len(), s_start, n, oob)?;
                if d == s {
                    tables[d].elements.copy_within(sr, dr.start);
                } else {
                    let (dt, st) = two_mut(tables, d, s);
                    dt.elements[dr].copy_from_slice(&st.elements[sr]);
                }
            }
            Instr::TableInit {
                base: at,
                table,
                elem,
            } => {
                let t = self.table_index(table);
                let (d_start, s_start, n) = (self.get(at), self.get(at + 1), self.get(at + 2));
                let inner = &mut self.store.inner;
                let seg = &inner.instances[self.instance as usize].elems[elem as usize];
                let elements = &mut inner.tables[t].elements;
                let src = bulk_range(seg.len(), s_start, n, TrapCode::TableOutOfBounds)?;
                let dst = bulk_range(elements.len(), d_start, n, TrapCode::TableOutOfBounds)?;
                elements[dst].copy_from_slice(&seg[src]);
            }
            Instr::ElemDrop { elem } => {
                inner.instances[self.instance as usize].elems[elem as usize] = Arc::from([]);
            }
            other => unreachable!("{other:?} is executed inline"),
        }
        Ok(Next::Continue)
    }
}

macro_rules! define_run {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) / $ldx:ident => $ldf:expr,)* }
        store { $($st:ident($stn:literal) / $stx:ident => $stf:expr,)* }
        cmp_branch { $($cb:ident => $cbf:ident,)* }
    ) => {
/// Runs the top frame of `stack` until the entry function returns, a trap, fuel running
/// out, or a host yield. See [`Executor`] for the invariants behind the raw pointers.
pub(crate) fn run<T>(store: &mut Store<T>, stack: &mut Stack) -> Result<Outcome> {
    let Stack {
        slots,
        frames,
        host_args,
        host_results,
    } = stack;
    let limits = (
        store.inner.max_call_depth() as usize,
        store.inner.engine.config().max_stack_slots,
    );
    let top = *frames.last().expect("run needs a frame");
    let module = store.inner.instances[top.instance as usize].module.clone();
    let mut ex = Executor {
        store,
        slots,
        frames,
        host_args,
        host_results,
        limits,
        // Differs from the top frame's, so `resume_top` loads everything.
        instance: u32::MAX,
        module,
        code: core::ptr::null(),
        ip: core::ptr::null(),
        base: 0,
        fp: core::ptr::null_mut(),
        mem: usize::MAX,
        mem_ptr: core::ptr::null_mut(),
        mem_len: 0,
        globals: core::ptr::null_mut(),
        instance_globals: core::ptr::null(),
    };
    ex.resume_top();
    let (mut ip, mut fp, mut mem_ptr, mut mem_len) = (ex.ip, ex.fp, ex.mem_ptr, ex.mem_len);

    macro_rules! get {
        ($slot:expr) => {
            // SAFETY: the slot is inside the current frame (invariants 1 and 2).
            unsafe { fp.add($slot as usize).read() }
        };
    }
    macro_rules! set {
        ($slot:expr, $value:expr) => {{
            let value: u64 = $value;
            // SAFETY: the slot is inside the current frame (invariants 1 and 2).
            unsafe { fp.add($slot as usize).write(value) }
        }};
    }
    macro_rules! jump {
        ($offset:expr) => {
            // SAFETY: jump targets are inside the code (invariant 1); the offset is
            // relative to the instruction after the jump, where `ip` points.
            ip = unsafe { ip.offset($offset as i32 as isize) }
        };
    }
    // Reads `$n` bytes at effective address `$ea`, trapping if out of bounds.
    macro_rules! load {
        ($ea:expr, $n:literal) => {{
            let ea: u64 = $ea;
            if ea + $n > mem_len as u64 {
                return Err(TrapCode::MemoryOutOfBounds.into());
            }
            // SAFETY: `[ea, ea + n)` lies inside the memory, checked just above;
            // `mem_ptr`/`mem_len` describe the current memory (invariant 3).
            unsafe { mem_ptr.add(ea as usize).cast::<[u8; $n]>().read() }
        }};
    }
    // Writes `$bytes` at effective address `$ea`, trapping if out of bounds.
    macro_rules! store {
        ($ea:expr, $bytes:expr, $n:literal) => {{
            let ea: u64 = $ea;
            if ea + $n > mem_len as u64 {
                return Err(TrapCode::MemoryOutOfBounds.into());
            }
            let bytes: [u8; $n] = $bytes;
            // SAFETY: as for `load!`: in bounds, checked just above (invariant 3).
            unsafe { mem_ptr.add(ea as usize).cast::<[u8; $n]>().write(bytes) };
        }};
    }
    // Runs an out-of-line instruction with the registers synchronized around it.
    macro_rules! out_of_line {
        ($call:expr) => {{
            ex.ip = ip;
            let next = $call;
            match next {
                Next::Continue => {
                    (ip, fp, mem_ptr, mem_len) = (ex.ip, ex.fp, ex.mem_ptr, ex.mem_len);
                }
                Next::Exit(outcome) => return Ok(outcome),
            }
        }};
    }

    loop {
        // SAFETY: `ip` is inside the code: it starts at a saved or entry pc, and every
        // path through the code ends in a jump, return or trap (invariant 1).
        let instr = unsafe { &*ip };
        // SAFETY: at most one past the current instruction, which is inside the code.
        ip = unsafe { ip.add(1) };
        match *instr {
            $(Instr::$un { dst, src } => set!(dst, ops::$unf(get!(src))),)*
            $(Instr::$ut { dst, src } => set!(dst, ops::$utf(get!(src))?),)*
            $(Instr::$bin { dst, lhs, rhs } => set!(dst, ops::$binf(get!(lhs), get!(rhs))),)*
            $(Instr::$bt { dst, lhs, rhs } => set!(dst, ops::$btf(get!(lhs), get!(rhs))?),)*
            $(Instr::$ld { dst, addr, offset } => {
                let ea = (get!(addr) as u32 as u64) + u64::from(offset);
                set!(dst, ($ldf)(load!(ea, $ldn)));
            })*
            $(Instr::$ldx { dst, base, index, shift } => {
                let ea = (get!(base) as u32).wrapping_add((get!(index) as u32) << shift);
                set!(dst, ($ldf)(load!(u64::from(ea), $ldn)));
            })*
            $(Instr::$st { addr, val, offset } => {
                let ea = (get!(addr) as u32 as u64) + u64::from(offset);
                store!(ea, ($stf)(get!(val)), $stn);
            })*
            $(Instr::$stx { base, index, val, shift } => {
                let ea = (get!(base) as u32).wrapping_add((get!(index) as u32) << shift);
                store!(u64::from(ea), ($stf)(get!(val)), $stn);
            })*
            $(Instr::$cb { lhs, rhs, target } => {
                if ops::$cbf(get!(lhs), get!(rhs)) != 0 {
                    jump!(target);
                }
            })*
            Instr::Unreachable => return Err(TrapCode::Unreachable.into()),
            Instr::Br(target) => jump!(target),
            Instr::BrIfNez { cond, target } => {
                if get!(cond) as u32 != 0 {
                    jump!(target);
                }
            }
            Instr::BrIfEqz { cond, target } => {
                if get!(cond) as u32 == 0 {
                    jump!(target);
                }
            }
            Instr::BrTable { index, len } => {
                let entry = (get!(index) as u32).min(len) as usize;
                // SAFETY: the `len + 1` entries follow the instruction (invariant 1).
                let entry = unsafe { ip.add(entry) };
                // An entry is a `Br`: take its jump here rather than dispatching it.
                // SAFETY: `entry` is inside the code (just above).
                ip = match unsafe { *entry } {
                    // SAFETY: the `Br`'s target, relative to the instruction after it, is
                    // inside the code (invariant 1).
                    Instr::Br(target) => unsafe { entry.add(1).offset(target as i32 as isize) },
                    _ => entry,
                };
            }
            Instr::Copy { dst, src } => set!(dst, get!(src)),
            Instr::AddBrI32LtU { var, step, limit, target } => {
                let v = (get!(var) as u32).wrapping_add(get!(step) as u32);
                set!(var, u64::from(v));
                if v < get!(limit) as u32 {
                    jump!(target);
                }
            }
            Instr::AddBrI32LtS { var, step, limit, target } => {
                let v = (get!(var) as u32).wrapping_add(get!(step) as u32);
                set!(var, u64::from(v));
                if (v as i32) < (get!(limit) as u32 as i32) {
                    jump!(target);
                }
            }
            Instr::AddBrI32Ne { var, step, limit, target } => {
                let v = (get!(var) as u32).wrapping_add(get!(step) as u32);
                set!(var, u64::from(v));
                if v != get!(limit) as u32 {
                    jump!(target);
                }
            }
            Instr::I32AddShl { dst, base, index, shift } => {
                set!(dst, u64::from((get!(base) as u32).wrapping_add((get!(index) as u32) << shift)));
            }
            Instr::Select { dst, other, cond } => {
                if get!(cond) as u32 == 0 {
                    set!(dst, get!(other));
                }
            }
            Instr::SelectNez32 { dst, other, cond } => {
                if get!(cond) as u32 != 0 {
                    set!(dst, get!(other));
                }
            }
            Instr::SelectNez64 { dst, other, cond } => {
                if get!(cond) != 0 {
                    set!(dst, get!(other));
                }
            }
            Instr::GlobalGet { dst, global } => {
                // SAFETY: a valid global cell (see `Executor::global`).
                let value = unsafe { (*ex.global(global)).value };
                set!(dst, value);
            }
            Instr::GlobalSet { src, global } => {
                let value = get!(src);
                // SAFETY: a valid global cell (see `Executor::global`).
                unsafe { (*ex.global(global)).value = value };
            }
            Instr::Return { src, n } => out_of_line!(ex.ret(src, n)),
            Instr::ConsumeFuel(cost) => {
                let fuel = &mut ex.store.inner.fuel;
                if *fuel > 0 {
                    *fuel -= i64::from(cost);
                } else {
                    out_of_line!(ex.out_of_fuel());
                }
            }
            Instr::CallInternal { func, base } => {
                ex.ip = ip;
                ex.call_internal(func, base)?;
                (ip, fp) = (ex.ip, ex.fp);
            }
            other @ (Instr::CallImported { .. }
            | Instr::CallIndirect { .. }
            | Instr::RefFunc { .. }
            | Instr::MemorySize { .. }
            | Instr::MemoryGrow { .. }
            | Instr::MemoryFill { .. }
            | Instr::MemoryCopy { .. }
            | Instr::MemoryInit { .. }
            | Instr::DataDrop { .. }
            | Instr::TableGet { .. }
            | Instr::TableSet { .. }
            | Instr::TableSize { .. }
            | Instr::TableGrow { .. }
            | Instr::TableFill { .. }
            | Instr::TableCopy { .. }
            | Instr::TableInit { .. }
            | Instr::ElemDrop { .. }) => out_of_line!(ex.misc(other)?),
        }
    }
}
    };
}
for_each_op!(define_run);

/// Two distinct elements of a slice, mutably.
fn two_mut<E>(v: &mut [E], a: usize, b: usize) -> (&mut E, &E) {
    if a < b {
        let (lo, hi) = v.split_at_mut(b);
        (&mut lo[a], &hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(a);
        (&mut hi[0], &lo[b])
    }
}
