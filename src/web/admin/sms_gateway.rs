//! The organization's own SMS gateway: the URL, method, headers, body template, accepted
//! statuses and timeout of an HTTP gateway (the shape of the platform's), used for the
//! organization's SMS instead of the platform's; and a test SMS, sent through the outbox like
//! any other message, so its fate shows on the Deliveries page.
//!
//! The URL and the header values are secrets. Once saved they are shown masked (the URL's
//! password and query values, every header value), and a masked value sent back unchanged
//! keeps the stored one, so an admin can change the timeout without retyping a token.
//!
//! The URL may name only a host the platform operator allowed (`PORTICO_ORG_SMS_GATEWAY_HOSTS`;
//! none by default), checked when the gateway is saved and again before every send, so an
//! organization admin cannot make the server call into its own network. The secrets are
//! stored in clear in the database, like the platform's own in its configuration.

use std::{collections::BTreeMap, sync::Arc};

use chrono::Utc;
use poem::{
    Request, Response, Route, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Chrome, FieldErrors, admin_event, render, to_login};
use crate::{
    App, AppError,
    config::{Config, SmsGateway},
    domain::{
        admin_login::AdminSession,
        contact::{mask_mobile, normalize_mobile},
        delivery::GatewayTransport,
        org::Organization,
    },
    secret::SecretString,
    storage::{audit, outbox, sms_gateways},
    web::{csrf, see_other},
};

/// What a secret shows once saved.
const MASK: &str = "********";

/// Adds the page to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at(
            "/admin/orgs/:slug/sms-gateway",
            poem::get(page).post(submit),
        )
        .at("/admin/orgs/:slug/sms-gateway/test", poem::post(send_test))
}

/// The form's fields, as shown and as sent back.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct GatewayForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    /// `save` or `remove`.
    #[serde(default, skip_serializing)]
    action: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    body_template: String,
    #[serde(default)]
    content_type: String,
    #[serde(default)]
    accept_statuses: String,
    #[serde(default)]
    timeout_secs: String,
}

impl GatewayForm {
    /// The form of a stored gateway, secrets masked; or of the platform's defaults.
    fn shown(gateway: Option<&SmsGateway>) -> Self {
        let Some(gateway) = gateway else {
            return Self {
                method: "POST".to_owned(),
                body_template: "{\"to\": {{json to}}, \"body\": {{json body}}}".to_owned(),
                content_type: "application/json".to_owned(),
                accept_statuses: "200-299".to_owned(),
                timeout_secs: "10".to_owned(),
                ..Self::default()
            };
        };
        Self {
            url: mask_url(gateway.url.expose()),
            method: gateway.method.clone(),
            headers: gateway
                .headers
                .keys()
                .map(|name| format!("{name}: {MASK}"))
                .collect::<Vec<_>>()
                .join("\n"),
            body_template: gateway.body_template.clone(),
            content_type: gateway.content_type.clone(),
            accept_statuses: gateway.accept_statuses.clone(),
            timeout_secs: gateway.timeout_secs.to_string(),
            ..Self::default()
        }
    }
}

/// `url` with its password and query values masked.
fn mask_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return MASK.to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query().is_some() {
        let names: Vec<String> = parsed
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        parsed
            .query_pairs_mut()
            .clear()
            .extend_pairs(names.iter().map(|name| (name.as_str(), MASK)));
    }
    parsed.to_string()
}

#[derive(Serialize)]
struct GatewayView {
    #[serde(flatten)]
    chrome: Chrome,
    has_own: bool,
    platform_gateway: bool,
    allowed_hosts: String,
    form: GatewayForm,
    errors: FieldErrors,
    to: String,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

async fn open(
    app: &App,
    jar: &CookieJar,
    slug: &str,
) -> Result<Option<(AdminSession, Organization, Option<SmsGateway>)>, AppError> {
    let Some((session, org)) = super::open_org(app, jar, slug).await? else {
        return Ok(None);
    };
    let org_id = org.id;
    let stored = app
        .db
        .run(move |conn| sms_gateways::find(conn, &org_id))
        .await?;
    Ok(Some((session, org, stored)))
}

struct Shown {
    form: GatewayForm,
    errors: FieldErrors,
    to: String,
    notice: Option<String>,
    status: StatusCode,
}

fn show(
    app: &App,
    jar: &CookieJar,
    session: &AdminSession,
    org: &Organization,
    has_own: bool,
    shown: Shown,
) -> poem::Result<Response> {
    let view = GatewayView {
        chrome: Chrome::for_org(app, jar, session, org, "sms", "SMS gateway")
            .with_notice(shown.notice.as_deref()),
        has_own,
        platform_gateway: app.deliveries.has_sms_gateway(),
        allowed_hosts: app.config.org_sms_gateway_hosts.join(", "),
        form: shown.form,
        errors: shown.errors,
        to: shown.to,
    };
    render(app, "admin/sms_gateway", &view, shown.status)
}

#[handler]
async fn page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NoticeQuery>,
) -> poem::Result<Response> {
    let Some((session, org, stored)) = open(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    let shown = Shown {
        form: GatewayForm::shown(stored.as_ref()),
        errors: FieldErrors::new(),
        to: String::new(),
        notice: query.notice,
        status: StatusCode::OK,
    };
    show(app, jar, &session, &org, stored.is_some(), shown)
}

#[handler]
async fn submit(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<GatewayForm>,
) -> poem::Result<Response> {
    let Some((session, org, stored)) = open(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let org_id = org.id;
    if form.action == "remove" {
        let event = admin_event(
            &session,
            &org,
            req,
            "sms_gateway.removed",
            json!({ "setting": "SMS gateway", "from": "own", "to": "platform" }),
        );
        let removed = app
            .db
            .transaction(move |conn| {
                let removed = sms_gateways::remove(conn, &org_id)?;
                if removed {
                    audit::record(conn, &event)?;
                }
                Ok(removed)
            })
            .await?;
        let notice = if removed {
            "gateway_removed"
        } else {
            "unchanged"
        };
        return Ok(see_other(&format!(
            "/admin/orgs/{}/sms-gateway?notice={notice}",
            org.slug
        )));
    }

    let gateway = match check(&app.config, &form, stored.as_ref()) {
        Ok(gateway) => gateway,
        Err(errors) => {
            let shown = Shown {
                form,
                errors,
                to: String::new(),
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return show(app, jar, &session, &org, stored.is_some(), shown);
        }
    };
    let event = admin_event(
        &session,
        &org,
        req,
        "sms_gateway.changed",
        json!({
            "setting": "SMS gateway",
            "from": stored.as_ref().map(|g| mask_url(g.url.expose())),
            "to": mask_url(gateway.url.expose()),
        }),
    );
    app.db
        .transaction(move |conn| {
            sms_gateways::save(conn, &org_id, &gateway, Utc::now().naive_utc())?;
            audit::record(conn, &event)
        })
        .await?;
    Ok(see_other(&format!(
        "/admin/orgs/{}/sms-gateway?notice=saved",
        org.slug
    )))
}

/// Why a gateway URL's host is refused.
fn not_allowed(config: &Config) -> String {
    if config.org_sms_gateway_hosts.is_empty() {
        "This platform lets organizations use its own gateway only; ask the platform operator \
         to allow your gateway's host."
            .to_owned()
    } else {
        format!(
            "The platform allows these gateway hosts only: {}.",
            config.org_sms_gateway_hosts.join(", ")
        )
    }
}

/// The gateway the form describes, with masked secrets taken from `stored`; or the errors of
/// its fields.
fn check(
    config: &Config,
    form: &GatewayForm,
    stored: Option<&SmsGateway>,
) -> Result<SmsGateway, FieldErrors> {
    let mut errors = FieldErrors::new();
    let url = form.url.trim();
    let url = match stored {
        Some(gateway) if url == mask_url(gateway.url.expose()) => gateway.url.expose().clone(),
        _ => url.to_owned(),
    };
    match reqwest::Url::parse(&url) {
        Ok(parsed) if ["http", "https"].contains(&parsed.scheme()) && parsed.has_host() => {
            if !config.allows_org_gateway(&url) {
                errors.insert("url", not_allowed(config));
            }
        }
        _ => {
            errors.insert(
                "url",
                "Enter the gateway's http:// or https:// address.".to_owned(),
            );
        }
    }
    let headers = match parse_headers(&form.headers, stored) {
        Ok(headers) => headers,
        Err(message) => {
            errors.insert("headers", message);
            BTreeMap::new()
        }
    };
    let accept_statuses = form.accept_statuses.trim().to_owned();
    if !statuses_valid(&accept_statuses) {
        errors.insert(
            "accept_statuses",
            "Statuses from 100 to 599, such as 200-299 or 200,202.".to_owned(),
        );
    }
    let timeout_secs = match form.timeout_secs.trim().parse::<u64>() {
        Ok(secs) if (1..=60).contains(&secs) => secs,
        _ => {
            errors.insert("timeout_secs", "From 1 to 60 seconds.".to_owned());
            10
        }
    };
    if form.content_type.trim().is_empty() {
        errors.insert("content_type", "Such as application/json.".to_owned());
    }
    let gateway = SmsGateway {
        url: SecretString::new(url),
        method: form.method.trim().to_uppercase(),
        headers,
        body_template: form.body_template.replace("\r\n", "\n"),
        content_type: form.content_type.trim().to_owned(),
        accept_statuses,
        timeout_secs,
    };
    if let Err(AppError::Invalid { field, message }) = GatewayTransport::new(&gateway) {
        errors.insert(field.unwrap_or("body_template"), message);
    }
    if errors.is_empty() {
        Ok(gateway)
    } else {
        Err(errors)
    }
}

/// Headers from `Name: value` lines; a masked value keeps the stored value of that name.
fn parse_headers(
    text: &str,
    stored: Option<&SmsGateway>,
) -> Result<BTreeMap<String, SecretString>, String> {
    let mut headers = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let line_no = number + 1;
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("Line {line_no}: write each header as Name: value."));
        };
        let (name, value) = (name.trim(), value.trim());
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("Line {line_no}: '{name}' is not a header name."));
        }
        let value = if value == MASK {
            match stored.and_then(|gateway| gateway.headers.get(name)) {
                Some(kept) => kept.expose().clone(),
                None => return Err(format!("Line {line_no}: enter the value of {name}.")),
            }
        } else {
            value.to_owned()
        };
        if reqwest::header::HeaderValue::from_str(&value).is_err() {
            return Err(format!(
                "Line {line_no}: the value of {name} cannot be sent."
            ));
        }
        headers.insert(name.to_owned(), SecretString::new(value));
    }
    Ok(headers)
}

fn statuses_valid(text: &str) -> bool {
    let status = |part: &str| {
        part.trim()
            .parse::<u16>()
            .is_ok_and(|s| (100..=599).contains(&s))
    };
    !text.is_empty()
        && text.split(',').all(|part| match part.split_once('-') {
            Some((low, high)) => status(low) && status(high),
            None => status(part),
        })
}

#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

/// Queues a test SMS to the number the admin typed.
#[handler]
async fn send_test(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &Request,
    Form(form): Form<TestForm>,
) -> poem::Result<Response> {
    let Some((session, org, stored)) = open(app, jar, &slug).await? else {
        return Ok(to_login());
    };
    csrf::verify(app, jar, &form.csrf)?;
    let to = match normalize_mobile(&form.to, &app.config.phone_region) {
        Ok(number) => number,
        Err(_) => {
            let mut errors = FieldErrors::new();
            errors.insert(
                "to",
                "Enter a mobile number such as +1 555 010 0001.".to_owned(),
            );
            let shown = Shown {
                form: GatewayForm::shown(stored.as_ref()),
                errors,
                to: form.to,
                notice: None,
                status: StatusCode::UNPROCESSABLE_ENTITY,
            };
            return show(app, jar, &session, &org, stored.is_some(), shown);
        }
    };
    let event = admin_event(
        &session,
        &org,
        req,
        "sms_gateway.tested",
        json!({ "to": mask_mobile(&to) }),
    );
    let message = outbox::NewMessage {
        org_id: Some(org.id),
        channel: "sms",
        recipient: to,
        subject: String::new(),
        body_text: format!("A test message from {} on Portico.", org.name),
        body_html: String::new(),
        code_refs: Vec::new(),
    };
    app.db
        .transaction(move |conn| {
            outbox::enqueue(conn, &message, Utc::now().naive_utc())?;
            audit::record(conn, &event)
        })
        .await?;
    app.deliveries.wake();
    Ok(see_other(&format!(
        "/admin/orgs/{}/sms-gateway?notice=test_sent",
        org.slug
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_and_query_values() {
        let masked = mask_url("https://user:hunter2@sms.example/send?key=abc123&from=Portico");
        assert!(
            !masked.contains("hunter2") && !masked.contains("abc123"),
            "{masked}"
        );
        assert!(
            masked.contains("user:") && masked.contains("key="),
            "{masked}"
        );
    }

    #[test]
    fn statuses_are_checked() {
        assert!(statuses_valid("200-299"));
        assert!(statuses_valid("200, 202"));
        assert!(!statuses_valid("2xx"));
        assert!(!statuses_valid(""));
    }
}
