//! Portico under load: `PORTICO_LOAD_CLIENTS` concurrent clients (default 200) for
//! `PORTICO_LOAD_SECS` seconds (default 60) of mixed password logins and page views, against
//! the real binary serving the demo organizations on PostgreSQL, on 127.0.0.1 only.
//!
//! Each client is one browser and one API client of a demo contact: it logs in once, then
//! loops over its portal's home, solutions and request list, the API's request list, and
//! every fifth round a fresh password login (by form in a new browser, or by the API, in turn).
//! Any answer that is not a success or the expected redirect, and any transport error or
//! timeout (30 s), is an error; the run prints counts, errors and p50/p99 per kind, and fails
//! when there was any error. The run is bounded: clients at most 1,000, seconds at most 600,
//! and each client stops after `PORTICO_LOAD_MAX_ROUNDS` rounds (default unbounded within the
//! time). Needs `PORTICO_TEST_POSTGRES_URL`; makes its own database and drops it.
//!
//! Run: `PORTICO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres cargo bench --bench load`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on the first surprise"
)]

use std::{
    collections::{BTreeMap, HashMap},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use diesel::{Connection, PgConnection, RunQueryDsl};
use portico::{App, Config, config::Overrides, fixtures};

const PASSWORD: &str = "portico-demo-password";

/// The demo contacts that log in with a password alone, with their portal.
const CONTACTS: [(&str, &str); 3] = [
    ("acme", "demo@acme.example"),
    ("acme", "pat@shared.example"),
    ("umbrella", "demo@umbrella.example"),
];

fn setting(name: &str, default: u64, most: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
        .clamp(1, most)
}

/// Latencies and errors by kind of request.
#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<&'static str, usize>,
    first_errors: Vec<String>,
}

impl Tally {
    fn record(&mut self, kind: &'static str, elapsed: Duration, error: Option<String>) {
        self.latencies
            .entry(kind)
            .or_default()
            .push(elapsed.as_secs_f64() * 1000.0);
        if let Some(error) = error {
            *self.errors.entry(kind).or_default() += 1;
            if self.first_errors.len() < 10 {
                self.first_errors.push(format!("{kind}: {error}"));
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

/// The binary, serving `url` on a free loopback port.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(url: &str, dir: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .arg("serve")
            .env("PORTICO_DATABASE_URL", url)
            .env("PORTICO_BIND", format!("127.0.0.1:{port}"))
            .env("PORTICO_DATA_DIR", dir)
            .env(
                "PORTICO_SECRET_KEY",
                "load-bench-secret-key-of-enough-length-0123456789",
            )
            .env("PORTICO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed().as_secs() < 60, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What went wrong with an answer, if anything.
fn verdict(answer: Result<reqwest::Response, reqwest::Error>, ok: &[u16]) -> Option<String> {
    match answer {
        Ok(answer) if ok.contains(&answer.status().as_u16()) => None,
        Ok(answer) => Some(format!("status {}", answer.status())),
        Err(error) if error.is_timeout() => Some("timed out".to_owned()),
        Err(error) => Some(format!("transport: {error}")),
    }
}

/// The hidden CSRF field of a page.
fn csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).map_or(0, |at| at + marker.len());
    page[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn form_login(http: &reqwest::Client, base: &str, slug: &str, email: &str) -> Option<String> {
    let login = format!("{base}/portal/{slug}/login");
    let page = match http.get(&login).send().await {
        Ok(page) => page.text().await.unwrap_or_default(),
        Err(error) => return Some(format!("transport: {error}")),
    };
    let answer = http
        .post(&login)
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("identifier", email),
            ("password", PASSWORD),
        ])
        .send()
        .await;
    verdict(answer, &[303])
}

async fn api_login(
    http: &reqwest::Client,
    base: &str,
    slug: &str,
    email: &str,
) -> (Option<String>, String) {
    let answer = http
        .post(format!("{base}/api/v1/portals/{slug}/login/password"))
        .json(&serde_json::json!({ "identifier": email, "password": PASSWORD }))
        .send()
        .await;
    match answer {
        Ok(answer) if answer.status().is_success() => {
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            (None, body["token"].as_str().unwrap_or_default().to_owned())
        }
        other => (verdict(other, &[]), String::new()),
    }
}

/// A client with its own cookie jar that does not follow redirects, like a browser.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn client(n: usize, base: String, until: Instant, max_rounds: u64, tally: Arc<Mutex<Tally>>) {
    let http = browser();
    let (slug, email) = CONTACTS[n % CONTACTS.len()];
    let started = Instant::now();
    let error = form_login(&http, &base, slug, email).await;
    tally
        .lock()
        .unwrap()
        .record("form login", started.elapsed(), error);
    let started = Instant::now();
    let (error, mut token) = api_login(&http, &base, slug, email).await;
    tally
        .lock()
        .unwrap()
        .record("API login", started.elapsed(), error);

    let pages = [
        format!("/portal/{slug}/"),
        format!("/portal/{slug}/solutions"),
        format!("/portal/{slug}/requests"),
    ];
    let mut round = 0;
    while Instant::now() < until && round < max_rounds {
        round += 1;
        if round % 5 == 0 {
            let started = Instant::now();
            if round % 10 == 0 {
                // A new browser logs in: a logged-in one is sent from the login page home.
                let error = form_login(&browser(), &base, slug, email).await;
                tally
                    .lock()
                    .unwrap()
                    .record("form login", started.elapsed(), error);
            } else {
                let (error, fresh) = api_login(&http, &base, slug, email).await;
                if error.is_none() {
                    token = fresh;
                }
                tally
                    .lock()
                    .unwrap()
                    .record("API login", started.elapsed(), error);
            }
            continue;
        }
        let path = &pages[(round as usize + n) % pages.len()];
        let started = Instant::now();
        let error = verdict(http.get(format!("{base}{path}")).send().await, &[200]);
        tally
            .lock()
            .unwrap()
            .record("page view", started.elapsed(), error);
        let started = Instant::now();
        let answer = http
            .get(format!("{base}/api/v1/requests"))
            .bearer_auth(&token)
            .send()
            .await;
        tally.lock().unwrap().record(
            "API request list",
            started.elapsed(),
            verdict(answer, &[200]),
        );
    }
}

#[tokio::main]
async fn main() {
    let clients = setting("PORTICO_LOAD_CLIENTS", 200, 1_000) as usize;
    let secs = setting("PORTICO_LOAD_SECS", 60, 600);
    let max_rounds = setting("PORTICO_LOAD_MAX_ROUNDS", u64::MAX, u64::MAX);
    let Ok(admin) = std::env::var("PORTICO_TEST_POSTGRES_URL") else {
        println!("load test not run: set PORTICO_TEST_POSTGRES_URL");
        return;
    };
    let name = format!("portico_load_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();

    let overrides = Overrides {
        data_dir: Some(dir.path().to_owned()),
        database_url: Some(url.clone()),
        ..Overrides::default()
    };
    let config = Config::from_sources(&overrides, &HashMap::new()).unwrap();
    let app = tokio::task::spawn_blocking(move || App::build(config))
        .await
        .unwrap()
        .unwrap();
    fixtures::seed(&app, &fixtures::FixtureSet::embedded().unwrap())
        .await
        .unwrap();
    drop(app);

    let errors = {
        let server = Server::start(&url, dir.path());
        println!(
            "Portico load: {clients} clients, {secs} s, PostgreSQL, {}",
            server.base
        );
        let tally = Arc::new(Mutex::new(Tally::default()));
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..clients {
            tasks.spawn(client(
                n,
                server.base.clone(),
                until,
                max_rounds,
                tally.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
        let wall = started.elapsed().as_secs_f64();
        let mut tally = tally.lock().unwrap();
        let failures = tally.errors.clone();
        println!("| requests | count | errors | per second | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|---|---|");
        let mut total = 0;
        let mut errors = 0;
        for (kind, latencies) in &mut tally.latencies {
            latencies.sort_by(f64::total_cmp);
            let failed = failures.get(kind).copied().unwrap_or(0);
            total += latencies.len();
            errors += failed;
            println!(
                "| {kind} | {} | {failed} | {:.1} | {:.1} | {:.1} | {:.1} |",
                latencies.len(),
                latencies.len() as f64 / wall,
                percentile(latencies, 0.5),
                percentile(latencies, 0.99),
                latencies.last().copied().unwrap_or(0.0)
            );
        }
        println!("total {total} requests in {wall:.1} s, {errors} errors");
        for error in &tally.first_errors {
            println!("  {error}");
        }
        errors
    };

    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();
    assert_eq!(errors, 0, "the load run had errors");
}
