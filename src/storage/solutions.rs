//! Solutions and their full-text search.
//!
//! Search is the one place where the two backends need their own SQL: SQLite searches the
//! FTS5 table `solutions_fts` (kept in step by triggers), PostgreSQL the generated
//! `search_vector` column with its GIN index. Both take the query as a bound parameter built by
//! [`SearchTerms`], and both rank alike: title matches weigh ten times body matches (FTS5's
//! `bm25` column weights, PostgreSQL's `ts_rank` weights for A and B), then by title.
//! Known limit: neither the GIN index nor the FTS5 table can lead with `org_id`, so both
//! engines match words across every organization and keep the asker's organization afterwards;
//! a platform with very many organizations would want an index per organization.

use chrono::NaiveDateTime;
use diesel::{
    ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName, RunQueryDsl,
    prelude::*,
    sql_types::{BigInt, Text, Timestamp},
};

use super::{DbConnection, schema::solutions};
use crate::{
    AppError,
    domain::{
        ids::Id,
        org::OrgId,
        solutions::{SearchTerms, Solution, SolutionDraft, SolutionId, SolutionStatus},
    },
};

#[derive(Queryable, Selectable, QueryableByName)]
#[diesel(table_name = solutions)]
struct SolutionRow {
    #[diesel(sql_type = Text)]
    org_id: String,
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    topic: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
}

impl SolutionRow {
    fn into_domain(self) -> Result<Solution, AppError> {
        Ok(Solution {
            org_id: Id::from_stored(&self.org_id)?,
            id: Id::from_stored(&self.id)?,
            topic: self.topic,
            title: self.title,
            body: self.body,
            status: SolutionStatus::parse(&self.status)
                .ok_or_else(|| AppError::internal("unknown solution status"))?,
            updated_at: self.updated_at,
        })
    }
}

const SQLITE_SEARCH: &str = "\
    SELECT s.org_id, s.id, s.topic, s.title, s.body, s.status, s.updated_at \
    FROM solutions_fts JOIN solutions s \
        ON s.org_id = solutions_fts.org_id AND s.id = solutions_fts.solution_id \
    WHERE solutions_fts MATCH ? AND solutions_fts.org_id = ? AND s.status = 'published' \
    ORDER BY bm25(solutions_fts, 0.0, 0.0, 10.0, 1.0), s.title \
    LIMIT ?";

const POSTGRES_SEARCH: &str = "\
    SELECT org_id, id, topic, title, body, status, updated_at \
    FROM solutions \
    WHERE search_vector @@ to_tsquery('simple', $1) AND org_id = $2 AND status = 'published' \
    ORDER BY ts_rank('{0, 0, 0.1, 1.0}', search_vector, to_tsquery('simple', $1)) DESC, title \
    LIMIT $3";

/// The organization's published solutions matching every term, best first.
pub fn search(
    conn: &mut DbConnection,
    org_id: &OrgId,
    terms: &SearchTerms,
    limit: i64,
) -> Result<Vec<Solution>, AppError> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<SolutionRow> = match conn {
        DbConnection::Sqlite(sqlite) => diesel::sql_query(SQLITE_SEARCH)
            .bind::<Text, _>(terms.to_fts5())
            .bind::<Text, _>(org_id.to_string())
            .bind::<BigInt, _>(limit)
            .load(sqlite)?,
        DbConnection::Postgresql(pg) => diesel::sql_query(POSTGRES_SEARCH)
            .bind::<Text, _>(terms.to_tsquery())
            .bind::<Text, _>(org_id.to_string())
            .bind::<BigInt, _>(limit)
            .load(pg)?,
    };
    rows.into_iter().map(SolutionRow::into_domain).collect()
}

/// The organization's published solutions, by topic then title.
pub fn published(conn: &mut DbConnection, org_id: &OrgId) -> Result<Vec<Solution>, AppError> {
    solutions::table
        .filter(solutions::org_id.eq(org_id.to_string()))
        .filter(solutions::status.eq(SolutionStatus::Published.as_str()))
        .order((solutions::topic.asc(), solutions::title.asc()))
        .select(SolutionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SolutionRow::into_domain)
        .collect()
}

/// Every solution of the organization, drafts and published ones, by topic then title.
pub fn all(conn: &mut DbConnection, org_id: &OrgId) -> Result<Vec<Solution>, AppError> {
    solutions::table
        .filter(solutions::org_id.eq(org_id.to_string()))
        .order((solutions::topic.asc(), solutions::title.asc()))
        .select(SolutionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SolutionRow::into_domain)
        .collect()
}

/// One solution of the organization, draft or published.
pub fn find(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &SolutionId,
) -> Result<Option<Solution>, AppError> {
    solutions::table
        .find((org_id.to_string(), id.to_string()))
        .select(SolutionRow::as_select())
        .first(conn)
        .optional()?
        .map(SolutionRow::into_domain)
        .transpose()
}

/// Stores a new solution and returns its id.
pub fn insert(
    conn: &mut DbConnection,
    org_id: &OrgId,
    draft: &SolutionDraft,
    now: NaiveDateTime,
) -> Result<SolutionId, AppError> {
    let id = SolutionId::new();
    diesel::insert_into(solutions::table)
        .values((
            solutions::org_id.eq(org_id.to_string()),
            solutions::id.eq(id.to_string()),
            solutions::topic.eq(draft.topic.trim()),
            solutions::title.eq(draft.title.trim()),
            solutions::body.eq(&draft.body),
            solutions::status.eq(draft.status.as_str()),
            solutions::created_at.eq(now),
            solutions::updated_at.eq(now),
        ))
        .execute(conn)?;
    super::orgs::note_change();
    Ok(id)
}

/// Changes a solution; returns whether the organization has it.
pub fn update(
    conn: &mut DbConnection,
    org_id: &OrgId,
    id: &SolutionId,
    draft: &SolutionDraft,
    now: NaiveDateTime,
) -> Result<bool, AppError> {
    let changed = diesel::update(solutions::table.find((org_id.to_string(), id.to_string())))
        .set((
            solutions::topic.eq(draft.topic.trim()),
            solutions::title.eq(draft.title.trim()),
            solutions::body.eq(&draft.body),
            solutions::status.eq(draft.status.as_str()),
            solutions::updated_at.eq(now),
        ))
        .execute(conn)?;
    super::orgs::note_change();
    Ok(changed > 0)
}
