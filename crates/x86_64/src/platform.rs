//! [`MetalPlatform`]: the kernel's [`Platform`] on a PC.
//!
//! - Console: COM1. The serial line is raw, so this is where a terminal's line discipline
//!   lives, as the host's terminal does it for the hosted platform: typed characters are
//!   echoed and collected into a line, Backspace/Delete erases, Ctrl-U erases the line,
//!   Enter (CR, or LF, or CR LF) completes it, and only then do programs see it. Ctrl-D
//!   ends one read (end of input for a program reading an empty line, or the partial line
//!   as it stands), Ctrl-C stops the machine with status 130 as Ctrl-C ends a hosted weft
//!   (128 + SIGINT; QEMU's debug-exit passes it on as 126, see `power`). Output `\n`
//!   becomes `\r\n`.
//! - Clocks: the calibrated TSC; the wall clock is the RTC at boot plus the TSC since.
//! - Random: RDRAND; without it, a ChaCha20 generator seeded at boot from the TSC and the
//!   RTC, which is a weak seed (boot says so).
//! - Wait: `hlt` until an interrupt, with the PIT armed for the deadline.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use weft_kernel::platform::{ConsoleStream, Platform};
use x86_64::instructions::interrupts;
use x86_64::instructions::random::RdRand;

use crate::clock::{self, Tsc};
use crate::{power, serial};

/// When a read of the console first found nothing typed (in nanoseconds of the monotonic
/// clock, 0 until then): the shell waiting at its first prompt, as the boot measurement
/// counts it.
pub static FIRST_CONSOLE_WAIT_NS: AtomicU64 = AtomicU64::new(0);

/// Exit status when Ctrl-C stops the machine (128 + SIGINT, as for a hosted weft).
const STATUS_INTERRUPTED: u8 = 130;

/// Random bytes: the CPU's generator, or a seeded one where there is none.
enum Random {
    RdRand(RdRand),
    Seeded(Box<ChaCha20Rng>),
}

/// The line discipline's state.
#[derive(Default)]
struct Terminal {
    /// The line being typed.
    line: Vec<u8>,
    /// Completed input, not yet read.
    ready: VecDeque<u8>,
    /// Ctrl-D on an empty line: the next read returns end of input.
    eof: bool,
    /// The last byte was CR (so an LF right after it is the same Enter).
    after_cr: bool,
}

impl Terminal {
    /// Takes one typed byte; appends what to echo to `echo`.
    fn feed(&mut self, byte: u8, echo: &mut Vec<u8>) {
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        match byte {
            b'\n' if after_cr => {}
            b'\r' | b'\n' => {
                self.line.push(b'\n');
                self.ready.extend(self.line.drain(..));
                echo.extend_from_slice(b"\r\n");
            }
            0x7f | 0x08 => {
                // Erase one character: a UTF-8 lead byte and its continuation bytes.
                while let Some(b) = self.line.pop() {
                    if b & 0xc0 != 0x80 {
                        echo.extend_from_slice(b"\x08 \x08");
                        break;
                    }
                }
            }
            0x15 => {
                let chars = self.line.iter().filter(|&&b| b & 0xc0 != 0x80).count();
                for _ in 0..chars {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                self.line.clear();
            }
            0x04 => {
                if self.line.is_empty() {
                    self.eof = true;
                } else {
                    self.ready.extend(self.line.drain(..));
                }
            }
            0x03 => {
                serial::write(b"^C\r\nweft: interrupted (status 130); powering off\r\n");
                power::power_off(STATUS_INTERRUPTED);
            }
            #[cfg(feature = "fault-trigger")]
            0x1c => crate::fault::trigger(),
            b if b >= 0x20 || b == b'\t' => {
                self.line.push(b);
                echo.push(b);
            }
            _ => {}
        }
    }

    fn has_input(&self) -> bool {
        !self.ready.is_empty() || self.eof
    }
}

/// The kernel's machine on x86_64.
pub struct MetalPlatform {
    tsc: Tsc,
    /// The wall clock at [`Tsc`] zero, in nanoseconds since the Unix epoch.
    wall_at_start: u64,
    random: Random,
    terminal: Terminal,
}

impl MetalPlatform {
    /// A platform over the devices set up at boot: `tsc` counts from boot, `rtc_seconds`
    /// is the RTC then. Says on the console if random numbers come from a weak seed.
    pub fn new(tsc: Tsc, rtc_seconds: u64) -> MetalPlatform {
        let random = match RdRand::new() {
            Some(rdrand) => Random::RdRand(rdrand),
            None => {
                serial::write(
                    b"weft: this CPU has no RDRAND; random numbers come from ChaCha20 seeded \
                      with the TSC and the RTC, which is a weak seed\r\n",
                );
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&clock::rdtsc().to_le_bytes());
                seed[8..16].copy_from_slice(&rtc_seconds.to_le_bytes());
                seed[16..24].copy_from_slice(&tsc.start().to_le_bytes());
                Random::Seeded(Box::new(ChaCha20Rng::from_seed(seed)))
            }
        };
        MetalPlatform {
            tsc,
            wall_at_start: rtc_seconds.saturating_mul(1_000_000_000),
            random,
            terminal: Terminal::default(),
        }
    }

    /// Runs what was typed through the line discipline, echoing it.
    fn pump(&mut self) {
        let mut echo = Vec::new();
        while let Some(byte) = serial::read_byte() {
            self.terminal.feed(byte, &mut echo);
        }
        if !echo.is_empty() {
            serial::write(&echo);
        }
    }
}

impl Platform for MetalPlatform {
    fn console_write(&mut self, _stream: ConsoleStream, bytes: &[u8]) {
        // Both streams go to the one serial line, `\n` as `\r\n`.
        for piece in bytes.split_inclusive(|&b| b == b'\n') {
            match piece.strip_suffix(b"\n") {
                Some(text) => {
                    serial::write(text);
                    serial::write(b"\r\n");
                }
                None => serial::write(piece),
            }
        }
    }

    fn console_read(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.pump();
        let t = &mut self.terminal;
        if !t.ready.is_empty() {
            let n = buf.len().min(t.ready.len());
            for (b, c) in buf.iter_mut().zip(t.ready.drain(..n)) {
                *b = c;
            }
            return Some(n);
        }
        if t.eof {
            t.eof = false;
            return Some(0);
        }
        if FIRST_CONSOLE_WAIT_NS.load(Ordering::Relaxed) == 0 {
            FIRST_CONSOLE_WAIT_NS.store(self.monotonic_ns().max(1), Ordering::Relaxed);
        }
        None
    }

    fn console_is_terminal(&self) -> bool {
        true
    }

    fn console_output_is_terminal(&self) -> bool {
        true
    }

    fn monotonic_ns(&self) -> u64 {
        self.tsc.now_ns()
    }

    fn wall_clock_ns(&self) -> u64 {
        self.wall_at_start.saturating_add(self.tsc.now_ns())
    }

    fn random(&mut self, buf: &mut [u8]) {
        match &mut self.random {
            Random::RdRand(rdrand) => {
                for chunk in buf.chunks_mut(8) {
                    // RDRAND may fail transiently when its entropy is drained; retrying
                    // is what Intel recommends. If it keeps failing, fall back to the TSC
                    // rather than hang (it practically never does).
                    let value = (0..16)
                        .find_map(|_| rdrand.get_u64())
                        .unwrap_or_else(clock::rdtsc);
                    chunk.copy_from_slice(&value.to_le_bytes()[..chunk.len()]);
                }
            }
            Random::Seeded(rng) => rng.fill_bytes(buf),
        }
    }

    fn wait(&mut self, deadline: Option<u64>, console: bool) {
        self.pump();
        interrupts::disable();
        if console && (self.terminal.has_input() || serial::has_input()) {
            interrupts::enable();
            return;
        }
        if let Some(deadline) = deadline {
            let now = self.monotonic_ns();
            if now >= deadline {
                interrupts::enable();
                return;
            }
            clock::arm_oneshot(deadline - now);
        }
        // `sti` takes effect after the next instruction, so an interrupt that came in
        // since `disable` wakes this `hlt` rather than being missed.
        interrupts::enable_and_hlt();
    }
}
