//! Errors and traps.
//!
//! Every fallible engine operation returns [`Error`], a one-pointer box around an [`ErrorKind`].
//! A Wasm runtime error is a [`TrapCode`] carried inside an `Error`; traps are values, never
//! panics, and the store that produced one stays usable.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

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

/// The error type of every fallible engine operation.
pub struct Error {
    kind: Box<ErrorKind>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Error {
            kind: Box::new(kind),
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
        &self.kind
    }

    /// The trap code if this error is a trap (host errors are [`TrapCode::Host`]).
    pub fn trap_code(&self) -> Option<TrapCode> {
        match *self.kind {
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
        match &*self.kind {
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
