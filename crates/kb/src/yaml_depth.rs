//! A guard run before any YAML text reaches a YAML parser.
//!
//! The YAML parsers killchain uses (yaml_serde for models, playbooks,
//! pipelines, control inventories and asset configs; rsigma-parser for Sigma
//! rules) take time quadratic in the nesting of flow collections: 50,000
//! `[` in a rule file take ~4 s to reject, 200 KB ~22 s. No real file nests
//! flow collections more than a handful of levels, so text nesting deeper
//! than [`MAX_FLOW_DEPTH`] is refused up front with the line where it gets
//! too deep. (Block nesting by indentation is parsed in linear time.)

/// The deepest nesting of `[` / `{` accepted.
pub const MAX_FLOW_DEPTH: usize = 128;

/// `Err(reason)` when flow collections in `text` nest deeper than
/// [`MAX_FLOW_DEPTH`]. Brackets inside quoted scalars and comments do not
/// count; ones in plain scalars do (`a[b`), which can only over-count by
/// the few such brackets real text has.
pub fn check(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut line = 1usize;
    // Inside a quoted scalar: the quote that closes it.
    let mut quote: Option<u8> = None;
    let mut comment = false;
    let mut prev = b'\n';
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'\n' {
            line += 1;
            comment = false;
        }
        match quote {
            _ if comment => {}
            Some(b'"') if b == b'\\' => {
                // An escaped character: skip it (a newline still counts).
                if bytes.next() == Some(b'\n') {
                    line += 1;
                }
            }
            // `''` inside a single-quoted scalar closes and reopens it: same effect.
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'#' if prev.is_ascii_whitespace() || prev == b'\n' => comment = true,
                b'[' | b'{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Err(format!(
                            "line {line}: collections nested more than {MAX_FLOW_DEPTH} levels deep; not parsed"
                        ));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        prev = b;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_nesting_passes_and_deep_nesting_is_refused_with_its_line() {
        let ok = "title: x\ndetection:\n  sel: {a: [1, [2, {b: c}]]}\n  condition: sel\n";
        assert_eq!(check(ok), Ok(()));
        let deep = format!("title: x\n\ndetection: {}\n", "[".repeat(50_000));
        let err = check(&deep).unwrap_err();
        assert!(err.starts_with("line 3: "), "{err}");
        let exactly = format!(
            "a: {}{}\n",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert_eq!(check(&exactly), Ok(()));
    }

    #[test]
    fn brackets_in_quotes_and_comments_do_not_count() {
        let many = "[".repeat(1000);
        for text in [
            format!("a: \"{many}\"\n"),
            format!("a: '{many}'\n"),
            format!("a: \"x\\\"{many}\"\n"),
            format!("a: 'it''s {many}'\n"),
            format!("# {many}\na: 1\n"),
            format!("a: 1 # {many}\n"),
        ] {
            assert_eq!(check(&text), Ok(()), "{text:.40}");
        }
        // A `#` inside a plain scalar is not a comment.
        assert!(check(&format!("a: x#{many}\n")).is_err());
    }
}
