//! Command-line interface definition (clap derive). Help texts here are the
//! user's manual: keep them accurate and give examples.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Map attacker activity onto the cyber kill chain";

const LONG_ABOUT: &str = "\
killchain maps what attackers do onto the cyber kill chain. Feed it alerts \
from your SIEM, EDR or Sigma tools; it finds the ATT&CK techniques and \
tactics in them (ECS, Elastic, Sigma tags, Hayabusa, Wazuh, Splunk, STIX, \
plain fields) and places each in the Lockheed Martin kill chain (lm), the \
ATT&CK tactics (attack), the Unified Kill Chain (ukc) and your own models.";

const EXAMPLES: &str = "\
Examples:
  killchain demo                               run the pipeline on the built-in sample
  killchain map alerts.ndjson > enriched.ndjson
  cat alerts.json | killchain map --model lm   enrich a stream, Lockheed Martin only
  killchain hunt logs/ --rules sigma/rules/windows   Sigma over EVTX / JSON, findings mapped
  killchain explain T1003.001                  what is it, which phases, who uses it
  killchain explain attack.g0016               a Sigma tag, a group, a name...
  killchain models show lm                     the ATT&CK -> kill chain mapping table
  killchain kb info                            which ATT&CK release is in use
  killchain completions bash > /etc/bash_completion.d/killchain";

#[derive(Debug, Parser)]
#[command(name = "killchain", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Args, Clone)]
pub struct GlobalOpts {
    /// ATT&CK index file to use instead of the installed or built-in one
    /// (written by `killchain kb import --output`).
    #[arg(long, global = true, env = "KILLCHAIN_KB", value_name = "FILE")]
    pub kb: Option<PathBuf>,
    /// Extra kill chain model (YAML, see docs/models.md); repeatable. A model
    /// whose id is built in (lm, ukc, attack) replaces it.
    #[arg(long = "model-file", global = true, value_name = "FILE")]
    pub model_files: Vec<PathBuf>,
    /// Where killchain keeps the imported ATT&CK index and user models
    /// (default: the platform data directory, e.g. ~/.local/share/killchain).
    #[arg(long, global = true, env = "KILLCHAIN_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipeline on a built-in attack sample and print a kill chain summary.
    Demo(DemoArgs),
    /// Enrich alerts (NDJSON or JSON arrays) with ATT&CK and kill chain context.
    #[command(after_help = MAP_HELP)]
    Map(MapArgs),
    /// Hunt with Sigma rules over Windows event logs (EVTX, JSON, zip) and map the findings.
    #[command(after_help = HUNT_HELP)]
    Hunt(HuntArgs),
    /// Sigma rule sets: load them and report what loads, what does not and why.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Explain a technique, tactic, group, software, campaign or mitigation.
    Explain(ExplainArgs),
    /// Manage the ATT&CK knowledge base (info, import a newer release).
    #[command(subcommand)]
    Kb(KbCommand),
    /// List, show and check kill chain models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Measure throughput of the hot paths against a parse-only floor.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Findings into incidents with kill chain progression and severity (`incident show ID`).
    #[command(alias = "incident", after_help = INCIDENTS_HELP, args_conflicts_with_subcommands = true)]
    Incidents(IncidentsArgs),
    /// Control coverage: defence in depth, gaps, investments, attack-path simulation.
    #[command(after_help = COVERAGE_HELP)]
    Coverage(CoverageArgs),
    /// Predict the next move: tactics, techniques, kill chain phases, likely adversaries, countermeasures, playbooks.
    #[command(after_help = PREDICT_HELP)]
    Predict(PredictArgs),
    /// The next-move model: train it on your own Attack Flows.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Evaluate the next-move model against baselines.
    #[command(subcommand)]
    Eval(EvalCommand),
}

const MAP_HELP: &str = "\
Output: each input record as one NDJSON line, with ECS threat.* fields, \
kill_chain.<model> {phase, phases, phase_index, rationale, confidence} and \
killchain {mapped, confidence, evidence, record} added (docs/output-schema.md). \
A malformed record is reported on stderr as FILE:LINE: reason and skipped; \
the run goes on and the summary counts it. Exit status: 0 all good, 1 some \
input was malformed or unreadable, 2 fatal error (or any bad record with --strict).

Examples:
  killchain map alerts.ndjson -o enriched.ndjson
  killchain map --model lm,ukc wazuh-alerts.json.gz
  killchain map --technique-field detection.mitre.technique alerts.ndjson
  killchain map --lean alerts.ndjson           smaller output: no rationale, no evidence
  tail -f alerts.ndjson | killchain map --line-buffered --summary none";

#[derive(Debug, Args)]
pub struct MapArgs {
    /// Input files (NDJSON, JSON arrays, optionally gzip); `-` or nothing reads stdin.
    #[arg(value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Models to place findings in (comma-separated; default: all).
    #[arg(long = "model", short = 'm', value_delimiter = ',', value_name = "ID")]
    pub models: Vec<String>,
    /// Input format; `auto` looks at the first byte (`[` = JSON array).
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub format: InputFormat,
    /// Write output here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop at the first malformed record or unreadable file.
    #[arg(long)]
    pub strict: bool,
    /// What to do with records that carry no ATT&CK reference.
    #[arg(long, value_enum, default_value_t = UnmappedPolicy::Pass)]
    pub unmapped: UnmappedPolicy,
    /// Summary on stderr at the end.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
    /// Extra field holding technique IDs (dotted path); repeatable.
    #[arg(long = "technique-field", value_name = "PATH")]
    pub technique_fields: Vec<String>,
    /// Extra field holding tactic IDs or names; repeatable.
    #[arg(long = "tactic-field", value_name = "PATH")]
    pub tactic_fields: Vec<String>,
    /// Extra field holding Sigma-style tags (attack.t1059.001); repeatable.
    #[arg(long = "tag-field", value_name = "PATH")]
    pub tag_fields: Vec<String>,
    /// Extra field holding rule names to scan for T-IDs (last resort); repeatable.
    #[arg(long = "name-field", value_name = "PATH")]
    pub name_fields: Vec<String>,
    /// Flush every output line at once (for `tail -f alerts | killchain map ...`);
    /// by default output is written in large blocks, which is faster.
    #[arg(long)]
    pub line_buffered: bool,
    /// Use only the fields given with --*-field, not the built-in dialects.
    #[arg(long)]
    pub only_custom_fields: bool,
    /// Leave out kill_chain.<model>.rationale and killchain.evidence, most
    /// of the bytes added to each record (for SIEMs that charge per byte
    /// ingested; `killchain explain` gives the rationale on demand).
    #[arg(long)]
    pub lean: bool,
}

const HUNT_HELP: &str = "\
Inputs: EVTX files, JSON / NDJSON exports of Windows events (flat as in \
OTRF / NXLog, Event.System + Event.EventData as evtx_dump writes, or \
Winlogbeat / ECS), gzip, zip archives of those, and folders of any of them \
(searched recursively). Rules: Sigma rule folders (--rules, repeatable); \
without --rules the built-in stage-indicator pack is used. Each finding is \
the matching event with ECS threat.*, rule.*, kill_chain.<model> and \
killchain.* added (docs/output-schema.md). A summary per host (kill chain \
stages reached, first and last time, top rules) goes to stderr.

Exit status: 0 all inputs read, 1 some input or record was unreadable, 2 fatal.

Examples:
  killchain hunt logs/ --rules sigma/rules/windows > findings.ndjson
  killchain hunt Security.evtx --rules sigma/rules --with-builtin --format table
  killchain hunt dataset.zip --rules sigma/rules/windows --min-level high --format csv -o timeline.csv
  killchain hunt logs/ --rules my-rules --tag attack.lateral_movement";

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// EVTX / JSON / NDJSON / gzip / zip files and folders.
    #[arg(value_name = "PATH", required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// Sigma rule file or folder (searched recursively); repeatable.
    #[arg(long = "rules", short = 'r', value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Add the built-in stage-indicator rules to those given with --rules.
    #[arg(long)]
    pub with_builtin: bool,
    /// Extra logsource pipeline (YAML, docs/pipelines.md); repeatable.
    #[arg(long = "pipeline", value_name = "FILE")]
    pub pipelines: Vec<PathBuf>,
    /// Run every rule on every event, ignoring logsources (slower; for logs
    /// without Channel / EventID).
    #[arg(long)]
    pub no_routing: bool,
    /// Only rules of this level or above (informational, low, medium, high, critical).
    #[arg(long, value_name = "LEVEL")]
    pub min_level: Option<String>,
    /// Only rules with these statuses (comma-separated; default: all but
    /// deprecated and unsupported).
    #[arg(long, value_delimiter = ',', value_name = "STATUS")]
    pub status: Vec<String>,
    /// Only rules with one of these tags (comma-separated, e.g. attack.t1059,attack.discovery).
    #[arg(long = "tag", value_delimiter = ',', value_name = "TAG")]
    pub tags: Vec<String>,
    /// Models to place findings in (comma-separated; default: all).
    #[arg(long = "model", short = 'm', value_delimiter = ',', value_name = "ID")]
    pub models: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = HuntFormat::Ndjson)]
    pub format: HuntFormat,
    /// Write output here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Summary on stderr at the end.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Leave out kill_chain.<model>.rationale and killchain.evidence.
    #[arg(long)]
    pub lean: bool,
    #[command(flatten)]
    pub incidents: HuntIncidentsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HuntFormat {
    /// The events with findings, enriched (one JSON object per line).
    Ndjson,
    /// A timeline: one row per finding, sorted by time.
    Csv,
    /// A terminal table sorted by time.
    Table,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Load rule folders and report every rule that does not load, with the reason.
    Check {
        /// Sigma rule files or folders.
        #[arg(required = true, num_args = 1..)]
        paths: Vec<PathBuf>,
        /// Extra logsource pipeline (YAML); repeatable.
        #[arg(long = "pipeline", value_name = "FILE")]
        pipelines: Vec<PathBuf>,
        /// Print the report as JSON (every rule with its outcome).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    Auto,
    Ndjson,
    Array,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnmappedPolicy {
    /// Pass them through (with killchain.mapped = false).
    Pass,
    /// Leave them out of the output (still counted).
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
    None,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// T1003.001, TA0006, credential-access, attack.t1059.001, G0016, APT29, S0002, M1026, C0024...
    #[arg(value_name = "QUERY", required = true, num_args = 1..)]
    pub query: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// List every related group, software and campaign (default: the first 15 of each).
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Which ATT&CK release is in use, where it came from, and its counts.
    Info {
        #[arg(long)]
        json: bool,
    },
    /// Import an ATT&CK STIX bundle (2.0 or 2.1) and install it for this user.
    #[command(
        after_help = "Example:\n  killchain kb import enterprise-attack-19.0.json\n  killchain kb import enterprise-attack.json --attack-version 18.1 --output my-index.json.gz"
    )]
    Import {
        /// The STIX bundle (JSON, optionally gzip).
        bundle: PathBuf,
        /// ATT&CK release, for bundles without an x-mitre-collection object (STIX 2.0).
        #[arg(long, value_name = "VERSION")]
        attack_version: Option<String>,
        /// Write the index to this file instead of installing it in the data directory.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Remove the installed index; the built-in one is used again.
    Reset,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The models available, their phases and origin.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A model's phases and its ATT&CK mapping table with rationale.
    Show {
        /// Model id: lm, attack, ukc or a custom one.
        id: String,
        /// Print every active technique's phases instead of the rule table.
        #[arg(long)]
        techniques: bool,
        #[arg(long)]
        json: bool,
    },
    /// Validate models against the knowledge base: unmapped techniques, unknown tactics.
    Check,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate for.
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Also print the enriched records as NDJSON.
    #[arg(long)]
    pub ndjson: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Sigma detection throughput (parse, flatten, evaluate) on real events
    /// vs serde_json parsing the same events, single-threaded.
    #[command(
        after_help = "Example:\n  killchain bench hunt --rules ../shared/data/sigma/rules/windows ../shared/data/otrf"
    )]
    Hunt {
        /// Event files or folders (JSON / NDJSON / gzip / zip), loaded into memory first.
        #[arg(required = true, num_args = 1..)]
        events: Vec<PathBuf>,
        /// Sigma rule folders.
        #[arg(long = "rules", short = 'r', required = true, value_name = "DIR")]
        rules: Vec<PathBuf>,
        /// Stop loading events after this many.
        #[arg(long, default_value_t = 300_000)]
        limit: usize,
        /// Repetitions (best run is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Next-move predictions per second vs the bigram floor, on queries from Attack Flows.
    Predict(BenchPredictArgs),
    /// `map` throughput on generated alerts vs serde_json parse+write of the same data.
    Map {
        /// Number of generated alerts.
        #[arg(long, default_value_t = 200_000)]
        records: usize,
        /// Repetitions (best run is reported).
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// `coverage` analysis time vs loading the same rules alone.
    Coverage(BenchCoverageArgs),
    /// Correlation throughput (findings/s per core) and memory per live entity.
    Incidents(BenchIncidentsArgs),
}

// ---- coverage (issue 6): `killchain coverage` and `killchain bench coverage` ----

const COVERAGE_HELP: &str = "\
Joins your defences with ATT&CK and the kill chain: Sigma rule folders \
(techniques from tags, weighed by level and status; rules that do not load \
or whose log source you do not collect are reported and not counted), a \
control inventory (YAML, docs/coverage.md), DeTT&CT technique \
administration files, and a threat profile (groups, campaigns, software, \
or all weighted by use). Reports coverage per kill chain phase, tactic and \
technique (prevent / detect / respond apart), defence in depth, single \
points of failure, visible-but-not-detected techniques, ranked gaps, a \
greedy investment list, and replays Attack Flows and actor profiles \
against the controls (first stop, n-1, a small set of controls stopping \
every path).

Exit status: 0 all inputs read, 1 some control, file or flow was skipped \
(reported on stderr), 2 fatal.

Examples:
  killchain coverage --rules sigma/rules --controls controls.yaml --threat G0016,G0032
  killchain coverage --rules sigma/rules/windows --collected sysmon,security,powershell --threat APT29 --platforms Windows
  killchain coverage --controls controls.yaml --dettect techniques-administration.yaml --format navigator -o layer.json
  killchain coverage --rules sigma/rules --threat G0016 --flows attack-flow/corpus --format html -o coverage.html";

/// `killchain coverage`.
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Sigma rule file or folder in use (searched recursively); repeatable.
    #[arg(long = "rules", short = 'r', value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Count the built-in stage-indicator rules as deployed too.
    #[arg(long)]
    pub with_builtin: bool,
    /// Control inventory (YAML, docs/coverage.md); repeatable.
    #[arg(long = "controls", short = 'c', value_name = "FILE")]
    pub controls: Vec<PathBuf>,
    /// DeTT&CT technique administration file to import; repeatable.
    #[arg(long = "dettect", value_name = "FILE")]
    pub dettect: Vec<PathBuf>,
    /// Log sources you collect: a comma-separated list (sysmon,security,powershell)
    /// or a YAML file (`collected: [...]`). Rules on other log sources are not
    /// counted. Default: all.
    #[arg(long, value_name = "LIST|FILE")]
    pub collected: Option<String>,
    /// Groups, campaigns or software of concern (G0016,C0024,S0154, names too).
    /// Default: every group and campaign, weighted by how many use each technique.
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub threat: Vec<String>,
    /// ATT&CK platforms in scope (Windows,Linux,macOS,...). Default: all.
    #[arg(long, value_delimiter = ',', value_name = "PLATFORM")]
    pub platforms: Vec<String>,
    /// Attack Flow builder files (.afb) or folders to replay; repeatable.
    #[arg(long = "flows", value_name = "PATH")]
    pub flows: Vec<PathBuf>,
    /// Sigma rules you could deploy: investment candidates; repeatable.
    #[arg(long = "candidate-rules", value_name = "DIR")]
    pub candidate_rules: Vec<PathBuf>,
    /// Cost of one Sigma rule in the investment list.
    #[arg(long, default_value_t = 1.0, value_name = "N")]
    pub rule_cost: f64,
    /// Investment budget (same unit as the controls' cost).
    #[arg(long, value_name = "N")]
    pub budget: Option<f64>,
    /// Most investment steps to list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub steps: usize,
    /// Minimum effective strength (0-5) for a control to count as a layer
    /// and to stop an attack path.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub min_strength: f64,
    /// A rule's parent technique tag (attack.t1003) also covers the sub-techniques.
    #[arg(long)]
    pub parent_covers_subtechniques: bool,
    /// The analysis day (YYYY-MM-DD), for aging test dates (default: today).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Kill chain model for the phase view.
    #[arg(long = "model", short = 'm', default_value = "lm", value_name = "ID")]
    pub model: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CoverageFormat::Text)]
    pub format: CoverageFormat,
    /// Shorthand for --format json.
    #[arg(long)]
    pub json: bool,
    /// Write output here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rows per list in text, Markdown and HTML.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub top: usize,
    /// Extra logsource pipeline (YAML), for matching --collected; repeatable.
    #[arg(long = "pipeline", value_name = "FILE")]
    pub pipelines: Vec<PathBuf>,
    /// Most paths replayed per flow: 1 to 100000 (a flow with more routes
    /// is replayed on its first N, and the report says so).
    #[arg(long, default_value_t = 5000, value_parser = parse_max_paths, value_name = "N")]
    pub max_paths: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CoverageFormat {
    /// Terminal summary by kill chain phase.
    Text,
    Json,
    Md,
    /// Self-contained HTML with a heatmap.
    Html,
    /// One row per technique.
    Csv,
    /// ATT&CK Navigator layer 4.5.
    Navigator,
}

/// `killchain bench coverage`.
#[derive(Debug, Args)]
pub struct BenchCoverageArgs {
    /// Sigma rule folders.
    #[arg(long = "rules", short = 'r', required = true, value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Control inventory files.
    #[arg(long = "controls", short = 'c', value_name = "FILE")]
    pub controls: Vec<PathBuf>,
    /// Attack Flow files or folders.
    #[arg(long = "flows", value_name = "PATH")]
    pub flows: Vec<PathBuf>,
    /// Groups of concern (default: all groups and campaigns).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub threat: Vec<String>,
    /// Repetitions (best run is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[arg(long)]
    pub json: bool,
}

// ---- Anticipate and respond (issue 5): predict, model, eval, bench predict ----

const PREDICT_HELP: &str = "\
Input: technique IDs in the order seen (oldest first), or findings files \
(NDJSON from `killchain map` / `killchain hunt`; ordered by @timestamp when \
every record has one). The model is learned from ATT&CK procedures (groups, \
software, campaigns) in the kb, the flows saved by `killchain model train`, \
and any --flows given now (docs/prediction.md).

Examples:
  killchain predict T1566.001 T1059.001
  killchain predict --findings findings.ndjson --json
  killchain predict T1071 --flows ../shared/data/attack-flow/corpus --playbook my-playbooks.yaml";

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Technique IDs seen, oldest first (T1566.001 T1059.001 ...).
    #[arg(value_name = "TECHNIQUE")]
    pub techniques: Vec<String>,
    /// Findings file (NDJSON / JSON array, gzip) from `map` or `hunt`; repeatable.
    #[arg(long = "findings", value_name = "FILE")]
    pub findings: Vec<PathBuf>,
    /// Attack Flow files or folders (.afb, STIX .json) to learn from in this run.
    #[arg(long = "flows", value_name = "DIR")]
    pub flows: Vec<PathBuf>,
    /// Ignore the model saved by `killchain model train`.
    #[arg(long)]
    pub no_saved_model: bool,
    /// Extra playbook file (YAML, docs/prediction.md); repeatable; replaces built-in stages.
    #[arg(long = "playbook", value_name = "FILE")]
    pub playbooks: Vec<PathBuf>,
    /// How many next tactics, techniques and phases to list.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print the prediction as JSON (schema: docs/prediction.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Train the next-move model on Attack Flows and save it in the data directory.
    #[command(
        after_help = "Examples:\n  killchain model train --flows ../shared/data/attack-flow/corpus --flows my-incidents/\n  killchain model train --flows ../shared/data/attack-flow/corpus --sequences timelines.csv --sequences closed-incident-findings.ndjson"
    )]
    Train {
        /// Attack Flow files or folders (.afb builder files, STIX bundles); repeatable.
        #[arg(
            long = "flows",
            required_unless_present = "sequences",
            value_name = "DIR"
        )]
        flows: Vec<PathBuf>,
        /// Sequence files or folders: incident timelines, one step a row, oldest first (CSV
        /// with a technique column, or JSON records such as `map` / `hunt` findings;
        /// docs/prediction.md); repeatable.
        #[arg(long = "sequences", value_name = "FILE")]
        sequences: Vec<PathBuf>,
        /// Write the model here instead of <data dir>/anticipate/model.json.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Leave-one-incident-out evaluation of next tactic / technique prediction, with baselines.
    #[command(
        after_help = "Example:\n  killchain eval predict --flows ../shared/data/attack-flow/corpus --json"
    )]
    Predict {
        /// Attack Flow files or folders; each file is one incident, held out in turn.
        #[arg(long = "flows", required = true, value_name = "DIR")]
        flows: Vec<PathBuf>,
        /// Sequence files or folders (incident timelines, CSV / JSON, docs/prediction.md):
        /// training data in every fold, never held out; repeatable.
        #[arg(long = "sequences", value_name = "FILE")]
        sequences: Vec<PathBuf>,
        /// Print {"flows", "next_tactic", "next_technique", "baselines"} as JSON.
        #[arg(long)]
        json: bool,
        /// Also print the model's accuracy on each held-out incident (text output).
        #[arg(long, conflicts_with = "json")]
        by_file: bool,
    },
}

#[derive(Debug, Args)]
pub struct BenchPredictArgs {
    /// Attack Flow files or folders: the model's flows and the source of the queries.
    #[arg(long = "flows", required = true, value_name = "DIR")]
    pub flows: Vec<PathBuf>,
    /// Repetitions (best run is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

// ---- incidents (issue 4): everything below belongs to `killchain incidents` ----

const INCIDENTS_HELP: &str = "\
Reads findings (NDJSON from `killchain hunt` or `killchain map`), joins them \
into incidents through shared entities (host, user, logon id, process and \
parent, IPs, hashes, domains) within a time window, and prints each incident \
with its kill chain progression and severity (docs/incidents.md). Incidents \
persist in an SQLite store (default <data dir>/incidents.sqlite): a later run \
continues them, replaying the same findings adds nothing.

Examples:
  killchain hunt logs/ --rules sigma/rules/windows > findings.ndjson
  killchain incidents findings.ndjson
  killchain incidents findings.ndjson --json > incidents.json
  killchain incidents findings.ndjson --preset splunk --no-store
  killchain incident show INC-3f2a9c01d4e7
  killchain hunt logs/ --rules sigma/rules/windows --incidents";

#[derive(Debug, Args)]
pub struct IncidentsArgs {
    /// Findings files (NDJSON or JSON arrays, gzip detected).
    #[arg(value_name = "FINDINGS")]
    pub findings: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: IncidentOpts,
    #[command(subcommand)]
    pub command: Option<IncidentsCommand>,
}

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// One incident from the store: severity parts, progression, flags and a
    /// timeline grouped by phase with the evidence.
    Show {
        /// Incident ID (a unique prefix will do; merged IDs are followed).
        id: String,
        /// The incident store (default: <data dir>/incidents.sqlite).
        #[arg(long, value_name = "PATH")]
        db: Option<PathBuf>,
        /// Model whose phases group the timeline.
        #[arg(long, short = 'm', default_value = "lm", value_name = "ID")]
        model: String,
        /// Print the incident as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of incident correlation, shared by `incidents` and `hunt --incidents`.
#[derive(Debug, Args, Clone)]
pub struct IncidentOpts {
    /// Print incidents as a JSON array.
    #[arg(long)]
    pub json: bool,
    /// The incident store (default: <data dir>/incidents.sqlite).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Do not read or write the store: correlate this input alone.
    #[arg(long, conflicts_with = "db")]
    pub no_store: bool,
    /// Join window: findings sharing an entity at most this far apart (e.g. 30m, 2h, 1d; default 2h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub window: Option<std::time::Duration>,
    /// An entity in more than this share of findings (on 3+ hosts, 20+ findings) stops joining (default 0.4).
    #[arg(long, value_parser = parse_share, value_name = "SHARE")]
    pub max_share: Option<f64>,
    /// An entity seen on more hosts than this stops joining (default 8).
    #[arg(long, value_name = "N")]
    pub max_hosts: Option<usize>,
    /// Severity formula.
    #[arg(long, value_enum, default_value_t = SeverityPreset::Killchain)]
    pub preset: SeverityPreset,
    /// Asset criticality config (YAML: `assets: [{pattern: "dc*", criticality: critical}]`).
    #[arg(long, value_name = "FILE")]
    pub assets: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityPreset {
    /// Phases, tactics, order, rule levels, asset criticality, decayed risk (0-100).
    Killchain,
    /// Splunk RBA default: an entity with >= 3 tactics and >= 4 sources in 7 days.
    Splunk,
}

/// `hunt --incidents`: the findings of the hunt go straight into incidents.
#[derive(Debug, Args, Clone)]
pub struct HuntIncidentsArgs {
    /// Print incidents instead of the findings (findings still go to --output
    /// when given). Takes the options of `killchain incidents`.
    #[arg(long)]
    pub incidents: bool,
    #[command(flatten)]
    pub opts: IncidentOpts,
}

#[derive(Debug, Args)]
pub struct BenchIncidentsArgs {
    /// Generated findings.
    #[arg(long, default_value_t = 200_000)]
    pub findings: usize,
    /// Repetitions (best run is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "{s:?}: expected a share between 0 and 1 (0.4 = 40%)"
        )),
    }
}

/// `--max-paths`: 1 ..= `simulate::MAX_FLOW_PATHS`. Paths are kept in
/// memory and every one is replayed against every control, so a flow with
/// millions of routes is cut rather than enumerated.
fn parse_max_paths(s: &str) -> Result<usize, String> {
    use killchain_coverage::simulate::MAX_FLOW_PATHS;
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_FLOW_PATHS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?}: expected a number of paths per flow from 1 to {MAX_FLOW_PATHS} (the default is 5000)"
        )),
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d: jiff::SignedDuration = s
        .parse()
        .map_err(|e| format!("{s:?}: expected a duration like 30m, 2h, 1d ({e})"))?;
    std::time::Duration::try_from(d).map_err(|e| format!("{s:?}: {e}"))
}
