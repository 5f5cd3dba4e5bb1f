//! The store: owner of every runtime object and of the host data `T`.
//!
//! Runtime objects (functions, memories, tables, globals, instances, extern objects) live in
//! arenas inside [`Store`]; the handles the API gives out ([`crate::Func`], [`crate::Memory`],
//! ...) are an arena index plus the id of the store that made them. Every API entry point
//! checks that id, so using a handle with another store is an [`Error`], never undefined
//! behaviour or a panic.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::Instance;
use crate::api::engine::Engine;
use crate::api::func::HostFunc;
use crate::api::module::Module;
use crate::error::{Error, Result};
use crate::interp::exec::Stack;
use crate::runtime::memory::ZeroedBytes;
use crate::types::{FuncType, GlobalType, MemoryType, TableType};

/// Identifies a store; carried by every handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreId(u64);

impl StoreId {
    fn fresh() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StoreId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Fails unless `other` is this store.
    pub(crate) fn check(self, other: StoreId) -> Result<()> {
        if self == other {
            Ok(())
        } else {
            Err(Error::usage(
                "object used with a store other than the one that owns it",
            ))
        }
    }
}

/// Limits on what one store may allocate. A `memory.grow` or `table.grow` past a limit
/// returns -1 (as the spec allows); instantiation past a limit fails with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Maximum size of any one linear memory, in 64 KiB pages (default 65536, i.e. 4 GiB).
    pub memory_pages: u32,
    /// Maximum number of elements in any one table (default 10,000,000).
    pub table_elements: u32,
    /// Maximum number of instances (default 10,000).
    pub instances: usize,
    /// Maximum number of memories, tables and globals together (default 100,000).
    pub objects: usize,
    /// Maximum Wasm call depth; the smaller of this and the engine's
    /// [`crate::Config::max_call_depth`] applies.
    pub call_depth: u32,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            memory_pages: 65536,
            table_elements: 10_000_000,
            instances: 10_000,
            objects: 100_000,
            call_depth: u32::MAX,
        }
    }
}

pub(crate) struct MemoryEntity {
    pub ty: MemoryType,
    /// The bytes; new pages are zero without being written (see [`ZeroedBytes`]).
    pub data: ZeroedBytes,
}

impl MemoryEntity {
    pub const PAGE: usize = 65536;

    pub fn pages(&self) -> u32 {
        (self.data.len() / Self::PAGE) as u32
    }

    /// Grows by `delta` pages; returns the old size in pages, or `None` when the type's
    /// maximum, the store limit or the host's allocator says no. The new pages cost
    /// nothing until they are touched, and room up to the maximum is reserved as the
    /// memory grows, so growing page by page does not copy it each time.
    pub fn grow(&mut self, delta: u32, limit: u32) -> Option<u32> {
        let old = self.pages();
        let new = old.checked_add(delta)?;
        let max = self.ty.maximum().unwrap_or(65536).min(65536).min(limit);
        if new > max {
            return None;
        }
        let new_len = (new as usize).checked_mul(Self::PAGE)?;
        let max_len = (max as usize).saturating_mul(Self::PAGE);
        self.data.grow(new_len, max_len)?;
        Some(old)
    }
}

pub(crate) struct TableEntity {
    pub ty: TableType,
    pub elements: Vec<u64>,
}

impl TableEntity {
    /// Grows by `delta` elements set to `init`; returns the old size or `None`.
    pub fn grow(&mut self, delta: u32, init: u64, limit: u32) -> Option<u32> {
        let old = self.elements.len() as u32;
        let new = old.checked_add(delta)?;
        let max = self.ty.maximum().unwrap_or(u32::MAX).min(limit);
        if new > max {
            return None;
        }
        self.elements.try_reserve_exact(delta as usize).ok()?;
        self.elements.resize(new as usize, init);
        Some(old)
    }
}

pub(crate) struct GlobalEntity {
    pub ty: GlobalType,
    pub value: u64,
}

/// What the executor needs of a function to call it indirectly without the generic
/// [`FuncEntity`]: its interned type, and for a function defined by a module its instance
/// and index among the module's defined functions (`instance` is `u32::MAX` for a host
/// function).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FuncRef {
    pub ty: u32,
    pub instance: u32,
    pub def: u32,
}

pub(crate) enum FuncEntity<T> {
    /// A function defined by a module: `def` indexes the module's defined functions.
    Wasm { instance: u32, def: u32, ty: u32 },
    /// A host function.
    Host { ty: u32, func: Arc<HostFunc<T>> },
}

impl<T> FuncEntity<T> {
    pub fn ty(&self) -> u32 {
        match self {
            FuncEntity::Wasm { ty, .. } | FuncEntity::Host { ty, .. } => *ty,
        }
    }
}

pub(crate) struct InstanceEntity {
    pub module: Module,
    /// Store indices of the instance's functions, tables, ... in module index order.
    pub funcs: Vec<u32>,
    pub tables: Vec<u32>,
    pub memories: Vec<u32>,
    pub globals: Vec<u32>,
    /// Element segments: resolved references; emptied by `elem.drop`.
    pub elems: Vec<Arc<[u64]>>,
    /// Data segments: bytes; emptied by `data.drop`.
    pub datas: Vec<Arc<[u8]>>,
    /// Store-wide type ids of the module's types, for `call_indirect` checks.
    pub types: Vec<u32>,
}

/// Everything a store owns except the host data.
pub(crate) struct StoreInner<T> {
    pub id: StoreId,
    pub engine: Engine,
    pub funcs: Vec<FuncEntity<T>>,
    /// One per function, in the same order (see [`StoreInner::push_func`]).
    pub func_refs: Vec<FuncRef>,
    pub memories: Vec<MemoryEntity>,
    pub tables: Vec<TableEntity>,
    pub globals: Vec<GlobalEntity>,
    pub instances: Vec<InstanceEntity>,
    pub externs: Vec<Box<dyn Any + Send + Sync>>,
    /// Function types interned store-wide, so `call_indirect` compares two integers.
    pub types: Vec<FuncType>,
    type_ids: BTreeMap<FuncType, u32>,
    /// Remaining fuel; may go below zero by at most one block's cost.
    pub fuel: i64,
    pub limits: StoreLimits,
    /// An execution stack kept between calls so a call allocates nothing.
    pub stack_cache: Option<Box<Stack>>,
}

impl<T> StoreInner<T> {
    /// Adds a function and returns its store index.
    pub fn push_func(&mut self, func: FuncEntity<T>) -> u32 {
        let index = self.funcs.len() as u32;
        self.func_refs.push(match func {
            FuncEntity::Wasm { instance, def, ty } => FuncRef { ty, instance, def },
            FuncEntity::Host { ty, .. } => FuncRef {
                ty,
                instance: u32::MAX,
                def: u32::MAX,
            },
        });
        self.funcs.push(func);
        index
    }

    pub fn intern_type(&mut self, ty: &FuncType) -> u32 {
        if let Some(&id) = self.type_ids.get(ty) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(ty.clone());
        self.type_ids.insert(ty.clone(), id);
        id
    }

    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.funcs[func as usize].ty() as usize]
    }

    pub fn objects(&self) -> usize {
        self.memories.len() + self.tables.len() + self.globals.len()
    }

    /// Fails if allocating one more memory, table or global would exceed the store limit.
    pub fn check_object_limit(&self) -> Result<()> {
        if self.objects() >= self.limits.objects {
            return Err(Error::instantiation("store object limit reached"));
        }
        Ok(())
    }

    pub fn max_call_depth(&self) -> u32 {
        self.engine
            .config()
            .max_call_depth
            .min(self.limits.call_depth)
    }
}

/// Owns all runtime objects and the host data `T`. Handles are only valid with the store
/// that created them.
pub struct Store<T> {
    pub(crate) inner: StoreInner<T>,
    data: T,
}

impl<T> Store<T> {
    /// An empty store for `engine` holding host data `data`.
    pub fn new(engine: &Engine, data: T) -> Self {
        Store {
            inner: StoreInner {
                id: StoreId::fresh(),
                engine: engine.clone(),
                funcs: Vec::new(),
                func_refs: Vec::new(),
                memories: Vec::new(),
                tables: Vec::new(),
                globals: Vec::new(),
                instances: Vec::new(),
                externs: Vec::new(),
                types: Vec::new(),
                type_ids: BTreeMap::new(),
                fuel: 0,
                limits: StoreLimits::default(),
                stack_cache: None,
            },
            data,
        }
    }

    /// The engine this store belongs to.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The host data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// The host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        &mut self.data
    }

    /// The runtime objects and the host data, borrowed apart.
    pub(crate) fn split_mut(&mut self) -> (&mut StoreInner<T>, &mut T) {
        (&mut self.inner, &mut self.data)
    }

    /// Consumes the store, returning the host data.
    pub fn into_data(self) -> T {
        self.data
    }

    /// Sets the store's limits.
    pub fn limiter(&mut self, limits: StoreLimits) {
        self.inner.limits = limits;
    }

    /// The store's limits.
    pub fn limits(&self) -> &StoreLimits {
        &self.inner.limits
    }

    /// Sets the fuel remaining to `fuel` (forgiving any overdraft of the last block).
    ///
    /// # Errors
    /// If the engine was not configured with [`crate::Config::consume_fuel`].
    pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.fuel_enabled()?;
        self.inner.fuel = fuel.min(i64::MAX as u64) as i64;
        Ok(())
    }

    /// The fuel remaining.
    ///
    /// # Errors
    /// If the engine was not configured with [`crate::Config::consume_fuel`].
    pub fn get_fuel(&self) -> Result<u64> {
        self.fuel_enabled()?;
        Ok(self.inner.fuel.max(0) as u64)
    }

    fn fuel_enabled(&self) -> Result<()> {
        if self.inner.engine.config().consume_fuel {
            Ok(())
        } else {
            Err(Error::usage("fuel is not enabled in this engine's Config"))
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("id", &self.inner.id)
            .field("instances", &self.inner.instances.len())
            .field("data", &self.data)
            .finish()
    }
}

/// A shared borrow of a store, from anything that holds one.
pub struct StoreContext<'a, T>(pub(crate) &'a Store<T>);

/// An exclusive borrow of a store, from anything that holds one.
pub struct StoreContextMut<'a, T>(pub(crate) &'a mut Store<T>);

/// Things that can lend a shared borrow of a store: the store itself, a [`Caller`], and
/// references to them.
pub trait AsContext {
    /// The store's host data type.
    type Data;
    /// Borrows the store.
    fn as_context(&self) -> StoreContext<'_, Self::Data>;
}

/// Things that can lend an exclusive borrow of a store.
pub trait AsContextMut: AsContext {
    /// Borrows the store mutably.
    fn as_context_mut(&mut self) -> StoreContextMut<'_, Self::Data>;
}

impl<T> AsContext for Store<T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self)
    }
}

impl<T> AsContextMut for Store<T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self)
    }
}

impl<T> AsContext for StoreContext<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContext for StoreContextMut<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.0)
    }
}

impl<T> AsContextMut for StoreContextMut<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.0)
    }
}

impl<C: AsContext + ?Sized> AsContext for &C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContext + ?Sized> AsContext for &mut C {
    type Data = C::Data;
    fn as_context(&self) -> StoreContext<'_, C::Data> {
        (**self).as_context()
    }
}

impl<C: AsContextMut + ?Sized> AsContextMut for &mut C {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, C::Data> {
        (**self).as_context_mut()
    }
}

/// What a host function receives: the calling instance and exclusive access to the store.
pub struct Caller<'a, T> {
    pub(crate) store: &'a mut Store<T>,
    pub(crate) instance: Option<Instance>,
}

impl<T> Caller<'_, T> {
    /// The host data.
    pub fn data(&self) -> &T {
        self.store.data()
    }

    /// The host data, mutably.
    pub fn data_mut(&mut self) -> &mut T {
        self.store.data_mut()
    }

    /// The instance whose code called this host function, if the call came from Wasm.
    pub fn instance(&self) -> Option<Instance> {
        self.instance
    }

    /// An export of the calling instance, typically its `memory`.
    pub fn get_export(&self, name: &str) -> Option<crate::Extern> {
        self.instance?.get_export(&*self.store, name)
    }

    /// The store's remaining fuel (see [`Store::get_fuel`]).
    ///
    /// # Errors
    /// If fuel is not enabled.
    pub fn get_fuel(&self) -> Result<u64> {
        self.store.get_fuel()
    }
}

impl<'a, T> From<&'a mut Store<T>> for StoreContextMut<'a, T> {
    fn from(store: &'a mut Store<T>) -> Self {
        StoreContextMut(store)
    }
}

impl<'a, 'b, T> From<&'a mut Caller<'b, T>> for StoreContextMut<'a, T> {
    fn from(caller: &'a mut Caller<'b, T>) -> Self {
        StoreContextMut(caller.store)
    }
}

impl<T> AsContext for Caller<'_, T> {
    type Data = T;
    fn as_context(&self) -> StoreContext<'_, T> {
        StoreContext(self.store)
    }
}

impl<T> AsContextMut for Caller<'_, T> {
    fn as_context_mut(&mut self) -> StoreContextMut<'_, T> {
        StoreContextMut(self.store)
    }
}
