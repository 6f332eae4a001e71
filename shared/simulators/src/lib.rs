//! ferry-simulators
