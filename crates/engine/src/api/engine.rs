//! [`Engine`] and its [`Config`].

use alloc::sync::Arc;

/// The WebAssembly proposals a module may use. The default is WebAssembly 2.0 without SIMD,
/// which is everything this engine implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Mutable imported and exported globals.
    pub mutable_global: bool,
    /// Sign-extension operators.
    pub sign_extension: bool,
    /// Non-trapping float-to-int conversions.
    pub saturating_float_to_int: bool,
    /// Multiple results and block parameters.
    pub multi_value: bool,
    /// Bulk memory and table operations and passive segments.
    pub bulk_memory: bool,
    /// `funcref`/`externref` values, several tables, table instructions.
    pub reference_types: bool,
}

impl Features {
    /// WebAssembly 2.0 without SIMD: the full set this engine supports.
    pub const WASM2: Features = Features {
        mutable_global: true,
        sign_extension: true,
        saturating_float_to_int: true,
        multi_value: true,
        bulk_memory: true,
        reference_types: true,
    };

    /// The WebAssembly 1.0 MVP.
    pub const MVP: Features = Features {
        mutable_global: false,
        sign_extension: false,
        saturating_float_to_int: false,
        multi_value: false,
        bulk_memory: false,
        reference_types: false,
    };

    pub(crate) fn to_wasmparser(self) -> wasmparser::WasmFeatures {
        use wasmparser::WasmFeatures as W;
        let mut f = W::MVP;
        f.set(W::MUTABLE_GLOBAL, self.mutable_global);
        f.set(W::SIGN_EXTENSION, self.sign_extension);
        f.set(W::SATURATING_FLOAT_TO_INT, self.saturating_float_to_int);
        f.set(W::MULTI_VALUE, self.multi_value);
        f.set(W::BULK_MEMORY, self.bulk_memory);
        f.set(W::REFERENCE_TYPES, self.reference_types);
        f
    }
}

impl Default for Features {
    fn default() -> Self {
        Features::WASM2
    }
}

/// Which tier runs the modules of an engine.
///
/// With [`Strategy::Interpreter`] or [`Strategy::Jit`] every module of an engine is compiled
/// for that tier, so a call from Wasm goes to Wasm code of the same tier or to a host
/// function, never across tiers. [`Strategy::Auto`] runs a module on the interpreter until
/// its JIT code is ready, then on the JIT.
///
/// The default ([`Strategy::default`]) is [`Strategy::Auto`] where this build and host have
/// the JIT ([`Strategy::jit_available`]), else [`Strategy::Interpreter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The threaded-code interpreter: starts at once, runs anywhere, every call resumable.
    Interpreter,
    /// The Cranelift JIT: compiles every function at [`crate::Module::new`]. Available with
    /// the crate feature `jit` on Unix hosts with an x86_64 or aarch64 CPU
    /// ([`Strategy::jit_available`]); fuel, resumable calls and host yields work as on the
    /// interpreter (each call runs on a fiber of its own). With the feature on, suspended
    /// calls ([`crate::ResumableInvocation`]) are not `Send`. Where the host allows it,
    /// every linear memory of the engine's stores reserves 6 GiB of address space (its
    /// 4 GiB index space and a guard region, committed only as it grows), so most accesses
    /// need no bounds check; a memory whose reservation fails is an ordinary one, and its
    /// instances run code with explicit checks.
    Jit,
    /// Start on the interpreter, switch to the JIT when its code is ready. `Module::new`
    /// translates for the interpreter (so a module starts as fast as on
    /// [`Strategy::Interpreter`]) and looks the module up in the engine's
    /// [`Config::code_cache`]: on a hit the JIT code is ready at once; on a miss a
    /// background thread compiles the module (leaving the machine's other cores to the
    /// interpreter), publishes the code and writes it to the cache.
    ///
    /// A store switches to the JIT all at once, at a call from the host into Wasm
    /// ([`crate::Func::call`], typed and resumable calls) once the JIT code of every module
    /// instantiated in it is ready: from then on such calls run on the JIT, and modules
    /// instantiated in that store later wait for their code. Calls already running stay on
    /// the interpreter until they return (so a `main` that never returns stays interpreted;
    /// a suspended [`crate::ResumableInvocation`] resumes on the tier that started it). A
    /// module the JIT cannot compile keeps its stores on the interpreter (instantiating it
    /// into a store that has already switched fails). Both tiers charge the same fuel for
    /// the same path, but the JIT checks it at fewer points (function entries and loop
    /// headers), so the instruction at which a call runs out may differ from the
    /// interpreter's (the results never do).
    ///
    /// A small module is compiled in `Module::new` instead, on a cache miss, so that its
    /// first call runs compiled (see [`Config::auto_compile_at_load`]).
    ///
    /// Where this build or host has no JIT ([`Strategy::jit_available`]) `Auto` is the
    /// interpreter.
    Auto,
}

impl Default for Strategy {
    /// [`Strategy::Auto`] where the JIT is available, else [`Strategy::Interpreter`].
    fn default() -> Self {
        if Strategy::jit_available() {
            Strategy::Auto
        } else {
            Strategy::Interpreter
        }
    }
}

impl Strategy {
    /// Whether this build can run [`Strategy::Jit`] on this host.
    pub fn jit_available() -> bool {
        #[cfg(feature = "jit")]
        {
            crate::jit::tier::AVAILABLE
        }
        #[cfg(not(feature = "jit"))]
        {
            false
        }
    }
}

/// Where [`Strategy::Auto`] keeps compiled code between runs: raw entries by key. The
/// engine writes and checks the entries (a format header, the configuration the code was
/// compiled for, the module's bytes in full, lengths and a checksum) and treats any entry
/// that does not check out as a miss, so an implementation only stores bytes.
///
/// The store is trusted like the binary itself: an entry that checks out is mapped and run
/// as native code, so whoever can write it can run native code as this process. Keep it
/// writable only by the user running weft.
pub trait CodeCache: Send + Sync + core::fmt::Debug {
    /// The entry stored under `key` (32 hex digits), if there is one.
    fn get(&self, key: &str) -> Option<alloc::vec::Vec<u8>>;
    /// Stores `bytes` under `key`, replacing any entry; failures are ignored (a cache is an
    /// optimisation).
    fn put(&self, key: &str, bytes: &[u8]);
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) features: Features,
    pub(crate) consume_fuel: bool,
    pub(crate) fuse_instructions: bool,
    pub(crate) max_call_depth: u32,
    pub(crate) max_stack_slots: usize,
    pub(crate) strategy: Strategy,
    pub(crate) code_cache: Option<Arc<dyn CodeCache>>,
    pub(crate) auto_compile_at_load: usize,
    /// Tests hold this lock to keep Auto's background compiles from starting.
    #[cfg(all(test, feature = "jit"))]
    pub(crate) auto_gate: Option<Arc<std::sync::Mutex<()>>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            features: Features::default(),
            consume_fuel: false,
            fuse_instructions: true,
            max_call_depth: 10_000,
            max_stack_slots: 1 << 20,
            strategy: Strategy::default(),
            code_cache: None,
            auto_compile_at_load: 256 << 10,
            #[cfg(all(test, feature = "jit"))]
            auto_gate: None,
        }
    }
}

impl Config {
    /// The default configuration: WebAssembly 2.0 without SIMD, no fuel, a call depth of
    /// 10,000 frames and a value stack of 2^20 slots (8 MiB).
    pub fn new() -> Self {
        Self::default()
    }

    /// Which proposals modules may use.
    pub fn features(&mut self, features: Features) -> &mut Self {
        self.features = features;
        self
    }

    /// Whether execution consumes fuel (see [`crate::Store::set_fuel`]). A store starts with
    /// no fuel, so a call runs out at once unless fuel is set. Costs a little speed.
    pub fn consume_fuel(&mut self, enable: bool) -> &mut Self {
        self.consume_fuel = enable;
        self
    }

    /// Whether the translator fuses adjacent instructions (a result stored by `local.set`,
    /// compare-and-branch, address arithmetic into loads and stores), passes results to
    /// the next instruction through the executor's accumulator register and turns constant
    /// operands into immediates. On by default; turning it off gives a plainer translation
    /// of the same semantics, which tests compare against.
    pub fn fuse_instructions(&mut self, enable: bool) -> &mut Self {
        self.fuse_instructions = enable;
        self
    }

    /// Which tier runs the engine's modules (default [`Strategy::Auto`] where the JIT is
    /// available, else [`Strategy::Interpreter`]: [`Strategy::default`]).
    ///
    /// # Errors
    /// [`Strategy::Jit`] where this build or host has no JIT (see
    /// [`Strategy::jit_available`]): the engine never falls back silently. ([`Strategy::Auto`]
    /// is the interpreter there, as documented.)
    pub fn strategy(&mut self, strategy: Strategy) -> crate::Result<&mut Self> {
        if strategy == Strategy::Jit && !Strategy::jit_available() {
            return Err(crate::Error::usage(if cfg!(feature = "jit") {
                "the JIT does not support this host (it needs Unix on x86_64 or aarch64)"
            } else {
                "the JIT is not built in: enable the `jit` feature of weft-engine"
            }));
        }
        self.strategy = strategy;
        Ok(self)
    }

    /// With [`Strategy::Auto`]: the largest module (binary size in bytes) that
    /// `Module::new` compiles at once when the code cache has no entry for it, so that its
    /// first call already runs compiled; a larger one starts interpreted and is compiled
    /// in the background. The default, 256 KiB, is what Cranelift compiles here in about a
    /// quarter of a second; 0 compiles every module in the background.
    pub fn auto_compile_at_load(&mut self, max_bytes: usize) -> &mut Self {
        self.auto_compile_at_load = max_bytes;
        self
    }

    /// Where [`Strategy::Auto`] looks for compiled code and stores what it compiles (none by
    /// default). The JIT's `DirCodeCache` keeps entries in a directory.
    pub fn code_cache(&mut self, cache: Option<Arc<dyn CodeCache>>) -> &mut Self {
        self.code_cache = cache;
        self
    }

    /// The deepest Wasm call nesting before a call traps with
    /// [`crate::TrapCode::StackOverflow`]. The interpreter counts frames; the JIT bounds
    /// recursion by the native stack of the fiber a call runs on (2 MiB), so there this
    /// limit (and [`crate::StoreLimits::call_depth`]) does not apply.
    pub fn max_call_depth(&mut self, depth: u32) -> &mut Self {
        self.max_call_depth = depth.max(1);
        self
    }

    /// The size of the value stack (locals and operands of all frames) in 8-byte slots;
    /// a call that needs more traps with [`crate::TrapCode::StackOverflow`].
    pub fn max_stack_slots(&mut self, slots: usize) -> &mut Self {
        self.max_stack_slots = slots.max(16);
        self
    }
}

/// Compiles and runs modules according to a [`Config`]. Cheap to clone; clones share it.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

#[derive(Debug)]
struct EngineInner {
    config: Config,
    /// The JIT's compiler and trampolines, or why it could not be set up.
    #[cfg(feature = "jit")]
    jit: Option<core::result::Result<crate::jit::tier::JitEngine, alloc::string::String>>,
    /// Where the engine's stores get their memories, and modules their memory images: on
    /// a host that can map them, the pool of guarded memories (`jit::memory`), whatever
    /// the strategy; else the heap (`None`).
    #[cfg(feature = "jit")]
    memories: Option<Arc<dyn crate::runtime::memory::MemoryAllocator>>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(&Config::default())
    }
}

impl Engine {
    /// An engine with this configuration.
    pub fn new(config: &Config) -> Self {
        #[cfg(feature = "jit")]
        let memories: Option<Arc<dyn crate::runtime::memory::MemoryAllocator>> =
            if Strategy::jit_available() {
                crate::jit::memory::MemoryPool::for_host().map(|pool| Arc::new(pool) as _)
            } else {
                None
            };
        Engine {
            inner: Arc::new(EngineInner {
                config: config.clone(),
                #[cfg(feature = "jit")]
                jit: match config.strategy {
                    Strategy::Interpreter => None,
                    // Without a JIT for the host, Auto is the interpreter.
                    Strategy::Auto if !Strategy::jit_available() => None,
                    // All cores for a compile the caller waits for; for Auto's background
                    // compile all but one, which the interpreter runs on meanwhile.
                    Strategy::Jit | Strategy::Auto => {
                        let threads = if config.strategy == Strategy::Jit {
                            0
                        } else {
                            std::thread::available_parallelism()
                                .map_or(1, |n| n.get().saturating_sub(1).max(1))
                        };
                        Some(
                            crate::jit::tier::JitEngine::new(
                                config.consume_fuel,
                                threads,
                                memories.is_some(),
                            )
                            .map_err(|e| alloc::format!("{e}")),
                        )
                    }
                },
                #[cfg(feature = "jit")]
                memories,
            }),
        }
    }

    /// The engine's memory allocator, if it is not the heap's (see `EngineInner`).
    pub(crate) fn memory_allocator(
        &self,
    ) -> Option<Arc<dyn crate::runtime::memory::MemoryAllocator>> {
        #[cfg(feature = "jit")]
        return self.inner.memories.clone();
        #[cfg(not(feature = "jit"))]
        None
    }

    /// The engine's configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The tier that runs the engine's modules.
    pub fn strategy(&self) -> Strategy {
        self.inner.config.strategy
    }

    /// The JIT of an engine whose strategy is [`Strategy::Jit`] or [`Strategy::Auto`].
    ///
    /// # Errors
    /// The strategy is another one, or the compiler could not be set up for the host.
    #[cfg(feature = "jit")]
    pub(crate) fn jit(&self) -> crate::Result<&crate::jit::tier::JitEngine> {
        match &self.inner.jit {
            Some(Ok(jit)) => Ok(jit),
            Some(Err(why)) => Err(crate::Error::compile(
                alloc::format!("the JIT cannot run on this host: {why}"),
                0,
            )),
            None => Err(crate::Error::usage("the engine does not use the JIT")),
        }
    }

    /// Whether two handles name the same engine.
    pub fn same(a: &Engine, b: &Engine) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}
