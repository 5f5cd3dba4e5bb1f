//! Translation of one validated Wasm function body into CLIF.
//!
//! The translator walks the operator stream once, keeping the Wasm operand stack as CLIF
//! values and one frame per open block. Wasm locals are frontend variables (SSA built by
//! `cranelift-frontend`); block params and results are CLIF block params, so multi-value
//! blocks cost nothing special. Code after an unconditional transfer is skipped, counting
//! only the nesting of the blocks it opens.
//!
//! The body has been validated before it gets here, so operand types and counts are those
//! the validator checked; what is left to fail (a construct the tier does not support) is an
//! [`Error`], never a panic.
//!
//! What the generated code reads from the runtime is described in [`super::vmctx`], whose
//! invariants (VM1..VM6) the comments below cite.
//!
//! # Fuel
//! The units are the interpreter's (`crate::translate`): one per reachable operator
//! (`block`, `end`, `br` ... included), charged per *fuel block*, and fuel blocks start where
//! the interpreter's do: at function entry, at a loop header, at `else`, at an `end` that a
//! branch reaches and after a loop's `end`. Every path charges each fuel block it enters its
//! whole operator count, as the interpreter does when it enters the block; what differs is
//! *when* the subtraction happens, and where fuel is *checked*.
//!
//! **When.** A block's count is subtracted late, but never later than the next point that
//! can observe the fuel, so at every such point the register holds exactly what the
//! interpreter's count holds there. Observing points are the operators [`observes_fuel`]
//! lists (anything that may trap, since the fault handler reads the register; calls, since
//! the callee, a host function or a libcall reads it; `return`) and the check points. The
//! translator keeps the blocks entered on the current path and not yet subtracted
//! (*pending*), and subtracts their total in one `isub` (a placeholder constant, patched
//! when every count is known):
//! - at function entry without a check, after a loop's `end` and at `else` (a block entered
//!   from one place only) the block joins what is pending on the path that enters it;
//! - at a check point (nothing is pending there) the block's count is subtracted at once,
//!   and the check compares the result with minus the count;
//! - before an observing operator, before a loop's entry (the header is a check point) and
//!   before a branch to a loop header or to the function's end, everything pending is
//!   subtracted;
//! - a block that starts at an `end` a branch reaches (a join) is charged on its edges:
//!   each branch to it and the fall-through into it subtract what is pending there plus the
//!   join's count, in one `isub` (a `br_if` does so in an edge block of its own, so the
//!   fall-through keeps its pending blocks; a `br_table` subtracts what is pending first and
//!   gives each join target an edge block); the join itself starts with nothing pending.
//!
//! So a run of blocks that nothing observes in between costs one subtraction, e.g. a leaf
//! function's entry and its return block, or a loop's `end` and the join after it.
//!
//! **Checks.** The interpreter checks at every fuel block (run it if fuel is positive,
//! else stop); the JIT checks (`fuel <= 0` calls `out_of_fuel`, which adds fuel, possibly
//! after suspending the fiber, or makes the call trap `OutOfFuel`) only at loop headers
//! and at the entry of a function that has a call outside every loop ([`scan_checks`]).
//! The fuel checked is the fuel before the block's own count: the block is charged first
//! and the result compared with minus its count (one `sub` and one `cmp`, no second
//! register), and the cold path adds the count back for the stub and subtracts it again
//! from what the stub leaves, so `out_of_fuel` sees what the interpreter would. The stub
//! takes the vmctx from a stack slot written at entry, so the hot path does not keep the
//! vmctx in the register the call passes it in (which made loops spill). A function without such a call reaches no
//! call and no back edge without passing a loop header's check, so it runs a bounded
//! amount of code (each of its operators outside loops at most once) before it returns or
//! checks. Between two checks the counter therefore goes below zero by at most: the fuel of
//! one pass through the code outside loops of each frame the run returns through (its
//! continuation after the call), plus, for each call on that way to a function without an
//! entry check, that function's code outside loops. The frames are bounded by the stack
//! limit, so the overrun is finite; in the common case (a check in the same or the calling
//! function) it is one function's loop-free code. A suspension happens at a check point a
//! little later than the interpreter's would; the totals charged are the same.
//!
//! The count lives in Cranelift's pinned register (r15 on x86-64, x21 on aarch64; the
//! compiler reserves it when fuel is on): every Wasm-convention function takes it there and
//! leaves it there, so a call between Wasm functions, direct, indirect or to another
//! instance's, passes the fuel in the register at no cost, and a fuel block costs at most one
//! subtraction. It is written back to `VMStoreContext::fuel` only where the runtime looks:
//! before a libcall (and reloaded after it), in the wasm-to-host trampoline around
//! the host call, and in the array trampoline when the call returns to the host (which loads
//! it on entry and keeps the host's value of the register across the call). The
//! `out_of_fuel` check calls a per-compile *fuel stub* in the `preserve_all` convention
//! (write back, libcall, reload, trap if asked), so the cold refill path clobbers no
//! register and costs the hot loop nothing. After a fault in generated code the fault
//! handler hands the register's value to the call (`Fiber::pinned_at_fault`), which writes
//! it to the store; a trap raised by a libcall comes after a write-back. Either way the
//! store then holds exactly what the interpreter leaves after the same trap (the tests in
//! `tier_tests` compare the two).
//!
//! # Bulk memory
//! `memory.copy` and `memory.fill` need no runtime state beyond memory 0's definition
//! (VM1), so the generated code does them itself: it compares the end of each range (32-bit
//! indices and length widened to 64 bits, so no sum overflows) with the current length and
//! traps `MemoryOutOfBounds` before writing anything if either is past it, as Wasm 2.0
//! requires, then calls `memmove`/`memset` (Rust functions `compile` links as Cranelift's
//! libcalls) on the native ranges. The check is the same with guard regions and with
//! explicit checks; nothing is written back around the call, which reads no fuel.
//!
//! # Stack
//! Every function checks its frame against `VMStoreContext::stack_limit` in its prologue
//! (Cranelift's `stack_limit`), so deep recursion traps `StackOverflow` above the fiber's
//! guard page, with the fiber's host reserve left for libcalls.
use alloc::vec::Vec;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::immediates::{Ieee32, Ieee64, Offset32};
use cranelift_codegen::ir::types::{F32, F64, I8, I16, I32, I64};
use cranelift_codegen::ir::{
    self, AbiParam, ArgumentPurpose, Block, BlockArg, Endianness, ExtFuncData, ExternalName,
    GlobalValueData, Inst, InstBuilder, JumpTableData, LibCall, MemFlagsData, SigRef, Signature,
    Type, UserExternalName, UserFuncName, Value,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use wasmparser::{BlockType, FunctionBody, MemArg, Operator};

use super::compile::{BoundsChecks, CompileOptions, ModuleInfo, clif_trap};
use super::libcalls::Libcall;
use super::vmctx::offsets::*;
use crate::{Error, FuncType, TrapCode, ValType};

type Result<T> = core::result::Result<T, Error>;

/// The CLIF type holding a Wasm value (references are the runtime's 64-bit raw references:
/// 0 for null, else 1 + a store index; VM3).
pub(crate) fn clif_type(ty: ValType) -> Type {
    match ty {
        ValType::I32 => I32,
        ValType::I64 => I64,
        ValType::F32 => F32,
        ValType::F64 => F64,
        ValType::FuncRef | ValType::ExternRef => I64,
    }
}

/// The signature of a function with the Wasm calling convention: the callee's context, the
/// caller's `VMContext`, then the Wasm params; the Wasm results.
pub(crate) fn wasm_signature(ty: &FuncType) -> Signature {
    let mut sig = Signature::new(CallConv::Tail);
    sig.params
        .push(AbiParam::special(I64, ArgumentPurpose::VMContext));
    sig.params.push(AbiParam::new(I64));
    if uses_ret_area(ty) {
        sig.params.push(AbiParam::new(I64));
    } else {
        sig.returns
            .extend(ty.results().iter().map(|&t| AbiParam::new(clif_type(t))));
    }
    sig.params
        .extend(ty.params().iter().map(|&t| AbiParam::new(clif_type(t))));
    sig
}

/// The most results a Wasm-convention function returns in registers. A function with more
/// (Wasm allows up to 1000; Cranelift's `tail` convention returns only what fits in
/// registers) takes a third argument, a return area of one 8-byte slot per result (values
/// in the low bytes, as in VM2), stores its results there and returns nothing.
pub(crate) const MAX_REGISTER_RESULTS: usize = 2;

/// Whether functions of type `ty` return their results through a return area.
pub(crate) fn uses_ret_area(ty: &FuncType) -> bool {
    ty.results().len() > MAX_REGISTER_RESULTS
}

/// Calls with the Wasm convention: builds the arguments (contexts, a return area for
/// callees of [`uses_ret_area`] types, `args`), emits the call with `emit`, and returns the
/// results.
pub(crate) fn wasm_call(
    b: &mut FunctionBuilder<'_>,
    ty: &FuncType,
    callee_ctx: Value,
    caller_vmctx: Value,
    args: &[Value],
    emit: impl FnOnce(&mut FunctionBuilder<'_>, &[Value]) -> Inst,
) -> Vec<Value> {
    let mut all = Vec::with_capacity(args.len() + 3);
    all.push(callee_ctx);
    all.push(caller_vmctx);
    let area = uses_ret_area(ty).then(|| {
        let slot = b.create_sized_stack_slot(ir::StackSlotData::new(
            ir::StackSlotKind::ExplicitSlot,
            (ty.results().len() * 8) as u32,
            3,
        ));
        b.ins().stack_addr(I64, slot, 0)
    });
    all.extend(area);
    all.extend_from_slice(args);
    let call = emit(b, &all);
    match area {
        None => b.inst_results(call).to_vec(),
        Some(area) => ty
            .results()
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                b.ins()
                    .load(clif_type(t), MemFlagsData::trusted(), area, (i * 8) as i32)
            })
            .collect(),
    }
}

/// Returns `results` with the Wasm convention: in registers, or through `ret_area`.
pub(crate) fn wasm_return(b: &mut FunctionBuilder<'_>, ret_area: Option<Value>, results: &[Value]) {
    match ret_area {
        None => {
            b.ins().return_(results);
        }
        Some(area) => {
            for (i, &r) in results.iter().enumerate() {
                b.ins()
                    .store(MemFlagsData::trusted(), r, area, (i * 8) as i32);
            }
            b.ins().return_(&[]);
        }
    }
}

/// The name a defined function's code is referred to by in relocations.
pub(crate) const FUNC_NAMESPACE: u32 = 0;

/// The name the fuel stub (index 0) is referred to by in relocations.
pub(crate) const FUEL_STUB_NAMESPACE: u32 = 3;

/// The fuel stub's signature: `(vmctx)`, in the `preserve_all` convention, so a call to it
/// clobbers no register. With fuel on, every compile carries one stub; it writes the pinned
/// fuel register to `VMStoreContext::fuel`, calls the `out_of_fuel` libcall, reloads the
/// register, and traps `OutOfFuel` itself if the libcall asks for it.
pub(crate) fn fuel_stub_signature() -> Signature {
    let mut sig = Signature::new(CallConv::PreserveAll);
    sig.params.push(AbiParam::new(I64));
    sig
}

fn unsupported(what: &str, offset: usize) -> Error {
    Error::compile(
        alloc::format!("the JIT does not support {what}"),
        offset as u64,
    )
}

/// Flags of loads from the vmctx and the records it points to that never change while code
/// runs (VM1..VM6): they may be merged and hoisted.
fn ro() -> MemFlagsData {
    MemFlagsData::trusted().with_readonly().with_can_move()
}

/// Flags of loads and stores of runtime records that may change (memory base and length,
/// table definitions, global slots, fuel).
fn rw() -> MemFlagsData {
    MemFlagsData::trusted()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameKind {
    Func,
    Block,
    Loop,
    If,
}

struct Frame {
    kind: FrameKind,
    /// Where a branch to this frame goes: the loop header for a loop, else `exit`.
    label: Block,
    /// The block after `end`; its params are the frame's results.
    exit: Block,
    /// For an `if` whose `else` has not been seen: the else block.
    else_block: Option<Block>,
    /// For an `if`: the params it was entered with (the else branch starts from them).
    if_params: Vec<Value>,
    /// The operand stack height below the frame's params.
    height: usize,
    params: usize,
    results: usize,
    /// Whether a branch (not fall-through) reaches `exit`.
    exit_branched: bool,
    /// Whether anything reaches `exit`.
    exit_reachable: bool,
    /// With fuel on, for a `block` or `if` whose `exit` a branch reaches: the fuel block
    /// starting there (an index into `Translator::fuel_counts`), charged on the edges.
    fuel_exit: Option<usize>,
    /// For an `if`: the fuel blocks not yet charged when it was entered (the else branch
    /// starts from them).
    fuel_if: Vec<usize>,
}

impl Frame {
    fn label_arity(&self) -> usize {
        if self.kind == FrameKind::Loop {
            self.params
        } else {
            self.results
        }
    }
}

/// Translates function `index` (a defined one) of `module` into `func`.
pub(crate) fn translate_function(
    module: &ModuleInfo,
    options: &CompileOptions,
    host_call_conv: CallConv,
    index: u32,
    body: &FunctionBody<'_>,
    fctx: &mut FunctionBuilderContext,
    frontend: TargetFrontendConfig,
) -> Result<ir::Function> {
    let ty = module.func_type(index)?;
    let sig = wasm_signature(ty);
    let mut func =
        ir::Function::with_name_signature(UserFuncName::user(FUNC_NAMESPACE, index), sig);
    set_stack_limit(&mut func)?;
    let mut b = FunctionBuilder::new(&mut func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let vmctx = b.block_params(entry)[0];
    let ret_area = uses_ret_area(ty).then(|| b.block_params(entry)[2]);

    let mut t = Translator {
        b,
        module,
        options,
        host_call_conv,
        vmctx,
        ret_area,
        locals: Vec::new(),
        stack: Vec::new(),
        ctrl: Vec::new(),
        reachable: true,
        unreachable_depth: 0,
        sigs: Vec::new(),
        direct: Vec::new(),
        libcall_sigs: [None; Libcall::ALL.len()],
        fuel_counts: Vec::new(),
        fuel_current: 0,
        fuel_pending: Vec::new(),
        fuel_patches: Vec::new(),
        fuel_on: false,
        fuel_vmctx: None,
        fuel_stub: None,
        bulk_fns: [None; 2],
    };
    t.declare_locals(ty, entry, body)?;
    let exit = t.b.create_block();
    for &r in ty.results() {
        t.b.append_block_param(exit, clif_type(r));
    }
    t.ctrl.push(Frame {
        kind: FrameKind::Func,
        label: exit,
        exit,
        else_block: None,
        if_params: Vec::new(),
        height: 0,
        params: 0,
        results: ty.results().len(),
        exit_branched: false,
        exit_reachable: false,
        fuel_exit: None,
        fuel_if: Vec::new(),
    });
    let (entry_check, loops) = if options.fuel {
        scan_checks(body)?
    } else {
        (false, false)
    };
    t.fuel_init(entry_check || loops);
    if t.fuel_on && entry_check {
        t.fuel_start_checked();
    } else {
        t.fuel_start();
    }

    let mut reader = body
        .get_operators_reader()
        .map_err(|e| Error::compile(alloc::format!("{e}"), e.offset()))?;
    while !reader.eof() {
        let offset = reader.original_position();
        let op = reader
            .read()
            .map_err(|e| Error::compile(alloc::format!("{e}"), e.offset()))?;
        t.op(&op, offset as usize)?;
        if t.ctrl.is_empty() {
            break;
        }
    }
    t.fuel_patch();
    t.b.finalize(frontend);
    Ok(func)
}

/// Makes `func` check its frame against `VMStoreContext::stack_limit` (VM6) in its prologue.
fn set_stack_limit(func: &mut ir::Function) -> Result<()> {
    let trusted = func
        .dfg
        .mem_flags
        .insert(ro())
        .map_err(|_| Error::compile("too many memory flags", 0))?;
    let vmctx = func.create_global_value(GlobalValueData::VMContext);
    let store = func.create_global_value(GlobalValueData::Load {
        base: vmctx,
        offset: Offset32::new(VMCTX_STORE),
        global_type: I64,
        flags: trusted,
    });
    let limit_flags = func
        .dfg
        .mem_flags
        .insert(MemFlagsData::trusted())
        .map_err(|_| Error::compile("too many memory flags", 0))?;
    let limit = func.create_global_value(GlobalValueData::Load {
        base: store,
        offset: Offset32::new(STORE_STACK_LIMIT),
        global_type: I64,
        flags: limit_flags,
    });
    func.stack_limit = Some(limit);
    Ok(())
}

struct Translator<'a, 'f> {
    b: FunctionBuilder<'f>,
    module: &'a ModuleInfo,
    options: &'a CompileOptions,
    host_call_conv: CallConv,
    vmctx: Value,
    /// The return area (see [`uses_ret_area`]).
    ret_area: Option<Value>,
    locals: Vec<Variable>,
    stack: Vec<Value>,
    ctrl: Vec<Frame>,
    reachable: bool,
    /// Blocks opened in unreachable code and not yet closed.
    unreachable_depth: u32,
    /// Imported signatures by module type index.
    sigs: Vec<(u32, SigRef)>,
    /// Direct callees by function index.
    direct: Vec<(u32, ir::FuncRef)>,
    libcall_sigs: [Option<SigRef>; Libcall::ALL.len()],
    /// The operator count of every fuel block so far.
    fuel_counts: Vec<i64>,
    /// The fuel block the operators being translated belong to.
    fuel_current: usize,
    /// The fuel blocks entered on the path being translated whose counts have not been
    /// subtracted yet (see the module docs, "Fuel").
    fuel_pending: Vec<usize>,
    /// Every placeholder constant: the fuel blocks whose total it is (negated if the flag
    /// says so), patched in when the function has been translated.
    fuel_patches: Vec<(Inst, Vec<usize>, bool)>,
    /// Whether fuel is counted (the count is in the pinned register).
    fuel_on: bool,
    /// With fuel on and a check point in the function: the slot holding the vmctx for the
    /// fuel stub.
    fuel_vmctx: Option<ir::StackSlot>,
    /// The fuel stub, once declared.
    fuel_stub: Option<ir::FuncRef>,
    /// `memmove` and `memset`, once declared.
    bulk_fns: [Option<ir::FuncRef>; 2],
}

impl Translator<'_, '_> {
    fn declare_locals(
        &mut self,
        ty: &FuncType,
        entry: Block,
        body: &FunctionBody<'_>,
    ) -> Result<()> {
        for (i, &p) in ty.params().iter().enumerate() {
            let var = self.b.declare_var(clif_type(p));
            let first = 2 + usize::from(self.ret_area.is_some());
            let v = self.b.block_params(entry)[first + i];
            self.b.def_var(var, v);
            self.locals.push(var);
        }
        let mut reader = body
            .get_locals_reader()
            .map_err(|e| Error::compile(alloc::format!("{e}"), e.offset()))?;
        for _ in 0..reader.get_count() {
            let (count, vt) = reader
                .read()
                .map_err(|e| Error::compile(alloc::format!("{e}"), e.offset()))?;
            let vt = val_type(vt, reader.original_position() as usize)?;
            let cty = clif_type(vt);
            let zero = self.zero(cty);
            for _ in 0..count {
                let var = self.b.declare_var(cty);
                self.b.def_var(var, zero);
                self.locals.push(var);
            }
        }
        Ok(())
    }

    fn zero(&mut self, ty: Type) -> Value {
        match ty {
            F32 => self.b.ins().f32const(Ieee32::with_bits(0)),
            F64 => self.b.ins().f64const(Ieee64::with_bits(0)),
            _ => self.b.ins().iconst(ty, 0),
        }
    }

    fn pop(&mut self) -> Value {
        // Validation guarantees the operand; an empty stack here is a translator bug.
        self.stack.pop().expect("validated operand stack")
    }

    fn pop2(&mut self) -> (Value, Value) {
        let b = self.pop();
        let a = self.pop();
        (a, b)
    }

    fn pop_n(&mut self, n: usize) -> Vec<Value> {
        let at = self.stack.len() - n;
        self.stack.split_off(at)
    }

    fn top_n(&self, n: usize) -> Vec<BlockArg> {
        self.stack[self.stack.len() - n..]
            .iter()
            .map(|&v| BlockArg::Value(v))
            .collect()
    }

    fn push(&mut self, v: Value) {
        self.stack.push(v);
    }

    fn block_types(&self, ty: BlockType, offset: usize) -> Result<(Vec<Type>, Vec<Type>)> {
        Ok(match ty {
            BlockType::Empty => (Vec::new(), Vec::new()),
            BlockType::Type(t) => (Vec::new(), alloc::vec![clif_type(val_type(t, offset)?)]),
            BlockType::FuncType(i) => {
                let ft = self.module.type_at(i)?;
                (
                    ft.params().iter().map(|&t| clif_type(t)).collect(),
                    ft.results().iter().map(|&t| clif_type(t)).collect(),
                )
            }
        })
    }

    // ---- fuel ----

    /// With fuel on, the `VMStoreContext` pointer (loaded once, at entry).
    fn fuel_init(&mut self, checks: bool) {
        self.fuel_on = self.options.fuel;
        if self.fuel_on && checks {
            // The stub's argument: kept in a slot of its own so that the hot path need not
            // keep the vmctx in the register the cold call passes it in.
            let slot = self.b.create_sized_stack_slot(ir::StackSlotData::new(
                ir::StackSlotKind::ExplicitSlot,
                8,
                3,
            ));
            let vmctx = self.vmctx;
            self.b.ins().stack_store(I64, vmctx, slot, 0);
            self.fuel_vmctx = Some(slot);
        }
    }

    /// The `VMStoreContext` pointer, loaded where it is used (around a libcall) rather than
    /// once for the whole function, which would hold a register or a spill slot throughout.
    fn fuel_store(&mut self) -> Value {
        let flags = MemFlagsData::trusted().with_readonly();
        self.b.ins().load(I64, flags, self.vmctx, VMCTX_STORE)
    }

    /// Writes the fuel register back to the store (before code that may read or change it).
    fn fuel_flush(&mut self) {
        if self.fuel_on {
            let store = self.fuel_store();
            let fuel = self.b.ins().get_pinned_reg(I64);
            self.b.ins().store(rw(), fuel, store, STORE_FUEL);
        }
    }

    /// Reads the fuel register back from the store (after code that may have changed it).
    fn fuel_reload(&mut self) {
        if self.fuel_on {
            let store = self.fuel_store();
            let fuel = self.b.ins().load(I64, rw(), store, STORE_FUEL);
            self.b.ins().set_pinned_reg(fuel);
        }
    }

    /// Starts a fuel block at a check point (nothing is pending): subtracts its count at
    /// once and calls the fuel stub if the fuel *before* the subtraction was not positive,
    /// i.e. if what is left is at most minus the count: one compare with the result. The
    /// cold path gives the count back for the stub, so `out_of_fuel` sees the fuel as it was
    /// before the block, and takes it again from what the stub leaves.
    fn fuel_start_checked(&mut self) {
        let id = self.fuel_new();
        self.fuel_current = id;
        let fuel = self.b.ins().get_pinned_reg(I64);
        let cost = self.fuel_placeholder(alloc::vec![id], false);
        let left = self.b.ins().isub(fuel, cost);
        self.b.ins().set_pinned_reg(left);
        let floor = self.fuel_placeholder(alloc::vec![id], true);
        let empty = self.b.ins().icmp(IntCC::SignedLessThanOrEqual, left, floor);
        let refill = self.b.create_block();
        let cont = self.b.create_block();
        self.b.ins().brif(empty, refill, &[], cont, &[]);
        self.b.switch_to_block(refill);
        self.b.seal_block(refill);
        self.b.set_cold_block(refill);
        // From the register, not from `left`: Cranelift would simplify `left + cost` to
        // the fuel read above and keep that alive, a second register on the hot path.
        let now = self.b.ins().get_pinned_reg(I64);
        let before = self.b.ins().iadd(now, cost);
        self.b.ins().set_pinned_reg(before);
        // The stub writes the register back, calls `out_of_fuel` and reloads it; it
        // preserves every other register, so this cold call costs the hot path nothing.
        let stub = self.fuel_stub_ref();
        let vmctx = match self.fuel_vmctx {
            Some(slot) => self.b.ins().stack_load(I64, I64, slot, 0),
            None => self.vmctx,
        };
        self.b.ins().call(stub, &[vmctx]);
        let refilled = self.b.ins().get_pinned_reg(I64);
        let after = self.b.ins().isub(refilled, cost);
        self.b.ins().set_pinned_reg(after);
        self.b.ins().jump(cont, &[]);
        self.b.switch_to_block(cont);
        self.b.seal_block(cont);
    }

    /// A constant patched by [`Self::fuel_patch`] with the total count of `blocks`
    /// (negated if `negate`).
    fn fuel_placeholder(&mut self, blocks: Vec<usize>, negate: bool) -> Value {
        let v = self.b.ins().iconst(I64, 0);
        let inst = self.b.func.dfg.value_def(v).unwrap_inst();
        self.fuel_patches.push((inst, blocks, negate));
        v
    }

    /// A new fuel block, counting no operator yet.
    fn fuel_new(&mut self) -> usize {
        self.fuel_counts.push(0);
        self.fuel_counts.len() - 1
    }

    /// Starts a fuel block entered only from the path being translated: its count joins
    /// the pending ones.
    fn fuel_start(&mut self) {
        if !self.fuel_on {
            return;
        }
        let id = self.fuel_new();
        self.fuel_current = id;
        self.fuel_pending.push(id);
    }

    /// Subtracts the total count of `blocks` (patched in by [`Self::fuel_patch`]) from the
    /// fuel register.
    fn fuel_charge(&mut self, blocks: Vec<usize>) {
        if blocks.is_empty() {
            return;
        }
        let fuel = self.b.ins().get_pinned_reg(I64);
        let cost = self.fuel_placeholder(blocks, false);
        let left = self.b.ins().isub(fuel, cost);
        self.b.ins().set_pinned_reg(left);
    }

    /// Charges what is pending, before something that observes the fuel.
    fn fuel_settle(&mut self) {
        let pending = core::mem::take(&mut self.fuel_pending);
        self.fuel_charge(pending);
    }

    /// The fuel block at the exit of `block`/`if` frame `i`, which a branch reaches.
    fn fuel_exit(&mut self, i: usize) -> usize {
        if let Some(id) = self.ctrl[i].fuel_exit {
            return id;
        }
        let id = self.fuel_new();
        self.ctrl[i].fuel_exit = Some(id);
        id
    }

    /// What an edge to frame `i`'s label from a branch must charge: the pending blocks,
    /// and the exit's fuel block for a `block` or `if` (a loop header and the function's
    /// return charge nothing on their edges). Clears nothing.
    fn fuel_edge_blocks(&mut self, i: usize) -> Vec<usize> {
        let mut blocks = self.fuel_pending.clone();
        if matches!(self.ctrl[i].kind, FrameKind::Block | FrameKind::If) {
            blocks.push(self.fuel_exit(i));
        }
        blocks
    }

    /// Replaces every placeholder with the total count of the blocks it charges.
    fn fuel_patch(&mut self) {
        for (inst, blocks, negate) in core::mem::take(&mut self.fuel_patches) {
            let total: i64 = blocks.iter().map(|&b| self.fuel_counts[b]).sum();
            let total = if negate { -total } else { total };
            self.b.func.replace(inst).iconst(I64, total);
        }
    }

    fn charge(&mut self) {
        if let Some(count) = self.fuel_counts.get_mut(self.fuel_current) {
            *count += 1;
        }
    }

    /// The module's fuel stub ([`fuel_stub_signature`]), declared on first use.
    fn fuel_stub_ref(&mut self) -> ir::FuncRef {
        if let Some(f) = self.fuel_stub {
            return f;
        }
        let signature = self.b.import_signature(fuel_stub_signature());
        let name = self
            .b
            .func
            .declare_imported_user_function(UserExternalName::new(FUEL_STUB_NAMESPACE, 0));
        let f = self.b.import_function(ExtFuncData {
            name: ExternalName::user(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.fuel_stub = Some(f);
        f
    }

    // ---- runtime access ----

    fn vmctx_array(&mut self, field: i32, index: u32, scale: i32) -> Value {
        let array = self.b.ins().load(I64, ro(), self.vmctx, field);
        let at = i64::from(index) * i64::from(scale);
        match i32::try_from(at) {
            Ok(off) => self.b.ins().load(I64, ro(), array, off),
            Err(_) => {
                let addr = self.b.ins().iadd_imm_s(array, at);
                self.b.ins().load(I64, ro(), addr, 0)
            }
        }
    }

    fn libcall_sig(&mut self, which: Libcall) -> SigRef {
        let i = Libcall::ALL.iter().position(|&l| l == which).unwrap_or(0);
        if let Some(s) = self.libcall_sigs[i] {
            return s;
        }
        let s = self
            .b
            .import_signature(which.signature(self.host_call_conv));
        self.libcall_sigs[i] = Some(s);
        s
    }

    /// Calls a libcall (VM6) with the caller's vmctx first; its result, if any.
    fn libcall(&mut self, which: Libcall, args: &[Value]) -> Option<Value> {
        let sig = self.libcall_sig(which);
        let table = self.b.ins().load(I64, ro(), self.vmctx, VMCTX_LIBCALLS);
        let f = self.b.ins().load(I64, ro(), table, which.offset());
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.vmctx);
        all.extend_from_slice(args);
        self.fuel_flush();
        let call = self.b.ins().call_indirect(sig, f, &all);
        let result = self.b.inst_results(call).first().copied();
        self.fuel_reload();
        result
    }

    fn trap_on_status(&mut self, which: Libcall, status: Option<Value>) {
        if let Some(s) = status {
            self.b.ins().trapnz(s, clif_trap(which.trap()));
        }
    }

    fn type_sig(&mut self, type_index: u32) -> Result<SigRef> {
        if let Some(&(_, s)) = self.sigs.iter().find(|(t, _)| *t == type_index) {
            return Ok(s);
        }
        let sig = wasm_signature(self.module.type_at(type_index)?);
        let s = self.b.import_signature(sig);
        self.sigs.push((type_index, s));
        Ok(s)
    }

    fn memory(&mut self) -> Value {
        self.b.ins().load(I64, ro(), self.vmctx, VMCTX_MEMORY0)
    }

    /// The native address of an access of `size` bytes at the popped index plus
    /// `memarg.offset`, bounds-checked as the options say; and the flags for the access.
    ///
    /// With guard regions the base never moves (VM1), so its load is read-only and may be
    /// hoisted out of loops and merged; an access whose offset plus size is within the guard
    /// has no check (the MMU faults instead), a larger one keeps the explicit check.
    fn mem_addr(&mut self, memarg: &MemArg, size: u32) -> (Value, i32, MemFlagsData) {
        let index = self.pop();
        let idx = self.b.ins().uextend(I64, index);
        let def = self.memory();
        let offset = memarg.offset;
        let end = offset.saturating_add(u64::from(size));
        let (base_flags, guarded) = match self.options.bounds_checks {
            BoundsChecks::Guard { guard_size } => (ro(), end <= guard_size),
            BoundsChecks::Explicit => (rw(), false),
        };
        let base = self.b.ins().load(I64, base_flags, def, MEMORY_BASE);
        let flags = if guarded {
            // An index below 4 GiB plus at most `guard_size` lands in the reservation (VM1):
            // an access beyond `length` faults, and the fault handler finds this access in the
            // trap table as `MemoryOutOfBounds`.
            MemFlagsData::new()
                .with_endianness(Endianness::Little)
                .with_trap_code(Some(clif_trap(TrapCode::MemoryOutOfBounds)))
        } else {
            // The length changes with `memory.grow` (a libcall), so it is loaded anew.
            let len = self.b.ins().load(I64, rw(), def, MEMORY_LENGTH);
            // `idx < 2^32` and `end <= 2^32 + 8` for a 32-bit memory: no overflow.
            let last = self.b.ins().iadd_imm_s(idx, end as i64);
            let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, last, len);
            self.b
                .ins()
                .trapnz(oob, clif_trap(TrapCode::MemoryOutOfBounds));
            MemFlagsData::new()
                .with_endianness(Endianness::Little)
                .with_notrap()
        };
        let addr = self.b.ins().iadd(base, idx);
        match i32::try_from(offset) {
            Ok(off) => (addr, off, flags),
            Err(_) => (self.b.ins().iadd_imm_s(addr, offset as i64), 0, flags),
        }
    }

    fn load(&mut self, memarg: &MemArg, size: u32, kind: LoadKind, ty: Type) {
        let (addr, off, flags) = self.mem_addr(memarg, size);
        let ins = self.b.ins();
        let v = match kind {
            LoadKind::Plain => ins.load(ty, flags, addr, off),
            LoadKind::S8 => ins.sload8(ty, flags, addr, off),
            LoadKind::U8 => ins.uload8(ty, flags, addr, off),
            LoadKind::S16 => ins.sload16(ty, flags, addr, off),
            LoadKind::U16 => ins.uload16(ty, flags, addr, off),
            LoadKind::S32 => ins.sload32(flags, addr, off),
            LoadKind::U32 => ins.uload32(flags, addr, off),
        };
        self.push(v);
    }

    fn store(&mut self, memarg: &MemArg, size: u32) {
        let value = self.pop();
        let (addr, off, flags) = self.mem_addr(memarg, size);
        let ty = self.b.func.dfg.value_type(value);
        let ins = self.b.ins();
        match (size, ty.bytes()) {
            (1, _) => ins.istore8(flags, value, addr, off),
            (2, _) => ins.istore16(flags, value, addr, off),
            (4, 8) => ins.istore32(flags, value, addr, off),
            _ => ins.store(flags, value, addr, off),
        };
    }

    /// For `memory.copy` and `memory.fill` of memory 0: traps `MemoryOutOfBounds`, before
    /// anything is written, unless `dst..dst+len` (and `src..src+len` for a copy) lie inside
    /// the memory's current length; returns the length, the memory's base and `dst`, all
    /// 64-bit. The indices are 32-bit, so the sums cannot overflow.
    fn bulk_ranges(&mut self, len: Value, dst: Value, src: Option<Value>) -> (Value, Value, Value) {
        let def = self.memory();
        let n = self.b.ins().uextend(I64, len);
        let d = self.b.ins().uextend(I64, dst);
        let mut end = self.b.ins().iadd(d, n);
        if let Some(src) = src {
            let s = self.b.ins().uextend(I64, src);
            let src_end = self.b.ins().iadd(s, n);
            end = self.b.ins().umax(end, src_end);
        }
        // The length changes with `memory.grow` (a libcall), so it is loaded anew.
        let length = self.b.ins().load(I64, rw(), def, MEMORY_LENGTH);
        let oob = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, length);
        self.b
            .ins()
            .trapnz(oob, clif_trap(TrapCode::MemoryOutOfBounds));
        let base_flags = match self.options.bounds_checks {
            BoundsChecks::Guard { .. } => ro(),
            BoundsChecks::Explicit => rw(),
        };
        let base = self.b.ins().load(I64, base_flags, def, MEMORY_BASE);
        (n, base, d)
    }

    /// Calls `memmove` or `memset` (the Rust functions `compile` links for Cranelift's
    /// libcalls, in the host's convention) on checked ranges of memory 0. They touch
    /// nothing but those bytes: no fuel, no store, so nothing is written back around them.
    fn bulk_call(&mut self, which: LibCall, args: &[Value]) {
        let set = which == LibCall::Memset;
        let f = match self.bulk_fns[usize::from(set)] {
            Some(f) => f,
            None => {
                let mut sig = Signature::new(self.host_call_conv);
                let val = if set { I32 } else { I64 };
                sig.params
                    .extend([AbiParam::new(I64), AbiParam::new(val), AbiParam::new(I64)]);
                sig.returns.push(AbiParam::new(I64));
                let signature = self.b.import_signature(sig);
                let f = self.b.import_function(ExtFuncData {
                    name: ExternalName::LibCall(which),
                    signature,
                    colocated: false,
                    patchable: false,
                });
                self.bulk_fns[usize::from(set)] = Some(f);
                f
            }
        };
        self.b.ins().call(f, args);
    }

    /// Table `table`'s definition, its length, and the element address of the popped index
    /// after checking it against the length.
    fn table_elem(&mut self, table: u32, index: Value) -> Value {
        let def = self.vmctx_array(VMCTX_TABLES, table, 8);
        let len = self.b.ins().load(I64, rw(), def, TABLE_LENGTH);
        let idx = self.b.ins().uextend(I64, index);
        let oob = self
            .b
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, idx, len);
        self.b
            .ins()
            .trapnz(oob, clif_trap(TrapCode::TableOutOfBounds));
        let base = self.b.ins().load(I64, rw(), def, TABLE_BASE);
        let scaled = self.b.ins().ishl_imm_u(idx, 3);
        self.b.ins().iadd(base, scaled)
    }

    fn global_slot(&mut self, index: u32) -> Value {
        self.vmctx_array(VMCTX_GLOBALS, index, 8)
    }

    // ---- calls ----

    fn call(&mut self, function_index: u32) -> Result<()> {
        let ty = self.module.func_type(function_index)?.clone();
        let args = self.pop_n(ty.params().len());
        let defined = function_index >= self.module.num_imported_funcs;
        // The fuel stays in the pinned register: every Wasm-convention function (Wasm code
        // and the host trampolines) takes and leaves it there.
        let results = if defined && self.options.direct_calls {
            let callee = self.direct_ref(function_index)?;
            let vmctx = self.vmctx;
            wasm_call(&mut self.b, &ty, vmctx, vmctx, &args, |b, all| {
                b.ins().call(callee, all)
            })
        } else {
            // Through the function's VMFuncRef (VM4): imports, and lazily compiled code whose
            // callees may not be laid out yet.
            let funcref = self.vmctx_array(VMCTX_FUNCS, function_index, 8);
            let type_index = self.module.funcs[function_index as usize];
            self.call_funcref(funcref, type_index, &args)?
        };
        self.stack.extend(results);
        Ok(())
    }

    fn direct_ref(&mut self, function_index: u32) -> Result<ir::FuncRef> {
        if let Some(&(_, f)) = self.direct.iter().find(|(i, _)| *i == function_index) {
            return Ok(f);
        }
        let sig = wasm_signature(self.module.func_type(function_index)?);
        let signature = self.b.import_signature(sig);
        let name = self
            .b
            .func
            .declare_imported_user_function(UserExternalName::new(FUNC_NAMESPACE, function_index));
        let f = self.b.import_function(ExtFuncData {
            name: ExternalName::user(name),
            signature,
            colocated: true,
            patchable: false,
        });
        self.direct.push((function_index, f));
        Ok(f)
    }

    fn call_funcref(
        &mut self,
        funcref: Value,
        type_index: u32,
        args: &[Value],
    ) -> Result<Vec<Value>> {
        let sig = self.type_sig(type_index)?;
        let ty = self.module.type_at(type_index)?;
        let code = self.b.ins().load(I64, rw(), funcref, FUNCREF_WASM_CALL);
        let callee_vmctx = self.b.ins().load(I64, rw(), funcref, FUNCREF_VMCTX);
        Ok(wasm_call(
            &mut self.b,
            ty,
            callee_vmctx,
            self.vmctx,
            args,
            |b, all| b.ins().call_indirect(sig, code, all),
        ))
    }

    fn call_indirect(&mut self, type_index: u32, table: u32) -> Result<()> {
        let index = self.pop();
        let nparams = self.module.type_at(type_index)?.params().len();
        let args = self.pop_n(nparams);
        let elem = self.table_elem(table, index);
        // A raw reference (VM3): 0 is null, else 1 + an index into the store's functions.
        let raw = self.b.ins().load(I64, rw(), elem, 0);
        self.b
            .ins()
            .trapz(raw, clif_trap(TrapCode::UninitializedElement));
        // The store's array may have moved since the last call (VM6): load it now.
        let store = self.b.ins().load(I64, ro(), self.vmctx, VMCTX_STORE);
        let funcs = self.b.ins().load(I64, rw(), store, STORE_FUNCS);
        let index = self.b.ins().iadd_imm_s(raw, -1);
        let offset = self.b.ins().imul_imm_s(index, FUNCREF_SIZE);
        let funcref = self.b.ins().iadd(funcs, offset);
        let actual = self.b.ins().load(I32, rw(), funcref, FUNCREF_TYPE_ID);
        let type_ids = self.b.ins().load(I64, ro(), self.vmctx, VMCTX_TYPE_IDS);
        let expected = self
            .b
            .ins()
            .load(I32, ro(), type_ids, (type_index * 4) as i32);
        let mismatch = self.b.ins().icmp(IntCC::NotEqual, actual, expected);
        self.b
            .ins()
            .trapnz(mismatch, clif_trap(TrapCode::IndirectCallTypeMismatch));
        let results = self.call_funcref(funcref, type_index, &args)?;
        self.stack.extend(results);
        Ok(())
    }

    // ---- control ----

    fn jump_to(&mut self, depth: u32) {
        let i = self.ctrl.len() - 1 - depth as usize;
        let frame = &mut self.ctrl[i];
        let (label, arity) = (frame.label, frame.label_arity());
        if frame.kind != FrameKind::Loop {
            frame.exit_branched = true;
            frame.exit_reachable = true;
        }
        if self.fuel_on {
            let blocks = self.fuel_edge_blocks(i);
            self.fuel_pending.clear();
            self.fuel_charge(blocks);
        }
        let args = self.top_n(arity);
        self.b.ins().jump(label, &args);
    }

    fn br_table(&mut self, targets: &wasmparser::BrTable<'_>, offset: usize) -> Result<()> {
        let index = self.pop();
        let mut depths = Vec::with_capacity(targets.len() as usize + 1);
        for t in targets.targets() {
            depths.push(t.map_err(|e| Error::compile(alloc::format!("{e}"), offset as u64))?);
        }
        let default = targets.default();
        self.fuel_settle();
        let fuel = self.fuel_on;
        // One edge block per distinct depth when the targets take values, so the jump table
        // itself carries none, or when the edge charges fuel.
        let mut edges: Vec<(u32, Block)> = Vec::new();
        let mut block_for = |t: &mut Self, depth: u32| -> Block {
            let i = t.ctrl.len() - 1 - depth as usize;
            let frame = &mut t.ctrl[i];
            if frame.kind != FrameKind::Loop {
                frame.exit_branched = true;
                frame.exit_reachable = true;
            }
            let charges = fuel && matches!(frame.kind, FrameKind::Block | FrameKind::If);
            if frame.label_arity() == 0 && !charges {
                return frame.label;
            }
            if let Some(&(_, b)) = edges.iter().find(|(d, _)| *d == depth) {
                return b;
            }
            let b = t.b.create_block();
            edges.push((depth, b));
            b
        };
        let default_block = block_for(self, default);
        let table: Vec<Block> = depths.iter().map(|&d| block_for(self, d)).collect();
        let def_call = self.b.func.dfg.block_call(default_block, &[]);
        let calls: Vec<_> = table
            .iter()
            .map(|&b| self.b.func.dfg.block_call(b, &[]))
            .collect();
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(def_call, &calls));
        self.b.ins().br_table(index, jt);
        for (depth, block) in edges {
            self.b.switch_to_block(block);
            self.b.seal_block(block);
            let i = self.ctrl.len() - 1 - depth as usize;
            let (label, arity) = (self.ctrl[i].label, self.ctrl[i].label_arity());
            if fuel {
                let blocks = self.fuel_edge_blocks(i);
                self.fuel_charge(blocks);
            }
            let args = self.top_n(arity);
            self.b.ins().jump(label, &args);
        }
        Ok(())
    }

    fn push_frame(&mut self, kind: FrameKind, params: &[Type], results: &[Type]) -> (Block, Block) {
        let exit = self.b.create_block();
        for &r in results {
            self.b.append_block_param(exit, r);
        }
        let label = if kind == FrameKind::Loop {
            let header = self.b.create_block();
            for &p in params {
                self.b.append_block_param(header, p);
            }
            header
        } else {
            exit
        };
        self.ctrl.push(Frame {
            kind,
            label,
            exit,
            else_block: None,
            if_params: Vec::new(),
            height: self.stack.len() - params.len(),
            params: params.len(),
            results: results.len(),
            exit_branched: false,
            exit_reachable: false,
            fuel_exit: None,
            fuel_if: Vec::new(),
        });
        (label, exit)
    }

    fn else_(&mut self) {
        let Some(frame) = self.ctrl.last_mut() else {
            return;
        };
        let Some(else_block) = frame.else_block.take() else {
            return;
        };
        let (exit, results, height) = (frame.exit, frame.results, frame.height);
        let if_params = core::mem::take(&mut frame.if_params);
        let fuel_if = core::mem::take(&mut frame.fuel_if);
        if self.reachable {
            frame.exit_reachable = true;
            frame.exit_branched = true;
            if self.fuel_on {
                // The then branch's end is an edge to the exit's fuel block.
                let i = self.ctrl.len() - 1;
                let blocks = self.fuel_edge_blocks(i);
                self.fuel_pending.clear();
                self.fuel_charge(blocks);
            }
            let args = self.top_n(results);
            self.b.ins().jump(exit, &args);
        }
        self.stack.truncate(height);
        self.stack.extend(if_params);
        self.b.switch_to_block(else_block);
        self.b.seal_block(else_block);
        self.reachable = true;
        // The else branch is entered only from the `if`: it owes what the `if` owed.
        self.fuel_pending = fuel_if;
        self.fuel_start();
    }

    fn end(&mut self) {
        let Some(mut frame) = self.ctrl.pop() else {
            return;
        };
        let fuel = self.fuel_on;
        // Whether a fuel block starts at a `block` or `if` exit: a branch reaches it (the
        // false edge of an `if` without `else` is one). Its count is charged on the edges.
        let join = matches!(frame.kind, FrameKind::Block | FrameKind::If)
            && (frame.exit_branched || frame.else_block.is_some());
        let exit_fuel = (fuel && join).then(|| match frame.fuel_exit {
            Some(id) => id,
            None => self.fuel_new(),
        });
        if self.reachable {
            if fuel {
                match (frame.kind, exit_fuel) {
                    // The return is reached by other edges too: nothing stays pending.
                    (FrameKind::Func, _) => self.fuel_settle(),
                    (_, Some(id)) => {
                        let mut blocks = core::mem::take(&mut self.fuel_pending);
                        blocks.push(id);
                        self.fuel_charge(blocks);
                    }
                    // The exit has this edge only: the pending blocks stay pending.
                    (_, None) => {}
                }
            }
            let args = self.top_n(frame.results);
            self.b.ins().jump(frame.exit, &args);
            frame.exit_reachable = true;
        }
        if let Some(else_block) = frame.else_block.take() {
            // An `if` without `else`: the false edge carries the params on as results.
            self.b.switch_to_block(else_block);
            self.b.seal_block(else_block);
            if let Some(id) = exit_fuel {
                let mut blocks = core::mem::take(&mut frame.fuel_if);
                blocks.push(id);
                self.fuel_charge(blocks);
            }
            let args: Vec<BlockArg> = frame
                .if_params
                .iter()
                .map(|&v| BlockArg::Value(v))
                .collect();
            self.b.ins().jump(frame.exit, &args);
            frame.exit_reachable = true;
            frame.exit_branched = true;
        }
        if frame.kind == FrameKind::Loop {
            self.b.seal_block(frame.label);
        }
        self.stack.truncate(frame.height);
        if !frame.exit_reachable {
            self.reachable = false;
            return;
        }
        self.b.switch_to_block(frame.exit);
        self.b.seal_block(frame.exit);
        let results = self.b.block_params(frame.exit).to_vec();
        if frame.kind == FrameKind::Func {
            wasm_return(&mut self.b, self.ret_area, &results);
            self.reachable = false;
            return;
        }
        self.stack.extend(results);
        self.reachable = true;
        if let Some(id) = exit_fuel {
            // Every edge here charged the block.
            self.fuel_pending.clear();
            self.fuel_current = id;
        } else if frame.kind == FrameKind::Loop {
            // After a loop: entered only by falling out of its body.
            self.fuel_start();
        }
    }

    fn skip_unreachable(&mut self, op: &Operator<'_>) {
        match op {
            Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                self.unreachable_depth += 1;
            }
            Operator::Else if self.unreachable_depth == 0 => self.else_(),
            Operator::End => {
                if self.unreachable_depth > 0 {
                    self.unreachable_depth -= 1;
                } else {
                    self.end();
                }
            }
            _ => {}
        }
    }

    fn unary(&mut self, f: impl FnOnce(&mut FunctionBuilder<'_>, Value) -> Value) {
        let a = self.pop();
        let v = f(&mut self.b, a);
        self.push(v);
    }

    fn binary(&mut self, f: impl FnOnce(&mut FunctionBuilder<'_>, Value, Value) -> Value) {
        let (a, b) = self.pop2();
        let v = f(&mut self.b, a, b);
        self.push(v);
    }

    fn icmp(&mut self, cc: IntCC) {
        self.binary(|b, x, y| {
            let c = b.ins().icmp(cc, x, y);
            b.ins().uextend(I32, c)
        });
    }

    fn fcmp(&mut self, cc: FloatCC) {
        self.binary(|b, x, y| {
            let c = b.ins().fcmp(cc, x, y);
            b.ins().uextend(I32, c)
        });
    }

    fn eqz(&mut self) {
        self.unary(|b, x| {
            let c = b.ins().icmp_imm_s(IntCC::Equal, x, 0);
            b.ins().uextend(I32, c)
        });
    }

    fn op(&mut self, op: &Operator<'_>, offset: usize) -> Result<()> {
        if !self.reachable {
            self.skip_unreachable(op);
            return Ok(());
        }
        self.charge();
        if self.fuel_on && observes_fuel(op) {
            self.fuel_settle();
        }
        use Operator as O;
        match op {
            O::Unreachable => {
                self.b.ins().trap(clif_trap(TrapCode::Unreachable));
                self.reachable = false;
            }
            O::Nop => {}
            O::Block { blockty } => {
                let (params, results) = self.block_types(*blockty, offset)?;
                self.push_frame(FrameKind::Block, &params, &results);
            }
            O::Loop { blockty } => {
                let (params, results) = self.block_types(*blockty, offset)?;
                let (header, _) = self.push_frame(FrameKind::Loop, &params, &results);
                // The header is a check point, and a join: nothing stays pending.
                self.fuel_settle();
                let args = self.top_n(params.len());
                self.b.ins().jump(header, &args);
                let height = self.stack.len() - params.len();
                self.stack.truncate(height);
                self.b.switch_to_block(header);
                let header_params = self.b.block_params(header).to_vec();
                self.stack.extend(header_params);
                if self.fuel_on {
                    self.fuel_start_checked();
                }
            }
            O::If { blockty } => {
                let cond = self.pop();
                let (params, results) = self.block_types(*blockty, offset)?;
                self.push_frame(FrameKind::If, &params, &results);
                let then_block = self.b.create_block();
                let else_block = self.b.create_block();
                self.b.ins().brif(cond, then_block, &[], else_block, &[]);
                let if_params = self.stack[self.stack.len() - params.len()..].to_vec();
                let fuel_if = self.fuel_pending.clone();
                if let Some(frame) = self.ctrl.last_mut() {
                    frame.else_block = Some(else_block);
                    frame.if_params = if_params;
                    frame.fuel_if = fuel_if;
                }
                self.b.switch_to_block(then_block);
                self.b.seal_block(then_block);
            }
            O::Else => self.else_(),
            O::End => self.end(),
            O::Br { relative_depth } => {
                self.jump_to(*relative_depth);
                self.reachable = false;
            }
            O::BrIf { relative_depth } => {
                let cond = self.pop();
                let i = self.ctrl.len() - 1 - *relative_depth as usize;
                let frame = &mut self.ctrl[i];
                let (label, arity) = (frame.label, frame.label_arity());
                if frame.kind != FrameKind::Loop {
                    frame.exit_branched = true;
                    frame.exit_reachable = true;
                }
                let charges = matches!(frame.kind, FrameKind::Block | FrameKind::If);
                let args = self.top_n(arity);
                let cont = self.b.create_block();
                if self.fuel_on && charges {
                    // The taken edge charges the pending blocks and the target's in a block
                    // of its own; the fall-through keeps them pending.
                    let edge = self.b.create_block();
                    self.b.ins().brif(cond, edge, &[], cont, &[]);
                    self.b.switch_to_block(edge);
                    self.b.seal_block(edge);
                    let blocks = self.fuel_edge_blocks(i);
                    self.fuel_charge(blocks);
                    self.b.ins().jump(label, &args);
                } else {
                    // A loop header or the return: both paths owe what is pending.
                    self.fuel_settle();
                    self.b.ins().brif(cond, label, &args, cont, &[]);
                }
                self.b.switch_to_block(cont);
                self.b.seal_block(cont);
            }
            O::BrTable { targets } => {
                self.br_table(targets, offset)?;
                self.reachable = false;
            }
            O::Return => {
                let n = self.ctrl[0].results;
                let results = self.pop_n(n);
                wasm_return(&mut self.b, self.ret_area, &results);
                self.reachable = false;
            }
            O::Call { function_index } => self.call(*function_index)?,
            O::CallIndirect {
                type_index,
                table_index,
            } => self.call_indirect(*type_index, *table_index)?,
            O::Drop => {
                self.pop();
            }
            O::Select | O::TypedSelect { .. } => {
                let cond = self.pop();
                let (a, b) = self.pop2();
                let v = self.b.ins().select(cond, a, b);
                self.push(v);
            }
            O::LocalGet { local_index } => {
                let var = self.local(*local_index, offset)?;
                let v = self.b.use_var(var);
                self.push(v);
            }
            O::LocalSet { local_index } => {
                let var = self.local(*local_index, offset)?;
                let v = self.pop();
                self.b.def_var(var, v);
            }
            O::LocalTee { local_index } => {
                let var = self.local(*local_index, offset)?;
                let v = *self.stack.last().expect("validated operand stack");
                self.b.def_var(var, v);
            }
            O::GlobalGet { global_index } => {
                let g = self.module.global(*global_index)?;
                let slot = self.global_slot(*global_index);
                let flags = if g.mutable { rw() } else { ro() };
                let v = self.b.ins().load(clif_type(g.ty), flags, slot, 0);
                self.push(v);
            }
            O::GlobalSet { global_index } => {
                let v = self.pop();
                let slot = self.global_slot(*global_index);
                self.b.ins().store(rw(), v, slot, 0);
            }

            O::I32Load { memarg } => self.load(memarg, 4, LoadKind::Plain, I32),
            O::I64Load { memarg } => self.load(memarg, 8, LoadKind::Plain, I64),
            O::F32Load { memarg } => self.load(memarg, 4, LoadKind::Plain, F32),
            O::F64Load { memarg } => self.load(memarg, 8, LoadKind::Plain, F64),
            O::I32Load8S { memarg } => self.load(memarg, 1, LoadKind::S8, I32),
            O::I32Load8U { memarg } => self.load(memarg, 1, LoadKind::U8, I32),
            O::I32Load16S { memarg } => self.load(memarg, 2, LoadKind::S16, I32),
            O::I32Load16U { memarg } => self.load(memarg, 2, LoadKind::U16, I32),
            O::I64Load8S { memarg } => self.load(memarg, 1, LoadKind::S8, I64),
            O::I64Load8U { memarg } => self.load(memarg, 1, LoadKind::U8, I64),
            O::I64Load16S { memarg } => self.load(memarg, 2, LoadKind::S16, I64),
            O::I64Load16U { memarg } => self.load(memarg, 2, LoadKind::U16, I64),
            O::I64Load32S { memarg } => self.load(memarg, 4, LoadKind::S32, I64),
            O::I64Load32U { memarg } => self.load(memarg, 4, LoadKind::U32, I64),
            O::I32Store { memarg } | O::F32Store { memarg } => self.store(memarg, 4),
            O::I64Store { memarg } | O::F64Store { memarg } => self.store(memarg, 8),
            O::I32Store8 { memarg } | O::I64Store8 { memarg } => self.store(memarg, 1),
            O::I32Store16 { memarg } | O::I64Store16 { memarg } => self.store(memarg, 2),
            O::I64Store32 { memarg } => self.store(memarg, 4),
            O::MemorySize { .. } => {
                let def = self.memory();
                let len = self.b.ins().load(I64, rw(), def, MEMORY_LENGTH);
                let pages = self.b.ins().ushr_imm_u(len, 16);
                let v = self.b.ins().ireduce(I32, pages);
                self.push(v);
            }
            O::MemoryGrow { .. } => {
                let delta = self.pop();
                let v = self.libcall(Libcall::MemoryGrow, &[delta]);
                self.push(v.expect("memory_grow returns a value"));
            }
            O::MemoryFill { .. } => {
                let (dst, val, len) = {
                    let a = self.pop_n(3);
                    (a[0], a[1], a[2])
                };
                let (n, base, d) = self.bulk_ranges(len, dst, None);
                let to = self.b.ins().iadd(base, d);
                self.bulk_call(LibCall::Memset, &[to, val, n]);
            }
            O::MemoryCopy { .. } => {
                let (dst, src, len) = {
                    let a = self.pop_n(3);
                    (a[0], a[1], a[2])
                };
                let (n, base, d, s) = {
                    let (n, base, d) = self.bulk_ranges(len, dst, Some(src));
                    let s = self.b.ins().uextend(I64, src);
                    (n, base, d, s)
                };
                let to = self.b.ins().iadd(base, d);
                let from = self.b.ins().iadd(base, s);
                self.bulk_call(LibCall::Memmove, &[to, from, n]);
            }
            O::MemoryInit { data_index, .. } => {
                let mut args = alloc::vec![self.b.ins().iconst(I32, i64::from(*data_index))];
                args.extend(self.pop_n(3));
                let s = self.libcall(Libcall::MemoryInit, &args);
                self.trap_on_status(Libcall::MemoryInit, s);
            }
            O::DataDrop { data_index } => {
                let d = self.b.ins().iconst(I32, i64::from(*data_index));
                self.libcall(Libcall::DataDrop, &[d]);
            }

            O::I32Const { value } => {
                let v = self.b.ins().iconst(I32, i64::from(*value));
                self.push(v);
            }
            O::I64Const { value } => {
                let v = self.b.ins().iconst(I64, *value);
                self.push(v);
            }
            O::F32Const { value } => {
                let v = self.b.ins().f32const(Ieee32::with_bits(value.bits()));
                self.push(v);
            }
            O::F64Const { value } => {
                let v = self.b.ins().f64const(Ieee64::with_bits(value.bits()));
                self.push(v);
            }

            O::I32Eqz | O::I64Eqz => self.eqz(),
            O::I32Eq | O::I64Eq => self.icmp(IntCC::Equal),
            O::I32Ne | O::I64Ne => self.icmp(IntCC::NotEqual),
            O::I32LtS | O::I64LtS => self.icmp(IntCC::SignedLessThan),
            O::I32LtU | O::I64LtU => self.icmp(IntCC::UnsignedLessThan),
            O::I32GtS | O::I64GtS => self.icmp(IntCC::SignedGreaterThan),
            O::I32GtU | O::I64GtU => self.icmp(IntCC::UnsignedGreaterThan),
            O::I32LeS | O::I64LeS => self.icmp(IntCC::SignedLessThanOrEqual),
            O::I32LeU | O::I64LeU => self.icmp(IntCC::UnsignedLessThanOrEqual),
            O::I32GeS | O::I64GeS => self.icmp(IntCC::SignedGreaterThanOrEqual),
            O::I32GeU | O::I64GeU => self.icmp(IntCC::UnsignedGreaterThanOrEqual),
            O::F32Eq | O::F64Eq => self.fcmp(FloatCC::Equal),
            O::F32Ne | O::F64Ne => self.fcmp(FloatCC::NotEqual),
            O::F32Lt | O::F64Lt => self.fcmp(FloatCC::LessThan),
            O::F32Gt | O::F64Gt => self.fcmp(FloatCC::GreaterThan),
            O::F32Le | O::F64Le => self.fcmp(FloatCC::LessThanOrEqual),
            O::F32Ge | O::F64Ge => self.fcmp(FloatCC::GreaterThanOrEqual),

            O::I32Clz | O::I64Clz => self.unary(|b, x| b.ins().clz(x)),
            O::I32Ctz | O::I64Ctz => self.unary(|b, x| b.ins().ctz(x)),
            O::I32Popcnt | O::I64Popcnt => self.unary(|b, x| b.ins().popcnt(x)),
            O::I32Add | O::I64Add => self.binary(|b, x, y| b.ins().iadd(x, y)),
            O::I32Sub | O::I64Sub => self.binary(|b, x, y| b.ins().isub(x, y)),
            O::I32Mul | O::I64Mul => self.binary(|b, x, y| b.ins().imul(x, y)),
            // Cranelift's division traps on a zero divisor (and `sdiv` on MIN / -1) with the
            // codes `clif_trap` maps to the Wasm ones; `srem` gives 0 for MIN % -1.
            O::I32DivS | O::I64DivS => self.binary(|b, x, y| b.ins().sdiv(x, y)),
            O::I32DivU | O::I64DivU => self.binary(|b, x, y| b.ins().udiv(x, y)),
            O::I32RemS | O::I64RemS => self.binary(|b, x, y| b.ins().srem(x, y)),
            O::I32RemU | O::I64RemU => self.binary(|b, x, y| b.ins().urem(x, y)),
            O::I32And | O::I64And => self.binary(|b, x, y| b.ins().band(x, y)),
            O::I32Or | O::I64Or => self.binary(|b, x, y| b.ins().bor(x, y)),
            O::I32Xor | O::I64Xor => self.binary(|b, x, y| b.ins().bxor(x, y)),
            // CLIF shifts and rotates take the amount modulo the width, as Wasm does.
            O::I32Shl | O::I64Shl => self.binary(|b, x, y| b.ins().ishl(x, y)),
            O::I32ShrS | O::I64ShrS => self.binary(|b, x, y| b.ins().sshr(x, y)),
            O::I32ShrU | O::I64ShrU => self.binary(|b, x, y| b.ins().ushr(x, y)),
            O::I32Rotl | O::I64Rotl => self.binary(|b, x, y| b.ins().rotl(x, y)),
            O::I32Rotr | O::I64Rotr => self.binary(|b, x, y| b.ins().rotr(x, y)),

            O::F32Abs | O::F64Abs => self.unary(|b, x| b.ins().fabs(x)),
            O::F32Neg | O::F64Neg => self.unary(|b, x| b.ins().fneg(x)),
            O::F32Ceil | O::F64Ceil => self.unary(|b, x| b.ins().ceil(x)),
            O::F32Floor | O::F64Floor => self.unary(|b, x| b.ins().floor(x)),
            O::F32Trunc | O::F64Trunc => self.unary(|b, x| b.ins().trunc(x)),
            O::F32Nearest | O::F64Nearest => self.unary(|b, x| b.ins().nearest(x)),
            O::F32Sqrt | O::F64Sqrt => self.unary(|b, x| b.ins().sqrt(x)),
            O::F32Add | O::F64Add => self.binary(|b, x, y| b.ins().fadd(x, y)),
            O::F32Sub | O::F64Sub => self.binary(|b, x, y| b.ins().fsub(x, y)),
            O::F32Mul | O::F64Mul => self.binary(|b, x, y| b.ins().fmul(x, y)),
            O::F32Div | O::F64Div => self.binary(|b, x, y| b.ins().fdiv(x, y)),
            // CLIF's fmin/fmax are Wasm's: NaN if either is NaN, -0 below +0.
            O::F32Min | O::F64Min => self.binary(|b, x, y| b.ins().fmin(x, y)),
            O::F32Max | O::F64Max => self.binary(|b, x, y| b.ins().fmax(x, y)),
            O::F32Copysign | O::F64Copysign => self.binary(|b, x, y| b.ins().fcopysign(x, y)),

            O::I32WrapI64 => self.unary(|b, x| b.ins().ireduce(I32, x)),
            O::I64ExtendI32S => self.unary(|b, x| b.ins().sextend(I64, x)),
            O::I64ExtendI32U => self.unary(|b, x| b.ins().uextend(I64, x)),
            O::I32Extend8S => self.extend_in_place(I32, I8),
            O::I32Extend16S => self.extend_in_place(I32, I16),
            O::I64Extend8S => self.extend_in_place(I64, I8),
            O::I64Extend16S => self.extend_in_place(I64, I16),
            O::I64Extend32S => self.extend_in_place(I64, I32),
            O::I32TruncF32S | O::I32TruncF64S => self.unary(|b, x| b.ins().fcvt_to_sint(I32, x)),
            O::I32TruncF32U | O::I32TruncF64U => self.unary(|b, x| b.ins().fcvt_to_uint(I32, x)),
            O::I64TruncF32S | O::I64TruncF64S => self.unary(|b, x| b.ins().fcvt_to_sint(I64, x)),
            O::I64TruncF32U | O::I64TruncF64U => self.unary(|b, x| b.ins().fcvt_to_uint(I64, x)),
            O::I32TruncSatF32S | O::I32TruncSatF64S => {
                self.unary(|b, x| b.ins().fcvt_to_sint_sat(I32, x))
            }
            O::I32TruncSatF32U | O::I32TruncSatF64U => {
                self.unary(|b, x| b.ins().fcvt_to_uint_sat(I32, x))
            }
            O::I64TruncSatF32S | O::I64TruncSatF64S => {
                self.unary(|b, x| b.ins().fcvt_to_sint_sat(I64, x))
            }
            O::I64TruncSatF32U | O::I64TruncSatF64U => {
                self.unary(|b, x| b.ins().fcvt_to_uint_sat(I64, x))
            }
            O::F32ConvertI32S | O::F32ConvertI64S => {
                self.unary(|b, x| b.ins().fcvt_from_sint(F32, x))
            }
            O::F32ConvertI32U | O::F32ConvertI64U => {
                self.unary(|b, x| b.ins().fcvt_from_uint(F32, x))
            }
            O::F64ConvertI32S | O::F64ConvertI64S => {
                self.unary(|b, x| b.ins().fcvt_from_sint(F64, x))
            }
            O::F64ConvertI32U | O::F64ConvertI64U => {
                self.unary(|b, x| b.ins().fcvt_from_uint(F64, x))
            }
            O::F32DemoteF64 => self.unary(|b, x| b.ins().fdemote(F32, x)),
            O::F64PromoteF32 => self.unary(|b, x| b.ins().fpromote(F64, x)),
            O::I32ReinterpretF32 => self.bitcast(I32),
            O::I64ReinterpretF64 => self.bitcast(I64),
            O::F32ReinterpretI32 => self.bitcast(F32),
            O::F64ReinterpretI64 => self.bitcast(F64),

            O::RefNull { .. } => {
                let v = self.b.ins().iconst(I64, 0);
                self.push(v);
            }
            O::RefIsNull => self.eqz(),
            O::RefFunc { function_index } => {
                let v = self.vmctx_array(VMCTX_FUNC_REFS, *function_index, 8);
                self.push(v);
            }
            O::TableGet { table } => {
                let index = self.pop();
                let elem = self.table_elem(*table, index);
                let v = self.b.ins().load(I64, rw(), elem, 0);
                self.push(v);
            }
            O::TableSet { table } => {
                let value = self.pop();
                let index = self.pop();
                let elem = self.table_elem(*table, index);
                self.b.ins().store(rw(), value, elem, 0);
            }
            O::TableSize { table } => {
                let def = self.vmctx_array(VMCTX_TABLES, *table, 8);
                let len = self.b.ins().load(I64, rw(), def, TABLE_LENGTH);
                let v = self.b.ins().ireduce(I32, len);
                self.push(v);
            }
            O::TableGrow { table } => {
                let (init, delta) = self.pop2();
                let t = self.b.ins().iconst(I32, i64::from(*table));
                let v = self.libcall(Libcall::TableGrow, &[t, init, delta]);
                self.push(v.expect("table_grow returns a value"));
            }
            O::TableFill { table } => {
                let t = self.b.ins().iconst(I32, i64::from(*table));
                let mut args = alloc::vec![t];
                args.extend(self.pop_n(3));
                let s = self.libcall(Libcall::TableFill, &args);
                self.trap_on_status(Libcall::TableFill, s);
            }
            O::TableCopy {
                dst_table,
                src_table,
            } => {
                let d = self.b.ins().iconst(I32, i64::from(*dst_table));
                let s = self.b.ins().iconst(I32, i64::from(*src_table));
                let mut args = alloc::vec![d, s];
                args.extend(self.pop_n(3));
                let st = self.libcall(Libcall::TableCopy, &args);
                self.trap_on_status(Libcall::TableCopy, st);
            }
            O::TableInit { elem_index, table } => {
                let t = self.b.ins().iconst(I32, i64::from(*table));
                let e = self.b.ins().iconst(I32, i64::from(*elem_index));
                let mut args = alloc::vec![t, e];
                args.extend(self.pop_n(3));
                let st = self.libcall(Libcall::TableInit, &args);
                self.trap_on_status(Libcall::TableInit, st);
            }
            O::ElemDrop { elem_index } => {
                let e = self.b.ins().iconst(I32, i64::from(*elem_index));
                self.libcall(Libcall::ElemDrop, &[e]);
            }
            other => {
                return Err(unsupported(
                    &alloc::format!("the operator {other:?}"),
                    offset,
                ));
            }
        }
        Ok(())
    }

    fn local(&self, index: u32, offset: usize) -> Result<Variable> {
        self.locals
            .get(index as usize)
            .copied()
            .ok_or_else(|| Error::compile("local index out of range", offset as u64))
    }

    fn extend_in_place(&mut self, ty: Type, from: Type) {
        self.unary(|b, x| {
            let narrow = b.ins().ireduce(from, x);
            b.ins().sextend(ty, narrow)
        });
    }

    fn bitcast(&mut self, to: Type) {
        self.unary(|b, x| b.ins().bitcast(to, MemFlagsData::new(), x));
    }
}

#[derive(Debug, Clone, Copy)]
enum LoadKind {
    Plain,
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
}

fn val_type(ty: wasmparser::ValType, offset: usize) -> Result<ValType> {
    use wasmparser::ValType as W;
    Ok(match ty {
        W::I32 => ValType::I32,
        W::I64 => ValType::I64,
        W::F32 => ValType::F32,
        W::F64 => ValType::F64,
        W::Ref(r) if r == wasmparser::RefType::FUNCREF => ValType::FuncRef,
        W::Ref(r) if r == wasmparser::RefType::EXTERNREF => ValType::ExternRef,
        W::Ref(_) => return Err(unsupported("this reference type", offset)),
        W::V128 => return Err(unsupported("SIMD (v128)", offset)),
    })
}

/// Whether `op` can observe the fuel: it may trap (the fault handler reads the register),
/// call (the callee, a host function or a libcall sees it), return or reach a check point,
/// so the fuel owed on the path must be subtracted before it. Control operators that branch
/// charge their edges themselves and are not listed.
fn observes_fuel(op: &Operator<'_>) -> bool {
    use Operator as O;
    !matches!(
        op,
        O::Nop
            | O::Block { .. }
            | O::Loop { .. }
            | O::If { .. }
            | O::Else
            | O::End
            | O::Br { .. }
            | O::BrIf { .. }
            | O::BrTable { .. }
            | O::Drop
            | O::Select
            | O::TypedSelect { .. }
            | O::LocalGet { .. }
            | O::LocalSet { .. }
            | O::LocalTee { .. }
            | O::GlobalGet { .. }
            | O::GlobalSet { .. }
            | O::MemorySize { .. }
            | O::TableSize { .. }
            | O::I32Const { .. }
            | O::I64Const { .. }
            | O::F32Const { .. }
            | O::F64Const { .. }
            | O::RefNull { .. }
            | O::RefIsNull
            | O::RefFunc { .. }
            | O::I32Eqz
            | O::I32Eq
            | O::I32Ne
            | O::I32LtS
            | O::I32LtU
            | O::I32GtS
            | O::I32GtU
            | O::I32LeS
            | O::I32LeU
            | O::I32GeS
            | O::I32GeU
            | O::I64Eqz
            | O::I64Eq
            | O::I64Ne
            | O::I64LtS
            | O::I64LtU
            | O::I64GtS
            | O::I64GtU
            | O::I64LeS
            | O::I64LeU
            | O::I64GeS
            | O::I64GeU
            | O::F32Eq
            | O::F32Ne
            | O::F32Lt
            | O::F32Gt
            | O::F32Le
            | O::F32Ge
            | O::F64Eq
            | O::F64Ne
            | O::F64Lt
            | O::F64Gt
            | O::F64Le
            | O::F64Ge
            | O::I32Clz
            | O::I32Ctz
            | O::I32Popcnt
            | O::I32Add
            | O::I32Sub
            | O::I32Mul
            | O::I32And
            | O::I32Or
            | O::I32Xor
            | O::I32Shl
            | O::I32ShrS
            | O::I32ShrU
            | O::I32Rotl
            | O::I32Rotr
            | O::I64Clz
            | O::I64Ctz
            | O::I64Popcnt
            | O::I64Add
            | O::I64Sub
            | O::I64Mul
            | O::I64And
            | O::I64Or
            | O::I64Xor
            | O::I64Shl
            | O::I64ShrS
            | O::I64ShrU
            | O::I64Rotl
            | O::I64Rotr
            | O::F32Abs
            | O::F32Neg
            | O::F32Ceil
            | O::F32Floor
            | O::F32Trunc
            | O::F32Nearest
            | O::F32Sqrt
            | O::F32Add
            | O::F32Sub
            | O::F32Mul
            | O::F32Div
            | O::F32Min
            | O::F32Max
            | O::F32Copysign
            | O::F64Abs
            | O::F64Neg
            | O::F64Ceil
            | O::F64Floor
            | O::F64Trunc
            | O::F64Nearest
            | O::F64Sqrt
            | O::F64Add
            | O::F64Sub
            | O::F64Mul
            | O::F64Div
            | O::F64Min
            | O::F64Max
            | O::F64Copysign
            | O::I32WrapI64
            | O::I64ExtendI32S
            | O::I64ExtendI32U
            | O::I32Extend8S
            | O::I32Extend16S
            | O::I64Extend8S
            | O::I64Extend16S
            | O::I64Extend32S
            | O::I32TruncSatF32S
            | O::I32TruncSatF32U
            | O::I32TruncSatF64S
            | O::I32TruncSatF64U
            | O::I64TruncSatF32S
            | O::I64TruncSatF32U
            | O::I64TruncSatF64S
            | O::I64TruncSatF64U
            | O::F32ConvertI32S
            | O::F32ConvertI32U
            | O::F32ConvertI64S
            | O::F32ConvertI64U
            | O::F64ConvertI32S
            | O::F64ConvertI32U
            | O::F64ConvertI64S
            | O::F64ConvertI64U
            | O::F32DemoteF64
            | O::F64PromoteF32
            | O::I32ReinterpretF32
            | O::I64ReinterpretF64
            | O::F32ReinterpretI32
            | O::F64ReinterpretI64
    )
}

/// Whether `body` has a call outside every loop (a call that can be reached from the entry
/// without passing a loop header's check, so the function checks the fuel at entry), and
/// whether it has a loop.
fn scan_checks(body: &FunctionBody<'_>) -> Result<(bool, bool)> {
    let mut reader = body
        .get_operators_reader()
        .map_err(|e| Error::compile(alloc::format!("{e}"), e.offset()))?;
    // Whether each open block is a loop, and how many are.
    let mut open: Vec<bool> = Vec::new();
    let mut loops = 0usize;
    let mut any_loop = false;
    while !reader.eof() {
        let op = reader
            .read()
            .map_err(|e| Error::compile(alloc::format!("{e}"), e.offset()))?;
        match op {
            Operator::Block { .. } | Operator::If { .. } => open.push(false),
            Operator::Loop { .. } => {
                open.push(true);
                loops += 1;
                any_loop = true;
            }
            Operator::End if open.pop() == Some(true) => loops -= 1,
            Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
                if loops == 0 =>
            {
                return Ok((true, any_loop));
            }
            _ => {}
        }
    }
    Ok((false, any_loop))
}
