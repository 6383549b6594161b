//! Requests, their replies and attachments, and the organization's service categories.
//!
//! Every function takes the organization first; a request is found by its number only
//! within one organization, and, for a contact, only among that contact's own requests.
//! [`list`] serves both the contact's list and the staff queue: one filtered query, counted
//! and paged in a stable order (newest first, then by number), so no request is skipped or
//! shown twice between pages. Request numbers are the organization's highest number plus one,
//! taken under [`lock_for_writing`], so requests raised at the same moment wait for each other
//! instead of colliding; a unique index guards the rule.
//!
//! Searching requests is served by an index on both backends (migration `request_search`):
//! SQLite looks words of 3 or more characters up in its FTS5 trigram table, PostgreSQL runs
//! `LIKE` on `lower(subject)` and `lower(description)`, which its pg_trgm indexes serve. Words
//! shorter than 3 characters still read every request of the organization. A search with few
//! matches on SQLite sorts them, since walking the list's index in order for a rare word would
//! read the whole organization. Known limits: case is folded for every letter in SQLite's
//! trigram table but only for ASCII letters in a short word's `LIKE`, and by the database's
//! locale on PostgreSQL; like the solutions' search, neither index leads with `org_id`, so a
//! word is matched across every organization before the asker's is kept.

use chrono::NaiveDateTime;
use diesel::{
    BoxableExpression, ExpressionMethods, IntoSql, OptionalExtension, QueryDsl, RunQueryDsl,
    dsl::{AsExprOf, Filter, Select, max, sql},
    expression::{SqlLiteral, UncheckedBind},
    prelude::*,
    sql_types::{BigInt, Bool, Text, Timestamp},
};

use super::{
    DbConnection, MultiBackend,
    schema::{
        admins, org_admins, organizations, request_attachments, request_replies, requests,
        service_categories,
    },
};
use crate::{
    AppError,
    domain::{
        admin::AdminId,
        contact::ContactId,
        ids::Id,
        org::OrgId,
        requests::{
            Attachment, AttachmentId, AuthorKind, CategoryDraft, CategoryId, Priority, Reply,
            ReplyId, Request, RequestId, RequestStatus, ServiceCategory,
        },
    },
};

diesel::define_sql_function!(fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// Most words of a request search that are used; each must appear.
const MAX_SEARCH_WORDS: usize = 8;

/// Longest part of a search word that is looked for.
const MAX_WORD_CHARS: usize = 200;

/// Up to this many matches, SQLite sorts a search's matches rather than find them in the list's
/// order by walking its index.
const FEW_MATCHES: i64 = 2_000;

/// Request numbers start after this one in every organization.
const FIRST_NUMBER_BEFORE: i64 = 1000;

#[derive(Queryable, Selectable)]
#[diesel(table_name = service_categories)]
struct CategoryRow {
    org_id: String,
    id: String,
    name: String,
    description: String,
    active: bool,
    position: i32,
}

impl CategoryRow {
    fn into_domain(self) -> Result<ServiceCategory, AppError> {
        Ok(ServiceCategory {
            org_id: Id::from_stored(&self.org_id)?,
            id: Id::from_stored(&self.id)?,
            name: self.name,
            description: self.description,
            active: self.active,
            position: self.position,
        })
    }
}

/// The organization's service categories, active or not, in their order.
pub fn categories(
    conn: &mut DbConnection,
    org_id: &OrgId,
) -> Result<Vec<ServiceCategory>, AppError> {
    service_categories::table
        .filter(service_categories::org_id.eq(org_id.to_string()))
        .order((
            service_categories::position.asc(),
            service_categories::name.asc(),
        ))
        .select(CategoryRow::as_select())
        .load(conn)?
        .into_iter()
        .map(CategoryRow::into_domain)
        .collect()
}

/// One of the organization's service categories.
pub fn find_category(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &CategoryId,
) -> Result<Option<ServiceCategory>, AppError> {
    service_categories::table
        .find((org_id.to_string(), id.to_string()))
        .select(CategoryRow::as_select())
        .first(conn)
        .optional()?
        .map(CategoryRow::into_domain)
        .transpose()
}

/// Stores a new service category and returns its id.
pub fn insert_category(
    conn: &mut DbConnection,
    org_id: &OrgId,
    draft: &CategoryDraft,
) -> Result<CategoryId, AppError> {
    let id = CategoryId::new();
    diesel::insert_into(service_categories::table)
        .values((
            service_categories::org_id.eq(org_id.to_string()),
            service_categories::id.eq(id.to_string()),
            service_categories::name.eq(draft.name.trim()),
            service_categories::description.eq(draft.description.trim()),
            service_categories::active.eq(draft.active),
            service_categories::position.eq(draft.position),
            service_categories::created_at.eq(chrono::Utc::now().naive_utc()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Changes a service category; returns whether the organization has it.
pub fn update_category(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &CategoryId,
    draft: &CategoryDraft,
) -> Result<bool, AppError> {
    let changed =
        diesel::update(service_categories::table.find((org_id.to_string(), id.to_string())))
            .set((
                service_categories::name.eq(draft.name.trim()),
                service_categories::description.eq(draft.description.trim()),
                service_categories::active.eq(draft.active),
                service_categories::position.eq(draft.position),
            ))
            .execute(conn)?;
    Ok(changed > 0)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = requests)]
struct RequestRow {
    org_id: String,
    id: String,
    number: i64,
    contact_id: String,
    category_id: String,
    subject: String,
    description: String,
    priority: String,
    status: String,
    assignee_id: Option<String>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl RequestRow {
    fn into_domain(self) -> Result<Request, AppError> {
        Ok(Request {
            org_id: Id::from_stored(&self.org_id)?,
            id: Id::from_stored(&self.id)?,
            number: self.number,
            contact_id: Id::from_stored(&self.contact_id)?,
            category_id: Id::from_stored(&self.category_id)?,
            subject: self.subject,
            description: self.description,
            priority: Priority::parse(&self.priority)
                .ok_or_else(|| AppError::internal("unknown request priority"))?,
            status: RequestStatus::parse(&self.status)
                .ok_or_else(|| AppError::internal("unknown request status"))?,
            assignee_id: self
                .assignee_id
                .as_deref()
                .map(Id::from_stored)
                .transpose()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A request to store.
#[derive(Debug, Clone)]
pub struct NewRequestRow<'a> {
    pub contact_id: &'a ContactId,
    pub category_id: &'a CategoryId,
    pub subject: &'a str,
    pub description: &'a str,
    pub priority: Priority,
    pub status: RequestStatus,
    pub created_at: NaiveDateTime,
}

/// Stores a request under the organization's next number and returns it. Run it inside a
/// transaction.
pub fn insert_request(
    conn: &mut DbConnection,
    org_id: &OrgId,
    new: &NewRequestRow<'_>,
) -> Result<Request, AppError> {
    lock_for_writing(conn, org_id)?;
    let id = RequestId::new();
    let last: Option<i64> = requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .select(max(requests::number))
        .first(conn)?;
    let number = last.unwrap_or(FIRST_NUMBER_BEFORE) + 1;
    diesel::insert_into(requests::table)
        .values((
            requests::org_id.eq(org_id.to_string()),
            requests::id.eq(id.to_string()),
            requests::number.eq(number),
            requests::contact_id.eq(new.contact_id.to_string()),
            requests::category_id.eq(new.category_id.to_string()),
            requests::subject.eq(new.subject),
            requests::description.eq(new.description),
            requests::priority.eq(new.priority.as_str()),
            requests::status.eq(new.status.as_str()),
            requests::created_at.eq(new.created_at),
            requests::updated_at.eq(new.created_at),
        ))
        .execute(conn)?;
    Ok(Request {
        org_id: *org_id,
        id,
        number,
        contact_id: *new.contact_id,
        category_id: *new.category_id,
        subject: new.subject.to_owned(),
        description: new.description.to_owned(),
        priority: new.priority,
        status: new.status,
        assignee_id: None,
        created_at: new.created_at,
        updated_at: new.created_at,
    })
}

/// Takes the organization's write lock for the rest of the transaction: its row on
/// PostgreSQL, the database's write lock on SQLite. Call it first in a transaction that reads
/// before it writes: SQLite cannot let such a transaction wait for the lock once another writer
/// got in between (it fails with `database is locked`), and on PostgreSQL it keeps two requests
/// raised at once from taking the same number.
pub fn lock_for_writing(conn: &mut DbConnection, org_id: &OrgId) -> Result<(), AppError> {
    diesel::update(organizations::table.find(org_id.to_string()))
        .set(organizations::updated_at.eq(organizations::updated_at))
        .execute(conn)?;
    Ok(())
}

/// The organization's request with this number.
pub fn find_request(
    conn: &mut DbConnection,
    org_id: &OrgId,
    number: i64,
) -> Result<Option<Request>, AppError> {
    requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .filter(requests::number.eq(number))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .map(RequestRow::into_domain)
        .transpose()
}

/// The request with this number, if it is the contact's own.
pub fn find_request_of_contact(
    conn: &mut DbConnection,
    org_id: &OrgId,
    contact_id: &ContactId,
    number: i64,
) -> Result<Option<Request>, AppError> {
    requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .filter(requests::contact_id.eq(contact_id.to_string()))
        .filter(requests::number.eq(number))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?
        .map(RequestRow::into_domain)
        .transpose()
}

/// Moves a request to a status.
pub fn set_status(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &RequestId,
    status: RequestStatus,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    diesel::update(requests::table.find((org_id.to_string(), id.to_string())))
        .set((
            requests::status.eq(status.as_str()),
            requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Gives a request to an admin, or to nobody.
pub fn set_assignee(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &RequestId,
    assignee: Option<&AdminId>,
) -> Result<(), AppError> {
    diesel::update(requests::table.find((org_id.to_string(), id.to_string())))
        .set(requests::assignee_id.eq(assignee.map(ToString::to_string)))
        .execute(conn)?;
    Ok(())
}

/// Whether the admin manages the organization (a platform admin manages every one).
pub fn admin_manages(
    conn: &mut DbConnection,
    org_id: &OrgId,
    admin_id: &AdminId,
) -> Result<bool, AppError> {
    let platform: Option<bool> = admins::table
        .find(admin_id.to_string())
        .filter(admins::status.eq("active"))
        .select(admins::is_platform)
        .first(conn)
        .optional()?;
    match platform {
        None => Ok(false),
        Some(true) => Ok(true),
        Some(false) => {
            let count: i64 = org_admins::table
                .filter(org_admins::org_id.eq(org_id.to_string()))
                .filter(org_admins::admin_id.eq(admin_id.to_string()))
                .count()
                .get_result(conn)?;
            Ok(count > 0)
        }
    }
}

/// Who is asking for a list of requests, and what they want in it.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this contact's requests (always set for a contact's own list).
    pub contact_id: Option<ContactId>,
    pub status: Option<RequestStatus>,
    pub category_id: Option<CategoryId>,
    pub priority: Option<Priority>,
    /// `Some(None)`: requests nobody is assigned to.
    pub assignee: Option<Option<AdminId>>,
    /// Words that must each appear in the subject or description (ignoring case, see the
    /// module's known limits), or a request number.
    pub text: Option<String>,
}

/// One page of a filtered list of requests.
#[derive(Debug, Clone)]
pub struct RequestPage {
    pub requests: Vec<Request>,
    /// How many requests match the filter on every page together.
    pub total: i64,
}

type BoxedRequests<'a> = requests::BoxedQuery<'a, MultiBackend>;

type Condition = Box<dyn BoxableExpression<requests::table, MultiBackend, SqlType = Bool>>;

diesel::table! {
    /// SQLite's trigram index of request subjects and descriptions (see the migration
    /// `request_search`); PostgreSQL has no such table.
    requests_search (rowid) {
        rowid -> BigInt,
    }
}

diesel::table! {
    /// Which request each row of `requests_search` holds (SQLite only).
    requests_search_keys (search_row) {
        search_row -> BigInt,
        org_id -> Text,
        request_id -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(requests, requests_search, requests_search_keys);

/// How a backend finds a word in requests: SQLite through its trigram table, PostgreSQL with
/// `LIKE`, which its trigram indexes serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Search {
    Trigrams,
    Like,
}

impl Search {
    fn of(conn: &DbConnection) -> Self {
        match conn {
            DbConnection::Sqlite(_) => Self::Trigrams,
            DbConnection::Postgresql(_) => Self::Like,
        }
    }
}

fn filtered(org_id: &OrgId, filter: &RequestFilter, search: Search) -> BoxedRequests<'static> {
    let mut query = requests::table
        .filter(requests::org_id.eq(org_id.to_string()))
        .into_boxed();
    if let Some(contact_id) = &filter.contact_id {
        query = query.filter(requests::contact_id.eq(contact_id.to_string()));
    }
    if let Some(status) = filter.status {
        query = query.filter(requests::status.eq(status.as_str()));
    }
    if let Some(category_id) = &filter.category_id {
        query = query.filter(requests::category_id.eq(category_id.to_string()));
    }
    if let Some(priority) = filter.priority {
        query = query.filter(requests::priority.eq(priority.as_str()));
    }
    match &filter.assignee {
        Some(Some(admin_id)) => {
            query = query.filter(requests::assignee_id.eq(admin_id.to_string()));
        }
        Some(None) => query = query.filter(requests::assignee_id.is_null()),
        None => {}
    }
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        query = query.filter(matching(org_id, text, search));
    }
    query
}

/// Requests that match a search: a request number (`1042` or `#1042`) finds that request, and
/// otherwise every word must appear in the subject or the description.
fn matching(org_id: &OrgId, text: &str, search: Search) -> Condition {
    let Ok(number) = text.trim_start_matches('#').parse::<i64>() else {
        let words: Vec<&str> = text.split_whitespace().take(MAX_SEARCH_WORDS).collect();
        return containing_all(org_id, &words, search);
    };
    if search == Search::Trigrams && text.chars().count() >= 3 {
        // One list of ids, each looked up by SQLite, where `OR` would read the organization.
        let numbered = diesel::alias!(requests as numbered);
        let by_number = numbered
            .filter(numbered.field(requests::org_id).eq(org_id.to_string()))
            .filter(numbered.field(requests::number).eq(number))
            .select(numbered.field(requests::id));
        let by_text = trigram_matches(org_id.to_string(), trigram_query(&[text]));
        Box::new(requests::id.eq_any(by_text.union_all(by_number)))
    } else {
        Box::new(
            requests::number
                .eq(number)
                .or(containing_all(org_id, &[text], search)),
        )
    }
}

/// SQLite's full-text condition on `requests_search`, its query bound.
type Matches = UncheckedBind<SqlLiteral<Bool>, AsExprOf<String, Text>>;

/// The ids of the organization's requests that SQLite's trigram table finds for `query`.
#[diesel::dsl::auto_type(no_type_alias)]
fn trigram_matches(org_id: String, query: String) -> _ {
    let rows: Select<Filter<requests_search::table, Matches>, requests_search::rowid> =
        requests_search::table
            .filter(sql::<Bool>("requests_search MATCH ").bind::<Text, _>(query))
            .select(requests_search::rowid);
    requests_search_keys::table
        // `|| ''` keeps SQLite from reading every key of the organization through its index:
        // each search row's key is looked up by its rowid instead.
        .filter(requests_search_keys::org_id.concat("").eq(org_id))
        .filter(requests_search_keys::search_row.eq_any(rows))
        .select(requests_search_keys::request_id)
}

/// Requests whose subject or description contains each of `words`, ignoring case, with `%`,
/// `_`, `\` and FTS5 syntax taken literally. On SQLite, words of 3 or more characters are looked
/// up in the trigram table together; shorter ones, which trigrams cannot serve, use `LIKE`.
fn containing_all(org_id: &OrgId, words: &[&str], search: Search) -> Condition {
    let (indexed, scanned): (Vec<&str>, Vec<&str>) = words
        .iter()
        .partition(|word| search == Search::Trigrams && word.chars().count() >= 3);
    let in_trigrams = (!indexed.is_empty()).then(|| -> Condition {
        let query = trigram_query(&indexed);
        Box::new(requests::id.eq_any(trigram_matches(org_id.to_string(), query)))
    });
    let in_text = scanned.into_iter().map(|word| -> Condition {
        let pattern = like_pattern(&word.to_lowercase());
        Box::new(
            lower(requests::subject)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(requests::description).like(pattern).escape('\\')),
        )
    });
    in_trigrams
        .into_iter()
        .chain(in_text)
        .reduce(|all, one| Box::new(all.and(one)))
        .unwrap_or_else(|| Box::new(true.into_sql::<Bool>()))
}

/// An FTS5 query that finds every word as a substring: each word a quoted phrase (its own `"`
/// doubled), so no word is ever read as FTS5 syntax.
fn trigram_query(words: &[&str]) -> String {
    let phrases: Vec<String> = words
        .iter()
        .map(|word| {
            let word: String = word.chars().take(MAX_WORD_CHARS).collect();
            format!("\"{}\"", word.replace('"', "\"\""))
        })
        .collect();
    phrases.join(" AND ")
}

/// A `LIKE` pattern that finds `text` anywhere, with its own `%`, `_` and `\` taken literally.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars().take(MAX_WORD_CHARS) {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The words of a search that only SQLite's trigram table needs to count: no other filter, no
/// request number, no word shorter than 3 characters. Its keys hold one row per request, kept
/// by triggers, so the requests themselves need not be read.
fn only_trigram_words(filter: &RequestFilter, search: Search) -> Option<Vec<&str>> {
    let RequestFilter {
        contact_id: None,
        status: None,
        category_id: None,
        priority: None,
        assignee: None,
        text: Some(text),
    } = filter
    else {
        return None;
    };
    let text = text.trim();
    let words: Vec<&str> = text.split_whitespace().take(MAX_SEARCH_WORDS).collect();
    let indexed = search == Search::Trigrams
        && text.trim_start_matches('#').parse::<i64>().is_err()
        && !words.is_empty()
        && words.iter().all(|word| word.chars().count() >= 3);
    indexed.then_some(words)
}

/// One page (1-based, `per_page` long) of the organization's requests that match `filter`,
/// newest first.
pub fn list(
    conn: &mut DbConnection,
    org_id: &OrgId,
    filter: &RequestFilter,
    page: u32,
    per_page: u32,
) -> Result<RequestPage, AppError> {
    let search = Search::of(conn);
    let total: i64 = match only_trigram_words(filter, search) {
        Some(words) => trigram_matches(org_id.to_string(), trigram_query(&words))
            .count()
            .get_result(conn)?,
        None => filtered(org_id, filter, search).count().get_result(conn)?,
    };
    let offset = i64::from(page.max(1) - 1) * i64::from(per_page);
    if offset >= total {
        return Ok(RequestPage {
            requests: Vec::new(),
            total,
        });
    }
    let query = filtered(org_id, filter, search);
    let query = if search == Search::Trigrams && filter.text.is_some() && total <= FEW_MATCHES {
        // `+` hides the list's index from SQLite's planner: it sorts the few matches instead
        // of walking the index, which for a rare word would read the whole organization.
        query.order((
            sql::<Timestamp>("+requests.created_at").desc(),
            sql::<BigInt>("+requests.number").desc(),
        ))
    } else {
        query.order((requests::created_at.desc(), requests::number.desc()))
    };
    let requests = query
        .limit(i64::from(per_page))
        .offset(offset)
        .select(RequestRow::as_select())
        .load(conn)?
        .into_iter()
        .map(RequestRow::into_domain)
        .collect::<Result<_, _>>()?;
    Ok(RequestPage { requests, total })
}

/// A reply to store.
#[derive(Debug, Clone)]
pub struct NewReplyRow<'a> {
    pub request_id: &'a RequestId,
    pub author_kind: AuthorKind,
    pub author_id: Option<String>,
    pub body: &'a str,
    pub internal: bool,
    pub created_at: NaiveDateTime,
}

/// Stores a reply under a request and returns its id.
pub fn insert_reply(
    conn: &mut DbConnection,
    org_id: &OrgId,
    reply: &NewReplyRow<'_>,
) -> Result<ReplyId, AppError> {
    let id = ReplyId::new();
    diesel::insert_into(request_replies::table)
        .values((
            request_replies::org_id.eq(org_id.to_string()),
            request_replies::id.eq(id.to_string()),
            request_replies::request_id.eq(reply.request_id.to_string()),
            request_replies::author_kind.eq(reply.author_kind.as_str()),
            request_replies::author_id.eq(&reply.author_id),
            request_replies::body.eq(reply.body),
            request_replies::internal.eq(reply.internal),
            request_replies::created_at.eq(reply.created_at),
        ))
        .execute(conn)?;
    Ok(id)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = request_replies)]
struct ReplyRow {
    id: String,
    author_kind: String,
    author_id: Option<String>,
    body: String,
    internal: bool,
    created_at: NaiveDateTime,
}

/// The thread under a request, oldest first; internal notes only when `with_internal`.
pub fn replies(
    conn: &mut DbConnection,
    org_id: &OrgId,
    request_id: &RequestId,
    with_internal: bool,
) -> Result<Vec<Reply>, AppError> {
    let mut query = request_replies::table
        .filter(request_replies::org_id.eq(org_id.to_string()))
        .filter(request_replies::request_id.eq(request_id.to_string()))
        .into_boxed::<MultiBackend>();
    if !with_internal {
        query = query.filter(request_replies::internal.eq(false));
    }
    query
        .order((request_replies::created_at.asc(), request_replies::id.asc()))
        .select(ReplyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| {
            Ok(Reply {
                id: Id::from_stored(&row.id)?,
                author_kind: AuthorKind::parse(&row.author_kind)
                    .ok_or_else(|| AppError::internal("unknown reply author kind"))?,
                author_id: row.author_id,
                body: row.body,
                internal: row.internal,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// An attachment to store.
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub request_id: &'a RequestId,
    pub reply_id: Option<&'a ReplyId>,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
    pub created_at: NaiveDateTime,
}

/// Stores an attachment and returns its id.
pub fn insert_attachment(
    conn: &mut DbConnection,
    org_id: &OrgId,
    new: &NewAttachment<'_>,
) -> Result<AttachmentId, AppError> {
    let id = AttachmentId::new();
    let size = i32::try_from(new.data.len()).map_err(AppError::internal)?;
    diesel::insert_into(request_attachments::table)
        .values((
            request_attachments::org_id.eq(org_id.to_string()),
            request_attachments::id.eq(id.to_string()),
            request_attachments::request_id.eq(new.request_id.to_string()),
            request_attachments::reply_id.eq(new.reply_id.map(ToString::to_string)),
            request_attachments::file_name.eq(new.file_name),
            request_attachments::content_type.eq(new.content_type),
            request_attachments::size_bytes.eq(size),
            request_attachments::data.eq(new.data),
            request_attachments::created_at.eq(new.created_at),
        ))
        .execute(conn)?;
    Ok(id)
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = request_attachments)]
struct AttachmentRow {
    id: String,
    request_id: String,
    reply_id: Option<String>,
    file_name: String,
    content_type: String,
    size_bytes: i32,
}

impl AttachmentRow {
    fn into_domain(self) -> Result<Attachment, AppError> {
        Ok(Attachment {
            id: Id::from_stored(&self.id)?,
            request_id: Id::from_stored(&self.request_id)?,
            reply_id: self.reply_id.as_deref().map(Id::from_stored).transpose()?,
            file_name: self.file_name,
            content_type: self.content_type,
            size_bytes: self.size_bytes,
        })
    }
}

/// What is attached to a request and its replies, oldest first, without the bytes.
pub fn attachments(
    conn: &mut DbConnection,
    org_id: &OrgId,
    request_id: &RequestId,
) -> Result<Vec<Attachment>, AppError> {
    request_attachments::table
        .filter(request_attachments::org_id.eq(org_id.to_string()))
        .filter(request_attachments::request_id.eq(request_id.to_string()))
        .order(request_attachments::created_at.asc())
        .select(AttachmentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AttachmentRow::into_domain)
        .collect()
}

/// One attachment of a request, with its bytes.
pub fn attachment_with_data(
    conn: &mut DbConnection,
    org_id: &OrgId,
    request_id: &RequestId,
    id: &AttachmentId,
) -> Result<Option<(Attachment, Vec<u8>)>, AppError> {
    let found: Option<(AttachmentRow, Vec<u8>)> = request_attachments::table
        .filter(request_attachments::org_id.eq(org_id.to_string()))
        .filter(request_attachments::request_id.eq(request_id.to_string()))
        .filter(request_attachments::id.eq(id.to_string()))
        .select((AttachmentRow::as_select(), request_attachments::data))
        .first(conn)
        .optional()?;
    found
        .map(|(row, data)| Ok((row.into_domain()?, data)))
        .transpose()
}
