//! Translation of validated Wasm function bodies into the interpreter's code ([`super::ir`]).
//!
//! The translator runs in one pass over each body, interleaved with `wasmparser`'s function
//! validator: every operator is validated first, then translated. It keeps a compile-time
//! model of the operand stack in which each entry is either a value in its own slot (a
//! *temp*, at `locals + position`) or a deferred reference to a local's or a constant's
//! slot, so `local.get` and `*.const` emit nothing: the consumer reads the slot directly.
//! Deferred entries are materialized into their temps before anything could change what
//! they refer to (a write to that local, a block boundary, a call's argument list).
//!
//! Two peepholes fold adjacent pairs: a value-producing instruction followed by
//! `local.set`/`local.tee` writes the local directly, and an integer comparison followed by
//! `br_if`/`if` becomes one compare-and-branch instruction.
//!
//! A branch carrying values moves them into the target's slots with one copy per value
//! still deferred and one range copy per run of temps; conditional branches materialize
//! many deferred values first, and a `br_table` has one stub per distinct target, so no
//! branch costs code in proportion to the values it carries. What translation may spend
//! is bounded in the input: a budget of work per module (`Translator::charge_work`), a
//! most code per byte of a body, and fallible reservations wherever the module decides a
//! size.
//!
//! Branch targets are resolved (forward ones by patching when the block ends), and with fuel
//! on a `ConsumeFuel` heads every block that can be entered by a jump. Code after an
//! unconditional transfer (`br`, `return`, `unreachable`, ...) is validated but not
//! translated. Finally the code is verified: every slot operand lies inside the frame and
//! every jump inside the code, which the executor relies on.

use alloc::boxed::Box;
use alloc::vec::Vec;

use wasmparser::{
    BlockType, FuncValidator, FunctionBody, Operator, ValidatorResources, VisitOperator,
};

use crate::error::{Error, Result};
use crate::interp::ir::{AccUse, Encode, FuncCode, Instr, Slot, for_each_op};
use crate::types::FuncType;

/// What the translator needs to know about the module around a function.
pub(crate) struct ModuleEnv<'a> {
    pub types: &'a [FuncType],
    /// Type index of every function, imported ones first.
    pub funcs: &'a [u32],
    pub num_imported_funcs: u32,
    pub consume_fuel: bool,
    /// Whether to fuse instruction sequences (see [`crate::Config::fuse_instructions`]).
    pub fuse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CtrlKind {
    Func,
    Block,
    Loop,
    If,
    Else,
}

struct Ctrl {
    kind: CtrlKind,
    /// Operand stack height below the block's parameters.
    height: u32,
    params: u32,
    results: u32,
    /// For loops: the instruction a branch to this label jumps to.
    start: u32,
    /// Forward jumps to patch with the block's end.
    fixups: Vec<usize>,
    /// For `if`: the conditional jump to patch with the `else` (or the end).
    else_fixup: Option<usize>,
    /// Entered in unreachable code: nothing is emitted for it.
    dead: bool,
}

/// A compile-time operand stack entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operand {
    /// In its own slot, `locals + position`.
    Temp,
    /// Still in this local's slot.
    Local(Slot),
    /// In the constant pool slot (a placeholder until the frame layout is known).
    Const(Slot),
}

/// Marks a constant-pool placeholder slot; relocated to the frame's constant area at the end.
const CONST_FLAG: Slot = 1 << 31;

/// How many of a conditional branch's values may still be deferred to locals or constants
/// (each then costs a copy on the branch's path); with more, they are materialized first.
/// This bounds the code of every conditional branch by a constant, however many values it
/// carries and however often it is repeated.
const MAX_DEFERRED_BRANCH_COPIES: usize = 2;

/// The most instructions a function's code may have per byte of its body. The translation
/// emits a few at most for any operator (see `Translator::move_values` and the `br_table`
/// stubs), so valid code stays far below; past it a function is refused rather than
/// translated into code out of proportion to its input.
const MAX_INSTRS_PER_BYTE: usize = 16;

const OUT_OF_MEMORY: &str = "out of host memory translating a function";

/// The work a module's validation and translation may spend on moving values, per byte
/// of the module, plus [`WORK_ALLOWANCE`] (see [`Translator::charge_work`]).
const WORK_PER_BYTE: u64 = 64;
const WORK_ALLOWANCE: u64 = 1 << 25;

const TOO_MUCH_WORK: &str = "module too costly to translate: its branches, calls, blocks and \
     local writes move more values than its size allows (64 per byte, plus 32 Mi)";

/// The copy of `n` consecutive slots: [`Instr::Copy`] for one.
fn copy_run(dst: Slot, src: Slot, n: u32) -> Instr {
    if n == 1 {
        Instr::Copy { dst, src }
    } else {
        Instr::CopyRange { dst, src, n }
    }
}

struct Translator<'a> {
    env: &'a ModuleEnv<'a>,
    code: Vec<Instr>,
    ctrl: Vec<Ctrl>,
    stack: Vec<Operand>,
    max_height: u32,
    num_locals: u32,
    reachable: bool,
    /// The `ConsumeFuel` instruction charging for the current block.
    fuel: Option<usize>,
    consts: Vec<u64>,
    const_slots: ConstIndex,
    /// The last instruction, if it produced the temp now on top of the stack.
    last: Option<usize>,
    /// The newest jump target: instructions before it cannot fuse with ones after it.
    join: usize,
    /// Where each loop starts: the only targets of backward jumps.
    loop_starts: Vec<u32>,
    /// Emptied fixup lists of ended blocks, for the next blocks to reuse.
    fixup_pool: Vec<Vec<usize>>,
    /// A `br_table`'s target depths, and its entries that jump to a stub (depth, entry).
    depths: Vec<u32>,
    stubs: Vec<(u32, usize)>,
    /// The most instructions the function may have (see [`MAX_INSTRS_PER_BYTE`]).
    max_code: usize,
    /// What is left of the module's budget of work (see [`Translator::charge_work`]).
    work_budget: u64,
}

/// Buffers reused from one function's translation to the next, so translating a module
/// does not allocate per function beyond the finished code.
#[derive(Default)]
pub(crate) struct Scratch {
    code: Vec<Instr>,
    ctrl: Vec<Ctrl>,
    stack: Vec<Operand>,
    consts: Vec<u64>,
    const_slots: ConstIndex,
    operators: Option<wasmparser::OperatorsReaderAllocations>,
    targets: Vec<bool>,
    loop_starts: Vec<u32>,
    fixup_pool: Vec<Vec<usize>>,
    depths: Vec<u32>,
    stubs: Vec<(u32, usize)>,
    /// What is left of the module's budget of work (see [`Translator::charge_work`]).
    work_budget: u64,
}

impl Scratch {
    /// Buffers for translating the functions of a module of `module_len` bytes.
    pub(crate) fn new(module_len: usize) -> Scratch {
        Scratch {
            work_budget: (module_len as u64)
                .saturating_mul(WORK_PER_BYTE)
                .saturating_add(WORK_ALLOWANCE),
            ..Scratch::default()
        }
    }
}

/// Validates and translates one function body into code encoded as `O`s.
pub(crate) fn translate<O: Encode>(
    env: &ModuleEnv<'_>,
    func_index: u32,
    body: &FunctionBody<'_>,
    validator: &mut FuncValidator<ValidatorResources>,
    scratch: &mut Scratch,
) -> Result<FuncCode<O>> {
    let ty = &env.types[env.funcs[func_index as usize] as usize];
    let num_params = ty.params().len() as u32;
    let mut num_locals = num_params;
    let mut locals = body.get_locals_reader()?;
    for _ in 0..locals.get_count() {
        let offset = locals.original_position();
        let (count, ty) = locals.read()?;
        validator.define_locals(offset, count, ty)?;
        num_locals = num_locals
            .checked_add(count)
            .filter(|&n| n < CONST_FLAG / 2)
            .ok_or_else(|| Error::compile("too many locals", offset))?;
    }
    let results = ty.results().len() as u32;
    let range = body.range();
    let body_len = (range.end - range.start) as usize;
    let mut t = Translator {
        env,
        code: core::mem::take(&mut scratch.code),
        ctrl: core::mem::take(&mut scratch.ctrl),
        stack: core::mem::take(&mut scratch.stack),
        max_height: 0,
        num_locals,
        reachable: true,
        fuel: None,
        consts: core::mem::take(&mut scratch.consts),
        const_slots: core::mem::take(&mut scratch.const_slots),
        last: None,
        join: 0,
        loop_starts: core::mem::take(&mut scratch.loop_starts),
        fixup_pool: core::mem::take(&mut scratch.fixup_pool),
        depths: core::mem::take(&mut scratch.depths),
        stubs: core::mem::take(&mut scratch.stubs),
        max_code: body_len
            .saturating_mul(MAX_INSTRS_PER_BYTE)
            .saturating_add(64),
        work_budget: scratch.work_budget,
    };
    t.loop_starts.clear();
    t.code.clear();
    for c in t.ctrl.drain(..) {
        let mut fixups = c.fixups;
        fixups.clear();
        t.fixup_pool.push(fixups);
    }
    t.stack.clear();
    t.consts.clear();
    t.const_slots.clear();
    t.ctrl.push(Ctrl {
        kind: CtrlKind::Func,
        height: 0,
        params: 0,
        results,
        start: 0,
        fixups: t.fixup_pool.pop().unwrap_or_default(),
        else_fixup: None,
        dead: false,
    });
    t.new_fuel_block();
    let mut reader = wasmparser::OperatorsReader::new_with_allocs(
        body.get_binary_reader_for_operators()?,
        scratch.operators.take().unwrap_or_default(),
    );
    while !reader.eof() {
        let offset = reader.original_position();
        let mut visit = Visit {
            validator: validator.visitor(offset),
            translator: &mut t,
            offset,
        };
        reader.visit_operator(&mut visit)??;
        if t.code.len() > t.max_code {
            return Err(Error::compile(
                alloc::format!(
                    "function {func_index} is too large to translate: more than {} \
                     instructions for {} bytes of code",
                    t.max_code,
                    body_len
                ),
                offset,
            ));
        }
    }
    reader.finish()?;
    scratch.operators = Some(reader.into_allocations());
    let offset = body.range().end;
    t.finish(num_params, scratch)
        .map_err(|msg| Error::compile(msg, offset))
}

/// Validates and translates each operator as the reader decodes it: one dispatch on the
/// operator, and no [`Operator`] value read, matched and dropped a second time.
struct Visit<'t, 'e, V> {
    validator: V,
    translator: &'t mut Translator<'e>,
    offset: u64,
}

macro_rules! define_visit {
    ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            #[allow(clippy::clone_on_copy)]
            fn $visit(&mut self $($(, $arg: $argty)*)?) -> Self::Output {
                let op = Operator::$op $({ $($arg: $arg.clone()),* })?;
                // Before the validator, whose work on some operators grows with the values
                // they move too. On these error paths `op` is dropped: it may be one of the
                // few operators that own memory (`try_table`'s catches), which the
                // validator rejects.
                self.translator
                    .charge_work(&op)
                    .map_err(|msg| Error::compile(msg, self.offset))?;
                self.validator.$visit($($($arg),*)?)?;
                let result = self.translator.op(&op);
                // Most operators own nothing, and dropping one would still run the drop
                // glue's match. The few that own memory belong to proposals the validator
                // rejected above, so forgetting a validated one leaks nothing.
                core::mem::forget(op);
                result.map_err(|msg| Error::compile(msg, self.offset))
            }
        )*
    };
}

impl<'a, V> VisitOperator<'a> for Visit<'_, '_, V>
where
    V: VisitOperator<'a, Output = wasmparser::Result<()>>,
{
    type Output = Result<()>;
    wasmparser::for_each_visit_operator!(define_visit);
}

type TResult = core::result::Result<(), &'static str>;

macro_rules! translate_ops {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) / $ldx:ident => $ldf:expr,)* }
        store { $($st:ident($stn:literal) / $stx:ident => $stf:expr,)* }
        cmp_branch { $($cb:ident => $cbf:ident,)* }
    ) => {
        impl Translator<'_> {
            /// Translates the operators that map one-to-one to an instruction; returns
            /// `false` for any other operator.
            fn simple_op(&mut self, op: &Operator<'_>) -> bool {
                match *op {
                    $(Operator::$un => self.unary(|dst, src| Instr::$un { dst, src }),)*
                    $(Operator::$ut => self.unary(|dst, src| Instr::$ut { dst, src }),)*
                    $(Operator::$bin => self.binary(|dst, lhs, rhs| Instr::$bin { dst, lhs, rhs }),)*
                    $(Operator::$bt => self.binary(|dst, lhs, rhs| Instr::$bt { dst, lhs, rhs }),)*
                    // memory32 offsets are validated to fit in 32 bits.
                    $(Operator::$ld { memarg } => self.load(
                        memarg.offset,
                        |dst, addr, offset| Instr::$ld { dst, addr, offset },
                        |dst, base, index, shift| Instr::$ldx { dst, base, index, shift },
                    ),)*
                    $(Operator::$st { memarg } => self.store(
                        memarg.offset,
                        |addr, val, offset| Instr::$st { addr, val, offset },
                        |base, index, val, shift| Instr::$stx { base, index, val, shift },
                    ),)*
                    Operator::F32Load { memarg } => self.load(
                        memarg.offset,
                        |dst, addr, offset| Instr::I32Load { dst, addr, offset },
                        |dst, base, index, shift| Instr::I32LoadIdx { dst, base, index, shift },
                    ),
                    Operator::F64Load { memarg } => self.load(
                        memarg.offset,
                        |dst, addr, offset| Instr::I64Load { dst, addr, offset },
                        |dst, base, index, shift| Instr::I64LoadIdx { dst, base, index, shift },
                    ),
                    Operator::F32Store { memarg } => self.store(
                        memarg.offset,
                        |addr, val, offset| Instr::I32Store { addr, val, offset },
                        |base, index, val, shift| Instr::I32StoreIdx { base, index, val, shift },
                    ),
                    Operator::F64Store { memarg } => self.store(
                        memarg.offset,
                        |addr, val, offset| Instr::I64Store { addr, val, offset },
                        |base, index, val, shift| Instr::I64StoreIdx { base, index, val, shift },
                    ),
                    _ => return false,
                }
                true
            }
        }
    };
}
for_each_op!(translate_ops);

/// The compare-and-branch instruction for a comparison `cmp`: jumping when it holds, or
/// when it does not if `negate`. Integer comparisons only: a float comparison's negation
/// is not another comparison (NaN).
fn fuse_compare(cmp: Instr, negate: bool, zero: Slot) -> Option<Instr> {
    macro_rules! pairs {
        ($($cmp:ident => $br:ident / $not:ident,)*) => {
            match cmp {
                $(Instr::$cmp { lhs, rhs, .. } => Some(if negate {
                    Instr::$not { lhs, rhs, target: u32::MAX }
                } else {
                    Instr::$br { lhs, rhs, target: u32::MAX }
                }),)*
                Instr::I32Eqz { src, .. } => Some(if negate {
                    Instr::BrIfNez { cond: src, target: u32::MAX }
                } else {
                    Instr::BrIfEqz { cond: src, target: u32::MAX }
                }),
                Instr::I64Eqz { src, .. } => Some(if negate {
                    Instr::BrI64Ne { lhs: src, rhs: zero, target: u32::MAX }
                } else {
                    Instr::BrI64Eq { lhs: src, rhs: zero, target: u32::MAX }
                }),
                _ => None,
            }
        };
    }
    pairs! {
        I32Eq => BrI32Eq / BrI32Ne, I32Ne => BrI32Ne / BrI32Eq,
        I32LtS => BrI32LtS / BrI32GeS, I32LtU => BrI32LtU / BrI32GeU,
        I32GtS => BrI32GtS / BrI32LeS, I32GtU => BrI32GtU / BrI32LeU,
        I32LeS => BrI32LeS / BrI32GtS, I32LeU => BrI32LeU / BrI32GtU,
        I32GeS => BrI32GeS / BrI32LtS, I32GeU => BrI32GeU / BrI32LtU,
        I64Eq => BrI64Eq / BrI64Ne, I64Ne => BrI64Ne / BrI64Eq,
        I64LtS => BrI64LtS / BrI64GeS, I64LtU => BrI64LtU / BrI64GeU,
        I64GtS => BrI64GtS / BrI64LeS, I64GtU => BrI64GtU / BrI64LeU,
        I64LeS => BrI64LeS / BrI64GtS, I64LeU => BrI64LeU / BrI64GtU,
        I64GeS => BrI64GeS / BrI64LtS, I64GeU => BrI64GeU / BrI64LtU,
    }
}

impl Translator<'_> {
    /// The slot of the temp at stack position `pos`.
    fn temp(&self, pos: usize) -> Slot {
        self.num_locals + pos as u32
    }

    /// The slot the entry at stack position `pos` lives in now.
    fn slot_of(&self, pos: usize) -> Slot {
        match self.stack[pos] {
            Operand::Temp => self.temp(pos),
            Operand::Local(s) | Operand::Const(s) => s,
        }
    }

    fn pop(&mut self) -> Slot {
        let pos = self.stack.len() - 1;
        let slot = self.slot_of(pos);
        self.stack.pop();
        slot
    }

    /// Pushes an entry. Every entry may become a temp, so each counts for the frame size.
    fn push(&mut self, operand: Operand) {
        self.stack.push(operand);
        self.max_height = self.max_height.max(self.stack.len() as u32);
    }

    fn push_temp(&mut self) -> Slot {
        self.push(Operand::Temp);
        self.temp(self.stack.len() - 1)
    }

    fn const_slot(&mut self, value: u64) -> Slot {
        let next = CONST_FLAG | self.consts.len() as u32;
        let slot = self.const_slots.get_or_insert(value, next);
        if slot == next {
            self.consts.push(value);
        }
        slot
    }

    /// Makes room for `n` more instructions, or fails instead of aborting.
    fn room(&mut self, n: usize) -> TResult {
        self.code.try_reserve(n).map_err(|_| OUT_OF_MEMORY)
    }

    fn emit(&mut self, instr: Instr) -> usize {
        self.code.push(instr);
        self.last = None;
        self.code.len() - 1
    }

    /// Emits an instruction producing a new temp on top of the stack.
    fn produce(&mut self, f: impl FnOnce(Slot) -> Instr) {
        let dst = self.push_temp();
        let at = self.emit(f(dst));
        // Every fusion starts from the producer of the top temp; without it, none happens.
        if self.env.fuse {
            self.last = Some(at);
        }
    }

    /// Moves the entry at `pos` into its own temp slot.
    fn materialize(&mut self, pos: usize) {
        if self.stack[pos] != Operand::Temp {
            let (dst, src) = (self.temp(pos), self.slot_of(pos));
            self.emit(Instr::Copy { dst, src });
            self.stack[pos] = Operand::Temp;
        }
    }

    fn materialize_top(&mut self, n: usize) {
        let len = self.stack.len();
        for pos in len - n..len {
            self.materialize(pos);
        }
    }

    /// Materializes every entry still referring to local `local` (before it is written).
    fn materialize_local(&mut self, local: Slot) {
        for pos in 0..self.stack.len() {
            if self.stack[pos] == Operand::Local(local) {
                self.materialize(pos);
            }
        }
    }

    fn pc(&self) -> u32 {
        self.code.len() as u32
    }

    fn new_fuel_block(&mut self) {
        if self.env.consume_fuel {
            self.fuel = Some(self.emit(Instr::ConsumeFuel(0)));
        }
    }

    fn charge(&mut self) {
        if let Some(i) = self.fuel
            && let Instr::ConsumeFuel(n) = &mut self.code[i]
        {
            *n = n.saturating_add(1);
        }
    }

    fn unary(&mut self, f: impl FnOnce(Slot, Slot) -> Instr) {
        let src = self.pop();
        self.produce(|dst| f(dst, src));
    }

    fn binary(&mut self, f: impl FnOnce(Slot, Slot, Slot) -> Instr) {
        let rhs = self.pop();
        let lhs = self.pop();
        self.produce(|dst| f(dst, lhs, rhs));
    }

    /// The address computation that, as the last instruction, produced the temp `addr`
    /// now used as an address (`i32.add`, possibly with a fused `i32.shl`): fusing it into
    /// the access saves a dispatch. Returns `(base, index, shift)`.
    fn fusable_address(
        &self,
        addr: Slot,
        addr_is_temp: bool,
        offset: u64,
    ) -> Option<(Slot, Slot, u8)> {
        if !addr_is_temp || offset != 0 {
            return None;
        }
        match self.code[self.last?] {
            Instr::I32Add { dst, lhs, rhs } if dst == addr => Some((lhs, rhs, 0)),
            Instr::I32AddShl {
                dst,
                base,
                index,
                shift,
            } if dst == addr => Some((base, index, shift)),
            _ => None,
        }
    }

    fn load(
        &mut self,
        offset: u64,
        plain: impl FnOnce(Slot, Slot, u32) -> Instr,
        fused: impl FnOnce(Slot, Slot, Slot, u8) -> Instr,
    ) {
        let addr_is_temp = self.stack.last() == Some(&Operand::Temp);
        let addr = self.pop();
        if let Some((base, index, shift)) = self.fusable_address(addr, addr_is_temp, offset) {
            self.code.pop();
            self.produce(|dst| fused(dst, base, index, shift));
        } else {
            self.produce(|dst| plain(dst, addr, offset as u32));
        }
    }

    fn store(
        &mut self,
        offset: u64,
        plain: impl FnOnce(Slot, Slot, u32) -> Instr,
        fused: impl FnOnce(Slot, Slot, Slot, u8) -> Instr,
    ) {
        let val = self.pop();
        let addr_is_temp = self.stack.last() == Some(&Operand::Temp);
        let addr = self.pop();
        if let Some((base, index, shift)) = self.fusable_address(addr, addr_is_temp, offset) {
            self.code.pop();
            self.emit(fused(base, index, val, shift));
        } else {
            self.emit(plain(addr, val, offset as u32));
        }
    }

    /// `i32.add` of a value and the result of the `i32.shl` by a constant just before it
    /// becomes one [`Instr::I32AddShl`]; returns whether it did.
    fn add_shl(&mut self) -> bool {
        let len = self.stack.len();
        let Some(at) = self.last else { return false };
        let Instr::I32Shl {
            dst: shifted,
            lhs: index,
            rhs,
        } = self.code[at]
        else {
            return false;
        };
        if rhs & CONST_FLAG == 0
            || self.stack[len - 1] != Operand::Temp && self.stack[len - 2] != Operand::Temp
        {
            return false;
        }
        let shift = (self.consts[(rhs & !CONST_FLAG) as usize] & 31) as u8;
        // The shifted value is the temp the shl produced: the top entry, or the one below
        // it if the top is deferred (`i32.add` commutes).
        let (top, below) = (self.slot_of(len - 1), self.slot_of(len - 2));
        let base = if self.stack[len - 1] == Operand::Temp && top == shifted {
            below
        } else if self.stack[len - 2] == Operand::Temp
            && below == shifted
            && self.stack[len - 1] != Operand::Temp
        {
            top
        } else {
            return false;
        };
        self.stack.truncate(len - 2);
        self.code.pop();
        self.produce(|dst| Instr::I32AddShl {
            dst,
            base,
            index,
            shift,
        });
        true
    }

    /// Materializes the top `n` entries and pops them; returns the first one's slot.
    fn pop_run(&mut self, n: usize) -> Slot {
        self.materialize_top(n);
        let base = self.temp(self.stack.len() - n);
        self.stack.truncate(self.stack.len() - n);
        base
    }

    fn set_local(&mut self, local: Slot, tee: bool) {
        let pos = self.stack.len() - 1;
        let value = self.stack[pos];
        let src = self.pop();
        let fold = value == Operand::Temp
            && !self.stack.contains(&Operand::Local(local))
            && self
                .last
                .is_some_and(|at| self.code[at].dst_mut().is_some_and(|d| *d == src));
        if fold {
            let at = self.last.take().expect("checked above");
            if let Some(dst) = self.code[at].dst_mut() {
                *dst = local;
            }
        } else {
            self.materialize_local(local);
            if src != local {
                self.emit(Instr::Copy { dst: local, src });
            }
        }
        if tee {
            self.push(Operand::Local(local));
        }
    }

    fn block_type(&self, bt: BlockType) -> (u32, u32) {
        match bt {
            BlockType::Empty => (0, 0),
            BlockType::Type(_) => (0, 1),
            BlockType::FuncType(i) => {
                let ty = &self.env.types[i as usize];
                (ty.params().len() as u32, ty.results().len() as u32)
            }
        }
    }

    fn push_ctrl(&mut self, kind: CtrlKind, bt: BlockType, start: u32, else_fixup: Option<usize>) {
        let (params, results) = self.block_type(bt);
        let dead = !self.reachable;
        self.ctrl.push(Ctrl {
            kind,
            height: (self.stack.len() as u32).saturating_sub(params),
            params,
            results,
            start,
            fixups: self.fixup_pool.pop().unwrap_or_default(),
            else_fixup,
            dead,
        });
    }

    /// Keeps an ended block's fixup list for the next block, saving an allocation.
    fn recycle(&mut self, mut fixups: Vec<usize>) {
        fixups.clear();
        self.fixup_pool.push(fixups);
    }

    fn patch(&mut self, at: usize, target: u32) {
        if let Some(t) = self.code[at].target_mut() {
            *t = target;
        }
        self.join = self.join.max(target as usize);
    }

    /// The label `depth` levels out: its index in `ctrl` and the arity of a branch to it.
    fn label(&self, depth: u32) -> (usize, u32) {
        let idx = self.ctrl.len() - 1 - depth as usize;
        let c = &self.ctrl[idx];
        let arity = if c.kind == CtrlKind::Loop {
            c.params
        } else {
            c.results
        };
        (idx, arity)
    }

    /// Whether a branch to `depth` is a plain jump: its values are already where the label
    /// expects them, and it is not a return.
    fn is_plain_jump(&self, depth: u32) -> bool {
        let (idx, arity) = self.label(depth);
        let c = &self.ctrl[idx];
        let first = self.stack.len() - arity as usize;
        c.kind != CtrlKind::Func
            && (0..arity as usize)
                .all(|j| self.slot_of(first + j) == self.temp(c.height as usize + j))
    }

    /// Emits a jump to label `depth` (forward targets are patched when the block ends) and
    /// returns its index.
    fn jump_with(&mut self, depth: u32, instr: Instr) -> usize {
        let (idx, _) = self.label(depth);
        let at = self.emit(instr);
        if self.ctrl[idx].kind == CtrlKind::Loop {
            let start = self.ctrl[idx].start;
            self.patch(at, start);
        } else {
            self.ctrl[idx].fixups.push(at);
        }
        at
    }

    /// Emits an unconditional branch to label `depth`, moving its values into place.
    fn branch(&mut self, depth: u32) {
        let (idx, arity) = self.label(depth);
        if self.ctrl[idx].kind == CtrlKind::Func {
            self.emit_return();
            return;
        }
        let first = self.stack.len() - arity as usize;
        let h0 = self.ctrl[idx].height as usize;
        self.move_values(first, h0, arity as usize);
        self.jump_with(depth, Instr::Br(u32::MAX));
    }

    /// Emits the copies that move the `n` entries from stack position `from` into the
    /// temps from position `to` (`to <= from`): one copy per entry still deferred to a
    /// local or a constant, and one [`Instr::CopyRange`] per run of temps, so a branch
    /// costs one instruction per deferred value, not one per value. Ascending order is
    /// safe: an entry's source temp is never below its destination.
    fn move_values(&mut self, from: usize, to: usize, n: usize) {
        let mut j = 0;
        while j < n {
            let (dst, src) = (self.temp(to + j), self.slot_of(from + j));
            let mut run = 1;
            if self.stack[from + j] == Operand::Temp {
                while j + run < n && self.stack[from + j + run] == Operand::Temp {
                    run += 1;
                }
            }
            if dst != src {
                self.emit(copy_run(dst, src, run as u32));
            }
            j += run;
        }
    }

    /// Before a conditional branch carrying the `n` entries below the top `above` ones:
    /// materializes them, on the path both ways take, if more than
    /// [`MAX_DEFERRED_BRANCH_COPIES`] are still deferred (or any, with `all`). Each entry
    /// is materialized at most once, so a function that branches many times with many
    /// values costs one copy per branch value only up to that bound, and then one range
    /// copy per branch. The instruction producing the top entry stays last, so that a
    /// comparison still fuses with the branch on it (it reads no entry below its own).
    fn bound_deferred(&mut self, n: usize, above: usize, all: bool) {
        let end = self.stack.len() - above;
        let deferred = self.stack[end - n..end]
            .iter()
            .filter(|&&e| e != Operand::Temp)
            .count();
        if deferred == 0 || !all && deferred <= MAX_DEFERRED_BRANCH_COPIES {
            return;
        }
        // The top's producer moves after the copies unless a jump can reach it.
        let last = self
            .last
            .filter(|&at| at + 1 == self.code.len() && at > self.join)
            .map(|_| self.code.pop().expect("the last instruction exists"));
        for pos in end - n..end {
            self.materialize(pos);
        }
        if let Some(producer) = last {
            let at = self.emit(producer);
            self.last = Some(at);
        }
    }

    /// Emits a return of the top values. It may sit on a conditional path (`br_if`,
    /// `br_table`), so it moves values into place without changing the stack model.
    fn emit_return(&mut self) {
        let n = self.ctrl[0].results as usize;
        let len = self.stack.len();
        let src = if n == 1 {
            self.slot_of(len - 1)
        } else {
            for pos in len - n..len {
                let (dst, src) = (self.temp(pos), self.slot_of(pos));
                if dst != src {
                    self.emit(Instr::Copy { dst, src });
                }
            }
            self.temp(len - n)
        };
        self.emit(Instr::Return { src, n: n as u32 });
    }

    /// A conditional jump on `cond`, fused with the comparison that produced it when that
    /// was the last instruction. Jumps when the condition holds, or fails if `negate`.
    fn cond_jump(&mut self, cond: Slot, negate: bool) -> Instr {
        if let Some(at) = self.last
            && self.code[at].dst_mut().is_some_and(|d| *d == cond)
        {
            let cmp = self.code[at];
            let zero = match cmp {
                Instr::I64Eqz { .. } => self.const_slot(0),
                _ => 0,
            };
            if let Some(fused) = fuse_compare(cmp, negate, zero) {
                self.code.pop();
                self.last = None;
                return self.fuse_counter(fused);
            }
        }
        if negate {
            Instr::BrIfEqz {
                cond,
                target: u32::MAX,
            }
        } else {
            Instr::BrIfNez {
                cond,
                target: u32::MAX,
            }
        }
    }

    /// A compare-and-branch on a local just incremented by the instruction before it
    /// (`x += step; if x < limit goto`) becomes one [`Instr::AddBrI32LtU`] (or `LtS`, `Ne`):
    /// the usual end of a counted loop.
    fn fuse_counter(&mut self, branch: Instr) -> Instr {
        let (var, limit) = match branch {
            Instr::BrI32LtU { lhs, rhs, .. }
            | Instr::BrI32LtS { lhs, rhs, .. }
            | Instr::BrI32Ne { lhs, rhs, .. } => (lhs, rhs),
            _ => return branch,
        };
        let Some(at) = self.code.len().checked_sub(1).filter(|&at| at >= self.join) else {
            return branch;
        };
        let Instr::I32Add { dst, lhs, rhs } = self.code[at] else {
            return branch;
        };
        let step = match (lhs == dst, rhs == dst) {
            (true, _) => rhs,
            (false, true) => lhs,
            _ => return branch,
        };
        // `step` and `limit` are stored as final slots: locals are final now, constants
        // land right after the locals; temps move later and are not fused.
        let final_slot = |slot: Slot| -> Option<u16> {
            let slot = if slot & CONST_FLAG != 0 {
                self.num_locals + (slot & !CONST_FLAG)
            } else if slot < self.num_locals {
                slot
            } else {
                return None;
            };
            u16::try_from(slot).ok()
        };
        let (Some(step), Some(limit)) = (final_slot(step), final_slot(limit)) else {
            return branch;
        };
        if dst != var || dst >= self.num_locals {
            return branch;
        }
        self.code.pop();
        let target = u32::MAX;
        match branch {
            Instr::BrI32LtU { .. } => Instr::AddBrI32LtU {
                var,
                step,
                limit,
                target,
            },
            Instr::BrI32LtS { .. } => Instr::AddBrI32LtS {
                var,
                step,
                limit,
                target,
            },
            _ => Instr::AddBrI32Ne {
                var,
                step,
                limit,
                target,
            },
        }
    }

    /// Charges the module's budget of work for an operator whose validation or
    /// translation costs more than a constant: one unit per value it moves or checks
    /// (a branch's values, once per `br_table` entry; a call's parameters and results; a
    /// block's parameters and results), and one per operand stack entry for those that
    /// scan the stack (a block materializes it, a local write looks for deferred reads of
    /// the local). Valid code spends a few units per byte; code built to make
    /// translation slow by moving a thousand values per operator runs out, and the module
    /// is refused in time linear in its size.
    ///
    /// Runs before the operator is validated: indices are checked, not trusted.
    #[inline(always)]
    fn charge_work(&mut self, op: &Operator<'_>) -> TResult {
        let label_arity = |t: &Self, depth: u32| -> u64 {
            if (depth as usize) < t.ctrl.len() {
                u64::from(t.label(depth).1)
            } else {
                0
            }
        };
        let func_type_size = |t: &Self, ty: Option<&u32>| -> u64 {
            ty.and_then(|&ty| t.env.types.get(ty as usize))
                .map_or(0, |ty| (ty.params().len() + ty.results().len()) as u64)
        };
        let work = match *op {
            Operator::BrTable { ref targets } => {
                label_arity(self, targets.default()) * (u64::from(targets.len()) + 1)
            }
            Operator::Br { relative_depth } | Operator::BrIf { relative_depth } => {
                label_arity(self, relative_depth)
            }
            Operator::Return => self.ctrl.first().map_or(0, |c| u64::from(c.results)),
            Operator::Call { function_index } => {
                func_type_size(self, self.env.funcs.get(function_index as usize))
            }
            Operator::CallIndirect { type_index, .. } => func_type_size(self, Some(&type_index)),
            Operator::Block { blockty } | Operator::Loop { blockty } | Operator::If { blockty } => {
                let block = match blockty {
                    BlockType::FuncType(i) => func_type_size(self, Some(&i)),
                    _ => 1,
                };
                self.stack.len() as u64 + 2 * block
            }
            Operator::LocalSet { .. } | Operator::LocalTee { .. } => self.stack.len() as u64,
            _ => return Ok(()),
        };
        self.work_budget = self.work_budget.checked_sub(work).ok_or(TOO_MUCH_WORK)?;
        Ok(())
    }

    fn op(&mut self, op: &Operator<'_>) -> TResult {
        if !self.reachable {
            return self.unreachable_op(op);
        }
        self.charge();
        // No operator emits more than a few instructions beyond the values it moves, which
        // reserve room of their own below.
        self.room(4)?;
        if matches!(op, Operator::I32Add) && self.add_shl() {
            return Ok(());
        }
        if self.simple_op(op) {
            return Ok(());
        }
        match *op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.emit(Instr::Unreachable);
                self.reachable = false;
            }
            Operator::Block { blockty } => {
                self.room(self.stack.len())?;
                self.materialize_top(self.stack.len());
                self.push_ctrl(CtrlKind::Block, blockty, 0, None);
            }
            Operator::Loop { blockty } => {
                self.room(self.stack.len())?;
                self.materialize_top(self.stack.len());
                let start = self.pc();
                self.join = start as usize;
                self.loop_starts.push(start);
                self.new_fuel_block();
                self.last = None;
                self.push_ctrl(CtrlKind::Loop, blockty, start, None);
            }
            Operator::If { blockty } => {
                let cond = self.pop();
                self.room(self.stack.len())?;
                self.materialize_top(self.stack.len());
                let jump = self.cond_jump(cond, true);
                let at = self.emit(jump);
                self.push_ctrl(CtrlKind::If, blockty, 0, Some(at));
            }
            Operator::Else => self.else_()?,
            Operator::End => self.end()?,
            Operator::Br { relative_depth } => {
                self.room(self.stack.len())?;
                self.branch(relative_depth);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let (_, arity) = self.label(relative_depth);
                self.room(arity as usize)?;
                self.bound_deferred(arity as usize, 1, false);
                let cond = self.pop();
                if self.is_plain_jump(relative_depth) {
                    let jump = self.cond_jump(cond, false);
                    self.jump_with(relative_depth, jump);
                } else {
                    let jump = self.cond_jump(cond, true);
                    let skip = self.emit(jump);
                    self.branch(relative_depth);
                    let pc = self.pc();
                    self.patch(skip, pc);
                }
            }
            Operator::BrTable { ref targets } => {
                // Every target takes the same values: in temps first (once, on the common
                // path), so that each distinct target needs at most one range copy.
                let (_, arity) = self.label(targets.default());
                let arity = arity as usize;
                self.bound_deferred(arity, 1, true);
                let index = self.pop();
                let n = targets.len() as usize;
                let mut depths = core::mem::take(&mut self.depths);
                depths.clear();
                depths.try_reserve(n + 1).map_err(|_| OUT_OF_MEMORY)?;
                for t in targets.targets() {
                    depths.push(t.map_err(|_| "malformed br_table")?);
                }
                depths.push(targets.default());
                self.room(n + 1)?;
                self.emit(Instr::BrTable {
                    index,
                    len: targets.len(),
                });
                // An entry whose target finds the values in place jumps there; the others
                // jump to their target's stub, one per distinct target.
                let mut stubs = core::mem::take(&mut self.stubs);
                stubs.clear();
                let first = self.stack.len() - arity;
                for &d in &depths {
                    let (idx, _) = self.label(d);
                    let c = &self.ctrl[idx];
                    if c.kind != CtrlKind::Func && (arity == 0 || c.height as usize == first) {
                        self.jump_with(d, Instr::Br(u32::MAX));
                    } else {
                        stubs.try_reserve(1).map_err(|_| OUT_OF_MEMORY)?;
                        stubs.push((d, self.emit(Instr::Br(u32::MAX))));
                    }
                }
                stubs.sort_unstable_by_key(|&(d, _)| d);
                let mut i = 0;
                while i < stubs.len() {
                    let (d, pc) = (stubs[i].0, self.pc());
                    while i < stubs.len() && stubs[i].0 == d {
                        self.patch(stubs[i].1, pc);
                        i += 1;
                    }
                    self.room(2)?;
                    let (idx, _) = self.label(d);
                    if self.ctrl[idx].kind == CtrlKind::Func {
                        self.emit_return();
                    } else {
                        let dst = self.temp(self.ctrl[idx].height as usize);
                        self.emit(copy_run(dst, self.temp(first), arity as u32));
                        self.jump_with(d, Instr::Br(u32::MAX));
                    }
                }
                self.depths = depths;
                self.stubs = stubs;
                self.reachable = false;
            }
            Operator::Return => {
                self.room(self.stack.len())?;
                self.emit_return();
                self.reachable = false;
            }
            Operator::Call { function_index } => {
                let ty = &self.env.types[self.env.funcs[function_index as usize] as usize];
                let (np, nr) = (ty.params().len(), ty.results().len());
                let base = self.pop_run(np);
                let imported = self.env.num_imported_funcs;
                self.emit(if function_index < imported {
                    Instr::CallImported {
                        func: function_index,
                        base,
                    }
                } else {
                    Instr::CallInternal {
                        func: function_index - imported,
                        base,
                    }
                });
                self.stack.try_reserve(nr).map_err(|_| OUT_OF_MEMORY)?;
                for _ in 0..nr {
                    self.push_temp();
                }
            }
            Operator::CallIndirect {
                type_index,
                table_index,
            } => {
                let ty = &self.env.types[type_index as usize];
                let (np, nr) = (ty.params().len(), ty.results().len());
                let base = self.pop_run(np + 1);
                self.emit(Instr::CallIndirect {
                    ty: type_index,
                    table: table_index,
                    base,
                    index: base + np as Slot,
                });
                self.stack.try_reserve(nr).map_err(|_| OUT_OF_MEMORY)?;
                for _ in 0..nr {
                    self.push_temp();
                }
            }
            Operator::Drop => {
                self.stack.pop();
            }
            Operator::Select | Operator::TypedSelect { .. } => {
                let cond_is_temp = self.stack.last() == Some(&Operand::Temp);
                let cond = self.pop();
                // select(a, b, eqz(v)) is "b if v != 0": drop the eqz.
                let eqz = match self.last.map(|at| self.code[at]) {
                    Some(Instr::I32Eqz { dst, src }) if cond_is_temp && dst == cond => {
                        Some((src, false))
                    }
                    Some(Instr::I64Eqz { dst, src }) if cond_is_temp && dst == cond => {
                        Some((src, true))
                    }
                    _ => None,
                };
                if eqz.is_some() {
                    self.code.pop();
                    self.last = None;
                }
                // The select reads its operands where they are; its result can go
                // straight into a local, and its condition through the accumulator.
                let b = self.pop();
                let a = self.pop();
                self.produce(|dst| match eqz {
                    None => Instr::Select32 { dst, a, b, cond },
                    // `select(a, b, eqz(v))` is `b` if `v` is not zero.
                    Some((cond, false)) => Instr::Select32 {
                        dst,
                        a: b,
                        b: a,
                        cond,
                    },
                    Some((cond, true)) => Instr::Select64 {
                        dst,
                        a: b,
                        b: a,
                        cond,
                    },
                });
            }
            Operator::LocalGet { local_index } => self.push(Operand::Local(local_index)),
            Operator::LocalSet { local_index } => self.set_local(local_index, false),
            Operator::LocalTee { local_index } => self.set_local(local_index, true),
            Operator::GlobalGet { global_index } => self.produce(|dst| Instr::GlobalGet {
                dst,
                global: global_index,
            }),
            Operator::GlobalSet { global_index } => {
                let src = self.pop();
                self.emit(Instr::GlobalSet {
                    src,
                    global: global_index,
                });
            }
            Operator::I32Const { value } => self.constant(value as u32 as u64),
            Operator::I64Const { value } => self.constant(value as u64),
            Operator::F32Const { value } => self.constant(value.bits() as u64),
            Operator::F64Const { value } => self.constant(value.bits()),
            Operator::RefNull { .. } => self.constant(0),
            Operator::RefFunc { function_index } => self.produce(|dst| Instr::RefFunc {
                dst,
                func: function_index,
            }),
            Operator::I32ReinterpretF32
            | Operator::I64ReinterpretF64
            | Operator::F32ReinterpretI32
            | Operator::F64ReinterpretI64 => {}
            Operator::MemorySize { .. } => self.produce(|dst| Instr::MemorySize { dst }),
            Operator::MemoryGrow { .. } => {
                let dst = self.pop_run(1);
                self.emit(Instr::MemoryGrow { dst });
                self.push_temp();
            }
            Operator::MemoryFill { .. } => {
                let base = self.pop_run(3);
                self.emit(Instr::MemoryFill { base });
            }
            Operator::MemoryCopy { .. } => {
                let base = self.pop_run(3);
                self.emit(Instr::MemoryCopy { base });
            }
            Operator::MemoryInit { data_index, .. } => {
                let base = self.pop_run(3);
                self.emit(Instr::MemoryInit {
                    base,
                    data: data_index,
                });
            }
            Operator::DataDrop { data_index } => {
                self.emit(Instr::DataDrop { data: data_index });
            }
            Operator::TableGet { table } => {
                let dst = self.pop_run(1);
                self.emit(Instr::TableGet { dst, table });
                self.push_temp();
            }
            Operator::TableSet { table } => {
                let base = self.pop_run(2);
                self.emit(Instr::TableSet { base, table });
            }
            Operator::TableSize { table } => self.produce(|dst| Instr::TableSize { dst, table }),
            Operator::TableGrow { table } => {
                let base = self.pop_run(2);
                self.emit(Instr::TableGrow { base, table });
                self.push_temp();
            }
            Operator::TableFill { table } => {
                let base = self.pop_run(3);
                self.emit(Instr::TableFill { base, table });
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let base = self.pop_run(3);
                self.emit(Instr::TableCopy {
                    base,
                    dst_table,
                    src_table,
                });
            }
            Operator::TableInit { elem_index, table } => {
                let base = self.pop_run(3);
                self.emit(Instr::TableInit {
                    base,
                    table,
                    elem: elem_index,
                });
            }
            Operator::ElemDrop { elem_index } => {
                self.emit(Instr::ElemDrop { elem: elem_index });
            }
            _ => return Err("unsupported operator"),
        }
        Ok(())
    }

    fn constant(&mut self, value: u64) {
        let slot = self.const_slot(value);
        self.push(Operand::Const(slot));
    }

    /// Operators in unreachable code: only the block structure matters.
    fn unreachable_op(&mut self, op: &Operator<'_>) -> TResult {
        match *op {
            Operator::Block { blockty } => self.push_ctrl(CtrlKind::Block, blockty, 0, None),
            Operator::Loop { blockty } => self.push_ctrl(CtrlKind::Loop, blockty, 0, None),
            Operator::If { blockty } => self.push_ctrl(CtrlKind::If, blockty, 0, None),
            Operator::Else => self.else_()?,
            Operator::End => self.end()?,
            _ => {}
        }
        Ok(())
    }

    /// Resets the stack to `height` entries plus `n` temps (a join point's state).
    fn reset_stack(&mut self, height: u32, n: u32) -> TResult {
        self.stack.truncate(height as usize);
        self.stack
            .try_reserve(n as usize)
            .map_err(|_| OUT_OF_MEMORY)?;
        for _ in 0..n {
            self.push_temp();
        }
        self.last = None;
        Ok(())
    }

    fn else_(&mut self) -> TResult {
        let Some(c) = self.ctrl.last() else {
            return Ok(());
        };
        if c.dead {
            if let Some(c) = self.ctrl.last_mut() {
                c.kind = CtrlKind::Else;
            }
            return Ok(());
        }
        let (height, params, results) = (c.height, c.params, c.results);
        if self.reachable {
            self.room(results as usize + 2)?;
            self.materialize_top(results as usize);
            let at = self.emit(Instr::Br(u32::MAX));
            if let Some(c) = self.ctrl.last_mut() {
                c.fixups.push(at);
            }
        }
        let pc = self.pc();
        let else_fixup = self.ctrl.last_mut().and_then(|c| {
            c.kind = CtrlKind::Else;
            c.else_fixup.take()
        });
        if let Some(at) = else_fixup {
            self.patch(at, pc);
        }
        self.reset_stack(height, params)?;
        self.reachable = true;
        self.new_fuel_block();
        Ok(())
    }

    fn end(&mut self) -> TResult {
        let Some(mut c) = self.ctrl.pop() else {
            return Ok(());
        };
        if c.dead {
            self.recycle(c.fixups);
            return Ok(());
        }
        if c.kind == CtrlKind::Func {
            if self.reachable {
                self.ctrl.push(c);
                self.room(self.stack.len() + 1)?;
                self.emit_return();
            }
            return Ok(());
        }
        let fell_through = self.reachable;
        if fell_through {
            self.room(c.results as usize + 2)?;
            self.materialize_top(c.results as usize);
        }
        let pc = self.pc();
        let jumped_to = !c.fixups.is_empty() || c.else_fixup.is_some();
        for &at in &c.fixups {
            self.patch(at, pc);
        }
        if let Some(at) = c.else_fixup {
            self.patch(at, pc);
        }
        self.recycle(core::mem::take(&mut c.fixups));
        self.reset_stack(c.height, c.results)?;
        // What follows runs only if the block's end is reached: by falling into it or by a
        // branch to it (a loop's branches go to its header). Code after a block that every
        // path leaves by a branch further out is unreachable, and like the code after a
        // `br` it is neither translated nor charged.
        self.reachable = fell_through || jumped_to;
        if self.reachable && (jumped_to || c.kind == CtrlKind::Loop) {
            self.new_fuel_block();
        }
        Ok(())
    }

    /// Lays out the frame, relocates constant slots behind the operand stack, and verifies
    /// the code: every slot operand inside the frame, every jump inside the code, and no
    /// way to run off its end. The executor's unchecked accesses rely on this.
    fn finish<O: Encode>(
        self,
        num_params: u32,
        scratch: &mut Scratch,
    ) -> core::result::Result<FuncCode<O>, &'static str> {
        let (num_locals, num_consts) = (self.num_locals, self.consts.len() as u32);
        let frame_size_unpadded = num_locals
            .checked_add(num_consts)
            .and_then(|n| n.checked_add(self.max_height))
            .filter(|&n| n < CONST_FLAG)
            .ok_or("function frame too large")?;
        // The frame's initial values past the parameters, in whole chunks of four so that a
        // call copies them without a remainder loop; the padding lands in the operand
        // stack, whose slots are written before they are read, and the frame grows to
        // hold it.
        let init_len = num_locals - num_params + num_consts;
        let mut init = [0; 4];
        let mut values = core::iter::repeat_n(0, (num_locals - num_params) as usize)
            .chain(self.consts.iter().copied());
        let frame_init: Box<[[u64; 4]]> = (0..init_len.div_ceil(4))
            .map(|_| {
                init.fill_with(|| values.next().unwrap_or(0));
                init
            })
            .collect();
        let frame_size = frame_size_unpadded.max(num_params + 4 * frame_init.len() as u32);
        let targets = &mut scratch.targets;
        targets.clear();
        targets
            .try_reserve(self.code.len())
            .map_err(|_| OUT_OF_MEMORY)?;
        targets.resize(self.code.len(), false);
        for &start in &self.loop_starts {
            targets[start as usize] = true;
        }
        let layout = Layout {
            num_locals,
            num_consts,
            frame_size: frame_size_unpadded,
        };
        let code = layout_and_encode(self.env, &self.code, layout, targets, &self.consts)?;
        let func = FuncCode {
            code,
            num_params,
            frame_init,
            frame_size,
        };
        *scratch = Scratch {
            code: self.code,
            ctrl: self.ctrl,
            stack: self.stack,
            consts: self.consts,
            const_slots: self.const_slots,
            operators: scratch.operators.take(),
            targets: core::mem::take(&mut scratch.targets),
            loop_starts: self.loop_starts,
            fixup_pool: self.fixup_pool,
            depths: self.depths,
            stubs: self.stubs,
            work_budget: self.work_budget,
        };
        Ok(func)
    }
}

/// A function's frame layout before constants are placed: `num_locals` locals, then
/// `num_consts` constants, then the operand stack, `frame_size` slots in all.
#[derive(Clone, Copy)]
struct Layout {
    num_locals: u32,
    num_consts: u32,
    frame_size: u32,
}

/// Finishes the code in one pass: lays it out, checks the invariants the executor relies
/// on, and encodes it for the executor ([`Encode`]).
/// - Constants go between the locals and the operand stack (a callee's frame starts at its
///   arguments on the caller's operand stack and must not cover the caller's constants),
///   so constant placeholders and temps are relocated.
/// - Every slot operand must lie inside the frame and every jump inside the code; jump
///   targets become offsets relative to the instruction after the jump.
/// - A result written to an operand-stack temp that the very next instruction reads
///   exactly once, as an operand [`Instr::acc_shape`] allows, goes through the executor's
///   accumulator (see [`AccUse`]) unless a jump can reach that next instruction. Every
///   instruction that can take an operand from the accumulator pops it off the Wasm
///   operand stack, so that read is the temp's last: nothing else needs the slot to hold
///   the value. Forward jumps are marked in `targets` as they are met, before the
///   instruction they reach; backward ones can only reach loop starts, which the caller
///   marked.
/// - A constant second operand (of a binary operator, compare-and-branch or store) becomes
///   an immediate where it fits (see [`Instr::imm_operand`]).
///
/// With [`ModuleEnv::fuse`] off, neither the accumulator nor immediates are used.
fn layout_and_encode<O: Encode>(
    env: &ModuleEnv<'_>,
    code: &[Instr],
    Layout {
        num_locals,
        num_consts,
        frame_size,
    }: Layout,
    targets: &mut [bool],
    consts: &[u64],
) -> core::result::Result<Box<[O]>, &'static str> {
    let len = code.len();
    match code.last() {
        Some(Instr::Return { .. } | Instr::Br(_) | Instr::Unreachable) => {}
        _ => return Err("internal error: code can run off its end"),
    }
    // A call uses its arguments' slots (plus the table index) and then its results'.
    let call_width = |func_type: Option<u32>, extra: usize| {
        let ty = func_type.and_then(|t| env.types.get(t as usize));
        ty.map_or(u64::MAX, |ty| {
            (ty.params().len() + extra).max(ty.results().len()) as u64
        })
    };
    let temps_from = num_locals + num_consts;
    let mut ops: Vec<O> = Vec::new();
    ops.try_reserve_exact(len).map_err(|_| OUT_OF_MEMORY)?;
    // The accumulator uses of the previous instruction (already in `ops`) and the temp it
    // writes, if it can write one to the accumulator.
    let mut prev_acc = AccUse::default();
    let mut prev_dst: Option<Slot> = None;
    for pc in 0..len {
        let mut instr = code[pc];
        let mut ok = true;
        let width = match instr {
            Instr::CallInternal { func, .. } => Some(call_width(
                env.funcs
                    .get(func as usize + env.num_imported_funcs as usize)
                    .copied(),
                0,
            )),
            Instr::CallImported { func, .. } => {
                Some(call_width(env.funcs.get(func as usize).copied(), 0))
            }
            Instr::CallIndirect { ty, .. } => Some(call_width(Some(ty), 1)),
            Instr::AddBrI32LtU { step, limit, .. }
            | Instr::AddBrI32LtS { step, limit, .. }
            | Instr::AddBrI32Ne { step, limit, .. } => {
                ok &= u32::from(step.max(limit)) < frame_size;
                None
            }
            Instr::BrTable { len: n, .. } => {
                // The entries, one per target plus the default, follow the instruction.
                ok &= pc + 1 + (n as usize) < len;
                None
            }
            _ => None,
        };
        instr.for_each_slot(|slot, w| {
            if *slot & CONST_FLAG != 0 {
                *slot = num_locals + (*slot & !CONST_FLAG);
            } else if *slot >= num_locals {
                *slot += num_consts;
            }
            // A call's argument base (width 0) covers its arguments and results.
            let w = match (width, w) {
                (Some(call), 0) => call,
                _ => u64::from(w),
            };
            ok &= u64::from(*slot).saturating_add(w) <= u64::from(frame_size);
        });
        if let Some(target) = instr.target_mut() {
            let at = *target as usize;
            ok &= at < len;
            if at > pc {
                targets[at] = true;
            } else {
                // Only a loop start can be reached backwards, and it is marked already.
                ok &= targets.get(at).copied().unwrap_or(false);
            }
            *target = (i64::from(*target) - (pc as i64 + 1)) as i32 as u32;
        }
        if !ok {
            return Err("internal error: instruction operand out of range");
        }
        let shape = instr.acc_shape();
        let mut acc = AccUse::default();
        if env.fuse {
            if let Some(temp) = prev_dst
                && temp >= temps_from
                && !targets[pc]
                && let Some(k) = reads_once(&instr, shape, temp)
                && let Some(prev) = ops.last_mut()
            {
                prev_acc.dst = true;
                acc.src = k;
                prev.set_acc(prev_acc).ok_or(NO_HANDLER)?;
            }
            // A constant operand travels in the instruction, sparing a load of its slot.
            if let Some((slot, narrow)) = instr.imm_operand()
                && let Some(&value) = slot
                    .checked_sub(num_locals)
                    .and_then(|i| consts.get(i as usize))
                && (narrow || value == value as i32 as i64 as u64)
            {
                *slot = value as u32;
                acc.imm = true;
            }
        }
        ops.push(O::encode(instr, acc).ok_or(NO_HANDLER)?);
        (prev_acc, prev_dst) = (acc, shape.0);
    }
    Ok(ops.into_boxed_slice())
}

const NO_HANDLER: &str = "internal error: no handler for an accumulator use";

/// The accumulator operand (1 or 2) of `instr`, whose [`Instr::acc_shape`] is `shape`,
/// that reads `temp`, if it reads `temp` there and nowhere else.
fn reads_once(
    instr: &Instr,
    (dst, operands): (Option<Slot>, [Option<Slot>; 2]),
    temp: Slot,
) -> Option<u8> {
    let k = operands.iter().position(|&s| s == Some(temp))?;
    let mut reads = 0;
    let mut instr = *instr;
    instr.for_each_slot(|slot, _| reads += u32::from(*slot == temp));
    (reads == 1 + u32::from(dst == Some(temp))).then_some(k as u8 + 1)
}

/// The translator's index of a function's constant pool: each value's slot, by open
/// addressing with linear probing. Entries carry the generation they were written in, so
/// starting the next function's pool is one increment, not a sweep of the table.
#[derive(Default)]
struct ConstIndex {
    /// `(value, slot, generation)`; a power-of-two number of entries, or none.
    entries: Vec<(u64, Slot, u32)>,
    len: usize,
    generation: u32,
}

impl ConstIndex {
    fn clear(&mut self) {
        self.len = 0;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Entries of the generation that just wrapped around must not look current.
            self.entries.fill((0, 0, 0));
            self.generation = 1;
        }
    }

    /// The slot of `value`, which becomes `slot` if the pool does not hold it yet.
    fn get_or_insert(&mut self, value: u64, slot: Slot) -> Slot {
        if 2 * (self.len + 1) > self.entries.len() {
            self.grow();
        }
        let mask = self.entries.len() - 1;
        let mut i = Self::hash(value, mask);
        loop {
            let (key, found, generation) = self.entries[i];
            if generation != self.generation {
                self.entries[i] = (value, slot, self.generation);
                self.len += 1;
                return slot;
            }
            if key == value {
                return found;
            }
            i = (i + 1) & mask;
        }
    }

    fn hash(value: u64, mask: usize) -> usize {
        (value.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & mask
    }

    /// Doubles the table (at least 64 entries), keeping the current generation's entries.
    fn grow(&mut self) {
        let size = (2 * self.entries.len()).max(64);
        let old = core::mem::replace(&mut self.entries, alloc::vec![(0, 0, 0); size]);
        let mask = size - 1;
        for (key, slot, generation) in old {
            if generation == self.generation {
                let mut i = Self::hash(key, mask);
                while self.entries[i].2 == self.generation {
                    i = (i + 1) & mask;
                }
                self.entries[i] = (key, slot, generation);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constant_index_finds_each_value_once_per_function() {
        let mut index = ConstIndex::default();
        for round in 0..3u64 {
            index.clear();
            // Values that collide in the low bits, and enough of them to grow the table.
            for i in 0..1000u64 {
                let value = (i << 40) ^ round;
                assert_eq!(index.get_or_insert(value, i as Slot), i as Slot);
            }
            for i in 0..1000u64 {
                let value = (i << 40) ^ round;
                assert_eq!(index.get_or_insert(value, u32::MAX), i as Slot);
            }
        }
        // After a clear, earlier values are new again.
        index.clear();
        assert_eq!(index.get_or_insert(1 << 40, 7), 7);
    }
}
