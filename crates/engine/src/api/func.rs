//! Functions: Wasm and host functions, calls (plain, typed and resumable).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::api::store::{AsContext, AsContextMut, Caller, Store, StoreId};
use crate::error::{Error, Result};
use crate::interp::exec::{self, Outcome, Stack};
#[cfg(feature = "jit")]
use crate::jit::tier::{JitCall, JitOutcome, call_plain, is_jit_func};
use crate::runtime::FuncKind;
use crate::types::{FuncType, ValType};
use crate::value::{ExternRef, Val};

/// A host function working on [`Val`]s ([`Func::new`], [`crate::Linker::func_new`]).
pub(crate) type ValsFn<T> = dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync;

/// A typed host function ([`Func::wrap`], [`crate::Linker::func_wrap`]) working on raw slot
/// values in place: `slots` holds the arguments on entry and receives the results, so a
/// call from Wasm passes the caller's frame slots directly, without conversion.
pub(crate) type RawFn<T> = dyn Fn(Caller<'_, T>, &mut [u64]) -> Result<()> + Send + Sync;

pub(crate) enum HostFnKind<T> {
    Vals(Box<ValsFn<T>>),
    /// Its results always have the declared types (the typed wrapper writes them).
    Raw(RawHost<T>),
}

/// A typed host function's closure, and the JIT's entry made for the closure's type, so
/// that generated code calls it without dynamic dispatch (`jit::tier`, "Host calls").
pub(crate) struct RawHost<T> {
    f: Box<RawFn<T>>,
    #[cfg(feature = "jit")]
    entry: crate::runtime::vm::HostEntry,
}

impl<T> RawHost<T> {
    fn new<C>(f: C) -> RawHost<T>
    where
        C: Fn(Caller<'_, T>, &mut [u64]) -> Result<()> + Send + Sync + 'static,
    {
        RawHost {
            f: Box::new(f),
            #[cfg(feature = "jit")]
            entry: crate::jit::tier::direct_host_entry::<Store<T>, C>,
        }
    }

    /// Runs the closure: `slots` holds the arguments and receives the results.
    pub(crate) fn call(&self, caller: Caller<'_, T>, slots: &mut [u64]) -> Result<()> {
        (self.f)(caller, slots)
    }
}

/// The typed store's closures, as the JIT's direct host entry calls them.
#[cfg(feature = "jit")]
impl<T, C> crate::jit::tier::DirectHost<Store<T>> for C
where
    C: Fn(Caller<'_, T>, &mut [u64]) -> Result<()>,
{
    #[inline(always)]
    fn call(&self, store: &mut Store<T>, caller: u32, slots: &mut [u64]) -> Result<()> {
        let instance = Some(crate::Instance::new_handle(store.core.id(), caller));
        self(Caller { store, instance }, slots)
    }
}

#[cfg(feature = "jit")]
impl<T> HostFunc<T> {
    /// The entry and the data of the record generated code calls this function through
    /// (`runtime::vm::VMHostFunc`): a typed function's closure is called by the entry made
    /// for its type; one on [`Val`]s through the store.
    pub(crate) fn jit_entry(&self) -> (crate::runtime::vm::HostEntry, *const ()) {
        match &self.func {
            HostFnKind::Raw(raw) => (raw.entry, core::ptr::from_ref(&*raw.f).cast::<()>()),
            HostFnKind::Vals(_) => (crate::jit::tier::store_host_entry, core::ptr::null()),
        }
    }
}

/// A host function definition, not yet bound to a store.
pub(crate) struct HostFunc<T> {
    pub ty: FuncType,
    pub func: HostFnKind<T>,
}

impl<T> HostFunc<T> {
    /// Calls the function with [`Val`]s, checking the results' types.
    pub(crate) fn call_vals(
        &self,
        caller: Caller<'_, T>,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        match &self.func {
            HostFnKind::Vals(f) => {
                f(caller, params, results)?;
                for (i, (r, &t)) in results.iter().zip(self.ty.results()).enumerate() {
                    if r.ty() != t {
                        return Err(Error::host(alloc::format!(
                            "host function returned {} for result {i} of type {t}",
                            r.ty()
                        )));
                    }
                }
            }
            HostFnKind::Raw(f) => {
                let store = caller.store.core.id();
                let mut slots = vec![0u64; params.len().max(results.len())];
                for (slot, p) in slots.iter_mut().zip(params) {
                    *slot = p.to_raw(store)?;
                }
                f.call(caller, &mut slots)?;
                for ((r, &raw), &t) in results.iter_mut().zip(&slots).zip(self.ty.results()) {
                    *r = Val::from_raw(raw, t, store);
                }
            }
        }
        Ok(())
    }
}

/// A function (defined by Wasm or by the host) owned by a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Func {
    pub(crate) store: StoreId,
    pub(crate) index: u32,
}

/// The result of a resumable call: finished, or suspended with a way to go on.
#[derive(Debug)]
pub enum ResumableCall {
    /// The call returned; its results were written.
    Finished,
    /// The store's fuel ran out. Add fuel ([`Store::set_fuel`]) and resume with no host
    /// results.
    OutOfFuel(ResumableInvocation),
    /// A host function returned [`Error::host_yield`]. Resume with that host function's
    /// results.
    HostYield(ResumableInvocation),
}

/// A suspended call. Resuming continues exactly where execution stopped.
#[derive(Debug)]
pub struct ResumableInvocation {
    state: Suspended,
    store: StoreId,
    ty: FuncType,
    /// For a host yield: the tag, the yielding host function's type and where its
    /// results go.
    yielded: Option<(u64, FuncType, usize)>,
}

/// The suspended state of a call, as the tier that ran it keeps it.
#[derive(Debug)]
enum Suspended {
    /// The interpreter's stack: value slots and frames, the pc saved in the top frame.
    Interp(Box<Stack>),
    /// The JIT's fiber (its native stack), values buffer and libcall state. A fiber is
    /// resumed on the thread that made it, so with the `jit` feature a suspended call is
    /// not `Send`. Dropping it frees the fiber's stack.
    #[cfg(feature = "jit")]
    Jit(Box<JitCall>),
}

impl ResumableInvocation {
    /// The tag the host function yielded with, if this is a host yield.
    pub fn yield_tag(&self) -> Option<u64> {
        self.yielded.as_ref().map(|y| y.0)
    }

    /// The result types the yielding host function owes when resuming (empty for fuel).
    pub fn host_result_types(&self) -> &[ValType] {
        self.yielded.as_ref().map_or(&[], |y| y.1.results())
    }

    /// Continues the call. `host_results` are the yielding host function's results (empty
    /// after running out of fuel); `results` receives the call's results when it finishes.
    ///
    /// # Errors
    /// A trap, a wrong store, or host results that don't match the host function's type.
    pub fn resume<T>(
        mut self,
        mut store: impl AsContextMut<Data = T>,
        host_results: &[Val],
        results: &mut [Val],
    ) -> Result<ResumableCall> {
        let store = store.as_context_mut().0;
        store.core.id().check(self.store)?;
        check_results_len(&self.ty, results)?;
        #[cfg(feature = "jit")]
        if let Suspended::Jit(call) = &mut self.state {
            match &self.yielded {
                Some((_, ty, _)) => write_host_results(
                    store.core.id(),
                    ty.results(),
                    host_results,
                    call.host_result_slots(),
                )?,
                None if !host_results.is_empty() => {
                    return Err(Error::usage(
                        "host results given to resume a call that ran out of fuel",
                    ));
                }
                None => {}
            }
            let Suspended::Jit(call) = self.state else {
                unreachable!("matched above")
            };
            return finish_jit(store, *call, self.ty, results);
        }
        #[cfg_attr(
            not(feature = "jit"),
            expect(irrefutable_let_patterns, reason = "one tier without the jit feature")
        )]
        let Suspended::Interp(stack) = &mut self.state else {
            unreachable!("the JIT's state was handled above")
        };
        match &self.yielded {
            Some((_, ty, at)) => {
                stack.supply_host_results(store.core.id(), ty.results(), *at, host_results)?
            }
            None if !host_results.is_empty() => {
                return Err(Error::usage(
                    "host results given to resume a call that ran out of fuel",
                ));
            }
            None => {}
        }
        #[cfg_attr(
            not(feature = "jit"),
            expect(irrefutable_let_patterns, reason = "one tier without the jit feature")
        )]
        let Suspended::Interp(stack) = self.state else {
            unreachable!("the JIT's state was handled above")
        };
        finish(store, stack, self.ty, results, true)
    }
}

/// Checks a yielded host function's results against its result `types` and writes them
/// raw into `slot(i)`.
#[cfg(feature = "jit")]
fn write_host_results(
    store: StoreId,
    types: &[ValType],
    results: &[Val],
    slots: &mut [u64],
) -> Result<()> {
    if results.len() != types.len() {
        return Err(Error::usage(alloc::format!(
            "expected {} host results to resume with, got {}",
            types.len(),
            results.len()
        )));
    }
    for (i, (v, &ty)) in results.iter().zip(types).enumerate() {
        if v.ty() != ty {
            return Err(Error::usage(alloc::format!(
                "host result {i} has type {}, expected {ty}",
                v.ty()
            )));
        }
        let raw = v.to_raw(store)?;
        *slots
            .get_mut(i)
            .ok_or_else(|| Error::usage("host results do not fit the call's slots"))? = raw;
    }
    Ok(())
}

/// Runs a JIT call and turns the outcome into a [`ResumableCall`] or an error. A call that
/// suspends is boxed and made to hold its code (it may outlive the store).
#[cfg(feature = "jit")]
fn finish_jit<T>(
    store: &mut Store<T>,
    mut call: JitCall,
    ty: FuncType,
    results: &mut [Val],
) -> Result<ResumableCall> {
    let id = store.core.id();
    let yielded = match call.run(store)? {
        JitOutcome::Done => {
            for ((r, &raw), &t) in results.iter_mut().zip(call.results()).zip(ty.results()) {
                *r = Val::from_raw(raw, t, id);
            }
            return Ok(ResumableCall::Finished);
        }
        JitOutcome::OutOfFuel => None,
        JitOutcome::Yield { tag, func } => Some((tag, store.core.func_type(func).clone(), 0)),
    };
    call.keep_code(&store.core, store.engine());
    let suspended = ResumableInvocation {
        state: Suspended::Jit(Box::new(call)),
        store: id,
        ty,
        yielded,
    };
    Ok(if suspended.yielded.is_some() {
        ResumableCall::HostYield(suspended)
    } else {
        ResumableCall::OutOfFuel(suspended)
    })
}

fn check_results_len(ty: &FuncType, results: &[Val]) -> Result<()> {
    if results.len() != ty.results().len() {
        return Err(Error::usage(alloc::format!(
            "function returns {} values but {} result slots were given",
            ty.results().len(),
            results.len()
        )));
    }
    Ok(())
}

/// The outcome of a call that cannot be suspended: its results are ready, or an error
/// (running out of fuel and a host yield become errors).
fn finished(outcome: Result<Outcome>) -> Result<()> {
    match outcome? {
        Outcome::Done => Ok(()),
        Outcome::OutOfFuel => Err(Error::trap(crate::TrapCode::OutOfFuel)),
        Outcome::Yield { tag, .. } => Err(Error::host_yield(tag)),
    }
}

/// Runs `stack` and turns the outcome into a [`ResumableCall`] or an error.
fn finish<T>(
    store: &mut Store<T>,
    mut stack: Box<Stack>,
    ty: FuncType,
    results: &mut [Val],
    resumable: bool,
) -> Result<ResumableCall> {
    let outcome = exec::run(store, &mut stack);
    let id = store.core.id();
    let yielded = match outcome {
        Ok(Outcome::OutOfFuel) if resumable => None,
        Ok(Outcome::Yield {
            tag,
            func,
            results_at,
        }) if resumable => Some((tag, store.core.func_type(func).clone(), results_at)),
        other => {
            let result = finished(other).map(|()| {
                stack.results(ty.results(), id, results);
                ResumableCall::Finished
            });
            store.stack_cache = Some(stack);
            return result;
        }
    };
    let suspended = ResumableInvocation {
        state: Suspended::Interp(stack),
        store: id,
        ty,
        yielded,
    };
    Ok(if suspended.yielded.is_some() {
        ResumableCall::HostYield(suspended)
    } else {
        ResumableCall::OutOfFuel(suspended)
    })
}

impl Func {
    /// A host function of type `ty` implemented by `func`, which receives the arguments and
    /// writes the results.
    pub fn new<T>(
        mut store: impl AsContextMut<Data = T>,
        ty: FuncType,
        func: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<()> + Send + Sync + 'static,
    ) -> Func {
        let host = HostFunc {
            ty,
            func: HostFnKind::Vals(Box::new(func)),
        };
        Func::from_host(store.as_context_mut().0, Arc::new(host))
    }

    /// A host function from a Rust closure whose parameter and result types give the Wasm
    /// type; it may take a [`Caller`] first.
    pub fn wrap<T, Params, Results>(
        mut store: impl AsContextMut<Data = T>,
        func: impl IntoFunc<T, Params, Results>,
    ) -> Func {
        let host = func.into_host_func().into_inner();
        Func::from_host(store.as_context_mut().0, Arc::new(host))
    }

    pub(crate) fn from_host<T>(store: &mut Store<T>, host: Arc<HostFunc<T>>) -> Func {
        let index = store.push_host_func(host);
        Func {
            store: store.core.id(),
            index,
        }
    }

    /// The function's type.
    ///
    /// # Errors
    /// If the function belongs to another store.
    pub fn ty(&self, store: impl AsContext) -> Result<FuncType> {
        let store = store.as_context().0;
        store.core.id().check(self.store)?;
        Ok(store.core.func_type(self.index).clone())
    }

    /// Calls the function with `params`, writing its results to `results`.
    ///
    /// # Errors
    /// A trap, a wrong store, or arguments or result slots that don't match the type.
    /// Running out of fuel is a [`crate::TrapCode::OutOfFuel`] trap here; use
    /// [`Func::call_resumable`] to suspend instead.
    pub fn call(
        &self,
        mut store: impl AsContextMut,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<()> {
        self.call_impl(store.as_context_mut().0, params, results, false)
            .map(|_| ())
    }

    /// Calls the function; running out of fuel or a host yield suspends the call and
    /// returns a [`ResumableInvocation`] to continue it.
    ///
    /// # Errors
    /// A trap, a wrong store, or arguments or result slots that don't match the type.
    pub fn call_resumable(
        &self,
        mut store: impl AsContextMut,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<ResumableCall> {
        self.call_impl(store.as_context_mut().0, params, results, true)
    }

    fn call_impl<T>(
        &self,
        store: &mut Store<T>,
        params: &[Val],
        results: &mut [Val],
        resumable: bool,
    ) -> Result<ResumableCall> {
        store.core.id().check(self.store)?;
        let ty = store.core.func_type(self.index).clone();
        if params.len() != ty.params().len() {
            return Err(Error::usage(alloc::format!(
                "function expects {} arguments, got {}",
                ty.params().len(),
                params.len()
            )));
        }
        for (i, (p, &t)) in params.iter().zip(ty.params()).enumerate() {
            if p.ty() != t {
                return Err(Error::usage(alloc::format!(
                    "argument {i} has type {}, expected {t}",
                    p.ty()
                )));
            }
        }
        check_results_len(&ty, results)?;
        #[cfg(feature = "jit")]
        store.auto_switch();
        match store.core.func(self.index).kind() {
            FuncKind::Host(host) => {
                let func = Arc::clone(store.host_func(host));
                for p in params {
                    p.to_raw(store.core.id())?;
                }
                for (r, &t) in results.iter_mut().zip(ty.results()) {
                    *r = Val::default_for(t);
                }
                let caller = Caller {
                    store,
                    instance: None,
                };
                func.call_vals(caller, params, results)?;
                Ok(ResumableCall::Finished)
            }
            #[cfg(feature = "jit")]
            FuncKind::Wasm { .. } if is_jit_func(&store.core, self.index) => {
                let id = store.core.id();
                let write_args = |slots: &mut [u64]| {
                    for (s, p) in slots.iter_mut().zip(params) {
                        *s = p.to_raw(id)?;
                    }
                    Ok(())
                };
                if resumable {
                    let fuel = store.engine().config().consume_fuel;
                    let call = JitCall::new(&store.core, self.index, fuel, write_args)?;
                    return finish_jit(store, call, ty, results);
                }
                let width = ty.params().len().max(ty.results().len()).max(1);
                let mut slots = RawSlots::new(width);
                write_args(slots.as_mut())?;
                let fuel = store.engine().config().consume_fuel;
                call_plain(store, self.index, fuel, slots.as_mut())?;
                for ((r, &raw), &t) in results
                    .iter_mut()
                    .zip(slots.as_mut().iter())
                    .zip(ty.results())
                {
                    *r = Val::from_raw(raw, t, id);
                }
                Ok(ResumableCall::Finished)
            }
            FuncKind::Wasm { instance, def } => {
                let mut stack = store.stack_cache.take().unwrap_or_default();
                if let Err(e) = stack.start(&store.core, instance, def, params, results.len()) {
                    store.stack_cache = Some(stack);
                    return Err(e);
                }
                finish(store, stack, ty, results, resumable)
            }
        }
    }

    /// A typed view of this function.
    ///
    /// # Errors
    /// If `Params` and `Results` don't match the function's type, or a wrong store.
    pub fn typed<Params: WasmTyList, Results: WasmTyList>(
        &self,
        store: impl AsContext,
    ) -> Result<TypedFunc<Params, Results>> {
        let ty = self.ty(store)?;
        let expected = FuncType::new(Params::valtypes(), Results::valtypes());
        if ty != expected {
            return Err(Error::usage(alloc::format!(
                "function has type {ty}, not {expected}"
            )));
        }
        Ok(TypedFunc {
            func: *self,
            _marker: PhantomData,
        })
    }
}

/// A function with a statically known type: arguments and results are Rust values.
pub struct TypedFunc<Params, Results> {
    func: Func,
    _marker: PhantomData<fn(Params) -> Results>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P, R> Copy for TypedFunc<P, R> {}

impl<P, R> core::fmt::Debug for TypedFunc<P, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("TypedFunc").field(&self.func).finish()
    }
}

impl<Params: WasmTyList, Results: WasmTyList> TypedFunc<Params, Results> {
    /// The untyped function.
    pub fn func(&self) -> &Func {
        &self.func
    }

    /// Calls the function.
    ///
    /// # Errors
    /// As [`Func::call`].
    pub fn call(&self, mut store: impl AsContextMut, params: Params) -> Result<Results> {
        let store = store.as_context_mut().0;
        store.core.id().check(self.func.store)?;
        // A Wasm function runs from raw slots: `typed` checked the types once, so neither
        // the arguments nor the results go through `Val`s.
        #[cfg(feature = "jit")]
        store.auto_switch();
        #[cfg(feature = "jit")]
        if is_jit_func(&store.core, self.func.index) {
            let id = store.core.id();
            let mut slots = RawSlots::new(Params::LEN.max(Results::LEN).max(1));
            params.into_raws(slots.as_mut(), id)?;
            let fuel = store.engine().config().consume_fuel;
            call_plain(store, self.func.index, fuel, slots.as_mut())?;
            return Ok(Results::from_raws(slots.as_mut(), id));
        }
        if let FuncKind::Wasm { instance, def } = store.core.func(self.func.index).kind() {
            let id = store.core.id();
            let mut stack = store.stack_cache.take().unwrap_or_default();
            let started = stack.start_raw(&store.core, instance, def, Results::LEN, |slots| {
                params.into_raws(slots, id)
            });
            let outcome = started.and_then(|()| exec::run(store, &mut stack));
            let results = finished(outcome).map(|()| Results::from_raws(stack.raw_results(), id));
            store.stack_cache = Some(stack);
            return results;
        }
        // Arguments and results live on the host stack unless there are many.
        const INLINE: usize = 16;
        let mut inline = [Val::I32(0); INLINE];
        let mut heap = Vec::new();
        let buf = if Params::LEN + Results::LEN <= INLINE {
            &mut inline[..Params::LEN + Results::LEN]
        } else {
            heap.resize(Params::LEN + Results::LEN, Val::I32(0));
            &mut heap[..]
        };
        let (args, results) = buf.split_at_mut(Params::LEN);
        params.into_vals(args);
        self.func.call(&mut *store, args, results)?;
        Results::from_vals(results).ok_or_else(|| Error::usage("result type mismatch"))
    }
}

/// A plain JIT call's raw values: on the host stack unless there are many.
#[cfg(feature = "jit")]
enum RawSlots {
    Inline([u64; 8], usize),
    Heap(Vec<u64>),
}

#[cfg(feature = "jit")]
impl RawSlots {
    #[inline]
    fn new(width: usize) -> RawSlots {
        if width <= 8 {
            RawSlots::Inline([0; 8], width)
        } else {
            RawSlots::Heap(vec![0; width])
        }
    }

    #[inline]
    fn as_mut(&mut self) -> &mut [u64] {
        match self {
            RawSlots::Inline(v, n) => &mut v[..*n],
            RawSlots::Heap(v) => v,
        }
    }
}

/// A Rust type that stands for one Wasm value type.
pub trait WasmTy: Sized + Send + 'static {
    /// The Wasm type.
    fn valtype() -> ValType;
    /// Into a [`Val`].
    fn to_val(self) -> Val;
    /// From a [`Val`] of the right type.
    fn from_val(val: Val) -> Option<Self>;

    /// From a raw slot value of this type in `store`.
    #[doc(hidden)]
    fn from_raw(raw: u64, store: StoreId) -> Self {
        match Self::from_val(Val::from_raw(raw, Self::valtype(), store)) {
            Some(v) => v,
            None => unreachable!("a raw value decodes to its own type"),
        }
    }

    /// Into a raw slot value, checking that a reference belongs to `store`.
    #[doc(hidden)]
    fn into_raw(self, store: StoreId) -> Result<u64> {
        self.to_val().to_raw(store)
    }
}

macro_rules! wasm_ty {
    ($($t:ty => $vt:ident, $to:expr, $from:expr;)*) => {$(
        impl WasmTy for $t {
            fn valtype() -> ValType {
                ValType::$vt
            }
            fn to_val(self) -> Val {
                let to: fn($t) -> Val = $to;
                to(self)
            }
            fn from_val(val: Val) -> Option<Self> {
                let from: fn(Val) -> Option<$t> = $from;
                from(val)
            }
        }
    )*};
}

/// Numbers convert to and from raw slots directly (the slot format of `Val::to_raw`: i32
/// and f32 bits zero-extended), without going through a [`Val`]: the typed calls and host
/// functions do this once per value.
macro_rules! wasm_num {
    ($($t:ty => $vt:ident, $to:expr, $from:expr, $from_raw:expr, $to_raw:expr;)*) => {$(
        impl WasmTy for $t {
            fn valtype() -> ValType {
                ValType::$vt
            }
            fn to_val(self) -> Val {
                let to: fn($t) -> Val = $to;
                to(self)
            }
            fn from_val(val: Val) -> Option<Self> {
                let from: fn(Val) -> Option<$t> = $from;
                from(val)
            }
            #[inline]
            fn from_raw(raw: u64, _store: StoreId) -> Self {
                let from: fn(u64) -> $t = $from_raw;
                from(raw)
            }
            #[inline]
            fn into_raw(self, _store: StoreId) -> Result<u64> {
                let to: fn($t) -> u64 = $to_raw;
                Ok(to(self))
            }
        }
    )*};
}

wasm_num! {
    i32 => I32, Val::I32, |v| v.i32(), |r| r as u32 as i32, |v| u64::from(v as u32);
    u32 => I32, |v| Val::I32(v as i32), |v| v.i32().map(|x| x as u32), |r| r as u32, u64::from;
    i64 => I64, Val::I64, |v| v.i64(), |r| r as i64, |v| v as u64;
    u64 => I64, |v| Val::I64(v as i64), |v| v.i64().map(|x| x as u64), |r| r, |v| v;
    f32 => F32, Val::from_f32, |v| v.f32(), |r| f32::from_bits(r as u32), |v| u64::from(v.to_bits());
    f64 => F64, Val::from_f64, |v| v.f64(), f64::from_bits, f64::to_bits;
}

wasm_ty! {
    Option<Func> => FuncRef, Val::FuncRef, |v| v.funcref();
    Option<ExternRef> => ExternRef, Val::ExternRef, |v| v.externref();
}

/// A list of Wasm values as Rust values: one [`WasmTy`], or a tuple of them. The
/// parameters and results of [`TypedFunc`] and of host closures.
pub trait WasmTyList: Sized + Send + 'static {
    /// How many values.
    const LEN: usize;
    /// Their Wasm types.
    fn valtypes() -> Vec<ValType>;
    /// Writes the values to `out` (of length `LEN`).
    fn into_vals(self, out: &mut [Val]);
    /// Reads the values, if their types match.
    fn from_vals(vals: &[Val]) -> Option<Self>;
    /// Reads the values from raw slots of `store` (at least `LEN` of them).
    #[doc(hidden)]
    fn from_raws(raws: &[u64], store: StoreId) -> Self;
    /// Writes the values as raw slots (at least `LEN` of them).
    #[doc(hidden)]
    fn into_raws(self, out: &mut [u64], store: StoreId) -> Result<()>;
}

impl<A: WasmTy> WasmTyList for A {
    const LEN: usize = 1;
    fn valtypes() -> Vec<ValType> {
        vec![A::valtype()]
    }
    fn into_vals(self, out: &mut [Val]) {
        out[0] = self.to_val();
    }
    fn from_vals(vals: &[Val]) -> Option<Self> {
        match vals {
            [v] => A::from_val(*v),
            _ => None,
        }
    }
    fn from_raws(raws: &[u64], store: StoreId) -> Self {
        A::from_raw(raws[0], store)
    }
    fn into_raws(self, out: &mut [u64], store: StoreId) -> Result<()> {
        out[0] = self.into_raw(store)?;
        Ok(())
    }
}

macro_rules! count {
    () => { 0 };
    ($x:ident $($rest:ident)*) => { 1 + count!($($rest)*) };
}

macro_rules! tuple_list {
    ($($a:ident)*) => {
        #[allow(non_snake_case, reason = "type parameter names double as variable names")]
        impl<$($a: WasmTy,)*> WasmTyList for ($($a,)*) {
            const LEN: usize = count!($($a)*);
            fn valtypes() -> Vec<ValType> {
                vec![$($a::valtype()),*]
            }
            #[allow(unused_variables, unused_mut, reason = "empty tuple")]
            fn into_vals(self, out: &mut [Val]) {
                let ($($a,)*) = self;
                let mut i = 0;
                $(out[i] = $a.to_val(); i += 1;)*
                let _ = i;
            }
            #[allow(unused_variables, unused_mut, reason = "empty tuple")]
            fn from_vals(vals: &[Val]) -> Option<Self> {
                if vals.len() != Self::LEN {
                    return None;
                }
                let mut it = vals.iter();
                Some(($($a::from_val(*it.next()?)?,)*))
            }
            #[allow(unused_variables, unused_mut, clippy::unused_unit, reason = "empty tuple")]
            fn from_raws(raws: &[u64], store: StoreId) -> Self {
                let mut i = 0;
                ($({ i += 1; $a::from_raw(raws[i - 1], store) },)*)
            }
            #[allow(unused_variables, unused_mut, reason = "empty tuple")]
            fn into_raws(self, out: &mut [u64], store: StoreId) -> Result<()> {
                let ($($a,)*) = self;
                let mut i = 0;
                $(out[i] = $a.into_raw(store)?; i += 1;)*
                let _ = i;
                Ok(())
            }
        }
    };
}

tuple_list!();
tuple_list!(A1);
tuple_list!(A1 A2);
tuple_list!(A1 A2 A3);
tuple_list!(A1 A2 A3 A4);
tuple_list!(A1 A2 A3 A4 A5);
tuple_list!(A1 A2 A3 A4 A5 A6);
tuple_list!(A1 A2 A3 A4 A5 A6 A7);
tuple_list!(A1 A2 A3 A4 A5 A6 A7 A8);
tuple_list!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
tuple_list!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
tuple_list!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
tuple_list!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

/// What a host closure may return: values, or a `Result` of them.
pub trait WasmRet {
    /// The Wasm result types.
    fn valtypes() -> Vec<ValType>;
    /// Writes the results, or passes on the host's error.
    fn into_results(self, out: &mut [Val]) -> Result<()>;
    /// Writes the results as raw slots of `store`, or passes on the host's error.
    #[doc(hidden)]
    fn into_raw_results(self, out: &mut [u64], store: StoreId) -> Result<()>;
}

impl<R: WasmTyList> WasmRet for R {
    fn valtypes() -> Vec<ValType> {
        R::valtypes()
    }
    fn into_results(self, out: &mut [Val]) -> Result<()> {
        self.into_vals(out);
        Ok(())
    }
    fn into_raw_results(self, out: &mut [u64], store: StoreId) -> Result<()> {
        self.into_raws(out, store)
    }
}

impl<R: WasmTyList> WasmRet for Result<R> {
    fn valtypes() -> Vec<ValType> {
        R::valtypes()
    }
    fn into_results(self, out: &mut [Val]) -> Result<()> {
        self?.into_vals(out);
        Ok(())
    }
    fn into_raw_results(self, out: &mut [u64], store: StoreId) -> Result<()> {
        self?.into_raws(out, store)
    }
}

/// Rust closures usable as host functions: `Fn(A1, ..., An) -> R` or
/// `Fn(Caller<'_, T>, A1, ..., An) -> R`, with `Ai: WasmTy` and `R: WasmRet`.
pub trait IntoFunc<T, Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_host_func(self) -> HostFuncDef<T>;
}

/// A host function definition made by [`IntoFunc`]; opaque.
pub struct HostFuncDef<T>(pub(crate) HostFunc<T>);

impl<T> HostFuncDef<T> {
    pub(crate) fn into_inner(self) -> HostFunc<T> {
        self.0
    }
}

macro_rules! into_func {
    ($($a:ident)*) => {
        #[allow(non_snake_case, reason = "type parameter names double as variable names")]
        impl<T, F, R, $($a,)*> IntoFunc<T, ($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
            $($a: WasmTy,)*
        {
            fn into_host_func(self) -> HostFuncDef<T> {
                let ty = FuncType::new([$($a::valtype()),*], R::valtypes());
                HostFuncDef(HostFunc {
                    ty,
                    func: HostFnKind::Raw(RawHost::new(move |caller: Caller<'_, T>, slots: &mut [u64]| {
                        let store = caller.store.core.id();
                        let ($($a,)*) = <($($a,)*) as WasmTyList>::from_raws(slots, store);
                        (self)($($a),*).into_raw_results(slots, store)
                    })),
                })
            }
        }

        #[allow(non_snake_case, reason = "type parameter names double as variable names")]
        impl<T, F, R, $($a,)*> IntoFunc<T, (Caller<'_, T>, $($a,)*), R> for F
        where
            F: Fn(Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            R: WasmRet,
            $($a: WasmTy,)*
        {
            fn into_host_func(self) -> HostFuncDef<T> {
                let ty = FuncType::new([$($a::valtype()),*], R::valtypes());
                HostFuncDef(HostFunc {
                    ty,
                    func: HostFnKind::Raw(RawHost::new(move |caller: Caller<'_, T>, slots: &mut [u64]| {
                        let store = caller.store.core.id();
                        let ($($a,)*) = <($($a,)*) as WasmTyList>::from_raws(slots, store);
                        (self)(caller, $($a),*).into_raw_results(slots, store)
                    })),
                })
            }
        }
    };
}

into_func!();
into_func!(A1);
into_func!(A1 A2);
into_func!(A1 A2 A3);
into_func!(A1 A2 A3 A4);
into_func!(A1 A2 A3 A4 A5);
into_func!(A1 A2 A3 A4 A5 A6);
into_func!(A1 A2 A3 A4 A5 A6 A7);
into_func!(A1 A2 A3 A4 A5 A6 A7 A8);
into_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
into_func!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
