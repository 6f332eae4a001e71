//! ferry-runtime
