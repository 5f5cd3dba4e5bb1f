//! The interpreter tier: its code representation (`ir`), the translator from validated
//! Wasm (`translate`) and the executor (`exec`).

pub(crate) mod exec;
pub(crate) mod ir;
pub(crate) mod translate;
