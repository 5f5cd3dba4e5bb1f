//! The interpreter's internal code: what the translator emits and the executor runs.
//!
//! A function's code is a flat array of [`Instr`]. It is a register machine over the
//! function's *frame*: an array of 8-byte slots holding the locals followed by the Wasm
//! operand stack. Because Wasm's operand stack height is known statically at every
//! instruction, each operand has a fixed slot, so instructions name their operands by
//! frame-relative slot index instead of pushing and popping. Branch targets are resolved at
//! translation time; in finished code they are offsets relative to the instruction after
//! the branch.
//!
//! A frame is laid out as `[locals | constants | operand stack]`. The translator does not
//! copy a `local.get` or a constant onto the operand stack: the consuming instruction reads
//! the local's or the constant's slot directly, and an instruction whose result is
//! immediately stored to a local writes the local directly. Constants live in a per-function
//! pool copied into the frame's tail on entry.
//!
//! Calls pass arguments in place: the caller's argument slots become the callee's first
//! locals, and the callee leaves its results at the start of its frame, where the caller
//! expects them.

/// A frame-relative slot index.
pub(crate) type Slot = u32;

/// Invokes `$m!` with every instruction that maps one-to-one from a Wasm operator, grouped
/// by shape: numeric operators with their function in [`crate::ops`], loads and stores with
/// their width in bytes and their byte conversion. The `Instr` enum, the translator and the
/// executor are all generated from this one list. `F32Load`/`F64Load` and the float stores
/// are translated to their integer twins, since slots hold raw bits.
macro_rules! for_each_op {
    ($m:ident) => {
        $m! {
            unary {
                I32Eqz => i32_eqz, I64Eqz => i64_eqz,
                I32Clz => i32_clz, I32Ctz => i32_ctz, I32Popcnt => i32_popcnt,
                I64Clz => i64_clz, I64Ctz => i64_ctz, I64Popcnt => i64_popcnt,
                F32Abs => f32_abs, F32Neg => f32_neg, F32Ceil => f32_ceil, F32Floor => f32_floor,
                F32Trunc => f32_trunc, F32Nearest => f32_nearest, F32Sqrt => f32_sqrt,
                F64Abs => f64_abs, F64Neg => f64_neg, F64Ceil => f64_ceil, F64Floor => f64_floor,
                F64Trunc => f64_trunc, F64Nearest => f64_nearest, F64Sqrt => f64_sqrt,
                I32WrapI64 => i32_wrap_i64, I64ExtendI32S => i64_extend_i32_s,
                I64ExtendI32U => i64_extend_i32_u,
                I32Extend8S => i32_extend8_s, I32Extend16S => i32_extend16_s,
                I64Extend8S => i64_extend8_s, I64Extend16S => i64_extend16_s,
                I64Extend32S => i64_extend32_s,
                F32ConvertI32S => f32_convert_i32_s, F32ConvertI32U => f32_convert_i32_u,
                F32ConvertI64S => f32_convert_i64_s, F32ConvertI64U => f32_convert_i64_u,
                F64ConvertI32S => f64_convert_i32_s, F64ConvertI32U => f64_convert_i32_u,
                F64ConvertI64S => f64_convert_i64_s, F64ConvertI64U => f64_convert_i64_u,
                F32DemoteF64 => f32_demote_f64, F64PromoteF32 => f64_promote_f32,
                I32TruncSatF32S => i32_trunc_sat_f32_s, I32TruncSatF32U => i32_trunc_sat_f32_u,
                I32TruncSatF64S => i32_trunc_sat_f64_s, I32TruncSatF64U => i32_trunc_sat_f64_u,
                I64TruncSatF32S => i64_trunc_sat_f32_s, I64TruncSatF32U => i64_trunc_sat_f32_u,
                I64TruncSatF64S => i64_trunc_sat_f64_s, I64TruncSatF64U => i64_trunc_sat_f64_u,
                RefIsNull => ref_is_null,
            }
            unary_trap {
                I32TruncF32S => i32_trunc_f32_s, I32TruncF32U => i32_trunc_f32_u,
                I32TruncF64S => i32_trunc_f64_s, I32TruncF64U => i32_trunc_f64_u,
                I64TruncF32S => i64_trunc_f32_s, I64TruncF32U => i64_trunc_f32_u,
                I64TruncF64S => i64_trunc_f64_s, I64TruncF64U => i64_trunc_f64_u,
            }
            binary {
                I32Eq => i32_eq, I32Ne => i32_ne, I32LtS => i32_lt_s, I32LtU => i32_lt_u,
                I32GtS => i32_gt_s, I32GtU => i32_gt_u, I32LeS => i32_le_s, I32LeU => i32_le_u,
                I32GeS => i32_ge_s, I32GeU => i32_ge_u,
                I64Eq => i64_eq, I64Ne => i64_ne, I64LtS => i64_lt_s, I64LtU => i64_lt_u,
                I64GtS => i64_gt_s, I64GtU => i64_gt_u, I64LeS => i64_le_s, I64LeU => i64_le_u,
                I64GeS => i64_ge_s, I64GeU => i64_ge_u,
                F32Eq => f32_eq, F32Ne => f32_ne, F32Lt => f32_lt, F32Gt => f32_gt,
                F32Le => f32_le, F32Ge => f32_ge,
                F64Eq => f64_eq, F64Ne => f64_ne, F64Lt => f64_lt, F64Gt => f64_gt,
                F64Le => f64_le, F64Ge => f64_ge,
                I32Add => i32_add, I32Sub => i32_sub, I32Mul => i32_mul, I32And => i32_and,
                I32Or => i32_or, I32Xor => i32_xor, I32Shl => i32_shl, I32ShrS => i32_shr_s,
                I32ShrU => i32_shr_u, I32Rotl => i32_rotl, I32Rotr => i32_rotr,
                I64Add => i64_add, I64Sub => i64_sub, I64Mul => i64_mul, I64And => i64_and,
                I64Or => i64_or, I64Xor => i64_xor, I64Shl => i64_shl, I64ShrS => i64_shr_s,
                I64ShrU => i64_shr_u, I64Rotl => i64_rotl, I64Rotr => i64_rotr,
                F32Add => f32_add, F32Sub => f32_sub, F32Mul => f32_mul, F32Div => f32_div,
                F32Min => f32_min, F32Max => f32_max, F32Copysign => f32_copysign,
                F64Add => f64_add, F64Sub => f64_sub, F64Mul => f64_mul, F64Div => f64_div,
                F64Min => f64_min, F64Max => f64_max, F64Copysign => f64_copysign,
            }
            binary_trap {
                I32DivS => i32_div_s, I32DivU => i32_div_u, I32RemS => i32_rem_s,
                I32RemU => i32_rem_u,
                I64DivS => i64_div_s, I64DivU => i64_div_u, I64RemS => i64_rem_s,
                I64RemU => i64_rem_u,
            }
            load {
                I32Load(4) / I32LoadIdx => |b: [u8; 4]| u32::from_le_bytes(b) as u64,
                I64Load(8) / I64LoadIdx => |b: [u8; 8]| u64::from_le_bytes(b),
                I32Load8S(1) / I32Load8SIdx => |b: [u8; 1]| b[0] as i8 as i32 as u32 as u64,
                I32Load8U(1) / I32Load8UIdx => |b: [u8; 1]| b[0] as u64,
                I32Load16S(2) / I32Load16SIdx => |b: [u8; 2]| i16::from_le_bytes(b) as i32 as u32 as u64,
                I32Load16U(2) / I32Load16UIdx => |b: [u8; 2]| u16::from_le_bytes(b) as u64,
                I64Load8S(1) / I64Load8SIdx => |b: [u8; 1]| b[0] as i8 as i64 as u64,
                I64Load8U(1) / I64Load8UIdx => |b: [u8; 1]| b[0] as u64,
                I64Load16S(2) / I64Load16SIdx => |b: [u8; 2]| i16::from_le_bytes(b) as i64 as u64,
                I64Load16U(2) / I64Load16UIdx => |b: [u8; 2]| u16::from_le_bytes(b) as u64,
                I64Load32S(4) / I64Load32SIdx => |b: [u8; 4]| i32::from_le_bytes(b) as i64 as u64,
                I64Load32U(4) / I64Load32UIdx => |b: [u8; 4]| u32::from_le_bytes(b) as u64,
            }
            store {
                I32Store(4) / I32StoreIdx => |v: u64| (v as u32).to_le_bytes(),
                I64Store(8) / I64StoreIdx => |v: u64| v.to_le_bytes(),
                I32Store8(1) / I32Store8Idx => |v: u64| [v as u8],
                I32Store16(2) / I32Store16Idx => |v: u64| (v as u16).to_le_bytes(),
                I64Store8(1) / I64Store8Idx => |v: u64| [v as u8],
                I64Store16(2) / I64Store16Idx => |v: u64| (v as u16).to_le_bytes(),
                I64Store32(4) / I64Store32Idx => |v: u64| (v as u32).to_le_bytes(),
            }
            cmp_branch {
                BrI32Eq => i32_eq, BrI32Ne => i32_ne, BrI32LtS => i32_lt_s, BrI32LtU => i32_lt_u,
                BrI32GtS => i32_gt_s, BrI32GtU => i32_gt_u, BrI32LeS => i32_le_s,
                BrI32LeU => i32_le_u, BrI32GeS => i32_ge_s, BrI32GeU => i32_ge_u,
                BrI64Eq => i64_eq, BrI64Ne => i64_ne, BrI64LtS => i64_lt_s, BrI64LtU => i64_lt_u,
                BrI64GtS => i64_gt_s, BrI64GtU => i64_gt_u, BrI64LeS => i64_le_s,
                BrI64LeU => i64_le_u, BrI64GeS => i64_ge_s, BrI64GeU => i64_ge_u,
            }
        }
    };
}
pub(crate) use for_each_op;

macro_rules! define_instr {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) / $ldx:ident => $ldf:expr,)* }
        store { $($st:ident($stn:literal) / $stx:ident => $stf:expr,)* }
        cmp_branch { $($cb:ident => $cbf:ident,)* }
    ) => {
                /// One instruction of the internal code. See the module docs.
                #[derive(Debug, Clone, Copy, PartialEq)]
                pub(crate) enum Instr {
                    /// Trap with [`crate::TrapCode::Unreachable`].
                    Unreachable,
                    /// Charge fuel for the block that follows; suspend first if none is left.
                    ConsumeFuel(u32),
                    /// Jump to an absolute instruction index.
                    Br(u32),
                    /// Jump if the i32 in `cond` is not zero.
                    BrIfNez { cond: Slot, target: u32 },
                    /// Jump if the i32 in `cond` is zero.
                    BrIfEqz { cond: Slot, target: u32 },
                    /// Followed by `len + 1` [`Instr::Br`] entries, the last the default;
                    /// jumps to the entry the i32 in `index` selects.
                    BrTable { index: Slot, len: u32 },
                    /// Copy `n` results from `src` to the start of the frame and return.
                    Return { src: Slot, n: u32 },
                    /// Copy one slot.
                    Copy { dst: Slot, src: Slot },
                    /// Copy `n` consecutive slots from `src` to `dst`, in ascending order
                    /// (right where the ranges overlap with `dst` below `src`): a branch's
                    /// values moving to its target's slots in one instruction.
                    CopyRange { dst: Slot, src: Slot, n: u32 },
                    /// `select`: `dst` takes `a` if the i32 in `cond` is not zero, else `b`.
                    Select32 { dst: Slot, a: Slot, b: Slot, cond: Slot },
                    /// `select` on an i64 condition: the `i64.eqz` of a `select`'s condition
                    /// fused into it (by swapping `a` and `b`).
                    Select64 { dst: Slot, a: Slot, b: Slot, cond: Slot },
                    /// Call a function defined by this module; arguments start at `base`.
                    CallInternal { func: u32, base: Slot },
                    /// Call an imported function (module function index).
                    CallImported { func: u32, base: Slot },
                    /// Call through table `table` checking type `ty`; arguments start at
                    /// `base` and the table index follows them, at `index`.
                    CallIndirect { ty: u32, table: u32, base: Slot, index: Slot },
                    GlobalGet { dst: Slot, global: u32 },
                    GlobalSet { src: Slot, global: u32 },
                    RefFunc { dst: Slot, func: u32 },
                    MemorySize { dst: Slot },
                    /// Delta in `dst`; result replaces it.
                    MemoryGrow { dst: Slot },
                    /// Operands at `base`, `base+1`, `base+2`.
                    MemoryFill { base: Slot },
                    MemoryCopy { base: Slot },
                    MemoryInit { base: Slot, data: u32 },
                    DataDrop { data: u32 },
                    /// Index in `dst`; the element replaces it.
                    TableGet { dst: Slot, table: u32 },
                    /// Index at `base`, value at `base+1`.
                    TableSet { base: Slot, table: u32 },
                    TableSize { dst: Slot, table: u32 },
                    /// Init value at `base`, delta at `base+1`; result at `base`.
                    TableGrow { base: Slot, table: u32 },
                    TableFill { base: Slot, table: u32 },
                    TableCopy { base: Slot, dst_table: u32, src_table: u32 },
                    TableInit { base: Slot, table: u32, elem: u32 },
                    ElemDrop { elem: u32 },
                    $($un { dst: Slot, src: Slot },)*
                    $($ut { dst: Slot, src: Slot },)*
                    $($bin { dst: Slot, lhs: Slot, rhs: Slot },)*
                    $($bt { dst: Slot, lhs: Slot, rhs: Slot },)*
                    $($ld { dst: Slot, addr: Slot, offset: u32 },)*
                    $($st { addr: Slot, val: Slot, offset: u32 },)*
                    /// A load at address `base + (index << shift)` (32-bit, offset 0): the
                    /// `i32.add` (and `i32.shl`) computing an address fused into the load.
                    $($ldx { dst: Slot, base: Slot, index: Slot, shift: u8 },)*
                    /// A store at address `base + (index << shift)` (32-bit, offset 0).
                    $($stx { base: Slot, index: Slot, val: Slot, shift: u8 },)*
                    /// `var += step` (i32), then jump if `var < limit` (unsigned): a loop
                    /// counter's increment fused into the branch closing the loop. `step` and
                    /// `limit` are final frame slots (below 65,536).
                    AddBrI32LtU { var: Slot, step: u16, limit: u16, target: u32 },
                    /// As [`Instr::AddBrI32LtU`] with a signed comparison.
                    AddBrI32LtS { var: Slot, step: u16, limit: u16, target: u32 },
                    /// As [`Instr::AddBrI32LtU`], jumping if `var != limit`.
                    AddBrI32Ne { var: Slot, step: u16, limit: u16, target: u32 },
                    /// `dst = base + (index << shift)` in 32 bits: an `i32.shl` by a constant
                    /// fused into the `i32.add` that uses it (array indexing).
                    I32AddShl { dst: Slot, base: Slot, index: Slot, shift: u8 },
                    /// Jump to `target` if the comparison of `lhs` and `rhs` holds.
                    $($cb { lhs: Slot, rhs: Slot, target: u32 },)*
                }
    };
}
for_each_op!(define_instr);

// Four slot operands and the tag; the executor's `Op` adds the handler within 32 bytes.
const _: () = assert!(core::mem::size_of::<Instr>() <= 24);

macro_rules! define_slots {
    (
        unary { $($un:ident => $unf:ident,)* }
        unary_trap { $($ut:ident => $utf:ident,)* }
        binary { $($bin:ident => $binf:ident,)* }
        binary_trap { $($bt:ident => $btf:ident,)* }
        load { $($ld:ident($ldn:literal) / $ldx:ident => $ldf:expr,)* }
        store { $($st:ident($stn:literal) / $stx:ident => $stf:expr,)* }
        cmp_branch { $($cb:ident => $cbf:ident,)* }
    ) => {
        impl Instr {
            /// Calls `f` with every slot operand and the number of consecutive slots the
            /// instruction uses from it. Calls report their argument base with width 0;
            /// their extent depends on the callee's type (see the translator's verifier).
            pub(crate) fn for_each_slot(&mut self, mut f: impl FnMut(&mut Slot, u32)) {
                match self {
                    $(Instr::$un { dst, src } => { f(dst, 1); f(src, 1); })*
                    $(Instr::$ut { dst, src } => { f(dst, 1); f(src, 1); })*
                    $(Instr::$bin { dst, lhs, rhs } => { f(dst, 1); f(lhs, 1); f(rhs, 1); })*
                    $(Instr::$bt { dst, lhs, rhs } => { f(dst, 1); f(lhs, 1); f(rhs, 1); })*
                    $(Instr::$ld { dst, addr, .. } => { f(dst, 1); f(addr, 1); })*
                    $(Instr::$st { addr, val, .. } => { f(addr, 1); f(val, 1); })*
                    $(Instr::$ldx { dst, base, index, .. } => { f(dst, 1); f(base, 1); f(index, 1); })*
                    $(Instr::$stx { base, index, val, .. } => { f(base, 1); f(index, 1); f(val, 1); })*
                    Instr::I32AddShl { dst, base, index, .. } => { f(dst, 1); f(base, 1); f(index, 1); }
                    // `step` and `limit` are final slots already (checked by the verifier).
                    Instr::AddBrI32LtU { var, .. }
                    | Instr::AddBrI32LtS { var, .. }
                    | Instr::AddBrI32Ne { var, .. } => f(var, 1),
                    $(Instr::$cb { lhs, rhs, .. } => { f(lhs, 1); f(rhs, 1); })*
                    Instr::Unreachable
                    | Instr::ConsumeFuel(_)
                    | Instr::Br(_)
                    | Instr::DataDrop { .. }
                    | Instr::ElemDrop { .. } => {}
                    Instr::BrIfNez { cond, .. } | Instr::BrIfEqz { cond, .. } => f(cond, 1),
                    Instr::BrTable { index, .. } => f(index, 1),
                    Instr::Return { src, n } => f(src, *n),
                    Instr::Copy { dst, src } => { f(dst, 1); f(src, 1); }
                    Instr::CopyRange { dst, src, n } => { f(dst, *n); f(src, *n); }
                    Instr::Select32 { dst, a, b, cond } | Instr::Select64 { dst, a, b, cond } => {
                        f(dst, 1);
                        f(a, 1);
                        f(b, 1);
                        f(cond, 1);
                    }
                    Instr::CallInternal { base, .. } | Instr::CallImported { base, .. } => f(base, 0),
                    Instr::CallIndirect { base, index, .. } => {
                        f(base, 0);
                        f(index, 1);
                    }
                    Instr::GlobalGet { dst, .. } => f(dst, 1),
                    Instr::GlobalSet { src, .. } => f(src, 1),
                    Instr::RefFunc { dst, .. } => f(dst, 1),
                    Instr::MemorySize { dst } | Instr::MemoryGrow { dst } => f(dst, 1),
                    Instr::MemoryFill { base }
                    | Instr::MemoryCopy { base }
                    | Instr::MemoryInit { base, .. } => f(base, 3),
                    Instr::TableGet { dst, .. } | Instr::TableSize { dst, .. } => f(dst, 1),
                    Instr::TableSet { base, .. } | Instr::TableGrow { base, .. } => f(base, 2),
                    Instr::TableFill { base, .. }
                    | Instr::TableCopy { base, .. }
                    | Instr::TableInit { base, .. } => f(base, 3),
                }
            }

            /// What of this instruction can go through the executor's accumulator
            /// register instead of a frame slot (see [`AccUse`]): the slot of its result,
            /// if the result can, and in order the slots of the operands that can.
            #[inline(always)]
            pub(crate) fn acc_shape(&self) -> (Option<Slot>, [Option<Slot>; 2]) {
                match *self {
                    $(Instr::$un { dst, src } => (Some(dst), [Some(src), None]),)*
                    $(Instr::$ut { dst, src } => (Some(dst), [Some(src), None]),)*
                    $(Instr::$bin { dst, lhs, rhs } => (Some(dst), [Some(lhs), Some(rhs)]),)*
                    $(Instr::$bt { dst, lhs, rhs } => (Some(dst), [Some(lhs), Some(rhs)]),)*
                    $(Instr::$ld { dst, addr, .. } => (Some(dst), [Some(addr), None]),)*
                    $(Instr::$ldx { dst, .. } => (Some(dst), [None, None]),)*
                    $(Instr::$st { addr, val, .. } => (None, [Some(addr), Some(val)]),)*
                    $(Instr::$stx { val, .. } => (None, [Some(val), None]),)*
                    $(Instr::$cb { lhs, rhs, .. } => (None, [Some(lhs), Some(rhs)]),)*
                    Instr::BrIfNez { cond, .. } | Instr::BrIfEqz { cond, .. } => {
                        (None, [Some(cond), None])
                    }
                    Instr::BrTable { index, .. } => (None, [Some(index), None]),
                    Instr::Select32 { dst, cond, .. } | Instr::Select64 { dst, cond, .. } => {
                        (Some(dst), [Some(cond), None])
                    }
                    Instr::I32AddShl { dst, .. } | Instr::GlobalGet { dst, .. } => {
                        (Some(dst), [None, None])
                    }
                    Instr::GlobalSet { src, .. } => (None, [Some(src), None]),
                    _ => (None, [None, None]),
                }
            }

            /// The operand that can be an immediate instead of a constant's slot, and whether
            /// the instruction reads only its low 32 bits (so that any 32-bit constant
            /// fits; otherwise only constants that sign-extend from 32 bits do).
            pub(crate) fn imm_operand(&mut self) -> Option<(&mut Slot, bool)> {
                // An operator reads 32-bit operands when its function in `ops` is named
                // `i32_*` or `f32_*`; a narrow store writes at most the low 32 bits.
                match self {
                    $(Instr::$bin { rhs, .. } => Some((rhs, stringify!($binf).as_bytes()[1] == b'3')),)*
                    $(Instr::$bt { rhs, .. } => Some((rhs, stringify!($btf).as_bytes()[1] == b'3')),)*
                    $(Instr::$cb { rhs, .. } => Some((rhs, stringify!($cbf).as_bytes()[1] == b'3')),)*
                    $(Instr::$st { val, .. } => Some((val, $stn <= 4)),)*
                    _ => None,
                }
            }

            /// The jump target, for branch instructions.
            pub(crate) fn target_mut(&mut self) -> Option<&mut u32> {
                match self {
                    Instr::Br(target)
                    | Instr::BrIfNez { target, .. }
                    | Instr::BrIfEqz { target, .. } => Some(target),
                    $(Instr::$cb { target, .. } => Some(target),)*
                    Instr::AddBrI32LtU { target, .. }
                    | Instr::AddBrI32LtS { target, .. }
                    | Instr::AddBrI32Ne { target, .. } => Some(target),
                    _ => None,
                }
            }

            /// The slot a value-producing instruction writes, if it writes exactly one.
            pub(crate) fn dst_mut(&mut self) -> Option<&mut Slot> {
                match self {
                    $(Instr::$un { dst, .. })|*
                    | $(Instr::$ut { dst, .. })|*
                    | $(Instr::$bin { dst, .. })|*
                    | $(Instr::$bt { dst, .. })|*
                    | $(Instr::$ld { dst, .. })|*
                    | $(Instr::$ldx { dst, .. })|*
                    | Instr::I32AddShl { dst, .. }
                    | Instr::Copy { dst, .. }
                    | Instr::Select32 { dst, .. }
                    | Instr::Select64 { dst, .. }
                    | Instr::GlobalGet { dst, .. }
                    | Instr::RefFunc { dst, .. }
                    | Instr::MemorySize { dst }
                    | Instr::TableSize { dst, .. } => Some(dst),
                    _ => None,
                }
            }
        }
    };
}
for_each_op!(define_slots);

/// Which of an instruction's values pass through the executor's accumulator, a machine
/// register, instead of frame slots: a result that the very next instruction consumes
/// (and nothing else reads) is left in the accumulator and taken from there. The
/// translator decides (see `translate::assign_accumulator`), within what
/// [`Instr::acc_shape`] allows; the executor picks the handler variant accordingly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AccUse {
    /// The result goes to the accumulator, not to its slot.
    pub dst: bool,
    /// The operand (1 or 2, in the order of [`Instr::acc_shape`]) read from the
    /// accumulator instead of its slot; 0 for none.
    pub src: u8,
    /// The second operand is an immediate: the field that named a constant's slot holds
    /// the constant itself, sign-extended from 32 bits (see [`Instr::imm_operand`]).
    pub imm: bool,
}

/// The executor's encoding of an instruction, which the translator's last pass produces:
/// the translator asks the executor for it instruction by instruction, and needs to know
/// nothing more of the executor (`exec::Op` implements it).
pub(crate) trait Encode: Sized {
    /// `instr`, taking the values `acc` says through the accumulator; `None` if the
    /// executor has no handler for that.
    fn encode(instr: Instr, acc: AccUse) -> Option<Self>;
    /// Switches to the accumulator uses `acc`; `None` if there is no handler for them.
    fn set_acc(&mut self, acc: AccUse) -> Option<()>;
}

/// A translated function, its code encoded as `O`s (the executor's `Op`s).
#[derive(Debug)]
pub(crate) struct FuncCode<O> {
    /// The code as the executor runs it.
    pub code: alloc::boxed::Box<[O]>,
    pub num_params: u32,
    /// What a new frame holds after its parameters: zeros for the declared locals, then
    /// the function's constants, so instructions read constants like any other slot;
    /// padded with zeros to whole chunks of four (the frame has room for them).
    pub frame_init: alloc::boxed::Box<[[u64; 4]]>,
    /// Locals, constants and the maximum operand stack height (at least the parameters
    /// and `frame_init`): the slots a frame needs. Every slot operand of `code` is below
    /// it (checked after translation).
    pub frame_size: u32,
}
