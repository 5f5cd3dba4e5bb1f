//! [`Linker`]: names externs and host functions and resolves a module's imports by name.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::api::engine::Engine;
use crate::api::func::{Func, HostFnKind, HostFunc, IntoFunc};
use crate::api::instance::{Instance, instantiate};
use crate::api::module::Module;
use crate::api::objects::Extern;
use crate::api::store::{AsContext, AsContextMut, Caller, StoreId};
use crate::error::{Error, Result};
use crate::types::FuncType;
use crate::value::Val;

enum Definition<T> {
    /// An extern already in a store.
    Extern(Extern),
    /// A host function, added to each store it is instantiated into.
    HostFunc(Arc<HostFunc<T>>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(f) => Definition::HostFunc(Arc::clone(f)),
        }
    }
}

/// Resolves imports by `module::name`. Host functions defined with [`Linker::func_wrap`] or
/// [`Linker::func_new`] belong to no store and can be used with any store of the engine;
/// externs defined with [`Linker::define`] belong to one store.
pub struct Linker<T> {
    engine: Engine,
    defs: BTreeMap<(String, String), Definition<T>>,
    allow_shadowing: bool,
}

impl<T> core::fmt::Debug for Linker<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Linker")
            .field("definitions", &self.defs.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<T> Linker<T> {
    /// An empty linker for `engine`.
    pub fn new(engine: &Engine) -> Self {
        Linker {
            engine: engine.clone(),
            defs: BTreeMap::new(),
            allow_shadowing: false,
        }
    }

    /// The engine this linker belongs to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Whether a definition may replace an earlier one of the same name (default: no,
    /// which makes a duplicate definition an error).
    pub fn allow_shadowing(&mut self, allow: bool) -> &mut Self {
        self.allow_shadowing = allow;
        self
    }

    fn insert(&mut self, module: &str, name: &str, def: Definition<T>) -> Result<&mut Self> {
        let key = (module.to_string(), name.to_string());
        if !self.allow_shadowing && self.defs.contains_key(&key) {
            return Err(Error::link(alloc::format!(
                "`{module}::{name}` is already defined"
            )));
        }
        self.defs.insert(key, def);
        Ok(self)
    }

    /// Defines `module::name` as `item`.
    ///
    /// # Errors
    /// A duplicate name, or an item from a store other than `store`.
    pub fn define(
        &mut self,
        store: impl AsContext<Data = T>,
        module: &str,
        name: &str,
        item: impl Into<Extern>,
    ) -> Result<&mut Self> {
        let item = item.into();
        store.as_context().0.core.id().check(item.store())?;
        self.insert(module, name, Definition::Extern(item))
    }

    /// Defines `module::name` as a host function from a Rust closure (see [`IntoFunc`]).
    ///
    /// # Errors
    /// A duplicate name.
    pub fn func_wrap<Params, Results>(
        &mut self,
        module: &str,
        name: &str,
        func: impl IntoFunc<T, Params, Results>,
    ) -> Result<&mut Self> {
        let host = func.into_host_func().into_inner();
        self.insert(module, name, Definition::HostFunc(Arc::new(host)))
    }

    /// Defines `module::name` as a host function of type `ty` working on [`Val`]s.
    ///
    /// # Errors
    /// A duplicate name.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Result<&mut Self> {
        let host = HostFunc {
            ty,
            func: HostFnKind::Vals(Box::new(func)),
        };
        self.insert(module, name, Definition::HostFunc(Arc::new(host)))
    }

    /// Defines every export of `instance` under `module_name`.
    ///
    /// # Errors
    /// A duplicate name, or an instance of another store.
    pub fn instance(
        &mut self,
        mut store: impl AsContextMut<Data = T>,
        module_name: &str,
        instance: Instance,
    ) -> Result<&mut Self> {
        let store = store.as_context_mut();
        store.0.core.id().check(instance.store)?;
        let exports: Vec<(String, Extern)> = instance
            .exports(&store)
            .map(|e| (e.name().to_string(), e.into_extern()))
            .collect();
        for (name, ext) in exports {
            self.insert(module_name, &name, Definition::Extern(ext))?;
        }
        Ok(self)
    }

    /// The definition of `module::name` as an extern of `store`, creating the store's copy
    /// of a host function.
    pub fn get(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &str,
        name: &str,
    ) -> Option<Extern> {
        let def = self.defs.get(&(module.to_string(), name.to_string()))?;
        let store = store.as_context_mut().0;
        Some(match def {
            Definition::Extern(e) => *e,
            Definition::HostFunc(f) => Extern::Func(Func::from_host(store, f.clone())),
        })
    }

    /// Instantiates `module`, resolving its imports from this linker, and runs its start
    /// function.
    ///
    /// # Errors
    /// A link error for a missing or mistyped import; otherwise as [`Instance::new`].
    pub fn instantiate(
        &self,
        mut store: impl AsContextMut<Data = T>,
        module: &Module,
    ) -> Result<Instance> {
        let store = store.as_context_mut().0;
        if !Engine::same(&self.engine, store.engine()) {
            return Err(Error::usage("linker and store belong to different engines"));
        }
        let id: StoreId = store.core.id();
        let mut imports = Vec::with_capacity(module.info().imports.len());
        for import in &module.info().imports {
            let key = (import.module.clone(), import.name.clone());
            let ext = match self.defs.get(&key) {
                None => {
                    return Err(Error::link(alloc::format!(
                        "unknown import: `{}::{}` has not been defined",
                        import.module,
                        import.name
                    )));
                }
                Some(Definition::Extern(e)) => {
                    id.check(e.store())?;
                    *e
                }
                Some(Definition::HostFunc(f)) => Extern::Func(Func::from_host(store, f.clone())),
            };
            imports.push(ext);
        }
        instantiate(store, module, &imports)
    }
}
