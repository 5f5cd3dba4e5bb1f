//! Module information: what parsing and validating a binary yields, apart from the code of
//! any tier.
//!
//! [`ModuleInfo`] is immutable once [`parse`] returns. The interpreter translates each body
//! while it is validated (the callback of `parse`); another tier can compile any function
//! later from [`ModuleInfo::func_body`]. Nothing here names a tier.

mod parse;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;

use wasmparser::{BinaryReader, FuncToValidate, FunctionBody, ValidatorResources, WasmFeatures};

use crate::types::{ExternType, FuncType, GlobalType, MemoryType, TableType};

pub(crate) use parse::parse;

/// A constant expression as WebAssembly 2.0 allows them: one constant instruction.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ConstExpr {
    /// A number, or `ref.null` (raw 0).
    Value(u64),
    /// `ref.func` of a module function index.
    RefFunc(u32),
    /// `global.get` of a module global index.
    GlobalGet(u32),
}

#[derive(Debug, Clone)]
pub(crate) enum ImportKind {
    Func(u32),
    Table(TableType),
    Memory(MemoryType),
    Global(GlobalType),
}

#[derive(Debug)]
pub(crate) struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportKind {
    Func,
    Table,
    Memory,
    Global,
}

#[derive(Debug)]
pub(crate) struct Export {
    pub name: String,
    pub kind: ExportKind,
    pub index: u32,
}

#[derive(Debug)]
pub(crate) enum ElemMode {
    Passive,
    Active { table: u32, offset: ConstExpr },
    Declared,
}

#[derive(Debug)]
pub(crate) struct ElemSegment {
    pub mode: ElemMode,
    pub items: Vec<ConstExpr>,
}

#[derive(Debug)]
pub(crate) struct DataSegment {
    /// `Some((memory, offset))` for an active segment.
    pub active: Option<(u32, ConstExpr)>,
    pub bytes: Arc<[u8]>,
}

/// Everything known about a module apart from the code of any tier: what instantiation
/// needs (types, imports, exports, initializers, segments) and what a tier needs to compile
/// a function at any time, also long after instantiation (each body's bytes and range in
/// the original binary, its type, and the validator's resources to validate it again while
/// reading it).
#[derive(Default)]
pub(crate) struct ModuleInfo {
    pub types: Vec<FuncType>,
    /// For each of `types`, the index of the first type equal to it (its own if none
    /// before is), so a store interns the module's distinct types only once.
    pub type_canon: Vec<u32>,
    pub imports: Vec<Import>,
    /// Type index of every function, imported ones first.
    pub funcs: Vec<u32>,
    pub num_imported_funcs: u32,
    pub num_imported_tables: u32,
    pub num_imported_memories: u32,
    pub num_imported_globals: u32,
    /// Types of all tables, memories and globals, imported ones first.
    pub tables: Vec<TableType>,
    pub table_inits: Vec<ConstExpr>,
    pub memories: Vec<MemoryType>,
    pub globals: Vec<GlobalType>,
    /// Initializers of the defined globals.
    pub global_inits: Vec<ConstExpr>,
    pub exports: Vec<Export>,
    pub export_index: BTreeMap<String, usize>,
    pub start: Option<u32>,
    pub elems: Vec<ElemSegment>,
    pub datas: Vec<DataSegment>,
    /// The binary the module was made from, kept whole so that a tier can read any
    /// function body again later (see [`ModuleInfo::func_body`]).
    pub bytes: Arc<[u8]>,
    /// The byte range of each defined function's body in `bytes`.
    pub bodies: Vec<Range<usize>>,
    /// The validator's view of the module (shared by all its functions) and the features it
    /// validated with: enough to validate a body again as a tier reads it.
    pub resources: Option<ValidatorResources>,
    pub features: WasmFeatures,
    /// From the name section, if the module has one (for backtraces): the module's name
    /// and function names by function index.
    pub name: Option<String>,
    pub func_names: BTreeMap<u32, String>,
}

impl ModuleInfo {
    /// The type an import must have.
    pub fn import_type(&self, import: &Import) -> ExternType {
        match &import.kind {
            ImportKind::Func(t) => ExternType::Func(self.types[*t as usize].clone()),
            ImportKind::Table(t) => ExternType::Table(*t),
            ImportKind::Memory(t) => ExternType::Memory(*t),
            ImportKind::Global(t) => ExternType::Global(*t),
        }
    }

    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.funcs[func as usize] as usize]
    }

    /// The active data segments as `(offset, bytes)` in order, if instantiation can apply
    /// them all before it starts, as a memory image: the module defines its memory 0 (so
    /// the memory is fresh), every active segment writes to it at a constant offset and
    /// lies within its minimum size (so none traps), and at least one writes a byte.
    /// `None` otherwise: then instantiation copies the segments one by one.
    pub fn static_data(&self) -> Option<Vec<(usize, &[u8])>> {
        if self.num_imported_memories != 0 {
            return None;
        }
        let len = (self.memories.first()?.minimum() as usize).checked_mul(65536)?;
        let mut segments = Vec::new();
        for seg in &self.datas {
            let Some((memory, offset)) = seg.active else {
                continue;
            };
            let ConstExpr::Value(offset) = offset else {
                return None;
            };
            // A 32-bit memory's offset is an i32, read unsigned.
            let offset = offset as u32 as usize;
            if memory != 0 || offset.checked_add(seg.bytes.len())? > len {
                return None;
            }
            segments.push((offset, &seg.bytes[..]));
        }
        segments
            .iter()
            .any(|(_, b)| !b.is_empty())
            .then_some(segments)
    }

    pub fn extern_type(&self, kind: ExportKind, index: u32) -> ExternType {
        let i = index as usize;
        match kind {
            ExportKind::Func => ExternType::Func(self.func_type(index).clone()),
            ExportKind::Table => ExternType::Table(self.tables[i]),
            ExportKind::Memory => ExternType::Memory(self.memories[i]),
            ExportKind::Global => ExternType::Global(self.globals[i]),
        }
    }

    /// Number of functions the module defines (not imports).
    #[cfg_attr(
        not(any(test, feature = "jit")),
        expect(dead_code, reason = "for a tier compiling functions later")
    )]
    pub fn num_defined_funcs(&self) -> u32 {
        self.funcs.len() as u32 - self.num_imported_funcs
    }

    /// The body of defined function `def` as `wasmparser` reads it, and what it takes to
    /// validate it again while reading it (`into_validator`). `None` if there is no such
    /// function.
    #[cfg_attr(
        not(any(test, feature = "jit")),
        expect(dead_code, reason = "for a tier compiling functions later")
    )]
    pub fn func_body(
        &self,
        def: u32,
    ) -> Option<(FunctionBody<'_>, FuncToValidate<ValidatorResources>)> {
        let range = self.bodies.get(def as usize)?.clone();
        let index = self.num_imported_funcs + def;
        let reader = BinaryReader::new_features(
            &self.bytes[range.clone()],
            range.start as u64,
            self.features,
        );
        let to_validate = FuncToValidate {
            resources: self.resources.clone()?,
            index,
            ty: self.funcs[index as usize],
            features: self.features,
        };
        Some((FunctionBody::new(reader), to_validate))
    }
}

#[cfg(test)]
mod tests {
    use wasmparser::FuncValidatorAllocations;

    #[test]
    fn a_tier_can_read_and_validate_every_body_again() {
        let wasm = wat::parse_str(
            r#"(module
                (func $f (param i32) (result i32) local.get 0 i32.const 1 i32.add)
                (func (export "g") (result i32) (local i64) i32.const 41 call $f))"#,
        )
        .unwrap();
        let module = crate::Module::new(&crate::Engine::default(), &wasm).unwrap();
        let info = module.info();
        assert_eq!(info.num_defined_funcs(), 2);
        let mut allocs = FuncValidatorAllocations::default();
        for def in 0..info.num_defined_funcs() {
            let (body, to_validate) = info.func_body(def).unwrap();
            let mut validator = to_validate.into_validator(allocs);
            validator.validate(&body).unwrap();
            allocs = validator.into_allocations();
        }
        assert!(info.func_body(2).is_none());
    }
}
