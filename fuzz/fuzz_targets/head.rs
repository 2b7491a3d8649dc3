//! The HTTP head parsers on arbitrary bytes.
#![no_main]

use iphttps_sim::wire::head::{self, Parsed};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Parsed::Complete { len, .. }) = head::parse_request(data, head::DEFAULT_PATH) {
        assert!(len <= data.len());
    }
    if let Ok(Parsed::Complete { len, .. }) = head::parse_response(data) {
        assert!(len <= data.len());
    }
});
