//! Which integration directions a delivery asks to poll: those whose source endpoint is
//! the delivering system's project. Only active integrations, only directions that
//! carry something.

use crate::ids::{IntegrationId, SystemId};
use crate::integration::IntegrationRecord;
use crate::model::{Flow, Side};

/// The directions of the active integrations in `records` whose source is `project`
/// of `system` (project keys and names compare case-insensitively, as both services
/// treat them), in the order of `records`.
pub fn directions_for(records: &[IntegrationRecord], system: &SystemId, project: &str) -> Vec<(IntegrationId, Flow)> {
    let mut out = Vec::new();
    for record in records.iter().filter(|r| r.active) {
        let i = &record.integration;
        for flow in i.flows() {
            let source = match flow.source() {
                Side::Left => &i.left,
                Side::Right => &i.right,
            };
            if &source.system == system && source.project.eq_ignore_ascii_case(project) {
                out.push((i.id.clone(), flow));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An integration of Jira `APP` (left) and Azure DevOps `Fabrikam` (right) whose one
    /// field mapping runs `direction`.
    fn record(id: &str, jira_project: &str, direction: &str, active: bool) -> IntegrationRecord {
        serde_json::from_value(json!({
            "integration": {
                "id": id,
                "left": {"system": "jira", "project": jira_project, "entity_type": "Task"},
                "right": {"system": "ado", "project": "Fabrikam", "entity_type": "Task"},
                "poll_interval_secs": 60, "overlap_secs": 60, "max_attempts": 5,
                "fields": [{"left": "summary", "right": "System.Title", "direction": direction}],
            },
            "active": active, "version": 1, "updated_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn ids(v: Vec<(IntegrationId, Flow)>) -> Vec<(String, Flow)> {
        v.into_iter().map(|(i, f)| (i.to_string(), f)).collect()
    }

    #[test]
    fn a_delivery_polls_the_directions_whose_source_is_its_project() {
        let records = [
            record("both", "APP", "both", true),
            record("one-way", "APP", "right_to_left", true),
            record("other-project", "OPS", "both", true),
            record("inactive", "APP", "both", false),
        ];
        let jira = SystemId::parse("jira").unwrap();
        let ado = SystemId::parse("ado").unwrap();
        let cases = [
            (&jira, "APP", vec![("both".to_string(), Flow::LeftToRight)]),
            (&jira, "app", vec![("both".to_string(), Flow::LeftToRight)]),
            (&jira, "OPS", vec![("other-project".to_string(), Flow::LeftToRight)]),
            (
                &ado,
                "fabrikam",
                vec![
                    ("both".to_string(), Flow::RightToLeft),
                    ("one-way".to_string(), Flow::RightToLeft),
                    ("other-project".to_string(), Flow::RightToLeft),
                ],
            ),
            (&jira, "NOPE", vec![]),
            (&SystemId::parse("other").unwrap(), "APP", vec![]),
        ];
        for (system, project, expected) in cases {
            assert_eq!(ids(directions_for(&records, system, project)), expected, "{system} {project}");
        }
    }
}
