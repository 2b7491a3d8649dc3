//! The command lines an operator types: the subset of PowerShell and netsh that the
//! troubleshooting documents use, pasted as they stand (typographic quotes, `$var = ...`,
//! `(Get-RemoteAccess).ClientIPv6Prefix`, pipelines into `Select-Object`, `Where-Object`,
//! `Format-List`, `Format-Table`). A line is tokenized here, its first stage is run by a
//! [`Target`] (the server, or a client), and the pipeline stages are applied to the value.
//!
//! A command that fails changes nothing: the server target works on a copy that is kept
//! only when the whole line succeeded.

use std::collections::HashMap;

use serde_json::Value;

use super::views::{self, Render};

/// Why a command line failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The line could not be tokenized.
    #[error("cannot parse the command line: {0}")]
    Parse(String),
    /// The command is not in the supported subset.
    #[error("'{command}' is not a supported command here. Supported: {supported}")]
    Unknown {
        /// What was typed.
        command: String,
        /// What is supported.
        supported: String,
    },
    /// A parameter is missing, unknown or has a bad value.
    #[error("{0}")]
    Argument(String),
    /// The object named does not exist (or already exists).
    #[error("{0}")]
    Object(String),
    /// A variable was used before being set.
    #[error("the variable '${0}' has not been set in this session")]
    Variable(String),
}

/// A command's result: a value (the JSON twin) and how it shows as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The value.
    pub value: Value,
    /// How it shows.
    pub render: Render,
}

impl Output {
    /// Nothing to show.
    pub fn none() -> Self {
        Self {
            value: Value::Null,
            render: Render::Text(String::new()),
        }
    }

    /// Plain text (its JSON twin is `{"text": ...}`).
    pub fn text(t: impl Into<String>) -> Self {
        let t = t.into();
        Self {
            value: serde_json::json!({ "text": t }),
            render: Render::Text(t),
        }
    }

    /// The text a person sees.
    pub fn to_text(&self) -> String {
        views::render(&self.value, &self.render)
    }
}

/// Variables set by `$name = ...` that later lines of the same session can use.
#[derive(Debug, Clone, Default)]
pub struct Session {
    vars: HashMap<String, String>,
}

impl Session {
    /// A variable's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Named and positional arguments of one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// Words that are not `-Name value`.
    pub positional: Vec<String>,
    /// `-Name value` or `-Switch` (value `None`), in order.
    pub named: Vec<(String, Option<String>)>,
}

impl Args {
    /// The value of `-name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.named
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of `-name`, required.
    pub fn require(&self, name: &str) -> Result<&str, CommandError> {
        self.get(name)
            .ok_or_else(|| CommandError::Argument(format!("parameter -{name} is required")))
    }

    /// Rejects named parameters not in `known`.
    pub fn only(&self, command: &str, known: &[&str]) -> Result<(), CommandError> {
        for (n, _) in &self.named {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(n)) {
                return Err(CommandError::Argument(format!(
                    "{command}: a parameter cannot be found that matches parameter name '{n}' (supported: -{})",
                    known.join(", -")
                )));
            }
        }
        Ok(())
    }
}

/// Which named parameters a command takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Params {
    /// These (checked before the handler runs; anything else is refused).
    Named(&'static [&'static str]),
    /// The handler reads its own words (`netsh`, `certreq`, `certutil`).
    Words,
}

/// One command of a target's table: its name, how it is typed, what it does, what it
/// takes, and the handler (`H`: a function of the target).
#[derive(Debug)]
pub struct CommandSpec<H> {
    /// Its first word, as Windows spells it.
    pub name: &'static str,
    /// The forms a person types, as the supported-commands message lists them.
    pub usage: &'static [&'static str],
    /// One line: what it does here.
    pub help: &'static str,
    /// Its named parameters.
    pub params: Params,
    /// Runs it.
    pub run: H,
}

/// A target's commands, in the order the supported-commands message and the help list
/// them; both are made from the table.
#[derive(Debug)]
pub struct CommandTable<H: 'static>(pub &'static [CommandSpec<H>]);

impl<H> CommandTable<H> {
    /// The forms of every command, for the message of an unknown command.
    pub fn supported(&self) -> String {
        self.0
            .iter()
            .flat_map(|c| c.usage.iter().copied())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first words of the commands.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|c| c.name).collect()
    }

    /// An unknown command's error, naming what is supported.
    pub fn unknown(&self, command: impl Into<String>) -> CommandError {
        CommandError::Unknown {
            command: command.into(),
            supported: self.supported(),
        }
    }

    /// The command `name` (case-insensitive) with its named parameters checked.
    pub fn lookup(&self, name: &str, args: &Args) -> Result<&CommandSpec<H>, CommandError> {
        let spec = self
            .0
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| self.unknown(name))?;
        if let Params::Named(known) = spec.params {
            args.only(name, known)?;
        }
        Ok(spec)
    }

    /// `Get-Help`: every command with its forms and what it does.
    pub fn help(&self) -> Output {
        let rows: Vec<Value> = self
            .0
            .iter()
            .map(|c| serde_json::json!({"Name": c.name, "Usage": c.usage.join(" | "), "Synopsis": c.help}))
            .collect();
        Output {
            value: Value::Array(rows),
            render: Render::Table(["Name", "Synopsis"].map(String::from).to_vec()),
        }
    }
}

/// Something commands run against: the server, or one client.
pub trait Target {
    /// Runs one command (the first stage of a line) with its arguments.
    fn run(&mut self, command: &str, args: &Args) -> Result<Output, CommandError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Expr { inner: String, prop: Option<String> },
    Block(String),
}

/// Replaces typographic quotes with ASCII ones.
fn normalize(line: &str) -> String {
    line.chars()
        .map(|c| match c {
            '\u{201c}' | '\u{201d}' | '\u{201e}' => '"',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{2013}' | '\u{2014}' => '-',
            '\u{a0}' => ' ',
            c => c,
        })
        .collect()
}

fn tokenize(line: &str) -> Result<Vec<Vec<Token>>, CommandError> {
    let chars: Vec<char> = line.chars().collect();
    let mut stages = vec![Vec::new()];
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '|' {
            stages.push(Vec::new());
            i += 1;
        } else if c == '(' || c == '{' {
            let close = if c == '(' { ')' } else { '}' };
            let mut depth = 0;
            let start = i;
            loop {
                let Some(&ch) = chars.get(i) else {
                    return Err(CommandError::Parse(format!("missing '{close}'")));
                };
                if ch == c {
                    depth += 1;
                } else if ch == close {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                i += 1;
            }
            let inner: String = chars[start + 1..i].iter().collect();
            i += 1;
            let tok = if c == '{' {
                Token::Block(inner)
            } else {
                let mut prop = None;
                if chars.get(i) == Some(&'.') {
                    let s = i + 1;
                    i = s;
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                    prop = Some(chars[s..i].iter().collect());
                }
                Token::Expr { inner, prop }
            };
            stages.last_mut().expect("one stage").push(tok);
        } else {
            let mut word = String::new();
            while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '|' {
                let ch = chars[i];
                if ch == '"' || ch == '\'' {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&x| x == ch)
                        .ok_or_else(|| CommandError::Parse(format!("missing closing {ch}")))?;
                    word.extend(&chars[i + 1..i + 1 + end]);
                    i += end + 2;
                } else {
                    word.push(ch);
                    i += 1;
                }
            }
            stages
                .last_mut()
                .expect("one stage")
                .push(Token::Word(word));
        }
    }
    if stages.iter().any(Vec::is_empty) && stages.len() > 1 {
        return Err(CommandError::Parse("an empty pipeline stage".into()));
    }
    Ok(stages)
}

fn resolve_word(w: &str, session: &Session) -> Result<String, CommandError> {
    match w.strip_prefix('$') {
        Some(v) if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => {
            Ok(w.to_string())
        }
        Some(v) if !v.is_empty() => session
            .get(v)
            .map(str::to_string)
            .ok_or_else(|| CommandError::Variable(v.to_string())),
        _ => Ok(w.to_string()),
    }
}

fn eval_expr(
    inner: &str,
    prop: Option<&str>,
    session: &mut Session,
    target: &mut dyn Target,
) -> Result<String, CommandError> {
    let out = run_line(inner, session, target)?;
    match prop {
        Some(p) => {
            let v = match &out.value {
                Value::Array(a) => a.first().map(|o| o[p].clone()).unwrap_or(Value::Null),
                v => v[p].clone(),
            };
            if v.is_null() {
                return Err(CommandError::Object(format!(
                    "the result of ({inner}) has no property '{p}'"
                )));
            }
            Ok(views::cell(&v))
        }
        None => Ok(views::cell(&out.value)),
    }
}

fn args_of(
    tokens: &[Token],
    session: &mut Session,
    target: &mut dyn Target,
) -> Result<Args, CommandError> {
    let mut words = Vec::new();
    for t in tokens {
        words.push(match t {
            Token::Word(w) => resolve_word(w, session)?,
            Token::Expr { inner, prop } => eval_expr(inner, prop.as_deref(), session, target)?,
            Token::Block(b) => format!("{{{b}}}"),
        });
    }
    let mut args = Args::default();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let is_param = w.len() > 1
            && w.starts_with('-')
            && w[1..].starts_with(|c: char| c.is_ascii_alphabetic());
        if is_param {
            let name = &w[1..];
            if let Some((n, v)) = name.split_once(':') {
                args.named.push((n.to_string(), Some(v.to_string())));
            } else if let Some(next) = words.get(i + 1).filter(|n| {
                !(n.starts_with('-')
                    && n.len() > 1
                    && n[1..].starts_with(|c: char| c.is_ascii_alphabetic()))
            }) {
                args.named.push((name.to_string(), Some(next.clone())));
                i += 1;
            } else {
                args.named.push((name.to_string(), None));
            }
        } else {
            args.positional.push(w.clone());
        }
        i += 1;
    }
    Ok(args)
}

/// Runs one command line against `target`.
pub fn run_line(
    line: &str,
    session: &mut Session,
    target: &mut dyn Target,
) -> Result<Output, CommandError> {
    let line = normalize(line);
    // the seeds end some commands with a full stop ("... | Select-Object ClientIPv6Prefix.")
    let trimmed = line.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed).trim_end();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Output::none());
    }
    if let Some(rest) = trimmed.strip_prefix('$')
        && let Some((name, value)) = rest.split_once('=')
        && !name.trim().is_empty()
        && name.trim().chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        let stages = tokenize(value.trim())?;
        let v = match stages.as_slice() {
            [one] if one.len() == 1 => match &one[0] {
                Token::Expr { inner, prop } => eval_expr(inner, prop.as_deref(), session, target)?,
                Token::Word(w) => resolve_word(w, session)?,
                Token::Block(_) => {
                    return Err(CommandError::Parse("cannot assign a script block".into()));
                }
            },
            _ => views::cell(&run_line(value.trim(), session, target)?.value),
        };
        session.vars.insert(name.trim().to_ascii_lowercase(), v);
        return Ok(Output::none());
    }
    let stages = tokenize(trimmed)?;
    let mut out: Option<Output> = None;
    for stage in stages {
        let Some(Token::Word(cmd)) = stage.first() else {
            return Err(CommandError::Parse(
                "a pipeline stage must start with a command name".into(),
            ));
        };
        let cmd = cmd.clone();
        let args = args_of(&stage[1..], session, target)?;
        out = Some(match out {
            None => target.run(&cmd, &args)?,
            Some(prev) => pipe(&cmd, &args, prev)?,
        });
    }
    Ok(out.unwrap_or_else(Output::none))
}

/// Commands allowed after a pipe.
pub const PIPE_COMMANDS: &[&str] = &[
    "select-object",
    "select",
    "where-object",
    "where",
    "?",
    "format-list",
    "fl",
    "format-table",
    "ft",
];

/// Checks, without running anything, that every command a line names is in `known`
/// (first words, any case) or is the lab's own `fault` command: for validating scripts
/// before a run. Arguments are checked when the line runs.
pub fn check_names(line: &str, known: &[&str], supported: &str) -> Result<(), CommandError> {
    let line = normalize(line);
    let mut t = line.trim();
    t = t.strip_suffix('.').unwrap_or(t).trim_end();
    if t.is_empty() || t.starts_with('#') {
        return Ok(());
    }
    if let Some(rest) = t.strip_prefix('$')
        && let Some((_, value)) = rest.split_once('=')
    {
        t = value.trim();
    }
    for (i, stage) in tokenize(t)?.iter().enumerate() {
        for tok in stage {
            if let Token::Expr { inner, .. } = tok {
                check_names(inner, known, supported)?;
            }
        }
        let Some(Token::Word(cmd)) = stage.first() else {
            if i == 0 && stage.len() == 1 {
                return Ok(());
            }
            return Err(CommandError::Parse(
                "a pipeline stage must start with a command name".into(),
            ));
        };
        let lc = cmd.to_ascii_lowercase();
        let ok = if i == 0 {
            known.iter().any(|k| k.eq_ignore_ascii_case(&lc)) || lc == "fault"
        } else {
            PIPE_COMMANDS.contains(&lc.as_str())
        };
        if !ok {
            return Err(CommandError::Unknown {
                command: cmd.clone(),
                supported: supported.into(),
            });
        }
    }
    Ok(())
}

fn props(args: &Args) -> Vec<String> {
    let mut v: Vec<String> = args
        .positional
        .iter()
        .map(String::as_str)
        .chain(args.get("Property"))
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.dedup();
    v
}

fn pipe(cmd: &str, args: &Args, input: Output) -> Result<Output, CommandError> {
    let items: Vec<Value> = match &input.value {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        v => vec![v.clone()],
    };
    match cmd.to_ascii_lowercase().as_str() {
        "select-object" | "select" => {
            args.only(cmd, &["Property"])?;
            let p = props(args);
            let picked: Vec<Value> = items
                .iter()
                .map(|o| {
                    let m: serde_json::Map<String, Value> = p
                        .iter()
                        .map(|k| (k.clone(), o[k.as_str()].clone()))
                        .collect();
                    Value::Object(m)
                })
                .collect();
            let render = if p.len() <= 4 {
                Render::Table(p)
            } else {
                Render::List(Some(p))
            };
            Ok(Output {
                value: Value::Array(picked),
                render,
            })
        }
        "where-object" | "where" | "?" => {
            let block = args.positional.first().ok_or_else(|| {
                CommandError::Argument("Where-Object needs a script block".into())
            })?;
            let (prop, want) = parse_where(block)?;
            let kept: Vec<Value> = items
                .into_iter()
                .filter(|o| views::cell(&o[prop.as_str()]).eq_ignore_ascii_case(&want))
                .collect();
            Ok(Output {
                value: Value::Array(kept),
                render: input.render,
            })
        }
        "format-list" | "fl" => {
            args.only(cmd, &["Property"])?;
            let p = props(args);
            Ok(Output {
                value: input.value,
                render: Render::List((!p.is_empty()).then_some(p)),
            })
        }
        "format-table" | "ft" => {
            args.only(cmd, &["Property", "AutoSize"])?;
            let mut p = props(args);
            if p.is_empty() || p == ["*"] {
                p = match items.first() {
                    Some(Value::Object(m)) => m.keys().cloned().collect(),
                    _ => Vec::new(),
                };
            }
            Ok(Output {
                value: input.value,
                render: Render::Table(p),
            })
        }
        _ => Err(CommandError::Unknown {
            command: cmd.to_string(),
            supported: "Select-Object, Where-Object, Format-List, Format-Table after a pipe".into(),
        }),
    }
}

/// `{$_.Prop -eq "value"}` -> (Prop, value).
fn parse_where(block: &str) -> Result<(String, String), CommandError> {
    let inner = block
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let bad = || {
        CommandError::Argument(format!(
            "unsupported filter {block}: use {{$_.Property -eq \"value\"}}"
        ))
    };
    let (lhs, rhs) = inner.split_once("-eq").ok_or_else(bad)?;
    let prop = lhs
        .trim()
        .strip_prefix("$_.")
        .ok_or_else(bad)?
        .trim()
        .to_string();
    let want = rhs
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .to_string();
    Ok((prop, want))
}

/// Whether the netsh words match `pattern` word by word, each typed word an
/// abbreviation (a prefix of at least 3 letters, or the whole word) of the pattern's.
pub fn netsh_match(words: &[String], pattern: &[&str]) -> bool {
    words.len() >= pattern.len()
        && words.iter().zip(pattern).all(|(w, p)| {
            let w = w.to_ascii_lowercase();
            let alts: Vec<&str> = p.split('/').collect();
            alts.iter().any(|p| {
                w == *p
                    || (w.len() >= 3 && p.starts_with(&w))
                    || (*p == "httpstunnel" && w == "http")
            })
        })
}

/// `key=value` words of a netsh command.
pub fn netsh_pairs(words: &[String]) -> Result<Vec<(String, String)>, CommandError> {
    words
        .iter()
        .map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .ok_or_else(|| CommandError::Argument(format!("expected key=value, got '{w}'")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Target for Echo {
        fn run(&mut self, command: &str, args: &Args) -> Result<Output, CommandError> {
            match command {
                "Get-Thing" => Ok(Output {
                    value: serde_json::json!([{"Name": "a", "Prefix": "2001:db8::/64"}, {"Name": "b", "Prefix": "x"}]),
                    render: Render::Table(vec!["Name".into()]),
                }),
                "Show" => Ok(Output::text(format!("{args:?}"))),
                _ => Err(CommandError::Unknown {
                    command: command.into(),
                    supported: "Get-Thing, Show".into(),
                }),
            }
        }
    }

    #[test]
    fn variables_expressions_quotes_and_pipes() {
        let mut s = Session::default();
        run_line("$p = (Get-Thing).Prefix", &mut s, &mut Echo).unwrap();
        assert_eq!(s.get("P"), Some("2001:db8::/64"));
        let out = run_line("Show -DestinationPrefix $p -InterfaceAlias \u{201c}Microsoft IP-HTTPS Platform Interface\u{201d} -Publish Yes -PassThru", &mut s, &mut Echo).unwrap();
        let t = out.to_text();
        assert!(
            t.contains("(\"DestinationPrefix\", Some(\"2001:db8::/64\"))"),
            "{t}"
        );
        assert!(
            t.contains("Some(\"Microsoft IP-HTTPS Platform Interface\")"),
            "{t}"
        );
        assert!(t.contains("(\"PassThru\", None)"), "{t}");
        let out = run_line(
            "Get-Thing | Where-Object {$_.Name -eq \"b\"} | Select-Object Prefix",
            &mut s,
            &mut Echo,
        )
        .unwrap();
        assert_eq!(out.to_text(), "\nPrefix\n------\nx\n\n");
        assert_eq!(
            run_line("Show $nope", &mut s, &mut Echo),
            Err(CommandError::Variable("nope".into()))
        );
        assert!(matches!(
            run_line("Frobnicate", &mut s, &mut Echo),
            Err(CommandError::Unknown { .. })
        ));
    }

    #[test]
    fn netsh_abbreviations() {
        let w: Vec<String> = "Netsh int ipv6 set int 17"
            .split(' ')
            .map(String::from)
            .collect();
        assert!(netsh_match(
            &w,
            &["netsh", "interface", "ipv6", "set", "interface"]
        ));
        let w: Vec<String> = "netsh interface http show interface"
            .split(' ')
            .map(String::from)
            .collect();
        assert!(netsh_match(
            &w,
            &["netsh", "interface", "httpstunnel", "show", "interfaces"]
        ));
    }
}
