//! Scripted shell sessions through `weft boot`: the hosted OS boots from the built-in
//! initrd into init and the shell, which reads each script from stdin (not a terminal, so
//! no prompts) and runs it. Output is checked line by line.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Boots weft with `args`, feeds `script` to the shell, and returns what came out.
fn boot(args: &[&str], script: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .arg("boot")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weft starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .expect("script written");
    child.wait_with_output().expect("weft ends")
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn pipeline_through_channels() {
    let out = boot(
        &[],
        "echo hello | wc -c\necho one two three | wc -w\nhello | cat | cat\n",
    );
    assert_eq!(
        lines(&out),
        ["6", "3", "Hello from weft!"],
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn redirection_to_tmp_and_back() {
    let script = "echo first > /tmp/f\necho second >> /tmp/f\ncat < /tmp/f\nwc -l < /tmp/f\n\
                  cd /tmp\npwd\nmkdir d\nls\nrm f\nls\n";
    let out = boot(&[], script);
    assert_eq!(
        lines(&out),
        ["first", "second", "2", "/tmp", "d", "f", "d"],
        "{}",
        stderr(&out)
    );
}

#[test]
fn sort_orders_lines_and_yes_ends_with_its_reader() {
    let script = "echo pear > /tmp/f\necho apple >> /tmp/f\necho pear >> /tmp/f\n\
                  echo fig >> /tmp/f\nsort /tmp/f\nsort -r -u < /tmp/f\n\
                  sort /tmp/nope\necho $?\nyes | true\necho $?\n";
    let out = boot(&[], script);
    assert_eq!(
        lines(&out),
        [
            "apple", "fig", "pear", "pear", "pear", "fig", "apple", "2", "0"
        ],
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("sort: /tmp/nope: no such file or directory (ENOENT)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_status_in_dollar_question_and_from_boot() {
    let out = boot(
        &[],
        "false\necho $?\ntrue\necho $?\nnosuch\necho $?\nexit 3\n",
    );
    assert_eq!(lines(&out), ["1", "0", "127"], "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sh: nosuch: not found"),
        "{}",
        stderr(&out)
    );
    // init exits with the shell's status, and weft boot with init's.
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn ps_while_a_child_sleeps_then_kill_it() {
    let started = Instant::now();
    let out = boot(&[], "sleep 30 &\nps\nkill $!\nwait $!\necho $?\n");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the sleeping child was not killed"
    );
    let lines = lines(&out);
    assert!(lines[0].contains("PID"), "{lines:?}");
    let sleep = lines
        .iter()
        .find(|l| l.ends_with(" sleep"))
        .unwrap_or_else(|| panic!("no sleep in ps: {lines:?}"));
    assert!(sleep.contains("wait"), "{sleep}");
    for name in ["init", "sh", "ps"] {
        assert!(
            lines.iter().any(|l| l.ends_with(&format!(" {name}"))),
            "no {name} in {lines:?}"
        );
    }
    // Killed: 128 + 9.
    assert_eq!(
        lines.last().map(String::as_str),
        Some("137"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn kill_reaches_only_the_shells_jobs_and_jobs_end_with_the_session() {
    // init (pid 1) is no job of the shell's: the shell holds no handle to it. A job still
    // running when the shell exits ends with init.
    let started = Instant::now();
    let out = boot(&[], "kill 1\necho $?\nsleep 30 &\nexit 0\n");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the background job outlived the session"
    );
    assert_eq!(lines(&out), ["1"], "{}", stderr(&out));
    assert!(
        stderr(&out).contains("sh: kill: 1: not a job of this shell"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn shared_library_gives_each_process_its_own_data() {
    // Both processes link /lib/counter.wasm against their own memory: the same address,
    // separate counts.
    let out = boot(&[], "libdemo a 3000 & libdemo b 5\nwait\n");
    let mut lines = lines(&out);
    lines.sort();
    assert_eq!(lines.len(), 2, "{lines:?} {}", stderr(&out));
    let (a, b) = (&lines[0], &lines[1]);
    assert!(
        a.starts_with("a: counter at ") && a.ends_with(" = 3000"),
        "{a}"
    );
    assert!(
        b.starts_with("b: counter at ") && b.ends_with(" = 5"),
        "{b}"
    );
    let addr = |l: &str| l.split_whitespace().nth(3).map(str::to_string);
    assert_eq!(addr(a), addr(b), "the library runs at one address in both");
}

#[test]
fn host_directory_mapped_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "from the host\n").unwrap();
    let spec = format!("{}::/data", dir.path().display());
    let out = boot(
        &["--dir", &spec],
        "cat /data/in.txt\necho back > /data/out.txt\n",
    );
    assert_eq!(lines(&out), ["from the host"], "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(Path::new(dir.path()).join("out.txt")).unwrap(),
        "back\n"
    );
}
