//! weft's WebAssembly engine.
//!
//! A `no_std` + `alloc` WebAssembly 2.0 engine (without SIMD) with an embedding API in the
//! style of wasmtime: [`Engine`] + [`Config`], [`Module`], [`Store`], [`Linker`],
//! [`Instance`], [`Func`], [`Memory`], [`Table`], [`Global`] and [`Val`].
//!
//! # Pipeline
//! 1. **Parse and validate** with `wasmparser` (`module`): nothing else reads the binary.
//! 2. **Translate** each function, while it is validated, into a compact register-style
//!    internal code (`ir`, `translate`): branch targets resolved, every local and
//!    operand addressed by a fixed frame slot.
//! 3. **Execute** on an explicit heap stack (`exec`): guest calls never recurse on the
//!    host stack, and execution can suspend (fuel exhausted, host yield) and resume.
//!
//! # Design principles
//! - Guest input is hostile. Any malformed, invalid or malicious module is an [`Error`];
//!   runtime faults are [`TrapCode`]s. Nothing a guest does panics the host.
//! - Handles ([`Func`], [`Memory`], ...) carry the id of their store; using one with another
//!   store is an error.
//! - The executor is behind the [`Store`]/[`Instance`] API, so another tier can be added
//!   without changing callers.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod engine;
mod error;
mod exec;
mod func;
mod instance;
mod ir;
#[cfg(feature = "jit")]
mod jit;
mod linker;
mod module;
mod objects;
mod ops;
mod store;
mod translate;
mod types;
mod value;
mod zeroed;

pub use engine::{Config, Engine, Features};
pub use error::{Error, ErrorKind, FrameInfo, Result, TrapCode, WasmBacktrace};
pub use func::{
    Func, HostFuncDef, IntoFunc, ResumableCall, ResumableInvocation, TypedFunc, WasmRet, WasmTy,
    WasmTyList, WasmTyList as WasmParams, WasmTyList as WasmResults,
};
pub use instance::{Export, Instance};
pub use linker::Linker;
pub use module::{ExportType, ImportType, Module};
pub use objects::{Extern, Global, Memory, Table};
pub use store::{
    AsContext, AsContextMut, Caller, Store, StoreContext, StoreContextMut, StoreId, StoreLimits,
};
pub use types::{ExternType, FuncType, GlobalType, MemoryType, Mutability, TableType, ValType};
pub use value::{ExternRef, Val};
