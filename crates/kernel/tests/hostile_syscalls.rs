//! Every system call with hostile arguments: pointers at and past the end of memory,
//! wrapping lengths, negative and huge numbers, forged handles. Whatever a call returns, the
//! kernel must not panic, and the process must either go on or end with a status; the
//! system as a whole must stay usable (a well-behaved process afterwards still runs).

mod common;

use common::{Rng, system};
use weft_kernel::KernelConfig;

/// The system calls and their parameter types (`i` = i32, `I` = i64). `proc_exit` is left
/// out: it ends the process on the first call.
const SYSCALLS: &[(&str, &str, &str)] = &[
    ("wasi_snapshot_preview1", "args_get", "ii"),
    ("wasi_snapshot_preview1", "args_sizes_get", "ii"),
    ("wasi_snapshot_preview1", "environ_get", "ii"),
    ("wasi_snapshot_preview1", "environ_sizes_get", "ii"),
    ("wasi_snapshot_preview1", "clock_res_get", "ii"),
    ("wasi_snapshot_preview1", "clock_time_get", "iIi"),
    ("wasi_snapshot_preview1", "fd_advise", "iIIi"),
    ("wasi_snapshot_preview1", "fd_allocate", "iII"),
    ("wasi_snapshot_preview1", "fd_close", "i"),
    ("wasi_snapshot_preview1", "fd_datasync", "i"),
    ("wasi_snapshot_preview1", "fd_fdstat_get", "ii"),
    ("wasi_snapshot_preview1", "fd_fdstat_set_flags", "ii"),
    ("wasi_snapshot_preview1", "fd_fdstat_set_rights", "iII"),
    ("wasi_snapshot_preview1", "fd_filestat_get", "ii"),
    ("wasi_snapshot_preview1", "fd_filestat_set_size", "iI"),
    ("wasi_snapshot_preview1", "fd_filestat_set_times", "iIIi"),
    ("wasi_snapshot_preview1", "fd_pread", "iiiIi"),
    ("wasi_snapshot_preview1", "fd_prestat_get", "ii"),
    ("wasi_snapshot_preview1", "fd_prestat_dir_name", "iii"),
    ("wasi_snapshot_preview1", "fd_pwrite", "iiiIi"),
    ("wasi_snapshot_preview1", "fd_read", "iiii"),
    ("wasi_snapshot_preview1", "fd_readdir", "iiiIi"),
    ("wasi_snapshot_preview1", "fd_renumber", "ii"),
    ("wasi_snapshot_preview1", "fd_seek", "iIii"),
    ("wasi_snapshot_preview1", "fd_sync", "i"),
    ("wasi_snapshot_preview1", "fd_tell", "ii"),
    ("wasi_snapshot_preview1", "fd_write", "iiii"),
    ("wasi_snapshot_preview1", "path_create_directory", "iii"),
    ("wasi_snapshot_preview1", "path_filestat_get", "iiiii"),
    (
        "wasi_snapshot_preview1",
        "path_filestat_set_times",
        "iiiiIIi",
    ),
    ("wasi_snapshot_preview1", "path_link", "iiiiiii"),
    ("wasi_snapshot_preview1", "path_open", "iiiiiIIii"),
    ("wasi_snapshot_preview1", "path_readlink", "iiiiii"),
    ("wasi_snapshot_preview1", "path_remove_directory", "iii"),
    ("wasi_snapshot_preview1", "path_rename", "iiiiii"),
    ("wasi_snapshot_preview1", "path_symlink", "iiiii"),
    ("wasi_snapshot_preview1", "path_unlink_file", "iii"),
    ("wasi_snapshot_preview1", "poll_oneoff", "iiii"),
    ("wasi_snapshot_preview1", "proc_raise", "i"),
    ("wasi_snapshot_preview1", "sched_yield", ""),
    ("wasi_snapshot_preview1", "random_get", "ii"),
    ("wasi_snapshot_preview1", "sock_accept", "iii"),
    ("wasi_snapshot_preview1", "sock_recv", "iiiiii"),
    ("wasi_snapshot_preview1", "sock_send", "iiiii"),
    ("wasi_snapshot_preview1", "sock_shutdown", "ii"),
    ("weft", "spawn", "iiiiiiiii"),
    ("weft", "wait", "iii"),
    ("weft", "kill", "i"),
    ("weft", "proc_pid", "ii"),
    ("weft", "handle_dup", "iii"),
    ("weft", "getpid", "i"),
    ("weft", "proc_list", "iii"),
    ("weft", "channel_create", "ii"),
    ("weft", "channel_send", "iiiii"),
    ("weft", "channel_recv", "iiiiiiii"),
];

/// Values that probe the edges: of the 2-page memory (131072 bytes), of 32-bit wrapping,
/// of handle encoding (index, generation, sign bit), and small valid-looking numbers.
const I32_EDGES: &[i64] = &[
    0,
    1,
    2,
    3,
    4,
    8,
    -1,
    -4,
    -8,
    0x7fff_ffff,
    -0x8000_0000,
    131_068,
    131_071,
    131_072,
    131_080,
    65_535,
    65_536,
    0x0010_0000,
    0x0010_0003,
    0x2000_0000,
    0x1000_0000,
];
const I64_EDGES: &[i64] = &[0, 1, -1, i64::MAX, i64::MIN, 0x1_0000_0000, 131_072];

/// A program that calls `name` `calls` times with hostile arguments, after filling its
/// memory with bytes that look like iovecs, strings and subscriptions.
fn hostile_program(module: &str, name: &str, params: &str, calls: usize, rng: &mut Rng) -> String {
    let sig: String = params
        .chars()
        .map(|c| if c == 'I' { " i64" } else { " i32" })
        .collect();
    let mut body = String::new();
    for _ in 0..calls {
        body.push_str("(drop (call $f");
        for c in params.chars() {
            if c == 'I' {
                body.push_str(&format!(" (i64.const {})", rng.pick(I64_EDGES)));
            } else {
                body.push_str(&format!(" (i32.const {})", rng.pick(I32_EDGES) as i32));
            }
        }
        body.push_str("))\n");
    }
    format!(
        r#"(module
             (import "{module}" "{name}" (func $f (param{sig}) (result i32)))
             (memory (export "memory") 2)
             ;; iovecs at 0: (16, 8) and (131060, 100): the second runs past the end.
             (data (i32.const 0) "\10\00\00\00\08\00\00\00\f4\ff\01\00\64\00\00\00")
             (data (i32.const 16) "/bin/ok\00ok\00x\00")
             (data (i32.const 131064) "\ff\ff\ff\ff\ff\ff\ff\ff")
             (func (export "_start") {body}))"#
    )
}

#[test]
fn every_system_call_survives_hostile_arguments() {
    let ok = r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 16) "ok\n")
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 16))
          (i32.store (i32.const 4) (i32.const 3))
          (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (module, name, params) in SYSCALLS {
        for round in 0..4 {
            let program = hostile_program(module, name, params, 60, &mut rng);
            let mut config = KernelConfig::default();
            config.limits.fuel = Some(50_000_000);
            let mut s = system(&[("hostile", &program), ("ok", ok)], config);
            let pid = s.spawn("hostile", &[]);
            // A call may park the process for good (a receive nobody answers): the kernel
            // reports the deadlock and ends it. Either way it must not panic.
            let _ = s.kernel.run();
            let status = s.kernel.exit_status(pid);
            assert!(
                status.is_some(),
                "{module}::{name} round {round}: the process did not end"
            );
            // The system is still usable.
            let after = s.spawn("ok", &[]);
            s.kernel.run().unwrap();
            assert_eq!(s.kernel.exit_status(after), Some(0), "{module}::{name}");
            assert!(s.out().ends_with("ok\n"), "{module}::{name}: {}", s.out());
        }
    }
}
