//! `GIT binary patch` data: base85 lines of a zlib stream, holding a literal or a delta.

use std::io::Read;

/// What a binary hunk holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryData {
    /// The whole new content.
    Literal(Vec<u8>),
    /// A git delta against the old content.
    Delta(Vec<u8>),
}

const ALPHABET: &[u8; 85] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

fn digit(byte: u8) -> Option<u32> {
    ALPHABET
        .iter()
        .position(|&c| c == byte)
        .and_then(|at| u32::try_from(at).ok())
}

/// Decodes one base85 line of a binary patch: a length letter, then groups of five digits.
pub fn decode_line(line: &[u8]) -> Result<Vec<u8>, String> {
    let (&length, digits) = line.split_first().ok_or("empty binary line")?;
    let length = match length {
        b'A'..=b'Z' => usize::from(length - b'A') + 1,
        b'a'..=b'z' => usize::from(length - b'a') + 27,
        _ => return Err(format!("bad length byte '{}'", char::from(length))),
    };
    if digits.len() != length.div_ceil(4) * 5 {
        return Err(format!(
            "a line of {length} bytes needs {} base85 digits, it has {}",
            length.div_ceil(4) * 5,
            digits.len()
        ));
    }
    let mut out = Vec::with_capacity(length);
    for group in digits.chunks(5) {
        let mut value: u64 = 0;
        for &c in group {
            let d = digit(c).ok_or_else(|| format!("'{}' is not base85", char::from(c)))?;
            value = value * 85 + u64::from(d);
        }
        let value = u32::try_from(value).map_err(|_| "base85 group overflows".to_owned())?;
        let take = (length - out.len()).min(4);
        out.extend_from_slice(&value.to_be_bytes()[..take]);
    }
    Ok(out)
}

/// Inflates the zlib stream of a binary hunk, which must give exactly `size` bytes.
pub fn inflate(deflated: &[u8], size: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(size);
    flate2::read::ZlibDecoder::new(deflated)
        .take(u64::try_from(size).unwrap_or(u64::MAX) + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("corrupt binary data: {e}"))?;
    if out.len() != size {
        return Err(format!(
            "binary data inflates to {} bytes, the patch says {size}",
            out.len()
        ));
    }
    Ok(out)
}

fn varint(data: &[u8], at: &mut usize) -> Result<usize, String> {
    let mut value: usize = 0;
    let mut shift = 0;
    loop {
        let byte = *data.get(*at).ok_or("truncated delta header")?;
        *at += 1;
        if shift >= usize::BITS {
            return Err("delta size overflows".to_owned());
        }
        value |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Applies a git delta (as `patch-delta.c` reads it) to `source`.
pub fn apply_delta(source: &[u8], delta: &[u8]) -> Result<Vec<u8>, String> {
    let mut at = 0;
    let source_size = varint(delta, &mut at)?;
    if source_size != source.len() {
        return Err(format!(
            "the delta is for a file of {source_size} bytes, this one has {}",
            source.len()
        ));
    }
    let target_size = varint(delta, &mut at)?;
    let mut out = Vec::with_capacity(target_size);
    while at < delta.len() {
        let command = delta[at];
        at += 1;
        if command & 0x80 != 0 {
            let mut offset = 0usize;
            let mut size = 0usize;
            for bit in 0..4 {
                if command & (1 << bit) != 0 {
                    offset |= usize::from(*delta.get(at).ok_or("truncated delta")?) << (8 * bit);
                    at += 1;
                }
            }
            for bit in 0..3 {
                if command & (0x10 << bit) != 0 {
                    size |= usize::from(*delta.get(at).ok_or("truncated delta")?) << (8 * bit);
                    at += 1;
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let copied = offset
                .checked_add(size)
                .and_then(|end| source.get(offset..end))
                .ok_or("the delta copies from outside the file")?;
            out.extend_from_slice(copied);
        } else if command != 0 {
            let inserted = delta
                .get(at..at + usize::from(command))
                .ok_or("truncated delta")?;
            out.extend_from_slice(inserted);
            at += usize::from(command);
        } else {
            return Err("a delta command of 0".to_owned());
        }
    }
    if out.len() != target_size {
        return Err(format!(
            "the delta makes {} bytes, it says {target_size}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base85_lines_decode_to_their_length() {
        // Encoded with the inverse of git's scheme, then decoded.
        let data = b"hello, binary\x00\xff";
        let mut line = vec![b'A' + u8::try_from(data.len() - 1).expect("short")];
        for chunk in data.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            let mut value = u32::from_be_bytes(word);
            let mut digits = [0u8; 5];
            for d in digits.iter_mut().rev() {
                *d = ALPHABET[(value % 85) as usize];
                value /= 85;
            }
            line.extend_from_slice(&digits);
        }
        assert_eq!(decode_line(&line).expect("decodes"), data);
    }

    #[test]
    fn deltas_copy_and_insert() {
        let source = b"0123456789";
        // source 10, target 7: copy offset 2 size 3, insert "ab", copy offset 8 size 2.
        let delta = [10, 7, 0x91, 2, 3, 2, b'a', b'b', 0x91, 8, 2];
        assert_eq!(apply_delta(source, &delta).expect("applies"), b"234ab89");
        assert!(apply_delta(b"short", &delta).is_err());
    }
}
