//! Memories, tables, globals and the [`Extern`] sum of all importable things.

use crate::api::func::Func;
use crate::api::store::{AsContext, AsContextMut, Store, StoreId};
use crate::error::{Error, Result};
use crate::runtime::StoreCore;
use crate::runtime::memory::MemoryEntity;
use crate::runtime::store::TableEntity;
use crate::types::{ExternType, GlobalType, MemoryType, Mutability, TableType};
use crate::value::Val;

/// The store, after checking that `handle` belongs to it.
fn checked<T>(store: &Store<T>, handle: StoreId) -> Result<&Store<T>> {
    store.core.id().check(handle)?;
    Ok(store)
}

fn checked_mut<T>(store: &mut Store<T>, handle: StoreId) -> Result<&mut Store<T>> {
    store.core.id().check(handle)?;
    Ok(store)
}

/// A linear memory owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Memory {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

impl Memory {
    /// A new memory of type `ty`, zero-filled.
    ///
    /// # Errors
    /// If the minimum size exceeds the store's limit or the maximum is below the minimum.
    pub fn new(mut store: impl AsContextMut, ty: MemoryType) -> Result<Memory> {
        let store = store.as_context_mut().0;
        Self::alloc(&mut store.core, ty)
    }

    pub(crate) fn alloc(store: &mut StoreCore, ty: MemoryType) -> Result<Memory> {
        Ok(Memory {
            store: store.id(),
            index: store.alloc_memory(ty)?,
        })
    }

    fn entity<'a, T>(&self, store: &'a Store<T>) -> Result<&'a MemoryEntity> {
        Ok(checked(store, self.store)?.core.memory(self.index))
    }

    /// The memory's type, with its current size as the minimum.
    ///
    /// # Errors
    /// If the memory belongs to another store.
    pub fn ty(&self, store: impl AsContext) -> Result<MemoryType> {
        let m = self.entity(store.as_context().0)?;
        Ok(MemoryType::new(m.pages(), m.ty().maximum()))
    }

    /// The size in pages.
    ///
    /// # Errors
    /// If the memory belongs to another store.
    pub fn size(&self, store: impl AsContext) -> Result<u32> {
        Ok(self.entity(store.as_context().0)?.pages())
    }

    /// The size in bytes.
    ///
    /// # Errors
    /// If the memory belongs to another store.
    pub fn data_size(&self, store: impl AsContext) -> Result<usize> {
        Ok(self.entity(store.as_context().0)?.len())
    }

    /// Grows the memory by `delta` pages and returns the old size in pages.
    ///
    /// # Errors
    /// If the new size exceeds the memory's maximum or the store limit, or another store.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u32) -> Result<u32> {
        let store = checked_mut(store.as_context_mut().0, self.store)?;
        store
            .core
            .grow_memory(self.index, delta)
            .ok_or_else(|| Error::usage("memory cannot grow by that much"))
    }

    /// The memory's bytes.
    ///
    /// # Errors
    /// If the memory belongs to another store.
    pub fn data<'a, S: AsContext + ?Sized>(&self, store: &'a S) -> Result<&'a [u8]> {
        Ok(self.entity(store.as_context().0)?.data())
    }

    /// The memory's bytes, mutably.
    ///
    /// # Errors
    /// If the memory belongs to another store.
    pub fn data_mut<'a, S: AsContextMut + ?Sized>(&self, store: &'a mut S) -> Result<&'a mut [u8]> {
        let store = checked_mut(store.as_context_mut().0, self.store)?;
        Ok(store.core.memory_mut(self.index).data_mut())
    }

    /// The memory's bytes and the store's host data, both mutably: what a host function
    /// needs to move data between its own state and the guest.
    ///
    /// # Errors
    /// If the memory belongs to another store.
    pub fn data_and_store_mut<'a, T: 'a>(
        &self,
        store: impl Into<crate::api::store::StoreContextMut<'a, T>>,
    ) -> Result<(&'a mut [u8], &'a mut T)> {
        let store = checked_mut(store.into().0, self.store)?;
        let (inner, data) = store.split_mut();
        Ok((inner.memory_mut(self.index).data_mut(), data))
    }

    /// Copies `buf.len()` bytes at `offset` into `buf`.
    ///
    /// # Errors
    /// If the range is out of bounds, or another store.
    pub fn read(&self, store: impl AsContext, offset: usize, buf: &mut [u8]) -> Result<()> {
        let data = self.entity(store.as_context().0)?.data();
        let src = offset
            .checked_add(buf.len())
            .and_then(|end| data.get(offset..end))
            .ok_or_else(|| Error::trap(crate::TrapCode::MemoryOutOfBounds))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    /// Copies `buf` into the memory at `offset`.
    ///
    /// # Errors
    /// If the range is out of bounds, or another store.
    pub fn write(&self, mut store: impl AsContextMut, offset: usize, buf: &[u8]) -> Result<()> {
        let store = checked_mut(store.as_context_mut().0, self.store)?;
        let data = store.core.memory_mut(self.index).data_mut();
        let dst = offset
            .checked_add(buf.len())
            .and_then(|end| data.get_mut(offset..end))
            .ok_or_else(|| Error::trap(crate::TrapCode::MemoryOutOfBounds))?;
        dst.copy_from_slice(buf);
        Ok(())
    }
}

/// A table of references owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Table {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

impl Table {
    /// A new table of type `ty` with every element set to `init`.
    ///
    /// # Errors
    /// If `init` doesn't match the element type, the size exceeds the store limit, or
    /// `init` belongs to another store.
    pub fn new(mut store: impl AsContextMut, ty: TableType, init: Val) -> Result<Table> {
        let store = store.as_context_mut().0;
        if init.ty() != ty.element() {
            return Err(Error::usage("table initializer has the wrong type"));
        }
        let raw = init.to_raw(store.core.id())?;
        Self::alloc(&mut store.core, ty, raw)
    }

    pub(crate) fn alloc(store: &mut StoreCore, ty: TableType, init: u64) -> Result<Table> {
        Ok(Table {
            store: store.id(),
            index: store.alloc_table(ty, init)?,
        })
    }

    fn entity<'a, T>(&self, store: &'a Store<T>) -> Result<&'a TableEntity> {
        Ok(checked(store, self.store)?.core.table(self.index))
    }

    /// The table's type, with its current size as the minimum.
    ///
    /// # Errors
    /// If the table belongs to another store.
    pub fn ty(&self, store: impl AsContext) -> Result<TableType> {
        let t = self.entity(store.as_context().0)?;
        Ok(TableType::new(
            t.ty().element(),
            t.elements().len() as u32,
            t.ty().maximum(),
        ))
    }

    /// The number of elements.
    ///
    /// # Errors
    /// If the table belongs to another store.
    pub fn size(&self, store: impl AsContext) -> Result<u32> {
        Ok(self.entity(store.as_context().0)?.elements().len() as u32)
    }

    /// Element `index`, or `None` if out of bounds.
    ///
    /// # Errors
    /// If the table belongs to another store.
    pub fn get(&self, store: impl AsContext, index: u32) -> Result<Option<Val>> {
        let store = store.as_context().0;
        let t = self.entity(store)?;
        Ok(t.elements()
            .get(index as usize)
            .map(|&raw| Val::from_raw(raw, t.ty().element(), store.core.id())))
    }

    /// Sets element `index`.
    ///
    /// # Errors
    /// Out of bounds, a value of the wrong type or store.
    pub fn set(&self, mut store: impl AsContextMut, index: u32, val: Val) -> Result<()> {
        let store = checked_mut(store.as_context_mut().0, self.store)?;
        let raw = val.to_raw(store.core.id())?;
        let t = store.core.table_mut(self.index);
        if val.ty() != t.ty().element() {
            return Err(Error::usage("table element has the wrong type"));
        }
        let e = t
            .elements_mut()
            .get_mut(index as usize)
            .ok_or_else(|| Error::trap(crate::TrapCode::TableOutOfBounds))?;
        *e = raw;
        Ok(())
    }

    /// Grows the table by `delta` elements set to `init`; returns the old size.
    ///
    /// # Errors
    /// Past the maximum or the store limit, a wrong type or store.
    pub fn grow(&self, mut store: impl AsContextMut, delta: u32, init: Val) -> Result<u32> {
        let store = checked_mut(store.as_context_mut().0, self.store)?;
        let raw = init.to_raw(store.core.id())?;
        if init.ty() != store.core.table(self.index).ty().element() {
            return Err(Error::usage("table element has the wrong type"));
        }
        store
            .core
            .grow_table(self.index, delta, raw)
            .ok_or_else(|| Error::usage("table cannot grow by that much"))
    }
}

/// A global variable owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Global {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

impl Global {
    /// A new global of type `ty` holding `val`.
    ///
    /// # Errors
    /// If `val` doesn't match the type or belongs to another store.
    pub fn new(mut store: impl AsContextMut, ty: GlobalType, val: Val) -> Result<Global> {
        let store = store.as_context_mut().0;
        if val.ty() != ty.content() {
            return Err(Error::usage("global initializer has the wrong type"));
        }
        let raw = val.to_raw(store.core.id())?;
        Self::alloc(&mut store.core, ty, raw)
    }

    pub(crate) fn alloc(store: &mut StoreCore, ty: GlobalType, value: u64) -> Result<Global> {
        Ok(Global {
            store: store.id(),
            index: store.alloc_global(ty, value)?,
        })
    }

    /// The global's type.
    ///
    /// # Errors
    /// If the global belongs to another store.
    pub fn ty(&self, store: impl AsContext) -> Result<GlobalType> {
        let store = checked(store.as_context().0, self.store)?;
        Ok(store.core.global(self.index).ty())
    }

    /// The global's value.
    ///
    /// # Errors
    /// If the global belongs to another store.
    pub fn get(&self, store: impl AsContext) -> Result<Val> {
        let store = checked(store.as_context().0, self.store)?;
        let g = store.core.global(self.index);
        Ok(Val::from_raw(g.value(), g.ty().content(), store.core.id()))
    }

    /// Sets the global's value.
    ///
    /// # Errors
    /// If the global is immutable, the value has the wrong type, or another store.
    pub fn set(&self, mut store: impl AsContextMut, val: Val) -> Result<()> {
        let store = checked_mut(store.as_context_mut().0, self.store)?;
        let raw = val.to_raw(store.core.id())?;
        let g = store.core.global_mut(self.index);
        if g.ty().mutability() != Mutability::Var {
            return Err(Error::usage("cannot set an immutable global"));
        }
        if val.ty() != g.ty().content() {
            return Err(Error::usage("global value has the wrong type"));
        }
        g.set_value(raw);
        Ok(())
    }
}

/// Anything a module can import or export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Extern {
    /// A function.
    Func(Func),
    /// A table.
    Table(Table),
    /// A linear memory.
    Memory(Memory),
    /// A global.
    Global(Global),
}

impl Extern {
    /// The function, if this is one.
    pub fn into_func(self) -> Option<Func> {
        match self {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }

    /// The table, if this is one.
    pub fn into_table(self) -> Option<Table> {
        match self {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }

    /// The memory, if this is one.
    pub fn into_memory(self) -> Option<Memory> {
        match self {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }

    /// The global, if this is one.
    pub fn into_global(self) -> Option<Global> {
        match self {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }

    /// The extern's type.
    ///
    /// # Errors
    /// If it belongs to another store.
    pub fn ty(&self, store: impl AsContext) -> Result<ExternType> {
        Ok(match self {
            Extern::Func(f) => ExternType::Func(f.ty(store)?),
            Extern::Table(t) => ExternType::Table(t.ty(store)?),
            Extern::Memory(m) => ExternType::Memory(m.ty(store)?),
            Extern::Global(g) => ExternType::Global(g.ty(store)?),
        })
    }

    pub(crate) fn store(&self) -> StoreId {
        match self {
            Extern::Func(f) => f.store,
            Extern::Table(t) => t.store,
            Extern::Memory(m) => m.store,
            Extern::Global(g) => g.store,
        }
    }
}

impl From<Func> for Extern {
    fn from(f: Func) -> Self {
        Extern::Func(f)
    }
}

impl From<Table> for Extern {
    fn from(t: Table) -> Self {
        Extern::Table(t)
    }
}

impl From<Memory> for Extern {
    fn from(m: Memory) -> Self {
        Extern::Memory(m)
    }
}

impl From<Global> for Extern {
    fn from(g: Global) -> Self {
        Extern::Global(g)
    }
}
