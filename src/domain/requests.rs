//! Requests: what a contact raises, the thread of replies under it, its attachments, and what
//! staff do with it (assign, answer, note internally, change its status).
//!
//! A request belongs to one organization and one contact, and is numbered per organization
//! (`#1001`, `#1002`, ...). A contact reaches only their own requests: every lookup by number
//! is made together with the organization and the contact, so a guessed number of somebody
//! else's request is simply not found. A service category is the organization's own; an
//! inactive one cannot be chosen for a new request but stays on the old ones.
//!
//! Attachments are stored in the database, next to the request they belong to, so that several
//! Portico instances behind a load balancer see the same files with no shared disk, a backup
//! of the database is a backup of everything, and deleting a request deletes its files. That
//! is why they are small: at most [`ATTACHMENT_MAX_BYTES`] each, one per request or reply,
//! within the server's body limit. A file is accepted by what its first bytes say it is (PNG,
//! JPEG, GIF, PDF or plain UTF-8 text), never by the type the browser claims, its name must
//! agree, and anything that looks like a program is refused. Files are only ever served as
//! downloads.
//!
//! Staff operations ([`assign`], [`staff_reply`], [`add_internal_note`], [`change_status`])
//! take the acting staff ([`super::staff::Staff`]: an admin, or an API key) and refuse staff
//! who may not work on the organization; the console's request pages and the admin API call
//! them. Internal notes are never shown
//! to contacts. The contact is emailed about each new request and each staff reply;
//! [`notify_contact`] is the one place that queues those emails in the outbox.

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{
    admin::AdminId,
    audit::{Actor, AuditEvent},
    contact::{Contact, ContactId},
    ids::Id,
    messages::MessageKind,
    org::{LoginPolicy, OrgId},
    session::ClientInfo,
    staff::Staff,
};
use crate::{
    App, AppError,
    storage::{
        audit,
        requests::{
            self as store, NewAttachment, NewReplyRow, NewRequestRow, RequestFilter, RequestPage,
        },
    },
};

/// A request's id.
pub type RequestId = Id<Request>;
/// A service category's id.
pub type CategoryId = Id<ServiceCategory>;
/// A reply's id.
pub type ReplyId = Id<Reply>;
/// An attachment's id.
pub type AttachmentId = Id<Attachment>;

/// Largest attachment accepted, in bytes.
pub const ATTACHMENT_MAX_BYTES: usize = 512 * 1024;
/// Longest subject, in characters.
pub const SUBJECT_MAX_CHARS: usize = 200;
/// Longest description or reply, in characters.
pub const TEXT_MAX_CHARS: usize = 20_000;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Open,
    InProgress,
    AwaitingContact,
    Resolved,
    Closed,
}

impl RequestStatus {
    /// Every status, in the order a request usually goes through them.
    pub const ALL: [Self; 5] = [
        Self::Open,
        Self::InProgress,
        Self::AwaitingContact,
        Self::Resolved,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::InProgress => "in_progress",
            Self::AwaitingContact => "awaiting_contact",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }

    /// The status in words, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::InProgress => "In progress",
            Self::AwaitingContact => "Waiting for you",
            Self::Resolved => "Resolved",
            Self::Closed => "Closed",
        }
    }
}

/// How urgent a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Self; 4] = [Self::Low, Self::Medium, Self::High, Self::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Urgent => "Urgent",
        }
    }
}

/// One of an organization's service categories.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceCategory {
    pub org_id: OrgId,
    pub id: CategoryId,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub position: i32,
}

/// A stored request.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub org_id: OrgId,
    pub id: RequestId,
    pub number: i64,
    pub contact_id: ContactId,
    pub category_id: CategoryId,
    pub subject: String,
    pub description: String,
    pub priority: Priority,
    pub status: RequestStatus,
    pub assignee_id: Option<AdminId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Who wrote a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Contact,
    Staff,
}

impl AuthorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Staff => "staff",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "contact" => Some(Self::Contact),
            "staff" => Some(Self::Staff),
            _ => None,
        }
    }
}

/// One message in a request's thread.
#[derive(Debug, Clone, Serialize)]
pub struct Reply {
    pub id: ReplyId,
    pub author_kind: AuthorKind,
    pub author_id: Option<String>,
    pub body: String,
    /// An internal note: seen by staff only.
    pub internal: bool,
    pub created_at: NaiveDateTime,
}

/// What is known of an attachment without its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub request_id: RequestId,
    pub reply_id: Option<ReplyId>,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i32,
}

/// A file as the browser sent it.
#[derive(Debug, Clone)]
pub struct Upload {
    pub file_name: String,
    pub data: Vec<u8>,
}

/// A file that passed [`check_upload`].
#[derive(Debug, Clone)]
pub struct CheckedUpload {
    pub file_name: String,
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// The kinds of file accepted: content type and the name endings that go with it.
const ACCEPTED: &[(&str, &[&str])] = &[
    ("image/png", &["png"]),
    ("image/jpeg", &["jpg", "jpeg"]),
    ("image/gif", &["gif"]),
    ("application/pdf", &["pdf"]),
    ("text/plain", &["txt", "log", "csv"]),
];

/// Name endings of programs and scripts, refused whatever their content.
const PROGRAM_ENDINGS: &[&str] = &[
    "exe", "dll", "com", "scr", "msi", "msp", "bat", "cmd", "ps1", "vbs", "vbe", "js", "jse",
    "wsf", "wsh", "hta", "cpl", "jar", "sh", "bash", "app", "apk", "dmg", "pkg", "deb", "rpm",
    "elf", "bin", "run", "lnk", "reg", "html", "htm", "svg", "xhtml",
];

/// Checks an uploaded file: size, that it is no program, and that its bytes are one of the
/// accepted kinds and agree with its name. The error is safe to show next to the `attachment`
/// field.
pub fn check_upload(upload: Upload) -> Result<CheckedUpload, AppError> {
    let file_name = clean_file_name(&upload.file_name);
    let data = upload.data;
    if data.is_empty() {
        return Err(AppError::invalid(
            "attachment",
            "The attached file is empty.",
        ));
    }
    if data.len() > ATTACHMENT_MAX_BYTES {
        return Err(AppError::invalid(
            "attachment",
            format!(
                "Attachments may be at most {} KiB.",
                ATTACHMENT_MAX_BYTES / 1024
            ),
        ));
    }
    let ending = file_name
        .rsplit_once('.')
        .map(|(_, ending)| ending.to_ascii_lowercase())
        .unwrap_or_default();
    if looks_like_program(&data) || PROGRAM_ENDINGS.contains(&ending.as_str()) {
        return Err(AppError::invalid(
            "attachment",
            "Programs and scripts cannot be attached.",
        ));
    }
    let Some(content_type) = sniff(&data) else {
        return Err(AppError::invalid(
            "attachment",
            "Attach a PNG, JPEG or GIF image, a PDF, or a plain text file.",
        ));
    };
    let endings = ACCEPTED
        .iter()
        .find(|(kind, _)| *kind == content_type)
        .map_or(&[][..], |(_, endings)| *endings);
    if !endings.contains(&ending.as_str()) {
        return Err(AppError::invalid(
            "attachment",
            "The file's name does not match what is in it.",
        ));
    }
    Ok(CheckedUpload {
        file_name,
        content_type,
        data,
    })
}

/// What the first bytes say the file is, among the accepted kinds.
fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if data.starts_with(b"\xff\xd8\xff") {
        return Some("image/jpeg");
    }
    if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if data.starts_with(b"%PDF-") {
        return Some("application/pdf");
    }
    let text = std::str::from_utf8(data).ok()?;
    let plain = text
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'));
    plain.then_some("text/plain")
}

/// Whether the bytes start like a program: Windows (MZ), ELF, Mach-O, Java classes or a
/// script with a `#!` line.
fn looks_like_program(data: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        b"MZ",
        b"\x7fELF",
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
        b"\xca\xfe\xba\xbe",
        b"#!",
    ];
    MAGICS.iter().any(|magic| data.starts_with(magic))
}

/// A file name safe to store and to send back: no folders, no control or quoting
/// characters, at most 100 characters.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

/// A new request as a contact filled it in.
#[derive(Debug, Clone, Default)]
pub struct RequestDraft {
    pub subject: String,
    pub description: String,
    pub category_id: String,
    pub priority: String,
}

/// A draft that passed [`check_draft`].
#[derive(Debug, Clone)]
pub struct CheckedDraft {
    pub subject: String,
    pub description: String,
    pub category_id: CategoryId,
    pub priority: Priority,
}

/// Checks every field of a new request; the errors name their fields, all at once.
pub fn check_draft(draft: &RequestDraft) -> Result<CheckedDraft, Vec<AppError>> {
    let mut errors = Vec::new();
    let subject = draft.subject.trim().to_owned();
    if has_stray_controls(&subject) {
        errors.push(AppError::invalid(
            "subject",
            "Remove the control characters.",
        ));
    } else if subject.chars().count() < 3 {
        errors.push(AppError::invalid(
            "subject",
            "Say in a few words what it is about.",
        ));
    } else if subject.chars().count() > SUBJECT_MAX_CHARS {
        errors.push(AppError::invalid(
            "subject",
            format!("Keep the subject under {SUBJECT_MAX_CHARS} characters."),
        ));
    }
    let description = draft.description.trim().to_owned();
    if let Err(error) = check_text("description", &description) {
        errors.push(error);
    }
    let category_id = CategoryId::parse(draft.category_id.trim());
    if category_id.is_none() {
        errors.push(AppError::invalid("category", "Choose a service category."));
    }
    let priority = Priority::parse(draft.priority.trim());
    if priority.is_none() {
        errors.push(AppError::invalid("priority", "Choose a priority."));
    }
    match (category_id, priority) {
        (Some(category_id), Some(priority)) if errors.is_empty() => Ok(CheckedDraft {
            subject,
            description,
            category_id,
            priority,
        }),
        _ => Err(errors),
    }
}

/// Whether text holds control characters other than line breaks and tabs (a NUL, say, which
/// PostgreSQL cannot store), or invisible characters that change how text reads.
pub fn has_stray_controls(text: &str) -> bool {
    text.chars().any(|c| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || crate::domain::contact::is_deceptive_format(c)
    })
}

/// Checks the text of a description, reply or note.
pub fn check_text(field: &'static str, text: &str) -> Result<(), AppError> {
    if text.trim().is_empty() {
        return Err(AppError::invalid(field, "Write a few words."));
    }
    if has_stray_controls(text) {
        return Err(AppError::invalid(field, "Remove the control characters."));
    }
    if text.chars().count() > TEXT_MAX_CHARS {
        return Err(AppError::invalid(
            field,
            format!("Keep it under {TEXT_MAX_CHARS} characters."),
        ));
    }
    Ok(())
}

/// Why the contact is being told about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The contact raised it: a receipt with its number.
    Received,
    /// Staff replied; the reply is quoted in the email.
    StaffReplied { reply: String },
}

/// [`notify_contact`] after the request or reply is stored: a message that cannot be queued
/// (the disk is full, say) is logged, not answered as a failure of what was stored, which a
/// client would then send again.
async fn tell_contact(app: &App, org_id: &OrgId, request: &Request, notice: Notice) {
    if let Err(error) = notify_contact(app, org_id, request, notice).await {
        tracing::warn!(org.id = %org_id, %error, "the contact's email about a request was not queued");
    }
}

/// Tells the contact about their request by email, through the outbox. A contact without an
/// email address is not told (their portal shows the request all the same).
pub async fn notify_contact(
    app: &App,
    org_id: &OrgId,
    request: &Request,
    notice: Notice,
) -> Result<(), AppError> {
    let (org_id, contact_id) = (*org_id, request.contact_id);
    let kind = match &notice {
        Notice::Received => MessageKind::RequestReceived,
        Notice::StaffReplied { .. } => MessageKind::RequestReplied,
    };
    let found = app
        .db
        .run(move |conn| {
            let org = crate::storage::orgs::find(conn, &org_id)?;
            let contact = crate::storage::accounts::find_contact(conn, &org_id, &contact_id)?;
            let wording = crate::storage::message_templates::find(conn, &org_id, kind.name())?;
            Ok(org.zip(contact).map(|found| (found, wording)))
        })
        .await?;
    let Some(((org, contact), wording)) = found else {
        return Ok(());
    };
    let Some(email) = contact.email.clone() else {
        return Ok(());
    };
    let link = format!(
        "{}/portal/{}/requests/{}",
        app.config.public_url, org.slug, request.number
    );
    let reply = match &notice {
        Notice::Received => "",
        Notice::StaffReplied { reply } => reply.as_str(),
    };
    let rendered = app.messages.render_for(
        kind,
        wording.as_ref(),
        &crate::domain::messages::RequestMessage {
            org_name: &org.name,
            contact_name: &contact.name,
            number: request.number,
            subject: &request.subject,
            reply,
            link: &link,
        },
    )?;
    let message = crate::storage::outbox::NewMessage {
        org_id: Some(org_id),
        channel: "email",
        recipient: email,
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: rendered.html,
        code_refs: Vec::new(),
    };
    app.db
        .run(move |conn| {
            crate::storage::outbox::enqueue(conn, &message, Utc::now().naive_utc()).map(|_| ())
        })
        .await?;
    app.deliveries.wake();
    Ok(())
}

/// Raises a request for a contact and returns it. The category must be one of the
/// organization's active ones; anything else is refused as an invalid `category`.
pub async fn raise(
    app: &App,
    contact: &Contact,
    draft: CheckedDraft,
    upload: Option<CheckedUpload>,
    client: &ClientInfo,
) -> Result<Request, AppError> {
    let (org_id, contact_id) = (contact.org_id, contact.id);
    let client_ip = client.ip.clone();
    let request = app
        .db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            let category = store::find_category(conn, &org_id, &draft.category_id)?;
            if !category.is_some_and(|c| c.active) {
                return Err(AppError::invalid(
                    "category",
                    "Choose one of the service categories listed.",
                ));
            }
            let now = Utc::now().naive_utc();
            let row = NewRequestRow {
                contact_id: &contact_id,
                category_id: &draft.category_id,
                subject: &draft.subject,
                description: &draft.description,
                priority: draft.priority,
                status: RequestStatus::Open,
                created_at: now,
            };
            let request = store::insert_request(conn, &org_id, &row)?;
            if let Some(upload) = &upload {
                store::insert_attachment(
                    conn,
                    &org_id,
                    &attachment(&request.id, None, upload, now),
                )?;
            }
            audit::record(
                conn,
                &AuditEvent {
                    org_id: Some(org_id),
                    actor: Actor::Contact(contact_id.to_string()),
                    kind: "request.raised",
                    detail: json!({ "number": request.number }),
                    client_ip,
                },
            )?;
            Ok(request)
        })
        .await?;
    tell_contact(app, &org_id, &request, Notice::Received).await;
    Ok(request)
}

fn attachment<'a>(
    request_id: &'a RequestId,
    reply_id: Option<&'a ReplyId>,
    upload: &'a CheckedUpload,
    now: NaiveDateTime,
) -> NewAttachment<'a> {
    NewAttachment {
        request_id,
        reply_id,
        file_name: &upload.file_name,
        content_type: upload.content_type,
        data: &upload.data,
        created_at: now,
    }
}

/// Adds a contact's reply to one of their own requests. A closed request takes no replies;
/// a request that was waiting for the contact goes back to the staff as open.
pub async fn reply_as_contact(
    app: &App,
    contact: &Contact,
    number: i64,
    body: String,
    upload: Option<CheckedUpload>,
) -> Result<(), AppError> {
    check_text("body", &body)?;
    let (org_id, contact_id) = (contact.org_id, contact.id);
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            let request = store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                .ok_or(AppError::NotFound)?;
            if request.status == RequestStatus::Closed {
                return Err(AppError::invalid(
                    "body",
                    "This request is closed. Reopen it to reply, or raise a new one.",
                ));
            }
            let now = Utc::now().naive_utc();
            let reply = NewReplyRow {
                request_id: &request.id,
                author_kind: AuthorKind::Contact,
                author_id: Some(contact_id.to_string()),
                body: body.trim(),
                internal: false,
                created_at: now,
            };
            let reply_id = store::insert_reply(conn, &org_id, &reply)?;
            if let Some(upload) = &upload {
                let new = attachment(&request.id, Some(&reply_id), upload, now);
                store::insert_attachment(conn, &org_id, &new)?;
            }
            let status = match request.status {
                RequestStatus::AwaitingContact => RequestStatus::Open,
                other => other,
            };
            store::set_status(conn, &org_id, &request.id, status, now)
        })
        .await
}

/// What a contact may do with one of their requests now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContactActions {
    pub may_reply: bool,
    pub may_close: bool,
    pub may_reopen: bool,
}

/// What the organization's policy lets the contact do with a request in `status`.
pub fn contact_actions(policy: &LoginPolicy, status: RequestStatus) -> ContactActions {
    ContactActions {
        may_reply: status != RequestStatus::Closed,
        may_close: policy.contacts_may_close && status != RequestStatus::Closed,
        may_reopen: policy.contacts_may_reopen
            && matches!(status, RequestStatus::Resolved | RequestStatus::Closed),
    }
}

/// Closes (`reopen == false`) or reopens one of the contact's own requests, as far as the
/// organization allows.
pub async fn close_or_reopen(
    app: &App,
    policy: &LoginPolicy,
    contact: &Contact,
    number: i64,
    reopen: bool,
    client: &ClientInfo,
) -> Result<(), AppError> {
    let (org_id, contact_id, policy) = (contact.org_id, contact.id, policy.clone());
    let client_ip = client.ip.clone();
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            let request = store::find_request_of_contact(conn, &org_id, &contact_id, number)?
                .ok_or(AppError::NotFound)?;
            let actions = contact_actions(&policy, request.status);
            let (allowed, status, kind) = if reopen {
                (actions.may_reopen, RequestStatus::Open, "request.reopened")
            } else {
                (actions.may_close, RequestStatus::Closed, "request.closed")
            };
            if !allowed {
                return Err(AppError::Forbidden);
            }
            store::set_status(conn, &org_id, &request.id, status, Utc::now().naive_utc())?;
            audit::record(
                conn,
                &AuditEvent {
                    org_id: Some(org_id),
                    actor: Actor::Contact(contact_id.to_string()),
                    kind,
                    detail: json!({ "number": number }),
                    client_ip,
                },
            )
        })
        .await
}

/// Refuses staff who may not work on the organization.
fn check_staff(
    conn: &mut crate::storage::DbConnection,
    org_id: &OrgId,
    staff: &Staff,
) -> Result<(), AppError> {
    staff.check(conn, org_id)
}

/// One page of the organization's request queue as staff see it: every contact's requests,
/// filtered by status, category, assignee and words, newest first.
pub async fn queue(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    filter: RequestFilter,
    page: u32,
    per_page: u32,
) -> Result<RequestPage, AppError> {
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .read_list(filter.text.is_some(), move |conn| {
            check_staff(conn, &org_id, &staff)?;
            store::list(conn, &org_id, &filter, page, per_page.clamp(1, 500))
        })
        .await
}

/// A request as staff see it: its whole thread, internal notes included, and its attachments.
#[derive(Debug, Clone)]
pub struct StaffView {
    pub request: Request,
    pub replies: Vec<Reply>,
    pub attachments: Vec<Attachment>,
}

/// Opens one of the organization's requests for staff.
pub async fn staff_view(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    number: i64,
) -> Result<StaffView, AppError> {
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .run(move |conn| {
            check_staff(conn, &org_id, &staff)?;
            let request = store::find_request(conn, &org_id, number)?.ok_or(AppError::NotFound)?;
            let replies = store::replies(conn, &org_id, &request.id, true)?;
            let attachments = store::attachments(conn, &org_id, &request.id)?;
            Ok(StaffView {
                request,
                replies,
                attachments,
            })
        })
        .await
}

/// Gives a request to an admin of the organization, or to nobody.
pub async fn assign(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    number: i64,
    assignee: Option<AdminId>,
) -> Result<(), AppError> {
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            check_staff(conn, &org_id, &staff)?;
            if let Some(assignee) = &assignee
                && !store::admin_manages(conn, &org_id, assignee)?
            {
                return Err(AppError::invalid(
                    "assignee",
                    "Assign the request to an admin of this organization.",
                ));
            }
            let request = store::find_request(conn, &org_id, number)?.ok_or(AppError::NotFound)?;
            store::set_assignee(conn, &org_id, &request.id, assignee.as_ref())?;
            staff_audit(conn, org_id, staff, "request.assigned", number)
        })
        .await
}

/// Answers a request as staff, optionally moving it to a new status (by default it then waits
/// for the contact), and tells the contact.
pub async fn staff_reply(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    number: i64,
    body: String,
    status: Option<RequestStatus>,
) -> Result<(), AppError> {
    check_text("body", &body)?;
    let reply_text = body.trim().to_owned();
    let (org_id, staff) = (*org_id, staff.into());
    let request = app
        .db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            check_staff(conn, &org_id, &staff)?;
            let request = store::find_request(conn, &org_id, number)?.ok_or(AppError::NotFound)?;
            let now = Utc::now().naive_utc();
            let reply = NewReplyRow {
                request_id: &request.id,
                author_kind: AuthorKind::Staff,
                author_id: Some(staff.author_id()),
                body: body.trim(),
                internal: false,
                created_at: now,
            };
            store::insert_reply(conn, &org_id, &reply)?;
            let status = status.unwrap_or(RequestStatus::AwaitingContact);
            store::set_status(conn, &org_id, &request.id, status, now)?;
            staff_audit(conn, org_id, staff, "request.answered", number)?;
            Ok(request)
        })
        .await?;
    tell_contact(
        app,
        &org_id,
        &request,
        Notice::StaffReplied { reply: reply_text },
    )
    .await;
    Ok(())
}

/// Adds a note under a request that only staff see; the contact is not told.
pub async fn add_internal_note(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    number: i64,
    body: String,
) -> Result<(), AppError> {
    check_text("body", &body)?;
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            check_staff(conn, &org_id, &staff)?;
            let request = store::find_request(conn, &org_id, number)?.ok_or(AppError::NotFound)?;
            let note = NewReplyRow {
                request_id: &request.id,
                author_kind: AuthorKind::Staff,
                author_id: Some(staff.author_id()),
                body: body.trim(),
                internal: true,
                created_at: Utc::now().naive_utc(),
            };
            store::insert_reply(conn, &org_id, &note)?;
            Ok(())
        })
        .await
}

/// Moves a request to another status, as staff.
pub async fn change_status(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    number: i64,
    status: RequestStatus,
) -> Result<(), AppError> {
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            check_staff(conn, &org_id, &staff)?;
            let request = store::find_request(conn, &org_id, number)?.ok_or(AppError::NotFound)?;
            store::set_status(conn, &org_id, &request.id, status, Utc::now().naive_utc())?;
            staff_audit(conn, org_id, staff, "request.status_changed", number)
        })
        .await
}

fn staff_audit(
    conn: &mut crate::storage::DbConnection,
    org_id: OrgId,
    staff: Staff,
    kind: &'static str,
    number: i64,
) -> Result<(), AppError> {
    audit::record(
        conn,
        &AuditEvent {
            org_id: Some(org_id),
            actor: staff.actor(),
            kind,
            detail: json!({ "number": number }),
            client_ip: String::new(),
        },
    )
}

/// A service category as an admin fills it in.
#[derive(Debug, Clone)]
pub struct CategoryDraft {
    pub name: String,
    pub description: String,
    pub active: bool,
    pub position: i32,
}

fn check_category(draft: &CategoryDraft) -> Result<(), AppError> {
    let name = draft.name.trim();
    if has_stray_controls(&draft.name) || has_stray_controls(&draft.description) {
        return Err(AppError::invalid("name", "Remove the control characters."));
    }
    if name.is_empty() || name.chars().count() > 80 {
        return Err(AppError::invalid("name", "Use 1 to 80 characters."));
    }
    if draft.description.chars().count() > 500 {
        return Err(AppError::invalid(
            "description",
            "Keep the description under 500 characters.",
        ));
    }
    Ok(())
}

/// Adds a service category to the organization; names are unique within it.
pub async fn create_category(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    draft: CategoryDraft,
) -> Result<CategoryId, AppError> {
    check_category(&draft)?;
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            check_staff(conn, &org_id, &staff)?;
            let id = store::insert_category(conn, &org_id, &draft)?;
            category_audit(conn, org_id, staff, "category.created", &id, &draft)?;
            Ok(id)
        })
        .await
        .map_err(duplicate_name)
}

/// Changes a service category of the organization (deactivating it keeps it on old requests).
pub async fn update_category(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    id: &CategoryId,
    draft: CategoryDraft,
) -> Result<(), AppError> {
    check_category(&draft)?;
    let (org_id, staff, id) = (*org_id, staff.into(), *id);
    app.db
        .transaction(move |conn| {
            store::lock_for_writing(conn, &org_id)?;
            check_staff(conn, &org_id, &staff)?;
            if !store::update_category(conn, &org_id, &id, &draft)? {
                return Err(AppError::NotFound);
            }
            category_audit(conn, org_id, staff, "category.updated", &id, &draft)
        })
        .await
        .map_err(duplicate_name)
}

fn category_audit(
    conn: &mut crate::storage::DbConnection,
    org_id: OrgId,
    staff: Staff,
    kind: &'static str,
    id: &CategoryId,
    draft: &CategoryDraft,
) -> Result<(), AppError> {
    audit::record(
        conn,
        &AuditEvent {
            org_id: Some(org_id),
            actor: staff.actor(),
            kind,
            detail: json!({
                "category": id.to_string(),
                "name": draft.name.trim(),
                "active": draft.active,
                "position": draft.position,
            }),
            client_ip: String::new(),
        },
    )
}

fn duplicate_name(error: AppError) -> AppError {
    match error {
        AppError::Conflict(_) => AppError::invalid(
            "name",
            "The organization already has a category of that name.",
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(name: &str, data: &[u8]) -> Result<CheckedUpload, AppError> {
        check_upload(Upload {
            file_name: name.to_owned(),
            data: data.to_vec(),
        })
    }

    #[test]
    fn accepted_files_are_typed_by_their_bytes() {
        let png = upload("screen.png", b"\x89PNG\r\n\x1a\n....").unwrap();
        assert_eq!(png.content_type, "image/png");
        let pdf = upload("invoice.PDF", b"%PDF-1.7 ...").unwrap();
        assert_eq!(pdf.content_type, "application/pdf");
        let text = upload("notes.txt", "Grüße\nline two".as_bytes()).unwrap();
        assert_eq!(text.content_type, "text/plain");
    }

    #[test]
    fn programs_are_refused_whatever_they_are_called() {
        for (name, data) in [
            ("setup.exe", &b"MZ\x90\x00"[..]),
            ("photo.png", b"MZ\x90\x00"),
            ("notes.txt", b"\x7fELF\x02\x01"),
            ("run.txt", b"#!/bin/sh\nrm -rf /\n"),
            ("script.js", b"alert(1)"),
            ("page.html", b"<script>alert(1)</script>"),
        ] {
            let Err(AppError::Invalid { field, .. }) = upload(name, data) else {
                panic!("{name} must be refused");
            };
            assert_eq!(field, Some("attachment"));
        }
    }

    #[test]
    fn names_must_agree_with_contents_and_size_is_capped() {
        assert!(upload("invoice.pdf", b"\x89PNG\r\n\x1a\n").is_err());
        assert!(upload("archive.zip", b"PK\x03\x04").is_err());
        assert!(upload("big.txt", &vec![b'a'; ATTACHMENT_MAX_BYTES + 1]).is_err());
        assert!(upload("empty.txt", b"").is_err());
    }

    #[test]
    fn file_names_lose_folders_and_odd_characters() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\x\\a\"b;.png"), "a_b_.png");
        assert_eq!(clean_file_name(".."), "attachment");
    }

    #[test]
    fn policy_decides_what_a_contact_may_do() {
        let policy = LoginPolicy::default();
        let resolved = contact_actions(&policy, RequestStatus::Resolved);
        assert!(resolved.may_close && resolved.may_reopen && resolved.may_reply);
        let strict = LoginPolicy {
            contacts_may_close: false,
            contacts_may_reopen: false,
            ..LoginPolicy::default()
        };
        let closed = contact_actions(&strict, RequestStatus::Closed);
        assert!(!closed.may_close && !closed.may_reopen && !closed.may_reply);
    }
}
