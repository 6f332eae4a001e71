//! Is a delivery authentic? Jira admin webhooks carry an HMAC-SHA256 of the raw body,
//! keyed with the webhook's secret, as `X-Hub-Signature: sha256=<hex>`. Azure DevOps
//! service hooks carry the basic-auth credentials and the custom header set on the
//! subscription. Every comparison of a secret runs in constant time.

use super::Rejection;
use crate::model::SystemKind;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The Jira header holding `sha256=<hex digest>`.
pub const JIRA_SIGNATURE_HEADER: &str = "x-hub-signature";

/// A delivery as received: headers (any case) and the raw body, byte for byte.
#[derive(Debug, Clone, Copy)]
pub struct HookRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> HookRequest<'a> {
    /// The first header named `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A hook's resolved secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum HookSecret {
    /// The secret of a Jira admin webhook.
    Jira { secret: Vec<u8> },
    /// What an Azure DevOps subscription sends: basic-auth credentials, a custom header
    /// (`name`, `value`), or both; each one configured must match.
    Ado { basic: Option<(String, String)>, header: Option<(String, String)> },
}

impl std::fmt::Debug for HookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookSecret::Jira { .. } => f.write_str("HookSecret::Jira([redacted])"),
            HookSecret::Ado { basic, header } => write!(
                f,
                "HookSecret::Ado {{ basic: {}, header: {} }}",
                if basic.is_some() { "[redacted]" } else { "none" },
                header.as_ref().map_or("none".to_string(), |(name, _)| format!("{name}: [redacted]")),
            ),
        }
    }
}

/// Verifies `request` as a delivery of a `kind` system with `secret` (`None`: the hook
/// has none configured or resolved, and nothing is accepted).
pub fn verify(kind: SystemKind, secret: Option<&HookSecret>, request: &HookRequest<'_>) -> Result<(), Rejection> {
    match (kind, secret) {
        (SystemKind::Jira, Some(HookSecret::Jira { secret })) if !secret.is_empty() => verify_jira(secret, request),
        (SystemKind::AzureDevops, Some(HookSecret::Ado { basic, header })) if basic.is_some() || header.is_some() => {
            verify_ado(basic.as_ref(), header.as_ref(), request)
        }
        _ => Err(Rejection::MissingSecret),
    }
}

fn verify_jira(secret: &[u8], request: &HookRequest<'_>) -> Result<(), Rejection> {
    let given = request.header(JIRA_SIGNATURE_HEADER).ok_or(Rejection::BadSignature)?;
    let hex = given.trim().strip_prefix("sha256=").ok_or(Rejection::BadSignature)?;
    let given = decode_hex(hex).ok_or(Rejection::BadSignature)?;
    let expected = hmac_sha256(secret, request.body);
    if constant_time_eq(&given, &expected) {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

fn verify_ado(
    basic: Option<&(String, String)>,
    header: Option<&(String, String)>,
    request: &HookRequest<'_>,
) -> Result<(), Rejection> {
    // Both checks run whatever the first answers, so the time taken does not tell which failed.
    let basic_ok = basic.is_none_or(|(user, password)| {
        let given = request.header("authorization").and_then(basic_credentials).unwrap_or_default();
        constant_time_eq(&given, format!("{user}:{password}").as_bytes())
    });
    let header_ok = header.is_none_or(|(name, value)| {
        let given = request.header(name).unwrap_or_default();
        constant_time_eq(given.as_bytes(), value.as_bytes())
    });
    if basic_ok & header_ok {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// `user:password` of an `Authorization: Basic <base64>` value.
fn basic_credentials(value: &str) -> Option<Vec<u8>> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

/// HMAC-SHA256 (RFC 2104) over the SHA-256 the workspace already builds, instead of
/// another crate for twenty lines.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The `X-Hub-Signature` value Jira sends for `body` signed with `secret`.
pub fn jira_signature(secret: &[u8], body: &[u8]) -> String {
    let digest = hmac_sha256(secret, body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Equality whose time depends on the lengths only, not on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_the_rfc_4231_test_vectors() {
        let long_key = [0xaa_u8; 131];
        let cases: [(&[u8], &[u8], &str); 3] = [
            (&[0x0b; 20], b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, expected) in cases {
            assert_eq!(hex(&hmac_sha256(key, message)), expected);
        }
    }

    type Headers = Vec<(String, String)>;
    type Expected = Result<(), Rejection>;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_jira_delivery_is_accepted_only_with_the_signature_of_its_exact_body() {
        let body = br#"{"webhookEvent":"jira:issue_updated"}"#;
        let secret = HookSecret::Jira { secret: b"It's a Secret to Everybody".to_vec() };
        let good = jira_signature(b"It's a Secret to Everybody", body);
        let upper = format!("sha256={}", good.trim_start_matches("sha256=").to_uppercase());
        let other_key = jira_signature(b"another secret", body);
        let other_body = jira_signature(b"It's a Secret to Everybody", b"{}");
        let cases: Vec<(&str, Headers, Expected)> = vec![
            ("right signature", headers(&[("X-Hub-Signature", &good)]), Ok(())),
            ("header name in any case", headers(&[("x-hub-signature", &good)]), Ok(())),
            ("hex digits in upper case", headers(&[("X-Hub-Signature", &upper)]), Ok(())),
            ("no signature", headers(&[]), Err(Rejection::BadSignature)),
            ("another key", headers(&[("X-Hub-Signature", &other_key)]), Err(Rejection::BadSignature)),
            ("another body's signature", headers(&[("X-Hub-Signature", &other_body)]), Err(Rejection::BadSignature)),
            (
                "another algorithm",
                headers(&[("X-Hub-Signature", &good.replace("sha256=", "sha1="))]),
                Err(Rejection::BadSignature),
            ),
            (
                "truncated digest",
                headers(&[("X-Hub-Signature", &good[..good.len() - 2])]),
                Err(Rejection::BadSignature),
            ),
            ("not hex", headers(&[("X-Hub-Signature", "sha256=zz")]), Err(Rejection::BadSignature)),
            ("odd length", headers(&[("X-Hub-Signature", "sha256=abc")]), Err(Rejection::BadSignature)),
        ];
        for (name, headers, expected) in cases {
            let request = HookRequest { headers: &headers, body };
            assert_eq!(verify(SystemKind::Jira, Some(&secret), &request), expected, "{name}");
        }
    }

    #[test]
    fn an_ado_delivery_needs_every_credential_its_subscription_sends() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let basic = Some(("ferry".to_string(), "s3cret".to_string()));
        let header = Some(("X-Ferry-Hook".to_string(), "h3ader".to_string()));
        let good_auth = format!("Basic {}", b64("ferry:s3cret"));
        let both = HookSecret::Ado { basic: basic.clone(), header: header.clone() };
        let only_basic = HookSecret::Ado { basic: basic.clone(), header: None };
        let only_header = HookSecret::Ado { basic: None, header: header.clone() };
        let cases: Vec<(&str, &HookSecret, Headers, Expected)> = vec![
            ("both right", &both, headers(&[("Authorization", &good_auth), ("X-Ferry-Hook", "h3ader")]), Ok(())),
            (
                "scheme in lower case",
                &both,
                headers(&[("authorization", &good_auth.replace("Basic", "basic")), ("x-ferry-hook", "h3ader")]),
                Ok(()),
            ),
            ("header missing", &both, headers(&[("Authorization", &good_auth)]), Err(Rejection::BadSignature)),
            (
                "wrong header value",
                &both,
                headers(&[("Authorization", &good_auth), ("X-Ferry-Hook", "h3adeR")]),
                Err(Rejection::BadSignature),
            ),
            (
                "wrong password",
                &both,
                headers(&[("Authorization", &format!("Basic {}", b64("ferry:s3creT"))), ("X-Ferry-Hook", "h3ader")]),
                Err(Rejection::BadSignature),
            ),
            (
                "bearer instead of basic",
                &only_basic,
                headers(&[("Authorization", &format!("Bearer {}", b64("ferry:s3cret")))]),
                Err(Rejection::BadSignature),
            ),
            ("not base64", &only_basic, headers(&[("Authorization", "Basic !!!")]), Err(Rejection::BadSignature)),
            ("basic alone", &only_basic, headers(&[("Authorization", &good_auth)]), Ok(())),
            ("header alone", &only_header, headers(&[("X-Ferry-Hook", "h3ader")]), Ok(())),
            ("nothing sent", &only_header, headers(&[]), Err(Rejection::BadSignature)),
        ];
        for (name, secret, headers, expected) in cases {
            let request = HookRequest { headers: &headers, body: b"{}" };
            assert_eq!(verify(SystemKind::AzureDevops, Some(secret), &request), expected, "{name}");
        }
    }

    #[test]
    fn nothing_is_accepted_without_a_usable_secret() {
        let body = b"{}";
        let signed = headers(&[("X-Hub-Signature", &jira_signature(b"", body))]);
        let request = HookRequest { headers: &signed, body };
        let empty_jira = HookSecret::Jira { secret: Vec::new() };
        let empty_ado = HookSecret::Ado { basic: None, header: None };
        let jira = HookSecret::Jira { secret: b"k".to_vec() };
        let cases: [(SystemKind, Option<&HookSecret>); 5] = [
            (SystemKind::Jira, None),
            (SystemKind::Jira, Some(&empty_jira)),
            (SystemKind::AzureDevops, Some(&empty_ado)),
            (SystemKind::AzureDevops, Some(&jira)),
            (SystemKind::Redmine, Some(&jira)),
        ];
        for (kind, secret) in cases {
            assert_eq!(verify(kind, secret, &request), Err(Rejection::MissingSecret), "{kind:?} {secret:?}");
        }
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let jira = HookSecret::Jira { secret: b"topsecret".to_vec() };
        let ado = HookSecret::Ado {
            basic: Some(("user".into(), "topsecret".into())),
            header: Some(("X-H".into(), "topsecret".into())),
        };
        for s in [jira, ado] {
            assert!(!format!("{s:?}").contains("topsecret"), "{s:?}");
        }
    }

    #[test]
    fn constant_time_eq_is_plain_equality() {
        for (a, b, eq) in
            [(&b"abc"[..], &b"abc"[..], true), (b"abc", b"abd", false), (b"abc", b"ab", false), (b"", b"", true)]
        {
            assert_eq!(constant_time_eq(a, b), eq);
        }
    }
}
