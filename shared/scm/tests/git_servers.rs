//! The mirror against real Git servers on 127.0.0.1 (`infra/git-servers.sh start`):
//! `git daemon` (git://) and smart HTTP (`git http-backend`), with repositories made and
//! pushed by the real `git`.

use anyhow::Result;
use ferry_scm::{plan, GitRemote, Mirror, Tips};
use ferry_testsupport::git::{GitServers, WorkRepo};

fn servers() -> GitServers {
    GitServers::from_env_file().expect("Git servers")
}

fn anonymous(url: String) -> GitRemote {
    GitRemote::anonymous(url)
}

/// Fetches and walks from `recorded` to the remote's current tips; returns the tips and
/// the new commits' first message lines.
fn poll(mirror: &Mirror, remote: &GitRemote, recorded: &Tips) -> Result<(Tips, Vec<String>)> {
    let current = mirror.fetch(remote)?;
    let walk = plan(recorded, &current);
    let commits = mirror.commits_between(&walk.hide, &walk.from)?;
    Ok((current, commits.into_iter().map(|c| c.message.lines().next().unwrap_or("").to_string()).collect()))
}

fn both_servers(name: &str, work: &std::path::Path) -> Result<(WorkRepo, Vec<GitRemote>)> {
    let s = servers();
    let repo = s.new_repo(name, work)?;
    let remotes = vec![
        anonymous(format!("{}/{}.git", s.daemon_url, repo.name)),
        anonymous(format!("{}/{}.git", s.http_url, repo.name)),
    ];
    Ok((repo, remotes))
}

#[test]
fn an_empty_repository_has_no_tips_and_its_first_commit_is_new() -> Result<()> {
    let work = tempfile::tempdir()?;
    let (repo, remotes) = both_servers("empty", work.path())?;
    for remote in &remotes {
        let mirror = Mirror::open(&work.path().join(format!("m-{}", remote.url.len())))?;
        assert_eq!(mirror.fetch(remote)?, Tips::new(), "{}", remote.url);
    }
    repo.commit("src/app.rs", "APP-12 first commit", None)?;
    repo.push("main", false)?;
    for remote in &remotes {
        let mirror = Mirror::open(&work.path().join(format!("m-{}", remote.url.len())))?;
        let (tips, new) = poll(&mirror, remote, &Tips::new())?;
        assert_eq!(tips.get("main"), Some(&repo.head()?), "{}", remote.url);
        assert_eq!(new, vec!["APP-12 first commit"], "{}", remote.url);
        let info = mirror.commits_between(&[], &[repo.head()?])?;
        assert_eq!(info[0].files, vec!["src/app.rs"]);
        assert_eq!(info[0].author_email, "dana@example.test");
    }
    Ok(())
}

#[test]
fn a_merge_brings_old_dated_commits_of_another_branch_each_once() -> Result<()> {
    let work = tempfile::tempdir()?;
    let (repo, remotes) = both_servers("merge", work.path())?;
    repo.commit("a.txt", "base", None)?;
    repo.push("main", false)?;
    let mirrors: Vec<Mirror> =
        (0..remotes.len()).map(|i| Mirror::open(&work.path().join(format!("m{i}")))).collect::<Result<_, _>>()?;
    let recorded: Vec<Tips> = mirrors.iter().zip(&remotes).map(|(m, r)| m.fetch(r)).collect::<Result<_, _>>()?;

    repo.git(&["checkout", "-q", "-b", "feat"])?;
    // Authored long ago (a cherry-pick or a long-lived branch): a time-based poll misses it.
    repo.commit("f.txt", "feat one APP-1", Some("2001-02-03T04:05:06Z"))?;
    repo.commit("f.txt", "feat two", None)?;
    repo.push("feat", false)?;
    repo.git(&["checkout", "-q", "main"])?;
    repo.commit("a.txt", "main two", None)?;
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge feat", "feat"])?;
    repo.push("main", false)?;

    for ((mirror, remote), recorded) in mirrors.iter().zip(&remotes).zip(&recorded) {
        let (tips, mut new) = poll(mirror, remote, recorded)?;
        new.sort();
        assert_eq!(new, vec!["feat one APP-1", "feat two", "main two", "merge feat"], "{}", remote.url);
        // Nothing moved: the next poll walks nothing.
        assert_eq!(poll(mirror, remote, &tips)?.1, Vec::<String>::new());
    }
    Ok(())
}

#[test]
fn a_force_push_after_a_rebase_walks_only_the_rewritten_commits() -> Result<()> {
    let work = tempfile::tempdir()?;
    let (repo, remotes) = both_servers("rebase", work.path())?;
    repo.commit("a.txt", "base", None)?;
    repo.push("main", false)?;
    repo.git(&["checkout", "-q", "-b", "topic"])?;
    repo.commit("t.txt", "topic one", None)?;
    repo.push("topic", false)?;
    let mirrors: Vec<Mirror> =
        (0..remotes.len()).map(|i| Mirror::open(&work.path().join(format!("m{i}")))).collect::<Result<_, _>>()?;
    let recorded: Vec<Tips> = mirrors.iter().zip(&remotes).map(|(m, r)| m.fetch(r)).collect::<Result<_, _>>()?;

    repo.git(&["checkout", "-q", "main"])?;
    repo.commit("a.txt", "main moved", None)?;
    repo.push("main", false)?;
    repo.git(&["checkout", "-q", "topic"])?;
    repo.git(&["rebase", "-q", "main"])?;
    repo.commit("t.txt", "topic two", None)?;
    repo.push("topic", true)?;

    for ((mirror, remote), recorded) in mirrors.iter().zip(&remotes).zip(&recorded) {
        let (_, mut new) = poll(mirror, remote, recorded)?;
        new.sort();
        // The rebased "topic one" is a new commit (a new sha); "base" is not walked again.
        assert_eq!(new, vec!["main moved", "topic one", "topic two"], "{}", remote.url);
    }
    Ok(())
}

#[test]
fn an_unreachable_repository_or_a_refused_credential_is_a_clear_error() -> Result<()> {
    let s = servers();
    let work = tempfile::tempdir()?;
    let mirror = Mirror::open(&work.path().join("m"))?;
    let missing = anonymous(format!("{}/no-such-repository.git", s.daemon_url));
    let err = mirror.fetch(&missing).unwrap_err().to_string();
    assert!(err.starts_with("cannot fetch git://127.0.0.1:"), "{err}");

    let closed = anonymous("http://127.0.0.1:9/nothing.git".into());
    let err = mirror.fetch(&closed).unwrap_err().to_string();
    assert!(err.starts_with("cannot fetch http://127.0.0.1:9/nothing.git"), "{err}");

    let repo = s.new_repo("private-auth", work.path())?;
    repo.commit("a.txt", "secret work", None)?;
    repo.push("main", false)?;
    let url = format!("{}/{}.git", s.http_url, repo.name);
    // Without the token the server answers 401.
    let err = mirror.fetch(&anonymous(url.clone())).unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot fetch {url}")), "{err}");
    // gitoxide never sends a token over plain http, not even to loopback (the config
    // accepts a token only with https).
    let token = GitRemote { url: url.clone(), token: Some(s.token.clone()), ca_pem: None };
    let err = mirror.fetch(&token).unwrap_err().to_string();
    assert!(err.contains("clear text"), "{err}");
    assert!(!err.contains(&s.token), "the token leaked into the error: {err}");
    Ok(())
}

/// The mirror's tip of `branch` as the real `git` reads it, after checking the whole
/// mirror (`git fsck`): nothing half-written.
fn mirror_tip(mirror: &Mirror, branch: &str) -> Result<String> {
    let dir = mirror.dir();
    ferry_testsupport::git::git(&dir, &["fsck", "--no-progress", "--no-dangling"])?;
    ferry_testsupport::git::git(&dir, &["rev-parse", &format!("refs/remotes/origin/{branch}")])
}

#[test]
fn a_damaged_pack_is_a_clear_error_that_leaves_the_mirror_as_it_was_and_a_later_fetch_catches_up() -> Result<()> {
    let s = servers();
    let work = tempfile::tempdir()?;
    let repo = s.new_repo("corrupt", work.path())?;
    repo.commit("a.txt", "base", None)?;
    repo.push("main", false)?;
    let remote = anonymous(format!("{}/{}.git", s.http_url, repo.name));
    let mirror = Mirror::open(&work.path().join("m"))?;
    let recorded = mirror.fetch(&remote)?;
    let before = mirror_tip(&mirror, "main")?;

    let new = repo.commit("a.txt", "APP-12 the commit whose pack is damaged", None)?;
    repo.push("main", false)?;
    repo.corrupt_packs(true)?;
    let err = mirror.fetch(&remote).unwrap_err().to_string();
    assert!(err.starts_with(&format!("cannot fetch {}: ", remote.url)), "names the repository: {err}");
    assert!(err.to_lowercase().contains("pack"), "says the pack is what failed: {err}");
    assert_eq!(mirror_tip(&mirror, "main")?, before, "the mirror's branch did not move");

    repo.corrupt_packs(false)?;
    let (tips, new_messages) = poll(&mirror, &remote, &recorded)?;
    assert_eq!(tips.get("main"), Some(&new));
    assert_eq!(new_messages, vec!["APP-12 the commit whose pack is damaged"]);
    assert_eq!(mirror_tip(&mirror, "main")?, new);
    Ok(())
}

#[test]
fn over_https_a_token_and_the_servers_ca_fetch_and_a_wrong_or_missing_one_is_a_clear_error() -> Result<()> {
    let s = servers();
    let work = tempfile::tempdir()?;
    let repo = s.new_repo("private-tls", work.path())?;
    let sha = repo.commit("a.txt", "secret work", None)?;
    repo.push("main", false)?;
    let url = format!("{}/{}.git", s.https_url, repo.name);
    let remote = |token: Option<&str>, ca: bool| GitRemote {
        url: url.clone(),
        token: token.map(str::to_string),
        ca_pem: ca.then(|| s.ca_pem.clone()),
    };

    let mirror = Mirror::open(&work.path().join("m"))?;
    let tips = mirror.fetch(&remote(Some(&s.token), true))?;
    assert_eq!(tips.get("main"), Some(&sha));

    for (token, ca, expected) in [
        (Some("not-the-token"), true, "were not accepted"),
        (None, true, "wants credentials"),
        (Some(s.token.as_str()), false, "certificate"),
    ] {
        let fresh = Mirror::open(&work.path().join(format!("m-{}-{ca}", token.map_or(0, str::len))))?;
        let err = fresh.fetch(&remote(token, ca)).unwrap_err().to_string();
        assert!(err.starts_with(&format!("cannot fetch {url}: ")), "names the repository: {err}");
        assert!(err.to_lowercase().contains(expected), "{token:?} {ca}: expected {expected:?} in {err}");
        assert!(!err.contains(&s.token), "the token leaked into the error: {err}");
    }
    Ok(())
}
