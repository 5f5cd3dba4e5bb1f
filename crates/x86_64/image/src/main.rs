//! `weft-x86_64-image`: builds weft's x86_64 disk image and boots it under QEMU.
//!
//! ```text
//! weft-x86_64-image build KERNEL IMAGE            write the disk image
//! weft-x86_64-image run KERNEL IMAGE [QEMU ARGS]  write it and boot it, console on this terminal
//! weft-x86_64-image bench-boot KERNEL IMAGE VMLINUZ BUSYBOX [RUNS]
//!                                                 time weft's boot to the shell prompt
//!                                                 against Linux + busybox (median of RUNS)
//! ```
//!
//! `run` exits with init's status as the kernel passes it on (at most 126; 127 after a
//! kernel fault), like `weft boot`. KVM is used when it works (a trial boot; see
//! `Accel::detect`), else TCG; `WEFT_QEMU_ACCEL=kvm|tcg` decides instead. The image is for
//! BIOS (SeaBIOS), or for UEFI (OVMF) with `WEFT_FIRMWARE=uefi`; `WEFT_QEMU_MEMORY` sets
//! the RAM (default 512M). Ctrl-C ends QEMU.

#![forbid(unsafe_code)]

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use weft_x86_64_image::{
    Accel, FAULT_STATUS, Firmware, Machine, bench, build_image, decode_status,
};

const USAGE: &str = "usage: weft-x86_64-image build KERNEL IMAGE\n       \
                     weft-x86_64-image run KERNEL IMAGE [QEMU ARGS...]\n       \
                     weft-x86_64-image bench-boot KERNEL IMAGE VMLINUZ BUSYBOX [RUNS]";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, kernel, image, rest) = match args.as_slice() {
        [command, kernel, image, rest @ ..] => (command.as_str(), kernel, image, rest),
        _ => bail!("{USAGE}"),
    };
    let (kernel, image) = (PathBuf::from(kernel), PathBuf::from(image));
    let firmware = Firmware::from_env();
    build_image(&kernel, &image, firmware)?;
    match command {
        "build" if rest.is_empty() => Ok(ExitCode::SUCCESS),
        "run" => {
            let accel = Accel::detect(&image, firmware);
            let mut machine = Machine::new(&image, accel, firmware);
            if let Ok(memory) = std::env::var("WEFT_QEMU_MEMORY") {
                machine.memory = memory;
            }
            eprintln!(
                "weft-x86_64-image: booting {} under QEMU ({}, {}, {} of RAM); Ctrl-C ends QEMU",
                image.display(),
                machine.accel,
                machine.firmware,
                machine.memory
            );
            let status = machine
                .command()
                .args(rest)
                .status()
                .context("running qemu-system-x86_64")?;
            match decode_status(status) {
                Some(FAULT_STATUS) => {
                    eprintln!("weft-x86_64-image: the kernel faulted (the report is above)");
                    Ok(ExitCode::from(FAULT_STATUS))
                }
                Some(code) => Ok(ExitCode::from(code)),
                // Ctrl-C on the terminal ends QEMU (its stdio console lets SIGINT through),
                // as it ends a hosted weft: 128 + SIGINT.
                None if status.signal() == Some(2) => Ok(ExitCode::from(130)),
                None => {
                    eprintln!(
                        "weft-x86_64-image: QEMU ended without a status from weft ({status})"
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        "bench-boot" => bench_boot(&image, firmware, rest),
        _ => bail!("{USAGE}"),
    }
}

/// `bench-boot`: weft and Linux booted `RUNS` times each (default 5), alternately, under
/// the same QEMU options; prints the medians.
fn bench_boot(image: &std::path::Path, firmware: Firmware, rest: &[String]) -> Result<ExitCode> {
    let (vmlinuz, busybox, runs) = match rest {
        [v, b] => (v, b, 5),
        [v, b, n] => (v, b, n.parse().context("RUNS")?),
        _ => bail!("{USAGE}"),
    };
    let accel = Accel::detect(image, firmware);
    let mut machine = Machine::new(image, accel, firmware);
    if let Ok(memory) = std::env::var("WEFT_QEMU_MEMORY") {
        machine.memory = memory;
    }
    let initramfs = image.with_extension("busybox.cpio");
    bench::busybox_initramfs(busybox.as_ref(), &initramfs)?;
    let (mut weft, mut linux, mut kernel) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let boot = bench::weft_boot(&machine)?;
        weft.push(boot.to_prompt);
        let init = boot
            .banner
            .split("init started ")
            .nth(1)
            .unwrap_or("?")
            .to_string();
        kernel.push((init, boot.kernel_to_prompt));
        linux.push(bench::linux_boot(&machine, vmlinuz.as_ref(), &initramfs)?);
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (w, l) = (median(&mut weft), median(&mut linux));
    println!("boot to the shell prompt, wall time from starting QEMU (median of {runs}):");
    println!(
        "  {} ({accel}, {firmware}, -m {})",
        bench::qemu_version(),
        machine.memory
    );
    println!(
        "  weft   {:>8.3} s   ({})",
        w.as_secs_f64(),
        format_all(&weft)
    );
    println!(
        "  linux  {:>8.3} s   ({})",
        l.as_secs_f64(),
        format_all(&linux)
    );
    println!("  weft/linux {:.2}x", w.as_secs_f64() / l.as_secs_f64());
    println!("  weft's kernel (TSC), per run: init started / first prompt");
    for (init, prompt) in &kernel {
        println!("    {init} / {prompt}");
    }
    Ok(ExitCode::SUCCESS)
}

fn format_all(times: &[std::time::Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.3}", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" ")
}
