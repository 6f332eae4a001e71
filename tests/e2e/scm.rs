//! Source control (Git) on the embedded backend: real repositories on the real Git
//! servers of `infra/git-servers.sh` (git daemon and smart HTTP), changed with the real
//! `git`; commits that name a Jira issue (`APP-n`) or an Azure DevOps work item (`AB#n`)
//! appear on it as a remote link / Hyperlink and a comment, exactly once.

use crate::harness::{Variant, World};
use anyhow::{Context, Result};
use ferry_domain::ports::StateStore;
use ferry_domain::{
    CommitIntegration, CommitTarget, EntityId, FieldValue, IntegrationId, OnCommit, ScmKind, ScmSystem, Side, SystemId,
};
use ferry_scm::{CommitSync, KeyPattern, PollReport, Target, COMMIT_FLOW};
use ferry_testsupport::git::{GitServers, WorkRepo};
use ferry_testsupport::people::JIRA_BOT_TOKEN;
use std::sync::Arc;

const WEB: &str = "https://git.example.test/app/commit/{sha}";

/// A world (simulators, embedded store) with one Jira issue, one Azure DevOps work item
/// and a repository on the Git servers.
struct ScmWorld {
    w: World,
    repo: WorkRepo,
    _work: tempfile::TempDir,
    mirror: tempfile::TempDir,
    /// `APP-n` of the Jira issue.
    issue: String,
    /// The work item's id.
    item: String,
    url: String,
}

impl ScmWorld {
    async fn new(over_http: bool) -> Result<Self> {
        let w = World::new(Variant::default()).await?;
        let servers = GitServers::from_env_file()?;
        let work = tempfile::tempdir()?;
        let repo = servers.new_repo("app", work.path())?;
        let base = if over_http { &servers.http_url } else { &servers.daemon_url };
        let url = format!("{base}/{}.git", repo.name);
        let summary = |s: &str| vec![("summary", FieldValue::Text(s.into()))];
        let issue = w.jira_user("alice").await.create(summary("Login fails")).await?.key;
        let title = vec![("System.Title", FieldValue::Text("Login fails on ADO".into()))];
        let item = w.ado_user("bob").await.create(title).await?.id.as_str().to_string();
        Ok(ScmWorld { w, repo, _work: work, mirror: tempfile::tempdir()?, issue, item, url })
    }

    fn integration(&self, branches: &[&str]) -> CommitIntegration {
        let system = |side| self.w.integration.endpoint(side).system.clone();
        CommitIntegration {
            id: IntegrationId::parse("app-commits").expect("id"),
            source: SystemId::parse("app-repo").expect("id"),
            branches: branches.iter().map(|b| b.to_string()).collect(),
            targets: vec![
                CommitTarget {
                    system: system(Side::Left),
                    project: "APP".into(),
                    key_pattern: r"\b(APP-\d+)\b".into(),
                },
                CommitTarget {
                    system: system(Side::Right),
                    project: "App".into(),
                    key_pattern: r"\bAB#(\d+)\b".into(),
                },
            ],
            on_commit: vec![OnCommit::Link, OnCommit::Comment],
        }
    }

    async fn sync(&self, url: &str, branches: &[&str]) -> Result<CommitSync> {
        let integration = self.integration(branches);
        let mut targets = Vec::new();
        for (t, side) in integration.targets.iter().zip([Side::Left, Side::Right]) {
            targets.push(Target {
                system: t.system.to_string(),
                project: t.project.clone(),
                pattern: KeyPattern::new(&t.key_pattern).map_err(anyhow::Error::msg)?,
                connector: self.w.reader(side).await.conn,
            });
        }
        Ok(CommitSync {
            integration,
            system: ScmSystem {
                id: SystemId::parse("app-repo").expect("id"),
                kind: ScmKind::Git,
                base_url: url.to_string(),
                token: None,
                web_url: Some(WEB.into()),
                allow_http_loopback: true,
            },
            token: None,
            mirror_dir: self.mirror.path().join("app-repo"),
            targets,
            state: self.state(),
        })
    }

    async fn poll(&self) -> Result<PollReport> {
        Ok(self.sync(&self.url, &["main", "release/*"]).await?.poll().await?)
    }

    fn state(&self) -> Arc<dyn StateStore> {
        self.w.engine.state().clone()
    }

    /// How many of the Jira issue's comments and remote links are about commit `sha`.
    async fn on_jira(&self, sha: &str) -> Result<(usize, usize)> {
        let reader = self.w.reader(Side::Left).await;
        let scope = reader.scope.clone();
        let comments = reader.conn.comments(&scope, &EntityId::new(&self.issue)).await?;
        let system = self.w.systems.iter().find(|s| s.id == self.w.integration.left.system).context("jira")?;
        let user = match &system.auth {
            ferry_domain::AuthConfig::Basic { username, .. } => username.clone(),
            _ => anyhow::bail!("jira auth"),
        };
        let links: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/rest/api/3/issue/{}/remotelink", self.w.jira.base_url(), self.issue))
            .basic_auth(user, Some(JIRA_BOT_TOKEN))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let link_url = WEB.replace("{sha}", sha);
        let links = links.as_array().context("remote links")?.iter().filter(|l| l["object"]["url"] == link_url).count();
        Ok((comments.iter().filter(|c| c.body.contains(sha)).count(), links))
    }

    /// The same for the Azure DevOps work item (Hyperlink relations).
    async fn on_ado(&self, sha: &str) -> Result<(usize, usize)> {
        let reader = self.w.reader(Side::Right).await;
        let comments = reader.conn.comments(&reader.scope, &EntityId::new(&self.item)).await?;
        let json = self.w.ado.work_item_json(self.item.parse()?).context("work item")?;
        let link_url = WEB.replace("{sha}", sha);
        let links = json["relations"]
            .as_array()
            .map(|r| r.iter().filter(|r| r["rel"] == "Hyperlink" && r["url"] == link_url).count())
            .unwrap_or(0);
        Ok((comments.iter().filter(|c| c.body.contains(sha)).count(), links))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_naming_work_items_appear_on_them_once_across_a_repoll_and_a_crash() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    let first = s.poll().await?;
    assert!(first.activated, "{first:?}");
    assert_eq!(first.comments, 0, "activation writes nothing");

    // A release branch with an old-dated commit naming both items, and a merged feature branch.
    let ado_ref = format!("AB#{}", s.item);
    s.repo.git(&["checkout", "-q", "-b", "release/1.0"])?;
    let old =
        s.repo.commit("src/login.rs", &format!("{}: fix login ({ado_ref})", s.issue), Some("2001-02-03T04:05:06Z"))?;
    s.repo.push("release/1.0", false)?;
    s.repo.git(&["checkout", "-q", "main"])?;
    s.repo.git(&["checkout", "-q", "-b", "feat"])?;
    let feat = s.repo.commit("src/ui.rs", &format!("Tidy the form for {}", s.issue), None)?;
    s.repo.git(&["checkout", "-q", "main"])?;
    s.repo.git(&["merge", "-q", "--no-ff", "-m", "Merge feat", "feat"])?;
    s.repo.git(&["merge", "-q", "--no-ff", "-m", "Merge release/1.0", "release/1.0"])?;
    s.repo.push("main", false)?;

    // A crash half-way: Azure DevOps fails after the Jira writes went through.
    s.w.ado.faults().fail_next(1000, 500);
    let crashed = s.poll().await;
    assert!(crashed.is_err(), "{crashed:?}");
    s.w.ado.faults().fail_next(0, 500);
    assert_eq!(s.on_jira(&old).await?, (1, 1), "the Jira writes before the crash");

    let report = s.poll().await?;
    assert_eq!(report.commits, 4, "{report:?}");
    for _ in 0..2 {
        assert_eq!(s.on_jira(&old).await?, (1, 1), "old-dated commit on Jira");
        assert_eq!(s.on_jira(&feat).await?, (1, 1), "merged commit on Jira");
        assert_eq!(s.on_ado(&old).await?, (1, 1), "old-dated commit on Azure DevOps");
        assert_eq!(s.on_ado(&feat).await?, (0, 0), "the feature commit does not name the work item");
        // A re-poll walks nothing; a replay from the old tips (a crash after the writes,
        // before the tips were recorded) finds every write done.
        let again = s.poll().await?;
        assert_eq!((again.commits, again.comments), (0, 0), "{again:?}");
    }
    let mut mark = s.state().get_watermark(&s.integration(&[]).id, COMMIT_FLOW).await?.context("position")?;
    let tips = mark.branch_tips.clone().context("tips")?;
    assert_eq!(tips.keys().cloned().collect::<Vec<_>>(), vec!["main", "release/1.0"]);
    let version = mark.version;
    mark.branch_tips = Some([("main".to_string(), s.repo.git(&["rev-parse", "main~2"])?)].into());
    s.state().put_watermark(&s.integration(&[]).id, COMMIT_FLOW, &mark, Some(version)).await?;
    let replay = s.poll().await?;
    assert_eq!((replay.commits, replay.comments, replay.already_done), (4, 0, 3), "{replay:?}");
    assert_eq!(s.on_jira(&old).await?, (1, 1));
    assert_eq!(s.on_ado(&old).await?, (1, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_commit_pushed_to_an_empty_repository_is_synced_over_smart_http() -> Result<()> {
    let s = ScmWorld::new(true).await?;
    let first = s.poll().await?;
    assert!(first.activated, "{first:?}");
    let mark = s.state().get_watermark(&s.integration(&[]).id, COMMIT_FLOW).await?.context("position")?;
    assert_eq!(mark.branch_tips, Some(Default::default()), "an empty repository is recorded as no tips (\"0\")");

    let sha = s.repo.commit("src/app.rs", &format!("Start the app for {}", s.issue), None)?;
    s.repo.push("main", false)?;
    let report = s.poll().await?;
    assert_eq!((report.commits, report.comments, report.links), (1, 1, 1), "{report:?}");
    assert_eq!(s.on_jira(&sha).await?, (1, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_push_after_a_rebase_links_only_the_rewritten_commits() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    s.poll().await?;
    let kept = s.repo.commit("a.rs", &format!("{} part one", s.issue), None)?;
    s.repo.push("main", false)?;
    s.repo.git(&["checkout", "-q", "-b", "release/2"])?;
    let before = s.repo.commit("b.rs", &format!("{} part two", s.issue), None)?;
    s.repo.push("release/2", false)?;
    assert_eq!(s.poll().await?.comments, 2);

    // Rewrite release/2: amend its commit (a new sha) and force-push.
    s.repo.git(&["commit", "-q", "--amend", "-m", &format!("{} part two, reworded", s.issue)])?;
    let after = s.repo.head()?;
    s.repo.push("release/2", true)?;
    let report = s.poll().await?;
    assert_eq!((report.commits, report.comments), (1, 1), "only the rewritten commit is new: {report:?}");
    assert_eq!(s.on_jira(&kept).await?, (1, 1));
    assert_eq!(s.on_jira(&before).await?, (1, 1), "the replaced commit keeps its one comment");
    assert_eq!(s.on_jira(&after).await?, (1, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_error_or_a_reported_failure_and_loses_nothing() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    s.poll().await?;
    let id = s.integration(&[]).id;
    let before = s.state().get_watermark(&id, COMMIT_FLOW).await?;

    // An unreachable repository: an error naming it; the position stays.
    let gone = s.sync("git://127.0.0.1:9/nowhere.git", &["main"]).await?.poll().await.unwrap_err().to_string();
    assert!(gone.starts_with("cannot fetch git://127.0.0.1:9/nowhere.git"), "{gone}");
    // Branch patterns that match no branch: an error listing the branches there are.
    let none = s.sync(&s.url, &["trunk", "rel/*"]).await?.poll().await.unwrap_err().to_string();
    assert!(none.contains("matches trunk, rel/*; its branches are main"), "{none}");
    assert_eq!(s.state().get_watermark(&id, COMMIT_FLOW).await?, before);

    // A commit naming an issue that does not exist and one that does: the missing one is
    // reported once, the real one synced, and neither is retried by later polls.
    let sha = s.repo.commit("x.rs", &format!("APP-99999 and {}", s.issue), None)?;
    s.repo.push("main", false)?;
    let report = s.poll().await?;
    assert_eq!((report.reported, report.comments), (1, 1), "{report:?}");
    assert_eq!(s.on_jira(&sha).await?, (1, 1));
    let failures = s.state().list_failures(Some(&id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].cause.contains("APP-99999"), "{}", failures[0].cause);
    assert_eq!(failures[0].entity.as_str(), sha);
    let again = s.poll().await?;
    assert_eq!((again.commits, again.reported), (0, 0), "{again:?}");
    assert_eq!(s.state().counts(&id, COMMIT_FLOW).await?.failed, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_commits_links_a_pushed_commit_through_the_real_binary() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    let jira = s.w.integration.left.system.clone();
    let file = s.w.config.with_file_name("commits.yaml");
    std::fs::write(
        &file,
        format!(
            "source_control:\n  - {{ id: app-repo, kind: git, base_url: '{}', allow_http_loopback: true, web_url: '{WEB}' }}\n\
             commit_links:\n  - id: app-commits\n    source: {{ system: app-repo, branches: [main] }}\n    \
             targets: [{{ system: {jira}, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }}]\n",
            s.url
        ),
    )?;
    let (config, commits) = (s.w.config.to_str().context("path")?, file.to_str().context("path")?);
    let first = s.w.ferry(&["commits", config, commits]).await;
    assert!(first.stdout.contains("app-commits: activated"), "{first:?}");
    let sha = s.repo.commit("a.rs", &format!("{} via the CLI", s.issue), None)?;
    s.repo.push("main", false)?;
    let second = s.w.ferry(&["commits", config, commits]).await;
    assert!(second.stdout.contains("app-commits: 1 new commit(s), 1 link(s), 1 comment(s)"), "{second:?}");
    assert_eq!(s.on_jira(&sha).await?, (1, 1));
    let bad = s.w.ferry(&["commits", commits]).await;
    assert!(!bad.ok && format!("{}{}", bad.stdout, bad.stderr).contains("unknown system"), "{bad:?}");
    Ok(())
}
