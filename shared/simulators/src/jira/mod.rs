//! jira simulator (being written).
pub struct JiraSim;
pub struct JiraSeed;
