//! `source_control:` systems (Git repositories) and `commit_links:` integrations.

use crate::decode::{self, At, Ctx, Obj};
use crate::format;
use crate::integrations::{duration, MIN_POLL_SECS};
use crate::systems::{ca_cert, secret};
use crate::yaml::{Kind, Node, Value};
use crate::Target;
use ferry_domain::{
    CommitIntegration, CommitTarget, CommitTransition, IntegrationId, OnCommit, ScmKind, ScmSystem, SystemId,
    DEFAULT_COMMIT_POLL_SECS,
};
use std::collections::BTreeMap;
use std::path::Path;

/// The longest transition keyword.
const MAX_KEYWORD: usize = 32;

/// A decoded `source_control:` entry; `system` is `None` when it had errors (reported).
pub struct ScmDecl {
    pub id: SystemId,
    pub system: Option<ScmSystem>,
    pub at: At,
}

/// A decoded `commit_links:` entry with where its system references were written.
pub struct CommitLinkDecl {
    pub integration: Option<CommitIntegration>,
    /// (source system, where) and (target system, where), for the cross-file checks.
    pub source_ref: Option<(SystemId, At)>,
    pub target_refs: Vec<(SystemId, At)>,
    pub at: At,
}

fn id_of<T>(ctx: &mut Ctx, obj: &Obj, parse: impl Fn(String) -> Result<T, String>) -> Option<(T, &'static str)> {
    let n = obj.get("id")?;
    let s = decode::string(ctx, n, &obj.path_of("id"))?;
    match parse(s) {
        Ok(id) => Some((id, "")),
        Err(e) => {
            ctx.error(n.pos, &obj.path_of("id"), e, None);
            None
        }
    }
}

pub fn decode_system(ctx: &mut Ctx, node: &Node, path: &str, base_dir: &Path, target: Target) -> Option<ScmDecl> {
    let obj = Obj::new(ctx, node, path, &format::SCM_SYSTEM)?;
    let before = ctx.error_count();
    let id = id_of(ctx, &obj, |s| SystemId::parse(s).map_err(|e| e.to_string())).map(|(id, _)| id);
    let kind = obj.enum_of::<ScmKind>(ctx, "kind").ok().flatten().map(|(k, _)| k);
    let allow = obj.opt_bool(ctx, "allow_http_loopback").ok().flatten().unwrap_or(false);
    let token = obj.get("token").and_then(|n| secret(ctx, n, &obj.path_of("token")));
    let base_url = obj.get("base_url").and_then(|n| repo_url(ctx, n, &obj.path_of("base_url"), allow, token.is_some()));
    let web_url = obj.opt_str(ctx, "web_url").ok().flatten();
    let ca = obj.get("ca_cert").and_then(|n| ca_cert(ctx, n, &obj.path_of("ca_cert"), base_dir, target));
    if let (Some(_), Some(url), Some(n)) = (&ca, &base_url, obj.get("ca_cert")) {
        if !url.starts_with("https://") {
            ctx.error(n.pos, &obj.path_of("ca_cert"), "ca_cert is only used with an https base_url", None);
        }
    }
    if let (Some(w), Some(n)) = (&web_url, obj.get("web_url")) {
        if !w.contains("{sha}") || !(w.starts_with("https://") || w.starts_with("http://")) {
            ctx.error(
                n.pos,
                &obj.path_of("web_url"),
                format!("\"{w}\" is not a commit page template"),
                Some(
                    "an http(s) URL with {sha} where the commit id goes: https://git.acme.test/app/commit/{sha}".into(),
                ),
            );
        }
    }
    let at = At { file: ctx.file.clone(), pos: obj.get("id").map(|n| n.pos).unwrap_or(node.pos), path: path.into() };
    let id = id?;
    let ok = ctx.error_count() == before;
    let system = match (ok, kind, base_url) {
        (true, Some(kind), Some(base_url)) => {
            Some(ScmSystem { id: id.clone(), kind, base_url, token, web_url, allow_http_loopback: allow, ca_cert: ca })
        }
        _ => None,
    };
    Some(ScmDecl { id, system, at })
}

/// A clone URL: https, or git:// / http:// to a loopback host with allow_http_loopback.
/// A token is only ever sent over https.
fn repo_url(ctx: &mut Ctx, node: &Node, path: &str, allow_http_loopback: bool, token: bool) -> Option<String> {
    let s = decode::string(ctx, node, path)?;
    let u = match url::Url::parse(&s) {
        Ok(u) => u,
        Err(e) => {
            ctx.error(node.pos, path, format!("invalid URL: {e}"), Some("e.g. https://git.acme.test/app.git".into()));
            return None;
        }
    };
    if !u.username().is_empty() || u.password().is_some() {
        let hint = Some("give the token by reference: token: { env: GIT_TOKEN }".into());
        ctx.error(node.pos, path, "the URL holds credentials; secrets never go in the config", hint);
        return None;
    }
    // git:// is not a scheme the URL standard knows, so its host is not parsed as an address.
    let host = u.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let refusal = match u.scheme() {
        "https" => None,
        "http" | "git" if token => Some(format!("a token is only sent over https, not {}://", u.scheme())),
        "http" | "git" if loopback && allow_http_loopback => None,
        "http" | "git" if loopback => Some(format!("{}:// is refused without allow_http_loopback: true", u.scheme())),
        "http" | "git" => Some(format!("{}:// is refused (only for 127.0.0.1/localhost, in tests)", u.scheme())),
        other => Some(format!("the {other}:// scheme is not supported")),
    };
    match refusal {
        Some(message) => {
            ctx.error(node.pos, path, message, Some("use https://".into()));
            None
        }
        None => Some(s),
    }
}

pub fn decode_link(ctx: &mut Ctx, node: &Node, path: &str) -> Option<CommitLinkDecl> {
    let obj = Obj::new(ctx, node, path, &format::COMMIT_LINK)?;
    let before = ctx.error_count();
    let id = id_of(ctx, &obj, |s| IntegrationId::parse(s).map_err(|e| e.to_string())).map(|(id, _)| id);
    let at_of = |ctx: &Ctx, n: &Node, p: String| At { file: ctx.file.clone(), pos: n.pos, path: p };
    let (mut source_ref, mut branches) = (None, Vec::new());
    if let Some(src) = obj.get("source").and_then(|n| Obj::new(ctx, n, &obj.path_of("source"), &format::COMMIT_SOURCE))
    {
        if let (Some(n), Some(s)) = (src.get("system"), src.string(ctx, "system")) {
            let sid = SystemId::parse(s).map_err(|e| e.to_string());
            match sid {
                Ok(sid) => source_ref = Some((sid, at_of(ctx, n, src.path_of("system")))),
                Err(e) => ctx.error(n.pos, &src.path_of("system"), e, None),
            }
        }
        if let Some(n) = src.get("branches") {
            for (i, b) in decode::list(ctx, n, &src.path_of("branches")).into_iter().enumerate() {
                branches.extend(decode::string(ctx, b, &format!("{}[{i}]", src.path_of("branches"))));
            }
            if branches.is_empty() {
                ctx.error(n.pos, &src.path_of("branches"), "no branch given", Some("branches: [main]".into()));
            }
        }
    }
    let (targets, target_refs) =
        obj.get("targets").map(|n| targets(ctx, n, &obj.path_of("targets"))).unwrap_or_default();
    let on_commit = match obj.get("on_commit") {
        None => vec![OnCommit::Link, OnCommit::Comment],
        Some(n) => decode::list(ctx, n, &obj.path_of("on_commit"))
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| decode::enum_value::<OnCommit>(ctx, v, &format!("{}[{i}]", obj.path_of("on_commit"))))
            .collect(),
    };
    let poll_interval_secs = duration(ctx, &obj, "poll_interval", DEFAULT_COMMIT_POLL_SECS, MIN_POLL_SECS);
    let transitions = match obj.get("transitions") {
        None => Vec::new(),
        Some(n) => transitions(ctx, n, &obj.path_of("transitions"), &targets, on_commit.contains(&OnCommit::Comment)),
    };
    let at = At { file: ctx.file.clone(), pos: node.pos, path: path.into() };
    let ok = ctx.error_count() == before;
    let integration = match (ok, id, &source_ref) {
        (true, Some(id), Some((source, _))) => Some(CommitIntegration {
            id,
            source: source.clone(),
            branches,
            targets,
            on_commit,
            poll_interval_secs,
            transitions,
        }),
        _ => None,
    };
    Some(CommitLinkDecl { integration, source_ref, target_refs, at })
}

fn targets(ctx: &mut Ctx, node: &Node, path: &str) -> (Vec<CommitTarget>, Vec<(SystemId, At)>) {
    let (mut out, mut refs) = (Vec::new(), Vec::new());
    for (i, item) in decode::list(ctx, node, path).into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(t) = Obj::new(ctx, item, &p, &format::COMMIT_TARGET) else { continue };
        let system = t.string(ctx, "system").and_then(|s| match SystemId::parse(s) {
            Ok(id) => Some(id),
            Err(e) => {
                ctx.error(t.node.pos, &t.path_of("system"), e.to_string(), None);
                None
            }
        });
        let project = t.string(ctx, "project");
        let pattern = t.string(ctx, "key_pattern");
        if let (Some(pat), Some(n)) = (&pattern, t.get("key_pattern")) {
            if let Err(e) =
                regex_lite::Regex::new(pat).map_err(|e| e.to_string()).and_then(|re| match re.captures_len() {
                    0..=2 => Ok(()),
                    _ => Err("use at most one capture group: the work item's id or key".to_string()),
                })
            {
                ctx.error(n.pos, &t.path_of("key_pattern"), format!("not a usable key pattern: {e}"), None);
            }
        }
        if let (Some(system), Some(n)) = (&system, t.get("system")) {
            refs.push((system.clone(), At { file: ctx.file.clone(), pos: n.pos, path: t.path_of("system") }));
        }
        if let (Some(system), Some(project), Some(key_pattern)) = (system, project, pattern) {
            out.push(CommitTarget { system, project, key_pattern });
        }
    }
    if out.is_empty() && refs.is_empty() {
        ctx.error(
            node.pos,
            path,
            "no target given",
            Some("targets: [{ system: ID, project: KEY, key_pattern: REGEX }]".into()),
        );
    }
    (out, refs)
}

/// `transitions:`: each a keyword (one word, unique) and, per target system of this link,
/// the status it moves an item to. The commit's comment marks a commit as handled on an
/// item, so that a replayed poll never moves the item again: transitions need
/// `on_commit: comment`.
fn transitions(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    targets: &[CommitTarget],
    comments: bool,
) -> Vec<CommitTransition> {
    if !comments {
        let hint = Some("add comment to on_commit (its comment marks a commit as handled)".into());
        ctx.error(node.pos, path, "transitions need on_commit: comment", hint);
    }
    let mut out: Vec<CommitTransition> = Vec::new();
    for (i, item) in decode::list(ctx, node, path).into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(t) = Obj::new(ctx, item, &p, &format::COMMIT_TRANSITION) else { continue };
        let keyword = t.string(ctx, "keyword");
        if let (Some(k), Some(n)) = (&keyword, t.get("keyword")) {
            if !keyword_ok(k) {
                let message = format!("\"{k}\" is not a keyword: one word of letters, at most {MAX_KEYWORD}");
                ctx.error(n.pos, &t.path_of("keyword"), message, Some("e.g. fixes, closes, resolves".into()));
            } else if out.iter().any(|o| o.keyword.eq_ignore_ascii_case(k)) {
                ctx.error(n.pos, &t.path_of("keyword"), format!("duplicate keyword \"{k}\""), None);
            }
        }
        let to = t.get("to").map(|n| statuses(ctx, n, &t.path_of("to"), targets)).unwrap_or_default();
        if let Some(keyword) = keyword {
            out.push(CommitTransition { keyword: keyword.to_lowercase(), to });
        }
    }
    out
}

fn keyword_ok(k: &str) -> bool {
    !k.is_empty() && k.len() <= MAX_KEYWORD && k.chars().all(|c| c.is_alphabetic())
}

/// `to: { SYSTEM: STATUS, ... }`, each system a target of the link.
fn statuses(ctx: &mut Ctx, node: &Node, path: &str, targets: &[CommitTarget]) -> BTreeMap<SystemId, String> {
    let mut out = BTreeMap::new();
    let hint = || Some("to: { jira-cloud: Done, ado: Resolved }: a status per target system".to_string());
    let Kind::Map(entries) = &node.kind else {
        ctx.error(node.pos, path, format!("expected a mapping, found {}", node.type_name()), hint());
        return out;
    };
    for (k, v) in entries {
        let Some(Value::Str(system)) = k.scalar() else {
            ctx.error(k.pos, path, format!("a system id must be a string, found {}", k.type_name()), hint());
            continue;
        };
        let p = decode::join(path, system);
        let known: Vec<&str> = targets.iter().map(|t| t.system.as_str()).collect();
        let id = match SystemId::parse(system) {
            Ok(id) if known.contains(&id.as_str()) => id,
            _ => {
                let message = format!("\"{system}\" is not a target of this commit link");
                ctx.error(k.pos, &p, message, Some(format!("targets: {}", known.join(", "))));
                continue;
            }
        };
        if let Some(status) = decode::string(ctx, v, &p) {
            out.insert(id, status);
        }
    }
    if entries.is_empty() {
        ctx.error(node.pos, path, "no status given", hint());
    }
    out
}

#[cfg(test)]
mod tests {
    use ferry_domain::{OnCommit, ScmKind};
    use std::path::Path;

    const SYSTEMS: &str = "\
systems:
  - id: jira
    kind: jira
    base_url: https://acme.atlassian.net
    auth: { kind: basic, username: bot@acme.test, token: { env: JIRA_TOKEN } }
";

    fn load(text: &str) -> Result<crate::ConfigSet, crate::ConfigErrors> {
        crate::load_str("ferry.yaml", &format!("{SYSTEMS}{text}"), Path::new("."))
    }

    #[test]
    fn a_git_repository_and_its_commit_link_load() {
        let set = load(
            "source_control:
  - { id: repo, kind: git, base_url: 'git://127.0.0.1:9418/app.git', allow_http_loopback: true, web_url: 'https://w/{sha}' }
commit_links:
  - id: commits
    source: { system: repo, branches: [main, release/*] }
    targets: [{ system: jira, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }]
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.source_control[0].kind, ScmKind::Git);
        let link = &set.commit_links[0];
        assert_eq!(link.branches, vec!["main", "release/*"]);
        assert_eq!(link.on_commit, vec![OnCommit::Link, OnCommit::Comment], "the default");
        assert_eq!(link.targets[0].key_pattern, r"\b(APP-\d+)\b");
        assert_eq!(link.poll_interval_secs, 60, "the default");
        assert!(link.transitions.is_empty());
    }

    #[test]
    fn transitions_and_a_poll_interval_load() {
        let set = load(
            "source_control:
  - { id: repo, kind: git, base_url: 'https://g/a.git', web_url: 'https://w/{sha}' }
commit_links:
  - id: commits
    source: { system: repo, branches: [main] }
    targets: [{ system: jira, project: APP, key_pattern: '\\b(APP-\\d+)\\b' }]
    poll_interval: 2m
    transitions:
      - { keyword: Fixes, to: { jira: Done } }
      - { keyword: starts, to: { jira: In Progress } }
",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let link = &set.commit_links[0];
        assert_eq!(link.poll_interval_secs, 120);
        let jira = ferry_domain::SystemId::parse("jira").unwrap();
        assert_eq!(
            link.transitions_for(&jira),
            vec![("fixes".to_string(), "Done".to_string()), ("starts".to_string(), "In Progress".to_string())],
            "keywords are kept in lower case, in config order"
        );
    }

    #[test]
    fn the_aws_backend_takes_commit_links_but_no_ca_file_its_functions_cannot_read() {
        let text = format!(
            "{SYSTEMS}source_control:\n  - {{ id: repo, kind: git, base_url: 'https://g/a', web_url: 'https://w/{{sha}}', token: {{ ssm: /ferry/git }} }}\ncommit_links:\n  - id: c\n    source: {{ system: repo, branches: [main] }}\n    targets: [{{ system: jira, project: APP, key_pattern: 'APP-\\d+' }}]\n"
        );
        let set = crate::load_str_for("ferry.yaml", &text, Path::new("."), crate::Target::Aws)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.commit_links.len(), 1);
        let with_file = text.replace("token: { ssm: /ferry/git }", "ca_cert: git-ca.pem");
        let err = crate::load_str_for("ferry.yaml", &with_file, Path::new("."), crate::Target::Aws).err().unwrap();
        assert!(
            err.to_string().contains("\"git-ca.pem\" is a file path, which the AWS backend's functions cannot read"),
            "{err}"
        );
    }

    #[test]
    fn bad_transitions_are_reported_at_their_line() {
        let head = "source_control:\n  - { id: repo, kind: git, base_url: 'https://g/a', web_url: 'https://w/{sha}' }\ncommit_links:\n  - id: c\n    source: { system: repo, branches: [main] }\n    targets: [{ system: jira, project: APP, key_pattern: 'APP-\\d+' }]\n";
        for (rest, expected) in [
            (
                "    transitions: [{ keyword: fixes, to: { ado: Resolved } }]\n",
                "ferry.yaml:12:43: commit_links[0].transitions[0].to.ado: \"ado\" is not a target of this commit link (hint: targets: jira)",
            ),
            (
                "    transitions: [{ keyword: fix-es, to: { jira: Done } }]\n",
                "ferry.yaml:12:30: commit_links[0].transitions[0].keyword: \"fix-es\" is not a keyword: one word of letters, at most 32",
            ),
            (
                "    transitions: [{ keyword: fixes, to: { jira: Done } }, { keyword: FIXES, to: { jira: Done } }]\n",
                "commit_links[0].transitions[1].keyword: duplicate keyword \"FIXES\"",
            ),
            (
                "    on_commit: [link]\n    transitions: [{ keyword: fixes, to: { jira: Done } }]\n",
                "ferry.yaml:13:18: commit_links[0].transitions: transitions need on_commit: comment",
            ),
            (
                "    transitions: [{ keyword: fixes, to: {} }]\n",
                "commit_links[0].transitions[0].to: no status given",
            ),
            ("    poll_interval: 5s\n", "commit_links[0].poll_interval: 5s is out of range (hint: use 10s to 24h)"),
        ] {
            let text = format!("{head}{rest}");
            let err = load(&text).expect_err(&text).to_string();
            assert!(err.contains(expected), "{text}\nexpected {expected}\ngot {err}");
        }
    }

    #[test]
    fn bad_source_control_entries_are_reported_at_their_line() {
        for (text, expected) in [
            (
                "source_control:\n  - { id: repo, kind: git, base_url: 'http://git.acme.test/app.git' }\n",
                "ferry.yaml:7:38: source_control[0].base_url: http:// is refused (only for 127.0.0.1/localhost, in tests)",
            ),
            (
                "source_control:\n  - { id: repo, kind: git, base_url: 'http://127.0.0.1/a.git', allow_http_loopback: true, token: { env: T } }\n",
                "ferry.yaml:7:38: source_control[0].base_url: a token is only sent over https, not http://",
            ),
            (
                "source_control:\n  - { id: repo, kind: svn, base_url: 'https://g/a' }\n",
                "ferry.yaml:7:23: source_control[0].kind: unknown source-control kind \"svn\" (hint: use git)",
            ),
            (
                "source_control:\n  - { id: repo, kind: git, base_url: 'https://g/a' }\ncommit_links:\n  - id: c\n    source: { system: repo, branches: [main] }\n    targets: [{ system: jira, project: APP, key_pattern: '(APP-' }]\n",
                "ferry.yaml:11:58: commit_links[0].targets[0].key_pattern: not a usable key pattern: found open group without closing ')'",
            ),
            (
                "source_control:\n  - { id: repo, kind: git, base_url: 'https://g/a' }\ncommit_links:\n  - id: c\n    source: { system: repo, branches: [main] }\n    targets: [{ system: jira, project: APP, key_pattern: 'APP-\\d+' }]\n",
                "ferry.yaml:10:23: commit_links[0].source.system: on_commit: link needs the web_url of repo",
            ),
            (
                "commit_links:\n  - id: c\n    source: { system: nope, branches: [main] }\n    targets: [{ system: jira, project: APP, key_pattern: 'APP-\\d+' }]\n",
                "ferry.yaml:8:23: commit_links[0].source.system: unknown source-control system \"nope\" (hint: declare it under `source_control:`)",
            ),
            (
                "source_control:\n  - { id: jira, kind: git, base_url: 'https://g/a' }\n",
                "ferry.yaml:7:11: source_control[0]: duplicate system id \"jira\" (hint: it is already declared at ferry.yaml:2)",
            ),
        ] {
            let err = load(text).expect_err(text).to_string();
            assert!(err.contains(expected), "{text}\nexpected {expected}\ngot {err}");
        }
    }
}
