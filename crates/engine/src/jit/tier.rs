//! The JIT as a tier of the engine: compiling a [`crate::Module`], building each instance's
//! [`VMContext`] from the runtime's entities, the libcalls against the store core, and calls
//! (resumable ones on fibers, plain ones on the caller's stack or, without room, a fiber).
//!
//! # How the pieces meet the runtime
//! - Element format: one for both tiers, the runtime's raw reference (0 null, else 1 + the
//!   store index; VM3). Generated code's `call_indirect` indexes the store's [`VMFuncRef`]
//!   array (read anew from the store context each time, since it moves when it grows), which
//!   holds the JIT's `wasm_call`/`vmctx`/`array_call` beside the runtime's `ty`/`instance`/
//!   `index`. The runtime, the interpreter, `Val` conversions and the segment code stay as
//!   they were; only two operators of the code generator changed.
//! - The store context is the runtime's `VMStoreContext` (fuel, stack limit, functions).
//! - Host functions: every host function of a store whose engine runs the JIT gets the
//!   engine's wasm-to-host trampoline of its type as `wasm_call` and the store's
//!   [`VMHostFunc`] record of it as `vmctx`. The trampolines belong to the engine, which
//!   every store keeps alive.
//!
//! # Host calls
//! A wasm-to-host trampoline calls its record's `entry` directly, no libcall in between.
//! A typed host function (`Func::wrap`, `Linker::func_wrap`) has the entry
//! [`direct_host_entry`], instantiated for the store type and the closure's type
//! ([`DirectHost`]), so the closure is called statically and inlined into its entry; a host
//! function on [`crate::Val`]s has [`store_host_entry`], which goes through
//! [`StoreOps::call_host`]. Both share one body ([`host_call`]): panics are caught, a host
//! error becomes the trap `Host`, a yield suspends the fiber.
//!
//! # Memories
//! The bounds-check mode is the engine's, decided once when it is made: if the host grants
//! the engine's memory pool a probe reservation of a guarded memory (`jit::memory`),
//! modules are compiled for guard regions (no check for an access whose static offset plus
//! size is within [`memory::GUARD_SIZE`]) and every store of the engine makes all its
//! memories guarded, from the pool, the host's `Memory::new` included, so imported
//! memories are guarded too. A reservation
//! can still fail later (address space runs out with many stores); that memory is then a
//! heap memory, and an instance whose memory 0 has no guard region of the size the code
//! assumes runs the module's second variant, compiled with explicit checks on the first
//! such instantiation and kept with the module. So guard-region code never runs against
//! an unguarded memory (VM1), and a module always runs; the price of the rare fallback is
//! a second compile. Memory 0 of an instance never changes, so the choice is made once per
//! instance. `memory.init` checks in Rust either way; `memory.copy` and `memory.fill` check
//! in the generated code against the current length in both modes (`translate`).
//!
//! # Invariants (cited as `tier.N`)
//! 1. **The store during a call.** A call ([`run`]) takes `&mut dyn StoreOps` and, for as
//!    long as the fiber runs, stores it as a raw pointer in the [`CallCx`] that [`CALL`]
//!    names; the caller's `&mut` is not used until `resume` returns. A libcall (on the fiber,
//!    one at a time on this thread) turns the pointer into a `&mut` for the duration of its
//!    own body only and never holds it across a suspension (`fiber.1`). A host function the
//!    libcall calls gets a reborrow of that `&mut`; a nested call it makes installs its own
//!    `CallCx` and restores the outer one before returning. So at any moment exactly one
//!    `&mut` to the store is live, as in the interpreter, and generated code touches only
//!    store memory reached through the `VM*` definitions (vm invariants 1-3).
//! 2. **Stable addresses.** An instance's [`JitInstance`] (its `VMContext` and the arrays
//!    it points to) is boxed and owned by the store's instance entity, so it lives as long as
//!    the store; the module's code lives as long as the instance's `Module` handle, the host
//!    trampolines as long as the engine (held by the store). A call that cannot suspend
//!    ([`call_plain`]) keeps its values buffer in its caller's frame and its `CallCx` in
//!    its own, both borrowed until it ends within that function, and holds nothing of the
//!    store: the store, borrowed for the whole call, keeps the engine and the module alive.
//!    A resumable call ([`JitCall`]) owns its fiber, its values buffer (on the heap) and its
//!    `CallCx`; once it has suspended it is boxed and holds the module and the engine
//!    (`JitCall::keep_code`), so the code its fiber's frames return into outlives it.
//! 3. **Stack limit.** Before a fiber runs, `VMStoreContext::stack_limit` is set to its
//!    limit, and before a plain call runs on the thread's stack, to its window's
//!    (`native::window`); the previous value is restored when it gives control back (nested
//!    calls from host functions get a fiber or a window of their own).
//! 4. **Fibers are reused.** A call runs on the thread's ready fiber when there is one and
//!    gives its fiber back when it finishes (`fiber`'s `recycle`); a call that traps ends
//!    its fiber's coroutine and the fiber is dropped (its stack goes back to the pool).
//! 5. **Host records name their store's type.** A [`VMHostFunc`] is made by the typed
//!    store `S` that owns it, for one of its own host functions, with an entry made for
//!    `S` (and, for [`direct_host_entry`], for the type of `data`, a closure the store's
//!    host function keeps alive as long as the store). Generated code reaches a record only
//!    through the function records of that store, and a call runs only the functions of the
//!    store it was given, so the store in the running call's [`CallCx`] is an `S`.
extern crate std;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;
use core::cell::Cell;
use core::ffi::c_void;
use core::ptr::{self, NonNull};
use std::sync::{Mutex, OnceLock};

use super::code::{CodeBuilder, HOSTED_CODE_MEMORY, PublishedCode, TrapEntry};
use super::compile::{
    BoundsChecks, CompileOptions, CompiledModule, Compiler, GlobalInfo, ModuleInfo as JitInfo,
};
use super::fiber::{self, ArrayCallFn, Fiber, FiberConfig, FiberOutcome, ResumeValue};
use super::memory;
use super::native;
use super::vmctx::{VMContext, VMFuncRef, VMLibcalls};
use crate::error::{Error, ErrorKind, FrameInfo, Result};
use crate::module::ModuleInfo;
use crate::runtime::vm::VMHostFunc;
use crate::runtime::{HostVals, StoreCore, StoreOps};
use crate::types::{FuncType, Mutability};
use crate::{Module, TrapCode};

/// Whether the JIT can run on this host.
pub(crate) const AVAILABLE: bool = cfg!(all(
    unix,
    any(target_arch = "x86_64", target_arch = "aarch64")
));

// ---------------------------------------------------------------------------------------------
// The engine's part

/// The JIT's state in an engine: the compiler and the wasm-to-host trampolines by type.
pub(crate) struct JitEngine {
    /// Compiles for guard regions ([`BoundsChecks::Guard`]) if the host granted a probe
    /// reservation when the engine was made, else with explicit checks (see "Memories").
    compiler: Compiler,
    /// With explicit checks and otherwise the same options, made on first use: for a
    /// guard-region engine's instances whose memory 0 has no guard region.
    explicit: OnceLock<Compiler>,
    /// Published once per type and never freed while the engine lives (`tier.2`).
    trampolines: Mutex<BTreeMap<FuncType, (PublishedCode, u32)>>,
}

impl core::fmt::Debug for JitEngine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JitEngine").finish_non_exhaustive()
    }
}

fn code_error(e: impl core::fmt::Debug) -> Error {
    Error::compile(format!("JIT code memory: {e:?}"), 0)
}

/// Copies a compiled blob into executable memory, registered with its trap table.
fn publish(compiled: &CompiledModule) -> Result<PublishedCode> {
    let traps = compiled
        .traps
        .iter()
        .map(|t| TrapEntry {
            offset: t.offset,
            code: t.code,
        })
        .collect();
    let mut b = CodeBuilder::new(&HOSTED_CODE_MEMORY, compiled.code.len()).map_err(code_error)?;
    b.as_mut_slice()[..compiled.code.len()].copy_from_slice(&compiled.code);
    b.publish(traps, 0).map_err(code_error)
}

impl JitEngine {
    /// A compiler for the host with the engine's fuel setting, compiling a module on
    /// `threads` threads (0: the machine's available parallelism); it compiles for guard
    /// regions if the engine's stores make guarded memories (`guard_regions`: the host
    /// granted the engine's [`memory::MemoryPool`] its probe reservation).
    ///
    /// # Errors
    /// Cranelift has no backend for the host.
    pub fn new(consume_fuel: bool, threads: usize, guard_regions: bool) -> Result<JitEngine> {
        let bounds_checks = if guard_regions {
            BoundsChecks::Guard {
                guard_size: memory::GUARD_SIZE,
            }
        } else {
            BoundsChecks::Explicit
        };
        let options = CompileOptions {
            bounds_checks,
            fuel: consume_fuel,
            direct_calls: true,
            verify: cfg!(debug_assertions),
            threads,
        };
        Ok(JitEngine {
            compiler: Compiler::new(options)?,
            explicit: OnceLock::new(),
            trampolines: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether modules are compiled for guard regions.
    pub fn guard_regions(&self) -> bool {
        matches!(
            self.compiler.options().bounds_checks,
            BoundsChecks::Guard { .. }
        )
    }

    /// The compiler with explicit bounds checks.
    fn explicit_compiler(&self) -> Result<&Compiler> {
        if !self.guard_regions() {
            return Ok(&self.compiler);
        }
        if let Some(c) = self.explicit.get() {
            return Ok(c);
        }
        let c = Compiler::new(CompileOptions {
            bounds_checks: BoundsChecks::Explicit,
            ..*self.compiler.options()
        })?;
        Ok(self.explicit.get_or_init(|| c))
    }

    /// The wasm-to-host trampoline of type `ty`, compiled on first use.
    ///
    /// # Errors
    /// Compiling or publishing it failed.
    pub fn host_trampoline(&self, ty: &FuncType) -> Result<*const u8> {
        let mut map = self
            .trampolines
            .lock()
            .map_err(|_| Error::compile("JIT trampoline cache poisoned", 0))?;
        if let Some((code, at)) = map.get(ty) {
            return Ok(code.base().wrapping_add(*at as usize));
        }
        let compiled = self.compiler.compile_host_trampoline(ty)?;
        let at = compiled.host_trampolines[0];
        let code = publish(&compiled)?;
        let entry = code.base().wrapping_add(at as usize);
        map.insert(ty.clone(), (code, at));
        Ok(entry)
    }
}

// ---------------------------------------------------------------------------------------------
// A module's code

/// A module's machine code and where each function is in it.
pub(crate) struct JitCode {
    /// Compiled with the engine's bounds checks.
    main: Variant,
    /// Only for a module with a memory compiled for guard regions: the same with explicit
    /// checks, compiled when the first instance whose memory 0 has no guard region (its
    /// reservation failed) is made (see "Memories" in the module docs).
    explicit: OnceLock<Box<Variant>>,
}

/// One compilation of a module, published.
struct Variant {
    code: PublishedCode,
    compiled: CompiledModule,
    /// The guard region this code relies on (0 for explicit checks).
    guard_size: u64,
}

/// What the code generator needs of a module, from the engine's [`ModuleInfo`] (so nothing
/// parses the binary a second time).
fn jit_info(info: &ModuleInfo) -> Result<JitInfo> {
    if info.memories.len() > 1 {
        return Err(Error::compile(
            "the JIT does not support several memories",
            0,
        ));
    }
    Ok(JitInfo {
        types: info.types.clone(),
        funcs: info.funcs.clone(),
        num_imported_funcs: info.num_imported_funcs,
        globals: info
            .globals
            .iter()
            .map(|g| GlobalInfo {
                ty: g.content(),
                mutable: g.mutability() == Mutability::Var,
            })
            .collect(),
        tables: info.tables.iter().map(|t| t.element()).collect(),
    })
}

/// Compiles every defined function of a validated module and publishes the code.
///
/// # Errors
/// The code generator refuses a function, or the code cannot be mapped.
pub(crate) fn compile(engine: &JitEngine, info: &ModuleInfo) -> Result<JitCode> {
    JitCode::load(compile_blob(engine, info)?, engine)
}

/// Compiles every defined function of a validated module into a blob for the engine's
/// bounds checks, not yet published.
///
/// # Errors
/// The code generator refuses a function.
pub(crate) fn compile_blob(engine: &JitEngine, info: &ModuleInfo) -> Result<CompiledModule> {
    compile_with(&engine.compiler, info)
}

fn compile_with(compiler: &Compiler, info: &ModuleInfo) -> Result<CompiledModule> {
    let jit = jit_info(info)?;
    let bodies = (0..info.num_defined_funcs())
        .map(|def| {
            info.func_body(def)
                .map(|(body, _)| body)
                .ok_or_else(|| Error::compile("a function body is missing", 0))
        })
        .collect::<Result<Vec<_>>>()?;
    compiler.compile_module(&jit, &bodies)
}

/// A blob published as code, with the guard region it was compiled for.
fn publish_variant(compiler: &Compiler, compiled: CompiledModule) -> Result<Variant> {
    let code = publish(&compiled)?;
    let guard_size = match compiler.options().bounds_checks {
        BoundsChecks::Guard { guard_size } => guard_size,
        BoundsChecks::Explicit => 0,
    };
    Ok(Variant {
        code,
        compiled,
        guard_size,
    })
}

impl JitEngine {
    /// What besides the Wasm bytes decides the code (see `Compiler::fingerprint`).
    pub fn fingerprint(&self) -> alloc::string::String {
        self.compiler.fingerprint()
    }
}

impl JitCode {
    /// Publishes a blob compiled by `engine`'s compiler (fresh, or checked by
    /// `cache::decode`, whose key includes the compiler's fingerprint and so its bounds
    /// checks).
    ///
    /// # Errors
    /// The code cannot be mapped.
    pub fn load(compiled: CompiledModule, engine: &JitEngine) -> Result<JitCode> {
        Ok(JitCode {
            main: publish_variant(&engine.compiler, compiled)?,
            explicit: OnceLock::new(),
        })
    }

    /// The blob as compiled by the engine's compiler, for the code cache.
    pub fn compiled(&self) -> &CompiledModule {
        &self.main.compiled
    }

    /// The code to run against a memory 0 with `guard_bytes` of guard region (see
    /// [`crate::runtime::memory::LinearMemory::guard_bytes`]; `None` for a module without
    /// memory): code compiled for guard regions never runs against a memory with a smaller
    /// one (VM1).
    fn variant(
        &self,
        engine: &JitEngine,
        info: &ModuleInfo,
        guard_bytes: Option<u64>,
    ) -> Result<&Variant> {
        if guard_bytes.is_none_or(|g| g >= self.main.guard_size) {
            return Ok(&self.main);
        }
        if let Some(v) = self.explicit.get() {
            return Ok(v);
        }
        let compiler = engine.explicit_compiler()?;
        let v = Box::new(publish_variant(compiler, compile_with(compiler, info)?)?);
        // Another thread may have compiled it meanwhile; then `v` is dropped unused.
        Ok(self.explicit.get_or_init(|| v))
    }

    /// The function index (imports counted) whose code contains `pc`, if any.
    fn func_at(&self, pc: usize) -> Option<u32> {
        [Some(&self.main), self.explicit.get().map(|v| &**v)]
            .into_iter()
            .flatten()
            .find_map(|v| {
                let base = v.code.base() as usize;
                let offset = u32::try_from(pc.checked_sub(base)?).ok()?;
                v.compiled.func_at(offset)
            })
    }
}

impl Variant {
    fn at(&self, offset: u32) -> *const u8 {
        self.code.base().wrapping_add(offset as usize)
    }
}

// ---------------------------------------------------------------------------------------------
// Instances

/// What the JIT keeps for one instance; `VMContext::runtime` points to it (`tier.2`).
struct JitInstance {
    vmctx: VMContext,
    /// The store index of the instance.
    instance: u32,
    /// Copies of the instance's functions' records (VM4): the store's array moves, these
    /// do not.
    _funcs: Box<[VMFuncRef]>,
    _func_ptrs: Box<[*const VMFuncRef]>,
    _func_refs: Box<[u64]>,
}

// SAFETY: the pointers name store-owned state and published code; they are dereferenced only
// by generated code and libcalls running with the store held exclusively (`tier.1`), so
// moving or sharing the record moves or shares no access.
unsafe impl Send for JitInstance {}
// SAFETY: see above.
unsafe impl Sync for JitInstance {}

static LIBCALLS: VMLibcalls = VMLibcalls {
    memory_grow,
    memory_init,
    data_drop,
    table_grow,
    table_fill,
    table_copy,
    table_init,
    elem_drop,
    out_of_fuel,
};

/// Builds instance `instance`'s `VMContext` (its entities are allocated and its module is
/// `code`'s) and points the store's records of its functions at their code. Runs before the
/// instance's segments are applied and its start function runs.
///
/// # Errors
/// An imported function has no code for the JIT (a host function whose trampoline could
/// not be compiled), or the module's variant with explicit checks, needed for a memory
/// without guard region, could not be compiled.
pub(crate) fn instantiate(
    engine: &JitEngine,
    core: &mut StoreCore,
    instance: u32,
    code: &JitCode,
) -> Result<()> {
    let inst = core.instance(instance);
    let info = inst.module().info();
    let nimp = info.num_imported_funcs as usize;
    let memory0 = inst.memories().first().map(|&m| core.memory(m));
    let code = code.variant(engine, info, memory0.map(|m| m.guard_bytes()))?;
    let memory0 = memory0.map_or(ptr::null_mut(), |m| m.definition());
    let mut state = Box::new(JitInstance {
        vmctx: VMContext {
            memory0,
            store: core.context(),
            libcalls: &LIBCALLS,
            globals: inst.global_cells().as_ptr().cast(),
            tables: inst.table_definitions().as_ptr().cast(),
            funcs: ptr::null(),
            type_ids: inst.types().as_ptr(),
            func_refs: ptr::null(),
            runtime: ptr::null_mut(),
        },
        instance,
        _funcs: Box::new([]),
        _func_ptrs: Box::new([]),
        _func_refs: Box::new([]),
    });
    let vmctx: *mut VMContext = &mut state.vmctx;
    // The records: the imports' as the store has them (their code is their own), the
    // defined functions' pointing at this variant's code with this instance's context.
    let mut funcs = Vec::with_capacity(inst.funcs().len());
    for &f in &inst.funcs()[..nimp] {
        let record = *core.func(f);
        if record.wasm_call.is_null() {
            return Err(Error::instantiation(
                "an imported function has no code the JIT can call",
            ));
        }
        funcs.push(record);
    }
    for (&f, fc) in inst.funcs()[nimp..].iter().zip(&code.compiled.funcs) {
        funcs.push(VMFuncRef {
            wasm_call: code.at(fc.offset),
            vmctx: vmctx.cast(),
            array_call: code.at(fc.array_call),
            ..*core.func(f)
        });
    }
    let funcs: Box<[VMFuncRef]> = funcs.into_boxed_slice();
    let func_ptrs: Box<[*const VMFuncRef]> = funcs.iter().map(ptr::from_ref).collect();
    let func_refs: Box<[u64]> = inst.funcs().iter().map(|&f| u64::from(f) + 1).collect();
    state.vmctx.funcs = func_ptrs.as_ptr();
    state.vmctx.func_refs = func_refs.as_ptr();
    state.vmctx.runtime = (&mut *state as *mut JitInstance).cast();
    // The store's records of the defined functions get the same code.
    core.set_instance_func_code(instance, nimp, &funcs[nimp..]);
    state._funcs = funcs;
    state._func_ptrs = func_ptrs;
    state._func_refs = func_refs;
    core.instance_mut(instance).set_tier_state(state);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Calls

/// The state of one call that libcalls reach through [`CALL`] (`tier.1`).
struct CallCx {
    /// The store, valid while the fiber runs (set anew by every [`run`]).
    store: Option<NonNull<dyn StoreOps + 'static>>,
    /// Whether running out of fuel and host yields suspend (else they end the call).
    resumable: bool,
    /// The error of a host function (or the yield of a non-resumable call), which the
    /// trap it causes stands for.
    error: Option<Error>,
    /// A pending host yield: its store function, and the slots its results go to.
    yielded: Option<(u32, *mut u64, usize)>,
    /// Scratch values for host functions on [`crate::Val`]s, made at the first such call.
    host_vals: Option<HostVals>,
}

impl CallCx {
    /// The state of a call that has not run yet; `resumable`: whether it may suspend.
    fn new(resumable: bool) -> CallCx {
        CallCx {
            store: None,
            resumable,
            error: None,
            yielded: None,
            host_vals: None,
        }
    }
}

std::thread_local! {
    /// The innermost running call on this thread (`tier.1`).
    static CALL: Cell<*mut CallCx> = const { Cell::new(ptr::null_mut()) };
}

/// A resumable JIT call in progress: its fiber, its values buffer and its libcall state.
/// (A call that cannot suspend is [`call_plain`].)
pub(crate) struct JitCall {
    /// The fiber the call runs on; `None` once it finished (the fiber was kept for the
    /// thread's next call) or trapped.
    fiber: Option<Fiber>,
    /// The callee's array trampoline and instance context.
    entry: ArrayCallFn,
    vmctx: *mut u8,
    /// Whether the fiber was given the call (at the first `run`).
    started: bool,
    /// On the heap, so at the same address wherever the call moves (`tier.2`).
    values: Box<[u64]>,
    cx: CallCx,
    /// The callee's instance (a store index).
    instance: u32,
    /// Whether the code counts fuel (in the pinned register).
    fuel: bool,
    /// A suspended fiber has return addresses into its module's code and into the engine's
    /// host trampolines: both stay published while a call that outlives its `run` lives,
    /// even if the store goes first (`code.3`), see [`JitCall::keep_code`]. Declared after
    /// `fiber`, so dropped after it.
    code: Option<(Module, crate::Engine)>,
}

impl core::fmt::Debug for JitCall {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JitCall").finish_non_exhaustive()
    }
}

/// How a run of a JIT call ended without an error.
pub(crate) enum JitOutcome {
    /// Finished; the results are in [`JitCall::results`].
    Done,
    /// Out of fuel, suspended.
    OutOfFuel,
    /// Host function `func` (a store index) yielded with `tag`, suspended.
    Yield { tag: u64, func: u32 },
}

/// Whether store function `func` runs on the JIT.
pub(crate) fn is_jit_func(core: &StoreCore, func: u32) -> bool {
    let f = core.func(func);
    f.instance != VMFuncRef::HOST && !f.array_call.is_null()
}

impl JitCall {
    /// Prepares a resumable call of store function `func` (a JIT function, see
    /// [`is_jit_func`]) with raw arguments written by `args` into the first slots of its
    /// values buffer. It runs on this thread's ready fiber if there is one (see `fiber`).
    /// `fuel`: whether the engine's code counts fuel.
    ///
    /// # Errors
    /// A fiber stack could not be mapped, or `args` failed.
    pub fn new(
        core: &StoreCore,
        func: u32,
        fuel: bool,
        args: impl FnOnce(&mut [u64]) -> Result<()>,
    ) -> Result<JitCall> {
        let mut values = alloc::vec![0u64; call_width(core, func)].into_boxed_slice();
        args(&mut values)?;
        let record = core.func(func);
        // SAFETY: `array_call` of a JIT function is its array trampoline (`instantiate`),
        // an `ArrayCallFn`.
        let entry = unsafe { core::mem::transmute::<*const u8, ArrayCallFn>(record.array_call) };
        let fiber = Fiber::ready(&FiberConfig::default())
            .map_err(|e| Error::instantiation(format!("cannot start a JIT call: {e:?}")))?;
        Ok(JitCall {
            fiber: Some(fiber),
            entry,
            vmctx: record.vmctx.cast(),
            started: false,
            values,
            fuel,
            cx: CallCx::new(true),
            instance: record.instance,
            code: None,
        })
    }

    /// The raw results after [`JitOutcome::Done`].
    pub fn results(&self) -> &[u64] {
        &self.values
    }

    /// Makes the call hold the callee's module and the engine, so that it may outlive the
    /// store: for a call that suspended and is handed to the embedder (`tier.2`).
    pub fn keep_code(&mut self, core: &StoreCore, engine: &crate::Engine) {
        if self.code.is_none() {
            let module = core.instance(self.instance).module().clone();
            self.code = Some((module, engine.clone()));
        }
    }

    /// The slots a yielded host function's results go to, before resuming.
    pub fn host_result_slots(&mut self) -> &mut [u64] {
        match self.cx.yielded {
            // SAFETY: the slots are the wasm-to-host trampoline's buffer on the suspended
            // fiber's stack, which stays mapped while the fiber lives; nothing runs on the
            // fiber now.
            Some((_, at, len)) => unsafe { core::slice::from_raw_parts_mut(at, len) },
            None => &mut [],
        }
    }

    /// Runs (or resumes) the call until it finishes, suspends or fails.
    ///
    /// # Errors
    /// A trap (with the frames of the JIT functions on the fiber as backtrace), or a host
    /// function's error; running a call again after it finished or trapped.
    pub fn run(&mut self, store: &mut dyn StoreOps) -> Result<JitOutcome> {
        let Some(fiber) = self.fiber.as_mut() else {
            return Err(Error::usage("the JIT call has ended"));
        };
        if !self.started {
            // SAFETY: the entry is generated code for `vmctx`, which lives as long as the
            // store, as does the code (`tier.2`; a call that outlives its run holds both,
            // see `keep_code`). The values buffer has the `max(params, results)` slots the
            // trampoline uses (`call_width`) and, on the heap and owned by the call, stays
            // where it is until the call ends (`tier.2`). `run_fiber` sets the stack limit
            // before each resume (`tier.3`); the libcalls keep `fiber::suspend`'s contract;
            // nothing on the fiber can reach this `JitCall`.
            unsafe { fiber.start(self.entry, self.vmctx, self.values.as_mut_ptr()) };
            self.started = true;
        }
        self.cx.yielded = None;
        match run_fiber(fiber, &mut self.cx, store) {
            FiberOutcome::Finished => {
                if let Some(fiber) = self.fiber.take() {
                    fiber.recycle();
                }
                Ok(JitOutcome::Done)
            }
            FiberOutcome::Suspended(fiber::SuspendReason::OutOfFuel) => Ok(JitOutcome::OutOfFuel),
            FiberOutcome::Suspended(fiber::SuspendReason::HostYield(tag)) => {
                let func = self.cx.yielded.map_or(0, |y| y.0);
                Ok(JitOutcome::Yield { tag, func })
            }
            FiberOutcome::Trapped { code, pc } => {
                let callers = fiber.take_trap_callers();
                fault_fuel(fiber, self.fuel, store);
                // Its coroutine has ended; the stack is back in the pool.
                self.fiber = None;
                Err(trap_error(&mut self.cx, store.core(), code, pc, &callers))
            }
        }
    }
}

/// The values buffer's width for a call of `func`: the larger of its parameter and result
/// counts (at least 1).
fn call_width(core: &StoreCore, func: u32) -> usize {
    let ty = core.func_type(func);
    ty.params().len().max(ty.results().len()).max(1)
}

/// A call of store function `func` (a JIT function, see [`is_jit_func`]) that cannot
/// suspend, run to its end on the caller's own stack if it has room (`native::window`), else
/// on this thread's ready fiber (see `fiber`): `values` holds the raw arguments and receives
/// the raw results. Its values and libcall state stay in the caller's and this frame; it
/// allocates nothing (once the thread has a ready fiber, on that path).
///
/// # Errors
/// A trap (with the frames of the JIT functions on the fiber as backtrace), a host
/// function's error (a host yield among them), running out of fuel, `values` shorter than the
/// function's parameters or results, or a fiber stack that could not be mapped. `fuel`:
/// whether the engine's code counts fuel.
pub(crate) fn call_plain(
    store: &mut dyn StoreOps,
    func: u32,
    fuel: bool,
    values: &mut [u64],
) -> Result<()> {
    let core = store.core();
    if values.len() < call_width(core, func) {
        return Err(Error::usage("too few value slots for a JIT call"));
    }
    let record = core.func(func);
    // SAFETY: `array_call` of a JIT function is its array trampoline (`instantiate`), an
    // `ArrayCallFn`.
    let entry = unsafe { core::mem::transmute::<*const u8, ArrayCallFn>(record.array_call) };
    let vmctx = record.vmctx.cast();
    let config = FiberConfig::default();
    match native::window(&config) {
        Some(window) => {
            let context = core.context();
            call_native(store, (context, window), (entry, vmctx, values), fuel)
        }
        None => call_on_fiber(store, &config, (entry, vmctx, values), fuel),
    }
}

/// [`call_plain`] on this thread's ready fiber (or a new one): for a caller without a window
/// of its own stack.
#[inline(never)]
fn call_on_fiber(
    store: &mut dyn StoreOps,
    config: &FiberConfig,
    (entry, vmctx, values): (ArrayCallFn, *mut u8, &mut [u64]),
    fuel: bool,
) -> Result<()> {
    let mut fiber = Fiber::ready(config)
        .map_err(|e| Error::instantiation(format!("cannot start a JIT call: {e:?}")))?;
    // SAFETY: the entry is generated code for `vmctx`, which lives as long as the store, as
    // does the code (`tier.2`), and the store is borrowed for this whole call; `values` has
    // the `max(params, results)` slots the trampoline uses (checked by `call_plain`) and is
    // borrowed until the call ends in this function: it cannot suspend (`resumable: false`:
    // the libcalls end it instead) and a fiber found suspended anyway is dropped below.
    // `run_fiber` sets the stack limit (`tier.3`); the libcalls keep `fiber::suspend`'s
    // contract; nothing on the fiber can reach this frame's fiber.
    unsafe { fiber.start(entry, vmctx, values.as_mut_ptr()) };
    let mut cx = CallCx::new(false);
    match run_fiber(&mut fiber, &mut cx, store) {
        FiberOutcome::Finished => {
            fiber.recycle();
            Ok(())
        }
        FiberOutcome::Suspended(_) => {
            // Unreachable by the libcalls' contract; the call ends here all the same.
            drop(fiber);
            Err(Error::trap(TrapCode::OutOfFuel))
        }
        FiberOutcome::Trapped { code, pc } => {
            let callers = fiber.take_trap_callers();
            fault_fuel(&fiber, fuel, store);
            Err(trap_error(&mut cx, store.core(), code, pc, &callers))
        }
    }
}

/// [`call_plain`] on the thread's own stack (`native`), in `window`.
#[inline]
fn call_native(
    store: &mut dyn StoreOps,
    (context, window): (*mut crate::runtime::vm::VMStoreContext, native::Window),
    (entry, vmctx, values): (ArrayCallFn, *mut u8, &mut [u64]),
    fuel: bool,
) -> Result<()> {
    let mut cx = CallCx::new(false);
    let values = values.as_mut_ptr();
    let limit = (context, window.limit);
    let ended = with_call(&mut cx, store, limit, || {
        // SAFETY: as for the fiber in `call_plain`: the entry is generated code for `vmctx`,
        // alive with the store, which is borrowed for this call; `values` has the slots the
        // trampoline uses and is borrowed until this returns. The window was made just now
        // by the caller on this thread and `with_call` has put its limit in the store
        // context (`tier.3`). The call cannot suspend (`resumable: false`), and the
        // libcalls and host entries keep `native.1` (they keep `fiber.1`, and host panics go
        // through `native::catch_host_panic`).
        unsafe { native::call(window, entry, vmctx, values) }
    });
    match ended {
        native::Ended::Returned => Ok(()),
        native::Ended::Trapped { code, pc, pinned } => {
            Err(native_trapped(&mut cx, store, (code, pc, pinned), fuel))
        }
        native::Ended::Panicked(payload) => std::panic::resume_unwind(payload),
    }
}

/// The error of a call on the thread's stack that ended with a fault `(code, pc, pinned)`;
/// with `fuel`, the store gets the fuel that was left (in the pinned register). Out of line,
/// so that the call's hot path stays small.
#[cold]
#[inline(never)]
fn native_trapped(
    cx: &mut CallCx,
    store: &mut dyn StoreOps,
    (code, pc, pinned): (TrapCode, usize, u64),
    fuel: bool,
) -> Error {
    let callers = native::take_trap_callers();
    if fuel {
        store.core_mut().set_fuel(pinned as i64);
    }
    trap_error(cx, store.core(), code, pc, &callers)
}

/// Runs `fiber` (given its call) with `cx` as the running call (`tier.1`) and its stack
/// limit in the store's context (`tier.3`), until it gives control back.
fn run_fiber(fiber: &mut Fiber, cx: &mut CallCx, store: &mut dyn StoreOps) -> FiberOutcome {
    let limit = (store.core().context(), fiber.stack_limit());
    with_call(cx, store, limit, || fiber.resume(ResumeValue(0)))
}

/// Runs `run` (which runs generated code) with `cx` as the running call (`tier.1`) and
/// `limit` as the stack limit in `context`, the store's context (`tier.3`), restoring the
/// outer call's state afterwards.
#[inline(always)]
fn with_call<R>(
    cx: &mut CallCx,
    store: &mut dyn StoreOps,
    (context, limit): (*mut crate::runtime::vm::VMStoreContext, usize),
    run: impl FnOnce() -> R,
) -> R {
    // SAFETY: `tier.1`: the pointer stands for `store`, which the caller holds for this
    // whole function and does not use while the fiber runs; only the lifetime is erased
    // (the pointer is cleared before this returns).
    cx.store = Some(unsafe {
        core::mem::transmute::<NonNull<dyn StoreOps + '_>, NonNull<dyn StoreOps + 'static>>(
            NonNull::from(&mut *store),
        )
    });
    /// Restores the outer call's state, also if a host panic comes out of `resume`.
    struct Restore {
        call: *mut CallCx,
        context: *mut crate::runtime::vm::VMStoreContext,
        limit: usize,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            CALL.with(|c| c.set(self.call));
            // SAFETY: the store's context lives as long as the store (vm invariant 3),
            // which outlives this call.
            unsafe { (*self.context).stack_limit = self.limit };
        }
    }
    // SAFETY: as in `Restore::drop`.
    let outer_limit = unsafe { (*context).stack_limit };
    let restore = Restore {
        call: CALL.with(|c| c.replace(&mut *cx)),
        context,
        limit: outer_limit,
    };
    // SAFETY: as above (`tier.3`).
    unsafe { (*context).stack_limit = limit };
    let outcome = run();
    drop(restore);
    cx.store = None;
    outcome
}

/// After a fault in fuel-metered code (`fuel`), gives the store the fuel that was left at
/// the fault: the count was in the pinned register (`translate`, "Fuel").
fn fault_fuel(fiber: &Fiber, fuel: bool, store: &mut dyn StoreOps) {
    if let Some(left) = fiber.pinned_at_fault().filter(|_| fuel) {
        store.core_mut().set_fuel(left as i64);
    }
}

/// The error a trap of a call stands for: the host function's error it recorded (the
/// trampoline trapped with `Host` for it), else the trap itself. A trap gets this call's
/// frames, the function whose code contains `pc` and then its `callers`, after any it has
/// already (from a nested call), as on the interpreter.
fn trap_error(
    cx: &mut CallCx,
    core: &StoreCore,
    code: TrapCode,
    pc: usize,
    callers: &fiber::TrapCallers,
) -> Error {
    let mut e = cx.error.take().unwrap_or_else(|| Error::trap(code));
    if e.is_trap() {
        e.add_frames(
            core::iter::once(pc)
                .chain(callers.as_slice().iter().copied())
                .filter_map(|pc| frame_at(core, pc)),
        );
    }
    e
}

/// The function whose code contains `pc`, among the store's instances' modules.
fn frame_at(core: &StoreCore, pc: usize) -> Option<FrameInfo> {
    if pc == 0 {
        return None;
    }
    let mut seen: Vec<*const ()> = Vec::new();
    for i in 0..core.num_instances() as u32 {
        let module: &Module = core.instance(i).module();
        let Some(code) = module.jit_code() else {
            continue;
        };
        let key = code as *const JitCode as *const ();
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if let Some(index) = code.func_at(pc) {
            return Some(FrameInfo::new(module.clone(), index));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Libcalls

/// The running call's state, the store and the calling instance's index.
///
/// # Safety
/// Called only by a libcall of a call that [`JitCall::run`] is running, with `vmctx` a
/// `VMContext` made by [`instantiate`]; the references are used only during the libcall's
/// body and not across a suspension (`tier.1`).
#[inline(always)]
unsafe fn call_state<'a>(vmctx: *mut VMContext) -> (&'a mut CallCx, &'a mut dyn StoreOps, u32) {
    let cx = CALL.with(Cell::get);
    // SAFETY: `run` set CALL to this call's boxed state for as long as the fiber runs
    // (`tier.1`); the libcall runs on that fiber.
    let cx = unsafe { &mut *cx };
    // SAFETY: `run` set `store` to the store it holds exclusively for this run (`tier.1`).
    let Some(mut store) = cx.store else {
        std::process::abort()
    };
    // SAFETY: as above.
    let store = unsafe { store.as_mut() };
    // SAFETY: `runtime` points to the instance's boxed `JitInstance` (`tier.2`).
    let instance = unsafe { (*(*vmctx).runtime.cast::<JitInstance>()).instance };
    (cx, store, instance)
}

fn status(r: core::result::Result<(), TrapCode>) -> u32 {
    u32::from(r.is_err())
}

fn memory0(core: &StoreCore, instance: u32) -> u32 {
    core.instance(instance).memories()[0]
}

fn table(core: &StoreCore, instance: u32, t: u32) -> u32 {
    core.instance(instance).tables()[t as usize]
}

unsafe extern "C" fn memory_grow(vmctx: *mut VMContext, delta: u32) -> u32 {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    let core = store.core_mut();
    let m = memory0(core, inst);
    core.grow_memory(m, delta).unwrap_or(u32::MAX)
}

unsafe extern "C" fn memory_init(
    vmctx: *mut VMContext,
    data: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    let core = store.core_mut();
    let m = memory0(core, inst);
    status(core.memory_init(inst, m, data, (dst.into(), src.into(), len.into())))
}

unsafe extern "C" fn data_drop(vmctx: *mut VMContext, data: u32) {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    store.core_mut().instance_mut(inst).drop_data(data);
}

unsafe extern "C" fn table_grow(vmctx: *mut VMContext, t: u32, init: u64, delta: u32) -> u32 {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    let core = store.core_mut();
    let t = table(core, inst, t);
    core.grow_table(t, delta, init).unwrap_or(u32::MAX)
}

unsafe extern "C" fn table_fill(
    vmctx: *mut VMContext,
    t: u32,
    dst: u32,
    val: u64,
    len: u32,
) -> u32 {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    let core = store.core_mut();
    let t = table(core, inst, t);
    status(core.table_fill(t, dst.into(), val, len.into()))
}

unsafe extern "C" fn table_copy(
    vmctx: *mut VMContext,
    dst_table: u32,
    src_table: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    let core = store.core_mut();
    let (d, s) = (table(core, inst, dst_table), table(core, inst, src_table));
    status(core.table_copy(d, s, (dst.into(), src.into(), len.into())))
}

unsafe extern "C" fn table_init(
    vmctx: *mut VMContext,
    t: u32,
    elem: u32,
    dst: u32,
    src: u32,
    len: u32,
) -> u32 {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    let core = store.core_mut();
    let t = table(core, inst, t);
    status(core.table_init(inst, t, elem, (dst.into(), src.into(), len.into())))
}

unsafe extern "C" fn elem_drop(vmctx: *mut VMContext, elem: u32) {
    // SAFETY: a libcall of a running call (`tier.1`).
    let (_, store, inst) = unsafe { call_state(vmctx) };
    store.core_mut().instance_mut(inst).drop_elem(elem);
}

unsafe extern "C" fn out_of_fuel(vmctx: *mut VMContext) -> u32 {
    loop {
        // SAFETY: a libcall of a running call (`tier.1`); the references end with this
        // block, before the suspension.
        let (resumable, fuel) = unsafe {
            let (cx, store, _) = call_state(vmctx);
            (cx.resumable, store.core().fuel())
        };
        if fuel > 0 {
            return 0;
        }
        if !resumable {
            return 1;
        }
        // SAFETY: this frame holds only `Copy` values (`fiber.1`); the resumer adds fuel
        // (or not: then this suspends again, as the interpreter does).
        unsafe { fiber::suspend(fiber::SuspendReason::OutOfFuel) };
    }
}

/// A host closure that generated code calls without dynamic dispatch, from the entry
/// [`direct_host_entry`] made for the store type `S` and the closure's own type (the typed
/// store implements it for its closures on raw slots).
pub(crate) trait DirectHost<S> {
    /// Runs the host function for instance `caller`: `slots` holds the arguments and
    /// receives the results.
    ///
    /// # Errors
    /// The host function's error (a trap, or a yield).
    fn call(&self, store: &mut S, caller: u32, slots: &mut [u64]) -> Result<()>;
}

/// The entry of a typed host function whose closure is an `H` (a [`VMHostFunc`]'s `data`)
/// of a store `S`.
///
/// # Safety
/// Called by a wasm-to-host trampoline of a running call (`tier.1`) with a record made by
/// its store for a closure of type `H` (`tier.5`) and `len` slots of its own frame.
pub(crate) unsafe extern "C" fn direct_host_entry<S: StoreOps, H: DirectHost<S>>(
    record: *const VMHostFunc,
    vmctx: *mut c_void,
    values: *mut u64,
    len: u32,
) -> u32 {
    // SAFETY: the trampoline's contract, passed on.
    unsafe {
        host_call(
            record,
            vmctx.cast(),
            values,
            len,
            |store, caller, slots, _| {
                // SAFETY: the record was made by the store of the running call, an `S`, for a
                // closure of type `H` it keeps alive as long as itself (`tier.5`); the store
                // is this call's only live `&mut` (`tier.1`), the closure is only read.
                let (store, host) = (
                    &mut *ptr::from_mut(store).cast::<S>(),
                    &*(*record).data.cast::<H>(),
                );
                host.call(store, caller, slots)
            },
        )
    }
}

/// The entry of a host function called through [`StoreOps::call_host`] (one on
/// [`crate::Val`]s).
///
/// # Safety
/// As [`direct_host_entry`].
pub(crate) unsafe extern "C" fn store_host_entry(
    record: *const VMHostFunc,
    vmctx: *mut c_void,
    values: *mut u64,
    len: u32,
) -> u32 {
    // SAFETY: the trampoline's contract, passed on.
    unsafe {
        host_call(
            record,
            vmctx.cast(),
            values,
            len,
            |store, caller, slots, vals| {
                // SAFETY: the record is alive as long as its store (vm invariant 3).
                store.call_host((*record).host, caller, slots, vals)
            },
        )
    }
}

/// The body of the host entries: runs `call` with the running call's store, the calling
/// instance, the slots and the scratch values; 0 if it returned results, 1 if it failed
/// (the error is recorded for the trap the trampoline raises), or, when it yields in a
/// resumable call, suspends the fiber until the resumer has written the results.
///
/// # Safety
/// As [`direct_host_entry`]; `record` is alive and `call` keeps `tier.1`.
#[inline(always)]
unsafe fn host_call(
    record: *const VMHostFunc,
    vmctx: *mut VMContext,
    values: *mut u64,
    len: u32,
    call: impl FnOnce(&mut dyn StoreOps, u32, &mut [u64], &mut HostVals) -> Result<()>,
) -> u32 {
    // SAFETY: a call of a running call (`tier.1`); the trampoline passes `len` slots of
    // its own frame. Everything owned here is dropped before the block ends (a panic of
    // the host function is caught).
    let r = unsafe {
        let (cx, store, inst) = call_state(vmctx);
        let slots = core::slice::from_raw_parts_mut(values, len as usize);
        let vals = cx.host_vals.get_or_insert_with(HostVals::default);
        native::catch_host_panic(|| call(store, inst, slots, vals))
    };
    match r {
        Ok(()) => 0,
        // SAFETY: as above.
        Err(e) => unsafe { host_failed(record, vmctx, values, len, e) },
    }
}

/// A host call of [`host_call`] failed with `e`: records the error and returns 1 (the
/// trampoline traps), or, for a yield in a resumable call, suspends the fiber until the
/// resumer has written the results, then returns 0. Out of line, so that the host entries'
/// hot path saves no registers for it.
///
/// # Safety
/// As [`host_call`].
#[cold]
#[inline(never)]
unsafe fn host_failed(
    record: *const VMHostFunc,
    vmctx: *mut VMContext,
    values: *mut u64,
    len: u32,
    e: Error,
) -> u32 {
    // SAFETY: a call of a running call (`tier.1`); everything owned here is moved into the
    // call's state or dropped before the block ends, and so before the suspension
    // (`fiber.1`).
    let tag = unsafe {
        let (cx, _, _) = call_state(vmctx);
        match e.kind() {
            ErrorKind::Yield(tag) if cx.resumable => {
                let tag = *tag;
                cx.yielded = Some(((*record).func, values, len as usize));
                tag
            }
            _ => {
                cx.error = Some(e);
                return 1;
            }
        }
    };
    // SAFETY: this frame holds only `Copy` values (`fiber.1`); the resumer writes the host
    // results into `values` before resuming.
    unsafe { fiber::suspend(fiber::SuspendReason::HostYield(tag)) };
    0
}
