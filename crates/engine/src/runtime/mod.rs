//! The runtime: the store's objects as the tiers see them.

pub(crate) mod memory;
