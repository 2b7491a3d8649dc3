//! The scenario loader on arbitrary text: a scenario or a located error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = iphttps_harness::scenario::parse(std::path::Path::new("fuzz.toml"), text) {
            assert!(e.line >= 1 && e.column >= 1);
        }
    }
});
