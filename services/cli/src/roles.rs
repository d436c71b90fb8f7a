//! The roles this binary can run, how each is configured and started, and `up`/`migrate`.

use anyhow::Context;
use storefront_kit::{Shutdown, Supervisor, config};

/// A role of the platform. Roles appear here as their services are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Public REST gateway.
    Gateway,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Gateway];

    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
        }
    }

    /// Migrations of the role's database, if it has one.
    fn migrations(self) -> Option<&'static sqlx::migrate::Migrator> {
        match self {
            Role::Gateway => None,
        }
    }
}

/// The roles asked for, or all of them.
pub fn or_all(roles: Vec<Role>) -> Vec<Role> {
    if roles.is_empty() {
        Role::ALL.to_vec()
    } else {
        let mut r = roles;
        r.dedup();
        r
    }
}

/// Loads every role's configuration (failing before anything binds), starts them, and supervises
/// them until Ctrl-C / SIGTERM or until one fails.
pub async fn run(roles: &[Role]) -> anyhow::Result<()> {
    let gateway_cfg: Option<storefront_gateway::Config> = if roles.contains(&Role::Gateway) {
        Some(storefront_gateway::Config::load().map_err(|e| anyhow::anyhow!(e))?)
    } else {
        None
    };
    let telemetry = gateway_cfg
        .as_ref()
        .map(|c| c.common.telemetry.clone())
        .unwrap_or_default();
    let _guard = storefront_kit::telemetry::init("storefront", &telemetry)?;

    let shutdown = Shutdown::with_signals();
    let mut sup = Supervisor::new("storefront", shutdown.clone());
    let mut lines = Vec::new();
    if let Some(cfg) = gateway_cfg {
        let gw = storefront_gateway::build(cfg, shutdown.clone())
            .await
            .context("starting the gateway")?;
        let addr = gw.local_addr();
        lines.push(format!(
            "gateway  http://{addr}  (API docs: http://{addr}/docs)"
        ));
        sup.spawn("gateway", gw.run());
    }
    for l in &lines {
        tracing::info!("{l}");
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
        .filter_map(|r| r.migrations().map(|m| (*r, m)))
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
