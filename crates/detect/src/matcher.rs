//! Value matchers: what one Sigma value (after its modifiers) tests against
//! one event value, and the glob and case-folding machinery they use.
//!
//! Built once by `compile.rs`; evaluated per event with the field's
//! lower-cased text computed at most once per event (see `engine.rs`), so a
//! case-insensitive match costs a comparison, not an allocation.

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

/// Index of a field name in the engine's field table.
pub(crate) type FieldId = u32;

/// String comparison of a needle against a haystack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrOp {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
}

impl StrOp {
    #[inline]
    pub(crate) fn test(self, hay: &str, needle: &str) -> bool {
        match self {
            StrOp::Exact => hay == needle,
            StrOp::Contains => memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).is_some(),
            StrOp::StartsWith => hay.starts_with(needle),
            StrOp::EndsWith => hay.ends_with(needle),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumOp {
    Eq,
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A compiled value test.
#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    /// A literal with no wildcards; `needle` is lower-cased unless `cased`.
    Str {
        op: StrOp,
        needle: Box<str>,
        cased: bool,
    },
    /// `contains` of a literal, with its searcher built once (building a
    /// memmem searcher per test was a third of the matching time).
    Contains {
        /// Boxed: a searcher is ~300 bytes, the other variants a few words.
        finder: Box<memchr::memmem::Finder<'static>>,
        cased: bool,
    },
    /// A pattern with `*` / `?` wildcards, anchored at both ends (a
    /// `contains` pattern starts and ends with `*`).
    Glob {
        glob: Glob,
        cased: bool,
    },
    Regex(Regex),
    Cidr(IpNet),
    /// A numeric comparison; `int` holds the value when it is an integer,
    /// compared exactly with integer event values (f64 loses precision
    /// above 2^53: record IDs, logon IDs).
    Num {
        op: NumOp,
        value: f64,
        int: Option<i64>,
    },
    Bool(bool),
    /// The field is null or absent.
    Null,
    /// Compares with another field of the same event.
    FieldRef {
        field: FieldId,
        op: StrOp,
        cased: bool,
    },
    Not(Box<Matcher>),
    Any(Vec<Matcher>),
    All(Vec<Matcher>),
}

/// An event value as matchers see it: strings with their lower-cased form.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    Str { raw: &'a str, lower: &'a str },
    Other(&'a Value),
}

/// Lower-cases for case-insensitive matching, as Sigma (and rsigma) do:
/// full Unicode lower-casing, with an allocation-free path for text that is
/// already lower-case ASCII.
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if is_lower_ascii(s) {
        Cow::Borrowed(s)
    } else {
        let mut out = String::with_capacity(s.len());
        push_lower(&mut out, s);
        Cow::Owned(out)
    }
}

/// Whether `s` is its own lower-case form by the cheap test: ASCII with no
/// upper-case letter (other text is lower-cased without asking).
pub(crate) fn is_lower_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
}

/// Appends `s` lower-cased exactly as `str::to_lowercase` does, without
/// its per-character slow path for the ASCII runs of mostly-ASCII text
/// (Windows event messages with one non-ASCII character are common).
pub(crate) fn push_lower(out: &mut String, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_lowercase();
        return;
    }
    // Σ lower-cases by its context (final sigma): leave it to std.
    if s.contains('Σ') {
        out.push_str(&s.to_lowercase());
        return;
    }
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..n]);
        out[start..].make_ascii_lowercase();
        rest = &rest[n..];
        if let Some(c) = rest.chars().next() {
            out.extend(c.to_lowercase());
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// Read access to other fields of the event, for `fieldref`.
pub(crate) trait Fields {
    fn get(&self, field: FieldId) -> Option<&Value>;
}

impl Matcher {
    /// A literal test; `needle` already lower-cased unless `cased`.
    pub(crate) fn literal(op: StrOp, needle: Box<str>, cased: bool) -> Matcher {
        match op {
            StrOp::Contains => Matcher::Contains {
                finder: Box::new(memchr::memmem::Finder::new(needle.as_bytes()).into_owned()),
                cased,
            },
            _ => Matcher::Str { op, needle, cased },
        }
    }

    /// Whether the matcher accepts a field that is absent from the event.
    pub(crate) fn matches_missing(&self) -> bool {
        match self {
            Matcher::Null => true,
            Matcher::Any(ms) => ms.iter().any(Matcher::matches_missing),
            Matcher::All(ms) => ms.iter().all(Matcher::matches_missing),
            // `neq` of an absent field: rsigma and pySigma both say no match.
            _ => false,
        }
    }

    /// Whether any part of the matcher needs the lower-cased text.
    pub(crate) fn needs_lower(&self) -> bool {
        match self {
            Matcher::Str { cased, .. }
            | Matcher::Contains { cased, .. }
            | Matcher::Glob { cased, .. }
            | Matcher::FieldRef { cased, .. } => !cased,
            Matcher::Not(m) => m.needs_lower(),
            Matcher::Any(ms) | Matcher::All(ms) => ms.iter().any(Matcher::needs_lower),
            _ => false,
        }
    }

    /// Test a value; arrays match when any member does.
    pub(crate) fn matches(&self, text: Text<'_>, fields: &dyn Fields) -> bool {
        match self {
            Matcher::Not(m) => return !m.matches(text, fields),
            Matcher::Any(ms) => return ms.iter().any(|m| m.matches(text, fields)),
            Matcher::All(ms) => return ms.iter().all(|m| m.matches(text, fields)),
            _ => {}
        }
        match text {
            Text::Str { raw, lower } => self.matches_str(raw, lower, fields),
            Text::Other(Value::Array(items)) => items.iter().any(|v| self.matches_value(v, fields)),
            Text::Other(v) => self.matches_scalar(v, fields),
        }
    }

    /// Test a value whose lower-cased form is not cached (array members,
    /// referenced fields).
    pub(crate) fn matches_value(&self, v: &Value, fields: &dyn Fields) -> bool {
        match v {
            Value::String(s) => {
                let l = if self.needs_lower() {
                    lower(s)
                } else {
                    Cow::Borrowed(s.as_str())
                };
                self.matches(Text::Str { raw: s, lower: &l }, fields)
            }
            other => self.matches(Text::Other(other), fields),
        }
    }

    fn matches_str(&self, raw: &str, lower: &str, fields: &dyn Fields) -> bool {
        match self {
            Matcher::Str { op, needle, cased } => op.test(if *cased { raw } else { lower }, needle),
            Matcher::Contains { finder, cased } => finder
                .find(if *cased { raw } else { lower }.as_bytes())
                .is_some(),
            Matcher::Glob { glob, cased } => glob.is_match(if *cased { raw } else { lower }),
            Matcher::Regex(re) => re.is_match(raw),
            Matcher::Cidr(net) => raw
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| net.contains(&ip)),
            Matcher::Num { op, value, int } => match (int, raw.trim().parse::<i64>()) {
                (Some(i), Ok(x)) => int_test(*op, x, *i),
                _ => raw.parse::<f64>().is_ok_and(|x| num_test(*op, x, *value)),
            },
            Matcher::Bool(b) => match lower {
                "true" | "1" | "yes" => *b,
                "false" | "0" | "no" => !*b,
                _ => false,
            },
            Matcher::Null => false,
            Matcher::FieldRef { field, op, cased } => match fields.get(*field) {
                Some(Value::String(other)) => {
                    if *cased {
                        op.test(raw, other)
                    } else {
                        op.test(lower, &self::lower(other))
                    }
                }
                Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                    scalar_text(v).is_some_and(|t| op.test(raw, &t))
                }
                _ => false,
            },
            Matcher::Not(_) | Matcher::Any(_) | Matcher::All(_) => {
                unreachable!("composites are handled in matches")
            }
        }
    }

    fn matches_scalar(&self, v: &Value, fields: &dyn Fields) -> bool {
        match (self, v) {
            (Matcher::Null, Value::Null) => true,
            (_, Value::Null | Value::Object(_) | Value::Array(_)) => false,
            (Matcher::Num { op, value, int }, Value::Number(n)) => match (int, n.as_i64()) {
                (Some(i), Some(x)) => int_test(*op, x, *i),
                _ => n.as_f64().is_some_and(|x| num_test(*op, x, *value)),
            },
            (Matcher::Bool(b), Value::Bool(x)) => b == x,
            // Compared as text, so 4 and "4" are equal both ways.
            (Matcher::FieldRef { .. }, scalar) => match scalar_text(scalar) {
                Some(t) => self.matches_str(&t, &t, fields),
                None => false,
            },
            // Numbers and booleans compared as text by string matchers
            // (`EventID: '4688'` matches the number 4688).
            (_, scalar) => match scalar_text(scalar) {
                Some(t) => self.matches_str(&t, &t, fields),
                None => false,
            },
        }
    }
}

fn int_test(op: NumOp, x: i64, v: i64) -> bool {
    match op {
        NumOp::Eq => x == v,
        NumOp::Gt => x > v,
        NumOp::Gte => x >= v,
        NumOp::Lt => x < v,
        NumOp::Lte => x <= v,
    }
}

fn num_test(op: NumOp, x: f64, v: f64) -> bool {
    match op {
        NumOp::Eq => (x - v).abs() < f64::EPSILON,
        NumOp::Gt => x > v,
        NumOp::Gte => x >= v,
        NumOp::Lt => x < v,
        NumOp::Lte => x <= v,
    }
}

/// Numbers and booleans as text (what string matchers compare them as).
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A wildcard pattern: literals separated by `*` (any run) and `?` (one
/// character), matched against the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(Box<str>),
    Star,
    One,
}

impl Glob {
    pub(crate) fn new(tokens: Vec<Tok>) -> Glob {
        // Merge runs of stars: `**` is `*`, and fewer tokens match faster.
        let mut out: Vec<Tok> = Vec::with_capacity(tokens.len());
        for t in tokens {
            if t == Tok::Star && out.last() == Some(&Tok::Star) {
                continue;
            }
            out.push(t);
        }
        Glob { tokens: out }
    }

    /// The longest literal run of the pattern, if it has one.
    pub(crate) fn longest_literal(&self) -> Option<&str> {
        self.tokens
            .iter()
            .filter_map(|t| match t {
                Tok::Lit(l) => Some(&**l),
                _ => None,
            })
            .max_by_key(|l| l.len())
    }

    /// Wildcard matching with last-star backtracking (the classic
    /// algorithm, over literal runs instead of single characters): linear
    /// for the common shapes, O(n*m) at worst, no allocation. After a star,
    /// the next literal is found with memmem rather than char by char.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        let toks = &self.tokens;
        let bytes = text.as_bytes();
        let (mut ti, mut pi) = (0usize, 0usize);
        // Token after the last star, and the text position it was tried at.
        let mut star: Option<(usize, usize)> = None;
        while ti < bytes.len() || pi < toks.len() {
            let step = match toks.get(pi) {
                Some(Tok::Star) => {
                    pi += 1;
                    star = Some((pi, ti));
                    // A trailing star matches the rest.
                    if pi == toks.len() {
                        return true;
                    }
                    if let Tok::Lit(lit) = &toks[pi] {
                        match memchr::memmem::find(&bytes[ti..], lit.as_bytes()) {
                            Some(off) => {
                                ti += off;
                                star = Some((pi, ti));
                            }
                            None => return false,
                        }
                    }
                    continue;
                }
                Some(Tok::One) => text[ti..].chars().next().map(char::len_utf8),
                Some(Tok::Lit(lit)) => text[ti..].starts_with(&**lit).then_some(lit.len()),
                None => None,
            };
            if let Some(n) = step {
                ti += n;
                pi += 1;
                continue;
            }
            // Mismatch: let the last star swallow one more character.
            let Some((after, tried)) = star else {
                return false;
            };
            let Some(c) = text[tried..].chars().next() else {
                return false;
            };
            let mut next = tried + c.len_utf8();
            if let Some(Tok::Lit(lit)) = toks.get(after) {
                match memchr::memmem::find(&bytes[next..], lit.as_bytes()) {
                    Some(off) => next += off,
                    None => return false,
                }
            }
            star = Some((after, next));
            ti = next;
            pi = after;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        let mut toks = Vec::new();
        let mut lit = String::new();
        for c in p.chars() {
            match c {
                '*' | '?' => {
                    if !lit.is_empty() {
                        toks.push(Tok::Lit(std::mem::take(&mut lit).into()));
                    }
                    toks.push(if c == '*' { Tok::Star } else { Tok::One });
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            toks.push(Tok::Lit(lit.into()));
        }
        Glob::new(toks)
    }

    /// Reference: a regex built from the same pattern.
    fn reference(p: &str, t: &str) -> bool {
        let mut re = String::from("(?s)^");
        for c in p.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        Regex::new(&re).unwrap().is_match(t)
    }

    #[test]
    fn glob_agrees_with_regex_on_tricky_cases() {
        let pats = [
            "*", "a*", "*a", "*a*", "a*b", "a*b*c", "*ab*ab*", "a?c", "?", "??*", "*?", "*a?b*",
            "x*x", "*xx", "ab*ba", "*é*", "é?", "a*a*a*a", "*\\*", "",
        ];
        let texts = [
            "",
            "a",
            "ab",
            "abc",
            "aab",
            "abab",
            "ababab",
            "acbc",
            "axxc",
            "xx",
            "xxx",
            "xax",
            "abba",
            "aé",
            "éa",
            "é",
            "aaaa",
            "aaa",
            "a\nb",
            "c:\\windows\\",
            "ba",
        ];
        for p in pats {
            let g = glob(p);
            for t in texts {
                assert_eq!(g.is_match(t), reference(p, t), "pattern {p:?} text {t:?}");
            }
        }
    }

    #[test]
    fn push_lower_is_to_lowercase() {
        for s in [
            "",
            "ABC def",
            "ÄÖ",
            "C:\\Users\\ÅSA\\Documents İSTANBUL",
            "ΟΔΟΣ ΟΔΟΣ.",
            "aΣ b",
            "Ⅻ ǅ ß ẞ \u{10400}x",
        ] {
            let mut out = String::from("keep:");
            push_lower(&mut out, s);
            assert_eq!(out, format!("keep:{}", s.to_lowercase()), "{s:?}");
            assert_eq!(lower(s), s.to_lowercase());
        }
    }

    #[test]
    fn lower_borrows_when_already_lower() {
        assert!(matches!(lower("abc"), Cow::Borrowed(_)));
        assert_eq!(lower("ABC"), "abc");
        assert_eq!(lower("ÄÖ"), "äö");
    }
}
