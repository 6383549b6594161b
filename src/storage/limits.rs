//! Sliding-window limits counted in the database, so they hold across every Portico instance.
//!
//! Callers count a bucket's events in a window before they record a new one. Where a limit
//! must hold exactly under simultaneous requests, the caller first [`hold`]s the bucket in
//! its transaction; elsewhere two requests racing at the very edge of a limit may both pass,
//! and the next one is refused.
//!
//! Each event carries its place in its bucket (`seq`: 1, 2, 3, ...), so a count is the
//! latest event's place less the place of the first event in the window, plus one: two
//! lookups in the index, however busy the bucket (an organization's or a client address's
//! code requests can run to thousands an hour). A [`window`] reads a bucket's count and its
//! latest event in one statement. [`record`] and [`admit`] write the place after the
//! highest, at a time no earlier than the latest event's, so that places and times run in one
//! order; they hold the bucket while they do, since two transactions side by side on
//! PostgreSQL could otherwise both take the same place, and the count would then fall short by
//! one for each such pair (wrong codes sent all at once went uncounted that way).

use chrono::NaiveDateTime;
use diesel::{
    ExpressionMethods, QueryDsl, QueryableByName, RunQueryDsl, dsl,
    sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamp},
};

use super::{DbConnection, schema::limit_events};
use crate::{AppError, domain::org::OrgId};

/// Whose limit a bucket counts toward: one organization's, or the common login page's.
#[derive(Debug, Clone)]
pub struct Scope(String);

impl Scope {
    /// The limits of the common login page, which belong to no organization.
    pub fn platform() -> Self {
        Self("platform".to_owned())
    }
}

impl From<&OrgId> for Scope {
    fn from(org_id: &OrgId) -> Self {
        Self(org_id.to_string())
    }
}

/// Makes the running transaction the only one counting each of `buckets` until it ends, so
/// that a check and the recording after it see every other transaction's events of those
/// buckets and are seen by them. SQLite runs one writing transaction at a time already; on
/// PostgreSQL this takes an advisory lock named after each bucket, in the order given, in one
/// statement, held to the end of the transaction; a bucket named twice is held once, since a
/// transaction never waits for its own lock. Transactions that hold several buckets name them
/// in one order, so none waits on another in a circle. The database's `portico_admit` names
/// its locks as this does.
pub fn hold(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    buckets: &[&str],
) -> Result<(), AppError> {
    if let DbConnection::Postgresql(pg) = conn {
        let Scope(scope) = scope.into();
        let names: Vec<String> = buckets
            .iter()
            .map(|bucket| format!("limit:{scope}:{bucket}"))
            .collect();
        // unnest hands the names over in the array's order, and each row takes its lock as
        // it is read.
        diesel::sql_query(
            "SELECT pg_advisory_xact_lock(hashtextextended(name, 0)) FROM unnest($1) AS name",
        )
        .bind::<Array<Text>, _>(names)
        .execute(pg)?;
    }
    Ok(())
}

/// Records one event in `bucket`, in the place after the bucket's highest, holding the bucket
/// first ([`hold`]) so that recordings side by side take places one after another. Its time is
/// `now`, or the latest event's time when that is later (a request that read the clock before
/// it waited its turn), so that a bucket's places and times run in the same order and the
/// first place after a moment is the lowest.
pub fn record(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let scope = scope.into();
    hold(conn, scope.clone(), &[bucket])?;
    let window = window(conn, scope.clone(), bucket, now)?;
    let (place, at) = next_place(window.last_place.zip(window.latest), now);
    insert(conn, &scope.0, &[(bucket, place, at)])
}

/// Records one event in each bucket of `asked`, once however often the bucket is asked,
/// after the places of its window in `windows`, read in the running transaction.
fn record_each(
    conn: &mut DbConnection,
    Scope(scope): &Scope,
    asked: &[(&str, NaiveDateTime)],
    windows: &[Window],
    now: NaiveDateTime,
) -> Result<(), AppError> {
    let mut events: Vec<(&str, i64, NaiveDateTime)> = Vec::new();
    for (&(bucket, _), window) in asked.iter().zip(windows) {
        if events.iter().any(|(seen, ..)| *seen == bucket) {
            continue;
        }
        let (place, at) = next_place(window.last_place.zip(window.latest), now);
        events.push((bucket, place, at));
    }
    insert(conn, scope, &events)
}

/// The place and time of an event recorded at `now` after the bucket's `latest` place and
/// its time: the time is never earlier than the latest event's.
fn next_place(latest: Option<(i64, NaiveDateTime)>, now: NaiveDateTime) -> (i64, NaiveDateTime) {
    match latest {
        Some((place, at)) => (place + 1, at.max(now)),
        None => (1, now),
    }
}

/// Writes `events`, each a bucket, its place and its time.
fn insert(
    conn: &mut DbConnection,
    scope: &str,
    events: &[(&str, i64, NaiveDateTime)],
) -> Result<(), AppError> {
    let rows: Vec<_> = events
        .iter()
        .map(|&(bucket, place, at)| {
            (
                limit_events::org_id.eq(scope),
                limit_events::bucket.eq(bucket),
                limit_events::occurred_at.eq(at),
                limit_events::seq.eq(place),
            )
        })
        .collect();
    // diesel writes several rows in one INSERT on each backend alone, not through the
    // connection that serves both; on SQLite a statement costs no trip to a server anyway.
    if let DbConnection::Postgresql(pg) = conn {
        diesel::insert_into(limit_events::table)
            .values(rows)
            .execute(pg)?;
        return Ok(());
    }
    for row in rows {
        diesel::insert_into(limit_events::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// The events of one bucket.
#[dsl::auto_type]
fn of_bucket<'a>(scope: &'a str, bucket: &'a str) -> _ {
    limit_events::table
        .filter(limit_events::org_id.eq(scope))
        .filter(limit_events::bucket.eq(bucket))
}

/// The bucket's highest place, whatever the times of its events.
#[dsl::auto_type(no_type_alias)]
fn latest_place<'a>(scope: &'a str, bucket: &'a str) -> _ {
    let events: of_bucket<'a> = of_bucket(scope, bucket);
    events
        .order(limit_events::seq.desc())
        .select(limit_events::seq)
        .limit(1_i64)
}

/// The place of the bucket's first event after `since`.
#[dsl::auto_type(no_type_alias)]
fn first_place_after<'a>(scope: &'a str, bucket: &'a str, since: NaiveDateTime) -> _ {
    let events: of_bucket<'a> = of_bucket(scope, bucket);
    events
        .filter(limit_events::occurred_at.gt(since))
        .order((limit_events::occurred_at.asc(), limit_events::seq.asc()))
        .select(limit_events::seq)
        .limit(1_i64)
}

/// When the bucket's latest event happened.
#[dsl::auto_type(no_type_alias)]
fn latest_time<'a>(scope: &'a str, bucket: &'a str) -> _ {
    let events: of_bucket<'a> = of_bucket(scope, bucket);
    events
        .order(limit_events::occurred_at.desc())
        .select(limit_events::occurred_at)
        .limit(1_i64)
}

/// A bucket as one limit sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the bucket's latest event happened, if it has any.
    pub latest: Option<NaiveDateTime>,
    /// How many events the bucket holds after the window's start.
    pub count: i64,
    /// The bucket's highest place, if it has any events.
    pub last_place: Option<i64>,
}

/// The events of `bucket` after `since`, and when its latest happened: three lookups in the
/// index, in one statement.
pub fn window(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
    since: NaiveDateTime,
) -> Result<Window, AppError> {
    let mut windows = windows(conn, scope, &[(bucket, since)])?;
    windows
        .pop()
        .ok_or_else(|| AppError::Internal("a limit window went unread".to_owned()))
}

/// [`window`] on SQLite, which keeps the statement prepared: its plans do not follow
/// statistics (the bundled build has the query planner stability guarantee).
fn window_here(
    conn: &mut DbConnection,
    Scope(scope): &Scope,
    bucket: &str,
    since: NaiveDateTime,
) -> Result<Window, AppError> {
    let places = diesel::select((
        latest_time(scope, bucket).single_value(),
        latest_place(scope, bucket).single_value(),
        first_place_after(scope, bucket, since).single_value(),
    ));
    let (latest, last, first): (Option<NaiveDateTime>, Option<i64>, Option<i64>) =
        places.get_result(conn)?;
    Ok(Window::of_places(latest, last, first))
}

impl Window {
    /// The window of a bucket whose latest event happened at `latest`, whose highest place is
    /// `last`, and whose first event inside the window has the place `first`.
    fn of_places(latest: Option<NaiveDateTime>, last: Option<i64>, first: Option<i64>) -> Self {
        let count = match (first, last) {
            (Some(first), Some(last)) => (last - first + 1).max(1),
            (Some(_), None) => 1,
            (None, _) => 0,
        };
        Self {
            latest,
            count,
            last_place: last,
        }
    }
}

/// The window of each (bucket, since) in `asked`, in that order. On PostgreSQL it is one
/// call of the database's `portico_windows`, which keeps its plan and reads through the
/// indexes however few events the table held when it planned.
pub fn windows(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    asked: &[(&str, NaiveDateTime)],
) -> Result<Vec<Window>, AppError> {
    let scope = scope.into();
    if let DbConnection::Postgresql(pg) = conn {
        return read_windows(pg, &scope, asked);
    }
    asked
        .iter()
        .map(|&(bucket, since)| window_here(conn, &scope, bucket, since))
        .collect()
}

/// A limit a request must pass before it is counted in `bucket`: fewer than `cap` events
/// after `since`, and, when `calm_since` is set, none after that moment (the wait between
/// one event and the next).
#[derive(Debug, Clone, Copy)]
pub struct Limit<'a> {
    pub bucket: &'a str,
    pub since: NaiveDateTime,
    pub cap: i64,
    pub calm_since: Option<NaiveDateTime>,
}

impl Limit<'_> {
    /// Whether the bucket's `window`, as it was before the request, refuses the request. The
    /// database's `portico_admit` judges by this rule too.
    pub fn refuses(&self, window: &Window) -> bool {
        window.count >= self.cap || self.comes_too_soon(window).is_some()
    }

    /// How long after `calm_since` the bucket's latest event came, when it came after it: the
    /// time still to wait before the next event may come.
    pub fn comes_too_soon(&self, window: &Window) -> Option<chrono::Duration> {
        let (calm_since, latest) = self.calm_since.zip(window.latest)?;
        (latest > calm_since).then(|| latest - calm_since)
    }
}

/// What [`admit`] found: the windows of the limits and of the buckets only read, in the order
/// given, as they were before the request; and whether the limits let the request through,
/// in which case it was counted in each limit's bucket.
#[derive(Debug)]
pub struct Admission {
    pub limits: Vec<Window>,
    pub read: Vec<Window>,
    pub admitted: bool,
}

/// Admits a request that `limits` look at, counting it in each limit's bucket (once however
/// often the bucket is named) when none refuses it, and reads the windows of the buckets in
/// `read` alongside. Simultaneous requests are admitted one after another, each seeing the
/// events of those before it: on PostgreSQL this is one call of the database's
/// `portico_admit`, in a transaction of its own, which holds the limits' buckets only while
/// the database works on it and commits without waiting for the disk (a crash may forget the
/// last moment's events). Call it outside any transaction: inside one, the buckets would stay
/// held until it ends, and its commit would not wait for the disk either. On SQLite, call it
/// in a transaction ([`crate::storage::Db::write`]), whose writing lock keeps every other
/// request out.
pub fn admit(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    limits: &[Limit<'_>],
    read: &[(&str, NaiveDateTime)],
    now: NaiveDateTime,
) -> Result<Admission, AppError> {
    let scope = scope.into();
    let asked: Vec<(&str, NaiveDateTime)> = limits
        .iter()
        .map(|limit| (limit.bucket, limit.since))
        .chain(read.iter().copied())
        .collect();
    if let DbConnection::Postgresql(pg) = conn {
        return admit_in_one_trip(pg, &scope, limits, &asked, now);
    }
    let mut windows = windows(conn, scope.clone(), &asked)?;
    let read = windows.split_off(limits.len());
    let admitted = !limits
        .iter()
        .zip(&windows)
        .any(|(limit, window)| limit.refuses(window));
    if admitted {
        record_each(conn, &scope, &asked[..limits.len()], &windows, now)?;
    }
    Ok(Admission {
        limits: windows,
        read,
        admitted,
    })
}

/// [`admit`] on PostgreSQL: one call of `portico_admit`, with no cap for the buckets only
/// read.
fn admit_in_one_trip(
    pg: &mut diesel::PgConnection,
    Scope(scope): &Scope,
    limits: &[Limit<'_>],
    asked: &[(&str, NaiveDateTime)],
    now: NaiveDateTime,
) -> Result<Admission, AppError> {
    let (names, sinces) = names_and_sinces(asked);
    let unread = asked.len() - limits.len();
    let caps: Vec<Option<i64>> = limits
        .iter()
        .map(|limit| Some(limit.cap))
        .chain(std::iter::repeat_n(None, unread))
        .collect();
    let calm_since: Vec<Option<NaiveDateTime>> = limits
        .iter()
        .map(|limit| limit.calm_since)
        .chain(std::iter::repeat_n(None, unread))
        .collect();
    let rows: Vec<AdmissionRow> =
        diesel::sql_query("SELECT * FROM portico_admit($1, $2, $3, $4, $5, $6)")
            .bind::<Text, _>(scope)
            .bind::<Array<Text>, _>(names)
            .bind::<Array<Timestamp>, _>(sinces)
            .bind::<Array<Nullable<BigInt>>, _>(caps)
            .bind::<Array<Nullable<Timestamp>>, _>(calm_since)
            .bind::<Timestamp, _>(now)
            .load(pg)?;
    let admitted = rows.first().is_none_or(|row| row.admitted);
    let mut windows: Vec<Window> = rows
        .into_iter()
        .map(|row| row.window.into_window())
        .collect();
    let read = windows.split_off(limits.len().min(windows.len()));
    Ok(Admission {
        limits: windows,
        read,
        admitted,
    })
}

/// One row of `portico_admit`.
#[derive(QueryableByName)]
struct AdmissionRow {
    #[diesel(embed)]
    window: WindowRow,
    #[diesel(sql_type = Bool)]
    admitted: bool,
}

/// One row of [`read_windows`].
#[derive(QueryableByName)]
struct WindowRow {
    #[diesel(sql_type = Nullable<Timestamp>)]
    latest: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_place: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    first_place: Option<i64>,
}

impl WindowRow {
    fn into_window(self) -> Window {
        Window::of_places(self.latest, self.last_place, self.first_place)
    }
}

/// Every asked bucket's places, in the order asked, read by index as the subqueries of
/// [`window_here`] reads them: the database's `portico_windows` (PostgreSQL migrations),
/// which `portico_admit` reads them with too.
const WINDOWS: &str = "SELECT latest, last_place, first_place \
    FROM portico_windows($1, $2, $3) ORDER BY place";

/// [`windows`] on PostgreSQL: one statement.
fn read_windows(
    pg: &mut diesel::PgConnection,
    Scope(scope): &Scope,
    asked: &[(&str, NaiveDateTime)],
) -> Result<Vec<Window>, AppError> {
    let (names, sinces) = names_and_sinces(asked);
    let rows: Vec<WindowRow> = diesel::sql_query(WINDOWS)
        .bind::<Text, _>(scope)
        .bind::<Array<Text>, _>(names)
        .bind::<Array<Timestamp>, _>(sinces)
        .load(pg)?;
    Ok(rows.into_iter().map(WindowRow::into_window).collect())
}

/// The buckets of `asked` and the starts of their windows, apart.
fn names_and_sinces<'a>(asked: &[(&'a str, NaiveDateTime)]) -> (Vec<&'a str>, Vec<NaiveDateTime>) {
    asked.iter().copied().unzip()
}

/// How many events `bucket` holds after `since`.
pub fn count_since(
    conn: &mut DbConnection,
    scope: impl Into<Scope>,
    bucket: &str,
    since: NaiveDateTime,
) -> Result<i64, AppError> {
    Ok(window(conn, scope, bucket, since)?.count)
}

/// Forgets events older than `before`.
pub fn sweep(conn: &mut DbConnection, before: NaiveDateTime) -> Result<usize, AppError> {
    Ok(
        diesel::delete(limit_events::table.filter(limit_events::occurred_at.lt(before)))
            .execute(conn)?,
    )
}
