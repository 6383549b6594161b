//! The account lifecycle through the API on SQLite and PostgreSQL: forgotten passwords,
//! self-registration and proven changes of email address or mobile number, with codes read
//! from a real SMTP server and HTTP SMS gateway on loopback; the answers-alike for unknown and
//! existing addresses, codes that never stand in for one another, the pages' limits, and
//! tenant crossing: nothing started in one organization can be finished in another.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod common;

use common::{
    Backend, DEMO_PASSWORD, TestApp,
    api::{Answer, read},
};
use portico::domain::org::SelfRegistration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a brand new passphrase for this";

both_backends!(
    a_forgotten_password_is_reset_and_every_session_ends,
    a_reset_for_an_unknown_identifier_gets_the_same_answer_and_sends_nothing,
    reset_codes_and_login_codes_never_stand_in_for_each_other,
    only_a_login_is_sent_again_as_a_login_code,
    open_registration_proves_both_addresses_and_logs_the_contact_in,
    registration_with_approval_waits_for_an_admin,
    registrations_that_must_fail_fail_like_the_pages,
    fifty_registrations_from_one_address_are_rate_limited,
    an_email_change_needs_the_current_proof_and_the_new_address_code,
    a_mobile_change_tells_the_old_number_and_a_first_mobile_is_added,
    nothing_started_in_one_organization_finishes_in_another,
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

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        let mut request = self
            .http
            .request(Method::POST, format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    async fn password_login(&self, slug: &str, identifier: &str, password: &str) -> Answer {
        let body = json!({ "identifier": identifier, "password": password });
        self.post(&format!("/portals/{slug}/login/password"), None, body)
            .await
    }

    /// Logs in with a password; returns the token.
    async fn token(&self, slug: &str, identifier: &str, password: &str) -> String {
        let answer = self.password_login(slug, identifier, password).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
        answer.text("token")
    }

    async fn forgot(&self, slug: &str, identifier: &str) -> Answer {
        let body = json!({ "identifier": identifier });
        self.post(&format!("/portals/{slug}/password-reset"), None, body)
            .await
    }

    async fn confirm_reset(
        &self,
        slug: &str,
        reset_id: &str,
        code: &str,
        password: &str,
    ) -> Answer {
        let body = json!({ "reset_id": reset_id, "code": code, "new_password": password });
        self.post(
            &format!("/portals/{slug}/password-reset/confirm"),
            None,
            body,
        )
        .await
    }

    async fn register(&self, slug: &str, body: Value) -> Answer {
        self.post(&format!("/portals/{slug}/registrations"), None, body)
            .await
    }

    async fn verify_registration(&self, slug: &str, id: &str, codes: Value) -> Answer {
        self.post(
            &format!("/portals/{slug}/registrations/{id}/verify"),
            None,
            codes,
        )
        .await
    }

    async fn start_change(&self, token: &str, field: &str, value: &str, password: &str) -> Answer {
        let mut body = json!({});
        body[format!("new_{field}")] = json!(value);
        if !password.is_empty() {
            body["current_password"] = json!(password);
        }
        self.post(&format!("/me/{field}-change"), Some(token), body)
            .await
    }

    async fn verify_change(&self, token: &str, field: &str, change_id: &str, code: &str) -> Answer {
        let body = json!({ "change_id": change_id, "code": code });
        self.post(&format!("/me/{field}-change/verify"), Some(token), body)
            .await
    }
}

async fn a_forgotten_password_is_reset_and_every_session_ends(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let old_token = api.token("acme", "demo@acme.example", DEMO_PASSWORD).await;

    let started = api.forgot("acme", "Demo@Acme.example").await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let reset_id = started.text("reset_id");
    let mail = smtp.wait_for("demo@acme.example", 1).await;
    assert!(mail.data.contains("password reset code"), "{}", mail.data);
    let code = mail.code();

    let weak = api.confirm_reset("acme", &reset_id, &code, "short").await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.body["field"], "new_password", "{:?}", weak.body);
    let wrong = api
        .confirm_reset("acme", &reset_id, "000000", NEW_PASSWORD)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.problem_type(), "urn:portico:problem:unauthenticated");

    let done = api
        .confirm_reset("acme", &reset_id, &code, NEW_PASSWORD)
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.body);
    let reused = api
        .confirm_reset("acme", &reset_id, &code, "yet another long passphrase")
        .await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED, "a code works once");

    assert_eq!(
        api.get("/me", &old_token).await.status,
        StatusCode::UNAUTHORIZED,
        "the reset ended every session"
    );
    let old = api
        .password_login("acme", "demo@acme.example", DEMO_PASSWORD)
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    api.token("acme", "demo@acme.example", NEW_PASSWORD).await;
    let told = smtp.wait_for("demo@acme.example", 2).await;
    assert!(told.data.contains("password was changed"), "{}", told.data);
    let audit = app.audit_kinds("acme").await;
    assert!(audit.iter().any(|(kind, _)| kind == "password.reset"));
}

async fn a_reset_for_an_unknown_identifier_gets_the_same_answer_and_sends_nothing(
    backend: Backend,
) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let known = api.forgot("acme", "demo@acme.example").await;
    let unknown = api.forgot("acme", "nobody@acme.example").await;
    let unknown_mobile = api.forgot("acme", "+1 555 010 9876").await;
    for answer in [&known, &unknown, &unknown_mobile] {
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{:?}", answer.body);
        let keys: Vec<&String> = answer.body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["reset_id"], "the same shape for all");
    }
    assert_ne!(known.text("reset_id"), unknown.text("reset_id"));

    smtp.wait_for("demo@acme.example", 1).await;
    app.settled_outbox().await;
    assert_eq!(
        app.deliveries("acme").await.len(),
        1,
        "only the real contact"
    );
    assert!(sms.received().is_empty(), "no SMS to the unknown number");
    let refused = api
        .confirm_reset("acme", &unknown.text("reset_id"), "123456", NEW_PASSWORD)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let bad = api.forgot("acme", "not an address").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "identifier");
    let no_passwords = api.forgot("globex", "demo@globex.example").await;
    assert_eq!(no_passwords.status, StatusCode::NOT_FOUND);
    assert_eq!(no_passwords.problem_type(), "urn:portico:problem:not-found");
    let empty = api.forgot("acme", "").await;
    assert_eq!(
        empty.status,
        StatusCode::BAD_REQUEST,
        "the spec's validation"
    );
}

async fn reset_codes_and_login_codes_never_stand_in_for_each_other(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let reset_id = api
        .forgot("umbrella", "demo@umbrella.example")
        .await
        .text("reset_id");
    let reset_code = smtp.wait_for("demo@umbrella.example", 1).await.code();
    let as_login = api
        .post(
            "/portals/umbrella/login/otp/verify",
            None,
            json!({ "login_id": reset_id, "code": reset_code }),
        )
        .await;
    assert_eq!(as_login.status, StatusCode::UNAUTHORIZED);

    let login_id = api
        .post(
            "/portals/umbrella/login/otp",
            None,
            json!({ "identifier": "demo@umbrella.example" }),
        )
        .await
        .text("login_id");
    let login_code = smtp.wait_for("demo@umbrella.example", 2).await.code();
    let as_reset = api
        .confirm_reset("umbrella", &login_id, &login_code, NEW_PASSWORD)
        .await;
    assert_eq!(as_reset.status, StatusCode::UNAUTHORIZED);
    api.token("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;

    let login = api
        .post(
            "/portals/umbrella/login/otp/verify",
            None,
            json!({ "login_id": login_id, "code": login_code }),
        )
        .await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "each code still works for its own purpose"
    );
    let reset = api
        .confirm_reset("umbrella", &reset_id, &reset_code, NEW_PASSWORD)
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
}

/// Asking for a login code again names the attempt to send it for: an address change or a
/// password reset named there is not found, and nothing is sent. Sent again as a login code to
/// the current address, a change's code would prove an address its contact does not own, and
/// a reset's code would reset a password through a mail that calls it a login code.
async fn only_a_login_is_sent_again_as_a_login_code(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let token = api
        .token("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;
    let change = api
        .start_change(&token, "email", "someone@elsewhere.example", DEMO_PASSWORD)
        .await;
    assert_eq!(change.status, StatusCode::ACCEPTED, "{:?}", change.body);
    let reset = api.forgot("umbrella", "demo@umbrella.example").await;
    smtp.wait_for("demo@umbrella.example", 1).await;
    let queued = app.deliveries("umbrella").await.len();

    for attempt in [change.text("change_id"), reset.text("reset_id")] {
        let again = api
            .post(
                "/portals/umbrella/login/otp",
                None,
                json!({ "login_id": attempt }),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND, "{:?}", again.body);
    }
    assert_eq!(
        app.deliveries("umbrella").await.len(),
        queued,
        "nothing sent"
    );

    let login_id = api
        .post(
            "/portals/umbrella/login/otp",
            None,
            json!({ "identifier": "demo@umbrella.example" }),
        )
        .await
        .text("login_id");
    let login_code = smtp.wait_for("demo@umbrella.example", 2).await.code();
    let login = api
        .post(
            "/portals/umbrella/login/otp/verify",
            None,
            json!({ "login_id": login_id, "code": login_code }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "a login is still a login");
}

async fn open_registration_proves_both_addresses_and_logs_the_contact_in(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    app.adjust_policy("initech", |policy| {
        policy.self_registration = SelfRegistration::Open;
    })
    .await;
    let api = Client::new(&app);
    let without_mobile = api
        .register(
            "initech",
            json!({ "name": "Ola Open", "email": "ola@open.example" }),
        )
        .await;
    assert_eq!(without_mobile.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(without_mobile.body["field"], "mobile");

    let started = api
        .register(
            "initech",
            json!({ "name": "Ola Open", "email": "Ola@Open.example", "mobile": "555 010 4242" }),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert_eq!(started.body["mobile_code"], true);
    let id = started.text("id");
    let email_code = smtp.wait_for("ola@open.example", 1).await.code();
    let mobile_code = sms.wait_for("+15550104242", 1).await.code();

    let swapped = api
        .verify_registration(
            "initech",
            &id,
            json!({ "email_code": mobile_code, "mobile_code": email_code }),
        )
        .await;
    assert_eq!(swapped.status, StatusCode::UNAUTHORIZED);
    let proven = api
        .verify_registration(
            "initech",
            &id,
            json!({ "email_code": email_code, "mobile_code": mobile_code }),
        )
        .await;
    assert_eq!(proven.status, StatusCode::OK, "{:?}", proven.body);
    let token = proven.text("token");
    let me = api.get("/me", &token).await;
    assert_eq!(me.body["email"], "ola@open.example");
    assert_eq!(me.body["mobile"], "+15550104242");
    let again = api
        .verify_registration(
            "initech",
            &id,
            json!({ "email_code": email_code, "mobile_code": mobile_code }),
        )
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "used codes stay used"
    );
}

async fn registration_with_approval_waits_for_an_admin(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let started = api
        .register(
            "acme",
            json!({ "name": "Wes Waiting", "email": "wes@workshop.example", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert_eq!(started.body["mobile_code"], false);
    let code = smtp.wait_for("wes@workshop.example", 1).await.code();
    let waiting = api
        .verify_registration("acme", &started.text("id"), json!({ "email_code": code }))
        .await;
    assert_eq!(waiting.status, StatusCode::ACCEPTED, "{:?}", waiting.body);
    assert_eq!(waiting.body["state"], "awaiting_approval");
    let early = api
        .password_login("acme", "wes@workshop.example", NEW_PASSWORD)
        .await;
    assert_eq!(
        early.status,
        StatusCode::UNAUTHORIZED,
        "no login before approval"
    );
    let audit = app.audit_kinds("acme").await;
    assert!(
        audit
            .iter()
            .any(|(kind, _)| kind == "registration.submitted")
    );
}

async fn registrations_that_must_fail_fail_like_the_pages(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let off = api
        .register(
            "globex",
            json!({ "name": "Someone", "email": "someone@globex.example" }),
        )
        .await;
    assert_eq!(off.status, StatusCode::NOT_FOUND);
    assert_eq!(off.problem_type(), "urn:portico:problem:not-found");
    let off_verify = api
        .verify_registration("globex", "anything", json!({ "email_code": "123456" }))
        .await;
    assert_eq!(off_verify.status, StatusCode::NOT_FOUND);

    app.adjust_policy("acme", |policy| {
        policy.registration_domains = vec!["acme-dealers.example".to_owned()];
    })
    .await;
    let outside = api
        .register(
            "acme",
            json!({ "name": "Otto Outside", "email": "otto@elsewhere.example", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(outside.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(outside.body["field"], "email");
    assert_eq!(outside.problem_type(), "urn:portico:problem:invalid-input");
    let weak = api
        .register(
            "acme",
            json!({ "name": "Wendy Weak", "email": "wendy@acme-dealers.example", "password": "short" }),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.body["field"], "password");

    let fresh = api
        .register(
            "acme",
            json!({ "name": "Nia New", "email": "nia@acme-dealers.example", "password": NEW_PASSWORD }),
        )
        .await;
    app.adjust_policy("acme", |policy| policy.registration_domains.clear())
        .await;
    let existing = api
        .register(
            "acme",
            json!({ "name": "Not Dana", "email": "demo@acme.example", "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(existing.status, fresh.status);
    assert_eq!(existing.status, StatusCode::ACCEPTED);
    assert_eq!(
        existing
            .body
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        fresh.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        "the same answer as for a new address"
    );
    let told = smtp.wait_for("demo@acme.example", 1).await;
    assert!(!told.data.contains("registration code"), "{}", told.data);
    let guessed = api
        .verify_registration(
            "acme",
            &existing.text("id"),
            json!({ "email_code": "123456" }),
        )
        .await;
    assert_eq!(guessed.status, StatusCode::UNAUTHORIZED);
    api.token("acme", "demo@acme.example", DEMO_PASSWORD).await;
}

async fn fifty_registrations_from_one_address_are_rate_limited(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for n in 0..50 {
        let answer = api
            .register(
                "acme",
                json!({ "name": "Flood", "email": format!("flood{n}@spam.example"), "password": NEW_PASSWORD }),
            )
            .await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            retry_after = answer.body["retry_after_seconds"].as_u64();
            assert_eq!(answer.problem_type(), "urn:portico:problem:rate-limited");
        }
        statuses.push(answer.status);
    }
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    assert_eq!(count(StatusCode::ACCEPTED), 10, "{statuses:?}");
    assert_eq!(count(StatusCode::TOO_MANY_REQUESTS), 40, "{statuses:?}");
    assert!(retry_after.unwrap() > 0);
    app.settled_outbox().await;
    assert_eq!(app.deliveries("acme").await.len(), 10);
}

async fn an_email_change_needs_the_current_proof_and_the_new_address_code(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let token = api.token("acme", "demo@acme.example", DEMO_PASSWORD).await;
    let new = "Dana.New@Acme.example";

    let without = api.start_change(&token, "email", new, "").await;
    assert_eq!(without.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(without.body["field"], "current_password");
    let wrong = api
        .start_change(&token, "email", new, "not my password at all")
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.body["field"], "current_password");
    assert!(
        app.deliveries("acme").await.is_empty(),
        "no code without the proof"
    );
    let bad = api
        .start_change(&token, "email", "not an address", DEMO_PASSWORD)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["field"], "new_email");
    let anonymous = api
        .post("/me/email-change", None, json!({ "new_email": new }))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let started = api.start_change(&token, "email", new, DEMO_PASSWORD).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let change_id = started.text("change_id");
    let code = smtp.wait_for("dana.new@acme.example", 1).await.code();
    let soon = api.start_change(&token, "email", new, DEMO_PASSWORD).await;
    assert_eq!(
        soon.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the pages' cooldown"
    );

    let as_mobile = api.verify_change(&token, "mobile", &change_id, &code).await;
    assert_eq!(as_mobile.status, StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_code = api
        .verify_change(&token, "email", &change_id, "000000")
        .await;
    assert_eq!(wrong_code.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong_code.body["field"], "code");
    let done = api.verify_change(&token, "email", &change_id, &code).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.body);
    let reused = api.verify_change(&token, "email", &change_id, &code).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY, "used once");

    assert_eq!(
        api.get("/me", &token).await.body["email"],
        "dana.new@acme.example"
    );
    let told = smtp.wait_for("demo@acme.example", 1).await;
    assert!(
        told.data.contains("contact details changed"),
        "{}",
        told.data
    );
    api.token("acme", "dana.new@acme.example", DEMO_PASSWORD)
        .await;
}

async fn a_mobile_change_tells_the_old_number_and_a_first_mobile_is_added(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    let api = Client::new(&app);
    let token = api.token("acme", "demo@acme.example", DEMO_PASSWORD).await;
    let started = api
        .start_change(&token, "mobile", "555 010 7788", DEMO_PASSWORD)
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let code = sms.wait_for("+15550107788", 1).await.code();
    let done = api
        .verify_change(&token, "mobile", &started.text("change_id"), &code)
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.body);
    assert_eq!(api.get("/me", &token).await.body["mobile"], "+15550107788");

    let old = sms.wait_for("+15550100001", 1).await;
    assert!(
        old.body.contains("no longer logs in to your account"),
        "{old:?}"
    );
    assert!(old.body.contains("Acme Corporation"), "{old:?}");
    assert!(
        !old.body.contains("Dana"),
        "the old number is not told who: {old:?}"
    );
    let told = smtp.wait_for("demo@acme.example", 1).await;
    assert!(
        told.data.contains("contact details changed"),
        "{}",
        told.data
    );

    let tanaka = api
        .token("acme", "h.tanaka@acme.example", DEMO_PASSWORD)
        .await;
    let added = api
        .start_change(&tanaka, "mobile", "+15550107799", DEMO_PASSWORD)
        .await;
    assert_eq!(added.status, StatusCode::ACCEPTED);
    let code = sms.wait_for("+15550107799", 1).await.code();
    let done = api
        .verify_change(&tanaka, "mobile", &added.text("change_id"), &code)
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/me", &tanaka).await.body["mobile"], "+15550107799");
    app.settled_outbox().await;
    assert_eq!(
        sms.received().len(),
        3,
        "two codes and one notice to the old number: {:?}",
        sms.received()
    );
}

async fn nothing_started_in_one_organization_finishes_in_another(backend: Backend) {
    let (smtp, sms) = common::receivers().await;
    let Some(app) = TestApp::wired(backend, &smtp, &sms).await else {
        return;
    };
    app.adjust_policy("umbrella", |policy| {
        policy.self_registration = SelfRegistration::Open;
    })
    .await;
    let api = Client::new(&app);
    let acme = api.token("acme", "demo@acme.example", DEMO_PASSWORD).await;
    let umbrella = api
        .token("umbrella", "demo@umbrella.example", DEMO_PASSWORD)
        .await;

    let started = api
        .start_change(&acme, "email", "crossing@acme.example", DEMO_PASSWORD)
        .await;
    let change_id = started.text("change_id");
    let code = smtp.wait_for("crossing@acme.example", 1).await.code();
    let crossed = api
        .verify_change(&umbrella, "email", &change_id, &code)
        .await;
    assert_eq!(crossed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        api.get("/me", &umbrella).await.body["email"],
        "demo@umbrella.example"
    );
    assert_eq!(
        api.get("/me", &acme).await.body["email"],
        "demo@acme.example"
    );
    let own = api.verify_change(&acme, "email", &change_id, &code).await;
    assert_eq!(
        own.status,
        StatusCode::NO_CONTENT,
        "still good in its own organization"
    );

    let reset_id = api
        .forgot("acme", "j.okafor@acme.example")
        .await
        .text("reset_id");
    let reset_code = smtp.wait_for("j.okafor@acme.example", 1).await.code();
    let crossed = api
        .confirm_reset("umbrella", &reset_id, &reset_code, NEW_PASSWORD)
        .await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    let own = api
        .confirm_reset("acme", &reset_id, &reset_code, NEW_PASSWORD)
        .await;
    assert_eq!(own.status, StatusCode::NO_CONTENT);

    let registration = api
        .register(
            "acme",
            json!({ "name": "Cross Over", "email": "cross@over.example", "password": NEW_PASSWORD }),
        )
        .await;
    let code = smtp.wait_for("cross@over.example", 1).await.code();
    let crossed = api
        .verify_registration(
            "umbrella",
            &registration.text("id"),
            json!({ "email_code": code }),
        )
        .await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED);
    let no_contact = api
        .password_login("umbrella", "cross@over.example", NEW_PASSWORD)
        .await;
    assert_eq!(no_contact.status, StatusCode::UNAUTHORIZED);

    let with_cookie = reqwest::Client::new()
        .post(format!("{}/api/v1/me/email-change", app.base))
        .header("cookie", format!("portico_session={acme}"))
        .json(&json!({ "new_email": "cookie@acme.example", "current_password": DEMO_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        with_cookie.status(),
        StatusCode::UNAUTHORIZED,
        "bearer tokens only"
    );
}
