//! Paths as git has them (bytes) carried in `String`s without loss.
//!
//! Most paths are UTF-8; a few are not (Latin-1 names in old projects). The engine keeps
//! paths as text, so each byte that is not part of valid UTF-8 is held as one private-use
//! character, U+F780 + (byte - 0x80), and turned back into that byte wherever a path goes to
//! git. A real U+F780..U+F7FF character in a name is held the same way, byte by byte, so the
//! mapping is exact both ways.

use std::borrow::Cow;

const FIRST: u32 = 0xF700;

fn escaped(byte: u8) -> char {
    // Bytes 0x80..=0xFF land on U+F780..=U+F7FF, all valid scalar values.
    char::from_u32(FIRST + u32::from(byte)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn is_escape(c: char) -> bool {
    (FIRST + 0x80..=FIRST + 0xFF).contains(&u32::from(c))
}

/// A path's bytes as carry's text.
pub fn to_text(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.chars().any(is_escape)
    {
        return text.to_owned();
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buffer = [0u8; 4];
                for &byte in c.encode_utf8(&mut buffer).as_bytes() {
                    out.push(escaped(byte));
                }
            } else {
                out.push(c);
            }
        }
        for &byte in chunk.invalid() {
            out.push(escaped(byte));
        }
    }
    out
}

/// The bytes carry's text of a path stands for.
pub fn to_bytes(text: &str) -> Cow<'_, [u8]> {
    if !text.chars().any(is_escape) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if is_escape(c) {
            out.push(u8::try_from(u32::from(c) - FIRST).unwrap_or(b'?'));
        } else {
            let mut buffer = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
        }
    }
    Cow::Owned(out)
}

/// The path as a `Path`, for libgit2's look-ups.
pub fn to_path(text: &str) -> Cow<'_, std::path::Path> {
    use std::os::unix::ffi::OsStrExt;
    match to_bytes(text) {
        Cow::Borrowed(bytes) => {
            Cow::Borrowed(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
        }
        Cow::Owned(bytes) => Cow::Owned(std::path::PathBuf::from(std::ffi::OsString::from(
            std::ffi::OsStr::from_bytes(&bytes),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_go_there_and_back() {
        for bytes in [
            &b"src/a.c"[..],
            b"latin-\xe9.txt",
            b"\xff\xfe/x",
            "caf\u{e9}/\u{f7a0}.c".as_bytes(),
            b"half \xe2\x82",
        ] {
            let text = to_text(bytes);
            assert_eq!(&*to_bytes(&text), bytes, "{text:?}");
        }
        assert_eq!(to_text(b"plain/path.c"), "plain/path.c");
    }
}
