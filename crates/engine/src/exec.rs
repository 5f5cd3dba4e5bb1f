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
//! This is the engine's one module with `unsafe` code (the interpreter loop's slot,
//! code and memory accesses); the invariants it relies on are listed on [`run`].
#![allow(unsafe_code)]

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Instance;
use crate::error::{Error, ErrorKind, Result, TrapCode};
use crate::ir::{CompiledFunc, Instr, for_each_op};
use crate::module::Module;
use crate::ops;
use crate::store::{Caller, FuncEntity, Store, StoreInner};
use crate::types::FuncType;
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

/// Zeroes a new frame's declared locals and copies in its constants.
#[inline(always)]
fn init_frame(frame: &mut [u64], func: &CompiledFunc) {
    let (params, locals) = (func.num_params as usize, func.num_locals as usize);
    frame[params..locals].fill(0);
    frame[locals..locals + func.consts.len()].copy_from_slice(&func.consts);
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

macro_rules! define_run {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) => $ldf:expr,)* }
        store { $($st:ident($stn:literal) => $stf:expr,)* }
        cmp_branch { $($cb:ident => $cbf:ident,)* }
    ) => {
/// Runs the top frame of `stack` until the entry function returns, a trap, fuel running
/// out, or a host yield.
///
/// The loop works on raw pointers into the current function's code (`ip`), the current
/// frame (`fp`) and the current memory (`mem_ptr`, `mem_len`). Their validity rests on:
/// 1. the translator's verifier (`translate::verify`): every slot operand is inside the
///    frame, every jump inside the code, and the code ends in a jump, return or trap;
/// 2. `enter`/`Stack::start`: `slots` holds at least `base + frame_size` slots for every
///    frame on the stack, and `fp`/`ip` are re-derived whenever `slots` may have been
///    reallocated or the frame changed;
/// 3. `mem_ptr`/`mem_len` are re-read after anything that can resize, move or otherwise
///    borrow the memory: `memory.grow`, bulk memory operations, host calls and switching
///    frames.
pub(crate) fn run<T>(store: &mut Store<T>, stack: &mut Stack) -> Result<Outcome> {
    let Stack {
        slots,
        frames,
        host_args,
        host_results,
    } = stack;
    let store_id = store.inner.id;
    let limits = (
        store.inner.max_call_depth() as usize,
        store.inner.engine.config().max_stack_slots,
    );
    let top = *frames.last().expect("run needs a frame");
    let mut instance = top.instance;
    let mut module: Module = store.inner.instances[instance as usize].module.clone();
    let mut code: &[Instr] = &module.inner.code[top.func as usize].code;
    let mut ip: *const Instr = code[top.pc as usize..].as_ptr();
    let mut base = top.base;
    let mut fp: *mut u64 = slots[base..].as_mut_ptr();
    let mut mem = first_memory(&store.inner, instance);
    let (mut mem_ptr, mut mem_len) = memory_view(&mut store.inner, mem);

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
        ($target:expr) => {
            // SAFETY: jump targets are inside the code (invariant 1).
            ip = unsafe { code.as_ptr().add($target as usize) }
        };
    }
    macro_rules! pc {
        () => {
            // SAFETY: `ip` points into (or one past an instruction of) `code`.
            unsafe { ip.offset_from(code.as_ptr()) as u32 }
        };
    }
    macro_rules! table {
        ($t:expr) => {
            store.inner.tables[store.inner.instances[instance as usize].tables[$t as usize] as usize]
        };
    }
    macro_rules! refresh_memory {
        () => {
            (mem_ptr, mem_len) = memory_view(&mut store.inner, mem)
        };
    }
    // Continues in the frame now on top of `frames` (after a return, or entering a call).
    macro_rules! resume_top {
        () => {{
            let f = *frames.last().expect("a frame");
            if f.instance != instance {
                instance = f.instance;
                module = store.inner.instances[instance as usize].module.clone();
                mem = first_memory(&store.inner, instance);
            }
            refresh_memory!();
            code = &module.inner.code[f.func as usize].code;
            ip = code[f.pc as usize..].as_ptr();
            base = f.base;
            fp = slots[base..].as_mut_ptr();
        }};
    }
    // Calls store function `$func` with arguments at frame slot `$at`.
    macro_rules! call_store_func {
        ($func:expr, $at:expr) => {{
            let func_index: u32 = $func;
            let new_base = base + $at as usize;
            let pc = pc!();
            frames.last_mut().expect("current frame").pc = pc;
            match &store.inner.funcs[func_index as usize] {
                &FuncEntity::Wasm { instance: callee, def, .. } => {
                    let f = &store.inner.instances[callee as usize].module.inner.code[def as usize];
                    enter(frames, slots, limits, callee, def, f, new_base)?;
                    resume_top!();
                }
                FuncEntity::Host { func, ty } => {
                    let func = Arc::clone(func);
                    let ty: FuncType = store.inner.types[*ty as usize].clone();
                    host_args.clear();
                    host_args.extend(
                        ty.params()
                            .iter()
                            .enumerate()
                            .map(|(i, &t)| Val::from_raw(get!($at as usize + i), t, store_id)),
                    );
                    host_results.clear();
                    host_results.extend(ty.results().iter().map(|&t| Val::default_for(t)));
                    let caller = Caller {
                        store: &mut *store,
                        instance: Some(Instance::new_handle(store_id, instance)),
                    };
                    let outcome = (func.func)(caller, host_args, host_results);
                    refresh_memory!();
                    match outcome {
                        Ok(()) => {
                            for (i, (v, &t)) in host_results.iter().zip(ty.results()).enumerate() {
                                if v.ty() != t {
                                    return Err(Error::host(alloc::format!(
                                        "host function returned {} for result {i} of type {t}",
                                        v.ty()
                                    )));
                                }
                                set!($at as usize + i, v.to_raw(store_id)?);
                            }
                        }
                        Err(e) => {
                            if let ErrorKind::Yield(tag) = e.kind() {
                                return Ok(Outcome::Yield {
                                    tag: *tag,
                                    func: func_index,
                                    results_at: new_base,
                                });
                            }
                            return Err(e);
                        }
                    }
                }
            }
        }};
    }

    loop {
        // SAFETY: `ip` is inside the code: it starts at a saved or entry pc, and every
        // path through the code ends in a jump, return or trap (invariant 1).
        let instr = unsafe { ip.read() };
        // SAFETY: at most one past the current instruction, which is inside the code.
        ip = unsafe { ip.add(1) };
        match instr {
            $(Instr::$un { dst, src } => set!(dst, ops::$unf(get!(src))),)*
            $(Instr::$ut { dst, src } => set!(dst, ops::$utf(get!(src))?),)*
            $(Instr::$bin { dst, lhs, rhs } => set!(dst, ops::$binf(get!(lhs), get!(rhs))),)*
            $(Instr::$bt { dst, lhs, rhs } => set!(dst, ops::$btf(get!(lhs), get!(rhs))?),)*
            $(Instr::$ld { dst, addr, offset } => {
                let ea = (get!(addr) as u32 as u64) + u64::from(offset);
                if ea + $ldn > mem_len as u64 {
                    return Err(TrapCode::MemoryOutOfBounds.into());
                }
                // SAFETY: `[ea, ea + width)` lies inside the memory, checked just above;
                // `mem_ptr`/`mem_len` describe the current memory (invariant 3).
                let bytes = unsafe { mem_ptr.add(ea as usize).cast::<[u8; $ldn]>().read() };
                set!(dst, ($ldf)(bytes));
            })*
            $(Instr::$st { addr, val, offset } => {
                let ea = (get!(addr) as u32 as u64) + u64::from(offset);
                if ea + $stn > mem_len as u64 {
                    return Err(TrapCode::MemoryOutOfBounds.into());
                }
                let bytes: [u8; $stn] = ($stf)(get!(val));
                // SAFETY: as for loads: in bounds, checked just above (invariant 3).
                unsafe { mem_ptr.add(ea as usize).cast::<[u8; $stn]>().write(bytes) };
            })*
            $(Instr::$cb { lhs, rhs, target } => {
                if ops::$cbf(get!(lhs), get!(rhs)) != 0 {
                    jump!(target);
                }
            })*
            Instr::Unreachable => return Err(TrapCode::Unreachable.into()),
            Instr::ConsumeFuel(cost) => {
                if store.inner.fuel <= 0 {
                    frames.last_mut().expect("current frame").pc = pc!() - 1;
                    return Ok(Outcome::OutOfFuel);
                }
                store.inner.fuel -= i64::from(cost);
            }
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
                ip = unsafe { ip.add(entry) };
            }
            Instr::Return { src, n } => {
                if src != 0 {
                    // SAFETY: `[src, src + n)` and `[0, n)` are inside the frame
                    // (invariant 1); `copy` allows overlap.
                    unsafe { core::ptr::copy(fp.add(src as usize), fp, n as usize) };
                }
                frames.pop();
                if frames.is_empty() {
                    return Ok(Outcome::Done);
                }
                resume_top!();
            }
            Instr::Copy { dst, src } => set!(dst, get!(src)),
            Instr::Select { dst } => {
                if get!(dst + 2) as u32 == 0 {
                    set!(dst, get!(dst + 1));
                }
            }
            Instr::CallInternal { func, base: at } => {
                frames.last_mut().expect("current frame").pc = pc!();
                let new_base = base + at as usize;
                let f = &module.inner.code[func as usize];
                enter(frames, slots, limits, instance, func, f, new_base)?;
                code = &f.code;
                ip = code.as_ptr();
                base = new_base;
                fp = slots[base..].as_mut_ptr();
            }
            Instr::CallImported { func, base: at } => {
                let f = store.inner.instances[instance as usize].funcs[func as usize];
                call_store_func!(f, at);
            }
            Instr::CallIndirect { ty, table, base: at } => {
                let np = module.inner.types[ty as usize].params().len();
                let index = get!(at as usize + np) as u32;
                let raw = *table!(table)
                    .elements
                    .get(index as usize)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
                let f = raw_ref_index(raw).ok_or(Error::trap(TrapCode::UninitializedElement))?;
                let expected = store.inner.instances[instance as usize].types[ty as usize];
                if store.inner.funcs[f as usize].ty() != expected {
                    return Err(TrapCode::IndirectCallTypeMismatch.into());
                }
                call_store_func!(f, at);
            }
            Instr::GlobalGet { dst, global } => {
                let g = store.inner.instances[instance as usize].globals[global as usize];
                set!(dst, store.inner.globals[g as usize].value);
            }
            Instr::GlobalSet { src, global } => {
                let g = store.inner.instances[instance as usize].globals[global as usize];
                store.inner.globals[g as usize].value = get!(src);
            }
            Instr::RefFunc { dst, func } => {
                set!(dst, u64::from(store.inner.instances[instance as usize].funcs[func as usize]) + 1);
            }
            Instr::MemorySize { dst } => set!(dst, u64::from(store.inner.memories[mem].pages())),
            Instr::MemoryGrow { dst } => {
                let limit = store.inner.limits.memory_pages;
                let old = store.inner.memories[mem].grow(get!(dst) as u32, limit);
                set!(dst, u64::from(old.unwrap_or(u32::MAX)));
                refresh_memory!();
            }
            Instr::MemoryFill { base: at } => {
                let m = &mut store.inner.memories[mem].data;
                let r = bulk_range(m.len(), get!(at), get!(at + 2), TrapCode::MemoryOutOfBounds)?;
                m[r].fill(get!(at + 1) as u8);
                refresh_memory!();
            }
            Instr::MemoryCopy { base: at } => {
                let m = &mut store.inner.memories[mem].data;
                let n = get!(at + 2);
                let dst = bulk_range(m.len(), get!(at), n, TrapCode::MemoryOutOfBounds)?;
                let src = bulk_range(m.len(), get!(at + 1), n, TrapCode::MemoryOutOfBounds)?;
                m.copy_within(src, dst.start);
                refresh_memory!();
            }
            Instr::MemoryInit { base: at, data } => {
                let inner = &mut store.inner;
                let seg = &inner.instances[instance as usize].datas[data as usize];
                let n = get!(at + 2);
                let src = bulk_range(seg.len(), get!(at + 1), n, TrapCode::MemoryOutOfBounds)?;
                let m = &mut inner.memories[mem].data;
                let dst = bulk_range(m.len(), get!(at), n, TrapCode::MemoryOutOfBounds)?;
                m[dst].copy_from_slice(&seg[src]);
                refresh_memory!();
            }
            Instr::DataDrop { data } => {
                store.inner.instances[instance as usize].datas[data as usize] = Arc::from([]);
            }
            Instr::TableGet { dst, table } => {
                let t = &table!(table);
                let value = *t
                    .elements
                    .get(get!(dst) as u32 as usize)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
                set!(dst, value);
            }
            Instr::TableSet { base: at, table } => {
                let (index, value) = (get!(at) as u32 as usize, get!(at + 1));
                let t = &mut table!(table);
                let e = t
                    .elements
                    .get_mut(index)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
                *e = value;
            }
            Instr::TableSize { dst, table } => set!(dst, table!(table).elements.len() as u64),
            Instr::TableGrow { base: at, table } => {
                let limit = store.inner.limits.table_elements;
                let (init, delta) = (get!(at), get!(at + 1) as u32);
                let old = table!(table).grow(delta, init, limit);
                set!(at, u64::from(old.unwrap_or(u32::MAX)));
            }
            Instr::TableFill { base: at, table } => {
                let (start, value, n) = (get!(at), get!(at + 1), get!(at + 2));
                let t = &mut table!(table);
                let r = bulk_range(t.elements.len(), start, n, TrapCode::TableOutOfBounds)?;
                t.elements[r].fill(value);
            }
            Instr::TableCopy { base: at, dst_table, src_table } => {
                let (d_start, s_start, n) = (get!(at), get!(at + 1), get!(at + 2));
                let inner = &mut store.inner;
                let ids = &inner.instances[instance as usize].tables;
                let (d, s) = (ids[dst_table as usize] as usize, ids[src_table as usize] as usize);
                let dr = bulk_range(inner.tables[d].elements.len(), d_start, n, TrapCode::TableOutOfBounds)?;
                let sr = bulk_range(inner.tables[s].elements.len(), s_start, n, TrapCode::TableOutOfBounds)?;
                if d == s {
                    inner.tables[d].elements.copy_within(sr, dr.start);
                } else {
                    let (dt, st) = two_mut(&mut inner.tables, d, s);
                    dt.elements[dr].copy_from_slice(&st.elements[sr]);
                }
            }
            Instr::TableInit { base: at, table, elem } => {
                let (d_start, s_start, n) = (get!(at), get!(at + 1), get!(at + 2));
                let inner = &mut store.inner;
                let inst = &inner.instances[instance as usize];
                let seg = &inst.elems[elem as usize];
                let t = &mut inner.tables[inst.tables[table as usize] as usize];
                let src = bulk_range(seg.len(), s_start, n, TrapCode::TableOutOfBounds)?;
                let dst = bulk_range(t.elements.len(), d_start, n, TrapCode::TableOutOfBounds)?;
                t.elements[dst].copy_from_slice(&seg[src]);
            }
            Instr::ElemDrop { elem } => {
                store.inner.instances[instance as usize].elems[elem as usize] = Arc::from([]);
            }
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
