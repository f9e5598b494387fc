//! Golden files: the exact `killchain map` output (stdout and the JSON
//! summary on stderr) for the built-in demo sample, which covers eight alert
//! dialects. Any change to the output schema, the mapping tables or the
//! extraction shows up here as a diff. Update on purpose, never
//! automatically: `KILLCHAIN_UPDATE_GOLDEN=1 cargo test -p killchain --test golden`,
//! then review the diff before committing.

use std::path::Path;
use std::process::Command;

fn check(name: &str, actual: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("KILLCHAIN_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if expected != actual {
        let (e, a) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual),
        );
        let first = e
            .lines()
            .zip(a.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(e.lines().count().min(a.lines().count()));
        panic!(
            "{} differs from the output, first at line {}:\n expected: {}\n   actual: {}\n(if the change is intended: KILLCHAIN_UPDATE_GOLDEN=1 cargo test -p killchain --test golden)",
            path.display(),
            first + 1,
            e.lines().nth(first).unwrap_or("<end>"),
            a.lines().nth(first).unwrap_or("<end>")
        );
    }
}

#[test]
fn map_output_on_the_demo_sample_is_stable() {
    let data = tempfile::tempdir().unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO_BIN_EXE_killchain"))
        .current_dir(root)
        .env("KILLCHAIN_DATA_DIR", data.path())
        .env_remove("KILLCHAIN_KB")
        .args(["map", "--summary", "json", "crates/cli/demo/alerts.ndjson"])
        .output()
        .unwrap();
    assert!(out.status.success());
    check("demo-map.ndjson", &out.stdout);
    check("demo-map.stderr", &out.stderr);
}
