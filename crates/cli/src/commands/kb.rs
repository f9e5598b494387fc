//! `killchain kb info | import | reset`: which ATT&CK release is in use,
//! installing a newer one from a STIX bundle, going back to the built-in.

use std::fs;
use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use killchain_kb::stix::{import_bundle, ImportOptions};
use killchain_kb::{AttackKb, KbError};

use crate::cli::{GlobalOpts, KbCommand};
use crate::context::{self, INSTALLED_INDEX};

pub fn run(global: &GlobalOpts, cmd: KbCommand) -> Result<ExitCode> {
    match cmd {
        KbCommand::Info { json } => info(global, json),
        KbCommand::Import {
            bundle,
            attack_version,
            output,
        } => {
            let name = bundle.display().to_string();
            // open_input decompresses gzip transparently.
            let mut bytes = Vec::new();
            killchain_ingest::open_input(&bundle)
                .and_then(|mut r| r.read_to_end(&mut bytes))
                .with_context(|| format!("cannot read {name}"))?;
            let opts = ImportOptions {
                input_name: bundle
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or(name.clone()),
                version_override: attack_version,
            };
            let (data, report) =
                import_bundle(&bytes, &opts).map_err(|e: KbError| anyhow::anyhow!(e))?;
            for w in &report.warnings {
                eprintln!("killchain: {name}: warning: {w}");
            }
            let c = data.counts();
            let dest = match output {
                Some(p) => p,
                None => context::data_dir(global)?.join(INSTALLED_INDEX),
            };
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let encoded = data.to_index_bytes();
            // Write then rename, so a failed import never leaves a half-written index in use.
            let tmp = dest.with_extension("tmp");
            fs::write(&tmp, &encoded).with_context(|| format!("cannot write {}", tmp.display()))?;
            fs::rename(&tmp, &dest).with_context(|| format!("cannot write {}", dest.display()))?;
            // Check the models still cover everything in the new release.
            let kb = AttackKb::new(data);
            let models = killchain_kb::models::ModelSet::new(&kb, context::user_models(global)?)?;
            let unmapped = models.unmapped(&kb);
            println!(
                "imported ATT&CK {} {} from {name}: {} tactics, {} techniques, {} sub-techniques, {} groups, {} software, {} campaigns, {} mitigations ({} skipped objects)",
                kb.meta().domain, kb.meta().version, c.tactics, c.techniques, c.subtechniques, c.groups, c.software, c.campaigns, c.mitigations, report.skipped
            );
            println!("wrote {} ({} bytes)", dest.display(), encoded.len());
            if !unmapped.is_empty() {
                eprintln!(
                    "killchain: warning: {} technique/model pairs have no kill chain phase (see `killchain models check`)",
                    unmapped.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        KbCommand::Reset => {
            let path = context::data_dir(global)?.join(INSTALLED_INDEX);
            if path.is_file() {
                fs::remove_file(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                println!(
                    "removed {}; the built-in ATT&CK index is in use",
                    path.display()
                );
            } else {
                println!(
                    "no installed index at {}; the built-in one is in use",
                    path.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn info(global: &GlobalOpts, json: bool) -> Result<ExitCode> {
    let (kb, origin) = context::load_kb(global)?;
    let m = kb.meta();
    let c = kb.data().counts();
    if json {
        let v = serde_json::json!({
            "domain": m.domain, "version": m.version, "stix_version": m.stix_version,
            "modified": m.modified, "source": m.source, "origin": origin.to_string(), "counts": c,
            "tactics": kb.tactics(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("ATT&CK {} {} ({origin})", m.domain, m.version);
    println!(
        "  source: {}  STIX {}  last modified {}",
        m.source.as_deref().unwrap_or("?"),
        m.stix_version,
        m.modified.as_deref().unwrap_or("?")
    );
    println!("  tactics              {:>6}", c.tactics);
    println!("  techniques           {:>6}", c.techniques);
    println!("  sub-techniques       {:>6}", c.subtechniques);
    println!("  revoked / deprecated {:>6} / {}", c.revoked, c.deprecated);
    println!("  mitigations          {:>6}", c.mitigations);
    println!("  groups               {:>6}", c.groups);
    println!("  software             {:>6}", c.software);
    println!("  campaigns            {:>6}", c.campaigns);
    println!("  detection strategies {:>6}", c.detection_strategies);
    println!("  analytics            {:>6}", c.analytics);
    println!("  data components      {:>6}", c.data_components);
    println!("  relationships        {:>6}", c.relationships);
    let order: Vec<String> = kb
        .tactics()
        .iter()
        .map(|t| format!("{} {}", t.id, t.name))
        .collect();
    println!("  tactics in matrix order: {}", order.join(", "));
    Ok(ExitCode::SUCCESS)
}
