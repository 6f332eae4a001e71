//! `ferry_config::load_str` on arbitrary text, with the example sheets reachable so
//! `csv:` / `sheet:` tables are read too. It must never panic, and every error it
//! returns must name the file and a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    if let Err(errors) = ferry_config::load_str("fuzz.yaml", &text, &base) {
        assert!(!errors.0.is_empty(), "an error result with no errors");
        for e in &errors.0 {
            assert_eq!(e.file, "fuzz.yaml", "{e}");
            assert!(e.line.is_some_and(|l| l >= 1), "error without a line: {e}");
            assert!(!e.message.is_empty(), "error without a message: {e:?}");
        }
    }
});
