//! The shell's state and how it runs parsed commands: pipelines over channels,
//! redirections, background jobs and the builtins.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::rc::Rc;

use sh::expand::{self, Vars};
use sh::syntax::{self, AndOr, Connector, Pipeline, Program, RedirOp};
use weft_user::{Channel, Child, Command, Errno, ExitStatus, Pid, Slot, describe};

/// The builtins: name, synopsis, what it does (empty for an alias).
const BUILTINS: &[(&str, &str, &str)] = &[
    (
        "cd",
        "cd [DIR | -]",
        "change directory (default $HOME); sets PWD and OLDPWD",
    ),
    ("pwd", "pwd", "print the working directory"),
    (
        "exit",
        "exit [N]",
        "leave the shell with status N (default $?)",
    ),
    (
        "export",
        "export [NAME[=VALUE]...]",
        "pass variables to programs; alone: list them",
    ),
    ("unset", "unset NAME...", "remove variables"),
    (
        "wait",
        "wait [PID...]",
        "wait for background jobs (default: all)",
    ),
    (
        "kill",
        "kill [-9 | -KILL] PID...",
        "end background jobs of this shell (status 137)",
    ),
    (
        ".",
        ". FILE [ARG...]",
        "run FILE in this shell (also `source`)",
    ),
    ("source", "", ""),
    (":", ":", "do nothing, successfully"),
    ("help", "help", "this text"),
];

const HELP_TEXT: &str = "\
Programs are looked up in $PATH (default /bin); a name with a `/` is a path.
  a | b | c                 a pipeline: each `|` is a kernel channel
  a; b      a & b           in sequence; `&` runs in the background ($! is its pid;
                            `wait` and `kill` take the pids of this shell's jobs)
  a && b    a || b   ! a    b if a succeeded / failed; `!` inverts the status
  < f  > f  >> f            redirect stdin / stdout / append; also 2> f, 2>&1, >&2
  $VAR ${VAR} NAME=VALUE    variables; special: $? $! $$ $# $0-$9 $@ $*
  'single' \"double $VAR\"    quotes; also \\x escapes, # comments, ~/path
Not supported: globbing, $(...), ( ) and { } grouping, if/for/while, functions.
";

/// Where one of a command's descriptors 0-2 goes.
#[derive(Clone, Debug)]
enum Target {
    /// The shell's own descriptor with this number.
    Shell(u32),
    /// A file or channel end the shell opened for this command.
    Object(Rc<File>),
}

impl Target {
    fn slot(&self) -> Slot {
        match self {
            Target::Shell(n) => Slot::raw(*n),
            Target::Object(f) => Slot::from(&**f),
        }
    }
}

/// Writes to a [`Target`] (for builtins).
struct Out<'a>(&'a Target);

impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0 {
            Target::Shell(2) => io::stderr().write(buf),
            Target::Shell(_) => io::stdout().write(buf),
            Target::Object(f) => (&**f).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.0 {
            Target::Shell(2) => io::stderr().flush(),
            Target::Shell(_) => io::stdout().flush(),
            Target::Object(f) => (&**f).flush(),
        }
    }
}

/// One command of a pipeline after it was started.
enum Stage {
    /// A program, running.
    Running(Child),
    /// Finished already (a builtin, or a program that could not start).
    Done(u32),
    /// A builtin waiting for the pipeline's programs to start.
    Deferred { argv: Vec<String>, io: [Target; 3] },
}

/// Background statuses remembered for `wait PID`.
const REMEMBERED: usize = 64;

/// The shell's state.
#[derive(Clone)]
pub struct Shell {
    vars: BTreeMap<String, String>,
    exported: BTreeSet<String>,
    arg0: String,
    positional: Vec<String>,
    /// `$?`.
    status: u32,
    /// `$!`.
    last_bg: Option<Pid>,
    /// Background processes not yet seen to end, with the handles through which the shell
    /// waits for them and kills them (no process can do either without one).
    jobs: Vec<Rc<Child>>,
    /// Background processes that ended before anyone asked `wait` for them.
    finished: BTreeMap<Pid, ExitStatus>,
    interactive: bool,
    /// Set by `exit`.
    exit: Option<u32>,
    pid: Option<Pid>,
}

impl Shell {
    /// A shell with our environment (all exported), `$0` = `arg0`, `$1...` = `positional`.
    /// Changes into `PWD` first.
    pub fn new(arg0: String, positional: Vec<String>, interactive: bool) -> Shell {
        if let Err(e) = weft_user::init_cwd() {
            eprintln!("sh: {e}");
        }
        let vars: BTreeMap<String, String> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let exported = vars.keys().cloned().collect();
        let mut shell = Shell {
            vars,
            exported,
            arg0,
            positional,
            status: 0,
            last_bg: None,
            jobs: Vec::new(),
            finished: BTreeMap::new(),
            interactive,
            exit: None,
            pid: weft_user::getpid().ok(),
        };
        shell.export("PWD", cwd());
        shell
    }

    pub fn interactive(&self) -> bool {
        self.interactive
    }

    pub fn exit_requested(&self) -> bool {
        self.exit.is_some()
    }

    /// The status the shell exits with.
    pub fn exit_status(&self) -> u32 {
        self.exit.unwrap_or(self.status)
    }

    pub fn set_status(&mut self, status: u32) -> u32 {
        self.status = status;
        status
    }

    pub fn prompt(&self) -> String {
        self.vars
            .get("PS1")
            .cloned()
            .unwrap_or_else(|| "$ ".to_string())
    }

    fn export(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_string(), value);
        self.exported.insert(name.to_string());
    }

    /// Parses and runs a whole text (`sh -c`, a script file, `.`).
    pub fn run_text(&mut self, text: &str) {
        match syntax::parse(text) {
            Ok(program) => self.run(&program),
            Err(e) => {
                eprintln!("sh: {e}");
                self.set_status(2);
            }
        }
    }

    /// Runs parsed commands until they end or `exit` runs.
    pub fn run(&mut self, program: &Program) {
        for item in program {
            if self.exit.is_some() {
                return;
            }
            self.reap(false);
            self.run_and_or(item);
        }
    }

    fn run_and_or(&mut self, item: &AndOr) {
        if item.background {
            if !item.rest.is_empty() {
                eprintln!(
                    "sh: `&` after a list joined by `&&`/`||` is not supported; run it as `sh -c '...' &`"
                );
                self.set_status(2);
                return;
            }
            self.run_pipeline(&item.first, true);
            return;
        }
        let mut status = self.run_pipeline(&item.first, false);
        for (connector, pipeline) in &item.rest {
            if self.exit.is_some() {
                return;
            }
            let run = match connector {
                Connector::And => status == 0,
                Connector::Or => status != 0,
            };
            if run {
                status = self.run_pipeline(pipeline, false);
            }
        }
    }

    fn run_pipeline(&mut self, pipeline: &Pipeline, background: bool) -> u32 {
        let n = pipeline.commands.len();
        // Builtins and assignments change the shell itself only when they run alone in
        // the foreground; elsewhere they act as if in a subshell.
        let in_shell = n == 1 && !background;
        // `links[i]` connects command i (writes) to command i + 1 (reads).
        let mut links: Vec<(Option<Target>, Option<Target>)> = Vec::with_capacity(n);
        for _ in 1..n {
            match Channel::create() {
                Ok((w, r)) => links.push((
                    Some(Target::Object(Rc::new(File::from(w)))),
                    Some(Target::Object(Rc::new(File::from(r)))),
                )),
                Err(e) => {
                    eprintln!("sh: cannot create a pipe: {}", describe(&e));
                    return self.set_status(1);
                }
            }
        }
        let mut stages = Vec::with_capacity(n);
        for (i, command) in pipeline.commands.iter().enumerate() {
            let mut io = [Target::Shell(0), Target::Shell(1), Target::Shell(2)];
            if let Some(r) = i.checked_sub(1).and_then(|j| links[j].1.take()) {
                io[0] = r;
            }
            if let Some(w) = links.get_mut(i).and_then(|l| l.0.take()) {
                io[1] = w;
            }
            // `io` moves into the stage: a started program's copies close right here, so
            // the channel's other end sees end-of-stream when the program's copy closes.
            stages.push(self.start(command, io, in_shell));
        }
        drop(links);
        let stages: Vec<Stage> = stages
            .into_iter()
            .map(|stage| match stage {
                Stage::Deferred { argv, io } => Stage::Done(self.subshell_builtin(&argv, &io)),
                stage => stage,
            })
            .collect();
        if background {
            let children: Vec<Rc<Child>> = stages
                .into_iter()
                .filter_map(|s| match s {
                    Stage::Running(child) => Some(Rc::new(child)),
                    _ => None,
                })
                .collect();
            if let Some(last) = children.last() {
                self.last_bg = Some(last.id());
                if self.interactive {
                    eprintln!("[{}]", last.id());
                }
            }
            self.jobs.extend(children);
            return self.set_status(0);
        }
        let mut status = 0;
        for stage in stages {
            status = match stage {
                Stage::Running(child) => match child.wait() {
                    Ok(s) => s.code(),
                    Err(e) => {
                        eprintln!("sh: wait for {}: {}", child.id(), describe(&e));
                        1
                    }
                },
                Stage::Done(s) => s,
                Stage::Deferred { .. } => 1,
            };
        }
        if pipeline.negate {
            status = u32::from(status == 0);
        }
        self.set_status(status)
    }

    /// Expands one command, applies its redirections to `io` and starts it.
    fn start(&mut self, command: &syntax::Command, mut io: [Target; 3], in_shell: bool) -> Stage {
        let argv: Vec<String> = command
            .words
            .iter()
            .flat_map(|w| expand::expand(w, &*self, true))
            .collect();
        let assigns: Vec<(String, String)> = command
            .assigns
            .iter()
            .map(|(k, w)| (k.clone(), expand::expand_one(w, &*self)))
            .collect();
        if let Err(message) = self.redirect(command, &mut io) {
            eprintln!("sh: {message}");
            return Stage::Done(1);
        }
        let Some(name) = argv.first() else {
            // Only assignments (and redirections, which are done: `> f` creates f).
            if in_shell {
                for (k, v) in assigns {
                    self.vars.insert(k, v);
                }
            }
            return Stage::Done(0);
        };
        if is_builtin(name) {
            if in_shell {
                for (k, v) in assigns {
                    self.vars.insert(k, v);
                }
                return Stage::Done(self.builtin(&argv, &io));
            }
            return Stage::Deferred { argv, io };
        }
        let Some(path) = self.find_program(name) else {
            eprintln!("sh: {name}: not found");
            return Stage::Done(127);
        };
        let mut child = Command::new(path);
        child
            .arg0(name.clone())
            .args(argv[1..].iter().cloned())
            .env_clear()
            .envs(self.child_env(assigns))
            .stdin(io[0].slot())
            .stdout(io[1].slot())
            .stderr(io[2].slot());
        match child.spawn() {
            Ok(child) => Stage::Running(child),
            Err(e) if Errno::from_io(&e) == Some(Errno::NOENT) => {
                eprintln!("sh: {name}: not found");
                Stage::Done(127)
            }
            Err(e) => {
                eprintln!("sh: {name}: cannot run: {}", describe(&e));
                Stage::Done(126)
            }
        }
    }

    /// Applies a command's redirections, in order, to `io`.
    fn redirect(&self, command: &syntax::Command, io: &mut [Target; 3]) -> Result<(), String> {
        for r in &command.redirs {
            let fields = expand::expand(&r.target, self, true);
            let [target] = fields.as_slice() else {
                return Err(format!("`{}`: ambiguous redirect", fields.join(" ")));
            };
            let fd = r.fd as usize;
            let opened = match r.op {
                RedirOp::Dup => {
                    let from = match target.parse::<usize>() {
                        Ok(n @ 0..=2) => n,
                        _ => {
                            return Err(format!(
                                "{target}: bad descriptor for `>&` (use 0, 1 or 2)"
                            ));
                        }
                    };
                    io[fd] = io[from].clone();
                    continue;
                }
                RedirOp::In => File::open(target),
                RedirOp::Out => OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(target),
                RedirOp::Append => OpenOptions::new().append(true).create(true).open(target),
            };
            match opened {
                Ok(file) => io[fd] = Target::Object(Rc::new(file)),
                Err(e) => return Err(format!("{target}: {}", describe(&e))),
            }
        }
        Ok(())
    }

    /// The absolute path of program `name`: itself if it holds a `/`, else the first
    /// regular file `DIR/name` for DIR in `PATH` (default `/bin`).
    fn find_program(&self, name: &str) -> Option<String> {
        if name.contains('/') {
            return Some(absolute(name));
        }
        let path = self.vars.get("PATH").map_or("/bin", String::as_str);
        path.split(':').find_map(|dir| {
            let dir = if dir.is_empty() { "." } else { dir };
            let candidate = absolute(&format!("{dir}/{name}"));
            std::fs::metadata(&candidate)
                .is_ok_and(|m| m.is_file())
                .then_some(candidate)
        })
    }

    /// The environment of a program: exported variables, `PWD`, then the command's own
    /// assignments.
    fn child_env(&self, assigns: Vec<(String, String)>) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = self
            .exported
            .iter()
            .filter_map(|k| Some((k.clone(), self.vars.get(k)?.clone())))
            .collect();
        env.insert("PWD".to_string(), cwd());
        env.extend(assigns);
        env
    }

    /// Forgets finished background jobs (closing their handles), remembering their
    /// statuses; with `report`, says so on stderr.
    fn reap(&mut self, report: bool) {
        let jobs = std::mem::take(&mut self.jobs);
        for job in jobs {
            match job.try_wait() {
                Ok(Some(status)) => {
                    self.remember(job.id(), status);
                    if report {
                        eprintln!("[{}] done: {status}", job.id());
                    }
                }
                // Running still (or the handle is unusable, which cannot happen: the
                // shell made it with every right).
                _ => self.jobs.push(job),
            }
        }
    }

    /// Reaps and reports finished background jobs (before a prompt).
    pub fn report_jobs(&mut self) {
        self.reap(true);
    }

    fn remember(&mut self, pid: Pid, status: ExitStatus) {
        self.finished.insert(pid, status);
        while self.finished.len() > REMEMBERED {
            self.finished.pop_first();
        }
    }

    /// Runs a builtin in a pipeline or in the background: on a copy of the shell, so that
    /// `cd`, `export` or `exit` there do not change this one.
    fn subshell_builtin(&mut self, argv: &[String], io: &[Target; 3]) -> u32 {
        let mut sub = self.clone();
        sub.interactive = false;
        let dir = std::env::current_dir().ok();
        let status = sub.builtin(argv, io);
        // A `wait` or `kill` there acted on real jobs.
        self.jobs = sub.jobs;
        self.finished = sub.finished;
        if let Some(dir) = dir
            && let Err(e) = std::env::set_current_dir(&dir)
        {
            eprintln!("sh: cannot return to {}: {}", dir.display(), describe(&e));
        }
        status
    }

    /// Runs builtin `argv[0]` with its stdout and stderr at `io[1]` and `io[2]`.
    fn builtin(&mut self, argv: &[String], io: &[Target; 3]) -> u32 {
        let mut out = Out(&io[1]);
        let mut err = Out(&io[2]);
        let args = &argv[1..];
        let result = match argv[0].as_str() {
            "cd" => self.cd(args, &mut out, &mut err),
            "pwd" => writeln!(out, "{}", cwd()).map(|()| 0),
            "exit" => self.exit_builtin(args, &mut err),
            "export" => self.export_builtin(args, &mut out, &mut err),
            "unset" => self.unset(args, &mut err),
            "wait" => self.wait_builtin(args, &mut err),
            "kill" => self.kill_builtin(args, &mut err),
            "." | "source" => self.source(args, &mut err),
            ":" => Ok(0),
            "help" => help(&mut out).map(|()| 0),
            other => writeln!(err, "sh: {other}: not a builtin").map(|()| 1),
        };
        let flushed = out.flush().and_then(|()| err.flush());
        match (result, flushed) {
            (Ok(status), Ok(())) => status,
            (Err(e), _) | (Ok(_), Err(e)) => {
                if !weft_user::is_broken_pipe(&e) {
                    eprintln!("sh: {}: write error: {}", argv[0], describe(&e));
                }
                1
            }
        }
    }

    fn cd(&mut self, args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> io::Result<u32> {
        let (target, show) = match args {
            [] => (
                self.vars
                    .get("HOME")
                    .filter(|h| !h.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "/".to_string()),
                false,
            ),
            [dash] if dash == "-" => match self.vars.get("OLDPWD") {
                Some(old) => (old.clone(), true),
                None => {
                    writeln!(err, "sh: cd: OLDPWD is not set")?;
                    return Ok(1);
                }
            },
            [dir] => (dir.clone(), false),
            _ => {
                writeln!(err, "sh: cd: too many arguments")?;
                return Ok(2);
            }
        };
        let old = cwd();
        if let Err(e) = std::env::set_current_dir(&target) {
            writeln!(err, "sh: cd: {target}: {}", describe(&e))?;
            return Ok(1);
        }
        let new = cwd();
        self.export("OLDPWD", old);
        self.export("PWD", new.clone());
        if show {
            writeln!(out, "{new}")?;
        }
        Ok(0)
    }

    fn exit_builtin(&mut self, args: &[String], err: &mut dyn Write) -> io::Result<u32> {
        let code = match args {
            [] => self.status,
            [n] => match n.parse::<i64>() {
                Ok(n) => u32::try_from(n.rem_euclid(256)).unwrap_or(255),
                Err(_) => {
                    writeln!(err, "sh: exit: {n}: a number is required")?;
                    2
                }
            },
            _ => {
                writeln!(err, "sh: exit: too many arguments")?;
                return Ok(1);
            }
        };
        self.exit = Some(code);
        Ok(code)
    }

    fn export_builtin(
        &mut self,
        args: &[String],
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<u32> {
        if args.is_empty() {
            for name in &self.exported {
                match self.vars.get(name) {
                    Some(value) => writeln!(out, "export {name}={}", quote(value))?,
                    None => writeln!(out, "export {name}")?,
                }
            }
            return Ok(0);
        }
        let mut status = 0;
        for arg in args {
            let (name, value) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (arg.as_str(), None),
            };
            if !syntax::is_name(name) {
                writeln!(err, "sh: export: `{arg}`: not a valid name")?;
                status = 1;
                continue;
            }
            if let Some(value) = value {
                self.vars.insert(name.to_string(), value.to_string());
            }
            self.exported.insert(name.to_string());
        }
        Ok(status)
    }

    fn unset(&mut self, args: &[String], err: &mut dyn Write) -> io::Result<u32> {
        let mut status = 0;
        for name in args {
            if !syntax::is_name(name) {
                writeln!(err, "sh: unset: `{name}`: not a valid name")?;
                status = 1;
                continue;
            }
            self.vars.remove(name);
            self.exported.remove(name);
        }
        Ok(status)
    }

    fn wait_builtin(&mut self, args: &[String], err: &mut dyn Write) -> io::Result<u32> {
        if args.is_empty() {
            for job in std::mem::take(&mut self.jobs) {
                if let Ok(status) = job.wait() {
                    self.remember(job.id(), status);
                }
            }
            return Ok(0);
        }
        let mut status = 0;
        for arg in args {
            let Ok(pid) = arg.parse::<Pid>() else {
                writeln!(err, "sh: wait: `{arg}`: not a pid")?;
                status = 2;
                continue;
            };
            if let Some(s) = self.finished.remove(&pid) {
                status = s.code();
                continue;
            }
            let Some(i) = self.jobs.iter().position(|j| j.id() == pid) else {
                writeln!(err, "sh: wait: {pid}: not a job of this shell")?;
                status = 127;
                continue;
            };
            match self.jobs[i].wait() {
                Ok(s) => {
                    self.jobs.remove(i);
                    status = s.code();
                }
                Err(e) => {
                    writeln!(err, "sh: wait: {pid}: {}", describe(&e))?;
                    status = 127;
                }
            }
        }
        Ok(status)
    }

    /// `kill PID...`: ends background jobs, through the handles the shell holds to them
    /// (a process can end only processes it has a handle to). `-9`/`-KILL` change
    /// nothing: weft has one way to end a process.
    fn kill_builtin(&mut self, args: &[String], err: &mut dyn Write) -> io::Result<u32> {
        let mut pids = Vec::new();
        for arg in args {
            match arg.as_str() {
                "-9" | "-KILL" | "-SIGKILL" => {}
                a if a.starts_with('-') => {
                    writeln!(err, "sh: kill: {a}: only KILL (-9) is supported")?;
                    return Ok(2);
                }
                a => match a.parse::<Pid>() {
                    Ok(pid) => pids.push(pid),
                    Err(_) => {
                        writeln!(err, "sh: kill: `{a}`: not a pid")?;
                        return Ok(2);
                    }
                },
            }
        }
        if pids.is_empty() {
            writeln!(err, "sh: kill: usage: kill [-9 | -KILL] PID...")?;
            return Ok(2);
        }
        let mut status = 0;
        for pid in pids {
            let Some(job) = self.jobs.iter().find(|j| j.id() == pid) else {
                let why = if self.finished.contains_key(&pid) {
                    "it has already ended"
                } else {
                    "not a job of this shell"
                };
                writeln!(err, "sh: kill: {pid}: {why}")?;
                status = 1;
                continue;
            };
            if let Err(e) = job.kill() {
                let why = if Errno::from_io(&e) == Some(Errno::SRCH) {
                    "it has already ended".to_string()
                } else {
                    describe(&e)
                };
                writeln!(err, "sh: kill: {pid}: {why}")?;
                status = 1;
            }
        }
        Ok(status)
    }

    fn source(&mut self, args: &[String], err: &mut dyn Write) -> io::Result<u32> {
        let Some((file, params)) = args.split_first() else {
            writeln!(err, "sh: .: a file name is required")?;
            return Ok(2);
        };
        let text = match std::fs::read(file) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                writeln!(err, "sh: .: {file}: {}", describe(&e))?;
                return Ok(1);
            }
        };
        let saved =
            (!params.is_empty()).then(|| std::mem::replace(&mut self.positional, params.to_vec()));
        self.run_text(&text);
        if let Some(saved) = saved {
            self.positional = saved;
        }
        Ok(self.status)
    }
}

impl Vars for Shell {
    fn get(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.status.to_string()),
            "!" => self.last_bg.map(|p| p.to_string()),
            "$" => self.pid.map(|p| p.to_string()),
            "#" => Some(self.positional.len().to_string()),
            "0" => Some(self.arg0.clone()),
            _ => match name.parse::<usize>() {
                Ok(n) => n
                    .checked_sub(1)
                    .and_then(|i| self.positional.get(i).cloned()),
                Err(_) => self.vars.get(name).cloned(),
            },
        }
    }

    fn positional(&self) -> Vec<String> {
        self.positional.clone()
    }
}

fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|(b, _, _)| *b == name)
}

fn help(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "weft sh builtins:")?;
    for (_, synopsis, what) in BUILTINS.iter().filter(|(_, s, _)| !s.is_empty()) {
        writeln!(out, "  {synopsis:<26}{what}")?;
    }
    write!(out, "{HELP_TEXT}")
}

/// The working directory as a string (`/` if it cannot be read).
fn cwd() -> String {
    std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/".to_string())
}

/// `path` made absolute (against the working directory) and normalised.
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        normalize(path)
    } else {
        normalize(&format!("{}/{path}", cwd()))
    }
}

/// Removes `.`, `..` and repeated slashes from an absolute path.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `value` quoted for the shell when it needs it.
fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,=@%".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("/a/./b//c/../d"), "/a/b/d");
        assert_eq!(normalize("/../.."), "/");
        assert_eq!(normalize("/"), "/");
    }

    #[test]
    fn quotes_values() {
        assert_eq!(quote("/bin"), "/bin");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }
}
