//! A system's `ca_cert` is honoured: a server whose certificate is signed by a private
//! CA is trusted with that CA and refused without it. The fixtures are a throw-away CA
//! (its key was discarded) and a server certificate for 127.0.0.1 / localhost.

use ferry_connectors::http::{Auth, Http, HttpOptions};
use ferry_domain::ErrorCategory;
use reqwest::Method;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CA: &[u8] = include_bytes!("fixtures/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("fixtures/tls/server.key");

/// An https server on 127.0.0.1 answering every request with `{"tls":true}`.
async fn tls_server() -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(SERVER_CERT).collect::<Result<_, _>>().expect("server cert");
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).expect("server key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(sock).await else { return };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = r#"{"tls":true}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

fn client(addr: SocketAddr, ca: Option<&[u8]>) -> Result<Http, ferry_domain::PortError> {
    let opts = HttpOptions { max_attempts: 1, ca_cert_pem: ca.map(<[u8]>::to_vec), ..HttpOptions::default() };
    Http::new("jira j1", &format!("https://{addr}/"), Auth::Bearer(SecretString::from("t".to_string())), opts, |_| None)
}

#[tokio::test]
async fn a_server_signed_by_the_configured_ca_is_trusted() {
    let addr = tls_server().await;
    let http = client(addr, Some(CA)).expect("client");
    let resp = http.send(Method::GET, http.url("rest/api/3/myself").unwrap(), None, None).await.expect("trusted");
    assert_eq!(resp.body, br#"{"tls":true}"#);
}

#[tokio::test]
async fn without_the_ca_the_server_certificate_is_refused() {
    let addr = tls_server().await;
    let http = client(addr, None).expect("client");
    let err = http.send(Method::GET, http.url("rest/api/3/myself").unwrap(), None, None).await.unwrap_err();
    assert_eq!(err.category, ErrorCategory::Network, "{err}");
    assert!(err.message.to_lowercase().contains("certificate"), "the cause is named: {}", err.message);
}

#[test]
fn a_ca_file_without_a_certificate_is_a_config_error() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    for bad in [&b"not a certificate"[..], b"", b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"]
    {
        let err = client(addr, Some(bad)).err().expect("refused");
        assert_eq!(err.category, ErrorCategory::Config, "{err}");
        assert!(err.message.contains("CA certificate"), "{}", err.message);
    }
}
