//! `killchain rules check`, and loading rule sets and pipelines for `hunt`:
//! the I/O edge of the Sigma engine (reading rule folders and pipeline
//! files; the engine itself only sees their texts).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use killchain_detect::{Engine, LoadReport, Options, Outcome, Pipeline, PipelineFile, RuleText};

use crate::cli::{GlobalOpts, RulesCommand};
use crate::context;
use crate::walk::files_below;

pub fn run(global: &GlobalOpts, cmd: RulesCommand) -> Result<ExitCode> {
    let RulesCommand::Check {
        paths,
        pipelines,
        json,
    } = cmd;
    let pipeline = load_pipeline(global, &pipelines)?;
    let (texts, unreadable) = read_rule_texts(&paths);
    let opts = Options {
        selection: killchain_detect::Selection::everything(),
        ..Options::default()
    };
    let (_, mut report) = Engine::build(&texts, &pipeline, &opts);
    report.entries.extend(unreadable);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report_text(&report, true));
    }
    Ok(if report.invalid() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The load report as text: every rule not loaded, then reasons and totals.
pub fn report_text(report: &LoadReport, detail: bool) -> String {
    let mut s = String::new();
    if detail {
        for e in &report.entries {
            match &e.outcome {
                Outcome::Unsupported(r) => {
                    s.push_str(&format!("unsupported  {}  ({}): {r}\n", e.path, e.title))
                }
                Outcome::Invalid(r) => {
                    s.push_str(&format!("invalid      {}  ({}): {r}\n", e.path, e.title))
                }
                _ => {}
            }
        }
        let reasons = report.reasons();
        if !reasons.is_empty() {
            s.push_str("\nreasons:\n");
            for (r, n) in reasons {
                s.push_str(&format!("  {n:>5}  {r}\n"));
            }
        }
    }
    let total = report.entries.len();
    let share = if total > 0 {
        100.0 * report.loaded() as f64 / (total - report.filtered()).max(1) as f64
    } else {
        0.0
    };
    s.push_str(&format!(
        "rules: {} documents: {} ({share:.1}% of those selected loaded)\n",
        total,
        report.summary()
    ));
    s
}

/// Every `.yml` / `.yaml` under the given files and folders, sorted per
/// argument; files that cannot be read come back as invalid report entries.
pub fn read_rule_texts(paths: &[PathBuf]) -> (Vec<RuleText>, Vec<killchain_detect::LoadEntry>) {
    let mut texts = Vec::new();
    let mut bad = Vec::new();
    for root in paths {
        let mut files = Vec::new();
        if let Err(e) = collect_yaml(root, &mut files, &mut bad) {
            bad.push(unreadable(root, &e));
            continue;
        }
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(text) => texts.push(RuleText {
                    path: f.display().to_string(),
                    text,
                }),
                Err(e) => bad.push(unreadable(&f, &e)),
            }
        }
    }
    (texts, bad)
}

fn unreadable(p: &Path, e: &std::io::Error) -> killchain_detect::LoadEntry {
    killchain_detect::LoadEntry {
        path: p.display().to_string(),
        title: "(unreadable)".into(),
        id: None,
        outcome: Outcome::Invalid(format!("cannot read: {e}")),
    }
}

/// A rule file named directly, or the rule files below a folder; what the
/// walk skipped below it (a FIFO named like a rule, an unreadable
/// subfolder) becomes an invalid report entry.
fn collect_yaml(
    p: &Path,
    out: &mut Vec<PathBuf>,
    bad: &mut Vec<killchain_detect::LoadEntry>,
) -> std::io::Result<()> {
    let m = std::fs::metadata(p)?;
    if m.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    if !m.is_dir() {
        // A FIFO or device named on the command line would block on read.
        return Err(std::io::Error::other("not a regular file"));
    }
    let yaml = |f: &Path| {
        f.extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("yml") || x.eq_ignore_ascii_case("yaml"))
    };
    let walked = files_below(p, &yaml)?;
    out.extend(walked.files);
    bad.extend(
        walked
            .skipped
            .into_iter()
            .map(|s| killchain_detect::LoadEntry {
                path: s.path.display().to_string(),
                title: "(unreadable)".into(),
                id: None,
                outcome: Outcome::Invalid(s.reason),
            }),
    );
    Ok(())
}

/// The built-in pipeline, then `<data dir>/pipelines/*.yaml` in name order,
/// then each `--pipeline` file in the order given; later files replace
/// sources and logsources with the same id / key.
pub fn load_pipeline(global: &GlobalOpts, extra: &[PathBuf]) -> Result<Pipeline> {
    let mut pipeline = Pipeline::builtin();
    let mut files = Vec::new();
    let dir = context::data_dir(global)?.join("pipelines");
    if dir.is_dir() {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files.extend(extra.iter().cloned());
    for f in files {
        let name = f.display().to_string();
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("cannot read pipeline {name}"))?;
        let file = PipelineFile::from_yaml(&text, &name)?;
        pipeline.add(file, &name)?;
    }
    Ok(pipeline)
}
