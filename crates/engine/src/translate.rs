//! Translation of validated Wasm function bodies into the internal code of [`crate::ir`].
//!
//! The translator runs in one pass over each body, interleaved with `wasmparser`'s function
//! validator: every operator is validated first, then translated. It tracks the operand
//! stack height statically, so every operand gets a fixed frame slot (`locals + height`),
//! resolves branch targets (forward ones by patching when the block ends), and inserts a
//! `ConsumeFuel` at the head of every block that can be entered by a jump when fuel is on.
//! Code after an unconditional transfer (`br`, `return`, `unreachable`, ...) is validated
//! but not translated.

use alloc::vec::Vec;

use wasmparser::{BlockType, FuncValidator, FunctionBody, Operator, ValidatorResources};

use crate::error::{Error, Result};
use crate::ir::{CompiledFunc, Instr, Slot, for_each_op};
use crate::types::FuncType;

/// What the translator needs to know about the module around a function.
pub(crate) struct ModuleEnv<'a> {
    pub types: &'a [FuncType],
    /// Type index of every function, imported ones first.
    pub funcs: &'a [u32],
    pub num_imported_funcs: u32,
    pub consume_fuel: bool,
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

struct Translator<'a> {
    env: &'a ModuleEnv<'a>,
    code: Vec<Instr>,
    ctrl: Vec<Ctrl>,
    height: u32,
    max_height: u32,
    num_locals: u32,
    reachable: bool,
    /// The `ConsumeFuel` instruction charging for the current block.
    fuel: Option<usize>,
}

/// Validates and translates one function body.
pub(crate) fn translate(
    env: &ModuleEnv<'_>,
    func_index: u32,
    body: &FunctionBody<'_>,
    validator: &mut FuncValidator<ValidatorResources>,
) -> Result<CompiledFunc> {
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
            .ok_or_else(|| Error::compile("too many locals", offset))?;
    }
    let results = ty.results().len() as u32;
    let mut t = Translator {
        env,
        code: Vec::new(),
        ctrl: Vec::new(),
        height: 0,
        max_height: 0,
        num_locals,
        reachable: true,
        fuel: None,
    };
    t.ctrl.push(Ctrl {
        kind: CtrlKind::Func,
        height: 0,
        params: 0,
        results,
        start: 0,
        fixups: Vec::new(),
        else_fixup: None,
        dead: false,
    });
    t.new_fuel_block();
    let mut reader = body.get_operators_reader()?;
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        validator.op(offset, &op)?;
        t.op(&op).map_err(|msg| Error::compile(msg, offset))?;
    }
    reader.finish()?;
    let frame_size = num_locals
        .checked_add(t.max_height)
        .ok_or_else(|| Error::compile("function frame too large", 0))?;
    Ok(CompiledFunc {
        code: t.code.into_boxed_slice(),
        num_locals,
        num_params,
        frame_size,
    })
}

type TResult = core::result::Result<(), &'static str>;

macro_rules! translate_ops {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) => $ldf:expr,)* }
        store { $($st:ident($stn:literal) => $stf:expr,)* }
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
                    $(Operator::$ld { memarg } => {
                        self.load(memarg.offset, |dst, addr, offset| Instr::$ld { dst, addr, offset })
                    })*
                    $(Operator::$st { memarg } => {
                        self.store(memarg.offset, |addr, val, offset| Instr::$st { addr, val, offset })
                    })*
                    Operator::F32Load { memarg } => {
                        self.load(memarg.offset, |dst, addr, offset| Instr::I32Load { dst, addr, offset })
                    }
                    Operator::F64Load { memarg } => {
                        self.load(memarg.offset, |dst, addr, offset| Instr::I64Load { dst, addr, offset })
                    }
                    Operator::F32Store { memarg } => {
                        self.store(memarg.offset, |addr, val, offset| Instr::I32Store { addr, val, offset })
                    }
                    Operator::F64Store { memarg } => {
                        self.store(memarg.offset, |addr, val, offset| Instr::I64Store { addr, val, offset })
                    }
                    _ => return false,
                }
                true
            }
        }
    };
}
for_each_op!(translate_ops);

impl Translator<'_> {
    fn slot(&self, height: u32) -> Slot {
        self.num_locals + height
    }

    fn top(&self) -> Slot {
        self.slot(self.height - 1)
    }

    fn push(&mut self) -> Slot {
        let s = self.slot(self.height);
        self.height += 1;
        self.max_height = self.max_height.max(self.height);
        s
    }

    fn set_height(&mut self, height: u32) {
        self.height = height;
        self.max_height = self.max_height.max(height);
    }

    fn emit(&mut self, instr: Instr) -> usize {
        self.code.push(instr);
        self.code.len() - 1
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
        let s = self.top();
        self.emit(f(s, s));
    }

    fn binary(&mut self, f: impl FnOnce(Slot, Slot, Slot) -> Instr) {
        let rhs = self.top();
        self.height -= 1;
        let lhs = self.top();
        self.emit(f(lhs, lhs, rhs));
    }

    fn load(&mut self, offset: u64, f: impl FnOnce(Slot, Slot, u32) -> Instr) {
        let s = self.top();
        // memory32 offsets are validated to fit in 32 bits.
        self.emit(f(s, s, offset as u32));
    }

    fn store(&mut self, offset: u64, f: impl FnOnce(Slot, Slot, u32) -> Instr) {
        let val = self.top();
        let addr = val - 1;
        self.height -= 2;
        self.emit(f(addr, val, offset as u32));
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
            height: self.height.saturating_sub(params),
            params,
            results,
            start,
            fixups: Vec::new(),
            else_fixup,
            dead,
        });
    }

    fn copy(&mut self, dst: Slot, src: Slot, n: u32) {
        match n {
            _ if dst == src => {}
            0 => {}
            1 => {
                self.emit(Instr::Copy { dst, src });
            }
            _ => {
                self.emit(Instr::CopyN { dst, src, n });
            }
        }
    }

    fn patch(&mut self, at: usize, target: u32) {
        match &mut self.code[at] {
            Instr::Br(t) | Instr::BrIfNez { target: t, .. } | Instr::BrIfEqz { target: t, .. } => {
                *t = target
            }
            other => unreachable!("patching a non-branch {other:?}"),
        }
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

    /// Whether a branch to `depth` is a plain jump: no values to move and not a return.
    fn is_plain_jump(&self, depth: u32) -> bool {
        let (idx, arity) = self.label(depth);
        let c = &self.ctrl[idx];
        c.kind != CtrlKind::Func && self.slot(self.height - arity) == self.slot(c.height)
    }

    /// Emits a jump to label `depth` (the target's slot is patched later for forward jumps)
    /// and returns its index.
    fn jump(&mut self, depth: u32) -> usize {
        let (idx, _) = self.label(depth);
        let c = &self.ctrl[idx];
        if c.kind == CtrlKind::Loop {
            let start = c.start;
            self.emit(Instr::Br(start))
        } else {
            let at = self.emit(Instr::Br(u32::MAX));
            self.ctrl[idx].fixups.push(at);
            at
        }
    }

    /// Emits an unconditional branch to label `depth`, moving its values into place.
    fn branch(&mut self, depth: u32) {
        let (idx, arity) = self.label(depth);
        let src = self.slot(self.height - arity);
        if self.ctrl[idx].kind == CtrlKind::Func {
            self.emit(Instr::Return { src, n: arity });
            return;
        }
        let dst = self.slot(self.ctrl[idx].height);
        self.copy(dst, src, arity);
        self.jump(depth);
    }

    fn op(&mut self, op: &Operator<'_>) -> TResult {
        if !self.reachable {
            return self.unreachable_op(op);
        }
        self.charge();
        if self.simple_op(op) {
            return Ok(());
        }
        match *op {
            Operator::Nop => {}
            Operator::Unreachable => {
                self.emit(Instr::Unreachable);
                self.reachable = false;
            }
            Operator::Block { blockty } => self.push_ctrl(CtrlKind::Block, blockty, 0, None),
            Operator::Loop { blockty } => {
                let start = self.pc();
                self.new_fuel_block();
                self.push_ctrl(CtrlKind::Loop, blockty, start, None);
            }
            Operator::If { blockty } => {
                let cond = self.top();
                self.height -= 1;
                let at = self.emit(Instr::BrIfEqz {
                    cond,
                    target: u32::MAX,
                });
                self.push_ctrl(CtrlKind::If, blockty, 0, Some(at));
            }
            Operator::Else => self.else_(),
            Operator::End => self.end(),
            Operator::Br { relative_depth } => {
                self.branch(relative_depth);
                self.reachable = false;
            }
            Operator::BrIf { relative_depth } => {
                let cond = self.top();
                self.height -= 1;
                if self.is_plain_jump(relative_depth) {
                    let at = self.jump(relative_depth);
                    let target = match self.code[at] {
                        Instr::Br(t) => t,
                        _ => unreachable!(),
                    };
                    self.code[at] = Instr::BrIfNez { cond, target };
                } else {
                    let skip = self.emit(Instr::BrIfEqz {
                        cond,
                        target: u32::MAX,
                    });
                    self.branch(relative_depth);
                    let pc = self.pc();
                    self.patch(skip, pc);
                }
            }
            Operator::BrTable { ref targets } => {
                let index = self.top();
                self.height -= 1;
                let mut depths = Vec::with_capacity(targets.len() as usize + 1);
                for t in targets.targets() {
                    depths.push(t.map_err(|_| "malformed br_table")?);
                }
                depths.push(targets.default());
                self.emit(Instr::BrTable {
                    index,
                    len: targets.len(),
                });
                let mut stubs = Vec::new();
                for &d in &depths {
                    if self.is_plain_jump(d) {
                        self.jump(d);
                    } else {
                        stubs.push((self.emit(Instr::Br(u32::MAX)), d));
                    }
                }
                for (at, d) in stubs {
                    let pc = self.pc();
                    self.patch(at, pc);
                    self.branch(d);
                }
                self.reachable = false;
            }
            Operator::Return => {
                self.branch(self.ctrl.len() as u32 - 1);
                self.reachable = false;
            }
            Operator::Call { function_index } => {
                let ty = &self.env.types[self.env.funcs[function_index as usize] as usize];
                let (np, nr) = (ty.params().len() as u32, ty.results().len() as u32);
                let base = self.slot(self.height - np);
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
                self.set_height(self.height - np + nr);
            }
            Operator::CallIndirect {
                type_index,
                table_index,
            } => {
                let ty = &self.env.types[type_index as usize];
                let (np, nr) = (ty.params().len() as u32, ty.results().len() as u32);
                let base = self.slot(self.height - 1 - np);
                self.emit(Instr::CallIndirect {
                    ty: type_index,
                    table: table_index,
                    base,
                });
                self.set_height(self.height - 1 - np + nr);
            }
            Operator::Drop => self.height -= 1,
            Operator::Select | Operator::TypedSelect { .. } => {
                self.height -= 2;
                let dst = self.top();
                self.emit(Instr::Select { dst });
            }
            Operator::LocalGet { local_index } => {
                let dst = self.push();
                self.emit(Instr::Copy {
                    dst,
                    src: local_index,
                });
            }
            Operator::LocalSet { local_index } => {
                let src = self.top();
                self.height -= 1;
                self.emit(Instr::Copy {
                    dst: local_index,
                    src,
                });
            }
            Operator::LocalTee { local_index } => {
                let src = self.top();
                self.emit(Instr::Copy {
                    dst: local_index,
                    src,
                });
            }
            Operator::GlobalGet { global_index } => {
                let dst = self.push();
                self.emit(Instr::GlobalGet {
                    dst,
                    global: global_index,
                });
            }
            Operator::GlobalSet { global_index } => {
                let src = self.top();
                self.height -= 1;
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
            Operator::RefFunc { function_index } => {
                let dst = self.push();
                self.emit(Instr::RefFunc {
                    dst,
                    func: function_index,
                });
            }
            Operator::I32ReinterpretF32
            | Operator::I64ReinterpretF64
            | Operator::F32ReinterpretI32
            | Operator::F64ReinterpretI64 => {}
            Operator::MemorySize { .. } => {
                let dst = self.push();
                self.emit(Instr::MemorySize { dst });
            }
            Operator::MemoryGrow { .. } => {
                let dst = self.top();
                self.emit(Instr::MemoryGrow { dst });
            }
            Operator::MemoryFill { .. } => {
                let base = self.pop_n(3);
                self.emit(Instr::MemoryFill { base });
            }
            Operator::MemoryCopy { .. } => {
                let base = self.pop_n(3);
                self.emit(Instr::MemoryCopy { base });
            }
            Operator::MemoryInit { data_index, .. } => {
                let base = self.pop_n(3);
                self.emit(Instr::MemoryInit {
                    base,
                    data: data_index,
                });
            }
            Operator::DataDrop { data_index } => {
                self.emit(Instr::DataDrop { data: data_index });
            }
            Operator::TableGet { table } => {
                let dst = self.top();
                self.emit(Instr::TableGet { dst, table });
            }
            Operator::TableSet { table } => {
                let base = self.pop_n(2);
                self.emit(Instr::TableSet { base, table });
            }
            Operator::TableSize { table } => {
                let dst = self.push();
                self.emit(Instr::TableSize { dst, table });
            }
            Operator::TableGrow { table } => {
                let base = self.pop_n(2);
                self.push();
                self.emit(Instr::TableGrow { base, table });
            }
            Operator::TableFill { table } => {
                let base = self.pop_n(3);
                self.emit(Instr::TableFill { base, table });
            }
            Operator::TableCopy {
                dst_table,
                src_table,
            } => {
                let base = self.pop_n(3);
                self.emit(Instr::TableCopy {
                    base,
                    dst_table,
                    src_table,
                });
            }
            Operator::TableInit { elem_index, table } => {
                let base = self.pop_n(3);
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

    /// Pops `n` operands and returns the slot of the first.
    fn pop_n(&mut self, n: u32) -> Slot {
        self.height -= n;
        self.slot(self.height)
    }

    fn constant(&mut self, val: u64) {
        let dst = self.push();
        self.emit(Instr::Const { dst, val });
    }

    /// Operators in unreachable code: only the block structure matters.
    fn unreachable_op(&mut self, op: &Operator<'_>) -> TResult {
        match *op {
            Operator::Block { blockty } => self.push_ctrl(CtrlKind::Block, blockty, 0, None),
            Operator::Loop { blockty } => self.push_ctrl(CtrlKind::Loop, blockty, 0, None),
            Operator::If { blockty } => self.push_ctrl(CtrlKind::If, blockty, 0, None),
            Operator::Else => self.else_(),
            Operator::End => self.end(),
            _ => {}
        }
        Ok(())
    }

    fn else_(&mut self) {
        let c = self.ctrl.last().expect("validated: else inside if");
        if c.dead {
            self.ctrl.last_mut().unwrap().kind = CtrlKind::Else;
            return;
        }
        if self.reachable {
            let at = self.emit(Instr::Br(u32::MAX));
            self.ctrl.last_mut().unwrap().fixups.push(at);
        }
        let pc = self.pc();
        let c = self.ctrl.last_mut().unwrap();
        c.kind = CtrlKind::Else;
        let else_fixup = c.else_fixup.take();
        let height = c.height + c.params;
        if let Some(at) = else_fixup {
            self.patch(at, pc);
        }
        self.height = height;
        self.reachable = true;
        self.new_fuel_block();
    }

    fn end(&mut self) {
        let c = self.ctrl.pop().expect("validated: end closes a block");
        if c.dead {
            return;
        }
        if c.kind == CtrlKind::Func {
            if self.reachable {
                let src = self.slot(self.height - c.results);
                self.emit(Instr::Return { src, n: c.results });
            }
            return;
        }
        let pc = self.pc();
        let jumped_to = !c.fixups.is_empty() || c.else_fixup.is_some();
        for &at in &c.fixups {
            self.patch(at, pc);
        }
        if let Some(at) = c.else_fixup {
            self.patch(at, pc);
        }
        self.set_height(c.height + c.results);
        self.reachable = true;
        if jumped_to || c.kind == CtrlKind::Loop {
            self.new_fuel_block();
        }
    }
}
