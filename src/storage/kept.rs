//! Keeping prepared the lookups diesel would prepare afresh on every use.
//!
//! diesel keeps a prepared statement only when it can tell from the statement's type that its
//! SQL text never changes. A lookup with `IN` over a list fails that test, so each use of one
//! is parsed and planned again: by SQLite in this process, by PostgreSQL on the server.
//!
//! [`keep`] marks such a lookup as safe to keep. It is then kept under its SQL text and the
//! types of its values, as diesel keeps statements it cannot name by type: were the text to
//! vary with the values (a list of varying length), each text would get its entry, which is
//! right but fills the cache, so only lookups whose text takes few forms should be wrapped.
//!
//! Only what is loaded (`load`, `get_result`) can be kept this way. diesel hands a statement
//! it executes (`execute`) on by reference, and a reference asks the statement itself, so an
//! UPDATE stays prepared afresh on each use.

use diesel::{
    QueryResult, RunQueryDsl,
    backend::Backend,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
};

/// A statement kept prepared under its SQL text; see [`keep`].
#[derive(Debug, Clone, Copy)]
pub struct Kept<S>(S);

/// Marks `statement` as one whose prepared form may be kept and reused.
pub fn keep<S>(statement: S) -> Kept<S> {
    Kept(statement)
}

impl<S, DB> QueryFragment<DB> for Kept<S>
where
    S: QueryFragment<DB>,
    DB: Backend,
{
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    /// Always: the cache key is the SQL text itself, so a statement whose text changes gets an
    /// entry of its own rather than a wrong one.
    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

/// No identity by type: diesel then keys the statement by its SQL text.
impl<S> QueryId for Kept<S> {
    type QueryId = ();

    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<S: Query> Query for Kept<S> {
    type SqlType = S::SqlType;
}

impl<S, Conn> RunQueryDsl<Conn> for Kept<S> {}
