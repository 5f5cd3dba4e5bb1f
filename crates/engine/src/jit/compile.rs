//! The compiler: validated module bodies in, one laid-out code blob out.
//!
//! # Calling convention
//! - Wasm functions use Cranelift's `tail` convention with
//!   `(callee_ctx: i64, caller_vmctx: i64, params...) -> results`. For a Wasm callee both
//!   contexts are `VMContext`s; for a host callee `callee_ctx` is the runtime's host context
//!   (`VMFuncRef::vmctx`), and the caller's vmctx lets the host see its caller.
//! - Entry from Rust goes through a per-function array trampoline, an [`ArrayCallFn`]
//!   (`extern "C" fn(vmctx, values)`): params in `values[..n]`, results written back to
//!   `values[..m]`, each an 8-byte slot (i32 and f32 bits zero-extended, references as their
//!   64-bit value). The caller provides `max(n, m)` slots.
//! - Calls to host functions: the runtime points a host function's `VMFuncRef::wasm_call` at
//!   the module's wasm-to-host trampoline of its type ([`CompiledModule::host_trampolines`]),
//!   which spills the args to a slot buffer on its stack and calls the entry of the host
//!   function's `VMHostFunc` record (its `vmctx`, `runtime::vm`).
//!
//! # Calls between a module's own functions
//! With [`CompileOptions::direct_calls`] (whole-module compiles) they are direct `call`s,
//! patched when the blob is laid out: no load, and the target is known to the branch
//! predictor and to Cranelift's ABI code. A function compiled on its own later (lazy tier-up)
//! calls every function through its `VMFuncRef` instead (two loads and an indirect call), so
//! the runtime can point a funcref at new code without patching the callers.
//!
//! [`ArrayCallFn`]: super::vmctx::ArrayCallFn
extern crate std;

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::mem::offset_of;
use core::sync::atomic::{AtomicUsize, Ordering};

use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::types::{F32, I32, I64};
use cranelift_codegen::ir::{
    self, AbiParam, ExtFuncData, ExternalName, InstBuilder, LibCall, MemFlagsData, Signature,
    StackSlotData, StackSlotKind, UserExternalName, UserFuncName,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use wasmparser::{FunctionBody, Operator};
#[cfg(test)]
use wasmparser::{Parser, Payload, TypeRef};

use super::libcalls::{Libcall, host_entry_signature};
use super::translate::{
    FUEL_STUB_NAMESPACE, FUNC_NAMESPACE, clif_type, fuel_stub_signature, translate_function,
    uses_ret_area, wasm_call, wasm_return, wasm_signature,
};
use super::vmctx::offsets::{STORE_FUEL, VMCTX_LIBCALLS, VMCTX_STORE};
use crate::runtime::vm::VMHostFunc;
use crate::{Error, FuncType, TrapCode, ValType};

type Result<T> = core::result::Result<T, Error>;

/// The values the calls of a module may pass and return in all (each call site's parameters
/// plus results, summed over every function), beyond a quarter of a value per byte of code.
/// Cranelift spends about 10 µs per such value (an argument beyond the registers is a stack
/// store, each result a load from the return area, all of them live ranges for the register
/// allocator): a 24 KiB function making 10,000 calls of a function of 1,000 parameters and
/// results took 454 s and 20 GiB to compile, while real code moves a few values per call,
/// far less than one per byte. A module over the budget is refused before any function is
/// built, so compile time stays within a few seconds plus time linear in the input
/// (`Strategy::Auto` then keeps it on the interpreter, whose translation has a budget of
/// its own).
const CALL_VALUE_ALLOWANCE: u64 = 1 << 17;

/// Refuses `bodies` (all of a module's, or one) if their calls move more values than
/// [`CALL_VALUE_ALLOWANCE`] plus a quarter of their size allows. A pass over the operators only,
/// a small fraction of the compile's time.
fn check_call_values(module: &ModuleInfo, bodies: &[FunctionBody<'_>]) -> Result<()> {
    let size: usize = bodies.iter().map(|b| b.as_bytes().len()).sum();
    let budget = CALL_VALUE_ALLOWANCE + size as u64 / 4;
    let mut used = 0u64;
    for body in bodies {
        let err = |e: wasmparser::BinaryReaderError| Error::compile(format!("{e}"), e.offset());
        let mut reader = body.get_operators_reader().map_err(err)?;
        while !reader.eof() {
            let offset = reader.original_position();
            let ty = match reader.read().map_err(err)? {
                Operator::Call { function_index } | Operator::ReturnCall { function_index } => {
                    module.func_type(function_index).ok()
                }
                Operator::CallIndirect { type_index, .. }
                | Operator::ReturnCallIndirect { type_index, .. } => {
                    module.type_at(type_index).ok()
                }
                _ => None,
            };
            used += ty.map_or(0, |t| (t.params().len() + t.results().len()) as u64);
            if used > budget {
                return Err(Error::compile(
                    format!(
                        "module too costly for the JIT: its calls pass and return more than \
                         {budget} values in all (2^17 plus a quarter of a value per byte of code)"
                    ),
                    offset,
                ));
            }
        }
    }
    Ok(())
}

/// How memory accesses are kept inside the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundsChecks {
    /// Every access compares its end against the memory's current length.
    Explicit,
    /// Memory 0 has a 4 GiB reservation followed by `guard_size` inaccessible bytes (VM1), so
    /// an access whose static offset plus size is at most `guard_size` needs no check: it
    /// faults, and the fault handler turns the fault into `MemoryOutOfBounds` through the
    /// trap table. Larger offsets are checked explicitly.
    Guard {
        /// Bytes of guard region after the 4 GiB reservation.
        guard_size: u64,
    },
}

/// What the generated code does besides the Wasm semantics.
#[derive(Debug, Clone, Copy)]
pub struct CompileOptions {
    /// See [`BoundsChecks`].
    pub bounds_checks: BoundsChecks,
    /// Count fuel (see [`super::vmctx::VMStoreContext::fuel`]).
    pub fuel: bool,
    /// Call the module's own functions directly (see the module docs).
    pub direct_calls: bool,
    /// Run Cranelift's IR verifier on every function (slow; for tests).
    pub verify: bool,
    /// Threads a module compile uses; 0 for the machine's available parallelism.
    pub threads: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            bounds_checks: BoundsChecks::Explicit,
            fuel: false,
            direct_calls: true,
            verify: cfg!(debug_assertions),
            threads: 0,
        }
    }
}

/// A global as the code generator needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct GlobalInfo {
    /// Its value type.
    pub ty: ValType,
    /// Whether `global.set` may change it.
    pub mutable: bool,
}

/// What the code generator needs to know about the module around its functions.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// The type section.
    pub types: Vec<FuncType>,
    /// The type index of every function, imported ones first.
    pub funcs: Vec<u32>,
    /// How many of `funcs` are imported.
    pub num_imported_funcs: u32,
    /// Every global, imported ones first.
    pub globals: Vec<GlobalInfo>,
    /// The element type of every table, imported ones first.
    pub tables: Vec<ValType>,
}

impl ModuleInfo {
    /// Reads what the code generator needs from a module binary that has been validated, and
    /// the bodies of its defined functions. Only the test runtime uses this: the engine
    /// builds the description from its own `ModuleInfo` (`tier`), parsing once.
    ///
    /// # Errors
    /// The binary is malformed or uses a type the tier does not support.
    #[cfg(test)]
    pub fn from_wasm(wasm: &[u8]) -> Result<(ModuleInfo, Vec<FunctionBody<'_>>)> {
        let err =
            |e: wasmparser::BinaryReaderError| Error::compile(e.message().to_string(), e.offset());
        let mut info = ModuleInfo::default();
        let mut bodies = Vec::new();
        let mut memories = Vec::new();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(err)? {
                Payload::TypeSection(r) => {
                    for ty in r.into_iter_err_on_gc_types() {
                        let ty = ty.map_err(err)?;
                        info.types.push(func_type(&ty)?);
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        match imp.map_err(err)?.ty {
                            TypeRef::Func(t) => {
                                info.funcs.push(t);
                                info.num_imported_funcs += 1;
                            }
                            TypeRef::Global(g) => info.globals.push(GlobalInfo {
                                ty: val_type(g.content_type)?,
                                mutable: g.mutable,
                            }),
                            TypeRef::Table(t) => info.tables.push(ref_type(t.element_type)?),
                            TypeRef::Memory(m) => memories.push(m),
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        info.funcs.push(t.map_err(err)?);
                    }
                }
                Payload::TableSection(r) => {
                    for t in r {
                        info.tables.push(ref_type(t.map_err(err)?.ty.element_type)?);
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        let g = g.map_err(err)?.ty;
                        info.globals.push(GlobalInfo {
                            ty: val_type(g.content_type)?,
                            mutable: g.mutable,
                        });
                    }
                }
                Payload::MemorySection(r) => {
                    for m in r {
                        memories.push(m.map_err(err)?);
                    }
                }
                Payload::CodeSectionEntry(body) => bodies.push(body),
                _ => {}
            }
        }
        // Generated code knows one 32-bit memory (VM1).
        if memories.len() > 1 {
            return Err(Error::compile(
                "the JIT does not support several memories",
                0,
            ));
        }
        if memories.iter().any(|m| m.memory64 || m.shared) {
            return Err(Error::compile(
                "the JIT does not support 64-bit or shared memories",
                0,
            ));
        }
        Ok((info, bodies))
    }

    pub(crate) fn type_at(&self, index: u32) -> Result<&FuncType> {
        self.types
            .get(index as usize)
            .ok_or_else(|| Error::compile("type index out of range", 0))
    }

    pub(crate) fn func_type(&self, func: u32) -> Result<&FuncType> {
        let t = self
            .funcs
            .get(func as usize)
            .ok_or_else(|| Error::compile("function index out of range", 0))?;
        self.type_at(*t)
    }

    pub(crate) fn global(&self, index: u32) -> Result<GlobalInfo> {
        self.globals
            .get(index as usize)
            .copied()
            .ok_or_else(|| Error::compile("global index out of range", 0))
    }
}

fn val_type(t: wasmparser::ValType) -> Result<ValType> {
    use wasmparser::ValType as W;
    Ok(match t {
        W::I32 => ValType::I32,
        W::I64 => ValType::I64,
        W::F32 => ValType::F32,
        W::F64 => ValType::F64,
        W::Ref(r) => ref_type(r)?,
        W::V128 => return Err(Error::compile("the JIT does not support SIMD (v128)", 0)),
    })
}

fn ref_type(r: wasmparser::RefType) -> Result<ValType> {
    if r == wasmparser::RefType::FUNCREF {
        Ok(ValType::FuncRef)
    } else if r == wasmparser::RefType::EXTERNREF {
        Ok(ValType::ExternRef)
    } else {
        Err(Error::compile(
            format!("the JIT does not support reference type {r}"),
            0,
        ))
    }
}

fn func_type(ty: &wasmparser::FuncType) -> Result<FuncType> {
    let params = ty
        .params()
        .iter()
        .map(|&t| val_type(t))
        .collect::<Result<Vec<_>>>()?;
    let results = ty
        .results()
        .iter()
        .map(|&t| val_type(t))
        .collect::<Result<Vec<_>>>()?;
    Ok(FuncType::new(params, results))
}

const USER_TRAPS: [TrapCode; 7] = [
    TrapCode::Unreachable,
    TrapCode::TableOutOfBounds,
    TrapCode::IndirectCallTypeMismatch,
    TrapCode::UninitializedElement,
    TrapCode::NullReference,
    TrapCode::OutOfFuel,
    TrapCode::Host,
];

/// The Cranelift trap code generated code uses for a Wasm trap.
pub(crate) fn clif_trap(code: TrapCode) -> ir::TrapCode {
    match code {
        TrapCode::MemoryOutOfBounds => ir::TrapCode::HEAP_OUT_OF_BOUNDS,
        TrapCode::IntegerOverflow => ir::TrapCode::INTEGER_OVERFLOW,
        TrapCode::IntegerDivisionByZero => ir::TrapCode::INTEGER_DIVISION_BY_ZERO,
        TrapCode::BadConversionToInteger => ir::TrapCode::BAD_CONVERSION_TO_INTEGER,
        TrapCode::StackOverflow => ir::TrapCode::STACK_OVERFLOW,
        other => {
            let i = USER_TRAPS.iter().position(|&c| c == other).unwrap_or(0);
            ir::TrapCode::unwrap_user(i as u8 + 1)
        }
    }
}

/// The Wasm trap a Cranelift trap code in generated code stands for.
pub fn wasm_trap(code: ir::TrapCode) -> Option<TrapCode> {
    Some(match code {
        ir::TrapCode::HEAP_OUT_OF_BOUNDS => TrapCode::MemoryOutOfBounds,
        ir::TrapCode::INTEGER_OVERFLOW => TrapCode::IntegerOverflow,
        ir::TrapCode::INTEGER_DIVISION_BY_ZERO => TrapCode::IntegerDivisionByZero,
        ir::TrapCode::BAD_CONVERSION_TO_INTEGER => TrapCode::BadConversionToInteger,
        ir::TrapCode::STACK_OVERFLOW => TrapCode::StackOverflow,
        _ => {
            let user =
                (1..=USER_TRAPS.len() as u8).find(|&i| ir::TrapCode::user(i) == Some(code))?;
            USER_TRAPS[user as usize - 1]
        }
    })
}

/// A trap site: the instruction at `offset` in the blob traps with `code` when it faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    /// Offset from the start of [`CompiledModule::code`].
    pub offset: u32,
    /// The Wasm trap.
    pub code: TrapCode,
}

/// Where one compiled function sits in the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncCode {
    /// The function index in the module (imported functions counted).
    pub index: u32,
    /// Offset of its Wasm-convention code.
    pub offset: u32,
    /// Length of that code in bytes.
    pub len: u32,
    /// Offset of its array trampoline (an `ArrayCallFn`).
    pub array_call: u32,
}

/// The output of a compile: machine code with every relocation applied (it runs wherever it
/// is mapped), and what the runtime needs to call it and to explain its traps.
#[derive(Debug, Clone, Default)]
pub struct CompiledModule {
    /// The code blob.
    pub code: Vec<u8>,
    /// The compiled functions, in index order.
    pub funcs: Vec<FuncCode>,
    /// The wasm-to-host trampoline of every module type, by type index (empty for a
    /// single-function compile).
    pub host_trampolines: Vec<u32>,
    /// Trap sites, sorted by offset.
    pub traps: Vec<TrapSite>,
    /// Code ranges `(start, end, function index)` for backtraces, sorted; trampolines have
    /// no entry.
    pub ranges: Vec<(u32, u32, u32)>,
    /// The places where `code` holds the absolute address of a Rust function of this
    /// process (Cranelift's float-rounding libcalls): everything else in the blob is
    /// position independent, so a blob written to a code cache is valid in another process
    /// once [`relocate_libcalls`] has written these again.
    pub lib_relocs: Vec<LibReloc>,
}

/// An absolute 8-byte address of a libcall in the blob: `code[offset..offset + 8]` holds
/// the address of libcall `lib` (an index into the table of [`relocate_libcalls`]) plus
/// `addend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LibReloc {
    /// Offset of the 8 bytes in [`CompiledModule::code`].
    pub offset: u32,
    /// Which libcall, as an index into [`LIBCALLS`].
    pub lib: u8,
    /// Added to the address.
    pub addend: i64,
}

impl CompiledModule {
    /// The function index whose code contains `offset`, for backtraces.
    pub fn func_at(&self, offset: u32) -> Option<u32> {
        let i = self.ranges.partition_point(|r| r.1 <= offset);
        self.ranges.get(i).filter(|r| r.0 <= offset).map(|r| r.2)
    }
}

/// What a compiled unit is, for laying out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Func(u32),
    ArrayCall(u32),
    HostTrampoline(u32),
    /// See [`fuel_stub_signature`].
    FuelStub,
}

struct Unit {
    kind: UnitKind,
    code: Vec<u8>,
    relocs: Vec<(u32, Reloc, Target, i64)>,
    traps: Vec<(u32, TrapCode)>,
}

#[derive(Debug, Clone, Copy)]
enum Target {
    Func(u32),
    FuelStub,
    Lib(LibCall),
}

/// A Cranelift compiler for the host.
pub struct Compiler {
    isa: OwnedTargetIsa,
    options: CompileOptions,
}

impl Compiler {
    /// A compiler for the host machine.
    ///
    /// # Errors
    /// Cranelift does not support the host.
    pub fn new(options: CompileOptions) -> Result<Self> {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v)
                .map_err(|e| Error::compile(format!("cranelift setting {k}: {e}"), 0))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(
            &mut flags,
            "enable_verifier",
            if options.verify { "true" } else { "false" },
        )?;
        set(&mut flags, "preserve_frame_pointers", "true")?;
        set(&mut flags, "enable_probestack", "true")?;
        set(&mut flags, "probestack_strategy", "inline")?;
        set(&mut flags, "unwind_info", "false")?;
        set(&mut flags, "is_pic", "false")?;
        // With fuel on, the count lives in the pinned register (see `translate`, "Fuel").
        set(
            &mut flags,
            "enable_pinned_reg",
            if options.fuel { "true" } else { "false" },
        )?;
        let builder = cranelift_native::builder()
            .map_err(|e| Error::compile(format!("no Cranelift backend for this host: {e}"), 0))?;
        let isa = builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| Error::compile(format!("cranelift: {e}"), 0))?;
        Ok(Compiler { isa, options })
    }

    /// The options this compiler was made with.
    pub fn options(&self) -> &CompileOptions {
        &self.options
    }

    /// Everything besides the Wasm bytes that decides what code this compiler generates:
    /// the target triple, Cranelift's shared and ISA flags (the host CPU's features among
    /// them) and the options that change code. A code cache keys its entries by it.
    pub fn fingerprint(&self) -> alloc::string::String {
        let o = &self.options;
        let mut isa_flags = alloc::string::String::new();
        for v in self.isa.isa_flags() {
            isa_flags.push_str(&format!("{v},"));
        }
        format!(
            "{} | {} | {isa_flags} | bounds {:?} fuel {} direct {}",
            self.isa.triple(),
            self.isa.flags(),
            o.bounds_checks,
            o.fuel,
            o.direct_calls,
        )
    }

    /// Compiles every defined function of a module, with array trampolines and a
    /// wasm-to-host trampoline per type, into one blob. `bodies` are the defined functions'
    /// bodies in order.
    ///
    /// # Errors
    /// A function uses something the tier does not support, or Cranelift refuses it (too
    /// large, for example).
    pub fn compile_module(
        &self,
        module: &ModuleInfo,
        bodies: &[FunctionBody<'_>],
    ) -> Result<CompiledModule> {
        check_call_values(module, bodies)?;
        let n = module.num_imported_funcs;
        let jobs: Vec<UnitKind> = (0..bodies.len() as u32)
            .map(|i| UnitKind::Func(n + i))
            .chain((0..bodies.len() as u32).map(|i| UnitKind::ArrayCall(n + i)))
            .chain((0..module.types.len() as u32).map(UnitKind::HostTrampoline))
            .chain(self.options.fuel.then_some(UnitKind::FuelStub))
            .collect();
        let threads = match self.options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            t => t,
        }
        .clamp(1, jobs.len().max(1));
        // Functions are independent: each thread takes the next job until none is left, and
        // the units are laid out in job order, so the blob does not depend on the schedule.
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<(usize, Unit)>> {
            let mut ctx = Context::new();
            let mut fctx = FunctionBuilderContext::new();
            let mut done = Vec::new();
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some(&kind) = jobs.get(j) else {
                    return Ok(done);
                };
                let func = match kind {
                    UnitKind::Func(index) => translate_function(
                        module,
                        &self.options,
                        self.host_cc(),
                        index,
                        &bodies[(index - n) as usize],
                        &mut fctx,
                        self.isa.frontend_config(),
                    ),
                    UnitKind::ArrayCall(index) => self.array_trampoline(module, index, &mut fctx),
                    UnitKind::HostTrampoline(t) => self.host_trampoline(module, t, &mut fctx),
                    UnitKind::FuelStub => self.fuel_stub(&mut fctx),
                };
                let unit = func.and_then(|f| self.compile_unit(&mut ctx, f, kind));
                match unit {
                    Ok(u) => done.push((j, u)),
                    Err(e) => {
                        // Stop the other threads early.
                        next.store(jobs.len(), Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        };
        let mut units: Vec<(usize, Unit)> = if threads == 1 {
            work()?
        } else {
            let results: Vec<Result<Vec<(usize, Unit)>>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::compile("a compiler thread panicked", 0))
                        })
                    })
                    .collect()
            });
            let mut all = Vec::with_capacity(jobs.len());
            for r in results {
                all.extend(r?);
            }
            all
        };
        units.sort_by_key(|(j, _)| *j);
        link(
            units.into_iter().map(|(_, u)| u).collect(),
            self.func_align(),
        )
    }

    /// Compiles one defined function on its own (for compiling hot functions after
    /// instantiation): it calls every function through its `VMFuncRef`, so nothing in the
    /// blob refers to other code.
    ///
    /// # Errors
    /// As for [`Compiler::compile_module`].
    pub fn compile_function(
        &self,
        module: &ModuleInfo,
        index: u32,
        body: &FunctionBody<'_>,
    ) -> Result<CompiledModule> {
        check_call_values(module, core::slice::from_ref(body))?;
        let options = CompileOptions {
            direct_calls: false,
            ..self.options
        };
        let mut ctx = Context::new();
        let mut fctx = FunctionBuilderContext::new();
        let func = translate_function(
            module,
            &options,
            self.host_cc(),
            index,
            body,
            &mut fctx,
            self.isa.frontend_config(),
        )?;
        let f = self.compile_unit(&mut ctx, func, UnitKind::Func(index))?;
        let func = self.array_trampoline(module, index, &mut fctx)?;
        let a = self.compile_unit(&mut ctx, func, UnitKind::ArrayCall(index))?;
        let mut units = alloc::vec![f, a];
        if self.options.fuel {
            let func = self.fuel_stub(&mut fctx)?;
            units.push(self.compile_unit(&mut ctx, func, UnitKind::FuelStub)?);
        }
        link(units, self.func_align())
    }

    /// Compiles the wasm-to-host trampoline of one function type on its own: the
    /// `host_trampolines[0]` of the result.
    ///
    /// # Errors
    /// Cranelift refuses it.
    pub fn compile_host_trampoline(&self, ty: &FuncType) -> Result<CompiledModule> {
        let module = ModuleInfo {
            types: alloc::vec![ty.clone()],
            ..ModuleInfo::default()
        };
        let mut ctx = Context::new();
        let mut fctx = FunctionBuilderContext::new();
        let func = self.host_trampoline(&module, 0, &mut fctx)?;
        let unit = self.compile_unit(&mut ctx, func, UnitKind::HostTrampoline(0))?;
        link(alloc::vec![unit], self.func_align())
    }

    /// Translates a function into CLIF text, for tests and debugging.
    ///
    /// # Errors
    /// As for [`Compiler::compile_module`].
    pub fn clif(
        &self,
        module: &ModuleInfo,
        index: u32,
        body: &FunctionBody<'_>,
    ) -> Result<alloc::string::String> {
        let mut fctx = FunctionBuilderContext::new();
        let func = translate_function(
            module,
            &self.options,
            self.host_cc(),
            index,
            body,
            &mut fctx,
            self.isa.frontend_config(),
        )?;
        Ok(func.display().to_string())
    }

    /// Where Wasm functions start in a module's code (see [`link`]): the ISA's preferred
    /// function alignment, at least 16 bytes.
    fn func_align(&self) -> usize {
        (self.isa.function_alignment().preferred as usize).max(16)
    }

    fn host_cc(&self) -> CallConv {
        self.isa.default_call_conv()
    }

    fn compile_unit(&self, ctx: &mut Context, func: ir::Function, kind: UnitKind) -> Result<Unit> {
        ctx.clear();
        let names = func.params.user_named_funcs().clone();
        ctx.func = func;
        let mut plane = ControlPlane::default();
        let compiled = ctx.compile(&*self.isa, &mut plane).map_err(|e| {
            Error::compile(
                format!("cranelift could not compile {kind:?}: {:?}", e.inner),
                0,
            )
        })?;
        let code = compiled.code_buffer().to_vec();
        let mut traps = Vec::new();
        for t in compiled.buffer.traps() {
            let code = wasm_trap(t.code)
                .ok_or_else(|| Error::compile(format!("unknown trap code {:?}", t.code), 0))?;
            traps.push((t.offset, code));
        }
        let mut relocs = Vec::new();
        for r in compiled.buffer.relocs() {
            let target = match &r.target {
                FinalizedRelocTarget::ExternalName(ExternalName::User(name)) => {
                    let name = &names[*name];
                    match name.namespace {
                        FUNC_NAMESPACE => Target::Func(name.index),
                        FUEL_STUB_NAMESPACE => Target::FuelStub,
                        _ => return Err(Error::compile("relocation to an unknown name", 0)),
                    }
                }
                FinalizedRelocTarget::ExternalName(ExternalName::LibCall(l)) => Target::Lib(*l),
                other => {
                    return Err(Error::compile(
                        format!("unsupported relocation target {other:?}"),
                        0,
                    ));
                }
            };
            relocs.push((r.offset, r.kind, target, r.addend));
        }
        Ok(Unit {
            kind,
            code,
            relocs,
            traps,
        })
    }

    /// `extern "C" fn(vmctx, values)`: loads the params from `values`, calls function
    /// `index` directly, stores the results back.
    fn array_trampoline(
        &self,
        module: &ModuleInfo,
        index: u32,
        fctx: &mut FunctionBuilderContext,
    ) -> Result<ir::Function> {
        let ty = module.func_type(index)?;
        let mut sig = Signature::new(self.host_cc());
        sig.params.push(AbiParam::new(I64));
        sig.params.push(AbiParam::new(I64));
        let mut func = ir::Function::with_name_signature(UserFuncName::user(1, index), sig);
        let mut b = FunctionBuilder::new(&mut func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let (vmctx, values) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let flags = MemFlagsData::trusted();
        let mut args = Vec::with_capacity(ty.params().len());
        for (i, &p) in ty.params().iter().enumerate() {
            args.push(b.ins().load(clif_type(p), flags, values, (i * 8) as i32));
        }
        let signature = b.import_signature(wasm_signature(ty));
        let name = b
            .func
            .declare_imported_user_function(UserExternalName::new(FUNC_NAMESPACE, index));
        let callee = b.import_function(ExtFuncData {
            name: ExternalName::user(name),
            signature,
            colocated: true,
            patchable: false,
        });
        // Fuel: the host's value of the pinned register is kept across the call, which runs
        // with the store's fuel in it; the fuel left goes back to the store.
        let fuel = self.options.fuel.then(|| {
            let saved = b.ins().get_pinned_reg(I64);
            let store = b.ins().load(I64, flags.with_readonly(), vmctx, VMCTX_STORE);
            let fuel = b.ins().load(I64, flags, store, STORE_FUEL);
            b.ins().set_pinned_reg(fuel);
            (saved, store)
        });
        let results = wasm_call(&mut b, ty, vmctx, vmctx, &args, |b, all| {
            b.ins().call(callee, all)
        });
        if let Some((saved, store)) = fuel {
            let left = b.ins().get_pinned_reg(I64);
            b.ins().store(flags, left, store, STORE_FUEL);
            b.ins().set_pinned_reg(saved);
        }
        for (i, r) in results.into_iter().enumerate() {
            let wide = widen(&mut b, r);
            b.ins().store(flags, wide, values, (i * 8) as i32);
        }
        b.ins().return_(&[]);
        b.finalize(self.isa.frontend_config());
        Ok(func)
    }

    /// A Wasm-convention function of type `type_index` that calls a host function: its
    /// callee context is the function's `VMHostFunc` record, whose entry it calls with the
    /// args in a slot buffer.
    fn host_trampoline(
        &self,
        module: &ModuleInfo,
        type_index: u32,
        fctx: &mut FunctionBuilderContext,
    ) -> Result<ir::Function> {
        let ty = module.type_at(type_index)?;
        let mut func = ir::Function::with_name_signature(
            UserFuncName::user(2, type_index),
            wasm_signature(ty),
        );
        let mut b = FunctionBuilder::new(&mut func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let params = b.block_params(entry).to_vec();
        let (callee, vmctx) = (params[0], params[1]);
        let ret_area = if uses_ret_area(ty) {
            Some(params[2])
        } else {
            None
        };
        let wasm_params = &params[2 + usize::from(ret_area.is_some())..];
        let slots = ty.params().len().max(ty.results().len()).max(1);
        let slot = b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (slots * 8) as u32,
            3,
        ));
        let buf = b.ins().stack_addr(I64, slot, 0);
        let flags = MemFlagsData::trusted();
        for (i, &v) in wasm_params.iter().enumerate() {
            let wide = widen(&mut b, v);
            b.ins().store(flags, wide, buf, (i * 8) as i32);
        }
        let f = b.ins().load(
            I64,
            MemFlagsData::trusted().with_readonly(),
            callee,
            offset_of!(VMHostFunc, entry) as i32,
        );
        let sig = b.import_signature(host_entry_signature(self.host_cc()));
        let len = b.ins().iconst(I32, slots as i64);
        // Fuel: the host sees (and may change) the caller's count in the store.
        let store = self.options.fuel.then(|| {
            let store = b.ins().load(I64, flags.with_readonly(), vmctx, VMCTX_STORE);
            let fuel = b.ins().get_pinned_reg(I64);
            b.ins().store(flags, fuel, store, STORE_FUEL);
            store
        });
        let call = b.ins().call_indirect(sig, f, &[callee, vmctx, buf, len]);
        let status = b.inst_results(call)[0];
        if let Some(store) = store {
            let fuel = b.ins().load(I64, flags, store, STORE_FUEL);
            b.ins().set_pinned_reg(fuel);
        }
        b.ins().trapnz(status, clif_trap(TrapCode::Host));
        let mut results = Vec::with_capacity(ty.results().len());
        for (i, &r) in ty.results().iter().enumerate() {
            results.push(b.ins().load(clif_type(r), flags, buf, (i * 8) as i32));
        }
        wasm_return(&mut b, ret_area, &results);
        b.finalize(self.isa.frontend_config());
        Ok(func)
    }
}

impl Compiler {
    /// The fuel stub ([`fuel_stub_signature`]): writes the pinned fuel register to the
    /// store, calls `out_of_fuel` (which may suspend the fiber), reloads the register and
    /// traps `OutOfFuel` if the libcall says so. Its `preserve_all` convention saves every
    /// register the libcall may clobber (and allows no results, hence the trap in here).
    fn fuel_stub(&self, fctx: &mut FunctionBuilderContext) -> Result<ir::Function> {
        let mut func =
            ir::Function::with_name_signature(UserFuncName::user(3, 0), fuel_stub_signature());
        let mut b = FunctionBuilder::new(&mut func, fctx);
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        b.seal_block(entry);
        let vmctx = b.block_params(entry)[0];
        let flags = MemFlagsData::trusted();
        let store = b.ins().load(I64, flags.with_readonly(), vmctx, VMCTX_STORE);
        let fuel = b.ins().get_pinned_reg(I64);
        b.ins().store(flags, fuel, store, STORE_FUEL);
        let table = b
            .ins()
            .load(I64, flags.with_readonly(), vmctx, VMCTX_LIBCALLS);
        let f = b.ins().load(
            I64,
            flags.with_readonly(),
            table,
            Libcall::OutOfFuel.offset(),
        );
        let sig = b.import_signature(Libcall::OutOfFuel.signature(self.host_cc()));
        let call = b.ins().call_indirect(sig, f, &[vmctx]);
        let status = b.inst_results(call)[0];
        let fuel = b.ins().load(I64, flags, store, STORE_FUEL);
        b.ins().set_pinned_reg(fuel);
        b.ins().trapnz(status, clif_trap(Libcall::OutOfFuel.trap()));
        b.ins().return_(&[]);
        b.finalize(self.isa.frontend_config());
        Ok(func)
    }
}

/// A value as an 8-byte slot holds it: i32 and f32 bits zero-extended.
fn widen(b: &mut FunctionBuilder<'_>, v: ir::Value) -> ir::Value {
    match b.func.dfg.value_type(v) {
        I32 => b.ins().uextend(I64, v),
        F32 => {
            let bits = b.ins().bitcast(I32, MemFlagsData::new(), v);
            b.ins().uextend(I64, bits)
        }
        _ => v,
    }
}

/// Lays the units out one after another and applies their relocations: Wasm functions at
/// `func_align` (the ISA's preferred function alignment: 32 bytes on x86_64, which keeps a
/// function's hot loops off fetch-block boundaries, as wasmtime does), the trampolines and
/// stubs at 16 bytes (the alignment their constants need).
fn link(units: Vec<Unit>, func_align: usize) -> Result<CompiledModule> {
    let mut out = CompiledModule::default();
    let mut starts = Vec::with_capacity(units.len());
    let mut func_offsets: Vec<(u32, u32, u32)> = Vec::new();
    let mut fuel_stub = None;
    for u in &units {
        let align = match u.kind {
            UnitKind::Func(_) => func_align,
            _ => 16,
        };
        let start = out.code.len().next_multiple_of(align);
        let start32 = u32::try_from(start + u.code.len())
            .map_err(|_| Error::compile("compiled code exceeds 4 GiB", 0))
            .map(|_| start as u32)?;
        out.code.resize(start, 0xcc);
        out.code.extend_from_slice(&u.code);
        starts.push(start32);
        for &(off, code) in &u.traps {
            out.traps.push(TrapSite {
                offset: start32 + off,
                code,
            });
        }
        match u.kind {
            UnitKind::Func(i) => {
                func_offsets.push((i, start32, u.code.len() as u32));
                out.ranges.push((start32, start32 + u.code.len() as u32, i));
            }
            UnitKind::ArrayCall(_) => {}
            UnitKind::HostTrampoline(t) => {
                if out.host_trampolines.len() <= t as usize {
                    out.host_trampolines.resize(t as usize + 1, 0);
                }
                out.host_trampolines[t as usize] = start32;
            }
            UnitKind::FuelStub => fuel_stub = Some(start32),
        }
    }
    let target_offset = |target: Target| match target {
        Target::Func(index) => func_offsets
            .binary_search_by_key(&index, |f| f.0)
            .ok()
            .map(|i| func_offsets[i].1),
        Target::FuelStub => fuel_stub,
        Target::Lib(_) => None,
    };
    for (u, &start) in units.iter().zip(&starts) {
        if let UnitKind::ArrayCall(i) = u.kind
            && let Ok(at) = func_offsets.binary_search_by_key(&i, |f| f.0)
        {
            let (index, offset, len) = func_offsets[at];
            out.funcs.push(FuncCode {
                index,
                offset,
                len,
                array_call: start,
            });
        }
        for &(off, kind, target, addend) in &u.relocs {
            let at = (start + off) as usize;
            match (kind, target) {
                (
                    Reloc::X86CallPCRel4 | Reloc::X86CallPLTRel4 | Reloc::X86PCRel4,
                    Target::Func(_) | Target::FuelStub,
                ) => {
                    let to = target_offset(target).ok_or_else(|| {
                        Error::compile(
                            format!("call to {target:?}, which is not in this compile"),
                            0,
                        )
                    })?;
                    let rel = i64::from(to) + addend - at as i64;
                    let rel =
                        i32::try_from(rel).map_err(|_| Error::compile("call out of range", 0))?;
                    out.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
                }
                (Reloc::Arm64Call, Target::Func(_) | Target::FuelStub) => {
                    let to = target_offset(target).ok_or_else(|| {
                        Error::compile("call to a function not in this compile", 0)
                    })?;
                    let rel = (i64::from(to) + addend - at as i64) >> 2;
                    if !(-(1 << 25)..(1 << 25)).contains(&rel) {
                        return Err(Error::compile("call out of range", 0));
                    }
                    let mut word =
                        u32::from_le_bytes(out.code[at..at + 4].try_into().unwrap_or([0; 4]));
                    word = (word & 0xfc00_0000) | (rel as u32 & 0x03ff_ffff);
                    out.code[at..at + 4].copy_from_slice(&word.to_le_bytes());
                }
                (Reloc::Abs8, Target::Lib(l)) => {
                    // The address of a Rust function in this process: recorded, so that a
                    // code cache can write it again in another process.
                    let lib = LIBCALLS
                        .iter()
                        .position(|&x| x == l)
                        .ok_or_else(|| Error::compile(format!("unsupported libcall {l:?}"), 0))?;
                    out.lib_relocs.push(LibReloc {
                        offset: at as u32,
                        lib: lib as u8,
                        addend,
                    });
                }
                (kind, target) => {
                    return Err(Error::compile(
                        format!("unsupported relocation {kind:?} to {target:?}"),
                        0,
                    ));
                }
            }
        }
    }
    out.traps.sort_by_key(|t| t.offset);
    out.funcs.sort_by_key(|f| f.index);
    relocate_libcalls(&mut out.code, &out.lib_relocs)?;
    Ok(out)
}

/// Writes the addresses of this process's libcalls at `relocs` into `code`.
///
/// # Errors
/// A relocation names no libcall or lies outside `code` (a corrupt cached blob).
pub fn relocate_libcalls(code: &mut [u8], relocs: &[LibReloc]) -> Result<()> {
    for r in relocs {
        let addr = LIBCALLS
            .get(r.lib as usize)
            .and_then(|&l| libcall_address(l))
            .ok_or_else(|| Error::compile("a relocation names no libcall", 0))?;
        let at = r.offset as usize;
        let slot = at
            .checked_add(8)
            .and_then(|end| code.get_mut(at..end))
            .ok_or_else(|| Error::compile("a relocation lies outside the code", 0))?;
        slot.copy_from_slice(&(addr as i64).wrapping_add(r.addend).to_le_bytes());
    }
    Ok(())
}

/// The libcalls generated code may name, in the order [`LibReloc::lib`] numbers them
/// (append only: cached blobs store these numbers).
const LIBCALLS: [LibCall; 10] = [
    LibCall::CeilF32,
    LibCall::FloorF32,
    LibCall::TruncF32,
    LibCall::NearestF32,
    LibCall::CeilF64,
    LibCall::FloorF64,
    LibCall::TruncF64,
    LibCall::NearestF64,
    LibCall::Memmove,
    LibCall::Memset,
];

/// `memory.copy`'s move, called by generated code once both ranges are checked.
///
/// # Safety
/// `src..src + n` and `dst..dst + n` lie in one accessible allocation: the generated code
/// checks both ranges against memory 0's current length before the call (VM1), and nothing
/// else accesses the memory while it runs (the store is held by the running call).
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the ranges are accessible (the contract above); `copy` allows them to
    // overlap, as `memory.copy` does.
    unsafe { core::ptr::copy(src, dst, n) };
    dst
}

/// `memory.fill`'s store, called by generated code once the range is checked.
///
/// # Safety
/// `dst..dst + n` is accessible, as for [`memmove`].
unsafe extern "C" fn memset(dst: *mut u8, val: u32, n: usize) -> *mut u8 {
    // SAFETY: the range is accessible (the contract above).
    unsafe { core::ptr::write_bytes(dst, val as u8, n) };
    dst
}

extern "C" fn ceil_f32(x: f32) -> f32 {
    libm::ceilf(x)
}
extern "C" fn floor_f32(x: f32) -> f32 {
    libm::floorf(x)
}
extern "C" fn trunc_f32(x: f32) -> f32 {
    libm::truncf(x)
}
extern "C" fn nearest_f32(x: f32) -> f32 {
    libm::rintf(x)
}
extern "C" fn ceil_f64(x: f64) -> f64 {
    libm::ceil(x)
}
extern "C" fn floor_f64(x: f64) -> f64 {
    libm::floor(x)
}
extern "C" fn trunc_f64(x: f64) -> f64 {
    libm::trunc(x)
}
extern "C" fn nearest_f64(x: f64) -> f64 {
    libm::rint(x)
}

/// Cranelift's own libcalls (float rounding without SSE4.1, for example).
fn libcall_address(l: LibCall) -> Option<usize> {
    let f32op = |f: extern "C" fn(f32) -> f32| f as usize;
    let f64op = |f: extern "C" fn(f64) -> f64| f as usize;
    Some(match l {
        LibCall::CeilF32 => f32op(ceil_f32),
        LibCall::FloorF32 => f32op(floor_f32),
        LibCall::TruncF32 => f32op(trunc_f32),
        LibCall::NearestF32 => f32op(nearest_f32),
        LibCall::CeilF64 => f64op(ceil_f64),
        LibCall::FloorF64 => f64op(floor_f64),
        LibCall::TruncF64 => f64op(trunc_f64),
        LibCall::NearestF64 => f64op(nearest_f64),
        LibCall::Memmove => memmove as *const () as usize,
        LibCall::Memset => memset as *const () as usize,
        _ => return None,
    })
}
