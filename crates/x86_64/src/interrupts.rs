//! CPU tables and interrupt entry: the GDT with a TSS (so that a double fault runs on a
//! stack of its own), the IDT, the two 8259 PICs, and the entry stubs.
//!
//! The `x86_64` crate's ready-made handler type needs the `x86-interrupt` calling
//! convention, which only nightly Rust has; the kernel builds on stable, so the entry stubs
//! are a few lines of assembly here instead ([`global_asm!`] below), and the `x86_64` crate
//! provides everything else (descriptor tables, segment loads, the PIC driver's ports).
//!
//! - Exceptions (vectors 0-19) never return: the stub pushes the vector (and a zero where
//!   the CPU pushes no error code) and calls [`exception_entry`], which reports the fault
//!   and powers off. A double fault switches to its own IST stack first, so a kernel stack
//!   overflow (the guard page) still gets a report.
//! - Device interrupts (IRQ 0, the PIT; IRQ 4, COM1; IRQ 7 and 15, the PICs' spurious
//!   lines) save the caller-saved registers, call [`irq_entry`] and return with `iretq`.
//!   The kernel target has no SSE or x87 code (it is soft-float), so there is no vector
//!   state to save, and no red zone, so the interrupted code's stack below `rsp` is free.

use alloc::boxed::Box;
use alloc::vec;
use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use pic8259::ChainedPics;
use spinning_top::Spinlock;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::structures::tss::TaskStateSegment;

/// The PICs' vectors: IRQ n is vector 32 + n.
const PIC_OFFSET: u8 = 32;
/// The IST slot of the double-fault stack.
const DOUBLE_FAULT_IST: u16 = 0;
/// The double-fault stack's size.
const DOUBLE_FAULT_STACK: usize = 64 * 1024;

static PICS: Spinlock<ChainedPics> =
    // SAFETY: 32..48 are the first vectors after the CPU's exceptions, used by nothing
    // else here, and these are the PC's standard PIC ports.
    Spinlock::new(unsafe { ChainedPics::new(PIC_OFFSET, PIC_OFFSET + 8) });

/// The double-fault stack's bounds, for the fault report's stack walk.
pub static DOUBLE_FAULT_STACK_START: AtomicU64 = AtomicU64::new(0);
/// See [`DOUBLE_FAULT_STACK_START`].
pub static DOUBLE_FAULT_STACK_END: AtomicU64 = AtomicU64::new(0);

/// The registers an exception stub hands to [`exception_entry`]: what it pushed (vector,
/// error code) and then what the CPU pushed.
#[repr(C)]
pub struct ExceptionFrame {
    /// The exception's vector.
    pub vector: u64,
    /// The error code (0 for exceptions without one).
    pub error: u64,
    /// Where the fault happened.
    pub rip: u64,
    /// The code segment then.
    pub cs: u64,
    /// The flags then.
    pub rflags: u64,
    /// The stack pointer then.
    pub rsp: u64,
    /// The stack segment then.
    pub ss: u64,
}

// The entry stubs. `weft_exception V, E` defines `weft_exception_V` for vector V, which
// pushes a zero error code unless E says the CPU pushed one; `weft_irq N` defines
// `weft_irq_N` for PIC line N. Before the `call`, the stack is 16-byte aligned as the
// System V ABI wants: the CPU aligns it before pushing its 5-word frame, and the stubs
// push 9 more words (IRQs) or realign it (exceptions, which never return).
global_asm!(
    r#"
    .macro weft_exception vector, has_error
    .global weft_exception_\vector
    weft_exception_\vector:
    .if \has_error == 0
        push 0
    .endif
        push \vector
        mov rdi, rsp
        and rsp, -16
        cld
        call {exception}
        ud2
    .endm

    .macro weft_irq line
    .global weft_irq_\line
    weft_irq_\line:
        push rax
        push rcx
        push rdx
        push rsi
        push rdi
        push r8
        push r9
        push r10
        push r11
        mov edi, \line
        cld
        call {irq}
        pop r11
        pop r10
        pop r9
        pop r8
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rax
        iretq
    .endm

    weft_exception 0, 0
    weft_exception 1, 0
    weft_exception 2, 0
    weft_exception 3, 0
    weft_exception 4, 0
    weft_exception 5, 0
    weft_exception 6, 0
    weft_exception 7, 0
    weft_exception 8, 1
    weft_exception 10, 1
    weft_exception 11, 1
    weft_exception 12, 1
    weft_exception 13, 1
    weft_exception 14, 1
    weft_exception 16, 0
    weft_exception 17, 1
    weft_exception 18, 0
    weft_exception 19, 0
    weft_irq 0
    weft_irq 4
    weft_irq 7
    weft_irq 15
    "#,
    exception = sym exception_entry,
    irq = sym irq_entry,
);

unsafe extern "C" {
    fn weft_exception_0();
    fn weft_exception_1();
    fn weft_exception_2();
    fn weft_exception_3();
    fn weft_exception_4();
    fn weft_exception_5();
    fn weft_exception_6();
    fn weft_exception_7();
    fn weft_exception_8();
    fn weft_exception_10();
    fn weft_exception_11();
    fn weft_exception_12();
    fn weft_exception_13();
    fn weft_exception_14();
    fn weft_exception_16();
    fn weft_exception_17();
    fn weft_exception_18();
    fn weft_exception_19();
    fn weft_irq_0();
    fn weft_irq_4();
    fn weft_irq_7();
    fn weft_irq_15();
}

/// Called by every exception stub with the frame it built; never returns.
extern "C" fn exception_entry(frame: &ExceptionFrame) -> ! {
    crate::fault::exception(frame)
}

/// Called by the IRQ stubs with the PIC line.
extern "C" fn irq_entry(line: u32) {
    match line {
        // The timer only ends a `hlt` (see `MetalPlatform::wait`).
        0 => {}
        4 => crate::serial::on_interrupt(),
        // Spurious: the PIC raised a line and withdrew it. No end-of-interrupt for the
        // primary's line 7; for the secondary's line 15, only the primary gets one.
        7 => return,
        15 => {
            // SAFETY: port 0x20 is the primary PIC's command port; 0x20 is its
            // end-of-interrupt command, owed for the cascade line the secondary used.
            unsafe { x86_64::instructions::port::Port::<u8>::new(0x20).write(0x20) };
            return;
        }
        _ => {}
    }
    // SAFETY: `line` is one of the PIC lines whose interrupt is being handled right now,
    // so it is owed exactly this end-of-interrupt.
    unsafe { PICS.lock().notify_end_of_interrupt(PIC_OFFSET + line as u8) };
}

/// Loads the GDT (with the TSS), the IDT, and sets up the PICs with only the timer and
/// COM1 unmasked. Interrupts stay disabled; [`enable`] turns them on. Called once, after
/// the heap is ready (the tables live in leaked heap allocations, which is what makes them
/// `'static`).
pub fn init() {
    let stack = vec![0u8; DOUBLE_FAULT_STACK].leak();
    let stack_start = stack.as_ptr() as u64;
    let stack_end = stack_start + DOUBLE_FAULT_STACK as u64;
    DOUBLE_FAULT_STACK_START.store(stack_start, Ordering::Relaxed);
    DOUBLE_FAULT_STACK_END.store(stack_end, Ordering::Relaxed);
    let tss = Box::leak(Box::new(TaskStateSegment::new()));
    tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST)] = VirtAddr::new(stack_end & !0xf);
    let tss: &'static TaskStateSegment = tss;

    let gdt = Box::leak(Box::new(GlobalDescriptorTable::new()));
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss_selector = gdt.append(Descriptor::tss_segment(tss));
    let gdt: &'static GlobalDescriptorTable = gdt;
    gdt.load();
    // SAFETY: the selectors name the descriptors just appended to the GDT that is now
    // loaded: a 64-bit kernel code segment, a kernel data segment for SS (which `iretq`
    // checks), and an available TSS, loaded once.
    unsafe {
        CS::set_reg(code);
        SS::set_reg(data);
        load_tss(tss_selector);
    }

    let idt = Box::leak(Box::new(InterruptDescriptorTable::new()));
    let addr = |f: unsafe extern "C" fn()| VirtAddr::new(f as usize as u64);
    // SAFETY: each address is one of the stubs above, which follow the interrupt calling
    // convention for their vector: exception stubs expect the error code exactly where
    // the CPU pushes one (8, 10-14, 17), IRQ stubs return with `iretq`. The double-fault
    // stack index names the IST slot set in the TSS loaded above.
    unsafe {
        idt.divide_error.set_handler_addr(addr(weft_exception_0));
        idt.debug.set_handler_addr(addr(weft_exception_1));
        idt.non_maskable_interrupt
            .set_handler_addr(addr(weft_exception_2));
        idt.breakpoint.set_handler_addr(addr(weft_exception_3));
        idt.overflow.set_handler_addr(addr(weft_exception_4));
        idt.bound_range_exceeded
            .set_handler_addr(addr(weft_exception_5));
        idt.invalid_opcode.set_handler_addr(addr(weft_exception_6));
        idt.device_not_available
            .set_handler_addr(addr(weft_exception_7));
        idt.double_fault
            .set_handler_addr(addr(weft_exception_8))
            .set_stack_index(DOUBLE_FAULT_IST);
        idt.invalid_tss.set_handler_addr(addr(weft_exception_10));
        idt.segment_not_present
            .set_handler_addr(addr(weft_exception_11));
        idt.stack_segment_fault
            .set_handler_addr(addr(weft_exception_12));
        idt.general_protection_fault
            .set_handler_addr(addr(weft_exception_13));
        idt.page_fault.set_handler_addr(addr(weft_exception_14));
        idt.x87_floating_point
            .set_handler_addr(addr(weft_exception_16));
        idt.alignment_check
            .set_handler_addr(addr(weft_exception_17));
        idt.machine_check.set_handler_addr(addr(weft_exception_18));
        idt.simd_floating_point
            .set_handler_addr(addr(weft_exception_19));
        idt[PIC_OFFSET].set_handler_addr(addr(weft_irq_0));
        idt[PIC_OFFSET + 4].set_handler_addr(addr(weft_irq_4));
        idt[PIC_OFFSET + 7].set_handler_addr(addr(weft_irq_7));
        idt[PIC_OFFSET + 15].set_handler_addr(addr(weft_irq_15));
    }
    let idt: &'static InterruptDescriptorTable = idt;
    idt.load();

    let mut pics = PICS.lock();
    // SAFETY: interrupts are disabled, and the IDT just loaded has handlers for every
    // vector the PICs can raise once unmasked (32 timer, 36 COM1, 39 and 47 spurious).
    // Unmasked: IRQ 0 (PIT), 2 (the cascade), 4 (COM1).
    unsafe {
        pics.initialize();
        pics.write_masks(!0b0001_0101, 0xff);
    }
}

/// Turns interrupts on.
pub fn enable() {
    x86_64::instructions::interrupts::enable();
}
