//! The checks behind the fuzz targets, as a library so that a normal test can replay the
//! committed inputs without libFuzzer (`cargo test --manifest-path fuzz/Cargo.toml`).

pub mod adf_html;
