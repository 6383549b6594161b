//! A few threads of their own for work that takes a core for many milliseconds: password
//! hashing and text searches.
//!
//! Such work does not run on the async executor, and not on tokio's blocking pool either. A
//! fixed set of threads fed by one queue bounds how much of it runs at once (one per core is
//! right), keeps each thread's state from one job to the next (argon2's 19 MiB block, say),
//! and keeps the memory its jobs allocate in the allocator's arenas of those few threads
//! rather than in the arena of every thread that ever ran one. The threads may run below
//! normal priority, so that short requests are served first when both want the cores. A job
//! whose caller stopped waiting before its turn (its request timed out) is not run at all.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver, Sender},
    },
};

use tokio::sync::oneshot;

use crate::AppError;

/// One job, run on a worker in that worker's state.
type Job<S> = Box<dyn FnOnce(&mut S) + Send>;

/// A set of worker threads, each keeping a state `S` of its own. Cheap to share behind an
/// `Arc`; the threads stop once it is dropped and the jobs queued before have run.
pub struct Workers<S> {
    name: &'static str,
    jobs: Sender<Job<S>>,
}

impl<S: Default + 'static> Workers<S> {
    /// Starts `count` threads named after `name`, at nice value `niceness` (0 is normal).
    pub fn start(name: &'static str, count: usize, niceness: i32) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job<S>>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..count.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || work_until_closed(&queue, name, niceness))?;
        }
        Ok(Self { name, jobs })
    }

    /// Runs `work` on the next free worker; its outcome.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut S) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let (reply, outcome) = oneshot::channel();
        let job: Job<S> = Box::new(move |state| {
            if !reply.is_closed() {
                let _ = reply.send(work(state));
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| AppError::internal(format!("the {} threads have stopped", self.name)))?;
        outcome
            .await
            .map_err(|_| AppError::internal(format!("a {} job failed", self.name)))?
    }
}

/// A worker: sets its priority, then runs jobs in its own state until the queue closes. A job
/// that panics fails its own caller only.
fn work_until_closed<S: Default>(queue: &Mutex<Receiver<Job<S>>>, name: &str, niceness: i32) {
    if niceness != 0
        && let Err(error) = set_niceness(niceness)
    {
        tracing::warn!(%error, workers = name, "runs at normal priority");
    }
    let mut state = S::default();
    loop {
        let next = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        let _ = catch_unwind(AssertUnwindSafe(|| job(&mut state)));
    }
}

/// Sets the calling thread's nice value (Linux keeps one per thread).
#[cfg(target_os = "linux")]
fn set_niceness(niceness: i32) -> std::io::Result<()> {
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), niceness)?;
    Ok(())
}

/// Other systems keep one priority per process: the workers run at normal priority.
#[cfg(not(target_os = "linux"))]
fn set_niceness(_niceness: i32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The nice values of this process's threads whose names start with `prefix`, from `/proc`.
    #[cfg(target_os = "linux")]
    pub(crate) fn niceness_of_threads(prefix: &str) -> Vec<i32> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let path = task.unwrap().path();
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if !name.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(path.join("stat")).unwrap();
            // After the parenthesized name come the state (field 3) ... and nice (field 19).
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            found.push(after_name.split(' ').nth(16).unwrap().parse().unwrap());
        }
        found
    }

    #[tokio::test]
    async fn each_worker_keeps_its_state_between_jobs() {
        let workers = Workers::<Vec<u32>>::start("keeps-state", 1, 0).unwrap();
        for n in 1..=3 {
            let seen = workers
                .run(move |seen| {
                    seen.push(n);
                    Ok(seen.clone())
                })
                .await
                .unwrap();
            assert_eq!(seen, (1..=n).collect::<Vec<_>>());
        }
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone() {
        let workers = Workers::<()>::start("panics", 1, 0).unwrap();
        let failed = workers.run(|_| -> Result<(), AppError> { panic!("on purpose") });
        assert!(matches!(failed.await, Err(AppError::Internal(_))));
        assert_eq!(workers.run(|_| Ok(7)).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_whose_caller_left_is_not_run() {
        let workers = Arc::new(Workers::<()>::start("left", 1, 0).unwrap());
        let (started, wait) = std::sync::mpsc::channel::<()>();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let busy = workers.clone();
        let blocker = tokio::spawn(async move {
            busy.run(move |_| {
                let _ = started.send(());
                let _ = gate.recv();
                Ok(())
            })
            .await
        });
        wait.recv().unwrap();
        let ran = Arc::new(Mutex::new(false));
        let marker = ran.clone();
        // The first poll queues the job; the caller then gives up while the worker is busy.
        let gave_up = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            workers.run(move |_| {
                *marker.lock().unwrap() = true;
                Ok(())
            }),
        )
        .await;
        assert!(gave_up.is_err());
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        workers.run(|_| Ok(())).await.unwrap();
        assert!(!*ran.lock().unwrap(), "the abandoned job ran");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn workers_run_at_the_niceness_they_were_given() {
        let workers = Workers::<()>::start("niced", 2, 7).unwrap();
        workers.run(|_| Ok(())).await.unwrap();
        // A thread takes its name, then its niceness, only once it first runs, which on a
        // busy machine may come after the other thread has taken every job.
        let mut seen = Vec::new();
        for _ in 0..100 {
            seen = niceness_of_threads("niced-");
            if seen == [7, 7] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(seen, vec![7, 7]);
    }
}
