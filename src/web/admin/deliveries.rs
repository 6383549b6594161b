//! The delivery log of one organization: every email and SMS queued for its contacts, with
//! its channel, masked recipient, state, attempts, last error and times, filtered by state and
//! channel, newest first, page by page.
//!
//! A delivery's subject and body never reach this page (they may carry a one-time code, and the
//! outbox wipes them once a message is settled anyway), and recipients are masked the way the
//! portals mask them. Messages of the common login page belong to no organization, so no
//! organization's log shows them.

use std::sync::Arc;

use chrono::NaiveDateTime;
use poem::{
    Response, Route, handler,
    http::StatusCode,
    web::{Data, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{Chrome, Pager, managed_org, paging, render, signed_in, to_login};
use crate::{
    App,
    domain::contact::{mask_email, mask_mobile},
    storage::outbox::{self, Delivery, DeliveryFilter},
};

const PER_PAGE: i64 = 50;
const STATES: [&str; 5] = ["pending", "sending", "sent", "dropped", "failed"];
const CHANNELS: [&str; 2] = ["email", "sms"];

/// Adds the page to `route`.
pub fn routes(route: Route) -> Route {
    route.at("/admin/orgs/:slug/deliveries", poem::get(page))
}

#[derive(Deserialize)]
pub struct DeliveryQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    channel: String,
    page: Option<u32>,
}

#[derive(Serialize)]
struct DeliveryLine {
    channel: String,
    recipient: String,
    state: String,
    attempts: i32,
    last_error: String,
    queued: String,
    next_attempt: String,
    sent: String,
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct DeliveriesView {
    #[serde(flatten)]
    chrome: Chrome,
    states: Vec<Choice>,
    channels: Vec<Choice>,
    state: String,
    channel: String,
    deliveries: Vec<DeliveryLine>,
    total: i64,
    pager: Pager,
}

#[handler]
async fn page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<DeliveryQuery>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let state = known(&STATES, &query.state);
    let channel = known(&CHANNELS, &query.channel);
    let filter = DeliveryFilter {
        state: state.map(str::to_owned),
        channel: channel.map(str::to_owned),
        ..DeliveryFilter::default()
    };
    let (page, offset) = paging(query.page, PER_PAGE);
    let org_id = org.id;
    let (deliveries, total) = app
        .db
        .run(move |conn| outbox::page(conn, &org_id, &filter, offset, PER_PAGE))
        .await?;

    let view = DeliveriesView {
        chrome: Chrome::for_org(app, jar, &session, &org, "deliveries", "Deliveries"),
        states: choices(&STATES, state),
        channels: choices(&CHANNELS, channel),
        state: state.unwrap_or_default().to_owned(),
        channel: channel.unwrap_or_default().to_owned(),
        deliveries: deliveries.into_iter().map(line).collect(),
        total,
        pager: Pager::new(page, total, PER_PAGE),
    };
    render(app, "admin/deliveries", &view, StatusCode::OK)
}

/// `value` when it is one of `known`; anything else filters nothing.
fn known(known: &[&'static str], value: &str) -> Option<&'static str> {
    let value = value.trim();
    known.iter().copied().find(|k| *k == value)
}

fn choices(values: &[&'static str], selected: Option<&str>) -> Vec<Choice> {
    values
        .iter()
        .map(|value| Choice {
            value,
            selected: selected == Some(*value),
        })
        .collect()
}

fn when(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn line(delivery: Delivery) -> DeliveryLine {
    let waiting = delivery.state == "pending";
    DeliveryLine {
        recipient: if delivery.channel == "sms" {
            mask_mobile(&delivery.recipient)
        } else {
            mask_email(&delivery.recipient)
        },
        channel: delivery.channel,
        state: delivery.state,
        attempts: delivery.attempts,
        last_error: delivery.last_error.unwrap_or_default(),
        queued: when(delivery.created_at),
        next_attempt: if waiting {
            when(delivery.next_attempt_at)
        } else {
            String::new()
        },
        sent: delivery.sent_at.map(when).unwrap_or_default(),
    }
}
