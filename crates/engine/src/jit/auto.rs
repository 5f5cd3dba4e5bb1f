//! [`crate::Strategy::Auto`]: a module's JIT code arriving after the module, and stores
//! switching from the interpreter to the JIT.
//!
//! # The module's side
//! An Auto module has the interpreter's code and a [`JitSlot`]. `Module::new` fills the slot
//! from the code cache ([`load_cached`]) or starts a background thread that compiles the
//! module and fills it when done, then writes the cache entry. Background compiles run one
//! at a time (each on the compiler's threads: all cores but one). The thread holds only a
//! weak reference until it starts compiling: a module dropped before then is never
//! compiled; one dropped during the compile lives until the compile ends, and the thread
//! drops it then. A panic in the compiler leaves the slot set to an error, not empty.
//!
//! # The store's side
//! JIT code calls the functions of other instances through the store's function records
//! (imports, `call_indirect`) and cannot call interpreted code, so a store switches all at
//! once ([`try_switch`]): when every instance's module has its code, each instance gets its
//! `VMContext` (in instance order, so an instance's imports have their JIT code before it)
//! and its functions' records point at their code; from then on `is_jit_func` holds for
//! every Wasm function of the store and host-to-Wasm calls run on the JIT.
//!
//! # Invariants (cited as `auto.N`)
//! 1. In a store whose [`AutoState`] is not `Switched`, no JIT code of the store has run,
//!    and no Wasm function record has JIT code (so a half-done switch can be undone).
//! 2. In a `Switched` store every instance has JIT code: [`try_switch`] upgrades all of them
//!    or none, and instantiating into a switched store waits for the module's code and fails
//!    if there is none, before the new instance's functions can be reached from any table.
extern crate std;

use alloc::string::String;
use std::sync::OnceLock;

use super::cache;
use super::tier::{self, JitCode, JitEngine};
use crate::error::{Error, Result};
use crate::module::ModuleInfo;
use crate::runtime::{FuncKind, StoreCore};
use crate::{CodeCache, Module};

/// Where an Auto module's JIT code arrives: set once, to the code or to why there is none.
#[derive(Default)]
pub(crate) struct JitSlot {
    code: OnceLock<core::result::Result<JitCode, String>>,
}

impl JitSlot {
    /// The code, once it is ready.
    pub fn get(&self) -> Option<&JitCode> {
        self.code.get().and_then(|r| r.as_ref().ok())
    }

    /// Whether the slot is set: `None` while the compile runs, else whether there is code.
    pub fn state(&self) -> Option<bool> {
        self.code.get().map(|r| r.is_ok())
    }

    /// Waits until the slot is set; the code, or why there is none.
    pub fn wait(&self) -> core::result::Result<&JitCode, &str> {
        self.code.wait().as_ref().map_err(String::as_str)
    }

    /// Sets the slot (the first setting wins).
    pub fn set(&self, code: Result<JitCode>) {
        let _ = self.code.set(code.map_err(|e| alloc::format!("{e}")));
    }
}

/// The cache key material of a module for `jit`: its fingerprint and key.
pub(crate) fn cache_key(jit: &JitEngine, info: &ModuleInfo) -> (String, String) {
    let fp = cache::fingerprint(&jit.fingerprint());
    let key = cache::key(&fp, &info.bytes);
    (fp, key)
}

/// The module's code from `cache`, if it has an intact entry for it.
pub(crate) fn load_cached(
    jit: &JitEngine,
    cache: &dyn CodeCache,
    (fp, key): &(String, String),
    info: &ModuleInfo,
) -> Option<JitCode> {
    let entry = cache.get(key)?;
    let compiled = cache::decode(
        &entry,
        fp,
        &info.bytes,
        info.num_imported_funcs,
        info.num_defined_funcs(),
    )?;
    JitCode::load(compiled, jit).ok()
}

/// Compiles the module and publishes its code into `slot`, then writes it to `cache`
/// (after the slot, so that stores need not wait for the file system).
pub(crate) fn compile_into(
    jit: &JitEngine,
    info: &ModuleInfo,
    slot: &JitSlot,
    cache: Option<(&dyn CodeCache, &(String, String))>,
) {
    let code = tier::compile_blob(jit, info).and_then(|c| JitCode::load(c, jit));
    let entry = match (&code, cache) {
        (Ok(code), Some((_, (fp, _)))) => Some(cache::encode(fp, &info.bytes, code.compiled())),
        _ => None,
    };
    slot.set(code);
    if let (Some(entry), Some((cache, (_, key)))) = (entry, cache) {
        cache.put(key, &entry);
    }
}

/// Whether a background compile is running, and the condition the others wait on: a
/// module compile uses the compiler's threads (all cores but one), so compiles of several
/// modules go one after another instead of competing with each other and the interpreter.
static COMPILES: (std::sync::Mutex<bool>, std::sync::Condvar) =
    (std::sync::Mutex::new(false), std::sync::Condvar::new());

/// The running background compile (see [`COMPILES`]); its turn ends on drop.
struct CompileTurn;

impl CompileTurn {
    fn take() -> CompileTurn {
        let (running, turn) = &COMPILES;
        let mut busy = running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *busy {
            busy = turn
                .wait(busy)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *busy = true;
        CompileTurn
    }
}

impl Drop for CompileTurn {
    fn drop(&mut self) {
        let (running, turn) = &COMPILES;
        *running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = false;
        turn.notify_one();
    }
}

/// Sets a slot that is still empty when the compile thread ends (a panic in the compiler),
/// so that nothing waits for it forever.
struct SetOnExit<'a>(&'a JitSlot);

impl Drop for SetOnExit<'_> {
    fn drop(&mut self) {
        self.0
            .set(Err(Error::compile("the JIT's compile thread panicked", 0)));
    }
}

/// Starts the background compile of `module` into its slot. The thread waits for its turn
/// ([`COMPILES`]) holding the module weakly: a module dropped meanwhile is never compiled.
pub(crate) fn start_background(
    engine: crate::Engine,
    module: alloc::sync::Weak<dyn AutoModule>,
    key: (String, String),
) {
    let on_failure = module.clone();
    let spawned = std::thread::Builder::new()
        .name("weft-jit".into())
        .spawn(move || {
            #[cfg(test)]
            let gate = engine.config().auto_gate.clone();
            #[cfg(test)]
            let _held = gate.as_ref().map(|g| g.lock());
            let _turn = CompileTurn::take();
            let Some(module) = module.upgrade() else {
                return;
            };
            let (info, slot) = module.parts();
            let _exit = SetOnExit(slot);
            match engine.jit() {
                Ok(jit) => {
                    let cache = engine.config().code_cache.as_deref().map(|c| (c, &key));
                    compile_into(jit, info, slot, cache);
                }
                Err(e) => slot.set(Err(e)),
            }
        });
    if let Err(e) = spawned
        && let Some(module) = on_failure.upgrade()
    {
        // No thread, no code: the module stays on the interpreter.
        module.parts().1.set(Err(Error::compile(
            alloc::format!("cannot start the JIT's compile thread: {e}"),
            0,
        )));
    }
}

/// What the background compile needs of a module (its info and slot), so that it can hold
/// the module weakly.
pub(crate) trait AutoModule: Send + Sync {
    fn parts(&self) -> (&ModuleInfo, &JitSlot);
}

/// Where a store of an Auto engine is on its way to the JIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoState {
    /// Not an Auto store, or one that will never switch (a module without JIT code): all
    /// its calls are interpreted (or all are JIT, for a `Strategy::Jit` store).
    Off,
    /// Waiting for every instance's code (`auto.1`).
    Pending,
    /// On the JIT (`auto.2`).
    Switched,
}

/// The module of a store instance's JIT code, if ready; `Err` if it will never be.
fn instance_code(module: &Module) -> core::result::Result<Option<&JitCode>, ()> {
    match module.auto_slot() {
        Some(slot) => match slot.state() {
            None => Ok(None),
            Some(true) => Ok(slot.get()),
            Some(false) => Err(()),
        },
        // A module of the interpreter or of `Strategy::Jit` cannot be in an Auto store.
        None => Err(()),
    }
}

/// Switches a `Pending` store to the JIT if every instance's code is ready (`auto.2`);
/// the store's new state.
pub(crate) fn try_switch(core: &mut StoreCore, jit: &JitEngine) -> AutoState {
    let n = core.num_instances() as u32;
    for i in 0..n {
        match instance_code(core.instance(i).module()) {
            Ok(Some(_)) => {}
            Ok(None) => return AutoState::Pending,
            Err(()) => return AutoState::Off,
        }
    }
    // Host functions get their wasm-to-host trampolines now (a pending store's host
    // functions have none, see `Store::push_host_func`); one that fails to compile leaves
    // its record without code, and `instantiate` below refuses an instance importing it.
    for f in 0..core.num_funcs() {
        if let FuncKind::Host(host) = core.func(f).kind()
            && core.func(f).wasm_call.is_null()
            && let Ok(trampoline) = jit.host_trampoline(core.func_type(f))
        {
            core.set_host_code(f, host, trampoline);
        }
    }
    for i in 0..n {
        let module = core.instance(i).module().clone();
        let Ok(Some(code)) = instance_code(&module) else {
            return AutoState::Off;
        };
        if tier::instantiate(jit, core, i, code).is_err() {
            // An imported host function has no trampoline: undo (`auto.1`: nothing has run
            // the code yet) and stay on the interpreter.
            undo(core, i);
            return AutoState::Off;
        }
    }
    AutoState::Switched
}

/// Clears the JIT code of the Wasm functions of instances `..=last`.
fn undo(core: &mut StoreCore, last: u32) {
    for i in 0..=last {
        let funcs = core.instance(i).funcs().to_vec();
        for f in funcs {
            if let FuncKind::Wasm { instance, .. } = core.func(f).kind()
                && instance == i
            {
                core.set_func_code(
                    f,
                    core::ptr::null(),
                    core::ptr::null_mut(),
                    core::ptr::null(),
                );
            }
        }
    }
}

/// Gives a new instance of a switched store its JIT code, waiting for it (`auto.2`).
///
/// # Errors
/// The JIT has no code for the module.
pub(crate) fn instantiate_switched(
    jit: &JitEngine,
    core: &mut StoreCore,
    instance: u32,
) -> Result<()> {
    let module = core.instance(instance).module().clone();
    let slot = module
        .auto_slot()
        .ok_or_else(|| Error::instantiation("a module of another engine"))?;
    let code = slot.wait().map_err(|why| {
        Error::instantiation(alloc::format!(
            "this store runs on the JIT, which cannot run the module: {why}"
        ))
    })?;
    tier::instantiate(jit, core, instance, code)
}
