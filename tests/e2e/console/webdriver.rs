//! A small W3C WebDriver client over reqwest (the suite's HTTP client already): enough to
//! open pages, find elements by CSS, click, type and take screenshots in headless
//! Chromium. The driver is chromedriver at `FERRY_WEBDRIVER_URL` (infra/chromium.sh
//! starts one), or one started here from PATH for this browser, on a loopback port.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    /// A chromedriver this browser started (stopped when it is dropped).
    driver: Option<Child>,
}

impl Browser {
    /// A new headless Chromium session.
    pub async fn start() -> Result<Browser> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let (base, driver) = match std::env::var("FERRY_WEBDRIVER_URL") {
            Ok(url) if !url.is_empty() => (url, None),
            _ => own_driver(&http).await?,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--window-size=1400,900"]}
        }}});
        // Holds a driver started here, so an error below stops it too.
        let mut browser = Browser { http, session: String::new(), driver };
        let reply = browser.http.post(format!("{base}/session")).json(&caps).send().await;
        let v: Value = reply.with_context(|| format!("WebDriver at {base}"))?.json().await?;
        let Some(id) = v["value"]["sessionId"].as_str() else {
            bail!("chromedriver did not open a session: {v}");
        };
        browser.session = format!("{base}/session/{id}");
        Ok(browser)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await?.json().await?;
        if v["value"].get("error").is_some() {
            bail!("WebDriver {path}: {}", v["value"]);
        }
        Ok(v["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await.map(drop)
    }

    pub async fn url(&self) -> Result<String> {
        Ok(self.call(reqwest::Method::GET, "/url", None).await?.as_str().unwrap_or_default().to_string())
    }

    /// The elements matching a CSS selector (none is not an error).
    pub async fn all(&self, css: &str) -> Result<Vec<String>> {
        let v =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await?;
        Ok(v.as_array().into_iter().flatten().filter_map(|e| e[ELEMENT].as_str().map(String::from)).collect())
    }

    /// The one element matching a CSS selector, waiting up to 10 s for it to appear (a
    /// click's navigation may still be loading the page).
    pub async fn find(&self, css: &str) -> Result<String> {
        let mut found = self.all(css).await?;
        for _ in 0..50 {
            if !found.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            found = self.all(css).await?;
        }
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => {
                let source = self.call(reqwest::Method::GET, "/source", None).await.unwrap_or_default();
                let source = source.as_str().unwrap_or_default();
                let text = source.split("<main>").nth(1).unwrap_or(source);
                bail!(
                    "no element matches {css:?} on {}: {}",
                    self.url().await.unwrap_or_default(),
                    &text[..text.len().min(1500)]
                )
            }
            many => bail!("{} elements match {css:?}", many.len()),
        }
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.call(reqwest::Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await.map(drop)
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.call(reqwest::Method::POST, &format!("/element/{el}/value"), Some(json!({"text": text}))).await.map(drop)
    }

    /// Empties a text input or text area.
    pub async fn clear(&self, css: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.call(reqwest::Method::POST, &format!("/element/{el}/clear"), Some(json!({}))).await.map(drop)
    }

    /// A DOM property of the element matching `css` (a text area's `value`, a link's
    /// resolved `href`).
    pub async fn property(&self, css: &str, name: &str) -> Result<String> {
        let el = self.find(css).await?;
        let v = self.call(reqwest::Method::GET, &format!("/element/{el}/property/{name}"), None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// The rendered text of the element matching `css`.
    pub async fn text(&self, css: &str) -> Result<String> {
        let el = self.find(css).await?;
        let v = self.call(reqwest::Method::GET, &format!("/element/{el}/text"), None).await?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Waits up to 10 s for the element matching `css` to show `needle` (the page a
    /// click navigates to may still be loading: the old page's element is not the answer).
    pub async fn wait_text(&self, css: &str, needle: &str) -> Result<String> {
        let mut last = String::new();
        for _ in 0..50 {
            if let Ok(t) = self.text(css).await {
                if t.contains(needle) {
                    return Ok(t);
                }
                last = t;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("{css:?} never showed {needle:?}; last: {last:?}")
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, to: &Path) -> Result<()> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?;
        anyhow::ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(to, png).with_context(|| format!("writing {}", to.display()))
    }

    /// Ends the session (and stops a driver started for it).
    pub async fn quit(mut self) {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        if let Some(mut d) = self.driver.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(d) = self.driver.as_mut() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// Starts chromedriver from PATH on a free loopback port.
async fn own_driver(http: &reqwest::Client) -> Result<(String, Option<Child>)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new("chromedriver")
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("no FERRY_WEBDRIVER_URL and no chromedriver on PATH: run `infra/chromium.sh start` and source infra/.webdriver.env (infra/test.sh does both)")?;
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if http.get(format!("{base}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok((base, Some(child)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("chromedriver did not answer on {base}")
}
