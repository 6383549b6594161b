//! A real SMTP server on a loopback port that keeps every message it receives, so tests read
//! one-time codes from actual mail. It speaks the plain subset of SMTP that Portico's client
//! uses (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), without TLS or authentication. It
//! can be told to refuse some recipients for good (550), as a server does an unknown mailbox,
//! and to take its time over a message's end, as a slow server does.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The first line of the message that is only digits (6 to 10 of them): the code.
    pub fn code(&self) -> String {
        self.data
            .lines()
            .map(str::trim)
            .find(|line| (6..=10).contains(&line.len()) && line.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or_else(|| panic!("no code in the mail:\n{}", self.data))
            .to_owned()
    }
}

/// The receiving server.
#[derive(Clone)]
pub struct SmtpReceiver {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    refused: Arc<Mutex<Vec<String>>>,
    slow: Arc<Mutex<Duration>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl SmtpReceiver {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Listens on `port` (0 for any free one).
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let slow = Arc::new(Mutex::new(Duration::ZERO));
        let (store, refusing, slowness) = (mails.clone(), refused.clone(), slow.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, refusing, slowness) =
                    (store.clone(), refusing.clone(), slowness.clone());
                tokio::spawn(serve(stream, store, refusing, slowness));
            }
        });
        Self {
            port,
            mails,
            refused,
            slow,
            task: Arc::new(task),
        }
    }

    /// From now on, waits `pause` after each message's last line before it keeps the message
    /// and answers.
    pub fn take_time(&self, pause: Duration) {
        *self.slow.lock().unwrap() = pause;
    }

    /// From now on, refuses mail to `address` for good: `550` to its `RCPT`.
    pub fn refuse(&self, address: &str) {
        self.refused
            .lock()
            .unwrap()
            .push(address.to_ascii_lowercase());
    }

    /// A loopback port where nothing listens, for "the SMTP server is down".
    pub async fn unused_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    /// The URL Portico should send to.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits up to 10 seconds for the `n`th message (counting from 1) sent to `to`.
    pub async fn wait_for(&self, to: &str, n: usize) -> Mail {
        for _ in 0..200 {
            let found: Vec<Mail> = self
                .mails()
                .into_iter()
                .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no mail #{n} to {to} within 10 seconds; got {:?}",
            self.mails()
        );
    }

    /// Stops listening.
    pub fn stop(&self) {
        self.task.abort();
    }
}

fn address(argument: &str) -> String {
    argument
        .split_once(':')
        .map(|(_, rest)| rest)
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_owned()
}

async fn serve(
    stream: TcpStream,
    store: Arc<Mutex<Vec<Mail>>>,
    refused: Arc<Mutex<Vec<String>>>,
    slow: Arc<Mutex<Duration>>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 portico-test ESMTP ready\r\n").await;
    let mut current = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-portico-test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM") {
            current.from = address(&line);
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO") {
            let to = address(&line);
            if refused.lock().unwrap().contains(&to.to_ascii_lowercase()) {
                b"550 5.1.1 No such mailbox here\r\n"
            } else {
                current.to.push(to);
                b"250 OK\r\n"
            }
        } else if upper.starts_with("RSET") {
            current.to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            let _ = write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await;
            let mut data = String::new();
            while let Ok(Some(body_line)) = lines.next_line().await {
                if body_line == "." {
                    break;
                }
                let body_line = body_line
                    .strip_prefix('.')
                    .map_or(body_line.as_str(), |rest| {
                        if body_line.starts_with("..") {
                            rest
                        } else {
                            body_line.as_str()
                        }
                    });
                data.push_str(body_line);
                data.push('\n');
            }
            current.data = data;
            let pause = *slow.lock().unwrap();
            tokio::time::sleep(pause).await;
            store.lock().unwrap().push(current.clone());
            current.to.clear();
            b"250 OK: queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 Bye\r\n").await;
            return;
        } else {
            b"502 Command not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}
