//! WebAssembly types as the embedding API sees them.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Result};

/// The type of a WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE 754 float.
    F32,
    /// 64-bit IEEE 754 float.
    F64,
    /// A nullable reference to a function.
    FuncRef,
    /// A nullable reference to a host object.
    ExternRef,
}

impl ValType {
    /// Whether this is a reference type.
    pub fn is_ref(self) -> bool {
        matches!(self, ValType::FuncRef | ValType::ExternRef)
    }

    pub(crate) fn from_wasm(ty: wasmparser::ValType) -> Result<Self> {
        use wasmparser::ValType as W;
        Ok(match ty {
            W::I32 => ValType::I32,
            W::I64 => ValType::I64,
            W::F32 => ValType::F32,
            W::F64 => ValType::F64,
            W::Ref(r) => Self::from_ref(r)?,
            W::V128 => return Err(Error::compile("SIMD (v128) is not supported", 0)),
        })
    }

    pub(crate) fn from_ref(r: wasmparser::RefType) -> Result<Self> {
        if r == wasmparser::RefType::FUNCREF {
            Ok(ValType::FuncRef)
        } else if r == wasmparser::RefType::EXTERNREF {
            Ok(ValType::ExternRef)
        } else {
            Err(Error::compile(
                alloc::format!("reference type {r} is not supported"),
                0,
            ))
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// The type of a function: parameters and results. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FuncType {
    /// Parameters followed by results.
    types: Arc<[ValType]>,
    params: usize,
}

impl FuncType {
    /// A function type with these parameters and results.
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> Self {
        let mut types: Vec<ValType> = params.into_iter().collect();
        let params = types.len();
        types.extend(results);
        FuncType {
            types: types.into(),
            params,
        }
    }

    /// The parameter types.
    pub fn params(&self) -> &[ValType] {
        &self.types[..self.params]
    }

    /// The result types.
    pub fn results(&self) -> &[ValType] {
        &self.types[self.params..]
    }

    pub(crate) fn from_wasm(ty: &wasmparser::FuncType) -> Result<Self> {
        let params = ty
            .params()
            .iter()
            .map(|t| ValType::from_wasm(*t))
            .collect::<Result<Vec<_>>>()?;
        let results = ty
            .results()
            .iter()
            .map(|t| ValType::from_wasm(*t))
            .collect::<Result<Vec<_>>>()?;
        Ok(FuncType::new(params, results))
    }
}

impl fmt::Debug for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(func")?;
        if !self.params().is_empty() {
            f.write_str(" (param")?;
            for p in self.params() {
                write!(f, " {p}")?;
            }
            f.write_str(")")?;
        }
        if !self.results().is_empty() {
            f.write_str(" (result")?;
            for r in self.results() {
                write!(f, " {r}")?;
            }
            f.write_str(")")?;
        }
        f.write_str(")")
    }
}

/// Whether a global can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutability {
    /// Immutable.
    Const,
    /// Mutable.
    Var,
}

/// The type of a global: its content type and mutability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GlobalType {
    content: ValType,
    mutability: Mutability,
}

impl GlobalType {
    /// A global type.
    pub fn new(content: ValType, mutability: Mutability) -> Self {
        GlobalType {
            content,
            mutability,
        }
    }

    /// The type of the global's value.
    pub fn content(&self) -> ValType {
        self.content
    }

    /// Whether the global is mutable.
    pub fn mutability(&self) -> Mutability {
        self.mutability
    }

    pub(crate) fn from_wasm(ty: &wasmparser::GlobalType) -> Result<Self> {
        if ty.shared {
            return Err(Error::compile("shared globals are not supported", 0));
        }
        let mutability = if ty.mutable {
            Mutability::Var
        } else {
            Mutability::Const
        };
        Ok(GlobalType::new(
            ValType::from_wasm(ty.content_type)?,
            mutability,
        ))
    }
}

/// The type of a table: element type and limits (in elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TableType {
    element: ValType,
    minimum: u32,
    maximum: Option<u32>,
}

impl TableType {
    /// A table type. `element` must be a reference type.
    pub fn new(element: ValType, minimum: u32, maximum: Option<u32>) -> Self {
        TableType {
            element,
            minimum,
            maximum,
        }
    }

    /// The element type.
    pub fn element(&self) -> ValType {
        self.element
    }

    /// The minimum size in elements.
    pub fn minimum(&self) -> u32 {
        self.minimum
    }

    /// The maximum size in elements, if any.
    pub fn maximum(&self) -> Option<u32> {
        self.maximum
    }

    pub(crate) fn from_wasm(ty: &wasmparser::TableType) -> Result<Self> {
        if ty.table64 || ty.shared {
            return Err(Error::compile(
                "table64 and shared tables are not supported",
                0,
            ));
        }
        let max = match ty.maximum {
            Some(m) => Some(u32::try_from(m).map_err(|_| Error::compile("table too large", 0))?),
            None => None,
        };
        let min = u32::try_from(ty.initial).map_err(|_| Error::compile("table too large", 0))?;
        Ok(TableType::new(
            ValType::from_ref(ty.element_type)?,
            min,
            max,
        ))
    }
}

/// The type of a linear memory: limits in 64 KiB pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemoryType {
    minimum: u32,
    maximum: Option<u32>,
}

impl MemoryType {
    /// A memory type with limits in pages.
    pub fn new(minimum: u32, maximum: Option<u32>) -> Self {
        MemoryType { minimum, maximum }
    }

    /// The minimum size in pages.
    pub fn minimum(&self) -> u32 {
        self.minimum
    }

    /// The maximum size in pages, if any.
    pub fn maximum(&self) -> Option<u32> {
        self.maximum
    }

    pub(crate) fn from_wasm(ty: &wasmparser::MemoryType) -> Result<Self> {
        if ty.memory64 || ty.shared || ty.page_size_log2.is_some() {
            return Err(Error::compile(
                "memory64, shared memories and custom page sizes are not supported",
                0,
            ));
        }
        let conv = |v: u64| u32::try_from(v).map_err(|_| Error::compile("memory too large", 0));
        Ok(MemoryType::new(
            conv(ty.initial)?,
            ty.maximum.map(conv).transpose()?,
        ))
    }
}

/// The type of an external value (import or export).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    /// A function.
    Func(FuncType),
    /// A table.
    Table(TableType),
    /// A linear memory.
    Memory(MemoryType),
    /// A global.
    Global(GlobalType),
}

/// Whether limits `(amin, amax)` of an actual extern match limits `(bmin, bmax)` an import
/// expects (the spec's import subtyping on limits).
pub(crate) fn limits_match(amin: u32, amax: Option<u32>, bmin: u32, bmax: Option<u32>) -> bool {
    amin >= bmin
        && match bmax {
            None => true,
            Some(bmax) => matches!(amax, Some(amax) if amax <= bmax),
        }
}
