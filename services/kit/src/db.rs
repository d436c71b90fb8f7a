//! PostgreSQL: create the role's database when it is missing, run its migrations under sqlx's
//! advisory lock, and hand out a pool.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::PostgresSettings;

/// Migrations every database that uses the outbox or the inbox needs (`migrations/kit/`).
pub static KIT_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/kit");

/// The database name of a service: `<prefix><service>_db`.
pub fn database_name(settings: &PostgresSettings, service: &str) -> String {
    format!("{}{service}_db", settings.database_prefix)
}

/// Connection options for `database` on the configured server.
pub fn connect_options(
    settings: &PostgresSettings,
    database: &str,
) -> anyhow::Result<PgConnectOptions> {
    let opts = PgConnectOptions::from_str(settings.url.expose_secret())
        .context("STOREFRONT_POSTGRES__URL is not a valid PostgreSQL URL")?
        .database(database)
        .application_name("storefront")
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    Ok(opts)
}

/// Creates `database` if it does not exist (safe when several replicas race to create it).
pub async fn ensure_database(settings: &PostgresSettings, database: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !database.is_empty()
            && database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        "database name `{database}` may only hold letters, digits, `_` and `-`"
    );
    let admin = PgConnectOptions::from_str(settings.url.expose_secret())
        .context("STOREFRONT_POSTGRES__URL is not a valid PostgreSQL URL")?;
    let mut conn = admin
        .connect()
        .await
        .context("connecting to PostgreSQL (STOREFRONT_POSTGRES__URL) to create the database")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        // Identifiers cannot be bound as parameters; the name was checked above.
        match sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .execute(&mut conn)
        .await
        {
            Ok(_) => tracing::info!(database, "created database"),
            // 42P04 duplicate_database, 23505 unique_violation: another replica won the race.
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04") | Some("23505")) => {}
            Err(e) => return Err(e).context(format!("creating database {database}")),
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// Runs migrations (kit's and then the service's) under sqlx's advisory lock, so replicas that
/// start together apply each migration once.
pub async fn migrate(pool: &PgPool, service: &Migrator) -> anyhow::Result<()> {
    let mut all: Vec<_> = KIT_MIGRATIONS.iter().cloned().collect();
    all.extend(service.iter().cloned());
    let mut m = Migrator::with_migrations(all);
    m.set_locking(true);
    m.run(pool).await.context("running database migrations")?;
    Ok(())
}

/// Creates the service's database if needed, migrates it, and returns a pool.
pub async fn connect(
    settings: &PostgresSettings,
    service: &str,
    migrations: &Migrator,
) -> anyhow::Result<PgPool> {
    connect_database(settings, &database_name(settings, service), migrations).await
}

/// Like [`connect`] with an explicit database name (tests use one database each).
pub async fn connect_database(
    settings: &PostgresSettings,
    database: &str,
    migrations: &Migrator,
) -> anyhow::Result<PgPool> {
    ensure_database(settings, database).await?;
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .connect_with(connect_options(settings, database)?)
        .await
        .with_context(|| format!("connecting to database {database}"))?;
    migrate(&pool, migrations).await?;
    Ok(pool)
}

/// A migrator with no migrations of its own, for databases that only need kit's tables.
pub static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;
