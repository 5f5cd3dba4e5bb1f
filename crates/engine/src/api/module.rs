//! [`Module`]: a validated, translated WebAssembly module.
//!
//! `Module::new` runs the whole front of the pipeline once: `wasmparser` parses and validates
//! the binary, and each function body is translated into internal code as it is validated.
//! The result is immutable and shared behind an `Arc`, so cloning a module is cheap and one
//! module can be instantiated any number of times, in any number of stores.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmparser::{
    ElementItems, ElementKind, ExternalKind, FuncValidatorAllocations, Operator, Parser, Payload,
    TypeRef, ValidPayload, Validator,
};

use crate::api::engine::Engine;
use crate::error::{Error, Result};
use crate::interp::ir::CompiledFunc;
use crate::interp::translate::{ModuleEnv, Scratch, translate};
use crate::types::{ExternType, FuncType, GlobalType, MemoryType, TableType, ValType};

/// A compiled WebAssembly module. Cheap to clone; clones share the compiled code.
#[derive(Clone)]
pub struct Module {
    pub(crate) inner: Arc<ModuleInner>,
}

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

#[derive(Default)]
pub(crate) struct ModuleInner {
    pub types: Vec<FuncType>,
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
    /// Translated code of the defined functions.
    pub code: Vec<CompiledFunc>,
    /// From the name section, if the module has one (for backtraces): the module's name
    /// and function names by function index.
    pub name: Option<String>,
    pub func_names: BTreeMap<u32, String>,
}

impl Module {
    /// Parses, validates and translates a binary module.
    ///
    /// # Errors
    /// If the binary is malformed or invalid, or uses a feature the engine's
    /// [`crate::Config`] does not enable. The error carries the validator's message and
    /// the byte offset.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let inner = parse(engine, bytes.as_ref())?;
        Ok(Module {
            inner: Arc::new(inner),
        })
    }

    /// Checks that `bytes` is a valid module for `engine` without translating it.
    ///
    /// # Errors
    /// As [`Module::new`].
    pub fn validate(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<()> {
        let mut validator = Validator::new_with_features(engine.config().features.to_wasmparser());
        validator.validate_all(bytes.as_ref())?;
        Ok(())
    }

    /// The module's imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        self.inner.imports.iter().map(|i| ImportType {
            module: &i.module,
            name: &i.name,
            ty: self.inner.import_type(i),
        })
    }

    /// The module's exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        self.inner.exports.iter().map(|e| ExportType {
            name: &e.name,
            ty: self.inner.extern_type(e.kind, e.index),
        })
    }

    /// The type of export `name`, if there is one.
    pub fn get_export(&self, name: &str) -> Option<ExternType> {
        let e = &self.inner.exports[*self.inner.export_index.get(name)?];
        Some(self.inner.extern_type(e.kind, e.index))
    }

    /// The module's name from its name section, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// The name of function `index` (imports first) from the module's name section, if it
    /// has one.
    pub fn func_name(&self, index: u32) -> Option<&str> {
        self.inner.func_names.get(&index).map(String::as_str)
    }

    /// Whether two handles name the same compiled module.
    pub fn same(a: &Module, b: &Module) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

/// Takes the module and function names from a name section. A malformed name section is
/// not an error (custom sections never make a module invalid): the names read before the
/// fault are kept.
fn read_names(m: &mut ModuleInner, names: wasmparser::NameSectionReader<'_>) {
    for subsection in names {
        match subsection {
            Ok(wasmparser::Name::Module { name, .. }) => m.name = Some(name.to_string()),
            Ok(wasmparser::Name::Function(map)) => {
                for naming in map {
                    let Ok(naming) = naming else { return };
                    m.func_names.insert(naming.index, naming.name.to_string());
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

impl core::fmt::Debug for Module {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Module")
            .field("imports", &self.inner.imports.len())
            .field("exports", &self.inner.exports.len())
            .field("functions", &self.inner.funcs.len())
            .finish()
    }
}

impl ModuleInner {
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

    pub fn extern_type(&self, kind: ExportKind, index: u32) -> ExternType {
        let i = index as usize;
        match kind {
            ExportKind::Func => ExternType::Func(self.func_type(index).clone()),
            ExportKind::Table => ExternType::Table(self.tables[i]),
            ExportKind::Memory => ExternType::Memory(self.memories[i]),
            ExportKind::Global => ExternType::Global(self.globals[i]),
        }
    }
}

/// An import of a module: where it comes from and what type it must have.
#[derive(Debug, Clone)]
pub struct ImportType<'a> {
    module: &'a str,
    name: &'a str,
    ty: ExternType,
}

impl<'a> ImportType<'a> {
    /// The module name.
    pub fn module(&self) -> &'a str {
        self.module
    }

    /// The item name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The expected type.
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

/// An export of a module: its name and type.
#[derive(Debug, Clone)]
pub struct ExportType<'a> {
    name: &'a str,
    ty: ExternType,
}

impl<'a> ExportType<'a> {
    /// The export name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The exported item's type.
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr> {
    let mut reader = expr.get_operators_reader();
    let offset = reader.original_position();
    let value = match reader.read()? {
        Operator::I32Const { value } => ConstExpr::Value(value as u32 as u64),
        Operator::I64Const { value } => ConstExpr::Value(value as u64),
        Operator::F32Const { value } => ConstExpr::Value(value.bits() as u64),
        Operator::F64Const { value } => ConstExpr::Value(value.bits()),
        Operator::RefNull { .. } => ConstExpr::Value(0),
        Operator::RefFunc { function_index } => ConstExpr::RefFunc(function_index),
        Operator::GlobalGet { global_index } => ConstExpr::GlobalGet(global_index),
        _ => return Err(Error::compile("unsupported constant expression", offset)),
    };
    match reader.read()? {
        Operator::End => Ok(value),
        _ => Err(Error::compile(
            "constant expressions of more than one instruction are not supported",
            offset,
        )),
    }
}

fn parse(engine: &Engine, bytes: &[u8]) -> Result<ModuleInner> {
    let config = engine.config();
    let features = config.features.to_wasmparser();
    let mut validator = Validator::new_with_features(features);
    // The parser must know the features too: they decide how some immediates are encoded
    // (a single zero byte for the memory index without multi-memory, 32-bit limits
    // without memory64).
    let mut parser = Parser::new(0);
    parser.set_features(features);
    let mut m = ModuleInner::default();
    let mut allocs = FuncValidatorAllocations::default();
    let mut scratch = Scratch::new(bytes.len());
    let mut next_func = 0u32;
    for payload in parser.parse_all(bytes) {
        let payload = payload?;
        if let ValidPayload::Func(to_validate, body) = validator.payload(&payload)? {
            let mut func_validator = to_validate.into_validator(allocs);
            let index = m.num_imported_funcs + next_func;
            next_func += 1;
            let env = ModuleEnv {
                types: &m.types,
                funcs: &m.funcs,
                num_imported_funcs: m.num_imported_funcs,
                consume_fuel: config.consume_fuel,
                fuse: config.fuse_instructions,
            };
            let code = translate(&env, index, &body, &mut func_validator, &mut scratch)?;
            m.code
                .try_reserve(1)
                .map_err(|_| Error::compile("out of host memory for a module's code", 0))?;
            m.code.push(code);
            allocs = func_validator.into_allocations();
            continue;
        }
        match payload {
            Payload::Version {
                encoding: wasmparser::Encoding::Component,
                ..
            } => return Err(Error::compile("components are not supported", 0)),
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => {
                                m.types.push(FuncType::from_wasm(f)?)
                            }
                            _ => return Err(Error::compile("GC types are not supported", 0)),
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let kind = match import.ty {
                        TypeRef::Func(t) => {
                            m.funcs.push(t);
                            m.num_imported_funcs += 1;
                            ImportKind::Func(t)
                        }
                        TypeRef::Table(t) => {
                            let t = TableType::from_wasm(&t)?;
                            m.tables.push(t);
                            m.num_imported_tables += 1;
                            ImportKind::Table(t)
                        }
                        TypeRef::Memory(t) => {
                            let t = MemoryType::from_wasm(&t)?;
                            m.memories.push(t);
                            m.num_imported_memories += 1;
                            ImportKind::Memory(t)
                        }
                        TypeRef::Global(t) => {
                            let t = GlobalType::from_wasm(&t)?;
                            m.globals.push(t);
                            m.num_imported_globals += 1;
                            ImportKind::Global(t)
                        }
                        _ => return Err(Error::compile("unsupported import kind", 0)),
                    };
                    m.imports.push(Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                        kind,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    m.funcs.push(t?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table?;
                    m.tables.push(TableType::from_wasm(&table.ty)?);
                    m.table_inits.push(match table.init {
                        wasmparser::TableInit::RefNull => ConstExpr::Value(0),
                        wasmparser::TableInit::Expr(e) => const_expr(&e)?,
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for mem in reader {
                    m.memories.push(MemoryType::from_wasm(&mem?)?);
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global?;
                    m.globals.push(GlobalType::from_wasm(&global.ty)?);
                    m.global_inits.push(const_expr(&global.init_expr)?);
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    let kind = match export.kind {
                        ExternalKind::Func => ExportKind::Func,
                        ExternalKind::Table => ExportKind::Table,
                        ExternalKind::Memory => ExportKind::Memory,
                        ExternalKind::Global => ExportKind::Global,
                        _ => return Err(Error::compile("unsupported export kind", 0)),
                    };
                    m.export_index
                        .insert(export.name.to_string(), m.exports.len());
                    m.exports.push(Export {
                        name: export.name.to_string(),
                        kind,
                        index: export.index,
                    });
                }
            }
            Payload::StartSection { func, .. } => m.start = Some(func),
            Payload::CustomSection(reader) => {
                if let wasmparser::KnownCustom::Name(names) = reader.as_known() {
                    read_names(&mut m, names);
                }
            }
            Payload::ElementSection(reader) => {
                for elem in reader {
                    let elem = elem?;
                    let mode = match elem.kind {
                        ElementKind::Passive => ElemMode::Passive,
                        ElementKind::Declared => ElemMode::Declared,
                        ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => ElemMode::Active {
                            table: table_index.unwrap_or(0),
                            offset: const_expr(&offset_expr)?,
                        },
                    };
                    let mut items = Vec::new();
                    match elem.items {
                        ElementItems::Functions(funcs) => {
                            for f in funcs {
                                items.push(ConstExpr::RefFunc(f?));
                            }
                        }
                        ElementItems::Expressions(ty, exprs) => {
                            ValType::from_ref(ty)?;
                            for e in exprs {
                                items.push(const_expr(&e?)?);
                            }
                        }
                    }
                    m.elems.push(ElemSegment { mode, items });
                }
            }
            Payload::DataSection(reader) => {
                for data in reader {
                    let data = data?;
                    let active = match data.kind {
                        wasmparser::DataKind::Passive => None,
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => Some((memory_index, const_expr(&offset_expr)?)),
                    };
                    m.datas.push(DataSegment {
                        active,
                        bytes: Arc::from(data.data),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(m)
}
