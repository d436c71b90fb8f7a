//! The notification service: e-mails customers about their orders (confirmation, payment
//! failed, shipped, refunded) over SMTP, learning addresses from `user.registered`. Serves only
//! `/healthz`, `/readyz` and `/metrics` (port 3010).
//!
//! [`build`] binds and connects (port 0 picks a free port, see [`Server::local_addr`]);
//! [`Server::run`] supervises the health server, the two consumers and the sender.
#![forbid(unsafe_code)]

extern crate storefront_kit as kit;

pub mod config;
pub mod events;
pub mod mailer;
pub mod render;
pub mod sender;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use kit::config::Validate;
use kit::health::{Readiness, checks};

use kit::metrics::Metrics;
use kit::{Shutdown, Supervisor};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use config::{Config, NotificationSettings, SmtpSettings};
pub use store::MIGRATIONS;

/// The role name (database `notification_db`, metrics label, supervisor name).
pub const ROLE: &str = "notification";

/// A bound, connected notification role; [`Server::run`] serves until shutdown.
pub struct Server {
    cfg: Config,
    listener: TcpListener,
    local_addr: SocketAddr,
    pool: PgPool,
    mailer: mailer::Mailer,
    metrics: Metrics,
    shutdown: Shutdown,
}

/// Validates `cfg`, binds `notification.listen`, creates and migrates notification_db.
pub async fn build(cfg: Config, shutdown: Shutdown) -> anyhow::Result<Server> {
    cfg.validate()?;
    let from = cfg.notification.from_mailbox()?;
    let listener = kit::server::bind(ROLE, cfg.notification.listen)
        .await
        .context("binding STOREFRONT_NOTIFICATION__LISTEN")?;
    let local_addr = listener.local_addr()?;
    let pool = kit::db::connect(&cfg.common.postgres, ROLE, &MIGRATIONS)
        .await
        .context("notification database")?;
    let mailer = mailer::Mailer::new(cfg.notification.smtp.clone(), from);
    Ok(Server {
        cfg,
        listener,
        local_addr,
        pool,
        mailer,
        metrics: Metrics::new(ROLE),
        shutdown,
    })
}

/// `build` then `run`.
pub async fn run(cfg: Config, shutdown: Shutdown) -> anyhow::Result<()> {
    build(cfg, shutdown).await?.run().await
}

/// Readiness check of the SMTP server: it accepts a TCP connection (else degraded).
fn smtp_check(host: String, port: u16) -> impl Fn() -> futures_like::Check + Send + Sync + 'static {
    move || {
        let (host, port) = (host.clone(), port);
        Box::pin(async move {
            match tokio::net::TcpStream::connect((host.as_str(), port)).await {
                Ok(_) => kit::health::CheckStatus::Up,
                // E-mails wait in notification_db and are retried: degraded, still ready.
                Err(e) => kit::health::CheckStatus::Degraded(format!(
                    "SMTP {host}:{port} unreachable ({e}); e-mails are queued and retried"
                )),
            }
        })
    }
}

mod futures_like {
    pub type Check = std::pin::Pin<
        Box<dyn std::future::Future<Output = kit::health::CheckStatus> + Send + 'static>,
    >;
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The pool of notification_db (tests inspect the tables with it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn run(self) -> anyhow::Result<()> {
        let Server {
            cfg,
            listener,
            local_addr,
            pool,
            mailer,
            metrics,
            shutdown,
        } = self;
        let common = &cfg.common;
        let settings = Arc::new(cfg.notification.clone());
        let readiness = Readiness::new()
            .with("postgres", checks::postgres(pool.clone()))
            .with("kafka", checks::kafka(common.kafka.clone()))
            .with(
                "smtp",
                smtp_check(settings.smtp.host.clone(), settings.smtp.port),
            );
        let app = kit::server::http_app(axum::Router::new(), readiness, &metrics);

        let mut sup = Supervisor::new(ROLE, shutdown.clone());
        tracing::info!(addr = %local_addr, "notification listening (health only)");
        sup.serve(listener, app);
        let wake = Arc::new(Notify::new());
        let marks = sender::Marks::default();
        sup.spawn(
            "sent marks",
            marks.clone().run(pool.clone(), shutdown.clone()),
        );
        let sender = sender::Sender {
            pool: pool.clone(),
            mailer,
            settings: settings.clone(),
            wake: wake.clone(),
            marks,
        };
        for i in 1..=settings.senders {
            sup.spawn(format!("sender {i}"), sender.clone().run(shutdown.clone()));
        }
        let (p, w) = (pool.clone(), wake.clone());
        sup.consume(
            &common.kafka,
            &format!("{}.recipients", settings.consumer_group),
            &[kit::events::topics::USER_EVENTS],
            Some(metrics.clone()),
            move |d| {
                let (pool, wake) = (p.clone(), w.clone());
                async move { events::handle_user_event(&pool, &wake, d).await }
            },
        );
        let p = pool.clone();
        sup.consume(
            &common.kafka,
            &settings.consumer_group,
            &[
                kit::events::topics::ORDER_EVENTS,
                kit::events::topics::PAYMENT_EVENTS,
            ],
            Some(metrics),
            move |d| {
                let (pool, wake) = (p.clone(), wake.clone());
                async move { events::handle_mail_event(&pool, &wake, d).await }
            },
        );
        let result = sup.run().await;
        pool.close().await;
        result
    }
}
