//! Replays the committed `adf_html` seeds and regressions through the target's checks,
//! decoded as libFuzzer hands them to the target (`arbitrary_take_rest`).

use arbitrary::{Arbitrary, Unstructured};
use ferry_fuzz::adf_html::{run, Input};
use std::path::{Path, PathBuf};

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = Vec::new();
    for (dir, prefix) in [("corpus/adf_html", ""), ("regressions", "adf_html-")] {
        let entries = std::fs::read_dir(root.join(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{dir}: {e}")).path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn committed_adf_html_inputs_pass_the_target_checks() {
    let files = inputs();
    assert!(files.len() >= 7, "the six seeds and the regression: {files:?}");
    for path in files {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input = Input::arbitrary_take_rest(Unstructured::new(&bytes))
            .unwrap_or_else(|e| panic!("{} does not decode as an input: {e}", path.display()));
        run(input);
    }
}
