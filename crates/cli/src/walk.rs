//! Finding input files in folders: the one recursive walk behind every
//! command that takes folders (hunt's event logs, Attack Flows and
//! sequences, Sigma rules, coverage's flows).
//!
//! One contract for all of them: folders are searched recursively, symlinks
//! followed, each folder read once (a symlink back up the tree would
//! otherwise repeat everything under it until the OS refuses the path),
//! entries in sorted order. Only the folder named on the command line must
//! be readable; anything below it that cannot be used is skipped with a
//! reason and the walk goes on, so one bad subfolder never hides the rest.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What a walk found below a folder.
#[derive(Debug, Default)]
pub struct Walked {
    /// Regular files whose path the caller wanted, sorted folder by folder.
    pub files: Vec<PathBuf>,
    /// What was left out: a subfolder that cannot be read; an entry named
    /// as wanted that is not a regular file (a FIFO or device would block
    /// on read) or whose metadata cannot be read (a dangling symlink).
    pub skipped: Vec<Skipped>,
}

/// A path the walk left out, and why; displayed `PATH: reason (skipped)`.
#[derive(Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} (skipped)", self.path.display(), self.reason)
    }
}

/// The files below `dir` whose path `wanted` accepts (see the module docs).
/// An error only when `dir` itself cannot be read.
pub fn files_below(dir: &Path, wanted: &dyn Fn(&Path) -> bool) -> io::Result<Walked> {
    let mut walked = Walked::default();
    let mut seen = HashSet::new();
    seen.insert(fs::canonicalize(dir)?);
    let entries = sorted_entries(dir)?;
    walk(entries, wanted, &mut walked, &mut seen);
    Ok(walked)
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    Ok(entries)
}

fn walk(
    entries: Vec<PathBuf>,
    wanted: &dyn Fn(&Path) -> bool,
    out: &mut Walked,
    seen: &mut HashSet<PathBuf>,
) {
    for p in entries {
        let skip = |out: &mut Walked, reason: String| {
            out.skipped.push(Skipped {
                path: p.clone(),
                reason,
            })
        };
        // `metadata` follows symlinks: a link to a folder is a folder.
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => {
                let below = fs::canonicalize(&p).and_then(|real| {
                    Ok(if seen.insert(real) {
                        Some(sorted_entries(&p)?)
                    } else {
                        None
                    })
                });
                match below {
                    Ok(Some(entries)) => walk(entries, wanted, out, seen),
                    Ok(None) => {}
                    Err(e) => skip(out, format!("cannot read folder: {e}")),
                }
            }
            Ok(m) if wanted(&p) => {
                if m.is_file() {
                    out.files.push(p);
                } else {
                    skip(out, "not a regular file".into());
                }
            }
            Ok(_) => {}
            Err(e) if wanted(&p) => skip(out, format!("cannot read: {e}")),
            Err(_) => {}
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn json(p: &Path) -> bool {
        p.extension().is_some_and(|x| x == "json")
    }

    fn names(root: &Path, files: &[PathBuf]) -> Vec<String> {
        files
            .iter()
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn recursive_sorted_symlinks_followed_loops_read_once() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("in");
        let other = d.path().join("elsewhere");
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::create_dir_all(&other).unwrap();
        for f in ["z.json", "a.json", "b/x.json", "b/c/y.json", "b/skip.txt"] {
            fs::write(root.join(f), "{}").unwrap();
        }
        fs::write(other.join("linked.json"), "{}").unwrap();
        // A link to a folder outside is followed; one back up is read once.
        symlink(&other, root.join("b/out")).unwrap();
        symlink("..", root.join("b/c/up")).unwrap();
        let w = files_below(&root, &json).unwrap();
        assert_eq!(
            names(&root, &w.files),
            [
                "a.json",
                "b/c/y.json",
                "b/out/linked.json",
                "b/x.json",
                "z.json"
            ]
        );
        assert!(w.skipped.is_empty(), "{:?}", w.skipped);
    }

    #[test]
    fn what_cannot_be_used_is_skipped_with_its_reason_and_the_rest_is_read() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::write(root.join("good.json"), "{}").unwrap();
        assert!(std::process::Command::new("mkfifo")
            .arg(root.join("pipe.json"))
            .status()
            .unwrap()
            .success());
        symlink(root.join("gone"), root.join("dangling.json")).unwrap();
        // Not wanted: no word about them.
        symlink(root.join("gone"), root.join("dangling.txt")).unwrap();
        let w = files_below(root, &json).unwrap();
        assert_eq!(names(root, &w.files), ["good.json"]);
        assert_eq!(w.skipped.len(), 2, "{:?}", w.skipped);
        let lines: Vec<String> = w.skipped.iter().map(ToString::to_string).collect();
        assert!(
            lines[0].contains("dangling.json: cannot read: "),
            "{lines:?}"
        );
        assert!(lines[0].ends_with("(skipped)"));
        assert!(lines[1].ends_with("pipe.json: not a regular file (skipped)"));
        assert_eq!(w.skipped[1].path, root.join("pipe.json"));
    }

    #[test]
    fn only_the_folder_named_must_be_readable() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing");
        assert!(files_below(&missing, &json).is_err());
    }
}
