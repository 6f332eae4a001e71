//! Jira Cloud REST v3 connector (being written).
