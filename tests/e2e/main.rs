//! End-to-end tests of the whole pipeline: real HTTP to the Jira and Azure DevOps
//! simulators, a real SQLite file, the real engine and, where an operator would use
//! it, the real `ferry` binary. Nothing of ours is mocked.

mod backfill;
mod backlog;
mod cli;
mod collab;
mod conflicts;
mod console;
mod deletions;
mod delivery;
mod edges;
mod first_steps;
mod governor;
mod harness;
mod hierarchy;
mod hook_function;
mod interleave;
mod recovery;
mod redmine;
mod redmine_collab;
mod scm;
mod security;
mod sync;
mod webhooks;
