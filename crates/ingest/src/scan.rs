//! Byte-level scanner that finds where one element of a JSON array ends,
//! without parsing it: it only tracks string/escape state and bracket depth.
//! This is what lets array mode buffer a single element at a time and recover
//! from a bad element (its brackets still balance, so the next one is found).

use memchr::memchr2;

/// Byte classes that matter outside strings; everything else is `PLAIN`.
const PLAIN: u8 = 0;
const QUOTE: u8 = 1;
const OPEN: u8 = 2;
const CLOSE_SQUARE: u8 = 3;
const CLOSE_CURLY: u8 = 4;
const COMMA: u8 = 5;
const NEWLINE: u8 = 6;

static CLASS: [u8; 256] = {
    let mut table = [PLAIN; 256];
    table[b'"' as usize] = QUOTE;
    table[b'[' as usize] = OPEN;
    table[b'{' as usize] = OPEN;
    table[b']' as usize] = CLOSE_SQUARE;
    table[b'}' as usize] = CLOSE_CURLY;
    table[b',' as usize] = COMMA;
    table[b'\n' as usize] = NEWLINE;
    table
};

/// Scan state for one array element; survives across buffer chunks.
#[derive(Debug, Default)]
pub(crate) struct ElementScanner {
    /// Nesting depth inside the element (0 = the element's own level).
    depth: u64,
    in_string: bool,
    /// The previous byte (possibly in the previous chunk) was a backslash
    /// inside a string, so this byte is escaped.
    escaped: bool,
    /// Newlines seen outside strings.
    newlines: u64,
}

impl ElementScanner {
    /// Whether the bytes scanned so far close every string and bracket they
    /// open.
    pub(crate) fn is_balanced(&self) -> bool {
        self.depth == 0 && !self.in_string
    }

    /// Newlines seen outside strings so far. Valid JSON has none inside
    /// strings, so for an element that parses this is its line count; saves
    /// a second pass over every element.
    pub(crate) fn newlines(&self) -> u64 {
        self.newlines
    }

    /// Scans `data`, the next bytes of the element. Returns the offset of the
    /// delimiter ending the element (a `,` or `]` at depth 0 outside strings)
    /// or `None` if the element continues past `data`.
    ///
    /// Mismatched or stray closers are not errors here: a `}` at depth 0 stays
    /// part of the element, and bracket kinds are not matched, so the parser
    /// reports the problem for that element alone.
    pub(crate) fn scan(&mut self, data: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < data.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                let at = i + find_quote_or_backslash(&data[i..])?;
                if data[at] == b'"' {
                    self.in_string = false;
                } else {
                    self.escaped = true;
                }
                i = at + 1;
                continue;
            }
            match CLASS[usize::from(data[i])] {
                PLAIN => {}
                QUOTE => self.in_string = true,
                OPEN => self.depth += 1,
                CLOSE_SQUARE => {
                    if self.depth == 0 {
                        return Some(i);
                    }
                    self.depth -= 1;
                }
                CLOSE_CURLY => self.depth = self.depth.saturating_sub(1),
                NEWLINE => self.newlines += 1,
                _ => {
                    if self.depth == 0 {
                        return Some(i);
                    }
                }
            }
            i += 1;
        }
        None
    }
}

/// Offset of the first `"` or `\\` in `data`.
///
/// Most JSON strings (keys, short values) end within a few bytes, where a
/// `memchr2` call costs more than the search; check the first 32 bytes a
/// word at a time inline, and hand longer strings to `memchr2`.
#[inline]
fn find_quote_or_backslash(data: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    /// High bit set in each byte of `x` that is zero (plus possibly bytes
    /// above a zero byte, which never precede the first real match).
    #[inline]
    fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGHS
    }

    let head = &data[..data.len().min(32)];
    let (words, _) = head.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let hits = zero_bytes(word ^ QUOTES) | zero_bytes(word ^ BACKSLASHES);
        if hits != 0 {
            // Little-endian load: the lowest set bit is the first byte.
            return Some(n * 8 + (hits.trailing_zeros() / 8) as usize);
        }
    }
    let done = words.len() * 8;
    memchr2(b'"', b'\\', &data[done..]).map(|at| done + at)
}

#[cfg(test)]
mod tests {
    use super::ElementScanner;

    fn end(input: &str) -> Option<usize> {
        ElementScanner::default().scan(input.as_bytes())
    }

    #[test]
    fn scalars_end_at_comma_or_bracket() {
        assert_eq!(end("1, 2"), Some(1));
        assert_eq!(end("true ]"), Some(5));
        assert_eq!(end("\"a,]b\" ,"), Some(7));
        assert_eq!(end("12"), None);
    }

    #[test]
    fn nested_and_strings() {
        let s = r#"{"a": [1, {"b": "x]}\",\\"}], "c": "\"{"}, 5"#;
        assert_eq!(end(s), Some(s.find("}, 5").unwrap() + 1));
    }

    #[test]
    fn finds_quote_or_backslash_at_every_offset() {
        for len in 0..80 {
            for at in 0..=len {
                for hit in [b'"', b'\\'] {
                    let mut data = vec![b'a'; len];
                    // Bytes that differ from `"`/`\\` by one bit or a borrow.
                    for (i, byte) in data.iter_mut().enumerate() {
                        *byte = [b'a', b'#', b'!', b']', 0xdc, 0xa2, 0x00][i % 7];
                    }
                    let expected = (at < len).then(|| {
                        data[at] = hit;
                        at
                    });
                    if at + 1 < len {
                        data[at + 1] = b'"';
                    }
                    assert_eq!(
                        super::find_quote_or_backslash(&data),
                        expected,
                        "{len} {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn counts_newlines_outside_strings() {
        let mut scanner = ElementScanner::default();
        assert_eq!(scanner.scan(b"{\n\"a\":\n 1\n}\n,"), Some(12));
        assert_eq!(scanner.newlines(), 4);
    }

    #[test]
    fn stray_curly_stays_in_element() {
        assert_eq!(end("{}}, 1"), Some(3));
    }

    #[test]
    fn state_carries_across_chunks() {
        let s = br#"{"k": "a\"],\\", "l": [1, 2]} ,"#;
        let whole = ElementScanner::default().scan(s);
        for split in 0..s.len() {
            let mut scanner = ElementScanner::default();
            let found = match scanner.scan(&s[..split]) {
                Some(pos) => Some(pos),
                None => scanner.scan(&s[split..]).map(|pos| pos + split),
            };
            assert_eq!(found, whole, "split at {split}");
        }
        // Byte by byte.
        let mut scanner = ElementScanner::default();
        let found = (0..s.len()).find(|&i| scanner.scan(&s[i..=i]).is_some());
        assert_eq!(found, whole);
    }
}
