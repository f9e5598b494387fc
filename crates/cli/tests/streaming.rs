//! `killchain map --line-buffered` as a streaming filter: each enriched line
//! must come out while stdin is still open (as with `tail -f`), not only at
//! the end.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn line_buffered_output_arrives_before_input_ends() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_killchain"))
        .env("KILLCHAIN_DATA_DIR", data.path())
        .args([
            "map",
            "--line-buffered",
            "--summary",
            "none",
            "--model",
            "lm",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    for (input, phase) in [
        (r#"{"tags":["attack.t1566.001"]}"#, "delivery"),
        (r#"{"tags":["attack.t1486"]}"#, "actions-on-objectives"),
    ] {
        writeln!(stdin, "{input}").unwrap();
        stdin.flush().unwrap();
        // stdin stays open: the line must arrive anyway.
        let got = rx.recv_timeout(Duration::from_secs(20));
        let Ok(line) = got else {
            let _ = child.kill();
            panic!("no output line while input is still open");
        };
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["kill_chain"]["lm"]["phase"], phase);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
