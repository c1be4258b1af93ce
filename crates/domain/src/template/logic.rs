//! Templates with logic (the `logic` format): the basic `{{variable}}` syntax plus
//! conditionals, loops and includes, rendered by a sandboxed engine.
//!
//! The syntax, in full:
//!
//! - Everything the basic format has, read exactly as it reads it: `{{ name }}`, the `{{{{`
//!   escape, and every other `{{` is text. **Content without `{%` renders byte for byte as
//!   [`super::render`] renders it, and has the same variables.**
//! - Statement tags: `{%`, optional blanks or tabs, one of the keywords `if elif else endif for
//!   endfor raw endraw include`, the rest up to `%}`. Any other `{%` is text (`{% foo %}`, a
//!   `{%` in prose).
//!   - `{% if EXPR %} … {% elif EXPR %} … {% else %} … {% endif %}`
//!   - `{% for x in EXPR %} … {% else %} … {% endfor %}`: `EXPR` must be a sequence (a JSON
//!     array, `range(3)`); the `else` part renders when it is empty. Inside the loop,
//!     `{{ x }}`, `{{ x.field.deeper }}`, `{{ x.0 }}` and `{{ loop.index }}` (also `index0`,
//!     `revindex`, `revindex0`, `first`, `last`, `length`) read the loop; a path that does not
//!     exist is an error, not an empty string. Inner loops shadow outer ones. Elsewhere a
//!     dotted name is one flat variable, as in basic (`{{ team.lead-1 }}`).
//!   - `{% raw %} … {% endraw %}`: the inside is literal text.
//!   - `{% include "REF" %}`: another template, which the caller looks up by `REF`
//!     ([`LogicTemplate::render`]). It sees the same values, not the includer's loops.
//! - A line holding nothing but one block tag (any statement but `include`, and blanks or
//!   tabs) disappears with its newline, so block tags can sit on their own lines. Tags sharing
//!   a line with text leave the text alone; an include on its own line stays a line of the
//!   included text.
//!
//! `EXPR` is a [minijinja](minijinja) expression over the values whose names are identifiers,
//! plus the enclosing loop variables and `loop`. An undefined name is falsy
//! (`{% if premium %}` without a value is false).
//!
//! A value prints as it reads: a string verbatim, a number as its JSON text, `true`/`false`,
//! `null` as nothing, an array or object as compact JSON.
//!
//! Which values a render needs is decided before rendering and does not depend on the values:
//! every variable printed (`{{ name }}`) or looped over (`{% for x in name %}`) anywhere in
//! the template or the templates it includes must have a value; a variable only tested or used
//! in expressions may be absent.
//!
//! # Sandbox
//!
//! Expressions run in a minijinja environment with no loader and no access to files, network
//! or time, and with a fuel budget per evaluation that bounds both work and memory. On top of
//! that (each is tested below):
//! - `*` is rejected at parse: minijinja repeats a list lazily and without charging fuel, so
//!   `[0] * 5000 * 1000` is a free 5-million-item value that `in`, `==` or `~` then walk for
//!   seconds, building 15 MB. Other ways to grow values (`~`, `+`, filters, string formatting)
//!   are charged fuel before or as they allocate.
//! - The `tojson` filter is removed (`indent=1000000` builds gigabytes before fuel is
//!   checked), and so is the `debug` function (it dumps the whole context).
//! - An expression has at most [`MAX_EXPRESSION_TOKENS`] tokens and nests brackets at most
//!   [`MAX_EXPRESSION_NESTING`] deep, and blocks nest at most [`MAX_BLOCK_NESTING`] deep:
//!   minijinja's parser recurses without a limit on `not not …`, `- - …` and long operator
//!   chains, and overflows the stack at a few thousand.
//! - Output is capped as it grows, loops and includes share an iteration budget, includes nest
//!   at most [`RenderOptions::max_include_depth`] deep and may not form a cycle.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io;
use std::sync::{Arc, LazyLock};

use minijinja::value::{Enumerator, Object, Serde, Value, ValueKind};
use minijinja::{Environment, ErrorKind, Expression, UndefinedBehavior};
use serde::Serialize;

use super::{Piece, RenderError, TemplateFormat, scan};

/// Default cap on the length of a rendering (bytes).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;
/// Default fuel for one expression evaluation: about 20,000 steps or 1.3 MB of values.
pub const DEFAULT_FUEL: u64 = 20_000;
/// Default budget of loop iterations plus included templates rendered, across a render.
pub const DEFAULT_MAX_ITERATIONS: u64 = 10_000;
/// Default depth of includes: a template that includes one that includes one is depth 2.
pub const DEFAULT_MAX_INCLUDE_DEPTH: u32 = 5;
/// Includes never nest deeper than this, whatever the options say, so a render cannot run out
/// of stack.
pub const INCLUDE_DEPTH_CEILING: u32 = 16;
/// Deepest nesting of `if` and `for` blocks in one template.
pub const MAX_BLOCK_NESTING: usize = 16;
/// Most tokens in one expression (names, literals and symbols).
pub const MAX_EXPRESSION_TOKENS: usize = 200;
/// Deepest nesting of brackets in one expression.
pub const MAX_EXPRESSION_NESTING: usize = 16;

const TAG_OPEN: &str = "{%";
const TAG_CLOSE: &str = "%}";

/// Why content is not a valid logic template, or where rendering it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    /// 1-based line of the tag or placeholder at fault.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    pub message: String,
}

/// How a template uses a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// Printed: `{{ name }}`.
    Print,
    /// Looped over: `{% for x in name %}`, possibly through filters (`name|sort`).
    Iterate,
    /// Tested for truth and nothing else: `{% if name %}`, `{% if not name %}`.
    Flag,
    /// Used in any other expression: `{% if tone == "formal" %}`.
    Expression,
}

/// A top-level variable of a template and every way the template uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariableUse {
    pub name: String,
    pub usages: BTreeSet<Usage>,
}

impl VariableUse {
    /// Whether a render needs a value for it: printing or looping over nothing is an error,
    /// while testing nothing is simply false.
    fn required(&self) -> bool {
        self.usages.contains(&Usage::Print) || self.usages.contains(&Usage::Iterate)
    }
}

/// A template an include refers to, as the caller found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    pub format: TemplateFormat,
    pub content: String,
}

/// Limits and strictness of one render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// Values for names that are not variables of the template or of a template it includes
    /// are an error ([`RenderError::unexpected`]), as in basic.
    pub strict: bool,
    pub max_output_bytes: usize,
    /// Fuel for each expression evaluation. The default is fastest: other budgets compile the
    /// expressions again on every render.
    pub fuel: u64,
    /// Loop iterations plus included templates rendered, in total.
    pub max_iterations: u64,
    /// At most [`INCLUDE_DEPTH_CEILING`] whatever is asked.
    pub max_include_depth: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            strict: false,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            fuel: DEFAULT_FUEL,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            max_include_depth: DEFAULT_MAX_INCLUDE_DEPTH,
        }
    }
}

/// Why a logic template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogicRenderError {
    /// Values missing or unexpected, with the basic format's meaning.
    #[error(transparent)]
    Variables(RenderError),
    /// Failed at a tag: not a list, no such field, out of fuel, an include that is unknown,
    /// invalid, too deep or cyclic. Errors inside an included template are reported at the
    /// include tag, with the inner position in the message.
    #[error(transparent)]
    Template(TemplateError),
    /// The rendering would be longer than allowed.
    #[error("the rendering is longer than {max_output_bytes} bytes")]
    TooLarge { max_output_bytes: usize },
}

impl From<TemplateError> for LogicRenderError {
    fn from(error: TemplateError) -> Self {
        LogicRenderError::Template(error)
    }
}

/// A parsed logic template: parse once, render many times.
#[derive(Debug)]
pub struct LogicTemplate {
    nodes: Vec<Node>,
    /// Every expression, compiled; nodes refer to them by index.
    exprs: Vec<Expr>,
    variables: Vec<VariableUse>,
    /// Distinct include references with their first tag.
    includes: Vec<(String, Pos)>,
    /// First appearances of variables and includes in document order, which orders the
    /// variables of a template together with the templates it includes.
    appearances: Vec<Appearance>,
}

/// Parses `content` as a logic template.
pub fn parse(content: &str) -> Result<LogicTemplate, TemplateError> {
    Parser::new(content).parse()
}

/// The top-level variables of `content` with their usages, in order of first appearance.
pub fn variables_of(content: &str) -> Result<Vec<VariableUse>, TemplateError> {
    parse(content).map(|template| template.variables)
}

/// The distinct include references of `content` in order, read by the tag lexer alone: no
/// expression is parsed, so this needs no expression engine (the web app lists an editor's
/// includes with it). For a template that [`parse`]s, the same as [`LogicTemplate::includes`];
/// for one that does not, the references up to its first broken tag.
pub fn include_references(content: &str) -> Vec<String> {
    let tokens = match lex(content) {
        Ok(tokens) => tokens,
        Err((offset, _)) => lex(&content[..offset]).unwrap_or_default(),
    };
    let mut references: Vec<String> = Vec::new();
    for token in tokens {
        if let Token::Tag(Keyword::Include, rest, _) = token
            && let Some(reference) = include_reference(rest)
            && !references.iter().any(|r| r == reference)
        {
            references.push(reference.to_owned());
        }
    }
    references
}

impl LogicTemplate {
    /// Top-level variables (not loop variables or `loop`), in order of first appearance.
    pub fn variables(&self) -> Vec<VariableUse> {
        self.variables.clone()
    }

    /// Distinct include references, in order of first appearance.
    pub fn includes(&self) -> Vec<String> {
        self.includes.iter().map(|(reference, _)| reference.clone()).collect()
    }

    /// Renders with `values`, looking up includes in `includes` by reference.
    ///
    /// Before anything renders, every include is resolved (whether or not its branch is
    /// taken), and the values are checked against the variables of the template and of every
    /// template it includes.
    pub fn render(
        &self,
        values: &BTreeMap<String, serde_json::Value>,
        includes: &BTreeMap<String, Included>,
        options: &RenderOptions,
    ) -> Result<String, LogicRenderError> {
        let custom_env;
        let env = if options.fuel == DEFAULT_FUEL {
            &*SANDBOX
        } else {
            custom_env = sandbox(options.fuel);
            &custom_env
        };
        let mut plan = Plan {
            env,
            custom: options.fuel != DEFAULT_FUEL,
            includes,
            max_depth: options.max_include_depth.min(INCLUDE_DEPTH_CEILING),
            summaries: BTreeMap::new(),
            prepared: BTreeMap::new(),
        };
        let summary = plan.visit(self, &mut Vec::new())?;
        check_values(values, &summary.variables, options.strict).map_err(LogicRenderError::Variables)?;

        let root_custom = if plan.custom { Some(recompile(env, self)?) } else { None };
        let names: HashSet<&str> = summary.variables.iter().map(|(name, _)| name.as_str()).collect();
        let globals: BTreeMap<String, Value> = values
            .iter()
            .filter(|(name, _)| is_identifier(name) && names.contains(name.as_str()))
            .map(|(name, value)| (name.clone(), Value::from(Serde(value))))
            .collect();
        let mut renderer = Renderer {
            plan: &plan,
            values,
            globals: Value::from(globals),
            out: Output { bytes: Vec::new(), max: options.max_output_bytes, overflowed: false },
            budget: options.max_iterations,
            max_iterations: options.max_iterations,
        };
        let code = Code { template: self, custom: root_custom.as_deref() };
        renderer.nodes(code, &self.nodes, &mut Vec::new())?;
        Ok(renderer.out.finish())
    }
}

// ---------------------------------------------------------------------------------------------
// The tree

/// Where a tag or placeholder starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: u32,
    column: u32,
}

impl Pos {
    fn error(self, message: impl Into<String>) -> TemplateError {
        TemplateError { line: self.line, column: self.column, message: message.into() }
    }
}

#[derive(Debug)]
enum Node {
    Text(String),
    Print {
        name: String,
        target: Target,
        at: Pos,
    },
    If {
        /// Condition expression and body, tried in order.
        branches: Vec<(usize, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    For {
        var: Arc<str>,
        sequence: usize,
        body: Vec<Node>,
        otherwise: Vec<Node>,
        at: Pos,
    },
    Include {
        reference: String,
        at: Pos,
    },
}

/// What a `{{ name }}` reads, decided at parse from the loops around it.
#[derive(Debug)]
enum Target {
    /// The top-level value of that (flat) name.
    Value,
    /// The item of the loop `frame` (0 = outermost enclosing loop), then `path` into it.
    Item { frame: usize, path: Vec<String> },
    /// `loop` of the innermost loop (`frame`), then `path` into it.
    Loop { frame: usize, path: Vec<String> },
}

#[derive(Debug, Clone, Copy)]
enum Appearance {
    Variable(usize),
    Include(usize),
}

/// A compiled expression and the tag it belongs to.
struct Expr {
    source: String,
    compiled: Expression<'static, 'static>,
    at: Pos,
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expr").field("source", &self.source).field("at", &self.at).finish()
    }
}

/// The environment every expression is compiled against and, at the default fuel, run in.
static SANDBOX: LazyLock<Environment<'static>> = LazyLock::new(|| sandbox(DEFAULT_FUEL));

/// An environment without templates or loader, with fuel, and without the builtins that can
/// escape the fuel budget or reveal more than the expression's own values.
fn sandbox(fuel: u64) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(fuel));
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.remove_filter("tojson");
    env.remove_global("debug");
    env
}

// ---------------------------------------------------------------------------------------------
// Reading content into tags and text

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keyword {
    If,
    Elif,
    Else,
    Endif,
    For,
    Endfor,
    Raw,
    Endraw,
    Include,
}

impl Keyword {
    const ALL: [Keyword; 9] = [
        Keyword::If,
        Keyword::Elif,
        Keyword::Else,
        Keyword::Endif,
        Keyword::For,
        Keyword::Endfor,
        Keyword::Raw,
        Keyword::Endraw,
        Keyword::Include,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Keyword::If => "if",
            Keyword::Elif => "elif",
            Keyword::Else => "else",
            Keyword::Endif => "endif",
            Keyword::For => "for",
            Keyword::Endfor => "endfor",
            Keyword::Raw => "raw",
            Keyword::Endraw => "endraw",
            Keyword::Include => "include",
        }
    }
}

/// A piece of content, as the lexer reads it.
enum Token<'a> {
    /// Text in the basic syntax, and the offset it starts at.
    Text(&'a str, usize),
    /// The inside of a raw block.
    Literal(&'a str),
    /// A statement tag: its keyword, the rest of it (trimmed), and the offset of its `{%`.
    Tag(Keyword, &'a str, usize),
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `content` into text, raw blocks and tags, applying the whitespace rule. Fails with
/// the offset and reason of a tag without `%}` or a raw block without its end.
fn lex(content: &str) -> Result<Vec<Token<'_>>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut text_start = 0;
    let mut search = 0;
    while let Some(found) = content.get(search..).and_then(|rest| rest.find(TAG_OPEN)) {
        let start = search + found;
        let Some((keyword, rest_start)) = keyword_at(content, start) else {
            // Not a statement: the `{` is text; look again from the `%`.
            search = start + 1;
            continue;
        };
        let Some(close) = tag_close(content, rest_start) else {
            return Err((start, format!("{{% {} has no closing %}}", keyword.as_str())));
        };
        let end = close + TAG_CLOSE.len();
        // An include puts text where it stands, so its line stays a line.
        let (text_end, next) =
            if keyword == Keyword::Include { (start, end) } else { own_line(content, start, end) };
        if text_start < text_end {
            tokens.push(Token::Text(&content[text_start..text_end], text_start));
        }
        let rest = content[rest_start..close].trim();
        if keyword == Keyword::Raw {
            if !rest.is_empty() {
                return Err((start, format!("unexpected {rest:?} after raw")));
            }
            let Some((raw_start, raw_end)) = endraw(content, next) else {
                return Err((start, "raw is not closed: add {% endraw %}".to_owned()));
            };
            let (literal_end, after) = own_line(content, raw_start, raw_end);
            tokens.push(Token::Literal(content.get(next..literal_end).unwrap_or_default()));
            text_start = after;
        } else {
            tokens.push(Token::Tag(keyword, rest, start));
            text_start = next;
        }
        search = text_start;
    }
    if text_start < content.len() {
        tokens.push(Token::Text(&content[text_start..], text_start));
    }
    Ok(tokens)
}

/// The keyword of the statement tag at `start` (where `content` has `{%`), and where the rest
/// of the tag begins; `None` if the `{%` does not begin a statement.
fn keyword_at(content: &str, start: usize) -> Option<(Keyword, usize)> {
    let word = content.get(start + TAG_OPEN.len()..)?.trim_start_matches(is_blank);
    let len = word.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(word.len());
    let keyword = Keyword::ALL.into_iter().find(|k| k.as_str() == &word[..len])?;
    Some((keyword, content.len() - word.len() + len))
}

/// Where the `%}` closing a tag is, skipping string literals so `{% if x == "%}" %}` works.
fn tag_close(content: &str, from: usize) -> Option<usize> {
    // Every byte compared is ASCII, so every index returned lies on a character boundary.
    let bytes = content.as_bytes();
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if bytes.get(i + 1) == Some(&b'}') => return Some(i),
            quote @ (b'"' | b'\'') => match string_end(bytes, i + 1, quote) {
                Some(end) => i = end,
                // An unterminated string: let the expression parser report it.
                None => return content[i..].find(TAG_CLOSE).map(|offset| i + offset),
            },
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote ending a string literal whose body starts at `from`.
fn string_end(bytes: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b if b == quote => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Start and end of the first `{% endraw %}` at or after `from`.
fn endraw(content: &str, from: usize) -> Option<(usize, usize)> {
    let mut search = from;
    while let Some(found) = content.get(search..).and_then(|rest| rest.find(TAG_OPEN)) {
        let start = search + found;
        let after = content[start + TAG_OPEN.len()..]
            .trim_start_matches(is_blank)
            .strip_prefix(Keyword::Endraw.as_str())
            .map(|rest| rest.trim_start_matches(is_blank))
            .and_then(|rest| rest.strip_prefix(TAG_CLOSE));
        if let Some(after) = after {
            return Some((start, content.len() - after.len()));
        }
        search = start + 1;
    }
    None
}

/// The whitespace rule for the tag at `start..end`: where the text before it ends and the text
/// after it starts. A tag alone on its line takes the line's blanks and newline with it.
fn own_line(content: &str, start: usize, end: usize) -> (usize, usize) {
    // Both scans stop at the first non-blank, so lexing stays linear in the content.
    let before = content[..start].trim_end_matches(is_blank);
    let after = content[end..].trim_start_matches(is_blank);
    let newline = if after.is_empty() {
        Some(0)
    } else if after.starts_with("\r\n") {
        Some(2)
    } else if after.starts_with('\n') {
        Some(1)
    } else {
        None
    };
    match newline {
        Some(newline) if before.is_empty() || before.ends_with('\n') => {
            (before.len(), content.len() - after.len() + newline)
        }
        _ => (start, end),
    }
}

/// Turns character offsets into line and column, cheaply for offsets that only grow.
struct Locator<'a> {
    content: &'a str,
    offset: usize,
    pos: Pos,
}

impl<'a> Locator<'a> {
    fn new(content: &'a str) -> Self {
        Self { content, offset: 0, pos: Pos { line: 1, column: 1 } }
    }

    fn at(&mut self, offset: usize) -> Pos {
        if offset < self.offset {
            *self = Self::new(self.content);
        }
        for c in self.content.get(self.offset..offset).unwrap_or_default().chars() {
            if c == '\n' {
                self.pos = Pos { line: self.pos.line.saturating_add(1), column: 1 };
            } else {
                self.pos.column = self.pos.column.saturating_add(1);
            }
        }
        self.offset = offset;
        self.pos
    }
}

// ---------------------------------------------------------------------------------------------
// Expressions

/// A token of an expression, as far as the checks here need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lexeme<'a> {
    Name(&'a str),
    Literal,
    Symbol(char),
}

/// The tokens of an expression and their offsets; stops a little past the most allowed.
fn lexemes(source: &str) -> Vec<(usize, Lexeme<'_>)> {
    let mut out = Vec::new();
    let mut chars = source.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if out.len() > MAX_EXPRESSION_TOKENS {
            break;
        }
        if c.is_whitespace() {
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            let mut end = start + 1;
            while let Some(&(i, c)) = chars.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                end = i + 1;
                chars.next();
            }
            let word = &source[start..end];
            out.push((start, if c.is_ascii_digit() { Lexeme::Literal } else { Lexeme::Name(word) }));
        } else if c == '"' || c == '\'' {
            let mut escaped = false;
            for (_, d) in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == c {
                    break;
                }
            }
            out.push((start, Lexeme::Literal));
        } else {
            out.push((start, Lexeme::Symbol(c)));
        }
    }
    out
}

/// The guards minijinja does not have (see the module documentation).
fn check_expression(lexemes: &[(usize, Lexeme<'_>)]) -> Result<(), String> {
    if lexemes.len() > MAX_EXPRESSION_TOKENS {
        return Err(format!("the expression is too long (more than {MAX_EXPRESSION_TOKENS} tokens)"));
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < lexemes.len() {
        match lexemes[i].1 {
            Lexeme::Symbol('(' | '[' | '{') => {
                depth += 1;
                if depth > MAX_EXPRESSION_NESTING {
                    return Err(format!(
                        "the expression nests brackets more than {MAX_EXPRESSION_NESTING} deep"
                    ));
                }
            }
            Lexeme::Symbol(')' | ']' | '}') => depth = depth.saturating_sub(1),
            Lexeme::Symbol('*') => {
                // `**` (power) is two adjacent stars; anything else has a `*` of its own.
                let mut run = 1;
                while lexemes
                    .get(i + run)
                    .is_some_and(|&(at, l)| l == Lexeme::Symbol('*') && at == lexemes[i].0 + run)
                {
                    run += 1;
                }
                if run != 2 {
                    return Err("`*` is not allowed in expressions: repeating a list or string can build \
                                a huge value from a short template"
                        .to_owned());
                }
                i += run;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What an expression is for, which decides how a bare name in it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Condition,
    Sequence,
}

fn describe(error: &minijinja::Error) -> String {
    match (error.kind(), error.detail()) {
        (ErrorKind::OutOfFuel, _) => {
            "the expression needs more work or memory than a render allows (out of fuel)".to_owned()
        }
        (kind, Some(detail)) => format!("{kind}: {detail}"),
        (kind, None) => kind.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// A block whose end tag has not been read yet.
enum Open {
    If {
        at: Pos,
        done: Vec<(usize, Vec<Node>)>,
        /// The condition of the branch being read; `None` in the `else` part.
        cond: Option<usize>,
        nodes: Vec<Node>,
    },
    For {
        at: Pos,
        var: Arc<str>,
        sequence: usize,
        /// The finished body once the `else` part is being read.
        body: Option<Vec<Node>>,
        nodes: Vec<Node>,
    },
}

impl Open {
    fn at(&self) -> Pos {
        match self {
            Open::If { at, .. } | Open::For { at, .. } => *at,
        }
    }

    fn keyword(&self) -> Keyword {
        match self {
            Open::If { .. } => Keyword::If,
            Open::For { .. } => Keyword::For,
        }
    }

    fn closer(&self) -> Keyword {
        match self {
            Open::If { .. } => Keyword::Endif,
            Open::For { .. } => Keyword::Endfor,
        }
    }
}

struct Parser<'a> {
    content: &'a str,
    locator: Locator<'a>,
    root: Vec<Node>,
    stack: Vec<Open>,
    exprs: Vec<Expr>,
    variables: Vec<VariableUse>,
    variable_index: HashMap<String, usize>,
    includes: Vec<(String, Pos)>,
    appearances: Vec<Appearance>,
}

impl<'a> Parser<'a> {
    fn new(content: &'a str) -> Self {
        Self {
            content,
            locator: Locator::new(content),
            root: Vec::new(),
            stack: Vec::new(),
            exprs: Vec::new(),
            variables: Vec::new(),
            variable_index: HashMap::new(),
            includes: Vec::new(),
            appearances: Vec::new(),
        }
    }

    fn parse(mut self) -> Result<LogicTemplate, TemplateError> {
        let tokens = lex(self.content).map_err(|(offset, message)| self.locator.at(offset).error(message))?;
        for token in tokens {
            match token {
                Token::Text(text, offset) => self.text(text, offset),
                Token::Literal(text) => self.push_text(text),
                Token::Tag(keyword, rest, offset) => {
                    let at = self.locator.at(offset);
                    self.tag(keyword, rest, at)?;
                }
            }
        }
        if let Some(open) = self.stack.last() {
            let (keyword, closer) = (open.keyword().as_str(), open.closer().as_str());
            return Err(open.at().error(format!("{keyword} is not closed: add {{% {closer} %}}")));
        }
        Ok(LogicTemplate {
            nodes: self.root,
            exprs: self.exprs,
            variables: self.variables,
            includes: self.includes,
            appearances: self.appearances,
        })
    }

    fn nodes(&mut self) -> &mut Vec<Node> {
        match self.stack.last_mut() {
            Some(Open::If { nodes, .. } | Open::For { nodes, .. }) => nodes,
            None => &mut self.root,
        }
    }

    fn push_text(&mut self, text: &str) {
        let nodes = self.nodes();
        if let Some(Node::Text(last)) = nodes.last_mut() {
            last.push_str(text);
        } else if !text.is_empty() {
            nodes.push(Node::Text(text.to_owned()));
        }
    }

    /// Text in the basic syntax, read by the basic scanner itself.
    fn text(&mut self, text: &str, offset: usize) {
        scan(text, |piece| match piece {
            Piece::Text(text) => self.push_text(text),
            Piece::Variable(name) => {
                // `name` is a slice of `text`; its placeholder's `{{` is the last one before it.
                let name_offset = (name.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
                let open = text.get(..name_offset).and_then(|before| before.rfind("{{")).unwrap_or(0);
                let at = self.locator.at(offset + open);
                let target = self.target(name);
                if matches!(target, Target::Value) {
                    self.note(name, Usage::Print);
                }
                self.nodes().push(Node::Print { name: name.to_owned(), target, at });
            }
        });
    }

    /// The loop variables in scope, outermost first: one per `for` whose body is being read.
    fn loop_vars(&self) -> Vec<&str> {
        self.stack
            .iter()
            .filter_map(|open| match open {
                Open::For { var, body: None, .. } => Some(&**var),
                _ => None,
            })
            .collect()
    }

    fn target(&self, name: &str) -> Target {
        let vars = self.loop_vars();
        let (head, path) = match name.split_once('.') {
            Some((head, tail)) => (head, tail.split('.').map(str::to_owned).collect()),
            None => (name, Vec::new()),
        };
        if let Some(frame) = vars.iter().rposition(|var| *var == head) {
            Target::Item { frame, path }
        } else if head == "loop" && !vars.is_empty() {
            Target::Loop { frame: vars.len() - 1, path }
        } else {
            Target::Value
        }
    }

    fn note(&mut self, name: &str, usage: Usage) {
        if let Some(&i) = self.variable_index.get(name) {
            self.variables[i].usages.insert(usage);
        } else {
            self.variable_index.insert(name.to_owned(), self.variables.len());
            self.appearances.push(Appearance::Variable(self.variables.len()));
            self.variables.push(VariableUse { name: name.to_owned(), usages: BTreeSet::from([usage]) });
        }
    }

    fn tag(&mut self, keyword: Keyword, rest: &str, at: Pos) -> Result<(), TemplateError> {
        let nothing_after = |rest: &str| {
            if rest.is_empty() {
                Ok(())
            } else {
                let hint = if keyword == Keyword::Else && rest.starts_with("if") { " (elif?)" } else { "" };
                Err(at.error(format!("unexpected {rest:?} after {}{hint}", keyword.as_str())))
            }
        };
        match keyword {
            Keyword::If => {
                self.check_nesting(at)?;
                let cond = self.expression(rest, at, Role::Condition)?;
                self.stack.push(Open::If { at, done: Vec::new(), cond: Some(cond), nodes: Vec::new() });
            }
            Keyword::Elif => {
                match self.stack.last() {
                    Some(Open::If { cond: Some(_), .. }) => {}
                    Some(Open::If { cond: None, .. }) => return Err(at.error("elif after else")),
                    _ => return Err(self.mismatch(keyword, at, Keyword::If)),
                }
                let next = self.expression(rest, at, Role::Condition)?;
                if let Some(Open::If { done, cond, nodes, .. }) = self.stack.last_mut()
                    && let Some(previous) = cond.replace(next)
                {
                    done.push((previous, std::mem::take(nodes)));
                }
            }
            Keyword::Else => {
                nothing_after(rest)?;
                match self.stack.last_mut() {
                    Some(Open::If { done, cond, nodes, .. }) => match cond.take() {
                        Some(previous) => done.push((previous, std::mem::take(nodes))),
                        None => return Err(at.error("this if already has an else")),
                    },
                    Some(Open::For { body, nodes, .. }) => match body {
                        None => *body = Some(std::mem::take(nodes)),
                        Some(_) => return Err(at.error("this for already has an else")),
                    },
                    None => return Err(at.error("else without an if or for")),
                }
            }
            Keyword::Endif => {
                nothing_after(rest)?;
                let Some(Open::If { mut done, cond, nodes, .. }) =
                    self.pop_matching(keyword, at, Keyword::If)?
                else {
                    return Err(self.mismatch(keyword, at, Keyword::If));
                };
                let otherwise = match cond {
                    Some(cond) => {
                        done.push((cond, nodes));
                        Vec::new()
                    }
                    None => nodes,
                };
                self.nodes().push(Node::If { branches: done, otherwise });
            }
            Keyword::For => {
                self.check_nesting(at)?;
                let Some((var, list)) = for_parts(rest) else {
                    return Err(at.error("expected {% for NAME in LIST %}"));
                };
                if var == "loop" {
                    return Err(at.error("`loop` is reserved for the loop's own state; choose another name"));
                }
                let sequence = self.expression(list, at, Role::Sequence)?;
                self.stack.push(Open::For {
                    at,
                    var: Arc::from(var),
                    sequence,
                    body: None,
                    nodes: Vec::new(),
                });
            }
            Keyword::Endfor => {
                nothing_after(rest)?;
                let Some(Open::For { at, var, sequence, body, nodes }) =
                    self.pop_matching(keyword, at, Keyword::For)?
                else {
                    return Err(self.mismatch(keyword, at, Keyword::For));
                };
                let (body, otherwise) = match body {
                    Some(body) => (body, nodes),
                    None => (nodes, Vec::new()),
                };
                self.nodes().push(Node::For { var, sequence, body, otherwise, at });
            }
            Keyword::Include => {
                let Some(reference) = include_reference(rest) else {
                    return Err(at.error("expected {% include \"NAME\" %} with the name in quotes"));
                };
                if !self.includes.iter().any(|(r, _)| r == reference) {
                    self.appearances.push(Appearance::Include(self.includes.len()));
                    self.includes.push((reference.to_owned(), at));
                }
                self.nodes().push(Node::Include { reference: reference.to_owned(), at });
            }
            // Raw blocks are consumed whole by the lexer.
            Keyword::Raw => {}
            Keyword::Endraw => return Err(at.error("endraw without a raw")),
        }
        Ok(())
    }

    fn check_nesting(&self, at: Pos) -> Result<(), TemplateError> {
        if self.stack.len() >= MAX_BLOCK_NESTING {
            Err(at.error(format!("blocks are nested more than {MAX_BLOCK_NESTING} deep")))
        } else {
            Ok(())
        }
    }

    /// Pops the innermost block if it is a `wanted` one.
    fn pop_matching(
        &mut self,
        found: Keyword,
        at: Pos,
        wanted: Keyword,
    ) -> Result<Option<Open>, TemplateError> {
        match self.stack.last() {
            Some(open) if open.keyword() == wanted => Ok(self.stack.pop()),
            _ => Err(self.mismatch(found, at, wanted)),
        }
    }

    /// The error for an `elif`/`else`/end tag that does not fit the innermost block: that
    /// block is unclosed if a `wanted` block is open further out, else the tag is stray.
    fn mismatch(&self, found: Keyword, at: Pos, wanted: Keyword) -> TemplateError {
        match self.stack.last() {
            Some(open) if self.stack.iter().any(|o| o.keyword() == wanted) => open.at().error(format!(
                "{} is not closed: add {{% {} %}} before the {} at line {}, column {}",
                open.keyword().as_str(),
                open.closer().as_str(),
                found.as_str(),
                at.line,
                at.column
            )),
            _ => at.error(format!("{} without a matching {}", found.as_str(), wanted.as_str())),
        }
    }

    /// Checks and compiles an expression, and notes the top-level variables it uses.
    fn expression(&mut self, source: &str, at: Pos, role: Role) -> Result<usize, TemplateError> {
        let lexemes = lexemes(source);
        check_expression(&lexemes).map_err(|message| at.error(message))?;
        let compiled = SANDBOX
            .compile_expression_owned(source.to_owned())
            .map_err(|e| at.error(format!("invalid expression: {}", describe(&e))))?;

        let vars = self.loop_vars();
        let local = |name: &str| vars.contains(&name) || (name == "loop" && !vars.is_empty());
        let global = |name: &str| SANDBOX.globals().any(|(global, _)| global == name);
        let names: HashSet<String> =
            compiled.undeclared_variables(false).into_iter().filter(|n| !local(n) && !global(n)).collect();
        // Order by first mention; a name after `.` is an attribute, not a variable.
        let mut ordered: Vec<(usize, &str)> = names
            .iter()
            .map(|name| {
                let first = lexemes.iter().enumerate().find(|(i, (_, l))| {
                    *l == Lexeme::Name(name) && (*i == 0 || lexemes[i - 1].1 != Lexeme::Symbol('.'))
                });
                (first.map_or(usize::MAX, |(_, (offset, _))| *offset), name.as_str())
            })
            .collect();
        ordered.sort();
        let bare = match (role, lexemes.as_slice()) {
            (
                Role::Condition,
                [(_, Lexeme::Name(name))] | [(_, Lexeme::Name("not")), (_, Lexeme::Name(name))],
            ) => Some((*name, Usage::Flag)),
            (Role::Sequence, [(_, Lexeme::Name(name)), rest @ ..])
                if rest.first().is_none_or(|(_, l)| *l == Lexeme::Symbol('|')) =>
            {
                Some((*name, Usage::Iterate))
            }
            _ => None,
        };
        let notes: Vec<(String, Usage)> = ordered
            .into_iter()
            .map(|(_, name)| {
                let usage =
                    bare.filter(|(bare, _)| *bare == name).map_or(Usage::Expression, |(_, usage)| usage);
                (name.to_owned(), usage)
            })
            .collect();
        for (name, usage) in notes {
            self.note(&name, usage);
        }
        self.exprs.push(Expr { source: source.to_owned(), compiled, at });
        Ok(self.exprs.len() - 1)
    }
}

/// `NAME in LIST` of a `for` tag.
fn for_parts(rest: &str) -> Option<(&str, &str)> {
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let (name, after) = rest.split_at(len);
    let list = after.strip_prefix(char::is_whitespace)?.trim_start().strip_prefix("in")?;
    let list = list.strip_prefix(char::is_whitespace)?.trim();
    (is_identifier(name) && !list.is_empty()).then_some((name, list))
}

/// `"NAME"` or `'NAME'` of an `include` tag.
fn include_reference(rest: &str) -> Option<&str> {
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = rest[1..].strip_suffix(quote)?;
    (!inner.is_empty() && !inner.contains(quote)).then_some(inner)
}

// ---------------------------------------------------------------------------------------------
// Rendering: resolving includes

/// What a template and everything it includes need.
struct Summary {
    /// How deep its includes go (0: none).
    height: u32,
    /// Its variables and its includes', in order of first appearance, and whether each needs a
    /// value.
    variables: Vec<(String, bool)>,
}

enum Prepared<'a, 'e> {
    Basic(&'a str),
    Logic { template: LogicTemplate, custom: Option<Vec<Expression<'e, 'static>>> },
}

/// The includes of one render, resolved and parsed once.
struct Plan<'a, 'e> {
    env: &'e Environment<'static>,
    /// Whether expressions must be compiled again against `env` (a fuel other than the default).
    custom: bool,
    includes: &'a BTreeMap<String, Included>,
    max_depth: u32,
    summaries: BTreeMap<&'a str, Summary>,
    prepared: BTreeMap<&'a str, Prepared<'a, 'e>>,
}

impl<'a, 'e> Plan<'a, 'e> {
    /// Resolves the includes of `template` (reached through `chain`) depth first, each
    /// reference once.
    fn visit(
        &mut self,
        template: &LogicTemplate,
        chain: &mut Vec<&'a str>,
    ) -> Result<Summary, TemplateError> {
        let mut height = 0;
        for (reference, at) in &template.includes {
            let Some((key, included)) = self.includes.get_key_value(reference) else {
                return Err(at.error(format!("no template named {reference:?} to include")));
            };
            let key = key.as_str();
            if let Some(first) = chain.iter().position(|r| *r == key) {
                let cycle: Vec<String> =
                    chain[first..].iter().chain([&key]).map(|r| format!("{r:?}")).collect();
                return Err(at.error(format!("including {key:?} here makes a cycle: {}", cycle.join(" → "))));
            }
            let depth = u32::try_from(chain.len()).unwrap_or(u32::MAX).saturating_add(1);
            let max_depth = self.max_depth;
            let too_deep = || at.error(format!("includes are nested more than {max_depth} deep"));
            if !self.summaries.contains_key(key) {
                if depth > max_depth {
                    return Err(too_deep());
                }
                chain.push(key);
                let summary = self.summarize(key, included, chain);
                chain.pop();
                let summary = summary.map_err(|inner| at.error(format!("in include {key:?}: {inner}")))?;
                self.summaries.insert(key, summary);
            }
            let below = self.summaries.get(key).map_or(0, |s| s.height);
            if depth.saturating_add(below) > max_depth {
                return Err(too_deep());
            }
            height = height.max(below + 1);
        }
        Ok(Summary { height, variables: self.closure(template) })
    }

    fn summarize(
        &mut self,
        key: &'a str,
        included: &'a Included,
        chain: &mut Vec<&'a str>,
    ) -> Result<Summary, TemplateError> {
        match included.format {
            TemplateFormat::Basic => {
                self.prepared.insert(key, Prepared::Basic(&included.content));
                let variables = super::variables(&included.content).into_iter().map(|n| (n, true)).collect();
                Ok(Summary { height: 0, variables })
            }
            TemplateFormat::Logic => {
                let template = parse(&included.content)?;
                let summary = self.visit(&template, chain)?;
                let custom = if self.custom { Some(recompile(self.env, &template)?) } else { None };
                self.prepared.insert(key, Prepared::Logic { template, custom });
                Ok(summary)
            }
        }
    }

    /// The variables of `template` and its (already summarized) includes.
    fn closure(&self, template: &LogicTemplate) -> Vec<(String, bool)> {
        let mut merged: Vec<(String, bool)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut add = |name: &str, required: bool| match index.get(name) {
            Some(&i) => merged[i].1 |= required,
            None => {
                index.insert(name.to_owned(), merged.len());
                merged.push((name.to_owned(), required));
            }
        };
        for appearance in &template.appearances {
            match *appearance {
                Appearance::Variable(i) => {
                    let variable = &template.variables[i];
                    add(&variable.name, variable.required());
                }
                Appearance::Include(i) => {
                    if let Some(summary) = self.summaries.get(template.includes[i].0.as_str()) {
                        summary.variables.iter().for_each(|(name, required)| add(name, *required));
                    }
                }
            }
        }
        merged
    }
}

fn recompile<'e>(
    env: &'e Environment<'static>,
    template: &LogicTemplate,
) -> Result<Vec<Expression<'e, 'static>>, TemplateError> {
    template
        .exprs
        .iter()
        .map(|expr| {
            env.compile_expression_owned(expr.source.clone())
                .map_err(|e| expr.at.error(format!("invalid expression: {}", describe(&e))))
        })
        .collect()
}

/// The basic rules: every variable needing a value has one, and when strict, every value
/// belongs to a variable.
fn check_values(
    values: &BTreeMap<String, serde_json::Value>,
    variables: &[(String, bool)],
    strict: bool,
) -> Result<(), RenderError> {
    let missing: Vec<String> = variables
        .iter()
        .filter(|(name, required)| *required && !values.contains_key(name))
        .map(|(name, _)| name.clone())
        .collect();
    let unexpected: Vec<String> = if strict {
        let names: HashSet<&str> = variables.iter().map(|(name, _)| name.as_str()).collect();
        values.keys().filter(|key| !names.contains(key.as_str())).cloned().collect()
    } else {
        Vec::new()
    };
    if missing.is_empty() && unexpected.is_empty() {
        Ok(())
    } else {
        Err(RenderError { missing, unexpected })
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering: the tree

/// A template's nodes with the expressions to run them with.
#[derive(Clone, Copy)]
struct Code<'t, 'e> {
    template: &'t LogicTemplate,
    /// Expressions compiled for a non-default fuel, by index.
    custom: Option<&'t [Expression<'e, 'static>]>,
}

impl Code<'_, '_> {
    fn eval(&self, id: usize, context: Value) -> Result<Value, TemplateError> {
        let expr = &self.template.exprs[id];
        let result = match self.custom {
            Some(custom) => custom[id].eval(context),
            None => expr.compiled.eval(context),
        };
        result.map_err(|e| expr.at.error(describe(&e)))
    }
}

/// One iteration of an enclosing loop.
struct Frame {
    var: Arc<str>,
    item: Value,
    index0: usize,
    length: usize,
}

impl Frame {
    fn loop_value(&self) -> Value {
        Value::from_object(LoopState { index0: self.index0, length: self.length })
    }
}

/// `loop` inside a `for`.
#[derive(Debug)]
struct LoopState {
    index0: usize,
    length: usize,
}

impl Object for LoopState {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let left = self.length.saturating_sub(self.index0);
        Some(match key.as_str()? {
            "index" => Value::from(self.index0 + 1),
            "index0" => Value::from(self.index0),
            "revindex" => Value::from(left),
            "revindex0" => Value::from(left.saturating_sub(1)),
            "first" => Value::from(self.index0 == 0),
            "last" => Value::from(left == 1),
            "length" => Value::from(self.length),
            _ => return None,
        })
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["index", "index0", "revindex", "revindex0", "first", "last", "length"])
    }
}

/// The names an expression inside loops sees: loop variables (innermost first), `loop`, then
/// the top-level values.
#[derive(Debug)]
struct Scope {
    globals: Value,
    locals: Vec<(Arc<str>, Value)>,
    current_loop: Value,
}

impl Object for Scope {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        if let Some((_, value)) = self.locals.iter().rev().find(|(var, _)| &**var == name) {
            return Some(value.clone());
        }
        if name == "loop" {
            return Some(self.current_loop.clone());
        }
        self.globals.get_attr(name).ok().filter(|value| !value.is_undefined())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::NonEnumerable
    }
}

/// The rendering so far, never longer than `max`.
struct Output {
    bytes: Vec<u8>,
    max: usize,
    overflowed: bool,
}

impl Output {
    fn push(&mut self, text: &str) -> Result<(), LogicRenderError> {
        if self.bytes.len().saturating_add(text.len()) > self.max {
            return Err(LogicRenderError::TooLarge { max_output_bytes: self.max });
        }
        self.bytes.extend_from_slice(text.as_bytes());
        Ok(())
    }

    /// Writes `value` as compact JSON.
    fn json(&mut self, value: &impl Serialize, name: &str, at: Pos) -> Result<(), LogicRenderError> {
        match serde_json::to_writer(&mut *self, value) {
            Ok(()) => Ok(()),
            Err(_) if self.overflowed => Err(LogicRenderError::TooLarge { max_output_bytes: self.max }),
            Err(e) => Err(at.error(format!("cannot print {name}: {e}")).into()),
        }
    }

    fn finish(self) -> String {
        // Only whole `str`s and serde_json's UTF-8 output were written.
        String::from_utf8(self.bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl io::Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len().saturating_add(buf.len()) > self.max {
            self.overflowed = true;
            return Err(io::Error::other("output too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Renderer<'r, 'a, 'e> {
    plan: &'r Plan<'a, 'e>,
    values: &'r BTreeMap<String, serde_json::Value>,
    /// The top-level values expressions can name, converted once per render.
    globals: Value,
    out: Output,
    /// Loop iterations and includes left.
    budget: u64,
    max_iterations: u64,
}

impl Renderer<'_, '_, '_> {
    fn nodes(
        &mut self,
        code: Code<'_, '_>,
        nodes: &[Node],
        frames: &mut Vec<Frame>,
    ) -> Result<(), LogicRenderError> {
        for node in nodes {
            match node {
                Node::Text(text) => self.out.push(text)?,
                Node::Print { name, target, at } => self.print(name, target, *at, frames)?,
                Node::If { branches, otherwise } => {
                    let mut chosen = otherwise;
                    for (cond, body) in branches {
                        if code.eval(*cond, self.context(frames))?.is_true() {
                            chosen = body;
                            break;
                        }
                    }
                    self.nodes(code, chosen, frames)?;
                }
                Node::For { var, sequence, body, otherwise, at } => {
                    let items = self.sequence(code, *sequence, *at, frames)?;
                    if items.is_empty() {
                        self.nodes(code, otherwise, frames)?;
                    }
                    let length = items.len();
                    for (index0, item) in items.into_iter().enumerate() {
                        frames.push(Frame { var: var.clone(), item, index0, length });
                        let result = self.nodes(code, body, frames);
                        frames.pop();
                        result?;
                    }
                }
                Node::Include { reference, at } => self.include(reference, *at)?,
            }
        }
        Ok(())
    }

    fn context(&self, frames: &[Frame]) -> Value {
        match frames.last() {
            None => self.globals.clone(),
            Some(innermost) => Value::from_object(Scope {
                globals: self.globals.clone(),
                locals: frames.iter().map(|f| (f.var.clone(), f.item.clone())).collect(),
                current_loop: innermost.loop_value(),
            }),
        }
    }

    fn spend(&mut self, count: u64, at: Pos) -> Result<(), LogicRenderError> {
        if count > self.budget {
            return Err(at
                .error(format!(
                    "loops and includes would run more than {} times in this render",
                    self.max_iterations
                ))
                .into());
        }
        self.budget -= count;
        Ok(())
    }

    /// The items a `for` loops over, within the iteration budget.
    fn sequence(
        &mut self,
        code: Code<'_, '_>,
        id: usize,
        at: Pos,
        frames: &[Frame],
    ) -> Result<Vec<Value>, LogicRenderError> {
        let value = code.eval(id, self.context(frames))?;
        match value.kind() {
            ValueKind::Seq | ValueKind::Iterable => {}
            ValueKind::Map => return Err(at.error("cannot loop over a mapping, only over a list").into()),
            kind => return Err(at.error(format!("cannot loop over {kind}, only over a list")).into()),
        }
        if let Some(len) = value.len() {
            self.spend(u64::try_from(len).unwrap_or(u64::MAX), at)?;
            return Ok(value.try_iter().map_err(|e| at.error(describe(&e)))?.collect());
        }
        let limit = usize::try_from(self.budget).unwrap_or(usize::MAX).saturating_add(1);
        let items: Vec<Value> = value.try_iter().map_err(|e| at.error(describe(&e)))?.take(limit).collect();
        self.spend(u64::try_from(items.len()).unwrap_or(u64::MAX), at)?;
        Ok(items)
    }

    fn print(
        &mut self,
        name: &str,
        target: &Target,
        at: Pos,
        frames: &[Frame],
    ) -> Result<(), LogicRenderError> {
        let (start, path) = match target {
            Target::Value => return self.print_top(name, at),
            Target::Item { frame, path } => (frames[*frame].item.clone(), path),
            Target::Loop { frame, path } => (frames[*frame].loop_value(), path),
        };
        let mut value = start;
        for (i, segment) in path.iter().enumerate() {
            let next = match segment.parse::<usize>() {
                Ok(index) if value.kind() == ValueKind::Seq => value.get_item(&Value::from(index)),
                _ => value.get_attr(segment),
            };
            match next {
                Ok(next) if !next.is_undefined() => value = next,
                _ => {
                    let parent: Vec<&str> = name.split('.').take(i + 1).collect();
                    let message = format!("{name}: {} has no field {segment:?}", parent.join("."));
                    return Err(at.error(message).into());
                }
            }
        }
        match value.kind() {
            ValueKind::Undefined | ValueKind::None => Ok(()),
            ValueKind::String => self.out.push(value.as_str().unwrap_or_default()),
            ValueKind::Bool => self.out.push(if value.is_true() { "true" } else { "false" }),
            _ => self.out.json(&value, name, at),
        }
    }

    fn print_top(&mut self, name: &str, at: Pos) -> Result<(), LogicRenderError> {
        let Some(value) = self.values.get(name) else {
            // Checked before rendering; kept as the same error should that ever change.
            return Err(LogicRenderError::Variables(RenderError {
                missing: vec![name.to_owned()],
                unexpected: Vec::new(),
            }));
        };
        match value {
            serde_json::Value::Null => Ok(()),
            serde_json::Value::String(text) => self.out.push(text),
            serde_json::Value::Bool(flag) => self.out.push(if *flag { "true" } else { "false" }),
            _ => self.out.json(value, name, at),
        }
    }

    fn include(&mut self, reference: &str, at: Pos) -> Result<(), LogicRenderError> {
        self.spend(1, at)?;
        let plan = self.plan;
        let result = match plan.prepared.get(reference) {
            Some(Prepared::Basic(content)) => self.basic(content, at),
            Some(Prepared::Logic { template, custom }) => {
                let code = Code { template, custom: custom.as_deref() };
                self.nodes(code, &template.nodes, &mut Vec::new())
            }
            None => Err(at.error(format!("no template named {reference:?} to include")).into()),
        };
        result.map_err(|e| match e {
            LogicRenderError::Template(inner) => {
                at.error(format!("in include {reference:?}: {inner}")).into()
            }
            other => other,
        })
    }

    fn basic(&mut self, content: &str, at: Pos) -> Result<(), LogicRenderError> {
        let mut result = Ok(());
        scan(content, |piece| {
            if result.is_ok() {
                result = match piece {
                    Piece::Text(text) => self.out.push(text),
                    Piece::Variable(name) => self.print_top(name, at),
                };
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn values(json: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
        match json {
            serde_json::Value::Object(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }

    fn includes(items: &[(&str, TemplateFormat, &str)]) -> BTreeMap<String, Included> {
        items
            .iter()
            .map(|(name, format, content)| {
                ((*name).to_owned(), Included { format: *format, content: (*content).to_owned() })
            })
            .collect()
    }

    fn render_all(
        content: &str,
        vals: serde_json::Value,
        incs: &[(&str, TemplateFormat, &str)],
        options: &RenderOptions,
    ) -> Result<String, LogicRenderError> {
        parse(content)?.render(&values(vals), &includes(incs), options)
    }

    fn render(content: &str, vals: serde_json::Value) -> Result<String, LogicRenderError> {
        render_all(content, vals, &[], &RenderOptions::default())
    }

    fn ok(content: &str, vals: serde_json::Value) -> String {
        render(content, vals).unwrap_or_else(|e| panic!("{content:?}: {e}"))
    }

    /// The template error of a render (or of its parse), as line, column and message.
    fn failure(result: Result<String, LogicRenderError>) -> (u32, u32, String) {
        match result {
            Err(LogicRenderError::Template(e)) => (e.line, e.column, e.message),
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    fn parse_error(content: &str) -> (u32, u32, String) {
        let e = parse(content).expect_err(content);
        (e.line, e.column, e.message)
    }

    fn names(uses: &[VariableUse]) -> Vec<&str> {
        uses.iter().map(|u| u.name.as_str()).collect()
    }

    fn uses(content: &str) -> Vec<(String, Vec<Usage>)> {
        variables_of(content)
            .unwrap_or_else(|e| panic!("{content:?}: {e}"))
            .into_iter()
            .map(|u| (u.name, u.usages.into_iter().collect()))
            .collect()
    }

    #[test]
    fn prints_values_as_json_text_and_strings_verbatim() {
        let vals = json!({
            "s": "a \"quoted\" {{x}}", "i": 42, "f": 1.5, "t": true, "n": null,
            // Keys in order: serde_json keeps them as written where a dependency turns on
            // `preserve_order` (the server's build does), and sorts them otherwise.
            "list": [1, "two", null], "obj": {"a": [true], "b": 1}, "team.lead-1": "Zoë"
        });
        assert_eq!(
            ok("{{s}}|{{ i }}|{{f}}|{{t}}|{{n}}|{{list}}|{{obj}}|{{ team.lead-1 }}", vals),
            "a \"quoted\" {{x}}|42|1.5|true||[1,\"two\",null]|{\"a\":[true],\"b\":1}|Zoë"
        );
    }

    #[test]
    fn reads_the_basic_syntax_as_basic_does() {
        let vals = json!({"a": "1"});
        assert_eq!(ok("{{{{a}} {{{a}}} {{ a b }} {{}}", vals.clone()), "{{a}} {1} {{ a b }} {{}}");
        assert_eq!(ok("{% raw %}{{{{a}}{% endraw %}{{{{a}}", vals), "{{{{a}}{{a}}");
    }

    #[test]
    fn conditions_choose_one_branch() {
        let t = "{% if n > 10 %}big{% elif n > 5 %}medium{% elif n %}small{% else %}none{% endif %}";
        assert_eq!(ok(t, json!({"n": 11})), "big");
        assert_eq!(ok(t, json!({"n": 6})), "medium");
        assert_eq!(ok(t, json!({"n": 1})), "small");
        assert_eq!(ok(t, json!({"n": 0})), "none");
        assert_eq!(ok(t, json!({})), "none", "an undefined name is falsy");
        let flags = "{% if premium %}P{% endif %}{% if not premium %}F{% endif %}";
        assert_eq!(ok(flags, json!({})), "F");
        assert_eq!(ok(flags, json!({"premium": true})), "P");
        assert_eq!(ok(flags, json!({"premium": ""})), "F");
        assert_eq!(
            ok(
                "{% if tone == \"formal\" and user.age >= 18 %}yes{% endif %}",
                json!({"tone": "formal", "user": {"age": 20}})
            ),
            "yes"
        );
        assert_eq!(ok("{% if x == \"%}\" %}closed{% endif %}", json!({"x": "%}"})), "closed");
    }

    #[test]
    fn loops_over_lists_of_objects() {
        let t = "{% for p in people %}{{ loop.index }}/{{ loop.length }} {{ p.name }} ({{ p.address.city }}, {{ p.tags.0 }})\
                 {% if loop.first %} first{% endif %}{% if loop.last %} last{% endif %};{% endfor %}";
        let vals = json!({"people": [
            {"name": "Ann", "address": {"city": "Oslo"}, "tags": ["x"]},
            {"name": "Bo", "address": {"city": "Rome"}, "tags": ["y", "z"]},
        ]});
        assert_eq!(ok(t, vals), "1/2 Ann (Oslo, x) first;2/2 Bo (Rome, y) last;");
        assert_eq!(
            ok("{% for i in range(3) %}{{ loop.index0 }}{{ i }}{{ loop.revindex }} {% endfor %}", json!({})),
            "003 112 221 "
        );
        assert_eq!(
            ok("{% for i in items %}{{ i }}{% else %}empty{% endfor %}", json!({"items": []})),
            "empty"
        );
        assert_eq!(
            ok("{% for i in items|sort|reverse %}{{ i }}{% endfor %}", json!({"items": [2, 3, 1]})),
            "321"
        );
        assert_eq!(
            ok("{% for x in xs %}{{ x }}{% endfor %}", json!({"xs": [{"a": 1}, [1], null, false, 2.5]})),
            "{\"a\":1}[1]false2.5"
        );
        assert_eq!(
            ok("{% for x in xs %}{{ loop }}{% endfor %}", json!({"xs": [0]})),
            "{\"index\":1,\"index0\":0,\"revindex\":1,\"revindex0\":0,\"first\":true,\"last\":true,\"length\":1}"
        );
    }

    #[test]
    fn inner_loops_shadow_outer_ones_and_loop_variables_shadow_values() {
        let t = "{% for x in outer %}{% for x in x.inner %}{{ x }}{{ loop.index }}{% endfor %}{{ x.name }}{{ loop.index }} {% endfor %}{{ x }}";
        let vals =
            json!({"x": "top", "outer": [{"name": "a", "inner": ["p", "q"]}, {"name": "b", "inner": []}]});
        assert_eq!(ok(t, vals), "p1q2a1 b2 top");
        let both = "{% for row in rows %}{% for cell in row %}{{ row.0 }}{{ cell }}{% if cell == row|last %};{% endif %}{% endfor %}{% endfor %}";
        assert_eq!(ok(both, json!({"rows": [[1, 2], [3]]})), "1112;33;");
    }

    #[test]
    fn outside_loops_dotted_names_are_flat_variables() {
        assert_eq!(
            ok("{{ item.name }} {{ loop.index }}", json!({"item.name": "flat", "loop.index": "7"})),
            "flat 7"
        );
        assert_eq!(
            names(&variables_of("{{ item.name }}{% for item in xs %}{{ item.name }}{% endfor %}").unwrap()),
            ["item.name", "xs"]
        );
    }

    #[test]
    fn a_path_that_does_not_exist_is_an_error_at_its_placeholder() {
        let t = "{% for p in people %}\n  {{ p.name }} {{ p.adress.city }}\n{% endfor %}";
        let vals = json!({"people": [{"name": "Ann", "address": {"city": "Oslo"}}]});
        assert_eq!(failure(render(t, vals)), (2, 16, "p.adress.city: p has no field \"adress\"".into()));
        let vals = json!({"people": [{"address": null}]});
        let (.., message) = failure(render("{% for p in people %}{{ p.address.city }}{% endfor %}", vals));
        assert_eq!(message, "p.address.city: p.address has no field \"city\"");
        assert!(render("{% for p in people %}{{ p.5 }}{% endfor %}", json!({"people": [[1]]})).is_err());
        assert!(render("{% for p in people %}{{ loop.nope }}{% endfor %}", json!({"people": [1]})).is_err());
    }

    #[test]
    fn only_sequences_can_be_looped_over() {
        for (vals, kind) in [
            (json!({"xs": "abc"}), "string"),
            (json!({"xs": 3}), "number"),
            (json!({"xs": {"a": 1}}), "mapping"),
            (json!({"xs": null}), "none"),
        ] {
            let (line, column, message) = failure(render("ok\n {% for x in xs %}{% endfor %}", vals));
            assert_eq!((line, column), (2, 2));
            assert!(message.contains(kind) && message.contains("only over a list"), "{message}");
        }
        let (.., message) = failure(render("{% for x in xs or none %}{% endfor %}", json!({})));
        assert!(message.contains("cannot loop over"), "{message}");
    }

    #[test]
    fn a_line_holding_only_a_tag_disappears() {
        let t = "Hello\n{% if a %}\n  A\n  {% for x in xs %}\n  - {{ x }}\n  {% endfor %}\n{% else %}\n  none\n{% endif %}\nBye";
        assert_eq!(ok(t, json!({"a": true, "xs": [1, 2]})), "Hello\n  A\n  - 1\n  - 2\nBye");
        assert_eq!(ok(t, json!({"xs": []})), "Hello\n  none\nBye");
        // Windows newlines, a tag on the last line, blanks and tabs around it.
        assert_eq!(ok("a\r\n \t{% if true %} \t\r\nb\r\n{% endif %}", json!({})), "a\r\nb\r\n");
        // Tags sharing a line with text, or with each other, leave the line alone.
        assert_eq!(ok("x {% if true %}y{% endif %} z\n", json!({})), "x y z\n");
        assert_eq!(ok("{% if true %}{% endif %}\nz", json!({})), "\nz");
        assert_eq!(ok("  {% if true %}  \n{% endif %}", json!({})), "");
        assert_eq!(ok("{% if true %}\n\n{% endif %}\n", json!({})), "\n");
    }

    #[test]
    fn raw_blocks_are_literal() {
        let t = "{% raw %}{{ a }} {{{{ {% if %} {% endfor %}{% endraw %}|{% raw %}\n{% include \"x\" %}\n{% endraw %}\n.";
        assert_eq!(ok(t, json!({})), "{{ a }} {{{{ {% if %} {% endfor %}|\n{% include \"x\" %}\n.");
        let own_lines = "a\n  {% raw %}\n{% if %}\n  {% endraw %}\nb";
        assert_eq!(ok(own_lines, json!({})), "a\n{% if %}\nb");
        assert!(variables_of(t).unwrap().is_empty());
        assert_eq!(ok("{%raw%}{%  endraw  %}", json!({})), "");
    }

    #[test]
    fn other_percent_braces_are_text() {
        for literal in
            ["{% foo %}", "100{%", "{%", "{% iffy %}", "{%- if x %}", "%}", "{% endif_x %}", "{%{% foo"]
        {
            assert_eq!(render(literal, json!({})), Ok(literal.to_owned()), "{literal:?}");
        }
        assert_eq!(ok("{% foo %}{% if true %}y{% endif %}", json!({})), "{% foo %}y");
    }

    #[test]
    fn parse_errors_say_where() {
        let cases: &[(&str, (u32, u32), &str)] = &[
            ("a\n  {% endif %}", (2, 3), "endif without a matching if"),
            ("{% endfor %}", (1, 1), "endfor without a matching for"),
            ("{% else %}", (1, 1), "else without an if or for"),
            ("{% elif x %}", (1, 1), "elif without a matching if"),
            ("x\n{% for a in b %}\n\n", (2, 1), "for is not closed: add {% endfor %}"),
            ("{% if a %}{% if b %}{% endif %}", (1, 1), "if is not closed: add {% endif %}"),
            (
                "{% if a %}\n{% for x in y %}\n{% endif %}",
                (2, 1),
                "for is not closed: add {% endfor %} before the endif at line 3, column 1",
            ),
            (
                "{% for x in y %}{% if a %}{% endfor %}",
                (1, 17),
                "if is not closed: add {% endif %} before the endfor at line 1, column 27",
            ),
            ("{% if a %}{% else %}{% else %}{% endif %}", (1, 21), "this if already has an else"),
            ("{% if a %}{% else %}{% elif b %}{% endif %}", (1, 21), "elif after else"),
            ("{% for a in b %}{% else %}{% else %}{% endfor %}", (1, 27), "this for already has an else"),
            ("{% if a %}{% else if b %}{% endif %}", (1, 11), "unexpected \"if b\" after else (elif?)"),
            ("{% if a %}{% endif a %}", (1, 11), "unexpected \"a\" after endif"),
            (
                "ok\n\t{% if %}",
                (2, 2),
                "invalid expression: syntax error: unexpected end of input, expected expression",
            ),
            (
                "{% if a b %}{% endif %}",
                (1, 1),
                "invalid expression: syntax error: unexpected input after expression",
            ),
            (
                "{% if a == %}{% endif %}",
                (1, 1),
                "invalid expression: syntax error: unexpected end of input, expected expression",
            ),
            ("{% for x %}{% endfor %}", (1, 1), "expected {% for NAME in LIST %}"),
            ("{% for x, y in z %}{% endfor %}", (1, 1), "expected {% for NAME in LIST %}"),
            ("{% for 1x in z %}{% endfor %}", (1, 1), "expected {% for NAME in LIST %}"),
            ("{% for x in %}{% endfor %}", (1, 1), "expected {% for NAME in LIST %}"),
            (
                "{% for loop in z %}{% endfor %}",
                (1, 1),
                "`loop` is reserved for the loop's own state; choose another name",
            ),
            ("{% include x %}", (1, 1), "expected {% include \"NAME\" %} with the name in quotes"),
            (
                "{% include \"x\" + \"y\" %}",
                (1, 1),
                "expected {% include \"NAME\" %} with the name in quotes",
            ),
            ("{% include '' %}", (1, 1), "expected {% include \"NAME\" %} with the name in quotes"),
            ("é {% if a ", (1, 3), "{% if has no closing %}"),
            ("{% raw %}never closed", (1, 1), "raw is not closed: add {% endraw %}"),
            ("{% raw x %}{% endraw %}", (1, 1), "unexpected \"x\" after raw"),
            ("{% endraw %}", (1, 1), "endraw without a raw"),
        ];
        for (content, (line, column), message) in cases {
            assert_eq!(parse_error(content), (*line, *column, (*message).to_owned()), "{content:?}");
        }
    }

    #[test]
    fn blocks_nest_at_most_sixteen_deep() {
        let nested = |n: usize| format!("{}x{}", "{% if true %}".repeat(n), "{% endif %}".repeat(n));
        assert_eq!(ok(&nested(MAX_BLOCK_NESTING), json!({})), "x");
        let (line, column, message) = parse_error(&nested(MAX_BLOCK_NESTING + 1));
        assert_eq!((line, column, message.as_str()), (1, 16 * 13 + 1, "blocks are nested more than 16 deep"));
    }

    #[test]
    fn variables_come_in_order_with_their_usages() {
        use Usage::*;
        let t = "{{ greeting }} {% if premium %}{% endif %}{% if not vip %}{% endif %}\
                 {% for p in people %}{{ p.name }}{{ loop.index }}{% if p.age > min_age and loop.first %}{% endif %}{% endfor %}\
                 {% for t in tags|sort(attribute=key) %}{% endfor %}{% if tone == 'formal' %}{% endif %}\
                 {% for i in range(count) %}{% endfor %}{% if greeting %}{% endif %}{{ premium }}{% if loop %}{% endif %}";
        assert_eq!(
            uses(t),
            [
                ("greeting".into(), vec![Print, Flag]),
                ("premium".into(), vec![Print, Flag]),
                ("vip".into(), vec![Flag]),
                ("people".into(), vec![Iterate]),
                ("min_age".into(), vec![Expression]),
                ("tags".into(), vec![Iterate]),
                ("key".into(), vec![Expression]),
                ("tone".into(), vec![Expression]),
                ("count".into(), vec![Expression]),
                ("loop".into(), vec![Flag]),
            ]
        );
        let ordered = uses("{% if b.x and a or c.a %}{% endif %}");
        assert_eq!(ordered.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["b", "a", "c"]);
        // In a for's else part the loop variable is out of scope again.
        assert_eq!(uses("{% for x in xs %}{% else %}{{ x }}{% endfor %}")[1], ("x".into(), vec![Print]));
    }

    #[test]
    fn includes_are_listed_once_in_order() {
        let t = parse("{% include 'b' %}{% if x %}{% include \"a\" %}{% endif %}{% include 'b' %}").unwrap();
        assert_eq!(t.includes(), ["b", "a"]);
    }

    #[test]
    fn includes_render_basic_and_logic_templates_with_the_same_values() {
        let incs = [
            ("sig", TemplateFormat::Basic, "-- {{ name }} {{ n }} {% if x %}"),
            (
                "list",
                TemplateFormat::Logic,
                "{% for i in items %}[{{ i }}]{% endfor %}\n{% include \"sig\" %}",
            ),
        ];
        let t = "{% for item in items %}\n{% include 'list' %}\n{% endfor %}";
        let out =
            render_all(t, json!({"name": "Zoë", "n": 1, "items": [1, 2]}), &incs, &RenderOptions::default());
        // The include's line stays a line; the loop's own lines leave none.
        assert_eq!(out.unwrap(), "[1][2]\n-- Zoë 1 {% if x %}\n[1][2]\n-- Zoë 1 {% if x %}\n");
        // The included template does not see the includer's loop variable.
        let incs = [("uses-item", TemplateFormat::Logic, "{{ item }}")];
        let out = render_all(
            "{% for item in xs %}{% include 'uses-item' %}{% endfor %}",
            json!({"xs": [1], "item": "top"}),
            &incs,
            &RenderOptions::default(),
        );
        assert_eq!(out.unwrap(), "top");
    }

    #[test]
    fn include_errors_are_reported_at_the_include_tag() {
        let options = RenderOptions::default();
        let (.., message) = failure(render_all("x\n {% include 'nope' %}", json!({}), &[], &options));
        assert_eq!(message, "no template named \"nope\" to include");

        let bad = [("bad", TemplateFormat::Logic, "ok\n{% if x %}")];
        let (line, column, message) = failure(render_all(
            "\n  {% if false %}{% include 'bad' %}{% endif %}",
            json!({}),
            &bad,
            &options,
        ));
        assert_eq!((line, column), (2, 17), "checked even in a branch not taken");
        assert_eq!(message, "in include \"bad\": line 2, column 1: if is not closed: add {% endif %}");

        let failing = [("f", TemplateFormat::Logic, "\n{% for x in 3 %}{% endfor %}")];
        let (line, column, message) = failure(render_all("{% include 'f' %}", json!({}), &failing, &options));
        assert_eq!((line, column), (1, 1));
        assert_eq!(message, "in include \"f\": line 2, column 1: cannot loop over number, only over a list");
    }

    #[test]
    fn include_cycles_are_errors() {
        let incs = [
            ("a", TemplateFormat::Logic, "{% include 'b' %}"),
            ("b", TemplateFormat::Logic, "{% if false %}{% include 'a' %}{% endif %}"),
        ];
        let (.., message) =
            failure(render_all("{% include 'a' %}", json!({}), &incs, &RenderOptions::default()));
        assert_eq!(
            message,
            "in include \"a\": line 1, column 1: in include \"b\": line 1, column 15: including \"a\" here makes a cycle: \"a\" → \"b\" → \"a\""
        );
        let own = [("me", TemplateFormat::Logic, "{% include 'me' %}")];
        let (.., message) =
            failure(render_all("{% include 'me' %}", json!({}), &own, &RenderOptions::default()));
        assert!(message.ends_with("including \"me\" here makes a cycle: \"me\" → \"me\""), "{message}");
    }

    #[test]
    fn includes_nest_at_most_max_include_depth() {
        // t1 includes t2 … includes t6; the top template includes t1.
        let chain: Vec<(String, String)> = (1..=6)
            .map(|i| {
                (format!("t{i}"), if i < 6 { format!("{i}{{% include 't{}' %}}", i + 1) } else { "6".into() })
            })
            .collect();
        let incs: Vec<(&str, TemplateFormat, &str)> =
            chain.iter().map(|(n, c)| (n.as_str(), TemplateFormat::Logic, c.as_str())).collect();
        let at = |depth: u32| RenderOptions { max_include_depth: depth, ..RenderOptions::default() };
        assert_eq!(render_all("{% include 't2' %}", json!({}), &incs, &at(5)).unwrap(), "23456");
        let (.., message) = failure(render_all("{% include 't1' %}", json!({}), &incs, &at(5)));
        assert!(message.ends_with("includes are nested more than 5 deep"), "{message}");
        assert_eq!(render_all("{% include 't1' %}", json!({}), &incs, &at(6)).unwrap(), "123456");
        // Seen once through a short path, then through a long one: still too deep.
        let (.., message) =
            failure(render_all("{% include 't4' %}{% include 't1' %}", json!({}), &incs, &at(5)));
        assert_eq!(
            message,
            "in include \"t1\": line 1, column 2: in include \"t2\": line 1, column 2: \
             in include \"t3\": line 1, column 2: includes are nested more than 5 deep"
        );
        let (.., message) = failure(render_all("{% include 't6' %}", json!({}), &incs, &at(0)));
        assert_eq!(message, "includes are nested more than 0 deep");
        assert!(render_all("{% include 't6' %}", json!({}), &incs, &at(u32::MAX)).is_ok());
    }

    #[test]
    fn printed_and_looped_variables_need_values_others_may_be_absent() {
        let t = "{% if flag %}{{ shown }}{% endif %}{% for x in xs %}{% endfor %}{% if n > 1 %}{% endif %}{{ other }}";
        let err = render(t, json!({"other": ""})).unwrap_err();
        assert_eq!(
            err,
            LogicRenderError::Variables(RenderError {
                missing: vec!["shown".into(), "xs".into()],
                unexpected: vec![]
            })
        );
        assert_eq!(ok(t, json!({"shown": "s", "xs": [], "other": "o"})), "o");
        // Across includes, in order of first appearance; extra values only matter when strict.
        let incs = [("inc", TemplateFormat::Basic, "{{ b }}{{ a }}")];
        let strict = RenderOptions { strict: true, ..RenderOptions::default() };
        let err = render_all(
            "{{ a }}{% include 'inc' %}{{ c }}",
            json!({"z": 1, "y": 2, "flag": 0}),
            &incs,
            &strict,
        )
        .unwrap_err();
        assert_eq!(
            err,
            LogicRenderError::Variables(RenderError {
                missing: vec!["a".into(), "b".into(), "c".into()],
                unexpected: vec!["flag".into(), "y".into(), "z".into()],
            })
        );
        assert_eq!(err.to_string(), "no value for a, b, c; not a variable of this prompt: flag, y, z");
        let t = "{% if flag %}{% include 'inc' %}{% endif %}";
        assert_eq!(render_all(t, json!({"flag": true, "a": 1, "b": 2}), &incs, &strict).unwrap(), "21");
        assert!(render_all(t, json!({"a": 1, "b": 2, "flag": 1, "zz": 0}), &incs, &strict).is_err());
    }

    #[test]
    fn output_is_capped_as_it_grows() {
        let cap = |n: usize| RenderOptions { max_output_bytes: n, ..RenderOptions::default() };
        let too_large = |n| Err(LogicRenderError::TooLarge { max_output_bytes: n });
        assert_eq!(render_all("12345", json!({}), &[], &cap(5)).as_deref(), Ok("12345"));
        assert_eq!(render_all("123456", json!({}), &[], &cap(5)), too_large(5));
        assert_eq!(render_all("{{ a }}", json!({"a": "xxxxxx"}), &[], &cap(5)), too_large(5));
        assert_eq!(render_all("{{ a }}", json!({"a": [1, 2, 3]}), &[], &cap(5)), too_large(5));
        let t = "{% for i in range(5000) %}{% for j in xs %}{{ j }}{% endfor %}{% endfor %}";
        assert_eq!(render_all(t, json!({"xs": ["x"]}), &[], &cap(100)), too_large(100));
        let incs = [("big", TemplateFormat::Basic, "{{ a }}{{ a }}")];
        assert_eq!(render_all("{% include 'big' %}", json!({"a": "xxx"}), &incs, &cap(5)), too_large(5));
    }

    #[test]
    fn loops_and_includes_share_an_iteration_budget() {
        let budget = |n: u64| RenderOptions { max_iterations: n, ..RenderOptions::default() };
        let t = "{% for i in range(10) %}{% for j in range(10) %}{% endfor %}{% endfor %}";
        assert!(render_all(t, json!({}), &[], &budget(110)).is_ok());
        let (line, column, message) = failure(render_all(t, json!({}), &[], &budget(109)));
        assert_eq!((line, column), (1, 25));
        assert_eq!(message, "loops and includes would run more than 109 times in this render");
        assert!(
            render_all("{% for x in xs %}{% endfor %}", json!({"xs": vec![0; 11]}), &[], &budget(10))
                .is_err()
        );
        // A template included 10 × 10 × 10 times: each include counts.
        let incs = [
            ("a", TemplateFormat::Logic, &*"{% include 'b' %}".repeat(10)),
            ("b", TemplateFormat::Logic, &*"{% include 'c' %}".repeat(10)),
            ("c", TemplateFormat::Basic, "."),
        ];
        let t = "{% include 'a' %}".repeat(10);
        assert_eq!(render_all(&t, json!({}), &incs, &budget(1110)).unwrap(), ".".repeat(1000));
        assert!(render_all(&t, json!({}), &incs, &budget(1109)).is_err());
    }

    #[test]
    fn expressions_run_on_fuel() {
        let (.., message) =
            failure(render("{% if (range(10000)|map('string')|join)|length %}{% endif %}", json!({})));
        assert_eq!(message, "the expression needs more work or memory than a render allows (out of fuel)");
        // Another budget works too, through the slower path that compiles again.
        let fuel = |n: u64| RenderOptions { fuel: n, ..RenderOptions::default() };
        let t = "{% if xs|length > 2 %}many{% endif %}{% for x in xs|sort %}{{ x }}{% endfor %}";
        assert_eq!(render_all(t, json!({"xs": [3, 1, 2]}), &[], &fuel(1_000)).unwrap(), "many123");
        assert!(render_all(t, json!({"xs": [3, 1, 2]}), &[], &fuel(1)).is_err());
        let incs = [("inc", TemplateFormat::Logic, "{% if true %}i{% endif %}")];
        assert!(render_all("{% include 'inc' %}", json!({}), &incs, &fuel(0)).is_err());
        assert_eq!(render_all("{% include 'inc' %}", json!({}), &incs, &fuel(100)).unwrap(), "i");
    }

    /// Every way found to make minijinja build something huge from a short expression.
    #[test]
    fn expressions_cannot_build_huge_values() {
        let refused_at_parse = [
            "\"x\" * 1000000000",
            "[1] * 10**9",
            "[0] * 5000 * 1000",
            "1 in [0]*5000*1000",
            "n * 2",
            "[0]* *2",
            "1 *** 2",
            &format!("{}1", "not ".repeat(5000)),
            &format!("{}1", "-".repeat(5000)),
            &format!("1{}", "|abs".repeat(5000)),
            &format!("x{}", ".a".repeat(5000)),
            &format!("{}1{}", "range(".repeat(100), ")".repeat(100)),
            &format!("{}1{}", "(".repeat(17), ")".repeat(17)),
        ];
        for expr in refused_at_parse {
            let content = format!("{{% if {expr} %}}{{% endif %}}");
            let error = parse(&content).map(|_| ()).map_err(|e| e.message);
            let short: String = expr.chars().take(40).collect();
            assert!(error.is_err(), "{short} should be refused at parse");
        }
        let limited_at_render = [
            "range(10**9)",
            "10**10**10",
            "2**200",
            "\"%1000000000d\"|format(1)",
            "'x'|indent(1000000000)",
            "(range(10000)|map('string')|join)|replace('1', range(100)|join)",
            "-1 in range(10000)|chain(range(10000),range(10000),range(10000),range(10000),range(10000))",
            "(range(10000)|batch(3)|list)|string",
            "range(10000)|unique|list|sort|length",
        ];
        for expr in limited_at_render {
            let start = Instant::now();
            let result = render(&format!("{{% if {expr} %}}{{% endif %}}"), json!({}));
            assert!(result.is_err(), "{expr} should fail");
            assert!(start.elapsed() < Duration::from_secs(2), "{expr} took {:?}", start.elapsed());
        }
        for (expr, unknown) in
            [("range(10000)|tojson(indent=1000000)", "unknown filter"), ("debug()", "unknown function")]
        {
            let (.., message) = failure(render(&format!("{{% if {expr} %}}{{% endif %}}"), json!({})));
            assert!(message.starts_with(unknown), "{expr}: {message}");
        }
        // Harmless ones stay allowed.
        assert_eq!(
            ok("{% if \"x\"|join == 'x' and 2**10 == 1024 and 'a' ~ 'b' == 'ab' %}ok{% endif %}", json!({})),
            "ok"
        );
        assert_eq!(ok("{% if '%}' in s %}has{% endif %}", json!({"s": "a%}b"})), "has");
    }

    #[test]
    fn expression_size_limits() {
        let long = format!("x{}", " or x".repeat(MAX_EXPRESSION_TOKENS / 2 - 1));
        assert!(parse(&format!("{{% if {long} %}}{{% endif %}}")).is_ok());
        let (.., message) = parse_error(&format!("{{% if {long} or x %}}{{% endif %}}"));
        assert_eq!(message, "the expression is too long (more than 200 tokens)");
        let nested = |n: usize| format!("{{% if {}1{} %}}{{% endif %}}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nested(MAX_EXPRESSION_NESTING)).is_ok());
        assert_eq!(
            parse_error(&nested(MAX_EXPRESSION_NESTING + 1)).2,
            "the expression nests brackets more than 16 deep"
        );
    }

    /// The deepest template the limits allow renders on a 2 MB stack (a default thread's).
    #[test]
    fn the_deepest_allowed_template_fits_a_small_stack() {
        let run = || {
            // Blocks 16 deep, the innermost being the `if` below.
            let open = format!(
                "{}{{% for x in [1] %}}",
                "{% for x in [1] %}{% if x %}".repeat(MAX_BLOCK_NESTING / 2 - 1)
            );
            let close =
                format!("{{% endfor %}}{}", "{% endif %}{% endfor %}".repeat(MAX_BLOCK_NESTING / 2 - 1));
            // 16 brackets deep and close to 200 tokens.
            let deep = format!("({}1{}|length){}", "[".repeat(15), "]".repeat(15), "|abs".repeat(80));
            let body = format!("{open}{{% if {deep} %}}{{% include 'next' %}}{{% endif %}}{close}");
            let chain: Vec<(String, String)> = (0..INCLUDE_DEPTH_CEILING)
                .map(|i| {
                    let own = body.replace("'next'", &format!("'t{}'", i + 1));
                    (format!("t{i}"), if i + 1 == INCLUDE_DEPTH_CEILING { "end".to_owned() } else { own })
                })
                .collect();
            let incs: Vec<(&str, TemplateFormat, &str)> =
                chain.iter().map(|(n, c)| (n.as_str(), TemplateFormat::Logic, c.as_str())).collect();
            let options = RenderOptions { max_include_depth: u32::MAX, ..RenderOptions::default() };
            if let Err(e) = parse(&body) {
                panic!("{e}")
            }
            render_all("{% include 't0' %}", json!({}), &incs, &options)
        };
        let thread = std::thread::Builder::new().stack_size(2 << 20).spawn(run).unwrap();
        assert_eq!(thread.join().unwrap().as_deref(), Ok("end"));
    }

    #[test]
    fn templates_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<LogicTemplate>();
    }

    #[test]
    fn include_references_skip_raw_blocks_and_stop_at_a_broken_tag() {
        let content = "{% include \"a\" %}{% raw %}{% include \"b\" %}{% endraw %}\n\
                       {% if x %}{% include 'c@2' %}{% endif %}{% include \"a\" %}{% include \"d\"";
        assert_eq!(include_references(content), ["a", "c@2"]);
        assert_eq!(include_references("{% include x %} {% include \"e\" %}"), ["e"]);
    }

    #[test]
    fn renders_a_typical_template_in_microseconds() {
        let part = "Hi {{ name }}, {% if premium %}thanks{% else %}welcome{% endif %}. {% for i in items %}{{ i.label }} {% endfor %}\n";
        let t = parse(&part.repeat(10)).unwrap();
        let vals = values(json!({"name": "Ann", "premium": true, "items": [{"label": "a"}, {"label": "b"}]}));
        let start = Instant::now();
        for _ in 0..100 {
            t.render(&vals, &BTreeMap::new(), &RenderOptions::default()).unwrap();
        }
        // Generous even for an unoptimised build on a busy machine.
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    }

    /// Text made mostly of the characters that matter to the scanner, as in the basic tests.
    fn bracey() -> impl Strategy<Value = String> {
        "([{} \tab_.1é€😀\n-]|\\{\\{|\\}\\}|\\{\\{ ?[a-z]{1,3} ?\\}\\}){0,40}"
    }

    /// Text with tags, half-tags and expressions.
    fn logicky() -> impl Strategy<Value = String> {
        "([{}%'\" \tab_.1é😀\n-]|\\{\\{|\\}\\}|\\{%|%\\}|\\{\\{ ?[a-z]{1,2}(\\.[a-z0-9]{1,2})? ?\\}\\}|\
          \\{% ?(if|elif|else|endif|for [a-z] in|endfor|raw|endraw|include|foo) ?([a-z]{1,2}|'[a-z]'|range\\(2\\)|\\[1\\])? ?%\\}){0,40}"
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z{}%]{0,4}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z0-9]{1,2}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics(
            content in prop_oneof![any::<String>(), logicky()],
            value in json_value(),
            included in logicky(),
            strict in any::<bool>(),
        ) {
            if let Ok(template) = parse(&content) {
                let names = template.variables();
                let vals: BTreeMap<String, serde_json::Value> =
                    names.iter().map(|u| (u.name.clone(), value.clone())).collect();
                let incs: BTreeMap<String, Included> = ["a", "b"]
                    .into_iter()
                    .flat_map(|r| [TemplateFormat::Logic, TemplateFormat::Basic].map(|format| (r, format)))
                    .map(|(r, format)| (r.to_owned(), Included { format, content: included.clone() }))
                    .collect();
                let options = RenderOptions { strict, max_output_bytes: 10_000, ..RenderOptions::default() };
                let _ = template.render(&vals, &incs, &options);
                let _ = template.render(&BTreeMap::new(), &BTreeMap::new(), &options);
            }
        }

        #[test]
        fn without_statement_tags_it_is_the_basic_format(
            content in prop_oneof![any::<String>(), bracey()],
            given in prop::collection::btree_map("[a-z]{1,3}", prop_oneof![any::<String>(), bracey()], 0..4),
            all in any::<bool>(),
            strict in any::<bool>(),
        ) {
            let content = content.replace("{%", "{");
            prop_assume!(!content.contains("{%"));
            let template = parse(&content).unwrap();
            let basic_names = super::super::variables(&content);
            let logic_names: Vec<String> = template.variables().into_iter().map(|u| u.name).collect();
            prop_assert_eq!(&logic_names, &basic_names);
            prop_assert!(template.variables().iter().all(|u| u.usages == BTreeSet::from([Usage::Print])));
            prop_assert!(template.includes().is_empty());

            let mut texts: BTreeMap<String, String> = given;
            if all {
                for name in &basic_names {
                    texts.entry(name.clone()).or_insert_with(|| format!("<{name}>"));
                }
            }
            let json: BTreeMap<String, serde_json::Value> =
                texts.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone()))).collect();
            let options = RenderOptions { strict, max_output_bytes: usize::MAX, ..RenderOptions::default() };
            let logic = template.render(&json, &BTreeMap::new(), &options);
            let basic = super::super::render(&content, &texts, strict).map_err(LogicRenderError::Variables);
            prop_assert_eq!(logic, basic);
        }

        #[test]
        fn the_lexer_alone_finds_the_includes_the_parser_finds(
            content in prop_oneof![logicky(), "([a-z {}%\n]|\\{% include (\"[ab]\"|'[ab]@1'|[ab]) %\\}|\\{% raw %\\}|\\{% endraw %\\}){0,12}"],
        ) {
            if let Ok(template) = parse(&content) {
                prop_assert_eq!(include_references(&content), template.includes());
            }
        }

        #[test]
        fn tags_alone_on_their_lines_leave_no_trace(
            lines in prop::collection::vec("[a-z {}]{0,6}", 1..6),
            pad in "[ \t]{0,2}",
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let escaped = super::super::escape(&text);
            let wrapped = format!("{pad}{{% if true %}}{pad}\n{escaped}{pad}{{% endif %}}\n");
            let vals: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            let out = parse(&wrapped).unwrap().render(&vals, &BTreeMap::new(), &RenderOptions::default());
            prop_assert_eq!(out, Ok(text));
        }
    }
}
