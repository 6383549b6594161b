//! SQLite's one writer: the process's transactions, run in turn on one thread, several to a
//! commit.
//!
//! SQLite lets one connection write at a time, and every commit writes each page it touched
//! to the write-ahead log. Transactions handed to [`Writer::run`] queue for one thread. It
//! takes whatever has queued (up to [`MOST_PER_COMMIT`]), runs each in a savepoint of one
//! database transaction and commits them together, so that pages several of them touched (an
//! index's last page, say) are written once. A transaction that fails rolls back to its
//! savepoint alone and the others still commit; each caller hears of its own outcome only
//! once the commit is done, and of the commit's failure if it failed. A transaction whose
//! caller has stopped waiting by its turn (its request timed out) is not run at all. The transaction begins
//! with `BEGIN IMMEDIATE`, so it holds the write lock from its first statement and never
//! sleeps in SQLite's busy handler halfway through.

use std::panic::{AssertUnwindSafe, catch_unwind};

use diesel::{
    Connection,
    connection::{AnsiTransactionManager, TransactionManager},
    r2d2::Pool,
};
use tokio::sync::{mpsc, oneshot};

/// Begins, commits and rolls back the transactions of either backend's connection.
type Manager = <DbConnection as Connection>::TransactionManager;

use super::{DbConnection, Health, Manager as PoolManager, orgs};
use crate::AppError;

/// The most transactions one commit carries: enough to share a commit among everyone waiting
/// on a busy server, few enough that the first of them does not wait long for the last.
pub(super) const MOST_PER_COMMIT: usize = 64;

/// One caller's transaction: runs in its savepoint (or not at all, given no connection) and
/// leaves behind how to answer the caller once the commit's outcome is known.
type Job = Box<dyn FnOnce(Option<&mut DbConnection>) -> Answer + Send>;

/// Tells the caller its outcome, given the commit's (`Err` holds why the commit failed).
type Answer = Box<dyn FnOnce(Result<(), String>) + Send>;

/// The queue to SQLite's writing thread.
#[derive(Debug)]
pub(super) struct Writer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Writer {
    /// Starts the writing thread; it stops once the last handle to the queue is dropped.
    pub(super) fn start(
        pool: Pool<PoolManager>,
        health: std::sync::Arc<Health>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || serve(&pool, &health, queue))?;
        Ok(Self { jobs })
    }

    /// Runs `work` as one transaction, committed with whatever else is queued; its outcome
    /// once the commit is done.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let job: Job = Box::new(move |conn: Option<&mut DbConnection>| {
            if reply.is_closed() {
                // The caller has given up (its request timed out): writing now would store
                // what it was told failed.
                return Box::new(|_| {});
            }
            let done = conn.map(|conn| conn.transaction(work));
            Box::new(move |committed: Result<(), String>| {
                let outcome = match (committed, done) {
                    (Ok(()), Some(done)) => done,
                    (Err(reason), _) => Err(AppError::Unavailable(reason)),
                    (Ok(()), None) => Err(AppError::Unavailable(
                        "the database could not be written".to_owned(),
                    )),
                };
                let _ = reply.send(outcome);
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| AppError::Unavailable("the database writer has stopped".to_owned()))?;
        outcome
            .await
            .map_err(|_| AppError::internal("a database write was abandoned"))?
    }
}

/// The writing thread: takes what has queued and commits it, until the queue closes.
fn serve(pool: &Pool<PoolManager>, health: &Health, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MOST_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_together(pool, health, batch);
    }
}

/// Runs `batch` in one transaction and answers every caller.
fn commit_together(pool: &Pool<PoolManager>, health: &Health, batch: Vec<Job>) {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            health.failed();
            return refuse(batch, &error.to_string());
        }
    };
    let began = match &mut *conn {
        DbConnection::Sqlite(sqlite) => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
        }
        DbConnection::Postgresql(_) => Manager::begin_transaction(&mut conn),
    };
    if let Err(error) = began {
        health.failed();
        return refuse(batch, &error.to_string());
    }
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    while let Some(job) = jobs.next() {
        match catch_unwind(AssertUnwindSafe(|| job(Some(&mut conn)))) {
            Ok(answer) => answers.push(answer),
            Err(_) => {
                // The savepoint was left open: give up the whole transaction. The connection,
                // still inside it, is discarded when it goes back to the pool.
                let _ = Manager::rollback_transaction(&mut conn);
                let reason = "another write in the same commit failed";
                answers
                    .into_iter()
                    .for_each(|answer| answer(Err(reason.to_owned())));
                return refuse(jobs.collect(), reason);
            }
        }
    }
    let committed = Manager::commit_transaction(&mut conn).map_err(|error| {
        let _ = Manager::rollback_transaction(&mut conn);
        health.failed();
        error.to_string()
    });
    // Before anyone hears of the commit: the next request must see what it changed.
    orgs::settle_changes();
    for answer in answers {
        answer(committed.clone());
    }
}

/// Answers every caller of `batch` that nothing was written, for `reason`.
fn refuse(batch: Vec<Job>, reason: &str) {
    for job in batch {
        job(None)(Err(reason.to_owned()));
    }
}
