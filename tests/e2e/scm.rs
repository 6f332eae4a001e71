//! Source control (Git) on both backends (the embedded store, or DynamoDB on the
//! emulator with `FERRY_E2E_BACKEND=aws`): real repositories on the real Git servers of
//! `infra/git-servers.sh` (git daemon and smart HTTP), changed with the real `git`;
//! commits that name a Jira issue (`APP-n`) or an Azure DevOps work item (`AB#n`) appear
//! on it as a remote link / Hyperlink and a comment, exactly once, polled by the sync
//! itself, by the commits function's handler, or by `ferry run` (embedded).

use crate::harness::{aws_backend, Variant, World, ADO_PAT_VAR, JIRA_TOKEN_VAR};
use anyhow::{Context, Result};
use aws_sdk_ssm::types::ParameterType;
use ferry_domain::ports::StateStore;
use ferry_domain::{
    CommitIntegration, CommitTarget, CommitTransition, EntityId, FieldValue, IntegrationId, OnCommit, ScmKind,
    ScmSystem, SecretRef, Side, SystemId,
};
use ferry_scm::{CommitSync, KeyPattern, PollReport, Start, Target, COMMIT_FLOW};
use ferry_testsupport::git::{GitServers, WorkRepo};
use ferry_testsupport::people::JIRA_BOT_TOKEN;
use std::sync::Arc;

const WEB: &str = "https://git.example.test/app/commit/{sha}";

/// A world (simulators, embedded store) with one Jira issue, one Azure DevOps work item
/// and a repository on the Git servers.
struct ScmWorld {
    w: World,
    servers: GitServers,
    repo: WorkRepo,
    _work: tempfile::TempDir,
    mirror: tempfile::TempDir,
    /// `APP-n` of the Jira issue.
    issue: String,
    /// The work item's id.
    item: String,
    url: String,
    /// The commit link's id, unique per world (worlds share the AWS backend's tables).
    id: IntegrationId,
    /// The repository's system id, unique per world as `id`.
    repo_id: String,
}

impl ScmWorld {
    async fn new(over_http: bool) -> Result<Self> {
        Self::on(World::new(Variant::default()).await?, over_http).await
    }

    /// The same on world `w`.
    async fn on(w: World, over_http: bool) -> Result<Self> {
        let servers = GitServers::from_env_file()?;
        let work = tempfile::tempdir()?;
        let repo = servers.new_repo("app", work.path())?;
        let base = if over_http { &servers.http_url } else { &servers.daemon_url };
        let url = format!("{base}/{}.git", repo.name);
        let summary = |s: &str| vec![("summary", FieldValue::Text(s.into()))];
        let issue = w.jira_user("alice").await.create(summary("Login fails")).await?.key;
        let title = vec![("System.Title", FieldValue::Text("Login fails on ADO".into()))];
        let item = w.ado_user("bob").await.create(title).await?.id.as_str().to_string();
        let id = IntegrationId::parse(format!("{}-commits", w.id))?;
        let repo_id = format!("{}-repo", w.id);
        Ok(ScmWorld { w, servers, repo, _work: work, mirror: tempfile::tempdir()?, issue, item, url, id, repo_id })
    }

    fn integration(&self, branches: &[&str]) -> CommitIntegration {
        self.integration_moving(branches, Vec::new())
    }

    fn system(&self, side: Side) -> SystemId {
        self.w.integration.endpoint(side).system.clone()
    }

    /// The integration with `transitions`: (keyword, Jira status, Azure DevOps state).
    fn integration_moving(&self, branches: &[&str], transitions: Vec<(&str, &str, &str)>) -> CommitIntegration {
        let system = |side| self.system(side);
        CommitIntegration {
            id: self.id.clone(),
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
            poll_interval_secs: 60,
            transitions: transitions
                .into_iter()
                .map(|(keyword, jira, ado)| CommitTransition {
                    keyword: keyword.into(),
                    to: [(self.system(Side::Left), jira.to_string()), (self.system(Side::Right), ado.to_string())]
                        .into(),
                })
                .collect(),
        }
    }

    async fn sync(&self, url: &str, branches: &[&str]) -> Result<CommitSync> {
        self.sync_of(self.integration(branches), url, None, None).await
    }

    /// The sync of `integration` reading `url` with `token` and the servers' CA (`ca`).
    async fn sync_of(
        &self,
        integration: CommitIntegration,
        url: &str,
        token: Option<String>,
        ca: Option<String>,
    ) -> Result<CommitSync> {
        let mut targets = Vec::new();
        for (t, side) in integration.targets.iter().zip([Side::Left, Side::Right]) {
            targets.push(Target {
                system: t.system.to_string(),
                project: t.project.clone(),
                pattern: KeyPattern::new(&t.key_pattern).map_err(anyhow::Error::msg)?,
                connector: self.w.reader(side).await.conn,
                transitions: integration.transitions_for(&t.system),
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
                ca_cert: None,
            },
            token,
            ca_pem: ca,
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
        self.on_jira_issue(&self.issue, sha).await
    }

    /// The same for the Jira issue `key`.
    async fn on_jira_issue(&self, key: &str, sha: &str) -> Result<(usize, usize)> {
        let reader = self.w.reader(Side::Left).await;
        let scope = reader.scope.clone();
        let comments = reader.conn.comments(&scope, &EntityId::new(key)).await?;
        let system = self.w.systems.iter().find(|s| s.id == self.w.integration.left.system).context("jira")?;
        let user = match &system.auth {
            ferry_domain::AuthConfig::Basic { username, .. } => username.clone(),
            _ => anyhow::bail!("jira auth"),
        };
        let links: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/rest/api/3/issue/{key}/remotelink", self.w.jira.base_url()))
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

    /// The Jira issue's status and the Azure DevOps work item's State.
    async fn statuses(&self) -> Result<(String, String)> {
        let issue = self.w.jira.issue_json(&self.issue).context("issue")?;
        let item = self.w.ado.work_item_json(self.item.parse()?).context("work item")?;
        let jira = issue["fields"]["status"]["name"].as_str().context("status")?.to_string();
        let ado = item["fields"]["System.State"].as_str().context("State")?.to_string();
        Ok((jira, ado))
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

    // The next poll goes on at the commit the crash stopped in: the failed poll's
    // checkpoint names the commits before it in the walk (how many depends on the order
    // the walk takes the two branches in, which their commits' ids decide).
    let mark = s.state().get_watermark(&s.integration(&[]).id, COMMIT_FLOW).await?.context("position")?;
    let handled = mark.walk.map_or(0, |c| c.handled as usize);
    let report = s.poll().await?;
    assert_eq!((report.commits, report.already_done), (4 - handled, 1), "{report:?}");
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

/// A backlog a poll cannot finish (here: Azure DevOps goes down part-way) is not walked
/// from its start again: the poll records how far it got, and the next one goes on after
/// the last commit it handled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_that_stops_part_way_leaves_a_checkpoint_and_the_next_goes_on_after_it() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    assert!(s.poll().await?.activated);
    let mut jira_only = Vec::new();
    for n in 0..26 {
        jira_only.push(s.repo.commit("src/a.rs", &format!("{}: step {n}", s.issue), None)?);
    }
    let ado_ref = format!("AB#{}", s.item);
    let on_ado = s.repo.commit("src/a.rs", &format!("Port the form ({ado_ref})"), None)?;
    let mut after = Vec::new();
    for n in 0..2 {
        after.push(s.repo.commit("src/a.rs", &format!("{}: polish {n}", s.issue), None)?);
    }
    s.repo.push("main", false)?;
    let id = s.integration(&[]).id;
    let before = s.state().get_watermark(&id, COMMIT_FLOW).await?.context("position")?;

    s.w.ado.faults().fail_next(1000, 500);
    let failed = s.poll().await;
    s.w.ado.faults().fail_next(0, 500);
    assert!(failed.is_err(), "{failed:?}");
    let mark = s.state().get_watermark(&id, COMMIT_FLOW).await?.context("position")?;
    assert_eq!(mark.branch_tips, before.branch_tips, "the tips move only when the walk is done");
    let checkpoint = mark.walk.context("a checkpoint")?;
    assert_eq!(checkpoint.after, jira_only[25], "the last commit handled before the outage");
    assert_eq!(checkpoint.handled, 26);
    assert_eq!(checkpoint.to.get("main"), Some(&s.repo.head()?), "the walk's goal");
    s.apply_commit_link("").await?;
    let status = s.w.ferry(&["status"]).await;
    let (head, last) = (s.repo.head()?, &jira_only[25]);
    let walking = format!("walking to main@{}: 26 commits handled, the last {}", &head[..10], &last[..10]);
    assert!(status.stdout.contains(&walking), "{status:?}");

    let resumed = s.poll().await?;
    assert_eq!((resumed.commits, resumed.comments, resumed.already_done), (3, 3, 0), "{resumed:?}");
    for sha in jira_only.iter().chain(&after) {
        assert_eq!(s.on_jira(sha).await?, (1, 1), "{sha} on Jira, once");
    }
    assert_eq!(s.on_ado(&on_ado).await?, (1, 1));
    let mark = s.state().get_watermark(&id, COMMIT_FLOW).await?.context("position")?;
    assert_eq!(
        (mark.branch_tips.clone(), mark.walk.clone()),
        (Some([("main".to_string(), s.repo.head()?)].into()), None)
    );

    // A checkpoint whose goal the mirror does not hold is given up for a walk to the
    // fetched tips (every write of it found done or made once).
    let newest = s.repo.commit("src/a.rs", &format!("{}: last", s.issue), None)?;
    s.repo.push("main", false)?;
    let mut mark = mark;
    let version = mark.version;
    mark.walk = Some(ferry_domain::WalkCheckpoint {
        to: [("main".to_string(), "0".repeat(40))].into(),
        after: jira_only[3].clone(),
        handled: 4,
    });
    s.state().put_watermark(&id, COMMIT_FLOW, &mark, Some(version)).await?;
    let fresh = s.poll().await?;
    assert_eq!((fresh.commits, fresh.comments), (1, 1), "{fresh:?}");
    assert_eq!(s.on_jira(&newest).await?, (1, 1));
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
async fn an_activation_can_start_after_a_commit_or_at_a_date_and_a_later_one_moves_the_start() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    let c0 = s.repo.commit("README", "initial", None)?;
    let c1 = s.repo.commit("src/a.rs", &format!("First step for {}", s.issue), None)?;
    // Commit times are whole seconds: the date falls after c1's second and before c2's.
    let date = chrono::Utc::now() + chrono::Duration::seconds(1);
    let date = chrono::DateTime::from_timestamp(date.timestamp(), 0).context("date")?;
    tokio::time::sleep((date - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let c2 = s.repo.commit("src/b.rs", &format!("Second step for {}", s.issue), None)?;
    let c3 = s.repo.commit("src/c.rs", &format!("Third step for {} (AB#{})", s.issue, s.item), None)?;
    s.repo.push("main", false)?;
    let sync = s.sync(&s.url, &["main"]).await?;
    let id = s.integration(&[]).id;

    let unknown = sync.activate(&Start::Commit("0123abcd".into())).await;
    let error = unknown.expect_err("a commit the repository does not hold").to_string();
    assert!(error.contains("\"0123abcd\"") && error.contains("not in the fetched history"), "{error}");
    assert!(s.state().get_watermark(&id, COMMIT_FLOW).await?.is_none(), "a refused start records nothing");

    let at_date = sync.activate(&Start::Since(date)).await?.context("lease")?;
    assert_eq!(at_date.tips, [("main".to_string(), c1.clone())].into(), "main as it stood at the date");
    let report = sync.poll().await?;
    assert_eq!((report.commits, report.comments), (2, 3), "{report:?}");
    assert_eq!(s.on_jira(&c1).await?, (0, 0), "before the date");
    assert_eq!(s.on_jira(&c2).await?, (1, 1));
    assert_eq!(s.on_ado(&c3).await?, (1, 1));

    // An earlier start replaces the position; what is there already is found, not made again.
    let after_c0 = sync.activate(&Start::Commit(c0[..8].to_string())).await?.context("lease")?;
    assert_eq!(after_c0.tips, [("main".to_string(), c0.clone())].into(), "an abbreviated id, resolved");
    let report = sync.poll().await?;
    assert_eq!((report.commits, report.comments, report.already_done), (3, 1, 3), "{report:?}");
    assert_eq!(s.on_jira(&c1).await?, (1, 1));
    assert_eq!(s.on_jira(&c2).await?, (1, 1));
    assert_eq!(s.on_ado(&c3).await?, (1, 1));

    let newest = sync.activate(&Start::Newest).await?.context("lease")?;
    assert!(newest.kept && newest.tips == [("main".to_string(), c3)].into(), "{newest:?}");
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

    // Tags are not followed: an annotated tag of a linked commit, and a tag of a commit on
    // no branch that names the issue, bring nothing.
    s.repo.git(&["tag", "-a", "v2.0", "-m", &format!("Release for {}", s.issue), &after])?;
    s.repo.git(&["checkout", "-q", "--detach"])?;
    let tagged_only = s.repo.commit("c.rs", &format!("{} hotfix on a tag only", s.issue), None)?;
    s.repo.git(&["tag", "v2.0-hotfix"])?;
    s.repo.git(&["checkout", "-q", "release/2"])?;
    s.repo.git(&["push", "-q", "origin", "v2.0", "v2.0-hotfix"])?;
    let report = s.poll().await?;
    assert_eq!((report.commits, report.comments), (0, 0), "tags bring nothing: {report:?}");
    assert_eq!(s.on_jira(&tagged_only).await?, (0, 0));
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
    let jira = s.system(Side::Left);
    assert_eq!(failures[0].entity.as_str(), format!("{sha}:{jira}:APP-99999"), "one failure per commit and item");
    let again = s.poll().await?;
    assert_eq!((again.commits, again.reported), (0, 0), "{again:?}");
    assert_eq!(s.state().counts(&id, COMMIT_FLOW).await?.failed, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixes_moves_the_named_items_once_and_a_replay_leaves_a_reopened_one_alone() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    let fixes = s.integration_moving(&["main"], vec![("fixes", "Done", "Resolved")]);
    let sync = s.sync_of(fixes.clone(), &s.url, None, None).await?;
    sync.poll().await?;
    assert_eq!(s.statuses().await?, ("To Do".to_string(), "New".to_string()));

    // A mention without the keyword moves nothing; "Fixes KEY" and "fixes: AB#n" do.
    s.repo.commit("a.rs", &format!("Start on {}", s.issue), None)?;
    let fix = s.repo.commit("a.rs", &format!("Login works again\n\nFixes {}, fixes: AB#{}", s.issue, s.item), None)?;
    s.repo.push("main", false)?;
    let report = sync.poll().await?;
    let failures = s.state().list_failures(Some(&fixes.id)).await?;
    assert_eq!((report.commits, report.transitions, report.reported), (2, 2, 0), "{report:?} {failures:?}");
    // Jira walks its workflow (To Do → In Progress → Done, the Done screen's resolution
    // filled); Azure DevOps sets the State.
    assert_eq!(s.statuses().await?, ("Done".to_string(), "Resolved".to_string()));
    assert_eq!(s.on_jira(&fix).await?, (1, 1));
    assert_eq!(s.on_ado(&fix).await?, (1, 1));

    // A person reopens the issue; a replay of the poll (a crash before the tips were
    // recorded) finds the commit handled and leaves it reopened.
    let alice = s.w.jira_user("alice").await;
    alice.update(&EntityId::new(&s.issue), vec![("status", FieldValue::Option("To Do".into()))]).await?;
    let id = fixes.id.clone();
    let mut mark = s.state().get_watermark(&id, COMMIT_FLOW).await?.context("position")?;
    let version = mark.version;
    mark.branch_tips = Some([("main".to_string(), s.repo.git(&["rev-parse", "main~2"])?)].into());
    s.state().put_watermark(&id, COMMIT_FLOW, &mark, Some(version)).await?;
    let replay = sync.poll().await?;
    assert_eq!((replay.commits, replay.transitions, replay.already_done), (2, 0, 3), "{replay:?}");
    assert_eq!(s.statuses().await?, ("To Do".to_string(), "Resolved".to_string()));

    // A status the workflow cannot reach is reported once; the comment still goes on.
    let nowhere = s.integration_moving(&["main"], vec![("closes", "Archived", "Resolved")]);
    let nowhere = s.sync_of(CommitIntegration { id: id.clone(), ..nowhere }, &s.url, None, None).await?;
    let stuck = s.repo.commit("b.rs", &format!("Closes {}", s.issue), None)?;
    s.repo.push("main", false)?;
    let report = nowhere.poll().await?;
    assert_eq!((report.commits, report.transitions, report.reported, report.comments), (1, 0, 1, 1), "{report:?}");
    assert_eq!(s.on_jira(&stuck).await?, (1, 1));
    let failures = s.state().list_failures(Some(&id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].cause.contains("Archived") && failures[0].entity.as_str().ends_with(":transition"),
        "{:?}",
        failures[0]
    );

    // A retry while the status is still out of reach reports it again; once the link
    // moves "closes" to a reachable status, a retry makes the transition (the comment
    // is there already) and the failure is gone.
    assert!(!nowhere.retry_reported(&failures[0]).await?, "still unreachable");
    let again = s.state().get_failure(&failures[0].id).await?.context("reported again")?;
    assert_eq!((again.attempts, again.cause.contains("Archived")), (2, true), "{again:?}");
    let done = s.integration_moving(&["main"], vec![("closes", "Done", "Resolved")]);
    let done = s.sync_of(CommitIntegration { id: id.clone(), ..done }, &s.url, None, None).await?;
    assert!(done.retry_reported(&again).await?, "moved");
    assert!(s.state().get_failure(&failures[0].id).await?.is_none());
    assert_eq!(s.statuses().await?.0, "Done");
    assert_eq!(s.on_jira(&stuck).await?, (1, 1), "no second comment");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_pack_or_a_wrong_token_moves_nothing_and_the_next_good_poll_syncs_everything() -> Result<()> {
    let s = ScmWorld::new(true).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    s.poll().await?;
    let id = s.integration(&[]).id;
    let before = s.state().get_watermark(&id, COMMIT_FLOW).await?;

    let first = s.repo.commit("a.rs", &format!("{} and AB#{}", s.issue, s.item), None)?;
    s.repo.push("main", false)?;
    s.repo.corrupt_packs(true)?;
    let err = s.poll().await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot fetch {}: ", s.url)) && err.contains("pack"), "{err}");
    assert_eq!(s.state().get_watermark(&id, COMMIT_FLOW).await?, before, "the position did not move");
    assert_eq!((s.on_jira(&first).await?, s.on_ado(&first).await?), ((0, 0), (0, 0)), "nothing written");
    s.repo.corrupt_packs(false)?;
    let report = s.poll().await?;
    assert_eq!((report.commits, report.comments), (1, 2), "{report:?}");
    assert_eq!((s.on_jira(&first).await?, s.on_ado(&first).await?), ((1, 1), (1, 1)));

    // A private repository over https: the right token syncs, a wrong one is refused
    // with a clear error and moves nothing.
    let work = tempfile::tempdir()?;
    let private = s.servers.new_repo("private-app", work.path())?;
    private.commit("README", "initial", None)?;
    private.push("main", false)?;
    let url = format!("{}/{}.git", s.servers.https_url, private.name);
    let private_id = IntegrationId::parse(format!("{}-private", s.id))?;
    let integration = CommitIntegration { id: private_id, ..s.integration(&["main"]) };
    let ca = Some(s.servers.ca_pem.clone());
    let good = s.sync_of(integration.clone(), &url, Some(s.servers.token.clone()), ca.clone()).await?;
    let wrong = s.sync_of(integration.clone(), &url, Some("not-the-token".into()), ca).await?;
    assert!(good.poll().await?.activated);
    let mark = s.state().get_watermark(&integration.id, COMMIT_FLOW).await?;
    let sha = private.commit("b.rs", &format!("Private fix for {}", s.issue), None)?;
    private.push("main", false)?;
    let err = wrong.poll().await.unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot fetch {url}: ")) && err.contains("were not accepted"), "{err}");
    assert!(!err.contains(&s.servers.token) && !err.contains("not-the-token"), "no token in errors: {err}");
    assert_eq!(s.state().get_watermark(&integration.id, COMMIT_FLOW).await?, mark, "the position did not move");
    assert_eq!(s.on_jira(&sha).await?, (0, 0));
    let report = good.poll().await?;
    assert_eq!((report.commits, report.comments), (1, 1), "{report:?}");
    assert_eq!(s.on_jira(&sha).await?, (1, 1));
    Ok(())
}

/// A `ferry run` child process, killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `secs` seconds for `check` to hold.
async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    anyhow::bail!("{what}: not within {secs} s")
}

impl ScmWorld {
    /// Writes `commits.yaml` (this world's repository and commit link, polled every 10 s,
    /// `transitions` as YAML lines), applies it with the world's config through the real
    /// binary, and answers the two files.
    async fn apply_commit_link(&self, transitions: &str) -> Result<(String, String)> {
        let (jira, ado) = (self.system(Side::Left), self.system(Side::Right));
        let (id, repo) = (&self.id, &self.repo_id);
        let file = self.w.config.with_file_name("commits.yaml");
        std::fs::write(
            &file,
            format!(
                "source_control:\n  - {{ id: {repo}, kind: git, base_url: '{}', allow_http_loopback: true, web_url: '{WEB}' }}\n\
                 commit_links:\n  - id: {id}\n    source: {{ system: {repo}, branches: [main] }}\n    \
                 poll_interval: 10s\n    targets:\n      - {{ system: {jira}, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }}\n      \
                 - {{ system: {ado}, project: App, key_pattern: '\\bAB#(\\d+)\\b' }}\n{transitions}",
                self.url
            ),
        )?;
        let (config, commits) = (self.w.config.to_str().context("path")?, file.to_str().context("path")?);
        let applied = self.w.ferry(&["apply", "--no-check", config, commits]).await;
        assert!(applied.ok && applied.stdout.contains(&format!("integration {id}: stored")), "{applied:?}");
        Ok((config.to_string(), commits.to_string()))
    }

    /// One invocation of the commits function's handler with its schedule's input, its
    /// mirrors in `mirrors` (the function's /tmp), ending by `deadline`.
    async fn invoke(
        &self,
        mirrors: &std::path::Path,
        deadline: std::time::SystemTime,
    ) -> Result<ferry_fn_commits::CommitsSummary, ferry_fn_commits::CommitsFnError> {
        let runner = self.w.commit_runner(mirrors.to_path_buf());
        let event = serde_json::json!({ "integration": self.id.as_str() });
        ferry_fn_commits::handle_until(&runner, event, Some(deadline)).await
    }

    /// The commit link's schedule on the emulator (AWS backend): its state and input.
    async fn schedule(&self) -> Result<Option<(String, String)>> {
        let Some(sdk) = self.w.sdk() else { return Ok(None) };
        let group = std::env::var("FERRY_SCHEDULE_GROUP").context("FERRY_SCHEDULE_GROUP")?;
        let name = ferry_store::aws::commit_schedule_name(&self.id);
        let got = aws_sdk_scheduler::Client::new(sdk).get_schedule().group_name(group).name(&name).send().await?;
        let state = got.state().map(|s| s.as_str().to_string()).unwrap_or_default();
        let input = got.target().and_then(|t| t.input()).unwrap_or_default().to_string();
        Ok(Some((state, input)))
    }
}

fn in_secs(secs: u64) -> std::time::SystemTime {
    std::time::SystemTime::now() + std::time::Duration::from_secs(secs)
}

/// The AWS path of a commit link, on either backend: `ferry apply` and `ferry activate`
/// (on AWS: DynamoDB and the link's EventBridge schedule), then the commits function's
/// handler, invoked as its schedule does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commits_function_links_comments_and_moves_items_once_across_replays_and_cold_starts() -> Result<()> {
    let s = ScmWorld::new(true).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    let (jira, ado) = (s.system(Side::Left), s.system(Side::Right));
    let transitions =
        format!("    transitions:\n      - {{ keyword: fixes, to: {{ {jira}: Done, {ado}: Resolved }} }}\n");
    s.apply_commit_link(&transitions).await?;
    let id = s.id.as_str();
    let activated = s.w.ferry(&["activate", id]).await;
    assert!(activated.ok && activated.stdout.contains("start main at"), "{activated:?}");
    if let Some((state, input)) = s.schedule().await? {
        assert_eq!(state, "ENABLED");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&input)?, serde_json::json!({ "integration": id }));
    }

    // Two commits: one names both items, one fixes both.
    let ado_ref = format!("AB#{}", s.item);
    let named = s.repo.commit("src/login.rs", &format!("{}: fix login ({ado_ref})", s.issue), None)?;
    let fix = s.repo.commit("src/login.rs", &format!("Login works\n\nFixes {}, fixes: {ado_ref}", s.issue), None)?;
    s.repo.push("main", false)?;

    // A crash between the writes: Azure DevOps fails after Jira's went through; the
    // invocation fails (the function's error) and the tips stay.
    let warm = tempfile::tempdir()?;
    s.w.ado.faults().fail_next(1000, 500);
    let crashed = s.invoke(warm.path(), in_secs(300)).await;
    s.w.ado.faults().fail_next(0, 500);
    let err = crashed.expect_err("Azure DevOps is down").to_string();
    assert!(err.starts_with(&format!("polling commit link {id}: ")), "{err}");
    assert_eq!(s.on_jira(&named).await?, (1, 1), "Jira's writes before the crash");
    assert_eq!(s.on_ado(&named).await?, (0, 0));

    // An invocation whose deadline leaves no time handles no commit and moves nothing.
    let mark = s.state().get_watermark(&s.id, COMMIT_FLOW).await?;
    let late = s.invoke(warm.path(), in_secs(0)).await?;
    assert!(late.poll.unfinished && late.poll.comments == 0, "{late:?}");
    assert_eq!(s.state().get_watermark(&s.id, COMMIT_FLOW).await?, mark, "the tips did not move");

    // The next tick (warm: the mirror is there) completes the work, once.
    let done = s.invoke(warm.path(), in_secs(300)).await?;
    assert_eq!((done.poll.commits, done.poll.transitions, done.poll.unfinished), (2, 2, false), "{done:?}");
    for sha in [&named, &fix] {
        assert_eq!(s.on_jira(sha).await?, (1, 1), "{sha} on Jira");
        assert_eq!(s.on_ado(sha).await?, (1, 1), "{sha} on Azure DevOps");
    }
    assert_eq!(s.statuses().await?, ("Done".to_string(), "Resolved".to_string()));

    // A person reopens the issue. A second invocation walks nothing; a replay from the
    // old tips in a cold environment (a new /tmp: the repository fetched again) finds
    // every write done and leaves the reopened issue alone.
    let alice = s.w.jira_user("alice").await;
    alice.update(&EntityId::new(&s.issue), vec![("status", FieldValue::Option("To Do".into()))]).await?;
    let again = s.invoke(warm.path(), in_secs(300)).await?;
    assert_eq!((again.poll.commits, again.poll.comments), (0, 0), "{again:?}");
    let mut mark = s.state().get_watermark(&s.id, COMMIT_FLOW).await?.context("position")?;
    let version = mark.version;
    mark.branch_tips = Some([("main".to_string(), s.repo.git(&["rev-parse", "main~2"])?)].into());
    s.state().put_watermark(&s.id, COMMIT_FLOW, &mark, Some(version)).await?;
    let cold = tempfile::tempdir()?;
    let replay = s.invoke(cold.path(), in_secs(300)).await?;
    assert_eq!((replay.poll.commits, replay.poll.comments, replay.poll.transitions), (2, 0, 0), "{replay:?}");
    for sha in [&named, &fix] {
        assert_eq!((s.on_jira(sha).await?, s.on_ado(sha).await?), ((1, 1), (1, 1)), "{sha}: no duplicate");
    }
    assert_eq!(s.statuses().await?.0, "To Do", "a replay never overrules a person");

    // Status shows the position; deactivation disables the schedule and a late tick
    // polls nothing.
    let status = s.w.ferry(&["status"]).await;
    let head = s.repo.head()?;
    assert!(status.stdout.contains(&format!("position main@{}", &head[..10])), "{status:?}");
    assert!(status.stdout.contains("  reported 0"), "nothing reported: {status:?}");
    let deactivated = s.w.ferry(&["deactivate", id]).await;
    assert!(deactivated.stdout.contains(&format!("{id}: deactivated")), "{deactivated:?}");
    if let Some((state, _)) = s.schedule().await? {
        assert_eq!(state, "DISABLED");
    }
    let tick = s.invoke(warm.path(), in_secs(300)).await?;
    assert!(tick.skipped_inactive, "{tick:?}");
    Ok(())
}

/// `ferry run` polls the link on its interval (embedded); on AWS the same rounds are
/// polled by the commits function's handler, as its schedule invokes it.
/// A mention reported as a failure is retried by `ferry failures retry`: written once
/// what it names exists, reported again (one more attempt) while it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_mention_is_written_by_a_retry_once_what_it_names_exists() -> Result<()> {
    let s = ScmWorld::new(true).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    s.apply_commit_link("").await?;
    let id = s.id.as_str();
    let activated = s.w.ferry(&["activate", id]).await;
    assert!(activated.ok, "{activated:?}");

    // The issue the commit names is filed after the commit is pushed (the next key).
    let n: u64 = s.issue.trim_start_matches("APP-").parse()?;
    let later = format!("APP-{}", n + 1);
    let sha = s.repo.commit("src/a.rs", &format!("{later}: start the export"), None)?;
    s.repo.push("main", false)?;
    let warm = tempfile::tempdir()?;
    let polled = s.invoke(warm.path(), in_secs(300)).await?;
    assert_eq!((polled.poll.commits, polled.poll.reported), (1, 1), "{polled:?}");
    let failures = s.state().list_failures(Some(&s.id)).await?;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure = failures[0].id.clone();

    let early = s.w.ferry(&["failures", "retry", &failure]).await;
    assert!(!early.ok && early.stderr.contains("failed again") && early.stderr.contains(&later), "{early:?}");
    let again = s.state().get_failure(&failure).await?.context("still reported")?;
    assert_eq!(again.attempts, 2);

    let filed = s.w.jira_user("alice").await.create(vec![("summary", FieldValue::Text("Export".into()))]).await?;
    assert_eq!(filed.key, later, "the key the commit named");
    let retried = s.w.ferry(&["failures", "retry", &failure]).await;
    assert!(retried.ok && retried.stdout.contains("written"), "{retried:?}");
    assert!(s.state().get_failure(&failure).await?.is_none(), "the failure is gone");
    assert_eq!(s.on_jira_issue(&later, &sha).await?, (1, 1), "the comment and the link, once");
    let gone = s.w.ferry(&["failures", "retry", &failure]).await;
    assert!(!gone.ok, "{gone:?}");
    assert_eq!(s.on_jira_issue(&later, &sha).await?, (1, 1));

    // The console's Retry button does the same, in a real browser.
    let next = format!("APP-{}", n + 2);
    let sha = s.repo.commit("src/a.rs", &format!("{next}: finish the export"), None)?;
    s.repo.push("main", false)?;
    let polled = s.invoke(warm.path(), in_secs(300)).await?;
    assert_eq!(polled.poll.reported, 1, "{polled:?}");
    let failure = s.state().list_failures(Some(&s.id)).await?.first().context("reported")?.id.clone();
    let filed = s.w.jira_user("alice").await.create(vec![("summary", FieldValue::Text("Finish".into()))]).await?;
    assert_eq!(filed.key, next);
    let console = crate::console::Console::start(&s.w, &[], &[])?;
    let browser = crate::console::webdriver::Browser::start().await?;
    browser.goto(&console.url("/failures")).await?;
    browser.click(&format!("[id=\"retry-{failure}\"]")).await?;
    let note = browser.wait_text("#note", "written").await?;
    browser.screenshot(&crate::console::shots().join("commit-mention-retried.png")).await?;
    browser.quit().await;
    assert!(note.contains(&next), "{note}");
    assert!(s.state().get_failure(&failure).await?.is_none(), "the failure is gone");
    assert_eq!(s.on_jira_issue(&next, &sha).await?, (1, 1));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_run_polls_an_applied_and_activated_commit_link_on_its_interval() -> Result<()> {
    let s = ScmWorld::new(false).await?;
    s.repo.commit("README", "initial", None)?;
    s.repo.push("main", false)?;
    let (config, commits) = s.apply_commit_link("").await?;
    let (id, repo) = (s.id.as_str(), s.repo_id.as_str());
    let refused = s.w.ferry(&["activate", id, "--from-commit", "not-hex"]).await;
    assert!(!refused.ok && refused.stderr.contains("not a commit id"), "{refused:?}");
    let activated = s.w.ferry(&["activate", id]).await;
    let tip = s.repo.head()?;
    let start = format!("start main at {}", &tip[..10]);
    assert!(activated.ok && activated.stdout.contains(&start), "{activated:?}");
    // An active commit link refuses edits, as a work-item integration does.
    std::fs::write(&commits, std::fs::read_to_string(&commits)?.replace("poll_interval: 10s", "poll_interval: 20s"))?;
    let refused = s.w.ferry(&["apply", "--no-check", &config, &commits]).await;
    assert!(!refused.ok && refused.stderr.contains(&format!("{id}\" is active")), "{refused:?}");

    let log = s.w.config.with_file_name("run.log");
    let mirrors = tempfile::tempdir()?;
    let running = match aws_backend() {
        true => None,
        false => {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
            cmd.arg("run")
                .env("FERRY_DB", &s.w.db)
                .env("FERRY_BACKEND", "embedded")
                .env(crate::harness::JIRA_TOKEN_VAR, JIRA_BOT_TOKEN)
                .env(crate::harness::ADO_PAT_VAR, ferry_testsupport::people::ADO_BOT_PAT)
                .env("FERRY_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log)?);
            Some(Running(cmd.spawn()?))
        }
    };

    for round in 0..2 {
        // The second commit also names an issue that does not exist: reported, not retried.
        let missing = if round == 1 { " (and APP-99999)" } else { "" };
        let message = format!("Round {round}: {} with AB#{}{missing}", s.issue, s.item);
        let sha = s.repo.commit("a.rs", &message, None)?;
        s.repo.push("main", false)?;
        if running.is_none() {
            let tick = s.invoke(mirrors.path(), in_secs(300)).await?;
            assert_eq!(tick.poll.commits, 1, "{tick:?}");
        }
        let pushed = format!("commit {round} on both items");
        let appeared = eventually(45, &pushed, || async {
            Ok(s.on_jira(&sha).await? == (1, 1) && s.on_ado(&sha).await? == (1, 1))
        })
        .await;
        if let Err(e) = appeared {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            anyhow::bail!("{e}; ferry run's log:\n{log}");
        }
    }
    drop(running);

    let status = s.w.ferry(&["status"]).await;
    let head = s.repo.head()?;
    let row = format!("{id} (active, version 2): commits of {repo} (main)");
    assert!(status.stdout.contains(&row), "{status:?}");
    assert!(status.stdout.contains(&format!("position main@{}", &head[..10])), "{status:?}");
    assert!(status.stdout.contains("synced 4  reported 1"), "two commits on two items: {status:?}");
    assert!(status.stdout.contains(&format!("reported [not_found] {id}:commit:")), "{status:?}");
    assert!(status.stdout.contains("names APP-99999: work item APP-99999 does not exist"), "{status:?}");
    assert_eq!(status.code, Some(4), "a reported mention is a failure to look at: {status:?}");
    let json = s.w.ferry(&["status", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&json.stdout)?;
    let row = rows.as_array().context("rows")?.iter().find(|r| r["integration"] == id).context("row")?;
    assert_eq!(row["commits"]["tips"]["main"], head.as_str(), "{row}");
    // A retry of a mention of an item that still does not exist reports it again; a
    // person discards it.
    let failure = row["commits"]["reported"][0]["failure"].as_str().context("reported failure")?;
    let retried = s.w.ferry(&["failures", "retry", failure]).await;
    assert!(!retried.ok && retried.stderr.contains("failed again: commit"), "{retried:?}");
    assert!(s.w.ferry(&["failures", "discard", failure]).await.ok);
    let after = s.w.ferry(&["status", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_str(&after.stdout)?;
    let row = rows.as_array().context("rows")?.iter().find(|r| r["integration"] == id).context("row")?;
    assert_eq!(row["commits"]["reported"], serde_json::json!([]), "nothing left to look at: {row}");
    let deactivated = s.w.ferry(&["deactivate", id]).await;
    assert!(deactivated.stdout.contains(&format!("{id}: deactivated")), "{deactivated:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_over_https_syncs_with_its_token_and_ca_through_the_real_binary() -> Result<()> {
    if aws_backend() {
        // Embedded only: the token travels in the `ferry run` process's environment and
        // the CA in a file, neither of which the AWS functions read (there the token is an
        // SSM / Secrets Manager reference and the CA inline PEM, config-checked in
        // shared/config); `a_damaged_pack_or_a_wrong_token...` runs the https sync itself
        // over DynamoDB.
        return Ok(());
    }
    let s = ScmWorld::new(false).await?;
    let work = tempfile::tempdir()?;
    let private = s.servers.new_repo("private-cli", work.path())?;
    private.commit("README", "initial", None)?;
    private.push("main", false)?;
    let url = format!("{}/{}.git", s.servers.https_url, private.name);
    let jira = s.system(Side::Left);
    let file = s.w.config.with_file_name("private.yaml");
    std::fs::write(file.with_file_name("git-ca.pem"), &s.servers.ca_pem)?;
    std::fs::write(
        &file,
        format!(
            "source_control:\n  - {{ id: private-repo, kind: git, base_url: '{url}', token: {{ env: FERRY_E2E_GIT_TOKEN }}, \
             ca_cert: git-ca.pem, web_url: '{WEB}' }}\n\
             commit_links:\n  - id: private-commits\n    source: {{ system: private-repo, branches: [main] }}\n    \
             targets: [{{ system: {jira}, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }}]\n"
        ),
    )?;
    let (config, commits) = (s.w.config.to_str().context("path")?, file.to_str().context("path")?);
    let token = s.servers.token.clone();
    let with = |t: &str| vec![("FERRY_E2E_GIT_TOKEN", t.to_string())];
    let ferry = |args: Vec<&'static str>, env: Vec<(&'static str, String)>| {
        let w = &s.w;
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            w.ferry_env(&args, &env).await
        }
    };
    // apply tests the repository it stores: a wrong token stores nothing.
    let refused = s.w.ferry_env(&["apply", config, commits], &[("FERRY_E2E_GIT_TOKEN", "not-the-token")]).await;
    assert!(
        !refused.ok && refused.stderr.contains(&format!("source_control private-repo: cannot fetch {url}")),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("nothing was stored"), "{refused:?}");
    assert!(!format!("{}{}", refused.stdout, refused.stderr).contains("not-the-token"), "no token in the output");
    let unknown = s.w.ferry(&["activate", "private-commits"]).await;
    assert!(!unknown.ok, "the refused apply stored no commit link: {unknown:?}");
    let applied = s.w.ferry_env(&["apply", config, commits], &[("FERRY_E2E_GIT_TOKEN", token.as_str())]).await;
    assert!(applied.ok, "{applied:?}");
    let activated = ferry(vec!["activate", "private-commits"], with(&token)).await;
    assert!(activated.ok && activated.stdout.contains("start main at"), "{activated:?}");

    let sha = private.commit("a.rs", &format!("Private fix for {}", s.issue), None)?;
    private.push("main", false)?;
    let wrong = ferry(vec!["run", "--once", "--integration", "private-commits"], with("not-the-token")).await;
    assert_eq!(wrong.code, Some(5), "{wrong:?}");
    assert!(wrong.stdout.contains(&format!("poll error: private-commits: cannot fetch {url}")), "{wrong:?}");
    assert!(wrong.stdout.contains("were not accepted by the remote"), "{wrong:?}");
    let all = format!("{}{}", wrong.stdout, wrong.stderr);
    assert!(!all.contains("not-the-token") && !all.contains(&token), "no token in the output: {wrong:?}");
    assert_eq!(s.on_jira(&sha).await?, (0, 0), "nothing written");

    let good = ferry(vec!["run", "--once", "--integration", "private-commits"], with(&token)).await;
    assert!(
        good.ok && good.stdout.contains("commits private-commits: 1 new commit(s), 1 link(s), 1 comment(s)"),
        "{good:?}"
    );
    assert_eq!(s.on_jira(&sha).await?, (1, 1));
    Ok(())
}

/// The AWS path of a private repository: its token (SecureString) and CA in SSM, read by
/// `ferry apply`'s probe, by `ferry activate` and by the commits function; nothing stored
/// holds the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_syncs_on_aws_with_its_token_and_ca_held_in_ssm() -> Result<()> {
    if !aws_backend() {
        // AWS only: SSM is the emulator's; the embedded path (a token in the environment,
        // a CA file) is the test above.
        return Ok(());
    }
    // The bots' tokens from the test's table, every other secret from the emulator.
    let sdk = ferry_runtime::aws::load_sdk_config().await?;
    let aws = ferry_runtime::aws::AwsSecrets::from_conf(&sdk, ferry_runtime::aws::aws_http_client(&sdk)?);
    let secrets = ferry_runtime::StaticSecrets::new(aws)
        .with(SecretRef::Env(JIRA_TOKEN_VAR.into()), JIRA_BOT_TOKEN)
        .with(SecretRef::Env(ADO_PAT_VAR.into()), ferry_testsupport::people::ADO_BOT_PAT);
    let s = ScmWorld::on(World::with_secrets(Variant::default(), Arc::new(secrets)).await?, false).await?;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let (token_param, ca_param) = (format!("/ferry-e2e/{}/git-token", s.id), format!("/ferry-e2e/{}/git-ca", s.id));
    let token = s.servers.token.clone();
    ssm.put_parameter().name(&token_param).value(&token).r#type(ParameterType::SecureString).send().await?;
    ssm.put_parameter().name(&ca_param).value(&s.servers.ca_pem).r#type(ParameterType::String).send().await?;

    let work = tempfile::tempdir()?;
    let private = s.servers.new_repo("private-aws", work.path())?;
    private.commit("README", "initial", None)?;
    private.push("main", false)?;
    let url = format!("{}/{}.git", s.servers.https_url, private.name);
    let (id, repo, jira) = (s.id.as_str(), s.repo_id.as_str(), s.system(Side::Left));
    let file = s.w.config.with_file_name("private-aws.yaml");
    std::fs::write(
        &file,
        format!(
            "source_control:\n  - {{ id: {repo}, kind: git, base_url: '{url}', token: {{ ssm: {token_param} }}, \
             ca_cert: {{ ssm: {ca_param} }}, web_url: '{WEB}' }}\n\
             commit_links:\n  - id: {id}\n    source: {{ system: {repo}, branches: [main] }}\n    \
             targets: [{{ system: {jira}, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }}]\n"
        ),
    )?;
    let (config, commits) = (s.w.config.to_str().context("path")?, file.to_str().context("path")?);
    let applied = s.w.ferry(&["apply", config, commits]).await;
    assert!(applied.ok, "the probe read the token and CA from SSM: {applied:?}");
    let activated = s.w.ferry(&["activate", id]).await;
    assert!(activated.ok && activated.stdout.contains("start main at"), "{activated:?}");

    let sha = private.commit("a.rs", &format!("Private fix for {}", s.issue), None)?;
    private.push("main", false)?;
    let mirrors = tempfile::tempdir()?;
    let polled = s.invoke(mirrors.path(), in_secs(300)).await?;
    assert_eq!((polled.poll.commits, polled.poll.comments, polled.poll.links), (1, 1, 1), "{polled:?}");
    assert_eq!(s.on_jira(&sha).await?, (1, 1));

    // A cold start (a new /tmp) fetches the repository again with the same token and CA.
    let second = private.commit("b.rs", &format!("Second fix for {}", s.issue), None)?;
    private.push("main", false)?;
    let cold = tempfile::tempdir()?;
    let again = s.invoke(cold.path(), in_secs(300)).await?;
    assert_eq!((again.poll.commits, again.poll.comments), (1, 1), "{again:?}");
    assert_eq!(s.on_jira(&second).await?, (1, 1));

    let link = s.w.engine.commit_link(&s.id).await?.context("the stored link")?;
    let system = s.w.engine.scm_system(&link.link).await?;
    let stored = format!("{}{}", serde_json::to_string(&link)?, serde_json::to_string(&system)?);
    assert!(stored.contains(&token_param) && !stored.contains(&token), "a reference, never the token: {stored}");
    Ok(())
}
