//! Reservations: reserve all lines or none, commit, release and expire. Every path locks the
//! reservation row first and then the stock rows in SKU order, so concurrent calls never wait on
//! each other in a cycle; the sweeper skips reservations someone else holds.

use std::collections::{BTreeSet, HashMap};

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Change, ChangeContext, apply_stock_changes, in_tx, lock_stock};
use crate::domain::{
    Actor, Line, MovementReason, ReleaseReason, ReservationLines, ReservationStatus, Sku, Ttl,
};
use crate::error::{Error, Result};

/// A reservation with its lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub id: Uuid,
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub lines: ReservationLines,
    pub status: ReservationStatus,
    pub release_reason: Option<ReleaseReason>,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A line that cannot be reserved in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortLine {
    pub sku: String,
    pub requested: i64,
    pub available: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReserveOutcome {
    Reserved(Reservation),
    /// Nothing was reserved; every short line, in request order.
    Shortage(Vec<ShortLine>),
}

/// Who is calling, for the ownership rule: a reservation is visible to the user who made it and
/// to admins (anyone else gets NOT_FOUND); the service itself (events, sweeper) sees all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    User { id: Uuid, admin: bool },
    Internal,
}

impl Access {
    fn may_see(self, owner: Uuid) -> bool {
        match self {
            Access::Internal => true,
            Access::User { id, admin } => admin || id == owner,
        }
    }

    fn actor(self) -> Actor {
        match self {
            Access::Internal => Actor::System,
            Access::User { id, .. } => Actor::User(id),
        }
    }
}

fn not_found(order_id: Uuid) -> Error {
    Error::NotFound(format!("There is no reservation for order {order_id}."))
}

const COLUMNS: &str =
    "id, order_id, user_id, status, release_reason, expires_at, created_at, updated_at";

async fn from_row(conn: &mut PgConnection, r: &PgRow) -> Result<Reservation> {
    let order_id: Uuid = r.try_get("order_id")?;
    let lines = lines_of(conn, order_id).await?;
    with_lines(r, lines)
}

fn with_lines(r: &PgRow, lines: ReservationLines) -> Result<Reservation> {
    let status: String = r.try_get("status")?;
    let release: Option<String> = r.try_get("release_reason")?;
    Ok(Reservation {
        id: r.try_get("id")?,
        order_id: r.try_get("order_id")?,
        user_id: r.try_get("user_id")?,
        lines,
        status: ReservationStatus::from_db(&status)
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown status `{status}`")))?,
        release_reason: release.as_deref().and_then(ReleaseReason::from_db),
        expires_at: r.try_get("expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn stored_line(sku: &str, quantity: i64) -> Result<Line> {
    Ok(Line {
        sku: Sku::parse("sku", sku)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored SKU is invalid: {e}")))?,
        quantity,
    })
}

async fn lines_of(conn: &mut PgConnection, order_id: Uuid) -> Result<ReservationLines> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT sku, quantity FROM reservation_lines WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let lines = rows
        .iter()
        .map(|(sku, quantity)| stored_line(sku, *quantity))
        .collect::<Result<Vec<_>>>()?;
    Ok(ReservationLines::from_stored(lines))
}

async fn find(
    conn: &mut PgConnection,
    order_id: Uuid,
    for_update: bool,
) -> Result<Option<Reservation>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM reservations WHERE order_id = $1{}",
        if for_update { " FOR UPDATE" } else { "" }
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok(Some(from_row(conn, &r).await?)),
        None => Ok(None),
    }
}

/// A reservation by its order, if `access` may see it.
pub async fn get_by_order(pool: &PgPool, order_id: Uuid, access: Access) -> Result<Reservation> {
    let mut conn = pool.acquire().await?;
    match find(&mut conn, order_id, false).await? {
        Some(r) if access.may_see(r.user_id) => Ok(r),
        _ => Err(not_found(order_id)),
    }
}

/// A reservation by its id, if `access` may see it.
pub async fn get_by_id(pool: &PgPool, id: Uuid, access: Access) -> Result<Reservation> {
    let mut conn = pool.acquire().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reservations WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(r) => {
            let res = from_row(&mut conn, &r).await?;
            if access.may_see(res.user_id) {
                Ok(res)
            } else {
                Err(Error::NotFound(format!("There is no reservation {id}.")))
            }
        }
        None => Err(Error::NotFound(format!("There is no reservation {id}."))),
    }
}

/// The answer to a retried ReserveStock: the stored reservation when the lines match.
fn replay(
    existing: Reservation,
    lines: &ReservationLines,
    access: Access,
) -> Result<ReserveOutcome> {
    if access.may_see(existing.user_id) && existing.lines.same_as(lines) {
        Ok(ReserveOutcome::Reserved(existing))
    } else {
        Err(Error::AlreadyExists(format!(
            "Order {} already has a reservation with different lines. A retry must send the same \
             lines; to change them, release the reservation and reserve for a new order.",
            existing.order_id
        )))
    }
}

/// Reserves every line for `order_id` or nothing (see [`ReserveOutcome`]). Idempotent per order.
pub async fn reserve(
    pool: &PgPool,
    order_id: Uuid,
    lines: &ReservationLines,
    ttl: Ttl,
    access: Access,
    owner: Uuid,
) -> Result<ReserveOutcome> {
    in_tx!(pool, |tx| reserve_in(
        &mut tx, order_id, lines, ttl, access, owner
    ))
}

async fn reserve_in(
    tx: &mut PgConnection,
    order_id: Uuid,
    lines: &ReservationLines,
    ttl: Ttl,
    access: Access,
    owner: Uuid,
) -> Result<ReserveOutcome> {
    if let Some(existing) = find(tx, order_id, false).await? {
        return replay(existing, lines, access);
    }
    let stock = lock_stock(tx, &lines.skus_in_lock_order()).await?;
    // A concurrent retry for the same order held these locks until it committed: look again,
    // so the retry answers with that reservation rather than a shortage it caused itself.
    if let Some(existing) = find(tx, order_id, false).await? {
        return replay(existing, lines, access);
    }
    let short: Vec<ShortLine> = lines
        .lines()
        .iter()
        .filter_map(|l| {
            let available = stock.get(l.sku.as_str()).map_or(0, |s| s.available());
            (available < l.quantity).then(|| ShortLine {
                sku: l.sku.to_string(),
                requested: l.quantity,
                available: available.max(0),
            })
        })
        .collect();
    if !short.is_empty() {
        return Ok(ReserveOutcome::Shortage(short));
    }
    let id = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO reservations (id, order_id, user_id, status, expires_at)
         VALUES ($1, $2, $3, 'active', now() + make_interval(secs => $4))
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(id)
    .bind(order_id)
    .bind(owner)
    .bind(ttl.as_duration().as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // A concurrent call for the same order committed first: this is a retry of it.
        let existing = find(tx, order_id, false).await?.ok_or_else(|| {
            Error::Internal(anyhow::anyhow!("reservation of {order_id} vanished"))
        })?;
        return replay(existing, lines, access);
    }
    let line_nos: Vec<i32> = (0..lines.lines().len() as i32).collect();
    let skus: Vec<&str> = lines.lines().iter().map(|l| l.sku.as_str()).collect();
    let qty: Vec<i64> = lines.lines().iter().map(|l| l.quantity).collect();
    sqlx::query(
        "INSERT INTO reservation_lines (order_id, line_no, sku, quantity)
         SELECT $1, u.line_no, u.sku, u.quantity
           FROM unnest($2::int[], $3::text[], $4::bigint[]) AS u(line_no, sku, quantity)",
    )
    .bind(order_id)
    .bind(&line_nos)
    .bind(&skus)
    .bind(&qty)
    .execute(&mut *tx)
    .await?;
    let changes: Vec<Change> = lines
        .lines()
        .iter()
        .map(|l| Change {
            sku: l.sku.to_string(),
            delta_on_hand: 0,
            delta_reserved: l.quantity,
        })
        .collect();
    let ctx = ChangeContext {
        reason: MovementReason::Reserve,
        note: "",
        order_id: Some(order_id),
        actor: access.actor(),
        idempotency_key: None,
    };
    apply_stock_changes(tx, &changes, &ctx).await?;
    let created = find(tx, order_id, false)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("reservation of {order_id} vanished")))?;
    Ok(ReserveOutcome::Reserved(created))
}

/// Turns the reservation into a sale. Idempotent for a committed one.
pub async fn commit(pool: &PgPool, order_id: Uuid, access: Access) -> Result<Reservation> {
    in_tx!(pool, |tx| commit_in(&mut tx, order_id, access))
}

/// [`commit`] inside the caller's transaction (the `order.paid` consumer's inbox transaction).
pub async fn commit_in(
    tx: &mut PgConnection,
    order_id: Uuid,
    access: Access,
) -> Result<Reservation> {
    let r = match find(tx, order_id, true).await? {
        Some(r) if access.may_see(r.user_id) => r,
        _ => return Err(not_found(order_id)),
    };
    match r.status {
        ReservationStatus::Committed => return Ok(r),
        ReservationStatus::Released | ReservationStatus::Expired => {
            return Err(Error::FailedPrecondition(format!(
                "The reservation of order {order_id} was {} and cannot be committed: its units \
                 may have been sold to someone else. Reserve again for a new order.",
                r.status.as_str()
            )));
        }
        ReservationStatus::Active => {}
    }
    let changes: Vec<Change> = r
        .lines
        .lines()
        .iter()
        .map(|l| Change {
            sku: l.sku.to_string(),
            delta_on_hand: -l.quantity,
            delta_reserved: -l.quantity,
        })
        .collect();
    finish(
        tx,
        &r,
        &changes,
        MovementReason::Sale,
        access.actor(),
        "committed",
        None,
    )
    .await
}

/// Gives the reserved units back. Idempotent for a released or expired one.
pub async fn release(
    pool: &PgPool,
    order_id: Uuid,
    reason: ReleaseReason,
    access: Access,
) -> Result<Reservation> {
    in_tx!(pool, |tx| release_in(&mut tx, order_id, reason, access))
}

/// [`release`] inside the caller's transaction (the `order.cancelled` consumer's).
pub async fn release_in(
    tx: &mut PgConnection,
    order_id: Uuid,
    reason: ReleaseReason,
    access: Access,
) -> Result<Reservation> {
    let r = match find(tx, order_id, true).await? {
        Some(r) if access.may_see(r.user_id) => r,
        _ => return Err(not_found(order_id)),
    };
    match r.status {
        ReservationStatus::Released | ReservationStatus::Expired => return Ok(r),
        ReservationStatus::Committed => {
            return Err(Error::FailedPrecondition(format!(
                "The reservation of order {order_id} is committed (sold): return goods with \
                 AdjustStock (reason RETURN) instead."
            )));
        }
        ReservationStatus::Active => {}
    }
    let changes = give_back(&r);
    finish(
        tx,
        &r,
        &changes,
        MovementReason::Release,
        access.actor(),
        "released",
        Some(reason),
    )
    .await
}

fn give_back(r: &Reservation) -> Vec<Change> {
    r.lines
        .lines()
        .iter()
        .map(|l| Change {
            sku: l.sku.to_string(),
            delta_on_hand: 0,
            delta_reserved: -l.quantity,
        })
        .collect()
}

/// Locks the stock rows, applies `changes` and moves the reservation to `status`.
async fn finish(
    tx: &mut PgConnection,
    r: &Reservation,
    changes: &[Change],
    reason: MovementReason,
    actor: Actor,
    status: &str,
    release: Option<ReleaseReason>,
) -> Result<Reservation> {
    lock_stock(tx, &r.lines.skus_in_lock_order()).await?;
    let ctx = ChangeContext {
        reason,
        note: "",
        order_id: Some(r.order_id),
        actor,
        idempotency_key: None,
    };
    apply_stock_changes(tx, changes, &ctx).await?;
    sqlx::query(
        "UPDATE reservations SET status = $2, release_reason = $3, updated_at = now()
          WHERE order_id = $1",
    )
    .bind(r.order_id)
    .bind(status)
    .bind(release.map(ReleaseReason::as_str))
    .execute(&mut *tx)
    .await?;
    find(tx, r.order_id, false)
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("reservation of {} vanished", r.order_id)))
}

/// Expires up to `limit` active reservations whose time is up: gives their units back and
/// publishes `inventory.reservation_expired` for each. Reservations another transaction holds
/// (being committed or released right now) are skipped. Returns how many expired.
pub async fn expire_batch(pool: &PgPool, limit: i64) -> Result<usize> {
    in_tx!(pool, |tx| expire_batch_in(&mut tx, limit))
}

async fn expire_batch_in(tx: &mut PgConnection, limit: i64) -> Result<usize> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM reservations
          WHERE status = 'active' AND expires_at <= now()
          ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Every line of the batch in one query.
    let order_ids: Vec<Uuid> = rows
        .iter()
        .map(|r| r.try_get("order_id"))
        .collect::<Result<_, _>>()?;
    let line_rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT order_id, sku, quantity FROM reservation_lines
          WHERE order_id = ANY($1) ORDER BY order_id, line_no",
    )
    .bind(&order_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut lines: HashMap<Uuid, Vec<Line>> = HashMap::new();
    for (order_id, sku, quantity) in &line_rows {
        lines
            .entry(*order_id)
            .or_default()
            .push(stored_line(sku, *quantity)?);
    }
    let due = rows
        .iter()
        .zip(&order_ids)
        .map(|(r, o)| {
            with_lines(
                r,
                ReservationLines::from_stored(lines.remove(o).unwrap_or_default()),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let skus: BTreeSet<String> = due
        .iter()
        .flat_map(|r| r.lines.lines().iter().map(|l| l.sku.to_string()))
        .collect();
    lock_stock(tx, &skus.into_iter().collect::<Vec<_>>()).await?;
    for r in &due {
        let ctx = ChangeContext {
            reason: MovementReason::Expire,
            note: "",
            order_id: Some(r.order_id),
            actor: Actor::System,
            idempotency_key: None,
        };
        apply_stock_changes(tx, &give_back(r), &ctx).await?;
        super::announce::reservation_expired(tx, r).await?;
    }
    let ids: Vec<Uuid> = due.iter().map(|r| r.id).collect();
    sqlx::query(
        "UPDATE reservations SET status = 'expired', release_reason = 'expired', updated_at = now()
          WHERE id = ANY($1)",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    Ok(due.len())
}
