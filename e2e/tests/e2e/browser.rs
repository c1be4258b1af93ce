//! Headless Chromium driven over WebDriver, for tests that use the web app as a person would.
//!
//! Each [`Browser`] starts its own `chromedriver` (on a free port) and one Chromium session with a
//! fresh profile; dropping it closes the session and stops the driver, also when a test panics.
//! Every helper waits by polling against a deadline and panics with a message describing the page,
//! so a test reads as steps and never hangs:
//!
//! ```ignore
//! let server = server::start();
//! let browser = Browser::launch(&server.url, Viewport::DESKTOP).await;
//! browser.goto("/").await;
//! browser.fill("tenant", "localhost").await;
//! browser.fill("email", "admin@localhost").await;
//! browser.fill("password", "admin123").await;
//! browser.click_button("Sign in").await;
//! browser.wait_for_text("Prompts").await;
//! browser.assert_accessible().await;
//! browser.screenshot("library").await;
//! ```

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long the waiting helpers (`wait_for*`, `fill`, `click*`) poll before they fail.
pub const WAIT: Duration = Duration::from_secs(15);
/// The bound on any single WebDriver command (navigation, script, screenshot, new session).
const COMMAND: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// axe-core, vendored with its licence and version note in `e2e/vendor/`.
const AXE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/vendor/axe.min.js"));

/// Where [`Browser::screenshot`] writes `<name>.png`; unset, screenshots are skipped.
pub const SCREENSHOT_DIR: &str = "E2E_SCREENSHOT_DIR";

/// The page's viewport in CSS pixels. Chromium will not make a window narrower than 500 px, so
/// narrower (phone) viewports are emulated with ChromeDriver's `mobileEmulation`, as a phone
/// would render the page (`<meta name=viewport>` applies, touch events are on).
#[derive(Clone, Copy, Debug)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
}

impl Viewport {
    /// A small phone (iPhone SE/mini width): the narrowest screen the app must work on.
    pub const PHONE: Self = Self { width: 375, height: 812 };
    pub const DESKTOP: Self = Self { width: 1280, height: 800 };

    fn is_phone(self) -> bool {
        self.width < 500
    }
}

/// axe-core's impact levels, least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    Minor,
    Moderate,
    Serious,
    Critical,
}

impl Impact {
    fn parse(impact: &str) -> Self {
        match impact {
            "critical" => Self::Critical,
            "serious" => Self::Serious,
            "moderate" => Self::Moderate,
            _ => Self::Minor,
        }
    }
}

/// One failed axe-core rule and the elements that fail it.
#[derive(Clone, Debug)]
pub struct Violation {
    pub id: String,
    pub impact: Impact,
    pub help: String,
    pub help_url: String,
    /// CSS selectors of the failing elements.
    pub targets: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}: {} ({})", self.impact, self.id, self.help, self.help_url)?;
        for target in &self.targets {
            write!(f, "\n    at {target}")?;
        }
        Ok(())
    }
}

/// A `chromedriver` child process on a free loopback port, killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Chromedriver {
    /// Starts the driver and waits (polling `/status`) until it accepts sessions. A port taken
    /// between choosing and binding makes it exit; then it is tried again on another port.
    async fn start(dir: &Path) -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} or {CHROMIUM} is missing: `cargo xtask test` installs them \
             (Debian's chromium and chromium-driver)"
        );
        let mut failures = Vec::new();
        for attempt in 1..=3 {
            let port = free_port();
            let log = dir.join(format!("chromedriver-{attempt}.log"));
            let out = File::create(&log).unwrap();
            let child = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
            let mut driver = Self { child, port, log };
            match driver.wait_until_ready().await {
                Ok(()) => return driver,
                Err(why) => failures.push(format!("port {port}: {why}\n{}", driver.log_text())),
            }
        }
        panic!("chromedriver did not start:\n{}", failures.join("\n"));
    }

    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let status = format!("{}/status", self.url());
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return Err(format!("exited with {exit}"));
            }
            match http.get(&status).send().await {
                Ok(response) => match response.json::<Value>().await {
                    Ok(body) if body["value"]["ready"] == true => return Ok(()),
                    Ok(body) => last = body.to_string(),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("/status did not report ready within 20 s (last: {last})"))
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Ends a session without the async client, so it also works while a test unwinds: the
    /// driver quits Chromium before it answers.
    fn delete_session(&self, session: &str) -> std::io::Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(
            stream,
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n",
            self.port
        )?;
        // chromedriver keeps the connection open: read the head, then Content-Length bytes.
        let mut answer = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let read = stream.read(&mut chunk)?;
            answer.extend_from_slice(&chunk[..read]);
            let text = String::from_utf8_lossy(&answer);
            let complete = text.split_once("\r\n\r\n").is_some_and(|(head, body)| {
                let length = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
                });
                length.is_some_and(|length| body.len() >= length)
            });
            if read == 0 || complete {
                break;
            }
        }
        let text = String::from_utf8_lossy(&answer);
        if text.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(format!("chromedriver answered: {text}")))
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// One headless Chromium session pointed at the app under test. Fields drop in order: the
/// client, then the driver (after `Drop` has closed the session), then the profile directory.
pub struct Browser {
    client: Client,
    session: String,
    base_url: String,
    wait: Duration,
    driver: Chromedriver,
    _dir: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Err(e) = self.driver.delete_session(&self.session) {
            eprintln!("could not close the Chromium session {}: {e}", self.session);
        }
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, the window sized to
    /// `viewport`. `base_url` is the server (`http://127.0.0.1:PORT`) that [`goto`](Self::goto)
    /// paths are relative to.
    pub async fn launch(base_url: &str, viewport: Viewport) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("profile");
        let driver = Chromedriver::start(dir.path()).await;
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", viewport.width, viewport.height),
        ];
        let mut chrome = json!({ "binary": CHROMIUM, "args": args });
        if viewport.is_phone() {
            chrome["mobileEmulation"] = json!({
                "deviceMetrics": { "width": viewport.width, "height": viewport.height, "pixelRatio": 1.0 },
            });
        }
        let capabilities = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
            "goog:chromeOptions": chrome,
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let capabilities: Capabilities = capabilities;
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let url = driver.url();
        let client = match tokio::time::timeout(COMMAND, builder.connect(&url)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("Chromium did not start: {e}\n{}", driver.log_text()),
            Err(_) => panic!("Chromium did not start within {COMMAND:?}\n{}", driver.log_text()),
        };
        let session = client.session_id().await.unwrap().expect("a W3C session has an id");
        let browser = Self {
            client,
            session,
            base_url: base_url.trim_end_matches('/').to_owned(),
            wait: WAIT,
            driver,
            _dir: dir,
        };
        if !viewport.is_phone() {
            browser.fit_window(viewport).await;
        }
        browser
    }

    /// `--window-size` sizes the whole window; grow it by the difference so the page gets
    /// exactly `viewport`.
    async fn fit_window(&self, viewport: Viewport) {
        let inner = self.execute("return [window.innerWidth, window.innerHeight];", vec![]).await;
        let (outer_width, outer_height) =
            bounded("reading the window size", self.client.get_window_size()).await;
        let frame_width = outer_width.saturating_sub(inner[0].as_u64().unwrap_or(outer_width));
        let frame_height = outer_height.saturating_sub(inner[1].as_u64().unwrap_or(outer_height));
        let width = u64::from(viewport.width) + frame_width;
        let height = u64::from(viewport.height) + frame_height;
        let resize =
            self.client.set_window_size(u32::try_from(width).unwrap(), u32::try_from(height).unwrap());
        bounded("resizing the window", resize).await;
    }

    /// The underlying WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Changes how long the waiting helpers poll before they fail (default [`WAIT`]).
    pub fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// Loads `path` (e.g. `/prompts?q=x`) of the app under test and waits for the page's load event.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base_url);
        bounded(&format!("navigating to {url}"), self.client.goto(&url)).await;
    }

    /// The current URL's path, e.g. `/prompts`.
    pub async fn path(&self) -> String {
        bounded("reading the URL", self.client.current_url()).await.path().to_owned()
    }

    /// Waits until the current URL's path is `path` (client-side navigation happens after clicks).
    pub async fn wait_for_path(&self, path: &str) {
        let result = self
            .poll(|| async {
                let url = self.client.current_url().await.map_err(|e| e.to_string())?;
                if url.path() == path { Ok(Some(())) } else { Ok(None) }
            })
            .await;
        if let Err(e) = result {
            self.fail::<()>(&format!("the path to become {path}"), e).await;
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        bounded("running a script", self.client.execute(script, args)).await
    }

    /// The page's visible text (`document.body.innerText`).
    pub async fn text(&self) -> String {
        let text = self.execute("return document.body ? document.body.innerText : '';", vec![]).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until an element matches the CSS selector `css` and returns it.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self.try_wait_for(css, self.wait).await {
            Ok(element) => element,
            Err(e) => self.fail(&format!("an element matching `{css}`"), e).await,
        }
    }

    /// Like [`wait_for`](Self::wait_for), returning the failure (with the page summary) instead.
    pub async fn try_wait_for(&self, css: &str, wait: Duration) -> Result<Element, String> {
        let result = self
            .poll_for(wait, || async {
                match self.client.find(Locator::Css(css)).await {
                    Ok(element) => Ok(Some(element)),
                    Err(e) if e.is_no_such_element() => Ok(None),
                    Err(e) => Err(e.to_string()),
                }
            })
            .await;
        match result {
            Ok(element) => Ok(element),
            Err(e) => Err(self.describe_failure(&format!("an element matching `{css}`"), wait, e).await),
        }
    }

    /// Waits until `text` is part of the page's visible text.
    pub async fn wait_for_text(&self, text: &str) {
        if let Err(e) = self.try_wait_for_text(text, self.wait).await {
            panic!("{e}");
        }
    }

    /// Like [`wait_for_text`](Self::wait_for_text), returning the failure (with the page summary).
    pub async fn try_wait_for_text(&self, text: &str, wait: Duration) -> Result<(), String> {
        let result = self
            .poll_for(wait, || async {
                let script = "return !!document.body && document.body.innerText.includes(arguments[0]);";
                let found =
                    self.client.execute(script, vec![json!(text)]).await.map_err(|e| e.to_string())?;
                Ok((found == true).then_some(()))
            })
            .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.describe_failure(&format!("the text {text:?}"), wait, e).await),
        }
    }

    /// Types `text` into the input, textarea or select with id `id` (waiting for it to appear),
    /// replacing what was there.
    pub async fn fill(&self, id: &str, text: &str) {
        let element = self.wait_for(&css_id(id)).await;
        bounded(&format!("clearing #{id}"), element.clear()).await;
        bounded(&format!("typing into #{id}"), element.send_keys(text)).await;
    }

    /// Clicks the first element matching `css` once it is displayed and enabled.
    pub async fn click(&self, css: &str) {
        let what = format!("a displayed, enabled element matching `{css}`");
        let element = self.wait_for_clickable(&what, Locator::Css(css)).await;
        bounded(&format!("clicking `{css}`"), element.click()).await;
    }

    /// Clicks the button (`<button>`, `<input type=submit|button>` or `role=button`) whose text,
    /// with whitespace collapsed, is exactly `text`, once it is displayed and enabled.
    pub async fn click_button(&self, text: &str) {
        let literal = xpath_literal(text);
        let xpath = format!(
            "//button[normalize-space(.)={literal}] | //*[@role='button' and normalize-space(.)={literal}] \
             | //input[(@type='submit' or @type='button') and @value={literal}]"
        );
        let what = format!("a displayed, enabled button {text:?}");
        let element = self.wait_for_clickable(&what, Locator::XPath(&xpath)).await;
        bounded(&format!("clicking the button {text:?}"), element.click()).await;
    }

    async fn wait_for_clickable(&self, what: &str, locator: Locator<'_>) -> Element {
        let result = self
            .poll(|| async {
                let elements = self.client.find_all(locator).await.map_err(|e| e.to_string())?;
                for element in elements {
                    let displayed = element.is_displayed().await.unwrap_or(false);
                    if displayed && element.is_enabled().await.unwrap_or(false) {
                        return Ok(Some(element));
                    }
                }
                Ok(None)
            })
            .await;
        match result {
            Ok(element) => element,
            Err(e) => self.fail(what, e).await,
        }
    }

    /// Saves a PNG of the viewport as `$E2E_SCREENSHOT_DIR/<name>.png` when that variable is set
    /// and not empty (`cargo xtask screenshots` sets it to `docs/screenshots`; a relative path is
    /// taken from the workspace root) and returns its path.
    pub async fn screenshot(&self, name: &str) -> Option<PathBuf> {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "a screenshot name is a plain file name without extension: {name:?}"
        );
        // A relative directory is taken from the workspace root (tests run in `e2e/`).
        let dir = std::env::var_os(SCREENSHOT_DIR).filter(|dir| !dir.is_empty())?;
        let dir = crate::server::workspace_root().join(dir);
        let png = bounded("taking a screenshot", self.client.screenshot()).await;
        assert!(png.starts_with(b"\x89PNG"), "the screenshot {name} is not a PNG");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        Some(path)
    }

    /// Runs axe-core on the current page and returns the rule violations of at least `min_impact`.
    pub async fn axe_violations(&self, min_impact: Impact) -> Vec<Violation> {
        let loaded = self.execute("return typeof window.axe === 'object';", vec![]).await;
        if loaded != true {
            self.execute(AXE, vec![]).await;
        }
        let script = r"
            const done = arguments[arguments.length - 1];
            axe.run(document, { resultTypes: ['violations'] })
                .then(results => done({ violations: results.violations.map(v => ({
                    id: v.id,
                    impact: v.impact || 'minor',
                    help: v.help,
                    helpUrl: v.helpUrl,
                    targets: v.nodes.map(n => n.target.map(t => [].concat(t).join(' >>> ')).join(' -> ')),
                })) }))
                .catch(e => done({ error: String((e && e.stack) || e) }));
        ";
        let result = bounded("running axe-core", self.client.execute_async(script, vec![])).await;
        if let Some(error) = result.get("error") {
            panic!("axe-core failed on {}: {error}", self.path().await);
        }
        let violations = result["violations"].as_array().expect("axe-core returns a list of violations");
        violations
            .iter()
            .map(|v| Violation {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                impact: Impact::parse(v["impact"].as_str().unwrap_or_default()),
                help: v["help"].as_str().unwrap_or_default().to_owned(),
                help_url: v["helpUrl"].as_str().unwrap_or_default().to_owned(),
                targets: v["targets"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
            })
            .filter(|v| v.impact >= min_impact)
            .collect()
    }

    /// Fails the test when axe-core finds serious or critical problems on the current page.
    pub async fn assert_accessible(&self) {
        let violations = self.axe_violations(Impact::Serious).await;
        if !violations.is_empty() {
            let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
            panic!(
                "axe-core found {} serious or critical accessibility problem(s) on {}:\n{}",
                violations.len(),
                self.path().await,
                list.join("\n")
            );
        }
    }

    /// Polls `probe` every 100 ms until it yields a value, for at most this browser's wait.
    async fn poll<T, F, Fut>(&self, probe: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, String>>,
    {
        self.poll_for(self.wait, probe).await
    }

    /// Polls `probe` until it yields a value or `wait` has passed. A probe error (say, a script
    /// run while the page navigates) counts as "not yet"; the last one is reported on timeout.
    async fn poll_for<T, F, Fut>(&self, wait: Duration, mut probe: F) -> Result<T, String>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, String>>,
    {
        let deadline = Instant::now() + wait;
        let mut last_error = None;
        loop {
            match tokio::time::timeout(COMMAND, probe()).await {
                Ok(Ok(Some(value))) => return Ok(value),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => last_error = Some(e),
                Err(_) => last_error = Some(format!("a WebDriver command took over {COMMAND:?}")),
            }
            if Instant::now() >= deadline {
                return Err(last_error.unwrap_or_default());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn fail<T>(&self, what: &str, error: String) -> T {
        panic!("{}", self.describe_failure(what, self.wait, error).await)
    }

    /// "Waited N s for X": the URL, the last WebDriver error, the page's headings, controls and
    /// visible text, so a failing step can be understood from the test output alone.
    async fn describe_failure(&self, what: &str, wait: Duration, error: String) -> String {
        let mut message = format!("waited {wait:?} for {what}");
        if !error.is_empty() {
            message.push_str(&format!(" (last error: {error})"));
        }
        message.push('\n');
        let summary = self.client.execute(PAGE_SUMMARY, vec![]);
        match tokio::time::timeout(Duration::from_secs(10), summary).await {
            Ok(Ok(Value::String(summary))) => message.push_str(&summary),
            Ok(Ok(other)) => message.push_str(&other.to_string()),
            Ok(Err(e)) => message.push_str(&format!("(could not read the page: {e})")),
            Err(_) => message.push_str("(could not read the page: no answer within 10 s)"),
        }
        message
    }
}

/// Describes the page for failure messages: URL, title, headings, form controls, buttons, links
/// and alerts, then the visible text (cut at 2,000 characters).
const PAGE_SUMMARY: &str = r#"
    const clip = (s, n) => {
        s = (s || '').replace(/\s+/g, ' ').trim();
        return s.length > n ? s.slice(0, n) + '…' : s;
    };
    const lines = ['page: ' + location.href + ' — title ' + JSON.stringify(document.title)];
    const list = (label, selector, describe) => {
        const items = [...document.querySelectorAll(selector)].slice(0, 40).map(describe);
        if (items.length) lines.push(label + ': ' + items.join(' | '));
    };
    list('headings', 'h1, h2, h3', e =>
        e.tagName.toLowerCase() + ' ' + JSON.stringify(clip(e.innerText, 80)));
    list('fields', 'input, select, textarea', e =>
        e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.name ? '[name=' + e.name + ']' : '')
        + (e.type && e.tagName === 'INPUT' ? '[type=' + e.type + ']' : '')
        + (e.disabled ? ' (disabled)' : ''));
    list('buttons', 'button, [role=button], input[type=submit], input[type=button]', e =>
        JSON.stringify(clip(e.innerText || e.value, 60)) + (e.disabled ? ' (disabled)' : ''));
    list('links', 'a[href]', e => JSON.stringify(clip(e.innerText, 40)) + ' → ' + e.getAttribute('href'));
    list('alerts', '[role=alert], [role=status], [aria-live]', e => JSON.stringify(clip(e.innerText, 200)));
    const text = document.body ? document.body.innerText : '';
    lines.push('visible text:\n' + (text.length > 2000 ? text.slice(0, 2000) + '…' : text));
    return lines.join('\n');
"#;

/// Bounds one WebDriver command; a failure or timeout fails the test, naming the step.
async fn bounded<T, E: fmt::Display>(step: &str, command: impl Future<Output = Result<T, E>>) -> T {
    match tokio::time::timeout(COMMAND, command).await {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => panic!("{step} failed: {e}"),
        Err(_) => panic!("{step} took over {COMMAND:?}"),
    }
}

/// A CSS selector for an id, whatever characters it holds.
fn css_id(id: &str) -> String {
    format!("[id=\"{}\"]", id.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `text` as an XPath 1.0 string literal (which has no escapes: quotes are joined with concat).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

#[test]
fn xpath_literals_quote_any_text() {
    assert_eq!(xpath_literal("Sign in"), "'Sign in'");
    assert_eq!(xpath_literal("Don't"), "\"Don't\"");
    assert_eq!(xpath_literal(r#"a'b"c"#), r#"concat('a', "'", 'b"c')"#);
    assert_eq!(css_id(r#"we"ird"#), r#"[id="we\"ird"]"#);
}
