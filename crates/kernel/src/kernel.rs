//! The kernel proper: the process table, spawning, and the scheduler.
//!
//! All processes run on one host thread. Each process is an engine [`Store`] of its own
//! (its memory, its instances, its handle table in the store's data), run in fuel quanta
//! with resumable calls: a quantum that runs out of fuel suspends the process, a system
//! call that must wait suspends it too (a host yield) and parks it until an event (a
//! message, a child's exit, console input, a deadline) lets the call complete. Round-robin
//! order over a run queue makes the interleaving deterministic for given inputs.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;

use weft_engine::{
    CodeCache, Config, Engine, ExternType, Func, FuncType, Instance, Linker, Memory, Module,
    ResumableCall, ResumableInvocation, Store, StoreLimits, Strategy, Val,
};

use crate::errno::{Errno, SysResult};
use crate::handle::{Entry, Handles, Rights};
use crate::object::{ChannelEnd, ConsoleEnd, Events, EventsRef, Object, ProcessRef, WaitKey};
use crate::platform::{ConsoleStream, Platform};
use crate::sys::{self, Pending, Proc, YIELD_BLOCK, YIELD_SCHED};
use crate::vfs::Vfs;

/// A process id. Pid 1 is the first process (`init` when booting).
pub type Pid = u32;

pub use weft_abi::{STATUS_KILLED, STATUS_TRAPPED};

/// Per-process resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessLimits {
    /// Largest linear memory, in 64 KiB pages.
    pub memory_pages: u32,
    /// Most open handles.
    pub handles: usize,
    /// Total fuel a process may burn before it is ended (`None`: unlimited).
    pub fuel: Option<u64>,
    /// Most nested Wasm calls.
    pub call_depth: u32,
}

impl Default for ProcessLimits {
    fn default() -> Self {
        ProcessLimits {
            memory_pages: 16384, // 1 GiB
            handles: 1024,
            fuel: None,
            call_depth: 10_000,
        }
    }
}

/// Kernel settings.
#[derive(Debug, Clone)]
pub struct KernelConfig {
    /// Fuel per scheduling quantum.
    pub quantum: u64,
    /// Limits for every process.
    pub limits: ProcessLimits,
    /// Most processes alive (or ended, with their status still held) at once.
    pub max_processes: usize,
    /// Most channels alive at once (`channel_create` fails with `ENOMEM` beyond): ends in
    /// flight hold no process's handle slot, so this bounds what they can pile up.
    pub max_channels: usize,
    /// The engine tier processes run on (default [`Strategy::default`]: `Auto` where the
    /// engine has the JIT, else the interpreter). [`Strategy::Jit`] needs
    /// the `jit` feature and a host that supports it ([`Strategy::jit_available`]); where
    /// the engine refuses it, [`Kernel::new`] fails with the engine's reason.
    pub strategy: Strategy,
    /// With [`Strategy::Auto`]: where compiled programs are kept between runs (see
    /// `weft_engine::Config::code_cache`); none by default.
    pub code_cache: Option<Arc<dyn CodeCache>>,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            quantum: 200_000,
            limits: ProcessLimits::default(),
            max_processes: 4096,
            max_channels: 65536,
            strategy: Strategy::default(),
            code_cache: None,
        }
    }
}

/// What a kernel operation failed with, for the host (the CLI) to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The errno a guest would have seen.
    pub errno: Errno,
    /// What happened.
    pub message: String,
}

impl core::fmt::Display for KernelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message)
    }
}

impl KernelError {
    fn new(errno: Errno, message: impl Into<String>) -> Self {
        KernelError {
            errno,
            message: message.into(),
        }
    }
}

/// Where a new process's code comes from.
pub enum Program {
    /// A path in the VFS.
    Path(String),
    /// Module bytes supplied by the host, under a display name.
    Bytes {
        /// Shown by `ps` and in messages.
        name: String,
        /// The module.
        bytes: Vec<u8>,
    },
}

/// A request to start a process from the host side ([`Kernel::spawn`]).
pub struct SpawnRequest {
    /// The program.
    pub program: Program,
    /// Arguments, `argv[0]` first.
    pub args: Vec<String>,
    /// Environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Directories preopened after stdio, as `(guest name, absolute VFS path)`.
    pub preopens: Vec<(String, String)>,
}

/// A process's scheduling state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Ready to run (or running).
    Runnable,
    /// Parked in a system call.
    Waiting,
    /// Ended with this status, which a handle to it (or the host) can still read.
    Ended(u32),
}

/// Counts of what the kernel holds, for tests and monitoring ([`Kernel::stats`]). When
/// every process has ended and the host has released them, all are zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Entries in the process table: live processes, and ended ones whose status a handle
    /// (or the host) can still read.
    pub processes: usize,
    /// Of those, the ones still running or parked.
    pub live_processes: usize,
    /// Open handles in all handle tables.
    pub handles: usize,
    /// Handles carried by messages in flight.
    pub in_flight_handles: usize,
    /// Live channels.
    pub channels: usize,
    /// Bytes queued in channels (each message counts its length plus 64).
    pub channel_bytes: usize,
    /// Live process objects (what process handles name).
    pub process_objects: usize,
    /// Open files.
    pub open_files: usize,
    /// Linear memory of live processes, in 64 KiB pages.
    pub memory_pages: u64,
}

/// What runs next for a process.
enum Task {
    /// Not started: call this function (`_start`, or what the host asked for) with these
    /// arguments.
    Start(Func, Vec<Val>),
    /// Suspended; resume with these host results.
    Resume(ResumableInvocation, Option<Val>),
    /// Parked in a system call that completes with `pending`.
    Parked(ResumableInvocation, Pending),
    /// Running now (the task is with the scheduler) or ended.
    None,
}

pub(crate) struct ProcEntry {
    pub pid: Pid,
    pub parent: Pid,
    pub name: String,
    pub state: ProcState,
    pub store: Option<Box<Store<Proc>>>,
    task: Task,
    pub fuel_used: u64,
    pub pages: u32,
    /// What handles to it name; the entry goes once it has ended and none is left.
    object: alloc::rc::Weak<ProcessRef>,
    /// Started by the host, which reads its status ([`Kernel::exit_status`]) until it
    /// releases it ([`Kernel::release`]).
    host_held: bool,
    /// The status the process asked to end with (`proc_exit`), once it has.
    exit_request: Option<u32>,
    /// For a process started by [`Kernel::spawn_invoke`]: the call the host asked for.
    invoke: Option<Box<Invoked>>,
}

/// The host's call of an export ([`Kernel::spawn_invoke`]).
struct Invoked {
    /// The export, its arguments and its number of results, while `_initialize` runs first.
    then: Option<(Func, Vec<Val>, usize)>,
    /// The number of results of the call running now.
    results_len: usize,
    /// What the export returned, once it has.
    results: Option<Vec<Val>>,
}

/// How a process started by the host begins: `_start`, or an export the host calls.
type HostCall<'a> = Option<(&'a str, ParamsFn<'a>)>;
/// Makes an export's arguments from its type ([`Kernel::spawn_invoke`]).
type ParamsFn<'a> = &'a mut dyn FnMut(&FuncType) -> Result<Vec<Val>, String>;

/// Everything the kernel owns, shared with system calls through the store data.
pub(crate) struct State {
    pub platform: Box<dyn Platform>,
    pub vfs: Vfs,
    pub events: EventsRef,
    pub config: KernelConfig,
    pub engine: Engine,
    pub linker: Rc<Linker<Proc>>,
    pub procs: BTreeMap<Pid, ProcEntry>,
    run_queue: VecDeque<Pid>,
    parked: BTreeSet<Pid>,
    next_pid: Pid,
    /// Compiled modules by path, with the bytes they came from.
    modules: BTreeMap<String, (Cow<'static, [u8]>, Module)>,
    /// Console input read from the platform but not yet consumed.
    pub console_in: VecDeque<u8>,
    pub console_eof: bool,
    /// The handle to this state, given to each process's store data.
    this: Option<alloc::rc::Weak<RefCell<State>>>,
}

/// The kernel.
pub struct Kernel {
    state: Rc<RefCell<State>>,
}

impl Kernel {
    /// The engine tier the kernel's processes run on.
    pub fn strategy(&self) -> Strategy {
        self.state.borrow().engine.strategy()
    }

    /// A kernel on `platform` with file system `vfs`.
    ///
    /// # Errors
    /// `config.strategy` asks for a tier the engine does not have here (`ENOTSUP`, with the
    /// engine's reason).
    pub fn new(
        platform: Box<dyn Platform>,
        vfs: Vfs,
        config: KernelConfig,
    ) -> Result<Kernel, KernelError> {
        let mut engine_config = Config::new();
        engine_config.consume_fuel(true);
        engine_config.max_call_depth(config.limits.call_depth);
        engine_config
            .strategy(config.strategy)
            .map_err(|e| KernelError::new(Errno::NOTSUP, format!("{e}")))?
            .code_cache(config.code_cache.clone());
        let engine = Engine::new(&engine_config);
        let linker = Rc::new(sys::linker(&engine));
        let state = Rc::new(RefCell::new(State {
            platform,
            vfs,
            events: Rc::new(RefCell::new(Events::default())),
            config,
            engine,
            linker,
            procs: BTreeMap::new(),
            run_queue: VecDeque::new(),
            parked: BTreeSet::new(),
            next_pid: 1,
            modules: BTreeMap::new(),
            console_in: VecDeque::new(),
            console_eof: false,
            this: None,
        }));
        state.borrow_mut().this = Some(Rc::downgrade(&state));
        Ok(Kernel { state })
    }

    /// Starts a process from the host, with the console as its stdin, stdout and stderr.
    /// No process holds a handle to it; the host keeps its status readable
    /// ([`Kernel::exit_status`]) until it calls [`Kernel::release`].
    ///
    /// # Errors
    /// The program cannot be read, is not a valid module, or imports what the kernel does
    /// not provide.
    pub fn spawn(&mut self, req: SpawnRequest) -> Result<Pid, KernelError> {
        self.spawn_host(req, None)
    }

    /// Starts a process from the host as [`Kernel::spawn`] does, but instead of `_start` it
    /// calls the module's export `func`, after `_initialize` if the module exports that (a
    /// reactor), as `wasmtime run --invoke` does. `params` makes the arguments from the
    /// function's type. [`Kernel::results`] gives what the call returned.
    ///
    /// # Errors
    /// As [`Kernel::spawn`]; also when the module exports no function `func`, or `params`
    /// fails (with its message).
    pub fn spawn_invoke(
        &mut self,
        req: SpawnRequest,
        func: &str,
        mut params: impl FnMut(&FuncType) -> Result<Vec<Val>, String>,
    ) -> Result<Pid, KernelError> {
        self.spawn_host(req, Some((func, &mut params)))
    }

    fn spawn_host(&mut self, req: SpawnRequest, call: HostCall<'_>) -> Result<Pid, KernelError> {
        let mut st = self.state.borrow_mut();
        let (name, bytes) = match req.program {
            Program::Path(path) => {
                let bytes = st.read_program(&path)?;
                (path, bytes)
            }
            Program::Bytes { name, bytes } => (name, Cow::Owned(bytes)),
        };
        let console = |end| Entry::new(Object::Console(end), Rights::ALL);
        let mut handles = Vec::new();
        handles.push(Some(console(ConsoleEnd::In)));
        handles.push(Some(console(ConsoleEnd::Out)));
        handles.push(Some(console(ConsoleEnd::Err)));
        for (guest, path) in req.preopens {
            handles.push(Some(crate::wasi::preopen(path, guest)));
        }
        let module = st.compile(&name, bytes)?;
        let pid = st.start_process(0, &name, &module, &req.args, &req.env, handles, call)?;
        if let Some(p) = st.procs.get_mut(&pid) {
            p.host_held = true;
        }
        Ok(pid)
    }

    /// Gives up the host's hold on process `pid` (one [`Kernel::spawn`] started), returning
    /// its exit status if it has ended. An ended process is then forgotten; a live one is
    /// when it ends (unless a handle to it remains).
    pub fn release(&mut self, pid: Pid) -> Option<u32> {
        let mut st = self.state.borrow_mut();
        let p = st.procs.get_mut(&pid)?;
        p.host_held = false;
        let status = match p.state {
            ProcState::Ended(s) => Some(s),
            _ => None,
        };
        st.forget_if_done(pid);
        status
    }

    /// What the kernel holds now. Objects that have just become unreachable are freed
    /// first, as the scheduler would before its next round.
    pub fn stats(&mut self) -> KernelStats {
        let mut st = self.state.borrow_mut();
        st.settle();
        let ev = st.events.borrow();
        let mut stats = KernelStats {
            in_flight_handles: ev.in_flight,
            channels: ev.channels,
            channel_bytes: ev.channel_bytes,
            process_objects: ev.process_refs,
            open_files: ev.open_files,
            ..KernelStats::default()
        };
        for p in st.procs.values() {
            stats.processes += 1;
            if !matches!(p.state, ProcState::Ended(_)) {
                stats.live_processes += 1;
                stats.memory_pages += u64::from(p.pages);
            }
            if let Some(store) = &p.store {
                stats.handles += store.data().handles.len();
            }
        }
        stats
    }

    /// Runs processes until none is left alive.
    ///
    /// # Errors
    /// If every remaining process waits for something no process or device can provide
    /// (a deadlock), naming the processes.
    pub fn run(&mut self) -> Result<(), KernelError> {
        loop {
            self.state.borrow_mut().poll_parked();
            let next = self.state.borrow_mut().run_queue.pop_front();
            if let Some(pid) = next {
                self.run_quantum(pid);
                continue;
            }
            let mut st = self.state.borrow_mut();
            if st
                .procs
                .values()
                .all(|p| matches!(p.state, ProcState::Ended(_)))
            {
                return Ok(());
            }
            st.idle()?;
        }
    }

    /// The exit status of an ended process that was started by the host.
    pub fn exit_status(&self, pid: Pid) -> Option<u32> {
        match self.state.borrow().procs.get(&pid)?.state {
            ProcState::Ended(s) => Some(s),
            _ => None,
        }
    }

    /// The status an ended process started by the host passed to `proc_exit`; `None` if it
    /// returned from `_start`, trapped or was killed (or has not ended).
    pub fn exit_request(&self, pid: Pid) -> Option<u32> {
        self.state.borrow().procs.get(&pid)?.exit_request
    }

    /// What the export called by a process from [`Kernel::spawn_invoke`] returned, once it
    /// has (`None` if it has not, or ended otherwise).
    pub fn results(&self, pid: Pid) -> Option<Vec<Val>> {
        let st = self.state.borrow();
        st.procs.get(&pid)?.invoke.as_ref()?.results.clone()
    }

    /// Runs process `pid` for one quantum.
    fn run_quantum(&mut self, pid: Pid) {
        let (mut store, task, budget, results_len) = {
            let mut st = self.state.borrow_mut();
            let (quantum, fuel_limit) = (st.config.quantum, st.config.limits.fuel);
            let Some(p) = st.procs.get_mut(&pid) else {
                return;
            };
            if p.state != ProcState::Runnable {
                return;
            }
            let Some(store) = p.store.take() else {
                return;
            };
            let task = core::mem::replace(&mut p.task, Task::None);
            let budget = match fuel_limit {
                Some(limit) => quantum.min(limit.saturating_sub(p.fuel_used)),
                None => quantum,
            };
            let results_len = p.invoke.as_ref().map_or(0, |c| c.results_len);
            (store, task, budget, results_len)
        };
        // Fuel is enabled on the kernel's engine, so these cannot fail.
        let _ = store.set_fuel(budget);
        let started = self.state.borrow().platform.monotonic_ns();
        store.data_mut().quantum_start_ns = started;
        // Only a call the host asked for has results; they are written when it returns.
        let mut results = alloc::vec![Val::I32(0); results_len];
        let outcome = match task {
            Task::Start(func, params) => func.call_resumable(&mut *store, &params, &mut results),
            Task::Resume(inv, result) => {
                let host_results: &[Val] = match &result {
                    Some(v) => core::slice::from_ref(v),
                    None => &[],
                };
                inv.resume(&mut *store, host_results, &mut results)
            }
            Task::Parked(..) | Task::None => return,
        };
        let used = budget - store.get_fuel().unwrap_or(0);
        let mut st = self.state.borrow_mut();
        let ran = st.platform.monotonic_ns().saturating_sub(started);
        store.data_mut().cpu_ns += ran;
        let pages = store
            .data()
            .memory
            .and_then(|m| m.size(&*store).ok())
            .unwrap_or(0);
        if let Some(p) = st.procs.get_mut(&pid) {
            p.fuel_used += used;
            p.pages = pages;
        }
        match outcome {
            Ok(ResumableCall::Finished) => {
                // After `_initialize`, the export the host asked for.
                let invoked = st.procs.get_mut(&pid).and_then(|p| p.invoke.as_mut());
                let next = invoked.and_then(|c| match c.then.take() {
                    Some((func, params, len)) => {
                        c.results_len = len;
                        Some(Task::Start(func, params))
                    }
                    None => {
                        c.results = Some(results);
                        None
                    }
                });
                match next {
                    Some(task) => st.suspend(pid, store, task),
                    None => st.exit(pid, 0),
                }
            }
            Ok(ResumableCall::OutOfFuel(inv)) => {
                let limit_hit = st
                    .config
                    .limits
                    .fuel
                    .is_some_and(|l| st.procs[&pid].fuel_used >= l);
                if limit_hit {
                    let name = st.procs[&pid].name.clone();
                    st.report(&format!(
                        "weft: process {pid} ({name}) used up its fuel limit and was ended\n"
                    ));
                    st.exit(pid, STATUS_TRAPPED);
                } else {
                    st.suspend(pid, store, Task::Resume(inv, None));
                }
            }
            Ok(ResumableCall::HostYield(inv)) => {
                let tag = inv.yield_tag().unwrap_or(0);
                let proc = store.data_mut();
                if let Some(code) = proc.exit.take() {
                    drop(store);
                    st.exit_as_asked(pid, code);
                } else if tag == YIELD_BLOCK {
                    match proc.pending.take() {
                        Some(pending) => st.park(pid, store, inv, pending),
                        None => st.exit(pid, STATUS_TRAPPED),
                    }
                } else if tag == YIELD_SCHED {
                    st.suspend(pid, store, Task::Resume(inv, Some(Val::I32(0))));
                } else {
                    // YIELD_EXIT always comes with `exit` set; nothing else yields.
                    st.exit(pid, STATUS_TRAPPED);
                }
            }
            Err(e) => {
                let code = store.data_mut().exit.take();
                drop(store);
                match code {
                    Some(code) => st.exit_as_asked(pid, code),
                    None => {
                        let name = st.procs.get(&pid).map(|p| p.name.clone());
                        let backtrace = e.backtrace().map(|b| format!("{b}\n"));
                        st.report(&format!(
                            "weft: process {pid} ({}) trapped: {e}\n{}",
                            name.unwrap_or_default(),
                            backtrace.unwrap_or_default()
                        ));
                        st.exit(pid, STATUS_TRAPPED);
                    }
                }
            }
        }
    }
}

impl State {
    /// The state handle for a new process's store data.
    fn this(&self) -> Rc<RefCell<State>> {
        self.this
            .as_ref()
            .and_then(alloc::rc::Weak::upgrade)
            .expect("the kernel owns its state")
    }

    /// Prints a kernel message on the console's error stream.
    pub fn report(&mut self, message: &str) {
        self.platform
            .console_write(ConsoleStream::Err, message.as_bytes());
    }

    /// The bytes of the program at `path`.
    pub fn read_program(&mut self, path: &str) -> Result<Cow<'static, [u8]>, KernelError> {
        let path = crate::vfs::path::normalize(path)
            .map_err(|e| KernelError::new(e, format!("{path}: {e}")))?;
        self.vfs
            .read_all(&mut *self.platform, &path)
            .map_err(|e| KernelError::new(e, format!("{path}: {e}")))
    }

    /// Compiles `bytes`, reusing an earlier compilation of the same bytes under `name`.
    pub fn compile(
        &mut self,
        name: &str,
        bytes: Cow<'static, [u8]>,
    ) -> Result<Module, KernelError> {
        if let Some((cached, module)) = self.modules.get(name) {
            let same = match (cached, &bytes) {
                (Cow::Borrowed(a), Cow::Borrowed(b)) => {
                    core::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()
                }
                (a, b) => a[..] == b[..],
            };
            if same {
                return Ok(module.clone());
            }
        }
        let module = Module::new(&self.engine, &bytes)
            .map_err(|e| KernelError::new(Errno::NOEXEC, format!("{name}: {e}")))?;
        // Keep the cache bounded: programs are few, but a process could compile many files.
        if self.modules.len() >= 64 {
            self.modules.clear();
        }
        self.modules
            .insert(name.to_string(), (bytes, module.clone()));
        Ok(module)
    }

    /// Starts the program `bytes` (called `name`) as a child of `parent`: compiles it (or
    /// takes it from the cache) and starts the process.
    pub fn spawn(
        &mut self,
        parent: Pid,
        name: &str,
        bytes: Cow<'static, [u8]>,
        args: &[String],
        env: &[String],
        handles: Vec<Option<Entry>>,
    ) -> Result<Pid, KernelError> {
        let module = self.compile(name, bytes)?;
        self.start_process(parent, name, &module, args, env, handles, None)
    }

    /// Creates a process running `module`: a store with the kernel's limits, its handle
    /// table from `handles` (slot `i` gets `handles[i]`), libraries linked, and queued to
    /// call `_start`, or the export `call` names.
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of a new process, each from a different caller"
    )]
    fn start_process(
        &mut self,
        parent: Pid,
        name: &str,
        module: &Module,
        args: &[String],
        env: &[String],
        handles: Vec<Option<Entry>>,
        call: HostCall<'_>,
    ) -> Result<Pid, KernelError> {
        if self.procs.len() >= self.config.max_processes {
            return Err(KernelError::new(
                Errno::NOMEM,
                format!("{name}: too many processes ({})", self.procs.len()),
            ));
        }
        let limits = self.config.limits;
        let mut table = Handles::new(limits.handles);
        table.watch(self.events.clone());
        for (i, h) in handles.into_iter().enumerate() {
            if let Some(entry) = h {
                table
                    .insert_at(i, entry)
                    .map_err(|e| KernelError::new(e, format!("{name}: handle {i}: {e}")))?;
            }
        }
        let pid = self.next_pid;
        let proc = Proc::new(pid, self.this(), table, args, env);
        let mut store = Box::new(Store::new(&self.engine, proc));
        store.limiter(StoreLimits {
            memory_pages: limits.memory_pages,
            call_depth: limits.call_depth,
            instances: 64,
            ..StoreLimits::default()
        });
        // A module's start function (e.g. the linker's `__wasm_init_memory` in programs
        // that import their memory) runs at instantiation, on one quantum of fuel.
        let _ = store.set_fuel(self.config.quantum);
        let (instance, memory) = self
            .link(&mut store, module)
            .map_err(|e| KernelError::new(Errno::NOEXEC, format!("{name}: {e}")))?;
        let memory = memory.or_else(|| instance.get_memory(&*store, "memory"));
        store.data_mut().memory = memory;
        let pages = memory.and_then(|m| m.size(&*store).ok()).unwrap_or(0);
        let (task, invoke) = match call {
            None => {
                let start = instance.get_func(&*store, "_start").ok_or_else(|| {
                    KernelError::new(Errno::NOEXEC, format!("{name}: module exports no `_start`"))
                })?;
                (Task::Start(start, Vec::new()), None)
            }
            Some((export, params)) => {
                let no_func = || {
                    KernelError::new(
                        Errno::NOEXEC,
                        format!("{name}: module exports no function `{export}`"),
                    )
                };
                let func = instance.get_func(&*store, export).ok_or_else(no_func)?;
                let ty = func.ty(&*store).map_err(|_| no_func())?;
                let params = params(&ty).map_err(|m| KernelError::new(Errno::INVAL, m))?;
                let len = ty.results().len();
                let init = instance
                    .get_func(&*store, "_initialize")
                    .filter(|_| export != "_initialize");
                let (task, then, results_len) = match init {
                    Some(init) => (Task::Start(init, Vec::new()), Some((func, params, len)), 0),
                    None => (Task::Start(func, params), None, len),
                };
                let invoked = Invoked {
                    then,
                    results_len,
                    results: None,
                };
                (task, Some(Box::new(invoked)))
            }
        };
        self.next_pid += 1;
        let display = args
            .first()
            .map_or(name, |a| a.rsplit('/').next().unwrap_or(a));
        self.procs.insert(
            pid,
            ProcEntry {
                pid,
                parent,
                name: display.to_string(),
                state: ProcState::Runnable,
                store: Some(store),
                task,
                fuel_used: 0,
                pages,
                object: alloc::rc::Weak::new(),
                host_held: false,
                exit_request: None,
                invoke,
            },
        );
        self.run_queue.push_back(pid);
        Ok(pid)
    }

    /// Instantiates `module` into `store`, resolving `env.memory` to a fresh memory of the
    /// process and `lib/NAME` imports to the shared library `/lib/NAME.wasm`, linked
    /// against that memory. Returns the instance and the imported memory, if any.
    fn link(
        &mut self,
        store: &mut Store<Proc>,
        module: &Module,
    ) -> Result<(Instance, Option<Memory>), String> {
        let mut memory = None;
        for import in module.imports() {
            if (import.module(), import.name()) == ("env", "memory") {
                let ExternType::Memory(ty) = import.ty() else {
                    return Err("`env.memory` must be a memory".into());
                };
                memory = Some(Memory::new(&mut *store, ty).map_err(|e| e.to_string())?);
            }
        }
        let mut libs: BTreeMap<String, Instance> = BTreeMap::new();
        for import in module.imports() {
            let Some(lib) = import.module().strip_prefix("lib/") else {
                continue;
            };
            if libs.contains_key(lib) {
                continue;
            }
            let Some(memory) = memory else {
                return Err(format!(
                    "imports library `{lib}` but not `env.memory`: a program that uses \
                     shared libraries must import its memory"
                ));
            };
            let path = format!("/lib/{lib}.wasm");
            let bytes = self.read_program(&path).map_err(|e| e.message)?;
            let lib_module = self.compile(&path, bytes).map_err(|e| e.message)?;
            let mut imports = Vec::new();
            for import in lib_module.imports() {
                imports.push(self.resolve(store, memory, &libs, import.module(), import.name())?);
            }
            let instance = Instance::new(&mut *store, &lib_module, &imports)
                .map_err(|e| format!("library {path}: {e}"))?;
            libs.insert(lib.to_string(), instance);
        }
        let mut imports = Vec::with_capacity(module.imports().len());
        for import in module.imports() {
            match memory {
                Some(m) => {
                    imports.push(self.resolve(store, m, &libs, import.module(), import.name())?)
                }
                None => imports.push(
                    self.linker
                        .get(&mut *store, import.module(), import.name())
                        .ok_or_else(|| unknown_import(import.module(), import.name()))?,
                ),
            }
        }
        let instance = Instance::new(&mut *store, module, &imports).map_err(|e| e.to_string())?;
        Ok((instance, memory))
    }

    fn resolve(
        &self,
        store: &mut Store<Proc>,
        memory: Memory,
        libs: &BTreeMap<String, Instance>,
        module: &str,
        name: &str,
    ) -> Result<weft_engine::Extern, String> {
        if (module, name) == ("env", "memory") {
            return Ok(memory.into());
        }
        if let Some(lib) = module.strip_prefix("lib/") {
            return libs
                .get(lib)
                .and_then(|i| i.get_export(&*store, name))
                .ok_or_else(|| unknown_import(module, name));
        }
        self.linker
            .get(&mut *store, module, name)
            .ok_or_else(|| unknown_import(module, name))
    }

    /// Puts a process that ran out of its quantum (or yielded) back in the queue.
    fn suspend(&mut self, pid: Pid, store: Box<Store<Proc>>, task: Task) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.store = Some(store);
            p.task = task;
            self.run_queue.push_back(pid);
        }
    }

    /// Parks a process in a system call until `pending` completes.
    fn park(
        &mut self,
        pid: Pid,
        store: Box<Store<Proc>>,
        inv: ResumableInvocation,
        pending: Pending,
    ) {
        if let Some(p) = self.procs.get_mut(&pid) {
            p.store = Some(store);
            p.task = Task::Parked(inv, pending);
            p.state = ProcState::Waiting;
            self.parked.insert(pid);
        }
    }

    /// Ends process `pid` with the status it asked for (`proc_exit`), as [`State::exit`].
    fn exit_as_asked(&mut self, pid: Pid, status: u32) {
        if let Some(p) = self.procs.get_mut(&pid)
            && !matches!(p.state, ProcState::Ended(_))
        {
            p.exit_request = Some(status);
        }
        self.exit(pid, status);
    }

    /// Ends process `pid` with `status`: frees its store (closing its handles), hands its
    /// children to init, and wakes whoever waits for it. The entry stays while a handle to
    /// the process (or the host) may still read the status. When init (pid 1) ends, so do
    /// the processes descended from it: nothing could end them any more.
    pub fn exit(&mut self, pid: Pid, status: u32) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        if matches!(p.state, ProcState::Ended(_)) {
            return;
        }
        p.state = ProcState::Ended(status);
        p.pages = 0;
        let store = p.store.take();
        p.task = Task::None;
        self.parked.remove(&pid);
        self.run_queue.retain(|&q| q != pid);
        // The handles go with the store; ends they held may now be unreachable.
        drop(store);
        let orphans_of_init = if pid == 1 {
            self.descendants(1)
        } else {
            Vec::new()
        };
        // Orphans go to init (pid 1) if it is alive, for `ps`; they run on regardless.
        let init_alive = pid != 1
            && self
                .procs
                .get(&1)
                .is_some_and(|p| !matches!(p.state, ProcState::Ended(_)));
        let new_parent = if init_alive { 1 } else { 0 };
        for c in self.procs.values_mut().filter(|c| c.parent == pid) {
            c.parent = new_parent;
        }
        {
            let mut ev = self.events.borrow_mut();
            ev.wake.push(WaitKey::Exited(pid));
            ev.dirty = true;
        }
        self.forget_if_done(pid);
        for d in orphans_of_init {
            self.exit(d, STATUS_KILLED);
        }
    }

    /// The live processes descended from `root` (its children, theirs, ...).
    fn descendants(&self, root: Pid) -> Vec<Pid> {
        let mut children: BTreeMap<Pid, Vec<Pid>> = BTreeMap::new();
        for p in self.procs.values() {
            children.entry(p.parent).or_default().push(p.pid);
        }
        let mut found = Vec::new();
        let mut todo = alloc::vec![root];
        while let Some(pid) = todo.pop() {
            for &c in children.get(&pid).map_or(&[][..], Vec::as_slice) {
                if c != root && !found.contains(&c) {
                    found.push(c);
                    todo.push(c);
                }
            }
        }
        found.retain(|c| {
            self.procs
                .get(c)
                .is_some_and(|p| !matches!(p.state, ProcState::Ended(_)))
        });
        found
    }

    /// Removes the entry of `pid` if it has ended and nobody can read its status any more.
    fn forget_if_done(&mut self, pid: Pid) {
        if self.procs.get(&pid).is_some_and(|p| {
            matches!(p.state, ProcState::Ended(_)) && !p.host_held && p.object.strong_count() == 0
        }) {
            self.procs.remove(&pid);
        }
    }

    /// The object that handles to process `pid` name (made on first use), or `None` if
    /// there is no such process.
    pub fn process_object(&mut self, pid: Pid) -> Option<Rc<ProcessRef>> {
        let p = self.procs.get_mut(&pid)?;
        if let Some(object) = p.object.upgrade() {
            return Some(object);
        }
        let object = Rc::new(ProcessRef::new(pid, &self.events));
        p.object = Rc::downgrade(&object);
        Some(object)
    }

    /// Frees what became unreachable: drops the graveyard's messages (iteratively: each may
    /// hold the last references to ends whose queues join the graveyard in turn), forgets
    /// ended processes whose last handle went, closes files, and runs the collector when a
    /// handle moved or closed while handles were in flight.
    pub(crate) fn settle(&mut self) {
        loop {
            let (graveyard, released, collect) = {
                let mut ev = self.events.borrow_mut();
                let collect = ev.dirty && ev.in_flight > 0;
                if !collect {
                    ev.dirty = false;
                }
                (
                    core::mem::take(&mut ev.graveyard),
                    core::mem::take(&mut ev.released),
                    collect,
                )
            };
            if graveyard.is_empty() && released.is_empty() && !collect {
                break;
            }
            drop(graveyard);
            for pid in released {
                self.forget_if_done(pid);
            }
            if collect {
                self.collect();
            }
        }
        let closed = core::mem::take(&mut self.events.borrow_mut().closed_files);
        for node in closed {
            self.vfs.close(&mut *self.platform, node);
        }
    }

    /// Finds the channel ends no process can reach and empties their queues, which frees
    /// them (and whatever they alone held): an end is reachable if a handle table holds it,
    /// or if a message queued towards a reachable end carries it. Only channels that have
    /// carried handles can hold ends, so only those are visited besides the tables.
    fn collect(&mut self) {
        self.events.borrow_mut().dirty = false;
        let mut reached: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut todo: Vec<Rc<ChannelEnd>> = Vec::new();
        for p in self.procs.values() {
            let Some(store) = &p.store else { continue };
            for (_, entry) in store.data().handles.iter() {
                if let Object::Channel(end) = &entry.object
                    && reached.insert(end.id())
                {
                    todo.push(end.clone());
                }
            }
        }
        while let Some(end) = todo.pop() {
            for inner in end.queued_ends() {
                if reached.insert(inner.id()) {
                    todo.push(inner);
                }
            }
        }
        let carriers = core::mem::take(&mut self.events.borrow_mut().carriers);
        let mut kept = Vec::with_capacity(carriers.len());
        let mut unreachable = Vec::new();
        for weak in carriers {
            let Some(channel) = weak.upgrade() else {
                continue;
            };
            for end in ChannelEnd::unreached_ends(&channel, &reached) {
                unreachable.push(end);
            }
            kept.push(weak);
        }
        self.events.borrow_mut().carriers.extend(kept);
        // Emptying the queues drops the references that kept these ends alive; what they
        // held goes to the graveyard, which `settle` empties next.
        for (channel, side) in unreachable {
            ChannelEnd::discard_side(&channel, side);
        }
    }

    /// Frees what became unreachable ([`State::settle`]), and completes the system calls of
    /// parked processes whose wait may be over.
    fn poll_parked(&mut self) {
        self.settle();
        if self.parked.is_empty() {
            self.events.borrow_mut().wake.clear();
            return;
        }
        let wake: BTreeSet<WaitKey> = self.events.borrow_mut().wake.drain(..).collect();
        let mut now = None;
        let candidates: Vec<Pid> = self.parked.iter().copied().collect();
        for pid in candidates {
            let Some(p) = self.procs.get(&pid) else {
                continue;
            };
            let Task::Parked(_, pending) = &p.task else {
                continue;
            };
            let w = &pending.wait;
            let mut due = w.keys.iter().any(|k| wake.contains(k));
            if !due && let Some(deadline) = w.deadline {
                let t = *now.get_or_insert_with(|| self.platform.monotonic_ns());
                due = t >= deadline;
            }
            if !due && w.console {
                due = self.console_ready();
            }
            if due {
                self.retry(pid);
            }
        }
    }

    /// Whether a console read would not wait: input is buffered, or its end was seen.
    pub fn console_ready(&mut self) -> bool {
        self.fill_console();
        !self.console_in.is_empty() || self.console_eof
    }

    /// Moves available console input into the kernel's buffer.
    pub fn fill_console(&mut self) {
        if self.console_eof || !self.console_in.is_empty() {
            return;
        }
        let mut buf = [0u8; 4096];
        match self.platform.console_read(&mut buf) {
            Some(0) => self.console_eof = true,
            Some(n) => self.console_in.extend(&buf[..n]),
            None => {}
        }
    }

    /// Tries the parked system call of `pid` again; on completion the process becomes
    /// runnable with the call's result.
    fn retry(&mut self, pid: Pid) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let Task::Parked(inv, mut pending) = core::mem::replace(&mut p.task, Task::None) else {
            return;
        };
        let Some(mut store) = p.store.take() else {
            return;
        };
        let outcome = sys::retry(self, &mut store, &mut pending);
        let p = self.procs.get_mut(&pid).expect("still in the table");
        match outcome {
            sys::Retry::Done(errno) => {
                p.store = Some(store);
                p.task = Task::Resume(inv, Some(Val::I32(i32::from(errno.0))));
                p.state = ProcState::Runnable;
                self.parked.remove(&pid);
                self.run_queue.push_back(pid);
            }
            sys::Retry::Wait(wait) => {
                pending.wait = wait;
                p.store = Some(store);
                p.task = Task::Parked(inv, pending);
            }
            sys::Retry::Exit(code) => {
                drop(store);
                self.exit(pid, code);
            }
        }
    }

    /// Nothing is runnable: sleep until a deadline or console input, or report deadlock.
    fn idle(&mut self) -> Result<(), KernelError> {
        let mut deadline: Option<u64> = None;
        let mut console = false;
        for pid in &self.parked {
            if let Some(Task::Parked(_, pending)) = self.procs.get(pid).map(|p| &p.task) {
                if let Some(d) = pending.wait.deadline {
                    deadline = Some(deadline.map_or(d, |x: u64| x.min(d)));
                }
                console |= pending.wait.console;
            }
        }
        if !self.events.borrow().wake.is_empty() {
            return Ok(());
        }
        if deadline.is_none() && !console {
            let names: Vec<String> = self
                .procs
                .values()
                .filter(|p| p.state == ProcState::Waiting)
                .map(|p| format!("{} ({})", p.pid, p.name))
                .collect();
            // Nobody can ever wake them: end them so the system can go on.
            let stuck: Vec<Pid> = self.parked.iter().copied().collect();
            for pid in stuck {
                self.exit(pid, STATUS_KILLED);
            }
            return Err(KernelError::new(
                Errno::AGAIN,
                format!(
                    "deadlock: every process waits for another ({}); they were ended",
                    names.join(", ")
                ),
            ));
        }
        if console && self.console_ready() {
            return Ok(());
        }
        // The next round's poll takes in what arrived.
        self.platform.wait(deadline, console);
        Ok(())
    }

    /// Reads the console into `buf` if input is buffered; `AGAIN` if none yet.
    pub fn console_read(&mut self, buf: &mut [u8]) -> SysResult<usize> {
        self.fill_console();
        if self.console_in.is_empty() {
            return if self.console_eof {
                // End of input ends this read; a terminal may have more after it.
                self.console_eof = false;
                Ok(0)
            } else {
                Err(Errno::AGAIN)
            };
        }
        let n = buf.len().min(self.console_in.len());
        for (b, c) in buf.iter_mut().zip(self.console_in.drain(..n)) {
            *b = c;
        }
        Ok(n)
    }

    /// Ends process `pid` on another's request (which holds a handle to it).
    pub fn kill(&mut self, pid: Pid) -> SysResult<()> {
        match self.procs.get(&pid).map(|p| p.state) {
            None | Some(ProcState::Ended(_)) => Err(Errno::SRCH),
            Some(_) => {
                self.exit(pid, STATUS_KILLED);
                Ok(())
            }
        }
    }
}

fn unknown_import(module: &str, name: &str) -> String {
    format!(
        "unknown import `{module}::{name}`: weft provides wasi_snapshot_preview1, weft, env.memory and lib/NAME"
    )
}
