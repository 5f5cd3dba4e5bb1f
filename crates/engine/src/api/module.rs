//! [`Module`]: a validated, compiled WebAssembly module.
//!
//! `Module::new` runs the whole front of the pipeline once: `wasmparser` parses and validates
//! the binary (`crate::module`), and the interpreter translates each function body as it is
//! validated. The result is immutable and shared behind an `Arc`, so cloning a module is
//! cheap and one module can be instantiated any number of times, in any number of stores.
//!
//! With [`crate::Strategy::Auto`] the module also has a slot for its JIT code, filled from
//! the code cache at once or by a background compile later (`jit::auto`); the rest of the
//! module never changes. Where the engine's memories can map one, the module also keeps
//! its memory 0's initial bytes as a memory image, made once here and mapped by every
//! instantiation instead of copying the data segments (`jit::memory`).

use alloc::string::String;
use alloc::sync::Arc;

use wasmparser::Validator;

use crate::api::engine::Engine;
use crate::error::Result;
use crate::interp::{InterpCode, InterpCompiler};
use crate::module::{ModuleInfo, parse};
use crate::runtime::memory::MemoryImage;
use crate::types::ExternType;

/// A compiled WebAssembly module. Cheap to clone; clones share the compiled code.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

/// A module's information and its tier's code: the one place where a tier's code hangs off
/// the module. A module is compiled for its engine's tier ([`crate::Strategy`]).
struct ModuleInner {
    info: ModuleInfo,
    code: TierCode,
    /// Memory 0's initial bytes as the engine's memory allocator prepared them, for a
    /// module whose data segments allow it ([`ModuleInfo::static_data`]) in an engine whose
    /// memories can map one: instantiation maps it instead of copying the segments.
    image: Option<MemoryImage>,
}

/// The memory image of `info` for `engine`'s memories, if both allow one.
fn memory_image(engine: &Engine, info: &ModuleInfo) -> Option<MemoryImage> {
    let allocator = engine.memory_allocator()?;
    let segments = info.static_data()?;
    let len = info.memories[0].minimum() as usize * 65536;
    allocator.prepare_image(&segments, len)
}

/// The code of the engine's tier.
enum TierCode {
    Interp(InterpCode),
    #[cfg(feature = "jit")]
    Jit(crate::jit::tier::JitCode),
    /// [`crate::Strategy::Auto`]: the interpreter's code, and the JIT's once it is ready
    /// (see `jit::auto`).
    #[cfg(feature = "jit")]
    Auto {
        interp: InterpCode,
        jit: crate::jit::auto::JitSlot,
    },
}

#[cfg(feature = "jit")]
impl crate::jit::auto::AutoModule for ModuleInner {
    fn parts(&self) -> (&ModuleInfo, &crate::jit::auto::JitSlot) {
        match &self.code {
            TierCode::Auto { jit, .. } => (&self.info, jit),
            _ => unreachable!("only Auto modules are compiled in the background"),
        }
    }
}

impl Module {
    /// Parses, validates and translates a binary module.
    ///
    /// # Errors
    /// If the binary is malformed or invalid, or uses a feature the engine's
    /// [`crate::Config`] does not enable. The error carries the validator's message and
    /// the byte offset.
    pub fn new(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Module> {
        let config = engine.config();
        let bytes = bytes.as_ref();
        #[cfg(feature = "jit")]
        if config.strategy == crate::Strategy::Jit {
            let jit = engine.jit()?;
            // Bodies are validated here and compiled afterwards from `info`.
            let info = parse(
                config.features.to_wasmparser(),
                bytes,
                &mut |_, _, body, validator| Ok(validator.validate(body)?),
            )?;
            let code = crate::jit::tier::compile(jit, &info)?;
            return Ok(Module {
                inner: Arc::new(ModuleInner {
                    image: memory_image(engine, &info),
                    info,
                    code: TierCode::Jit(code),
                }),
            });
        }
        let mut compiler =
            InterpCompiler::new(bytes.len(), config.consume_fuel, config.fuse_instructions);
        let info = parse(
            config.features.to_wasmparser(),
            bytes,
            &mut |info, index, body, validator| compiler.compile(info, index, body, validator),
        )?;
        let interp = compiler.finish();
        #[cfg(feature = "jit")]
        if config.strategy == crate::Strategy::Auto
            && let Ok(jit) = engine.jit()
        {
            return Ok(Self::new_auto(engine, jit, info, interp));
        }
        Ok(Module {
            inner: Arc::new(ModuleInner {
                image: memory_image(engine, &info),
                info,
                code: TierCode::Interp(interp),
            }),
        })
    }

    /// An Auto module: its JIT code from the cache, or compiled now (a small module) or in
    /// the background.
    #[cfg(feature = "jit")]
    fn new_auto(
        engine: &Engine,
        jit: &crate::jit::tier::JitEngine,
        info: ModuleInfo,
        interp: InterpCode,
    ) -> Module {
        use crate::jit::auto;
        let slot = auto::JitSlot::default();
        let cache = engine.config().code_cache.as_deref();
        let key = auto::cache_key(jit, &info);
        let cached = cache.and_then(|c| auto::load_cached(jit, c, &key, &info));
        let hit = cached.is_some();
        if let Some(code) = cached {
            slot.set(Ok(code));
        }
        let inner = Arc::new(ModuleInner {
            image: memory_image(engine, &info),
            info,
            code: TierCode::Auto { interp, jit: slot },
        });
        if !hit {
            if inner.info.bytes.len() <= engine.config().auto_compile_at_load {
                let (info, slot) = auto::AutoModule::parts(&*inner);
                auto::compile_into(jit, info, slot, cache.map(|c| (c, &key)));
            } else {
                let weak: alloc::sync::Weak<dyn auto::AutoModule> =
                    Arc::downgrade(&inner) as alloc::sync::Weak<ModuleInner>;
                auto::start_background(engine.clone(), weak, key);
            }
        }
        Module { inner }
    }

    /// With [`crate::Strategy::Auto`]: waits until the module's JIT code is ready (or the
    /// JIT has given up on the module) and returns whether it is ready. For other
    /// strategies, whether the module runs on the JIT, at once.
    ///
    /// Stores switch to the JIT on their own when the code arrives; this is for tests and
    /// measurements that want to know which tier runs.
    pub fn wait_for_jit(&self) -> bool {
        match &self.inner.code {
            TierCode::Interp(_) => false,
            #[cfg(feature = "jit")]
            TierCode::Jit(_) => true,
            #[cfg(feature = "jit")]
            TierCode::Auto { jit, .. } => jit.wait().is_ok(),
        }
    }

    /// Checks that `bytes` is a valid module for `engine` without translating it.
    ///
    /// # Errors
    /// As [`Module::new`].
    pub fn validate(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<()> {
        let mut validator = Validator::new_with_features(engine.config().features.to_wasmparser());
        validator.validate_all(bytes.as_ref())?;
        Ok(())
    }

    /// The module's imports, in order.
    pub fn imports(&self) -> impl ExactSizeIterator<Item = ImportType<'_>> + '_ {
        self.inner.info.imports.iter().map(|i| ImportType {
            module: &i.module,
            name: &i.name,
            ty: self.inner.info.import_type(i),
        })
    }

    /// The module's exports, in order.
    pub fn exports(&self) -> impl ExactSizeIterator<Item = ExportType<'_>> + '_ {
        self.inner.info.exports.iter().map(|e| ExportType {
            name: &e.name,
            ty: self.inner.info.extern_type(e.kind, e.index),
        })
    }

    /// The type of export `name`, if there is one.
    pub fn get_export(&self, name: &str) -> Option<ExternType> {
        let e = &self.inner.info.exports[*self.inner.info.export_index.get(name)?];
        Some(self.inner.info.extern_type(e.kind, e.index))
    }

    /// The module's name from its name section, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.inner.info.name.as_deref()
    }

    /// The name of function `index` (imports first) from the module's name section, if it
    /// has one.
    pub fn func_name(&self, index: u32) -> Option<&str> {
        self.inner.info.func_names.get(&index).map(String::as_str)
    }

    /// The module's information (types, imports, exports, segments, bodies).
    pub(crate) fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    /// The image of memory 0's initial bytes, if the module has one (see `ModuleInner`).
    pub(crate) fn memory_image(&self) -> Option<&MemoryImage> {
        self.inner.image.as_ref()
    }

    /// The interpreter's code of the module's defined functions.
    ///
    /// # Panics
    /// If the module was compiled for another tier: the interpreter runs only modules of
    /// an engine whose strategy is the interpreter.
    pub(crate) fn interp_code(&self) -> &InterpCode {
        match &self.inner.code {
            TierCode::Interp(code) => code,
            #[cfg(feature = "jit")]
            TierCode::Auto { interp, .. } => interp,
            #[cfg(feature = "jit")]
            TierCode::Jit(_) => unreachable!("the interpreter runs only its own modules"),
        }
    }

    /// The JIT's code of the module, if it was compiled for the JIT or is an Auto module
    /// whose code is ready.
    #[cfg(feature = "jit")]
    pub(crate) fn jit_code(&self) -> Option<&crate::jit::tier::JitCode> {
        match &self.inner.code {
            TierCode::Jit(code) => Some(code),
            TierCode::Auto { jit, .. } => jit.get(),
            TierCode::Interp(_) => None,
        }
    }

    /// A weak handle to the module's shared state, to see whether it was freed.
    #[cfg(all(test, feature = "jit"))]
    pub(crate) fn weak_for_tests(&self) -> alloc::sync::Weak<dyn core::any::Any + Send + Sync> {
        let weak: alloc::sync::Weak<ModuleInner> = Arc::downgrade(&self.inner);
        weak
    }

    /// The slot of an Auto module's JIT code.
    #[cfg(feature = "jit")]
    pub(crate) fn auto_slot(&self) -> Option<&crate::jit::auto::JitSlot> {
        match &self.inner.code {
            TierCode::Auto { jit, .. } => Some(jit),
            _ => None,
        }
    }

    /// Whether two handles name the same compiled module.
    pub fn same(a: &Module, b: &Module) -> bool {
        Arc::ptr_eq(&a.inner, &b.inner)
    }
}

impl core::fmt::Debug for Module {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Module")
            .field("imports", &self.inner.info.imports.len())
            .field("exports", &self.inner.info.exports.len())
            .field("functions", &self.inner.info.funcs.len())
            .finish()
    }
}

/// An import of a module: where it comes from and what type it must have.
#[derive(Debug, Clone)]
pub struct ImportType<'a> {
    module: &'a str,
    name: &'a str,
    ty: ExternType,
}

impl<'a> ImportType<'a> {
    /// The module name.
    pub fn module(&self) -> &'a str {
        self.module
    }

    /// The item name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The expected type.
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}

/// An export of a module: its name and type.
#[derive(Debug, Clone)]
pub struct ExportType<'a> {
    name: &'a str,
    ty: ExternType,
}

impl<'a> ExportType<'a> {
    /// The export name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// The exported item's type.
    pub fn ty(&self) -> ExternType {
        self.ty.clone()
    }
}
