//! A contact's requests at `/portal/{slug}/requests`: the list with its filters, search and
//! pages, the form to raise one, the thread with its reply form, closing and reopening, and
//! attachment downloads.
//!
//! Every page needs a contact logged in to this portal; a visitor without one is sent to the
//! portal's login page. Requests are looked up by number together with the organization and
//! the contact, so someone else's number is a plain 404. Forms that carry a file are
//! multipart; the server's body limit caps the whole form before anything here reads it, and
//! [`crate::domain::requests::check_upload`] decides what may be attached. A retired
//! organization's portal is read-only: its requests can be read, not raised or changed.

use std::{collections::HashMap, sync::Arc};

use poem::{
    IntoResponse, Request as HttpRequest, Response, Route, handler,
    http::{StatusCode, header},
    web::{Data, Form, Multipart, Path, Query, cookie::CookieJar},
};
use serde::{Deserialize, Serialize};

use super::{
    cookies, csrf,
    portal::{Chrome, Portal},
    see_other,
};
use crate::{
    App, AppError,
    domain::{
        contact::Contact,
        org::OrgStatus,
        profile,
        requests::{
            self, ATTACHMENT_MAX_BYTES, Attachment, AttachmentId, AuthorKind, Priority, Request,
            RequestDraft, RequestStatus, ServiceCategory, Upload,
        },
    },
    storage::requests::{self as store, RequestFilter},
};

/// Requests shown on one page of the list.
pub const PER_PAGE: u32 = 20;

/// Adds the request pages to `route`.
pub fn routes(route: Route) -> Route {
    route
        .at("/portal/:slug/requests", poem::get(list_page).post(create))
        .at("/portal/:slug/requests/new", poem::get(new_form))
        .at("/portal/:slug/requests/:number", poem::get(show))
        .at("/portal/:slug/requests/:number/replies", poem::post(reply))
        .at(
            "/portal/:slug/requests/:number/close",
            poem::post(close_request),
        )
        .at(
            "/portal/:slug/requests/:number/reopen",
            poem::post(reopen_request),
        )
        .at(
            "/portal/:slug/requests/:number/attachments/:id",
            poem::get(download),
        )
}

/// Refuses changes on a retired organization's portal, which is read-only.
fn check_writable(portal: &Portal) -> Result<(), AppError> {
    if portal.org.status == OrgStatus::Retired {
        Err(AppError::Forbidden)
    } else {
        Ok(())
    }
}

fn to_login(slug: &str) -> Response {
    see_other(&format!("/portal/{slug}/login"))
}

/// A request number from the URL; anything else names no request.
fn parse_number(text: &str) -> Result<i64, AppError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(AppError::NotFound)
}

/// A date and time as the contact reads it.
fn when(at: chrono::NaiveDateTime, contact: &Contact) -> String {
    profile::local_time(at, &contact.time_zone)
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct RequestLine {
    number: i64,
    subject: String,
    status: &'static str,
    status_class: &'static str,
    category: String,
    updated: String,
}

#[derive(Serialize)]
struct ListView {
    #[serde(flatten)]
    chrome: Chrome,
    requests: Vec<RequestLine>,
    statuses: Vec<Choice>,
    categories: Vec<Choice>,
    q: String,
    total: i64,
    page: u32,
    pages: u32,
    previous: Option<String>,
    next: Option<String>,
    filtered: bool,
    may_raise: bool,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    status: Option<String>,
    category: Option<String>,
    q: Option<String>,
    page: Option<String>,
}

fn category_names(categories: &[ServiceCategory]) -> HashMap<String, String> {
    categories
        .iter()
        .map(|c| (c.id.to_string(), c.name.clone()))
        .collect()
}

#[handler]
async fn list_page(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<ListQuery>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let Some(contact) = contact else {
        return Ok(to_login(&slug));
    };
    let status = query.status.as_deref().and_then(RequestStatus::parse);
    let category_id = query
        .category
        .as_deref()
        .and_then(requests::CategoryId::parse);
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let page = query
        .page
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1)
        .clamp(1, 1_000_000);
    let filter = RequestFilter {
        contact_id: Some(contact.id),
        status,
        category_id,
        priority: None,
        assignee: None,
        text: Some(q.clone()).filter(|t| !t.is_empty()),
    };
    let org_id = portal.org.id;
    let (found, categories) = app
        .db
        .read_list(filter.text.is_some(), move |conn| {
            let found = store::list(conn, &org_id, &filter, page, PER_PAGE)?;
            Ok((found, store::categories(conn, &org_id)?))
        })
        .await?;
    let names = category_names(&categories);
    let pages = u32::try_from((found.total + i64::from(PER_PAGE) - 1) / i64::from(PER_PAGE))
        .unwrap_or(u32::MAX)
        .max(1);
    let link = |to: u32| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(category_id) = category_id {
            pairs.push(("category", category_id.to_string()));
        }
        if !q.is_empty() {
            pairs.push(("q", q.clone()));
        }
        pairs.push(("page", to.to_string()));
        let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/portal/{slug}/requests?{encoded}")
    };
    let view = ListView {
        chrome: portal.chrome(app, jar, "Your requests", Some(&contact)),
        requests: found
            .requests
            .iter()
            .map(|r| RequestLine {
                number: r.number,
                subject: r.subject.clone(),
                status: r.status.label(),
                status_class: r.status.as_str(),
                category: names
                    .get(&r.category_id.to_string())
                    .cloned()
                    .unwrap_or_default(),
                updated: when(r.updated_at, &contact),
            })
            .collect(),
        statuses: RequestStatus::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str().to_owned(),
                label: s.label().to_owned(),
                selected: status == Some(*s),
            })
            .collect(),
        categories: categories
            .iter()
            .map(|c| Choice {
                value: c.id.to_string(),
                label: c.name.clone(),
                selected: category_id == Some(c.id),
            })
            .collect(),
        filtered: status.is_some() || category_id.is_some() || !q.is_empty(),
        may_raise: check_writable(&portal).is_ok(),
        q: q.clone(),
        total: found.total,
        page,
        pages,
        previous: (page > 1).then(|| link(page.min(pages + 1) - 1)),
        next: (page < pages).then(|| link(page + 1)),
    };
    Ok(app.pages.render("portal/requests", &view)?.into_response())
}

#[derive(Serialize, Default)]
struct FormErrors {
    subject: Option<String>,
    description: Option<String>,
    category: Option<String>,
    priority: Option<String>,
    attachment: Option<String>,
    body: Option<String>,
    form: Option<String>,
}

impl FormErrors {
    fn add(&mut self, error: AppError) -> Result<(), AppError> {
        let AppError::Invalid { field, message } = error else {
            return Err(error);
        };
        let slot = match field {
            Some("subject") => &mut self.subject,
            Some("description") => &mut self.description,
            Some("category") => &mut self.category,
            Some("priority") => &mut self.priority,
            Some("attachment") => &mut self.attachment,
            Some("body") => &mut self.body,
            _ => &mut self.form,
        };
        *slot = Some(message);
        Ok(())
    }
}

#[derive(Serialize)]
struct CategoryHelp {
    name: String,
    description: String,
}

#[derive(Serialize)]
struct NewView {
    #[serde(flatten)]
    chrome: Chrome,
    subject: String,
    description: String,
    categories: Vec<Choice>,
    category_help: Vec<CategoryHelp>,
    priorities: Vec<Choice>,
    errors: FormErrors,
    max_kib: usize,
    suggest_url: String,
}

fn new_view(
    chrome: Chrome,
    slug: &str,
    categories: &[ServiceCategory],
    draft: &RequestDraft,
    errors: FormErrors,
) -> NewView {
    let priority = if draft.priority.is_empty() {
        Priority::Medium.as_str()
    } else {
        draft.priority.as_str()
    };
    NewView {
        chrome,
        subject: draft.subject.clone(),
        description: draft.description.clone(),
        categories: categories
            .iter()
            .filter(|c| c.active)
            .map(|c| Choice {
                value: c.id.to_string(),
                label: c.name.clone(),
                selected: c.id.to_string() == draft.category_id,
            })
            .collect(),
        category_help: categories
            .iter()
            .filter(|c| c.active)
            .map(|c| CategoryHelp {
                name: c.name.clone(),
                description: c.description.clone(),
            })
            .collect(),
        priorities: Priority::ALL
            .iter()
            .map(|p| Choice {
                value: p.as_str().to_owned(),
                label: p.label().to_owned(),
                selected: p.as_str() == priority,
            })
            .collect(),
        errors,
        max_kib: ATTACHMENT_MAX_BYTES / 1024,
        suggest_url: format!("/portal/{slug}/solutions/suggest"),
    }
}

#[derive(Deserialize, Default)]
struct NewQuery {
    subject: Option<String>,
}

#[handler]
async fn new_form(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    Query(query): Query<NewQuery>,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let Some(contact) = contact else {
        return Ok(to_login(&slug));
    };
    check_writable(&portal)?;
    let org_id = portal.org.id;
    let categories = app
        .db
        .run(move |conn| store::categories(conn, &org_id))
        .await?;
    let draft = RequestDraft {
        subject: query
            .subject
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect(),
        ..RequestDraft::default()
    };
    let chrome = portal.chrome(app, jar, "New request", Some(&contact));
    let view = new_view(chrome, &slug, &categories, &draft, FormErrors::default());
    Ok(app
        .pages
        .render("portal/request_new", &view)?
        .into_response())
}

/// A multipart form: its text fields and the file in its `attachment` field, if one was
/// chosen.
struct Submitted {
    fields: HashMap<String, String>,
    upload: Option<Upload>,
}

impl Submitted {
    async fn read(mut multipart: Multipart) -> Result<Self, AppError> {
        let unreadable = |_| AppError::Invalid {
            field: None,
            message: "The form could not be read. Please try again.".to_owned(),
        };
        let mut fields = HashMap::new();
        let mut upload = None;
        while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
            let name = field.name().unwrap_or_default().to_owned();
            if name == "attachment" {
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let data = field.bytes().await.map_err(unreadable)?;
                if !(file_name.is_empty() && data.is_empty()) {
                    upload = Some(Upload { file_name, data });
                }
            } else {
                let text = field.text().await.map_err(unreadable)?;
                fields.insert(name, text);
            }
        }
        Ok(Self { fields, upload })
    }

    fn text(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

#[handler]
async fn create(
    Path(slug): Path<String>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &HttpRequest,
    multipart: Multipart,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let form = Submitted::read(multipart).await?;
    csrf::verify(app, jar, &form.text("csrf"))?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    check_writable(&portal)?;
    let draft = RequestDraft {
        subject: form.text("subject"),
        description: form.text("description"),
        category_id: form.text("category"),
        priority: form.text("priority"),
    };
    let mut errors = FormErrors::default();
    let checked = match requests::check_draft(&draft) {
        Ok(checked) => Some(checked),
        Err(found) => {
            for error in found {
                errors.add(error)?;
            }
            None
        }
    };
    let upload = match form.upload.map(requests::check_upload).transpose() {
        Ok(upload) => upload,
        Err(error) => {
            errors.add(error)?;
            None
        }
    };
    if let (Some(checked), true) = (checked, errors.attachment.is_none()) {
        match requests::raise(app, &contact, checked, upload, &cookies::client_info(req)).await {
            Ok(request) => {
                return Ok(see_other(&format!(
                    "/portal/{slug}/requests/{}",
                    request.number
                )));
            }
            Err(error) => errors.add(error)?,
        }
    }
    let org_id = portal.org.id;
    let categories = app
        .db
        .run(move |conn| store::categories(conn, &org_id))
        .await?;
    let chrome = portal.chrome(app, jar, "New request", Some(&contact));
    let view = new_view(chrome, &slug, &categories, &draft, errors);
    Ok(app
        .pages
        .render("portal/request_new", &view)?
        .with_status(StatusCode::UNPROCESSABLE_ENTITY)
        .into_response())
}

#[derive(Serialize)]
struct AttachmentLine {
    file_name: String,
    size: String,
    url: String,
}

#[derive(Serialize)]
struct ReplyLine {
    author: String,
    from_staff: bool,
    body: String,
    when: String,
    attachments: Vec<AttachmentLine>,
}

#[derive(Serialize)]
struct ShowView {
    #[serde(flatten)]
    chrome: Chrome,
    number: i64,
    subject: String,
    description: String,
    status: &'static str,
    status_class: &'static str,
    priority: &'static str,
    category: String,
    created: String,
    attachments: Vec<AttachmentLine>,
    replies: Vec<ReplyLine>,
    may_reply: bool,
    may_close: bool,
    may_reopen: bool,
    read_only: bool,
    reply_body: String,
    errors: FormErrors,
    max_kib: usize,
}

fn size_text(bytes: i32) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{} KiB", (bytes + 1023) / 1024)
    }
}

/// The reply form as it was sent back, with what was wrong with it.
#[derive(Default)]
struct ReplyForm {
    body: String,
    errors: FormErrors,
}

async fn render_request(
    app: &App,
    jar: &CookieJar,
    (portal, contact): (&Portal, &Contact),
    number: i64,
    form: ReplyForm,
) -> poem::Result<Response> {
    let status = if form.errors.body.is_some()
        || form.errors.attachment.is_some()
        || form.errors.form.is_some()
    {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (org_id, contact_id) = (portal.org.id, contact.id);
    let (request, replies, attachments, category) = app
        .db
        .run(move |conn| {
            let request = store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                .ok_or(AppError::NotFound)?;
            let replies = store::replies(conn, &org_id, &request.id, false)?;
            let attachments = store::attachments(conn, &org_id, &request.id)?;
            let category = store::find_category(conn, &org_id, &request.category_id)?;
            Ok((request, replies, attachments, category))
        })
        .await?;
    let slug = &portal.org.slug;
    let line = |a: &Attachment| AttachmentLine {
        file_name: a.file_name.clone(),
        size: size_text(a.size_bytes),
        url: format!("/portal/{slug}/requests/{number}/attachments/{}", a.id),
    };
    let writable = check_writable(portal).is_ok();
    let actions = requests::contact_actions(&portal.policy, request.status);
    let view = ShowView {
        chrome: portal.chrome(app, jar, &format!("Request #{number}"), Some(contact)),
        number,
        subject: request.subject.clone(),
        description: request.description.clone(),
        status: request.status.label(),
        status_class: request.status.as_str(),
        priority: request.priority.label(),
        category: category.map(|c| c.name).unwrap_or_default(),
        created: when(request.created_at, contact),
        attachments: attachments
            .iter()
            .filter(|a| a.reply_id.is_none())
            .map(line)
            .collect(),
        replies: replies
            .iter()
            .map(|r| ReplyLine {
                author: match r.author_kind {
                    AuthorKind::Contact => contact.name.clone(),
                    AuthorKind::Staff => format!("{} support", portal.org.name),
                },
                from_staff: r.author_kind == AuthorKind::Staff,
                body: r.body.clone(),
                when: when(r.created_at, contact),
                attachments: attachments
                    .iter()
                    .filter(|a| a.reply_id == Some(r.id))
                    .map(line)
                    .collect(),
            })
            .collect(),
        may_reply: writable && actions.may_reply,
        may_close: writable && actions.may_close,
        may_reopen: writable && actions.may_reopen,
        read_only: !writable,
        reply_body: form.body,
        errors: form.errors,
        max_kib: ATTACHMENT_MAX_BYTES / 1024,
    };
    Ok(app
        .pages
        .render("portal/request", &view)?
        .with_status(status)
        .into_response())
}

#[handler]
async fn show(
    Path((slug, number)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let Some(contact) = contact else {
        return Ok(to_login(&slug));
    };
    let number = parse_number(&number)?;
    render_request(app, jar, (&portal, &contact), number, ReplyForm::default()).await
}

#[handler]
async fn reply(
    Path((slug, number)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    multipart: Multipart,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let form = Submitted::read(multipart).await?;
    csrf::verify(app, jar, &form.text("csrf"))?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    check_writable(&portal)?;
    let number = parse_number(&number)?;
    let body = form.text("body");
    let outcome = match form.upload.map(requests::check_upload).transpose() {
        Ok(upload) => requests::reply_as_contact(app, &contact, number, body.clone(), upload).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => Ok(see_other(&format!("/portal/{slug}/requests/{number}"))),
        Err(error @ AppError::Invalid { .. }) => {
            let mut errors = FormErrors::default();
            errors.add(error)?;
            let form = ReplyForm { body, errors };
            render_request(app, jar, (&portal, &contact), number, form).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn close_or_reopen(
    (app, jar, req): (&App, &CookieJar, &HttpRequest),
    slug: &str,
    number: &str,
    csrf_token: &str,
    reopen: bool,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, slug, jar).await?;
    csrf::verify(app, jar, csrf_token)?;
    let Some(contact) = contact else {
        return Err(AppError::Unauthenticated.into());
    };
    check_writable(&portal)?;
    let number = parse_number(number)?;
    let client = cookies::client_info(req);
    requests::close_or_reopen(app, &portal.policy, &contact, number, reopen, &client).await?;
    Ok(see_other(&format!("/portal/{slug}/requests/{number}")))
}

#[handler]
async fn close_request(
    Path((slug, number)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &HttpRequest,
    Form(form): Form<CsrfOnly>,
) -> poem::Result<Response> {
    close_or_reopen((app, jar, req), &slug, &number, &form.csrf, false).await
}

#[handler]
async fn reopen_request(
    Path((slug, number)): Path<(String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
    req: &HttpRequest,
    Form(form): Form<CsrfOnly>,
) -> poem::Result<Response> {
    close_or_reopen((app, jar, req), &slug, &number, &form.csrf, true).await
}

#[handler]
async fn download(
    Path((slug, number, id)): Path<(String, String, String)>,
    Data(app): Data<&Arc<App>>,
    jar: &CookieJar,
) -> poem::Result<Response> {
    let (portal, contact) = Portal::visit(app, &slug, jar).await?;
    let Some(contact) = contact else {
        return Ok(to_login(&slug));
    };
    let number = parse_number(&number)?;
    let id = AttachmentId::parse(&id).ok_or(AppError::NotFound)?;
    let (org_id, contact_id) = (portal.org.id, contact.id);
    let (attachment, data) = app
        .db
        .run(move |conn| {
            let request: Request =
                store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                    .ok_or(AppError::NotFound)?;
            store::attachment_with_data(conn, &org_id, &request.id, &id)?.ok_or(AppError::NotFound)
        })
        .await?;
    let content_type = if attachment.content_type == "text/plain" {
        "text/plain; charset=utf-8".to_owned()
    } else {
        attachment.content_type.clone()
    };
    let disposition = format!(
        "attachment; filename=\"{}\"",
        attachment
            .file_name
            .chars()
            .map(|c| if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            })
            .collect::<String>()
    );
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, disposition)
        .body(data))
}
