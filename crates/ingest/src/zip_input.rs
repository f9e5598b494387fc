//! Zip archives of JSON logs (the OTRF / Mordor datasets ship so): each
//! member is streamed in turn, never extracted to disk or held whole.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

/// Calls `f(member name, reader)` for every file member of the zip at
/// `path`, in archive order. An error opening the archive or a member is
/// returned with the member named; what `f` returns is passed through.
pub fn for_each_zip_member<E: From<io::Error>>(
    path: &Path,
    mut f: impl FnMut(&str, &mut dyn io::BufRead) -> Result<(), E>,
) -> Result<(), E> {
    let file = File::open(path)?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| zip_error(e, path, None))?;
    for i in 0..archive.len() {
        let member = archive
            .by_index(i)
            .map_err(|e| zip_error(e, path, Some(i)))?;
        if member.is_dir() {
            continue;
        }
        let name = member
            .name()
            .map_err(|e| zip_error(e, path, Some(i)))?
            .into_owned();
        let mut reader = BufReader::with_capacity(64 * 1024, member);
        f(&name, &mut reader)?;
    }
    Ok(())
}

/// The extension of an archive member that is a capture, binary or EVTX
/// file rather than JSON lines (log dataset archives carry them too), if
/// it is one.
pub fn not_log_member(member: &str) -> Option<&str> {
    let ext = member.rsplit_once('.')?.1;
    const BINARY: [&str; 9] = [
        "pcap", "pcapng", "cap", "evtx", "exe", "dll", "bin", "etl", "zip",
    ];
    BINARY.iter().find(|b| ext.eq_ignore_ascii_case(b)).copied()
}

fn zip_error(e: zip::result::ZipError, path: &Path, member: Option<usize>) -> io::Error {
    let what = match member {
        Some(i) => format!("{}: zip member {i}: {e}", path.display()),
        None => format!("{}: not a readable zip archive: {e}", path.display()),
    };
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn members_stream_in_order_and_bad_archives_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("logs.zip");
        let mut w = zip::ZipWriter::new(File::create(&p).unwrap());
        let opts: zip::write::SimpleFileOptions = Default::default();
        w.start_file("a.json", opts).unwrap();
        w.write_all(b"{\"a\":1}\n").unwrap();
        w.add_directory("sub/", opts).unwrap();
        w.start_file("sub/b.json", opts).unwrap();
        w.write_all(b"{\"b\":2}\n").unwrap();
        w.finish().unwrap();
        let mut seen = Vec::new();
        for_each_zip_member::<io::Error>(&p, |name, r| {
            let mut s = String::new();
            r.read_to_string(&mut s)?;
            seen.push((name.to_string(), s));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                ("a.json".to_string(), "{\"a\":1}\n".to_string()),
                ("sub/b.json".to_string(), "{\"b\":2}\n".to_string())
            ]
        );
        let bad = dir.path().join("bad.zip");
        std::fs::write(&bad, b"not a zip").unwrap();
        let err = for_each_zip_member::<io::Error>(&bad, |_, _| Ok(())).unwrap_err();
        assert!(
            err.to_string()
                .contains("bad.zip: not a readable zip archive"),
            "{err}"
        );
    }

    #[test]
    fn captures_and_binaries_are_not_log_members() {
        assert_eq!(not_log_member("run_2022-05-11.pcap"), Some("pcap"));
        assert_eq!(not_log_member("dir/capture.PCAPNG"), Some("pcapng"));
        assert_eq!(not_log_member("Security.evtx"), Some("evtx"));
        assert_eq!(not_log_member("events.json"), None);
        assert_eq!(not_log_member("events_2020-10-27.ndjson"), None);
        assert_eq!(not_log_member("no-extension"), None);
    }
}
