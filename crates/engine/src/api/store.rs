//! The store: owner of every runtime object and of the host data `T`.
//!
//! Runtime objects (functions, memories, tables, globals, instances, extern objects) live in
//! the arenas of the store's core ([`StoreCore`], which knows nothing of `T`); [`Store`] adds
//! the host data and the host functions, which are generic over it. The handles the API
//! gives out ([`crate::Func`], [`crate::Memory`], ...) are an arena index plus the id of the
//! store that made them. Every API entry point checks that id, so using a handle with
//! another store is an [`Error`], never undefined behaviour or a panic.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::Instance;
use crate::api::engine::Engine;
use crate::api::func::{HostFnKind, HostFunc};
use crate::error::{Error, Result};
use crate::interp::exec::Stack;
use crate::runtime::{HostVals, StoreCore, StoreOps};
pub use crate::runtime::{StoreId, StoreLimits};
use crate::value::Val;

/// Owns all runtime objects and the host data `T`. Handles are only valid with the store
/// that created them.
pub struct Store<T> {
    pub(crate) core: StoreCore,
    engine: Engine,
    /// The host functions of the store's functions, by [`crate::runtime::FuncKind::Host`]
    /// index. Only ever pushed to, and never mutated: the JIT's host records point at the
    /// closures inside (`jit::tier`, `tier.5`), which must live as long as the store.
    hosts: Vec<Arc<HostFunc<T>>>,
    /// The same functions again, each taken out of its slot while a call from Wasm runs it,
    /// so such a call needs no reference count (atomic) of its own; a nested call of the
    /// same function finds the slot empty and clones from `hosts` instead (so does every
    /// call after a host function panicked, which leaves its slot empty).
    idle_hosts: Vec<Option<Arc<HostFunc<T>>>>,
    /// An interpreter stack kept between calls so a call allocates nothing.
    pub(crate) stack_cache: Option<Box<Stack>>,
    /// Where a store of a [`crate::Strategy::Auto`] engine is on its way to the JIT.
    #[cfg(feature = "jit")]
    pub(crate) auto: crate::jit::auto::AutoState,
    data: T,
}

impl<T> Store<T> {
    /// An empty store for `engine` holding host data `data`.
    pub fn new(engine: &Engine, data: T) -> Self {
        let config = engine.config();
        let mut core = StoreCore::new(config.max_call_depth, config.max_stack_slots);
        // A hosted engine's memories are guarded, from its pool (`jit::memory`), which a
        // JIT engine that compiles for guard regions needs (`jit::tier`).
        if let Some(allocator) = engine.memory_allocator() {
            core.set_memory_allocator(allocator);
        }
        Store {
            core,
            engine: engine.clone(),
            hosts: Vec::new(),
            idle_hosts: Vec::new(),
            stack_cache: None,
            #[cfg(feature = "jit")]
            auto: if engine.strategy() == crate::Strategy::Auto && engine.jit().is_ok() {
                crate::jit::auto::AutoState::Pending
            } else {
                crate::jit::auto::AutoState::Off
            },
            data,
        }
    }

    /// Before a call from the host into Wasm: switches a store of an Auto engine to the
    /// JIT if all its modules' code is ready (see `jit::auto`). A field test while the
    /// store waits or is settled.
    #[cfg(feature = "jit")]
    #[inline]
    pub(crate) fn auto_switch(&mut self) {
        if self.auto == crate::jit::auto::AutoState::Pending {
            self.auto = match self.engine.jit() {
                Ok(jit) => crate::jit::auto::try_switch(&mut self.core, jit),
                Err(_) => crate::jit::auto::AutoState::Off,
            };
        }
    }

    /// Adds a store function for host function `host` and returns its store index.
    pub(crate) fn push_host_func(&mut self, host: Arc<HostFunc<T>>) -> u32 {
        let ty = self.core.intern_type(&host.ty);
        let index = self.hosts.len() as u32;
        // An Auto store compiles trampolines only when it switches (`jit::auto::try_switch`)
        // and for host functions added after that, so that start-up pays nothing for the JIT.
        #[cfg(feature = "jit")]
        let trampoline = self
            .engine
            .jit()
            .ok()
            .filter(|_| {
                self.engine.strategy() == crate::Strategy::Jit
                    || self.auto == crate::jit::auto::AutoState::Switched
            })
            .and_then(|jit| jit.host_trampoline(&host.ty).ok());
        #[cfg(feature = "jit")]
        let (entry, data) = host.jit_entry();
        self.idle_hosts.push(Some(Arc::clone(&host)));
        self.hosts.push(host);
        let func = self
            .core
            .push_func(ty, crate::runtime::FuncKind::Host(index));
        // JIT code calls a host function through a wasm-to-host trampoline of its type,
        // with the function's record as the callee's context (see `jit::tier`). Without a
        // trampoline (it failed to compile), instantiating a module that imports it fails.
        #[cfg(feature = "jit")]
        {
            self.core.push_host_record(crate::runtime::vm::VMHostFunc {
                entry,
                data,
                func,
                host: index,
            });
            if let Some(trampoline) = trampoline {
                self.core.set_host_code(func, index, trampoline);
            }
        }
        func
    }

    /// Host function `index`.
    pub(crate) fn host_func(&self, index: u32) -> &Arc<HostFunc<T>> {
        &self.hosts[index as usize]
    }

    /// The engine this store belongs to.
    pub fn engine(&self) -> &Engine {
        &self.engine
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
    pub(crate) fn split_mut(&mut self) -> (&mut StoreCore, &mut T) {
        (&mut self.core, &mut self.data)
    }

    /// Consumes the store, returning the host data.
    pub fn into_data(self) -> T {
        self.data
    }

    /// Sets the store's limits.
    pub fn limiter(&mut self, limits: StoreLimits) {
        self.core.set_limits(limits);
    }

    /// The store's limits.
    pub fn limits(&self) -> &StoreLimits {
        self.core.limits()
    }

    /// Sets the fuel remaining to `fuel` (forgiving any overdraft of the last block).
    ///
    /// # Errors
    /// If the engine was not configured with [`crate::Config::consume_fuel`].
    pub fn set_fuel(&mut self, fuel: u64) -> Result<()> {
        self.fuel_enabled()?;
        self.core.set_fuel(fuel.min(i64::MAX as u64) as i64);
        Ok(())
    }

    /// The fuel remaining.
    ///
    /// # Errors
    /// If the engine was not configured with [`crate::Config::consume_fuel`].
    pub fn get_fuel(&self) -> Result<u64> {
        self.fuel_enabled()?;
        Ok(self.core.fuel().max(0) as u64)
    }

    fn fuel_enabled(&self) -> Result<()> {
        if self.engine.config().consume_fuel {
            Ok(())
        } else {
            Err(Error::usage("fuel is not enabled in this engine's Config"))
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Store")
            .field("id", &self.core.id())
            .field("instances", &self.core.num_instances())
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

/// The one place generic over `T` that the executor calls: a host function.
impl<T> StoreOps for Store<T> {
    fn core(&self) -> &StoreCore {
        &self.core
    }

    fn core_mut(&mut self) -> &mut StoreCore {
        &mut self.core
    }

    fn call_host(
        &mut self,
        host: u32,
        caller: u32,
        slots: &mut [u64],
        vals: &mut HostVals,
    ) -> Result<()> {
        let slot = host as usize;
        let (host, idle) = match self.idle_hosts[slot].take() {
            Some(h) => (h, true),
            None => (Arc::clone(&self.hosts[slot]), false),
        };
        let result = self.run_host(&host, caller, slots, vals);
        if idle {
            self.idle_hosts[slot] = Some(host);
        }
        result
    }
}

impl<T> Store<T> {
    /// Runs `host` for a call from Wasm (see [`StoreOps::call_host`]).
    fn run_host(
        &mut self,
        host: &HostFunc<T>,
        caller: u32,
        slots: &mut [u64],
        vals: &mut HostVals,
    ) -> Result<()> {
        let store_id = self.core.id();
        let instance = Some(Instance::new_handle(store_id, caller));
        match &host.func {
            HostFnKind::Raw(f) => f.call(
                Caller {
                    store: self,
                    instance,
                },
                slots,
            ),
            HostFnKind::Vals(_) => {
                let ty = &host.ty;
                vals.args.clear();
                for (&raw, &t) in slots.iter().zip(ty.params()) {
                    vals.args.push(Val::from_raw(raw, t, store_id));
                }
                vals.results.clear();
                vals.results
                    .extend(ty.results().iter().map(|&t| Val::default_for(t)));
                let caller = Caller {
                    store: self,
                    instance,
                };
                host.call_vals(caller, &vals.args, &mut vals.results)?;
                for (slot, r) in slots.iter_mut().zip(&vals.results) {
                    *slot = r.to_raw(store_id)?;
                }
                Ok(())
            }
        }
    }
}
