//! An upstream push event's body: any bytes give a push or an error, and the URLs it names
//! compare with any other.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(push) = carry_orchestrator::webhooks::parse_push(data) {
        for a in &push.urls {
            for b in &push.urls {
                assert!(carry_orchestrator::webhooks::same_repository(a, b) || a != b);
            }
            let _ = carry_orchestrator::webhooks::same_repository(a, "git@github.com:o/r");
        }
    }
});
