//! The webhook subscriptions `ferry activate` registers at the systems: which ones an
//! integration wants, what to keep, create and delete given what a system lists (so
//! activating twice registers nothing twice), and the manual steps for a person when a
//! system refuses (a Jira user without the Administer Jira permission). Pure: the
//! runtime does the HTTP and resolves the secrets, which never appear here.

use crate::integration::SecretRef;
use crate::webhook::HookConfig;
use serde::{Deserialize, Serialize};

/// The Jira admin webhook events Ferry subscribes to (one webhook carries them all).
pub const JIRA_EVENTS: &[&str] = &[
    "jira:issue_created",
    "jira:issue_updated",
    "jira:issue_deleted",
    "comment_created",
    "comment_updated",
    "comment_deleted",
];

/// The Azure DevOps service hook event types Ferry subscribes to (one subscription each).
pub const ADO_EVENTS: &[&str] = &["workitem.created", "workitem.updated", "workitem.deleted", "workitem.commented"];

/// One subscription Ferry registered, as the store records it for `ferry deactivate`:
/// the system, the id the system gave it, and its events. No URL credentials, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSubscription {
    pub system: String,
    pub id: String,
    pub events: Vec<String>,
}

/// A subscription as a system lists it (anyone's, not only Ferry's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub url: String,
    /// Jira: the JQL filter; Azure DevOps: the project id it is limited to.
    pub filter: String,
    pub events: Vec<String>,
}

/// A subscription an integration needs at one system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub url: String,
    pub filter: String,
    pub events: Vec<String>,
}

/// What to do at one system: the listed ids kept (by wanted index), the wanted ones
/// to create, and the listed ids to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub keep: Vec<(usize, String)>,
    pub create: Vec<usize>,
    pub delete: Vec<String>,
}

fn same_events(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

/// Plans one system: a listed subscription with a wanted one's URL, filter and events
/// is kept (the first such; later ones are duplicates and deleted); one with a wanted
/// URL and filter but other events is Ferry's older registration and deleted, as is
/// any `recorded` id no longer wanted. Everything else is someone else's and left alone.
pub fn plan(wanted: &[Wanted], listed: &[Listed], recorded: &[String]) -> Plan {
    let mut out = Plan::default();
    let mut used = vec![false; listed.len()];
    for (w, want) in wanted.iter().enumerate() {
        let found = listed.iter().enumerate().find(|(i, l)| {
            !used[*i] && l.url == want.url && l.filter == want.filter && same_events(&l.events, &want.events)
        });
        match found {
            Some((i, l)) => {
                used[i] = true;
                out.keep.push((w, l.id.clone()));
            }
            None => out.create.push(w),
        }
    }
    for (i, l) in listed.iter().enumerate() {
        let ours = wanted.iter().any(|w| w.url == l.url && w.filter == l.filter) || recorded.contains(&l.id);
        if !used[i] && ours {
            out.delete.push(l.id.clone());
        }
    }
    out
}

/// The JQL filter of a Jira webhook for a project.
pub fn jira_filter(project_key: &str) -> String {
    format!("project = {project_key}")
}

/// Where a system's webhooks go: `{hooks_url}/hooks/{system}` (`hooks_url` is the
/// listener's or the stack's `HooksUrl`, with or without a trailing slash).
pub fn hook_url(hooks_url: &str, system: &str) -> String {
    format!("{}/hooks/{system}", hooks_url.trim_end_matches('/'))
}

fn reference(r: &SecretRef) -> String {
    format!("the value of {r} (the secret `webhook:` names; not shown here)")
}

/// What a Jira administrator does by hand to register the webhook.
pub fn jira_manual_steps(site: &str, name: &str, url: &str, filter: &str, hook: &HookConfig) -> Vec<String> {
    let secret = hook.secret.as_ref().map(reference).unwrap_or_else(|| "none configured".into());
    vec![
        format!(
            "As a Jira administrator open {}/plugins/servlet/webhooks (Settings > System > WebHooks) and click Create a WebHook.",
            site.trim_end_matches('/')
        ),
        format!("Name: {name}"),
        format!("URL: {url}"),
        format!("Secret: {secret}"),
        format!("Events: Issue created, updated, deleted; Comment created, updated, deleted ({})", JIRA_EVENTS.join(", ")),
        format!("JQL filter: {filter}"),
        "Save. Polling syncs meanwhile; the webhook only makes changes land sooner.".into(),
    ]
}

/// What a project administrator does by hand in Azure DevOps, once per event type.
pub fn ado_manual_steps(org: &str, project: &str, url: &str, hook: &HookConfig) -> Vec<String> {
    let mut steps = vec![
        format!(
            "In {}/{project}/_settings/serviceHooks (Project settings > Service hooks) click + Create subscription, choose Web Hooks, once for each event below.",
            org.trim_end_matches('/')
        ),
        format!(
            "Events: Work item created, Work item updated, Work item deleted, Work item commented on ({}), area path [Any]",
            ADO_EVENTS.join(", ")
        ),
        format!("URL: {url}"),
    ];
    if let Some(b) = &hook.basic {
        steps.push(format!("Basic authentication username: {}", b.username));
        steps.push(format!("Basic authentication password: {}", reference(&b.password)));
    }
    if let Some(h) = &hook.header {
        steps.push(format!("HTTP headers: {}:<{}>", h.name, reference(&h.value)));
    }
    steps.push("Resource details to send: All. Finish. Polling syncs meanwhile.".into());
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, url: &str, filter: &str, events: &[&str]) -> Listed {
        Listed {
            id: id.into(),
            url: url.into(),
            filter: filter.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
        }
    }
    fn wanted(url: &str, filter: &str, events: &[&str]) -> Wanted {
        Wanted { url: url.into(), filter: filter.into(), events: events.iter().map(|e| e.to_string()).collect() }
    }

    #[test]
    fn a_plan_keeps_what_matches_creates_what_is_missing_and_deletes_duplicates_and_stale_ones() {
        let u = "https://h/hooks/ado";
        let want = [wanted(u, "p1", &["workitem.created"]), wanted(u, "p1", &["workitem.updated"])];
        // (case, listed, recorded, expected plan)
        let cases: Vec<(&str, Vec<Listed>, Vec<String>, Plan)> = vec![
            ("nothing there", vec![], vec![], Plan { keep: vec![], create: vec![0, 1], delete: vec![] }),
            (
                "all there: kept",
                vec![listed("a", u, "p1", &["workitem.updated"]), listed("b", u, "p1", &["workitem.created"])],
                vec![],
                Plan { keep: vec![(0, "b".into()), (1, "a".into())], create: vec![], delete: vec![] },
            ),
            (
                "a duplicate is deleted",
                vec![listed("a", u, "p1", &["workitem.created"]), listed("b", u, "p1", &["workitem.created"])],
                vec![],
                Plan { keep: vec![(0, "a".into())], create: vec![1], delete: vec!["b".into()] },
            ),
            (
                "same URL and filter, other events: Ferry's older one, replaced",
                vec![listed("a", u, "p1", &["workitem.restored"])],
                vec![],
                Plan { keep: vec![], create: vec![0, 1], delete: vec!["a".into()] },
            ),
            (
                "someone else's (other URL or project) is left alone",
                vec![listed("x", "https://other", "p1", &["workitem.created"]), listed("y", u, "p2", &[])],
                vec![],
                Plan { keep: vec![], create: vec![0, 1], delete: vec![] },
            ),
            (
                "a recorded one at an old URL is deleted",
                vec![listed("old", "https://old/hooks/ado", "p1", &["workitem.created"])],
                vec!["old".into()],
                Plan { keep: vec![], create: vec![0, 1], delete: vec!["old".into()] },
            ),
        ];
        for (case, listed, recorded, expected) in cases {
            assert_eq!(plan(&want, &listed, &recorded), expected, "{case}");
        }
    }

    #[test]
    fn events_match_as_a_set() {
        let u = "https://h/hooks/jira";
        let want = [wanted(u, "project = APP", &["a", "b"])];
        let p = plan(&want, &[listed("1", u, "project = APP", &["b", "a", "a"])], &[]);
        assert_eq!(p.keep, vec![(0, "1".into())]);
    }

    #[test]
    fn manual_steps_name_the_url_events_filter_and_only_the_secrets_reference() {
        let hook = HookConfig { secret: Some(SecretRef::Env("JIRA_HOOK".into())), basic: None, header: None };
        let steps = jira_manual_steps(
            "https://acme.atlassian.net/",
            "ferry app",
            "https://h/hooks/jira",
            "project = APP",
            &hook,
        )
        .join("\n");
        for want in [
            "https://acme.atlassian.net/plugins/servlet/webhooks",
            "https://h/hooks/jira",
            "project = APP",
            "env:JIRA_HOOK",
            "jira:issue_updated",
        ] {
            assert!(steps.contains(want), "{want} missing in:\n{steps}");
        }
        let hook = HookConfig {
            secret: None,
            basic: Some(crate::webhook::HookBasic { username: "ferry".into(), password: SecretRef::Ssm("/p".into()) }),
            header: Some(crate::webhook::HookHeader { name: "X-Ferry-Hook".into(), value: SecretRef::Env("H".into()) }),
        };
        let steps = ado_manual_steps("https://dev.azure.com/acme", "App", "https://h/hooks/ado", &hook).join("\n");
        for want in [
            "https://dev.azure.com/acme/App/_settings/serviceHooks",
            "workitem.commented",
            "username: ferry",
            "ssm:/p",
            "X-Ferry-Hook:<the value of env:H",
        ] {
            assert!(steps.contains(want), "{want} missing in:\n{steps}");
        }
        assert_eq!(hook_url("https://x.on.aws/", "jira"), "https://x.on.aws/hooks/jira");
    }
}
