//! The cost of the conversation: requests per synced comment and per synced attachment
//! (and the bytes a copy moves over the wire against the file's size), and Ferry's peak
//! memory while a 60 MB attachment streams across.
//!
//! The memory run keeps the simulators in a child process (`ferry-bench serve-sims`):
//! they hold every file in memory, which would hide whether Ferry does.

use crate::counting::Tally;
use crate::pipeline::{Invocations, Pipeline};
use crate::{secrets, BackendKind, SyncArgs};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use chrono::Utc;
use ferry_domain::{ByteSource, CommentWrite, EntityId, Integration, PortError, Side};
use ferry_runtime::actor::Actor;
use ferry_sim::{AdoSeed, AdoSim, JiraSeed, JiraSim};
use ferry_testsupport::config::{dir_with_sheets, write_and_load};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Bugs of the comment and attachment rounds (one comment per side and one file each).
const PAIRS: usize = 20;
/// The size of each file of the attachment round.
const FILE_SIZE: u64 = 256 * 1024;
/// The file of the memory run.
const BIG_FILE: u64 = 60 * 1024 * 1024;

/// The integration's collaboration keys, before `fields:`.
const COLLABORATION: &str = "
    comments: { direction: both }
    attachments: { direction: both, max_size: 100MB }
    fields:
";

#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub comments: usize,
    pub comment_requests: u64,
    pub attachments: usize,
    pub attachment_requests: u64,
    /// Bytes of request and response bodies of the attachment round (captured traffic):
    /// all, file bodies downloaded, file bodies uploaded.
    pub attachment_bytes: u64,
    pub downloaded: u64,
    pub uploaded: u64,
    pub file_size: u64,
    pub big_file: u64,
    /// Resident set before the big file's sync and the peak during it, in kB.
    pub rss_before_kb: u64,
    pub rss_peak_kb: u64,
}

impl Figures {
    pub fn per_comment(&self) -> f64 {
        self.comment_requests as f64 / self.comments.max(1) as f64
    }
    pub fn per_attachment(&self) -> f64 {
        self.attachment_requests as f64 / self.attachments.max(1) as f64
    }
    pub fn bytes_per_attachment(&self) -> f64 {
        self.attachment_bytes as f64 / self.attachments.max(1) as f64
    }
    pub fn peak_growth_mb(&self) -> f64 {
        self.rss_peak_kb.saturating_sub(self.rss_before_kb) as f64 / 1024.0
    }

    /// `field_requests`: requests per synced field change (steady state) of the field run.
    pub fn to_text(&self, field_requests: Option<f64>) -> String {
        let mut s = String::from("\ncollaboration (tuned configuration)\n");
        if let Some(f) = field_requests {
            let _ = writeln!(s, "  all system requests per synced field change (the tuned run above; steady state when it had one): {f:.1}");
        }
        let _ = writeln!(
            s,
            "  requests per synced comment: {:.1} ({} comments, {} requests)",
            self.per_comment(),
            self.comments,
            self.comment_requests
        );
        let _ = writeln!(
            s,
            "  requests per synced attachment: {:.1} ({} files of {} bytes, {} requests)",
            self.per_attachment(),
            self.attachments,
            self.file_size,
            self.attachment_requests
        );
        let per = |b: u64| b as f64 / self.attachments.max(1) as f64 / self.file_size.max(1) as f64;
        let _ = writeln!(
            s,
            "  bytes moved per attachment: {:.0} = {:.2}x its size (file bodies downloaded {:.2}x, uploaded {:.2}x; the rest JSON)",
            self.bytes_per_attachment(),
            per(self.attachment_bytes),
            per(self.downloaded),
            per(self.uploaded)
        );
        let _ = writeln!(
            s,
            "  peak RSS while a {} MB attachment streams: {:.1} MB before, {:.1} MB peak (+{:.1} MB; {})",
            self.big_file / (1024 * 1024),
            self.rss_before_kb as f64 / 1024.0,
            self.rss_peak_kb as f64 / 1024.0,
            self.peak_growth_mb(),
            if self.peak_growth_mb() < self.big_file as f64 / (1024.0 * 1024.0) / 4.0 {
                "flat: well under the file's size"
            } else {
                "NOT flat: the file is held in memory"
            }
        );
        s
    }

    pub fn to_json(&self) -> Value {
        json!({
            "comments": self.comments,
            "requests_per_comment": self.per_comment(),
            "attachments": self.attachments,
            "attachment_size": self.file_size,
            "requests_per_attachment": self.per_attachment(),
            "bytes_per_attachment": self.bytes_per_attachment(),
            "downloaded_bytes": self.downloaded,
            "uploaded_bytes": self.uploaded,
            "big_file_bytes": self.big_file,
            "rss_before_kb": self.rss_before_kb,
            "rss_peak_kb": self.rss_peak_kb,
        })
    }
}

/// One integration with collaboration on, its people and the pipeline.
struct Setup {
    integration: Integration,
    pipe: Pipeline,
    jira_person: Actor,
    ado_person: Actor,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new(args: &SyncArgs, jira_url: &str, ado_url: &str) -> Result<Setup> {
        let dir = dir_with_sheets()?;
        let id = format!("bench-collab-{}-{}", std::process::id(), Utc::now().timestamp_millis());
        let template = include_str!("integration.yaml")
            .replace("@ID@", &id)
            .replace("@OVERLAP@", &args.overlap)
            .replace("@JIRA_URL@", jira_url)
            .replace("@ADO_URL@", ado_url)
            .replace("\n    fields:\n", COLLABORATION);
        let set = write_and_load(&dir.path().join("ferry.yaml"), &template)?;
        let integration = set.integrations.first().cloned().context("the config has no integration")?;
        let settings = ferry_engine::EngineSettings::lambda();
        let pipe = match args.backend {
            BackendKind::Embedded => {
                Pipeline::embedded(&dir.path().join("ferry.sqlite"), secrets(), settings, Tally::new())?
            }
            BackendKind::Aws => Pipeline::aws(secrets(), settings, Tally::new()).await?,
        };
        pipe.engine().apply(&set.systems, std::slice::from_ref(&integration), true, Utc::now()).await?;
        pipe.engine().activate(&integration.id, Utc::now()).await?;
        let (jira_person, ado_person) = crate::persons(&set, &integration).await?;
        Ok(Setup { integration, pipe, jira_person, ado_person, _dir: dir })
    }

    /// A poll of each direction, then both queues drained.
    async fn sync(&self) -> Result<()> {
        let mut inv = Invocations::default();
        for flow in self.integration.flows() {
            self.pipe.poll(&self.integration.id, flow, &mut inv).await?;
        }
        self.pipe.drain(10, &mut inv).await?;
        Ok(())
    }

    /// `n` bugs filed on Jira and synced: (Jira id, Azure DevOps id) each.
    async fn pairs(&self, n: usize) -> Result<Vec<(EntityId, EntityId)>> {
        let mut bugs = Vec::new();
        for i in 0..n {
            let text = ferry_domain::FieldValue::Text(format!("Collaboration bug {i}"));
            bugs.push(self.jira_person.create(vec![("summary", text)]).await?.id);
        }
        self.sync().await?;
        let mut out = Vec::new();
        for bug in bugs {
            let link = self.pipe.engine().state().get_link(&self.integration.id, Side::Left, &bug).await?;
            let twin = link.with_context(|| format!("{bug} did not sync"))?.side(Side::Right).id.clone();
            out.push((bug, twin));
        }
        Ok(out)
    }
}

fn bot_requests(jira: &JiraSim, ado: &AdoSim) -> u64 {
    jira.requests().iter().chain(ado.requests().iter()).filter(|r| crate::bot(r)).count() as u64
}

/// The comment and attachment rounds (simulators in this process), then the memory run.
pub async fn run(args: &SyncArgs) -> Result<Figures> {
    let jira = JiraSim::start(JiraSeed::demo()).await?;
    let ado = AdoSim::start(AdoSeed::demo()).await?;
    let s = Setup::new(args, &jira.base_url(), &ado.base_url()).await?;
    let pairs = s.pairs(PAIRS).await?;
    let mut f = Figures { file_size: FILE_SIZE, big_file: BIG_FILE, ..Figures::default() };

    // Comments: one on each side of every pair, then one sync.
    let said = |t: &str| CommentWrite { body: format!("<p>{t}</p>"), origin: String::new() };
    for (i, (bug, item)) in pairs.iter().enumerate() {
        let (j, a) = (&s.jira_person, &s.ado_person);
        j.conn.add_comment(&j.scope, bug, &said(&format!("Seen on Chrome too ({i})"))).await?;
        a.conn.add_comment(&a.scope, item, &said(&format!("Reproduced here ({i})"))).await?;
    }
    jira.clear_requests();
    ado.clear_requests();
    s.sync().await?;
    f.comment_requests = bot_requests(&jira, &ado);
    for (bug, item) in &pairs {
        let (j, a) = (&s.jira_person, &s.ado_person);
        let (on_jira, on_ado) = (j.conn.comments(&j.scope, bug).await?, a.conn.comments(&a.scope, item).await?);
        if on_jira.len() != 2 || on_ado.len() != 2 {
            bail!("comments did not sync: {bug} holds {}, {item} holds {}", on_jira.len(), on_ado.len());
        }
        f.comments += 2;
    }

    // Attachments: one file on each Jira bug, then one sync with the traffic captured.
    for (i, (bug, _)) in pairs.iter().enumerate() {
        let j = &s.jira_person;
        let mut bytes = Generated { left: FILE_SIZE, state: i as u64 + 1 };
        j.conn.upload(&j.scope, bug, &format!("trace-{i}.bin"), FILE_SIZE, &mut bytes).await?;
    }
    jira.clear_requests();
    ado.clear_requests();
    let capture = tempfile::tempdir()?;
    let files = [jira.capture_traffic(capture.path())?, ado.capture_traffic(capture.path())?];
    s.sync().await?;
    f.attachment_requests = bot_requests(&jira, &ado);
    for p in &files {
        let b = body_bytes(p)?;
        f.attachment_bytes += b.all;
        f.downloaded += b.downloaded;
        f.uploaded += b.uploaded;
    }
    for (_, item) in &pairs {
        let a = &s.ado_person;
        let copies = a.conn.attachments(&a.scope, item).await?;
        if copies.len() != 1 || copies[0].size != FILE_SIZE {
            bail!("the attachment did not sync to {item}: {copies:?}");
        }
        f.attachments += 1;
    }
    drop(s);
    (f.rss_before_kb, f.rss_peak_kb) = memory_run(args).await?;
    Ok(f)
}

/// Body bytes of one capture file.
#[derive(Default)]
struct BodyBytes {
    all: u64,
    /// Binary response bodies (file downloads).
    downloaded: u64,
    /// Binary and multipart request bodies (file uploads).
    uploaded: u64,
}

fn body_bytes(path: &Path) -> Result<BodyBytes> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut n = BodyBytes::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let e: ferry_sim::Exchange = serde_json::from_str(line)?;
        let text_len = |b: &Option<String>| b.as_ref().map_or(0, |t| t.len() as u64);
        n.uploaded += e.request_body_size.unwrap_or(0);
        n.downloaded += e.response_body_size.unwrap_or(0);
        n.all += e.request_body_size.unwrap_or_else(|| text_len(&e.request_body));
        n.all += e.response_body_size.unwrap_or_else(|| text_len(&e.response_body));
    }
    Ok(n)
}

/// A 60 MB file made by a person on Azure DevOps, synced to Jira with the simulators in
/// a child process: (resident kB when the sync starts, peak resident kB during it).
async fn memory_run(args: &SyncArgs) -> Result<(u64, u64)> {
    let exe = std::env::current_exe()?;
    let mut child = tokio::process::Command::new(exe)
        .arg("serve-sims")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the simulators' process")?;
    let out = child.stdout.take().context("the simulators' stdout")?;
    let mut lines = BufReader::new(out).lines();
    let (jira_url, ado_url) = match (lines.next_line().await?, lines.next_line().await?) {
        (Some(j), Some(a)) => (j, a),
        _ => bail!("the simulators' process printed no URLs"),
    };
    let s = Setup::new(args, &jira_url, &ado_url).await?;
    let (bug, item) = s.pairs(1).await?.remove(0);
    let a = &s.ado_person;
    a.conn.upload(&a.scope, &item, "dump.bin", BIG_FILE, &mut Generated { left: BIG_FILE, state: 9 }).await?;
    reset_peak()?;
    let before = status_kb("VmRSS:")?;
    s.sync().await?;
    let peak = status_kb("VmHWM:")?;
    let j = &s.jira_person;
    let copies = j.conn.attachments(&j.scope, &bug).await?;
    if !copies.iter().any(|c| c.name == "dump.bin" && c.size == BIG_FILE) {
        bail!("the {BIG_FILE}-byte file did not reach {bug}: {copies:?}");
    }
    drop(child.stdin.take());
    let _ = child.wait().await;
    Ok((before, peak))
}

/// Resets this process's peak resident set (`VmHWM`) to its current size.
fn reset_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the peak RSS (/proc/self/clear_refs)")
}

fn status_kb(key: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/self/status"))
}

/// `ferry-bench serve-sims`: both simulators; prints their base URLs (Jira, then Azure
/// DevOps), one a line, and serves until stdin closes.
pub async fn serve_sims() -> Result<()> {
    let jira = JiraSim::start(JiraSeed::demo()).await?;
    let ado = AdoSim::start(AdoSeed::demo()).await?;
    println!("{}\n{}", jira.base_url(), ado.base_url());
    tokio::task::spawn_blocking(|| std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())).await??;
    Ok(())
}

/// A file's bytes from a seeded generator, a piece at a time.
struct Generated {
    left: u64,
    state: u64,
}

#[async_trait]
impl ByteSource for Generated {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, PortError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(64 * 1024) as usize;
        let mut chunk = Vec::with_capacity(n);
        for _ in 0..n {
            self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            chunk.push((self.state >> 56) as u8);
        }
        self.left -= n as u64;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_resident_set_can_be_reset_and_read() {
        reset_peak().unwrap();
        let (rss, peak) = (status_kb("VmRSS:").unwrap(), status_kb("VmHWM:").unwrap());
        assert!(rss > 0 && peak >= rss / 2, "{rss} {peak}");
    }
}
