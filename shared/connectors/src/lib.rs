//! ferry-connectors
