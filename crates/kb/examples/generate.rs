//! Generates the compact ATT&CK index embedded in killchain from a MITRE STIX bundle.
//!
//! ```text
//! cargo run --release -p killchain-kb --no-default-features --example generate -- \
//!     ../shared/data/attack/enterprise-attack.json crates/kb/data/enterprise-attack.kb.json.gz \
//!     --attack-version 18.1
//! ```
//!
//! Reads the bundle, imports it with [`killchain_kb::stix::import_bundle`],
//! prints the warnings and the counts, and writes the index as gzip-compressed
//! JSON. It runs without the `embedded` feature because that feature embeds the
//! very file this writes (bootstrap).

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use flate2::write::GzEncoder;
use flate2::Compression;
use killchain_kb::stix::{import_bundle, ImportOptions};

const USAGE: &str = "usage: generate BUNDLE.json OUT.json.gz [--attack-version VERSION]";

struct Args {
    bundle: PathBuf,
    out: PathBuf,
    attack_version: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut attack_version = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.to_owned()),
            "--attack-version" => {
                attack_version = Some(
                    args.next()
                        .ok_or_else(|| format!("--attack-version needs a value\n{USAGE}"))?,
                );
            }
            _ if arg.starts_with("--attack-version=") => {
                attack_version = Some(arg["--attack-version=".len()..].to_owned());
            }
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ => positional.push(PathBuf::from(arg)),
        }
    }
    let [bundle, out]: [PathBuf; 2] = positional.try_into().map_err(|_| USAGE.to_owned())?;
    Ok(Args {
        bundle,
        out,
        attack_version,
    })
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let bytes = std::fs::read(&args.bundle)
        .map_err(|e| format!("cannot read {}: {e}", args.bundle.display()))?;
    // Only the file name goes into the index: the embedded data must not
    // carry the generating machine's paths.
    let input_name = args.bundle.file_name().map_or_else(
        || args.bundle.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let opts = ImportOptions {
        input_name,
        version_override: args.attack_version.clone(),
    };

    let started = Instant::now();
    let (data, report) = import_bundle(&bytes, &opts)?;
    let elapsed = started.elapsed();

    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let meta = &data.meta;
    println!(
        "imported {} ({} MB) in {elapsed:.2?}: {} ATT&CK {} (STIX {}, modified {}), {} objects skipped",
        opts.input_name,
        bytes.len() / 1_000_000,
        meta.domain,
        meta.version,
        meta.stix_version,
        meta.modified.as_deref().unwrap_or("unknown"),
        report.skipped
    );
    println!("{:#?}", data.counts());

    let json = serde_json::to_vec(&data)?;
    let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::best());
    encoder.write_all(&json)?;
    let gz = encoder.finish()?;
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &gz)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    println!(
        "wrote {} ({} bytes JSON, {} bytes gzip)",
        args.out.display(),
        json.len(),
        gz.len()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
