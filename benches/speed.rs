//! How fast Portico logs people in and serves its pages, and how much memory it takes, on
//! SQLite and on PostgreSQL.
//!
//! Each backend gets a fresh database with one organization, `bench`, whose policy allows a
//! password or an emailed code: `PORTICO_BENCH_CONTACTS` contacts (default 20,000) with one
//! password, 100,000 requests (half of them of one busy contact) and 2,000 published
//! solutions. The release binary then serves it as a child process on 127.0.0.1, with its
//! emails written to the file outbox, and closed-loop clients drive it over HTTP for
//! `PORTICO_BENCH_SECS` seconds (default 5) per measure:
//!
//! - H, the raw argon2id verification rate with the server's parameters on every core, measured
//!   in this process for half the time just before the login storm and half just after, and L,
//!   complete password logins per second (64 clients); L/H is the server's overhead over the
//!   hash;
//! - complete code logins per second: code requested, read from the outbox files, verified
//!   (256 clients, since each code request takes at least 200 ms);
//! - logged-in portal home page views at 1, 16, 64 and 256 clients (p50, p99), and at 64 clients
//!   while 64 others storm the password login;
//! - solution search, the busy contact's request list and the console's request queue;
//! - the server's resident memory when idle after start-up, and its peak.
//!
//! Logins go through a browser-like client (cookies, forms); page views go over one kept-alive
//! HTTP/1.1 connection per client carrying that client's cookies, a client light enough to
//! leave most of the cores to the server. Beside each measure, the server's own processor
//! time per completed step (`µs CPU`, from `/proc`): the figure that does not depend on what
//! else the machine runs.
//!
//! The clients share the machine's cores with the server: the figures are what one machine
//! does as client and server together. The PostgreSQL run needs `PORTICO_TEST_POSTGRES_URL`;
//! it makes its own database and drops it, and the server reaches a database on the same
//! host without TLS, as the README advises, unless the URL sets `sslmode` itself. Run:
//! `cargo bench --bench speed`.
//! `PORTICO_BENCH_ONLY` (say `sqlite,codes`) runs only the named backends and measures:
//! `sqlite`, `postgres`, `logins`, `codes`, `pages`, `storm`, `readings`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark stops on the first surprise"
)]

use std::{
    collections::HashMap,
    future::Future,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use bytes::Bytes;
use chrono::Utc;
use diesel::{Connection, PgConnection, RunQueryDsl};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use portico::{
    App, Config,
    config::{Overrides, PasswordHashing},
    domain::{
        contact::ContactStatus,
        org::{Branding, LoginMode, LoginPolicy, OrgId, OrgStatus, Organization, OtpChannel},
        password::PasswordHasher,
    },
    storage::{
        accounts::{self, NewAdmin, NewContact},
        content::{self, NewCategory, NewRequest, NewSolution},
        orgs,
    },
};
use reqwest::cookie::{CookieStore, Jar};

const PASSWORD: &str = "bench-password-long-enough";
const SECRET_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const REQUESTS: usize = 100_000;
const SOLUTIONS: usize = 2_000;
const WORDS: [&str; 12] = [
    "printer", "invoice", "password", "network", "delivery", "account", "refund", "login",
    "report", "upgrade", "backup", "warranty",
];

/// Whether `name` is among the comma-separated names in `PORTICO_BENCH_ONLY` (all when unset):
/// `sqlite`, `postgres`, `logins`, `codes`, `pages`, `storm` and `readings`. Naming no backend
/// runs both; naming no measure runs them all.
fn chosen(name: &str) -> bool {
    const BACKENDS: [&str; 2] = ["sqlite", "postgres"];
    let only = std::env::var("PORTICO_BENCH_ONLY").unwrap_or_default();
    let names: Vec<&str> = only
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let is_backend = BACKENDS.contains(&name);
    let of_kind: Vec<&&str> = names
        .iter()
        .filter(|n| BACKENDS.contains(n) == is_backend)
        .collect();
    of_kind.is_empty() || of_kind.contains(&&name)
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One measure's figures on each backend, in table order.
#[derive(Default)]
struct Table {
    rows: Vec<(String, String, Vec<String>)>,
}

impl Table {
    fn put(&mut self, measure: &str, target: &str, column: usize, value: String) {
        let index = match self.rows.iter().position(|(m, _, _)| m == measure) {
            Some(index) => index,
            None => {
                self.rows.push((
                    measure.to_owned(),
                    target.to_owned(),
                    vec![String::new(); 2],
                ));
                self.rows.len() - 1
            }
        };
        self.rows[index].2[column] = value;
    }

    fn print(&self) {
        println!("| measure | SQLite | PostgreSQL | target |");
        println!("|---|---|---|---|");
        for (measure, target, values) in &self.rows {
            println!("| {measure} | {} | {} | {target} |", values[0], values[1]);
        }
    }
}

#[tokio::main]
async fn main() {
    let secs = setting("PORTICO_BENCH_SECS", 5) as f64;
    let contacts = setting("PORTICO_BENCH_CONTACTS", 20_000);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Portico speed: {cores} cores, {contacts} contacts, {REQUESTS} requests, {secs} s per measure, 127.0.0.1"
    );
    let mut table = Table::default();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    if chosen("sqlite") {
        run(&mut table, 0, &sqlite, dir.path(), contacts, secs).await;
    }

    match std::env::var("PORTICO_TEST_POSTGRES_URL") {
        Ok(_) if !chosen("postgres") => {}
        Ok(admin) => {
            let name = format!("portico_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let (address, options) = admin.split_once('?').unwrap_or((&admin, ""));
            let base = address.rsplit_once('/').map_or(address, |(b, _)| b);
            let pg_dir = tempfile::tempdir().unwrap();
            let url = match options {
                "" => format!("{base}/{name}"),
                options => format!("{base}/{name}?{options}"),
            };
            let url = on_this_host(&url);
            run(&mut table, 1, &url, pg_dir.path(), contacts, secs).await;
            diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut conn)
                .unwrap();
        }
        Err(_) => println!("PostgreSQL not run: set PORTICO_TEST_POSTGRES_URL"),
    }
    table.print();
}

async fn run(table: &mut Table, column: usize, url: &str, dir: &Path, contacts: usize, secs: f64) {
    let started = Instant::now();
    let emails = seed(url, dir, contacts).await;
    eprintln!(
        "seeded {} in {:.0} s",
        ["SQLite", "PostgreSQL"][column],
        started.elapsed().as_secs_f64()
    );
    let server = Server::start(url, dir);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.resident_kib();
    let run = Backend {
        column,
        server: &server,
        dir,
        emails: Arc::new(emails),
        next: Arc::new(AtomicUsize::new(0)),
        secs,
    };
    if chosen("logins") {
        logins(table, &run).await;
    }
    if chosen("codes") {
        code_logins_row(table, &run).await;
    }
    if chosen("pages") || chosen("storm") {
        pages(table, &run).await;
    }
    if chosen("readings") {
        readings(table, &run).await;
    }
    table.put(
        "server memory idle / peak, MiB",
        "< 50 / < 150",
        column,
        format!(
            "{:.0} / {:.0}",
            idle as f64 / 1024.0,
            server.peak_kib() as f64 / 1024.0
        ),
    );
}

/// One backend's running server and what its measures share.
struct Backend<'a> {
    /// The table's column: 0 for SQLite, 1 for PostgreSQL.
    column: usize,
    server: &'a Server,
    /// The server's data folder, where its file outbox is.
    dir: &'a Path,
    emails: Arc<Vec<String>>,
    /// The next contact to log in, shared by every measure.
    next: Arc<AtomicUsize>,
    secs: f64,
}

/// H, L and L/H.
async fn logins(table: &mut Table, run: &Backend<'_>) {
    let Backend {
        column,
        server,
        emails,
        next,
        secs,
        ..
    } = run;
    let (column, secs, base) = (*column, *secs, &server.base);
    // H half before L and half after, so that the machine's speed drifting during the run
    // moves both figures alike.
    let before = hash_rate(secs / 2.0);
    let storm = server
        .measure(password_logins(base, emails, next, 64, secs))
        .await;
    let hashes = f64::midpoint(before, hash_rate(secs / 2.0));
    let logins = storm.per_sec();
    table.put(
        "H: argon2id verifications/s, all cores",
        "",
        column,
        format!("{hashes:.0}"),
    );
    table.put(
        "L: password logins/s (64 clients)",
        "> 86",
        column,
        format!(
            "{logins:.0} ({} errors, {})",
            storm.errors,
            storm.cpu_each()
        ),
    );
    table.put("L/H", ">= 0.9", column, format!("{:.2}", logins / hashes));
}

/// `url` as the README advises for a database on the same host: without TLS, unless the URL
/// chooses its `sslmode` itself.
fn on_this_host(url: &str) -> String {
    let host = url.split_once('@').map_or(url, |(_, rest)| rest);
    let local = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|name| host.starts_with(name));
    if !local || url.contains("sslmode=") {
        return url.to_owned();
    }
    let joint = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joint}sslmode=disable")
}

/// Complete code logins.
async fn code_logins_row(table: &mut Table, run: &Backend<'_>) {
    let Backend {
        column,
        server,
        dir,
        emails,
        next,
        secs,
    } = run;
    let (column, secs, base) = (*column, *secs, &server.base);

    // A code request answers no sooner than 200 ms (so that timing tells nothing), which caps
    // one client at five code logins a second: 256 clients keep the server, not the floor, the
    // limit.
    let codes = server
        .measure(code_logins(base, dir, emails, next, 256, secs))
        .await;
    table.put(
        "complete code logins/s (256 clients)",
        ">= 1000",
        column,
        format!(
            "{:.0} ({} errors, {})",
            codes.per_sec(),
            codes.errors,
            codes.cpu_each()
        ),
    );
}

/// Home page views by 1 to 256 clients, and by 64 during a password-login storm.
async fn pages(table: &mut Table, run: &Backend<'_>) {
    let Backend {
        column,
        server,
        emails,
        next,
        secs,
        ..
    } = run;
    let (column, secs, base) = (*column, *secs, &server.base);
    let readers = logged_in(base, emails, next, 256).await;
    for clients in [1, 16, 64, 256] {
        if !chosen("pages") {
            break;
        }
        let views = server
            .measure(get_loop(base, &readers[..clients], "/portal/bench/", secs))
            .await;
        table.put(
            &format!(
                "home page views/s, p50 / p99 ms ({clients} client{})",
                if clients == 1 { "" } else { "s" }
            ),
            if clients == 64 {
                ">= 5000, p99 < 20"
            } else {
                ""
            },
            column,
            views.summary(),
        );
    }
    if !chosen("storm") {
        return;
    }
    let (views, storm) = tokio::join!(
        get_loop(base, &readers[..64], "/portal/bench/", secs),
        password_logins(base, emails, next, 64, secs),
    );
    table.put(
        "home page views/s during a login storm (64 + 64 clients)",
        "p99 < 50",
        column,
        format!("{} while {:.0} logins/s", views.summary(), storm.per_sec()),
    );
}

/// Solution search, the busy contact's request list and the console's searched queue.
async fn readings(table: &mut Table, run: &Backend<'_>) {
    let Backend {
        column,
        server,
        secs,
        ..
    } = run;
    let (column, secs, base) = (*column, *secs, &server.base);
    let busy = logged_in_as(base, "busy@bench.example").await;
    let admin = admin_client(base).await;
    let readings = [
        (
            "solution search/s (16 clients, 2,000 solutions)",
            &busy,
            "/portal/bench/solutions?q=printer+refund",
        ),
        (
            "request list/s, 50,000 own requests, page 40 (16 clients)",
            &busy,
            "/portal/bench/requests?page=40",
        ),
        (
            "console queue/s, 100,000 requests, searched (16 clients)",
            &admin,
            "/admin/orgs/bench/requests?q=invoice&page=3",
        ),
    ];
    for (measure, reader, path) in readings {
        let run = server
            .measure(get_loop(base, &vec![reader.clone(); 16], path, secs))
            .await;
        table.put(measure, "", column, run.summary());
    }
}

/// Creates the database, its organization, contacts, requests, solutions and admin; returns
/// the contacts' emails.
async fn seed(url: &str, dir: &Path, contacts: usize) -> Vec<String> {
    let overrides = Overrides {
        data_dir: Some(dir.to_owned()),
        database_url: Some(url.to_owned()),
        ..Overrides::default()
    };
    let config = Config::from_sources(&overrides, &HashMap::new()).unwrap();
    let app = tokio::task::spawn_blocking(move || App::build(config))
        .await
        .unwrap()
        .unwrap();
    let hasher = PasswordHasher::new(PasswordHashing::default(), 1).unwrap();
    let hash = hasher.hash(PASSWORD.into()).await.unwrap();
    let org_id = OrgId::new();
    let (admin_hash, busy_hash) = (hash.clone(), hash.clone());
    let busy = app
        .db
        .transaction(move |conn| {
            let org = Organization {
                id: org_id,
                slug: "bench".to_owned(),
                name: "Bench Org".to_owned(),
                status: OrgStatus::Live,
                branding: Branding {
                    accent_color: "#334155".to_owned(),
                    welcome_text: "Welcome.".to_owned(),
                    footer_text: String::new(),
                },
            };
            let mut policy = LoginPolicy::for_mode(LoginMode::PasswordOrOtp, OtpChannel::Email);
            policy.resend_cooldown_secs = 0;
            policy.codes_per_hour = 1_000;
            policy.codes_per_day = 10_000;
            orgs::insert(conn, &org, &policy)?;
            let admin = accounts::insert_admin(
                conn,
                &NewAdmin {
                    email: "admin@bench.example".to_owned(),
                    name: "Bench Admin".to_owned(),
                    password_hash: admin_hash,
                    is_platform: false,
                },
            )?;
            accounts::grant_admin_org(conn, &admin, &org_id)?;
            accounts::insert_contact(
                conn,
                &org_id,
                &contact("busy@bench.example", Some(busy_hash)),
            )
        })
        .await
        .unwrap();
    let emails: Vec<String> = (0..contacts)
        .map(|n| format!("contact{n}@bench.example"))
        .collect();
    for chunk in emails.chunks(5_000) {
        let (chunk, hash) = (chunk.to_vec(), hash.clone());
        app.db
            .transaction(move |conn| {
                for email in &chunk {
                    accounts::insert_contact(conn, &org_id, &contact(email, Some(hash.clone())))?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    seed_content(&app, org_id, busy).await;
    if url.starts_with("postgres") {
        // By the time an organization has this much data, PostgreSQL's autovacuum has
        // analyzed its tables: plan with statistics, as a database in service does.
        app.db
            .run(|conn| Ok(diesel::sql_query("ANALYZE").execute(conn)?))
            .await
            .unwrap();
    }
    emails
}

fn contact(email: &str, password_hash: Option<String>) -> NewContact {
    NewContact {
        email: Some(email.to_owned()),
        mobile: None,
        name: email.split('@').next().unwrap_or_default().to_owned(),
        time_zone: "UTC".to_owned(),
        password_hash,
        status: ContactStatus::Active,
    }
}

async fn seed_content(app: &App, org_id: OrgId, busy: portico::domain::contact::ContactId) {
    let category = app
        .db
        .run(move |conn| {
            let category = NewCategory {
                name: "General",
                description: "Everything else",
                active: true,
                position: 1,
            };
            content::insert_category(conn, &org_id, &category, Utc::now().naive_utc())
        })
        .await
        .unwrap();
    let others = app
        .db
        .run(move |conn| {
            (0..100)
                .map(|n| {
                    accounts::insert_contact(
                        conn,
                        &org_id,
                        &contact(&format!("requester{n}@bench.example"), None),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
    for start in (0..REQUESTS).step_by(5_000) {
        let (category, others) = (category.clone(), others.clone());
        app.db
            .transaction(move |conn| {
                for n in start..start + 5_000 {
                    let owner = if n % 2 == 0 {
                        &busy
                    } else {
                        &others[n % others.len()]
                    };
                    let subject = format!(
                        "{} {} question number {n}",
                        WORDS[n % WORDS.len()],
                        WORDS[(n / 7) % WORDS.len()]
                    );
                    let request = NewRequest {
                        contact_id: owner,
                        category_id: &category,
                        subject: &subject,
                        description: "Something does not work as it should.",
                        priority: "medium",
                        status: if n % 3 == 0 { "closed" } else { "open" },
                        created_at: Utc::now().naive_utc() - chrono::Duration::seconds(n as i64),
                    };
                    content::insert_request(conn, &org_id, &request)?;
                }
                // Fresh statistics, or PostgreSQL keeps scanning the whole table for the
                // next request number.
                if let portico::storage::DbConnection::Postgresql(_) = conn {
                    diesel::sql_query("ANALYZE requests").execute(conn)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    app.db
        .transaction(move |conn| {
            for n in 0..SOLUTIONS {
                let title = format!(
                    "How to fix the {} {} ({n})",
                    WORDS[n % 12],
                    WORDS[(n / 12) % 12]
                );
                let body = format!(
                    "When the {} stops, check the {} first, then the {}. Article {n}.",
                    WORDS[n % 12],
                    WORDS[(n + 3) % 12],
                    WORDS[(n + 5) % 12]
                );
                let solution = NewSolution {
                    topic: WORDS[n % 12],
                    title: &title,
                    body: &body,
                    published: true,
                };
                content::insert_solution(conn, &org_id, &solution, Utc::now().naive_utc())?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

/// The release binary serving the bench database.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(url: &str, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("bench.toml");
        std::fs::write(
            &config,
            "[limits]\ncode_requests_per_ip_per_hour = 4000000000\ncode_requests_per_org_per_hour = 4000000000\n",
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .arg("serve")
            .env("PORTICO_DATABASE_URL", url)
            .env("PORTICO_BIND", format!("127.0.0.1:{port}"))
            .env("PORTICO_DATA_DIR", dir)
            .env("PORTICO_SECRET_KEY", SECRET_KEY)
            .env("PORTICO_CONFIG", &config)
            .env("PORTICO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed().as_secs() < 60, "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, base }
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap()
    }

    fn resident_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// The server's user and system processor time so far, in seconds.
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // The fields after the command name, which is in parentheses: utime and stime are the
        // 12th and 13th of them, in clock ticks of 1/100 s.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }

    /// Runs `work` and notes the server's processor time it took.
    async fn measure(&self, work: impl Future<Output = Run>) -> Run {
        let before = self.cpu_secs();
        let mut run = work.await;
        run.server_cpu_secs = Some(self.cpu_secs() - before);
        eprintln!(
            "  measured: {} done; server resident {} MiB, peak {} MiB",
            run.done,
            self.resident_kib() / 1024,
            self.peak_kib() / 1024
        );
        run
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raw argon2id verifications per second of one stored hash, one thread per core.
fn hash_rate(secs: f64) -> f64 {
    let hash = argon2::password_hash::PasswordHasher::hash_password(
        &Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(
                PasswordHashing::default().memory_kib,
                PasswordHashing::default().iterations,
                PasswordHashing::default().parallelism,
                None,
            )
            .unwrap(),
        ),
        PASSWORD.as_bytes(),
        &argon2::password_hash::SaltString::from_b64("YmVuY2hzYWx0YmVuY2g").unwrap(),
    )
    .unwrap()
    .to_string();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let parsed = PasswordHash::new(&hash).unwrap();
                let mut done = 0u64;
                while Instant::now() < deadline {
                    Argon2::default()
                        .verify_password(PASSWORD.as_bytes(), &parsed)
                        .unwrap();
                    done += 1;
                }
                done
            })
        })
        .collect();
    let done: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    done as f64 / started.elapsed().as_secs_f64()
}

/// What a closed-loop run counted.
#[derive(Default)]
struct Run {
    done: usize,
    errors: usize,
    secs: f64,
    millis: Vec<f64>,
    /// The server's processor time over the run, when measured.
    server_cpu_secs: Option<f64>,
}

impl Run {
    fn per_sec(&self) -> f64 {
        self.done as f64 / self.secs
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.millis.is_empty() {
            return f64::NAN;
        }
        self.millis.sort_by(f64::total_cmp);
        self.millis[((self.millis.len() - 1) as f64 * p) as usize]
    }

    /// The server's processor time per completed step, as `N µs CPU`.
    fn cpu_each(&self) -> String {
        match self.server_cpu_secs {
            Some(cpu) if self.done > 0 => {
                format!("{:.0} µs CPU", cpu * 1e6 / self.done as f64)
            }
            _ => String::new(),
        }
    }

    fn summary(mut self) -> String {
        let (p50, p99) = (self.percentile(0.5), self.percentile(0.99));
        let errors = if self.errors == 0 {
            String::new()
        } else {
            format!(", {} errors", self.errors)
        };
        let cpu = self.cpu_each();
        let cpu = if cpu.is_empty() {
            cpu
        } else {
            format!(", {cpu}")
        };
        format!("{:.0}, {p50:.1} / {p99:.1}{errors}{cpu}", self.per_sec())
    }
}

/// A browser: its own cookies, and the form token its cookie goes with.
#[derive(Clone)]
struct Visitor {
    client: reqwest::Client,
    cookies: Arc<Jar>,
    csrf: String,
}

/// A browser's HTTP client, keeping its cookies in `cookies` and following no redirect.
fn browser(cookies: &Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(cookies.clone())
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1)
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
}

async fn visitor(base: &str) -> Visitor {
    let cookies = Arc::new(Jar::default());
    let client = browser(&cookies);
    let page = client
        .get(format!("{base}/portal/bench/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    Visitor {
        client,
        cookies,
        csrf,
    }
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in the page"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

/// Runs `step` for every client over and over for `secs`; a step hands its client back with
/// whether it succeeded.
async fn closed_loop<S, F, Fut>(clients: Vec<S>, secs: f64, step: F) -> Run
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = (S, bool)> + Send,
{
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut run = Run::default();
                let mut client = client;
                while Instant::now() < deadline {
                    let at = Instant::now();
                    let (back, succeeded) = step(client).await;
                    client = back;
                    if succeeded {
                        run.done += 1;
                        run.millis.push(at.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        run.errors += 1;
                    }
                }
                run
            })
        })
        .collect();
    let mut all = Run::default();
    for task in tasks {
        let run = task.await.unwrap();
        all.done += run.done;
        all.errors += run.errors;
        all.millis.extend(run.millis);
    }
    all.secs = started.elapsed().as_secs_f64();
    all
}

async fn visitors(base: &str, count: usize) -> Vec<Visitor> {
    let mut arriving = tokio::task::JoinSet::new();
    for _ in 0..count {
        let base = base.to_owned();
        arriving.spawn(async move { visitor(&base).await });
    }
    arriving.join_all().await
}

/// Password logins by `clients` visitors, each with the next contact in turn.
async fn password_logins(
    base: &str,
    emails: &Arc<Vec<String>>,
    next: &Arc<AtomicUsize>,
    clients: usize,
    secs: f64,
) -> Run {
    let (base, emails, next) = (base.to_owned(), emails.clone(), next.clone());
    let url = format!("{base}/portal/bench/login");
    closed_loop(visitors(&base, clients).await, secs, move |visitor| {
        let (url, emails, next) = (url.clone(), emails.clone(), next.clone());
        async move {
            let email = &emails[next.fetch_add(1, Ordering::Relaxed) % emails.len()];
            let fields = [
                ("csrf", visitor.csrf.as_str()),
                ("identifier", email.as_str()),
                ("password", PASSWORD),
            ];
            let sent = visitor.client.post(&url).form(&fields).send().await;
            let succeeded = sent.is_ok_and(|response| response.status() == 303);
            (visitor, succeeded)
        }
    })
    .await
}

/// Codes as the server writes them to its file outbox, by recipient.
#[derive(Clone, Default)]
struct Outbox {
    mail: Arc<Mutex<Mailboxes>>,
}

/// Codes no client has taken yet, and clients waiting for theirs.
#[derive(Default)]
struct Mailboxes {
    codes: HashMap<String, String>,
    waiting: HashMap<String, tokio::sync::oneshot::Sender<String>>,
}

impl Outbox {
    /// Reads and removes new `.eml` files under `dir` until `stop`; the folder stays small, so
    /// watching it costs little of the cores the server needs.
    fn watch(&self, dir: PathBuf, stop: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
        let outbox = self.clone();
        tokio::task::spawn_blocking(move || {
            while stop.load(Ordering::Relaxed) == 0 {
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if !entry.file_name().to_string_lossy().ends_with(".eml") {
                        continue;
                    }
                    let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                    if let Some((to, code)) = recipient_and_code(&text) {
                        outbox.deliver(to, code);
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    }

    fn deliver(&self, to: String, code: String) {
        let mut mail = self.mail.lock().unwrap();
        match mail.waiting.remove(&to) {
            Some(waiter) => {
                let _ = waiter.send(code);
            }
            None => {
                mail.codes.insert(to, code);
            }
        }
    }

    /// The code sent to `email`, waiting up to 10 s for it.
    async fn take(&self, email: &str) -> Option<String> {
        let arrival = {
            let mut mail = self.mail.lock().unwrap();
            if let Some(code) = mail.codes.remove(email) {
                return Some(code);
            }
            let (sender, arrival) = tokio::sync::oneshot::channel();
            mail.waiting.insert(email.to_owned(), sender);
            arrival
        };
        tokio::time::timeout(Duration::from_secs(10), arrival)
            .await
            .ok()?
            .ok()
    }
}

fn recipient_and_code(mail: &str) -> Option<(String, String)> {
    let to = mail
        .lines()
        .find_map(|line| line.strip_prefix("To: "))?
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned();
    let code = mail
        .lines()
        .map(str::trim)
        .find(|line| (6..=10).contains(&line.len()) && line.bytes().all(|b| b.is_ascii_digit()))?;
    Some((to, code.to_owned()))
}

/// Complete code logins: request, read the code from the outbox, verify.
async fn code_logins(
    base: &str,
    dir: &Path,
    emails: &Arc<Vec<String>>,
    next: &Arc<AtomicUsize>,
    clients: usize,
    secs: f64,
) -> Run {
    let outbox = Outbox::default();
    let stop = Arc::new(AtomicUsize::new(0));
    let watcher = outbox.watch(dir.join("mail"), stop.clone());
    let (base, emails, next) = (base.to_owned(), emails.clone(), next.clone());
    let run = closed_loop(visitors(&base, clients).await, secs, move |visitor| {
        let (base, emails, next, outbox) =
            (base.clone(), emails.clone(), next.clone(), outbox.clone());
        async move {
            let succeeded = code_login(&base, &visitor, &emails, &next, &outbox).await;
            (visitor, succeeded)
        }
    })
    .await;
    stop.store(1, Ordering::Relaxed);
    watcher.await.unwrap();
    run
}

/// One complete code login by `visitor` as the next contact; whether it succeeded.
async fn code_login(
    base: &str,
    visitor: &Visitor,
    emails: &[String],
    next: &AtomicUsize,
    outbox: &Outbox,
) -> bool {
    let email = &emails[next.fetch_add(1, Ordering::Relaxed) % emails.len()];
    let fields = [
        ("csrf", visitor.csrf.as_str()),
        ("identifier", email.as_str()),
    ];
    let Ok(page) = visitor
        .client
        .post(format!("{base}/portal/bench/login/code"))
        .form(&fields)
        .send()
        .await
    else {
        return false;
    };
    let Ok(page) = page.text().await else {
        return false;
    };
    let Some(code) = outbox.take(email).await else {
        return false;
    };
    let login_id = hidden(&page, "login_id");
    let fields = [
        ("csrf", visitor.csrf.as_str()),
        ("login_id", login_id.as_str()),
        ("code", code.as_str()),
    ];
    let verified = visitor
        .client
        .post(format!("{base}/portal/bench/login/code/verify"))
        .form(&fields)
        .send()
        .await;
    verified.is_ok_and(|response| response.status() == 303)
}

/// `count` visitors, each logged in as the next contact.
async fn logged_in(
    base: &str,
    emails: &Arc<Vec<String>>,
    next: &Arc<AtomicUsize>,
    count: usize,
) -> Vec<Visitor> {
    let mut arriving = tokio::task::JoinSet::new();
    for _ in 0..count {
        let email = emails[next.fetch_add(1, Ordering::Relaxed) % emails.len()].clone();
        let base = base.to_owned();
        arriving.spawn(async move { logged_in_as(&base, &email).await });
    }
    arriving.join_all().await
}

async fn logged_in_as(base: &str, email: &str) -> Visitor {
    let visitor = visitor(base).await;
    let fields = [
        ("csrf", visitor.csrf.as_str()),
        ("identifier", email),
        ("password", PASSWORD),
    ];
    let answer = visitor
        .client
        .post(format!("{base}/portal/bench/login"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{email} logs in");
    visitor
}

async fn admin_client(base: &str) -> Visitor {
    let cookies = Arc::new(Jar::default());
    let client = browser(&cookies);
    let page = client
        .get(format!("{base}/admin/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("identifier", "admin@bench.example"),
        ("password", PASSWORD),
    ];
    let answer = client
        .post(format!("{base}/admin/login"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "the bench admin logs in");
    Visitor {
        client,
        cookies,
        csrf,
    }
}

/// Page views of `path` by every visitor in a closed loop, each over its own kept-alive
/// HTTP/1.1 connection with the visitor's cookies: a client much lighter than the browser-like
/// one, so that more of the shared cores serve pages.
async fn get_loop(base: &str, visitors: &[Visitor], path: &str, secs: f64) -> Run {
    let url: reqwest::Url = format!("{base}{path}").parse().unwrap();
    let mut readers = Vec::with_capacity(visitors.len());
    for visitor in visitors {
        readers.push(Reader::connect(&url, visitor).await);
    }
    closed_loop(readers, secs, |mut reader: Reader| async move {
        let succeeded = reader.view().await;
        (reader, succeeded)
    })
    .await
}

/// One visitor's connection for reading one page over and over.
struct Reader {
    sender: SendRequest<Empty<Bytes>>,
    request: hyper::Request<Empty<Bytes>>,
}

impl Reader {
    async fn connect(url: &reqwest::Url, visitor: &Visitor) -> Self {
        let address = (url.host_str().unwrap(), url.port().unwrap());
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request =
            hyper::Request::get(url.path().to_owned() + "?" + url.query().unwrap_or(""))
                .header(hyper::header::HOST, format!("{}:{}", address.0, address.1))
                .body(Empty::new())
                .unwrap();
        if let Some(cookies) = visitor.cookies.cookies(url) {
            request.headers_mut().insert(hyper::header::COOKIE, cookies);
        }
        Self { sender, request }
    }

    /// Reads the page once; whether it came with 200 and a whole body.
    async fn view(&mut self) -> bool {
        if self.sender.ready().await.is_err() {
            return false;
        }
        let mut request = hyper::Request::new(Empty::new());
        *request.uri_mut() = self.request.uri().clone();
        *request.headers_mut() = self.request.headers().clone();
        match self.sender.send_request(request).await {
            Ok(response) if response.status() == 200 => {
                response.into_body().collect().await.is_ok()
            }
            _ => false,
        }
    }
}
