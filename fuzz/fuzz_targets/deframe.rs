//! The stream deframer on arbitrary bytes, fed in arbitrary splits, discarding as the
//! client does.
#![no_main]

use iphttps_sim::wire::deframe::Deframer;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let step = usize::from(split).max(1);
    let mut d = Deframer::new(1280);
    for chunk in rest.chunks(step) {
        d.extend(chunk);
        loop {
            match d.next_packet() {
                Ok(Some(p)) => assert!(p.len() >= 40 && p.len() <= 1280),
                Ok(None) => break,
                Err(e) => d.discard(e),
            }
        }
    }
    let _ = d.end();
});
