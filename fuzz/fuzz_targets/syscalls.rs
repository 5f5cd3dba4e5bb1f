//! Arbitrary system calls with arbitrary arguments from a guest process, against a kernel
//! with an initrd and tmpfs mounts, beside a well-behaved process (see
//! `fuzz/harness/src/syscalls.rs`).
//!
//! The kernel must not panic or hang, the well-behaved process must end as it expects
//! (beside the guest, and once more afterwards), and once every process has ended the
//! kernel's counts (`Kernel::stats`) must be back to zero.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    weft_fuzz_harness::syscalls::run(data);
});
