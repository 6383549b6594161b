//! The `portico` binary as an operator meets it: clear one-sentence errors, idempotent
//! seeding, admin accounts from the command line, and the health endpoints.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use std::process::{Command, Output, Stdio};

use common::{Backend, TestApp};
use reqwest::StatusCode;

fn portico(args: &[&str], data_dir: &std::path::Path, stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(args)
        .env_remove("PORTICO_DATABASE_URL")
        .env("PORTICO_DATA_DIR", data_dir)
        .env("PORTICO_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_unknown_database_scheme_stops_start_up_with_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let out = portico(
        &[
            "migrate",
            "--database-url",
            "mysql://root@localhost/portico",
        ],
        dir.path(),
        None,
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("The database URL scheme 'mysql' is not supported"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        !dir.path().join("portico.db").exists(),
        "no SQLite file was made instead"
    );
}

#[test]
fn an_unreachable_database_stops_start_up_with_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let out = portico(
        &[
            "migrate",
            "--database-url",
            "postgres://portico:secret-pw@127.0.0.1:1/portico",
        ],
        dir.path(),
        None,
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Cannot reach the database"), "{stderr}");
    assert!(
        !stderr.contains("secret-pw"),
        "the database password leaked: {stderr}"
    );
}

#[test]
fn an_unreadable_config_file_stops_start_up_with_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let out = portico(
        &["--config", "/nonexistent/portico.toml", "migrate"],
        dir.path(),
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Cannot read the configuration file /nonexistent/portico.toml")
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "bind = 12\n").unwrap();
    let out = portico(
        &["--config", bad.to_str().unwrap(), "migrate"],
        dir.path(),
        None,
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not valid"));
}

#[test]
fn migrate_creates_the_sqlite_database_and_the_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = portico(&["migrate"], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Database is up to date (sqlite)"));
    assert!(dir.path().join("portico.db").exists());
    let key = dir.path().join("secret.key");
    assert!(std::fs::read_to_string(&key).unwrap().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the secret key is readable by others");
    }
}

both_backends!(
    api_key_create_prints_the_key_alone_on_its_last_line,
    seeding_twice_changes_nothing,
    admin_create_reads_the_password_from_stdin,
    health_and_readiness
);

async fn seeding_twice_changes_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let url = app.app.config.database_url.expose().clone();
    let dir = app.data_dir.path().to_owned();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    let first = tokio::task::spawn_blocking({
        let (url, dir) = (url.clone(), dir.clone());
        move || portico(&["--database-url", &url, "seed", fixtures], &dir, None)
    })
    .await
    .unwrap();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).starts_with("Added 5 organizations"),
        "{}",
        text(&first.stdout)
    );

    let second = tokio::task::spawn_blocking(move || {
        portico(&["--database-url", &url, "seed", fixtures], &dir, None)
    })
    .await
    .unwrap();
    assert!(second.status.success());
    assert!(
        text(&second.stdout).contains("Nothing to add"),
        "{}",
        text(&second.stdout)
    );
    let login = app
        .browser()
        .password_login("acme", "demo@acme.example", common::DEMO_PASSWORD)
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
}

async fn admin_create_reads_the_password_from_stdin(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let url = app.app.config.database_url.expose().clone();
    let dir = app.data_dir.path().to_owned();
    let run = move |args: Vec<String>, stdin: &'static str| {
        let (url, dir) = (url.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            let mut all = vec!["--database-url".to_owned(), url];
            all.extend(args);
            let refs: Vec<&str> = all.iter().map(String::as_str).collect();
            portico(&refs, &dir, Some(stdin))
        })
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let short = run(
        args(&[
            "admin",
            "create",
            "--email",
            "ops@globex.example",
            "--org",
            "globex",
        ]),
        "short\n",
    )
    .await
    .unwrap();
    assert!(!short.status.success());
    assert!(text(&short.stderr).contains("15 to 128 characters"));

    let created = run(
        args(&[
            "admin",
            "create",
            "--email",
            "Ops@Globex.example",
            "--org",
            "globex",
        ]),
        "a-long-enough-admin-password\n",
    )
    .await
    .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert!(text(&created.stdout).contains("Admin ops@globex.example created."));

    let again = run(
        args(&["admin", "create", "--email", "ops@globex.example"]),
        "a-long-enough-admin-password\n",
    )
    .await
    .unwrap();
    assert!(!again.status.success());

    let reset = run(
        args(&["admin", "reset-password", "--email", "ops@globex.example"]),
        "another-long-admin-password\n",
    )
    .await
    .unwrap();
    assert!(reset.status.success(), "{}", text(&reset.stderr));

    let stored = app
        .app
        .db
        .run(|conn| portico::storage::accounts::find_admin_by_email(conn, "ops@globex.example"))
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.0.is_platform);
    assert_eq!(stored.0.org_ids.len(), 1);
    assert!(stored.1.starts_with("$argon2id$"));
    let verdict = app
        .app
        .hasher
        .verify("another-long-admin-password".into(), Some(stored.1))
        .await
        .unwrap();
    assert!(matches!(
        verdict,
        portico::domain::password::Verdict::Match { .. }
    ));
}

async fn health_and_readiness(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let browser = app.browser();
    let health = browser.get("/healthz").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = browser.get("/readyz").await;
    assert_eq!(
        (ready.status, ready.body.as_str()),
        (StatusCode::OK, "ready")
    );
    assert!(health.headers.contains_key("x-request-id"));
    assert_eq!(health.headers["x-content-type-options"], "nosniff");
}

#[test]
fn openapi_prints_the_spec_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = portico(&["openapi"], dir.path(), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let spec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(spec["info"]["title"], "Portico API");
    assert!(spec["paths"]["/portals/{slug}/login/otp"].is_object());
    assert!(
        !dir.path().join("portico.db").exists(),
        "printing the spec opened a database"
    );
}

async fn api_key_create_prints_the_key_alone_on_its_last_line(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let url = app.app.config.database_url.expose().clone();
    let dir = app.data_dir.path().to_owned();
    let run = move |extra: &'static [&'static str]| {
        let (url, dir) = (url.clone(), dir.clone());
        tokio::task::spawn_blocking(move || {
            let mut all = vec!["--database-url", url.as_str(), "admin", "api-key", "create"];
            all.extend_from_slice(extra);
            portico(&all, &dir, None)
        })
    };

    let made = run(&["--org", "acme", "--name", "CRM sync"]).await.unwrap();
    assert!(made.status.success(), "{}", text(&made.stderr));
    let stdout = text(&made.stdout);
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert!(
        key.starts_with("portico_") && !key.contains(' '),
        "{stdout}"
    );
    let api = format!("{}/api/v1/admin/orgs", app.base);
    let client = reqwest::Client::new();
    let orgs: serde_json::Value = client
        .get(&api)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        orgs.as_array().unwrap().len(),
        1,
        "an organization key reaches its own only"
    );
    assert_eq!(orgs[0]["slug"], "acme");

    let platform = run(&[]).await.unwrap();
    let key = text(&platform.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let orgs: serde_json::Value = client
        .get(&api)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        orgs.as_array().unwrap().len(),
        5,
        "a platform key reaches every organization"
    );

    let unknown = run(&["--org", "nowhere"]).await.unwrap();
    assert!(!unknown.status.success());
}
