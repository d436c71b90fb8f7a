//! SQL of order_db, one module per aggregate. Every query is parameterised.

pub mod idempotency;
pub mod orders;

/// Migrations of order_db (kit's outbox and inbox tables are added by `kit::db::migrate`).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/order");

/// The current time at PostgreSQL's precision (microseconds), so what an answer shows is what
/// a later read returns.
pub fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}
