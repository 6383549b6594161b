//! Delivery of the outbox: the background worker and the email and SMS transports.
//!
//! A request that sends a message only queues it; the worker delivers it, retrying with
//! backoff while a gateway is down, so nothing is lost and no page waits on a gateway. A
//! message carrying a one-time code that can no longer be used is dropped instead of sent
//! late, and the code's lifetime starts only when a gateway accepted its message.
//!
//! Email goes over SMTP (lettre) when `PORTICO_SMTP_URL` is set, otherwise into `.eml` files
//! under `<data dir>/mail/`. An SMS goes to its organization's own HTTP gateway when the
//! organization has one (set in the admin console), else to the platform's gateway when one is
//! configured, otherwise into JSON files under `<data dir>/sms/`. Errors kept for admins are cut short and
//! stripped of anything that looks like an address or a number.
//!
//! Delivery is at least once: an instance that dies after a gateway accepted a message but
//! before recording it leaves the message to be sent again when its lease runs out. Every
//! copy of one message carries the same key (an `Idempotency-Key` header to the SMS gateway,
//! a `Message-ID` in email), so a gateway or a mail client can tell a repeat from a new one.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use chrono::Utc;
use handlebars::Handlebars;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig},
};
use tokio::sync::Notify;

use super::{ids::Id, org::OrgId};
use crate::{
    App, AppError,
    config::{Config, SmsGateway},
    storage::{
        DbConnection, limits, otp,
        outbox::{self, Message},
        sms_gateways,
    },
};

/// Attempts before a message is given up on.
const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed message stays with one worker before another may take it: longer than
/// the longest send (a gateway's timeout is held to 120 s, an SMTP exchange to 30 s), so a
/// message is claimed again only when the instance that claimed it is gone.
const LEASE_SECS: i64 = 150;
/// How often the worker looks for due messages when nothing wakes it.
const POLL: Duration = Duration::from_millis(500);
/// Messages one worker sends at the same time: four ways held up by slow gateways leave half
/// the slots free, and seven still leave one way's worth.
const PARALLEL_SENDS: usize = 128;
/// Of those, the most on one way out (email, or one organization's SMS); the SMTP relay gets
/// as many connections. With 8, a thousand code logins a second kept their codes waiting a
/// quarter of a second in the queue: the email way's slots, held by sends that take a few
/// milliseconds on a busy machine, were the narrowest point.
const SENDS_PER_WAY: usize = 16;
/// How many due messages a claim looks through for ones whose way out has a free slot.
const DUE_LOOKAHEAD: i64 = 200;

/// The configured ways out, and the bell that wakes the worker.
pub struct Deliveries {
    email: EmailTransport,
    sms: SmsTransport,
    wake: Notify,
}

enum EmailTransport {
    Smtp {
        transport: Box<SmtpRelay>,
        from: Mailbox,
    },
    Files {
        dir: PathBuf,
        from: Mailbox,
    },
}

enum SmsTransport {
    Gateway(Box<GatewayTransport>),
    Files { dir: PathBuf },
}

/// An HTTP SMS gateway, ready to send: the platform's, or an organization's own.
pub struct GatewayTransport {
    client: reqwest::Client,
    gateway: SmsGateway,
    bodies: Handlebars<'static>,
}

impl GatewayTransport {
    /// Prepares `gateway`; refuses a body template that does not compile or a method that is
    /// not one of `POST`, `PUT` and `GET`.
    pub fn new(gateway: &SmsGateway) -> Result<Self, AppError> {
        if !["POST", "PUT", "GET"].contains(&gateway.method.to_uppercase().as_str()) {
            return Err(AppError::Invalid {
                field: Some("method"),
                message: "The method must be POST, PUT or GET.".to_owned(),
            });
        }
        // Never follow a redirect: the gateway's host is the one checked against the
        // allow-list, and a redirect could send the message, and its answer, anywhere.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(gateway.timeout_secs.clamp(1, 120)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(AppError::internal)?;
        let mut bodies = Handlebars::new();
        bodies.set_strict_mode(true);
        bodies.register_escape_fn(handlebars::no_escape);
        bodies.unregister_helper("log");
        bodies.register_helper("json", Box::new(json_helper));
        bodies.register_helper("form", Box::new(form_helper));
        bodies
            .register_template_string("body", &gateway.body_template)
            .map_err(|error| AppError::Invalid {
                field: Some("body_template"),
                message: format!("The SMS gateway body template is broken: {error}"),
            })?;
        Ok(Self {
            client,
            gateway: gateway.clone(),
            bodies,
        })
    }

    /// Sends one SMS; the error is fit for the delivery log once redacted.
    async fn send(&self, message: &Message) -> Result<(), String> {
        let values = serde_json::json!({ "to": message.recipient, "body": message.body_text });
        let body = self
            .bodies
            .render("body", &values)
            .map_err(|error| format!("cannot render the gateway body: {error}"))?;
        let gateway = &self.gateway;
        let method = reqwest::Method::from_bytes(gateway.method.to_uppercase().as_bytes())
            .map_err(|_| "the gateway method is not an HTTP method".to_owned())?;
        let mut request = self
            .client
            .request(method, gateway.url.expose())
            .header("content-type", &gateway.content_type)
            .header("idempotency-key", &message.id)
            .body(body);
        for (name, value) in &gateway.headers {
            request = request.header(name, value.expose());
        }
        let response = request.send().await.map_err(|error| {
            if error.is_timeout() {
                "the SMS gateway did not answer in time".to_owned()
            } else if error.is_connect() {
                "cannot connect to the SMS gateway".to_owned()
            } else {
                "the SMS gateway request failed".to_owned()
            }
        })?;
        let status = response.status().as_u16();
        if gateway.accepts(status) {
            Ok(())
        } else {
            Err(format!("the SMS gateway answered {status}"))
        }
    }
}

impl Deliveries {
    /// Sets up the transports the configuration names, and says which are in use.
    pub fn from_config(config: &Config) -> Result<Self, AppError> {
        let from: Mailbox = config.mail_from.parse().map_err(|_| AppError::Invalid {
            field: Some("mail_from"),
            message: format!(
                "The mail From address '{}' is not an email address.",
                config.mail_from
            ),
        })?;
        let email = match &config.smtp_url {
            Some(url) => {
                refuse_plain_smtp_away(url.expose())?;
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|_| AppError::Invalid {
                        field: Some("smtp_url"),
                        message: "PORTICO_SMTP_URL is not a valid SMTP URL, such as smtp://user:pass@host:587?tls=required.".to_owned(),
                    })?
                    .timeout(Some(Duration::from_secs(15)))
                    .pool_config(PoolConfig::new().max_size(SENDS_PER_WAY as u32));
                let transport = Box::new(SmtpRelay::new(builder));
                tracing::info!("email goes out over SMTP");
                EmailTransport::Smtp { transport, from }
            }
            None => {
                let dir = config.data_dir.join("mail");
                tracing::info!(folder = %dir.display(), "no SMTP configured: emails are written as .eml files");
                EmailTransport::Files { dir, from }
            }
        };
        let sms = match &config.sms_gateway {
            Some(gateway) => {
                let transport = GatewayTransport::new(gateway).map_err(|error| match error {
                    AppError::Invalid { message, .. } => AppError::Invalid {
                        field: Some("sms_gateway"),
                        message,
                    },
                    other => other,
                })?;
                tracing::info!("SMS go out through the HTTP gateway");
                SmsTransport::Gateway(Box::new(transport))
            }
            None => {
                let dir = config.data_dir.join("sms");
                tracing::info!(folder = %dir.display(), "no SMS gateway configured: SMS are written as JSON files");
                SmsTransport::Files { dir }
            }
        };
        Ok(Self {
            email,
            sms,
            wake: Notify::new(),
        })
    }

    /// Whether SMS leave through a real gateway (not the file outbox).
    pub fn has_sms_gateway(&self) -> bool {
        matches!(self.sms, SmsTransport::Gateway(_))
    }

    /// Wakes the worker: a message was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Refuses an SMTP URL that would carry mail, codes and the relay's password in the clear to
/// another machine: `smtp://` without `?tls=` speaks no TLS at all, which only a relay on
/// this host (`localhost`, `127.0.0.1`, `::1`) may be trusted with.
fn refuse_plain_smtp_away(url: &str) -> Result<(), AppError> {
    // A URL that does not parse is refused as such by the SMTP builder.
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Ok(());
    };
    let host = parsed.host_str().unwrap_or_default();
    let on_this_host = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let tls_chosen = parsed.query_pairs().any(|(name, _)| name == "tls");
    if parsed.scheme() != "smtp" || tls_chosen || on_this_host {
        return Ok(());
    }
    Err(AppError::Invalid {
        field: Some("smtp_url"),
        message: "PORTICO_SMTP_URL would send mail unencrypted to another machine: add ?tls=required (STARTTLS) or use smtps://. Plain smtp:// is only for a relay on this host.".to_owned(),
    })
}

/// Runs the delivery worker until the task is aborted.
pub async fn run_worker(app: Arc<App>) {
    let mut last_sweep = std::time::Instant::now();
    loop {
        if let Err(error) = deliver_due(&app).await {
            tracing::warn!(error = %error, "delivery round failed");
        }
        if last_sweep.elapsed() > Duration::from_secs(600) {
            last_sweep = std::time::Instant::now();
            if let Err(error) = sweep(&app).await {
                tracing::warn!(error = %error, "sweeping old limits, attempts and registrations failed");
            }
        }
        tokio::select! {
            () = app.deliveries.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Delivers every message due now, several at a time; returns how many were handled.
///
/// Up to [`PARALLEL_SENDS`] messages are out at once, and at most [`SENDS_PER_WAY`] of them on
/// one way out (email, or one organization's SMS gateway), so slow gateways hold a few slots
/// each while every other message goes on. Each turn of the loop is one transaction: it
/// writes what became of the messages that finished since the last turn and claims due
/// messages for the free slots (dropping those whose codes can no longer be used), so a
/// claimed message goes out at once, well within its lease. A claim waits for half the slots
/// to be free, or for a poll to pass while fewer are. When that transaction fails, what
/// finished is kept and written at a later turn, and the sends still out go on: an answer
/// lost there would only send its message again once the lease ran out.
pub async fn deliver_due(app: &Arc<App>) -> Result<usize, AppError> {
    let mut handled = 0;
    let mut sending = tokio::task::JoinSet::new();
    let mut busy: HashMap<String, usize> = HashMap::new();
    let mut finished: Vec<Outcome> = Vec::new();
    let mut may_claim = true;
    let mut polled = false;
    let mut backoff = POLL;
    loop {
        // Claim for half the slots or more at a time: a transaction per freed slot would
        // cost more than the sends themselves when they are quick.
        let free = PARALLEL_SENDS - sending.len();
        let claiming = may_claim && free > 0 && (free >= PARALLEL_SENDS / 2 || polled);
        polled = false;
        if claiming || !finished.is_empty() {
            let free = if claiming { free } else { 0 };
            let recording = Arc::new(std::mem::take(&mut finished));
            match settle(app, recording.clone(), free, &busy).await {
                Ok(turn) => {
                    backoff = POLL;
                    handled += recording.len() + turn.dropped;
                    may_claim = claiming && (turn.dropped > 0 || !turn.to_send.is_empty());
                    for message in turn.to_send {
                        *busy.entry(way(&message)).or_default() += 1;
                        let app = app.clone();
                        sending.spawn(async move {
                            let sent = send(&app, &message).await;
                            Outcome { message, sent }
                        });
                    }
                    if may_claim {
                        continue;
                    }
                }
                Err(error) if sending.is_empty() && recording.is_empty() => return Err(error),
                Err(error) => {
                    finished = Arc::unwrap_or_clone(recording);
                    tracing::warn!(error = %error, "recording deliveries failed: trying again");
                    backoff = (backoff * 2).min(Duration::from_secs(8));
                    may_claim = false;
                }
            }
        }
        if sending.is_empty() {
            if finished.is_empty() {
                return Ok(handled);
            }
            tokio::time::sleep(backoff).await;
            continue;
        }
        // While sends are out, messages queued since are claimed at the latest a poll later:
        // a slow exchange must not hold them back until it ends. (Claiming on every wake
        // instead would split a busy queue into many small claims.)
        let first = tokio::select! {
            first = sending.join_next() => first,
            () = tokio::time::sleep(backoff) => {
                (may_claim, polled) = (true, true);
                continue;
            }
        };
        let mut joined = first.into_iter().collect::<Vec<_>>();
        while let Some(more) = sending.try_join_next() {
            joined.push(more);
        }
        for outcome in joined {
            match outcome {
                Ok(outcome) => {
                    if let Some(count) = busy.get_mut(&way(&outcome.message)) {
                        *count = count.saturating_sub(1);
                    }
                    finished.push(outcome);
                }
                // The message stays claimed, and goes again when its lease runs out; its
                // slot stays taken until then.
                Err(error) => tracing::error!(error = %error, "a send stopped before its end"),
            }
        }
        may_claim = true;
    }
}

/// One transaction of the worker: writes what became of the `finished` messages, then claims
/// up to `free` due messages beside the sends still out (`busy`, by way).
async fn settle(
    app: &App,
    finished: Arc<Vec<Outcome>>,
    free: usize,
    busy: &HashMap<String, usize>,
) -> Result<Claimed, AppError> {
    let now = Utc::now().naive_utc();
    let busy = busy.clone();
    app.db
        .transaction(move |conn| {
            record(conn, &finished, now)?;
            match free {
                0 => Ok(Claimed::default()),
                free => claim_round(conn, now, free, &busy),
            }
        })
        .await
}

/// The way out a message takes, as far as sharing the sending slots goes: email, or the SMS
/// of one organization (its own gateway or the platform's).
fn way(message: &Message) -> String {
    way_of(&message.channel, message.org_id.as_deref())
}

/// The SMS way of messages of no organization.
const PLATFORM_WAY: &str = "platform";

fn way_of(channel: &str, org_id: Option<&str>) -> String {
    match channel {
        "sms" => format!("sms:{}", org_id.unwrap_or(PLATFORM_WAY)),
        other => other.to_owned(),
    }
}

/// The ways out of `busy` whose slots are all taken.
fn full_ways(busy: &HashMap<String, usize>) -> outbox::FullWays {
    let mut full = outbox::FullWays::default();
    for (way, _) in busy.iter().filter(|(_, out)| **out >= SENDS_PER_WAY) {
        match way.strip_prefix("sms:") {
            Some(PLATFORM_WAY) => full.sms_of_none = true,
            Some(org_id) => full.sms_of.push(org_id.to_owned()),
            None => full.email |= way == "email",
        }
    }
    full
}

/// The messages a round claimed.
#[derive(Default)]
struct Claimed {
    to_send: Vec<Message>,
    /// How many were dropped unsent because their codes can no longer be used.
    dropped: usize,
}

/// What one attempt to send a message came to.
#[derive(Clone)]
struct Outcome {
    message: Message,
    sent: Result<(), Unsent>,
}

/// Why a message did not go out, and whether that will last: a server that refused it for
/// good (an SMTP 5xx reply, say) or a recipient that is no address refuses it the next time
/// too, while a gateway that is down or slow may take it later.
#[derive(Debug, Clone)]
struct Unsent {
    reason: String,
    lasting: bool,
}

impl Unsent {
    /// A refusal that trying again cannot change.
    fn lasting(reason: String) -> Self {
        Self {
            reason,
            lasting: true,
        }
    }
}

/// A failure that trying again later may mend.
impl From<String> for Unsent {
    fn from(reason: String) -> Self {
        Self {
            reason,
            lasting: false,
        }
    }
}

/// Claims up to `free` due messages, oldest first, passing over those whose way out already
/// has [`SENDS_PER_WAY`] messages out (`busy`, by way): one statement claims them all, and one
/// more reads which of their codes can still be used. A message none of whose codes can is
/// dropped unsent.
fn claim_round(
    conn: &mut DbConnection,
    now: chrono::NaiveDateTime,
    free: usize,
    busy: &HashMap<String, usize>,
) -> Result<Claimed, AppError> {
    let mut taking = busy.clone();
    let mut chosen = Vec::new();
    for due in outbox::due(conn, now, DUE_LOOKAHEAD, &full_ways(busy))? {
        if chosen.len() >= free {
            break;
        }
        let slots = taking
            .entry(way_of(&due.channel, due.org_id.as_deref()))
            .or_default();
        if *slots < SENDS_PER_WAY {
            *slots += 1;
            chosen.push(due.id);
        }
    }
    let ids: Vec<&str> = chosen.iter().map(String::as_str).collect();
    let mut messages = outbox::claim(conn, &ids, now, LEASE_SECS)?;
    // Oldest first, as they were due.
    messages.sort_by_key(|message| ids.iter().position(|id| *id == message.id));
    let refs: Vec<Vec<(OrgId, String)>> = messages
        .iter()
        .map(|message| code_refs(&message.code_refs))
        .collect();
    let useful = otp::still_useful(conn, &refs.concat(), now)?;
    let mut claimed = Claimed {
        to_send: Vec::new(),
        dropped: 0,
    };
    for (message, codes) in messages.into_iter().zip(refs) {
        if !codes.is_empty() && !codes.iter().any(|code| useful.contains(code)) {
            outbox::mark_dropped(
                conn,
                &message.id,
                "its code was used, replaced or expired before it could be sent",
            )?;
            claimed.dropped += 1;
            continue;
        }
        claimed.to_send.push(message);
    }
    Ok(claimed)
}

async fn send(app: &App, message: &Message) -> Result<(), Unsent> {
    let sent = match message.channel.as_str() {
        "email" => send_email(&app.deliveries.email, message).await,
        "sms" => match own_gateway(app, message).await {
            Ok(Some(Ok(own))) => own.send(message).await.map_err(Unsent::from),
            Ok(Some(Err(error))) => Err(format!("the organization's SMS gateway: {error}").into()),
            Ok(None) => send_sms(&app.deliveries.sms, message)
                .await
                .map_err(Unsent::from),
            Err(error) => Err(format!("the organization's SMS gateway: {error}").into()),
        },
        other => Err(Unsent::lasting(format!("unknown channel {other}"))),
    };
    if !code_refs(&message.code_refs).is_empty() {
        app.metrics.code_message(&message.channel, sent.is_ok());
    }
    match &sent {
        Ok(()) => {
            tracing::info!(delivery.id = %message.id, channel = %message.channel, "message delivered");
        }
        Err(unsent) => {
            tracing::warn!(delivery.id = %message.id, channel = %message.channel, attempt = message.attempts, lasting = unsent.lasting, error = %redact(&unsent.reason), "delivery failed");
        }
    }
    sent
}

/// Writes what became of `finished` messages: sent ones start their codes' lifetimes, failed
/// ones wait for their next attempt or are given up on. The sent ones are written together.
fn record(
    conn: &mut DbConnection,
    finished: &[Outcome],
    now: chrono::NaiveDateTime,
) -> Result<(), AppError> {
    if finished.is_empty() {
        return Ok(());
    }
    let (sent, failed): (Vec<_>, Vec<_>) =
        finished.iter().partition(|outcome| outcome.sent.is_ok());
    let sent_ids: Vec<&str> = sent.iter().map(|o| o.message.id.as_str()).collect();
    outbox::mark_sent(conn, &sent_ids, now)?;
    let codes: Vec<(OrgId, String)> = sent
        .iter()
        .flat_map(|o| code_refs(&o.message.code_refs))
        .collect();
    otp::activate(conn, &codes, now)?;
    for Outcome { message, sent } in failed {
        let Err(unsent) = sent else { continue };
        let error = redact(&unsent.reason);
        if unsent.lasting || message.attempts >= MAX_ATTEMPTS {
            outbox::mark_failed(conn, &message.id, &error)?;
        } else {
            let wait = 2_i64
                .pow(u32::try_from(message.attempts).unwrap_or(1))
                .min(120);
            let next = now + chrono::Duration::seconds(wait);
            outbox::retry_at(conn, &message.id, next, &error)?;
        }
    }
    Ok(())
}

fn code_refs(text: &str) -> Vec<(OrgId, String)> {
    text.split(',')
        .filter_map(|part| part.split_once(':'))
        .filter_map(|(org, code)| Id::parse(org).map(|org| (org, code.to_owned())))
        .collect()
}

/// The longest one email's whole SMTP exchange may take, connection included.
const SMTP_EXCHANGE_LIMIT: Duration = Duration::from_secs(30);

async fn send_email(transport: &EmailTransport, message: &Message) -> Result<(), Unsent> {
    let from = match transport {
        EmailTransport::Smtp { from, .. } | EmailTransport::Files { from, .. } => from.clone(),
    };
    let to: Mailbox = message
        .recipient
        .parse()
        .map_err(|_| Unsent::lasting("the recipient is not an email address".to_owned()))?;
    let email = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(message.subject.clone())
        .message_id(Some(format!("<{}@portico>", message.id)))
        .multipart(MultiPart::alternative_plain_html(
            message.body_text.clone(),
            message.body_html.clone(),
        ))
        .map_err(|error| Unsent::lasting(format!("cannot build the email: {error}")))?;
    match transport {
        EmailTransport::Smtp { transport, .. } => transport.send(email).await,
        EmailTransport::Files { dir, .. } => {
            write_file(dir, &message.id, "eml", &email.formatted())
                .await
                .map_err(Unsent::from)
        }
    }
}

/// The SMTP server email goes out through, with lettre's pool of open connections to it.
struct SmtpRelay {
    builder: AsyncSmtpTransportBuilder,
    pool: std::sync::Mutex<AsyncSmtpTransport<Tokio1Executor>>,
    /// How long one message's whole exchange may take: [`SMTP_EXCHANGE_LIMIT`].
    limit: Duration,
}

impl SmtpRelay {
    fn new(builder: AsyncSmtpTransportBuilder) -> Self {
        let pool = std::sync::Mutex::new(builder.clone().build());
        Self {
            builder,
            pool,
            limit: SMTP_EXCHANGE_LIMIT,
        }
    }

    /// Sends `email`, its whole exchange bounded by the relay's limit: lettre's own timeout
    /// covers each read and write, not a server that accepts the connection and then says
    /// nothing.
    ///
    /// An exchange cut short at that bound leaves its connection in the middle of a
    /// conversation, and lettre puts it back in the pool all the same: the next message would
    /// read the reply the server owed this one, and could be taken as sent on the strength of
    /// it. So the pool is replaced, and its connections closed, whenever an exchange is cut.
    /// A permanent refusal (a 5xx reply) is lasting; every other failure may pass.
    async fn send(&self, email: lettre::Message) -> Result<(), Unsent> {
        let pool = self.current().clone();
        match tokio::time::timeout(self.limit, pool.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(Unsent {
                reason: format!("SMTP: {error}"),
                lasting: error.is_permanent(),
            }),
            Err(_) => {
                *self.current() = self.builder.clone().build();
                Err(format!(
                    "SMTP: no answer within {} seconds",
                    self.limit.as_secs_f32()
                )
                .into())
            }
        }
    }

    fn current(&self) -> std::sync::MutexGuard<'_, AsyncSmtpTransport<Tokio1Executor>> {
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

async fn send_sms(transport: &SmsTransport, message: &Message) -> Result<(), String> {
    match transport {
        SmsTransport::Files { dir } => {
            let body = serde_json::json!({ "to": message.recipient, "body": message.body_text });
            write_file(dir, &message.id, "json", body.to_string().as_bytes()).await
        }
        SmsTransport::Gateway(gateway) => gateway.send(message).await,
    }
}

/// The organization's own SMS gateway for `message`, when it has one.
async fn own_gateway(
    app: &App,
    message: &Message,
) -> Result<Option<Result<GatewayTransport, String>>, AppError> {
    let Some(org_id) = message.org_id.as_deref().and_then(Id::parse) else {
        return Ok(None);
    };
    let stored = app
        .db
        .run(move |conn| sms_gateways::find(conn, &org_id))
        .await?;
    Ok(stored.map(|gateway| {
        if !app.config.allows_org_gateway(gateway.url.expose()) {
            return Err(
                "the gateway's host is not on the platform's list of organization gateway hosts"
                    .to_owned(),
            );
        }
        GatewayTransport::new(&gateway).map_err(|error| error.to_string())
    }))
}

async fn write_file(
    dir: &std::path::Path,
    id: &str,
    extension: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%S%.3f");
    let path = dir.join(format!("{stamp}-{id}.{extension}"));
    let partial = dir.join(format!(".{stamp}-{id}.{extension}.partial"));
    let (dir, bytes) = (dir.to_owned(), bytes.to_vec());
    tokio::task::spawn_blocking(move || write_whole(&dir, &partial, &path, &bytes))
        .await
        .map_err(|error| format!("cannot write to the outbox folder: {error}"))?
}

/// Writes `bytes` to `partial`, then renames it to `path`, so that a reader never sees half a
/// message.
fn write_whole(
    dir: &std::path::Path,
    partial: &std::path::Path,
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|error| format!("cannot create the outbox folder: {}", error.kind()))?;
    let written = std::fs::write(partial, bytes).and_then(|()| std::fs::rename(partial, path));
    if let Err(error) = written {
        // A full disk leaves a cut-off file behind: remove it so that it takes no more room
        // and nobody mistakes it for a message.
        let _ = std::fs::remove_file(partial);
        return Err(format!(
            "cannot write to the outbox folder: {}",
            error.kind()
        ));
    }
    Ok(())
}

/// Keeps an error fit for an admin's eyes and the log: short, with no address or number.
pub fn redact(error: &str) -> String {
    let cleaned: Vec<String> = error
        .split_whitespace()
        .map(|word| {
            let digits = word.chars().filter(char::is_ascii_digit).count();
            if word.contains('@') || digits >= 6 {
                "[redacted]".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect();
    cleaned.join(" ").chars().take(300).collect()
}

/// The worker's housekeeping, every ten minutes: forgets counted limit events and login
/// attempts older than a day, and stale registrations
/// ([`super::registration::sweep_stale`]).
pub async fn sweep(app: &App) -> Result<(), AppError> {
    let now = Utc::now().naive_utc();
    app.db
        .run(move |conn| {
            let day_ago = now - chrono::Duration::days(1);
            limits::sweep(conn, day_ago)?;
            otp::sweep(conn, day_ago)?;
            Ok(())
        })
        .await?;
    let forgotten = super::registration::sweep_stale(app, now).await?;
    if forgotten > 0 {
        tracing::info!(registrations = forgotten, "forgot stale registrations");
    }
    Ok(())
}

fn json_helper(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let value = h.param(0).map(|p| p.value().clone()).unwrap_or_default();
    out.write(&value.to_string())?;
    Ok(())
}

fn form_helper(
    h: &handlebars::Helper<'_>,
    _: &Handlebars<'_>,
    _: &handlebars::Context,
    _: &mut handlebars::RenderContext<'_, '_>,
    out: &mut dyn handlebars::Output,
) -> handlebars::HelperResult {
    let value = h
        .param(0)
        .and_then(|p| p.value().as_str().map(str::to_owned))
        .unwrap_or_default();
    let encoded: String = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    out.write(&encoded)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real SMTP server on a loopback port, test-only: the first message it gets is
    /// answered only after 2 seconds, and every later one refused with a 550. Answers how
    /// many messages it has received.
    async fn late_then_refusing_relay() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 relay\r\n").await.unwrap();
                    let mut in_data = false;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let reply: &[u8] = if in_data {
                            if line != "." {
                                continue;
                            }
                            in_data = false;
                            if count.fetch_add(1, Ordering::SeqCst) == 0 {
                                tokio::time::sleep(Duration::from_secs(2)).await;
                                b"250 queued\r\n"
                            } else {
                                b"550 refused\r\n"
                            }
                        } else if line.starts_with("EHLO") {
                            b"250 relay\r\n"
                        } else if line.starts_with("DATA") {
                            in_data = true;
                            b"354 go on\r\n"
                        } else if line.starts_with("QUIT") {
                            b"221 bye\r\n"
                        } else {
                            b"250 ok\r\n"
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (port, received)
    }

    fn email(n: usize) -> lettre::Message {
        lettre::Message::builder()
            .from("portal@portico.example".parse().unwrap())
            .to("someone@portico.example".parse().unwrap())
            .subject(format!("message {n}"))
            .body(format!("body {n}"))
            .unwrap()
    }

    #[test]
    fn plain_smtp_is_only_for_a_relay_on_this_host() {
        for refused in [
            "smtp://mail.example.com",
            "smtp://user:secret@mail.example.com:587",
            "smtp://10.0.0.5:25?other=1",
        ] {
            let error = refuse_plain_smtp_away(refused).unwrap_err().to_string();
            assert!(error.contains("unencrypted"), "{refused}: {error}");
            assert!(!error.contains("secret"), "{error}");
        }
        for taken in [
            "smtp://127.0.0.1:2525",
            "smtp://localhost",
            "smtp://[::1]:2525",
            "smtp://mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://mail.example.com",
        ] {
            assert!(refuse_plain_smtp_away(taken).is_ok(), "{taken}");
        }
    }

    /// An exchange cut short by the relay's limit must not lend its connection, with the
    /// reply it never read, to the next message: the second message here is refused by the
    /// server, and must not be taken as sent on the strength of the first one's late reply.
    #[tokio::test]
    async fn a_message_after_a_cut_exchange_gets_its_own_answer() {
        let (port, received) = late_then_refusing_relay().await;
        let builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(port);
        let relay = SmtpRelay {
            limit: Duration::from_secs(1),
            ..SmtpRelay::new(builder)
        };
        let first = relay.send(email(1)).await;
        assert!(first.is_err_and(|unsent| unsent.reason.contains("no answer") && !unsent.lasting));
        // Time for the cut connection to go back to the pool; the first message's reply is
        // still on its way when the second one goes out.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = relay.send(email(2)).await;
        assert!(
            second
                .as_ref()
                .is_err_and(|unsent| unsent.reason.contains("550") && unsent.lasting),
            "{second:?}"
        );
        assert_eq!(received.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn errors_lose_addresses_and_numbers() {
        let error = "550 5.1.1 <demo@globex.example>: Recipient rejected, try +15550100003";
        let clean = redact(error);
        assert!(
            !clean.contains("demo@") && !clean.contains("5550100003"),
            "{clean}"
        );
        assert!(clean.contains("Recipient rejected"));
    }

    #[test]
    fn code_refs_are_read_back() {
        let org = OrgId::new();
        let refs = code_refs(&format!("{org}:abc,{org}:def,broken"));
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].1, "def");
    }
}
