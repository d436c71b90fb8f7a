//! Bounded pools for expensive work: at most `workers` jobs run at once, at most `queue` more
//! wait, and none waits longer than `wait`. Blocking jobs (password hashing) run on the pool with
//! [`BlockingPool::run`]; async work that must take turns (computed catalog searches) holds a
//! [`Reservation`] from [`BlockingPool::reserve`] while it runs.
//! Past either bound the caller gets [`Overloaded`] at once (answered 503 with `Retry-After`),
//! so a burst costs a bounded amount of memory and threads instead of one job per request.
//!
//! A job's permits travel with it onto the blocking thread: a caller that gives up (its client
//! went away) does not free capacity that is still in use.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The pool is full: try again after `retry_after`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{pool} is busy ({why}); try again in {} s", retry_after.as_secs().max(1))]
pub struct Overloaded {
    pub pool: &'static str,
    pub why: &'static str,
    pub retry_after: Duration,
}

/// gRPC metadata key that carries the seconds to wait before retrying (HTTP `Retry-After`).
pub const RETRY_AFTER_METADATA: &str = "retry-after";

impl Overloaded {
    fn secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// `UNAVAILABLE` with `retry-after` metadata; the gateway answers it 503 with `Retry-After`.
impl From<Overloaded> for tonic::Status {
    fn from(o: Overloaded) -> Self {
        let mut s = tonic::Status::unavailable(format!(
            "The service is busy. Try again in {} s.",
            o.secs()
        ));
        if let Ok(v) = o.secs().to_string().parse() {
            s.metadata_mut().insert(RETRY_AFTER_METADATA, v);
        }
        s
    }
}

/// 503 with `Retry-After`.
impl From<Overloaded> for crate::problem::Problem {
    fn from(o: Overloaded) -> Self {
        crate::problem::Problem::service_unavailable(format!(
            "The service is busy. Try again in {} s.",
            o.secs()
        ))
        .with_retry_after(o.retry_after)
    }
}

/// A bounded pool of blocking workers.
#[derive(Clone, Debug)]
pub struct BlockingPool {
    name: &'static str,
    /// One permit per running job.
    workers: Arc<Semaphore>,
    /// One permit per admitted job (running or waiting): `workers + queue`.
    admitted: Arc<Semaphore>,
    wait: Duration,
}

/// Capacity held for a caller: a worker, until dropped. Jobs run on it one after the other.
#[derive(Debug)]
pub struct Reservation {
    permits: Arc<(OwnedSemaphorePermit, OwnedSemaphorePermit)>,
}

impl BlockingPool {
    /// `workers` 0 means one per available core.
    pub fn new(name: &'static str, workers: usize, queue: usize, wait: Duration) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            workers
        };
        Self {
            name,
            workers: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
            wait,
        }
    }

    fn overloaded(&self, why: &'static str) -> Overloaded {
        Overloaded {
            pool: self.name,
            why,
            retry_after: self.wait.max(Duration::from_secs(1)),
        }
    }

    /// Waits (at most the configured time) for a worker. Take it before changing any state,
    /// so an overloaded answer never follows a half-done request.
    pub async fn reserve(&self) -> Result<Reservation, Overloaded> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| self.overloaded("queue full"))?;
        let worker = tokio::time::timeout(self.wait, self.workers.clone().acquire_owned())
            .await
            .map_err(|_| self.overloaded("queue wait exceeded"))?
            .expect("the semaphore is never closed");
        Ok(Reservation {
            permits: Arc::new((admitted, worker)),
        })
    }

    /// Reserves and runs one job.
    pub async fn run<T, F>(&self, job: F) -> Result<T, Overloaded>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        Ok(self.reserve().await?.run(job).await)
    }

    /// Jobs running or waiting now.
    pub fn in_use(&self, capacity: usize) -> usize {
        capacity - self.admitted.available_permits()
    }
}

impl Reservation {
    /// Runs `job` on a blocking thread with this reservation's worker. A panic in the job is
    /// resumed in the caller.
    pub async fn run<T, F>(&self, job: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permits = self.permits.clone();
        match tokio::task::spawn_blocking(move || {
            let _held = permits;
            job()
        })
        .await
        {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Never more than `workers` jobs at once, at most `queue` waiting, the rest refused at
    /// once; a job whose caller went away still holds its worker until it ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_runs_bounded_and_the_excess_is_refused() {
        let pool = BlockingPool::new("test", 2, 3, Duration::from_secs(5));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut ok = 0;
        let mut refused = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(e) => {
                    assert_eq!(e.why, "queue full");
                    assert!(e.retry_after >= Duration::from_secs(1));
                    refused += 1;
                }
            }
        }
        assert_eq!(ok + refused, 20);
        assert!(ok >= 5, "two running and three waiting are admitted: {ok}");
        assert!(refused > 0);
        assert!(peak.load(Ordering::SeqCst) <= 2, "at most two at once");
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_the_queue_deadline() {
        let pool = BlockingPool::new("test", 1, 5, Duration::from_millis(100));
        let held = pool.reserve().await.unwrap();
        let e = pool.reserve().await.unwrap_err();
        assert_eq!(e.why, "queue wait exceeded");
        drop(held);
        pool.reserve().await.expect("free again");
    }

    #[tokio::test]
    async fn a_cancelled_caller_keeps_its_worker_busy_until_the_job_ends() {
        let pool = BlockingPool::new("test", 1, 0, Duration::from_millis(50));
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let p = pool.clone();
        let caller = tokio::spawn(async move {
            p.run(move || {
                started_tx.send(()).unwrap();
                let _ = finish_rx.recv_timeout(Duration::from_secs(10));
            })
            .await
        });
        // The job runs on its blocking thread; then its caller is abandoned.
        tokio::task::spawn_blocking(move || started_rx.recv_timeout(Duration::from_secs(10)))
            .await
            .unwrap()
            .expect("the job started");
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert!(pool.reserve().await.is_err(), "the job still runs");
        finish_tx.send(()).unwrap();
        let freed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match pool.reserve().await {
                    Ok(r) => break r,
                    Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        })
        .await;
        assert!(freed.is_ok(), "the worker is freed when the job ends");
    }
}
