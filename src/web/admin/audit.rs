//! The audit log of one organization: who changed which setting from what to what and when,
//! and every contact login with its method, outcome and IP address; filtered by contact and
//! by kind, newest first, page by page.

use std::{collections::HashMap, sync::Arc};

use poem::{
    Response, Route, handler,
    http::StatusCode,
    web::{Data, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{Chrome, Pager, managed_org, paging, render, signed_in, to_login};
use crate::{
    App,
    domain::contact::ContactId,
    storage::{
        admins,
        audit_log::{self, EventFilter, StoredEvent},
        directory,
    },
};

const PER_PAGE: i64 = 50;

/// Adds the page to `route`.
pub fn routes(route: Route) -> Route {
    route.at("/admin/orgs/:slug/audit", poem::get(page))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    contact: String,
    #[serde(default)]
    kind: String,
    page: Option<u32>,
}

#[derive(Serialize)]
struct EventLine {
    when: String,
    who: String,
    kind: String,
    what: String,
    ip: String,
}

#[derive(Serialize)]
struct KindChoice {
    value: String,
    selected: bool,
}

#[derive(Serialize)]
struct AuditView {
    #[serde(flatten)]
    chrome: Chrome,
    contact: String,
    contact_name: Option<String>,
    kinds: Vec<KindChoice>,
    kind: String,
    events: Vec<EventLine>,
    total: i64,
    pager: Pager,
}

#[handler]
async fn page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<AuditQuery>,
) -> poem::Result<Response> {
    let Some(session) = signed_in(app, jar).await? else {
        return Ok(to_login());
    };
    let org = managed_org(app, &session, &slug).await?;
    let contact = ContactId::parse(query.contact.trim());
    let kind = Some(query.kind.trim().to_owned()).filter(|k| !k.is_empty());
    let filter = EventFilter {
        contact,
        kind: kind.clone(),
        ..EventFilter::default()
    };
    let (page, offset) = paging(query.page, PER_PAGE);
    let org_id = org.id;
    let (events, total, kinds, names, contact_name) = app
        .db
        .run(move |conn| {
            let (events, total) = audit_log::page(conn, &org_id, &filter, offset, PER_PAGE)?;
            let kinds = audit_log::kinds(conn, &org_id)?;
            let names = actor_names(conn, &org_id, &events)?;
            let contact_name = match filter.contact {
                Some(id) => directory::entry(conn, &org_id, &id)?.map(|e| e.name),
                None => None,
            };
            Ok((events, total, kinds, names, contact_name))
        })
        .await?;
    let selected = kind.unwrap_or_default();
    let view = AuditView {
        chrome: Chrome::for_org(app, jar, &session, &org, "audit", "Audit log"),
        contact: contact.map(|id| id.to_string()).unwrap_or_default(),
        contact_name,
        kinds: kinds
            .into_iter()
            .map(|value| KindChoice {
                selected: value == selected,
                value,
            })
            .collect(),
        kind: selected,
        events: events
            .into_iter()
            .map(|event| line(event, &names))
            .collect(),
        total,
        pager: Pager::new(page, total, PER_PAGE),
    };
    render(app, "admin/audit", &view, StatusCode::OK)
}

/// A readable name for each actor of `events`: an admin's email, a contact's name and email.
fn actor_names(
    conn: &mut crate::storage::DbConnection,
    org_id: &crate::domain::org::OrgId,
    events: &[StoredEvent],
) -> Result<HashMap<String, String>, crate::AppError> {
    let mut names = HashMap::new();
    let admin_ids: Vec<String> = events
        .iter()
        .filter_map(|e| e.actor.strip_prefix("admin:").map(str::to_owned))
        .collect();
    for (id, email) in admins::emails(conn, &admin_ids)? {
        names.insert(format!("admin:{id}"), format!("admin {email}"));
    }
    for event in events {
        let Some(id) = event.actor.strip_prefix("contact:") else {
            continue;
        };
        if names.contains_key(&event.actor) {
            continue;
        }
        let Some(contact_id) = ContactId::parse(id) else {
            continue;
        };
        if let Some(entry) = directory::entry(conn, org_id, &contact_id)? {
            let reach = entry.email.or(entry.mobile).unwrap_or_default();
            names.insert(event.actor.clone(), format!("{} <{reach}>", entry.name));
        }
    }
    Ok(names)
}

fn line(event: StoredEvent, names: &HashMap<String, String>) -> EventLine {
    EventLine {
        when: event
            .occurred_at
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        who: names
            .get(&event.actor)
            .cloned()
            .unwrap_or_else(|| event.actor.clone()),
        what: describe(&event.detail),
        kind: event.kind,
        ip: event.client_ip,
    }
}

/// One line for an event's detail: "setting: from → to" for changes, else its fields.
fn describe(detail: &str) -> String {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(detail)
    else {
        return String::new();
    };
    let show = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    };
    if let (Some(setting), Some(from), Some(to)) =
        (map.get("setting"), map.get("from"), map.get("to"))
    {
        return format!("{}: {} → {}", show(setting), show(from), show(to));
    }
    map.iter()
        .filter(|(key, value)| key.as_str() != "contact_id" && !value.is_null())
        .map(|(key, value)| format!("{key}: {}", show(value)))
        .collect::<Vec<_>>()
        .join(", ")
}
