//! The libcall ABI: which runtime functions generated code calls, their CLIF signatures, and
//! where their pointers sit in [`VMLibcalls`].
//!
//! Every libcall uses the host's C calling convention and takes the caller's `vmctx` first.
//! The Rust types of the pointers are the fields of [`VMLibcalls`]; the signatures here must
//! agree with them (the test below checks the counts).
use core::mem::offset_of;

use cranelift_codegen::ir::{AbiParam, Signature, types};
use cranelift_codegen::isa::CallConv;

use super::vmctx::VMLibcalls;
use crate::TrapCode;

/// One runtime function generated code can call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Libcall {
    /// See [`VMLibcalls::memory_grow`].
    MemoryGrow,
    /// See [`VMLibcalls::memory_init`].
    MemoryInit,
    /// See [`VMLibcalls::data_drop`].
    DataDrop,
    /// See [`VMLibcalls::table_grow`].
    TableGrow,
    /// See [`VMLibcalls::table_fill`].
    TableFill,
    /// See [`VMLibcalls::table_copy`].
    TableCopy,
    /// See [`VMLibcalls::table_init`].
    TableInit,
    /// See [`VMLibcalls::elem_drop`].
    ElemDrop,
    /// See [`VMLibcalls::out_of_fuel`].
    OutOfFuel,
}

use types::{I32, I64};

impl Libcall {
    /// Every libcall, in table order.
    pub const ALL: [Libcall; 9] = [
        Libcall::MemoryGrow,
        Libcall::MemoryInit,
        Libcall::DataDrop,
        Libcall::TableGrow,
        Libcall::TableFill,
        Libcall::TableCopy,
        Libcall::TableInit,
        Libcall::ElemDrop,
        Libcall::OutOfFuel,
    ];

    /// Byte offset of this libcall's pointer in [`VMLibcalls`].
    pub const fn offset(self) -> i32 {
        (match self {
            Libcall::MemoryGrow => offset_of!(VMLibcalls, memory_grow),
            Libcall::MemoryInit => offset_of!(VMLibcalls, memory_init),
            Libcall::DataDrop => offset_of!(VMLibcalls, data_drop),
            Libcall::TableGrow => offset_of!(VMLibcalls, table_grow),
            Libcall::TableFill => offset_of!(VMLibcalls, table_fill),
            Libcall::TableCopy => offset_of!(VMLibcalls, table_copy),
            Libcall::TableInit => offset_of!(VMLibcalls, table_init),
            Libcall::ElemDrop => offset_of!(VMLibcalls, elem_drop),
            Libcall::OutOfFuel => offset_of!(VMLibcalls, out_of_fuel),
        }) as i32
    }

    /// Parameter types after the leading `vmctx`, and the result types.
    fn types(self) -> (&'static [types::Type], &'static [types::Type]) {
        match self {
            Libcall::MemoryGrow => (&[I32], &[I32]),
            Libcall::MemoryInit => (&[I32, I32, I32, I32], &[I32]),
            Libcall::DataDrop | Libcall::ElemDrop => (&[I32], &[]),
            Libcall::TableGrow => (&[I32, I64, I32], &[I32]),
            Libcall::TableFill => (&[I32, I32, I64, I32], &[I32]),
            Libcall::TableCopy | Libcall::TableInit => (&[I32, I32, I32, I32, I32], &[I32]),
            Libcall::OutOfFuel => (&[], &[I32]),
        }
    }

    /// The trap a nonzero status of this libcall raises.
    pub fn trap(self) -> TrapCode {
        match self {
            Libcall::MemoryGrow => TrapCode::MemoryOutOfBounds,
            Libcall::MemoryInit | Libcall::DataDrop => TrapCode::MemoryOutOfBounds,
            Libcall::TableGrow
            | Libcall::TableFill
            | Libcall::TableCopy
            | Libcall::TableInit
            | Libcall::ElemDrop => TrapCode::TableOutOfBounds,
            Libcall::OutOfFuel => TrapCode::OutOfFuel,
        }
    }

    /// The CLIF signature, in the host's C calling convention `call_conv`.
    pub fn signature(self, call_conv: CallConv) -> Signature {
        let mut sig = Signature::new(call_conv);
        sig.params.push(AbiParam::new(I64));
        let (params, results) = self.types();
        sig.params.extend(params.iter().map(|&t| AbiParam::new(t)));
        sig.returns
            .extend(results.iter().map(|&t| AbiParam::new(t)));
        sig
    }
}

/// The CLIF signature of a host function's entry (`runtime::vm::HostEntry`): `(record,
/// vmctx, values, len) -> status`, in the host's C calling convention `call_conv`.
pub fn host_entry_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([I64, I64, I64, I32].map(AbiParam::new));
    sig.returns.push(AbiParam::new(I32));
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libcall_has_its_own_slot() {
        let mut offsets: alloc::vec::Vec<i32> = Libcall::ALL.iter().map(|l| l.offset()).collect();
        offsets.sort_unstable();
        let expected: alloc::vec::Vec<i32> =
            (0..Libcall::ALL.len() as i32).map(|i| i * 8).collect();
        assert_eq!(offsets, expected);
        assert_eq!(size_of::<VMLibcalls>(), Libcall::ALL.len() * 8);
    }
}
