//! COM1, the serial console: a 16550 UART at I/O port 0x3f8, IRQ 4.
//!
//! Output is written synchronously: [`write`] waits for room in the UART's transmit FIFO
//! before each chunk, so no byte is ever dropped (QEMU holds the FIFO full while its host
//! side cannot take more). Input is taken by the receive interrupt ([`on_interrupt`]) into
//! a ring buffer, so reading never spins on the device and the UART's 16-byte FIFO cannot
//! overflow while the kernel runs a process. The ring is shared with the interrupt handler;
//! the kernel side takes its lock with interrupts disabled, so the two never contend.

use spinning_top::Spinlock;
use uart_16550::backend::PioBackend;
use uart_16550::spec::registers::IER;
use uart_16550::{BaudRate, Config, Uart16550};
use x86_64::instructions::interrupts::without_interrupts;

/// COM1's base I/O port.
pub const COM1: u16 = 0x3f8;

/// Bytes of input that may wait for the kernel; more is dropped, as a terminal would.
const RX_CAPACITY: usize = 64 * 1024;

static UART: Spinlock<Option<Uart16550<PioBackend>>> = Spinlock::new(None);
static RX: Spinlock<Ring> = Spinlock::new(Ring::new());

/// A fixed ring of received bytes.
struct Ring {
    bytes: [u8; RX_CAPACITY],
    head: usize,
    len: usize,
}

impl Ring {
    const fn new() -> Ring {
        Ring {
            bytes: [0; RX_CAPACITY],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, byte: u8) {
        if self.len < RX_CAPACITY {
            self.bytes[(self.head + self.len) % RX_CAPACITY] = byte;
            self.len += 1;
        }
    }

    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.bytes[self.head];
        self.head = (self.head + 1) % RX_CAPACITY;
        self.len -= 1;
        Some(byte)
    }
}

/// Sets up COM1 (115200 8N1, FIFOs on, the receive interrupt enabled). Returns false when
/// there is no UART there; the console then stays silent.
pub fn init() -> bool {
    let early = take_early_input();
    // SAFETY: 0x3f8..0x400 is COM1's register block on a PC, and this module is its only
    // user (the fault reporter writes to it only once the kernel has stopped).
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else {
        return false;
    };
    let config = Config {
        baud_rate: BaudRate::Baud115200,
        interrupts: IER::DATA_READY,
        ..Config::DEFAULT
    };
    if uart.init(config).is_err() {
        return false;
    }
    without_interrupts(|| {
        *UART.lock() = Some(uart);
        let mut rx = RX.lock();
        for &b in early.iter().flatten() {
            rx.push(b);
        }
    });
    true
}

/// Bytes typed before the kernel set up the UART (during the firmware and bootloader),
/// which the driver's `init` would discard: at most a FIFO's worth.
fn take_early_input() -> [Option<u8>; 16] {
    let mut early = [None; 16];
    // SAFETY: reads of COM1's line control, line status and receive registers: they
    // touch no memory, and reading the receive register only takes the byte it holds.
    // With DLAB set (line control bit 7) offset 0 is the divisor latch, not data, so
    // nothing is read then.
    unsafe {
        use x86_64::instructions::port::Port;
        if Port::<u8>::new(COM1 + 3).read() & 0x80 != 0 {
            return early;
        }
        let mut status = Port::<u8>::new(COM1 + 5);
        let mut data = Port::<u8>::new(COM1);
        for slot in &mut early {
            if status.read() & 0x01 == 0 {
                break;
            }
            *slot = Some(data.read());
        }
    }
    early
}

/// Writes all of `bytes`, waiting for the transmitter as needed.
pub fn write(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // One FIFO's worth at a time, so the receive interrupt is not held off for long.
        let sent = without_interrupts(|| match UART.lock().as_mut() {
            Some(uart) => uart.send_bytes(rest),
            None => rest.len(),
        });
        rest = &rest[sent..];
        if sent == 0 {
            core::hint::spin_loop();
        }
    }
}

/// The receive interrupt: moves what the UART holds into the ring.
pub fn on_interrupt() {
    let mut uart = UART.lock();
    let Some(uart) = uart.as_mut() else {
        return;
    };
    let mut rx = RX.lock();
    let mut buf = [0u8; 16];
    loop {
        let n = uart.receive_bytes(&mut buf);
        for &b in &buf[..n] {
            rx.push(b);
        }
        if n < buf.len() {
            break;
        }
    }
}

/// Takes the next received byte, if any.
pub fn read_byte() -> Option<u8> {
    without_interrupts(|| RX.lock().pop())
}

/// Whether received bytes wait in the ring. Call with interrupts disabled to act on the
/// answer before the next interrupt can change it.
pub fn has_input() -> bool {
    without_interrupts(|| RX.lock().len > 0)
}
