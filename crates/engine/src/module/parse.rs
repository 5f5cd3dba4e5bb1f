//! Parsing and validating a binary into [`ModuleInfo`], handing each function body to a
//! tier's compiler as it is validated.

use alloc::string::ToString;
use alloc::sync::Arc;
use alloc::vec::Vec;

use wasmparser::{
    ElementItems, ElementKind, ExternalKind, FuncValidator, FuncValidatorAllocations, FunctionBody,
    Operator, Parser, Payload, TypeRef, ValidPayload, Validator, ValidatorResources, WasmFeatures,
};

use super::{
    ConstExpr, DataSegment, ElemMode, ElemSegment, Export, ExportKind, Import, ImportKind,
    ModuleInfo,
};
use crate::error::{Error, Result};
use crate::types::{FuncType, GlobalType, MemoryType, TableType, ValType};

/// What [`parse`] hands each function body to, with the module information read so far
/// (types, imports and the function section come before the code): `func` is the module
/// function index, `validator` validates the body as the sink reads its operators.
pub(crate) type BodySink<'s> = dyn FnMut(&ModuleInfo, u32, &FunctionBody<'_>, &mut FuncValidator<ValidatorResources>) -> Result<()>
    + 's;

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

/// Takes the module and function names from a name section. A malformed name section is
/// not an error (custom sections never make a module invalid): the names read before the
/// fault are kept.
fn read_names(m: &mut ModuleInfo, names: wasmparser::NameSectionReader<'_>) {
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

/// Parses and validates `bytes` with `features`; `sink` gets each function body to
/// validate (and translate).
///
/// # Errors
/// A malformed or invalid module, or one using what the engine does not support; or an
/// error of `sink`.
pub(crate) fn parse(
    features: WasmFeatures,
    bytes: &[u8],
    sink: &mut BodySink<'_>,
) -> Result<ModuleInfo> {
    let mut validator = Validator::new_with_features(features);
    // The parser must know the features too: they decide how some immediates are encoded
    // (a single zero byte for the memory index without multi-memory, 32-bit limits
    // without memory64).
    let mut parser = Parser::new(0);
    parser.set_features(features);
    let mut m = ModuleInfo {
        features,
        ..ModuleInfo::default()
    };
    let mut allocs = FuncValidatorAllocations::default();
    let mut next_func = 0u32;
    for payload in parser.parse_all(bytes) {
        let payload = payload?;
        if let ValidPayload::Func(to_validate, body) = validator.payload(&payload)? {
            if m.resources.is_none() {
                m.resources = Some(to_validate.resources.clone());
            }
            let mut func_validator = to_validate.into_validator(allocs);
            let index = m.num_imported_funcs + next_func;
            next_func += 1;
            m.bodies
                .try_reserve(1)
                .map_err(|_| Error::compile("out of host memory for a module's code", 0))?;
            let range = body.range();
            m.bodies.push(range.start as usize..range.end as usize);
            sink(&m, index, &body, &mut func_validator)?;
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
    m.bytes = Arc::from(bytes);
    m.type_canon = canonical_types(&m.types);
    Ok(m)
}

/// For each type, the index of the first structurally equal one.
fn canonical_types(types: &[FuncType]) -> Vec<u32> {
    let mut first = alloc::collections::BTreeMap::new();
    (0..types.len() as u32)
        .map(|i| *first.entry(&types[i as usize]).or_insert(i))
        .collect()
}
