//! Powering off, with a status for whoever started the machine.
//!
//! Under QEMU with `-device isa-debug-exit,iobase=0xf4,iosize=0x04` (as `cargo xtask run`
//! and the tests start it), a write of `v` to port 0xf4 ends QEMU with exit status
//! `2 * v + 1`, which carries init's status to the shell that started QEMU. Without that
//! device the write does nothing, and the machine is switched off through the ACPI PM1a
//! control register of QEMU's chipsets (port 0x604, `SLP_EN` with sleep type 0, which is
//! S5 in QEMU's ACPI tables). That port is QEMU's, not read from the ACPI tables: on other
//! machines the kernel halts instead, with interrupts off.

use x86_64::instructions::port::Port;

/// The isa-debug-exit device's port.
const DEBUG_EXIT: u16 = 0xf4;
/// PM1a control on QEMU's i440fx and q35 machines (as SeaBIOS sets up their PM base).
const QEMU_PM1A_CNT: u16 = 0x604;
/// `SLP_EN`, with `SLP_TYP` 0.
const SLP_EN: u16 = 1 << 13;

/// The largest status the debug-exit device passes on exactly (QEMU's exit status is 8
/// bits: `2 * v + 1`); larger ones are passed on as this.
pub const MAX_STATUS: u8 = 126;
/// What a kernel fault passes on (QEMU then exits with 255).
pub const FAULT_STATUS: u8 = 127;

/// Powers the machine off, passing on `code`: [`FAULT_STATUS`], or a status, which above
/// [`MAX_STATUS`] is passed on as that.
pub fn power_off(code: u8) -> ! {
    x86_64::instructions::interrupts::disable();
    let code = if code == FAULT_STATUS {
        code
    } else {
        code.min(MAX_STATUS)
    };
    // SAFETY: writing the debug-exit port ends QEMU when the device is there and does
    // nothing on a machine without a device at 0xf4 (an unclaimed ISA port); it touches no
    // memory.
    unsafe { Port::<u32>::new(DEBUG_EXIT).write(u32::from(code)) };
    // SAFETY: on QEMU this is the PM1a control register, and setting SLP_EN enters the
    // sleep state S5 (off); the kernel is done with the machine by now.
    unsafe { Port::<u16>::new(QEMU_PM1A_CNT).write(SLP_EN) };
    loop {
        x86_64::instructions::hlt();
    }
}
