//! weft's x86_64 disk image and the QEMU machine it boots in.
//!
//! - [`build_image`] turns the kernel ELF (crate `weft-x86_64`, built for
//!   `x86_64-unknown-none`) into a raw disk image with the rust-osdev `bootloader`: for
//!   BIOS, an MBR, the boot stages and a FAT partition holding the kernel; for UEFI, a GPT
//!   disk whose EFI system partition holds the bootloader and the kernel. The kernel's
//!   debug information is stripped, so the firmware has less to load; the unstripped ELF
//!   stays where it was built, for looking up fault addresses.
//! - [`Machine`] says how QEMU runs it: KVM when it works ([`Accel::detect`], with the
//!   host's CPU), TCG otherwise (with `-cpu max`, which has RDRAND); SeaBIOS, or OVMF for
//!   a UEFI image; the serial console on standard input and output; the `isa-debug-exit`
//!   device, through which the kernel hands over init's exit status ([`decode_status`]).
//! - [`Session`] drives a booted machine over its serial console, for the tests and the
//!   boot benchmark.

#![forbid(unsafe_code)]

pub mod bench;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bootloader::{BootConfig, DiskImageBuilder};

/// What the kernel writes to the debug-exit port after a fault (see the kernel's `power`
/// module); QEMU then exits with `2 * 127 + 1` = 255.
pub const FAULT_STATUS: u8 = 127;

/// The prompt the shell prints when it waits for a command.
pub const PROMPT: &str = "$ ";

/// The firmware that boots the image, and so the kind of image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS (QEMU's default), an MBR disk.
    Bios,
    /// OVMF (Debian's `ovmf` package), a GPT disk with an EFI system partition.
    Uefi,
}

/// Where Debian's `ovmf` package puts the firmware image.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

impl Firmware {
    /// BIOS, which boots fastest, unless `WEFT_FIRMWARE=uefi` asks for UEFI.
    pub fn from_env() -> Firmware {
        match std::env::var("WEFT_FIRMWARE").as_deref() {
            Ok("uefi") => Firmware::Uefi,
            _ => Firmware::Bios,
        }
    }
}

impl std::fmt::Display for Firmware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        })
    }
}

/// Builds the disk image `image` for `firmware` from the kernel ELF `kernel`.
///
/// # Errors
/// The kernel cannot be read or stripped, or the image cannot be written.
pub fn build_image(kernel: &Path, image: &Path, firmware: Firmware) -> Result<()> {
    let stripped = image.with_extension("kernel.elf");
    strip_debug_info(kernel, &stripped)?;
    let mut config = BootConfig::default();
    // The kernel owns the serial console; the bootloader's own log would only be noise
    // there (and costs boot time).
    config.serial_logging = false;
    config.frame_buffer_logging = false;
    let mut builder = DiskImageBuilder::new(stripped.clone());
    builder.set_boot_config(&config);
    match firmware {
        Firmware::Bios => builder.create_bios_image(image),
        Firmware::Uefi => builder.create_uefi_image(image),
    }
    .with_context(|| format!("writing the disk image {}", image.display()))?;
    let _ = std::fs::remove_file(&stripped);
    Ok(())
}

/// Copies `elf` to `out` without its debug information, with the toolchain's llvm-objcopy
/// (from rustup's llvm-tools, which the image builder's toolchain file installs), else an
/// `llvm-objcopy` or `objcopy` on `PATH`.
fn strip_debug_info(elf: &Path, out: &Path) -> Result<()> {
    let from_toolchain = llvm_tools::LlvmTools::new()
        .ok()
        .and_then(|tools| tools.tool(&llvm_tools::exe("llvm-objcopy")));
    let candidates = from_toolchain
        .into_iter()
        .chain(["llvm-objcopy", "objcopy"].map(PathBuf::from));
    for objcopy in candidates {
        let Ok(status) = Command::new(&objcopy)
            .arg("--strip-debug")
            .arg(elf)
            .arg(out)
            .status()
        else {
            continue;
        };
        if !status.success() {
            bail!(
                "{} --strip-debug {} failed ({status})",
                objcopy.display(),
                elf.display()
            );
        }
        return Ok(());
    }
    bail!(
        "no llvm-objcopy to strip the kernel with: rustup component add llvm-tools-preview \
         (or install llvm or binutils)"
    )
}

/// How QEMU executes the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualization, with the host's CPU model.
    Kvm,
    /// QEMU's emulator, with its most capable CPU model.
    Tcg,
}

/// The line the kernel prints once it is up.
pub const BANNER: &str = "weft: x86_64";

/// How long a trial boot under KVM may take to print [`BANNER`] before KVM is judged not
/// to work. A working KVM takes well under a second.
const KVM_PROBE: Duration = Duration::from_secs(15);

impl Accel {
    /// The accelerator for booting `image`: `WEFT_QEMU_ACCEL` (`kvm` or `tcg`) if set;
    /// else KVM if `/dev/kvm` can be opened and a trial boot of `image` under it reaches
    /// the kernel within 15 seconds; else TCG. The trial is there because an openable
    /// `/dev/kvm` is not enough: some nested or sandboxed KVMs start QEMU but never get
    /// through the firmware (SeaBIOS's real-mode disk reads hang, OVMF's x87 setup fails
    /// to emulate).
    pub fn detect(image: &Path, firmware: Firmware) -> Accel {
        match std::env::var("WEFT_QEMU_ACCEL").as_deref() {
            Ok("tcg") => return Accel::Tcg,
            Ok("kvm") => return Accel::Kvm,
            _ => {}
        }
        let kvm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        if !kvm {
            return Accel::Tcg;
        }
        let machine = Machine::new(image, Accel::Kvm, firmware);
        let works = Session::start(&machine)
            .and_then(|mut session| session.expect(BANNER, KVM_PROBE))
            .is_ok();
        if works {
            Accel::Kvm
        } else {
            // Straight to stderr, so that it shows even under a test harness's capture.
            let _ = writeln!(
                std::io::stderr(),
                "weft-x86_64-image: /dev/kvm is there, but a trial boot under KVM did not \
                 reach the kernel in {} s; using TCG",
                KVM_PROBE.as_secs()
            );
            Accel::Tcg
        }
    }
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// A QEMU machine for the image.
#[derive(Debug, Clone)]
pub struct Machine {
    /// The disk image.
    pub image: PathBuf,
    /// KVM or TCG.
    pub accel: Accel,
    /// What the image was built for.
    pub firmware: Firmware,
    /// RAM, in QEMU's syntax (`512M`, `2G`).
    pub memory: String,
    /// A CPU model instead of the accelerator's default (`host` under KVM, `max` under TCG).
    pub cpu: Option<String>,
}

impl Machine {
    /// A machine booting `image` (built for `firmware`) with `accel` and 512 MiB of RAM.
    pub fn new(image: &Path, accel: Accel, firmware: Firmware) -> Machine {
        Machine {
            image: image.to_path_buf(),
            accel,
            firmware,
            memory: "512M".to_string(),
            cpu: None,
        }
    }

    /// The QEMU command line: the disk image (and OVMF for UEFI), the serial console on
    /// stdio, no display, no reboot (a triple fault ends QEMU instead of looping), the
    /// debug-exit device.
    pub fn command(&self) -> Command {
        let mut cmd = self.command_without_disk();
        // `snapshot`: the image is only read, so that several machines can share it.
        cmd.arg("-drive").arg(format!(
            "format=raw,snapshot=on,file={}",
            self.image.display()
        ));
        if self.firmware == Firmware::Uefi {
            cmd.args(["-bios", OVMF]);
        }
        cmd
    }

    /// [`Machine::command`] without the disk and firmware: the options any guest gets.
    pub fn command_without_disk(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-m", &self.memory])
            .args(["-display", "none", "-serial", "stdio", "-monitor", "none"])
            .args(["-no-reboot"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
        // Under KVM the host CPU without IA32_ARCH_CAPABILITIES, which some nested KVM
        // hosts refuse to set (QEMU then aborts at start).
        let (accel, cpu) = match self.accel {
            Accel::Kvm => ("kvm", "host,-arch-capabilities"),
            Accel::Tcg => ("tcg", "max"),
        };
        cmd.args(["-accel", accel, "-cpu", self.cpu.as_deref().unwrap_or(cpu)]);
        cmd
    }
}

/// What the kernel passed on when QEMU exited with `status`: `Some(v)` for a debug-exit
/// write of `v` (init's status, at most 126, or [`FAULT_STATUS`]); `None` for any other
/// end (a signal, QEMU's own errors, a power-off without the device).
pub fn decode_status(status: ExitStatus) -> Option<u8> {
    let code = status.code()?;
    if code % 2 == 1 {
        u8::try_from((code - 1) / 2).ok()
    } else {
        None
    }
}

/// Everything the guest wrote to the serial console so far, and whether it has ended.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    closed: bool,
}

/// A booted machine, driven over its serial console.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<(Mutex<Output>, Condvar)>,
    /// How far [`Session::expect`] has consumed the output.
    seen: usize,
    started: Instant,
}

impl Session {
    /// Starts `machine` with its console piped to this session.
    ///
    /// # Errors
    /// QEMU cannot be started.
    pub fn start(machine: &Machine) -> Result<Session> {
        Session::spawn(machine.command())
    }

    /// Starts QEMU as `cmd` says, with its console piped to this session.
    ///
    /// # Errors
    /// QEMU cannot be started.
    pub fn spawn(mut cmd: Command) -> Result<Session> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting qemu-system-x86_64")?;
        let started = Instant::now();
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().context("QEMU's stdout")?;
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let shared = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (lock, ready) = &*shared;
                let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    out.closed = true;
                    ready.notify_all();
                    return;
                }
                out.bytes.extend_from_slice(&buf[..n]);
                ready.notify_all();
            }
        });
        Ok(Session {
            child,
            stdin,
            output,
            seen: 0,
            started,
        })
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When QEMU was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Everything the console printed so far (`\r\n` as `\n`).
    pub fn transcript(&self) -> String {
        let out = self.output.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&out.bytes).replace("\r\n", "\n")
    }

    /// Waits until the console prints `text` after what earlier calls consumed; returns
    /// what came before it (`\r\n` as `\n`) and consumes through `text`.
    ///
    /// # Errors
    /// `text` did not come within `timeout`, or the machine stopped first; the message
    /// holds the transcript.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.output;
        let mut out = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let rest = &out.bytes[self.seen..];
            if let Some(at) = find(rest, text.as_bytes()) {
                let before = String::from_utf8_lossy(&rest[..at]).replace("\r\n", "\n");
                self.seen += at + text.len();
                return Ok(before);
            }
            let now = Instant::now();
            if out.closed || now >= deadline {
                let why = if out.closed {
                    "the machine stopped"
                } else {
                    "timed out"
                };
                bail!(
                    "waiting for {text:?}: {why} after {:.1} s; the console said:\n{}",
                    self.started.elapsed().as_secs_f64(),
                    String::from_utf8_lossy(&out.bytes).replace("\r\n", "\n")
                );
            }
            out = ready
                .wait_timeout(out, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Types `bytes` on the console.
    ///
    /// # Errors
    /// The machine no longer reads its console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("the console input is closed")?;
        stdin.write_all(bytes).context("writing to the console")?;
        stdin.flush().context("writing to the console")
    }

    /// Types `line` and Enter, waits for the next prompt, and returns what the command
    /// printed: the lines between the echo of `line` and the prompt.
    ///
    /// # Errors
    /// As [`Session::expect`].
    pub fn run(&mut self, line: &str, timeout: Duration) -> Result<Vec<String>> {
        self.send(format!("{line}\r").as_bytes())?;
        let echoed = format!("{line}\r\n");
        self.expect(&echoed, timeout)?;
        let printed = self.expect(PROMPT, timeout)?;
        Ok(printed.lines().map(str::to_string).collect())
    }

    /// Waits for QEMU to exit, killing it after `timeout`; returns its exit status.
    ///
    /// # Errors
    /// QEMU did not exit in time (it is killed), or could not be waited for.
    pub fn wait(mut self, timeout: Duration) -> Result<ExitStatus> {
        self.stdin = None;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for QEMU")? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!(
                    "the machine did not power off within {timeout:?}; the console said:\n{}",
                    self.transcript()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The first index of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
