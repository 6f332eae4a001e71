//! Which integrations can say what an entity related to a synced one is called on the
//! other side: one rule for the peer of a relation's far end, and for which waiting
//! relations a newly linked pair completes.
//!
//! One integration syncs one entity type per side, and a parent is usually of another
//! type than its children (a Jira Epic above Stories, a Story above Sub-tasks; a Bug
//! blocking a Story): the far end of a relation is then synced by *another* integration
//! between the same two systems. So the far end's peer is looked up in every integration
//! whose sides are the same two systems, in the orientation that matches, and a relation
//! waiting for an entity is completed whichever of them links it.
//!
//! When several integrations link the far end (the same Jira epic synced to two ADO
//! projects), the first in this order wins:
//! 1. the integration of the relation itself;
//! 2. one whose projects are the same on both sides;
//! 3. one whose project on the target side is the same (the peer lives next to the copy);
//! 4. one whose project on the source side is the same;
//! 5. the rest; ties by integration id.
//!
//! Entity ids are unique within a system (a Jira key, an Azure DevOps or Redmine id), so
//! the system and side say which entity a link names; projects only rank the candidates.

use ferry_domain::{Integration, Side};

/// An integration that may link an entity, and the side of it that entity would be on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route<'a> {
    pub integration: &'a Integration,
    pub side: Side,
}

/// The routes, best first (see the module docs), by which an entity on `side` of `own`
/// may be linked to one on `own`'s other side: every integration of `all` (and `own`)
/// that has `own`'s system of `side` on one side and `own`'s other system on the other.
/// `own` comes first whether or not `all` lists it.
pub fn routes<'a>(own: &'a Integration, side: Side, all: &'a [Integration]) -> Vec<Route<'a>> {
    let (here, there) = (own.endpoint(side), own.endpoint(side.other()));
    let mut found: Vec<(u8, Route<'a>)> = vec![(0, Route { integration: own, side })];
    for i in all.iter().filter(|i| i.id != own.id) {
        for s in [Side::Left, Side::Right] {
            let (a, b) = (i.endpoint(s), i.endpoint(s.other()));
            if a.system != here.system || b.system != there.system {
                continue;
            }
            let rank = match (a.project == here.project, b.project == there.project) {
                (true, true) => 1,
                (_, true) => 2,
                (true, false) => 3,
                (false, false) => 4,
            };
            found.push((rank, Route { integration: i, side: s }));
        }
    }
    found.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then_with(|| a.integration.id.cmp(&b.integration.id)));
    found.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::integration;
    use ferry_domain::{Endpoint, IntegrationId, SystemId};

    fn ep(system: &str, project: &str, ty: &str) -> Endpoint {
        Endpoint { system: SystemId::parse(system).expect("id"), project: project.into(), entity_type: ty.into() }
    }

    fn with(id: &str, left: Endpoint, right: Endpoint) -> Integration {
        Integration { id: IntegrationId::parse(id).expect("id"), left, right, ..integration() }
    }

    fn named(routes: &[Route<'_>]) -> Vec<(String, Side)> {
        routes.iter().map(|r| (r.integration.id.to_string(), r.side)).collect()
    }

    #[test]
    fn the_far_end_is_looked_up_in_every_integration_between_the_same_systems_best_first() {
        let bugs = with("app-bugs", ep("jira", "APP", "Bug"), ep("ado", "App", "Bug"));
        let all = [
            // Another type between the same projects: the epics.
            with("app-epics", ep("jira", "APP", "Epic"), ep("ado", "App", "Epic")),
            // The same systems the other way round: an ADO-left integration.
            with("ado-stories", ep("ado", "App", "User Story"), ep("jira", "APP", "Story")),
            // The same Jira project to another ADO project.
            with("app-to-ops", ep("jira", "APP", "Epic"), ep("ado", "Ops", "Epic")),
            // Another Jira project to the same ADO project.
            with("web-epics", ep("jira", "WEB", "Epic"), ep("ado", "App", "Epic")),
            // Unrelated systems.
            with("app-redmine", ep("jira", "APP", "Epic"), ep("redmine", "app", "Feature")),
            bugs.clone(),
        ];
        let from_jira = routes(&bugs, Side::Left, &all);
        assert_eq!(
            named(&from_jira),
            [
                ("app-bugs".to_string(), Side::Left),
                ("ado-stories".to_string(), Side::Right),
                ("app-epics".to_string(), Side::Left),
                ("web-epics".to_string(), Side::Left),
                ("app-to-ops".to_string(), Side::Left),
            ]
        );
        let from_ado = routes(&bugs, Side::Right, &all);
        assert_eq!(from_ado[0], Route { integration: &bugs, side: Side::Right });
        assert_eq!(
            named(&from_ado[1..]),
            [
                ("ado-stories".to_string(), Side::Left),
                ("app-epics".to_string(), Side::Right),
                ("app-to-ops".to_string(), Side::Right),
                ("web-epics".to_string(), Side::Right),
            ],
            "the ADO project ranks before the Jira one from the ADO side"
        );
    }

    #[test]
    fn an_integration_between_two_projects_of_one_system_is_a_route_both_ways() {
        let own = with("p1-p2", ep("jira", "P1", "Bug"), ep("jira", "P2", "Bug"));
        let epics = with("p1-p2-epics", ep("jira", "P1", "Epic"), ep("jira", "P2", "Epic"));
        let all = [epics];
        let r = routes(&own, Side::Left, &all);
        assert_eq!(
            named(&r),
            [
                ("p1-p2".to_string(), Side::Left),
                ("p1-p2-epics".to_string(), Side::Left),
                ("p1-p2-epics".to_string(), Side::Right),
            ],
            "its own orientation first: the same projects"
        );
    }

    #[test]
    fn alone_an_integration_is_its_only_route() {
        let own = integration();
        assert_eq!(routes(&own, Side::Right, &[]), [Route { integration: &own, side: Side::Right }]);
    }
}
