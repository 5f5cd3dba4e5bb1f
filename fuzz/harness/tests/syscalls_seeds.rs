//! The `syscalls` target's seed corpus (`fuzz/corpus/syscalls`), written here in terms of
//! the calls it makes, and checked: each seed's file holds what it says here (run with
//! `WEFT_WRITE_SEEDS=1` to rewrite them), the harness accepts it, and its calls return what
//! they should, so that the fuzzer starts from inputs that get deep into the kernel
//! rather than from ones that fail at the first handle.

use std::path::PathBuf;

use weft_fuzz_harness::syscalls::{
    self, CALL_BASE, GROW, HANDLE_LIST, Op, Report, STRINGS, SYSCALLS, poke_fields, syscall_index,
};

/// One argument, as the seed means it; [`Seed::call`] encodes it as the decoder reads it
/// for the parameter it is given to.
#[derive(Clone, Copy)]
enum A {
    /// A small number: a handle, count or flags (below 8 for handles and counts), a 64-bit
    /// number, result slot `k` for an out parameter; every right for rights.
    N(u8),
    /// The handle in result slot `k`.
    Slot(u8),
    /// A flag bit: `1 << b`.
    Bit(u8),
    /// The string of [`STRINGS`] with these bytes.
    S(&'static [u8]),
    /// Iovec `k` (of 8), `count` of them.
    Iov(u8, u8),
    /// Buffer `k` (512 bytes apart) with the length of index `len` (0, 1, 8, 64, 256,
    /// 4096, 16384, 65536).
    Buf(u8, u8),
    /// The handle list from entry `k`, `count` entries.
    List(u8, u8),
    /// Edge value `i` of the parameter's kind.
    Edge(u8),
    /// A raw 32-bit value.
    Raw(u32),
    /// A raw 64-bit value.
    Raw64(u64),
}

/// Every WASI right.
const ALL: A = A::N(0);

#[derive(Default)]
struct Seed(Vec<u8>);

impl Seed {
    fn call(&mut self, name: &str, args: &[A]) -> &mut Self {
        let index = syscall_index(name);
        let hints = SYSCALLS[index].2;
        assert_eq!(hints.len(), args.len(), "{name} takes {hints}");
        self.0.push(CALL_BASE + index as u8);
        for &a in args {
            self.arg(a);
        }
        self
    }

    /// A `memory.grow` by `GROW_PAGES[choice]` pages.
    fn grow(&mut self, choice: u8) -> &mut Self {
        self.0.extend([GROW, choice]);
        self
    }

    fn arg(&mut self, a: A) {
        let (sel, v) = match a {
            A::N(v) => (0, v),
            A::Slot(k) | A::Bit(k) => (3, k),
            A::S(s) => {
                let i = STRINGS.iter().position(|&t| t == s).expect("a seed string");
                (0, i as u8)
            }
            A::Iov(k, count) => (0, k + 8 * count),
            A::Buf(k, len) => (0, k + 32 * len),
            A::List(k, count) => (0, k + 16 * count),
            A::Edge(i) => (6, i),
            A::Raw(x) => {
                self.0.push(7);
                self.0.extend_from_slice(&x.to_le_bytes());
                return;
            }
            A::Raw64(x) => {
                self.0.push(7);
                self.0.extend_from_slice(&x.to_le_bytes());
                return;
            }
        };
        self.0.extend_from_slice(&[sel, v]);
    }

    /// Stores `value` (a handle-kind argument) in entry `k` of the handle list.
    fn list(&mut self, k: u32, value: A) -> &mut Self {
        let field = poke_fields()
            .iter()
            .position(|&f| f == HANDLE_LIST + 4 * k)
            .expect("a handle-list field");
        self.0.extend_from_slice(&[0, field as u8]);
        self.arg(value);
        self
    }
}

/// Opens, writes, reads, truncates, renames, links, lists and removes files in `/tmp`
/// (handle 3), also inside the tmpfs mounted at `/tmp/m`, and reads `/etc` (handle 4) and
/// its links.
fn files() -> Seed {
    let mut s = Seed::default();
    s.call(
        "path_open",
        &[
            A::N(3),
            A::N(0),
            A::S(b"a"),
            A::N(9),
            ALL,
            ALL,
            A::N(0),
            A::N(0),
        ],
    )
    .call("fd_write", &[A::Slot(0), A::Iov(0, 1), A::N(1)])
    .call("fd_seek", &[A::Slot(0), A::N(0), A::N(0), A::N(2)])
    .call("fd_read", &[A::Slot(0), A::Iov(1, 1), A::N(2)])
    .call("fd_pread", &[A::Slot(0), A::Iov(0, 1), A::N(2), A::N(2)])
    .call("fd_pwrite", &[A::Slot(0), A::Iov(0, 2), A::N(100), A::N(2)])
    .call("fd_filestat_get", &[A::Slot(0), A::N(24)])
    .call("fd_filestat_set_size", &[A::Slot(0), A::N(10)])
    .call("fd_tell", &[A::Slot(0), A::N(2)])
    .call("fd_sync", &[A::Slot(0)])
    .call("fd_fdstat_get", &[A::Slot(0), A::N(24)])
    .call("path_create_directory", &[A::N(3), A::S(b"d")])
    .call("path_rename", &[A::N(3), A::S(b"a"), A::N(3), A::S(b"d/a")])
    .call(
        "path_link",
        &[A::N(3), A::N(0), A::S(b"d/a"), A::N(3), A::S(b"b")],
    )
    .call("path_symlink", &[A::S(b"d/a"), A::N(3), A::S(b"lnk")])
    .call(
        "path_readlink",
        &[A::N(3), A::S(b"lnk"), A::Buf(0, 4), A::N(2)],
    )
    .call(
        "path_filestat_get",
        &[A::N(3), A::N(1), A::S(b"lnk"), A::N(24)],
    )
    .call(
        "path_open",
        &[
            A::N(3),
            A::N(0),
            A::S(b"d"),
            A::N(2),
            A::Bit(14),
            ALL,
            A::N(0),
            A::N(3),
        ],
    )
    .call("fd_readdir", &[A::Slot(3), A::Buf(0, 5), A::N(0), A::N(2)])
    .call("fd_readdir", &[A::N(3), A::Buf(8, 5), A::N(0), A::N(2)])
    .call(
        "path_filestat_set_times",
        &[A::N(3), A::N(0), A::S(b"b"), A::N(0), A::N(0), A::N(10)],
    )
    .call("fd_close", &[A::Slot(0)])
    .call("fd_close", &[A::Slot(3)])
    .call(
        "path_open",
        &[
            A::N(3),
            A::N(0),
            A::S(b"m/a"),
            A::N(1),
            ALL,
            ALL,
            A::N(0),
            A::N(4),
        ],
    )
    .call("fd_write", &[A::Slot(4), A::Iov(1, 1), A::N(2)])
    .call("path_unlink_file", &[A::N(3), A::S(b"m/a")])
    .call("path_unlink_file", &[A::N(3), A::S(b"b")])
    .call("path_unlink_file", &[A::N(3), A::S(b"lnk")])
    .call("path_unlink_file", &[A::N(3), A::S(b"d/a")])
    .call("path_remove_directory", &[A::N(3), A::S(b"d")])
    .call(
        "path_open",
        &[
            A::N(4),
            A::N(1),
            A::S(b"lnk"),
            A::N(0),
            A::Bit(1),
            A::N(0),
            A::N(0),
            A::N(5),
        ],
    )
    .call("fd_read", &[A::Slot(5), A::Iov(2, 1), A::N(2)])
    .call(
        "path_readlink",
        &[A::N(4), A::S(b"up"), A::Buf(1, 4), A::N(2)],
    )
    .call(
        "path_filestat_get",
        &[A::N(4), A::N(0), A::S(b"hard"), A::N(24)],
    )
    .call("fd_readdir", &[A::N(4), A::Buf(0, 5), A::N(0), A::N(2)])
    .call("fd_prestat_get", &[A::N(4), A::N(2)])
    .call("fd_prestat_dir_name", &[A::N(4), A::Buf(0, 2)]);
    s
}

/// Channels: messages with handles, an end received and used, byte-stream use, polling,
/// a closed peer, and a cycle of two ends in flight in each other's channels, left behind
/// at exit for the kernel to collect.
fn channels() -> Seed {
    let mut s = Seed::default();
    s.call("channel_create", &[A::N(0), A::N(1)])
        .call("channel_create", &[A::N(2), A::N(3)])
        .list(0, A::Slot(2))
        .call("channel_send", &[A::Slot(0), A::Buf(0, 2), A::List(0, 1)])
        .call(
            "channel_recv",
            &[
                A::Slot(1),
                A::Buf(1, 4),
                A::List(4, 4),
                A::N(1),
                A::N(4),
                A::N(5),
            ],
        )
        .call("handle_dup", &[A::Slot(1), A::N(5), A::N(6)])
        .call("fd_write", &[A::Slot(0), A::Iov(0, 1), A::N(7)])
        .call("fd_read", &[A::Slot(1), A::Iov(1, 1), A::N(7)])
        .call("poll_oneoff", &[A::N(0), A::N(0), A::N(4), A::N(7)])
        .call("fd_close", &[A::Slot(0)])
        .call(
            "channel_recv",
            &[
                A::Slot(1),
                A::Buf(1, 4),
                A::List(4, 4),
                A::N(1),
                A::N(4),
                A::N(5),
            ],
        )
        .call("proc_list", &[A::Buf(0, 5), A::N(8)])
        .call("getpid", &[A::N(9)])
        .call("channel_create", &[A::N(10), A::N(11)])
        .call("channel_create", &[A::N(12), A::N(13)])
        .list(0, A::Slot(10))
        .call("channel_send", &[A::Slot(12), A::Buf(0, 1), A::List(0, 1)])
        .list(0, A::Slot(13))
        .call("channel_send", &[A::Slot(11), A::Buf(0, 1), A::List(0, 1)])
        .call("channel_send", &[A::Slot(3), A::Buf(0, 3), A::List(0, 0)]);
    s
}

/// Processes: `cat` reading a channel, a spinner killed, `exit` waited for, `relay`
/// sending a channel end back, a process handle with fewer rights, and a child left
/// running when the guest ends.
fn processes() -> Seed {
    let mut s = Seed::default();
    s.call("channel_create", &[A::N(0), A::N(1)])
        .list(0, A::Slot(1))
        .call(
            "spawn",
            &[
                A::S(b"/bin/cat"),
                A::S(b"x\0"),
                A::S(b"A=1\0"),
                A::List(0, 3),
                A::N(2),
            ],
        )
        .call("fd_write", &[A::Slot(0), A::Iov(0, 1), A::N(3)])
        .call("fd_close", &[A::Slot(0)])
        .call("wait", &[A::Slot(2), A::N(0), A::N(3)])
        .call(
            "spawn",
            &[
                A::S(b"/bin/spin"),
                A::S(b"x\0"),
                A::S(b""),
                A::List(0, 3),
                A::N(4),
            ],
        )
        .call("kill", &[A::Slot(4)])
        .call("wait", &[A::Slot(4), A::N(0), A::N(5)])
        .call(
            "spawn",
            &[
                A::S(b"/bin/exit"),
                A::S(b"x\0y\0"),
                A::S(b""),
                A::List(0, 0),
                A::N(6),
            ],
        )
        .call("wait", &[A::Slot(6), A::N(0), A::N(7)])
        .call("channel_create", &[A::N(8), A::N(9)])
        .list(3, A::Slot(9))
        .call(
            "spawn",
            &[
                A::S(b"/bin/relay"),
                A::S(b"x\0"),
                A::S(b""),
                A::List(0, 4),
                A::N(10),
            ],
        )
        .call("channel_create", &[A::N(11), A::N(12)])
        .list(8, A::Slot(11))
        .call("channel_send", &[A::Slot(8), A::Buf(0, 3), A::List(8, 1)])
        .call(
            "channel_recv",
            &[
                A::Slot(8),
                A::Buf(1, 4),
                A::List(4, 4),
                A::N(0),
                A::N(13),
                A::N(14),
            ],
        )
        .call("fd_close", &[A::Slot(8)])
        .call("wait", &[A::Slot(10), A::N(0), A::N(13)])
        .call("handle_dup", &[A::Slot(2), A::N(5), A::N(15)])
        .call("kill", &[A::Slot(15)])
        .call("proc_pid", &[A::Slot(15), A::N(16)])
        .call(
            "spawn",
            &[
                A::S(b"/bin/spin"),
                A::S(b"x\0"),
                A::S(b""),
                A::List(0, 0),
                A::N(17),
            ],
        )
        .call(
            "spawn",
            &[
                A::S(b"/etc/motd"),
                A::S(b"x\0"),
                A::S(b""),
                A::List(0, 0),
                A::N(18),
            ],
        )
        .call(
            "spawn",
            &[
                A::S(b"/nope"),
                A::S(b"x"),
                A::S(b""),
                A::List(0, 0),
                A::N(18),
            ],
        );
    s
}

/// Hostile arguments: pointers past the end, wrapping lengths, forged handles, huge
/// counts and times, then an exit with handles open and a message in flight.
fn hostile() -> Seed {
    let mut s = Seed::default();
    s.call("fd_write", &[A::N(1), A::Edge(0), A::N(2)])
        .call("fd_write", &[A::N(1), A::Iov(4, 1), A::N(2)])
        .call("fd_read", &[A::N(0), A::Iov(7, 1), A::Edge(2)])
        .call(
            "path_open",
            &[
                A::N(3),
                A::N(0),
                A::Edge(3),
                A::N(1),
                ALL,
                ALL,
                A::N(0),
                A::N(0),
            ],
        )
        .call(
            "path_open",
            &[
                A::N(3),
                A::N(0),
                A::S(&[b'n'; 300]),
                A::N(1),
                ALL,
                ALL,
                A::N(0),
                A::N(0),
            ],
        )
        .call(
            "path_open",
            &[
                A::N(4),
                A::N(0),
                A::S(b"../etc/motd"),
                A::N(0),
                ALL,
                ALL,
                A::N(0),
                A::N(0),
            ],
        )
        .call(
            "path_open",
            &[
                A::N(4),
                A::N(1),
                A::S(b"up/ok"),
                A::N(0),
                ALL,
                ALL,
                A::N(0),
                A::N(0),
            ],
        )
        .call("fd_close", &[A::Edge(3)])
        .call("fd_renumber", &[A::N(3), A::Edge(4)])
        .call(
            "poll_oneoff",
            &[A::N(0), A::Edge(1), A::Raw(0x1000_0000), A::N(2)],
        )
        .call("clock_time_get", &[A::Raw(1), A::Edge(1), A::N(2)])
        .call("fd_seek", &[A::N(3), A::Edge(2), A::N(1), A::N(2)])
        .call("random_get", &[A::Edge(5)])
        .call("channel_create", &[A::N(0), A::N(1)])
        .call("channel_send", &[A::Slot(0), A::Buf(0, 7), A::Edge(6)])
        .call("channel_send", &[A::Slot(0), A::Buf(0, 7), A::List(0, 3)])
        .call(
            "spawn",
            &[A::Edge(0), A::S(b"x\0"), A::S(b""), A::Edge(5), A::N(2)],
        )
        .call(
            "fd_allocate",
            &[A::N(3), A::Raw64(u64::MAX), A::Raw64(u64::MAX)],
        )
        // Grow to the limit of 4 pages, then past it and past any memory's size; a write
        // from the pointer at the old end of memory, which is now inside it.
        .grow(2)
        .grow(1)
        .grow(7)
        .call("fd_write", &[A::N(1), A::Edge(0), A::N(2)])
        .call("proc_exit", &[A::N(7)])
        .call("getpid", &[A::N(3)]);
    s
}

type Check = fn(&Report);

/// Every seed, its file name, and what its calls must return.
fn seeds() -> Vec<(&'static str, Seed, Check)> {
    vec![
        ("files", files(), |r| expect(r, &[])),
        // Receiving after the peer closed, with the queue empty: EPIPE.
        ("channels", channels(), |r| expect(r, &[(9, 64)])),
        // The handle without KILL cannot kill (ENOTCAPABLE); `/etc/motd` is no module
        // (ENOEXEC); the arguments for `/nope` are not NUL-terminated (EINVAL).
        ("processes", processes(), |r| {
            expect(r, &[(18, 76), (21, 45), (22, 28)])
        }),
        ("hostile", hostile(), |r| {
            assert_eq!(r.status, 7, "{}", explain(r));
            assert_eq!(r.errnos, None, "the guest exits before its results line");
        }),
    ]
}

/// Checks that the guest ended normally and that its calls returned 0 but for the
/// `(call number, errno)` listed.
fn expect(r: &Report, failures: &[(usize, u8)]) {
    assert_eq!(r.status, 0, "{}", explain(r));
    let got = errnos(r);
    let mut want = vec![0; got.len()];
    for &(i, errno) in failures {
        if let Some(w) = want.get_mut(i) {
            *w = errno;
        }
    }
    assert_eq!(got, want, "{}", explain(r));
}

fn errnos(r: &Report) -> Vec<u8> {
    r.errnos.clone().expect("the guest wrote its results")
}

/// The calls of a seed beside their results, for a failure message.
fn explain(r: &Report) -> String {
    let mut out = format!("status {}\n", r.status);
    let results = r.errnos.clone().unwrap_or_default();
    let calls = r.ops.iter().filter_map(|op| match op {
        Op::Call { call, .. } => Some(SYSCALLS[*call].1),
        _ => None,
    });
    for (i, name) in calls.enumerate() {
        out += &format!("{i:3} {name:24} {:?}\n", results.get(i));
    }
    out + &r.stderr
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../corpus/syscalls")
}

#[test]
fn the_seeds_do_what_they_say() {
    for (name, seed, check) in seeds() {
        let report = syscalls::run(&seed.0);
        check(&report);
        eprintln!("{name}: {} operations", report.ops.len());
    }
}

#[test]
fn the_seed_files_are_current() {
    let write = std::env::var_os("WEFT_WRITE_SEEDS").is_some();
    std::fs::create_dir_all(corpus()).unwrap();
    for (name, seed, _) in seeds() {
        let path = corpus().join(name);
        if write {
            std::fs::write(&path, &seed.0).unwrap();
        }
        let stored = std::fs::read(&path).unwrap_or_default();
        assert!(
            stored == seed.0,
            "{} is not what tests/syscalls_seeds.rs makes; run the test with WEFT_WRITE_SEEDS=1",
            path.display()
        );
    }
}

#[test]
fn any_bytes_decode_and_the_guest_links() {
    // Every operation byte, and inputs that stop in the middle of an argument.
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend((0..=255u8).rev());
    for cut in [0, 1, 2, 3, 7, 100, data.len()] {
        syscalls::run(&data[..cut]);
    }
}

#[test]
fn a_grow_operation_decodes_to_its_page_count() {
    assert_eq!(
        syscalls::decode(&[GROW, 2, GROW, 7, GROW, 9]),
        vec![Op::Grow(2), Op::Grow(u32::MAX), Op::Grow(1)]
    );
}
