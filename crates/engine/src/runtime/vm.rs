//! Runtime state at stable addresses, in `#[repr(C)]` layouts that generated code can read
//! and write directly (the `VM` prefix says so), and that the interpreter reads too, so
//! that each fact has one home.
//!
//! - [`VMMemoryDefinition`]: a linear memory's base and length, kept current on growth.
//! - [`VMTableDefinition`]: a table's contiguous elements and their number, kept current
//!   on growth. An element is a raw reference: 0 for null, else 1 + the index of the
//!   function in its store (funcref) or of the host object (externref).
//! - [`VMFuncRef`]: one per store function in one contiguous array, which
//!   [`VMStoreContext`] names: a `call_indirect` turns an element into an index into it,
//!   compares the callee's interned type id with the expected one and finds where its code
//!   lives, all without calling into Rust.
//! - [`VMStoreContext`]: the store's fuel (decremented in place) and its function array.
//! - [`VMHostFunc`]: how generated code calls one host function: the entry made for its
//!   closure's type, and the closure.
//! - Globals: each global's raw value in a cell of its own ([`VmCell<u64>`]); an instance
//!   lists pointers to its globals' cells ([`VmPtr`]).
//!
//! # Invariants (cited as "vm invariant N")
//! 1. A [`VmCell`] owns one heap allocation for its whole life: the address [`VmCell::ptr`]
//!    returns is the same until the cell is dropped, and only raw pointers access it, so
//!    holding such a pointer while the store is borrowed elsewhere invalidates nothing.
//! 2. The runtime keeps every definition current: after any change of a memory's or a
//!    table's buffer, or of the store's function array, the definition that describes it
//!    is rewritten before the runtime returns to a tier.
//! 3. The store owns every cell and never drops one while it lives (objects are never
//!    removed from a store), so a pointer into a cell stays valid as long as the store.
//!
//! This module and `memory` are the runtime's only places with `unsafe` code.
#![allow(unsafe_code)]

use alloc::boxed::Box;
use core::ptr::NonNull;

/// A linear memory as generated code and the interpreter see it: `base[..length]` are the
/// memory's bytes (vm invariant 2). `base` is dangling (never null) for an empty memory.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct VMMemoryDefinition {
    pub base: *mut u8,
    pub length: u64,
}

/// A table as generated code sees it: `base[..length]` are its raw elements.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct VMTableDefinition {
    pub base: *mut u64,
    pub length: u64,
}

/// What a call through a table needs of a store function: where its code is for a tier
/// that generates code (`wasm_call`, `vmctx`, `array_call`; null for the interpreter's
/// functions), its interned type id, and for a function defined by a module its instance
/// and index among the module's defined functions; for a host function `instance` is
/// [`VMFuncRef::HOST`] and `index` indexes the typed store's host functions.
///
/// The same record is the JIT's funcref (`jit::vmctx`): `wasm_call` is the function's code
/// in the Wasm calling convention (for a host function, a wasm-to-host trampoline of its
/// type), `vmctx` the context passed to it (the callee instance's `VMContext`; for a host
/// function its store index), `array_call` the entry from Rust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct VMFuncRef {
    pub wasm_call: *const u8,
    pub vmctx: *mut core::ffi::c_void,
    pub array_call: *const u8,
    pub ty: u32,
    pub instance: u32,
    pub index: u32,
}

impl VMFuncRef {
    /// The `instance` of a host function.
    pub const HOST: u32 = u32::MAX;
}

/// How generated code calls host function `host` (store function `func`): its
/// [`VMFuncRef`] has a wasm-to-host trampoline of its type as code and this record as
/// context. The trampoline spills the arguments into `len` slots `values` (which receive
/// the results) and calls `entry(record, caller_vmctx, values, len)`: 0 when the results
/// are there, nonzero when the call traps (the entry recorded why). `entry` is made for the
/// type of `data` (a host closure) and of the store that owns the record, so it calls the
/// closure without dynamic dispatch (`jit::tier`, "Host calls"). The store owns one per
/// host function, in a [`VmCell`], for its whole life (vm invariant 3).
#[cfg(feature = "jit")]
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct VMHostFunc {
    pub entry: HostEntry,
    pub data: *const (),
    pub func: u32,
    pub host: u32,
}

/// The entry of a [`VMHostFunc`], in the host's C calling convention.
#[cfg(feature = "jit")]
pub(crate) type HostEntry = unsafe extern "C" fn(
    record: *const VMHostFunc,
    vmctx: *mut core::ffi::c_void,
    values: *mut u64,
    len: u32,
) -> u32;

/// The part of a store that generated code reads and writes in place.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct VMStoreContext {
    /// Remaining fuel; may go below zero by at most one block's cost.
    pub fuel: i64,
    /// The lowest stack address JIT code may use (set by the JIT for the fiber a call runs
    /// on; unused by the interpreter).
    pub stack_limit: usize,
    /// The store's functions, `funcs_len` of them (vm invariant 2). The array moves when
    /// it grows, so code reads this pointer anew for every use.
    pub funcs: *const VMFuncRef,
    pub funcs_len: u64,
}

/// A value at a stable heap address, read and written only through raw pointers (vm
/// invariant 1).
pub(crate) struct VmCell<T: Copy> {
    ptr: NonNull<T>,
}

impl<T: Copy> VmCell<T> {
    pub fn new(value: T) -> VmCell<T> {
        VmCell {
            ptr: NonNull::from(Box::leak(Box::new(value))),
        }
    }

    /// The cell's address, the same for its whole life.
    pub fn ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    pub fn get(&self) -> T {
        // SAFETY: `ptr` is the live allocation this cell owns (vm invariant 1); `&self`
        // excludes a concurrent `set` through this cell, and the tiers write through the
        // pointer only while they hold the store exclusively.
        unsafe { self.ptr.as_ptr().read() }
    }

    pub fn set(&mut self, value: T) {
        // SAFETY: as in `get`, with `&mut self`.
        unsafe { self.ptr.as_ptr().write(value) }
    }
}

impl<T: Copy> Drop for VmCell<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `Box::leak` in `new` and is freed only here, once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

// SAFETY: a `VmCell<T>` owns its `T` like a `Box<T>` does; the raw pointer only makes its
// address stable. Sending it sends the `T`, sharing it shares `&T` reads (`get`).
unsafe impl<T: Copy + Send> Send for VmCell<T> {}
// SAFETY: see above.
unsafe impl<T: Copy + Sync> Sync for VmCell<T> {}

impl<T: Copy + core::fmt::Debug> core::fmt::Debug for VmCell<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.get().fmt(f)
    }
}

/// A pointer to a cell of the store (a global's value), as an instance lists them.
#[derive(Debug, Clone, Copy)]
#[repr(transparent)]
pub(crate) struct VmPtr<T>(pub NonNull<T>);

// SAFETY: a `VmPtr` is an address; dereferencing it is unsafe and happens only where the
// store is held exclusively (the executor), so moving the address between threads moves no
// access with it.
unsafe impl<T> Send for VmPtr<T> {}
// SAFETY: see above.
unsafe impl<T> Sync for VmPtr<T> {}

// SAFETY: the definitions are plain addresses and numbers, owned by the store that owns
// what they describe; sending or sharing one sends or shares no access (dereferencing is
// unsafe and done only by the tier holding the store exclusively).
unsafe impl Send for VMMemoryDefinition {}
// SAFETY: see above.
unsafe impl Sync for VMMemoryDefinition {}
// SAFETY: see above.
unsafe impl Send for VMTableDefinition {}
// SAFETY: see above.
unsafe impl Sync for VMTableDefinition {}
// SAFETY: see above.
unsafe impl Send for VMStoreContext {}
// SAFETY: see above; the code pointers are into code the store keeps alive (its modules'
// and its engine's), immutable once published.
unsafe impl Send for VMFuncRef {}
// SAFETY: see above.
unsafe impl Sync for VMFuncRef {}
// SAFETY: see above.
unsafe impl Sync for VMStoreContext {}
// SAFETY: see above; `data` is a host closure the store keeps alive, which is `Send` and
// `Sync` (host functions are), called only by the tier holding the store exclusively.
#[cfg(feature = "jit")]
unsafe impl Send for VMHostFunc {}
// SAFETY: see above.
#[cfg(feature = "jit")]
unsafe impl Sync for VMHostFunc {}

#[cfg(test)]
mod tests {
    use crate::runtime::{FuncKind, StoreCore};
    use crate::types::{GlobalType, MemoryType, TableType, ValType};

    #[test]
    fn definitions_follow_growth_at_stable_addresses() {
        let mut core = StoreCore::new(100, 1 << 16);
        let m = core.alloc_memory(MemoryType::new(1, None)).unwrap();
        let def = core.memory(m).definition();
        // SAFETY: the definition lives as long as the store (vm invariant 3).
        let read = |def: *mut crate::runtime::vm::VMMemoryDefinition| unsafe { def.read() };
        assert_eq!(read(def).length, 65536);
        assert_eq!(core.memory(m).guard_bytes(), 0);
        assert_eq!(core.grow_memory(m, 3), Some(1));
        assert_eq!(core.memory(m).definition(), def);
        assert_eq!(read(def).length, 4 * 65536);
        assert_eq!(read(def).base, core.memory_mut(m).data_mut().as_mut_ptr());

        let t = core
            .alloc_table(TableType::new(ValType::FuncRef, 2, None), 0)
            .unwrap();
        let tdef = core.table(t).definition();
        assert_eq!(core.grow_table(t, 1000, 7), Some(2));
        assert_eq!(core.table(t).definition(), tdef);
        // SAFETY: as above.
        let table = unsafe { tdef.read() };
        assert_eq!(table.length, 1002);
        // SAFETY: element 1001 is inside the table the definition describes.
        assert_eq!(unsafe { table.base.add(1001).read() }, 7);

        let g = core.alloc_global(GlobalType::new(ValType::I64, crate::Mutability::Var), 5);
        let g = g.unwrap();
        let cell = core.global(g).cell();
        for _ in 0..100 {
            core.alloc_global(GlobalType::new(ValType::I32, crate::Mutability::Const), 0)
                .unwrap();
        }
        core.global_mut(g).set_value(9);
        // SAFETY: the cell lives as long as the store (vm invariant 3).
        assert_eq!(unsafe { cell.read() }, 9);

        core.set_fuel(42);
        let f = core.push_func(0, FuncKind::Host(3));
        // SAFETY: the context lives as long as the store.
        let context = unsafe { core.context().read() };
        assert_eq!((context.fuel, context.funcs_len), (42, 1));
        // SAFETY: function `f` is inside the array the context names.
        let func = unsafe { context.funcs.add(f as usize).read() };
        assert_eq!(func.kind(), FuncKind::Host(3));
    }
}
