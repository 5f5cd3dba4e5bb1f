//! The interpreter tier: its code representation (`ir`), the translator from validated
//! Wasm (`translate`) and the executor (`exec`).
//!
//! The tier owns its code: [`InterpCode`] is what hangs off a [`crate::Module`] for it, made
//! by an [`InterpCompiler`] that `Module::new` hands every function body while it is
//! validated. `ir` and `translate` know nothing of the executor beyond
//! [`ir::Encode`], which the executor's `Op` implements by choosing each instruction's
//! handler.

pub(crate) mod exec;
pub(crate) mod ir;
pub(crate) mod translate;

use alloc::vec::Vec;

use wasmparser::{FuncValidator, FunctionBody, ValidatorResources};

use crate::error::{Error, Result};
use crate::module::ModuleInfo;
use exec::CompiledFunc;
use translate::{ModuleEnv, Scratch, translate};

/// The interpreter's code of a module: one [`CompiledFunc`] per defined function.
#[derive(Debug, Default)]
pub(crate) struct InterpCode {
    funcs: Vec<CompiledFunc>,
}

impl InterpCode {
    /// The code of defined function `def`.
    pub(crate) fn func(&self, def: u32) -> &CompiledFunc {
        &self.funcs[def as usize]
    }

    /// All defined functions' code, in order.
    pub(crate) fn funcs(&self) -> &[CompiledFunc] {
        &self.funcs
    }
}

/// Translates a module's function bodies, in order, as they are validated.
pub(crate) struct InterpCompiler {
    scratch: Scratch,
    funcs: Vec<CompiledFunc>,
    consume_fuel: bool,
    fuse: bool,
}

impl InterpCompiler {
    /// A compiler for a module of `module_len` bytes (which bounds the work it may spend);
    /// `consume_fuel` and `fuse` as in [`crate::Config`].
    pub(crate) fn new(module_len: usize, consume_fuel: bool, fuse: bool) -> InterpCompiler {
        InterpCompiler {
            scratch: Scratch::new(module_len),
            funcs: Vec::new(),
            consume_fuel,
            fuse,
        }
    }

    /// Validates and translates the body of function `index` (a module function index,
    /// the next defined one).
    ///
    /// # Errors
    /// An invalid body, or one too large or costly to translate.
    pub(crate) fn compile(
        &mut self,
        info: &ModuleInfo,
        index: u32,
        body: &FunctionBody<'_>,
        validator: &mut FuncValidator<ValidatorResources>,
    ) -> Result<()> {
        let env = ModuleEnv {
            types: &info.types,
            funcs: &info.funcs,
            num_imported_funcs: info.num_imported_funcs,
            consume_fuel: self.consume_fuel,
            fuse: self.fuse,
        };
        let code = translate(&env, index, body, validator, &mut self.scratch)?;
        self.funcs
            .try_reserve(1)
            .map_err(|_| Error::compile("out of host memory for a module's code", 0))?;
        self.funcs.push(code);
        Ok(())
    }

    /// The code of every function compiled.
    pub(crate) fn finish(self) -> InterpCode {
        InterpCode { funcs: self.funcs }
    }
}
