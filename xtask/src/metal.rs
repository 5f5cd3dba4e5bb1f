//! The bare-metal build: the x86_64 kernel (crates/x86_64, stable Rust, for
//! `x86_64-unknown-none`), its disk image and QEMU (crates/x86_64/image, on the nightly its
//! `rust-toolchain.toml` pins, because the bootloader's boot stages build with
//! `-Zbuild-std`).
//!
//! Each toolchain is invoked explicitly (`rustup run TOOLCHAIN cargo ...` for the image
//! crate, this xtask's own cargo for the kernel), so that neither depends on how rustup
//! resolves a toolchain from the environment it was started in.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::{Command, ExitStatus};

use crate::{cargo, ensure_debian_packages, ensure_rust_target, on_path, repo_root, status};

/// The kernel's crate (its own workspace).
fn kernel_dir() -> PathBuf {
    repo_root().join("crates/x86_64")
}

/// The image builder's crate (its own workspace, on nightly).
fn image_dir() -> PathBuf {
    repo_root().join("crates/x86_64/image")
}

/// Where the built kernels and images go.
fn out_dir() -> PathBuf {
    kernel_dir().join("target/weft")
}

/// The kernel ELF that `build_kernel` leaves for `features`.
fn kernel_elf(fault_trigger: bool) -> PathBuf {
    out_dir().join(if fault_trigger {
        "weft-x86_64-fault-trigger.elf"
    } else {
        "weft-x86_64.elf"
    })
}

/// The toolchain `crates/x86_64/image/rust-toolchain.toml` pins.
fn image_toolchain() -> Result<String> {
    let path = image_dir().join("rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .find_map(|l| {
            let value = l.trim().strip_prefix("channel")?.trim().strip_prefix('=')?;
            Some(value.trim().trim_matches('"').to_string())
        })
        .with_context(|| format!("no `channel = ...` in {}", path.display()))
}

/// Installs the image crate's pinned nightly (with rust-src and llvm-tools) unless it is
/// there.
fn ensure_image_toolchain() -> Result<String> {
    let toolchain = image_toolchain()?;
    let listed = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .context("running `rustup toolchain list` (the image builder needs rustup)")?;
    let installed = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|l| l.starts_with(&toolchain));
    let components = Command::new("rustup")
        .args([
            "component",
            "list",
            "--installed",
            "--toolchain",
            &toolchain,
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if installed && components.contains("rust-src") && components.contains("llvm-tools") {
        return Ok(toolchain);
    }
    eprintln!("xtask: installing the Rust toolchain {toolchain} for the image builder");
    let ok = status(
        Command::new("rustup").args([
            "toolchain",
            "install",
            &toolchain,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
            "--component",
            "llvm-tools-preview",
        ]),
        "rustup",
    )?;
    if !ok.success() {
        bail!(
            "installing {toolchain} failed; run this yourself:\n\n    rustup toolchain install \
             {toolchain} --profile minimal -c rust-src -c llvm-tools-preview"
        );
    }
    Ok(toolchain)
}

/// Makes sure QEMU is installed, with apt-get if not.
pub fn ensure_qemu() -> Result<()> {
    if on_path("qemu-system-x86_64") {
        return Ok(());
    }
    ensure_debian_packages("qemu-system-x86_64", "qemu-system-x86")?;
    if !on_path("qemu-system-x86_64") {
        bail!("qemu-system-x86_64 is still not on PATH after installing qemu-system-x86");
    }
    Ok(())
}

/// Builds the kernel (with the test-only fault trigger when `fault_trigger`) and copies it
/// to [`kernel_elf`]; returns that path.
pub fn build_kernel(fault_trigger: bool) -> Result<PathBuf> {
    let root = repo_root();
    ensure_rust_target(&root, "wasm32-wasip1")?;
    ensure_rust_target(&root, "x86_64-unknown-none")?;
    let dir = kernel_dir();
    let mut cmd = cargo();
    // Run from the crate so that its .cargo/config.toml (target, frame pointers) applies.
    cmd.current_dir(&dir)
        .args(["build", "--release", "--manifest-path"])
        .arg(dir.join("Cargo.toml"));
    if fault_trigger {
        cmd.args(["--features", "fault-trigger"]);
    }
    if !status(&mut cmd, "cargo to build the x86_64 kernel")?.success() {
        bail!("building the x86_64 kernel failed");
    }
    let built = dir.join("target/x86_64-unknown-none/release/weft-x86_64");
    let elf = kernel_elf(fault_trigger);
    std::fs::create_dir_all(out_dir()).context("creating the kernel output directory")?;
    std::fs::copy(&built, &elf)
        .with_context(|| format!("copying {} to {}", built.display(), elf.display()))?;
    Ok(elf)
}

/// `cargo <args>` in the image crate, with its pinned nightly.
fn image_cargo(args: &[&str]) -> Result<Command> {
    let toolchain = ensure_image_toolchain()?;
    let dir = image_dir();
    let mut cmd = Command::new("rustup");
    cmd.current_dir(&dir)
        .args(["run", &toolchain, "cargo"])
        .args(args)
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"));
    // This xtask's cargo and rustc are the stable ones; the image crate's build must not
    // inherit them.
    for var in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    Ok(cmd)
}

/// `cargo xtask run`: builds the kernel and the image and boots it under QEMU with the
/// serial console on this terminal; `qemu_args` go to QEMU.
pub fn run(qemu_args: &[std::ffi::OsString]) -> Result<ExitStatus> {
    ensure_qemu()?;
    let elf = build_kernel(false)?;
    let image = out_dir().join("weft-x86_64.img");
    let mut cmd = image_cargo(&["run", "--release", "--quiet"])?;
    cmd.arg("--")
        .arg("run")
        .arg(&elf)
        .arg(&image)
        .args(qemu_args);
    status(&mut cmd, "the image builder")
}

/// The bare-metal tests: both kernels, then the image crate's tests, which boot them under
/// QEMU and drive serial sessions.
pub fn test() -> Result<ExitStatus> {
    ensure_qemu()?;
    let elf = build_kernel(false)?;
    let fault = build_kernel(true)?;
    let mut cmd = image_cargo(&["test", "--release"])?;
    cmd.env("WEFT_X86_64_KERNEL", &elf)
        .env("WEFT_X86_64_FAULT_KERNEL", &fault);
    status(&mut cmd, "the bare-metal tests")
}

/// Debian's Linux kernel and busybox, the boot benchmark's peer, downloaded (not
/// installed) with apt-get and unpacked under the kernel's target directory; returns the
/// paths of `vmlinuz` and `busybox`.
fn linux_peer() -> Result<(PathBuf, PathBuf)> {
    let dir = kernel_dir().join("target/linux-peer");
    let find = |sub: &str, prefix: &str| -> Option<PathBuf> {
        std::fs::read_dir(dir.join(sub))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
    };
    if let (Some(vmlinuz), Some(busybox)) = (find("boot", "vmlinuz-"), find("bin", "busybox")) {
        return Ok((vmlinuz, busybox));
    }
    if !on_path("apt-get") || !on_path("dpkg-deb") {
        bail!("the boot benchmark's peer comes from Debian packages; this needs apt-get");
    }
    // linux-image-amd64 only depends on the current kernel package: download that one.
    let depends = Command::new("apt-cache")
        .args(["depends", "linux-image-amd64"])
        .output()
        .context("running apt-cache")?;
    let depends = String::from_utf8_lossy(&depends.stdout);
    let Some(kernel) = depends.lines().find_map(|l| {
        let name = l.trim().strip_prefix("Depends: ")?;
        name.starts_with("linux-image-").then(|| name.to_string())
    }) else {
        bail!("apt-cache names no kernel package for linux-image-amd64 (run apt-get update?)");
    };
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).context("creating the peer's directory")?;
    eprintln!("xtask: downloading {kernel} and busybox-static for the boot benchmark");
    let ok = status(
        Command::new("apt-get").current_dir(&debs).args([
            "download",
            "-q",
            &kernel,
            "busybox-static",
        ]),
        "apt-get download",
    )?;
    if !ok.success() {
        bail!("apt-get download {kernel} busybox-static failed");
    }
    for deb in std::fs::read_dir(&debs)
        .context("reading the downloads")?
        .flatten()
    {
        let ok = status(
            Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(&dir),
            "dpkg-deb",
        )?;
        if !ok.success() {
            bail!("unpacking {} failed", deb.path().display());
        }
    }
    match (find("boot", "vmlinuz-"), find("bin", "busybox")) {
        (Some(vmlinuz), Some(busybox)) => Ok((vmlinuz, busybox)),
        _ => bail!("the unpacked packages hold no vmlinuz or busybox"),
    }
}

/// The boot section of `cargo xtask bench`: weft's boot to the shell prompt against Linux
/// with a busybox initramfs, `runs` times each, under the same QEMU options.
pub fn bench_boot(runs: u32) -> Result<ExitStatus> {
    ensure_qemu()?;
    let (vmlinuz, busybox) = linux_peer()?;
    let elf = build_kernel(false)?;
    let image = out_dir().join("weft-x86_64-bench.img");
    let mut cmd = image_cargo(&["run", "--release", "--quiet"])?;
    cmd.arg("--")
        .arg("bench-boot")
        .arg(&elf)
        .arg(&image)
        .arg(&vmlinuz)
        .arg(&busybox)
        .arg(runs.to_string());
    status(&mut cmd, "the boot benchmark")
}
