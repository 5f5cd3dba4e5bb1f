//! The runtime: a store's objects as the API and the tiers see them, without the host
//! data's type.
//!
//! - `store`: [`StoreCore`], the arenas and their entities, reached through methods;
//! - `memory`: linear memories ([`memory::LinearMemory`], the default heap memory);
//! - `vm`: the `#[repr(C)]` definitions at stable addresses that the tiers read directly.
//!
//! The runtime never names a tier. A tier reaches the typed part of a store (its host
//! functions) through [`StoreOps`], the one place generic over the host data.

pub(crate) mod memory;
pub(crate) mod store;
pub(crate) mod vm;

use alloc::vec::Vec;

use crate::error::Result;
use crate::value::Val;
pub(crate) use store::{FuncKind, InstanceParts, StoreCore};
pub use store::{StoreId, StoreLimits};

/// A store as a tier sees it: the core, and calls of the typed store's host functions.
/// `Store<T>` implements it; a tier holds `&mut dyn StoreOps` and so needs no `T`.
pub(crate) trait StoreOps {
    fn core(&self) -> &StoreCore;
    fn core_mut(&mut self) -> &mut StoreCore;
    /// Calls host function `host` (an index of [`FuncKind::Host`]) on behalf of instance
    /// `caller`. `slots` holds the arguments on entry and receives the results (it is as
    /// long as the larger of the two); `vals` is scratch space for host functions that
    /// take [`Val`]s.
    ///
    /// # Errors
    /// The host function's error (a trap, or a yield).
    fn call_host(
        &mut self,
        host: u32,
        caller: u32,
        slots: &mut [u64],
        vals: &mut HostVals,
    ) -> Result<()>;
}

/// Buffers reused from one host call to the next, for host functions that take [`Val`]s.
#[derive(Debug, Default)]
pub(crate) struct HostVals {
    pub args: Vec<Val>,
    pub results: Vec<Val>,
}
