//! Errors and traps.
//!
//! Every fallible engine operation returns [`Error`], a one-pointer box around an [`ErrorKind`].
//! A Wasm runtime error is a [`TrapCode`] carried inside an `Error`; traps are values, never
//! panics, and the store that produced one stays usable. A trap carries the Wasm frames
//! that were on the stack when it happened ([`Error::backtrace`]).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::Module;

/// Why a running WebAssembly computation stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapCode {
    /// The `unreachable` instruction was executed.
    Unreachable,
    /// A load, store or bulk memory operation accessed memory out of bounds.
    MemoryOutOfBounds,
    /// A table access or bulk table operation was out of bounds.
    TableOutOfBounds,
    /// `call_indirect` found a function whose type differs from the expected one.
    IndirectCallTypeMismatch,
    /// `call_indirect` found a null table element.
    UninitializedElement,
    /// A null reference was used where a non-null one is required.
    NullReference,
    /// Integer overflow (`i32.div_s` of `MIN / -1`, or a float too large to convert).
    IntegerOverflow,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// A NaN was converted to an integer.
    BadConversionToInteger,
    /// The call stack or the value stack exceeded its configured limit.
    StackOverflow,
    /// The store ran out of fuel in a non-resumable call.
    OutOfFuel,
    /// A host function failed; the error message says why.
    Host,
}

impl TrapCode {
    /// The spec's wording for this trap.
    pub fn message(self) -> &'static str {
        match self {
            TrapCode::Unreachable => "unreachable",
            TrapCode::MemoryOutOfBounds => "out of bounds memory access",
            TrapCode::TableOutOfBounds => "out of bounds table access",
            TrapCode::IndirectCallTypeMismatch => "indirect call type mismatch",
            TrapCode::UninitializedElement => "uninitialized element",
            TrapCode::NullReference => "null reference",
            TrapCode::IntegerOverflow => "integer overflow",
            TrapCode::IntegerDivisionByZero => "integer divide by zero",
            TrapCode::BadConversionToInteger => "invalid conversion to integer",
            TrapCode::StackOverflow => "call stack exhausted",
            TrapCode::OutOfFuel => "all fuel consumed",
            TrapCode::Host => "host function error",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// What went wrong, by stage.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The binary is malformed or invalid (parse and validation errors from `wasmparser`),
    /// or uses a feature this engine does not support.
    Compile {
        /// The validator's message.
        message: String,
        /// Byte offset in the module binary.
        offset: u64,
    },
    /// Imports could not be resolved or did not match the module's import types.
    Link(String),
    /// Instantiation failed for a reason other than a trap (e.g. a store limit).
    Instantiation(String),
    /// A WebAssembly trap.
    Trap(TrapCode),
    /// A host function failed with this message.
    Host(String),
    /// A host function asked the running call to yield (see [`crate::ResumableCall`]);
    /// outside a resumable call this ends the call with this error.
    Yield(u64),
    /// An API was misused: a handle from another store, a type mismatch, a wrong
    /// number of arguments, fuel disabled, and the like.
    Usage(String),
}

/// One frame of a [`WasmBacktrace`]: a call of a function defined by a module.
#[derive(Clone)]
pub struct FrameInfo {
    module: Module,
    func_index: u32,
}

impl FrameInfo {
    pub(crate) fn new(module: Module, func_index: u32) -> Self {
        FrameInfo { module, func_index }
    }

    /// The function's index in its module's function index space (imports first).
    pub fn func_index(&self) -> u32 {
        self.func_index
    }

    /// The function's name from the module's name section, if it has one.
    pub fn func_name(&self) -> Option<&str> {
        self.module.func_name(self.func_index)
    }

    /// The module whose function this is.
    pub fn module(&self) -> &Module {
        &self.module
    }

    fn same_func(&self, other: &FrameInfo) -> bool {
        self.func_index == other.func_index && Module::same(&self.module, &other.module)
    }
}

impl fmt::Display for FrameInfo {
    /// `MODULE!FUNC`, with the names from the module's name section where it has them
    /// (`<wasm function N>` for an unnamed function, no `MODULE!` for an unnamed module).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(module) = self.module.name() {
            write!(f, "{module}!")?;
        }
        match self.func_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "<wasm function {}>", self.func_index),
        }
    }
}

/// The Wasm frames of a trapping call, innermost first (the function that trapped, then
/// its callers). Calls that went through host functions list the inner call's frames,
/// then the outer call's.
#[derive(Clone, Default)]
pub struct WasmBacktrace {
    frames: Vec<FrameInfo>,
}

impl WasmBacktrace {
    /// The frames, innermost first.
    pub fn frames(&self) -> &[FrameInfo] {
        &self.frames
    }
}

impl fmt::Display for WasmBacktrace {
    /// One line per frame, `    N: MODULE!FUNC`; a run of frames of the same function
    /// (recursion) is one line that says how many there were.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("wasm backtrace:")?;
        let mut i = 0;
        while let Some(frame) = self.frames.get(i) {
            let run = self.frames[i..]
                .iter()
                .take_while(|other| other.same_func(frame))
                .count();
            write!(f, "\n  {i:>4}: {frame}")?;
            if run > 1 {
                write!(f, " ({run} frames)")?;
            }
            i += run;
        }
        Ok(())
    }
}

impl fmt::Debug for WasmBacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct Inner {
    kind: ErrorKind,
    backtrace: Option<WasmBacktrace>,
}

/// The error type of every fallible engine operation.
pub struct Error {
    inner: Box<Inner>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                backtrace: None,
            }),
        }
    }

    /// A trap with the given code.
    pub fn trap(code: TrapCode) -> Self {
        Self::new(ErrorKind::Trap(code))
    }

    /// An error raised by a host function; it ends the Wasm call as a [`TrapCode::Host`] trap.
    pub fn host(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Host(message.into()))
    }

    /// Returned by a host function to suspend the running resumable call. The call returns
    /// [`crate::ResumableCall::HostYield`] carrying `tag`; resuming it supplies the host
    /// function's results.
    pub fn host_yield(tag: u64) -> Self {
        Self::new(ErrorKind::Yield(tag))
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage(message.into()))
    }

    pub(crate) fn link(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Link(message.into()))
    }

    pub(crate) fn instantiation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Instantiation(message.into()))
    }

    pub(crate) fn compile(message: impl Into<String>, offset: u64) -> Self {
        Self::new(ErrorKind::Compile {
            message: message.into(),
            offset,
        })
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// For a trap, the Wasm frames that were on the stack when it happened, innermost
    /// first; `None` for other errors, and for a trap outside any Wasm function (a host
    /// function called directly by the embedder).
    pub fn backtrace(&self) -> Option<&WasmBacktrace> {
        self.inner.backtrace.as_ref()
    }

    /// Adds the frames of the call this trap ended, which are outside (older than) any it
    /// already has.
    pub(crate) fn add_frames(&mut self, frames: impl IntoIterator<Item = FrameInfo>) {
        let backtrace = self
            .inner
            .backtrace
            .get_or_insert_with(WasmBacktrace::default);
        backtrace.frames.extend(frames);
        if backtrace.frames.is_empty() {
            self.inner.backtrace = None;
        }
    }

    /// The trap code if this error is a trap (host errors are [`TrapCode::Host`]).
    pub fn trap_code(&self) -> Option<TrapCode> {
        match self.inner.kind {
            ErrorKind::Trap(code) => Some(code),
            ErrorKind::Host(_) => Some(TrapCode::Host),
            _ => None,
        }
    }

    /// Whether this error is a trap.
    pub fn is_trap(&self) -> bool {
        self.trap_code().is_some()
    }
}

impl From<TrapCode> for Error {
    fn from(code: TrapCode) -> Self {
        Error::trap(code)
    }
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Error::compile(e.message(), e.offset())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.kind {
            ErrorKind::Compile { message, offset } => {
                write!(f, "invalid module: {message} (at offset {offset:#x})")
            }
            ErrorKind::Link(m) => write!(f, "link error: {m}"),
            ErrorKind::Instantiation(m) => write!(f, "instantiation failed: {m}"),
            ErrorKind::Trap(code) => write!(f, "trap: {code}"),
            ErrorKind::Host(m) => write!(f, "trap: host function error: {m}"),
            ErrorKind::Yield(tag) => write!(
                f,
                "host function yielded (tag {tag}) outside a resumable call"
            ),
            ErrorKind::Usage(m) => f.write_str(m),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({self})")
    }
}

impl core::error::Error for Error {}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
