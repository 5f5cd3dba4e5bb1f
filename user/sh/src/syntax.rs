//! The shell's command language: a lexer and a recursive-descent parser into a small tree.
//!
//! ```text
//! program   := (and_or (';' | '&' | NEWLINE))* [and_or]
//! and_or    := pipeline (('&&' | '||') NEWLINE* pipeline)*
//! pipeline  := ['!'] command ('|' NEWLINE* command)*
//! command   := (ASSIGNMENT)* (WORD | redirect)+        or just assignments
//! redirect  := [DIGIT] ('<' | '>' | '>>' | '>&') WORD
//! ```
//!
//! Words keep their quoting as [`Seg`]ments; expansion happens when a command runs (so that
//! `false; echo $?` sees the new status). Input that stops in the middle of something (an
//! open quote, a trailing `|`, `&&` or backslash) is [`ParseError::Incomplete`], so an
//! interactive shell can read another line and try again.

use std::fmt;

/// A piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// Literal text; `true` when it was quoted (quoted text is never split, and an empty
    /// quoted text still makes a field).
    Lit(String, bool),
    /// `$NAME`, `${NAME}` or a special parameter (`?`, `!`, `$`, `#`, `@`, `*`, `0`-`9`);
    /// `true` when inside double quotes.
    Var(String, bool),
    /// A leading `~` (the home directory).
    Home,
}

/// A word: segments that expand into zero or more fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word(pub Vec<Seg>);

impl Word {
    /// The word's text if it is a single unquoted literal (used for `!`).
    fn plain(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Seg::Lit(s, false)] => Some(s),
            _ => None,
        }
    }

    fn push_char(&mut self, c: char, quoted: bool) {
        if let Some(Seg::Lit(s, q)) = self.0.last_mut()
            && *q == quoted
        {
            s.push(c);
            return;
        }
        self.0.push(Seg::Lit(c.to_string(), quoted));
    }
}

/// What a redirection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirOp {
    /// `<`: read from a file.
    In,
    /// `>`: write to a file, truncating it.
    Out,
    /// `>>`: append to a file.
    Append,
    /// `>&N`: make the descriptor a copy of descriptor N.
    Dup,
}

impl fmt::Display for RedirOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirOp::In => "<",
            RedirOp::Out => ">",
            RedirOp::Append => ">>",
            RedirOp::Dup => ">&",
        })
    }
}

/// One redirection: descriptor `fd` (0, 1 or 2) `op` `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redir {
    /// The descriptor redirected.
    pub fd: u32,
    /// How.
    pub op: RedirOp,
    /// The file (or, for [`RedirOp::Dup`], the descriptor number).
    pub target: Word,
}

/// A simple command: `NAME=VALUE... WORD... REDIRECTIONS...` (in any order after the
/// assignments).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// Leading `NAME=VALUE` words.
    pub assigns: Vec<(String, Word)>,
    /// The program (or builtin) and its arguments.
    pub words: Vec<Word>,
    /// Redirections, in order.
    pub redirs: Vec<Redir>,
}

/// Commands joined by `|`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pipeline {
    /// A leading `!`: invert the status.
    pub negate: bool,
    /// At least one.
    pub commands: Vec<Command>,
}

/// `&&` or `||`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    /// Run the next pipeline if the last one succeeded.
    And,
    /// Run the next pipeline if the last one failed.
    Or,
}

/// Pipelines joined by `&&`/`||`, ended by `;`, `&` or a newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The rest, each with the connector before it.
    pub rest: Vec<(Connector, Pipeline)>,
    /// Ended by `&`: run without waiting.
    pub background: bool,
}

/// A whole parsed input.
pub type Program = Vec<AndOr>;

/// Why input did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The input ends in the middle of a construct; more input may complete it.
    Incomplete(String),
    /// The input is wrong.
    Syntax(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Incomplete(what) => {
                write!(f, "syntax error: unexpected end of input ({what})")
            }
            ParseError::Syntax(what) => write!(f, "syntax error: {what}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// A token.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(Word),
    Pipe,
    AndIf,
    OrIf,
    Amp,
    Semi,
    Newline,
    Redir(u32, RedirOp),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(_) => f.write_str("a word"),
            Tok::Pipe => f.write_str("`|`"),
            Tok::AndIf => f.write_str("`&&`"),
            Tok::OrIf => f.write_str("`||`"),
            Tok::Amp => f.write_str("`&`"),
            Tok::Semi => f.write_str("`;`"),
            Tok::Newline => f.write_str("newline"),
            Tok::Redir(_, op) => write!(f, "`{op}`"),
        }
    }
}

/// Characters that end an unquoted word.
fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\r' | '\n' | '|' | '&' | ';' | '<' | '>' | '(' | ')'
    )
}

/// Whether `c` may start a variable name.
fn name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Whether `c` may continue a variable name.
fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `s` is a valid variable name.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(name_start) && chars.all(name_char)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn tokens(mut self) -> Result<Vec<Tok>, ParseError> {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\\' if self.peek_at(1) == Some('\n') => self.continuation()?,
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '\n' => {
                    self.pos += 1;
                    out.push(Tok::Newline);
                }
                '|' | '&' | ';' | '<' | '>' => out.push(self.operator(None)),
                '(' | ')' => {
                    return Err(ParseError::Syntax(format!(
                        "`{c}`: subshells and grouping are not supported"
                    )));
                }
                _ => {
                    // `2>file`: digits right before a redirection operator name the descriptor.
                    let digits = self.chars[self.pos..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if digits > 0 && matches!(self.peek_at(digits), Some('<' | '>')) {
                        let text: String = self.chars[self.pos..self.pos + digits].iter().collect();
                        let fd = match text.parse::<u32>() {
                            Ok(fd @ 0..=2) => fd,
                            _ => {
                                return Err(ParseError::Syntax(format!(
                                    "redirection of descriptor {text}: only 0, 1 and 2 can be redirected"
                                )));
                            }
                        };
                        self.pos += digits;
                        out.push(self.operator(Some(fd)));
                    } else {
                        out.push(Tok::Word(self.word()?));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Skips a backslash-newline at `pos`; at the very end of the input, more must follow.
    fn continuation(&mut self) -> Result<(), ParseError> {
        self.pos += 2;
        if self.pos >= self.chars.len() {
            return Err(ParseError::Incomplete("a line continuation".into()));
        }
        Ok(())
    }

    /// An operator at `pos`; `fd` is an explicit descriptor before a redirection.
    fn operator(&mut self, fd: Option<u32>) -> Tok {
        let c = self.peek().unwrap_or(';');
        let next = self.peek_at(1);
        self.pos += 1;
        let (tok, extra) = match (c, next) {
            ('|', Some('|')) => (Tok::OrIf, 1),
            ('|', _) => (Tok::Pipe, 0),
            ('&', Some('&')) => (Tok::AndIf, 1),
            ('&', _) => (Tok::Amp, 0),
            ('<', _) => (Tok::Redir(fd.unwrap_or(0), RedirOp::In), 0),
            ('>', Some('>')) => (Tok::Redir(fd.unwrap_or(1), RedirOp::Append), 1),
            ('>', Some('&')) => (Tok::Redir(fd.unwrap_or(1), RedirOp::Dup), 1),
            ('>', _) => (Tok::Redir(fd.unwrap_or(1), RedirOp::Out), 0),
            _ => (Tok::Semi, 0),
        };
        self.pos += extra;
        tok
    }

    /// A word at `pos` (which holds a character that is not a metacharacter).
    fn word(&mut self) -> Result<Word, ParseError> {
        let mut word = Word::default();
        if self.peek() == Some('~') && self.peek_at(1).is_none_or(|c| c == '/' || is_meta(c)) {
            self.pos += 1;
            word.0.push(Seg::Home);
        }
        while let Some(c) = self.peek() {
            if is_meta(c) {
                break;
            }
            self.pos += 1;
            match c {
                '\\' => match self.peek() {
                    Some('\n') => {
                        self.pos -= 1;
                        self.continuation()?;
                    }
                    Some(c) => {
                        self.pos += 1;
                        word.push_char(c, true);
                    }
                    None => return Err(ParseError::Incomplete("a `\\` at the end".into())),
                },
                '\'' => {
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err(ParseError::Incomplete("an unterminated `'`".into()));
                    }
                    let text: String = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    word.0.push(Seg::Lit(text, true));
                }
                '"' => self.double_quoted(&mut word)?,
                '$' => self.dollar(&mut word, false)?,
                '`' => {
                    return Err(ParseError::Syntax(
                        "command substitution (`...`) is not supported".into(),
                    ));
                }
                c => word.push_char(c, false),
            }
        }
        Ok(word)
    }

    /// The inside of `"..."`, the opening quote consumed.
    fn double_quoted(&mut self, word: &mut Word) -> Result<(), ParseError> {
        // `""` must still make a field.
        word.0.push(Seg::Lit(String::new(), true));
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::Incomplete("an unterminated `\"`".into()));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(()),
                '\\' => match self.peek() {
                    Some('\n') => self.pos += 1,
                    Some(c @ ('$' | '`' | '"' | '\\')) => {
                        self.pos += 1;
                        word.push_char(c, true);
                    }
                    _ => word.push_char('\\', true),
                },
                '$' => self.dollar(word, true)?,
                '`' => {
                    return Err(ParseError::Syntax(
                        "command substitution (`...`) is not supported".into(),
                    ));
                }
                c => word.push_char(c, true),
            }
        }
    }

    /// What follows a `$` (consumed).
    fn dollar(&mut self, word: &mut Word, quoted: bool) -> Result<(), ParseError> {
        match self.peek() {
            Some('{') => {
                let start = self.pos + 1;
                let Some(len) = self.chars[start..].iter().position(|&c| c == '}') else {
                    return Err(ParseError::Incomplete("an unterminated `${`".into()));
                };
                let name: String = self.chars[start..start + len].iter().collect();
                if !is_name(&name) && !is_special(&name) {
                    return Err(ParseError::Syntax(format!(
                        "`${{{name}}}`: bad substitution"
                    )));
                }
                self.pos = start + len + 1;
                word.0.push(Seg::Var(name, quoted));
            }
            Some('(') => {
                return Err(ParseError::Syntax(
                    "command substitution `$(...)` is not supported".into(),
                ));
            }
            Some(c) if is_special(c.encode_utf8(&mut [0; 4])) => {
                self.pos += 1;
                word.0.push(Seg::Var(c.to_string(), quoted));
            }
            Some(c) if name_start(c) => {
                let start = self.pos;
                while self.peek().is_some_and(name_char) {
                    self.pos += 1;
                }
                word.0.push(Seg::Var(
                    self.chars[start..self.pos].iter().collect(),
                    quoted,
                ));
            }
            _ => word.push_char('$', quoted),
        }
        Ok(())
    }
}

/// Whether `s` names a special parameter.
fn is_special(s: &str) -> bool {
    matches!(s, "?" | "!" | "$" | "#" | "@" | "*")
        || (s.len() == 1 && s.as_bytes()[0].is_ascii_digit())
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(&Tok::Newline) {
            self.pos += 1;
        }
    }

    fn program(&mut self) -> Result<Program, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            let Some(tok) = self.peek() else {
                return Ok(items);
            };
            if !matches!(tok, Tok::Word(_) | Tok::Redir(..)) {
                return Err(ParseError::Syntax(format!("unexpected {tok}")));
            }
            let mut item = self.and_or()?;
            match self.peek() {
                None => {}
                Some(Tok::Newline | Tok::Semi) => self.pos += 1,
                Some(Tok::Amp) => {
                    self.pos += 1;
                    item.background = true;
                }
                Some(tok) => return Err(ParseError::Syntax(format!("unexpected {tok}"))),
            }
            items.push(item);
        }
    }

    fn and_or(&mut self) -> Result<AndOr, ParseError> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let connector = match self.peek() {
                Some(Tok::AndIf) => Connector::And,
                Some(Tok::OrIf) => Connector::Or,
                _ => break,
            };
            self.pos += 1;
            self.skip_newlines();
            if self.peek().is_none() {
                let op = if connector == Connector::And {
                    "&&"
                } else {
                    "||"
                };
                return Err(ParseError::Incomplete(format!("a command after `{op}`")));
            }
            rest.push((connector, self.pipeline()?));
        }
        Ok(AndOr {
            first,
            rest,
            background: false,
        })
    }

    fn pipeline(&mut self) -> Result<Pipeline, ParseError> {
        let mut negate = false;
        if let Some(Tok::Word(w)) = self.peek()
            && w.plain() == Some("!")
        {
            negate = true;
            self.pos += 1;
        }
        let mut commands = vec![self.command()?];
        while self.peek() == Some(&Tok::Pipe) {
            self.pos += 1;
            self.skip_newlines();
            if self.peek().is_none() {
                return Err(ParseError::Incomplete("a command after `|`".into()));
            }
            commands.push(self.command()?);
        }
        Ok(Pipeline { negate, commands })
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let mut cmd = Command::default();
        loop {
            match self.peek().cloned() {
                Some(Tok::Word(w)) => {
                    self.pos += 1;
                    if cmd.words.is_empty()
                        && let Some(assign) = assignment(&w)
                    {
                        cmd.assigns.push(assign);
                    } else {
                        cmd.words.push(w);
                    }
                }
                Some(Tok::Redir(fd, op)) => {
                    self.pos += 1;
                    match self.peek().cloned() {
                        Some(Tok::Word(target)) => {
                            self.pos += 1;
                            cmd.redirs.push(Redir { fd, op, target });
                        }
                        Some(tok) => {
                            return Err(ParseError::Syntax(format!(
                                "expected a file name after `{op}`, found {tok}"
                            )));
                        }
                        None => {
                            return Err(ParseError::Syntax(format!(
                                "expected a file name after `{op}`"
                            )));
                        }
                    }
                }
                _ => break,
            }
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirs.is_empty() {
            return Err(match self.peek() {
                Some(tok) => ParseError::Syntax(format!("unexpected {tok}")),
                None => ParseError::Syntax("missing command".into()),
            });
        }
        Ok(cmd)
    }
}

/// `NAME=VALUE` as an assignment: the name and the value's segments.
fn assignment(w: &Word) -> Option<(String, Word)> {
    let Some(Seg::Lit(text, false)) = w.0.first() else {
        return None;
    };
    let (name, value) = text.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut segs = Vec::with_capacity(w.0.len());
    if !value.is_empty() {
        segs.push(Seg::Lit(value.to_string(), false));
    }
    segs.extend(w.0[1..].iter().cloned());
    Some((name.to_string(), Word(segs)))
}

/// Parses a whole input.
///
/// # Errors
/// [`ParseError::Incomplete`] when more input could complete it, [`ParseError::Syntax`]
/// when it is wrong.
pub fn parse(src: &str) -> Result<Program, ParseError> {
    let toks = Lexer {
        chars: src.chars().collect(),
        pos: 0,
    }
    .tokens()?;
    Parser { toks, pos: 0 }.program()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Word {
        Word(vec![Seg::Lit(s.into(), false)])
    }

    fn words(cmd: &Command) -> Vec<Word> {
        cmd.words.clone()
    }

    #[test]
    fn simple_commands_and_separators() {
        let p = parse("echo a b; ls\n\npwd &").unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(
            words(&p[0].first.commands[0]),
            [lit("echo"), lit("a"), lit("b")]
        );
        assert!(!p[1].background);
        assert!(p[2].background);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("  # just a comment\n").unwrap().is_empty());
    }

    #[test]
    fn pipelines_and_lists() {
        let p = parse("a | b | c && ! d || e").unwrap();
        assert_eq!(p[0].first.commands.len(), 3);
        assert_eq!(p[0].rest.len(), 2);
        assert_eq!(p[0].rest[0].0, Connector::And);
        assert!(p[0].rest[0].1.negate);
        assert_eq!(p[0].rest[1].0, Connector::Or);
    }

    #[test]
    fn quotes_and_variables() {
        let p = parse(r#"echo 'a $b' "c $d ${e}x" \$f $? $1 "$@" ~/x"#).unwrap();
        let w = words(&p[0].first.commands[0]);
        assert_eq!(w[1], Word(vec![Seg::Lit("a $b".into(), true)]));
        assert_eq!(
            w[2],
            Word(vec![
                Seg::Lit("c ".into(), true),
                Seg::Var("d".into(), true),
                Seg::Lit(" ".into(), true),
                Seg::Var("e".into(), true),
                Seg::Lit("x".into(), true),
            ])
        );
        assert_eq!(
            w[3],
            Word(vec![
                Seg::Lit("$".into(), true),
                Seg::Lit("f".into(), false)
            ])
        );
        assert_eq!(w[4], Word(vec![Seg::Var("?".into(), false)]));
        assert_eq!(w[5], Word(vec![Seg::Var("1".into(), false)]));
        assert_eq!(
            w[6],
            Word(vec![
                Seg::Lit(String::new(), true),
                Seg::Var("@".into(), true)
            ])
        );
        assert_eq!(w[7], Word(vec![Seg::Home, Seg::Lit("/x".into(), false)]));
        let p = parse("echo a#b '' x$ \"\"").unwrap();
        let w = words(&p[0].first.commands[0]);
        assert_eq!(w[1], lit("a#b"));
        assert_eq!(w[2], Word(vec![Seg::Lit(String::new(), true)]));
        assert_eq!(w[3], lit("x$"));
        assert_eq!(w[4], Word(vec![Seg::Lit(String::new(), true)]));
    }

    #[test]
    fn redirections() {
        let p = parse("cat <in >out 2>>err 2>&1 >>log").unwrap();
        let r = &p[0].first.commands[0].redirs;
        assert_eq!(r.len(), 5);
        assert_eq!(
            (r[0].fd, r[0].op, r[0].target.clone()),
            (0, RedirOp::In, lit("in"))
        );
        assert_eq!((r[1].fd, r[1].op), (1, RedirOp::Out));
        assert_eq!((r[2].fd, r[2].op), (2, RedirOp::Append));
        assert_eq!(
            (r[3].fd, r[3].op, r[3].target.clone()),
            (2, RedirOp::Dup, lit("1"))
        );
        assert_eq!((r[4].fd, r[4].op), (1, RedirOp::Append));
        // A number not right before the operator is a word.
        let p = parse("echo 2 >x").unwrap();
        assert_eq!(p[0].first.commands[0].words.len(), 2);
        assert!(matches!(parse("echo 5>x"), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn assignments() {
        let p = parse("A=1 B=\"x y\" cmd C=3").unwrap();
        let c = &p[0].first.commands[0];
        assert_eq!(c.assigns.len(), 2);
        assert_eq!(c.assigns[0], ("A".into(), lit("1")));
        assert_eq!(c.words.len(), 2);
        let p = parse("X=").unwrap();
        assert_eq!(
            p[0].first.commands[0].assigns[0],
            ("X".into(), Word(vec![]))
        );
        let p = parse("1X=2").unwrap();
        assert!(p[0].first.commands[0].assigns.is_empty());
    }

    #[test]
    fn incomplete_input() {
        for src in [
            "echo 'abc",
            "echo \"abc",
            "a |",
            "a &&",
            "a ||\n",
            "echo \\",
            "echo ${x",
            "echo a \\\n",
            "echo a\\\n",
        ] {
            assert!(
                matches!(parse(src), Err(ParseError::Incomplete(_))),
                "{src}"
            );
        }
        assert_eq!(parse("echo 'a\nb'").unwrap().len(), 1);
        assert_eq!(
            parse("echo a \\\n b").unwrap()[0].first.commands[0]
                .words
                .len(),
            3
        );
        assert_eq!(parse("a |\n b").unwrap()[0].first.commands.len(), 2);
        let joined = parse("echo a\\\nb").unwrap();
        assert_eq!(joined[0].first.commands[0].words[1], lit("ab"));
    }

    #[test]
    fn syntax_errors() {
        for src in [
            "| a",
            "a ; ; b",
            "a >",
            "a > | b",
            "(a)",
            "echo $(x)",
            "echo `x`",
            "&",
            "a && && b",
            "echo ${a-b}",
        ] {
            assert!(matches!(parse(src), Err(ParseError::Syntax(_))), "{src}");
        }
    }
}
