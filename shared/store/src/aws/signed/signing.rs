//! Signature Version 4, computed by `aws-sigv4` (the crate the SDK clients sign with),
//! in the two styles Ferry's own clients need: S3's ([`SigningStyle::S3`]) and every
//! other service's ([`SigningStyle::Standard`]).

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use std::time::SystemTime;

/// The hex SHA-256 of an empty payload.
#[cfg(test)]
pub(crate) const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// How a service wants its requests signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigningStyle {
    /// S3: the path is encoded once and not normalised, and the payload's SHA-256 is
    /// sent and signed as `x-amz-content-sha256`.
    S3,
    /// Every other service: the path encoded twice and normalised, the payload's hash
    /// signed but not sent.
    Standard,
}

/// Who signs, for which region and service (its signing name: `s3`, `ssm`), in which
/// style, and when.
pub(crate) struct Signer<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
    pub style: SigningStyle,
    pub time: SystemTime,
}

impl Signer<'_> {
    /// The headers that sign a request: `x-amz-date`, `authorization`, in the S3 style
    /// `x-amz-content-sha256` and, with temporary credentials, `x-amz-security-token`.
    /// `headers` are the request's own headers to sign along (never those four);
    /// `payload_sha256` is the lowercase hex SHA-256 of the body. The error names the
    /// problem, never a credential.
    pub(crate) fn headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        payload_sha256: &str,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let mut settings = SigningSettings::default();
        if self.style == SigningStyle::S3 {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let identity: Identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name(self.service)
            .time(self.time)
            .settings(settings)
            .build()
            .map_err(|e| format!("signing parameters are incomplete: {e}"))?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Precomputed(payload_sha256.to_string()),
        )
        .map_err(|e| format!("the request cannot be signed: {e}"))?;
        let (instructions, _signature) =
            sign(request, &params).map_err(|e| format!("signing the request failed: {e}"))?.into_parts();
        let (headers, _params) = instructions.into_parts();
        Ok(headers.into_iter().map(|h| (h.name(), h.value().to_string())).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// The example credentials of the S3 documentation ("Signature Calculations for the
    /// Authorization Header", sig-v4-header-based-auth.html).
    fn s3_docs_credentials() -> Credentials {
        Credentials::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None, None, "docs")
    }

    /// Fri, 24 May 2013 00:00:00 GMT.
    fn may_24_2013() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn header<'a>(signed: &'a [(&'static str, String)], name: &str) -> &'a str {
        signed.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
    }

    struct Vector {
        name: &'static str,
        method: &'static str,
        url: &'static str,
        headers: &'static [(&'static str, &'static str)],
        payload_sha256: &'static str,
        signed_headers: &'static str,
        signature: &'static str,
    }

    /// The four worked examples of the S3 documentation, signed with our settings. The
    /// documentation uses the global host `s3.amazonaws.com`; the address tests show
    /// the same paths and queries built on the regional one.
    #[test]
    fn the_s3_documentation_examples_sign_to_their_published_signatures() {
        let vectors = [
            Vector {
                name: "GET Object",
                method: "GET",
                url: "https://examplebucket.s3.amazonaws.com/test.txt",
                headers: &[("range", "bytes=0-9")],
                payload_sha256: EMPTY_SHA256,
                signed_headers: "host;range;x-amz-content-sha256;x-amz-date",
                signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            },
            Vector {
                name: "PUT Object",
                method: "PUT",
                // The key test$file.text, encoded once.
                url: "https://examplebucket.s3.amazonaws.com/test%24file.text",
                headers: &[("date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
                // SHA-256 of "Welcome to Amazon S3."
                payload_sha256: "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                signed_headers: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            },
            Vector {
                name: "GET Bucket Lifecycle",
                method: "GET",
                url: "https://examplebucket.s3.amazonaws.com/?lifecycle=",
                headers: &[],
                payload_sha256: EMPTY_SHA256,
                signed_headers: "host;x-amz-content-sha256;x-amz-date",
                signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            },
            Vector {
                name: "Get Bucket (List Objects)",
                method: "GET",
                url: "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
                headers: &[],
                payload_sha256: EMPTY_SHA256,
                signed_headers: "host;x-amz-content-sha256;x-amz-date",
                signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            },
        ];
        let credentials = s3_docs_credentials();
        let signer = Signer {
            credentials: &credentials,
            region: "us-east-1",
            service: "s3",
            style: SigningStyle::S3,
            time: may_24_2013(),
        };
        for v in vectors {
            let signed = signer.headers(v.method, v.url, v.headers, v.payload_sha256).expect(v.name);
            let authorization = header(&signed, "authorization");
            assert_eq!(
                authorization,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
                     SignedHeaders={}, Signature={}",
                    v.signed_headers, v.signature
                ),
                "{}",
                v.name
            );
            assert_eq!(header(&signed, "x-amz-date"), "20130524T000000Z", "{}", v.name);
            assert_eq!(header(&signed, "x-amz-content-sha256"), v.payload_sha256, "{}", v.name);
            assert!(signed.iter().all(|(n, _)| *n != "x-amz-security-token"), "{}", v.name);
        }
    }

    /// `post-x-www-form-urlencoded` of the AWS SigV4 test suite (its signed body adds
    /// `x-amz-content-sha256`, as S3 does).
    #[test]
    fn the_sigv4_suite_vector_with_a_signed_body_matches() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "suite");
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let signer = Signer {
            credentials: &credentials,
            region: "us-east-1",
            service: "service",
            style: SigningStyle::S3,
            time,
        };
        let signed = signer
            .headers(
                "POST",
                "https://example.amazonaws.com/",
                &[("content-type", "application/x-www-form-urlencoded"), ("content-length", "13")],
                "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            )
            .unwrap();
        assert_eq!(
            header(&signed, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, \
             Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed_and_the_secret_never_is() {
        let credentials =
            Credentials::new("AKIDEXAMPLE", "very-secret-key", Some("the-session-token".into()), None, "test");
        let signer = Signer {
            credentials: &credentials,
            region: "eu-west-1",
            service: "s3",
            style: SigningStyle::S3,
            time: may_24_2013(),
        };
        let signed = signer.headers("DELETE", "http://127.0.0.1:5000/b-1/k", &[], EMPTY_SHA256).unwrap();
        assert_eq!(header(&signed, "x-amz-security-token"), "the-session-token");
        let authorization = header(&signed, "authorization");
        assert!(authorization.contains("Credential=AKIDEXAMPLE/20130524/eu-west-1/s3/aws4_request"), "{authorization}");
        assert!(authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token"));
        assert!(signed.iter().all(|(_, v)| !v.contains("very-secret-key")));
    }

    #[test]
    fn a_different_secret_key_gives_a_different_signature() {
        let sign = |secret: &str| {
            let credentials = Credentials::new("AKIAIOSFODNN7EXAMPLE", secret, None, None, "test");
            let signer = Signer {
                credentials: &credentials,
                region: "us-east-1",
                service: "s3",
                style: SigningStyle::S3,
                time: may_24_2013(),
            };
            let signed = signer.headers("GET", "https://examplebucket.s3.amazonaws.com/test.txt", &[], EMPTY_SHA256);
            header(&signed.unwrap(), "authorization").to_string()
        };
        assert_ne!(sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), sign("another-secret"));
    }

    /// `post-vanilla` and `get-vanilla-with-session-token` of the AWS SigV4 test suite:
    /// the standard style sends no `x-amz-content-sha256`.
    #[test]
    fn the_standard_style_matches_the_sigv4_suite() {
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let plain = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "suite");
        let signer = Signer {
            credentials: &plain,
            region: "us-east-1",
            service: "service",
            style: SigningStyle::Standard,
            time,
        };
        let signed = signer.headers("POST", "https://example.amazonaws.com/", &[], EMPTY_SHA256).unwrap();
        assert_eq!(
            header(&signed, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert!(signed.iter().all(|(n, _)| *n != "x-amz-content-sha256"), "{signed:?}");
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let temporary =
            Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Some(token.into()), None, "s");
        let signer = Signer { credentials: &temporary, ..signer };
        let signed = signer.headers("GET", "https://example.amazonaws.com/", &[], EMPTY_SHA256).unwrap();
        assert_eq!(header(&signed, "x-amz-security-token"), token);
        assert!(
            header(&signed, "authorization").ends_with(
                "SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
            ),
            "{signed:?}"
        );
    }
}
