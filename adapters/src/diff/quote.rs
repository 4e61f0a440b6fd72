//! Paths as diffs spell them: C-quoted when they hold special or non-ASCII bytes.

/// Unquotes a path `git diff` wrote as `"a/\303\251t\303\251"`: the C escapes git uses
/// (`\a \b \t \n \v \f \r \" \\` and three octal digits). `None` when `text` is not a quoted
/// string; the rest of the line after the closing quote is returned too.
pub fn unquote(text: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let rest = text.strip_prefix(b"\"")?;
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'"' => return Some((out, &rest[i + 1..])),
            b'\\' => {
                let escaped = *rest.get(i + 1)?;
                i += 2;
                let byte = match escaped {
                    b'a' => 0x07,
                    b'b' => 0x08,
                    b't' => b'\t',
                    b'n' => b'\n',
                    b'v' => 0x0b,
                    b'f' => 0x0c,
                    b'r' => b'\r',
                    b'"' | b'\\' => escaped,
                    b'0'..=b'3' => {
                        let digits = rest.get(i..i + 2)?;
                        if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                            return None;
                        }
                        i += 2;
                        ((escaped - b'0') << 6) | ((digits[0] - b'0') << 3) | (digits[1] - b'0')
                    }
                    _ => return None,
                };
                out.push(byte);
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_named_escapes() {
        let (path, rest) = unquote(br#""a/caf\303\251 \"x\"\t.c" tail"#).expect("quoted");
        assert_eq!(path, "a/café \"x\"\t.c".as_bytes());
        assert_eq!(rest, b" tail");
        let (raw, _) = unquote(br#""a/\377.bin""#).expect("quoted");
        assert_eq!(raw, b"a/\xff.bin");
    }

    #[test]
    fn unterminated_or_bad_escapes_are_not_paths() {
        assert!(unquote(br#""a/b"#).is_none());
        assert!(unquote(br#""a\q""#).is_none());
        assert!(unquote(b"a/b").is_none());
    }
}
