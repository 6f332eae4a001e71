//! Where an S3 request goes: the endpoint of a region (or the configured one) and the
//! URL of a bucket or object on it.
//!
//! AWS endpoints are addressed virtual-hosted style (`https://{bucket}.s3.{region}.amazonaws.com/{key}`),
//! as the SDK does, except for bucket names that are not one DNS label (dots would break
//! the certificate match), which go path-style. A configured endpoint (`AWS_ENDPOINT_URL[_S3]`:
//! an emulator or an S3-compatible store, where `bucket.host` names resolve nowhere) is
//! always addressed path-style: `{endpoint}/{bucket}/{key}`.

/// The base of every request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `https` or `http`.
    scheme: String,
    /// Host and optional port.
    authority: String,
    /// A path prefix of a configured endpoint, without a trailing slash (usually empty).
    base_path: String,
    /// Every bucket path-style (a configured endpoint).
    path_style: bool,
    /// The region requests are signed for.
    region: String,
}

/// A problem with the region, the endpoint, the bucket name or the key.
pub(crate) type AddressError = String;

impl Endpoint {
    /// The endpoint for `region`, or `configured` (an endpoint URL) when one is set.
    pub(crate) fn resolve(
        region: Option<&str>,
        configured: Option<&str>,
        fips: bool,
        dual_stack: bool,
    ) -> Result<Self, AddressError> {
        let region = super::super::signed::region_name(region)?;
        if let Some(url) = configured.map(str::trim).filter(|u| !u.is_empty()) {
            return configured_endpoint(url, region);
        }
        let fips = if fips { "-fips" } else { "" };
        let dual_stack = if dual_stack { ".dualstack" } else { "" };
        let authority = format!("s3{fips}{dual_stack}.{region}.{}", dns_suffix(&region));
        Ok(Self { scheme: "https".into(), authority, base_path: String::new(), path_style: false, region })
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The URL of `key` in `bucket` (of the bucket itself when `key` is empty), with
    /// `query` appended. The key is percent-encoded once, as S3 signs it.
    pub(crate) fn url(&self, bucket: &str, key: &str, query: &[(&str, &str)]) -> Result<String, AddressError> {
        check_bucket(bucket)?;
        check_key(key)?;
        let key = encode(key, false);
        let Self { scheme, authority, base_path, .. } = self;
        let mut url = if self.path_style || !virtual_hostable(bucket) {
            let bucket = encode(bucket, true);
            match key.is_empty() {
                true => format!("{scheme}://{authority}{base_path}/{bucket}"),
                false => format!("{scheme}://{authority}{base_path}/{bucket}/{key}"),
            }
        } else {
            format!("{scheme}://{bucket}.{authority}{base_path}/{key}")
        };
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode(name, true));
            url.push('=');
            url.push_str(&encode(value, true));
        }
        Ok(url)
    }
}

fn configured_endpoint(url: &str, region: String) -> Result<Endpoint, AddressError> {
    let bad = |why: &str| format!("the S3 endpoint {url:?} (AWS_ENDPOINT_URL[_S3]) is not usable: {why}");
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("it has no http:// or https://"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(bad("only http and https are supported"));
    }
    if rest.contains(['?', '#', '@']) {
        return Err(bad("it may not carry a query, a fragment or user information"));
    }
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    if authority.is_empty() {
        return Err(bad("it names no host"));
    }
    let path = path.trim_end_matches('/');
    let base_path = if path.is_empty() { String::new() } else { format!("/{path}") };
    Ok(Endpoint { scheme, authority: authority.to_string(), base_path, path_style: true, region })
}

/// The DNS suffix of a region's partition (China's regions have their own).
fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Whether `bucket` can be the first label of a host name under TLS: one DNS label of
/// 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen
/// (a name with dots would not match the endpoint's wildcard certificate).
fn virtual_hostable(bucket: &str) -> bool {
    let bytes = bucket.as_bytes();
    (3..=63).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// Bucket names (S3's rules, with the legacy uppercase and underscores of old
/// us-east-1 buckets): 3 to 255 characters of letters, digits, `.`, `-` and `_`.
fn check_bucket(bucket: &str) -> Result<(), AddressError> {
    let ok = (3..=255).contains(&bucket.len())
        && bucket.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(format!("{bucket:?} is not an S3 bucket name"))
    }
}

/// Keys are at most 1024 bytes; `.` and `..` segments are refused because URL parsers
/// resolve them away and the request would name another key than the one signed.
fn check_key(key: &str) -> Result<(), AddressError> {
    if key.len() > 1024 {
        return Err(format!("an S3 key is at most 1024 bytes; this one has {}", key.len()));
    }
    if key.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(format!("the S3 key {key:?} has a '.' or '..' segment"));
    }
    Ok(())
}

/// SigV4's URI encoding: every byte except the unreserved `A-Z a-z 0-9 - _ . ~` as
/// `%XX`; `/` kept as is in a key path unless `slash` says to encode it too.
pub(crate) fn encode(text: &str, slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if !slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_urls_follow_the_region_and_the_bucket_name() {
        let table = [
            // region, FIPS, dual stack, bucket, URL of key "k"
            ("eu-west-1", false, false, "ferry-payloads", "https://ferry-payloads.s3.eu-west-1.amazonaws.com/k"),
            ("us-east-1", false, false, "ferry-payloads", "https://ferry-payloads.s3.us-east-1.amazonaws.com/k"),
            ("cn-north-1", false, false, "ferry-payloads", "https://ferry-payloads.s3.cn-north-1.amazonaws.com.cn/k"),
            ("us-gov-west-1", true, false, "payloads", "https://payloads.s3-fips.us-gov-west-1.amazonaws.com/k"),
            ("us-east-2", false, true, "payloads", "https://payloads.s3.dualstack.us-east-2.amazonaws.com/k"),
            ("us-east-2", true, true, "payloads", "https://payloads.s3-fips.dualstack.us-east-2.amazonaws.com/k"),
            // Dots would break the certificate match, and uppercase is no host name: path-style.
            ("eu-west-1", false, false, "ferry.payloads", "https://s3.eu-west-1.amazonaws.com/ferry.payloads/k"),
            ("us-east-1", false, false, "Legacy_Bucket", "https://s3.us-east-1.amazonaws.com/Legacy_Bucket/k"),
        ];
        for (region, fips, dual_stack, bucket, want) in table {
            let endpoint = Endpoint::resolve(Some(region), None, fips, dual_stack).expect("endpoint");
            assert_eq!(endpoint.url(bucket, "k", &[]).expect("url"), want, "{region} {bucket}");
        }
        let endpoint = Endpoint::resolve(Some("eu-west-1"), None, false, false).unwrap();
        assert_eq!(endpoint.url("payloads", "", &[]).unwrap(), "https://payloads.s3.eu-west-1.amazonaws.com/");
    }

    #[test]
    fn a_configured_endpoint_is_addressed_path_style() {
        let table = [
            // endpoint, bucket, key, URL
            ("http://127.0.0.1:5000", "ferry-payloads", "a/b.json", "http://127.0.0.1:5000/ferry-payloads/a/b.json"),
            // Its path kept, a trailing slash not doubled; FIPS and dual stack do not apply.
            ("https://store.example:9000/s3/", "payloads", "k", "https://store.example:9000/s3/payloads/k"),
            // The bucket itself.
            ("http://127.0.0.1:5000/", "ferry-payloads", "", "http://127.0.0.1:5000/ferry-payloads"),
        ];
        for (configured, bucket, key, want) in table {
            let endpoint = Endpoint::resolve(Some("us-east-1"), Some(configured), true, true).expect("endpoint");
            assert_eq!(endpoint.url(bucket, key, &[]).expect("url"), want, "{configured} {bucket} {key}");
        }
    }

    #[test]
    fn keys_and_query_values_are_encoded_once() {
        let endpoint = Endpoint::resolve(Some("us-east-1"), Some("http://127.0.0.1:5000"), false, false).unwrap();
        let table = [
            ("test$file.text", &[][..], "http://127.0.0.1:5000/b-1/test%24file.text"),
            ("a b/ü+%.json", &[][..], "http://127.0.0.1:5000/b-1/a%20b/%C3%BC%2B%25.json"),
            ("x~y_z-1.json", &[][..], "http://127.0.0.1:5000/b-1/x~y_z-1.json"),
            (
                "",
                &[("list-type", "2"), ("prefix", "failures/f 1/")][..],
                "http://127.0.0.1:5000/b-1?list-type=2&prefix=failures%2Ff%201%2F",
            ),
        ];
        for (key, query, want) in table {
            assert_eq!(endpoint.url("b-1", key, query).expect("url"), want, "{key:?}");
        }
        // The requests of the S3 documentation's signing examples (see signing.rs).
        let aws = Endpoint::resolve(Some("us-east-1"), None, false, false).unwrap();
        let table = [
            ("test$file.text", &[][..], "https://examplebucket.s3.us-east-1.amazonaws.com/test%24file.text"),
            ("", &[("lifecycle", "")][..], "https://examplebucket.s3.us-east-1.amazonaws.com/?lifecycle="),
            (
                "",
                &[("max-keys", "2"), ("prefix", "J")][..],
                "https://examplebucket.s3.us-east-1.amazonaws.com/?max-keys=2&prefix=J",
            ),
        ];
        for (key, query, want) in table {
            assert_eq!(aws.url("examplebucket", key, query).expect("url"), want, "{key:?}");
        }
    }

    #[test]
    fn unusable_regions_endpoints_buckets_and_keys_are_named() {
        let resolve = |region, configured| Endpoint::resolve(region, configured, false, false);
        let table = [
            (resolve(None, None).map(|_| ()), "AWS_REGION"),
            (resolve(Some("  "), Some("http://127.0.0.1:1")).map(|_| ()), "AWS_REGION"),
            (resolve(Some("eu-west-1.evil.example/"), None).map(|_| ()), "not a region name"),
            (resolve(Some("us-east-1"), Some("127.0.0.1:5000")).map(|_| ()), "no http://"),
            (resolve(Some("us-east-1"), Some("ftp://host")).map(|_| ()), "only http and https"),
            (resolve(Some("us-east-1"), Some("http://user:pw@host")).map(|_| ()), "user information"),
            (resolve(Some("us-east-1"), Some("http:///path")).map(|_| ()), "no host"),
        ];
        for (got, want) in table {
            let err = got.expect_err(want);
            assert!(err.contains(want), "{err} does not say {want}");
        }
        let endpoint = resolve(Some("us-east-1"), None).unwrap();
        for (bucket, key, want) in [
            ("ab", "k", "bucket name"),
            ("a/b", "k", "bucket name"),
            ("bucket", "a/../b", "'..' segment"),
            ("bucket", "./b", "'.' or '..'"),
        ] {
            let err = endpoint.url(bucket, key, &[]).expect_err(want);
            assert!(err.contains(want), "{err} does not say {want}");
        }
        assert!(endpoint.url("bucket", &"k".repeat(1025), &[]).unwrap_err().contains("1024"));
    }
}
