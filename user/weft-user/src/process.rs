//! Processes: spawning them, and waiting for and killing them through the handles `spawn`
//! returns ([`Child`]); listing every process ([`proc_list`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::os::fd::AsRawFd;

use crate::channel::Handle;
use crate::errno::Errno;
use crate::fd::preopens;
use crate::sys;
use crate::{EMPTY_SLOT, RawHandle};

/// A process id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(u32);

impl Pid {
    /// The pid with this number.
    pub const fn from_raw(raw: u32) -> Pid {
        Pid(raw)
    }

    /// Its number.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Pid {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Pid, Self::Err> {
        s.parse().map(Pid)
    }
}

/// How a process ended: its exit code (0-255) when it exited, [`ExitStatus::KILLED`] (137)
/// when it was killed, [`ExitStatus::FAULTED`] (134) when it trapped or broke a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExitStatus(u32);

impl ExitStatus {
    /// The status of a killed process (128 + 9).
    pub const KILLED: ExitStatus = ExitStatus(weft_abi::STATUS_KILLED);
    /// The status of a process that trapped or broke a limit (128 + 6).
    pub const FAULTED: ExitStatus = ExitStatus(weft_abi::STATUS_TRAPPED);

    /// The status with this code.
    pub const fn from_code(code: u32) -> ExitStatus {
        ExitStatus(code)
    }

    /// The exit code.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// Whether the code is 0.
    pub const fn success(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitStatus::KILLED => write!(f, "killed (status 137)"),
            ExitStatus::FAULTED => write!(f, "faulted (status 134)"),
            ExitStatus(code) => write!(f, "exit status {code}"),
        }
    }
}

/// Appends `s` and a NUL to `out`, refusing strings that hold a NUL themselves.
fn push_c_string(out: &mut Vec<u8>, s: &[u8], what: &str) -> io::Result<()> {
    if s.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        ));
    }
    out.extend_from_slice(s);
    out.push(0);
    Ok(())
}

/// Encodes strings as the ABI wants them: each NUL-terminated, back to back.
fn c_strings<S: AsRef<[u8]>>(items: &[S], what: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for s in items {
        push_c_string(&mut out, s.as_ref(), what)?;
    }
    Ok(out)
}

/// Starts the program at `path` (absolute) as a child process, and returns the handle to
/// it.
///
/// `args` is the whole argument vector, `argv[0]` first; `env` holds `KEY=VALUE` strings;
/// the child's handle `i` is a duplicate of `handles[i]` ([`EMPTY_SLOT`] leaves it empty).
/// Most callers want [`Command`], which fills these in.
///
/// # Errors
/// `ENOENT` (no such program), `ENOEXEC` (not a runnable module), `EBADF`/`ENOTCAPABLE`
/// (a handle that does not exist or may not be passed), `ENOMEM` (process limit), and
/// `InvalidInput` for a string holding a NUL byte.
pub fn spawn<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    path: &str,
    args: &[A],
    env: &[E],
    handles: &[RawHandle],
) -> io::Result<Child> {
    let mut c_path = Vec::new();
    push_c_string(&mut c_path, path.as_bytes(), "the program path")?;
    c_path.pop();
    let args = c_strings(args, "an argument")?;
    let env = c_strings(env, "an environment variable")?;
    let handle = Handle::from(sys::spawn(&c_path, &args, &env, handles)?);
    Child::from_handle(handle)
}

/// One of the child's handle slots, as given to [`Command::stdin`] and friends: a handle of
/// ours the child gets a duplicate of, or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(RawHandle);

impl Slot {
    /// Leaves the child's slot empty.
    pub const EMPTY: Slot = Slot(EMPTY_SLOT);

    /// A duplicate of our handle `raw` (for example 0, 1 or 2: our own stdio).
    pub const fn raw(raw: RawHandle) -> Slot {
        Slot(raw)
    }
}

impl From<RawHandle> for Slot {
    fn from(raw: RawHandle) -> Slot {
        Slot(raw)
    }
}

impl<T: AsFd> From<&T> for Slot {
    fn from(object: &T) -> Slot {
        Slot(object.as_fd().as_raw_fd().cast_unsigned())
    }
}

/// A builder for a child process, like `std::process::Command`.
///
/// By default the child gets our stdin, stdout and stderr (handles 0, 1, 2), then our
/// preopened directories (3, 4, ... as found by probing; see [`preopens`]), then any extra
/// handles given with [`Command::handle`]; and our environment.
#[derive(Clone, Debug)]
pub struct Command {
    path: String,
    argv0: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    stdio: [Slot; 3],
    pass_preopens: bool,
    extra: Vec<Slot>,
}

impl Command {
    /// A command for the program at `path`; `argv[0]` is the last component of `path`.
    pub fn new(path: impl Into<String>) -> Command {
        let path = path.into();
        let argv0 = path.rsplit('/').next().unwrap_or(&path).to_string();
        Command {
            path,
            argv0,
            args: Vec::new(),
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            stdio: [Slot(0), Slot(1), Slot(2)],
            pass_preopens: true,
            extra: Vec::new(),
        }
    }

    /// Sets `argv[0]` (the name `ps` shows).
    pub fn arg0(&mut self, name: impl Into<String>) -> &mut Command {
        self.argv0 = name.into();
        self
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl Into<String>) -> &mut Command {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, args: I) -> &mut Command {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Command {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: &str) -> &mut Command {
        self.env.remove(key);
        self
    }

    /// Starts from an empty environment instead of ours.
    pub fn env_clear(&mut self) -> &mut Command {
        self.env.clear();
        self
    }

    /// The child's stdin (handle 0).
    pub fn stdin(&mut self, slot: impl Into<Slot>) -> &mut Command {
        self.stdio[0] = slot.into();
        self
    }

    /// The child's stdout (handle 1).
    pub fn stdout(&mut self, slot: impl Into<Slot>) -> &mut Command {
        self.stdio[1] = slot.into();
        self
    }

    /// The child's stderr (handle 2).
    pub fn stderr(&mut self, slot: impl Into<Slot>) -> &mut Command {
        self.stdio[2] = slot.into();
        self
    }

    /// Whether to pass our preopened directories (the default) after stdio.
    pub fn pass_preopens(&mut self, yes: bool) -> &mut Command {
        self.pass_preopens = yes;
        self
    }

    /// Passes one more handle, after stdio and the preopens: a directory handle becomes a
    /// preopen of the child, anything else (a channel end) a handle it finds at that number.
    pub fn handle(&mut self, slot: impl Into<Slot>) -> &mut Command {
        self.extra.push(slot.into());
        self
    }

    /// The child's handle list, as [`spawn`] takes it.
    pub fn handles(&self) -> Vec<RawHandle> {
        let mut handles: Vec<RawHandle> = self.stdio.iter().map(|s| s.0).collect();
        if self.pass_preopens {
            handles.extend(preopens());
        }
        handles.extend(self.extra.iter().map(|s| s.0));
        handles
    }

    /// Starts the child. It runs concurrently; wait for it with [`Child::wait`].
    ///
    /// # Errors
    /// As [`spawn`].
    pub fn spawn(&self) -> io::Result<Child> {
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(self.argv0.as_str());
        argv.extend(self.args.iter().map(String::as_str));
        let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        spawn(&self.path, &argv, &env, &self.handles())
    }

    /// Starts the child and waits for it to end.
    ///
    /// # Errors
    /// As [`Command::spawn`] and [`wait`].
    pub fn status(&self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }
}

/// A process, named by a handle to it: what [`spawn`] and [`Command::spawn`] return, or a
/// process handle received over a channel ([`Child::from_handle`]).
///
/// `wait` and `kill` act only through such a handle (with the rights `READ` and `KILL`),
/// never on a bare pid. Dropping it closes the handle and leaves the process running; the
/// process is forgotten once it has ended and no handle to it remains.
#[derive(Debug)]
pub struct Child {
    handle: Handle,
    pid: Pid,
}

impl Child {
    /// Wraps a process handle (for example one received over a channel).
    ///
    /// # Errors
    /// `EBADF` if `handle` does not name a process.
    pub fn from_handle(handle: Handle) -> io::Result<Child> {
        let pid = Pid(sys::proc_pid(handle.raw())?);
        Ok(Child { handle, pid })
    }

    /// Its pid (what `ps` shows).
    pub fn id(&self) -> Pid {
        self.pid
    }

    /// The handle to it.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Gives up the wrapper, keeping the handle (to send it to another process).
    pub fn into_handle(self) -> Handle {
        self.handle
    }

    /// Another handle to the same process with only `rights` (some of
    /// [`RIGHT_READ`](crate::RIGHT_READ), [`RIGHT_TRANSFER`](crate::RIGHT_TRANSFER),
    /// [`RIGHT_KILL`](crate::RIGHT_KILL)): for example one that may wait but not kill.
    ///
    /// # Errors
    /// `ENOTCAPABLE` if this handle lacks one of `rights`, `EINVAL` for an unknown right.
    pub fn try_clone_with(&self, rights: u32) -> io::Result<Child> {
        let handle = Handle::from(sys::handle_dup(self.handle.raw(), rights)?);
        Ok(Child {
            handle,
            pid: self.pid,
        })
    }

    /// Waits for it to end and returns its status. It can be asked again: the status stays
    /// while a handle to the process does.
    ///
    /// # Errors
    /// `ENOTCAPABLE` if the handle lacks `READ`.
    pub fn wait(&self) -> io::Result<ExitStatus> {
        Ok(ExitStatus(sys::wait(self.handle.raw(), 0)?))
    }

    /// Its status if it has ended, `None` if it is still running.
    ///
    /// # Errors
    /// As [`Child::wait`].
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        match sys::wait(self.handle.raw(), sys::WAIT_NOHANG) {
            Ok(status) => Ok(Some(ExitStatus(status))),
            Err(Errno::AGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends it (status 137).
    ///
    /// # Errors
    /// `ESRCH` if it has already ended, `ENOTCAPABLE` if the handle lacks `KILL`.
    pub fn kill(&self) -> io::Result<()> {
        Ok(sys::kill(self.handle.raw())?)
    }
}

/// Our own pid.
///
/// # Errors
/// Only if the kernel lacks the call (`ENOSYS` style errors from another runtime).
pub fn getpid() -> io::Result<Pid> {
    Ok(Pid(sys::getpid()?))
}

/// A process's state in [`ProcInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Ready to run or running.
    Runnable,
    /// Parked in a call that waits.
    Waiting,
    /// Ended; a handle to it still holds its status.
    Ended,
    /// A state this version does not know.
    Unknown(u32),
}

impl ProcState {
    /// A short lower-case name: `run`, `wait`, `ended` or `?N`.
    pub fn name(self) -> String {
        match self {
            ProcState::Runnable => "run".into(),
            ProcState::Waiting => "wait".into(),
            ProcState::Ended => "ended".into(),
            ProcState::Unknown(n) => format!("?{n}"),
        }
    }
}

/// One process, as [`proc_list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    /// Its pid.
    pub pid: Pid,
    /// Its parent's pid (0 for the first process).
    pub ppid: u32,
    /// What it is doing.
    pub state: ProcState,
    /// Linear memory size in 64 KiB pages.
    pub pages: u32,
    /// Fuel (roughly, instructions) consumed so far.
    pub fuel: u64,
    /// Its name (`argv[0]`, at most 40 bytes).
    pub name: String,
}

impl ProcInfo {
    /// Size of one record in the `proc_list` buffer.
    pub const RECORD_SIZE: usize = weft_abi::syscall::PROC_RECORD_SIZE;

    /// Linear memory size in bytes.
    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.pages) * 65536
    }

    /// Decodes one `proc_list` record (docs/abi.md).
    pub fn from_record(record: &[u8; Self::RECORD_SIZE]) -> ProcInfo {
        let u32_at =
            |i: usize| u32::from_le_bytes([record[i], record[i + 1], record[i + 2], record[i + 3]]);
        let mut fuel = [0u8; 8];
        fuel.copy_from_slice(&record[16..24]);
        let name = &record[24..];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        ProcInfo {
            pid: Pid(u32_at(0)),
            ppid: u32_at(4),
            state: match u32_at(8) {
                0 => ProcState::Runnable,
                1 => ProcState::Waiting,
                2 => ProcState::Ended,
                n => ProcState::Unknown(n),
            },
            pages: u32_at(12),
            fuel: u64::from_le_bytes(fuel),
            name: String::from_utf8_lossy(name).into_owned(),
        }
    }
}

/// Every process, ordered by pid: the live ones, and the ended ones whose status a handle
/// still holds. No handle is needed to see them.
///
/// # Errors
/// Only if the kernel refuses the call.
pub fn proc_list() -> io::Result<Vec<ProcInfo>> {
    let mut capacity = 32usize;
    // Processes may start between two calls; after a few rounds, report what fit.
    let mut round = 0;
    loop {
        round += 1;
        let mut buf = vec![0u8; capacity * ProcInfo::RECORD_SIZE];
        let total = sys::proc_list(&mut buf)? as usize;
        if total <= capacity || round == 8 {
            return Ok(buf
                .chunks_exact(ProcInfo::RECORD_SIZE)
                .take(total)
                .filter_map(|r| r.try_into().ok().map(ProcInfo::from_record))
                .collect());
        }
        capacity = total.min(MAX_PROCS) + 8;
    }
}

/// More processes than any kernel limit allows; bounds the buffer [`proc_list`] allocates.
const MAX_PROCS: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_nul_terminated() {
        assert_eq!(c_strings(&["ls", "-l"], "x").unwrap(), b"ls\0-l\0");
        assert_eq!(c_strings::<&str>(&[], "x").unwrap(), b"");
        let err = c_strings(&["a\0b"], "an argument").unwrap_err();
        assert_eq!(err.to_string(), "an argument contains a NUL byte");
    }

    #[test]
    fn decodes_a_record() {
        let mut r = [0u8; 64];
        r[0..4].copy_from_slice(&7u32.to_le_bytes());
        r[4..8].copy_from_slice(&1u32.to_le_bytes());
        r[8..12].copy_from_slice(&1u32.to_le_bytes());
        r[12..16].copy_from_slice(&17u32.to_le_bytes());
        r[16..24].copy_from_slice(&123_456_789_012u64.to_le_bytes());
        r[24..26].copy_from_slice(b"sh");
        let p = ProcInfo::from_record(&r);
        assert_eq!(p.pid, Pid(7));
        assert_eq!(p.ppid, 1);
        assert_eq!(p.state, ProcState::Waiting);
        assert_eq!(p.memory_bytes(), 17 * 65536);
        assert_eq!(p.fuel, 123_456_789_012);
        assert_eq!(p.name, "sh");
        r[24..64].fill(b'x');
        r[8] = 9;
        let p = ProcInfo::from_record(&r);
        assert_eq!(p.name.len(), 40);
        assert_eq!(p.state, ProcState::Unknown(9));
    }

    #[test]
    fn command_defaults() {
        let mut c = Command::new("/bin/ls");
        c.arg("-l")
            .stdout(Slot::EMPTY)
            .pass_preopens(false)
            .handle(9u32);
        assert_eq!(c.argv0, "ls");
        assert_eq!(c.handles(), vec![0, EMPTY_SLOT, 2, 9]);
    }

    #[test]
    fn statuses() {
        assert!(ExitStatus::from_code(0).success());
        assert_eq!(ExitStatus::from_code(3).to_string(), "exit status 3");
        assert_eq!(ExitStatus::KILLED.to_string(), "killed (status 137)");
    }
}
