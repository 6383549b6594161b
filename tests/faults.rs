//! Portico under faults: its PostgreSQL connection cut and restored while it serves, the
//! process killed while the outbox is sending, and a full disk under the file outbox.
//!
//! SMTP down and back, and an SMS gateway answering 500 or never answering, are in
//! `tests/otp_login.rs` (`smtp_refusing_connections_delays_the_code_but_loses_nothing`,
//! `a_failing_sms_gateway_is_retried_then_marked_failed`,
//! `a_silent_sms_gateway_times_out_and_is_retried`).
//!
//! The database is never really restarted (other tests share the server): a small TCP proxy
//! written here sits between Portico and PostgreSQL, and cutting it drops every connection and
//! refuses new ones, which is what Portico sees of a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Backend, DEMO_PASSWORD, PgDatabase, TestApp};
use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use poem::{EndpointExt, Request, Route, handler, listener::Acceptor, web::Data};
use portico::{
    App, Config,
    config::Overrides,
    storage::{outbox, schema},
};
use reqwest::StatusCode;
use tokio::{net::TcpListener, task::JoinHandle};

/// A TCP proxy on a loopback port that can be cut and restored.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (is_open, all) = (open.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                all.lock().unwrap().push(link);
            }
        });
        Self {
            port,
            open,
            links,
            accept,
        }
    }

    /// Drops every connection and refuses new ones, as a restarting server does.
    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// Where `PORTICO_TEST_POSTGRES_URL` points.
fn postgres_addr() -> Option<SocketAddr> {
    let url = reqwest::Url::parse(&std::env::var("PORTICO_TEST_POSTGRES_URL").ok()?).ok()?;
    let host = url.host_str()?.to_owned();
    let port = url.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()?
        .next()
}

/// `url` with its host and port replaced by the proxy's.
fn through(url: &str, port: u16) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(port)).unwrap();
    url.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_fails_requests_cleanly_then_portico_recovers_by_itself() {
    let Some(target) = postgres_addr() else {
        let _ = common::postgres_admin_url();
        return;
    };
    let proxy = Proxy::start(target).await;
    let port = proxy.port;
    let Some(app) = TestApp::demo_with(Backend::Postgres, move |config| {
        let url = through(config.database_url.expose(), port);
        config.database_url = url.into();
    })
    .await
    else {
        return;
    };
    let browser = app.browser();
    let answer = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let api = reqwest::Client::new();
    let token: serde_json::Value = api
        .post(format!("{}/api/v1/portals/acme/login/password", app.base))
        .json(&serde_json::json!({ "identifier": "demo@acme.example", "password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();

    proxy.cut();
    let started = Instant::now();
    let page = browser.get("/portal/acme/").await;
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        page.body
    );
    assert!(
        !page.body.to_lowercase().contains("postgres") && !page.body.contains("connection"),
        "no internal cause on the page: {}",
        page.body
    );
    let problem = api
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
    let problem: serde_json::Value = problem.json().await.unwrap();
    assert_eq!(problem["type"], "urn:portico:problem:unavailable");
    assert_eq!(
        browser.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(browser.get("/healthz").await.status, StatusCode::OK);
    let failing_for = started.elapsed();
    assert!(
        failing_for < Duration::from_secs(40),
        "failures came in {failing_for:?}"
    );

    proxy.restore();
    let restored = Instant::now();
    let mut recovered = None;
    for _ in 0..60 {
        let page = browser.get("/portal/acme/").await;
        if page.status == StatusCode::OK {
            recovered = Some(page);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let page = recovered.expect("Portico serves again within 30 seconds of the database");
    eprintln!(
        "database cut: four requests answered 503/200 in {failing_for:?}; served again {:?} \
         after the database came back",
        restored.elapsed()
    );
    assert!(page.is_logged_in(), "the session outlived the outage");
    let me = api
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let again = app
        .browser()
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "new logins work too");
}

/// What an SMS gateway saw: each request's idempotency key and whether it answered it.
#[derive(Clone, Default)]
struct GatewayLog {
    received: Arc<Mutex<Vec<String>>>,
    confirmed: Arc<Mutex<Vec<String>>>,
}

#[handler]
async fn slow_gateway(req: &Request, Data(log): Data<&GatewayLog>) -> StatusCode {
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    log.received.lock().unwrap().push(key.clone());
    tokio::time::sleep(Duration::from_millis(150)).await;
    log.confirmed.lock().unwrap().push(key);
    StatusCode::OK
}

async fn start_gateway(log: GatewayLog) -> u16 {
    let acceptor =
        poem::listener::Listener::into_acceptor(poem::listener::TcpListener::bind("127.0.0.1:0"))
            .await
            .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let app = Route::new().at("/sms", poem::post(slow_gateway)).data(log);
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    port
}

/// The real binary, serving `database_url` with SMS going to the gateway on `gateway`.
fn spawn_portico(database_url: &str, data_dir: &std::path::Path, gateway: u16) -> Child {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Command::new(env!("CARGO_BIN_EXE_portico"))
        .arg("serve")
        .env_clear()
        .env("PORTICO_DATABASE_URL", database_url)
        .env("PORTICO_DATA_DIR", data_dir)
        .env("PORTICO_BIND", format!("127.0.0.1:{port}"))
        .env("PORTICO_SECRET_KEY", "k".repeat(64))
        .env(
            "PORTICO_SMS_GATEWAY_URL",
            format!("http://127.0.0.1:{gateway}/sms"),
        )
        .env("PORTICO_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn states(app: &App) -> BTreeMap<String, String> {
    app.db
        .run(|conn| {
            Ok(schema::outbox::table
                .select((schema::outbox::id, schema::outbox::state))
                .load::<(String, String)>(conn)?
                .into_iter()
                .collect())
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portico_killed_while_sending_loses_nothing_and_resends_nothing_confirmed() {
    let Some((_database, url)) = PgDatabase::fresh().await else {
        return;
    };
    let data_dir = tempfile::tempdir().unwrap();
    let overrides = Overrides {
        data_dir: Some(data_dir.path().to_owned()),
        database_url: Some(url.clone()),
        ..Overrides::default()
    };
    let config = Config::from_sources(&overrides, &HashMap::new()).unwrap();
    let app = tokio::task::spawn_blocking(move || App::build(config))
        .await
        .unwrap()
        .unwrap();
    let queued = app
        .db
        .run(|conn| {
            let now = chrono::Utc::now().naive_utc();
            (0..40)
                .map(|n| {
                    let message = outbox::NewMessage {
                        org_id: None,
                        channel: "sms",
                        recipient: format!("+1555020{n:04}"),
                        subject: String::new(),
                        body_text: format!("Notice {n}"),
                        body_html: String::new(),
                        code_refs: Vec::new(),
                    };
                    outbox::enqueue(conn, &message, now)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();

    let log = GatewayLog::default();
    let gateway = start_gateway(log.clone()).await;
    let mut portico = spawn_portico(&url, data_dir.path(), gateway);
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.received.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "the worker never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    portico.kill().unwrap();
    portico.wait().unwrap();
    // A statement that reached PostgreSQL just before the kill still completes: let it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let at_kill = states(&app).await;
    let reached_at_kill = log.received.lock().unwrap().len();
    let confirmed_at_kill = log.confirmed.lock().unwrap().len();
    let sent_before: Vec<&String> = at_kill
        .iter()
        .filter(|(_, state)| *state == "sent")
        .map(|(id, _)| id)
        .collect();
    assert!(
        at_kill.values().any(|state| state != "sent"),
        "the kill came before the end: {at_kill:?}"
    );

    // The lease of the messages that were in flight runs out (moved here rather than waited).
    app.db
        .run(|conn| {
            let past = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(1);
            diesel::update(schema::outbox::table.filter(schema::outbox::state.eq("sending")))
                .set(schema::outbox::claimed_until.eq(past))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let mut portico = spawn_portico(&url, data_dir.path(), gateway);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = states(&app).await;
        if now.values().all(|state| state == "sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all sent after the restart: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    portico.kill().unwrap();
    portico.wait().unwrap();

    let mut copies: HashMap<String, usize> = HashMap::new();
    for key in log.received.lock().unwrap().iter() {
        *copies.entry(key.clone()).or_default() += 1;
    }
    for id in &queued {
        assert!(
            copies.contains_key(id),
            "message {id} never reached the gateway"
        );
    }
    assert_eq!(
        copies.len(),
        queued.len(),
        "no message the outbox did not hold"
    );
    for id in &sent_before {
        assert_eq!(copies[*id], 1, "{id} was recorded sent, and sent again");
    }
    let repeated: Vec<&String> = copies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    for id in &repeated {
        assert_eq!(
            at_kill[*id], "sending",
            "only a message in flight at the kill may go twice, under one key"
        );
    }
    eprintln!(
        "killed when {reached_at_kill} of {} had reached the gateway and it had confirmed \
         {confirmed_at_kill}: {} recorded sent, {} in flight, {} sent again under the same key",
        queued.len(),
        sent_before.len(),
        at_kill.values().filter(|s| *s == "sending").count(),
        repeated.len()
    );
    assert!(
        app.db
            .run(|conn| Ok(schema::outbox::table
                .select(schema::outbox::body_text)
                .load::<String>(conn)?))
            .await
            .unwrap()
            .iter()
            .all(String::is_empty),
        "every body wiped once sent"
    );
}

/// A small tmpfs mounted on a folder for as long as it lives.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(dir: &std::path::Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Self(dir.to_owned()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

async fn a_full_disk_keeps_file_messages_waiting_until_there_is_room(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let mail = app.data_dir.path().join("mail");
    let _mount = match Mount::tmpfs(&mail, "64k") {
        Ok(mount) => mount,
        Err(reason) => {
            eprintln!("\n*** full-disk test NOT RUN: cannot mount a small tmpfs: {reason} ***\n");
            assert!(
                std::env::var("CI").is_err(),
                "CI runs as root and can mount"
            );
            return;
        }
    };
    let filler = mail.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![b'x'; 4096];
        while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
    }

    let browser = app.browser();
    let page = browser.request_code("globex", "demo@globex.example").await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the page does not wait for the disk"
    );
    app.deliver_now().await;
    let waiting = app.settled_deliveries("globex").await;
    assert_eq!(waiting[0].state, "pending");
    let error = waiting[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("cannot write to the outbox folder"),
        "{error}"
    );
    let names: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["filler"], "no cut-off message left behind");

    std::fs::remove_file(&filler).unwrap();
    app.deliver_now().await;
    assert_eq!(app.settled_deliveries("globex").await[0].state, "sent");
    let file = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "eml"))
        .expect("the email, once there is room");
    let mail = common::smtp::Mail {
        from: String::new(),
        to: Vec::new(),
        data: std::fs::read_to_string(file).unwrap(),
    };
    let code = mail.code();
    let answer = browser.enter_code("globex", &page, &code).await;
    assert_eq!(
        answer.status,
        StatusCode::SEE_OTHER,
        "the late code still works"
    );
}

both_backends!(a_full_disk_keeps_file_messages_waiting_until_there_is_room);
