//! The store core: every runtime object of a store, without the host data's type.
//!
//! [`StoreCore`] owns the arenas (functions, memories, tables, globals, instances, host
//! objects), the interned function types, the fuel and the limits. Its fields are private:
//! the API and the tiers reach them through methods, which keep the `VM*` definitions
//! current (vm invariant 2). A host function is only an index here (into the typed store's
//! host functions), so nothing in the core depends on `T`.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::runtime::memory::{HeapAllocator, MemoryAllocator, MemoryEntity};
use crate::runtime::vm::{VMFuncRef, VMStoreContext, VMTableDefinition, VmCell, VmPtr};
use crate::types::{FuncType, GlobalType, MemoryType, TableType};
use crate::{Module, TrapCode};

/// The range `[start, start + n)` of a sequence of `len` items, if it lies inside (`start`
/// and `n` are 32-bit Wasm values in the low bits).
#[inline(always)]
pub(crate) fn bulk_range(len: usize, start: u64, n: u64) -> Option<core::ops::Range<usize>> {
    let start = start as u32 as u64;
    let end = start + (n as u32 as u64);
    (end <= len as u64).then_some(start as usize..end as usize)
}

/// Identifies a store; carried by every handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreId(u64);

impl StoreId {
    fn fresh() -> StoreId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        StoreId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Fails unless `other` is this store.
    #[inline]
    pub(crate) fn check(self, other: StoreId) -> Result<()> {
        if self == other {
            Ok(())
        } else {
            Err(Self::foreign())
        }
    }

    #[cold]
    #[inline(never)]
    fn foreign() -> Error {
        Error::usage("object used with a store other than the one that owns it")
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

/// A table: its type and its raw elements (0 null, else 1 + a store index; see
/// [`crate::runtime::vm`]), described at a stable address for generated code.
pub(crate) struct TableEntity {
    ty: TableType,
    elements: Vec<u64>,
    definition: VmCell<VMTableDefinition>,
}

impl TableEntity {
    fn new(ty: TableType, mut elements: Vec<u64>) -> TableEntity {
        let definition = VmCell::new(VMTableDefinition {
            base: elements.as_mut_ptr(),
            length: elements.len() as u64,
        });
        TableEntity {
            ty,
            elements,
            definition,
        }
    }

    pub fn ty(&self) -> TableType {
        self.ty
    }

    pub fn elements(&self) -> &[u64] {
        &self.elements
    }

    /// The elements, mutably; their number cannot change this way.
    pub fn elements_mut(&mut self) -> &mut [u64] {
        &mut self.elements
    }

    /// The definition, at an address that stays the same for the table's life.
    pub fn definition(&self) -> *mut VMTableDefinition {
        self.definition.ptr()
    }

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
        self.definition.set(VMTableDefinition {
            base: self.elements.as_mut_ptr(),
            length: self.elements.len() as u64,
        });
        Some(old)
    }
}

/// A global: its type and its raw value, in a cell at a stable address.
pub(crate) struct GlobalEntity {
    ty: GlobalType,
    value: VmCell<u64>,
}

impl GlobalEntity {
    pub fn ty(&self) -> GlobalType {
        self.ty
    }

    pub fn value(&self) -> u64 {
        self.value.get()
    }

    pub fn set_value(&mut self, value: u64) {
        self.value.set(value);
    }

    /// The value's cell.
    #[cfg(test)]
    pub fn cell(&self) -> *mut u64 {
        self.value.ptr()
    }
}

/// What a function of the store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FuncKind {
    /// Defined by instance `instance`'s module: `def` indexes the module's defined
    /// functions.
    Wasm { instance: u32, def: u32 },
    /// Host function `index` of the typed store (`Store<T>`).
    Host(u32),
}

/// A store function, as [`VMFuncRef`] lays it out for generated code.
pub(crate) type FuncEntity = VMFuncRef;

impl VMFuncRef {
    pub fn kind(&self) -> FuncKind {
        if self.instance == VMFuncRef::HOST {
            FuncKind::Host(self.index)
        } else {
            FuncKind::Wasm {
                instance: self.instance,
                def: self.index,
            }
        }
    }
}

/// A module instantiated in the store: the store indices of what it uses, in module index
/// order, its segments and its interned types.
pub(crate) struct InstanceEntity {
    module: Module,
    funcs: Vec<u32>,
    tables: Vec<u32>,
    memories: Vec<u32>,
    globals: Vec<u32>,
    /// The cells of `globals` and the definitions of `tables`, for the tiers (vm
    /// invariant 3).
    global_cells: Box<[VmPtr<u64>]>,
    table_definitions: Box<[VmPtr<VMTableDefinition>]>,
    /// Element segments: resolved references; emptied by `elem.drop`.
    elems: Vec<Arc<[u64]>>,
    /// Data segments: bytes; emptied by `data.drop`.
    datas: Vec<Arc<[u8]>>,
    /// Store-wide type ids of the module's types, for `call_indirect` checks.
    types: Vec<u32>,
    /// What the tier running the instance keeps for it (the JIT's `VMContext` and the
    /// arrays it points to), opaque to the runtime; boxed, so its address is stable.
    tier_state: Option<Box<dyn Any + Send + Sync>>,
}

/// The store indices and segments of a new instance (see [`StoreCore::push_instance`]).
pub(crate) struct InstanceParts {
    pub module: Module,
    pub funcs: Vec<u32>,
    pub tables: Vec<u32>,
    pub memories: Vec<u32>,
    pub globals: Vec<u32>,
    pub elems: Vec<Arc<[u64]>>,
    pub datas: Vec<Arc<[u8]>>,
    pub types: Vec<u32>,
}

impl InstanceEntity {
    /// The module the instance was made from. The runtime only keeps it alive and hands
    /// it to the tiers; it never looks at a tier's code.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// Store indices of the instance's functions, in module index order.
    pub fn funcs(&self) -> &[u32] {
        &self.funcs
    }

    pub fn tables(&self) -> &[u32] {
        &self.tables
    }

    pub fn memories(&self) -> &[u32] {
        &self.memories
    }

    pub fn globals(&self) -> &[u32] {
        &self.globals
    }

    /// The value cells of the instance's globals, in module index order.
    pub fn global_cells(&self) -> &[VmPtr<u64>] {
        &self.global_cells
    }

    /// The definitions of the instance's tables, in module index order.
    pub fn table_definitions(&self) -> &[VmPtr<VMTableDefinition>] {
        &self.table_definitions
    }

    pub fn types(&self) -> &[u32] {
        &self.types
    }

    pub fn elem(&self, i: u32) -> &Arc<[u64]> {
        &self.elems[i as usize]
    }

    pub fn drop_elem(&mut self, i: u32) {
        self.elems[i as usize] = Arc::from([]);
    }

    pub fn data(&self, i: u32) -> &Arc<[u8]> {
        &self.datas[i as usize]
    }

    pub fn drop_data(&mut self, i: u32) {
        self.datas[i as usize] = Arc::from([]);
    }

    /// Hands the instance the tier's state for it, kept as long as the store.
    #[cfg_attr(
        not(feature = "jit"),
        expect(dead_code, reason = "only the JIT keeps state")
    )]
    pub fn set_tier_state(&mut self, state: Box<dyn Any + Send + Sync>) {
        self.tier_state = Some(state);
    }
}

/// Everything a store owns except the host data and the host functions (see the module
/// docs).
pub(crate) struct StoreCore {
    id: StoreId,
    funcs: Vec<FuncEntity>,
    memories: Vec<MemoryEntity>,
    tables: Vec<TableEntity>,
    globals: Vec<GlobalEntity>,
    instances: Vec<InstanceEntity>,
    externs: Vec<Box<dyn Any + Send + Sync>>,
    /// Function types interned store-wide, so `call_indirect` compares two integers.
    types: Vec<FuncType>,
    /// The ids of `types[..indexed_types]`; the rest are added on the next lookup (see
    /// [`StoreCore::intern_module_types`]).
    type_ids: BTreeMap<FuncType, u32>,
    indexed_types: usize,
    /// The fuel and the function array, where generated code finds them.
    context: VmCell<VMStoreContext>,
    limits: StoreLimits,
    /// The engine's call-depth and value-stack limits.
    max_call_depth: u32,
    max_stack_slots: usize,
    /// Makes the store's memories (`None`: [`HeapAllocator`]).
    memory_allocator: Option<Arc<dyn MemoryAllocator>>,
    /// How generated code calls each host function, by host index (vm invariant 3: never
    /// removed while the store lives).
    #[cfg(feature = "jit")]
    host_records: Vec<VmCell<crate::runtime::vm::VMHostFunc>>,
}

impl StoreCore {
    /// An empty store core with the engine's call-depth and value-stack limits.
    pub fn new(max_call_depth: u32, max_stack_slots: usize) -> StoreCore {
        let funcs: Vec<FuncEntity> = Vec::new();
        StoreCore {
            id: StoreId::fresh(),
            context: VmCell::new(VMStoreContext {
                fuel: 0,
                stack_limit: 0,
                funcs: funcs.as_ptr(),
                funcs_len: 0,
            }),
            funcs,
            memories: Vec::new(),
            tables: Vec::new(),
            globals: Vec::new(),
            instances: Vec::new(),
            externs: Vec::new(),
            types: Vec::new(),
            type_ids: BTreeMap::new(),
            indexed_types: 0,
            limits: StoreLimits::default(),
            max_call_depth,
            max_stack_slots,
            memory_allocator: None,
            #[cfg(feature = "jit")]
            host_records: Vec::new(),
        }
    }

    /// Has the store make its memories (all of them: the instances' own and the host's
    /// `Memory::new`) with `allocator`; set once, before any memory exists, by an engine
    /// whose memories are of another kind than the heap's.
    pub fn set_memory_allocator(&mut self, allocator: Arc<dyn MemoryAllocator>) {
        debug_assert!(self.memories.is_empty());
        self.memory_allocator = Some(allocator);
    }

    pub fn id(&self) -> StoreId {
        self.id
    }

    /// The part generated code reads and writes in place: fuel and the function array.
    pub fn context(&self) -> *mut VMStoreContext {
        self.context.ptr()
    }

    /// Remaining fuel (below zero after an overdraft).
    pub fn fuel(&self) -> i64 {
        self.context.get().fuel
    }

    pub fn set_fuel(&mut self, fuel: i64) {
        let mut context = self.context.get();
        context.fuel = fuel;
        self.context.set(context);
    }

    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    pub fn set_limits(&mut self, limits: StoreLimits) {
        self.limits = limits;
    }

    /// The call depth allowed: the smaller of the engine's and the store's limit.
    pub fn max_call_depth(&self) -> u32 {
        self.max_call_depth.min(self.limits.call_depth)
    }

    /// The engine's limit on value-stack slots.
    pub fn max_stack_slots(&self) -> usize {
        self.max_stack_slots
    }

    // --- functions and types ---

    /// Adds a function of interned type `ty` and returns its store index.
    pub fn push_func(&mut self, ty: u32, kind: FuncKind) -> u32 {
        let index = self.funcs.len() as u32;
        let (instance, def) = match kind {
            FuncKind::Wasm { instance, def } => (instance, def),
            FuncKind::Host(host) => (VMFuncRef::HOST, host),
        };
        self.funcs.push(VMFuncRef {
            wasm_call: core::ptr::null(),
            vmctx: core::ptr::null_mut(),
            array_call: core::ptr::null(),
            ty,
            instance,
            index: def,
        });
        let mut context = self.context.get();
        context.funcs = self.funcs.as_ptr();
        context.funcs_len = self.funcs.len() as u64;
        self.context.set(context);
        index
    }

    /// Adds the defined functions of instance `instance`, of interned types `types` in
    /// module order (`FuncKind::Wasm` with `def` counting from 0), and returns the store
    /// index of the first; the rest follow it.
    pub fn push_wasm_funcs(
        &mut self,
        instance: u32,
        types: impl ExactSizeIterator<Item = u32>,
    ) -> u32 {
        let first = self.funcs.len() as u32;
        self.funcs.reserve(types.len());
        self.funcs
            .extend(types.enumerate().map(|(def, ty)| VMFuncRef {
                wasm_call: core::ptr::null(),
                vmctx: core::ptr::null_mut(),
                array_call: core::ptr::null(),
                ty,
                instance,
                index: def as u32,
            }));
        let mut context = self.context.get();
        context.funcs = self.funcs.as_ptr();
        context.funcs_len = self.funcs.len() as u64;
        self.context.set(context);
        first
    }

    /// How many functions the store has.
    #[cfg_attr(
        not(feature = "jit"),
        expect(dead_code, reason = "used by the JIT tier")
    )]
    pub fn num_funcs(&self) -> u32 {
        self.funcs.len() as u32
    }

    pub fn func(&self, index: u32) -> &FuncEntity {
        &self.funcs[index as usize]
    }

    /// Sets where a tier that generates code keeps function `index`'s code (see
    /// [`VMFuncRef`]); the context's array pointer stays current (it is the same array).
    #[cfg_attr(
        not(feature = "jit"),
        expect(dead_code, reason = "used by the JIT tier")
    )]
    pub fn set_func_code(
        &mut self,
        index: u32,
        wasm_call: *const u8,
        vmctx: *mut core::ffi::c_void,
        array_call: *const u8,
    ) {
        let f = &mut self.funcs[index as usize];
        f.wasm_call = wasm_call;
        f.vmctx = vmctx;
        f.array_call = array_call;
    }

    /// Adds the record generated code calls host function `record.host` through; host
    /// functions get theirs in the order of their host indices.
    #[cfg(feature = "jit")]
    pub fn push_host_record(&mut self, record: crate::runtime::vm::VMHostFunc) {
        debug_assert_eq!(record.host as usize, self.host_records.len());
        self.host_records.push(VmCell::new(record));
    }

    /// Gives store function `func`, host function `host`, its code for generated code: the
    /// wasm-to-host `trampoline` of its type, with the host function's record (at the same
    /// address for the store's whole life: vm invariants 1 and 3) as its context.
    #[cfg(feature = "jit")]
    pub fn set_host_code(&mut self, func: u32, host: u32, trampoline: *const u8) {
        let record = self.host_records[host as usize].ptr().cast();
        self.set_func_code(func, trampoline, record, core::ptr::null());
    }

    /// Sets the code of instance `instance`'s functions from module function `from` on to
    /// that of `records` (one per function, in order), as [`StoreCore::set_func_code`]
    /// does for one.
    #[cfg_attr(
        not(feature = "jit"),
        expect(dead_code, reason = "used by the JIT tier")
    )]
    pub fn set_instance_func_code(&mut self, instance: u32, from: usize, records: &[VMFuncRef]) {
        let indices = &self.instances[instance as usize].funcs[from..];
        for (&f, r) in indices.iter().zip(records) {
            let f = &mut self.funcs[f as usize];
            f.wasm_call = r.wasm_call;
            f.vmctx = r.vmctx;
            f.array_call = r.array_call;
        }
    }

    /// The store ids of a module's `types`, interned, given their canonical indices
    /// (`canon`, see `ModuleInfo::type_canon`). A store's first module, the usual case,
    /// needs no lookup: its distinct types become ids 0.. in order, and the map that finds
    /// them is built only when another type is interned.
    pub fn intern_module_types(&mut self, types: &[FuncType], canon: &[u32]) -> Vec<u32> {
        let mut ids: Vec<u32> = Vec::with_capacity(types.len());
        let fresh = self.types.is_empty();
        for (i, ty) in types.iter().enumerate() {
            let c = canon.get(i).map_or(i, |&c| c as usize);
            let id = if c < i {
                ids[c]
            } else if fresh {
                self.types.push(ty.clone());
                self.types.len() as u32 - 1
            } else {
                self.intern_type(ty)
            };
            ids.push(id);
        }
        ids
    }

    pub fn intern_type(&mut self, ty: &FuncType) -> u32 {
        while let Some(t) = self.types.get(self.indexed_types) {
            self.type_ids.insert(t.clone(), self.indexed_types as u32);
            self.indexed_types += 1;
        }
        if let Some(&id) = self.type_ids.get(ty) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(ty.clone());
        self.type_ids.insert(ty.clone(), id);
        self.indexed_types += 1;
        id
    }

    /// The type of store function `func`.
    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.funcs[func as usize].ty as usize]
    }

    // --- memories, tables, globals ---

    fn objects(&self) -> usize {
        self.memories.len() + self.tables.len() + self.globals.len()
    }

    /// Fails if allocating one more memory, table or global would exceed the store limit.
    fn check_object_limit(&self) -> Result<()> {
        if self.objects() >= self.limits.objects {
            return Err(Error::instantiation("store object limit reached"));
        }
        Ok(())
    }

    /// A new zero-filled memory of type `ty`; returns its store index.
    pub fn alloc_memory(&mut self, ty: MemoryType) -> Result<u32> {
        self.check_object_limit()?;
        if ty.minimum() > 65536 || ty.maximum().is_some_and(|m| m < ty.minimum() || m > 65536) {
            return Err(Error::instantiation("invalid memory limits"));
        }
        if ty.minimum() > self.limits.memory_pages {
            return Err(Error::instantiation(alloc::format!(
                "memory of {} pages exceeds the store limit of {} pages",
                ty.minimum(),
                self.limits.memory_pages
            )));
        }
        let len = ty.minimum() as usize * MemoryEntity::PAGE;
        let bytes = match &self.memory_allocator {
            Some(allocator) => allocator.allocate(len),
            None => HeapAllocator.allocate(len),
        }
        .ok_or_else(|| Error::instantiation("out of host memory for a linear memory"))?;
        let index = self.memories.len() as u32;
        self.memories.push(MemoryEntity::new(ty, bytes));
        Ok(index)
    }

    pub fn memory(&self, index: u32) -> &MemoryEntity {
        &self.memories[index as usize]
    }

    pub fn memory_mut(&mut self, index: u32) -> &mut MemoryEntity {
        &mut self.memories[index as usize]
    }

    /// Grows memory `index` by `delta` pages within the store's limit; the old size in
    /// pages, or `None`.
    pub fn grow_memory(&mut self, index: u32, delta: u32) -> Option<u32> {
        let limit = self.limits.memory_pages;
        self.memories[index as usize].grow(delta, limit)
    }

    /// A new table of type `ty` with every element `init`; returns its store index.
    pub fn alloc_table(&mut self, ty: TableType, init: u64) -> Result<u32> {
        self.check_object_limit()?;
        if !ty.element().is_ref() || ty.maximum().is_some_and(|m| m < ty.minimum()) {
            return Err(Error::instantiation("invalid table type"));
        }
        if ty.minimum() > self.limits.table_elements {
            return Err(Error::instantiation(alloc::format!(
                "table of {} elements exceeds the store limit of {}",
                ty.minimum(),
                self.limits.table_elements
            )));
        }
        let mut elements = Vec::new();
        elements
            .try_reserve_exact(ty.minimum() as usize)
            .map_err(|_| Error::instantiation("out of host memory for a table"))?;
        elements.resize(ty.minimum() as usize, init);
        let index = self.tables.len() as u32;
        self.tables.push(TableEntity::new(ty, elements));
        Ok(index)
    }

    pub fn table(&self, index: u32) -> &TableEntity {
        &self.tables[index as usize]
    }

    pub fn table_mut(&mut self, index: u32) -> &mut TableEntity {
        &mut self.tables[index as usize]
    }

    /// Grows table `index` by `delta` elements `init` within the store's limit; the old
    /// size, or `None`.
    pub fn grow_table(&mut self, index: u32, delta: u32, init: u64) -> Option<u32> {
        let limit = self.limits.table_elements;
        self.tables[index as usize].grow(delta, init, limit)
    }

    /// Two distinct tables, the first mutably.
    pub fn two_tables_mut(&mut self, a: u32, b: u32) -> (&mut TableEntity, &TableEntity) {
        let (a, b) = (a as usize, b as usize);
        assert_ne!(a, b, "two distinct tables");
        if a < b {
            let (lo, hi) = self.tables.split_at_mut(b);
            (&mut lo[a], &hi[0])
        } else {
            let (lo, hi) = self.tables.split_at_mut(a);
            (&mut hi[0], &lo[b])
        }
    }

    /// A new global of type `ty` holding `value`; returns its store index.
    pub fn alloc_global(&mut self, ty: GlobalType, value: u64) -> Result<u32> {
        self.check_object_limit()?;
        let index = self.globals.len() as u32;
        self.globals.push(GlobalEntity {
            ty,
            value: VmCell::new(value),
        });
        Ok(index)
    }

    pub fn global(&self, index: u32) -> &GlobalEntity {
        &self.globals[index as usize]
    }

    pub fn global_mut(&mut self, index: u32) -> &mut GlobalEntity {
        &mut self.globals[index as usize]
    }

    // --- bulk operations (the semantics both tiers share) ---

    /// `memory.init` of memory `mem` from data segment `data` of `instance`.
    ///
    /// # Errors
    /// `MemoryOutOfBounds` if either range is out of bounds.
    pub fn memory_init(
        &mut self,
        instance: u32,
        mem: u32,
        data: u32,
        (dst, src, n): (u64, u64, u64),
    ) -> Result<(), TrapCode> {
        let oob = TrapCode::MemoryOutOfBounds;
        let seg = self.instance(instance).data(data).clone();
        let s = bulk_range(seg.len(), src, n).ok_or(oob)?;
        let m = self.memory_mut(mem).data_mut();
        let d = bulk_range(m.len(), dst, n).ok_or(oob)?;
        m[d].copy_from_slice(&seg[s]);
        Ok(())
    }

    /// `table.fill` of table `t`.
    ///
    /// # Errors
    /// `TableOutOfBounds` if the range is not inside the table.
    pub fn table_fill(&mut self, t: u32, start: u64, value: u64, n: u64) -> Result<(), TrapCode> {
        let elements = self.table_mut(t).elements_mut();
        let r = bulk_range(elements.len(), start, n).ok_or(TrapCode::TableOutOfBounds)?;
        elements[r].fill(value);
        Ok(())
    }

    /// `table.copy` from table `s` to table `d` (which may be the same).
    ///
    /// # Errors
    /// `TableOutOfBounds` if either range is out of bounds.
    pub fn table_copy(
        &mut self,
        d: u32,
        s: u32,
        (d_start, s_start, n): (u64, u64, u64),
    ) -> Result<(), TrapCode> {
        let oob = TrapCode::TableOutOfBounds;
        let d_len = self.table(d).elements().len();
        let s_len = self.table(s).elements().len();
        let dr = bulk_range(d_len, d_start, n).ok_or(oob)?;
        let sr = bulk_range(s_len, s_start, n).ok_or(oob)?;
        if d == s {
            self.table_mut(d).elements_mut().copy_within(sr, dr.start);
        } else {
            let (dt, st) = self.two_tables_mut(d, s);
            dt.elements_mut()[dr].copy_from_slice(&st.elements()[sr]);
        }
        Ok(())
    }

    /// `table.init` of table `t` from element segment `elem` of `instance`.
    ///
    /// # Errors
    /// `TableOutOfBounds` if either range is out of bounds.
    pub fn table_init(
        &mut self,
        instance: u32,
        t: u32,
        elem: u32,
        (dst, src, n): (u64, u64, u64),
    ) -> Result<(), TrapCode> {
        let oob = TrapCode::TableOutOfBounds;
        let seg = self.instance(instance).elem(elem).clone();
        let elements = self.table_mut(t).elements_mut();
        let s = bulk_range(seg.len(), src, n).ok_or(oob)?;
        let d = bulk_range(elements.len(), dst, n).ok_or(oob)?;
        elements[d].copy_from_slice(&seg[s]);
        Ok(())
    }

    // --- instances and host objects ---

    pub fn num_instances(&self) -> usize {
        self.instances.len()
    }

    /// Fails if one more instance would exceed the store limit.
    pub fn check_instance_limit(&self) -> Result<()> {
        if self.instances.len() >= self.limits.instances {
            return Err(Error::instantiation("store instance limit reached"));
        }
        Ok(())
    }

    /// Adds an instance and returns its store index (which
    /// [`StoreCore::num_instances`] gave before).
    pub fn push_instance(&mut self, parts: InstanceParts) -> u32 {
        let global_cells = parts
            .globals
            .iter()
            .map(|&g| {
                let cell = self.globals[g as usize].value.ptr();
                VmPtr(NonNull::new(cell).expect("a cell is never null"))
            })
            .collect();
        let table_definitions = parts
            .tables
            .iter()
            .map(|&t| {
                let definition = self.tables[t as usize].definition();
                VmPtr(NonNull::new(definition).expect("a cell is never null"))
            })
            .collect();
        let index = self.instances.len() as u32;
        self.instances.push(InstanceEntity {
            module: parts.module,
            funcs: parts.funcs,
            tables: parts.tables,
            memories: parts.memories,
            globals: parts.globals,
            global_cells,
            table_definitions,
            elems: parts.elems,
            datas: parts.datas,
            types: parts.types,
            tier_state: None,
        });
        index
    }

    pub fn instance(&self, index: u32) -> &InstanceEntity {
        &self.instances[index as usize]
    }

    pub fn instance_mut(&mut self, index: u32) -> &mut InstanceEntity {
        &mut self.instances[index as usize]
    }

    /// Adds a host object (behind an externref) and returns its index.
    pub fn push_extern(&mut self, object: Box<dyn Any + Send + Sync>) -> u32 {
        let index = self.externs.len() as u32;
        self.externs.push(object);
        index
    }

    pub fn extern_object(&self, index: u32) -> Option<&(dyn Any + Send + Sync)> {
        self.externs.get(index as usize).map(|b| &**b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ValType::{F64, I32, I64};

    #[test]
    fn module_types_intern_like_single_types() {
        let (a, b, c) = (
            FuncType::new([I32], [I32]),
            FuncType::new([I64], []),
            FuncType::new([], [F64]),
        );
        // A store's first module: distinct types in order, duplicates share an id.
        let mut core = StoreCore::new(100, 100);
        let ids = core.intern_module_types(&[a.clone(), b.clone(), a.clone()], &[0, 1, 0]);
        assert_eq!(ids, [0, 1, 0]);
        // Later types find them (the map is built then) or get new ids.
        assert_eq!(core.intern_type(&b), 1);
        assert_eq!(core.intern_type(&c), 2);
        let ids = core.intern_module_types(&[c.clone(), a.clone(), b.clone()], &[0, 1, 2]);
        assert_eq!(ids, [2, 0, 1]);
        // The same as interning one by one into a fresh store.
        let mut other = StoreCore::new(100, 100);
        let one_by_one: Vec<u32> = [&a, &b, &a].map(|t| other.intern_type(t)).to_vec();
        assert_eq!(one_by_one, [0, 1, 0]);
        // A host function's type first, then a module.
        let mut host_first = StoreCore::new(100, 100);
        assert_eq!(host_first.intern_type(&b), 0);
        let ids = host_first.intern_module_types(&[a.clone(), b.clone()], &[0, 1]);
        assert_eq!(ids, [1, 0]);
        assert_eq!(host_first.intern_type(&a), 1);
    }
}
