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

/// Pushes a frame for `func` whose arguments are already at `base`.
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
    slots[base + func.num_params as usize..base + func.num_locals as usize].fill(0);
    frames.push(Frame {
        instance,
        func: def,
        pc: 0,
        base,
    });
    Ok(())
}

/// The byte range `[addr + offset, addr + offset + n)` of a memory of `len` bytes.
#[inline(always)]
fn mem_range(len: usize, addr: u64, offset: u32, n: usize) -> Result<core::ops::Range<usize>> {
    let start = (addr as u32 as u64) + offset as u64;
    let end = start + n as u64;
    if end > len as u64 {
        return Err(TrapCode::MemoryOutOfBounds.into());
    }
    Ok(start as usize..end as usize)
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

macro_rules! define_run {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) => $ldf:expr,)* }
        store { $($st:ident($stn:literal) => $stf:expr,)* }
    ) => {
/// Runs the top frame of `stack` until the entry function returns, a trap, fuel running
/// out, or a host yield.
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
    let mut pc = top.pc as usize;
    let mut base = top.base;
    let mut mem = first_memory(&store.inner, instance);

    macro_rules! s {
        ($slot:expr) => {
            slots[base + $slot as usize]
        };
    }
    macro_rules! memory {
        () => {
            store.inner.memories[mem].data
        };
    }
    macro_rules! table {
        ($t:expr) => {
            store.inner.tables[store.inner.instances[instance as usize].tables[$t as usize] as usize]
        };
    }
    // Switches execution to the frame now on top of `frames`.
    macro_rules! resume_top {
        () => {{
            let f = *frames.last().expect("a caller frame");
            if f.instance != instance {
                instance = f.instance;
                module = store.inner.instances[instance as usize].module.clone();
                mem = first_memory(&store.inner, instance);
            }
            code = &module.inner.code[f.func as usize].code;
            pc = f.pc as usize;
            base = f.base;
        }};
    }
    // Calls store function `$func` with arguments at frame slot `$at`.
    macro_rules! call_store_func {
        ($func:expr, $at:expr) => {{
            let func_index: u32 = $func;
            let new_base = base + $at as usize;
            frames.last_mut().expect("current frame").pc = pc as u32;
            match &store.inner.funcs[func_index as usize] {
                &FuncEntity::Wasm { instance: callee, def, .. } => {
                    if callee != instance {
                        instance = callee;
                        module = store.inner.instances[instance as usize].module.clone();
                        mem = first_memory(&store.inner, instance);
                    }
                    let f = &module.inner.code[def as usize];
                    enter(frames, slots, limits, instance, def, f, new_base)?;
                    code = &f.code;
                    pc = 0;
                    base = new_base;
                }
                FuncEntity::Host { func, ty } => {
                    let func = Arc::clone(func);
                    let ty: FuncType = store.inner.types[*ty as usize].clone();
                    let needed = new_base + ty.results().len().max(ty.params().len());
                    if needed > slots.len() {
                        slots.resize(needed, 0);
                    }
                    host_args.clear();
                    host_args.extend(
                        ty.params()
                            .iter()
                            .enumerate()
                            .map(|(i, &t)| Val::from_raw(slots[new_base + i], t, store_id)),
                    );
                    host_results.clear();
                    host_results.extend(ty.results().iter().map(|&t| Val::default_for(t)));
                    let caller = Caller {
                        store: &mut *store,
                        instance: Some(Instance::new_handle(store_id, instance)),
                    };
                    match (func.func)(caller, host_args, host_results) {
                        Ok(()) => {
                            for (i, (v, &t)) in host_results.iter().zip(ty.results()).enumerate() {
                                if v.ty() != t {
                                    return Err(Error::host(alloc::format!(
                                        "host function returned {} for result {i} of type {t}",
                                        v.ty()
                                    )));
                                }
                                slots[new_base + i] = v.to_raw(store_id)?;
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
        let instr = code[pc];
        pc += 1;
        match instr {
            $(Instr::$un { dst, src } => s!(dst) = ops::$unf(s!(src)),)*
            $(Instr::$ut { dst, src } => s!(dst) = ops::$utf(s!(src))?,)*
            $(Instr::$bin { dst, lhs, rhs } => s!(dst) = ops::$binf(s!(lhs), s!(rhs)),)*
            $(Instr::$bt { dst, lhs, rhs } => s!(dst) = ops::$btf(s!(lhs), s!(rhs))?,)*
            $(Instr::$ld { dst, addr, offset } => {
                let m = &memory!();
                let r = mem_range(m.len(), s!(addr), offset, $ldn)?;
                let mut bytes = [0u8; $ldn];
                bytes.copy_from_slice(&m[r]);
                s!(dst) = ($ldf)(bytes);
            })*
            $(Instr::$st { addr, val, offset } => {
                let bytes = ($stf)(s!(val));
                let m = &mut memory!();
                let r = mem_range(m.len(), s!(addr), offset, $stn)?;
                m[r].copy_from_slice(&bytes);
            })*
            Instr::Unreachable => return Err(TrapCode::Unreachable.into()),
            Instr::ConsumeFuel(cost) => {
                if store.inner.fuel <= 0 {
                    frames.last_mut().expect("current frame").pc = (pc - 1) as u32;
                    return Ok(Outcome::OutOfFuel);
                }
                store.inner.fuel -= i64::from(cost);
            }
            Instr::Br(target) => pc = target as usize,
            Instr::BrIfNez { cond, target } => {
                if s!(cond) as u32 != 0 {
                    pc = target as usize;
                }
            }
            Instr::BrIfEqz { cond, target } => {
                if s!(cond) as u32 == 0 {
                    pc = target as usize;
                }
            }
            Instr::BrTable { index, len } => pc += (s!(index) as u32).min(len) as usize,
            Instr::Return { src, n } => {
                if src != 0 {
                    let from = base + src as usize;
                    slots.copy_within(from..from + n as usize, base);
                }
                frames.pop();
                if frames.is_empty() {
                    return Ok(Outcome::Done);
                }
                resume_top!();
            }
            Instr::Copy { dst, src } => s!(dst) = s!(src),
            Instr::CopyN { dst, src, n } => {
                let from = base + src as usize;
                slots.copy_within(from..from + n as usize, base + dst as usize);
            }
            Instr::Const { dst, val } => s!(dst) = val,
            Instr::Select { dst } => {
                if s!(dst + 2) as u32 == 0 {
                    s!(dst) = s!(dst + 1);
                }
            }
            Instr::CallInternal { func, base: at } => {
                frames.last_mut().expect("current frame").pc = pc as u32;
                let new_base = base + at as usize;
                let f = &module.inner.code[func as usize];
                enter(frames, slots, limits, instance, func, f, new_base)?;
                code = &f.code;
                pc = 0;
                base = new_base;
            }
            Instr::CallImported { func, base: at } => {
                let f = store.inner.instances[instance as usize].funcs[func as usize];
                call_store_func!(f, at);
            }
            Instr::CallIndirect { ty, table, base: at } => {
                let np = module.inner.types[ty as usize].params().len();
                let index = s!(at as usize + np) as u32;
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
                s!(dst) = store.inner.globals[g as usize].value;
            }
            Instr::GlobalSet { src, global } => {
                let g = store.inner.instances[instance as usize].globals[global as usize];
                store.inner.globals[g as usize].value = s!(src);
            }
            Instr::RefFunc { dst, func } => {
                s!(dst) = u64::from(store.inner.instances[instance as usize].funcs[func as usize]) + 1;
            }
            Instr::MemorySize { dst } => s!(dst) = u64::from(store.inner.memories[mem].pages()),
            Instr::MemoryGrow { dst } => {
                let limit = store.inner.limits.memory_pages;
                let old = store.inner.memories[mem].grow(s!(dst) as u32, limit);
                s!(dst) = u64::from(old.unwrap_or(u32::MAX));
            }
            Instr::MemoryFill { base: at } => {
                let m = &mut memory!();
                let r = bulk_range(m.len(), s!(at), s!(at + 2), TrapCode::MemoryOutOfBounds)?;
                m[r].fill(s!(at + 1) as u8);
            }
            Instr::MemoryCopy { base: at } => {
                let m = &mut memory!();
                let n = s!(at + 2);
                let dst = bulk_range(m.len(), s!(at), n, TrapCode::MemoryOutOfBounds)?;
                let src = bulk_range(m.len(), s!(at + 1), n, TrapCode::MemoryOutOfBounds)?;
                m.copy_within(src, dst.start);
            }
            Instr::MemoryInit { base: at, data } => {
                let inner = &mut store.inner;
                let seg = &inner.instances[instance as usize].datas[data as usize];
                let n = s!(at + 2);
                let src = bulk_range(seg.len(), s!(at + 1), n, TrapCode::MemoryOutOfBounds)?;
                let m = &mut inner.memories[mem].data;
                let dst = bulk_range(m.len(), s!(at), n, TrapCode::MemoryOutOfBounds)?;
                m[dst].copy_from_slice(&seg[src]);
            }
            Instr::DataDrop { data } => {
                store.inner.instances[instance as usize].datas[data as usize] = Arc::from([]);
            }
            Instr::TableGet { dst, table } => {
                let t = &table!(table);
                s!(dst) = *t
                    .elements
                    .get(s!(dst) as u32 as usize)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
            }
            Instr::TableSet { base: at, table } => {
                let value = s!(at + 1);
                let t = &mut table!(table);
                let e = t
                    .elements
                    .get_mut(s!(at) as u32 as usize)
                    .ok_or(Error::trap(TrapCode::TableOutOfBounds))?;
                *e = value;
            }
            Instr::TableSize { dst, table } => s!(dst) = table!(table).elements.len() as u64,
            Instr::TableGrow { base: at, table } => {
                let limit = store.inner.limits.table_elements;
                let (init, delta) = (s!(at), s!(at + 1) as u32);
                let old = table!(table).grow(delta, init, limit);
                s!(at) = u64::from(old.unwrap_or(u32::MAX));
            }
            Instr::TableFill { base: at, table } => {
                let value = s!(at + 1);
                let t = &mut table!(table);
                let r = bulk_range(t.elements.len(), s!(at), s!(at + 2), TrapCode::TableOutOfBounds)?;
                t.elements[r].fill(value);
            }
            Instr::TableCopy { base: at, dst_table, src_table } => {
                let inner = &mut store.inner;
                let ids = &inner.instances[instance as usize].tables;
                let (d, s) = (ids[dst_table as usize] as usize, ids[src_table as usize] as usize);
                let n = s!(at + 2);
                let dr = bulk_range(inner.tables[d].elements.len(), s!(at), n, TrapCode::TableOutOfBounds)?;
                let sr = bulk_range(inner.tables[s].elements.len(), s!(at + 1), n, TrapCode::TableOutOfBounds)?;
                if d == s {
                    inner.tables[d].elements.copy_within(sr, dr.start);
                } else {
                    let (dt, st) = two_mut(&mut inner.tables, d, s);
                    dt.elements[dr].copy_from_slice(&st.elements[sr]);
                }
            }
            Instr::TableInit { base: at, table, elem } => {
                let inner = &mut store.inner;
                let inst = &inner.instances[instance as usize];
                let seg = &inst.elems[elem as usize];
                let t = &mut inner.tables[inst.tables[table as usize] as usize];
                let n = s!(at + 2);
                let src = bulk_range(seg.len(), s!(at + 1), n, TrapCode::TableOutOfBounds)?;
                let dst = bulk_range(t.elements.len(), s!(at), n, TrapCode::TableOutOfBounds)?;
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
