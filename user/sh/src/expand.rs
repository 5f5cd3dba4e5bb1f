//! Word expansion: variables, `~`, quote removal and field splitting.
//!
//! Unquoted expansions are split into fields at runs of spaces, tabs and newlines (the
//! default `IFS`); quoted text never is. `"$@"` gives one field per positional parameter.
//! There is no pathname expansion (globbing).

use crate::syntax::{Seg, Word};

/// Where expansion finds values.
pub trait Vars {
    /// The value of variable or special parameter `name` (`?`, `!`, `$`, `#`, `0`-`9`,
    /// a name), `None` if unset.
    fn get(&self, name: &str) -> Option<String>;
    /// The positional parameters `$1`, `$2`, ... (for `$@` and `$*`).
    fn positional(&self) -> Vec<String>;
}

fn is_ifs(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

/// Builds fields.
#[derive(Default)]
struct Fields {
    done: Vec<String>,
    cur: String,
    /// Whether `cur` is a field even if empty (it holds quoted text or a non-empty value).
    has: bool,
}

impl Fields {
    fn push(&mut self, s: &str, makes_field: bool) {
        self.cur.push_str(s);
        self.has |= makes_field || !s.is_empty();
    }

    fn end_field(&mut self) {
        if self.has {
            self.done.push(std::mem::take(&mut self.cur));
            self.has = false;
        }
    }

    /// Appends an unquoted value, splitting it.
    fn push_split(&mut self, value: &str) {
        let pieces: Vec<&str> = value.split(is_ifs).filter(|p| !p.is_empty()).collect();
        if value.starts_with(is_ifs) {
            self.end_field();
        }
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                self.end_field();
            }
            self.push(piece, true);
        }
        if value.ends_with(is_ifs) {
            self.end_field();
        }
    }
}

/// Expands `word` into fields. With `split` false (assignments), unquoted expansions are
/// not split and the result is always one field (see [`expand_one`]).
pub fn expand(word: &Word, vars: &impl Vars, split: bool) -> Vec<String> {
    let mut f = Fields::default();
    for seg in &word.0 {
        match seg {
            Seg::Lit(text, quoted) => f.push(text, *quoted),
            Seg::Home => {
                let home = vars.get("HOME").filter(|h| !h.is_empty());
                f.push(home.as_deref().unwrap_or("/"), true);
            }
            Seg::Var(name, true) if name == "@" => {
                let params = vars.positional();
                for (i, p) in params.iter().enumerate() {
                    if i > 0 {
                        f.end_field();
                    }
                    f.push(p, true);
                }
            }
            Seg::Var(name, quoted) => {
                let value = match name.as_str() {
                    "@" | "*" => vars.positional().join(" "),
                    _ => vars.get(name).unwrap_or_default(),
                };
                if *quoted {
                    f.push(&value, true);
                } else if split {
                    f.push_split(&value);
                } else {
                    f.push(&value, false);
                }
            }
        }
    }
    f.end_field();
    if !split && f.done.len() != 1 {
        return vec![f.done.join(" ")];
    }
    f.done
}

/// Expands `word` into a single string, without splitting (for assignments).
pub fn expand_one(word: &Word, vars: &impl Vars) -> String {
    expand(word, vars, false).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;
    use std::collections::BTreeMap;

    struct Env(BTreeMap<&'static str, &'static str>, Vec<String>);

    impl Vars for Env {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|s| s.to_string())
        }
        fn positional(&self) -> Vec<String> {
            self.1.clone()
        }
    }

    fn env() -> Env {
        Env(
            BTreeMap::from([
                ("A", "one two"),
                ("E", ""),
                ("S", "  x  "),
                ("HOME", "/home"),
                ("?", "3"),
            ]),
            vec!["p 1".into(), "p2".into()],
        )
    }

    fn fields(src: &str) -> Vec<String> {
        let p = parse(src).unwrap();
        let e = env();
        p[0].first.commands[0]
            .words
            .iter()
            .flat_map(|w| expand(w, &e, true))
            .collect()
    }

    #[test]
    fn splitting() {
        assert_eq!(fields("echo $A"), ["echo", "one", "two"]);
        assert_eq!(fields("echo \"$A\""), ["echo", "one two"]);
        assert_eq!(fields("echo $E"), ["echo"]);
        assert_eq!(fields("echo \"$E\" ''"), ["echo", "", ""]);
        assert_eq!(fields("echo a$S'b'"), ["echo", "a", "x", "b"]);
        assert_eq!(fields("echo $UNSET$A"), ["echo", "one", "two"]);
        assert_eq!(fields("echo x$A.y"), ["echo", "xone", "two.y"]);
    }

    #[test]
    fn specials_and_home() {
        assert_eq!(
            fields("echo $? ~ ~/d a~"),
            ["echo", "3", "/home", "/home/d", "a~"]
        );
        assert_eq!(fields("echo \"$@\""), ["echo", "p 1", "p2"]);
        assert_eq!(fields("echo $@"), ["echo", "p", "1", "p2"]);
        assert_eq!(fields("echo \"$*\""), ["echo", "p 1 p2"]);
        assert_eq!(fields("echo '~'"), ["echo", "~"]);
    }

    #[test]
    fn assignments_do_not_split() {
        let p = parse("X=$A$S").unwrap();
        let (_, w) = &p[0].first.commands[0].assigns[0];
        assert_eq!(expand_one(w, &env()), "one two  x  ");
        let p = parse("X=").unwrap();
        let (_, w) = &p[0].first.commands[0].assigns[0];
        assert_eq!(expand_one(w, &env()), "");
    }
}
