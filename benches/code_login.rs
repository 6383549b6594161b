//! Code login throughput: code requests per second and code verifications per second, on
//! SQLite and on PostgreSQL, against the real server over HTTP on 127.0.0.1.
//!
//! Each run creates an organization with `PORTICO_BENCH_CONTACTS` contacts (default 1,000),
//! asks a code for each of them from `PORTICO_BENCH_CLIENTS` concurrent clients (default 16),
//! receives every code through a real SMTP server on loopback, then verifies every code. The
//! PostgreSQL run needs `PORTICO_TEST_POSTGRES_URL`; it makes its own database and drops it.
//! Run: `cargo bench --bench code_login`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on the first surprise"
)]

#[path = "../tests/common/smtp.rs"]
mod smtp;

use std::{collections::HashMap, sync::Arc, time::Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use poem::listener::Acceptor;
use portico::{
    App, Config,
    config::{Overrides, PlatformLimits},
    domain::{
        contact::ContactStatus,
        org::{Branding, LoginMode, LoginPolicy, OrgId, OrgStatus, Organization, OtpChannel},
    },
    storage::{accounts, orgs},
    web,
};
use smtp::SmtpReceiver;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let contacts = setting("PORTICO_BENCH_CONTACTS", 1_000);
    let clients = setting("PORTICO_BENCH_CLIENTS", 16);
    println!("code login: {contacts} contacts, {clients} concurrent clients, 127.0.0.1");
    println!(
        "| backend | code requests/s | emails delivered/s | verifications/s | p50 request ms | p99 request ms |"
    );
    println!("|---|---|---|---|---|---|");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("sqlite", &sqlite, dir.path(), contacts, clients).await;

    match std::env::var("PORTICO_TEST_POSTGRES_URL") {
        Ok(admin) => {
            let name = format!("portico_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
            let pg_dir = tempfile::tempdir().unwrap();
            run(
                "postgresql",
                &format!("{base}/{name}"),
                pg_dir.path(),
                contacts,
                clients,
            )
            .await;
            diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut conn)
                .unwrap();
        }
        Err(_) => println!("| postgresql | not run: set PORTICO_TEST_POSTGRES_URL | | | | |"),
    }
}

async fn run(
    backend: &str,
    url: &str,
    data_dir: &std::path::Path,
    contacts: usize,
    clients: usize,
) {
    let smtp = SmtpReceiver::start().await;
    let acceptor = web::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let overrides = Overrides {
        data_dir: Some(data_dir.to_owned()),
        database_url: Some(url.to_owned()),
        bind: Some(addr.to_string()),
        ..Overrides::default()
    };
    let mut config = Config::from_sources(&overrides, &HashMap::new()).unwrap();
    config.smtp_url = Some(smtp.url().into());
    config.limits = PlatformLimits {
        code_requests_per_ip_per_hour: u32::MAX,
        code_requests_per_org_per_hour: u32::MAX,
        sms_per_org_per_day: u32::MAX,
    };
    let app = tokio::task::spawn_blocking(move || App::build(config))
        .await
        .unwrap()
        .unwrap();
    let emails = create_org(&app, contacts).await;
    let served = app.clone();
    let server = tokio::spawn(async move {
        let _ = web::serve(served, acceptor, std::future::pending()).await;
    });
    let base = format!("http://{addr}");

    let started = Instant::now();
    let requested = fan_out(
        &base,
        &emails,
        clients,
        |client, base, csrf, email| async move {
            let t = Instant::now();
            let page = client
                .post(format!("{base}/portal/bench/login/code"))
                .form(&[("csrf", csrf.as_str()), ("identifier", email.as_str())])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let login_id = hidden(&page, "login_id");
            (email, login_id, t.elapsed().as_secs_f64() * 1000.0)
        },
    )
    .await;
    let request_secs = started.elapsed().as_secs_f64();

    let delivery_started = Instant::now();
    while smtp.mails().len() < emails.len() {
        assert!(
            delivery_started.elapsed().as_secs() < 600,
            "codes did not all arrive"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let delivery_secs = delivery_started.elapsed().as_secs_f64() + request_secs;
    let codes: HashMap<String, String> = smtp
        .mails()
        .into_iter()
        .map(|mail| (mail.to[0].clone(), mail.code()))
        .collect();
    let attempts: HashMap<String, String> = requested
        .iter()
        .map(|(e, id, _)| (e.clone(), id.clone()))
        .collect();
    let attempts = Arc::new(attempts);
    let codes = Arc::new(codes);

    let started = Instant::now();
    let verified = fan_out(&base, &emails, clients, move |client, base, csrf, email| {
        let (attempts, codes) = (attempts.clone(), codes.clone());
        async move {
            let status = client
                .post(format!("{base}/portal/bench/login/code/verify"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("login_id", attempts[&email].as_str()),
                    ("code", codes[&email].as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status();
            (email, status.as_u16().to_string(), 0.0)
        }
    })
    .await;
    let verify_secs = started.elapsed().as_secs_f64();
    let logged_in = verified
        .iter()
        .filter(|(_, status, _)| status == "303")
        .count();
    assert_eq!(logged_in, emails.len(), "every code logged its contact in");

    let mut latencies: Vec<f64> = requested.iter().map(|(_, _, ms)| *ms).collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "| {backend} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
        emails.len() as f64 / request_secs,
        emails.len() as f64 / delivery_secs,
        emails.len() as f64 / verify_secs,
        pct(0.5),
        pct(0.99)
    );
    server.abort();
}

/// Runs `work` for every email, spread over `clients` browsers with their own cookies.
async fn fan_out<F, Fut>(
    base: &str,
    emails: &[String],
    clients: usize,
    work: F,
) -> Vec<(String, String, f64)>
where
    F: Fn(reqwest::Client, String, String, String) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (String, String, f64)> + Send,
{
    let mut tasks = Vec::new();
    for chunk in emails.chunks(emails.len().div_ceil(clients)) {
        let chunk = chunk.to_vec();
        let (base, work) = (base.to_owned(), work.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let page = client
                .get(format!("{base}/portal/bench/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let csrf = hidden(&page, "csrf");
            let mut done = Vec::new();
            for email in chunk {
                done.push(work(client.clone(), base.clone(), csrf.clone(), email).await);
            }
            done
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

async fn create_org(app: &Arc<App>, contacts: usize) -> Vec<String> {
    app.db
        .transaction(move |conn| {
            let org = Organization {
                id: OrgId::new(),
                slug: "bench".to_owned(),
                name: "Bench Org".to_owned(),
                status: OrgStatus::Live,
                branding: Branding {
                    accent_color: "#334155".to_owned(),
                    welcome_text: String::new(),
                    footer_text: String::new(),
                },
            };
            let policy = LoginPolicy::for_mode(LoginMode::Otp, OtpChannel::Email);
            orgs::insert(conn, &org, &policy)?;
            let mut emails = Vec::new();
            for n in 0..contacts {
                let email = format!("contact{n}@bench.example");
                let contact = accounts::NewContact {
                    email: Some(email.clone()),
                    mobile: None,
                    name: format!("Contact {n}"),
                    time_zone: "UTC".to_owned(),
                    password_hash: None,
                    status: ContactStatus::Active,
                };
                accounts::insert_contact(conn, &org.id, &contact)?;
                emails.push(email);
            }
            Ok(emails)
        })
        .await
        .unwrap()
}
