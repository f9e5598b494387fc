//! Opening inputs: files or stdin, with gzip detected by magic bytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// Read buffer size; large reads keep syscalls and refills off the hot path.
const BUFFER_SIZE: usize = 64 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` for reading (`-` means stdin) and returns a buffered reader
/// of its contents, gunzipped if it starts with the gzip magic bytes
/// (whatever its extension). Concatenated gzip members are all decoded.
///
/// Errors are those of opening the file or reading its first two bytes; they
/// do not name the path, so callers should add it. Decompression errors show
/// up later as read errors.
pub fn open_input(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    if path == Path::new("-") {
        wrap(io::stdin())
    } else {
        wrap(File::open(path)?)
    }
}

/// Sniffs the first two bytes and puts them back in front of the stream, so
/// detection works on pipes too (no seeking, no reliance on fill_buf sizes).
fn wrap<R: Read + Send + 'static>(mut inner: R) -> io::Result<Box<dyn BufRead + Send>> {
    let mut magic = [0u8; 2];
    let mut len = 0;
    while len < magic.len() {
        match inner.read(&mut magic[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let is_gzip = magic[..len] == GZIP_MAGIC;
    let stream = io::Cursor::new(magic).take(len as u64).chain(inner);
    Ok(if is_gzip {
        Box::new(BufReader::with_capacity(
            BUFFER_SIZE,
            MultiGzDecoder::new(stream),
        ))
    } else {
        Box::new(BufReader::with_capacity(BUFFER_SIZE, stream))
    })
}
