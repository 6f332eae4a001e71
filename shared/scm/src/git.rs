//! A local bare mirror of one remote Git repository, kept by gitoxide: fetch its
//! branches, then walk the commits between two sets of branch tips.
//!
//! Blocking: gitoxide's fetch client is synchronous. Async callers run it on a blocking
//! thread ([`crate::sync`] does).

use crate::error::ScmError;
use crate::tips::Tips;
use gix::bstr::ByteSlice;
use gix::progress::Discard;
use gix::protocol::transport::client::blocking_io::connect;
use gix::remote::Direction;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Remote branches are kept under this prefix in the mirror; a fetch force-updates them,
/// and the objects of a branch's former tip stay in the mirror, so a walk after a
/// force-push can still hide what was already handled.
const FETCH_SPEC: &str = "+refs/heads/*:refs/remotes/origin/*";
const BRANCH_PREFIX: &str = "refs/heads/";

/// One commit as a work item's link and comment show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// Full hex object id.
    pub sha: String,
    pub author_name: String,
    pub author_email: String,
    /// Author time, seconds since the epoch (as written in the commit; may be old).
    pub author_time: i64,
    pub message: String,
    /// Paths added, modified or deleted against the first parent (against nothing for a
    /// root commit), sorted.
    pub files: Vec<String>,
}

/// Where the repository is and how Ferry authenticates to it.
pub struct GitRemote {
    pub url: String,
    /// The password of HTTP basic auth (a token); `None`: anonymous.
    pub token: Option<String>,
    /// Extra CA certificates (PEM) to trust for an https URL, besides the usual roots.
    pub ca_pem: Option<String>,
}

impl GitRemote {
    pub fn anonymous(url: impl Into<String>) -> Self {
        GitRemote { url: url.into(), token: None, ca_pem: None }
    }
}

/// A bare mirror on local disk; created on first use.
pub struct Mirror {
    repo: gix::Repository,
}

impl Mirror {
    /// Opens the mirror at `dir`, creating an empty bare repository there when absent.
    pub fn open(dir: &Path) -> Result<Self, ScmError> {
        let repo = if dir.join("HEAD").exists() {
            gix::open(dir).map_err(|e| ScmError::Mirror(dir.to_path_buf(), e.to_string()))?
        } else {
            std::fs::create_dir_all(dir).map_err(|e| ScmError::Mirror(dir.to_path_buf(), e.to_string()))?;
            gix::init_bare(dir).map_err(|e| ScmError::Mirror(dir.to_path_buf(), e.to_string()))?
        };
        Ok(Mirror { repo })
    }

    pub fn dir(&self) -> PathBuf {
        self.repo.path().to_path_buf()
    }

    /// Fetches every branch of `remote` into the mirror; returns each branch's tip as the
    /// server advertised it (an empty repository has none). A fetch that fails (the
    /// server unreachable, the credentials refused, a damaged pack) leaves the mirror's
    /// branches as they were: gitoxide writes the pack and its index to temporary files,
    /// checks them, and only then moves them in and updates the refs.
    pub fn fetch(&self, remote: &GitRemote) -> Result<Tips, ScmError> {
        self.exchange(remote, true)
    }

    /// Whether `remote` answers with the credentials and certificates given, and the
    /// branches it has (as [`Mirror::fetch`] lists them), without fetching any object:
    /// the connection test of `ferry apply`. Uses a scratch repository that it removes.
    pub fn probe(remote: &GitRemote) -> Result<Tips, ScmError> {
        let dir = std::env::temp_dir().join(format!("ferry-probe-{}", uuid::Uuid::new_v4()));
        let listed = Mirror::open(&dir).and_then(|scratch| scratch.exchange(remote, false));
        let _ = std::fs::remove_dir_all(&dir);
        listed
    }

    /// Connects to `remote` and lists its branches; with `fetch`, also receives the
    /// objects they need.
    fn exchange(&self, remote: &GitRemote, fetch: bool) -> Result<Tips, ScmError> {
        let failed = |e: &dyn std::error::Error| ScmError::Remote { url: remote.url.clone(), cause: chain(e) };
        let r = self.repo.remote_at(remote.url.as_str()).map_err(|e| failed(&e))?;
        let r = r.with_refspecs([FETCH_SPEC], Direction::Fetch).map_err(|e| failed(&e))?;
        let interrupt = AtomicBool::new(false);
        let mut connection = match &remote.token {
            None => r.connect(Direction::Fetch).map_err(|e| failed(&e))?,
            // The token goes with the first request (basic auth), not after a 401: one
            // round trip less per poll.
            Some(token) => {
                let options =
                    connect::Options { version: gix::protocol::transport::Protocol::V2, ..Default::default() };
                let mut transport = connect::connect(remote.url.as_str(), options).map_err(|e| failed(&e))?;
                transport.set_credentials(basic_auth(token)).map_err(|e| failed(&e))?;
                r.to_connection_with_transport(transport)
            }
        };
        // Asked for credentials (a 401), gitoxide would run the Git credential helpers of
        // the machine's Git configuration: Ferry answers with the token it has, or none.
        let token = remote.token.clone();
        connection.set_credentials(move |action| credentials(action, token.as_deref()));
        if let Some(pem) = &remote.ca_pem {
            connection.set_transport_options(Box::new(trusting(pem).map_err(|cause| ScmError::Remote {
                url: remote.url.clone(),
                cause: format!("the ca_cert is not usable: {cause}"),
            })?));
        }
        let prepared = connection.prepare_fetch(Discard, Default::default()).map_err(|e| failed(&e))?;
        let ref_map = if fetch {
            prepared.receive(Discard, &interrupt).map_err(|e| failed(&e))?.ref_map
        } else {
            prepared.ref_map().clone()
        };
        let mut tips = Tips::new();
        for r in &ref_map.remote_refs {
            let (name, target, _) = r.unpack();
            let (Some(branch), Some(id)) = (name.to_str().ok().and_then(|n| n.strip_prefix(BRANCH_PREFIX)), target)
            else {
                continue;
            };
            tips.insert(branch.to_string(), id.to_hex().to_string());
        }
        Ok(tips)
    }

    /// The commits reachable from `new` but from none of `old`, parents before children.
    /// A tip of `old` the mirror does not hold (a mirror made anew after a force-push)
    /// hides nothing; the caller's writes are idempotent, so that walk costs requests,
    /// never duplicates.
    pub fn commits_between(&self, old: &[String], new: &[String]) -> Result<Vec<CommitInfo>, ScmError> {
        let walk_err = |e: &dyn std::fmt::Display| ScmError::Walk(e.to_string());
        let parse = |s: &String| gix::ObjectId::from_hex(s.as_bytes()).map_err(|e| walk_err(&e));
        let new_ids: Vec<gix::ObjectId> = new.iter().map(parse).collect::<Result<_, _>>()?;
        let hidden: Vec<gix::ObjectId> =
            old.iter().map(parse).collect::<Result<Vec<_>, _>>()?.into_iter().filter(|id| self.has(*id)).collect();
        let new_ids: Vec<gix::ObjectId> = new_ids.into_iter().filter(|id| !hidden.contains(id)).collect();
        if new_ids.is_empty() {
            return Ok(Vec::new());
        }
        let hidden_set: HashSet<gix::ObjectId> = hidden.iter().copied().collect();
        let walk = self
            .repo
            .rev_walk(new_ids)
            .sorting(gix::revision::walk::Sorting::BreadthFirst)
            .with_hidden(hidden)
            .all()
            .map_err(|e| walk_err(&e))?;
        let mut out = Vec::new();
        for info in walk {
            let info = info.map_err(|e| walk_err(&e))?;
            if hidden_set.contains(&info.id) {
                continue;
            }
            out.push(self.commit_info(info.id)?);
        }
        // The walk runs from the tips back; a work item's comments read in commit order.
        out.reverse();
        Ok(out)
    }

    /// The full id of the commit `id` names (full or abbreviated hex) in the mirror.
    pub fn resolve_commit(&self, id: &str) -> Result<String, ScmError> {
        let refused = |why: String| ScmError::Start(format!("commit {id:?}: {why}"));
        if id.len() < 4 || id.len() > 40 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(refused("not a commit id (4 to 40 hex digits)".into()));
        }
        let prefix = gix::hash::Prefix::from_hex(&id.to_ascii_lowercase()).map_err(|e| refused(e.to_string()))?;
        let found = self
            .repo
            .objects
            .lookup_prefix(prefix, None)
            .map_err(|e| refused(e.to_string()))?
            .ok_or_else(|| refused("not in the fetched history of the repository".into()))?
            .map_err(|()| refused("ambiguous: give more digits".into()))?;
        self.repo.find_commit(found).map_err(|_| refused("names an object that is not a commit".into()))?;
        Ok(found.to_hex().to_string())
    }

    /// The first-parent line of `tip`, newest first, with each commit's committer time
    /// (seconds), down to the first commit made before `before` (included) or the root.
    pub fn first_parent_line(&self, tip: &str, before: i64) -> Result<Vec<(String, i64)>, ScmError> {
        let walk_err = |e: &dyn std::fmt::Display| ScmError::Walk(format!("first-parent line of {tip}: {e}"));
        let mut id = Some(gix::ObjectId::from_hex(tip.as_bytes()).map_err(|e| walk_err(&e))?);
        let mut line = Vec::new();
        while let Some(current) = id {
            let commit = self.repo.find_commit(current).map_err(|e| walk_err(&e))?;
            let time = commit.committer().map_err(|e| walk_err(&e))?.time().map_err(|e| walk_err(&e))?.seconds;
            line.push((current.to_hex().to_string(), time));
            if time < before {
                break;
            }
            id = commit.parent_ids().next().map(|p| p.detach());
        }
        Ok(line)
    }

    /// Commit `sha` (full hex); `None` when the mirror does not hold it.
    pub fn commit(&self, sha: &str) -> Result<Option<CommitInfo>, ScmError> {
        match gix::ObjectId::from_hex(sha.as_bytes()) {
            Ok(id) if self.has(id) => self.commit_info(id).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the mirror holds the commit `sha` (full hex).
    pub fn has_commit(&self, sha: &str) -> bool {
        gix::ObjectId::from_hex(sha.as_bytes()).is_ok_and(|id| self.has(id))
    }

    fn has(&self, id: gix::ObjectId) -> bool {
        self.repo.find_commit(id).is_ok()
    }

    fn commit_info(&self, id: gix::ObjectId) -> Result<CommitInfo, ScmError> {
        let walk_err = |e: &dyn std::fmt::Display| ScmError::Walk(format!("commit {id}: {e}"));
        let commit = self.repo.find_commit(id).map_err(|e| walk_err(&e))?;
        let author = commit.author().map_err(|e| walk_err(&e))?;
        let time = author.time().map_err(|e| walk_err(&e))?;
        let message = commit.message_raw_sloppy().to_str_lossy().trim_end().to_string();
        let tree = commit.tree().map_err(|e| walk_err(&e))?;
        let parent_tree = match commit.parent_ids().next() {
            Some(p) => Some(p.object().map_err(|e| walk_err(&e))?.into_commit().tree().map_err(|e| walk_err(&e))?),
            None => None,
        };
        let files = self.changed_paths(parent_tree.as_ref(), &tree).map_err(|e| walk_err(&e))?;
        Ok(CommitInfo {
            sha: id.to_hex().to_string(),
            author_name: author.name.to_str_lossy().into_owned(),
            author_email: author.email.to_str_lossy().into_owned(),
            author_time: time.seconds,
            message,
            files,
        })
    }

    /// Paths that differ between two trees (no rename tracking).
    fn changed_paths(&self, old: Option<&gix::Tree<'_>>, new: &gix::Tree<'_>) -> Result<Vec<String>, ScmError> {
        use gix::diff::tree::recorder::Change;
        let empty = self.repo.empty_tree();
        let old = old.unwrap_or(&empty);
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old.data, old.id.kind()),
            gix::objs::TreeRefIter::from_bytes(&new.data, new.id.kind()),
            gix::diff::tree::State::default(),
            &self.repo.objects,
            &mut recorder,
        )
        .map_err(|e| ScmError::Walk(e.to_string()))?;
        let mut paths: Vec<String> = recorder
            .records
            .into_iter()
            .filter(|c| match c {
                Change::Addition { entry_mode, .. }
                | Change::Deletion { entry_mode, .. }
                | Change::Modification { entry_mode, .. } => !entry_mode.is_tree(),
            })
            .map(|c| match c {
                Change::Addition { path, .. } | Change::Deletion { path, .. } | Change::Modification { path, .. } => {
                    path.to_str_lossy().into_owned()
                }
            })
            .collect();
        paths.sort();
        paths.dedup();
        Ok(paths)
    }
}

/// An error and its causes, `outer: inner: innermost`, each said once.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

/// The answer to gitoxide's request for credentials: the token for `get` (so that a
/// refused token ends as "credentials rejected"), nothing to store or erase; without a
/// token, an error saying the repository wants one.
fn credentials(
    action: gix::credentials::helper::Action,
    token: Option<&str>,
) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    use gix::credentials::helper::Action;
    match (action, token) {
        (Action::Get(context), Some(token)) => {
            Ok(Some(gix::credentials::protocol::Outcome { credentials: basic_auth(token), next: context.into() }))
        }
        (Action::Get(_), None) => Err(gix::Error::from_error(std::io::Error::other(
            "the repository wants credentials and the system has no token",
        ))),
        (Action::Store(_) | Action::Erase(_), _) => Ok(None),
    }
}

/// Transport options whose HTTP client trusts the certificates of `pem` besides the
/// usual roots.
fn trusting(pem: &str) -> Result<gix::protocol::transport::client::blocking_io::http::Options, String> {
    use gix::protocol::transport::client::blocking_io::http;
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("it holds no certificate".into());
    }
    let backend = http::reqwest::Options {
        configure_client: Some(Box::new(move |builder| Ok(builder.tls_certs_merge(certs.clone())))),
        configure_request: None,
    };
    Ok(http::Options { backend: Some(std::sync::Arc::new(std::sync::Mutex::new(backend))), ..Default::default() })
}

/// HTTP basic auth with the token as the password (the user name is not checked by the
/// servers that take tokens this way).
fn basic_auth(token: &str) -> gix::sec::identity::Credentials {
    gix::sec::identity::Credentials::UsernamePassword {
        username: "ferry".into(),
        password: token.to_string(),
        oauth_refresh_token: None,
    }
}
