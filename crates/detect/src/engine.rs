//! The engine: rules compiled and routed by logsource, evaluated per event.
//!
//! Build once from rule texts (the caller reads the files) and a
//! [`Pipeline`]; then, per event:
//! 1. the event's fields are looked up once in the engine's field table
//!    (names interned at compile time) and string values the rules compare
//!    case-insensitively are lower-cased once;
//! 2. the event's sources (Channel + EventID, ...) select the candidate
//!    rules, and the sources' field aliases fill in missing names;
//! 3. each candidate's condition is evaluated over its detections, with
//!    short-circuiting; matches come back as rule indexes in rule order.
//!
//! Pure and deterministic: no I/O, no clock; the same rules and events give
//! the same matches in the same order.

use std::borrow::Cow;
use std::collections::HashMap;

use rayon::prelude::*;
use rsigma_parser::{FilterRule, FilterRuleTarget, SigmaRule};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::compile::{compile_logic, Cond, Det, FieldTable, Item, ItemTest, Logic, Need};
use crate::correlation::{self, Correlation};
use crate::event::{each_string, Event};
use crate::matcher::{is_lower_ascii, lower, push_lower, FieldId, Fields, Text};
use crate::pipeline::{LogsourceKey, Pipeline};
use crate::prefilter::{self, FieldScan};
use crate::rules::{Level, LoadEntry, LoadReport, Outcome, RuleInfo};

/// Which rules to load.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Leave out rules below this level.
    pub min_level: Option<Level>,
    /// Keep only rules with one of these statuses (empty: all but
    /// `deprecated` and `unsupported`, as SigmaHQ intends).
    pub statuses: Vec<String>,
    /// Keep only rules with at least one of these tags (`attack.t1059`,
    /// `attack.execution`; case-insensitive); empty: all.
    pub tags: Vec<String>,
}

impl Selection {
    /// Every rule, deprecated and unsupported statuses included (for
    /// checking a rule set, and for comparing engines).
    pub fn everything() -> Selection {
        Selection {
            statuses: [
                "stable",
                "test",
                "experimental",
                "deprecated",
                "unsupported",
                "",
            ]
            .map(String::from)
            .to_vec(),
            ..Selection::default()
        }
    }
}

/// Engine options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Route rules by logsource through the pipeline (default). Off, every
    /// rule runs on every event and logsources are ignored, as rsigma does
    /// without `--logsource-routing`.
    pub routing: bool,
    pub selection: Selection,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            routing: true,
            selection: Selection::default(),
        }
    }
}

/// A rule file's text and the name to report it under.
#[derive(Debug, Clone)]
pub struct RuleText {
    pub path: String,
    pub text: String,
}

/// A compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    info: RuleInfo,
    logic: Logic,
    /// Sigma filters that apply: the rule matches only when none does.
    filters: Vec<Logic>,
}

/// One event source, compiled for routing.
#[derive(Debug, Clone)]
struct RouteSource {
    /// (field, alternatives), Channel excluded (looked up by map).
    conditions: Vec<(FieldId, RouteAlts)>,
    /// (rule field, event field).
    aliases: Vec<(FieldId, FieldId)>,
    rules: Vec<u32>,
}

/// The compiled rule set.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<Rule>,
    fields: FieldTable,
    /// Field name -> id, hashed fast (looked up for every field of every event).
    lookup: FxHashMap<Box<str>, FieldId>,
    /// Per field: some rule compares it case-insensitively.
    lower_fields: Vec<bool>,
    sources: Vec<RouteSource>,
    /// Lower-cased Channel -> sources; `""` -> sources with no Channel condition.
    by_channel: HashMap<String, Vec<usize>>,
    channel_field: FieldId,
    /// Rules that run on every event (routing off).
    unrouted: Vec<u32>,
    has_keywords: bool,
    /// Per rule: it has a keyword selection (reads every value of the event).
    uses_keywords: Vec<bool>,
    routing: bool,
    /// Cross-rule literal scanners, one per field (see `prefilter.rs`).
    scans: Vec<FieldScan>,
    /// Per rule: it has a prefilter requirement (else it is always evaluated).
    gated: Vec<bool>,
    /// Keyword literal scanners, one per distinct set of keyword-gated
    /// rules a source routes to (so an event is scanned only for the
    /// keywords of rules that can run on it), and which one each source
    /// (or, routing off, every event) uses.
    keyword_scans: Vec<FieldScan>,
    source_keywords: Vec<Option<u32>>,
    unrouted_keywords: Option<u32>,
    /// No keyword literal holds a NUL: values can be scanned joined by NULs.
    keyword_joined: bool,
    /// Sigma correlation rules over the rules above.
    correlations: Vec<Correlation>,
    /// Per rule: the values correlations read from its matching events
    /// (candidate field names each); empty when it feeds none.
    needs: Vec<Vec<Vec<Box<str>>>>,
    /// Per rule: it feeds at least one correlation.
    feeds: Vec<bool>,
    /// Per rule / per correlation: it reports its own matches (selected, and
    /// not only the input of a correlation that does not `generate` them).
    rule_standalone: Vec<bool>,
    correlation_standalone: Vec<bool>,
}

impl Engine {
    /// Compiles every rule document of `texts`; the report says what
    /// happened to each.
    pub fn build(texts: &[RuleText], pipeline: &Pipeline, opts: &Options) -> (Engine, LoadReport) {
        let mut report = LoadReport::default();
        let mut fields = FieldTable::default();
        let channel_field = fields.intern("Channel");
        let mut parsed_rules: Vec<(SigmaRule, String)> = Vec::new();
        let mut filters: Vec<(FilterRule, String)> = Vec::new();
        let mut parsed_corrs: Vec<correlation::Parsed> = Vec::new();
        // YAML parsing is half of the load time: files in parallel, results
        // in file order.
        let collections: Vec<_> = texts
            .par_iter()
            .map(|t| {
                killchain_kb::yaml_depth::check(&t.text)?;
                rsigma_parser::parse_sigma_yaml(&t.text).map_err(|e| e.to_string())
            })
            .collect();
        for (t, collection) in texts.iter().zip(collections) {
            let collection = match collection {
                Ok(c) => c,
                Err(e) => {
                    report.entries.push(LoadEntry {
                        path: t.path.clone(),
                        title: "(unparsed file)".into(),
                        id: None,
                        outcome: Outcome::Invalid(e),
                    });
                    continue;
                }
            };
            for err in &collection.errors {
                report.entries.push(LoadEntry {
                    path: t.path.clone(),
                    title: "(unparsed document)".into(),
                    id: None,
                    outcome: Outcome::Invalid(err.clone()),
                });
            }
            if !collection.correlations.is_empty() {
                let conditionless = correlation::conditionless_titles(&t.text);
                for c in collection.correlations {
                    let condition_absent = conditionless.contains(&c.title)
                        && matches!(
                            c.correlation_type,
                            rsigma_parser::CorrelationType::Temporal
                                | rsigma_parser::CorrelationType::TemporalOrdered
                        );
                    parsed_corrs.push(correlation::Parsed {
                        rule: c,
                        path: t.path.clone(),
                        condition_absent,
                    });
                }
            }
            for r in collection.rules {
                parsed_rules.push((r, t.path.clone()));
            }
            for f in collection.filters {
                filters.push((f, t.path.clone()));
            }
        }

        // Correlations the selection keeps, and what they reference: those
        // rules load even when the selection would leave them out.
        let corr_selected: Vec<bool> = parsed_corrs
            .iter()
            .map(|p| {
                let why = filtered_out(&p.info(), &opts.selection);
                if let Some(why) = &why {
                    report.entries.push(LoadEntry {
                        path: p.path.clone(),
                        title: p.rule.title.clone(),
                        id: p.rule.id.clone(),
                        outcome: Outcome::Filtered(why.clone()),
                    });
                }
                why.is_none()
            })
            .collect();
        let (corr_needed, referenced) = correlation::closure(&parsed_corrs, &corr_selected);
        // A filtered correlation that another one needs is compiled after all.
        report.entries.retain(|e| {
            !(matches!(e.outcome, Outcome::Filtered(_))
                && parsed_corrs.iter().zip(&corr_needed).any(|(p, &n)| {
                    n && p.path == e.path && p.rule.title == e.title && p.rule.id == e.id
                }))
        });

        let mut rules: Vec<Rule> = Vec::new();
        let mut routes: Vec<Vec<usize>> = Vec::new();
        let mut rule_selected: Vec<bool> = Vec::new();
        // Each rule below adds exactly one report entry, in this order.
        let idents: Vec<[Option<String>; 2]> = parsed_rules
            .iter()
            .map(|(r, _)| [r.id.clone(), r.name.clone()])
            .collect();
        let first_entry = report.entries.len();
        for (r, path) in parsed_rules {
            let info = rule_info(&r, &path);
            let entry = |outcome| LoadEntry {
                path: path.clone(),
                title: r.title.clone(),
                id: r.id.clone(),
                outcome,
            };
            let is_referenced = [&r.id, &r.name]
                .into_iter()
                .flatten()
                .any(|x| referenced.binary_search(x).is_ok());
            let selected = match filtered_out(&info, &opts.selection) {
                Some(why) if !is_referenced => {
                    report.entries.push(entry(Outcome::Filtered(why)));
                    continue;
                }
                Some(_) => false,
                None => true,
            };
            let sources = if opts.routing {
                match pipeline.route(&info.logsource) {
                    Some(s) => s,
                    None => {
                        report.entries.push(entry(Outcome::Unsupported(format!(
                            "no pipeline source for logsource {}",
                            info.logsource
                        ))));
                        continue;
                    }
                }
            } else {
                Vec::new()
            };
            match compile_logic(&r, &mut fields, &pipeline.placeholders) {
                Ok(logic) => {
                    report.entries.push(entry(Outcome::Loaded));
                    rules.push(Rule {
                        info,
                        logic,
                        filters: Vec::new(),
                    });
                    routes.push(sources);
                    rule_selected.push(selected);
                }
                Err(crate::compile::CompileError::Unsupported(m)) => {
                    report.entries.push(entry(Outcome::Unsupported(m)))
                }
                Err(crate::compile::CompileError::Invalid(m)) => {
                    report.entries.push(entry(Outcome::Invalid(m)))
                }
            }
        }

        // Sigma filters: `and not <filter>` on the rules they name.
        for (f, path) in filters {
            let as_rule = filter_as_rule(&f);
            let entry = |outcome| LoadEntry {
                path: path.clone(),
                title: f.title.clone(),
                id: f.id.clone(),
                outcome,
            };
            match compile_logic(&as_rule, &mut fields, &pipeline.placeholders) {
                Ok(logic) => {
                    let mut applied = 0;
                    for rule in &mut rules {
                        if filter_applies(&f, &rule.info) {
                            rule.filters.push(logic.clone());
                            applied += 1;
                        }
                    }
                    report.entries.push(entry(if applied > 0 {
                        Outcome::Loaded
                    } else {
                        Outcome::Unsupported("filter names no loaded rule".into())
                    }));
                }
                Err(e) => report.entries.push(entry(match e {
                    crate::compile::CompileError::Unsupported(m) => Outcome::Unsupported(m),
                    crate::compile::CompileError::Invalid(m) => Outcome::Invalid(m),
                })),
            }
        }

        // Correlation rules, over the loaded rules.
        let infos: Vec<RuleInfo> = rules.iter().map(|r| r.info.clone()).collect();
        let aliases = |rule: usize, field: &str| -> Vec<String> {
            routes[rule]
                .iter()
                .flat_map(|&s| pipeline.sources[s].aliases.iter())
                .filter(|(rule_f, _)| rule_f == field)
                .map(|(_, event_f)| event_f.clone())
                .collect()
        };
        // Why a referenced rule did not load, by id and by name.
        let mut unloaded: HashMap<String, String> = HashMap::new();
        for (ident, e) in idents.iter().zip(&report.entries[first_entry..]) {
            let why = match &e.outcome {
                Outcome::Loaded => continue,
                Outcome::Unsupported(w) | Outcome::Invalid(w) | Outcome::Filtered(w) => w,
            };
            for x in ident.iter().flatten() {
                unloaded.insert(x.clone(), why.clone());
            }
        }
        let not_loaded = |reference: &str| unloaded.get(reference).cloned();
        let compiled = correlation::compile_all(
            correlation::Inputs {
                parsed: &parsed_corrs,
                needed: &corr_needed,
                selected: &corr_selected,
                rules: &infos,
                rule_selected: &rule_selected,
                aliases: &aliases,
                not_loaded: &not_loaded,
            },
            &mut report,
        );

        // Routing tables.
        let mut sources: Vec<RouteSource> = pipeline
            .sources
            .iter()
            .map(|s| RouteSource {
                conditions: s
                    .conditions
                    .iter()
                    .filter(|(k, _)| k != "Channel")
                    .map(|(k, v)| (fields.intern(k), RouteAlts::new(v)))
                    .collect(),
                aliases: s
                    .aliases
                    .iter()
                    .map(|(rule_f, event_f)| (fields.intern(rule_f), fields.intern(event_f)))
                    .collect(),
                rules: Vec::new(),
            })
            .collect();
        let mut unrouted = Vec::new();
        for (i, srcs) in routes.iter().enumerate() {
            if opts.routing {
                for &s in srcs {
                    sources[s].rules.push(i as u32);
                }
            } else {
                unrouted.push(i as u32);
            }
        }

        let keywords_field = fields.intern(prefilter::KEYWORDS_FIELD);
        let mut lower_fields = vec![false; fields.names.len()];
        let mut uses_keywords = vec![false; rules.len()];
        for (r, flag) in rules.iter().zip(&mut uses_keywords) {
            for logic in std::iter::once(&r.logic).chain(&r.filters) {
                for d in &logic.dets {
                    mark_lower(d, &mut lower_fields, flag);
                }
            }
        }
        let has_keywords = uses_keywords.contains(&true);
        // The prefilter: per-field literal scanners.
        let reqs: Vec<(u32, prefilter::Requirement)> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                prefilter::requirement(&r.logic, keywords_field).map(|q| (i as u32, q))
            })
            .collect();
        let mut gated = vec![false; rules.len()];
        let mut keyword_gated = vec![false; rules.len()];
        for (i, req) in &reqs {
            gated[*i as usize] = true;
            keyword_gated[*i as usize] = req.iter().any(|(f, _)| *f == keywords_field);
        }
        let keyword_joined = !reqs
            .iter()
            .flat_map(|(_, req)| req)
            .any(|(f, lit)| *f == keywords_field && lit.contains('\0'));
        // Field literals in per-field scanners; keyword literals apart,
        // grouped by the rules an event can be routed to.
        let field_reqs: Vec<(u32, prefilter::Requirement)> = reqs
            .iter()
            .map(|(r, req)| {
                let own = req.iter().filter(|(f, _)| *f != keywords_field);
                (*r, own.cloned().collect())
            })
            .collect();
        let scans = prefilter::build(&field_reqs);
        let mut keyword_scans = Vec::new();
        let mut keyword_groups: HashMap<Vec<u32>, Option<u32>> = HashMap::new();
        let mut keywords_of = |rules: &[u32]| -> Option<u32> {
            let gated: Vec<u32> = rules
                .iter()
                .copied()
                .filter(|&r| keyword_gated[r as usize])
                .collect();
            if gated.is_empty() {
                return None;
            }
            *keyword_groups.entry(gated).or_insert_with_key(|gated| {
                let subset: Vec<(u32, prefilter::Requirement)> = reqs
                    .iter()
                    .filter(|(r, _)| gated.binary_search(r).is_ok())
                    .map(|(r, req)| {
                        let kw = req.iter().filter(|(f, _)| *f == keywords_field);
                        (*r, kw.cloned().collect())
                    })
                    .collect();
                let scan = prefilter::build(&subset).pop()?;
                keyword_scans.push(scan);
                Some(keyword_scans.len() as u32 - 1)
            })
        };
        let source_keywords: Vec<Option<u32>> = sources
            .iter()
            .map(|src| {
                let mut rules = src.rules.clone();
                rules.sort_unstable();
                keywords_of(&rules)
            })
            .collect();
        let unrouted_keywords = keywords_of(&unrouted);
        for s in &scans {
            lower_fields[s.field as usize] = true;
        }
        // An aliased field is read through the event's own name: lower-case
        // that one when the rule's is (after the scanned fields are marked).
        for src in &sources {
            for &(rule_f, event_f) in &src.aliases {
                if lower_fields[rule_f as usize] {
                    lower_fields[event_f as usize] = true;
                }
            }
        }
        let lookup = fields
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as FieldId))
            .collect();
        let engine = Engine {
            rules,
            lookup,
            lower_fields,
            by_channel: pipeline.by_channel(),
            sources,
            channel_field,
            unrouted,
            has_keywords,
            uses_keywords,
            routing: opts.routing,
            fields,
            scans,
            gated,
            keyword_scans,
            source_keywords,
            unrouted_keywords,
            keyword_joined,
            feeds: compiled.correlations.iter().flat_map(|c| c.sources()).fold(
                vec![false; compiled.needs.len()],
                |mut v, s| {
                    if let correlation::Source::Rule(r) = s {
                        v[r] = true;
                    }
                    v
                },
            ),
            correlations: compiled.correlations,
            needs: compiled.needs,
            rule_standalone: compiled.rule_standalone,
            correlation_standalone: compiled.standalone,
        };
        (engine, report)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    /// Rule `i`'s metadata (`i` from [`Engine::evaluate`]).
    pub fn rule(&self, i: usize) -> &RuleInfo {
        &self.rules[i].info
    }
    pub fn rules(&self) -> impl Iterator<Item = &RuleInfo> {
        self.rules.iter().map(|r| &r.info)
    }

    /// The Sigma correlation rules loaded (see [`crate::Correlator`]).
    pub fn correlations(&self) -> &[Correlation] {
        &self.correlations
    }

    /// Whether rule `i`'s matches are reported on their own. False for a
    /// rule loaded only because a correlation references it, or referenced
    /// by a correlation that does not `generate` its rules (the Sigma
    /// default): its matches then only feed the correlation.
    pub fn is_standalone(&self, i: usize) -> bool {
        self.rule_standalone[i]
    }

    /// Whether correlation `i`'s hits are reported on their own (false when
    /// it only feeds another correlation, see [`Engine::is_standalone`]).
    pub fn correlation_is_standalone(&self, i: usize) -> bool {
        self.correlation_standalone[i]
    }

    /// Whether matches of rule `i` feed a correlation.
    pub fn feeds_correlation(&self, i: usize) -> bool {
        self.feeds[i]
    }

    /// For a match of rule `i` on `event`: the values its correlations group
    /// and count by, read from the event (to hand to
    /// [`Correlator::push`](crate::Correlator::push) with the event's time).
    /// None when the rule feeds no correlation. Values are text; numbers and
    /// booleans in their JSON spelling; absent or null fields are None.
    pub fn observe<E: Event + ?Sized>(&self, i: usize, event: &E) -> Option<Vec<Option<Box<str>>>> {
        if !self.feeds[i] {
            return None;
        }
        let needs = &self.needs[i];
        // (value, rank of the name that gave it: the rule's own name wins).
        let mut found: Vec<(Option<Box<str>>, usize)> = vec![(None, usize::MAX); needs.len()];
        event.for_each_field(&mut |name, v| {
            for (slot, names) in found.iter_mut().zip(needs) {
                if let Some(rank) = names.iter().position(|n| **n == *name) {
                    if rank < slot.1 {
                        let text: Option<Box<str>> = match v {
                            Value::String(s) => Some(s.as_str().into()),
                            Value::Number(n) => Some(n.to_string().into()),
                            Value::Bool(b) => Some(b.to_string().into()),
                            _ => None,
                        };
                        if text.is_some() {
                            *slot = (text, rank);
                        }
                    }
                }
            }
        });
        Some(found.into_iter().map(|(v, _)| v).collect())
    }

    /// Evaluates one event; pushes the indexes of the matching rules onto
    /// `out`, in rule order.
    pub fn evaluate<E: Event + ?Sized>(
        &self,
        event: &E,
        scratch: &mut Scratch,
        out: &mut Vec<usize>,
    ) {
        scratch.keyword_text.clear();
        self.evaluate_inner(event, scratch, out, false);
    }

    /// Whether the engine reads a field of this name (a rule's, an alias's
    /// or routing's): a record's other members can be left out of the event
    /// given to [`Engine::evaluate_partial`].
    pub fn reads_field(&self, name: &str) -> bool {
        self.lookup.contains_key(name)
    }

    /// Whether [`Engine::evaluate_partial`] can be used (keyword literals
    /// are searched over joined values: none holds a NUL).
    pub fn supports_partial(&self) -> bool {
        self.keyword_joined
    }

    /// Notes a string value of the event that is left out of the event
    /// given to [`Engine::evaluate_partial`] (keyword selections search
    /// every value).
    pub fn note_left_out(&self, s: &str, notes: &mut LeftOut) {
        if self.has_keywords {
            push_lower(&mut notes.text, s);
            notes.text.push('\0');
        }
    }

    /// [`Engine::evaluate`] for an event that holds only the fields the
    /// engine reads ([`Engine::reads_field`]), the string values of the
    /// others given to [`Engine::note_left_out`] first. Returns false, with
    /// nothing pushed, when that is not enough: a rule with a keyword
    /// selection (which reads every value) passed the prefilter. Then
    /// evaluate the whole event instead.
    pub fn evaluate_partial<E: Event + ?Sized>(
        &self,
        event: &E,
        notes: &mut LeftOut,
        scratch: &mut Scratch,
        out: &mut Vec<usize>,
    ) -> bool {
        debug_assert!(self.supports_partial());
        // The notes are the start of the keyword text (buffers swapped,
        // not copied).
        std::mem::swap(&mut scratch.keyword_text, &mut notes.text);
        let complete = self.evaluate_inner(event, scratch, out, true);
        std::mem::swap(&mut scratch.keyword_text, &mut notes.text);
        notes.text.clear();
        complete
    }

    fn evaluate_inner<E: Event + ?Sized>(
        &self,
        event: &E,
        scratch: &mut Scratch,
        out: &mut Vec<usize>,
        partial: bool,
    ) -> bool {
        scratch.ensure(self.fields.names.len(), self.rules.len());
        let mut vals: Vec<(&Value, Span)> = Vec::with_capacity(32);
        // Every value, for keyword selections, with its lower-cased text when
        // the field pass below already made it (not lower-cased twice).
        let mut all: Vec<(&Value, Option<Span>)> = Vec::new();
        let keywords = self.has_keywords;
        let slots = &mut scratch.slots;
        let touched = &mut scratch.touched;
        let arena = &mut scratch.arena;
        arena.clear();
        // The record's own channel routes the event: the first `Channel`
        // (flattened events give System's first). A later one comes from the
        // event's data (Event 104's UserData names the log that was cleared)
        // and is what rules compare `Channel` with, as in the rendered XML.
        let mut route_channel: Option<&Value> = None;
        let channel_field = self.channel_field;
        event.for_each_field(&mut |name, v| {
            let mut known = None;
            if let Some(&id) = self.lookup.get(name) {
                let slot = &mut slots[id as usize];
                let later_channel = id == channel_field && *slot != ABSENT;
                if *slot == ABSENT || later_channel {
                    let span = match v {
                        Value::String(s)
                            if self.lower_fields[id as usize] && !is_lower_ascii(s) =>
                        {
                            // Lower-cased straight into the arena (no String per value).
                            let start = arena.len();
                            push_lower(arena, s);
                            Span::At(start as u32, arena.len() as u32)
                        }
                        _ => Span::Raw,
                    };
                    if self.lower_fields[id as usize] && v.is_string() {
                        known = Some(span);
                    }
                    if later_channel {
                        vals[*slot as usize] = (v, span);
                    } else {
                        if id == channel_field {
                            route_channel = Some(v);
                        }
                        *slot = vals.len() as u32;
                        touched.push(id);
                        vals.push((v, span));
                    }
                }
            }
            if keywords {
                all.push((v, known));
            }
        });

        // Candidate rules.
        let candidates = &mut scratch.candidates;
        candidates.clear();
        if self.routing {
            let channel = route_channel.and_then(Value::as_str).map(lower);
            let srcs = channel
                .as_deref()
                .and_then(|c| self.by_channel.get(c))
                .into_iter()
                .flatten()
                .chain(self.by_channel.get("").into_iter().flatten());
            for &s in srcs {
                let src = &self.sources[s];
                let holds = src
                    .conditions
                    .iter()
                    .all(|(f, alts)| match slots[*f as usize] {
                        ABSENT => false,
                        i => value_in(vals[i as usize].0, alts),
                    });
                if !holds {
                    continue;
                }
                if let Some(k) = self.source_keywords[s] {
                    if !scratch.keyword_scans.contains(&k) {
                        scratch.keyword_scans.push(k);
                    }
                }
                for &(rule_f, event_f) in &src.aliases {
                    let (rf, ef) = (rule_f as usize, event_f as usize);
                    if slots[rf] == ABSENT && slots[ef] != ABSENT {
                        slots[rf] = slots[ef];
                        touched.push(rule_f);
                    }
                }
                for &r in &src.rules {
                    let stamp = &mut scratch.rule_seen[r as usize];
                    if !*stamp {
                        *stamp = true;
                        candidates.push(r);
                    }
                }
            }
            // Not sorted (hundreds per event): the matches are, below.
            for &r in candidates.iter() {
                scratch.rule_seen[r as usize] = false;
            }
        } else {
            candidates.extend_from_slice(&self.unrouted);
            scratch.keyword_scans.extend(self.unrouted_keywords);
        }

        // Prefilter: scan each field once for every rule's literals.
        let marked = &mut scratch.marked;
        let marked_list = &mut scratch.marked_list;
        let mut mark = |r: u32| {
            if !marked[r as usize] {
                marked[r as usize] = true;
                marked_list.push(r);
            }
        };
        if !scratch.keyword_scans.is_empty() {
            // Keyword literals: every string value, lower-cased into one
            // buffer, scanned once per keyword scanner the event's sources
            // use. NUL-separated, so no literal spans two values (literals
            // with a NUL are scanned value by value instead).
            let kw_scans = scratch
                .keyword_scans
                .iter()
                .map(|&k| &self.keyword_scans[k as usize]);
            let mut mark_all = |text: &str| {
                for scan in kw_scans.clone() {
                    scan.scan
                        .each_present(text, |i| scan.rules[i].iter().for_each(|&r| mark(r)));
                }
            };
            let text = &mut scratch.keyword_text;
            for &(v, known) in &all {
                each_string(v, &mut |s| {
                    match known {
                        Some(span) => text.push_str(span.lower_of(s, arena)),
                        None => push_lower(text, s),
                    }
                    if self.keyword_joined {
                        text.push('\0');
                    } else {
                        mark_all(text);
                        text.clear();
                    }
                    false
                });
            }
            if self.keyword_joined {
                mark_all(text);
            }
            scratch.keyword_scans.clear();
        }
        scratch.keyword_text.clear();
        if !candidates.is_empty() {
            for scan in &self.scans {
                let slot = slots[scan.field as usize];
                if slot == ABSENT {
                    continue;
                }
                let (v, span) = vals[slot as usize];
                match v {
                    Value::String(s) => {
                        let text = span.lower_of(s, arena);
                        scan.scan
                            .each_present(text, |i| scan.rules[i].iter().for_each(|&r| mark(r)));
                    }
                    _ => scan.all_rules.iter().for_each(|&r| mark(r)),
                }
            }
        }

        let ctx = Ctx {
            slots,
            vals: &vals,
            arena,
            all: &all,
        };
        let before = out.len();
        let mut complete = true;
        for &r in candidates.iter() {
            if self.gated[r as usize] && !marked[r as usize] {
                continue;
            }
            if partial && self.uses_keywords[r as usize] {
                out.truncate(before);
                complete = false;
                break;
            }
            let rule = &self.rules[r as usize];
            if eval_logic(&rule.logic, &ctx) && !rule.filters.iter().any(|f| eval_logic(f, &ctx)) {
                out.push(r as usize);
            }
        }
        // Matches in rule order, whatever order the sources gave them in.
        out[before..].sort_unstable();
        for &f in touched.iter() {
            slots[f as usize] = ABSENT;
        }
        touched.clear();
        for &r in marked_list.iter() {
            marked[r as usize] = false;
        }
        marked_list.clear();
        complete
    }
}

const ABSENT: u32 = u32::MAX;

/// Where a value's lower-cased text is: the raw text itself, or a span of
/// the scratch arena.
#[derive(Debug, Clone, Copy)]
enum Span {
    Raw,
    At(u32, u32),
}

impl Span {
    /// The lower-cased text of the string value `raw` this span belongs to.
    fn lower_of<'a>(self, raw: &'a str, arena: &'a str) -> &'a str {
        match self {
            Span::Raw => raw,
            Span::At(a, b) => &arena[a as usize..b as usize],
        }
    }
}

/// The string values of an event left out of the event given to
/// [`Engine::evaluate_partial`], noted with [`Engine::note_left_out`]
/// (lower-cased, for keyword selections). Emptied by each evaluation.
#[derive(Debug, Default)]
pub struct LeftOut {
    text: String,
}

impl LeftOut {
    /// Forgets the notes (a record whose parse failed half-way).
    pub fn clear(&mut self) {
        self.text.clear();
    }
}

/// Reusable per-thread buffers for [`Engine::evaluate`].
#[derive(Debug, Default)]
pub struct Scratch {
    /// Field id -> index into the event's values, or ABSENT.
    slots: Vec<u32>,
    touched: Vec<FieldId>,
    arena: String,
    candidates: Vec<u32>,
    rule_seen: Vec<bool>,
    /// Rules whose prefilter literal was seen in this event.
    marked: Vec<bool>,
    marked_list: Vec<u32>,
    /// The event's string values lower-cased, for the keyword scan.
    keyword_text: String,
    /// The keyword scanners this event's sources use.
    keyword_scans: Vec<u32>,
}

impl Scratch {
    fn ensure(&mut self, fields: usize, rules: usize) {
        if self.slots.len() < fields {
            self.slots.resize(fields, ABSENT);
        }
        if self.rule_seen.len() < rules {
            self.rule_seen.resize(rules, false);
            self.marked.resize(rules, false);
        }
    }
}

/// One event, ready for evaluation.
struct Ctx<'a, 'e> {
    slots: &'a [u32],
    vals: &'a [(&'e Value, Span)],
    arena: &'a str,
    all: &'a [(&'e Value, Option<Span>)],
}

impl Fields for Ctx<'_, '_> {
    fn get(&self, field: FieldId) -> Option<&Value> {
        match self.slots[field as usize] {
            ABSENT => None,
            i => Some(self.vals[i as usize].0),
        }
    }
}

fn eval_logic(logic: &Logic, ctx: &Ctx<'_, '_>) -> bool {
    logic.conds.iter().any(|c| eval_cond(c, logic, ctx))
}

fn eval_cond(c: &Cond, logic: &Logic, ctx: &Ctx<'_, '_>) -> bool {
    match c {
        Cond::Det(i) => eval_det(&logic.dets[*i], ctx),
        Cond::And(xs) => xs.iter().all(|x| eval_cond(x, logic, ctx)),
        Cond::Or(xs) => xs.iter().any(|x| eval_cond(x, logic, ctx)),
        Cond::Not(x) => !eval_cond(x, logic, ctx),
        Cond::Of { need, dets } => match need {
            Need::Any => dets.iter().any(|&d| eval_det(&logic.dets[d], ctx)),
            Need::All => dets.iter().all(|&d| eval_det(&logic.dets[d], ctx)),
            Need::AtLeast(n) => {
                let mut hits = 0u64;
                for &d in dets {
                    if eval_det(&logic.dets[d], ctx) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                false
            }
        },
    }
}

fn eval_det(d: &Det, ctx: &Ctx<'_, '_>) -> bool {
    match d {
        Det::All(items) => items.iter().all(|i| eval_item(i, ctx)),
        Det::Any(ds) => ds.iter().any(|d| eval_det(d, ctx)),
        Det::And(ds) => ds.iter().all(|d| eval_det(d, ctx)),
        Det::Keywords(m) => ctx.all.iter().any(|&(v, known)| {
            each_string(v, &mut |s| {
                let l = match known {
                    Some(span) => Cow::Borrowed(span.lower_of(s, ctx.arena)),
                    None => lower(s),
                };
                m.matches(Text::Str { raw: s, lower: &l }, ctx)
            })
        }),
    }
}

fn eval_item(item: &Item, ctx: &Ctx<'_, '_>) -> bool {
    let slot = ctx.slots[item.field as usize];
    if slot == ABSENT {
        return match &item.test {
            ItemTest::Exists(want) => !want,
            ItemTest::Match(m) => m.matches_missing(),
        };
    }
    let (v, span) = ctx.vals[slot as usize];
    match &item.test {
        // Presence only, "be it empty or null" (Sigma modifiers appendix v2.1).
        ItemTest::Exists(want) => *want,
        ItemTest::Match(m) => match v {
            Value::String(s) => {
                let lower = span.lower_of(s, ctx.arena);
                m.matches(Text::Str { raw: s, lower }, ctx)
            }
            other => m.matches(Text::Other(other), ctx),
        },
    }
}

/// A routing condition's alternatives (lower-cased text), with the ones
/// that are integers in canonical form also kept as numbers, so an event's
/// numeric `EventID` is compared without formatting it (this runs for every
/// source of the event's channel, on every event).
#[derive(Debug, Clone)]
struct RouteAlts {
    text: Vec<String>,
    ints: Vec<i64>,
}

impl RouteAlts {
    fn new(alts: &[String]) -> Self {
        let ints = alts
            .iter()
            .filter_map(|a| a.parse::<i64>().ok().filter(|i| i.to_string() == *a))
            .collect();
        RouteAlts {
            text: alts.to_vec(),
            ints,
        }
    }
}

/// Whether a routing condition's alternatives contain the event value
/// (text compared case-insensitively: the alternatives are lower-cased).
fn value_in(v: &Value, alts: &RouteAlts) -> bool {
    match v {
        Value::String(s) if s.is_ascii() => alts.text.iter().any(|a| a.eq_ignore_ascii_case(s)),
        Value::String(s) => {
            let l = lower(s);
            alts.text.iter().any(|a| *a == l)
        }
        Value::Number(n) => match n.as_i64() {
            Some(i) => alts.ints.contains(&i),
            None => alts.text.contains(&n.to_string()),
        },
        _ => false,
    }
}

fn mark_lower(d: &Det, lower_fields: &mut [bool], keywords: &mut bool) {
    match d {
        Det::All(items) => {
            for i in items {
                if i.needs_lower {
                    lower_fields[i.field as usize] = true;
                }
            }
        }
        Det::Any(ds) | Det::And(ds) => ds
            .iter()
            .for_each(|d| mark_lower(d, lower_fields, keywords)),
        Det::Keywords(_) => *keywords = true,
    }
}

fn rule_info(r: &SigmaRule, path: &str) -> RuleInfo {
    RuleInfo {
        id: r.id.clone(),
        title: r.title.clone(),
        name: r.name.clone(),
        level: r.level.map(crate::rules::level_of),
        status: r.status.map(|s| format!("{s:?}").to_lowercase()),
        tags: r.tags.clone(),
        logsource: LogsourceKey {
            product: r.logsource.product.clone(),
            category: r.logsource.category.clone(),
            service: r.logsource.service.clone(),
        },
        path: path.to_string(),
        correlation: false,
    }
}

/// Why the selection leaves a rule out, if it does.
fn filtered_out(info: &RuleInfo, sel: &Selection) -> Option<String> {
    if let Some(min) = sel.min_level {
        if info.level.is_none_or(|l| l < min) {
            return Some(format!("level below {}", min.as_str()));
        }
    }
    let status = info.status.as_deref().unwrap_or("");
    if sel.statuses.is_empty() {
        if matches!(status, "deprecated" | "unsupported") {
            return Some(format!("status {status}"));
        }
    } else if !sel.statuses.iter().any(|s| s.eq_ignore_ascii_case(status)) {
        return Some(format!(
            "status {}",
            if status.is_empty() { "(none)" } else { status }
        ));
    }
    if !sel.tags.is_empty()
        && !info
            .tags
            .iter()
            .any(|t| sel.tags.iter().any(|s| s.eq_ignore_ascii_case(t)))
    {
        return Some("no selected tag".into());
    }
    None
}

/// A filter's detection as a rule, so it compiles the same way.
fn filter_as_rule(f: &FilterRule) -> SigmaRule {
    SigmaRule {
        title: f.title.clone(),
        logsource: f.logsource.clone().unwrap_or_default(),
        detection: f.detection.clone(),
        sigma_version: f.sigma_version,
        id: f.id.clone(),
        name: f.name.clone(),
        related: Vec::new(),
        taxonomy: None,
        status: f.status,
        description: None,
        license: None,
        author: None,
        references: Vec::new(),
        date: None,
        modified: None,
        fields: Vec::new(),
        falsepositives: Vec::new(),
        level: None,
        tags: Vec::new(),
        scope: Vec::new(),
        custom_attributes: HashMap::new(),
    }
}

/// Whether a filter targets a rule: by id or title (or all rules), and its
/// logsource, when it has one, fits the rule's.
fn filter_applies(f: &FilterRule, rule: &RuleInfo) -> bool {
    let targeted = match &f.rules {
        FilterRuleTarget::Any => true,
        FilterRuleTarget::Specific(names) => names
            .iter()
            .any(|n| rule.id.as_deref() == Some(n.as_str()) || rule.title == *n),
    };
    let fits = f.logsource.as_ref().is_none_or(|l| {
        let eq = |a: &Option<String>, b: &Option<String>| {
            a.as_ref()
                .is_none_or(|x| b.as_deref().is_some_and(|y| y.eq_ignore_ascii_case(x)))
        };
        eq(&l.product, &rule.logsource.product)
            && eq(&l.category, &rule.logsource.category)
            && eq(&l.service, &rule.logsource.service)
    });
    targeted && fits
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn route_values_compare_as_text_or_canonical_integer() {
        let alts = RouteAlts::new(&["4688".into(), "04689".into(), "security".into()]);
        assert!(value_in(&json!(4688), &alts));
        assert!(value_in(&json!("4688"), &alts));
        // "04689" is text only: a number never formats that way.
        assert!(!value_in(&json!(4689), &alts));
        assert!(value_in(&json!("04689"), &alts));
        assert!(value_in(&json!("Security"), &alts));
        assert!(value_in(&json!("SECURITY"), &alts));
        assert!(!value_in(&json!("securit"), &alts));
        assert!(!value_in(&json!(4688.5), &alts));
        assert!(!value_in(&json!(true), &alts));
        let unicode = RouteAlts::new(&["äpfel".into()]);
        assert!(value_in(&json!("ÄPFEL"), &unicode));
    }
}
