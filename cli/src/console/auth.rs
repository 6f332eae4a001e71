//! Who may use the console, and how its actions are kept from other sites.
//!
//! - Listening on a loopback address needs no token; any other address needs one
//!   (`--token-from-env VAR`), or the console refuses to start ([`bind_policy`]).
//! - With a token every request needs it: as `Authorization: Bearer TOKEN` (scripts), or
//!   a session cookie given by the login form (`HttpOnly; SameSite=Strict`). Tokens are
//!   compared in constant time.
//! - Without a token (loopback only) the `Host` header must name a loopback host, so a
//!   web page cannot reach the console through a DNS name rebound to 127.0.0.1.
//! - Every POST (the actions) carries a per-process random form token in a hidden field,
//!   and its `Origin` (or, without one, `Referer`) must be the console's own origin. A
//!   request authenticated by the `Authorization` header is exempt from the origin rule
//!   (a browser never adds that header on another site's behalf).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;

pub const SESSION_COOKIE: &str = "ferry_session";
/// Sessions kept at once; the oldest is forgotten first.
const MAX_SESSIONS: usize = 1000;

/// Whether the console may listen on `addr` with or without a token.
pub fn bind_policy(addr: &SocketAddr, has_token: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || has_token {
        Ok(())
    } else {
        Err(format!(
            "refusing to serve the console on {addr} without a token: anyone who can reach that address could \
             retry, discard and deactivate. Listen on 127.0.0.1, or pass --token-from-env VAR with the token \
             in the variable VAR"
        ))
    }
}

/// Equal bytes, in a time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// A random token (256 bits from the OS generator, as hex).
pub fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Whether `host` (a `Host` header) names this machine's loopback interface.
pub fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a POST came from a page of this console: its `Origin`, else its `Referer`,
/// is `http://HOST` (or starts with it followed by `/`).
pub fn same_origin(host: &str, origin: Option<&str>, referer: Option<&str>) -> bool {
    let own = format!("http://{host}");
    match (origin, referer) {
        (Some(o), _) => o == own,
        (None, Some(r)) => r == own || r.starts_with(&format!("{own}/")),
        (None, None) => false,
    }
}

/// A local path to come back to after an action; anything else goes to `fallback`.
pub fn local_path<'a>(back: &'a str, fallback: &'a str) -> &'a str {
    if back.starts_with('/') && !back.starts_with("//") && !back.contains('\\') {
        back
    } else {
        fallback
    }
}

/// The cookie's value in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The token (if any), the form token, and the sessions given by the login form.
pub struct Auth {
    token: Option<String>,
    pub form_token: String,
    sessions: Mutex<VecDeque<String>>,
}

impl Auth {
    pub fn new(token: Option<String>) -> Auth {
        Auth { token, form_token: random_token(), sessions: Mutex::new(VecDeque::new()) }
    }
    pub fn required(&self) -> bool {
        self.token.is_some()
    }
    pub fn token_matches(&self, given: &str) -> bool {
        self.token.as_deref().is_some_and(|t| constant_time_eq(t.as_bytes(), given.as_bytes()))
    }
    pub fn form_token_matches(&self, given: &str) -> bool {
        constant_time_eq(self.form_token.as_bytes(), given.as_bytes())
    }
    /// Starts a session; its id goes into the cookie.
    pub fn open_session(&self) -> String {
        let id = random_token();
        let mut s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() >= MAX_SESSIONS {
            s.pop_front();
        }
        s.push_back(id.clone());
        id
    }
    pub fn session_valid(&self, id: &str) -> bool {
        let s = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        s.iter().any(|known| constant_time_eq(known.as_bytes(), id.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_may_listen_without_a_token() {
        for (addr, token, ok) in [
            ("127.0.0.1:8088", false, true),
            ("127.0.0.2:8088", false, true),
            ("[::1]:8088", false, true),
            ("0.0.0.0:8088", false, false),
            ("192.168.1.5:8088", false, false),
            ("[::]:8088", false, false),
            ("0.0.0.0:8088", true, true),
        ] {
            let addr: SocketAddr = addr.parse().expect("valid address");
            assert_eq!(bind_policy(&addr, token).is_ok(), ok, "{addr} token={token}");
        }
        let e = bind_policy(&"0.0.0.0:1".parse().expect("valid"), false).expect_err("refused");
        assert!(e.contains("--token-from-env"), "{e}");
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn loopback_hosts_are_recognised_and_rebound_names_are_not() {
        for (host, ok) in [
            ("127.0.0.1:8088", true),
            ("localhost:8088", true),
            ("LOCALHOST", true),
            ("[::1]:8088", true),
            ("127.9.9.9", true),
            ("evil.example:8088", false),
            ("10.0.0.1:8088", false),
            ("", false),
        ] {
            assert_eq!(loopback_host(host), ok, "{host}");
        }
    }

    #[test]
    fn a_post_must_come_from_the_consoles_own_origin() {
        let host = "127.0.0.1:8088";
        assert!(same_origin(host, Some("http://127.0.0.1:8088"), None));
        assert!(!same_origin(host, Some("http://evil.example"), Some("http://127.0.0.1:8088/")));
        assert!(!same_origin(host, Some("null"), None));
        assert!(same_origin(host, None, Some("http://127.0.0.1:8088/failures?page=2")));
        assert!(!same_origin(host, None, Some("http://127.0.0.1:80889/")));
        assert!(!same_origin(host, None, None), "no origin at all is refused");
    }

    #[test]
    fn actions_come_back_only_to_local_paths() {
        for (back, to) in [
            ("/failures?page=2", "/failures?page=2"),
            ("//evil.example/", "/"),
            ("https://evil.example/", "/"),
            ("/\\evil", "/"),
            ("", "/"),
        ] {
            assert_eq!(local_path(back, "/"), to, "{back}");
        }
    }

    #[test]
    fn sessions_are_known_until_pushed_out_and_cookies_are_found_by_name() {
        let auth = Auth::new(Some("t".into()));
        let first = auth.open_session();
        assert!(auth.session_valid(&first));
        assert!(!auth.session_valid("forged"));
        for _ in 0..MAX_SESSIONS {
            auth.open_session();
        }
        assert!(!auth.session_valid(&first), "the oldest session is forgotten");
        assert_eq!(cookie("a=1; ferry_session=xyz; b=2", SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie("a=1", SESSION_COOKIE), None);
    }

    #[test]
    fn the_token_matches_only_itself_and_none_is_required_without_one() {
        let auth = Auth::new(Some("s3cret".into()));
        assert!(auth.required() && auth.token_matches("s3cret") && !auth.token_matches("s3cre"));
        let open = Auth::new(None);
        assert!(!open.required() && !open.token_matches(""));
        assert!(open.form_token_matches(&open.form_token.clone()) && !open.form_token_matches("x"));
    }
}
