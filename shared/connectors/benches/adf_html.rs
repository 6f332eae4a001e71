//! ADF ⇄ HTML conversion speed on a typical bug description (paragraphs with marks,
//! a list, a link, a code block and a table), and HTML → plain text (Redmine's path).
//!
//! `cargo bench -p ferry-connectors --bench adf_html` prints documents/s and MB/s;
//! `cargo test -p ferry-connectors --benches` runs each once.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_connectors::adf::{adf_to_html, html_to_adf};
use ferry_connectors::html;
use std::hint::black_box;

const DESCRIPTION: &str = "<h2>Checkout fails for guest users</h2>\
<p>Steps: <strong>add to cart</strong>, then pay as a <em>guest</em>. See \
<a href=\"https://status.acme.test/incidents/42\">the incident</a> and <code>CheckoutService</code>.</p>\
<ul><li>Chrome 120 on Windows</li><li>Firefox 121 on macOS</li><li>Safari 17 on iOS</li></ul>\
<ol><li>Open the cart</li><li>Choose <strong>Pay as guest</strong></li><li>Submit the form</li></ol>\
<pre><code>POST /api/checkout HTTP/1.1\n500 Internal Server Error</code></pre>\
<table><tbody><tr><th>Browser</th><th>Result</th></tr><tr><td>Chrome</td><td>500</td></tr>\
<tr><td>Firefox</td><td>500</td></tr></tbody></table>\
<p>Expected: the order is placed and a confirmation e-mail is sent.</p>";

fn bench(c: &mut Criterion) {
    let adf = html_to_adf(DESCRIPTION);
    let html = match adf_to_html(&adf) {
        Ok(h) => h,
        Err(e) => panic!("the fixture does not render: {e}"),
    };
    // The canonical form must survive the round trip, or the bench measures a broken path.
    assert_eq!(html_to_adf(&html), adf, "round trip changed the document");

    let mut group = c.benchmark_group("adf");
    group.throughput(Throughput::Bytes(html.len() as u64));
    group.bench_function("adf_to_html (description)", |b| b.iter(|| black_box(adf_to_html(black_box(&adf)))));
    group.bench_function("html_to_adf (description)", |b| b.iter(|| black_box(html_to_adf(black_box(&html)))));
    group.bench_function("html::to_text (description)", |b| b.iter(|| black_box(html::to_text(black_box(&html)))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
