//! The boot measurement: weft against Linux under the same QEMU options.
//!
//! Both boot to a shell prompt on the serial console: weft from its disk image (firmware,
//! bootloader, kernel, init, sh), Linux (Debian's `linux-image-amd64` kernel, loaded by
//! QEMU's `-kernel`) with an initramfs holding only Debian's `busybox-static` as `/init`
//! running `sh`. The time is wall time from starting QEMU to the prompt; weft also
//! reports its own times from kernel entry (TSC) to init's start and to the first prompt
//! (when the console is first waited for).

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{BANNER, Machine, PROMPT, Session};

/// The longest a boot may take here.
const BOOT: Duration = Duration::from_secs(300);

/// One weft boot: wall time to the prompt, and what the kernel says of its own part.
pub struct WeftBoot {
    /// From starting QEMU to the shell's prompt.
    pub to_prompt: Duration,
    /// The kernel's line (`weft: x86_64, ... init started N ms after kernel entry`).
    pub banner: String,
    /// What the kernel says at power-off of the time from its entry to the first prompt.
    pub kernel_to_prompt: String,
}

/// Boots `machine` to the shell prompt and ends it.
///
/// # Errors
/// QEMU cannot start, or there is no prompt within 300 s.
pub fn weft_boot(machine: &Machine) -> Result<WeftBoot> {
    let mut session = Session::start(machine)?;
    let before = session.expect(PROMPT, BOOT)?;
    let to_prompt = session.started().elapsed();
    let banner = before
        .lines()
        .find(|l| l.starts_with(BANNER))
        .unwrap_or_default()
        .to_string();
    session.send(b"exit\r")?;
    let end = session.expect("weft: init exited", Duration::from_secs(60))?;
    let kernel_to_prompt = end
        .lines()
        .find_map(|l| l.split("(the first prompt) ").nth(1))
        .unwrap_or("not reported")
        .to_string();
    let _ = session.wait(Duration::from_secs(30));
    Ok(WeftBoot {
        to_prompt,
        banner,
        kernel_to_prompt,
    })
}

/// Boots Linux `kernel` with `initramfs` under `machine`'s options (its image unused) to
/// busybox's prompt; returns the wall time from starting QEMU.
///
/// # Errors
/// QEMU cannot start, or there is no prompt within 300 s.
pub fn linux_boot(machine: &Machine, kernel: &Path, initramfs: &Path) -> Result<Duration> {
    let mut cmd = machine.command_without_disk();
    cmd.arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", "console=ttyS0 quiet panic=-1"]);
    let mut session = Session::spawn(cmd)?;
    session.expect("# ", BOOT)?;
    Ok(session.started().elapsed())
}

/// Writes an initramfs (newc cpio) whose `/init` is `busybox` running `sh` on the console.
///
/// # Errors
/// `busybox` cannot be read or `out` written.
pub fn busybox_initramfs(busybox: &Path, out: &Path) -> Result<()> {
    let binary =
        std::fs::read(busybox).with_context(|| format!("reading {}", busybox.display()))?;
    let init = b"#!/bin/busybox sh\nexec /bin/busybox sh\n";
    let mut cpio = Vec::new();
    let mut ino = 1;
    let mut add = |name: &str, mode: u32, rdev: (u32, u32), data: &[u8]| {
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        ino += 1;
        cpio.extend_from_slice(b"070701");
        for f in fields {
            let _ = write!(cpio, "{f:08x}");
        }
        cpio.extend_from_slice(name.as_bytes());
        cpio.push(0);
        while cpio.len() % 4 != 0 {
            cpio.push(0);
        }
        cpio.extend_from_slice(data);
        while cpio.len() % 4 != 0 {
            cpio.push(0);
        }
    };
    add("bin", 0o040_755, (0, 0), &[]);
    add("dev", 0o040_755, (0, 0), &[]);
    add("dev/console", 0o020_600, (5, 1), &[]);
    add("bin/busybox", 0o100_755, (0, 0), &binary);
    add("bin/sh", 0o120_777, (0, 0), b"busybox");
    add("init", 0o100_755, (0, 0), init);
    add("TRAILER!!!", 0, (0, 0), &[]);
    std::fs::write(out, cpio).with_context(|| format!("writing {}", out.display()))
}

/// The version of QEMU, for the report.
pub fn qemu_version() -> String {
    Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}
