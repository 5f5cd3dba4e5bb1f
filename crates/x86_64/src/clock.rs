//! Time: the TSC for the monotonic clock, the PIT to calibrate it and as the one-shot wake-up
//! timer, the CMOS real-time clock for the wall clock at boot.
//!
//! - The TSC counts at a fixed rate on every CPU QEMU/KVM presents (and on real ones with an
//!   invariant TSC); its rate is measured once at boot against the PIT's 1.193182 MHz
//!   clock: channel 2 (the speaker channel, which needs no interrupt) counts down, and its
//!   count is read beside the TSC at the start and after [`CALIBRATION_MS`].
//! - The PIT's channel 0 is the wake-up timer: mode 0 (interrupt on terminal count) raises
//!   IRQ 0 once after the count, at most 65535 ticks (about 55 ms); a longer wait takes
//!   several wake-ups, and the kernel checks its deadlines after each.
//! - The RTC is read once, at boot (whole seconds); the wall clock is that plus the
//!   monotonic time since.

use x86_64::instructions::port::Port;

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// How long the TSC is measured against the PIT at boot.
const CALIBRATION_MS: u64 = 5;

const PIT_CHANNEL0: u16 = 0x40;
const PIT_CHANNEL2: u16 = 0x42;
const PIT_COMMAND: u16 = 0x43;
/// Port B of the keyboard controller: bit 0 gates PIT channel 2, bit 1 drives the speaker
/// from it, bit 5 reads channel 2's output.
const PORT_B: u16 = 0x61;
const CMOS_INDEX: u16 = 0x70;
const CMOS_DATA: u16 = 0x71;

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the counter; every x86_64 CPU has it, and the kernel runs
    // at CPL 0, where it is never disabled (CR4.TSD only restricts ring 3).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Writes `value` to I/O port `port`.
///
/// Only for the PIT and CMOS ports named in this module.
fn outb(port: u16, value: u8) {
    // SAFETY: callers pass only this module's PIT, port B and CMOS ports, which the kernel
    // owns (no other code touches them); writing them changes timer state and nothing in
    // memory.
    unsafe { Port::<u8>::new(port).write(value) }
}

/// Reads I/O port `port` (the PIT and CMOS ports of this module only).
fn inb(port: u16) -> u8 {
    // SAFETY: as in `outb`: a read of one of this module's device ports, with no effect on
    // memory.
    unsafe { Port::<u8>::new(port).read() }
}

/// Reads PIT channel 2's count between two TSC reads: `(TSC at the midpoint, count, TSC
/// ticks the read took)`.
fn sample_channel2() -> (u64, u16, u64) {
    let before = rdtsc();
    outb(PIT_COMMAND, 0b1000_0000); // latch channel 2's count
    let low = inb(PIT_CHANNEL2);
    let high = inb(PIT_CHANNEL2);
    let after = rdtsc();
    let window = after.wrapping_sub(before);
    (before + window / 2, u16::from_le_bytes([low, high]), window)
}

/// The sample of [`sample_channel2`] taken in the shortest time of a few, so that a read
/// delayed by an interruption (a host preempting the virtual CPU) is not the one used.
fn best_sample() -> (u64, u16) {
    let mut best = sample_channel2();
    for _ in 0..4 {
        let s = sample_channel2();
        if s.2 < best.2 {
            best = s;
        }
    }
    (best.0, best.1)
}

/// Measures the TSC's rate in Hz against PIT channel 2, busy-waiting for about
/// [`CALIBRATION_MS`]. Both clocks are read together at the start and at the end (the
/// PIT's count is latched between two TSC reads), so the result does not depend on how
/// long the wait really took, only on how closely each pair of reads sits together.
pub fn calibrate_tsc() -> u64 {
    // Channel 2 in mode 0 from the largest count (about 55 ms), gated on, speaker off.
    let b = inb(PORT_B) & !0x03;
    outb(PORT_B, b);
    outb(PIT_COMMAND, 0b1011_0000); // channel 2, low then high byte, mode 0, binary
    outb(PIT_CHANNEL2, 0xff);
    outb(PIT_CHANNEL2, 0xff);
    outb(PORT_B, b | 0x01);
    let (tsc_start, count_start) = best_sample();
    let wait = (PIT_HZ * CALIBRATION_MS / 1000) as u16;
    let (tsc_end, count_end) = loop {
        let (tsc, count) = best_sample();
        if count_start.wrapping_sub(count) >= wait {
            break (tsc, count);
        }
        core::hint::spin_loop();
    };
    outb(PORT_B, b);
    let pit_ticks = u64::from(count_start.wrapping_sub(count_end)).max(1);
    let tsc_ticks = tsc_end.wrapping_sub(tsc_start);
    u64::try_from(u128::from(tsc_ticks) * u128::from(PIT_HZ) / u128::from(pit_ticks))
        .unwrap_or(u64::MAX)
}

/// Arms the PIT to raise IRQ 0 once, after `ns` nanoseconds or 65535 ticks (about 55 ms),
/// whichever is shorter.
pub fn arm_oneshot(ns: u64) {
    let ticks = (u128::from(ns) * u128::from(PIT_HZ) / 1_000_000_000).clamp(1, 0xffff) as u16;
    outb(PIT_COMMAND, 0b0011_0000); // channel 0, low then high byte, mode 0, binary
    outb(PIT_CHANNEL0, (ticks & 0xff) as u8);
    outb(PIT_CHANNEL0, (ticks >> 8) as u8);
}

/// Stops the periodic tick the firmware left on channel 0: from now on IRQ 0 comes only
/// from [`arm_oneshot`] (this arms the longest one-shot, which is harmless).
pub fn stop_periodic_tick() {
    arm_oneshot(u64::MAX);
}

/// A monotonic clock over the TSC.
#[derive(Debug, Clone, Copy)]
pub struct Tsc {
    start: u64,
    hz: u64,
}

impl Tsc {
    /// A clock that reads zero now and counts at `hz`.
    pub fn new(hz: u64) -> Tsc {
        Tsc {
            start: rdtsc(),
            hz: hz.max(1),
        }
    }

    /// The TSC value this clock counts from.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Nanoseconds since [`Tsc::new`].
    pub fn now_ns(&self) -> u64 {
        self.ticks_to_ns(rdtsc().wrapping_sub(self.start))
    }

    /// `ticks` of the TSC in nanoseconds.
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(self.hz)).unwrap_or(u64::MAX)
    }
}

/// Reads CMOS register `reg`.
fn cmos(reg: u8) -> u8 {
    outb(CMOS_INDEX, reg);
    inb(CMOS_DATA)
}

/// The RTC's date and time, raw as the registers hold them.
#[derive(PartialEq, Eq, Clone, Copy)]
struct RtcRaw {
    second: u8,
    minute: u8,
    hour: u8,
    day: u8,
    month: u8,
    year: u8,
    century: u8,
}

fn read_rtc_raw() -> RtcRaw {
    // Wait for an update in progress to end, so the fields belong to one second.
    let mut spins = 0u32;
    while cmos(0x0a) & 0x80 != 0 && spins < 1_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    RtcRaw {
        second: cmos(0x00),
        minute: cmos(0x02),
        hour: cmos(0x04),
        day: cmos(0x07),
        month: cmos(0x08),
        year: cmos(0x09),
        // The century register that QEMU's and most PCs' ACPI tables name.
        century: cmos(0x32),
    }
}

/// The RTC's time in seconds since the Unix epoch, read at boot.
pub fn rtc_unix_seconds() -> u64 {
    // Read until two reads agree, so no field rolled over in between.
    let mut raw = read_rtc_raw();
    for _ in 0..8 {
        let again = read_rtc_raw();
        if again == raw {
            break;
        }
        raw = again;
    }
    let status_b = cmos(0x0b);
    let binary = status_b & 0x04 != 0;
    let hours_24 = status_b & 0x02 != 0;
    let decode = |v: u8| {
        if binary {
            u64::from(v)
        } else {
            u64::from(v >> 4) * 10 + u64::from(v & 0x0f)
        }
    };
    let pm = !hours_24 && raw.hour & 0x80 != 0;
    let mut hour = decode(raw.hour & 0x7f);
    if !hours_24 {
        hour %= 12;
        if pm {
            hour += 12;
        }
    }
    let century = match decode(raw.century) {
        c @ 19..=30 => c,
        _ => 20,
    };
    let year = century * 100 + decode(raw.year);
    let days = days_from_civil(year, decode(raw.month), decode(raw.day));
    days * 86_400 + hour * 3600 + decode(raw.minute) * 60 + decode(raw.second)
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil` algorithm: years from March, 400-year eras); dates before
/// 1970 give 0.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let (year, month, day) = (
        year as i64,
        month.clamp(1, 12) as i64,
        day.clamp(1, 31) as i64,
    );
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).unwrap_or(0)
}
