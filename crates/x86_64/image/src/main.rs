//! `weft-x86_64-image`: builds weft's x86_64 disk image and boots it under QEMU.
//!
//! ```text
//! weft-x86_64-image build KERNEL IMAGE            write the BIOS disk image
//! weft-x86_64-image run KERNEL IMAGE [QEMU ARGS]  write it and boot it, console on this terminal
//! ```
//!
//! `run` exits with init's status as the kernel passes it on (at most 126; 127 after a
//! kernel fault), like `weft boot`. KVM is used when it works (a trial boot; see
//! `Accel::detect`), else TCG; `WEFT_QEMU_ACCEL=kvm|tcg` decides instead. The image is for
//! BIOS (SeaBIOS), or for UEFI (OVMF) with `WEFT_FIRMWARE=uefi`; `WEFT_QEMU_MEMORY` sets
//! the RAM (default 512M). Ctrl-C ends QEMU.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use weft_x86_64_image::{Accel, FAULT_STATUS, Firmware, Machine, build_image, decode_status};

const USAGE: &str = "usage: weft-x86_64-image build KERNEL IMAGE\n       \
                     weft-x86_64-image run KERNEL IMAGE [QEMU ARGS...]";

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
                None => {
                    eprintln!(
                        "weft-x86_64-image: QEMU ended without a status from weft ({status})"
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        _ => bail!("{USAGE}"),
    }
}
