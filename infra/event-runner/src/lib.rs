//! Plays Lambda's part against an emulator that stores schedules and queues but runs
//! no functions: fires the poll handler on the enabled EventBridge schedules and feeds
//! the transform and write handlers SQS batches with partial-batch-response semantics.

pub mod event;
pub mod runner;
pub mod schedule;

pub use runner::{queue_info, EventRunner, QueueInfo, RunnerOptions, SourceStats};
