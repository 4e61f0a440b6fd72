//! A `git format-patch` file (mail headers, RFC 2047 words, transfer encodings, the diff):
//! any bytes parse or give an error, at every strip level.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&strip, bytes)) = data.split_first() else {
        return;
    };
    let _ = carry_adapters::patchfile::parse("0001-fuzz.patch", bytes, u32::from(strip % 4));
});
