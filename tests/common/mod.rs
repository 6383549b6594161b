//! The test harness: a real Portico server on a free loopback port, on a fresh SQLite file or
//! a fresh PostgreSQL database, driven over HTTP like a browser would.
//!
//! `both_backends!(scenario)` turns `async fn scenario(backend: Backend)` into two tests,
//! `scenario::sqlite` and `scenario::postgres`. The PostgreSQL one runs when
//! `PORTICO_TEST_POSTGRES_URL` names a server it may create databases on; each test gets its
//! own database, dropped afterwards. Without the variable the test says loudly that it did not
//! run, and under CI (`CI=true`) it fails instead.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod sms;
pub mod smtp;

use std::{collections::HashMap, sync::Arc};

use diesel::{
    Connection, ExpressionMethods, PgConnection, QueryDsl, RunQueryDsl, TextExpressionMethods,
};
use poem::listener::Acceptor;
use portico::{App, Config, config::Overrides, fixtures, web};
use reqwest::{StatusCode, header::HeaderMap, redirect::Policy};
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a scenario once per backend, as two tests.
#[macro_export]
macro_rules! both_backends {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$scenario($crate::common::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$scenario($crate::common::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// A PostgreSQL database made for one test and dropped with it.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    /// A fresh database and its URL; `None` (said loudly) when PostgreSQL is not configured.
    pub async fn fresh() -> Option<(Self, String)> {
        let admin_url = postgres_admin_url()?;
        Some(
            tokio::task::spawn_blocking(move || Self::create(&admin_url))
                .await
                .unwrap(),
        )
    }

    fn create(admin_url: &str) -> (Self, String) {
        let name = format!("portico_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(admin_url)
            .unwrap_or_else(|e| panic!("cannot reach PORTICO_TEST_POSTGRES_URL: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        let url = format!("{base}/{name}");
        (
            Self {
                admin_url: admin_url.to_owned(),
                name,
            },
            url,
        )
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// A running Portico server with its own database and data folder.
pub struct TestApp {
    pub app: Arc<App>,
    pub base: String,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pg: Option<PgDatabase>,
    pub data_dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts an empty Portico on `backend`; `None` (said loudly) when PostgreSQL is not
    /// configured outside CI.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts Portico with the demo fixtures loaded.
    pub async fn demo(backend: Backend) -> Option<Self> {
        let app = Self::start(backend).await?;
        let set = fixtures::FixtureSet::embedded().unwrap();
        fixtures::seed(&app.app, &set).await.unwrap();
        Some(app)
    }

    /// Starts Portico with the demo fixtures, after letting `adjust` change its configuration.
    pub async fn demo_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let app = Self::start_with(backend, adjust).await?;
        let set = fixtures::FixtureSet::embedded().unwrap();
        fixtures::seed(&app.app, &set).await.unwrap();
        Some(app)
    }

    /// Starts Portico after letting `adjust` change its configuration.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let data_dir = tempfile::tempdir().unwrap();
        let (pg, database_url) = match backend {
            Backend::Sqlite => (
                None,
                format!("sqlite://{}", data_dir.path().join("portico.db").display()),
            ),
            Backend::Postgres => {
                let admin_url = postgres_admin_url()?;
                let (db, url) = tokio::task::spawn_blocking(move || PgDatabase::create(&admin_url))
                    .await
                    .unwrap();
                (Some(db), url)
            }
        };
        let acceptor = web::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let overrides = Overrides {
            data_dir: Some(data_dir.path().to_owned()),
            database_url: Some(database_url),
            bind: Some(addr.to_string()),
            ..Overrides::default()
        };
        let mut config = Config::from_sources(&overrides, &HashMap::new()).unwrap();
        adjust(&mut config);
        Some(Self::serve(config, acceptor, backend, pg, data_dir).await)
    }

    /// A second Portico on the same database, with the same secret key and settings but its
    /// own port and data folder, as a load balancer would spread requests over them. The
    /// database is dropped with the first instance only.
    pub async fn another_instance(&self) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let acceptor = web::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let mut config = self.app.config.clone();
        if config.secret_key.is_none() {
            let key = std::fs::read_to_string(self.data_dir.path().join("secret.key")).unwrap();
            config.secret_key = Some(key.trim().to_owned().into());
        }
        config.bind = addr;
        config.public_url = format!("http://{addr}");
        config.data_dir = data_dir.path().to_owned();
        Self::serve(config, acceptor, self.backend, None, data_dir).await
    }

    async fn serve(
        config: Config,
        acceptor: poem::listener::TcpAcceptor,
        backend: Backend,
        pg: Option<PgDatabase>,
        data_dir: tempfile::TempDir,
    ) -> Self {
        let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
        let app = tokio::task::spawn_blocking(move || App::build(config))
            .await
            .unwrap()
            .unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        let server = tokio::spawn(async move {
            web::serve(served, acceptor, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Self {
            app,
            base: format!("http://{addr}"),
            backend,
            shutdown: Some(tx),
            server: Some(server),
            pg,
            data_dir,
        }
    }

    /// A new browser: its own cookie jar, redirects not followed.
    pub fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }

    /// The kinds of the organization's latest audit events, newest first.
    pub async fn audit_kinds(&self, slug: &str) -> Vec<(String, String)> {
        let slug = slug.to_owned();
        self.app
            .db
            .run(move |conn| {
                let org = portico::storage::orgs::find_by_slug(conn, &slug)?.unwrap();
                portico::storage::audit::recent_kinds(conn, &org.id, 50)
            })
            .await
            .unwrap()
    }

    /// Moves every one-time code of the organization past its expiry.
    pub async fn expire_codes(&self, slug: &str) {
        use portico::storage::schema::one_time_codes;
        let org_id = self.org_id(slug).await;
        self.app
            .db
            .run(move |conn| {
                let past = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1);
                diesel::update(one_time_codes::table.filter(one_time_codes::org_id.eq(org_id)))
                    .set(one_time_codes::expires_at.eq(past))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Moves every counted limit event `secs` seconds into the past (to pass a cooldown).
    pub async fn age_limit_events(&self, secs: i64) {
        use portico::storage::schema::limit_events;
        self.app
            .db
            .run(move |conn| {
                type Event = (String, String, chrono::NaiveDateTime, i64);
                let events: Vec<Event> = limit_events::table
                    .select((
                        limit_events::org_id,
                        limit_events::bucket,
                        limit_events::occurred_at,
                        limit_events::seq,
                    ))
                    .load(conn)?;
                diesel::delete(limit_events::table).execute(conn)?;
                for (org, bucket, at, seq) in events {
                    diesel::insert_into(limit_events::table)
                        .values((
                            limit_events::org_id.eq(org),
                            limit_events::bucket.eq(bucket),
                            limit_events::occurred_at.eq(at - chrono::Duration::seconds(secs)),
                            limit_events::seq.eq(seq),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// Counted events whose bucket starts with `prefix`.
    pub async fn limit_events(&self, prefix: &str) -> usize {
        use portico::storage::schema::limit_events;
        let pattern = format!("{prefix}%");
        self.app
            .db
            .run(move |conn| {
                Ok(limit_events::table
                    .filter(limit_events::bucket.like(pattern))
                    .count()
                    .get_result::<i64>(conn)?)
            })
            .await
            .unwrap() as usize
    }

    /// The body of the page at `path`, fetched with this `cookie` header alone.
    pub async fn page_with_cookie(&self, path: &str, cookie: &str) -> String {
        reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// How many contact sessions the organization has stored.
    pub async fn stored_sessions(&self, slug: &str) -> i64 {
        use portico::storage::schema::contact_sessions;
        let org_id = self.org_id(slug).await;
        self.app
            .db
            .run(move |conn| {
                Ok(contact_sessions::table
                    .filter(contact_sessions::org_id.eq(org_id))
                    .count()
                    .get_result(conn)?)
            })
            .await
            .unwrap()
    }

    /// The places of the counted events whose bucket starts with `prefix`, each bucket's and
    /// place once: as many as [`Self::limit_events`] when no two events share a place, which
    /// a count by places needs.
    pub async fn limit_places(&self, prefix: &str) -> usize {
        use portico::storage::schema::limit_events;
        let pattern = format!("{prefix}%");
        self.app
            .db
            .run(move |conn| {
                let places: std::collections::HashSet<(String, i64)> = limit_events::table
                    .filter(limit_events::bucket.like(pattern))
                    .select((limit_events::bucket, limit_events::seq))
                    .load::<(String, i64)>(conn)?
                    .into_iter()
                    .collect();
                Ok(places.len())
            })
            .await
            .unwrap()
    }

    /// The organization's deliveries, newest first.
    pub async fn deliveries(&self, slug: &str) -> Vec<portico::storage::outbox::Delivery> {
        let slug = slug.to_owned();
        self.app
            .db
            .run(move |conn| {
                let org = portico::storage::orgs::find_by_slug(conn, &slug)?.unwrap();
                portico::storage::outbox::deliveries(conn, &org.id, 100)
            })
            .await
            .unwrap()
    }

    /// Runs `statements` of SQL written for this test's backend, in order.
    pub async fn sql(&self, statements: &[&str]) {
        let statements: Vec<String> = statements.iter().map(|s| (*s).to_owned()).collect();
        self.app
            .db
            .run(move |conn| {
                for statement in &statements {
                    diesel::sql_query(statement.as_str()).execute(conn)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }

    /// The organization's deliveries once none is in the middle of being sent.
    pub async fn settled_deliveries(&self, slug: &str) -> Vec<portico::storage::outbox::Delivery> {
        for _ in 0..200 {
            let deliveries = self.deliveries(slug).await;
            if deliveries.iter().all(|d| d.state != "sending") {
                return deliveries;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("a delivery stayed in 'sending' for 10 seconds");
    }

    /// Waits until no message of any organization, or of none, is waiting or being sent.
    pub async fn settled_outbox(&self) {
        for _ in 0..200 {
            let states = self.stored_bodies().await;
            if states
                .iter()
                .all(|(state, _)| state != "sending" && state != "pending")
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the outbox did not settle within 10 seconds");
    }

    /// Every message body still stored in the outbox, whatever its state.
    pub async fn stored_bodies(&self) -> Vec<(String, String)> {
        use portico::storage::schema::outbox;
        self.app
            .db
            .run(|conn| {
                Ok(outbox::table
                    .select((outbox::state, outbox::body_text))
                    .load(conn)?)
            })
            .await
            .unwrap()
    }

    /// Makes every waiting message due now and runs one delivery round.
    pub async fn deliver_now(&self) -> usize {
        use portico::storage::schema::outbox;
        self.app
            .db
            .run(|conn| {
                let now = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
                diesel::update(outbox::table.filter(outbox::state.eq("pending")))
                    .set(outbox::next_attempt_at.eq(now))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
        portico::domain::delivery::deliver_due(&self.app)
            .await
            .unwrap()
    }

    pub async fn org_id(&self, slug: &str) -> String {
        let slug = slug.to_owned();
        self.app
            .db
            .run(move |conn| {
                Ok(portico::storage::orgs::find_by_slug(conn, &slug)?
                    .unwrap()
                    .id
                    .to_string())
            })
            .await
            .unwrap()
    }

    /// Stops the server, then drops the database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        drop(self.pg.take());
    }
}

pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("PORTICO_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "PORTICO_TEST_POSTGRES_URL is not set under CI: the PostgreSQL tests cannot run"
            );
            eprintln!(
                "\n*** PostgreSQL test NOT RUN: set PORTICO_TEST_POSTGRES_URL \
                 (e.g. postgres://postgres@127.0.0.1/postgres) to run it ***\n"
            );
            None
        }
    }
}

/// An HTTP response, read whole.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The seconds of the `Retry-After` header, when there is one.
    pub fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after")?.to_str().ok()?.parse().ok()
    }

    /// The `Location` header of a redirect.
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The hidden CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("page has no CSRF field") + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }

    /// The value of the first hidden field called `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} field on the page:\n{}", self.body))
            + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_owned()
    }

    /// Whether the browser is greeted as logged in on this page.
    pub fn is_logged_in(&self) -> bool {
        self.body.contains("Hello, ")
    }

    /// The value of the session cookie this answer sets for the portal `slug`.
    pub fn session_cookie(&self, slug: &str) -> String {
        let prefix = format!("portico_session_{slug}=");
        let cookie = self
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&prefix))
            .expect("a session cookie");
        cookie[prefix.len()..].split(';').next().unwrap().to_owned()
    }

    /// The page body with its per-visit parts (form tokens) blanked, for comparing answers.
    pub fn comparable_body(&self) -> String {
        let mut body = self.body.clone();
        for marker in ["name=\"csrf\" value=\"", "name=\"login_id\" value=\""] {
            let mut from = 0;
            while let Some(at) = body[from..].find(marker) {
                let start = from + at + marker.len();
                let end = start + body[start..].find('"').unwrap();
                body.replace_range(start..end, "");
                from = start;
            }
        }
        body
    }

    /// The `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }
}

/// A client with its own cookie jar, like one browser.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

impl Browser {
    pub async fn get(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    /// Opens `page` for its form token, then posts `fields` with it to `action`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all).await
    }

    /// Asks a portal for a login code; returns the code page.
    pub async fn request_code(&self, slug: &str, identifier: &str) -> Page {
        self.submit(
            &format!("/portal/{slug}/login"),
            &format!("/portal/{slug}/login/code"),
            &[("identifier", identifier)],
        )
        .await
    }

    /// Enters a code on a code page.
    pub async fn enter_code(&self, slug: &str, code_page: &Page, code: &str) -> Page {
        let login_id = code_page.hidden("login_id");
        self.post_form(
            &format!("/portal/{slug}/login/code/verify"),
            &[
                ("csrf", &code_page.csrf()),
                ("login_id", &login_id),
                ("code", code),
            ],
        )
        .await
    }

    /// Logs in on the common login page with a password.
    pub async fn common_password_login(&self, identifier: &str, password: &str) -> Page {
        self.submit(
            "/",
            "/",
            &[("identifier", identifier), ("password", password)],
        )
        .await
    }

    /// Logs in on a portal's own login page with a password.
    pub async fn password_login(&self, slug: &str, identifier: &str, password: &str) -> Page {
        let path = format!("/portal/{slug}/login");
        self.submit(
            &path,
            &path,
            &[("identifier", identifier), ("password", password)],
        )
        .await
    }
}

/// Reads a whole response into a [`Page`].
pub async fn read(response: reqwest::Response) -> Page {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Page {
        status,
        headers,
        body,
    }
}

/// The demo password of every demo contact.
pub const DEMO_PASSWORD: &str = "portico-demo-password";

/// The password of every demo admin.
pub const ADMIN_PASSWORD: &str = "portico-admin-password";

impl TestApp {
    /// The demo, sending its emails to `smtp` and its SMS to `sms`.
    pub async fn wired(
        backend: Backend,
        smtp: &smtp::SmtpReceiver,
        sms: &sms::SmsReceiver,
    ) -> Option<Self> {
        let (url, gateway) = (smtp.url(), sms.gateway());
        Self::demo_with(backend, move |config| {
            config.smtp_url = Some(url.into());
            config.sms_gateway = Some(gateway);
        })
        .await
    }

    /// A browser logged in to the console as the demo admin `email`.
    pub async fn admin(&self, email: &str) -> Browser {
        let browser = self.browser();
        let answer = browser
            .submit(
                "/admin/login",
                "/admin/login",
                &[("identifier", email), ("password", ADMIN_PASSWORD)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), "/admin/");
        browser
    }

    /// The id of the admin with `email`.
    pub async fn admin_id(&self, email: &str) -> portico::domain::admin::AdminId {
        let email = email.to_owned();
        self.app
            .db
            .run(move |conn| {
                Ok(
                    portico::storage::accounts::find_admin_by_email(conn, &email)?
                        .unwrap()
                        .0
                        .id,
                )
            })
            .await
            .unwrap()
    }
}

/// A mail server and an SMS gateway on loopback, both accepting.
pub async fn receivers() -> (smtp::SmtpReceiver, sms::SmsReceiver) {
    (
        smtp::SmtpReceiver::start().await,
        sms::SmsReceiver::start(sms::Mode::Accept).await,
    )
}

impl TestApp {
    /// Changes the login policy of the organization `slug` straight in the database.
    pub async fn adjust_policy(
        &self,
        slug: &str,
        change: impl FnOnce(&mut portico::domain::org::LoginPolicy) + Send + 'static,
    ) {
        use portico::storage::orgs;
        let slug = slug.to_owned();
        self.app
            .db
            .run(move |conn| {
                let org = orgs::find_by_slug(conn, &slug)?.unwrap();
                let mut policy = orgs::policy(conn, &org.id)?;
                change(&mut policy);
                orgs::save_policy(conn, &org.id, &policy)
            })
            .await
            .unwrap();
    }
}
