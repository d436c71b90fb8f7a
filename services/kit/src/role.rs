//! What every role starts, declared in one line each (issue #12): its server, its outbox relay
//! and its consumers, all supervised by the role's [`Supervisor`]. A role's `run` then says
//! only what is its own: which topics, which handlers, which extra loops.
//!
//! ```ignore
//! let mut sup = Supervisor::new(ROLE, shutdown.clone());
//! sup.serve(listener, app);
//! sup.relay(pool.clone(), &common.kafka, settings.relay_poll_interval_ms)?;
//! sup.consume(&common.kafka, &settings.consumer_group, &[topics::ORDER_EVENTS], Some(metrics),
//!     move |d| handle(pool.clone(), d));
//! sup.run().await
//! ```

use std::future::Future;

use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::Supervisor;
use crate::config::KafkaSettings;
use crate::kafka::{ConsumerOptions, Delivery, Outcome};
use crate::metrics::Metrics;
use crate::outbox::{Relay, RelayOptions};

impl Supervisor {
    /// Serves `app` on `listener` until shutdown (task `server`).
    pub fn serve(&mut self, listener: TcpListener, app: Router) {
        let shutdown = self.shutdown().clone();
        self.spawn("server", crate::server::serve(listener, app, shutdown));
    }

    /// Publishes the role's outbox (`pool`) to Kafka, polling every `poll_ms` besides being
    /// woken by new rows (task `outbox relay`).
    pub fn relay(
        &mut self,
        pool: PgPool,
        kafka: &KafkaSettings,
        poll_ms: u64,
    ) -> anyhow::Result<()> {
        self.relay_with(pool, kafka, RelayOptions::polling(poll_ms))
    }

    /// [`Supervisor::relay`] with every option.
    pub fn relay_with(
        &mut self,
        pool: PgPool,
        kafka: &KafkaSettings,
        opts: RelayOptions,
    ) -> anyhow::Result<()> {
        let relay = Relay::new(pool, kafka, opts)?;
        let shutdown = self.shutdown().clone();
        self.spawn("outbox relay", relay.run(shutdown));
        Ok(())
    }

    /// Consumes `topics` (their unprefixed names) as `group`, each event to `handler` (see
    /// [`crate::kafka::run_consumer`]: at least once, in order per partition, retried on
    /// error). The task is named after the topics.
    pub fn consume<H, Fut>(
        &mut self,
        kafka: &KafkaSettings,
        group: &str,
        topics: &[&str],
        metrics: Option<Metrics>,
        handler: H,
    ) where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Outcome>> + Send + 'static,
    {
        self.consume_with(kafka, options(kafka, group, topics), metrics, handler)
    }

    /// [`Supervisor::consume`] for a consumer shoppers wait for (between checkout and `paid`,
    /// and the bought lines leaving the cart): it lets the broker hold a fetch only
    /// `kafka.saga_fetch_wait_ms`, not `kafka.fetch_wait_ms`.
    pub fn consume_saga<H, Fut>(
        &mut self,
        kafka: &KafkaSettings,
        group: &str,
        topics: &[&str],
        metrics: Option<Metrics>,
        handler: H,
    ) where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Outcome>> + Send + 'static,
    {
        let mut opts = options(kafka, group, topics);
        opts.fetch_wait_ms = Some(kafka.saga_fetch_wait_ms);
        self.consume_with(kafka, opts, metrics, handler)
    }

    /// [`Supervisor::consume`] with every option (`opts.topics` are the configured names).
    pub fn consume_with<H, Fut>(
        &mut self,
        kafka: &KafkaSettings,
        opts: ConsumerOptions,
        metrics: Option<Metrics>,
        handler: H,
    ) where
        H: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Outcome>> + Send + 'static,
    {
        let name = format!("{} consumer", opts.topics.join("+"));
        let kafka = kafka.clone();
        let shutdown = self.shutdown().clone();
        self.spawn(name, async move {
            crate::kafka::run_consumer(&kafka, opts, metrics, shutdown, handler).await
        });
    }
}

/// The options of a consumer of `topics` (unprefixed names) as `group`.
fn options(kafka: &KafkaSettings, group: &str, topics: &[&str]) -> ConsumerOptions {
    ConsumerOptions::new(
        group,
        topics
            .iter()
            .map(|t| crate::events::topic(kafka, t))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Shutdown;

    #[tokio::test]
    async fn the_declared_server_runs_until_shutdown() {
        let shutdown = Shutdown::new();
        let mut sup = Supervisor::new("t", shutdown.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        sup.serve(
            listener,
            Router::new().route("/x", axum::routing::get(|| async { "ok" })),
        );
        let running = tokio::spawn(sup.run());
        let body = reqwest::get(format!("http://{addr}/x"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "ok");
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the role stops on shutdown")
            .unwrap()
            .expect("a requested shutdown is not a failure");
    }
}
