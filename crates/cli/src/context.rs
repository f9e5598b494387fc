//! Loading what every command needs: the ATT&CK knowledge base (explicit
//! `--kb` file, else the user's imported release, else the built-in index)
//! and the kill chain models (built-in plus user files). This is the I/O edge
//! for the pure `kb` crate.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use killchain_kb::models::{Model, ModelSet, Origin};
use killchain_kb::{AttackData, AttackKb};

use crate::cli::GlobalOpts;

/// File name of the installed index inside the data directory.
pub const INSTALLED_INDEX: &str = "attack/enterprise-attack.kb.json.gz";

/// Where the knowledge base in use came from.
#[derive(Debug, Clone)]
pub enum KbOrigin {
    Builtin,
    Installed(PathBuf),
    Explicit(PathBuf),
}

impl std::fmt::Display for KbOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KbOrigin::Builtin => write!(f, "built-in"),
            KbOrigin::Installed(p) => write!(f, "installed ({})", p.display()),
            KbOrigin::Explicit(p) => write!(f, "--kb {}", p.display()),
        }
    }
}

pub struct Context {
    pub kb: AttackKb,
    pub kb_origin: KbOrigin,
    pub models: ModelSet,
}

/// The data directory: `--data-dir`/`KILLCHAIN_DATA_DIR`, else the platform's.
pub fn data_dir(global: &GlobalOpts) -> Result<PathBuf> {
    if let Some(d) = &global.data_dir {
        return Ok(d.clone());
    }
    directories::ProjectDirs::from("", "", "killchain")
        .map(|p| p.data_dir().to_path_buf())
        .context("cannot determine a data directory for this user; pass --data-dir")
}

/// Load the ATT&CK index in use.
pub fn load_kb(global: &GlobalOpts) -> Result<(AttackKb, KbOrigin)> {
    let (data, origin) = if let Some(path) = &global.kb {
        (read_index(path)?, KbOrigin::Explicit(path.clone()))
    } else {
        let installed = data_dir(global)?.join(INSTALLED_INDEX);
        if installed.is_file() {
            (read_index(&installed)?, KbOrigin::Installed(installed))
        } else {
            (
                AttackData::embedded().context("the built-in ATT&CK index is damaged")?,
                KbOrigin::Builtin,
            )
        }
    };
    Ok((AttackKb::new(data), origin))
}

fn read_index(path: &Path) -> Result<AttackData> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(AttackData::from_index_bytes(
        &bytes,
        &path.display().to_string(),
    )?)
}

/// User models: `<data dir>/models/*.yaml` (sorted by name), then `--model-file`s.
pub fn user_models(global: &GlobalOpts) -> Result<Vec<Model>> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Ok(dir) = data_dir(global) {
        let dir = dir.join("models");
        if let Ok(entries) = fs::read_dir(&dir) {
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            found.sort();
            files.extend(found);
        }
    }
    files.extend(global.model_files.iter().cloned());
    files
        .iter()
        .map(|p| {
            let text = fs::read_to_string(p)
                .with_context(|| format!("cannot read model file {}", p.display()))?;
            let name = p.display().to_string();
            Ok(Model::from_yaml(&text, &name, Origin::File(name.clone()))?)
        })
        .collect()
}

/// Load the knowledge base and the models.
pub fn load(global: &GlobalOpts) -> Result<Context> {
    let (kb, kb_origin) = load_kb(global)?;
    let models = ModelSet::new(&kb, user_models(global)?)?;
    Ok(Context {
        kb,
        kb_origin,
        models,
    })
}

/// Resolve `--model` ids to model indexes (all when empty), with a clear error.
pub fn select_models(models: &ModelSet, ids: &[String]) -> Result<Vec<usize>> {
    ids.iter()
        .map(|id| {
            models.index_of(id.trim()).with_context(|| {
                let known: Vec<&str> = models.models().iter().map(|m| m.id.as_str()).collect();
                format!("unknown model {id:?}; known models: {}", known.join(", "))
            })
        })
        .collect()
}
