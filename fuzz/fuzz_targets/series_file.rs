//! A quilt `series` file: any text gives lines, each naming a patch and a strip level.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in carry_adapters::series::parse_series_file(&text) {
        let _ = format!("{line:?}");
    }
});
