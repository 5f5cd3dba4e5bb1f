//! Runs WebAssembly `.wast` scripts (the format of the official spec test suite) against the
//! weft engine.
//!
//! A script is a sequence of directives: module definitions, registrations, invocations and
//! assertions. [`WastRunner`] executes one script in a fresh [`Store`] with the `spectest` host
//! module defined, and returns a [`WastReport`] counting the directives that passed and failed.
//! Every directive counts: a module that fails to instantiate is a failure just like a failed
//! `assert_return`.
//!
//! Engine errors never abort a script: each failure is recorded with its `file:line:col` and
//! the run continues with the next directive. A panic inside the engine while running a
//! directive is caught and recorded as a failure too (its message is not printed by the panic
//! hook; see [`WastRunner::run`]).
//!
//! ```
//! use weft_engine::Config;
//!
//! let report = weft_wast::run_script(&Config::default(), "demo.wast", r#"
//!     (module (func (export "add") (param i32 i32) (result i32)
//!         local.get 0 local.get 1 i32.add))
//!     (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
//! "#);
//! assert_eq!((report.passed, report.failed), (2, 0));
//! ```

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Once;

use wast::core::{AbstractHeapType, HeapType, NanPattern, WastArgCore, WastRetCore};
use wast::lexer::Lexer;
use wast::parser::{self, ParseBuffer};
use wast::token::Id;
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};
use weft_engine::{
    Config, Engine, Error, ExternRef, Global, GlobalType, Instance, Linker, Memory, MemoryType,
    Module, Mutability, Store, StoreLimits, Table, TableType, TrapCode, Val, ValType,
};

/// Stack size of the thread [`run_script`] runs a script on. Generous, so that deeply nested
/// test modules cannot overflow the native stack of the parser or the engine's compiler.
const SCRIPT_THREAD_STACK: usize = 64 * 1024 * 1024;

/// The outcome of running one script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WastReport {
    /// Directives that behaved as the script expects.
    pub passed: usize,
    /// Directives that did not.
    pub failed: usize,
    /// One message per failed directive, each starting with `file:line:col:`.
    pub failures: Vec<String>,
}

impl WastReport {
    /// Whether no directive failed.
    pub fn is_ok(&self) -> bool {
        self.failed == 0
    }

    fn fail(&mut self, message: String) {
        self.failed += 1;
        self.failures.push(message);
    }
}

/// Spec trap messages and the trap code each one means. Script messages are matched by prefix,
/// so `"uninitialized element 2"` means [`TrapCode::UninitializedElement`].
const TRAP_MESSAGES: &[(&str, TrapCode)] = &[
    ("unreachable", TrapCode::Unreachable),
    ("out of bounds memory access", TrapCode::MemoryOutOfBounds),
    ("memory access out of bounds", TrapCode::MemoryOutOfBounds),
    ("out of bounds table access", TrapCode::TableOutOfBounds),
    ("undefined element", TrapCode::TableOutOfBounds),
    ("uninitialized element", TrapCode::UninitializedElement),
    (
        "indirect call type mismatch",
        TrapCode::IndirectCallTypeMismatch,
    ),
    (
        "indirect call signature mismatch",
        TrapCode::IndirectCallTypeMismatch,
    ),
    ("integer divide by zero", TrapCode::IntegerDivisionByZero),
    ("integer overflow", TrapCode::IntegerOverflow),
    (
        "invalid conversion to integer",
        TrapCode::BadConversionToInteger,
    ),
    ("call stack exhausted", TrapCode::StackOverflow),
    ("null reference", TrapCode::NullReference),
    ("null function reference", TrapCode::NullReference),
    ("all fuel consumed", TrapCode::OutOfFuel),
];

/// The trap code a spec script means by a trap message such as `"integer overflow"`.
pub fn trap_code_for_message(message: &str) -> Option<TrapCode> {
    TRAP_MESSAGES
        .iter()
        .find(|(prefix, _)| message.starts_with(prefix))
        .map(|&(_, code)| code)
}

/// Runs `source` (named `file` in messages) as a `.wast` script with a fresh runner.
///
/// The script runs on its own thread with a large stack. A failure to set the runner up (the
/// `spectest` module) is reported as a failed directive rather than an error.
pub fn run_script(config: &Config, file: &str, source: &str) -> WastReport {
    let run = || match WastRunner::new(config) {
        Ok(mut runner) => runner.run(file, source),
        Err(e) => {
            let mut report = WastReport::default();
            report.fail(format!("{file}: failed to set up the spectest module: {e}"));
            report
        }
    };
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name(format!("wast {file}"))
            .stack_size(SCRIPT_THREAD_STACK)
            .spawn_scoped(scope, run);
        match handle {
            Ok(handle) => handle.join().unwrap_or_else(|payload| {
                let mut report = WastReport::default();
                report.fail(format!(
                    "{file}: the runner panicked: {}",
                    panic_message(&*payload)
                ));
                report
            }),
            // Could not spawn a thread: run on this one.
            Err(_) => run(),
        }
    })
}

/// Executes the directives of one `.wast` script.
///
/// Create one runner per script: modules, registrations and the store persist between calls
/// to [`WastRunner::run`].
pub struct WastRunner {
    engine: Engine,
    store: Store<()>,
    linker: Linker<()>,
    /// The most recently instantiated module, the target of directives that name none.
    current: Option<Instance>,
    /// Instances by their `$id`.
    instances: HashMap<String, Instance>,
    /// Modules from `module definition`, by `$id`.
    definitions: HashMap<String, Module>,
    /// The most recent `module definition`, the one a `module instance` naming none means.
    last_definition: Option<Module>,
}

impl std::fmt::Debug for WastRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WastRunner")
            .field("instances", &self.instances.keys().collect::<Vec<_>>())
            .field("definitions", &self.definitions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why running a directive failed: a message for the report.
type Outcome = Result<(), String>;

/// How a script expects a module to be rejected at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    /// `assert_invalid`: it decodes but does not validate.
    Invalid,
    /// `assert_malformed`: it does not decode.
    Malformed,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejection::Invalid => "invalid",
            Rejection::Malformed => "malformed",
        })
    }
}

/// Why an invocation failed.
enum CallError {
    /// The engine returned an error (e.g. a trap) from the call itself.
    Engine(Error),
    /// The invocation could not be made (no such module or export, bad argument).
    Setup(String),
}

impl CallError {
    fn describe(self) -> String {
        match self {
            CallError::Engine(e) => format!("call failed: {e}"),
            CallError::Setup(m) => m,
        }
    }
}

impl WastRunner {
    /// A runner with a fresh store for `config`, with the `spectest` module defined.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let engine = Engine::new(config);
        let mut store = Store::new(&engine, ());
        if config_consumes_fuel(&store) {
            // Scripts run to completion; fuel only exercises the metering code paths.
            store.set_fuel(u64::MAX)?;
        }
        let mut linker = Linker::new(&engine);
        linker.allow_shadowing(true);
        define_spectest(&mut linker, &mut store)?;
        Ok(WastRunner {
            engine,
            store,
            linker,
            current: None,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
        })
    }

    /// Bounds what scripts run by this runner may use, for scripts nobody vetted (the
    /// `wast` fuzz target): `fuel` for all their calls together, and the store's `limits`
    /// on memories, tables, instances and call depth. Without it a runner gives scripts
    /// all the fuel there is (an infinite loop runs forever, as in other runners) and the
    /// engine's default limits.
    ///
    /// # Errors
    /// The runner's engine does not meter fuel (see `Config::consume_fuel`).
    pub fn limit(&mut self, fuel: u64, limits: StoreLimits) -> Result<(), Error> {
        self.store.set_fuel(fuel)?;
        self.store.limiter(limits);
        Ok(())
    }

    /// Runs every directive of `source`, naming it `file` in failure messages.
    ///
    /// A panic while running a directive is caught and reported as that directive's failure.
    /// While a directive runs, the process-wide panic hook (installed on first use, delegating
    /// to the previous hook otherwise) stays silent for panics on this thread.
    pub fn run(&mut self, file: &str, source: &str) -> WastReport {
        let mut report = WastReport::default();
        let mut lexer = Lexer::new(source);
        lexer.allow_confusing_unicode(true);
        let parsed = ParseBuffer::new_with_lexer(lexer).and_then(|buffer| {
            let wast = parser::parse::<Wast<'_>>(&buffer)?;
            self.run_directives(file, source, wast.directives, &mut report);
            Ok(())
        });
        if let Err(mut e) = parsed {
            e.set_path(Path::new(file));
            e.set_text(source);
            report.fail(format!("failed to parse script: {e}"));
        }
        report
    }

    fn run_directives(
        &mut self,
        file: &str,
        source: &str,
        directives: Vec<WastDirective<'_>>,
        report: &mut WastReport,
    ) {
        for directive in directives {
            let (line, col) = directive.span().linecol_in(source);
            match catch_panic(|| self.directive(directive)) {
                Ok(()) => report.passed += 1,
                Err(message) => report.fail(format!("{file}:{}:{}: {message}", line + 1, col + 1)),
            }
        }
    }

    fn directive(&mut self, directive: WastDirective<'_>) -> Outcome {
        match directive {
            WastDirective::Module(mut module) => {
                let name = id_name(module.name());
                // A module that fails to load must not leave an older one as the target of
                // the directives that follow.
                self.current = None;
                if let Some(name) = &name {
                    self.instances.remove(name);
                }
                let bytes = encode(&mut module)?;
                let module = self.compile(&bytes)?;
                let instance = self.instantiate(&module)?;
                self.set_current(name, instance);
                Ok(())
            }
            WastDirective::ModuleDefinition(mut module) => {
                let name = id_name(module.name());
                let bytes = encode(&mut module)?;
                let module = self.compile(&bytes)?;
                if let Some(name) = name {
                    self.definitions.insert(name, module.clone());
                }
                self.last_definition = Some(module);
                Ok(())
            }
            WastDirective::ModuleInstance {
                instance, module, ..
            } => {
                let module = match module {
                    Some(id) => self
                        .definitions
                        .get(id.name())
                        .ok_or_else(|| format!("unknown module definition ${}", id.name()))?,
                    None => self
                        .last_definition
                        .as_ref()
                        .ok_or("no module definition to instantiate")?,
                }
                .clone();
                let name = id_name(instance);
                self.current = None;
                let instance = self.instantiate(&module)?;
                self.set_current(name, instance);
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let instance = self.instance(module)?;
                self.linker
                    .instance(&mut self.store, name, instance)
                    .map_err(|e| format!("register {name:?} failed: {e}"))?;
                Ok(())
            }
            WastDirective::Invoke(invoke) => {
                self.invoke(&invoke).map_err(CallError::describe)?;
                Ok(())
            }
            WastDirective::AssertReturn { exec, results, .. } => {
                let actual = match exec {
                    WastExecute::Invoke(invoke) => {
                        self.invoke(&invoke).map_err(CallError::describe)?
                    }
                    WastExecute::Get { module, global, .. } => vec![self.get(module, global)?],
                    WastExecute::Wat(mut wat) => {
                        let bytes = encode_wat(&mut wat)?;
                        let module = self.compile(&bytes)?;
                        self.instantiate(&module)?;
                        Vec::new()
                    }
                };
                self.check_results(&results, &actual)
            }
            WastDirective::AssertTrap { exec, message, .. } => match exec {
                WastExecute::Invoke(invoke) => match self.invoke(&invoke) {
                    Ok(values) => Err(format!(
                        "expected trap {message:?}, got {}",
                        format_vals(&self.store, &values)
                    )),
                    Err(CallError::Engine(e)) => check_trap(&e, message),
                    Err(CallError::Setup(m)) => Err(m),
                },
                WastExecute::Wat(mut wat) => {
                    let bytes = encode_wat(&mut wat)?;
                    let module = self.compile(&bytes)?;
                    match self.linker.instantiate(&mut self.store, &module) {
                        Ok(_) => Err(format!(
                            "expected instantiation to trap with {message:?}, but it succeeded"
                        )),
                        Err(e) => check_trap(&e, message),
                    }
                }
                WastExecute::Get { global, .. } => Err(format!(
                    "expected `get {global:?}` to trap with {message:?}; a get cannot trap"
                )),
            },
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call) {
                Ok(values) => Err(format!(
                    "expected exhaustion {message:?}, got {}",
                    format_vals(&self.store, &values)
                )),
                Err(CallError::Engine(e)) => expect_trap_code(&e, TrapCode::StackOverflow, message),
                Err(CallError::Setup(m)) => Err(m),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => self.expect_compile_error(&mut module, Rejection::Invalid, message),
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => self.expect_compile_error(&mut module, Rejection::Malformed, message),
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                let bytes = encode_wat(&mut module)?;
                let module = self.compile(&bytes)?;
                match self.linker.instantiate(&mut self.store, &module) {
                    Ok(_) => Err(format!(
                        "expected module to be unlinkable ({message:?}), but it instantiated"
                    )),
                    Err(e) if e.is_trap() => Err(format!(
                        "expected a link error ({message:?}), got a trap: {e}"
                    )),
                    Err(_) => Ok(()),
                }
            }
            other => Err(format!("unsupported directive: {}", directive_kind(&other))),
        }
    }

    fn set_current(&mut self, name: Option<String>, instance: Instance) {
        if let Some(name) = name {
            self.instances.insert(name, instance);
        }
        self.current = Some(instance);
    }

    fn compile(&self, bytes: &[u8]) -> Result<Module, String> {
        let module = Module::new(&self.engine, bytes)
            .map_err(|e| format!("module failed to compile: {e}"))?;
        // With `Strategy::Auto` the JIT code arrives in the background: wait for it, so that
        // a script runs on the same tier every time (its store switches to the JIT at the
        // first call after its modules' code is there).
        if self.engine.strategy() == weft_engine::Strategy::Auto {
            module.wait_for_jit();
        }
        Ok(module)
    }

    fn instantiate(&mut self, module: &Module) -> Result<Instance, String> {
        self.linker
            .instantiate(&mut self.store, module)
            .map_err(|e| format!("module failed to instantiate: {e}"))
    }

    /// `assert_invalid` / `assert_malformed`: the engine must reject the module before
    /// linking. The one exception: `module quote` text that the `wast` crate itself cannot
    /// parse counts as malformed (the engine only ever sees binaries).
    fn expect_compile_error(
        &self,
        module: &mut QuoteWat<'_>,
        what: Rejection,
        message: &str,
    ) -> Outcome {
        if is_component(module) {
            return Err("components are not supported".into());
        }
        let quoted = matches!(module, QuoteWat::QuoteModule(..));
        let bytes = match module.encode() {
            Ok(bytes) => bytes,
            Err(_) if quoted && what == Rejection::Malformed => return Ok(()),
            Err(e) => return Err(format!("failed to encode module: {e}")),
        };
        match Module::new(&self.engine, &bytes) {
            Ok(_) => Err(format!(
                "expected {what} module ({message:?}), but it compiled"
            )),
            Err(_) => Ok(()),
        }
    }

    /// The instance a directive names, or the current one.
    fn instance(&self, id: Option<Id<'_>>) -> Result<Instance, String> {
        match id {
            Some(id) => self
                .instances
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("unknown module ${}", id.name())),
            None => self
                .current
                .ok_or_else(|| "no module instantiated".to_string()),
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Vec<Val>, CallError> {
        let instance = self.instance(invoke.module).map_err(CallError::Setup)?;
        let name = invoke.name;
        let func = instance
            .get_func(&self.store, name)
            .ok_or_else(|| CallError::Setup(format!("no exported function {name:?}")))?;
        let args = invoke
            .args
            .iter()
            .map(|arg| self.arg(arg))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CallError::Setup)?;
        let ty = func
            .ty(&self.store)
            .map_err(|e| CallError::Setup(format!("cannot read the type of {name:?}: {e}")))?;
        let mut results: Vec<Val> = ty.results().iter().map(|&t| Val::default_for(t)).collect();
        func.call(&mut self.store, &args, &mut results)
            .map_err(CallError::Engine)?;
        Ok(results)
    }

    fn get(&mut self, module: Option<Id<'_>>, name: &str) -> Result<Val, String> {
        let instance = self.instance(module)?;
        let global = instance
            .get_global(&self.store, name)
            .ok_or_else(|| format!("no exported global {name:?}"))?;
        global
            .get(&self.store)
            .map_err(|e| format!("cannot read global {name:?}: {e}"))
    }

    fn arg(&mut self, arg: &WastArg<'_>) -> Result<Val, String> {
        let WastArg::Core(arg) = arg else {
            return Err("component-model arguments are not supported".into());
        };
        Ok(match arg {
            WastArgCore::I32(v) => Val::I32(*v),
            WastArgCore::I64(v) => Val::I64(*v),
            WastArgCore::F32(v) => Val::F32(v.bits),
            WastArgCore::F64(v) => Val::F64(v.bits),
            WastArgCore::RefNull(heap) => match ref_kind(heap) {
                Some(RefKind::Func) => Val::FuncRef(None),
                Some(RefKind::Extern) => Val::ExternRef(None),
                None => return Err(format!("unsupported argument: ref.null {heap:?}")),
            },
            WastArgCore::RefExtern(n) => Val::ExternRef(Some(ExternRef::new(&mut self.store, *n))),
            other => return Err(format!("unsupported argument: {other:?}")),
        })
    }

    fn check_results(&self, expected: &[WastRet<'_>], actual: &[Val]) -> Outcome {
        let mismatch = |why: &str| {
            Err(format!(
                "{why}: expected {}, got {}",
                format_expected(expected),
                format_vals(&self.store, actual)
            ))
        };
        if expected.len() != actual.len() {
            return mismatch("wrong number of results");
        }
        for (i, (expected, actual)) in expected.iter().zip(actual).enumerate() {
            let WastRet::Core(expected) = expected else {
                return Err("component-model results are not supported".into());
            };
            if !self.matches(expected, actual)? {
                return mismatch(&format!("result {i} differs"));
            }
        }
        Ok(())
    }

    fn matches(&self, expected: &WastRetCore<'_>, actual: &Val) -> Result<bool, String> {
        Ok(match (expected, actual) {
            (WastRetCore::I32(e), Val::I32(a)) => e == a,
            (WastRetCore::I64(e), Val::I64(a)) => e == a,
            (WastRetCore::F32(e), Val::F32(a)) => match e {
                NanPattern::CanonicalNan => a & 0x7fff_ffff == 0x7fc0_0000,
                NanPattern::ArithmeticNan => a & 0x7fc0_0000 == 0x7fc0_0000,
                NanPattern::Value(e) => e.bits == *a,
            },
            (WastRetCore::F64(e), Val::F64(a)) => match e {
                NanPattern::CanonicalNan => a & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
                NanPattern::ArithmeticNan => a & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
                NanPattern::Value(e) => e.bits == *a,
            },
            (WastRetCore::RefNull(heap), actual) => {
                let kind = match heap {
                    Some(heap) => Some(
                        ref_kind(heap)
                            .ok_or_else(|| format!("unsupported expectation: ref.null {heap:?}"))?,
                    ),
                    None => None,
                };
                match actual {
                    Val::FuncRef(None) => kind.is_none_or(|k| k == RefKind::Func),
                    Val::ExternRef(None) => kind.is_none_or(|k| k == RefKind::Extern),
                    _ => false,
                }
            }
            (WastRetCore::RefFunc(_), Val::FuncRef(f)) => f.is_some(),
            (WastRetCore::RefExtern(e), Val::ExternRef(a)) => match (e, a) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(e), Some(a)) => extern_payload(&self.store, a) == Some(*e),
            },
            (WastRetCore::Either(options), actual) => {
                for option in options {
                    if self.matches(option, actual)? {
                        return Ok(true);
                    }
                }
                false
            }
            (
                WastRetCore::I32(_)
                | WastRetCore::I64(_)
                | WastRetCore::F32(_)
                | WastRetCore::F64(_)
                | WastRetCore::RefFunc(_)
                | WastRetCore::RefExtern(_),
                _,
            ) => false,
            (other, _) => return Err(format!("unsupported expectation: {other:?}")),
        })
    }
}

/// Whether the store's engine meters fuel (`get_fuel` is an error when it does not).
fn config_consumes_fuel(store: &Store<()>) -> bool {
    store.get_fuel().is_ok()
}

/// Defines the `spectest` host module the spec scripts import from.
fn define_spectest(linker: &mut Linker<()>, store: &mut Store<()>) -> Result<(), Error> {
    const M: &str = "spectest";
    linker.func_wrap(M, "print", || {})?;
    linker.func_wrap(M, "print_i32", |_: i32| {})?;
    linker.func_wrap(M, "print_i64", |_: i64| {})?;
    linker.func_wrap(M, "print_f32", |_: f32| {})?;
    linker.func_wrap(M, "print_f64", |_: f64| {})?;
    linker.func_wrap(M, "print_i32_f32", |_: i32, _: f32| {})?;
    linker.func_wrap(M, "print_f64_f64", |_: f64, _: f64| {})?;

    let globals = [
        ("global_i32", ValType::I32, Val::I32(666)),
        ("global_i64", ValType::I64, Val::I64(666)),
        ("global_f32", ValType::F32, Val::F32(666.6f32.to_bits())),
        ("global_f64", ValType::F64, Val::F64(666.6f64.to_bits())),
    ];
    for (name, ty, value) in globals {
        let global = Global::new(&mut *store, GlobalType::new(ty, Mutability::Const), value)?;
        linker.define(&*store, M, name, global)?;
    }

    let table = Table::new(
        &mut *store,
        TableType::new(ValType::FuncRef, 10, Some(20)),
        Val::FuncRef(None),
    )?;
    linker.define(&*store, M, "table", table)?;
    let memory = Memory::new(&mut *store, MemoryType::new(1, Some(2)))?;
    linker.define(&*store, M, "memory", memory)?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind {
    Func,
    Extern,
}

fn ref_kind(heap: &HeapType<'_>) -> Option<RefKind> {
    match heap {
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Func,
        } => Some(RefKind::Func),
        HeapType::Abstract {
            shared: false,
            ty: AbstractHeapType::Extern,
        } => Some(RefKind::Extern),
        _ => None,
    }
}

/// The `u32` a script's `ref.extern N` put into an externref, if it holds one.
fn extern_payload(store: &Store<()>, r: &ExternRef) -> Option<u32> {
    r.data(store).ok()?.downcast_ref::<u32>().copied()
}

fn id_name(id: Option<Id<'_>>) -> Option<String> {
    id.map(|id| id.name().to_string())
}

fn is_component(module: &QuoteWat<'_>) -> bool {
    matches!(
        module,
        QuoteWat::Wat(Wat::Component(_)) | QuoteWat::QuoteComponent(..)
    )
}

fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    if is_component(module) {
        return Err("components are not supported".into());
    }
    module
        .encode()
        .map_err(|e| format!("failed to encode module: {e}"))
}

fn encode_wat(module: &mut Wat<'_>) -> Result<Vec<u8>, String> {
    if matches!(module, Wat::Component(_)) {
        return Err("components are not supported".into());
    }
    module
        .encode()
        .map_err(|e| format!("failed to encode module: {e}"))
}

/// Checks that `error` is the trap a script's `message` names.
fn check_trap(error: &Error, message: &str) -> Outcome {
    let Some(expected) = trap_code_for_message(message) else {
        return Err(format!(
            "unknown trap message {message:?} in script (got: {error})"
        ));
    };
    expect_trap_code(error, expected, message)
}

fn expect_trap_code(error: &Error, expected: TrapCode, message: &str) -> Outcome {
    match error.trap_code() {
        Some(code) if code == expected => Ok(()),
        Some(code) => Err(format!(
            "expected trap {message:?} ({expected:?}), got trap {code:?}: {error}"
        )),
        None => Err(format!(
            "expected trap {message:?} ({expected:?}), got a non-trap error: {error}"
        )),
    }
}

fn format_vals(store: &Store<()>, values: &[Val]) -> String {
    let mut out = String::from("[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = match value {
            Val::I32(v) => write!(out, "i32:{v}"),
            Val::I64(v) => write!(out, "i64:{v}"),
            Val::F32(bits) => write!(out, "f32:{} ({bits:#010x})", f32::from_bits(*bits)),
            Val::F64(bits) => write!(out, "f64:{} ({bits:#018x})", f64::from_bits(*bits)),
            Val::FuncRef(None) => write!(out, "ref.null func"),
            Val::FuncRef(Some(_)) => write!(out, "ref.func"),
            Val::ExternRef(None) => write!(out, "ref.null extern"),
            Val::ExternRef(Some(r)) => match extern_payload(store, r) {
                Some(n) => write!(out, "ref.extern {n}"),
                None => write!(out, "ref.extern ?"),
            },
            #[allow(unreachable_patterns)]
            other => write!(out, "{:?}", other.ty()),
        };
    }
    out.push(']');
    out
}

fn format_expected(expected: &[WastRet<'_>]) -> String {
    let parts: Vec<String> = expected
        .iter()
        .map(|ret| match ret {
            WastRet::Core(ret) => format_ret(ret),
            #[allow(unreachable_patterns)]
            other => format!("{other:?}"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

fn format_ret(ret: &WastRetCore<'_>) -> String {
    fn nan<T>(pattern: &NanPattern<T>, value: impl Fn(&T) -> String) -> String {
        match pattern {
            NanPattern::CanonicalNan => "nan:canonical".into(),
            NanPattern::ArithmeticNan => "nan:arithmetic".into(),
            NanPattern::Value(v) => value(v),
        }
    }
    match ret {
        WastRetCore::I32(v) => format!("i32:{v}"),
        WastRetCore::I64(v) => format!("i64:{v}"),
        WastRetCore::F32(p) => {
            let s = nan(p, |v| {
                format!("{} ({:#010x})", f32::from_bits(v.bits), v.bits)
            });
            format!("f32:{s}")
        }
        WastRetCore::F64(p) => {
            let s = nan(p, |v| {
                format!("{} ({:#018x})", f64::from_bits(v.bits), v.bits)
            });
            format!("f64:{s}")
        }
        WastRetCore::RefNull(None) => "ref.null".into(),
        WastRetCore::RefNull(Some(heap)) => match ref_kind(heap) {
            Some(RefKind::Func) => "ref.null func".into(),
            Some(RefKind::Extern) => "ref.null extern".into(),
            None => format!("ref.null {heap:?}"),
        },
        WastRetCore::RefFunc(_) => "ref.func".into(),
        WastRetCore::RefExtern(None) => "ref.extern".into(),
        WastRetCore::RefExtern(Some(n)) => format!("ref.extern {n}"),
        WastRetCore::Either(options) => {
            let parts: Vec<String> = options.iter().map(format_ret).collect();
            format!("either({})", parts.join(" | "))
        }
        other => format!("{other:?}"),
    }
}

fn directive_kind(directive: &WastDirective<'_>) -> &'static str {
    match directive {
        WastDirective::Module(_) => "module",
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertMalformed { .. } => "assert_malformed",
        WastDirective::AssertInvalid { .. } => "assert_invalid",
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::Register { .. } => "register",
        WastDirective::Invoke(_) => "invoke",
        WastDirective::AssertTrap { .. } => "assert_trap",
        WastDirective::AssertReturn { .. } => "assert_return",
        WastDirective::AssertExhaustion { .. } => "assert_exhaustion",
        WastDirective::AssertUnlinkable { .. } => "assert_unlinkable",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
    }
}

thread_local! {
    /// Set while this thread runs a directive: the panic hook stays silent.
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
    /// Where the last silenced panic on this thread happened.
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

/// Runs `f`, turning a panic into an error message.
fn catch_panic(f: impl FnOnce() -> Outcome) -> Outcome {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET_PANICS.with(Cell::get) {
                let location = info.location().map(|l| l.to_string());
                PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
    let was_quiet = QUIET_PANICS.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(was_quiet));
    result.unwrap_or_else(|payload| {
        let location = PANIC_LOCATION
            .with(|slot| slot.borrow_mut().take())
            .unwrap_or_else(|| "unknown location".into());
        Err(format!(
            "panicked at {location}: {}",
            panic_message(&*payload)
        ))
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_messages_map_by_prefix() {
        assert_eq!(
            trap_code_for_message("uninitialized element 2"),
            Some(TrapCode::UninitializedElement)
        );
        assert_eq!(
            trap_code_for_message("undefined element"),
            Some(TrapCode::TableOutOfBounds)
        );
        assert_eq!(
            trap_code_for_message("call stack exhausted"),
            Some(TrapCode::StackOverflow)
        );
        assert_eq!(trap_code_for_message("something else"), None);
    }

    #[test]
    fn panics_become_failures() {
        let result = catch_panic(|| panic!("boom"));
        let message = result.unwrap_err();
        assert!(message.contains("boom"), "{message}");
        assert!(message.contains("lib.rs"), "{message}");
    }

    #[test]
    fn a_limited_runner_ends_loops_and_refuses_big_memories() {
        let script = r#"
            (module (func (export "spin") (loop $l (br $l))) (memory (export "m") 1))
            (invoke "spin")
            (assert_return (invoke "spin"))
            (module (memory 2000))
        "#;
        let mut config = Config::default();
        config.consume_fuel(true);
        let mut runner = WastRunner::new(&config).unwrap();
        let limits = StoreLimits {
            memory_pages: 1000,
            ..StoreLimits::default()
        };
        runner.limit(100_000, limits).unwrap();
        let report = runner.run("limited.wast", script);
        assert_eq!(
            (report.passed, report.failed),
            (1, 3),
            "{:?}",
            report.failures
        );
        assert!(
            report.failures[0].contains("fuel"),
            "{}",
            report.failures[0]
        );
        assert!(
            report.failures[2].contains("instantiate"),
            "{}",
            report.failures[2]
        );
        // Without fuel metering there is nothing to bound a loop with.
        let mut unmetered = WastRunner::new(&Config::default()).unwrap();
        assert!(unmetered.limit(1, limits).is_err());
    }

    #[test]
    fn runs_a_small_script() {
        let script = r#"
            (module $m
              (func (export "add") (param i32 i32) (result i32)
                local.get 0 local.get 1 i32.add)
              (func (export "div") (param i32 i32) (result i32)
                local.get 0 local.get 1 i32.div_s)
              (func (export "nan") (result f32) f32.const nan)
              (func (export "id") (param externref) (result externref) local.get 0)
              (global (export "g") i32 (i32.const 7)))
            (register "m" $m)
            (assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))
            (assert_return (invoke $m "nan") (f32.const nan:canonical))
            (assert_return (invoke "id" (ref.extern 5)) (ref.extern 5))
            (assert_return (invoke "id" (ref.null extern)) (ref.null extern))
            (assert_return (get "g") (i32.const 7))
            (assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
            (assert_invalid (module (func (result i32))) "type mismatch")
            (assert_malformed (module quote "(func") "unexpected end")
            (assert_malformed (module binary "\00asm\02") "bad version")
            (assert_unlinkable (module (import "m" "nope" (func))) "unknown import")
            (module (import "spectest" "print_i32" (func (param i32)))
                    (import "spectest" "memory" (memory 1))
                    (import "spectest" "table" (table 10 funcref))
                    (import "spectest" "global_f64" (global f64)))
        "#;
        let report = run_script(&Config::default(), "small.wast", script);
        assert_eq!(report.failures, Vec::<String>::new());
        assert_eq!((report.passed, report.failed), (13, 0));
    }

    #[test]
    fn module_definitions_and_instances() {
        let script = r#"
            (module definition $D
              (global $g (mut i32) (i32.const 0))
              (func (export "next") (result i32)
                (global.set $g (i32.add (global.get $g) (i32.const 1)))
                (global.get $g)))
            (module instance $a $D)
            (module instance $b $D)
            (assert_return (invoke $a "next") (i32.const 1))
            (assert_return (invoke $a "next") (i32.const 2))
            (assert_return (invoke $b "next") (i32.const 1))
            (module instance)
            (assert_return (invoke "next") (i32.const 1))
        "#;
        let report = run_script(&Config::default(), "defs.wast", script);
        assert_eq!(report.failures, Vec::<String>::new());
        assert_eq!((report.passed, report.failed), (8, 0));
    }

    #[test]
    fn failures_name_the_location() {
        let script = "(module (func (export \"f\") (result i32) i32.const 1))\n\
                      (assert_return (invoke \"f\") (i32.const 2))\n\
                      (assert_trap (invoke \"f\") \"unreachable\")\n\
                      (assert_return (invoke \"missing\"))\n";
        let report = run_script(&Config::default(), "bad.wast", script);
        assert_eq!((report.passed, report.failed), (1, 3), "{report:?}");
        assert!(
            report.failures[0].starts_with("bad.wast:2:2: "),
            "{report:?}"
        );
        assert!(
            report.failures[1].starts_with("bad.wast:3:2: "),
            "{report:?}"
        );
    }

    #[test]
    fn parse_errors_are_failures() {
        let report = run_script(&Config::default(), "broken.wast", "(module");
        assert_eq!((report.passed, report.failed), (0, 1));
        assert!(report.failures[0].contains("broken.wast"), "{report:?}");
    }
}
