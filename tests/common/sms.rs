//! A real HTTP SMS gateway on a loopback port: it records every request Portico makes and
//! answers as a test tells it to (accept, fail with 500, or never answer).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use poem::{
    EndpointExt, Request, Response, Route, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use portico::{config::SmsGateway, secret::SecretString};

/// How the gateway answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Accept,
    Fail,
    Hang,
    /// Answers every call with a redirect to itself, which Portico must not follow.
    Redirect,
}

/// One SMS as the gateway received it.
#[derive(Debug, Clone)]
pub struct Sms {
    pub to: String,
    pub body: String,
    pub authorization: String,
}

impl Sms {
    /// The code: the first word of the body that is 6 to 10 digits.
    pub fn code(&self) -> String {
        self.body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| (6..=10).contains(&w.len()))
            .unwrap_or_else(|| panic!("no code in the SMS {:?}", self.body))
            .to_owned()
    }
}

#[derive(Clone)]
struct State {
    mode: Arc<Mutex<Mode>>,
    received: Arc<Mutex<Vec<Sms>>>,
    calls: Arc<Mutex<usize>>,
}

/// The gateway.
#[derive(Clone)]
pub struct SmsReceiver {
    pub port: u16,
    state: State,
}

#[handler]
async fn receive(req: &Request, body: poem::Body, Data(state): Data<&State>) -> Response {
    *state.calls.lock().unwrap() += 1;
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return StatusCode::OK.into();
        }
        Mode::Fail => return StatusCode::INTERNAL_SERVER_ERROR.into(),
        Mode::Redirect => {
            return Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header("location", "/sms?followed=1")
                .finish();
        }
        Mode::Accept => {}
    }
    let text = body.into_string().await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.received.lock().unwrap().push(Sms {
        to: json["to"].as_str().unwrap().to_owned(),
        body: json["body"].as_str().unwrap().to_owned(),
        authorization,
    });
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body("{\"status\":\"queued\"}")
}

impl SmsReceiver {
    /// Starts the gateway on a free loopback port.
    pub async fn start(mode: Mode) -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        let state = State {
            mode: Arc::new(Mutex::new(mode)),
            received: Arc::new(Mutex::new(Vec::new())),
            calls: Arc::new(Mutex::new(0)),
        };
        let app = Route::new()
            .at("/sms", poem::post(receive))
            .data(state.clone());
        tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self { port, state }
    }

    /// The gateway settings Portico should use, with a bearer token to check.
    pub fn gateway(&self) -> SmsGateway {
        let mut headers = BTreeMap::new();
        headers.insert(
            "Authorization".to_owned(),
            SecretString::from("Bearer test-gateway-token"),
        );
        SmsGateway {
            url: SecretString::new(format!("http://127.0.0.1:{}/sms", self.port)),
            method: "POST".to_owned(),
            headers,
            body_template: "{\"to\": {{json to}}, \"body\": {{json body}}}".to_owned(),
            content_type: "application/json".to_owned(),
            accept_statuses: "200-299".to_owned(),
            timeout_secs: 1,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Every SMS accepted so far.
    pub fn received(&self) -> Vec<Sms> {
        self.state.received.lock().unwrap().clone()
    }

    /// How many requests reached the gateway, accepted or not.
    pub fn calls(&self) -> usize {
        *self.state.calls.lock().unwrap()
    }

    /// Waits up to 10 seconds for the `n`th SMS to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> Sms {
        for _ in 0..200 {
            let found: Vec<Sms> = self.received().into_iter().filter(|s| s.to == to).collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no SMS #{n} to {to} within 10 seconds; got {:?}",
            self.received()
        );
    }
}
