//! ADF ⇄ HTML: see `ferry_fuzz::adf_html` for what each input is checked against.
#![no_main]

use ferry_fuzz::adf_html::{run, Input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: Input| run(input));
