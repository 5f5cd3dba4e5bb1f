//! The layout that generated code reads: `VMContext` and the records it points to.
//!
//! Generated code knows these structs only by the byte offsets in [`offsets`], computed here
//! with `offset_of!` and nowhere else, and asserted in the tests below. The runtime builds one
//! [`VMContext`] per instance and keeps it, and everything it points to, at a stable address
//! for as long as code of that instance can run.
//!
//! # Invariants the runtime keeps (cited as VM1..VM6 by the code generator)
//! - VM1: `memory0` points to the definition of memory 0 (the instance's own or an imported
//!   one) if the module has a memory; `base..base+length` is accessible. In guard-region mode
//!   the runtime also reserves `base..base + 4 GiB + guard_size`, inaccessible beyond `length`,
//!   registered as a memory guard region (`code::register_guard`) while code may run against
//!   it: the fault handler takes a faulting access for `MemoryOutOfBounds` only there.
//! - VM2: `globals[i]` points to an 8-byte-aligned 8-byte slot holding global `i` (imported
//!   globals first) in the low bytes, little-endian: i32/f32 in 4 bytes, i64/f64 and
//!   references in 8.
//! - VM3: `tables[i]` points to table `i`'s definition; `base` holds `length` 8-byte elements.
//!   An element is the runtime's raw reference (`runtime::vm`): 0 for null, else 1 + the
//!   store index of the function (funcref, an index into `VMStoreContext::funcs`) or of the
//!   host object (externref). Globals and values hold references the same way.
//! - VM4: `funcs[i]` is the `VMFuncRef` of function `i` (imported first), never null, at an
//!   address stable for the instance's life (the store's array moves; these do not);
//!   `func_refs[i]` is function `i`'s raw reference (1 + its store index), for `ref.func`.
//! - VM5: `type_ids[t]` is the store-wide canonical id of module type `t` (interned by the
//!   store core): two structurally equal function types have the same id, in every
//!   instance of the store.
//! - VM6: `store` points to the store's [`VMStoreContext`]; `libcalls` to a [`VMLibcalls`].
//!   `VMStoreContext::funcs[0..funcs_len]` are the store's functions; the array may move
//!   when a host function runs (it may add functions), so code loads its address anew for
//!   each `call_indirect` and never across a call.
use core::ffi::c_void;
use core::mem::offset_of;

// The records shared with the runtime: one definition of each, in `runtime::vm`, read by
// the interpreter too.
pub(crate) use crate::runtime::vm::{
    VMFuncRef, VMMemoryDefinition, VMStoreContext, VMTableDefinition,
};

/// An entry from Rust: params in `values[..params]`, results written to `values[..results]`
/// (each an 8-byte slot as in VM2). `vmctx` is the callee instance's context.
pub type ArrayCallFn = unsafe extern "C" fn(vmctx: *mut VMContext, values: *mut u64);

/// The functions generated code calls for what needs the runtime.
///
/// Every function gets the caller instance's `vmctx` first. Those returning a `u32` status
/// return 0 on success; any other value makes the code trap with the trap code of that
/// operation (`MemoryOutOfBounds` for memory ops, `TableOutOfBounds` for table ops,
/// `OutOfFuel` for `out_of_fuel`, after the runtime recorded why). Host functions are not
/// libcalls: a wasm-to-host trampoline calls the entry of the host function's
/// `VMHostFunc` record (`runtime::vm`).
/// A libcall may also suspend the fiber the call runs on and return when resumed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct VMLibcalls {
    /// `memory.grow` of memory 0: the old size in pages, or `u32::MAX` (-1).
    pub memory_grow: unsafe extern "C" fn(vmctx: *mut VMContext, delta: u32) -> u32,
    /// `memory.init` of memory 0 from data segment `data`.
    pub memory_init:
        unsafe extern "C" fn(vmctx: *mut VMContext, data: u32, dst: u32, src: u32, len: u32) -> u32,
    /// `data.drop`.
    pub data_drop: unsafe extern "C" fn(vmctx: *mut VMContext, data: u32),
    /// `table.grow`: the old size, or `u32::MAX` (-1).
    pub table_grow:
        unsafe extern "C" fn(vmctx: *mut VMContext, table: u32, init: u64, delta: u32) -> u32,
    /// `table.fill`.
    pub table_fill: unsafe extern "C" fn(
        vmctx: *mut VMContext,
        table: u32,
        dst: u32,
        val: u64,
        len: u32,
    ) -> u32,
    /// `table.copy`.
    pub table_copy: unsafe extern "C" fn(
        vmctx: *mut VMContext,
        dst_table: u32,
        src_table: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32,
    /// `table.init` of `table` from element segment `elem`.
    pub table_init: unsafe extern "C" fn(
        vmctx: *mut VMContext,
        table: u32,
        elem: u32,
        dst: u32,
        src: u32,
        len: u32,
    ) -> u32,
    /// `elem.drop`.
    pub elem_drop: unsafe extern "C" fn(vmctx: *mut VMContext, elem: u32),
    /// Fuel is not positive at a check point: 0 to go on (fuel was added, possibly after
    /// suspending the fiber), nonzero to trap `OutOfFuel`.
    pub out_of_fuel: unsafe extern "C" fn(vmctx: *mut VMContext) -> u32,
}

/// The per-instance context; generated code gets a pointer to it as its first argument.
#[repr(C)]
#[derive(Debug)]
pub struct VMContext {
    /// Memory 0 (VM1), null if the module has no memory.
    pub memory0: *mut VMMemoryDefinition,
    /// The store's context (VM6).
    pub store: *mut VMStoreContext,
    /// The libcall table (VM6).
    pub libcalls: *const VMLibcalls,
    /// One slot pointer per global (VM2).
    pub globals: *const *mut u64,
    /// One definition pointer per table (VM3).
    pub tables: *const *mut VMTableDefinition,
    /// One funcref per function (VM4).
    pub funcs: *const *const VMFuncRef,
    /// Canonical type ids (VM5).
    pub type_ids: *const u32,
    /// Raw references of the functions (VM4).
    pub func_refs: *const u64,
    /// The runtime's instance, for the libcalls; generated code never reads it.
    pub runtime: *mut c_void,
}

/// Byte offsets of the fields generated code reads.
pub mod offsets {
    use super::*;

    /// `VMContext::memory0`.
    pub const VMCTX_MEMORY0: i32 = offset_of!(VMContext, memory0) as i32;
    /// `VMContext::store`.
    pub const VMCTX_STORE: i32 = offset_of!(VMContext, store) as i32;
    /// `VMContext::libcalls`.
    pub const VMCTX_LIBCALLS: i32 = offset_of!(VMContext, libcalls) as i32;
    /// `VMContext::globals`.
    pub const VMCTX_GLOBALS: i32 = offset_of!(VMContext, globals) as i32;
    /// `VMContext::tables`.
    pub const VMCTX_TABLES: i32 = offset_of!(VMContext, tables) as i32;
    /// `VMContext::funcs`.
    pub const VMCTX_FUNCS: i32 = offset_of!(VMContext, funcs) as i32;
    /// `VMContext::type_ids`.
    pub const VMCTX_TYPE_IDS: i32 = offset_of!(VMContext, type_ids) as i32;
    /// `VMContext::func_refs`.
    pub const VMCTX_FUNC_REFS: i32 = offset_of!(VMContext, func_refs) as i32;

    /// `VMMemoryDefinition::base`.
    pub const MEMORY_BASE: i32 = offset_of!(VMMemoryDefinition, base) as i32;
    /// `VMMemoryDefinition::length`.
    pub const MEMORY_LENGTH: i32 = offset_of!(VMMemoryDefinition, length) as i32;
    /// `VMTableDefinition::base`.
    pub const TABLE_BASE: i32 = offset_of!(VMTableDefinition, base) as i32;
    /// `VMTableDefinition::length`.
    pub const TABLE_LENGTH: i32 = offset_of!(VMTableDefinition, length) as i32;

    /// `VMFuncRef::wasm_call`.
    pub const FUNCREF_WASM_CALL: i32 = offset_of!(VMFuncRef, wasm_call) as i32;
    /// `VMFuncRef::vmctx`.
    pub const FUNCREF_VMCTX: i32 = offset_of!(VMFuncRef, vmctx) as i32;
    /// `VMFuncRef::ty`: the canonical type id.
    pub const FUNCREF_TYPE_ID: i32 = offset_of!(VMFuncRef, ty) as i32;
    /// The size of a [`VMFuncRef`], the stride of `VMStoreContext::funcs`.
    pub const FUNCREF_SIZE: i64 = size_of::<VMFuncRef>() as i64;
    /// `VMStoreContext::funcs`.
    pub const STORE_FUNCS: i32 = offset_of!(VMStoreContext, funcs) as i32;

    /// `VMStoreContext::fuel`.
    pub const STORE_FUEL: i32 = offset_of!(VMStoreContext, fuel) as i32;
    /// `VMStoreContext::stack_limit`.
    pub const STORE_STACK_LIMIT: i32 = offset_of!(VMStoreContext, stack_limit) as i32;

    /// Offset of a libcall's pointer in [`VMLibcalls`].
    pub const fn libcall(which: super::super::libcalls::Libcall) -> i32 {
        which.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::offsets::*;
    use super::*;

    #[test]
    fn layout_is_what_generated_code_expects() {
        // The values the code generator was written against, on a 64-bit host.
        assert_eq!(size_of::<usize>(), 8);
        assert_eq!(VMCTX_MEMORY0, 0);
        assert_eq!(VMCTX_STORE, 8);
        assert_eq!(VMCTX_LIBCALLS, 16);
        assert_eq!(VMCTX_GLOBALS, 24);
        assert_eq!(VMCTX_TABLES, 32);
        assert_eq!(VMCTX_FUNCS, 40);
        assert_eq!(VMCTX_TYPE_IDS, 48);
        assert_eq!(VMCTX_FUNC_REFS, 56);
        assert_eq!(size_of::<VMContext>(), 72);
        assert_eq!((MEMORY_BASE, MEMORY_LENGTH), (0, 8));
        assert_eq!(size_of::<VMMemoryDefinition>(), 16);
        assert_eq!((TABLE_BASE, TABLE_LENGTH), (0, 8));
        assert_eq!(size_of::<VMTableDefinition>(), 16);
        assert_eq!(
            (FUNCREF_WASM_CALL, FUNCREF_VMCTX, FUNCREF_TYPE_ID),
            (0, 8, 24)
        );
        assert_eq!(size_of::<VMFuncRef>(), 40);
        assert_eq!(FUNCREF_SIZE, 40);
        assert_eq!((STORE_FUEL, STORE_STACK_LIMIT, STORE_FUNCS), (0, 8, 16));
        assert_eq!(size_of::<VMLibcalls>(), 9 * 8);
        // A wasm-to-host trampoline loads the entry through the record's address.
        assert_eq!(
            core::mem::offset_of!(crate::runtime::vm::VMHostFunc, entry),
            0
        );
    }
}
