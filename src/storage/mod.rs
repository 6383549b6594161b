//! Storage: one code base over SQLite and PostgreSQL.
//!
//! The backend is chosen by the database URL's scheme ([`DatabaseUrl`]); an unknown scheme is
//! refused rather than silently creating an empty SQLite file. [`DbConnection`] is one
//! connection type over both backends, pooled by r2d2; every SQLite connection gets WAL
//! journaling, a busy timeout and foreign keys when the pool opens it. Both migration folders
//! are embedded in the binary and applied at start-up.
//!
//! diesel is synchronous, so [`Db::run`] moves each unit of work onto tokio's blocking pool,
//! and [`Db::read_list`] a text search over many rows onto one of a few search threads.
//! A pooled connection is checked (`SELECT 1`) on checkout only while the database has lately
//! failed: a healthy database costs no extra round trip per unit of work, and after an outage
//! dead connections are found and replaced before they are handed out. SQLite lets one writer
//! in at a time, so on SQLite [`Db::transaction`]s queue for one writing thread, which commits
//! several at once, rather than sleeping in SQLite's busy handler and retrying.
//! The submodules own the queries of one part of the product each and know nothing of HTTP.
//! Known limit: SQLite serializes writers; a busy server belongs on PostgreSQL.

pub mod accounts;
pub mod admins;
pub mod api_keys;
pub mod audit;
pub mod audit_log;
pub mod contact_changes;
pub mod content;
pub mod directory;
pub mod limits;
pub mod message_templates;
pub mod orgs;
pub mod otp;
pub mod outbox;
pub mod portal_settings;
pub mod profile;
pub mod registrations;
pub mod requests;
pub mod schema;
pub mod sessions;
pub mod sms_gateways;
pub mod solutions;
mod writer;

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::{
    Connection, RunQueryDsl,
    r2d2::{CustomizeConnection, ManageConnection, Pool, PooledConnection, R2D2Connection},
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{error::AppError, secret::SecretString, workers::Workers};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection to whichever backend the URL named.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// A database URL, sorted by backend.
#[derive(Debug, Clone)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL server.
    Postgres(SecretString),
}

impl DatabaseUrl {
    /// Sorts a URL by its scheme: `sqlite://PATH`, `sqlite:PATH`, a plain path, or
    /// `postgres://` / `postgresql://`. Anything else is refused with one sentence.
    pub fn parse(url: &SecretString) -> Result<Self, AppError> {
        let text = url.expose().trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Self::Postgres(SecretString::from(text)));
        }
        if let Some(path) = text
            .strip_prefix("sqlite://")
            .or_else(|| text.strip_prefix("sqlite:"))
        {
            return Self::sqlite_path(path);
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(AppError::Invalid {
                field: Some("database_url"),
                message: format!(
                    "The database URL scheme '{scheme}' is not supported: use sqlite://PATH or postgres://USER@HOST/NAME."
                ),
            });
        }
        Self::sqlite_path(text)
    }

    fn sqlite_path(path: &str) -> Result<Self, AppError> {
        if path.is_empty() {
            return Err(AppError::Invalid {
                field: Some("database_url"),
                message: "The SQLite database URL names no file.".to_owned(),
            });
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }
}

/// The connection pool, shared by every request.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    /// One permit per pooled connection: work waits for a connection here, as a task, rather
    /// than as a parked thread of the blocking pool.
    permits: Arc<Semaphore>,
    /// One thread per core for text searches over many rows, and as many places for searches
    /// to wait in before they take a connection; see [`Db::read_list`].
    searches: Arc<Workers<()>>,
    search_places: Arc<Semaphore>,
    /// SQLite's one writing thread; `None` on PostgreSQL.
    writer: Option<Arc<writer::Writer>>,
    health: Arc<Health>,
    backend: &'static str,
}

type Pooled = PooledConnection<Manager>;

/// How long after a database failure pooled connections are checked on checkout.
const CHECK_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// When the database last failed, as seen by this process.
#[derive(Debug)]
struct Health {
    started: Instant,
    /// Milliseconds after `started` until which checkouts check their connection.
    check_until_ms: AtomicU64,
}

impl Health {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            check_until_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Notes a failure: connections are checked on checkout for a while.
    fn failed(&self) {
        let until = self
            .now_ms()
            .saturating_add(u64::try_from(CHECK_AFTER_FAILURE.as_millis()).unwrap_or(u64::MAX));
        self.check_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    fn is_suspect(&self) -> bool {
        self.now_ms() < self.check_until_ms.load(Ordering::Relaxed)
    }
}

/// The pool's connection manager, checking connections on checkout only while the database
/// is suspect.
#[derive(Debug)]
struct Manager {
    url: DatabaseUrl,
    health: Arc<Health>,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    /// Opens a connection of the URL's own backend. (diesel's multi-backend connection tries
    /// each backend in turn, so a PostgreSQL server that refused could leave the pool holding
    /// a SQLite file named after its URL.)
    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let opened = match &self.url {
            DatabaseUrl::Postgres(url) => {
                diesel::PgConnection::establish(url.expose()).map(DbConnection::Postgresql)
            }
            DatabaseUrl::Sqlite(path) => {
                diesel::SqliteConnection::establish(&format!("sqlite://{}", path.display()))
                    .map(DbConnection::Sqlite)
            }
        };
        opened
            .map_err(diesel::r2d2::Error::ConnectionError)
            .inspect_err(|_| self.health.failed())
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        if !self.health.is_suspect() {
            return Ok(());
        }
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// Applies SQLite's pragmas to each new pooled connection.
#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(sqlite) = conn {
            // The busy timeout first: the others may wait for a lock another connection holds.
            for pragma in [
                "PRAGMA busy_timeout = 10000",
                "PRAGMA journal_mode = WAL",
                "PRAGMA foreign_keys = ON",
                "PRAGMA synchronous = NORMAL",
            ] {
                diesel::sql_query(pragma)
                    .execute(sqlite)
                    .map_err(diesel::r2d2::Error::QueryError)?;
            }
        }
        Ok(())
    }
}

impl Db {
    /// Opens the pool and checks that the database answers; creates the SQLite file's folder.
    pub fn connect(url: &DatabaseUrl) -> Result<Self, AppError> {
        let size = match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|error| {
                        AppError::Unavailable(format!(
                            "cannot create the folder {}: {error}",
                            parent.display()
                        ))
                    })?;
                }
                8
            }
            DatabaseUrl::Postgres(url) => {
                // The pool only reports that no connection came; one direct attempt first
                // gives the operator the server's own reason (refused, unknown database, ...).
                diesel::PgConnection::establish(url.expose())
                    .map_err(|error| AppError::Unavailable(first_line(&error.to_string())))?;
                16
            }
        };
        let health = Arc::new(Health::new());
        let manager = Manager {
            url: url.clone(),
            health: health.clone(),
        };
        let sqlite = matches!(url, DatabaseUrl::Sqlite(_));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let pool = Pool::builder()
            // SQLite's writer has a connection of its own beside the permits.
            .max_size(size + u32::from(sqlite))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(|error| AppError::Unavailable(error.to_string()))?;
        let writer = match sqlite {
            true => Some(Arc::new(
                writer::Writer::start(pool.clone(), health.clone())
                    .map_err(|error| AppError::Unavailable(error.to_string()))?,
            )),
            false => None,
        };
        Ok(Self {
            pool,
            permits: Arc::new(Semaphore::new(size as usize)),
            writer,
            searches: Arc::new(
                Workers::start("text-search", cores, 0)
                    .map_err(|error| AppError::Unavailable(error.to_string()))?,
            ),
            search_places: Arc::new(Semaphore::new(cores)),
            health,
            backend: url.backend(),
        })
    }

    /// The backend's name: `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Applies every migration not yet applied; returns how many ran.
    pub fn migrate(&self) -> Result<usize, AppError> {
        let mut conn = self.pool.get()?;
        let applied = match &mut *conn {
            DbConnection::Postgresql(pg) => pg.run_pending_migrations(POSTGRES_MIGRATIONS),
            DbConnection::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE_MIGRATIONS),
        }
        .map_err(|error| AppError::internal(format!("migration failed: {error}")))?;
        Ok(applied.len())
    }

    /// Whether the database answers and no migration is pending.
    pub fn is_ready(&self) -> Result<bool, AppError> {
        let mut conn = self.pool.get()?;
        let pending = match &mut *conn {
            DbConnection::Postgresql(pg) => pg.has_pending_migration(POSTGRES_MIGRATIONS),
            DbConnection::Sqlite(sqlite) => sqlite.has_pending_migration(SQLITE_MIGRATIONS),
        }
        .map_err(|error| AppError::Unavailable(error.to_string()))?;
        Ok(!pending)
    }

    /// Runs `work` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.connection_permit().await?;
        let (pool, health) = (self.pool.clone(), self.health.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            with_connection(&pool, &health, work)
        })
        .await?
    }

    /// Runs `work`, which reads a list, like [`Db::run`]; when it `searches_text` over many
    /// rows, it runs on one of the text-search threads, one per core. A text search takes a
    /// core for tens of milliseconds and holds its matches in memory while it runs: more at
    /// once would only queue for the processor, each holding its memory, and the memory of
    /// searches run on any thread of the blocking pool ended up kept in every one of those
    /// threads' allocator arenas.
    pub async fn read_list<T, F>(&self, searches_text: bool, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        if !searches_text {
            return self.run(work).await;
        }
        // A search waits for a search thread before it takes a connection, so that searches
        // queued behind one another never hold the connections other pages need.
        let _place = self
            .search_places
            .acquire()
            .await
            .map_err(AppError::internal)?;
        let permit = self.connection_permit().await?;
        let (pool, health) = (self.pool.clone(), self.health.clone());
        self.searches
            .run(move |()| {
                let _permit = permit;
                with_connection(&pool, &health, work)
            })
            .await
    }

    /// Waits, as a task, for one of the pool's connections to be free.
    async fn connection_permit(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)
    }

    /// Runs `work`, a single write. On SQLite it goes to the writing thread like a
    /// [`Db::transaction`], so that it does not sleep in SQLite's busy handler while a
    /// transaction holds the lock; on PostgreSQL it runs on the blocking pool.
    pub async fn write<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.run(work).await,
            None => self.run(work).await,
        }
    }

    /// Queues `work`, a write nobody waits for (a session's last use, say), to run like
    /// [`Db::write`]; a failure is logged and otherwise forgotten. Call it within the runtime,
    /// on its tasks or on its blocking pool.
    pub fn write_later<F>(&self, work: F)
    where
        F: FnOnce(&mut DbConnection) -> Result<(), AppError> + Send + 'static,
    {
        let db = self.clone();
        tokio::spawn(async move {
            if let Err(error) = db.write(work).await {
                tracing::debug!(%error, "a deferred write failed");
            }
        });
    }

    /// Runs `work` inside one transaction: all of it is stored, or none.
    ///
    /// On SQLite it is queued for the one writing thread, which commits it together with the
    /// transactions queued beside it, each in a savepoint of its own (see `writer`); on
    /// PostgreSQL it runs on the blocking pool.
    pub async fn transaction<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        match &self.writer {
            Some(writer) => writer.run(work).await,
            None => self.run(move |conn| conn.transaction(work)).await,
        }
    }

    /// Runs `work` with a connection on the current thread; for the CLI and start-up.
    pub fn run_blocking<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut conn = self.pool.get()?;
        let done = work(&mut conn);
        orgs::settle_changes();
        done
    }
}

/// Runs `work` with a connection of `pool` on the current thread, noting changes it committed
/// and a database that stopped answering.
fn with_connection<T>(
    pool: &Pool<Manager>,
    health: &Health,
    work: impl FnOnce(&mut DbConnection) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let done = pool
        .get()
        .map_err(AppError::from)
        .and_then(|mut conn: Pooled| work(&mut conn));
    orgs::settle_changes();
    if matches!(done, Err(AppError::Unavailable(_))) {
        health.failed();
    }
    done
}

/// The first line of a driver's message, without a trailing period.
fn first_line(message: &str) -> String {
    message
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .trim_end_matches('.')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<DatabaseUrl, AppError> {
        DatabaseUrl::parse(&SecretString::from(url))
    }

    #[test]
    fn urls_are_sorted_by_scheme() {
        assert!(
            matches!(parse("sqlite://var/p.db"), Ok(DatabaseUrl::Sqlite(p)) if p == std::path::Path::new("var/p.db"))
        );
        assert!(matches!(parse("sqlite:p.db"), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!(
            parse("/srv/portico.db"),
            Ok(DatabaseUrl::Sqlite(_))
        ));
        assert!(matches!(
            parse("postgres://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert!(matches!(
            parse("postgresql://u@h/db"),
            Ok(DatabaseUrl::Postgres(_))
        ));
    }

    #[test]
    fn an_unknown_scheme_is_refused_in_one_sentence() {
        let Err(AppError::Invalid { message, .. }) = parse("mysql://root@localhost/portico") else {
            panic!("mysql must be refused");
        };
        assert!(message.contains("'mysql' is not supported"), "{message}");
    }

    #[test]
    fn both_migration_folders_hold_the_same_migrations() {
        let names = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let root = env!("CARGO_MANIFEST_DIR");
        assert_eq!(
            names(&format!("{root}/migrations/sqlite")),
            names(&format!("{root}/migrations/postgres"))
        );
    }
}
