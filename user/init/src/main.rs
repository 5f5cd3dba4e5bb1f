//! `init`: weft's first process (pid 1).
//!
//! Reads `/etc/init.conf` (the format is documented in that file, and in [`Config::parse`]),
//! starts the shell it names with init's own stdin, stdout, stderr and environment, waits
//! for it through the handle `spawn` returned, and exits with the shell's status. Whatever
//! still runs then ends with init: the kernel ends every process descended from pid 1 when
//! pid 1 ends (init holds no handles to the shell's jobs, so it could not end them itself).

use std::process::ExitCode;

use weft_user::Command;

/// The configuration file read when no other is named.
const DEFAULT_CONFIG: &str = "/etc/init.conf";

/// What `/etc/init.conf` says.
#[derive(Debug, PartialEq, Eq)]
struct Config {
    /// The program and its arguments.
    shell: Vec<String>,
    /// Its working directory.
    cwd: String,
    /// A file to print first on a terminal.
    motd: Option<String>,
    /// Extra environment, in order.
    env: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            shell: vec!["/bin/sh".to_string()],
            cwd: "/".to_string(),
            motd: None,
            env: Vec::new(),
        }
    }
}

impl Config {
    /// Parses the file's text. Lines it cannot use are reported in the returned list of
    /// warnings (`LINE: message`) and skipped; the rest still apply.
    fn parse(text: &str) -> (Config, Vec<String>) {
        let mut config = Config::default();
        let mut warnings = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let number = number + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line
                .strip_prefix("env ")
                .or_else(|| line.strip_prefix("env\t"))
            {
                match rest.trim().split_once('=') {
                    Some((key, value)) if valid_name(key) => {
                        config.env.push((key.to_string(), value.to_string()));
                    }
                    _ => warnings.push(format!("line {number}: expected `env KEY=VALUE`")),
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                warnings.push(format!(
                    "line {number}: expected `KEY = VALUE` or `env KEY=VALUE`, found `{line}`"
                ));
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if value.is_empty() {
                warnings.push(format!("line {number}: `{key}` needs a value"));
                continue;
            }
            match key {
                "shell" => {
                    config.shell = value.split_whitespace().map(str::to_string).collect();
                }
                "cwd" => config.cwd = value.to_string(),
                "motd" => config.motd = Some(value.to_string()),
                _ => warnings.push(format!(
                    "line {number}: unknown setting `{key}` (known: shell, cwd, motd, env)"
                )),
            }
        }
        if !config.shell[0].starts_with('/') {
            warnings.push(format!(
                "shell `{}` is not an absolute path; using /bin/sh",
                config.shell[0]
            ));
            config.shell = Config::default().shell;
        }
        (config, warnings)
    }
}

/// Whether `s` is a usable environment variable name.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains(['=', '\0', ' ', '\t'])
}

fn main() -> ExitCode {
    if let Err(e) = weft_user::init_cwd() {
        eprintln!("init: {e}");
    }
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let path = match args.as_slice() {
        [] => DEFAULT_CONFIG,
        [path] => path.as_str(),
        _ => {
            eprintln!("usage: init [CONFIG]   (default {DEFAULT_CONFIG})");
            return ExitCode::from(2);
        }
    };
    let config = match std::fs::read_to_string(path) {
        Ok(text) => {
            let (config, warnings) = Config::parse(&text);
            for w in warnings {
                eprintln!("init: {path}: {w}");
            }
            config
        }
        Err(e) => {
            eprintln!(
                "init: {path}: {}; using the defaults",
                weft_user::describe(&e)
            );
            Config::default()
        }
    };
    if let Some(motd) = &config.motd
        && weft_user::is_terminal(0)
    {
        match std::fs::read_to_string(motd) {
            Ok(text) => print!("{text}"),
            Err(e) => eprintln!("init: {motd}: {}", weft_user::describe(&e)),
        }
    }
    let mut shell = Command::new(config.shell[0].as_str());
    shell
        .args(&config.shell[1..])
        .envs(config.env.iter().cloned())
        .env("PWD", config.cwd.as_str());
    let shell = match shell.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "init: cannot start {}: {}",
                config.shell[0],
                weft_user::describe(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    let status = match shell.wait() {
        Ok(status) => status.code(),
        Err(e) => {
            eprintln!("init: wait: {}", weft_user::describe(&e));
            1
        }
    };
    ExitCode::from(u8::try_from(status).unwrap_or(u8::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shipped_file() {
        let (config, warnings) = Config::parse(include_str!("../../etc/init.conf"));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.shell, ["/bin/sh"]);
        assert_eq!(config.motd.as_deref(), Some("/etc/motd"));
        assert!(
            config
                .env
                .contains(&("PATH".to_string(), "/bin".to_string()))
        );
    }

    #[test]
    fn reports_bad_lines_and_keeps_good_ones() {
        let text = "# c\n\nshell = /bin/sh -i\nbogus\ncolor = red\nenv =x\nenv A=b=c\nmotd =\n";
        let (config, warnings) = Config::parse(text);
        assert_eq!(config.shell, ["/bin/sh", "-i"]);
        assert_eq!(config.env, [("A".to_string(), "b=c".to_string())]);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].starts_with("line 4:"));
        assert!(warnings[1].contains("unknown setting `color`"));
    }

    #[test]
    fn relative_shell_falls_back() {
        let (config, warnings) = Config::parse("shell = sh\n");
        assert_eq!(config.shell, ["/bin/sh"]);
        assert_eq!(warnings.len(), 1);
    }
}
