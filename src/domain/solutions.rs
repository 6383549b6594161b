//! Solutions: each organization's knowledge base, by topic, and how it is searched.
//!
//! A solution is a draft (seen by staff only) or published (seen by the organization's
//! contacts, and by anonymous visitors when the login policy's `anonymous_solutions` allows).
//! Bodies are Markdown, shown through [`super::markdown`]'s safe subset.
//!
//! Search works alike on both databases (FTS5 on SQLite, a `tsvector` on PostgreSQL), by the
//! same rules: what a visitor types is cut into words of letters and digits, and everything
//! else (quotes, `*`, `-`, parentheses, colons) is only a separator, so no query syntax of
//! either engine ever reaches it; words such as `NEAR`, `OR` or `AND` are plain words. Every
//! word must match the start of a word in the title or the body, ignoring case. Matches in the
//! title count ten times as much as matches in the body; equal ranks go by title. At most
//! [`MAX_TERMS`] words are used. Known limit: neither engine stems words, so "invoices" does
//! not find "invoice" unless typed as "invoice".

use chrono::{NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{audit::AuditEvent, ids::Id, org::OrgId, requests::has_stray_controls, staff::Staff};
use crate::{
    App, AppError,
    storage::{audit, requests::lock_for_writing, solutions as store},
};

/// A solution's id.
pub type SolutionId = Id<Solution>;

/// Most words a search uses.
pub const MAX_TERMS: usize = 8;
/// Longest word a search uses, in characters.
const MAX_TERM_CHARS: usize = 40;

/// Whether a solution is shown in the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SolutionStatus {
    Draft,
    Published,
}

impl SolutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// One knowledge-base article.
#[derive(Debug, Clone, Serialize)]
pub struct Solution {
    pub org_id: OrgId,
    pub id: SolutionId,
    pub topic: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    pub status: SolutionStatus,
    pub updated_at: NaiveDateTime,
}

/// The words of a search, cleaned of every character either engine could read as syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    /// Cuts what was typed into lowercase words of letters and digits.
    pub fn parse(input: &str) -> Self {
        let terms = input
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(|word| {
                word.chars()
                    .take(MAX_TERM_CHARS)
                    .collect::<String>()
                    .to_lowercase()
            })
            .take(MAX_TERMS)
            .collect();
        Self(terms)
    }

    /// Whether there is nothing to search for.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The words.
    pub fn terms(&self) -> &[String] {
        &self.0
    }

    /// An FTS5 query: each word quoted as a string and matched as a prefix, all required.
    pub fn to_fts5(&self) -> String {
        self.0
            .iter()
            .map(|term| format!("\"{term}\"*"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A PostgreSQL `tsquery`: each word matched as a prefix, all required.
    pub fn to_tsquery(&self) -> String {
        self.0
            .iter()
            .map(|term| format!("{term}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// The published solutions of the organization that match `query`, best first.
pub async fn search(
    app: &App,
    org_id: &OrgId,
    query: &str,
    limit: i64,
) -> Result<Vec<Solution>, AppError> {
    let terms = SearchTerms::parse(query);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let org_id = *org_id;
    app.db
        .run(move |conn| store::search(conn, &org_id, &terms, limit))
        .await
}

/// A solution as an admin fills it in.
#[derive(Debug, Clone)]
pub struct SolutionDraft {
    pub topic: String,
    pub title: String,
    pub body: String,
    pub status: SolutionStatus,
}

fn check_draft(draft: &SolutionDraft) -> Result<(), AppError> {
    for (field, text) in [
        ("topic", &draft.topic),
        ("title", &draft.title),
        ("body", &draft.body),
    ] {
        if has_stray_controls(text) {
            return Err(AppError::invalid(field, "Remove the control characters."));
        }
    }
    let topic = draft.topic.trim().chars().count();
    if topic == 0 || topic > 80 {
        return Err(AppError::invalid("topic", "Use 1 to 80 characters."));
    }
    let title = draft.title.trim().chars().count();
    if !(3..=200).contains(&title) {
        return Err(AppError::invalid("title", "Use 3 to 200 characters."));
    }
    if draft.body.trim().is_empty() || draft.body.chars().count() > 50_000 {
        return Err(AppError::invalid(
            "body",
            "Write the article, in at most 50,000 characters.",
        ));
    }
    Ok(())
}

/// Adds a solution to the organization's knowledge base; titles are unique within it.
pub async fn create(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    draft: SolutionDraft,
) -> Result<SolutionId, AppError> {
    check_draft(&draft)?;
    let (org_id, staff) = (*org_id, staff.into());
    app.db
        .transaction(move |conn| {
            lock_for_writing(conn, &org_id)?;
            staff.check(conn, &org_id)?;
            let id = store::insert(conn, &org_id, &draft, Utc::now().naive_utc())?;
            record(conn, org_id, staff, "solution.created", &id)?;
            Ok(id)
        })
        .await
        .map_err(duplicate_title)
}

/// Changes one of the organization's solutions (publishing or withdrawing it included).
pub async fn update(
    app: &App,
    org_id: &OrgId,
    staff: impl Into<Staff>,
    id: &SolutionId,
    draft: SolutionDraft,
) -> Result<(), AppError> {
    check_draft(&draft)?;
    let (org_id, staff, id) = (*org_id, staff.into(), *id);
    app.db
        .transaction(move |conn| {
            lock_for_writing(conn, &org_id)?;
            staff.check(conn, &org_id)?;
            if !store::update(conn, &org_id, &id, &draft, Utc::now().naive_utc())? {
                return Err(AppError::NotFound);
            }
            record(conn, org_id, staff, "solution.updated", &id)
        })
        .await
        .map_err(duplicate_title)
}

fn record(
    conn: &mut crate::storage::DbConnection,
    org_id: OrgId,
    staff: Staff,
    kind: &'static str,
    id: &SolutionId,
) -> Result<(), AppError> {
    audit::record(
        conn,
        &AuditEvent {
            org_id: Some(org_id),
            actor: staff.actor(),
            kind,
            detail: json!({ "solution": id.to_string() }),
            client_ip: String::new(),
        },
    )
}

fn duplicate_title(error: AppError) -> AppError {
    match error {
        AppError::Conflict(_) => AppError::invalid(
            "title",
            "The knowledge base already has a solution with that title.",
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_syntax_of_either_engine_becomes_plain_words() {
        let terms = SearchTerms::parse("\"invoice\" NEAR(vat) OR -refund* \"unbalanced");
        assert_eq!(
            terms.terms(),
            ["invoice", "near", "vat", "or", "refund", "unbalanced"]
        );
        assert_eq!(
            terms.to_fts5(),
            "\"invoice\"* \"near\"* \"vat\"* \"or\"* \"refund\"* \"unbalanced\"*"
        );
        assert_eq!(
            terms.to_tsquery(),
            "invoice:* & near:* & vat:* & or:* & refund:* & unbalanced:*"
        );
    }

    #[test]
    fn nothing_but_syntax_is_an_empty_search() {
        for input in ["", "   ", "\"", "*", "-", "' OR 1=1 --", "():&|!<->"] {
            let terms = SearchTerms::parse(input);
            assert!(
                terms
                    .terms()
                    .iter()
                    .all(|t| t.chars().all(char::is_alphanumeric)),
                "{input:?}"
            );
        }
        assert!(SearchTerms::parse("\"*-:()").is_empty());
    }

    #[test]
    fn long_searches_are_cut() {
        let terms = SearchTerms::parse(&"word ".repeat(50));
        assert_eq!(terms.terms().len(), MAX_TERMS);
        let long = SearchTerms::parse(&"x".repeat(500));
        assert_eq!(long.terms()[0].len(), MAX_TERM_CHARS);
    }
}
