//! Tests of the code generator with a small test-only runtime: it builds the vmctx of one
//! instance (memory, globals, tables, funcrefs, libcalls), publishes the compiled code with
//! `code`, and runs calls on a `fiber` so traps come back through the fault handler.
extern crate std;

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr;
use std::cell::Cell;

use super::code::{CodeBuilder, HOSTED_CODE_MEMORY, PublishedCode, TrapEntry};
use super::compile::{BoundsChecks, CompileOptions, CompiledModule, Compiler, ModuleInfo};
use super::fiber::{self, Fiber, FiberConfig, FiberOutcome, ResumeValue, SuspendReason};
use super::vmctx::*;
use crate::TrapCode;
use crate::runtime::vm::VMHostFunc;

const PAGE: usize = 65536;
pub(super) const GUARD: u64 = 2 << 30;

/// A memory: a `Vec` (explicit checks) or a 4 GiB + guard reservation (guard mode).
enum Mem {
    Vec(Vec<u8>),
    /// A reservation registered as a guard region (VM1), unregistered before it is unmapped.
    Reserved {
        base: *mut u8,
        size: usize,
        guard: Option<super::code::GuardRegistration>,
    },
}

impl Drop for Mem {
    fn drop(&mut self) {
        if let Mem::Reserved { base, size, guard } = self {
            drop(guard.take());
            // SAFETY: the reservation was mapped by `Instance::new` with this size and nothing
            // uses it any more.
            unsafe { rustix::mm::munmap(base.cast(), *size).ok() };
        }
    }
}

/// The runtime side of one test instance; `VMContext::runtime` points to it.
struct Runtime {
    mem: Option<Mem>,
    mem_def: Box<VMMemoryDefinition>,
    max_pages: u64,
    data: Vec<Option<Vec<u8>>>,
    elems: Vec<Option<Vec<u64>>>,
    tables: Vec<(Box<VMTableDefinition>, Vec<u64>)>,
    table_max: Vec<u64>,
    /// How many times `out_of_fuel` ran, and what it does.
    fuel_calls: Cell<u32>,
    /// Fuel to add on each `out_of_fuel`; 0 makes it trap; with `suspend`, it suspends first.
    refill: i64,
    suspend: bool,
    host_calls: Cell<u32>,
}

pub(super) struct Instance {
    rt: Box<Runtime>,
    store: Box<VMStoreContext>,
    _libcalls: Box<VMLibcalls>,
    /// Global slots; never resized, so the pointers to them stay valid.
    _globals: Vec<u64>,
    global_ptrs: Vec<*mut u64>,
    _table_ptrs: Vec<*mut VMTableDefinition>,
    /// Funcrefs; never resized, so the pointers to them stay valid.
    _funcrefs: Vec<VMFuncRef>,
    _func_ptrs: Vec<*const VMFuncRef>,
    _type_ids: Vec<u32>,
    _func_refs: Vec<u64>,
    vmctx: Box<VMContext>,
    compiled: CompiledModule,
    code: PublishedCode,
    pub(super) info: ModuleInfo,
    exports: Vec<(alloc::string::String, u32)>,
    /// Code compiled later for single functions (`retarget`).
    extra_code: Vec<PublishedCode>,
}

fn rt(vmctx: *mut VMContext) -> &'static mut Runtime {
    // SAFETY: every test vmctx's `runtime` points to its instance's boxed `Runtime`, which
    // outlives the calls; libcalls run one at a time on the calling thread.
    unsafe { &mut *(*vmctx).runtime.cast::<Runtime>() }
}

fn mem_slice(r: &mut Runtime) -> &mut [u8] {
    let len = r.mem_def.length as usize;
    // SAFETY: `base..base+length` is accessible memory of this runtime (VM1).
    unsafe { core::slice::from_raw_parts_mut(r.mem_def.base, len) }
}

unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, delta: u32) -> u32 {
    let r = rt(vmctx);
    let old = r.mem_def.length / PAGE as u64;
    let new = old + u64::from(delta);
    if new > r.max_pages {
        return u32::MAX;
    }
    let bytes = (new as usize) * PAGE;
    match r.mem.as_mut() {
        Some(Mem::Vec(v)) => {
            v.resize(bytes, 0);
            r.mem_def.base = v.as_mut_ptr();
        }
        Some(Mem::Reserved { base, .. }) => {
            // SAFETY: `bytes` is within the reservation (max pages is at most 4 GiB).
            unsafe {
                rustix::mm::mprotect(
                    base.cast(),
                    bytes,
                    rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::WRITE,
                )
                .ok()
            };
        }
        None => return u32::MAX,
    }
    r.mem_def.length = bytes as u64;
    old as u32
}

fn range(start: u32, len: u32, size: usize) -> Option<core::ops::Range<usize>> {
    let end = u64::from(start) + u64::from(len);
    (end <= size as u64).then_some(start as usize..end as usize)
}

unsafe extern "C" fn memory_init(
    vmctx: *mut VMContext,
    data: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    let r = rt(vmctx);
    let seg = r.data[data as usize].clone().unwrap_or_default();
    let m = mem_slice(r);
    let (Some(d), Some(s)) = (range(dst, len, m.len()), range(src, len, seg.len())) else {
        return 1;
    };
    m[d].copy_from_slice(&seg[s]);
    0
}

unsafe extern "C" fn data_drop(vmctx: *mut VMContext, data: u32) {
    rt(vmctx).data[data as usize] = None;
}

unsafe extern "C" fn table_grow(vmctx: *mut VMContext, table: u32, init: u64, delta: u32) -> u32 {
    let r = rt(vmctx);
    let max = r.table_max[table as usize];
    let (def, elems) = &mut r.tables[table as usize];
    let old = elems.len();
    if old as u64 + u64::from(delta) > max {
        return u32::MAX;
    }
    elems.resize(old + delta as usize, init);
    def.base = elems.as_mut_ptr();
    def.length = elems.len() as u64;
    old as u32
}

unsafe extern "C" fn table_fill(
    vmctx: *mut VMContext,
    table: u32,
    dst: u32,
    val: u64,
    len: u32,
) -> u32 {
    let (_, elems) = &mut rt(vmctx).tables[table as usize];
    let Some(r) = range(dst, len, elems.len()) else {
        return 1;
    };
    elems[r].fill(val);
    0
}

unsafe extern "C" fn table_copy(
    vmctx: *mut VMContext,
    dt: u32,
    st: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    let r = rt(vmctx);
    let source = r.tables[st as usize].1.clone();
    let elems = &mut r.tables[dt as usize].1;
    let (Some(d), Some(s)) = (range(dst, len, elems.len()), range(src, len, source.len())) else {
        return 1;
    };
    elems[d].copy_from_slice(&source[s]);
    0
}

unsafe extern "C" fn table_init(
    vmctx: *mut VMContext,
    table: u32,
    elem: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    let r = rt(vmctx);
    let seg = r.elems[elem as usize].clone().unwrap_or_default();
    let elems = &mut r.tables[table as usize].1;
    let (Some(d), Some(s)) = (range(dst, len, elems.len()), range(src, len, seg.len())) else {
        return 1;
    };
    elems[d].copy_from_slice(&seg[s]);
    0
}

unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, elem: u32) {
    rt(vmctx).elems[elem as usize] = None;
}

unsafe extern "C" fn out_of_fuel(vmctx: *mut VMContext) -> u32 {
    let r = rt(vmctx);
    r.fuel_calls.set(r.fuel_calls.get() + 1);
    if r.refill == 0 {
        return 1;
    }
    if r.suspend {
        // SAFETY: this libcall holds nothing with a destructor (`fiber.1`); the test driver
        // adds fuel before resuming.
        unsafe { fiber::suspend(SuspendReason::OutOfFuel) };
    } else {
        // SAFETY: `store` points to the instance's store context (VM6).
        unsafe { (*(*vmctx).store).fuel += r.refill };
    }
    0
}

/// The test's host functions, by number: 0 adds its params (i32 or i64 values as u64), 1
/// fails, 2 (the spec suite's `print*` functions) does nothing.
static HOSTS: [VMHostFunc; 3] = [host(0), host(1), host(2)];

const fn host(n: u32) -> VMHostFunc {
    VMHostFunc {
        entry: call_host,
        data: ptr::null(),
        func: n,
        host: n,
    }
}

/// The entry of the test's host functions ([`HOSTS`]).
unsafe extern "C" fn call_host(
    record: *const VMHostFunc,
    vmctx: *mut c_void,
    values: *mut u64,
    len: u32,
) -> u32 {
    let r = rt(vmctx.cast());
    r.host_calls.set(r.host_calls.get() + 1);
    // SAFETY: the trampoline passes `len` slots.
    let v = unsafe { core::slice::from_raw_parts_mut(values, len as usize) };
    // SAFETY: the record is one of `HOSTS`.
    match unsafe { (*record).host } {
        0 => {
            let sum = v.iter().fold(0u64, |a, &b| a.wrapping_add(b));
            v[0] = sum;
            0
        }
        1 => 1,
        // The spec suite's `print*` functions.
        _ => 0,
    }
}

fn const_value(
    expr: &wasmparser::ConstExpr<'_>,
    globals: &[u64],
    funcs: &[*const VMFuncRef],
) -> u64 {
    use wasmparser::Operator as O;
    let mut r = expr.get_operators_reader();
    match r.read().expect("const expr") {
        O::I32Const { value } => u64::from(value as u32),
        O::I64Const { value } => value as u64,
        O::F32Const { value } => u64::from(value.bits()),
        O::F64Const { value } => value.bits(),
        O::RefNull { .. } => 0,
        // A raw reference: 1 + the index into the instance's funcref array, which is this
        // test runtime's "store" array (`VMStoreContext::funcs`).
        O::RefFunc { function_index } => {
            let _ = funcs;
            u64::from(function_index) + 1
        }
        O::GlobalGet { global_index } => globals[global_index as usize],
        other => panic!("unsupported const expr {other:?}"),
    }
}

pub(super) fn compile_options(bounds: BoundsChecks, fuel: bool) -> CompileOptions {
    CompileOptions {
        bounds_checks: bounds,
        fuel,
        direct_calls: true,
        verify: true,
        threads: 0,
    }
}

impl Instance {
    fn new(wat: &str) -> Instance {
        Self::with(wat, compile_options(BoundsChecks::Explicit, false))
    }

    /// Instantiates `wat` (imports: host functions `host.add` (0) and `host.fail` (1), in
    /// that order of numbering by name).
    fn with(wat: &str, options: CompileOptions) -> Instance {
        let wasm = wat::parse_str(wat).expect("wat");
        wasmparser::Validator::new()
            .validate_all(&wasm)
            .expect("valid");
        Self::from_wasm(&wasm, options).expect("compile")
    }

    /// Compiles and instantiates a validated module; imports are host functions (see
    /// `call_host`). Runs the start function, if any.
    pub(super) fn from_wasm(
        wasm: &[u8],
        options: CompileOptions,
    ) -> Result<Instance, crate::Error> {
        Self::linked(wasm, options, &[])
    }

    /// As [`Instance::from_wasm`], with function import `i` resolved to `imports[i]` where
    /// that is `Some` (another instance's funcref).
    fn linked(
        wasm: &[u8],
        options: CompileOptions,
        imports: &[Option<&VMFuncRef>],
    ) -> Result<Instance, crate::Error> {
        Self::build(wasm, options, imports)
    }

    fn build(
        wasm: &[u8],
        options: CompileOptions,
        imports: &[Option<&VMFuncRef>],
    ) -> Result<Instance, crate::Error> {
        let (info, bodies) = ModuleInfo::from_wasm(wasm)?;
        let compiler = Compiler::new(options)?;
        let compiled = compiler.compile_module(&info, &bodies)?;
        let traps = compiled
            .traps
            .iter()
            .map(|t| TrapEntry {
                offset: t.offset,
                code: t.code,
            })
            .collect();
        let mut b = CodeBuilder::new(&HOSTED_CODE_MEMORY, compiled.code.len()).expect("map");
        b.as_mut_slice()[..compiled.code.len()].copy_from_slice(&compiled.code);
        let code = b.publish(traps, 0).expect("publish");

        // Canonical type ids: the first structurally equal type's index.
        let type_ids: Vec<u32> = info.types.iter().map(canonical_type_id).collect();

        let mut rt = Box::new(Runtime {
            mem: None,
            mem_def: Box::new(VMMemoryDefinition {
                base: ptr::null_mut(),
                length: 0,
            }),
            max_pages: 0,
            data: Vec::new(),
            elems: Vec::new(),
            tables: Vec::new(),
            table_max: Vec::new(),
            fuel_calls: Cell::new(0),
            refill: 0,
            suspend: false,
            host_calls: Cell::new(0),
        });
        let mut store = Box::new(VMStoreContext {
            fuel: 0,
            stack_limit: 0,
            funcs: ptr::null(),
            funcs_len: 0,
        });
        let libcalls = Box::new(VMLibcalls {
            memory_grow,
            memory_init,
            data_drop,
            table_grow,
            table_fill,
            table_copy,
            table_init,
            elem_drop,
            out_of_fuel,
        });
        let mut vmctx = Box::new(VMContext {
            memory0: ptr::null_mut(),
            store: &mut *store,
            libcalls: &*libcalls,
            globals: ptr::null(),
            tables: ptr::null(),
            funcs: ptr::null(),
            type_ids: ptr::null(),
            func_refs: ptr::null(),
            runtime: ptr::null_mut(),
        });
        let vmctx_ptr: *mut VMContext = &mut *vmctx;

        // Funcrefs: imports are host functions numbered by name.
        let mut import_names = Vec::new();
        let mut globals_init = Vec::new();
        let mut global_ptrs_init: Vec<u64> = Vec::new();
        let mut active_data = Vec::new();
        let mut active_elems = Vec::new();
        let mut table_types = Vec::new();
        let mut memory_type = None;
        let mut start = None;
        let mut exports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.expect("payload") {
                wasmparser::Payload::StartSection { func, .. } => start = Some(func),
                wasmparser::Payload::ExportSection(r) => {
                    for e in r {
                        let e = e.expect("export");
                        if e.kind == wasmparser::ExternalKind::Func {
                            exports.push((alloc::string::String::from(e.name), e.index));
                        }
                    }
                }
                wasmparser::Payload::ImportSection(r) => {
                    // Functions are host functions (by name); the rest is the spec suite's
                    // `spectest` module.
                    for imp in r.into_imports() {
                        let imp = imp.expect("import");
                        match imp.ty {
                            wasmparser::TypeRef::Func(_) => {
                                import_names.push(alloc::string::String::from(imp.name));
                            }
                            wasmparser::TypeRef::Global(_) => {
                                global_ptrs_init.push(match imp.name {
                                    "global_f32" => u64::from(666.6f32.to_bits()),
                                    "global_f64" => 666.6f64.to_bits(),
                                    _ => 666,
                                })
                            }
                            wasmparser::TypeRef::Table(_) => {
                                table_types.push(10);
                                rt.table_max.push(20);
                            }
                            wasmparser::TypeRef::Memory(_) => {
                                memory_type = Some(wasmparser::MemoryType {
                                    memory64: false,
                                    shared: false,
                                    initial: 1,
                                    maximum: Some(2),
                                    page_size_log2: None,
                                });
                            }
                            _ => {}
                        }
                    }
                }
                wasmparser::Payload::MemorySection(r) => {
                    for m in r {
                        memory_type = Some(m.expect("memory"));
                    }
                }
                wasmparser::Payload::TableSection(r) => {
                    for t in r {
                        let t = t.expect("table");
                        table_types.push(t.ty.initial);
                        rt.table_max
                            .push(t.ty.maximum.unwrap_or(100_000).min(100_000));
                    }
                }
                wasmparser::Payload::GlobalSection(r) => {
                    for g in r {
                        globals_init.push(g.expect("global").init_expr);
                    }
                }
                wasmparser::Payload::DataSection(r) => {
                    for d in r {
                        let d = d.expect("data");
                        match d.kind {
                            wasmparser::DataKind::Active { offset_expr, .. } => {
                                active_data.push((offset_expr, d.data.to_vec()));
                                rt.data.push(None);
                            }
                            wasmparser::DataKind::Passive => rt.data.push(Some(d.data.to_vec())),
                        }
                    }
                }
                wasmparser::Payload::ElementSection(r) => {
                    for e in r {
                        let e = e.expect("elem");
                        let items: Vec<ElemItem<'_>> = match e.items {
                            wasmparser::ElementItems::Functions(f) => f
                                .into_iter()
                                .map(|i| ElemItem::Func(i.expect("item")))
                                .collect(),
                            wasmparser::ElementItems::Expressions(_, x) => x
                                .into_iter()
                                .map(|i| ElemItem::Expr(i.expect("item")))
                                .collect(),
                        };
                        match e.kind {
                            wasmparser::ElementKind::Active {
                                table_index,
                                offset_expr,
                            } => {
                                active_elems.push((
                                    table_index.unwrap_or(0),
                                    Some(offset_expr),
                                    items,
                                ));
                                rt.elems.push(None);
                            }
                            wasmparser::ElementKind::Passive => {
                                active_elems.push((u32::MAX, offset_expr_none(), items));
                                rt.elems.push(Some(Vec::new()));
                            }
                            wasmparser::ElementKind::Declared => rt.elems.push(None),
                        }
                    }
                }
                _ => {}
            }
        }
        let func_names: Vec<usize> = import_names
            .iter()
            .map(|n| match n.as_str() {
                "add" => 0,
                "fail" => 1,
                _ => 2,
            })
            .collect();
        let mut funcrefs: Vec<VMFuncRef> = Vec::with_capacity(info.funcs.len());
        for (i, &t) in info.funcs.iter().enumerate() {
            let fr = if let Some(Some(linked)) = imports.get(i) {
                // A function of another instance: its own code and vmctx.
                **linked
            } else if (i as u32) < info.num_imported_funcs {
                VMFuncRef {
                    wasm_call: code
                        .base()
                        .wrapping_add(compiled.host_trampolines[t as usize] as usize),
                    vmctx: ptr::from_ref(&HOSTS[func_names[i]]).cast_mut().cast(),
                    array_call: ptr::null(),
                    ty: type_ids[t as usize],
                    instance: VMFuncRef::HOST,
                    index: i as u32,
                }
            } else {
                let f = compiled.funcs[i - info.num_imported_funcs as usize];
                VMFuncRef {
                    wasm_call: code.base().wrapping_add(f.offset as usize),
                    vmctx: vmctx_ptr.cast(),
                    array_call: code.base().wrapping_add(f.array_call as usize),
                    ty: type_ids[t as usize],
                    instance: 0,
                    index: i as u32,
                }
            };
            funcrefs.push(fr);
        }
        // Derived from a mutable pointer: `retarget` writes through them.
        let funcrefs_base = funcrefs.as_mut_ptr();
        let func_ptrs: Vec<*const VMFuncRef> = (0..funcrefs.len())
            .map(|i| funcrefs_base.wrapping_add(i).cast_const())
            .collect();

        let func_refs: Vec<u64> = (1..=funcrefs.len() as u64).collect();

        // Defined globals, after the imported ones.
        for e in &globals_init {
            let v = const_value(e, &global_ptrs_init, &func_ptrs);
            global_ptrs_init.push(v);
        }
        let mut globals: Vec<u64> = global_ptrs_init.clone();
        let global_ptrs: Vec<*mut u64> = globals.iter_mut().map(|g| g as *mut u64).collect();

        // Memory.
        if let Some(m) = memory_type {
            // A `Vec` memory grows by writing zeros: keep it small.
            let cap = match options.bounds_checks {
                BoundsChecks::Explicit => 1024,
                BoundsChecks::Guard { .. } => 65536,
            };
            rt.max_pages = m.maximum.unwrap_or(65536).min(cap);
            let bytes = m.initial as usize * PAGE;
            match options.bounds_checks {
                BoundsChecks::Explicit => {
                    let mut v = vec![0u8; bytes];
                    rt.mem_def.base = v.as_mut_ptr();
                    rt.mem = Some(Mem::Vec(v));
                }
                BoundsChecks::Guard { guard_size } => {
                    let size = (4usize << 30) + guard_size as usize;
                    // SAFETY: a fresh anonymous reservation; nothing else uses its addresses.
                    let base = unsafe {
                        rustix::mm::mmap_anonymous(
                            ptr::null_mut(),
                            size,
                            rustix::mm::ProtFlags::empty(),
                            rustix::mm::MapFlags::PRIVATE | rustix::mm::MapFlags::NORESERVE,
                        )
                    }
                    .expect("reserve");
                    if bytes > 0 {
                        // SAFETY: the first `bytes` of the reservation just mapped.
                        unsafe {
                            rustix::mm::mprotect(
                                base,
                                bytes,
                                rustix::mm::MprotectFlags::READ | rustix::mm::MprotectFlags::WRITE,
                            )
                        }
                        .expect("mprotect");
                    }
                    rt.mem_def.base = base.cast();
                    let guard = Some(
                        super::code::register_guard(base as usize, size, 0).expect("register"),
                    );
                    rt.mem = Some(Mem::Reserved {
                        base: base.cast(),
                        size,
                        guard,
                    });
                }
            }
            rt.mem_def.length = bytes as u64;
            vmctx.memory0 = &mut *rt.mem_def;
        }
        for (offset, bytes) in active_data {
            let at = const_value(&offset, &global_ptrs_init, &func_ptrs) as usize;
            mem_slice(&mut rt)[at..at + bytes.len()].copy_from_slice(&bytes);
        }

        // Tables.
        for &initial in &table_types {
            let mut elems = vec![0u64; initial as usize];
            let def = Box::new(VMTableDefinition {
                base: elems.as_mut_ptr(),
                length: elems.len() as u64,
            });
            rt.tables.push((def, elems));
        }
        let mut passive = 0;
        for (i, (table, offset, items)) in active_elems.into_iter().enumerate() {
            let values: Vec<u64> = items
                .iter()
                .map(|it| match it {
                    ElemItem::Func(f) => u64::from(*f) + 1,
                    ElemItem::Expr(e) => const_value(e, &global_ptrs_init, &func_ptrs),
                })
                .collect();
            if table == u32::MAX {
                passive += 1;
                rt.elems[i] = Some(values);
                continue;
            }
            let at = const_value(
                offset.as_ref().expect("offset"),
                &global_ptrs_init,
                &func_ptrs,
            ) as usize;
            rt.tables[table as usize].1[at..at + values.len()].copy_from_slice(&values);
        }
        let _ = passive;
        let table_ptrs: Vec<*mut VMTableDefinition> = rt
            .tables
            .iter_mut()
            .map(|(d, _)| &mut **d as *mut VMTableDefinition)
            .collect();

        vmctx.globals = global_ptrs.as_ptr();
        vmctx.tables = table_ptrs.as_ptr();
        vmctx.funcs = func_ptrs.as_ptr();
        vmctx.type_ids = type_ids.as_ptr();
        vmctx.func_refs = func_refs.as_ptr();
        store.funcs = funcrefs.as_ptr();
        store.funcs_len = funcrefs.len() as u64;
        vmctx.runtime = (&mut *rt as *mut Runtime).cast();
        store.fuel = i64::MAX;
        let mut inst = Instance {
            rt,
            store,
            _libcalls: libcalls,
            _globals: globals,
            global_ptrs,
            _table_ptrs: table_ptrs,
            _funcrefs: funcrefs,
            _func_ptrs: func_ptrs,
            _type_ids: type_ids,
            _func_refs: func_refs,
            vmctx,
            compiled,
            code,
            info,
            exports,
            extra_code: Vec::new(),
        };
        if let Some(f) = start.filter(|&f| f >= inst.info.num_imported_funcs) {
            inst.call(f, &[]).map_err(crate::Error::trap)?;
        }
        Ok(inst)
    }

    /// Points function `index`'s funcref at code compiled on its own (as a lazy tier-up
    /// would), keeping that code alive in the instance; returns its array-call entry.
    fn retarget(&mut self, index: u32, compiled: &CompiledModule) -> fiber::ArrayCallFn {
        let traps = compiled
            .traps
            .iter()
            .map(|t| TrapEntry {
                offset: t.offset,
                code: t.code,
            })
            .collect();
        let mut b = CodeBuilder::new(&HOSTED_CODE_MEMORY, compiled.code.len()).expect("map");
        b.as_mut_slice()[..compiled.code.len()].copy_from_slice(&compiled.code);
        let code = b.publish(traps, 0).expect("publish");
        let f = compiled.funcs[0];
        let fr = self._func_ptrs[index as usize].cast_mut();
        // SAFETY: the funcref lives in `_funcrefs`, which is never resized, and `fr` derives
        // from its mutable base pointer; no call runs while it changes.
        unsafe { (*fr).wasm_call = code.base().wrapping_add(f.offset as usize) };
        // SAFETY: `array_call` is an `ArrayCallFn` in the published code.
        let entry = unsafe {
            core::mem::transmute::<*const u8, fiber::ArrayCallFn>(
                code.base().wrapping_add(f.array_call as usize),
            )
        };
        self.extra_code.push(code);
        entry
    }

    /// Calls an array-call entry with `args` on a fiber.
    fn call_entry(
        &mut self,
        entry: fiber::ArrayCallFn,
        args: &[u64],
        results: usize,
    ) -> Result<Vec<u64>, TrapCode> {
        let mut values = vec![0u64; args.len().max(results).max(1)];
        values[..args.len()].copy_from_slice(args);
        let vmctx: *mut VMContext = &mut *self.vmctx;
        // SAFETY: as in `call`.
        let mut fib = unsafe {
            Fiber::new(
                &FiberConfig::default(),
                entry,
                vmctx.cast(),
                values.as_mut_ptr(),
            )
        }
        .expect("fiber");
        self.store.stack_limit = fib.stack_limit();
        match fib.resume(ResumeValue(0)) {
            FiberOutcome::Finished => Ok(values[..results].to_vec()),
            FiberOutcome::Trapped { code, .. } => Err(code),
            FiberOutcome::Suspended(r) => panic!("unexpected suspension {r:?}"),
        }
    }

    /// The function index of export `name`.
    pub(super) fn export_index(&self, name: &str) -> Option<u32> {
        self.exports.iter().find(|(n, _)| n == name).map(|e| e.1)
    }

    /// Calls function `index` with `args` (raw slots) on a fiber; the results or the trap.
    pub(super) fn call(&mut self, index: u32, args: &[u64]) -> Result<Vec<u64>, TrapCode> {
        let ty = self.info.func_type(index).expect("type").clone();
        let f = self.compiled.funcs[(index - self.info.num_imported_funcs) as usize];
        let mut values = vec![0u64; ty.params().len().max(ty.results().len()).max(1)];
        values[..args.len()].copy_from_slice(args);
        // SAFETY: `array_call` is an `ArrayCallFn` in the published code (laid out by
        // `compile_module`), with the same ABI as the fiber's entry type.
        let entry: fiber::ArrayCallFn =
            unsafe { core::mem::transmute(self.code.base().wrapping_add(f.array_call as usize)) };
        let vmctx: *mut VMContext = &mut *self.vmctx;
        // SAFETY: the vmctx and everything it points to live in `self`, as do `values`, for
        // the whole call; generated code checks the stack limit set below.
        let mut fib = unsafe {
            Fiber::new(
                &FiberConfig::default(),
                entry,
                vmctx.cast(),
                values.as_mut_ptr(),
            )
        }
        .expect("fiber");
        self.store.stack_limit = fib.stack_limit();
        loop {
            match fib.resume(ResumeValue(0)) {
                FiberOutcome::Finished => return Ok(values[..ty.results().len()].to_vec()),
                FiberOutcome::Suspended(SuspendReason::OutOfFuel) => {
                    self.store.fuel += self.rt.refill;
                }
                FiberOutcome::Suspended(other) => panic!("unexpected suspension {other:?}"),
                FiberOutcome::Trapped { code, .. } => return Err(code),
            }
        }
    }
}

/// Engine-wide canonical type ids (VM5) for the test runtime: the index of the first
/// structurally equal type seen by any instance in this process.
fn canonical_type_id(ty: &crate::FuncType) -> u32 {
    static TYPES: std::sync::Mutex<Vec<crate::FuncType>> = std::sync::Mutex::new(Vec::new());
    let mut types = TYPES.lock().unwrap_or_else(|e| e.into_inner());
    match types.iter().position(|t| t == ty) {
        Some(i) => i as u32,
        None => {
            types.push(ty.clone());
            (types.len() - 1) as u32
        }
    }
}

enum ElemItem<'a> {
    Func(u32),
    Expr(wasmparser::ConstExpr<'a>),
}

fn offset_expr_none<'a>() -> Option<wasmparser::ConstExpr<'a>> {
    None
}

/// Runs `wat`'s export `name`.
struct Module {
    inst: Instance,
}

impl Module {
    fn new(wat: &'static str) -> Module {
        Module {
            inst: Instance::new(wat),
        }
    }

    fn with(wat: &'static str, options: CompileOptions) -> Module {
        Module {
            inst: Instance::with(wat, options),
        }
    }

    fn call(&mut self, name: &str, args: &[u64]) -> Result<Vec<u64>, TrapCode> {
        let index = self.inst.export_index(name).expect("export");
        self.inst.call(index, args)
    }

    fn i32(&mut self, name: &str, args: &[u64]) -> Result<i32, TrapCode> {
        self.call(name, args).map(|r| r[0] as u32 as i32)
    }

    fn i64(&mut self, name: &str, args: &[u64]) -> Result<i64, TrapCode> {
        self.call(name, args).map(|r| r[0] as i64)
    }
}

fn i(v: i32) -> u64 {
    u64::from(v as u32)
}
fn l(v: i64) -> u64 {
    v as u64
}
fn f(v: f32) -> u64 {
    u64::from(v.to_bits())
}
fn d(v: f64) -> u64 {
    v.to_bits()
}

const CONTROL: &str = r#"
(module
  (func $fib (export "fib") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "sum") (param i32) (result i64) (local i64)
    (block $done
      (loop $l
        (br_if $done (i32.eqz (local.get 0)))
        (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (br $l)))
    (local.get 1))
  (func (export "table") (param i32) (result i32)
    (block $d (block $c (block $b (block $a
      (br_table $a $b $c $d (local.get 0)))
      (return (i32.const 10)))
      (return (i32.const 11)))
      (return (i32.const 12)))
    (i32.const 13))
  (func (export "table_values") (param i32) (result i32 i32)
    (block $b (result i32 i32)
      (block $a (result i32 i32)
        (i32.const 1) (i32.const 2) (local.get 0)
        (br_table $a $b $a))
      (drop) (drop) (i32.const 3) (i32.const 4)))
  (func $swap (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
  (func (export "multi") (param i32 i32) (result i32 i32 i32)
    (call $swap (local.get 0) (local.get 1))
    (block (param i32 i32) (result i32 i32 i32)
      (i32.const 7)))
  (func (export "loop_params") (param i32) (result i32)
    (i32.const 0) (local.get 0)
    (loop $l (param i32 i32) (result i32)
      (local.set 0)
      (local.get 0) (i32.add)
      (local.get 0) (i32.const 1) (i32.sub) (local.tee 0)
      (local.get 0)
      (br_if $l)
      (drop)))
  (func (export "select") (param i32) (result i64 f64)
    (select (i64.const 1) (i64.const 2) (local.get 0))
    (select (result f64) (f64.const 1.5) (f64.const 2.5) (local.get 0)))
  (func (export "if_no_else") (param i32) (result i32)
    (i32.const 5)
    (if (param i32) (result i32) (local.get 0) (then (i32.const 1) (i32.add))))
  (func (export "unreachable") (unreachable))
  (func (export "dead_code") (param i32) (result i32)
    (block (result i32)
      (br 0 (i32.const 9))
      (drop (block (result i32) (loop (br 0)) (i32.const 1)))
      (if (i32.const 0) (then (unreachable)) (else (nop)))
      (i32.const 2)))
  (func $deep (export "deep") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $deep (i32.sub (local.get 0) (i32.const 1)))))))
    (func $inf (export "infinite") (call $inf))
  (table 1 funcref)
  (elem (i32.const 0) $many)
  ;; More results than the convention returns in registers: a return area.
  (func $many (param i32) (result i32 i64 f32 f64 i32)
    (local.get 0) (i64.const -2) (f32.const 1.5) (f64.const -0.25)
    (i32.add (local.get 0) (i32.const 1)))
  (func (export "many") (param i32) (result i32 i64 f32 f64 i32) (call $many (local.get 0)))
  (func (export "many_indirect") (param i32) (result i32 i64 f32 f64 i32)
    (call_indirect (param i32) (result i32 i64 f32 f64 i32) (local.get 0) (i32.const 0)))
  (func (export "many_sum") (param i32) (result i32)
    (call $many (local.get 0))
    (drop) (drop) (drop) (drop))
)
"#;

#[test]
fn control_flow() {
    let mut m = Module::new(CONTROL);
    assert_eq!(m.i32("fib", &[i(20)]), Ok(6765));
    assert_eq!(m.i64("sum", &[i(100_000)]), Ok(5_000_050_000));
    for (x, want) in [(0, 10), (1, 11), (2, 12), (3, 13), (4, 13), (-1, 13)] {
        assert_eq!(m.i32("table", &[i(x)]), Ok(want), "br_table {x}");
    }
    assert_eq!(m.call("table_values", &[i(0)]), Ok(vec![3, 4]));
    assert_eq!(m.call("table_values", &[i(1)]), Ok(vec![1, 2]));
    assert_eq!(m.call("table_values", &[i(7)]), Ok(vec![3, 4]));
    assert_eq!(m.call("multi", &[i(1), i(2)]), Ok(vec![2, 1, 7]));
    assert_eq!(m.i32("loop_params", &[i(4)]), Ok(10));
    assert_eq!(m.call("select", &[i(1)]), Ok(vec![1, d(1.5)]));
    assert_eq!(m.call("select", &[i(0)]), Ok(vec![2, d(2.5)]));
    assert_eq!(m.i32("if_no_else", &[i(1)]), Ok(6));
    assert_eq!(m.i32("if_no_else", &[i(0)]), Ok(5));
    assert_eq!(m.call("unreachable", &[]), Err(TrapCode::Unreachable));
    assert_eq!(m.i32("dead_code", &[i(0)]), Ok(9));
    assert_eq!(m.i32("deep", &[i(1000)]), Ok(1000));
    assert_eq!(m.call("infinite", &[]), Err(TrapCode::StackOverflow));
    let many = vec![3, -2i64 as u64, f(1.5), d(-0.25), 4];
    assert_eq!(m.call("many", &[i(3)]), Ok(many.clone()));
    assert_eq!(m.call("many_indirect", &[i(3)]), Ok(many));
    assert_eq!(m.i32("many_sum", &[i(3)]), Ok(3));
    // The instance stays usable after traps.
    assert_eq!(m.i32("fib", &[i(10)]), Ok(55));
}

const NUMERIC: &str = r#"
(module
  (func (export "i32.div_s") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "i32.div_u") (param i32 i32) (result i32) (i32.div_u (local.get 0) (local.get 1)))
  (func (export "i32.rem_s") (param i32 i32) (result i32) (i32.rem_s (local.get 0) (local.get 1)))
  (func (export "i32.rem_u") (param i32 i32) (result i32) (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "i64.div_s") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
  (func (export "i64.rem_s") (param i64 i64) (result i64) (i64.rem_s (local.get 0) (local.get 1)))
  (func (export "i32.shl") (param i32 i32) (result i32) (i32.shl (local.get 0) (local.get 1)))
  (func (export "i32.shr_s") (param i32 i32) (result i32) (i32.shr_s (local.get 0) (local.get 1)))
  (func (export "i64.rotl") (param i64 i64) (result i64) (i64.rotl (local.get 0) (local.get 1)))
  (func (export "i32.rotr") (param i32 i32) (result i32) (i32.rotr (local.get 0) (local.get 1)))
  (func (export "i32.clz") (param i32) (result i32) (i32.clz (local.get 0)))
  (func (export "i64.ctz") (param i64) (result i64) (i64.ctz (local.get 0)))
  (func (export "i32.popcnt") (param i32) (result i32) (i32.popcnt (local.get 0)))
  (func (export "i64.lt_s") (param i64 i64) (result i32) (i64.lt_s (local.get 0) (local.get 1)))
  (func (export "i64.ge_u") (param i64 i64) (result i32) (i64.ge_u (local.get 0) (local.get 1)))
  (func (export "i32.eqz") (param i32) (result i32) (i32.eqz (local.get 0)))
  (func (export "i32.extend8_s") (param i32) (result i32) (i32.extend8_s (local.get 0)))
  (func (export "i32.extend16_s") (param i32) (result i32) (i32.extend16_s (local.get 0)))
  (func (export "i64.extend32_s") (param i64) (result i64) (i64.extend32_s (local.get 0)))
  (func (export "i64.extend_i32_s") (param i32) (result i64) (i64.extend_i32_s (local.get 0)))
  (func (export "i64.extend_i32_u") (param i32) (result i64) (i64.extend_i32_u (local.get 0)))
  (func (export "i32.wrap_i64") (param i64) (result i32) (i32.wrap_i64 (local.get 0)))
  (func (export "f32.min") (param f32 f32) (result f32) (f32.min (local.get 0) (local.get 1)))
  (func (export "f64.max") (param f64 f64) (result f64) (f64.max (local.get 0) (local.get 1)))
  (func (export "f64.min") (param f64 f64) (result f64) (f64.min (local.get 0) (local.get 1)))
  (func (export "f32.nearest") (param f32) (result f32) (f32.nearest (local.get 0)))
  (func (export "f64.nearest") (param f64) (result f64) (f64.nearest (local.get 0)))
  (func (export "f64.floor") (param f64) (result f64) (f64.floor (local.get 0)))
  (func (export "f32.ceil") (param f32) (result f32) (f32.ceil (local.get 0)))
  (func (export "f64.trunc") (param f64) (result f64) (f64.trunc (local.get 0)))
  (func (export "f64.sqrt") (param f64) (result f64) (f64.sqrt (local.get 0)))
  (func (export "f32.copysign") (param f32 f32) (result f32) (f32.copysign (local.get 0) (local.get 1)))
  (func (export "f64.neg") (param f64) (result f64) (f64.neg (local.get 0)))
  (func (export "f32.abs") (param f32) (result f32) (f32.abs (local.get 0)))
  (func (export "f64.div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
  (func (export "f64.ne") (param f64 f64) (result i32) (f64.ne (local.get 0) (local.get 1)))
  (func (export "f32.lt") (param f32 f32) (result i32) (f32.lt (local.get 0) (local.get 1)))
  (func (export "i32.trunc_f32_s") (param f32) (result i32) (i32.trunc_f32_s (local.get 0)))
  (func (export "i32.trunc_f64_u") (param f64) (result i32) (i32.trunc_f64_u (local.get 0)))
  (func (export "i64.trunc_f64_s") (param f64) (result i64) (i64.trunc_f64_s (local.get 0)))
  (func (export "i64.trunc_f32_u") (param f32) (result i64) (i64.trunc_f32_u (local.get 0)))
  (func (export "i32.trunc_sat_f32_s") (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0)))
  (func (export "i32.trunc_sat_f64_u") (param f64) (result i32) (i32.trunc_sat_f64_u (local.get 0)))
  (func (export "i64.trunc_sat_f64_s") (param f64) (result i64) (i64.trunc_sat_f64_s (local.get 0)))
  (func (export "i64.trunc_sat_f32_u") (param f32) (result i64) (i64.trunc_sat_f32_u (local.get 0)))
  (func (export "f32.convert_i64_u") (param i64) (result f32) (f32.convert_i64_u (local.get 0)))
  (func (export "f64.convert_i32_s") (param i32) (result f64) (f64.convert_i32_s (local.get 0)))
  (func (export "f64.convert_i64_u") (param i64) (result f64) (f64.convert_i64_u (local.get 0)))
  (func (export "f32.demote_f64") (param f64) (result f32) (f32.demote_f64 (local.get 0)))
  (func (export "f64.promote_f32") (param f32) (result f64) (f64.promote_f32 (local.get 0)))
  (func (export "i32.reinterpret_f32") (param f32) (result i32) (i32.reinterpret_f32 (local.get 0)))
  (func (export "f64.reinterpret_i64") (param i64) (result f64) (f64.reinterpret_i64 (local.get 0)))
  (func (export "consts") (result i32 i64 f32 f64)
    (i32.const -1) (i64.const 0x7fffffffffffffff) (f32.const -0x1p-149) (f64.const nan:0x4))
)
"#;

#[test]
fn numeric_ops() {
    let mut m = Module::new(NUMERIC);
    let int = |m: &mut Module, name: &str, a: &[u64]| m.call(name, a).map(|r| r[0]);
    // Integer division: traps and edge cases.
    assert_eq!(m.i32("i32.div_s", &[i(-7), i(2)]), Ok(-3));
    assert_eq!(
        m.i32("i32.div_s", &[i(1), i(0)]),
        Err(TrapCode::IntegerDivisionByZero)
    );
    assert_eq!(
        m.i32("i32.div_s", &[i(i32::MIN), i(-1)]),
        Err(TrapCode::IntegerOverflow)
    );
    assert_eq!(m.i32("i32.div_u", &[i(-1), i(2)]), Ok(i32::MAX));
    assert_eq!(
        m.i32("i32.div_u", &[i(1), i(0)]),
        Err(TrapCode::IntegerDivisionByZero)
    );
    assert_eq!(m.i32("i32.rem_s", &[i(i32::MIN), i(-1)]), Ok(0));
    assert_eq!(m.i32("i32.rem_s", &[i(-7), i(2)]), Ok(-1));
    assert_eq!(
        m.i32("i32.rem_s", &[i(1), i(0)]),
        Err(TrapCode::IntegerDivisionByZero)
    );
    assert_eq!(m.i32("i32.rem_u", &[i(-7), i(2)]), Ok(1));
    assert_eq!(
        m.i64("i64.div_s", &[l(i64::MIN), l(-1)]),
        Err(TrapCode::IntegerOverflow)
    );
    assert_eq!(m.i64("i64.rem_s", &[l(i64::MIN), l(-1)]), Ok(0));
    // Shifts take the amount modulo the width.
    assert_eq!(m.i32("i32.shl", &[i(1), i(33)]), Ok(2));
    assert_eq!(m.i32("i32.shr_s", &[i(-8), i(1)]), Ok(-4));
    assert_eq!(m.i64("i64.rotl", &[l(1), l(65)]), Ok(2));
    assert_eq!(m.i32("i32.rotr", &[i(1), i(1)]), Ok(i32::MIN));
    assert_eq!(m.i32("i32.clz", &[i(0)]), Ok(32));
    assert_eq!(m.i64("i64.ctz", &[l(0)]), Ok(64));
    assert_eq!(m.i32("i32.popcnt", &[i(-1)]), Ok(32));
    assert_eq!(m.i32("i64.lt_s", &[l(-1), l(0)]), Ok(1));
    assert_eq!(m.i32("i64.ge_u", &[l(-1), l(0)]), Ok(1));
    assert_eq!(m.i32("i32.eqz", &[i(0)]), Ok(1));
    assert_eq!(m.i32("i32.extend8_s", &[i(0x80)]), Ok(-128));
    assert_eq!(m.i32("i32.extend16_s", &[i(0x8000)]), Ok(-32768));
    assert_eq!(m.i64("i64.extend32_s", &[l(0x8000_0000)]), Ok(-0x8000_0000));
    assert_eq!(m.i64("i64.extend_i32_s", &[i(-1)]), Ok(-1));
    assert_eq!(m.i64("i64.extend_i32_u", &[i(-1)]), Ok(0xffff_ffff));
    assert_eq!(m.i32("i32.wrap_i64", &[l(0x1_0000_0005)]), Ok(5));
    // i32 results come back zero-extended in their slot.
    assert_eq!(int(&mut m, "i32.extend8_s", &[i(0x80)]), Ok(0xffff_ff80));

    // Floats: NaN, -0, rounding.
    let fl = |m: &mut Module, name: &str, a: &[u64]| {
        m.call(name, a).map(|r| f32::from_bits(r[0] as u32))
    };
    let db = |m: &mut Module, name: &str, a: &[u64]| m.call(name, a).map(|r| f64::from_bits(r[0]));
    assert!(
        fl(&mut m, "f32.min", &[f(f32::NAN), f(1.0)])
            .unwrap()
            .is_nan()
    );
    assert!(
        fl(&mut m, "f32.min", &[f(1.0), f(f32::NAN)])
            .unwrap()
            .is_nan()
    );
    assert_eq!(
        fl(&mut m, "f32.min", &[f(0.0), f(-0.0)]).unwrap().to_bits(),
        (-0.0f32).to_bits()
    );
    assert_eq!(
        db(&mut m, "f64.max", &[d(-0.0), d(0.0)]).unwrap().to_bits(),
        0.0f64.to_bits()
    );
    assert!(
        db(&mut m, "f64.max", &[d(f64::NAN), d(1.0)])
            .unwrap()
            .is_nan()
    );
    assert_eq!(db(&mut m, "f64.min", &[d(-1.0), d(2.0)]), Ok(-1.0));
    assert_eq!(fl(&mut m, "f32.nearest", &[f(2.5)]), Ok(2.0));
    assert_eq!(fl(&mut m, "f32.nearest", &[f(3.5)]), Ok(4.0));
    assert_eq!(
        fl(&mut m, "f32.nearest", &[f(-0.5)]).unwrap().to_bits(),
        (-0.0f32).to_bits()
    );
    assert_eq!(db(&mut m, "f64.nearest", &[d(-2.5)]), Ok(-2.0));
    assert_eq!(db(&mut m, "f64.floor", &[d(-1.5)]), Ok(-2.0));
    assert_eq!(
        fl(&mut m, "f32.ceil", &[f(-0.5)]).unwrap().to_bits(),
        (-0.0f32).to_bits()
    );
    assert_eq!(db(&mut m, "f64.trunc", &[d(-1.9)]), Ok(-1.0));
    assert_eq!(db(&mut m, "f64.sqrt", &[d(16.0)]), Ok(4.0));
    assert!(db(&mut m, "f64.sqrt", &[d(-1.0)]).unwrap().is_nan());
    assert_eq!(fl(&mut m, "f32.copysign", &[f(1.0), f(-0.0)]), Ok(-1.0));
    // neg, abs and copysign change the sign bit only, even of a NaN.
    let nan_bits = 0x7ff4_0000_0000_0001u64;
    assert_eq!(m.call("f64.neg", &[nan_bits]), Ok(vec![nan_bits | 1 << 63]));
    assert_eq!(m.call("f32.abs", &[0xffc0_0001]), Ok(vec![0x7fc0_0001]));
    assert_eq!(
        db(&mut m, "f64.div", &[d(1.0), d(-0.0)]),
        Ok(f64::NEG_INFINITY)
    );
    assert_eq!(m.i32("f64.ne", &[d(f64::NAN), d(f64::NAN)]), Ok(1));
    assert_eq!(m.i32("f32.lt", &[f(f32::NAN), f(1.0)]), Ok(0));
    // Conversions.
    assert_eq!(m.i32("i32.trunc_f32_s", &[f(-1.9)]), Ok(-1));
    assert_eq!(
        m.i32("i32.trunc_f32_s", &[f(f32::NAN)]),
        Err(TrapCode::BadConversionToInteger)
    );
    assert_eq!(
        m.i32("i32.trunc_f32_s", &[f(2147483648.0)]),
        Err(TrapCode::IntegerOverflow)
    );
    assert_eq!(m.i32("i32.trunc_f32_s", &[f(-2147483648.0)]), Ok(i32::MIN));
    assert_eq!(m.i32("i32.trunc_f64_u", &[d(4294967295.9)]), Ok(-1));
    assert_eq!(
        m.i32("i32.trunc_f64_u", &[d(-1.0)]),
        Err(TrapCode::IntegerOverflow)
    );
    assert_eq!(m.i32("i32.trunc_f64_u", &[d(-0.9)]), Ok(0));
    assert_eq!(
        m.i64("i64.trunc_f64_s", &[d(9.3e18)]),
        Err(TrapCode::IntegerOverflow)
    );
    assert_eq!(
        m.i64("i64.trunc_f32_u", &[f(1.8e19)]),
        Ok(1.8e19f32 as u64 as i64)
    );
    assert_eq!(m.i32("i32.trunc_sat_f32_s", &[f(f32::NAN)]), Ok(0));
    assert_eq!(m.i32("i32.trunc_sat_f32_s", &[f(-3e9)]), Ok(i32::MIN));
    assert_eq!(m.i32("i32.trunc_sat_f64_u", &[d(1e10)]), Ok(-1));
    assert_eq!(m.i32("i32.trunc_sat_f64_u", &[d(-5.0)]), Ok(0));
    assert_eq!(
        m.i64("i64.trunc_sat_f64_s", &[d(f64::INFINITY)]),
        Ok(i64::MAX)
    );
    assert_eq!(m.i64("i64.trunc_sat_f32_u", &[f(-1.0)]), Ok(0));
    assert_eq!(
        fl(&mut m, "f32.convert_i64_u", &[l(-1)]),
        Ok(18446744073709551616.0)
    );
    assert_eq!(db(&mut m, "f64.convert_i32_s", &[i(-3)]), Ok(-3.0));
    assert_eq!(
        db(&mut m, "f64.convert_i64_u", &[l(-1)]),
        Ok(18446744073709551616.0)
    );
    assert_eq!(fl(&mut m, "f32.demote_f64", &[d(1e300)]), Ok(f32::INFINITY));
    assert_eq!(db(&mut m, "f64.promote_f32", &[f(1.5)]), Ok(1.5));
    assert_eq!(m.i32("i32.reinterpret_f32", &[f(-0.0)]), Ok(i32::MIN));
    assert_eq!(
        m.call("f64.reinterpret_i64", &[nan_bits]),
        Ok(vec![nan_bits])
    );
    assert_eq!(
        m.call("consts", &[]),
        Ok(vec![
            0xffff_ffff,
            i64::MAX as u64,
            0x8000_0001,
            0x7ff0_0000_0000_0004
        ])
    );
}

const MEMORY: &str = r#"
(module
  (memory 1 3)
  (data (i32.const 16) "\01\02\03\04\05\06\07\08\ff")
  (data $p "hello")
  (func (export "load32") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "load64_off") (param i32) (result i64) (i64.load offset=8 (local.get 0)))
  (func (export "load8_s") (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (export "load8_u") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "load16_s") (param i32) (result i64) (i64.load16_s (local.get 0)))
  (func (export "load32_u") (param i32) (result i64) (i64.load32_u (local.get 0)))
  (func (export "load32_s") (param i32) (result i64) (i64.load32_s (local.get 0)))
  (func (export "loadf") (param i32) (result f32) (f32.load (local.get 0)))
  (func (export "big_offset") (param i32) (result i32) (i32.load offset=0xfffffff0 (local.get 0)))
  (func (export "store") (param i32 i64)
    (i64.store (local.get 0) (local.get 1)))
  (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "store16") (param i32 i64) (i64.store16 offset=1 (local.get 0) (local.get 1)))
  (func (export "store32") (param i32 i64) (i64.store32 (local.get 0) (local.get 1)))
  (func (export "storef") (param i32 f64) (f64.store (local.get 0) (local.get 1)))
  (func (export "size") (result i32) (memory.size))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
  (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (memory.init $p (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (data.drop $p))
)
"#;

fn memory_tests(options: CompileOptions) {
    let mut m = Module::with(MEMORY, options);
    assert_eq!(m.i32("load32", &[i(16)]), Ok(0x0403_0201));
    assert_eq!(m.i64("load64_off", &[i(8)]), Ok(0x0807_0605_0403_0201));
    assert_eq!(m.i32("load8_s", &[i(24)]), Ok(-1));
    assert_eq!(m.i32("load8_u", &[i(24)]), Ok(255));
    assert_eq!(m.i64("load16_s", &[i(23)]), Ok(0xff08u16 as i16 as i64));
    assert_eq!(m.i64("load32_u", &[i(21)]), Ok(0xff08_0706));
    assert_eq!(
        m.i64("load32_s", &[i(21)]),
        Ok(0xff08_0706u32 as i32 as i64)
    );
    // The last bytes are in bounds, one more is not.
    assert_eq!(m.i32("load32", &[i(65532)]), Ok(0));
    assert_eq!(
        m.i32("load32", &[i(65533)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.i32("load32", &[i(-1)]), Err(TrapCode::MemoryOutOfBounds));
    assert_eq!(
        m.i64("load64_off", &[i(65528)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.i64("load64_off", &[i(65520)]), Ok(0));
    assert_eq!(
        m.i32("big_offset", &[i(0)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(
        m.i32("load8_u", &[i(65536)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(
        m.call("store", &[i(100), l(0x1122_3344_5566_7788)]),
        Ok(vec![])
    );
    assert_eq!(m.i32("load32", &[i(100)]), Ok(0x5566_7788));
    assert_eq!(
        m.call("store", &[i(65529), l(1)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    // A trapping store writes nothing.
    assert_eq!(m.i32("load8_u", &[i(65529)]), Ok(0));
    assert_eq!(m.call("store8", &[i(200), i(0x1ff)]), Ok(vec![]));
    assert_eq!(m.i32("load32", &[i(200)]), Ok(0xff));
    assert_eq!(m.call("store16", &[i(300), l(0xabcd_1234)]), Ok(vec![]));
    assert_eq!(m.i32("load32", &[i(300)]), Ok(0x0012_3400));
    assert_eq!(m.call("store32", &[i(400), l(-1)]), Ok(vec![]));
    assert_eq!(m.i64("load64_off", &[i(392)]), Ok(0xffff_ffff));
    assert_eq!(m.call("storef", &[i(500), d(-0.0)]), Ok(vec![]));
    assert_eq!(m.i32("load32", &[i(504)]), Ok(i32::MIN));
    assert_eq!(m.call("loadf", &[i(504)]), Ok(vec![0x8000_0000]));
    // Growing.
    assert_eq!(m.i32("size", &[]), Ok(1));
    assert_eq!(m.i32("grow", &[i(1)]), Ok(1));
    assert_eq!(m.i32("size", &[]), Ok(2));
    assert_eq!(m.i32("load32", &[i(65533)]), Ok(0));
    assert_eq!(
        m.i32("load32", &[i(131069)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.i32("grow", &[i(2)]), Ok(-1));
    // Bulk memory.
    assert_eq!(m.call("fill", &[i(1000), i(0x55), i(4)]), Ok(vec![]));
    assert_eq!(m.i32("load32", &[i(1000)]), Ok(0x5555_5555));
    assert_eq!(
        m.call("fill", &[i(131070), i(0), i(3)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.call("copy", &[i(1002), i(16), i(4)]), Ok(vec![]));
    assert_eq!(m.i32("load32", &[i(1000)]), Ok(0x0201_5555));
    assert_eq!(
        m.call("copy", &[i(0), i(131070), i(4)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.call("init", &[i(2000), i(1), i(4)]), Ok(vec![]));
    assert_eq!(
        m.i32("load32", &[i(2000)]),
        Ok(i32::from_le_bytes(*b"ello"))
    );
    assert_eq!(
        m.call("init", &[i(2000), i(2), i(4)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.call("drop", &[]), Ok(vec![]));
    assert_eq!(
        m.call("init", &[i(2000), i(0), i(1)]),
        Err(TrapCode::MemoryOutOfBounds)
    );
    assert_eq!(m.call("init", &[i(2000), i(0), i(0)]), Ok(vec![]));
}

#[test]
fn memory_with_explicit_checks() {
    memory_tests(compile_options(BoundsChecks::Explicit, false));
}

#[test]
fn memory_with_guard_region() {
    memory_tests(compile_options(
        BoundsChecks::Guard { guard_size: GUARD },
        false,
    ));
}

#[test]
fn guard_mode_has_no_explicit_checks_for_small_offsets() {
    let wat =
        r#"(module (memory 1) (func (param i32) (result i32) (i32.load offset=16 (local.get 0))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let (info, bodies) = ModuleInfo::from_wasm(&wasm).unwrap();
    let guard = Compiler::new(compile_options(
        BoundsChecks::Guard { guard_size: GUARD },
        false,
    ))
    .unwrap();
    let clif = guard.clif(&info, 0, &bodies[0]).unwrap();
    assert!(!clif.contains("trapnz"), "{clif}");
    let compiled = guard.compile_module(&info, &bodies).unwrap();
    assert!(
        compiled
            .traps
            .iter()
            .any(|t| t.code == TrapCode::MemoryOutOfBounds)
    );
    let explicit = Compiler::new(compile_options(BoundsChecks::Explicit, false)).unwrap();
    let clif = explicit.clif(&info, 0, &bodies[0]).unwrap();
    assert!(clif.contains("trapnz"), "{clif}");
}

const TABLES: &str = r#"
(module
  (type $i2i (func (param i32) (result i32)))
  (type $i2i_again (func (param i32) (result i32)))
  (type $v2i (func (result i32)))
  (table $t 4 10 funcref)
  (table $u 2 externref)
  (elem (table $t) (i32.const 0) func $double $seven)
  (elem $passive func $double $triple)
  (elem declare func $triple)
  (func $double (type $i2i) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (type $i2i_again) (i32.mul (local.get 0) (i32.const 3)))
  (func $seven (type $v2i) (i32.const 7))
  (func (export "call") (param i32 i32) (result i32)
    (call_indirect (type $i2i) (local.get 1) (local.get 0)))
  (func (export "call_v") (param i32) (result i32)
    (call_indirect (type $v2i) (local.get 0)))
  (func (export "size") (result i32) (table.size $t))
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.func $triple) (local.get 0)))
  (func (export "set") (param i32) (table.set $t (local.get 0) (ref.func $triple)))
  (func (export "get_is_null") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func (export "fill") (param i32 i32) (table.fill $t (local.get 0) (ref.null func) (local.get 1)))
  (func (export "copy") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
  (func (export "init") (param i32 i32 i32) (table.init $t $passive (local.get 0) (local.get 1) (local.get 2)))
  (func (export "drop") (elem.drop $passive))
  (func (export "ext") (param externref) (result externref)
    (table.set $u (i32.const 1) (local.get 0))
    (table.get $u (i32.const 1)))
  (func (export "null_ext") (result i32) (ref.is_null (ref.null extern)))
)
"#;

#[test]
fn tables_and_call_indirect() {
    let mut m = Module::new(TABLES);
    assert_eq!(m.i32("call", &[i(0), i(21)]), Ok(42));
    assert_eq!(m.i32("call_v", &[i(1)]), Ok(7));
    assert_eq!(
        m.i32("call", &[i(1), i(0)]),
        Err(TrapCode::IndirectCallTypeMismatch)
    );
    assert_eq!(
        m.i32("call_v", &[i(0)]),
        Err(TrapCode::IndirectCallTypeMismatch)
    );
    assert_eq!(
        m.i32("call", &[i(2), i(0)]),
        Err(TrapCode::UninitializedElement)
    );
    assert_eq!(
        m.i32("call", &[i(4), i(0)]),
        Err(TrapCode::TableOutOfBounds)
    );
    assert_eq!(
        m.i32("call", &[i(-1), i(0)]),
        Err(TrapCode::TableOutOfBounds)
    );
    // A structurally equal type is the same signature.
    assert_eq!(m.call("set", &[i(2)]), Ok(vec![]));
    assert_eq!(m.i32("call", &[i(2), i(5)]), Ok(15));
    assert_eq!(m.call("set", &[i(4)]), Err(TrapCode::TableOutOfBounds));
    assert_eq!(m.i32("get_is_null", &[i(3)]), Ok(1));
    assert_eq!(m.i32("get_is_null", &[i(0)]), Ok(0));
    assert_eq!(
        m.i32("get_is_null", &[i(4)]),
        Err(TrapCode::TableOutOfBounds)
    );
    assert_eq!(m.i32("size", &[]), Ok(4));
    assert_eq!(m.i32("grow", &[i(2)]), Ok(4));
    assert_eq!(m.i32("size", &[]), Ok(6));
    assert_eq!(m.i32("call", &[i(5), i(2)]), Ok(6));
    assert_eq!(m.i32("grow", &[i(100_000)]), Ok(-1));
    assert_eq!(m.call("fill", &[i(4), i(2)]), Ok(vec![]));
    assert_eq!(
        m.i32("call", &[i(5), i(2)]),
        Err(TrapCode::UninitializedElement)
    );
    assert_eq!(
        m.call("fill", &[i(5), i(2)]),
        Err(TrapCode::TableOutOfBounds)
    );
    assert_eq!(m.call("copy", &[i(4), i(0), i(2)]), Ok(vec![]));
    assert_eq!(m.i32("call_v", &[i(5)]), Ok(7));
    assert_eq!(
        m.call("copy", &[i(5), i(0), i(2)]),
        Err(TrapCode::TableOutOfBounds)
    );
    assert_eq!(m.call("init", &[i(0), i(1), i(1)]), Ok(vec![]));
    assert_eq!(m.i32("call", &[i(0), i(2)]), Ok(6));
    assert_eq!(
        m.call("init", &[i(0), i(1), i(2)]),
        Err(TrapCode::TableOutOfBounds)
    );
    assert_eq!(m.call("drop", &[]), Ok(vec![]));
    assert_eq!(
        m.call("init", &[i(0), i(0), i(1)]),
        Err(TrapCode::TableOutOfBounds)
    );
    assert_eq!(m.call("ext", &[0x1234]), Ok(vec![0x1234]));
    assert_eq!(m.i32("null_ext", &[]), Ok(1));
}

const GLOBALS_AND_HOST: &str = r#"
(module
  (import "host" "add" (func $add (param i64 i64 i64) (result i64)))
    (import "host" "fail" (func $fail))
  (import "host" "add" (func $add3 (param i64 i64 i64) (result i64 i64 i64)))
  (global $g (mut i32) (i32.const 10))
  (global $h i64 (i64.const -5))
  (global $f (mut f64) (f64.const 1.5))
  (global $r (mut funcref) (ref.null func))
  (elem declare func $add)
  (func (export "bump") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (global.get $g))
  (func (export "h") (result i64) (global.get $h))
  (func (export "f") (param f64) (result f64)
    (global.set $f (f64.add (global.get $f) (local.get 0))) (global.get $f))
  (func (export "add") (param i64) (result i64)
    (call $add (local.get 0) (global.get $h) (i64.const 100)))
    (func (export "fail") (call $fail))
  (func (export "add3") (param i64) (result i64 i64 i64)
    (call $add3 (local.get 0) (i64.const 10) (i64.const 100)))
  (func (export "ref") (result i32)
    (global.set $r (ref.func $add))
    (ref.is_null (global.get $r)))
)
"#;

#[test]
fn globals_and_host_calls() {
    let mut m = Module::new(GLOBALS_AND_HOST);
    assert_eq!(m.i32("bump", &[]), Ok(11));
    assert_eq!(m.i32("bump", &[]), Ok(12));
    // SAFETY: global 0's slot lives in the instance.
    assert_eq!(unsafe { *m.inst.global_ptrs[0] }, 12);
    assert_eq!(m.i64("h", &[]), Ok(-5));
    assert_eq!(m.call("f", &[d(1.0)]), Ok(vec![d(2.5)]));
    assert_eq!(m.i64("add", &[l(1)]), Ok(96));
    assert_eq!(m.inst.rt.host_calls.get(), 1);
    assert_eq!(m.call("fail", &[]), Err(TrapCode::Host));
    assert_eq!(m.call("add3", &[l(1)]), Ok(vec![111, 10, 100]));
    assert_eq!(m.i32("ref", &[]), Ok(0));
}

const FUEL: &str = r#"
(module
  (func (export "count") (param i32) (result i32) (local i32)
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
    (local.get 1))
  (func $straight (export "straight") (result i32) (i32.const 1) (i32.const 2) (i32.add))
  (func (export "calls") (result i32) (call $straight))
)
"#;

#[test]
fn fuel_is_charged_per_block_and_refilled() {
    let options = compile_options(BoundsChecks::Explicit, true);
    let mut m = Module::with(FUEL, options);
    // Straight-line code: `i32.const`, `i32.const`, `i32.add`, `end` = 4 units.
    m.inst.store.fuel = 100;
    assert_eq!(m.i32("straight", &[]), Ok(3));
    assert_eq!(m.inst.store.fuel, 96);
    // A function without a loop or a call has no check: with no fuel it runs to its end,
    // and the fuel goes below zero by its count.
    m.inst.store.fuel = 0;
    assert_eq!(m.i32("straight", &[]), Ok(3));
    assert_eq!(m.inst.store.fuel, -4);
    assert_eq!(m.inst.rt.fuel_calls.get(), 0);
    // One with a call outside every loop checks at entry: out of fuel, no refill, it traps
    // there, having charged nothing.
    m.inst.store.fuel = 0;
    assert_eq!(m.i32("calls", &[]), Err(TrapCode::OutOfFuel));
    assert_eq!(m.inst.rt.fuel_calls.get(), 1);
    assert_eq!(m.inst.store.fuel, 0);
    // The loop body (`local.get`, `i32.const`, `i32.add`, `local.set`, `local.get`,
    // `local.get`, `i32.lt_u`, `br_if`) and the loop's `end` (a new fuel block starts after a
    // loop, as in the interpreter) are charged each iteration: 9 units.
    m.inst.store.fuel = 1_000_000;
    assert_eq!(m.i32("count", &[i(1000)]), Ok(1000));
    let used = 1_000_000 - m.inst.store.fuel;
    assert!((9000..9020).contains(&used), "used {used}");
    // Refilled by the libcall (without suspending), then by suspending the fiber.
    for suspend in [false, true] {
        m.inst.rt.fuel_calls.set(0);
        m.inst.rt.refill = 100;
        m.inst.rt.suspend = suspend;
        m.inst.store.fuel = 50;
        assert_eq!(m.i32("count", &[i(1000)]), Ok(1000));
        let calls = m.inst.rt.fuel_calls.get();
        assert!((85..=95).contains(&calls), "{calls} out_of_fuel calls");
    }
}

#[test]
fn lazily_compiled_function_calls_through_funcrefs() {
    let wasm = wat::parse_str(CONTROL).unwrap();
    let (info, bodies) = ModuleInfo::from_wasm(&wasm).unwrap();
    let compiler = Compiler::new(compile_options(BoundsChecks::Explicit, false)).unwrap();
    let one = compiler.compile_function(&info, 0, &bodies[0]).unwrap();
    assert_eq!(one.funcs.len(), 1);
    assert_eq!(one.func_at(one.funcs[0].offset), Some(0));
    let clif = compiler.clif(&info, 0, &bodies[0]).unwrap();
    assert!(
        clif.contains("call fn"),
        "whole-module compiles call directly: {clif}"
    );
    // Run it: `fib`'s funcref now points at the new code, whose recursive calls go through
    // the funcref, so they run the new code too; the rest of the module is unchanged.
    let mut inst = Instance::new(CONTROL);
    let entry = inst.retarget(0, &one);
    assert_eq!(inst.call_entry(entry, &[i(20)], 1), Ok(vec![6765]));
    let many = inst.export_index("many").unwrap();
    let alone = compiler
        .compile_function(&info, many, &bodies[many as usize])
        .unwrap();
    let entry = inst.retarget(many, &alone);
    assert_eq!(
        inst.call_entry(entry, &[i(3)], 5),
        Ok(vec![3, -2i64 as u64, f(1.5), d(-0.25), 4])
    );
    let deep = inst.export_index("deep").unwrap();
    let alone = compiler
        .compile_function(&info, deep, &bodies[deep as usize])
        .unwrap();
    let entry = inst.retarget(deep, &alone);
    assert_eq!(inst.call_entry(entry, &[i(100)], 1), Ok(vec![100]));
    let inf = inst.export_index("infinite").unwrap();
    let alone = compiler
        .compile_function(&info, inf, &bodies[inf as usize])
        .unwrap();
    let entry = inst.retarget(inf, &alone);
    assert_eq!(inst.call_entry(entry, &[], 0), Err(TrapCode::StackOverflow));
}

#[test]
fn unsupported_features_are_errors() {
    for wat in [
        r#"(module (func (param v128) (result v128) (local.get 0)))"#,
        r#"(module (memory 1) (memory 1))"#,
        r#"(module (memory i64 1))"#,
    ] {
        let wasm = wat::parse_str(wat).unwrap();
        assert!(ModuleInfo::from_wasm(&wasm).is_err(), "{wat}");
    }
    // A tail call is an error at translation.
    let wasm = wat::parse_str(r#"(module (func $f (return_call $f)))"#).unwrap();
    let (info, bodies) = ModuleInfo::from_wasm(&wasm).unwrap();
    let compiler = Compiler::new(CompileOptions::default()).unwrap();
    assert!(compiler.compile_module(&info, &bodies).is_err());
}

#[test]
fn trap_table_and_ranges() {
    let mut m = Module::new(CONTROL);
    assert_eq!(m.i32("fib", &[i(5)]), Ok(5));
    let c = &m.inst.compiled;
    assert!(c.traps.windows(2).all(|w| w[0].offset <= w[1].offset));
    assert!(c.traps.iter().any(|t| t.code == TrapCode::Unreachable));
    assert!(c.traps.iter().any(|t| t.code == TrapCode::StackOverflow));
    for f in &c.funcs {
        assert_eq!(c.func_at(f.offset), Some(f.index));
        assert_eq!(c.func_at(f.offset + f.len - 1), Some(f.index));
    }
}

/// The fuzz corpus's modules built to make translation slow (many branches carrying many
/// values, deep `br_table`s, calls with 1000 arguments and results) compile, or are refused
/// as too costly for the JIT, in bounded time.
#[test]
fn hostile_corpus_compiles_or_is_refused_in_bounded_time() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/compile_run");
    let entries = std::fs::read_dir(dir).expect("the fuzz corpus is in the repository");
    let mut refused = 0;
    let compiler = Compiler::new(CompileOptions {
        verify: false,
        ..CompileOptions::default()
    })
    .unwrap();
    for entry in entries {
        let path = entry.unwrap().path();
        let wasm = std::fs::read(&path).unwrap();
        if wasmparser::Validator::new().validate_all(&wasm).is_err() {
            continue;
        }
        let start = std::time::Instant::now();
        let result = ModuleInfo::from_wasm(&wasm)
            .and_then(|(info, bodies)| compiler.compile_module(&info, &bodies));
        let ms = start.elapsed().as_millis();
        std::println!(
            "{}: {} in {ms} ms",
            path.display(),
            match &result {
                Ok(_) => alloc::string::String::from("compiled"),
                Err(e) => alloc::format!("error {e}"),
            }
        );
        if let Err(e) = &result {
            assert!(
                alloc::format!("{e}").contains("too costly for the JIT"),
                "{}: {e}",
                path.display()
            );
            refused += 1;
        }
        assert!(ms < 60_000, "{} took {ms} ms", path.display());
    }
    // `call_100x1000`: 100 calls moving 2,000 values each.
    assert!(refused >= 1);
}

/// Calls between instances: each callee runs with its own vmctx (memory, globals, table),
/// directly and through a table of the caller, and traps cross the boundary.
#[test]
fn calls_between_instances() {
    let a_wat = r#"
    (module
      (memory 1)
      (global $count (mut i32) (i32.const 0))
      (func (export "bump") (param i32) (result i32)
        (global.set $count (i32.add (global.get $count) (local.get 0)))
        (i32.store (i32.const 0) (global.get $count))
        (global.get $count))
      (func (export "trap") (result i32) (unreachable))
      (func (export "many") (result i32 i32 i32) (i32.const 1) (i32.const 2) (i32.const 3)))
    "#;
    let b_wat = r#"
    (module
      (import "a" "bump" (func $bump (param i32) (result i32)))
      (import "a" "trap" (func $trap (result i32)))
      (import "a" "many" (func $many (result i32 i32 i32)))
      (type $t (func (param i32) (result i32)))
      (memory 1)
      (global $count (mut i32) (i32.const 100))
      (table funcref (elem $bump))
      (func (export "direct") (param i32) (result i32)
        (i32.store (i32.const 0) (i32.const 7))
        (i32.add (call $bump (local.get 0)) (i32.load (i32.const 0))))
      (func (export "indirect") (param i32) (result i32)
        (call_indirect (type $t) (local.get 0) (i32.const 0)))
      (func (export "trap") (result i32) (call $trap))
      (func (export "many") (result i32)
        (call $many) (i32.add) (i32.add))
      (func (export "mine") (result i32) (global.get $count)))
    "#;
    let options = compile_options(BoundsChecks::Explicit, false);
    let a_wasm = wat::parse_str(a_wat).unwrap();
    let mut a = Instance::from_wasm(&a_wasm, options).unwrap();
    let funcref = |a: &Instance, name: &str| {
        let i = a.export_index(name).unwrap() as usize;
        // SAFETY: the funcrefs of `a` live as long as `a`.
        unsafe { &*a._func_ptrs[i] }
    };
    let imports = [
        Some(funcref(&a, "bump")),
        Some(funcref(&a, "trap")),
        Some(funcref(&a, "many")),
    ];
    let b_wasm = wat::parse_str(b_wat).unwrap();
    let mut b = Instance::linked(&b_wasm, options, &imports).unwrap();
    let call = |inst: &mut Instance, name: &str, args: &[u64]| {
        let i = inst.export_index(name).unwrap();
        inst.call(i, args)
    };
    // `bump` updates a's global and memory, not b's; b's store of 7 is b's memory.
    assert_eq!(call(&mut b, "direct", &[i(5)]), Ok(vec![12]));
    assert_eq!(call(&mut b, "indirect", &[i(3)]), Ok(vec![8]));
    assert_eq!(call(&mut b, "mine", &[]), Ok(vec![100]));
    assert_eq!(call(&mut a, "bump", &[i(0)]), Ok(vec![8]));
    assert_eq!(call(&mut b, "trap", &[]), Err(TrapCode::Unreachable));
    assert_eq!(call(&mut b, "many", &[]), Ok(vec![6]));
    assert_eq!(call(&mut b, "direct", &[i(1)]), Ok(vec![16]));
}

/// Generated extremes compile or fail with an error, never a panic: deep nesting, many
/// locals live across a loop, a wide `br_table`, many results.
#[test]
fn extremes_compile() {
    use alloc::string::String;
    use core::fmt::Write;
    let mut nested = String::from("(module (func (param i32) (result i32) (local.get 0)");
    for _ in 0..5000 {
        nested.push_str(" (block (param i32) (result i32)");
    }
    nested.push_str(" (br_if 0 (local.get 0)) (i32.const 1) (i32.add)");
    for _ in 0..5000 {
        nested.push(')');
    }
    nested.push_str("))");
    let mut locals = String::from("(module (func (param i32) (result i64) (local");
    for _ in 0..2000 {
        locals.push_str(" i64");
    }
    locals.push_str(") (loop $l");
    for l in 1..2000 {
        let _ = write!(
            locals,
            " (local.set {l} (i64.add (local.get {l}) (i64.const {l})))"
        );
    }
    locals.push_str(
        " (br_if $l (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))) (local.get 1999)))",
    );
    let mut table = String::from("(module (func (param i32) (result i32) (block $d");
    for _ in 0..1000 {
        table.push_str(" (block");
    }
    table.push_str(" (br_table");
    for d in 0..=1000 {
        let _ = write!(table, " {d}");
    }
    table.push_str(" (local.get 0))");
    for i in 0..1000 {
        let _ = write!(table, ") (return (i32.const {i}))");
    }
    table.push_str(") (i32.const -1)))");
    let compiler = Compiler::new(CompileOptions {
        verify: false,
        ..CompileOptions::default()
    })
    .unwrap();
    for (name, wat) in [
        ("nested", &nested),
        ("locals", &locals),
        ("br_table", &table),
    ] {
        let wasm = wat::parse_str(wat).unwrap();
        wasmparser::Validator::new().validate_all(&wasm).unwrap();
        let start = std::time::Instant::now();
        let (info, bodies) = ModuleInfo::from_wasm(&wasm).unwrap();
        let r = compiler.compile_module(&info, &bodies);
        assert!(r.is_ok(), "{name}: {:?}", r.as_ref().err());
        std::println!(
            "{name}: {:?} in {} ms",
            r.as_ref().map(|c| c.code.len()),
            start.elapsed().as_millis()
        );
    }
}
