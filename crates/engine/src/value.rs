//! Runtime values and their raw encoding in the interpreter's untyped slots.
//!
//! Inside the executor every value is a `u64`: integers and float bits in the low bits
//! (readers of 32-bit values ignore the upper half), references as `index + 1` into the
//! store's function or extern-object arena, `0` being null.

use alloc::boxed::Box;
use core::any::Any;

use crate::Func;
use crate::api::store::{AsContext, AsContextMut, StoreId};
use crate::error::{Error, Result};
use crate::types::ValType;

/// A WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float, as its bit pattern (so NaN payloads survive).
    F32(u32),
    /// A 64-bit float, as its bit pattern.
    F64(u64),
    /// A nullable function reference.
    FuncRef(Option<Func>),
    /// A nullable extern reference.
    ExternRef(Option<ExternRef>),
}

impl Val {
    /// The type of this value.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The default value of a type: zero, or a null reference.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        }
    }

    /// An `f32` value.
    pub fn from_f32(v: f32) -> Val {
        Val::F32(v.to_bits())
    }

    /// An `f64` value.
    pub fn from_f64(v: f64) -> Val {
        Val::F64(v.to_bits())
    }

    /// The `i32`, if this is one.
    pub fn i32(&self) -> Option<i32> {
        match *self {
            Val::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The `i64`, if this is one.
    pub fn i64(&self) -> Option<i64> {
        match *self {
            Val::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The `f32`, if this is one.
    pub fn f32(&self) -> Option<f32> {
        match *self {
            Val::F32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }

    /// The `f64`, if this is one.
    pub fn f64(&self) -> Option<f64> {
        match *self {
            Val::F64(v) => Some(f64::from_bits(v)),
            _ => None,
        }
    }

    /// The function reference, if this is a `funcref`.
    pub fn funcref(&self) -> Option<Option<Func>> {
        match *self {
            Val::FuncRef(v) => Some(v),
            _ => None,
        }
    }

    /// The extern reference, if this is an `externref`.
    pub fn externref(&self) -> Option<Option<ExternRef>> {
        match *self {
            Val::ExternRef(v) => Some(v),
            _ => None,
        }
    }

    /// Encodes the value for the executor, checking that references belong to `store`.
    pub(crate) fn to_raw(self, store: StoreId) -> Result<u64> {
        Ok(match self {
            Val::I32(v) => v as u32 as u64,
            Val::I64(v) => v as u64,
            Val::F32(v) => v as u64,
            Val::F64(v) => v,
            Val::FuncRef(None) | Val::ExternRef(None) => 0,
            Val::FuncRef(Some(f)) => {
                store.check(f.store)?;
                u64::from(f.index) + 1
            }
            Val::ExternRef(Some(r)) => {
                store.check(r.store)?;
                u64::from(r.index) + 1
            }
        })
    }

    /// Decodes a raw value of type `ty` produced by the executor of `store`.
    pub(crate) fn from_raw(raw: u64, ty: ValType, store: StoreId) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw),
            ValType::FuncRef => Val::FuncRef(raw_ref_index(raw).map(|index| Func { store, index })),
            ValType::ExternRef => {
                Val::ExternRef(raw_ref_index(raw).map(|index| ExternRef { store, index }))
            }
        }
    }
}

/// The arena index a non-null raw reference names.
pub(crate) fn raw_ref_index(raw: u64) -> Option<u32> {
    raw.checked_sub(1).map(|i| i as u32)
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}

impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::from_f32(v)
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::from_f64(v)
    }
}

impl From<Func> for Val {
    fn from(f: Func) -> Val {
        Val::FuncRef(Some(f))
    }
}

/// A reference to a host object owned by a store, the value of an `externref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExternRef {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

impl ExternRef {
    /// Moves `data` into the store and returns a reference to it. The object lives as long
    /// as the store.
    pub fn new(mut store: impl AsContextMut, data: impl Any + Send + Sync) -> ExternRef {
        let store = store.as_context_mut().0;
        let index = store.core.push_extern(Box::new(data));
        ExternRef {
            store: store.core.id(),
            index,
        }
    }

    /// The host object behind this reference.
    ///
    /// # Errors
    /// If the reference belongs to another store.
    pub fn data<'a, S: AsContext + ?Sized>(
        &self,
        store: &'a S,
    ) -> Result<&'a (dyn Any + Send + Sync)> {
        let store = store.as_context().0;
        store.core.id().check(self.store)?;
        store
            .core
            .extern_object(self.index)
            .ok_or_else(|| Error::usage("dangling extern reference"))
    }
}
