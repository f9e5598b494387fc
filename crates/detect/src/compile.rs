//! Compiling a parsed Sigma rule (rsigma-parser's AST) into killchain's
//! evaluator: field names interned to indexes, every value with its
//! modifiers turned into a [`Matcher`], the condition into a tree over
//! detection indexes. Anything the evaluator cannot honour exactly is
//! refused with the reason (`Unsupported`), never approximated silently.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaRule,
    SigmaString, SigmaValue, SpecialChar, StringPart,
};

use crate::matcher::{lower, FieldId, Glob, Matcher, NumOp, StrOp, Tok};

/// Why a rule did not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// Valid Sigma that this engine does not evaluate (the reason says what).
    Unsupported(String),
    /// Not valid Sigma (bad regex, bad CIDR, unknown detection name, ...).
    Invalid(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Unsupported(m) => write!(f, "unsupported: {m}"),
            CompileError::Invalid(m) => write!(f, "invalid: {m}"),
        }
    }
}

type Result<T> = std::result::Result<T, CompileError>;

fn unsupported<T>(m: impl Into<String>) -> Result<T> {
    Err(CompileError::Unsupported(m.into()))
}
fn invalid<T>(m: impl Into<String>) -> Result<T> {
    Err(CompileError::Invalid(m.into()))
}

/// Field names to dense indexes, shared by all rules of an engine.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldTable {
    pub(crate) ids: HashMap<Box<str>, FieldId>,
    pub(crate) names: Vec<Box<str>>,
}

impl FieldTable {
    pub(crate) fn intern(&mut self, name: &str) -> FieldId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as FieldId;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }
}

/// One field test of a detection: `Image|endswith: ['\a.exe', '\b.exe']`.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) field: FieldId,
    pub(crate) test: ItemTest,
    /// Whether the matcher reads the field's lower-cased text.
    pub(crate) needs_lower: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum ItemTest {
    /// `field|exists: true|false`.
    Exists(bool),
    Match(Matcher),
}

/// A named detection.
#[derive(Debug, Clone)]
pub(crate) enum Det {
    /// A mapping: every item must match.
    All(Vec<Item>),
    /// A list of mappings: any may match.
    Any(Vec<Det>),
    /// Keywords: any value found in any string of the event.
    Keywords(Matcher),
    /// Every part must match (a mapping that mixes field items with a
    /// field-less `'|all': [...]` keyword list).
    And(Vec<Det>),
}

/// A condition over detection indexes.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Det(usize),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `N of` / `all of` / `1 of` over detections.
    Of {
        need: Need,
        dets: Vec<usize>,
    },
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    Any,
    All,
    AtLeast(u64),
}

/// The detection logic of one rule, compiled.
#[derive(Debug, Clone)]
pub(crate) struct Logic {
    pub(crate) dets: Vec<Det>,
    /// A rule with several conditions matches when any does.
    pub(crate) conds: Vec<Cond>,
}

/// Values for `%placeholder%` in `expand` values, from pipelines.
pub type Placeholders = HashMap<String, Vec<String>>;

/// Compiles a rule's detection section.
pub(crate) fn compile_logic(
    rule: &SigmaRule,
    fields: &mut FieldTable,
    placeholders: &Placeholders,
) -> Result<Logic> {
    let mut names: Vec<&String> = rule.detection.named.keys().collect();
    names.sort();
    let mut dets = Vec::with_capacity(names.len());
    for name in &names {
        let det = compile_detection(&rule.detection.named[*name], fields, placeholders)
            .map_err(|e| prefix(e, &format!("detection {name}")))?;
        dets.push(det);
    }
    let det_names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    if rule.detection.conditions.is_empty() {
        return invalid("no condition");
    }
    let conds = rule
        .detection
        .conditions
        .iter()
        .map(|c| compile_cond(c, &det_names))
        .collect::<Result<Vec<_>>>()?;
    Ok(Logic { dets, conds })
}

fn prefix(e: CompileError, what: &str) -> CompileError {
    match e {
        CompileError::Unsupported(m) => CompileError::Unsupported(format!("{what}: {m}")),
        CompileError::Invalid(m) => CompileError::Invalid(format!("{what}: {m}")),
    }
}

fn compile_detection(d: &Detection, fields: &mut FieldTable, ph: &Placeholders) -> Result<Det> {
    match d {
        Detection::AllOf(items) => {
            let (keyed, bare): (Vec<&DetectionItem>, Vec<&DetectionItem>) =
                items.iter().partition(|i| i.field.name.is_some());
            let all = Det::All(
                keyed
                    .iter()
                    .map(|i| compile_item(i, fields, ph))
                    .collect::<Result<_>>()?,
            );
            if bare.is_empty() {
                return Ok(all);
            }
            let mut parts = vec![all];
            for item in bare {
                parts.push(keyword_item(item, fields, ph)?);
            }
            Ok(Det::And(parts))
        }
        Detection::AnyOf(subs) => Ok(Det::Any(
            subs.iter()
                .map(|s| compile_detection(s, fields, ph))
                .collect::<Result<_>>()?,
        )),
        Detection::Keywords(values) => {
            let ms = values
                .iter()
                .map(keyword_matcher)
                .collect::<Result<Vec<_>>>()?;
            Ok(Det::Keywords(Matcher::Any(ms)))
        }
        Detection::ArrayMatch { .. } | Detection::And(_) | Detection::Conditional { .. } => {
            unsupported("array object-scope blocks (`field[any]:`, a proposed Sigma extension)")
        }
    }
}

/// Keywords match as `contains`, case-insensitively (Sigma v2 §keywords).
fn keyword_matcher(v: &SigmaValue) -> Result<Matcher> {
    match v {
        SigmaValue::String(s) => Ok(string_matcher(s, StrOp::Contains, false)),
        SigmaValue::Integer(n) => Ok(plain(StrOp::Contains, &n.to_string(), false)),
        SigmaValue::Float(n) => Ok(plain(StrOp::Contains, &n.to_string(), false)),
        SigmaValue::Bool(b) => Ok(plain(StrOp::Contains, &b.to_string(), false)),
        SigmaValue::Null => unsupported("null keyword"),
    }
}

/// The modifiers of one item, sorted out.
#[derive(Debug, Default)]
struct Mods {
    op: Option<StrOp>,
    all: bool,
    base64: bool,
    base64offset: bool,
    wide: bool,
    utf16be: bool,
    utf16: bool,
    windash: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
    cased: bool,
    exists: bool,
    expand: bool,
    fieldref: bool,
    num: Option<NumOp>,
    neq: bool,
}

fn mods(list: &[Modifier]) -> Result<Mods> {
    let mut m = Mods::default();
    for x in list {
        match x {
            Modifier::Contains => m.op = Some(StrOp::Contains),
            Modifier::StartsWith => m.op = Some(StrOp::StartsWith),
            Modifier::EndsWith => m.op = Some(StrOp::EndsWith),
            Modifier::All => m.all = true,
            Modifier::Base64 => m.base64 = true,
            Modifier::Base64Offset => m.base64offset = true,
            Modifier::Wide => m.wide = true,
            Modifier::Utf16be => m.utf16be = true,
            Modifier::Utf16 => m.utf16 = true,
            Modifier::WindAsh => m.windash = true,
            Modifier::Re => m.re = true,
            Modifier::IgnoreCase => m.re_i = true,
            Modifier::Multiline => m.re_m = true,
            Modifier::DotAll => m.re_s = true,
            Modifier::Cidr => m.cidr = true,
            Modifier::Cased => m.cased = true,
            Modifier::Exists => m.exists = true,
            Modifier::Expand => m.expand = true,
            Modifier::FieldRef => m.fieldref = true,
            Modifier::Gt => m.num = Some(NumOp::Gt),
            Modifier::Gte => m.num = Some(NumOp::Gte),
            Modifier::Lt => m.num = Some(NumOp::Lt),
            Modifier::Lte => m.num = Some(NumOp::Lte),
            Modifier::Neq => m.neq = true,
            Modifier::Minute
            | Modifier::Hour
            | Modifier::Day
            | Modifier::Week
            | Modifier::Month
            | Modifier::Year => {
                return unsupported(format!(
                    "timestamp-part modifier |{}",
                    format!("{x:?}").to_lowercase()
                ))
            }
        }
    }
    if (m.re_i || m.re_m || m.re_s) && !m.re {
        return invalid("regex flags i/m/s without |re");
    }
    Ok(m)
}

fn compile_item(item: &DetectionItem, fields: &mut FieldTable, ph: &Placeholders) -> Result<Item> {
    let Some(name) = &item.field.name else {
        return invalid("field-less item where a field is needed");
    };
    let field = fields.intern(name);
    let m = mods(&item.field.modifiers)?;
    if m.exists {
        return match item.values.as_slice() {
            [SigmaValue::Bool(b)] => Ok(Item {
                field,
                test: ItemTest::Exists(*b),
                needs_lower: false,
            }),
            [SigmaValue::String(s)] if matches!(s.original.as_str(), "true" | "false") => {
                Ok(Item {
                    field,
                    test: ItemTest::Exists(s.original == "true"),
                    needs_lower: false,
                })
            }
            _ => invalid(format!("{name}|exists needs one boolean value")),
        };
    }
    if item.values.is_empty() {
        return invalid(format!("{name}: no values"));
    }
    let mut ms = Vec::with_capacity(item.values.len());
    for v in &item.values {
        let one = value_matcher(v, &m, fields, ph).map_err(|e| prefix(e, name))?;
        ms.push(if m.neq {
            Matcher::Not(Box::new(one))
        } else {
            one
        });
    }
    let matcher = match (ms.len(), m.all) {
        (1, _) => ms.pop().unwrap_or(Matcher::Any(Vec::new())),
        (_, true) => Matcher::All(ms),
        (_, false) => Matcher::Any(ms),
    };
    Ok(Item {
        field,
        needs_lower: matcher.needs_lower(),
        test: ItemTest::Match(matcher),
    })
}

/// A field-less key inside a mapping (`'|all': [a, b]`): keywords with
/// modifiers; with `all`, every value must occur somewhere in the event.
fn keyword_item(item: &DetectionItem, fields: &mut FieldTable, ph: &Placeholders) -> Result<Det> {
    let mut m = mods(&item.field.modifiers)?;
    if m.exists || m.fieldref || m.num.is_some() || m.cidr {
        return unsupported("exists / fieldref / comparison / cidr on keywords");
    }
    if m.op.is_none() && !m.re {
        m.op = Some(StrOp::Contains);
    }
    let ms = item
        .values
        .iter()
        .map(|v| value_matcher(v, &m, fields, ph))
        .collect::<Result<Vec<_>>>()?;
    Ok(if m.all {
        Det::And(ms.into_iter().map(Det::Keywords).collect())
    } else {
        Det::Keywords(Matcher::Any(ms))
    })
}

fn value_matcher(
    v: &SigmaValue,
    m: &Mods,
    fields: &mut FieldTable,
    ph: &Placeholders,
) -> Result<Matcher> {
    let text = |v: &SigmaValue| -> Result<String> {
        match v {
            SigmaValue::String(s) => Ok(s.original.clone()),
            SigmaValue::Integer(n) => Ok(n.to_string()),
            SigmaValue::Float(n) => Ok(n.to_string()),
            SigmaValue::Bool(b) => Ok(b.to_string()),
            SigmaValue::Null => invalid("null where a value is needed"),
        }
    };
    if m.fieldref {
        let other = fields.intern(&text(v)?);
        return Ok(Matcher::FieldRef {
            field: other,
            op: m.op.unwrap_or(StrOp::Exact),
            cased: m.cased,
        });
    }
    if m.re {
        // Sigma v2: regexes are case-sensitive unless |i.
        let mut pat = String::new();
        let flags: String = [(m.re_i, 'i'), (m.re_m, 'm'), (m.re_s, 's')]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, c)| *c)
            .collect();
        if !flags.is_empty() {
            pat.push_str(&format!("(?{flags})"));
        }
        pat.push_str(&text(v)?);
        return regex::Regex::new(&pat)
            .map(Matcher::Regex)
            .or_else(|e| invalid(format!("bad regex: {e}")));
    }
    if m.cidr {
        let t = text(v)?;
        return t
            .trim()
            .parse::<ipnet::IpNet>()
            .map(Matcher::Cidr)
            .or_else(|_| invalid(format!("bad CIDR {t:?}")));
    }
    if let Some(op) = m.num {
        let (n, int) = match v {
            SigmaValue::Integer(n) => (*n as f64, Some(*n)),
            SigmaValue::Float(f) => (*f, None),
            SigmaValue::String(s) => {
                let t = s.original.trim();
                let n: f64 = t
                    .parse()
                    .or_else(|_| invalid(format!("{:?} is not a number", s.original)))?;
                (n, t.parse().ok())
            }
            _ => return invalid("comparison needs a number"),
        };
        return Ok(Matcher::Num { op, value: n, int });
    }
    let op = m.op.unwrap_or(StrOp::Exact);
    let s = match v {
        SigmaValue::Null => return Ok(Matcher::Null),
        SigmaValue::Bool(b) if m.op.is_none() => return Ok(Matcher::Bool(*b)),
        SigmaValue::Integer(n) if m.op.is_none() && !m.base64 && !m.base64offset => {
            return Ok(Matcher::Num {
                op: NumOp::Eq,
                value: *n as f64,
                int: Some(*n),
            })
        }
        SigmaValue::Float(f) if m.op.is_none() && !m.base64 && !m.base64offset => {
            return Ok(Matcher::Num {
                op: NumOp::Eq,
                value: *f,
                int: None,
            })
        }
        SigmaValue::String(s) => s.clone(),
        other => SigmaString::from_raw(&text(other)?),
    };

    // Placeholders first: they produce several values.
    let variants: Vec<SigmaString> = if m.expand { expand(&s, ph)? } else { vec![s] };
    let mut out = Vec::new();
    for s in variants {
        if m.base64 || m.base64offset || m.wide || m.utf16be || m.utf16 {
            let Some(plain_text) = s.as_plain() else {
                return unsupported("wildcards in an encoded (base64 / utf16) value");
            };
            let bytes = encode_utf16(&plain_text, m);
            if m.base64offset {
                // Offsets never match as whole values: contains, whatever the op says.
                for p in base64_offsets(&bytes) {
                    out.push(plain(StrOp::Contains, &p, m.cased));
                }
            } else if m.base64 {
                out.push(plain(op, &STANDARD.encode(&bytes), m.cased));
            } else {
                return unsupported("utf16 / wide without base64");
            }
        } else if m.windash {
            for w in windash(&s.original)? {
                out.push(string_matcher(&SigmaString::new(&w), op, m.cased));
            }
        } else {
            out.push(string_matcher(&s, op, m.cased));
        }
    }
    Ok(if out.len() == 1 {
        out.pop().unwrap_or(Matcher::Any(Vec::new()))
    } else {
        Matcher::Any(out)
    })
}

/// A literal needle, lower-cased unless `cased`.
fn plain(op: StrOp, s: &str, cased: bool) -> Matcher {
    Matcher::literal(op, if cased { s.into() } else { lower(s).into() }, cased)
}

/// A Sigma string (with its wildcards) under a string op.
fn string_matcher(s: &SigmaString, op: StrOp, cased: bool) -> Matcher {
    if let Some(p) = s.as_plain() {
        return plain(op, &p, cased);
    }
    let mut toks = Vec::with_capacity(s.parts.len() + 2);
    if matches!(op, StrOp::Contains | StrOp::EndsWith) {
        toks.push(Tok::Star);
    }
    for part in &s.parts {
        toks.push(match part {
            StringPart::Plain(t) => Tok::Lit(if cased {
                t.as_str().into()
            } else {
                lower(t).into()
            }),
            StringPart::Special(SpecialChar::WildcardMulti) => Tok::Star,
            StringPart::Special(SpecialChar::WildcardSingle) => Tok::One,
        });
    }
    if matches!(op, StrOp::Contains | StrOp::StartsWith) {
        toks.push(Tok::Star);
    }
    // `foo*` and `*foo` are plain prefix / suffix / substring tests: cheaper.
    if let Some(m) = simple_glob(&toks, cased) {
        return m;
    }
    Matcher::Glob {
        glob: Glob::new(toks),
        cased,
    }
}

fn simple_glob(toks: &[Tok], cased: bool) -> Option<Matcher> {
    let lit = |t: &Tok| match t {
        Tok::Lit(l) => Some(l.clone()),
        _ => None,
    };
    let (op, needle) = match toks {
        [Tok::Star] => (StrOp::StartsWith, "".into()),
        [Tok::Star, l, Tok::Star] => (StrOp::Contains, lit(l)?),
        [Tok::Star, l] => (StrOp::EndsWith, lit(l)?),
        [l, Tok::Star] => (StrOp::StartsWith, lit(l)?),
        _ => return None,
    };
    Some(Matcher::literal(op, needle, cased))
}

/// UTF-16 encodings (`wide` = `utf16le`, `utf16be`, `utf16` with a BOM);
/// plain UTF-8 bytes without one of them.
fn encode_utf16(s: &str, m: &Mods) -> Vec<u8> {
    if m.wide {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    } else if m.utf16be {
        s.encode_utf16().flat_map(u16::to_be_bytes).collect()
    } else if m.utf16 {
        let mut v = vec![0xFF, 0xFE];
        v.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        v
    } else {
        s.as_bytes().to_vec()
    }
}

/// The three base64 renderings of `bytes` at offsets 0, 1, 2 within a
/// larger encoded text, with the characters that depend on the unknown
/// neighbouring bytes cut off (pySigma's `SigmaBase64OffsetModifier`).
pub(crate) fn base64_offsets(bytes: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .filter_map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(bytes);
            let enc = STANDARD.encode(&padded);
            let end = enc.len() - END_CUT[(bytes.len() + i) % 3];
            (START[i] < end).then(|| enc[START[i]..end].to_string())
        })
        .collect()
}

/// The dash characters Windows command lines accept for an option switch.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
/// More dashes than this would make 5^n variants: refuse.
const MAX_WINDASH: u32 = 6;

/// `windash`: every `-` or `/` that starts a word (pySigma's `\B[-/]\b`)
/// in each of the five dash forms, all combinations.
pub(crate) fn windash(s: &str) -> Result<Vec<String>> {
    let chars: Vec<char> = s.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let spots: Vec<usize> = (0..chars.len())
        .filter(|&i| {
            matches!(chars[i], '-' | '/')
                && (i == 0 || !word(chars[i - 1]))
                && chars.get(i + 1).is_some_and(|&c| word(c))
        })
        .collect();
    let n = spots.len() as u32;
    if n > MAX_WINDASH {
        return unsupported(format!("windash over {n} switches"));
    }
    let total = 5usize.pow(n);
    let mut out = Vec::with_capacity(total);
    for combo in 0..total {
        let mut c = chars.clone();
        let mut k = combo;
        for &i in &spots {
            c[i] = DASHES[k % 5];
            k /= 5;
        }
        out.push(c.into_iter().collect());
    }
    Ok(out)
}

/// `expand`: `%name%` placeholders replaced by each of their values; `\%`
/// is a literal percent sign (Sigma v2 §expand).
fn expand(s: &SigmaString, ph: &Placeholders) -> Result<Vec<SigmaString>> {
    let mut variants = vec![String::new()];
    let chars: Vec<char> = s.original.chars().collect();
    let mut i = 0;
    let mut lit = String::new();
    while i < chars.len() {
        match chars[i] {
            // `\\` stays an escaped backslash (unescaped by SigmaString later).
            '\\' if chars.get(i + 1) == Some(&'\\') => {
                lit.push_str("\\\\");
                i += 2;
            }
            '\\' if chars.get(i + 1) == Some(&'%') => {
                lit.push('%');
                i += 2;
            }
            '%' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == '%') else {
                    lit.push('%');
                    i += 1;
                    continue;
                };
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                let Some(values) = ph.get(&name) else {
                    return unsupported(format!(
                        "placeholder %{name}% has no value (define it under `placeholders:` in a pipeline)"
                    ));
                };
                let prefix = std::mem::take(&mut lit);
                variants = variants
                    .iter()
                    .flat_map(|v| {
                        let prefix = &prefix;
                        values.iter().map(move |x| format!("{v}{prefix}{x}"))
                    })
                    .collect();
                i += len + 2;
            }
            c => {
                lit.push(c);
                i += 1;
            }
        }
    }
    for v in &mut variants {
        v.push_str(&lit);
    }
    Ok(variants.iter().map(|v| SigmaString::new(v)).collect())
}

fn compile_cond(c: &ConditionExpr, names: &[String]) -> Result<Cond> {
    Ok(match c {
        ConditionExpr::And(xs) => Cond::And(
            xs.iter()
                .map(|x| compile_cond(x, names))
                .collect::<Result<_>>()?,
        ),
        ConditionExpr::Or(xs) => Cond::Or(
            xs.iter()
                .map(|x| compile_cond(x, names))
                .collect::<Result<_>>()?,
        ),
        ConditionExpr::Not(x) => Cond::Not(Box::new(compile_cond(x, names)?)),
        ConditionExpr::Identifier(id) => match names.iter().position(|n| n == id) {
            Some(i) => Cond::Det(i),
            None => return invalid(format!("condition names unknown detection {id:?}")),
        },
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let dets: Vec<usize> = match pattern {
                // `them` leaves out identifiers starting with `_` (pySigma).
                SelectorPattern::Them => (0..names.len())
                    .filter(|&i| !names[i].starts_with('_'))
                    .collect(),
                SelectorPattern::Pattern(p) => (0..names.len())
                    .filter(|&i| name_glob(p, &names[i]))
                    .collect(),
            };
            if dets.is_empty() {
                return invalid(format!("condition selector {pattern} matches no detection"));
            }
            let need = match quantifier {
                Quantifier::Any => Need::Any,
                Quantifier::All => Need::All,
                Quantifier::Count(n) => Need::AtLeast(*n),
            };
            Cond::Of { need, dets }
        }
    })
}

/// Detection-name patterns in conditions (`selection_*`): `*` only, case-sensitive.
fn name_glob(pattern: &str, name: &str) -> bool {
    let toks: Vec<Tok> = split_keep(pattern);
    Glob::new(toks).is_match(name)
}

fn split_keep(p: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    for (i, part) in p.split('*').enumerate() {
        if i > 0 {
            toks.push(Tok::Star);
        }
        if !part.is_empty() {
            toks.push(Tok::Lit(part.into()));
        }
    }
    toks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_offsets_follow_pysigma() {
        // pySigma's documented example: `/bin/bash` with base64offset.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn windash_varies_only_switch_dashes() {
        let v = windash("-enc x-y /c").unwrap();
        assert_eq!(v.len(), 25);
        assert!(v.contains(&"/enc x-y -c".to_string()));
        assert!(v.contains(&"\u{2013}enc x-y \u{2014}c".to_string()));
        assert!(v.iter().all(|s| s.contains("x-y")));
    }

    #[test]
    fn expand_uses_pipeline_placeholders() {
        let mut ph = Placeholders::new();
        ph.insert("DC".into(), vec!["dc1".into(), "dc2".into()]);
        let out = expand(&SigmaString::new("\\\\%DC%\\share*"), &ph).unwrap();
        let texts: Vec<&str> = out.iter().map(|s| s.original.as_str()).collect();
        assert_eq!(texts, ["\\\\dc1\\share*", "\\\\dc2\\share*"]);
        assert!(matches!(
            expand(&SigmaString::new("%Other%"), &ph),
            Err(CompileError::Unsupported(_))
        ));
    }
}
