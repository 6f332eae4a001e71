//! `systems:` entries.

use crate::decode::{self, At, Ctx, Obj};
use crate::format::{self, SECRET_HINT};
use crate::yaml::{Kind, Node, Value};
use crate::Target;
use ferry_domain::{AuthConfig, AuthKind, CaCert, SecretRef, SystemConfig, SystemId, SystemKind};
use std::path::Path;

/// A key of a one-of reference (`{ ssm: NAME }`) and what its value names.
type Source<T> = (&'static str, fn(String) -> T);

const CA_CERT_HINT: &str = "give the PEM inline (ca_cert: |, then the -----BEGIN CERTIFICATE----- block) or where it \
     lives: { ssm: /ferry/ca } or { secrets_manager: ferry/ca }";

pub struct SystemDecl {
    pub id: SystemId,
    /// `None` when the entry had errors (they are reported); the id still counts as declared.
    pub system: Option<SystemConfig>,
    /// The `id` value.
    pub at: At,
}

pub fn decode(ctx: &mut Ctx, node: &Node, path: &str, base_dir: &Path, target: Target) -> Option<SystemDecl> {
    let obj = Obj::new(ctx, node, path, &format::SYSTEM)?;
    let before = ctx.error_count();

    let id = obj.get("id").and_then(|n| {
        let s = decode::string(ctx, n, &obj.path_of("id"))?;
        match SystemId::parse(s) {
            Ok(id) => Some((id, n.pos)),
            Err(e) => {
                ctx.error(n.pos, &obj.path_of("id"), e.to_string(), None);
                None
            }
        }
    });
    let kind = obj.enum_of::<SystemKind>(ctx, "kind").ok().flatten().map(|(k, _)| k);
    let allow_http_loopback = obj.opt_bool(ctx, "allow_http_loopback").ok().flatten().unwrap_or(false);
    let base_url = obj.get("base_url").and_then(|n| service_url(ctx, n, &obj.path_of("base_url"), allow_http_loopback));
    let identity_url = match obj.get("identity_url") {
        Some(n) => service_url(ctx, n, &obj.path_of("identity_url"), allow_http_loopback),
        None => None,
    };
    let auth = obj.get("auth").and_then(|n| auth(ctx, n, &obj.path_of("auth"), kind));
    let integration_user = obj.opt_str(ctx, "integration_user").ok().flatten();
    if let Some((user, n)) = integration_user.as_ref().zip(obj.get("integration_user")) {
        if !user.contains('@') {
            ctx.error(
                n.pos,
                &obj.path_of("integration_user"),
                format!("\"{user}\" is not an e-mail address"),
                Some("give the e-mail of the user Ferry writes as".into()),
            );
        }
    }
    if kind == Some(SystemKind::AzureDevops) && integration_user.is_none() {
        ctx.error(
            obj.node.pos,
            &obj.path_of("integration_user"),
            "missing key \"integration_user\" (required for azure_devops)",
            Some("the e-mail of the user the PAT belongs to; its changes are never synced back".into()),
        );
    }
    let proxy = obj.get("proxy").and_then(|n| {
        let p = obj.path_of("proxy");
        let s = decode::string(ctx, n, &p)?;
        match url::Url::parse(&s) {
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                ctx.error(
                    n.pos,
                    &p,
                    "the proxy URL holds credentials; secrets never go in the config",
                    Some("use a proxy that does not need credentials in the URL".into()),
                );
                None
            }
            Ok(u) if matches!(u.scheme(), "http" | "https" | "socks5" | "socks5h") => Some(s),
            Ok(u) => {
                ctx.error(
                    n.pos,
                    &p,
                    format!("unsupported proxy scheme \"{}\"", u.scheme()),
                    Some("use http://, https:// or socks5://".into()),
                );
                None
            }
            Err(e) => {
                ctx.error(n.pos, &p, format!("invalid proxy URL: {e}"), Some("e.g. http://proxy.corp:3128".into()));
                None
            }
        }
    });
    let ca_cert = obj.get("ca_cert").and_then(|n| ca_cert(ctx, n, &obj.path_of("ca_cert"), base_dir, target));
    let webhook = obj.get("webhook").and_then(|n| crate::webhook::decode(ctx, n, &obj.path_of("webhook"), kind));
    let rate_limit = obj.get("rate_limit").and_then(|n| crate::rate_limit::decode(ctx, n, &obj.path_of("rate_limit")));

    let (id, id_pos) = id?;
    let at = ctx.at(id_pos, path);
    let system = (ctx.error_count() == before)
        .then(|| {
            let auth = auth?;
            let integration_user = integration_user.or_else(|| match (&auth, kind) {
                // Jira Cloud's basic-auth user is the user Ferry writes as.
                (AuthConfig::Basic { username, .. }, Some(SystemKind::Jira)) => Some(username.clone()),
                _ => None,
            });
            Some(SystemConfig {
                id: id.clone(),
                kind: kind?,
                base_url: base_url?,
                identity_url,
                auth,
                integration_user,
                proxy,
                ca_cert,
                allow_http_loopback,
                webhook,
                rate_limit,
            })
        })
        .flatten();
    Some(SystemDecl { id, system, at })
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// An https URL, or http to a loopback host when the system allows it.
fn service_url(ctx: &mut Ctx, node: &Node, path: &str, allow_http_loopback: bool) -> Option<String> {
    let s = decode::string(ctx, node, path)?;
    let u = match url::Url::parse(&s) {
        Ok(u) => u,
        Err(e) => {
            ctx.error(
                node.pos,
                path,
                format!("invalid URL: {e}"),
                Some("e.g. https://acme.atlassian.net or https://dev.azure.com/acme".into()),
            );
            return None;
        }
    };
    if !u.username().is_empty() || u.password().is_some() {
        ctx.error(
            node.pos,
            path,
            "the URL holds credentials; secrets never go in the config",
            Some("put the credentials under auth:".into()),
        );
        return None;
    }
    let loopback = u.host().is_some_and(|h| is_loopback(&h));
    match u.scheme() {
        "https" => {}
        "http" if loopback && allow_http_loopback => {}
        "http" if loopback => {
            ctx.error(
                node.pos,
                path,
                "plain http is refused",
                Some("set allow_http_loopback: true (tests and simulators only) or use https".into()),
            );
            return None;
        }
        "http" => {
            ctx.error(
                node.pos,
                path,
                "plain http is refused",
                Some("use https; allow_http_loopback only permits http to 127.0.0.1 or localhost".into()),
            );
            return None;
        }
        other => {
            ctx.error(node.pos, path, format!("unsupported URL scheme \"{other}\""), Some("use https://".into()));
            return None;
        }
    }
    if u.host().is_none() {
        ctx.error(node.pos, path, "the URL has no host", None);
        return None;
    }
    Some(s.trim_end_matches('/').to_string())
}

fn auth(ctx: &mut Ctx, node: &Node, path: &str, system: Option<SystemKind>) -> Option<AuthConfig> {
    let obj = Obj::new(ctx, node, path, &format::AUTH)?;
    let kind = obj.enum_of::<AuthKind>(ctx, "kind").ok().flatten();
    let token = obj.get("token").and_then(|n| secret(ctx, n, &obj.path_of("token")));
    // Given with another kind, `username` was refused by the format's check.
    let username = match kind {
        Some((AuthKind::Basic, _)) => obj.string(ctx, "username"),
        _ => None,
    };
    let (kind, kind_pos) = kind?;
    match (kind, system) {
        (AuthKind::Pat, Some(SystemKind::Jira)) => {
            ctx.error(
                kind_pos,
                &obj.path_of("kind"),
                "Jira Cloud does not take a personal access token",
                Some("use kind: basic with the account e-mail as username and an API token".into()),
            );
            None
        }
        (AuthKind::Basic, Some(SystemKind::AzureDevops)) => {
            ctx.error(
                kind_pos,
                &obj.path_of("kind"),
                "Azure DevOps authenticates with a personal access token",
                Some("use kind: pat".into()),
            );
            None
        }
        (AuthKind::ApiKey, Some(SystemKind::Jira | SystemKind::AzureDevops)) => {
            ctx.error(
                kind_pos,
                &obj.path_of("kind"),
                "an API key header is Redmine's authentication",
                Some("use kind: basic for Jira Cloud or kind: pat for Azure DevOps".into()),
            );
            None
        }
        (AuthKind::Basic | AuthKind::Pat | AuthKind::Bearer, Some(SystemKind::Redmine)) => {
            ctx.error(
                kind_pos,
                &obj.path_of("kind"),
                "Ferry authenticates to Redmine with the integration user's API key",
                Some("use kind: api_key (My account > API access key)".into()),
            );
            None
        }
        (AuthKind::ApiKey, _) => Some(AuthConfig::ApiKey { token: token? }),
        (AuthKind::Basic, _) => Some(AuthConfig::Basic { username: username?, token: token? }),
        (AuthKind::Pat, _) => Some(AuthConfig::Pat { token: token? }),
        (AuthKind::Bearer, _) => Some(AuthConfig::Bearer { token: token? }),
    }
}

/// `{ env: NAME }`, `{ ssm: NAME }` or `{ secrets_manager: NAME }`. The value of a secret
/// given inline is never repeated in a message.
pub(crate) fn secret(ctx: &mut Ctx, node: &Node, path: &str) -> Option<SecretRef> {
    if let Kind::Scalar { .. } = node.kind {
        let msg = match node.scalar() {
            Some(Value::Str(_) | Value::Int(_) | Value::Float(_)) => {
                "a secret is given inline; the config names where a secret lives, never the secret"
            }
            _ => "expected a secret reference",
        };
        ctx.error(node.pos, path, msg, Some(SECRET_HINT.into()));
        return None;
    }
    let obj = Obj::new(ctx, node, path, &format::SECRET)?;
    let sources: [Source<SecretRef>; 3] =
        [("env", SecretRef::Env), ("ssm", SecretRef::Ssm), ("secrets_manager", SecretRef::SecretsManager)];
    let given: Vec<Source<SecretRef>> = sources.into_iter().filter(|(k, _)| obj.has(k)).collect();
    if given.len() != 1 {
        ctx.error(
            node.pos,
            path,
            if given.is_empty() {
                "the secret reference is empty".to_string()
            } else {
                format!("give one of {}, not several", given.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "))
            },
            Some(SECRET_HINT.into()),
        );
        return None;
    }
    let (key, source) = given[0];
    let name = obj.string(ctx, key)?;
    let n = obj.get(key)?;
    if name.chars().any(char::is_whitespace) {
        ctx.error(
            n.pos,
            &obj.path_of(key),
            "a secret name has no spaces; a secret is never written in the config",
            Some(SECRET_HINT.into()),
        );
        return None;
    }
    let valid_env = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if key == "env" && !valid_env {
        ctx.error(
            n.pos,
            &obj.path_of(key),
            "not an environment variable name",
            Some("use letters, digits and _, e.g. JIRA_API_TOKEN".into()),
        );
        return None;
    }
    Some(source(name))
}

/// `ca_cert`: PEM text, `{ ssm: NAME }`, `{ secrets_manager: ID }`, or (embedded backend
/// only) a PEM file's path relative to this file.
pub(crate) fn ca_cert(ctx: &mut Ctx, node: &Node, path: &str, base_dir: &Path, target: Target) -> Option<CaCert> {
    if let Kind::Map(_) = node.kind {
        let obj = Obj::new(ctx, node, path, &format::CA_CERT_REF)?;
        let sources: [Source<CaCert>; 2] = [("ssm", CaCert::Ssm), ("secrets_manager", CaCert::SecretsManager)];
        let given: Vec<Source<CaCert>> = sources.into_iter().filter(|(k, _)| obj.has(k)).collect();
        let [(key, source)] = given[..] else {
            ctx.error(node.pos, path, "give one of ssm or secrets_manager", Some(CA_CERT_HINT.into()));
            return None;
        };
        let name = obj.string(ctx, key)?;
        if name.chars().any(char::is_whitespace) {
            let at = obj.get(key).map_or(node.pos, |n| n.pos);
            ctx.error(at, &obj.path_of(key), "a parameter or secret name has no spaces", Some(CA_CERT_HINT.into()));
            return None;
        }
        return Some(source(name));
    }
    let text = decode::string(ctx, node, path)?;
    if text.starts_with("-----BEGIN") {
        if text.contains("PRIVATE KEY") {
            ctx.error(
                node.pos,
                path,
                "this PEM holds a private key; a secret never goes in the config",
                Some("ca_cert takes only the CA's certificates".into()),
            );
            return None;
        }
        if !(text.contains("-----BEGIN CERTIFICATE-----") && text.contains("-----END CERTIFICATE-----")) {
            ctx.error(node.pos, path, "not a PEM certificate block", Some(CA_CERT_HINT.into()));
            return None;
        }
        return Some(CaCert::Pem(format!("{text}\n")));
    }
    if target == Target::Aws {
        ctx.error(
            node.pos,
            path,
            format!("\"{text}\" is a file path, which the AWS backend's functions cannot read"),
            Some(CA_CERT_HINT.into()),
        );
        return None;
    }
    let full = base_dir.join(&text);
    if !full.is_file() {
        ctx.error(
            node.pos,
            path,
            format!("certificate file \"{text}\" not found"),
            Some(format!("the path is relative to this file: {}", full.display())),
        );
        return None;
    }
    Some(CaCert::File(full.display().to_string()))
}
