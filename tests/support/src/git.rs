//! Real Git repositories on the real Git servers of `infra/git-servers.sh` (`git daemon`
//! and smart HTTP through `git http-backend`), built with the real `git` command: commits,
//! merges, rebases and force-pushes as a developer makes them.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the servers are: `infra/.git-servers.env`, written by `infra/git-servers.sh start`.
#[derive(Debug, Clone)]
pub struct GitServers {
    /// The directory both servers serve; a bare repository `NAME.git` made here is at
    /// `{daemon_url}/NAME.git` and `{http_url}/NAME.git`.
    pub root: PathBuf,
    pub daemon_url: String,
    pub http_url: String,
    /// Smart HTTP over TLS, with a certificate of 127.0.0.1 signed by the test CA.
    pub https_url: String,
    /// The test CA's certificate (PEM), which a system's `ca_cert` gives to trust it.
    pub ca_pem: String,
    /// The token the smart HTTP server wants for repositories named `private-*`.
    pub token: String,
}

impl GitServers {
    pub fn from_env_file() -> Result<Self> {
        let file = crate::config::repo_root().join("infra/.git-servers.env");
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "the Git servers are not running: start them with `infra/git-servers.sh start` ({} is missing)",
                file.display()
            )
        })?;
        let get = |k: &str| -> Result<String> {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::to_string)
                .with_context(|| format!("{k} is missing from {}", file.display()))
        };
        let token = std::fs::read_to_string(get("FERRY_GIT_TOKEN_FILE")?)?.trim().to_string();
        Ok(GitServers {
            root: get("FERRY_GIT_ROOT")?.into(),
            daemon_url: get("FERRY_GIT_DAEMON_URL")?,
            http_url: get("FERRY_GIT_HTTP_URL")?,
            https_url: get("FERRY_GIT_HTTPS_URL")?,
            ca_pem: std::fs::read_to_string(get("FERRY_GIT_CA_FILE")?)?,
            token,
        })
    }

    /// A new empty bare repository served by both servers, named uniquely from `name`,
    /// and a working clone of it in `work` to commit and push from.
    pub fn new_repo(&self, name: &str, work: &Path) -> Result<WorkRepo> {
        let unique = format!("{name}-{}", uuid_like());
        let bare = self.root.join(format!("{unique}.git"));
        git(&self.root, &["init", "-q", "--bare", "-b", "main", bare.to_str().context("path")?])?;
        let dir = work.join(&unique);
        git(work, &["init", "-q", "-b", "main", dir.to_str().context("path")?])?;
        for (k, v) in [("user.name", "Dana Dev"), ("user.email", "dana@example.test"), ("commit.gpgsign", "false")] {
            git(&dir, &["config", k, v])?;
        }
        git(&dir, &["remote", "add", "origin", bare.to_str().context("path")?])?;
        Ok(WorkRepo { dir, bare, name: unique })
    }
}

/// A working clone whose `origin` is a bare repository the servers serve.
pub struct WorkRepo {
    pub dir: PathBuf,
    pub bare: PathBuf,
    /// `NAME` of `NAME.git` on the servers.
    pub name: String,
}

impl WorkRepo {
    /// Commits a change to `file` with `message`, authored at `date` (RFC 2822 or ISO
    /// 8601; `None`: now); returns the commit's sha.
    pub fn commit(&self, file: &str, message: &str, date: Option<&str>) -> Result<String> {
        let path = self.dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let before = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, format!("{before}{message}\n"))?;
        git(&self.dir, &["add", file])?;
        let mut cmd = vec!["commit", "-q", "-m", message];
        let date_arg;
        if let Some(d) = date {
            date_arg = format!("--date={d}");
            cmd.push(&date_arg);
        }
        git(&self.dir, &cmd)?;
        self.head()
    }

    pub fn head(&self) -> Result<String> {
        git(&self.dir, &["rev-parse", "HEAD"])
    }

    /// Runs any git command in the working clone; returns its trimmed stdout.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        git(&self.dir, args)
    }

    /// While on, the smart HTTP servers answer fetches of this repository with a damaged
    /// pack (`infra/git_http.py`).
    pub fn corrupt_packs(&self, on: bool) -> Result<()> {
        let marker = self.bare.join("ferry-corrupt-pack");
        match on {
            true => std::fs::write(&marker, "")?,
            false => std::fs::remove_file(&marker)?,
        }
        Ok(())
    }

    /// Pushes `branch` to origin (`force`: after a rebase).
    pub fn push(&self, branch: &str, force: bool) -> Result<()> {
        let mut args = vec!["push", "-q", "origin"];
        if force {
            args.push("--force");
        }
        args.push(branch);
        git(&self.dir, &args).map(|_| ())
    }
}

/// Runs `git` in `dir`; its stdout, trimmed. A failure carries git's stderr.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!("git {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}", nanos, std::process::id())
}
