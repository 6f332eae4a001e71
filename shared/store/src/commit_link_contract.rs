//! What every store of commit links must keep (part of [`crate::contract`]): repositories
//! replaced by id, commit links written only when their version condition holds, both
//! listed by id.

use chrono::{TimeZone, Utc};
use ferry_domain::ports::CommitLinkStore;
use ferry_domain::{
    CommitIntegration, CommitLinkRecord, CommitTarget, CommitTransition, ErrorCategory, IntegrationId, OnCommit,
    ScmKind, ScmSystem, SecretRef, SystemId,
};

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn repo(id: &SystemId, url: &str) -> ScmSystem {
    ScmSystem {
        id: id.clone(),
        kind: ScmKind::Git,
        base_url: url.into(),
        token: Some(SecretRef::Ssm("/ferry/git-token".into())),
        web_url: Some("https://git.acme.test/app/commit/{sha}".into()),
        allow_http_loopback: false,
        ca_cert: None,
    }
}

fn record(id: &IntegrationId, source: &SystemId, version: u64, active: bool) -> CommitLinkRecord {
    let jira = SystemId::parse("jira").expect("valid fixture id");
    CommitLinkRecord {
        link: CommitIntegration {
            id: id.clone(),
            source: source.clone(),
            branches: vec!["main".into(), "release/*".into()],
            targets: vec![CommitTarget {
                system: jira.clone(),
                project: "APP".into(),
                key_pattern: r"\b(APP-\d+)\b".into(),
            }],
            on_commit: vec![OnCommit::Link, OnCommit::Comment],
            poll_interval_secs: 30,
            transitions: vec![CommitTransition { keyword: "fixes".into(), to: [(jira, "Done".to_string())].into() }],
        },
        active,
        version,
        updated_at: Utc.timestamp_opt(1_700_000_000, 123_456_789).single().expect("valid fixture time"),
    }
}

fn conflict(result: ferry_domain::ports::PortResult<()>) -> String {
    match result {
        Err(e) if e.category == ErrorCategory::Conflict => e.to_string(),
        other => panic!("expected a Conflict, got {other:?}"),
    }
}

/// Uses fresh ids, so it runs against a store that already holds data.
pub async fn commit_links(store: &dyn CommitLinkStore) {
    let sid = SystemId::parse(unique("repo")).expect("valid id");
    assert_eq!(store.get_scm_system(&sid).await.expect("get_scm_system"), None);
    store.put_scm_system(&repo(&sid, "https://git.acme.test/app.git")).await.expect("put_scm_system");
    let moved = repo(&sid, "https://git.acme.test/app2.git");
    store.put_scm_system(&moved).await.expect("put_scm_system again");
    assert_eq!(store.get_scm_system(&sid).await.expect("get"), Some(moved.clone()), "a repository is replaced by id");
    let other = repo(&SystemId::parse(unique("repo")).expect("valid id"), "git://127.0.0.1/other.git");
    store.put_scm_system(&other).await.expect("put_scm_system other");
    let listed = store.list_scm_systems().await.expect("list_scm_systems");
    assert_eq!(listed.iter().filter(|s| s.id == sid).collect::<Vec<_>>(), vec![&moved]);
    assert!(listed.contains(&other));
    assert!(listed.windows(2).all(|w| w[0].id <= w[1].id), "sorted by id");

    let id = IntegrationId::parse(unique("commits")).expect("valid id");
    assert_eq!(store.get_commit_link(&id).await.expect("get_commit_link"), None);
    conflict(store.put_commit_link(&record(&id, &sid, 1, false), Some(1)).await);
    let first = record(&id, &sid, 1, false);
    store.put_commit_link(&first, None).await.expect("create");
    conflict(store.put_commit_link(&first, None).await);
    let active = record(&id, &sid, 2, true);
    store.put_commit_link(&active, Some(1)).await.expect("update 1 -> 2");
    let stale = conflict(store.put_commit_link(&record(&id, &sid, 2, false), Some(1)).await);
    assert!(stale.contains("expected version 1, stored version 2"), "{stale}");
    assert_eq!(store.get_commit_link(&id).await.expect("get"), Some(active.clone()), "a refused put changes nothing");
    let second = IntegrationId::parse(unique("commits")).expect("valid id");
    store.put_commit_link(&record(&second, &sid, 1, false), None).await.expect("create another");
    let listed = store.list_commit_links().await.expect("list_commit_links");
    assert_eq!(listed.iter().filter(|r| r.link.id == id).collect::<Vec<_>>(), vec![&active]);
    assert!(listed.iter().any(|r| r.link.id == second));
    assert!(listed.windows(2).all(|w| w[0].link.id <= w[1].link.id), "sorted by id");
}
