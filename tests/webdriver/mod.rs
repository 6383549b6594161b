//! A small W3C WebDriver client for the browser tests: it starts `chromedriver` on a free
//! loopback port, opens one headless Chromium session with a fresh profile, and offers the few
//! commands the tests need (open a page, find by CSS, type, click, read, screenshot).
//!
//! It speaks the protocol over `reqwest`, which the tests already use, instead of pulling in a
//! WebDriver crate and its async runtime choices for a dozen endpoints.
//!
//! Without Chromium or chromedriver the tests fail and say how to install them; setting
//! `PORTICO_SKIP_BROWSER_TESTS=1` turns that failure into a loud skip.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The browsers running at once: each is a Chromium, and the machine may be small.
static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

fn chromedriver_path() -> PathBuf {
    std::env::var_os("PORTICO_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from)
}

fn chromium_path() -> PathBuf {
    std::env::var_os("PORTICO_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// One headless Chromium, driven through its own chromedriver.
pub struct Chrome {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
    _permit: tokio::sync::SemaphorePermit<'static>,
}

/// The page a test leaves the browser on is saved here, named after the test.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots")
}

impl Chrome {
    /// Starts chromedriver and a headless Chromium at `width` × `height`; `None` (said loudly)
    /// when they are missing and `PORTICO_SKIP_BROWSER_TESTS` is set.
    pub async fn start(width: u32, height: u32) -> Option<Self> {
        let (driver_path, chromium) = (chromedriver_path(), chromium_path());
        if !driver_path.exists() || !chromium.exists() {
            let message = format!(
                "browser tests need {} and {} (Debian: apt-get install chromium chromium-driver)",
                chromium.display(),
                driver_path.display()
            );
            if std::env::var_os("PORTICO_SKIP_BROWSER_TESTS").is_some() {
                eprintln!("SKIPPED (PORTICO_SKIP_BROWSER_TESTS is set): {message}");
                return None;
            }
            panic!("{message}; set PORTICO_SKIP_BROWSER_TESTS=1 to skip them");
        }
        let permit = RUNNING.acquire().await.unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_path.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(90))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(answer) = http.get(format!("{base}/status")).send().await {
                let status: Value = answer.json().await.unwrap_or_default();
                if status["value"]["ready"] == json!(true) {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not become ready on port {port}");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-quic".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:loggingPrefs": { "browser": "ALL" },
                    "goog:chromeOptions": {
                        "binary": chromium.display().to_string(),
                        "args": args,
                    },
                },
            },
        });
        let answer = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap();
        let created: Value = answer.json().await.unwrap();
        let Some(id) = created["value"]["sessionId"].as_str() else {
            panic!("chromedriver refused a session: {created}");
        };
        let chrome = Self {
            http,
            session: format!("{base}/session/{id}"),
            driver,
            _profile: profile,
            _permit: permit,
        };
        // The page area, not the window, is what the screenshots show: size it exactly.
        chrome.fit_viewport(width, height).await;
        Some(chrome)
    }

    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        let value: Value = answer.json().await.unwrap_or_default();
        if status.is_success() {
            Ok(value["value"].clone())
        } else {
            Err(format!(
                "WebDriver {method} {path} failed ({status}): {}",
                value["value"]["message"]
            ))
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|message| panic!("{message}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None).await
    }

    /// Runs `script` in the page and returns what it returns.
    pub async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    async fn fit_viewport(&self, width: u32, height: u32) {
        let inner = self
            .script("return [window.innerWidth, window.innerHeight];")
            .await;
        let rect = self.get("/window/rect").await;
        let dw = rect["width"].as_i64().unwrap() - inner[0].as_i64().unwrap();
        let dh = rect["height"].as_i64().unwrap() - inner[1].as_i64().unwrap();
        self.post(
            "/window/rect",
            json!({ "width": i64::from(width) + dw, "height": i64::from(height) + dh }),
        )
        .await;
    }

    /// Opens `url` and waits for it to load.
    pub async fn open(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The address of the page shown.
    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_owned()
    }

    /// The first element matching `css`, waiting up to 10 seconds for it.
    pub async fn find(&self, css: &str) -> Element<'_> {
        for _ in 0..100 {
            if let Some(found) = self.try_find(css).await {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.text_of_page().await;
        panic!(
            "no element matches {css:?} on {}:\n{text}",
            self.url().await
        );
    }

    /// The first element matching `css`, if there is one now.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let url = format!("{}/element", self.session);
        let answer = self
            .http
            .post(url)
            .json(&json!({ "using": "css selector", "value": css }))
            .send()
            .await
            .unwrap();
        if !answer.status().is_success() {
            return None;
        }
        let value: Value = answer.json().await.unwrap();
        let id = value["value"][ELEMENT].as_str()?.to_owned();
        Some(Element { chrome: self, id })
    }

    /// The element that has the keyboard focus.
    pub async fn focused(&self) -> Element<'_> {
        let value = self.get("/element/active").await;
        Element {
            chrome: self,
            id: value[ELEMENT].as_str().unwrap().to_owned(),
        }
    }

    /// The visible text of the whole page; empty while a new page replaces the old one.
    pub async fn text_of_page(&self) -> String {
        let Some(body) = self.try_find("body").await else {
            return String::new();
        };
        self.try_command(reqwest::Method::GET, &body.path("/text"), None)
            .await
            .ok()
            .and_then(|text| text.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Waits up to 10 seconds for the page to show `needle`, and returns the page's text.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            text = self.text_of_page().await;
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{:?} never showed {needle:?}; it shows:\n{text}",
            self.url().await
        );
    }

    /// Types `text` into the field matching `css`, after clearing it.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await;
        field.type_text(text).await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await;
    }

    /// Saves the page area as a PNG at `path`.
    pub async fn screenshot(&self, path: &Path) {
        let data = self.get("/screenshot").await;
        let bytes = STANDARD.decode(data.as_str().unwrap()).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, bytes).unwrap();
    }

    /// Saves the final page of test `name` under `target/browser-screenshots/`, after checking
    /// that no page of the test broke the Content Security Policy (an inline script or style,
    /// or anything from another host, would show in the browser's log).
    pub async fn save_final(&self, name: &str) {
        self.screenshot(&screenshot_dir().join(format!("{name}.png")))
            .await;
        let log = self.post("/se/log", json!({ "type": "browser" })).await;
        let blocked: Vec<&str> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter(|message| message.contains("Content Security Policy"))
            .collect();
        assert!(blocked.is_empty(), "the CSP blocked: {blocked:?}");
    }

    /// Makes the page area `width` × `height`, as a phone or a desktop would show it.
    pub async fn resize(&self, width: u32, height: u32) {
        self.fit_viewport(width, height).await;
    }

    /// The value of the cookie `name` of the page shown.
    pub async fn cookie_value(&self, name: &str) -> String {
        self.get(&format!("/cookie/{name}")).await["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sets a cookie for the page shown, as if the server had.
    pub async fn add_cookie(&self, name: &str, value: &str) {
        self.post(
            "/cookie",
            json!({ "cookie": { "name": name, "value": value, "path": "/" } }),
        )
        .await;
    }

    /// The cookies this browser holds for the page shown, by name.
    pub async fn cookie_names(&self) -> Vec<String> {
        self.get("/cookie")
            .await
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // Ending the session closes Chromium; then the driver this test started goes too.
        let url = self.session.clone();
        let http = self.http.clone();
        let closed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let _ = http.delete(url).send().await;
                });
            }
        });
        let _ = closed.join();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One element of the page shown.
pub struct Element<'a> {
    chrome: &'a Chrome,
    id: String,
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    pub async fn click(&self) {
        self.chrome.post(&self.path("/click"), json!({})).await;
    }

    pub async fn clear(&self) {
        self.chrome.post(&self.path("/clear"), json!({})).await;
    }

    /// Types `text` as key presses; `"\u{E007}"` is the Enter key.
    pub async fn type_text(&self, text: &str) {
        self.chrome
            .post(&self.path("/value"), json!({ "text": text }))
            .await;
    }

    pub async fn text(&self) -> String {
        self.chrome
            .get(&self.path("/text"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute as written in the page, if it is there.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        self.chrome
            .get(&self.path(&format!("/attribute/{name}")))
            .await
            .as_str()
            .map(str::to_owned)
    }

    /// A DOM property, such as `value` or `naturalWidth`.
    pub async fn property(&self, name: &str) -> Value {
        self.chrome
            .get(&self.path(&format!("/property/{name}")))
            .await
    }

    /// Whether this is the same element as `other`.
    pub fn is(&self, other: &Element<'_>) -> bool {
        self.id == other.id
    }
}

/// The Enter key, for submitting a form from the keyboard.
pub const ENTER: &str = "\u{E007}";
/// The Tab key.
pub const TAB: &str = "\u{E004}";
