//! weft's WebAssembly engine.
//!
//! A `no_std` + `alloc` WebAssembly 2.0 engine (without SIMD) with an embedding API in the
//! style of wasmtime: [`Engine`] + [`Config`], [`Module`], [`Store`], [`Linker`],
//! [`Instance`], [`Func`], [`Memory`], [`Table`], [`Global`] and [`Val`].
//!
//! # Pipeline
//! 1. **Parse and validate** with `wasmparser` (`module`): nothing else reads the binary.
//!    The result, `ModuleInfo`, is everything about the module apart from any tier's code,
//!    including each function body's bytes, so a tier can compile a function at any time.
//! 2. **Translate** each function, while it is validated, into the interpreter's compact
//!    register-style code (`interp::ir`, `interp::translate`): branch targets resolved,
//!    every local and operand addressed by a fixed frame slot.
//! 3. **Execute** on an explicit heap stack (`interp::exec`): guest calls never recurse on
//!    the host stack, and execution can suspend (fuel exhausted, host yield) and resume.
//!
//! # Layout
//! - `api/`: what embedders see ([`Engine`], [`Module`], [`Store`], [`Linker`], [`Func`],
//!   [`Instance`], the handles); `error`, `types`, `value` and `ops` (numeric semantics)
//!   are shared by every layer.
//! - `module/`: module information and the parser; it names no tier.
//! - `runtime/`: the store core without the host data's type (`StoreCore`), linear
//!   memories (`LinearMemory`), and the `#[repr(C)]` definitions at stable addresses that
//!   a tier reads directly (`runtime::vm`); it names no tier.
//! - `interp/`: the interpreter tier, which owns its code (`InterpCode`, hung off the
//!   [`Module`]) and its suspended state (inside a [`ResumableInvocation`]).
//!
//! # Design principles
//! - Guest input is hostile. Any malformed, invalid or malicious module is an [`Error`];
//!   runtime faults are [`TrapCode`]s. Nothing a guest does panics the host.
//! - Handles ([`Func`], [`Memory`], ...) carry the id of their store; using one with another
//!   store is an error.
//! - The executor is behind the [`Store`]/[`Instance`] API, so another tier can be added
//!   without changing callers.
//! - `unsafe` code lives in three modules, each with its invariants written down:
//!   `interp::exec`, `runtime::memory` and `runtime::vm`; the rest of the crate denies it.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod api;
mod error;
mod interp;
#[cfg(feature = "jit")]
mod jit;
mod module;
mod ops;
mod runtime;
mod types;
mod value;

pub use api::engine::{CodeCache, Config, Engine, Features, Strategy};
pub use api::func::{
    Func, HostFuncDef, IntoFunc, ResumableCall, ResumableInvocation, TypedFunc, WasmRet, WasmTy,
    WasmTyList, WasmTyList as WasmParams, WasmTyList as WasmResults,
};
pub use api::instance::{Export, Instance};
pub use api::linker::Linker;
pub use api::module::{ExportType, ImportType, Module};
pub use api::objects::{Extern, Global, Memory, Table};
pub use api::store::{
    AsContext, AsContextMut, Caller, Store, StoreContext, StoreContextMut, StoreId, StoreLimits,
};
pub use error::{Error, ErrorKind, FrameInfo, Result, TrapCode, WasmBacktrace};
#[cfg(feature = "jit")]
pub use jit::cache::DirCodeCache;
pub use types::{ExternType, FuncType, GlobalType, MemoryType, Mutability, TableType, ValType};
pub use value::{ExternRef, Val};
