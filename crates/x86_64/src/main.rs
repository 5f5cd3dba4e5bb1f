//! weft on x86_64 bare metal: the very kernel and initrd that `weft boot` runs hosted, on
//! a PC (QEMU, with KVM or TCG), with the shell on the serial console.
//!
//! This crate is the machine and nothing else: every line of policy (processes, the
//! scheduler, the file system, WASI) is the kernel's, reached through the same
//! [`weft_kernel::Platform`] trait the hosted platform implements. Boot goes:
//!
//! 1. the bootloader ([`boot`]) enters [`start`] in long mode with all RAM mapped;
//! 2. COM1 ([`serial`]), the heap over every usable region of the memory map ([`memory`]),
//!    the GDT, IDT and PICs ([`interrupts`]), the TSC calibrated against the PIT and the RTC
//!    ([`clock`]);
//! 3. the kernel mounts the built-in initrd at `/` and a tmpfs at `/tmp`, starts
//!    `/bin/init` with the console as its stdio, and runs until every process has ended;
//! 4. the machine powers off ([`power`]) with init's status; a CPU exception or a panic
//!    powers it off with a report and the failure status instead ([`fault`]).
//!
//! `unsafe` code is confined to the modules that touch the machine (`memory`, `interrupts`,
//! `serial`, `clock`, `power`, `fault`), each allowed it by name below; every
//! block says why it holds in its `// SAFETY:` comment. The platform itself and this file
//! are safe Rust.

#![no_std]
#![no_main]

extern crate alloc;

mod boot;
#[expect(unsafe_code, reason = "CMOS, PIT and TSC access")]
mod clock;
#[expect(
    unsafe_code,
    reason = "raw serial output and the stack walk of the fault report"
)]
mod fault;
#[expect(unsafe_code, reason = "descriptor tables, entry stubs and the PICs")]
mod interrupts;
#[expect(unsafe_code, reason = "the heap over physical memory")]
mod memory;
mod platform;
#[expect(unsafe_code, reason = "the isa-debug-exit and ACPI power-off ports")]
mod power;
#[expect(unsafe_code, reason = "the UART's ports")]
mod serial;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use core::sync::atomic::Ordering;

use bootloader_api::BootInfo;
use weft_kernel::vfs::Vfs;
use weft_kernel::{Kernel, KernelConfig, Program, SpawnRequest};

use crate::clock::Tsc;
use crate::platform::MetalPlatform;

/// The most `/tmp` may hold; less when the machine is small (a quarter of the heap).
const TMPFS_MAX: u64 = 256 << 20;

/// The kernel proper, after the bootloader: set up the machine, boot init, power off.
fn start(info: &'static mut BootInfo) -> ! {
    let entry = clock::rdtsc();
    fault::STACK_START.store(info.kernel_stack_bottom, Ordering::Relaxed);
    fault::STACK_END.store(
        info.kernel_stack_bottom + info.kernel_stack_len,
        Ordering::Relaxed,
    );
    fault::IMAGE_OFFSET.store(info.kernel_image_offset, Ordering::Relaxed);
    serial::init();

    let Some(offset) = info.physical_memory_offset.into_option() else {
        panic!("the bootloader did not map physical memory");
    };
    let heap = memory::init(offset, &info.memory_regions);
    interrupts::init();
    clock::stop_periodic_tick();
    let hz = clock::calibrate_tsc();
    let tsc = Tsc::new(hz);
    let rtc = clock::rtc_unix_seconds();
    interrupts::enable();

    let platform = MetalPlatform::new(tsc, rtc);
    let mut vfs = Vfs::new();
    if let Err(e) = vfs.mount_initrd("/", weft_initrd::INITRD) {
        panic!("the built-in initrd: {e}");
    }
    if let Err(e) = vfs.mount_tmpfs("/tmp", TMPFS_MAX.min(heap / 4)) {
        panic!("mounting /tmp: {e}");
    }
    // The default configuration runs on the interpreter, which every build has.
    let mut kernel = match Kernel::new(Box::new(platform), vfs, KernelConfig::default()) {
        Ok(kernel) => kernel,
        Err(e) => panic!("starting the kernel: {e}"),
    };
    let init = kernel.spawn(SpawnRequest {
        program: Program::Path("/bin/init".to_string()),
        args: vec!["init".to_string()],
        env: vec![],
        preopens: vec![("/".to_string(), "/".to_string())],
    });
    let booted_ns = tsc.ticks_to_ns(clock::rdtsc().wrapping_sub(entry));
    serial::write(
        format!(
            "weft: x86_64, {} MiB of heap, TSC at {} MHz, init started {}.{:03} ms after kernel entry\r\n",
            heap >> 20,
            hz / 1_000_000,
            booted_ns / 1_000_000,
            booted_ns / 1000 % 1000,
        )
        .as_bytes(),
    );
    let status = match init {
        Ok(pid) => {
            if let Err(e) = kernel.run() {
                serial::write(format!("weft: {e}\r\n").as_bytes());
            }
            kernel
                .exit_status(pid)
                .unwrap_or(weft_kernel::kernel::STATUS_KILLED)
        }
        Err(e) => {
            serial::write(format!("weft: cannot start /bin/init: {e}\r\n").as_bytes());
            weft_kernel::kernel::STATUS_KILLED
        }
    };
    let prompt_ns = platform::FIRST_CONSOLE_WAIT_NS.load(Ordering::Relaxed);
    if prompt_ns != 0 {
        // The TSC clock started after calibration: add the time from entry to there.
        let ns = prompt_ns + tsc.ticks_to_ns(tsc.start().wrapping_sub(entry));
        serial::write(
            format!(
                "weft: the shell first waited for input (the first prompt) {}.{:03} ms after kernel entry\r\n",
                ns / 1_000_000,
                ns / 1000 % 1000
            )
            .as_bytes(),
        );
    }
    serial::write(format!("weft: init exited with status {status}; powering off\r\n").as_bytes());
    power::power_off(u8::try_from(status).map_or(power::MAX_STATUS, |s| s.min(power::MAX_STATUS)))
}
