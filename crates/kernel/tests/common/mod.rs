//! A scripted test platform and a kernel with programs in `/bin`, shared by the kernel's
//! integration tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;

use weft_kernel::platform::{ConsoleStream, Platform};
use weft_kernel::vfs::{OpenOptions, Vfs};
use weft_kernel::{Kernel, KernelConfig, Program, SpawnRequest};

/// A deterministic generator (xorshift), so a failure reproduces.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// One of `from`, chosen at random.
    pub fn pick(&mut self, from: &[i64]) -> i64 {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Console output and the fake clock, shared between a test and its platform.
#[derive(Default)]
pub struct Shared {
    pub out: Vec<u8>,
    pub err: Vec<u8>,
    pub input: Vec<u8>,
    pub now: u64,
    /// Nanoseconds the clock moves on each reading (0: only when the kernel idles), for
    /// deadlines that must pass while processes keep running.
    pub tick: u64,
}

/// A deterministic platform: console output is captured, input is scripted, and time
/// passes when the kernel idles (it jumps to the deadline) and by [`Shared::tick`] on each
/// reading.
struct TestPlatform {
    shared: Rc<RefCell<Shared>>,
    rng: Rng,
}

impl Platform for TestPlatform {
    fn console_write(&mut self, stream: ConsoleStream, bytes: &[u8]) {
        let mut s = self.shared.borrow_mut();
        match stream {
            ConsoleStream::Out => s.out.extend_from_slice(bytes),
            ConsoleStream::Err => s.err.extend_from_slice(bytes),
        }
    }
    fn console_read(&mut self, buf: &mut [u8]) -> Option<usize> {
        let mut s = self.shared.borrow_mut();
        let n = buf.len().min(s.input.len());
        buf[..n].copy_from_slice(&s.input[..n]);
        s.input.drain(..n);
        Some(n)
    }
    fn console_is_terminal(&self) -> bool {
        false
    }
    fn monotonic_ns(&self) -> u64 {
        let mut s = self.shared.borrow_mut();
        s.now += s.tick;
        s.now
    }
    fn wall_clock_ns(&self) -> u64 {
        1_700_000_000_000_000_000 + self.shared.borrow().now
    }
    fn random(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.rng.next() as u8;
        }
    }
    fn wait(&mut self, deadline: Option<u64>, _console: bool) {
        if let Some(d) = deadline {
            let mut s = self.shared.borrow_mut();
            s.now = s.now.max(d);
        }
    }
}

pub struct System {
    pub kernel: Kernel,
    pub shared: Rc<RefCell<Shared>>,
}

/// A kernel whose `/bin` (an in-memory file system) holds the given programs.
///
/// The engine tier comes from `WEFT_STRATEGY` (`jit`, `auto` or `interp`, default the
/// interpreter), so the kernel's tests run on either:
/// `WEFT_STRATEGY=jit cargo test -p weft-kernel --features jit`.
/// A kernel with `config` as given, on the test platform with an empty file system.
#[allow(dead_code, reason = "not every test file starts a bare kernel")]
pub fn bare_kernel(config: KernelConfig) -> Result<Kernel, weft_kernel::KernelError> {
    let platform = TestPlatform {
        shared: Rc::new(RefCell::new(Shared::default())),
        rng: Rng(1),
    };
    Kernel::new(Box::new(platform), Vfs::new(), config)
}

pub fn system(programs: &[(&str, &str)], mut config: KernelConfig) -> System {
    config.strategy = match std::env::var("WEFT_STRATEGY").as_deref() {
        Ok("jit") => weft_engine::Strategy::Jit,
        Ok("auto") => weft_engine::Strategy::Auto,
        _ => weft_engine::Strategy::Interpreter,
    };
    let shared = Rc::new(RefCell::new(Shared::default()));
    let mut platform = TestPlatform {
        shared: shared.clone(),
        rng: Rng(0x9e37_79b9_7f4a_7c15),
    };
    let mut vfs = Vfs::new();
    vfs.mount_tmpfs("/bin", 64 << 20).unwrap();
    for (name, wat) in programs {
        let bytes = wat::parse_str(wat).unwrap();
        let how = OpenOptions {
            write: true,
            create: true,
            ..OpenOptions::default()
        };
        let node = vfs
            .open(&mut platform, &format!("/bin/{name}"), &how)
            .unwrap();
        assert_eq!(vfs.write(&mut platform, &node, 0, &bytes), Ok(bytes.len()));
        vfs.close(&mut platform, node);
    }
    let kernel = Kernel::new(Box::new(platform), vfs, config)
        .unwrap_or_else(|e| panic!("{e} (WEFT_STRATEGY=jit needs the `jit` feature)"));
    System { kernel, shared }
}

impl System {
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> u32 {
        let mut argv = vec![name.to_string()];
        argv.extend(args.iter().map(|a| a.to_string()));
        self.kernel
            .spawn(SpawnRequest {
                program: Program::Path(format!("/bin/{name}")),
                args: argv,
                env: vec![],
                preopens: vec![],
            })
            .unwrap()
    }

    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.shared.borrow().out).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.shared.borrow().err).into_owned()
    }
}
