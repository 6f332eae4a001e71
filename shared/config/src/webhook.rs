//! `webhook:` of a system: where the secrets live that prove a delivery authentic. Each
//! kind of system takes its own way of proving it; Redmine sends no webhooks.

use crate::decode::{Ctx, Obj};
use crate::format;
use crate::systems::secret;
use crate::yaml::Node;
use ferry_domain::webhook::{HookBasic, HookConfig, HookHeader};
use ferry_domain::SystemKind;

const JIRA_HINT: &str =
    "Jira signs deliveries with the webhook's secret: webhook: { secret: { env: JIRA_WEBHOOK_SECRET } }";
const ADO_HINT: &str = "Azure DevOps service hooks send basic-auth credentials and/or a custom header: \
     webhook: { basic: { username: ferry, password: { env: ADO_HOOK_PASSWORD } } } or \
     webhook: { header: { name: X-Ferry-Hook, value: { env: ADO_HOOK_TOKEN } } }";

/// Decodes `webhook:` of a system of `kind` (`None`: the kind had errors; its keys are
/// still checked for shape).
pub fn decode(ctx: &mut Ctx, node: &Node, path: &str, kind: Option<SystemKind>) -> Option<HookConfig> {
    let obj = Obj::new(ctx, node, path, &format::WEBHOOK)?;
    let before = ctx.error_count();
    let secret_ref = obj.get("secret").and_then(|n| secret(ctx, n, &obj.path_of("secret")));
    let basic = obj.get("basic").and_then(|n| basic(ctx, n, &obj.path_of("basic")));
    let header = obj.get("header").and_then(|n| header(ctx, n, &obj.path_of("header")));
    if ctx.error_count() != before {
        return None;
    }
    match kind? {
        SystemKind::Jira => {
            for key in ["basic", "header"] {
                if let Some(n) = obj.get(key) {
                    ctx.error(n.pos, &obj.path_of(key), "Jira webhooks carry no credentials", Some(JIRA_HINT.into()));
                }
            }
            if secret_ref.is_none() {
                ctx.error(
                    node.pos,
                    &obj.path_of("secret"),
                    "missing key \"secret\" (required for jira)",
                    Some(JIRA_HINT.into()),
                );
            }
        }
        SystemKind::AzureDevops => {
            if let Some(n) = obj.get("secret") {
                ctx.error(
                    n.pos,
                    &obj.path_of("secret"),
                    "Azure DevOps service hooks are not signed",
                    Some(ADO_HINT.into()),
                );
            }
            if basic.is_none() && header.is_none() {
                ctx.error(
                    node.pos,
                    path,
                    "give basic, header or both (required for azure_devops)",
                    Some(ADO_HINT.into()),
                );
            }
        }
        SystemKind::Redmine => {
            ctx.error(node.pos, path, "Redmine sends no webhooks", Some("remove webhook:; Ferry polls Redmine".into()))
        }
    }
    (ctx.error_count() == before).then_some(HookConfig { secret: secret_ref, basic, header })
}

fn basic(ctx: &mut Ctx, node: &Node, path: &str) -> Option<HookBasic> {
    let obj = Obj::new(ctx, node, path, &format::WEBHOOK_BASIC)?;
    let username = obj.string(ctx, "username");
    if let Some((user, n)) = username.as_ref().zip(obj.get("username")) {
        if user.contains(':') {
            ctx.error(n.pos, &obj.path_of("username"), "a basic-auth user name has no ':'", None);
            return None;
        }
    }
    let password = obj.get("password").and_then(|n| secret(ctx, n, &obj.path_of("password")));
    Some(HookBasic { username: username?, password: password? })
}

fn header(ctx: &mut Ctx, node: &Node, path: &str) -> Option<HookHeader> {
    let obj = Obj::new(ctx, node, path, &format::WEBHOOK_HEADER)?;
    let name = obj.string(ctx, "name");
    if let Some((name, n)) = name.as_ref().zip(obj.get("name")) {
        let token = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            ctx.error(
                n.pos,
                &obj.path_of("name"),
                format!("\"{name}\" is not an HTTP header name"),
                Some("e.g. X-Ferry-Hook".into()),
            );
            return None;
        }
        if name.eq_ignore_ascii_case("authorization") {
            ctx.error(
                n.pos,
                &obj.path_of("name"),
                "Authorization carries the basic-auth credentials",
                Some("use basic: for those, and another name here, e.g. X-Ferry-Hook".into()),
            );
            return None;
        }
    }
    let value = obj.get("value").and_then(|n| secret(ctx, n, &obj.path_of("value")));
    Some(HookHeader { name: name?, value: value? })
}

#[cfg(test)]
mod tests {
    use crate::{load_str, ConfigErrors, ConfigSet};
    use ferry_domain::webhook::{HookBasic, HookConfig, HookHeader};
    use ferry_domain::SecretRef;

    const SYSTEMS: &str = "\
systems:
  - id: jira
    kind: jira
    base_url: https://acme.atlassian.net
    auth: { kind: basic, username: bot@acme.test, token: { env: JIRA_TOKEN } }
  - id: ado
    kind: azure_devops
    base_url: https://dev.azure.com/acme
    auth: { kind: pat, token: { ssm: /ferry/ado } }
    integration_user: bot@acme.test
  - id: rm
    kind: redmine
    base_url: https://redmine.acme.test
    auth: { kind: api_key, token: { env: RM_KEY } }
    integration_user: bot@acme.test
";

    /// SYSTEMS with `line` (indented as a key of the system) after the auth of system `index`.
    fn with(index: usize, line: &str) -> Result<ConfigSet, ConfigErrors> {
        let mut lines: Vec<String> = SYSTEMS.lines().map(str::to_string).collect();
        let auth = lines.iter().enumerate().filter(|(_, l)| l.contains("auth:")).nth(index).unwrap().0;
        lines.insert(auth + 1, format!("    {line}"));
        load_str("t.yaml", &lines.join("\n"), std::path::Path::new("."))
    }

    #[test]
    fn a_jira_webhook_takes_a_secret_and_an_ado_one_basic_credentials_and_or_a_header() {
        let jira = with(0, "webhook: { secret: { ssm: /ferry/jira-hook } }").unwrap_or_else(|e| panic!("{e}"));
        let want = HookConfig { secret: Some(SecretRef::Ssm("/ferry/jira-hook".into())), basic: None, header: None };
        assert_eq!(jira.systems[0].webhook, Some(want));
        assert_eq!(jira.systems[1].webhook, None, "no webhook: unless configured");

        let ado = with(
            1,
            "webhook: { basic: { username: ferry, password: { env: HOOK_PW } }, \
             header: { name: X-Ferry-Hook, value: { secrets_manager: ferry/hook } } }",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let want = HookConfig {
            secret: None,
            basic: Some(HookBasic { username: "ferry".into(), password: SecretRef::Env("HOOK_PW".into()) }),
            header: Some(HookHeader {
                name: "X-Ferry-Hook".into(),
                value: SecretRef::SecretsManager("ferry/hook".into()),
            }),
        };
        assert_eq!(ado.systems[1].webhook, Some(want));
        let header_only = with(1, "webhook: { header: { name: X-Hook, value: { env: V } } }").unwrap();
        assert!(header_only.systems[1].webhook.as_ref().is_some_and(|w| w.basic.is_none() && w.header.is_some()));
    }

    #[test]
    fn a_wrong_or_inline_webhook_secret_is_reported_at_its_line_and_key() {
        // (system index, the webhook line, line, key path, message fragment)
        let cases = [
            (0, "webhook: { secret: hunter2 }", 6, "systems[0].webhook.secret", "inline"),
            (0, "webhook: {}", 6, "systems[0].webhook.secret", "missing key \"secret\""),
            (
                0,
                "webhook: { secret: { env: S }, header: { name: X-H, value: { env: V } } }",
                6,
                "systems[0].webhook.header",
                "no credentials",
            ),
            (1, "webhook: { secret: { env: S } }", 10, "systems[1].webhook.secret", "not signed"),
            (1, "webhook: {}", 10, "systems[1].webhook", "basic, header or both"),
            (
                1,
                "webhook: { basic: { username: ferry, password: s3cret } }",
                10,
                "systems[1].webhook.basic.password",
                "inline",
            ),
            (1, "webhook: { basic: { password: { env: P } } }", 10, "systems[1].webhook.basic.username", "missing"),
            (
                1,
                "webhook: { header: { name: 'X Hook', value: { env: V } } }",
                10,
                "systems[1].webhook.header.name",
                "not an HTTP header name",
            ),
            (
                1,
                "webhook: { header: { name: Authorization, value: { env: V } } }",
                10,
                "systems[1].webhook.header.name",
                "basic-auth",
            ),
            (1, "webhook: { sekret: { env: S } }", 10, "systems[1].webhook.sekret", "unknown key"),
            (2, "webhook: { secret: { env: S } }", 15, "systems[2].webhook", "Redmine sends no webhooks"),
        ];
        for (index, line, at, path, fragment) in cases {
            let errs = with(index, line).expect_err(line).0;
            let found =
                errs.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("{line}: no error at {path}: {errs:?}"));
            assert_eq!(found.line, Some(at), "{line}: {found}");
            assert!(found.message.contains(fragment), "{line}: {found}");
            assert!(!found.to_string().contains("hunter2") && !found.to_string().contains("s3cret"), "{found}");
        }
    }
}
