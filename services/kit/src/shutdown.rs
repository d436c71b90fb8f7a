//! One shutdown signal fanned out to every server and background loop, and a supervisor that takes
//! the role down (with a logged reason) when any of its tasks ends unexpectedly.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal. Triggering any clone stops everything that listens.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    pub fn new() -> Self {
        Self(CancellationToken::new())
    }

    /// A shutdown that also triggers on Ctrl-C and SIGTERM.
    pub fn with_signals() -> Self {
        let s = Self::new();
        let t = s.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = ctrl_c() => tracing::info!("received Ctrl-C, shutting down"),
                _ = sigterm() => tracing::info!("received SIGTERM, shutting down"),
                _ = t.cancelled() => {}
            }
            t.trigger();
        });
        s
    }

    /// A signal that ends when this one does, but can also be triggered on its own
    /// (used to stop one role of `storefront up` in tests).
    pub fn child(&self) -> Self {
        Self(self.0.child_token())
    }

    pub fn trigger(&self) {
        self.0.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn cancelled(&self) {
        self.0.cancelled().await
    }

    /// An owned future for servers' `with_graceful_shutdown`.
    pub fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let t = self.0.clone();
        async move { t.cancelled_owned().await }
    }
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await
    }
}

#[cfg(unix)]
async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn sigterm() {
    std::future::pending::<()>().await
}

/// Runs a role's servers and loops. When one ends before shutdown was asked for, the supervisor
/// logs which one and why, triggers shutdown for the rest and reports an error.
pub struct Supervisor {
    name: String,
    set: JoinSet<(String, anyhow::Result<()>)>,
    shutdown: Shutdown,
    drain: Duration,
}

impl Supervisor {
    pub fn new(name: impl Into<String>, shutdown: Shutdown) -> Self {
        Self {
            name: name.into(),
            set: JoinSet::new(),
            shutdown,
            drain: Duration::from_secs(30),
        }
    }

    /// How long the remaining tasks get to finish after shutdown starts (default 30 s).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain = d;
        self
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Adds a task. It must return when the shutdown signal fires.
    pub fn spawn<F>(&mut self, task: impl Into<String>, fut: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let task = task.into();
        self.set.spawn(async move { (task, fut.await) });
    }

    /// Waits until every task has ended. Returns an error naming the first task that ended
    /// unexpectedly (before shutdown, or with an error).
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut failure: Option<anyhow::Error> = None;
        let role = self.name.clone();
        // Phase 1: wait for the first task to end or for shutdown.
        loop {
            tokio::select! {
                joined = self.set.join_next() => {
                    let Some(joined) = joined else { break };
                    if let Some(err) = Self::judge(&role, joined, self.shutdown.is_triggered()) {
                        failure.get_or_insert(err);
                        self.shutdown.trigger();
                    }
                }
                _ = self.shutdown.cancelled() => break,
            }
            if self.shutdown.is_triggered() {
                break;
            }
        }
        // Phase 2: drain the rest with a bound.
        let deadline = tokio::time::sleep(self.drain);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = self.set.join_next() => {
                    let Some(joined) = joined else { break };
                    if let Some(err) = Self::judge(&role, joined, true) {
                        failure.get_or_insert(err);
                    }
                }
                _ = &mut deadline => {
                    tracing::warn!(role = %role, remaining = self.set.len(), "tasks did not stop in time; aborting them");
                    self.set.abort_all();
                    break;
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn judge(
        role: &str,
        joined: Result<(String, anyhow::Result<()>), tokio::task::JoinError>,
        stopping: bool,
    ) -> Option<anyhow::Error> {
        match joined {
            Ok((task, Ok(()))) if stopping => {
                tracing::debug!(role, task = %task, "task stopped");
                None
            }
            Ok((task, Ok(()))) => {
                tracing::error!(role, task = %task, "task exited before shutdown was requested; stopping the role");
                Some(anyhow::anyhow!("{role}: task `{task}` exited unexpectedly"))
            }
            Ok((task, Err(e))) => {
                tracing::error!(role, task = %task, error = %e, error.chain = %crate::telemetry::chain(e.as_ref()), "task failed; stopping the role");
                Some(e.context(format!("{role}: task `{task}` failed")))
            }
            Err(e) if e.is_cancelled() => None,
            Err(e) => {
                tracing::error!(role, error = %e, "task panicked; stopping the role");
                Some(anyhow::anyhow!("{role}: a task panicked: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dying_loop_takes_the_role_down() {
        let shutdown = Shutdown::new();
        let mut sup = Supervisor::new("test", shutdown.clone());
        let s = shutdown.clone();
        sup.spawn("server", async move {
            s.cancelled().await;
            Ok(())
        });
        sup.spawn("relay", async {
            Err(anyhow::anyhow!("broker unreachable"))
        });
        let err = sup.run().await.expect_err("role must fail");
        let text = format!("{err:#}");
        assert!(text.contains("relay"), "{text}");
        assert!(text.contains("broker unreachable"), "{text}");
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn a_requested_shutdown_is_clean() {
        let shutdown = Shutdown::new();
        let mut sup = Supervisor::new("test", shutdown.clone());
        for name in ["a", "b"] {
            let s = shutdown.clone();
            sup.spawn(name, async move {
                s.cancelled().await;
                Ok(())
            });
        }
        shutdown.trigger();
        sup.run().await.expect("clean stop");
    }

    #[tokio::test]
    async fn a_loop_that_returns_early_is_reported() {
        let shutdown = Shutdown::new();
        let mut sup = Supervisor::new("test", shutdown.clone());
        sup.spawn("sweeper", async { Ok(()) });
        let err = sup.run().await.expect_err("early exit is a failure");
        assert!(format!("{err}").contains("sweeper"));
    }
}
