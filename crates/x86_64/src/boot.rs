//! The entry point the bootloader jumps to, and what the kernel asks of the bootloader.
//!
//! The rust-osdev `bootloader` (BIOS) loads this ELF, switches to long mode, maps the kernel
//! and a stack, maps all of physical memory at an offset of its choosing (the heap lives
//! there, see `memory`), and calls [`kernel_main`] with the boot information: the memory
//! map, that offset, the stack's bounds.

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::{BootInfo, entry_point};

/// The kernel stack. The engine never recurses on it for guest code (guest calls live on a
/// heap-allocated stack), so this is for the kernel's own call depth, with room to spare.
const KERNEL_STACK: u64 = 1 << 20;

/// The bootloader's configuration, embedded in the ELF by [`entry_point!`].
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = KERNEL_STACK;
    config
};

// Defines `_start`, which checks the boot information's type and calls `kernel_main`.
entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

fn kernel_main(info: &'static mut BootInfo) -> ! {
    crate::start(info)
}
