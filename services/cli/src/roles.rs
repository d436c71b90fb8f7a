//! The roles this binary can run, how each is configured and started, and `up`/`migrate`.

use std::future::Future;
use std::pin::Pin;

use anyhow::Context;
use storefront_kit::{Shutdown, Supervisor, config};

/// A role of the platform: the one list in the contracts crate.
pub use storefront_kit::contracts::roles::Role;

/// Parses a role name (the `--roles` values).
pub fn parse(name: &str) -> Result<Role, String> {
    Role::parse(name)
}

/// Migrations of the role's database, if it has one.
fn migrations(role: Role) -> Option<&'static sqlx::migrate::Migrator> {
    match role {
        Role::Auth => Some(&storefront_auth::MIGRATIONS),
        Role::User => Some(&storefront_user::MIGRATIONS),
        Role::Product => Some(&storefront_product::MIGRATIONS),
        Role::Inventory => Some(&storefront_inventory::store::MIGRATIONS),
        Role::Cart => Some(&storefront_cart::MIGRATIONS),
        Role::Order => Some(&storefront_order::MIGRATIONS),
        Role::Payment => Some(&storefront_payment::MIGRATIONS),
        Role::Notification => Some(&storefront_notification::MIGRATIONS),
        Role::Event => Some(&storefront_event::MIGRATIONS),
        Role::Recommendation | Role::Recommender | Role::Gateway => None,
    }
}

/// The roles asked for (in start order, each once), or all of them.
pub fn or_all(mut roles: Vec<Role>) -> Vec<Role> {
    if roles.is_empty() {
        return Role::START_ORDER.to_vec();
    }
    roles.sort_by_key(|r| r.start_rank());
    roles.dedup();
    roles
}

type RunFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A role's loaded configuration. Everything is loaded (and validated) before anything binds.
enum Loaded {
    Auth(Box<storefront_auth::Config>),
    User(Box<storefront_user::Config>),
    Product(Box<storefront_product::Config>),
    Inventory(Box<storefront_inventory::Config>),
    Cart(Box<storefront_cart::Config>),
    Order(Box<storefront_order::Config>),
    Payment(Box<storefront_payment::Config>),
    Notification(Box<storefront_notification::Config>),
    Recommendation(Box<storefront_recommendation::Config>),
    Event(Box<storefront_event::Config>),
    Recommender(Box<storefront_recommender::Config>),
    Gateway(Box<storefront_gateway::Config>),
}

impl Loaded {
    fn load(role: Role) -> anyhow::Result<Self> {
        let err = |e: config::ConfigError| anyhow::anyhow!("{}: {e}", role.name());
        Ok(match role {
            Role::Auth => Loaded::Auth(Box::new(storefront_auth::Config::load().map_err(err)?)),
            Role::User => Loaded::User(Box::new(storefront_user::Config::load().map_err(err)?)),
            Role::Product => {
                Loaded::Product(Box::new(storefront_product::Config::load().map_err(err)?))
            }
            Role::Inventory => {
                Loaded::Inventory(Box::new(storefront_inventory::Config::load().map_err(err)?))
            }
            Role::Cart => Loaded::Cart(Box::new(storefront_cart::Config::load().map_err(err)?)),
            Role::Order => Loaded::Order(Box::new(storefront_order::Config::load().map_err(err)?)),
            Role::Payment => {
                Loaded::Payment(Box::new(storefront_payment::Config::load().map_err(err)?))
            }
            Role::Notification => Loaded::Notification(Box::new(
                storefront_notification::Config::load().map_err(err)?,
            )),
            Role::Recommendation => Loaded::Recommendation(Box::new(
                storefront_recommendation::Config::load().map_err(err)?,
            )),
            Role::Event => Loaded::Event(Box::new(storefront_event::Config::load().map_err(err)?)),
            Role::Recommender => Loaded::Recommender(Box::new(
                storefront_recommender::Config::load().map_err(err)?,
            )),
            Role::Gateway => {
                Loaded::Gateway(Box::new(storefront_gateway::Config::load().map_err(err)?))
            }
        })
    }

    /// Binds the role's port and returns its address and its run future.
    async fn start(self, shutdown: Shutdown) -> anyhow::Result<(std::net::SocketAddr, RunFuture)> {
        Ok(match self {
            Loaded::Auth(c) => {
                let s = storefront_auth::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::User(c) => {
                let s = storefront_user::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Product(c) => {
                let s = storefront_product::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Inventory(c) => {
                let s = storefront_inventory::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Cart(c) => {
                let s = storefront_cart::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Order(c) => {
                let s = storefront_order::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Payment(c) => {
                let s = storefront_payment::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Notification(c) => {
                let s = storefront_notification::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Recommendation(c) => {
                let s = storefront_recommendation::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Event(c) => {
                let s = storefront_event::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Recommender(c) => {
                let s = storefront_recommender::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
            Loaded::Gateway(c) => {
                let s = storefront_gateway::build(*c, shutdown).await?;
                (s.local_addr(), Box::pin(s.run()))
            }
        })
    }
}

/// How the roles of this process were asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launch {
    /// One role on its own (`storefront <role>`): the operator's pods, one process per role.
    Alone,
    /// `storefront up`: the roles together in this process; with `seed`, and the product role
    /// among them, an empty catalog is first filled with the default demo catalog.
    Up { seed: bool },
}

/// Partitions of the topics this process creates: `kafka.partitions`, else 1 under `up` (each
/// consumer group has its one member here, and every partition costs the broker work on every
/// fetch: README Decisions "Topic partitions") and 3 for a role on its own (up to 3 replicas of
/// a consumer share a topic).
pub fn partitions(kafka: &storefront_kit::config::KafkaSettings, launch: Launch) -> i32 {
    let n = kafka.partitions.unwrap_or(match launch {
        Launch::Up { .. } => 1,
        Launch::Alone => 3,
    });
    // Validated to 1..=1000 when the settings were loaded.
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Loads every role's configuration (failing before anything binds), starts them in order, and
/// supervises them until Ctrl-C / SIGTERM or until one fails.
pub async fn run(roles: &[Role], launch: Launch) -> anyhow::Result<()> {
    let seed = matches!(launch, Launch::Up { seed: true });
    let common = config::load_common().map_err(|e| anyhow::anyhow!(e))?;
    let loaded = roles
        .iter()
        .map(|r| Loaded::load(*r).map(|l| (*r, l)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let _guard = storefront_kit::telemetry::init("storefront", &common.telemetry)?;

    if roles.iter().any(|r| r.uses_kafka()) {
        let topics: Vec<String> = storefront_kit::events::topics::ALL
            .iter()
            .map(|t| storefront_kit::events::topic(&common.kafka, t))
            .collect();
        storefront_kit::kafka::ensure_topics_patiently(
            &common.kafka,
            &topics,
            partitions(&common.kafka, launch),
            std::time::Duration::from_secs(60),
        )
        .await
        .context("creating Kafka topics for 60 s (is the broker up? scripts/dev-stack.sh up)")?;
    }

    if seed {
        let product = loaded.iter().find_map(|(_, l)| match l {
            Loaded::Product(c) => Some(c.as_ref().clone()),
            _ => None,
        });
        if let Some(cfg) = product {
            let outcome =
                storefront_cli::seed::seed(&cfg, &storefront_cli::seed::Options::default())
                    .await
                    .context("seeding the demo catalog (skip with --no-seed)")?;
            tracing::info!(%outcome, "demo catalog");
            println!("{outcome}");
            seed_checkout_rules(&cfg.common).await?;
        }
    }

    let shutdown = Shutdown::with_signals();
    let mut sup = Supervisor::new("storefront", shutdown.clone());
    let mut lines = Vec::new();
    for (role, cfg) in loaded {
        let (addr, fut) = cfg
            .start(shutdown.clone())
            .await
            .with_context(|| format!("starting {}", role.name()))?;
        let line = match role {
            Role::Gateway => format!(
                "{:<10} http://{addr}  (API docs: http://{addr}/docs)",
                role.name()
            ),
            Role::Order => format!(
                "{:<10} http://{addr}  (REST; /healthz /readyz /metrics on the same port)",
                role.name()
            ),
            Role::Cart | Role::Payment => format!(
                "{:<10} http://{addr}  (REST; /healthz /readyz /metrics on the same port)",
                role.name()
            ),
            Role::Notification => format!(
                "{:<10} http://{addr}  (/healthz /readyz /metrics only)",
                role.name()
            ),
            Role::Event | Role::Recommendation => format!(
                "{:<10} http://{addr}  (REST; /healthz /readyz /metrics on the same port)",
                role.name()
            ),
            Role::Recommender => format!(
                "{:<10} http://{addr}  (/healthz /readyz /metrics only)",
                role.name()
            ),
            _ => format!(
                "{:<10} {addr}  (gRPC; /healthz /readyz /metrics on the same port)",
                role.name()
            ),
        };
        tracing::info!(role = role.name(), %addr, "role started");
        lines.push(line);
        sup.spawn(role.name(), fut);
    }
    println!("Storefront is up:");
    for l in &lines {
        println!("  {l}");
    }
    sup.run().await
}

/// Creates databases and runs migrations for the roles that have one.
pub async fn migrate(roles: &[Role]) -> anyhow::Result<()> {
    let common = config::load_common().map_err(|e| anyhow::anyhow!(e))?;
    let _guard = storefront_kit::telemetry::init("storefront", &common.telemetry)?;
    let with_db: Vec<_> = roles
        .iter()
        .filter_map(|r| migrations(*r).map(|m| (*r, m)))
        .collect();
    if with_db.is_empty() {
        println!("nothing to migrate: none of the selected roles has a database");
        return Ok(());
    }
    for (role, migrations) in with_db {
        let pool = storefront_kit::db::connect(&common.postgres, role.name(), migrations)
            .await
            .with_context(|| format!("migrating {}", role.name()))?;
        pool.close().await;
        println!(
            "{}: {} is up to date",
            role.name(),
            storefront_kit::db::database_name(&common.postgres, role.name())
        );
    }
    Ok(())
}

/// Creates the first admin (or promotes an existing account) directly in auth's database.
pub async fn create_admin(email: &str, password: &str) -> anyhow::Result<()> {
    let cfg = storefront_auth::Config::load().map_err(|e| anyhow::anyhow!(e))?;
    let _guard = storefront_kit::telemetry::init("storefront", &cfg.common.telemetry)?;
    let id = storefront_auth::create_admin(&cfg, email, password).await?;
    println!("admin {email} ready (user id {id})");
    Ok(())
}

/// `storefront seed`: fills an empty catalog with the demo catalog.
pub async fn seed(products: u32, seed: u64, images: bool) -> anyhow::Result<()> {
    let cfg = storefront_product::Config::load().map_err(|e| anyhow::anyhow!("product: {e}"))?;
    let _guard = storefront_kit::telemetry::init("storefront", &cfg.common.telemetry)?;
    let opts = storefront_cli::seed::Options {
        products,
        seed,
        progress: true,
        images,
    };
    let outcome = storefront_cli::seed::seed(&cfg, &opts).await?;
    println!("{outcome}");
    seed_checkout_rules(&cfg.common).await
}

/// The demo shop's shipping, tax and promotions in order_db (only while it has none).
async fn seed_checkout_rules(common: &storefront_kit::config::Common) -> anyhow::Result<()> {
    let pool =
        storefront_kit::db::connect(&common.postgres, "order", &storefront_order::MIGRATIONS)
            .await
            .context("order database (demo checkout rules)")?;
    let seeded = storefront_cli::seed_totals::seed_totals(&pool)
        .await
        .context("seeding the demo checkout rules")?;
    pool.close().await;
    match seeded {
        Some(s) => println!("{s}"),
        None => println!("checkout rules: the shop has its own already; nothing seeded"),
    }
    Ok(())
}
