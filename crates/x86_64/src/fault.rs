//! Fault reports: CPU exceptions and kernel panics end the machine with a report on the
//! serial console and a failure status.
//!
//! None of this is reachable from a guest: a guest's error is a Wasm trap, which the engine
//! turns into a value and the kernel into the end of that one process. A report here
//! means the kernel itself (or the machine) is broken.
//!
//! The report writes straight to COM1's ports, not through the console driver, whose lock
//! the faulting code may hold. It names the exception, its error code, RIP, CR2 (the
//! address of a page fault), the stack pointer, the kernel's load offset (subtract it from
//! an address before looking it up in the ELF file), and return addresses found by
//! following the frame-pointer chain (the kernel is built with frame pointers) while it
//! stays inside the kernel stack or the double-fault stack.

use core::fmt::{self, Write};
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

use crate::interrupts::{DOUBLE_FAULT_STACK_END, DOUBLE_FAULT_STACK_START, ExceptionFrame};
use crate::power::{FAULT_STATUS, power_off};
use crate::serial::COM1;

/// The kernel stack's bounds and the kernel's load offset, recorded at boot.
pub static STACK_START: AtomicU64 = AtomicU64::new(0);
/// See [`STACK_START`].
pub static STACK_END: AtomicU64 = AtomicU64::new(0);
/// See [`STACK_START`].
pub static IMAGE_OFFSET: AtomicU64 = AtomicU64::new(0);

/// The most return addresses a report lists.
const MAX_FRAMES: usize = 16;

/// Writes to COM1 by polling its line status, whatever state the console driver is in.
struct RawSerial;

impl Write for RawSerial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if b == b'\n' {
                raw_send(b'\r');
            }
            raw_send(b);
        }
        Ok(())
    }
}

fn raw_send(byte: u8) {
    // SAFETY: COM1's line status (base + 5) and data (base) registers. Reading the status
    // and writing a byte has no effect on memory; the kernel is stopping, so no other user
    // of the port runs after this.
    unsafe {
        let mut status = Port::<u8>::new(COM1 + 5);
        let mut spins = 0u32;
        while status.read() & 0x20 == 0 && spins < 1_000_000 {
            spins += 1;
        }
        Port::<u8>::new(COM1).write(byte);
    }
}

/// The name of exception `vector`.
fn name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        2 => "non-maskable interrupt",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point exception",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point exception",
        _ => "exception",
    }
}

/// Reports a CPU exception and powers off with the failure status.
pub fn exception(frame: &ExceptionFrame) -> ! {
    let mut out = RawSerial;
    let _ = write!(
        out,
        "\nweft: kernel fault: {} (vector {}, error code {:#x})\n  rip {:#018x}  rsp {:#018x}  rflags {:#x}\n",
        name(frame.vector),
        frame.vector,
        frame.error,
        frame.rip,
        frame.rsp,
        frame.rflags,
    );
    if frame.vector == 14 {
        let cr2 = x86_64::registers::control::Cr2::read_raw();
        let _ = writeln!(out, "  cr2 {cr2:#018x} (the address accessed)");
    }
    backtrace(&mut out);
    let _ = writeln!(out, "weft: powering off after the fault");
    power_off(FAULT_STATUS)
}

/// Kernel panics: report and power off with the failure status.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut out = RawSerial;
    let _ = writeln!(out, "\nweft: kernel panic: {info}");
    backtrace(&mut out);
    let _ = writeln!(out, "weft: powering off after the panic");
    power_off(FAULT_STATUS)
}

/// Whether a frame record at `rbp` lies inside one of the kernel's stacks.
fn on_a_stack(rbp: u64) -> bool {
    let inside = |start: &AtomicU64, end: &AtomicU64| {
        let (start, end) = (start.load(Ordering::Relaxed), end.load(Ordering::Relaxed));
        rbp >= start && rbp.saturating_add(16) <= end
    };
    rbp.is_multiple_of(8)
        && (inside(&STACK_START, &STACK_END)
            || inside(&DOUBLE_FAULT_STACK_START, &DOUBLE_FAULT_STACK_END))
}

/// Prints the return addresses of the frame-pointer chain, starting with the caller's.
fn backtrace(out: &mut RawSerial) {
    let _ = writeln!(
        out,
        "  kernel loaded at offset {:#x}; return addresses:",
        IMAGE_OFFSET.load(Ordering::Relaxed)
    );
    let mut rbp: u64;
    // SAFETY: reads the frame-pointer register into a variable; no memory is touched.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    for _ in 0..MAX_FRAMES {
        if !on_a_stack(rbp) {
            break;
        }
        // SAFETY: `rbp` is 8-aligned and its 16-byte frame record (saved rbp, return
        // address) lies inside a kernel stack, which is mapped and readable; the values
        // read are only printed and bounds-checked again before the next step.
        let (next, ret) = unsafe {
            let record = rbp as *const u64;
            (record.read_volatile(), record.add(1).read_volatile())
        };
        let _ = writeln!(out, "    {ret:#018x}");
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}

/// The test build's fault trigger: a read of the unmapped page at address 0.
#[cfg(feature = "fault-trigger")]
pub fn trigger() -> ! {
    let _ = writeln!(RawSerial, "weft: the test fault trigger reads address 0x8");
    // SAFETY: not safe at all, by design: the read faults (nothing maps the null page), and
    // the page-fault handler reports it and powers off, so nothing after it runs. Written
    // as assembly so that the compiler sees no null dereference to reason about.
    unsafe {
        core::arch::asm!("mov {tmp}, qword ptr [{addr}]", addr = in(reg) 8u64, tmp = out(reg) _);
    }
    power_off(FAULT_STATUS)
}
