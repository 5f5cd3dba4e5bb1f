//! [`Instance`]: a module instantiated in a store.
//!
//! Instantiation follows the spec's order: check the store limits and the imports' types,
//! allocate functions, tables, memories and globals (evaluating initializers), then apply
//! active element and data segments in order (a segment out of bounds traps, and writes
//! made before it stay, as the spec says), and finally run the start function. A module
//! with a memory image (`Module::memory_image`: data segments that cannot trap, into its
//! own fresh memory) has that image mapped at the point where its data segments would be
//! copied, which leaves the same bytes.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::TrapCode;
use crate::api::func::{Func, TypedFunc, WasmTyList};
use crate::api::module::Module;
use crate::api::objects::{Extern, Global, Memory, Table};
use crate::api::store::{AsContext, AsContextMut, Store, StoreId};
use crate::error::{Error, Result};
use crate::module::{ConstExpr, ElemMode, ExportKind};
use crate::runtime::store::InstanceEntity;
use crate::runtime::{InstanceParts, StoreCore};
use crate::types::{ExternType, limits_match};

/// An instance of a module, owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instance {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// One export of an instance.
#[derive(Debug, Clone, Copy)]
pub struct Export<'a> {
    name: &'a str,
    ext: Extern,
}

impl<'a> Export<'a> {
    /// The export's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The exported item.
    pub fn into_extern(self) -> Extern {
        self.ext
    }
}

impl Instance {
    pub(crate) fn new_handle(store: StoreId, index: u32) -> Instance {
        Instance { store, index }
    }

    /// Instantiates `module` with `imports` given in the order of [`Module::imports`].
    ///
    /// # Errors
    /// A link error if an import is missing, from another store or of the wrong type; an
    /// instantiation error past a store limit; a trap from a segment out of bounds or from
    /// the start function.
    pub fn new(
        mut store: impl AsContextMut,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance> {
        instantiate(store.as_context_mut().0, module, imports)
    }

    /// The export `name`.
    pub fn get_export(&self, store: impl AsContext, name: &str) -> Option<Extern> {
        let store = store.as_context().0;
        store.core.id().check(self.store).ok()?;
        let inst = store.core.instance(self.index);
        let export = &inst.module().info().exports[*inst.module().info().export_index.get(name)?];
        Some(self.resolve(inst, export.kind, export.index))
    }

    fn resolve(&self, inst: &InstanceEntity, kind: ExportKind, index: u32) -> Extern {
        let (store, i) = (self.store, index as usize);
        match kind {
            ExportKind::Func => Extern::Func(Func {
                store,
                index: inst.funcs()[i],
            }),
            ExportKind::Table => Extern::Table(Table {
                store,
                index: inst.tables()[i],
            }),
            ExportKind::Memory => Extern::Memory(Memory {
                store,
                index: inst.memories()[i],
            }),
            ExportKind::Global => Extern::Global(Global {
                store,
                index: inst.globals()[i],
            }),
        }
    }

    /// All exports, in the module's order. Empty if the instance belongs to another store.
    pub fn exports<'a, S: AsContext + ?Sized>(
        &self,
        store: &'a S,
    ) -> impl ExactSizeIterator<Item = Export<'a>> + 'a {
        let store = store.as_context().0;
        let this = *self;
        let inst = store
            .core
            .id()
            .check(self.store)
            .ok()
            .map(|()| store.core.instance(self.index));
        let exports = inst.map_or(&[][..], |i| &i.module().info().exports[..]);
        exports.iter().map(move |e| Export {
            name: &e.name,
            ext: this.resolve(
                inst.expect("non-empty only with an instance"),
                e.kind,
                e.index,
            ),
        })
    }

    /// The exported function `name`.
    pub fn get_func(&self, store: impl AsContext, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    /// The exported memory `name`.
    pub fn get_memory(&self, store: impl AsContext, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    /// The exported table `name`.
    pub fn get_table(&self, store: impl AsContext, name: &str) -> Option<Table> {
        self.get_export(store, name)?.into_table()
    }

    /// The exported global `name`.
    pub fn get_global(&self, store: impl AsContext, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }

    /// The exported function `name` with a static type.
    ///
    /// # Errors
    /// If there is no such function or its type differs.
    pub fn get_typed_func<Params: WasmTyList, Results: WasmTyList>(
        &self,
        store: impl AsContext,
        name: &str,
    ) -> Result<TypedFunc<Params, Results>> {
        let store = store.as_context();
        let f = self
            .get_func(&store, name)
            .ok_or_else(|| Error::usage(alloc::format!("no exported function `{name}`")))?;
        f.typed(&store)
    }

    /// The module this is an instance of.
    ///
    /// # Errors
    /// If the instance belongs to another store.
    pub fn module(&self, store: impl AsContext) -> Result<Module> {
        let store = store.as_context().0;
        store.core.id().check(self.store)?;
        Ok(store.core.instance(self.index).module().clone())
    }
}

fn link_error(module: &Module, i: usize, why: &str) -> Error {
    let import = &module.info().imports[i];
    Error::link(alloc::format!(
        "import `{}::{}`: {why}",
        import.module,
        import.name
    ))
}

/// Checks that `ext` may satisfy import `i` of `module`.
fn check_import<T>(store: &Store<T>, module: &Module, i: usize, ext: &Extern) -> Result<()> {
    if ext.store() != store.core.id() {
        return Err(link_error(module, i, "the value belongs to another store"));
    }
    let want = module.info().import_type(&module.info().imports[i]);
    let actual = ext.ty(store)?;
    let ok = match (&want, &actual) {
        (ExternType::Func(w), ExternType::Func(a)) => w == a,
        (ExternType::Table(w), ExternType::Table(a)) => {
            w.element() == a.element()
                && limits_match(a.minimum(), a.maximum(), w.minimum(), w.maximum())
        }
        (ExternType::Memory(w), ExternType::Memory(a)) => {
            limits_match(a.minimum(), a.maximum(), w.minimum(), w.maximum())
        }
        (ExternType::Global(w), ExternType::Global(a)) => w == a,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(link_error(
            module,
            i,
            &alloc::format!("incompatible import type: expected {want:?}, found {actual:?}"),
        ))
    }
}

pub(crate) fn instantiate<T>(
    store: &mut Store<T>,
    module: &Module,
    imports: &[Extern],
) -> Result<Instance> {
    let m = module.info();
    if imports.len() != m.imports.len() {
        return Err(Error::link(alloc::format!(
            "module has {} imports but {} were given",
            m.imports.len(),
            imports.len()
        )));
    }
    for (i, ext) in imports.iter().enumerate() {
        check_import(store, module, i, ext)?;
    }
    store.core.check_instance_limit()?;
    #[cfg(feature = "jit")]
    let engine = store.engine().clone();
    let core = &mut store.core;
    let id = core.id();
    let index = core.num_instances() as u32;
    let types = core.intern_module_types(&m.types, &m.type_canon);

    let mut funcs = Vec::with_capacity(m.funcs.len());
    let mut tables = Vec::with_capacity(m.tables.len());
    let mut memories = Vec::with_capacity(m.memories.len());
    let mut globals = Vec::with_capacity(m.globals.len());
    for ext in imports {
        match *ext {
            Extern::Func(f) => funcs.push(f.index),
            Extern::Table(t) => tables.push(t.index),
            Extern::Memory(mem) => memories.push(mem.index),
            Extern::Global(g) => globals.push(g.index),
        }
    }
    let defined = &m.funcs[m.num_imported_funcs as usize..];
    let first = core.push_wasm_funcs(index, defined.iter().map(|&ty| types[ty as usize]));
    funcs.extend(first..first + defined.len() as u32);

    // Constant expressions see the globals defined so far and every function.
    let eval = |core: &StoreCore, globals: &[u32], e| eval_const(core, globals, &funcs, e);
    for (ty, &init) in m.tables[m.num_imported_tables as usize..]
        .iter()
        .zip(&m.table_inits)
    {
        let init = eval(core, &globals, init);
        tables.push(Table::alloc(core, *ty, init)?.index);
    }
    for ty in &m.memories[m.num_imported_memories as usize..] {
        memories.push(Memory::alloc(core, *ty)?.index);
    }
    for (ty, &init) in m.globals[m.num_imported_globals as usize..]
        .iter()
        .zip(&m.global_inits)
    {
        let value = eval(core, &globals, init);
        globals.push(Global::alloc(core, *ty, value)?.index);
    }
    let elems: Vec<Arc<[u64]>> = m
        .elems
        .iter()
        .map(|seg| seg.items.iter().map(|&e| eval(core, &globals, e)).collect())
        .collect();
    let datas: Vec<Arc<[u8]>> = m.datas.iter().map(|d| d.bytes.clone()).collect();

    core.push_instance(InstanceParts {
        module: module.clone(),
        funcs,
        tables,
        memories,
        globals,
        elems,
        datas,
        types,
    });
    let instance = Instance::new_handle(id, index);
    #[cfg(feature = "jit")]
    match store.auto {
        // An Auto store that has switched: the new instance joins it on the JIT.
        crate::jit::auto::AutoState::Switched => {
            crate::jit::auto::instantiate_switched(engine.jit()?, core, index)?;
        }
        // Waiting: the next call from the host switches all instances together.
        crate::jit::auto::AutoState::Pending => {}
        crate::jit::auto::AutoState::Off => {
            if let Some(code) = module.jit_code().filter(|_| module.auto_slot().is_none()) {
                crate::jit::tier::instantiate(engine.jit()?, core, index, code)?;
            }
        }
    }

    // Active and declarative element segments: copy, then drop.
    for (i, seg) in m.elems.iter().enumerate() {
        let i = i as u32;
        match seg.mode {
            ElemMode::Active { table, offset } => {
                let inst = core.instance(index);
                let offset = eval_const(core, inst.globals(), inst.funcs(), offset) as u32;
                let items = inst.elem(i).clone();
                let t = inst.tables()[table as usize];
                let elements = core.table_mut(t).elements_mut();
                let dst = (offset as usize)
                    .checked_add(items.len())
                    .filter(|&end| end <= elements.len())
                    .map(|end| offset as usize..end)
                    .ok_or_else(|| Error::trap(TrapCode::TableOutOfBounds))?;
                elements[dst].copy_from_slice(&items);
                core.instance_mut(index).drop_elem(i);
            }
            ElemMode::Declared => core.instance_mut(index).drop_elem(i),
            ElemMode::Passive => {}
        }
    }
    // Active data segments: copy, then drop; or, where the module has a memory image of
    // them all (its own memory 0, every offset constant and in bounds, so none traps), map
    // the image instead and only drop them.
    let imaged = module.memory_image().is_some_and(|image| {
        let mem = core.instance(index).memories()[0];
        core.memory_mut(mem).map_image(image)
    });
    for (i, seg) in m.datas.iter().enumerate() {
        if imaged && seg.active.is_some() {
            core.instance_mut(index).drop_data(i as u32);
        } else if let Some((mem, offset)) = seg.active {
            let inst = core.instance(index);
            let offset = eval_const(core, inst.globals(), inst.funcs(), offset) as u32;
            let mem = inst.memories()[mem as usize];
            let memory = core.memory_mut(mem).data_mut();
            let dst = (offset as usize)
                .checked_add(seg.bytes.len())
                .filter(|&end| end <= memory.len())
                .map(|end| offset as usize..end)
                .ok_or_else(|| Error::trap(TrapCode::MemoryOutOfBounds))?;
            memory[dst].copy_from_slice(&seg.bytes);
            core.instance_mut(index).drop_data(i as u32);
        }
    }

    if let Some(start) = m.start {
        let f = Func {
            store: id,
            index: store.core.instance(index).funcs()[start as usize],
        };
        f.call(&mut *store, &[], &mut [])?;
    }
    Ok(instance)
}

/// Evaluates a constant expression given the instance's globals and functions so far.
fn eval_const(core: &StoreCore, globals: &[u32], funcs: &[u32], e: ConstExpr) -> u64 {
    match e {
        ConstExpr::Value(v) => v,
        ConstExpr::GlobalGet(g) => core.global(globals[g as usize]).value(),
        ConstExpr::RefFunc(f) => u64::from(funcs[f as usize]) + 1,
    }
}
