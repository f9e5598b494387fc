//! Finding input files in folders: the recursive walk shared by the
//! commands that take folders of Attack Flows, sequences or Sigma rules.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Appends the files below `dir` (recursively, symlinks followed) whose
/// path `wanted` accepts, each folder's entries in sorted order. A folder
/// reached again (a symlink back up the tree) is read once: otherwise the
/// walk repeats everything under it until the OS refuses the path.
///
/// Entries that are not regular files (a FIFO, a device) are appended too
/// when their name fits: opening one would block, so callers report and
/// skip them (`Path::is_file`).
pub fn files_below(
    dir: &Path,
    wanted: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
) -> io::Result<()> {
    walk(dir, wanted, out, &mut HashSet::new())
}

fn walk(
    dir: &Path,
    wanted: &dyn Fn(&Path) -> bool,
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> io::Result<()> {
    if !seen.insert(fs::canonicalize(dir)?) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, wanted, out, seen)?;
        } else if wanted(&p) {
            out.push(p);
        }
    }
    Ok(())
}
