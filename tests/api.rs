//! The API end to end on SQLite and PostgreSQL: login in every mode with codes read from a
//! real SMTP server and HTTP SMS gateway on loopback, the contact's requests, administration
//! with API keys, problem documents for every kind of refusal, and a tenant-crossing check of
//! every endpoint: acme's token and key reach nothing of globex, and change nothing there.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{
    Backend, DEMO_PASSWORD, TestApp,
    api::{Answer, read},
    sms::{Mode, SmsReceiver},
    smtp::SmtpReceiver,
};
use portico::domain::api_keys::{self, Maker};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_backends!(
    password_login_opens_a_session_that_reaches_me_and_ends_at_logout,
    emailed_code_login_on_globex,
    sms_code_login_on_initech_with_a_national_number,
    umbrella_takes_the_password_or_a_code_sent_to_both,
    hooli_needs_the_password_then_a_code,
    wrong_codes_and_passwords_get_one_answer_and_count_toward_lockout,
    unknown_identifiers_get_the_same_answer_and_nothing_is_sent,
    contact_requests_raise_list_reply_close_and_reopen,
    problems_for_malformed_json_wrong_content_type_and_unknown_routes,
    cookies_are_never_accepted,
    admin_key_manages_its_organization,
    done_when_scenario,
    acme_token_reaches_nothing_of_globex,
    acme_key_reaches_nothing_of_globex,
    console_makes_shows_once_and_revokes_api_keys,
    admin_key_edits_contacts_sets_passwords_and_invites,
    admin_key_keeps_categories_and_solutions,
    admin_key_answers_notes_moves_and_assigns_requests,
    deliveries_and_audit_events_filter_and_page_stably,
    contacts_attach_and_download_files_checked_like_the_pages,
    every_401_challenges_and_every_429_says_when,
    simultaneous_code_requests_for_one_identifier_send_one_code,
    simultaneous_code_requests_from_one_address_stop_at_its_cap,
);

/// An API client: JSON in, JSON out, no cookie jar.
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("{}/api/v1", app.base),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Posts a multipart form of a reply and one file.
    async fn post_file(&self, path: &str, token: &str, body: &str, file: (&str, &[u8])) -> Answer {
        let part = reqwest::multipart::Part::bytes(file.1.to_vec()).file_name(file.0.to_owned());
        let form = reqwest::multipart::Form::new()
            .text("body", body.to_owned())
            .part("attachment", part);
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .multipart(form);
        read(request.send().await.unwrap()).await
    }

    async fn password_login(&self, slug: &str, identifier: &str, password: &str) -> Answer {
        let body = json!({ "identifier": identifier, "password": password });
        self.post(&format!("/portals/{slug}/login/password"), None, body)
            .await
    }

    async fn request_code(&self, slug: &str, identifier: &str) -> Answer {
        let body = json!({ "identifier": identifier });
        self.post(&format!("/portals/{slug}/login/otp"), None, body)
            .await
    }

    async fn verify(&self, slug: &str, login_id: &str, code: &str) -> Answer {
        let body = json!({ "login_id": login_id, "code": code });
        self.post(&format!("/portals/{slug}/login/otp/verify"), None, body)
            .await
    }

    /// Logs in with the demo password; returns the token.
    async fn token(&self, slug: &str, identifier: &str) -> String {
        let answer = self.password_login(slug, identifier, DEMO_PASSWORD).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.body["token"].as_str().unwrap().to_owned()
    }
}

/// An API key of the organization at `slug` (or of the platform), as the CLI makes them.
async fn api_key(app: &TestApp, slug: Option<&str>) -> String {
    let org_id = match slug {
        Some(slug) => {
            let slug = slug.to_owned();
            let org = app
                .app
                .db
                .run(move |conn| portico::storage::orgs::find_by_slug(conn, &slug))
                .await
                .unwrap()
                .unwrap();
            Some(org.id)
        }
        None => None,
    };
    let (_, text) = api_keys::create(&app.app, org_id, "test", Maker::CommandLine, "")
        .await
        .unwrap();
    text.expose().clone()
}

async fn password_login_opens_a_session_that_reaches_me_and_ends_at_logout(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);

    let answer = api
        .password_login("acme", "Demo@Acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let token = answer.body["token"].as_str().unwrap().to_owned();
    assert!(answer.body["expires_at"].as_str().is_some());
    let me = api.get("/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "demo@acme.example");
    assert_eq!(me.body["portal"], "acme");
    let sessions = api.get("/me/sessions", Some(&token)).await;
    assert_eq!(sessions.body[0]["current"], true);
    assert_eq!(sessions.body[0]["auth_method"], "password");
    let audit = app.audit_kinds("acme").await;
    assert_eq!(audit[0].0, "login.succeeded");
    assert!(audit[0].1.contains("\"password\""));

    let other = api.token("acme", "demo@acme.example").await;
    let sessions = api.get("/me/sessions", Some(&token)).await;
    let other_id = sessions
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ended = api
        .call(
            Method::DELETE,
            &format!("/me/sessions/{other_id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/me", Some(&other)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let out = api.call(Method::POST, "/logout", Some(&token), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let after = api.get("/me", Some(&token)).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.problem_type(), "urn:portico:problem:unauthenticated");

    let globex = api
        .password_login("globex", "demo@globex.example", DEMO_PASSWORD)
        .await;
    assert_eq!(
        globex.status,
        StatusCode::FORBIDDEN,
        "globex takes codes only"
    );
}

async fn emailed_code_login_on_globex(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let taken = api.request_code("globex", "demo@globex.example").await;
    assert_eq!(taken.status, StatusCode::ACCEPTED);
    assert_eq!(taken.body["resend_after_seconds"], 60);
    let login_id = taken.body["login_id"].as_str().unwrap().to_owned();
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let session = api.verify("globex", &login_id, &code).await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    let token = session.body["token"].as_str().unwrap();
    assert_eq!(api.get("/me", Some(token)).await.body["portal"], "globex");
    let again = api.verify("globex", &login_id, &code).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "a code works once");
    let audit = app.audit_kinds("globex").await;
    assert!(
        audit
            .iter()
            .any(|(kind, detail)| kind == "login.succeeded" && detail.contains("\"otp\""))
    );
    assert!(sms.received().is_empty());
}

async fn sms_code_login_on_initech_with_a_national_number(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let taken = api.request_code("initech", "(555) 010-0003").await;
    assert_eq!(taken.status, StatusCode::ACCEPTED);
    let login_id = taken.body["login_id"].as_str().unwrap().to_owned();
    let code = sms.wait_for("+15550100003", 1).await.code();
    let session = api.verify("initech", &login_id, &code).await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    let me = api
        .get("/me", Some(session.body["token"].as_str().unwrap()))
        .await;
    assert_eq!(me.body["mobile"], "+15550100003");
    assert!(smtp.mails().is_empty());
}

async fn umbrella_takes_the_password_or_a_code_sent_to_both(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let token = api.token("umbrella", "demo@umbrella.example").await;
    assert_eq!(api.get("/me", Some(&token)).await.status, StatusCode::OK);

    let taken = api.request_code("umbrella", "+1 555 010 0004").await;
    assert_eq!(taken.status, StatusCode::ACCEPTED);
    let login_id = taken.body["login_id"].as_str().unwrap().to_owned();
    let by_sms = sms.wait_for("+15550100004", 1).await.code();
    let by_mail = smtp.wait_for("demo@umbrella.example", 1).await.code();
    assert_eq!(by_sms, by_mail, "one code goes to both");
    let session = api.verify("umbrella", &login_id, &by_mail).await;
    assert_eq!(session.status, StatusCode::OK);
}

async fn hooli_needs_the_password_then_a_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let code_alone = api.request_code("hooli", "demo@hooli.example").await;
    assert_eq!(code_alone.status, StatusCode::FORBIDDEN);
    let step = api
        .password_login("hooli", "demo@hooli.example", DEMO_PASSWORD)
        .await;
    assert_eq!(step.status, StatusCode::OK);
    assert_eq!(step.body["next"], "otp");
    assert!(
        step.body.get("token").is_none(),
        "no session before the code"
    );
    let login_id = step.body["login_id"].as_str().unwrap().to_owned();
    let code = smtp.wait_for("demo@hooli.example", 1).await.code();
    let session = api.verify("hooli", &login_id, &code).await;
    assert_eq!(session.status, StatusCode::OK, "{:?}", session.body);
    let sessions = api
        .get(
            "/me/sessions",
            Some(session.body["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(sessions.body[0]["auth_method"], "password+otp");

    let wrong = api
        .password_login("hooli", "demo@hooli.example", "not the password at all")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(smtp.mails().len(), 1, "a wrong password sends no code");
}

async fn wrong_codes_and_passwords_get_one_answer_and_count_toward_lockout(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let taken = api.request_code("globex", "demo@globex.example").await;
    let login_id = taken.body["login_id"].as_str().unwrap().to_owned();
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let unknown = api
        .verify("globex", &uuid::Uuid::new_v4().to_string(), wrong)
        .await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(api.verify("globex", &login_id, wrong).await);
    }
    for answer in answers.iter().chain([&unknown]) {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.body, unknown.body);
    }
    let dead = api.verify("globex", &login_id, &code).await;
    assert_eq!(
        dead.status,
        StatusCode::UNAUTHORIZED,
        "three wrong guesses kill the code"
    );
    let letters = api.verify("globex", &login_id, "abcdef").await;
    assert_eq!(letters.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(letters.body["field"], "code");

    for _ in 0..10 {
        let refused = api
            .password_login("acme", "demo@acme.example", "a wrong password, again")
            .await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    let locked = api
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(
        locked.status,
        StatusCode::UNAUTHORIZED,
        "the lockout holds for the API"
    );
    let unknown = api
        .password_login("acme", "nobody@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(
        locked.body, unknown.body,
        "a lockout reads like a wrong password"
    );
}

async fn unknown_identifiers_get_the_same_answer_and_nothing_is_sent(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let known = api.request_code("globex", "demo@globex.example").await;
    let unknown = api.request_code("globex", "nobody@globex.example").await;
    assert_eq!(known.status, StatusCode::ACCEPTED);
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    let keys = |answer: &Answer| {
        let mut keys: Vec<String> = answer.body.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&known), keys(&unknown));
    assert_eq!(
        known.body["resend_after_seconds"],
        unknown.body["resend_after_seconds"]
    );
    smtp.wait_for("demo@globex.example", 1).await;
    app.settled_outbox().await;
    assert_eq!(smtp.mails().len(), 1, "the unknown identifier got nothing");

    let soon = api.request_code("globex", "demo@globex.example").await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(soon.problem_type(), "urn:portico:problem:rate-limited");
    assert!(soon.body["retry_after_seconds"].as_u64().unwrap() > 0);
}

async fn contact_requests_raise_list_reply_close_and_reopen(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let token = api.token("acme", "demo@acme.example").await;

    let categories = api
        .get("/portals/acme/service-categories", Some(&token))
        .await;
    let category = categories.body[0]["id"].as_str().unwrap().to_owned();
    let raised = api
        .post(
            "/requests",
            Some(&token),
            json!({ "subject": "Drill chuck slips", "description": "Since Monday.",
                    "category_id": category, "priority": "high" }),
        )
        .await;
    assert_eq!(raised.status, StatusCode::CREATED, "{:?}", raised.body);
    assert_eq!(raised.body["status"], "open");
    assert_eq!(raised.body["priority"], "high");
    let number = raised.body["number"].as_i64().unwrap();

    let bad = api
        .post(
            "/requests",
            Some(&token),
            json!({ "subject": "Broken drill", "description": "It stopped.", "category_id": "nope" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "category");

    let first = api.get("/requests?per_page=2&page=1", Some(&token)).await;
    let second = api.get("/requests?per_page=2&page=2", Some(&token)).await;
    assert_eq!(first.body["items"][0]["number"], number, "newest first");
    let total = first.body["total"].as_i64().unwrap();
    assert!(total >= 3);
    assert_eq!(second.body["total"], total);
    assert_ne!(
        first.body["items"][1]["number"],
        second.body["items"][0]["number"]
    );
    let found = api.get("/requests?q=chuck", Some(&token)).await;
    assert_eq!(found.body["total"], 1);

    let path = format!("/requests/{number}");
    let reply = api
        .post(
            &format!("{path}/replies"),
            Some(&token),
            json!({ "body": "It also smokes." }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["replies"][0]["body"], "It also smokes.");
    let closed = api
        .post(&format!("{path}/close"), Some(&token), json!({}))
        .await;
    assert_eq!(closed.body["status"], "closed");
    let refused = api
        .post(
            &format!("{path}/replies"),
            Some(&token),
            json!({ "body": "Hello?" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reopened = api
        .post(&format!("{path}/reopen"), Some(&token), json!({}))
        .await;
    assert_eq!(reopened.body["status"], "open");
    assert_eq!(api.get(&path, Some(&token)).await.body["status"], "open");
    let audit = app.audit_kinds("acme").await;
    assert!(audit.iter().any(|(kind, _)| kind == "request.reopened"));

    let solutions = api.get("/portals/acme/solutions?per_page=1", None).await;
    assert_eq!(solutions.status, StatusCode::OK);
    assert_eq!(solutions.body["items"].as_array().unwrap().len(), 1);
    let id = solutions.body["items"][0]["id"].as_str().unwrap();
    let article = api
        .get(&format!("/portals/acme/solutions/{id}"), None)
        .await;
    assert!(!article.body["body"].as_str().unwrap().is_empty());
}

async fn problems_for_malformed_json_wrong_content_type_and_unknown_routes(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let url = format!("{}/portals/acme/login/password", api.base);

    let send =
        |request: reqwest::RequestBuilder| async move { read(request.send().await.unwrap()).await };
    let malformed = send(
        api.http
            .post(&url)
            .header("content-type", "application/json")
            .body("{\"identifier\": "),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.problem_type(), "urn:portico:problem:bad-request");
    assert_eq!(malformed.body["status"], 400);
    assert!(malformed.body["title"].is_string() && malformed.body["detail"].is_string());

    let form = send(api.http.post(&url).form(&[("identifier", "x")])).await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        form.problem_type(),
        "urn:portico:problem:unsupported-media-type"
    );

    let too_long = send(
        api.http
            .post(&url)
            .json(&json!({ "identifier": "demo@acme.example", "password": "x".repeat(129) })),
    )
    .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "the spec's maximum length is enforced"
    );

    let unknown = send(api.http.get(format!("{}/nowhere", api.base))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.problem_type(), "urn:portico:problem:not-found");
    let outside = send(api.http.get(format!("{}/api/nowhere", app.base))).await;
    assert_eq!(outside.problem_type(), "urn:portico:problem:not-found");

    let method = send(api.http.delete(format!("{}/me", api.base))).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        method.problem_type(),
        "urn:portico:problem:method-not-allowed"
    );

    // The server answers 413 without reading the rest of the body and closes the connection;
    // a client still writing then and then may see its write fail before it reads the answer.
    // Such a lost answer is tried again, a few times at most. They go on a client of their
    // own: a connection the server closes after its 413 must not carry the next request.
    let oversized = reqwest::Client::new();
    let mut huge = None;
    for _ in 0..5 {
        let sent = oversized
            .post(&url)
            .header("content-type", "application/json")
            .body(vec![b' '; 2 * 1024 * 1024])
            .send()
            .await;
        if let Ok(answer) = sent {
            huge = Some(read(answer).await);
            break;
        }
    }
    let huge = huge.expect("one of five oversized requests got its answer");
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.problem_type(), "urn:portico:problem:payload-too-large");

    let no_portal = api.get("/portals/nowhere", None).await;
    assert_eq!(no_portal.status, StatusCode::NOT_FOUND);
    assert_eq!(no_portal.problem_type(), "urn:portico:problem:not-found");
    let bad_token = api.get("/me", Some("not-a-token")).await;
    assert_eq!(
        bad_token.problem_type(),
        "urn:portico:problem:unauthenticated"
    );
}

async fn cookies_are_never_accepted(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let browser = app.browser();
    let page = browser
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let me = browser.get("/api/v1/me").await;
    assert_eq!(
        me.status,
        StatusCode::UNAUTHORIZED,
        "a browser session cookie is no API token"
    );
    let requests = browser.get("/api/v1/requests").await;
    assert_eq!(requests.status, StatusCode::UNAUTHORIZED);
}

async fn admin_key_manages_its_organization(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let key = api_key(&app, Some("acme")).await;
    let platform = api_key(&app, None).await;

    let orgs = api.get("/admin/orgs", Some(&key)).await;
    assert_eq!(orgs.body.as_array().unwrap().len(), 1);
    assert_eq!(orgs.body[0]["slug"], "acme");
    let all = api.get("/admin/orgs", Some(&platform)).await;
    assert_eq!(all.body.as_array().unwrap().len(), 5);
    let made = api
        .post(
            "/admin/orgs",
            Some(&platform),
            json!({ "slug": "wayne", "name": "Wayne Enterprises" }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    assert_eq!(made.body["status"], "draft");
    let taken = api
        .post(
            "/admin/orgs",
            Some(&platform),
            json!({ "slug": "wayne", "name": "Again" }),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    let refused = api
        .post(
            "/admin/orgs",
            Some(&key),
            json!({ "slug": "stark", "name": "Stark" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut settings = json!({
        "name": "Acme Tools", "status": "live", "accent_color": "#123ABC",
        "welcome_text": "Hello.", "footer_text": "", "host_names": ["help.acme.example"]
    });
    let renamed = api
        .call(
            Method::PUT,
            "/admin/orgs/acme",
            Some(&key),
            Some(settings.clone()),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "Acme Tools");
    assert_eq!(renamed.body["accent_color"], "#123abc");
    assert_eq!(
        api.get("/portals/acme", None).await.body["name"],
        "Acme Tools"
    );
    settings["accent_color"] = json!("blue");
    let bad_colour = api
        .call(Method::PUT, "/admin/orgs/acme", Some(&key), Some(settings))
        .await;
    assert_eq!(bad_colour.status, StatusCode::BAD_REQUEST);

    let page1 = api
        .get("/admin/orgs/acme/contacts?per_page=3", Some(&key))
        .await;
    let page2 = api
        .get("/admin/orgs/acme/contacts?per_page=3&page=2", Some(&key))
        .await;
    assert_eq!(page1.body["total"], page2.body["total"]);
    assert_ne!(page1.body["items"][0]["id"], page2.body["items"][0]["id"]);
    let added = api
        .post(
            "/admin/orgs/acme/contacts",
            Some(&key),
            json!({ "name": "Ray Pike", "email": "Ray@Acme.example" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body["email"], "ray@acme.example");
    let twice = api
        .post(
            "/admin/orgs/acme/contacts",
            Some(&key),
            json!({ "name": "Ray Again", "email": "ray@acme.example" }),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let found = api
        .get("/admin/orgs/acme/contacts?q=pike", Some(&key))
        .await;
    assert_eq!(found.body["total"], 1);

    let demo = api
        .get("/admin/orgs/acme/contacts?q=demo%40acme", Some(&key))
        .await;
    let demo_id = demo.body["items"][0]["id"].as_str().unwrap().to_owned();
    let token = api.token("acme", "demo@acme.example").await;
    let disabled = api
        .post(
            &format!("/admin/orgs/acme/contacts/{demo_id}/disable"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(disabled.body["status"], "disabled");
    assert_eq!(
        api.get("/me", Some(&token)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let enabled = api
        .post(
            &format!("/admin/orgs/acme/contacts/{demo_id}/enable"),
            Some(&key),
            json!({}),
        )
        .await;
    assert_eq!(enabled.body["status"], "active");

    let mut policy = api
        .get("/admin/orgs/acme/login-policy", Some(&key))
        .await
        .body;
    policy["code_length"] = json!(11);
    let out_of_range = api
        .call(
            Method::PUT,
            "/admin/orgs/acme/login-policy",
            Some(&key),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(out_of_range.status, StatusCode::BAD_REQUEST);
    policy["code_length"] = json!(8);
    policy["login_mode"] = json!("otp");
    policy["otp_channel"] = json!("mobile");
    let no_gateway = api
        .call(
            Method::PUT,
            "/admin/orgs/acme/login-policy",
            Some(&key),
            Some(policy),
        )
        .await;
    assert_eq!(no_gateway.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(no_gateway.body["field"], "otp_channel");

    for path in [
        "service-categories",
        "solutions",
        "requests",
        "deliveries",
        "audit-events",
    ] {
        let answer = api
            .get(&format!("/admin/orgs/acme/{path}"), Some(&key))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {:?}", answer.body);
    }
    let audit = api
        .get(
            "/admin/orgs/acme/audit-events?kind=contact.disabled",
            Some(&key),
        )
        .await;
    assert_eq!(audit.body["total"], 1);
    assert!(
        audit.body["items"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api_key:")
    );

    let none = api.get("/admin/orgs", Some("portico_0000_nothing")).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let contact_token = api.get("/admin/orgs", Some(&token)).await;
    assert_eq!(
        contact_token.status,
        StatusCode::UNAUTHORIZED,
        "a contact's token is no key"
    );
}

async fn done_when_scenario(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);

    let docs = reqwest::get(format!("{}/api/docs", app.base))
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let page = docs.text().await.unwrap();
    assert!(page.contains("/api/docs/init.js") && !page.contains("<script>"));
    let spec = api.get("/openapi.json", None).await.body;
    for path in [
        "/portals/{slug}/login/otp",
        "/portals/{slug}/login/otp/verify",
        "/requests",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is not documented");
    }

    let taken = api.request_code("globex", "demo@globex.example").await;
    let login_id = taken.body["login_id"].as_str().unwrap().to_owned();
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let token = api.verify("globex", &login_id, &code).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let categories = api
        .get("/portals/globex/service-categories", Some(&token))
        .await;
    let category = categories.body[0]["id"].as_str().unwrap().to_owned();
    let raised = api
        .post(
            "/requests",
            Some(&token),
            json!({ "subject": "Parcel stuck at hub", "description": "Tracking GX-1 has not moved.", "category_id": category }),
        )
        .await;
    assert_eq!(raised.status, StatusCode::CREATED);
    let listed = api.get("/requests", Some(&token)).await;
    assert_eq!(listed.body["items"][0]["subject"], "Parcel stuck at hub");

    let key = api_key(&app, Some("acme")).await;
    let mut policy = api
        .get("/admin/orgs/acme/login-policy", Some(&key))
        .await
        .body;
    policy["login_mode"] = json!("otp");
    policy["otp_channel"] = json!("email");
    let saved = api
        .call(
            Method::PUT,
            "/admin/orgs/acme/login-policy",
            Some(&key),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert_eq!(
        saved.body, policy,
        "PUT takes and returns the document GET returns"
    );
    let password = api
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_ne!(
        password.status,
        StatusCode::OK,
        "the password no longer logs in"
    );
    assert!(password.body.get("token").is_none());
    let by_code = api.request_code("acme", "demo@acme.example").await;
    assert_eq!(by_code.status, StatusCode::ACCEPTED);
    assert_eq!(
        smtp.wait_for("demo@acme.example", 1).await.to,
        vec!["demo@acme.example"]
    );
    let audit = app.audit_kinds("acme").await;
    assert!(
        audit
            .iter()
            .any(|(kind, detail)| kind == "policy.changed" && detail.contains("login_mode"))
    );

    let globex = api.get("/admin/orgs/globex", Some(&key)).await;
    assert_eq!(globex.status, StatusCode::NOT_FOUND);
    assert_eq!(globex.problem_type(), "urn:portico:problem:not-found");
}

async fn acme_token_reaches_nothing_of_globex(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let taken = api.request_code("globex", "demo@globex.example").await;
    let login_id = taken.body["login_id"].as_str().unwrap().to_owned();
    let code = smtp.wait_for("demo@globex.example", 1).await.code();
    let globex = api.verify("globex", &login_id, &code).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let categories = api
        .get("/portals/globex/service-categories", Some(&globex))
        .await;
    let category = categories.body[0]["id"].as_str().unwrap().to_owned();
    let raised = api
        .post(
            "/requests",
            Some(&globex),
            json!({ "subject": "Globex only", "description": "Mine.", "category_id": category }),
        )
        .await;
    let number = raised.body["number"].as_i64().unwrap();
    let solution = api
        .get("/portals/globex/solutions", Some(&globex))
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let attached = api
        .post_file(
            &format!("/requests/{number}/attachments"),
            &globex,
            "The label.",
            ("label.txt", b"GX-1"),
        )
        .await;
    assert_eq!(attached.status, StatusCode::CREATED, "{:?}", attached.body);
    let attachment = attached.body[0]["id"].as_str().unwrap().to_owned();
    let globex_session = api.get("/me/sessions", Some(&globex)).await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let acme = api.token("acme", "demo@acme.example").await;
    let smuggled = api
        .post_file(
            &format!("/requests/{number}/attachments"),
            &acme,
            "Mine now.",
            ("note.txt", b"hello"),
        )
        .await;
    assert_eq!(smuggled.status, StatusCode::NOT_FOUND);
    let own = api.get("/requests?per_page=100", Some(&acme)).await;
    assert!(
        own.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["number"] != number),
        "pick a globex number acme's contact does not have"
    );
    let crossings = [
        (Method::GET, "/portals/globex/solutions".to_owned(), None),
        (
            Method::GET,
            format!("/portals/globex/solutions/{solution}"),
            None,
        ),
        (
            Method::GET,
            "/portals/globex/service-categories".to_owned(),
            None,
        ),
        (Method::GET, format!("/requests/{number}"), None),
        (
            Method::POST,
            format!("/requests/{number}/replies"),
            Some(json!({ "body": "hijack" })),
        ),
        (
            Method::POST,
            format!("/requests/{number}/close"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/requests/{number}/reopen"),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/me/sessions/{globex_session}"),
            None,
        ),
        (Method::GET, format!("/requests/{number}/attachments"), None),
        (
            Method::GET,
            format!("/requests/{number}/attachments/{attachment}"),
            None,
        ),
    ];
    for (method, path, body) in crossings {
        let answer = api.call(method.clone(), &path, Some(&acme), body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:?}",
            answer.body
        );
        assert_eq!(answer.problem_type(), "urn:portico:problem:not-found");
    }
    let raised_by_acme = api
        .post(
            "/requests",
            Some(&acme),
            json!({ "subject": "Crossing over", "description": "Try it.", "category_id": category }),
        )
        .await;
    assert_eq!(
        raised_by_acme.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "globex's category is none of acme's"
    );

    let after = api.get(&format!("/requests/{number}"), Some(&globex)).await;
    assert_eq!(after.status, StatusCode::OK, "globex's session still works");
    assert_eq!(after.body["status"], "open");
    assert_eq!(after.body["replies"].as_array().unwrap().len(), 1);
    let files = api
        .get(&format!("/requests/{number}/attachments"), Some(&globex))
        .await;
    assert_eq!(
        files.body.as_array().unwrap().len(),
        1,
        "acme's file never landed"
    );
    let forged = acme.replacen(
        acme.split('.').next().unwrap(),
        globex.split('.').next().unwrap(),
        1,
    );
    assert_eq!(
        api.get("/me", Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn acme_key_reaches_nothing_of_globex(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let acme = api_key(&app, Some("acme")).await;
    let globex = api_key(&app, Some("globex")).await;
    let contacts = api.get("/admin/orgs/globex/contacts", Some(&globex)).await;
    let contact = contacts.body["items"][0]["id"].as_str().unwrap().to_owned();
    let policy = api
        .get("/admin/orgs/globex/login-policy", Some(&globex))
        .await
        .body;
    let mut changed = policy.clone();
    changed["login_mode"] = json!("password");
    let category = api
        .get("/admin/orgs/globex/service-categories", Some(&globex))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let solution = api
        .get("/admin/orgs/globex/solutions", Some(&globex))
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let number = api
        .get("/admin/orgs/globex/requests", Some(&globex))
        .await
        .body["items"][0]["number"]
        .as_i64()
        .unwrap();
    let request_before = api
        .get(
            &format!("/admin/orgs/globex/requests/{number}"),
            Some(&globex),
        )
        .await
        .body;
    let solution_before = api
        .get(
            &format!("/admin/orgs/globex/solutions/{solution}"),
            Some(&globex),
        )
        .await
        .body;
    let category_doc = json!({ "name": "Hijacked", "active": false });
    let solution_doc = json!({ "topic": "Spy", "title": "Hijacked", "body": "Mine now." });

    let crossings = [
        (Method::GET, "/admin/orgs/globex".to_owned(), None),
        (
            Method::PUT,
            "/admin/orgs/globex".to_owned(),
            Some(
                json!({ "name": "Taken", "status": "retired", "accent_color": "#000000",
                          "welcome_text": "", "footer_text": "" }),
            ),
        ),
        (
            Method::GET,
            "/admin/orgs/globex/login-policy".to_owned(),
            None,
        ),
        (
            Method::PUT,
            "/admin/orgs/globex/login-policy?confirm=true".to_owned(),
            Some(changed),
        ),
        (Method::GET, "/admin/orgs/globex/contacts".to_owned(), None),
        (
            Method::POST,
            "/admin/orgs/globex/contacts".to_owned(),
            Some(json!({ "name": "Spy", "email": "spy@globex.example" })),
        ),
        (
            Method::GET,
            format!("/admin/orgs/globex/contacts/{contact}"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/orgs/acme/contacts/{contact}"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/contacts/{contact}/disable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/acme/contacts/{contact}/disable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/contacts/{contact}/enable"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/contacts/{contact}/unlock"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/contacts/{contact}/end-sessions"),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/admin/orgs/globex/service-categories".to_owned(),
            None,
        ),
        (Method::GET, "/admin/orgs/globex/solutions".to_owned(), None),
        (Method::GET, "/admin/orgs/globex/requests".to_owned(), None),
        (
            Method::GET,
            "/admin/orgs/globex/deliveries".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/admin/orgs/globex/audit-events".to_owned(),
            None,
        ),
        (
            Method::PATCH,
            format!("/admin/orgs/globex/contacts/{contact}"),
            Some(json!({ "name": "Renamed" })),
        ),
        (
            Method::PATCH,
            format!("/admin/orgs/acme/contacts/{contact}"),
            Some(json!({ "name": "Renamed" })),
        ),
        (
            Method::PUT,
            format!("/admin/orgs/globex/contacts/{contact}/password"),
            Some(json!({ "password": "a long enough passphrase" })),
        ),
        (
            Method::PUT,
            format!("/admin/orgs/acme/contacts/{contact}/password"),
            Some(json!({ "password": "a long enough passphrase" })),
        ),
        (
            Method::DELETE,
            format!("/admin/orgs/globex/contacts/{contact}/password"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/contacts/{contact}/invitation"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/acme/contacts/{contact}/invitation"),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/admin/orgs/globex/service-categories".to_owned(),
            Some(category_doc.clone()),
        ),
        (
            Method::GET,
            format!("/admin/orgs/globex/service-categories/{category}"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/orgs/globex/service-categories/{category}"),
            Some(category_doc.clone()),
        ),
        (
            Method::PUT,
            format!("/admin/orgs/acme/service-categories/{category}"),
            Some(category_doc),
        ),
        (
            Method::POST,
            "/admin/orgs/globex/solutions".to_owned(),
            Some(solution_doc.clone()),
        ),
        (
            Method::GET,
            format!("/admin/orgs/globex/solutions/{solution}"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/orgs/acme/solutions/{solution}"),
            None,
        ),
        (
            Method::PUT,
            format!("/admin/orgs/globex/solutions/{solution}"),
            Some(solution_doc.clone()),
        ),
        (
            Method::PUT,
            format!("/admin/orgs/acme/solutions/{solution}"),
            Some(solution_doc),
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/solutions/{solution}/publish"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/solutions/{solution}/unpublish"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/orgs/acme/solutions/{solution}/unpublish"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/admin/orgs/globex/requests/{number}"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/requests/{number}/replies"),
            Some(json!({ "body": "hijack", "status": "closed" })),
        ),
        (
            Method::POST,
            format!("/admin/orgs/globex/requests/{number}/notes"),
            Some(json!({ "body": "hijack" })),
        ),
        (
            Method::PUT,
            format!("/admin/orgs/globex/requests/{number}/status"),
            Some(json!({ "status": "closed" })),
        ),
        (
            Method::PUT,
            format!("/admin/orgs/globex/requests/{number}/assignee"),
            Some(json!({ "assignee_id": null })),
        ),
    ];
    for (method, path, body) in crossings {
        let answer = api.call(method.clone(), &path, Some(&acme), body).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {:?}",
            answer.body
        );
        assert_eq!(answer.problem_type(), "urn:portico:problem:not-found");
    }
    let globex_org = api.get("/admin/orgs/globex", Some(&globex)).await;
    assert_eq!(globex_org.body["status"], "live");
    assert_ne!(globex_org.body["name"], "Taken");
    let listed = api.get("/admin/orgs", Some(&acme)).await;
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["slug"] != "globex")
    );

    assert_eq!(
        api.get("/admin/orgs/globex/login-policy", Some(&globex))
            .await
            .body,
        policy
    );
    let still = api
        .get(
            &format!("/admin/orgs/globex/contacts/{contact}"),
            Some(&globex),
        )
        .await;
    assert_eq!(still.body["status"], "active");
    assert_eq!(still.body["name"], contacts.body["items"][0]["name"]);
    assert_eq!(
        still.body["has_password"],
        contacts.body["items"][0]["has_password"]
    );
    let count = api.get("/admin/orgs/globex/contacts", Some(&globex)).await;
    assert_eq!(count.body["total"], contacts.body["total"]);
    let categories_after = api
        .get("/admin/orgs/globex/service-categories", Some(&globex))
        .await;
    assert!(
        categories_after
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "Hijacked")
    );
    let request_after = api
        .get(
            &format!("/admin/orgs/globex/requests/{number}"),
            Some(&globex),
        )
        .await;
    assert_eq!(request_after.body, request_before);
    let solution_after = api
        .get(
            &format!("/admin/orgs/globex/solutions/{solution}"),
            Some(&globex),
        )
        .await;
    assert_eq!(solution_after.body, solution_before);
    let solutions_after = api.get("/admin/orgs/globex/solutions", Some(&globex)).await;
    assert!(
        solutions_after
            .body
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["title"] != "Hijacked")
    );
    let audit = app.audit_kinds("globex").await;
    assert!(
        audit.iter().all(|(kind, _)| !kind.starts_with("contact.")
            && !kind.starts_with("category.")
            && !kind.starts_with("solution.")
            && !kind.starts_with("request.")
            && kind != "policy.changed"),
        "nothing was changed or audited in globex: {audit:?}"
    );
}

async fn console_makes_shows_once_and_revokes_api_keys(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let admin = app.browser();
    let login = admin
        .submit(
            "/admin/login",
            "/admin/login",
            &[
                ("identifier", "admin@acme.example"),
                ("password", "portico-admin-password"),
            ],
        )
        .await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    let keys_page = "/admin/orgs/acme/api-keys";

    let forged = admin
        .post_form(keys_page, &[("csrf", "forged"), ("name", "CRM")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let empty = admin.submit(keys_page, keys_page, &[("name", "  ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let made = admin
        .submit(keys_page, keys_page, &[("name", "CRM sync")])
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let marker = "<code id=\"new-key\">";
    let start = made.body.find(marker).unwrap() + marker.len();
    let key = made.body[start..start + made.body[start..].find('<').unwrap()].to_owned();
    assert!(key.starts_with("portico_"));

    let listed = admin.get(keys_page).await;
    assert!(listed.body.contains("CRM sync"));
    assert!(!listed.body.contains(&key), "a key is shown once");
    assert_eq!(
        api.get("/admin/orgs/acme", Some(&key)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/admin/orgs/globex", Some(&key)).await.status,
        StatusCode::NOT_FOUND
    );
    let stored: Vec<String> = app
        .app
        .db
        .run(|conn| {
            use diesel::{QueryDsl, RunQueryDsl};
            use portico::storage::schema::api_keys;
            Ok(api_keys::table.select(api_keys::secret_hash).load(conn)?)
        })
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|hash| hash.len() == 64 && !key.contains(hash.as_str()))
    );

    let other = admin.get("/admin/orgs/globex/api-keys").await;
    assert_eq!(
        other.status,
        StatusCode::NOT_FOUND,
        "acme's admin sees no globex keys"
    );
    let action = format!(
        "{}/revoke",
        listed
            .body
            .split("action=\"/admin/orgs/acme/api-keys/")
            .nth(1)
            .unwrap()
            .split("/revoke")
            .next()
            .unwrap()
    );
    let revoked = admin
        .submit(keys_page, &format!("{keys_page}/{action}"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        api.get("/admin/orgs/acme", Some(&key)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let audit = app.audit_kinds("acme").await;
    assert_eq!(audit[0].0, "api_key.revoked");
    assert!(audit.iter().any(|(kind, _)| kind == "api_key.created"));
}

async fn admin_key_edits_contacts_sets_passwords_and_invites(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let key = api_key(&app, Some("acme")).await;
    let added = api
        .post(
            "/admin/orgs/acme/contacts",
            Some(&key),
            json!({ "name": "Ada Byron", "email": "ada@acme.example" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    let path = format!(
        "/admin/orgs/acme/contacts/{}",
        added.body["id"].as_str().unwrap()
    );

    let renamed = api
        .call(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({ "name": "Ada Lovelace", "mobile": "+1 555 010 0042" })),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(renamed.body["name"], "Ada Lovelace");
    assert_eq!(
        renamed.body["email"], "ada@acme.example",
        "untouched fields stay"
    );
    assert_eq!(renamed.body["mobile"], "+15550100042");
    let taken = api
        .call(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({ "email": "Demo@Acme.example" })),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(taken.body["detail"].as_str().unwrap().contains("email"));
    let wrong = api
        .call(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({ "email": "not an address" })),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["field"], "email");
    let nothing = api
        .call(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({ "email": "", "mobile": "" })),
        )
        .await;
    assert_eq!(
        nothing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one way to reach stays"
    );
    assert_eq!(
        api.get(&path, Some(&key)).await.body["name"],
        "Ada Lovelace"
    );

    let password = format!("{path}/password");
    let short = api
        .put(&password, Some(&key), json!({ "password": "short" }))
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.body["field"], "password");
    let own_name = api
        .put(
            &password,
            Some(&key),
            json!({ "password": "acme acme acme acme acme" }),
        )
        .await;
    assert_eq!(own_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    let set = api
        .put(
            &password,
            Some(&key),
            json!({ "password": "correct horse battery staple" }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["has_password"], true);
    let login = api
        .password_login("acme", "ada@acme.example", "correct horse battery staple")
        .await;
    assert_eq!(login.status, StatusCode::OK, "the contact logs in with it");
    let cleared = api.call(Method::DELETE, &password, Some(&key), None).await;
    assert_eq!(cleared.body["has_password"], false);
    let refused = api
        .password_login("acme", "ada@acme.example", "correct horse battery staple")
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let invited = api
        .post(&format!("{path}/invitation"), Some(&key), json!({}))
        .await;
    assert_eq!(invited.status, StatusCode::ACCEPTED, "{:?}", invited.body);
    let mail = smtp.wait_for("ada@acme.example", 1).await;
    assert!(mail.data.contains("/portal/acme/"), "{}", mail.data);
    api.post(&format!("{path}/disable"), Some(&key), json!({}))
        .await;
    let disabled = api
        .post(&format!("{path}/invitation"), Some(&key), json!({}))
        .await;
    assert_eq!(disabled.status, StatusCode::UNPROCESSABLE_ENTITY);

    let audit = api
        .get(
            "/admin/orgs/acme/audit-events?kind=contact.changed",
            Some(&key),
        )
        .await;
    assert_eq!(audit.body["total"], 2, "name and mobile: {:?}", audit.body);
    assert!(
        audit.body["items"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("api_key:")
    );
    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    for kind in [
        "contact.password_set",
        "contact.password_cleared",
        "contact.invited",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let detail: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.1)
        .collect();
    assert!(
        detail.iter().all(|d| !d.contains("correct horse")),
        "no password in the audit log"
    );
}

async fn admin_key_keeps_categories_and_solutions(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let key = api_key(&app, Some("acme")).await;
    let token = api.token("acme", "demo@acme.example").await;
    let offered = |answer: &Answer, name: &str| {
        answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name)
    };

    let made = api
        .post(
            "/admin/orgs/acme/service-categories",
            Some(&key),
            json!({ "name": "Returns", "description": "Sending goods back.", "position": 7 }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert_eq!(made.body["active"], true);
    assert_eq!(made.body["position"], 7);
    let portal = api
        .get("/portals/acme/service-categories", Some(&token))
        .await;
    assert!(offered(&portal, "Returns"));
    let twice = api
        .post(
            "/admin/orgs/acme/service-categories",
            Some(&key),
            json!({ "name": "Returns" }),
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(twice.body["field"], "name");
    let path = format!(
        "/admin/orgs/acme/service-categories/{}",
        made.body["id"].as_str().unwrap()
    );
    let archived = api
        .put(
            &path,
            Some(&key),
            json!({ "name": "Returns (old)", "active": false }),
        )
        .await;
    assert_eq!(archived.status, StatusCode::OK, "{:?}", archived.body);
    assert_eq!(api.get(&path, Some(&key)).await.body["active"], false);
    let portal = api
        .get("/portals/acme/service-categories", Some(&token))
        .await;
    assert!(
        !offered(&portal, "Returns (old)"),
        "an archived category is not offered"
    );
    let raised = api
        .post(
            "/requests",
            Some(&token),
            json!({ "subject": "Send back", "description": "Wrong size.",
                    "category_id": made.body["id"] }),
        )
        .await;
    assert_eq!(raised.status, StatusCode::UNPROCESSABLE_ENTITY);

    let draft = api
        .post(
            "/admin/orgs/acme/solutions",
            Some(&key),
            json!({ "topic": "Returns", "title": "Sending a parcel back",
                    "body": "Print the **label** and drop it off." }),
        )
        .await;
    assert_eq!(draft.status, StatusCode::CREATED, "{:?}", draft.body);
    assert_eq!(draft.body["status"], "draft");
    let id = draft.body["id"].as_str().unwrap().to_owned();
    let path = format!("/admin/orgs/acme/solutions/{id}");
    let hidden = api
        .get(&format!("/portals/acme/solutions/{id}"), Some(&token))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "a draft is not shown");
    let published = api
        .post(&format!("{path}/publish"), Some(&key), json!({}))
        .await;
    assert_eq!(published.body["status"], "published");
    let shown = api
        .get(&format!("/portals/acme/solutions/{id}"), Some(&token))
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.body["title"], "Sending a parcel back");
    let edited = api
        .put(
            &path,
            Some(&key),
            json!({ "topic": "Returns", "title": "Sending goods back",
                    "body": "Print the label." }),
        )
        .await;
    assert_eq!(
        edited.body["status"], "published",
        "the status stays unless given"
    );
    assert_eq!(
        api.get(&path, Some(&key)).await.body["body"],
        "Print the label."
    );
    let withdrawn = api
        .post(&format!("{path}/unpublish"), Some(&key), json!({}))
        .await;
    assert_eq!(withdrawn.body["status"], "draft");
    assert_eq!(
        api.get(&format!("/portals/acme/solutions/{id}"), Some(&token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let short = api
        .post(
            "/admin/orgs/acme/solutions",
            Some(&key),
            json!({ "topic": "Returns", "title": "   ", "body": "x" }),
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.body["field"], "title");
    let same_title = api
        .post(
            "/admin/orgs/acme/solutions",
            Some(&key),
            json!({ "topic": "Other", "title": "Sending goods back", "body": "Again." }),
        )
        .await;
    assert_eq!(same_title.status, StatusCode::UNPROCESSABLE_ENTITY);
    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    for kind in [
        "category.created",
        "category.updated",
        "solution.created",
        "solution.updated",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

async fn admin_key_answers_notes_moves_and_assigns_requests(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let key = api_key(&app, Some("acme")).await;
    let token = api.token("acme", "demo@acme.example").await;
    let category = api
        .get("/portals/acme/service-categories", Some(&token))
        .await
        .body[0]["id"]
        .clone();
    let raised = api
        .post(
            "/requests",
            Some(&token),
            json!({ "subject": "Saw blade dull", "description": "After a week.",
                    "category_id": category }),
        )
        .await;
    let number = raised.body["number"].as_i64().unwrap();
    let path = format!("/admin/orgs/acme/requests/{number}");
    smtp.wait_for("demo@acme.example", 1).await;

    let seen = api.get(&path, Some(&key)).await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.body);
    assert_eq!(seen.body["subject"], "Saw blade dull");
    assert_eq!(seen.body["status"], "open");
    let answered = api
        .post(
            &format!("{path}/replies"),
            Some(&key),
            json!({ "body": "A new blade is on its way." }),
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{:?}", answered.body);
    assert_eq!(answered.body["status"], "awaiting_contact");
    let mail = smtp.wait_for("demo@acme.example", 2).await;
    assert!(mail.data.contains("A new blade is on its way."));
    let noted = api
        .post(
            &format!("{path}/notes"),
            Some(&key),
            json!({ "body": "Customer since 2019." }),
        )
        .await;
    let thread = noted.body["replies"].as_array().unwrap();
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1]["internal"], true);
    assert!(
        thread[1]["author_id"]
            .as_str()
            .unwrap()
            .starts_with("api_key:")
    );
    let contact_view = api.get(&format!("/requests/{number}"), Some(&token)).await;
    let replies = contact_view.body["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "the contact never sees a note");
    assert_eq!(replies[0]["author"], "staff");
    assert_eq!(replies[0]["body"], "A new blade is on its way.");

    let resolved = api
        .put(
            &format!("{path}/status"),
            Some(&key),
            json!({ "status": "resolved" }),
        )
        .await;
    assert_eq!(resolved.body["status"], "resolved");
    let unknown = api
        .put(
            &format!("{path}/status"),
            Some(&key),
            json!({ "status": "lost" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        api.get(&format!("/requests/{number}"), Some(&token))
            .await
            .body["status"],
        "resolved"
    );

    let admin_id = app
        .app
        .db
        .run(|conn| portico::storage::admins::find_by_email(conn, "admin@acme.example"))
        .await
        .unwrap()
        .unwrap()
        .admin
        .id
        .to_string();
    let assigned = api
        .put(
            &format!("{path}/assignee"),
            Some(&key),
            json!({ "assignee_id": admin_id }),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{:?}", assigned.body);
    assert_eq!(assigned.body["assignee_id"], admin_id.as_str());
    let queue = api
        .get(
            &format!("/admin/orgs/acme/requests?assignee={admin_id}&status=resolved"),
            Some(&key),
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{:?}", queue.body);
    assert_eq!(queue.body["total"], 1);
    assert_eq!(queue.body["items"][0]["number"], number);
    let open = api
        .get(
            "/admin/orgs/acme/requests?status=open&per_page=100",
            Some(&key),
        )
        .await;
    assert!(
        open.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["number"] != number && r["status"] == "open")
    );
    let odd = api
        .get("/admin/orgs/acme/requests?assignee=somebody", Some(&key))
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    let stranger = api
        .put(
            &format!("{path}/assignee"),
            Some(&key),
            json!({ "assignee_id": uuid::Uuid::new_v4().to_string() }),
        )
        .await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stranger.body["field"], "assignee");
    let nobody = api
        .put(
            &format!("{path}/assignee"),
            Some(&key),
            json!({ "assignee_id": null }),
        )
        .await;
    assert!(nobody.body.get("assignee_id").is_none());
    assert_eq!(
        api.get("/admin/orgs/acme/requests/999999", Some(&key))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let kinds: Vec<String> = app
        .audit_kinds("acme")
        .await
        .into_iter()
        .map(|k| k.0)
        .collect();
    for kind in [
        "request.answered",
        "request.status_changed",
        "request.assigned",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

async fn deliveries_and_audit_events_filter_and_page_stably(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let key = api_key(&app, Some("initech")).await;
    let asked = api.request_code("initech", "+1 555 010 0003").await;
    assert_eq!(asked.status, StatusCode::ACCEPTED);
    sms.wait_for("+15550100003", 1).await;
    app.settled_outbox().await;

    let sms_sent = api
        .get(
            "/admin/orgs/initech/deliveries?channel=sms&state=sent",
            Some(&key),
        )
        .await;
    assert_eq!(sms_sent.status, StatusCode::OK, "{:?}", sms_sent.body);
    assert_eq!(sms_sent.body["total"], 1);
    assert_eq!(sms_sent.body["items"][0]["channel"], "sms");
    let emails = api
        .get("/admin/orgs/initech/deliveries?channel=email", Some(&key))
        .await;
    assert_eq!(emails.body["total"], 0);
    let later = api
        .get(
            "/admin/orgs/initech/deliveries?since=2999-01-01T00:00:00Z",
            Some(&key),
        )
        .await;
    assert_eq!(later.body["total"], 0);
    let bad_state = api
        .get("/admin/orgs/initech/deliveries?state=lost", Some(&key))
        .await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_state.problem_type(), "urn:portico:problem:bad-request");

    let contacts = api.get("/admin/orgs/initech/contacts", Some(&key)).await;
    let items = contacts.body["items"].as_array().unwrap();
    let (first, second) = (
        items[0]["id"].as_str().unwrap(),
        items[1]["id"].as_str().unwrap(),
    );
    for id in [first, second] {
        api.post(
            &format!("/admin/orgs/initech/contacts/{id}/end-sessions"),
            Some(&key),
            json!({}),
        )
        .await;
    }
    let about = api
        .get(
            &format!("/admin/orgs/initech/audit-events?contact={first}"),
            Some(&key),
        )
        .await;
    assert_eq!(about.status, StatusCode::OK, "{:?}", about.body);
    let events = about.body["items"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(
        |e| e["detail"].to_string().contains(first) || e["actor"] == format!("contact:{first}")
    ));
    let bad = api
        .get(
            "/admin/orgs/initech/audit-events?contact=nobody",
            Some(&key),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "contact");

    let all = api
        .get("/admin/orgs/initech/audit-events?per_page=100", Some(&key))
        .await;
    let total = all.body["total"].as_i64().unwrap();
    let until = all.body["items"][0]["occurred_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = |n: u32| {
        let until = until.clone();
        let api = &api;
        let key = &key;
        async move {
            api.get(
                &format!(
                    "/admin/orgs/initech/audit-events?per_page=1&page={n}&until={}",
                    until.replace('+', "%2B")
                ),
                Some(key),
            )
            .await
        }
    };
    let first_page = page(1).await;
    api.post(
        &format!("/admin/orgs/initech/contacts/{second}/unlock"),
        Some(&key),
        json!({}),
    )
    .await;
    let second_page = page(2).await;
    assert_eq!(first_page.body["total"], total);
    assert_eq!(
        second_page.body["total"], total,
        "a newer event does not shift the pages"
    );
    assert_eq!(second_page.body["items"][0], all.body["items"][1]);
    let grown = api
        .get("/admin/orgs/initech/audit-events", Some(&key))
        .await;
    assert_eq!(grown.body["total"].as_i64().unwrap(), total + 1);
}

async fn contacts_attach_and_download_files_checked_like_the_pages(backend: Backend) {
    let Some(app) = TestApp::demo(backend).await else {
        return;
    };
    let api = Client::new(&app);
    let token = api.token("acme", "demo@acme.example").await;
    let category = api
        .get("/portals/acme/service-categories", Some(&token))
        .await
        .body[0]["id"]
        .clone();
    let raised = api
        .post(
            "/requests",
            Some(&token),
            json!({ "subject": "Cracked casing", "description": "Photo attached.",
                    "category_id": category }),
        )
        .await;
    let number = raised.body["number"].as_i64().unwrap();
    let files = format!("/requests/{number}/attachments");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-photo-bytes".to_vec();

    let added = api
        .post_file(&files, &token, "Here is the photo.", ("casing.png", &png))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{:?}", added.body);
    assert_eq!(added.body[0]["file_name"], "casing.png");
    assert_eq!(added.body[0]["content_type"], "image/png");
    assert!(added.body[0]["reply_id"].is_string());
    let thread = api.get(&format!("/requests/{number}"), Some(&token)).await;
    assert_eq!(thread.body["replies"][0]["body"], "Here is the photo.");

    let id = added.body[0]["id"].as_str().unwrap();
    let download = reqwest::Client::new()
        .get(format!("{}/api/v1{files}/{id}", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment") && disposition.contains("casing.png"));
    assert_eq!(
        download.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(download.bytes().await.unwrap().to_vec(), png);

    for (name, data, why) in [
        ("setup.exe", b"MZ\x90\x00".to_vec(), "a program"),
        (
            "photo.png",
            b"MZ\x90\x00".to_vec(),
            "a program named as a picture",
        ),
        (
            "notes.txt",
            vec![b'a'; 512 * 1024 + 1],
            "a file over 512 KiB",
        ),
        (
            "invoice.pdf",
            png.clone(),
            "a name that disagrees with the bytes",
        ),
    ] {
        let refused = api
            .post_file(&files, &token, "Another one.", (name, &data))
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert_eq!(refused.body["field"], "attachment", "{why}");
    }
    let listed = api.get(&files, Some(&token)).await;
    assert_eq!(
        listed.body.as_array().unwrap().len(),
        1,
        "nothing refused was stored"
    );
    let staff = api_key(&app, Some("acme")).await;
    let seen = api
        .get(&format!("/admin/orgs/acme/requests/{number}"), Some(&staff))
        .await;
    assert_eq!(seen.body["attachments"][0]["file_name"], "casing.png");
    let other = api.token("acme", "j.okafor@acme.example").await;
    assert_eq!(
        api.get(&files, Some(&other)).await.status,
        StatusCode::NOT_FOUND,
        "another contact's request is not found"
    );
}

async fn every_401_challenges_and_every_429_says_when(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    for (path, token) in [
        ("/me", None),
        ("/me", Some("not-a-token")),
        ("/admin/orgs", None),
        ("/admin/orgs", Some("portico_0000_nothing")),
        ("/requests/1/attachments", Some("0.0")),
    ] {
        let answer = api.get(path, token).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(answer.headers["www-authenticate"], "Bearer", "{path}");
        assert_eq!(answer.problem_type(), "urn:portico:problem:unauthenticated");
    }
    let wrong = api
        .password_login("acme", "demo@acme.example", "not the password at all")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.headers["www-authenticate"], "Bearer");

    api.request_code("globex", "demo@globex.example").await;
    let soon = api.request_code("globex", "demo@globex.example").await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS);
    let seconds = soon.body["retry_after_seconds"].as_u64().unwrap();
    assert_eq!(
        soon.headers["retry-after"].to_str().unwrap(),
        seconds.to_string()
    );
}

/// Forty code requests for one identifier at the same moment: the resend cooldown lets one
/// through and refuses the rest with 429, and one email goes out, on either backend: each
/// request checks its limits again at the end of its transaction, holding the buckets.
async fn simultaneous_code_requests_for_one_identifier_send_one_code(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = std::sync::Arc::new(Client::new(&app));
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let api = api.clone();
        requests.spawn(async move { api.request_code("globex", "demo@globex.example").await });
    }
    let answers = requests.join_all().await;
    let accepted = answers
        .iter()
        .filter(|a| a.status == StatusCode::ACCEPTED)
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(accepted + refused, 40, "every answer is 202 or 429");
    smtp.wait_for("demo@globex.example", 1).await;
    app.settled_outbox().await;
    assert_eq!(accepted, 1, "one code request passes the cooldown");
    assert_eq!(app.settled_deliveries("globex").await.len(), 1);
    assert_eq!(smtp.mails().len(), 1, "one email");
}

/// Forty-five code requests from one address at the same moment, each for another identifier
/// (none of them a contact's): the address's hourly cap of 30 lets exactly 30 through on
/// either backend, and the rest get 429 with a wait.
async fn simultaneous_code_requests_from_one_address_stop_at_its_cap(backend: Backend) {
    let (smtp, sms) = (
        SmtpReceiver::start().await,
        SmsReceiver::start(Mode::Accept).await,
    );
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = std::sync::Arc::new(Client::new(&app));
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..45 {
        let api = api.clone();
        requests.spawn(async move {
            api.request_code("globex", &format!("visitor{n}@elsewhere.example"))
                .await
        });
    }
    let answers = requests.join_all().await;
    let count = |status| answers.iter().filter(|a| a.status == status).count();
    assert_eq!(count(StatusCode::ACCEPTED), 30, "the address's cap");
    assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), 15);
    let later = api
        .request_code("globex", "one-more@elsewhere.example")
        .await;
    assert_eq!(later.status, StatusCode::TOO_MANY_REQUESTS, "still counted");
}
