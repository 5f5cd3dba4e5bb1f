//! What embedders see: [`crate::Engine`], [`crate::Module`], [`crate::Store`],
//! [`crate::Linker`], [`crate::Instance`], [`crate::Func`] and the handles of memories,
//! tables and globals.

pub(crate) mod engine;
pub(crate) mod func;
pub(crate) mod instance;
pub(crate) mod linker;
pub(crate) mod module;
pub(crate) mod objects;
pub(crate) mod store;
