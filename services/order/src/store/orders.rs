//! Orders with their lines and status history. Status changes are guarded by the expected
//! current status (`WHERE status = $expected`), so two concurrent changes never both apply.

use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use kit::pricing::Breakdown;
use kit::totals::ShippingChoice;

use crate::domain::{Address, OrderStatus, Reason};

/// One line of an order: what was bought at which price (a snapshot from product).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderItem {
    pub sku: String,
    pub product_id: Uuid,
    pub name: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub line_total: i64,
}

/// One status an order has entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    pub status: OrderStatus,
    pub reason: Option<String>,
    pub at: OffsetDateTime,
}

/// An order with its lines and history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub status: OrderStatus,
    pub currency: String,
    pub subtotal: i64,
    pub total: i64,
    pub payment_method_id: Uuid,
    pub shipping_address: Address,
    pub transaction_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub reservation_expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub items: Vec<OrderItem>,
    pub history: Vec<HistoryEntry>,
    /// The priced order (absent on orders placed before checkout totals: their total was their
    /// subtotal).
    pub breakdown: Option<Breakdown>,
    pub shipping_method: Option<ShippingChoice>,
    /// The promotion code that applied, as stored (uppercase).
    pub promotion_code: Option<String>,
}

impl Order {
    /// The stored breakdown, or the one of an order placed before there were any (lines at
    /// their price, nothing else).
    pub fn breakdown(&self) -> Breakdown {
        if let Some(b) = &self.breakdown {
            return b.clone();
        }
        Breakdown {
            currency: self.currency.clone(),
            mode: kit::pricing::PriceMode::TaxExclusive,
            lines: self
                .items
                .iter()
                .map(|i| kit::pricing::LineBreakdown {
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                    unit_price: i.unit_price,
                    gross: i.line_total,
                    discount: 0,
                    tax: 0,
                    tax_rate_ppm: 0,
                    total: i.line_total,
                })
                .collect(),
            subtotal: self.subtotal,
            discount_total: 0,
            shipping: 0,
            shipping_discount: 0,
            shipping_tax: 0,
            tax_total: 0,
            taxes: Vec::new(),
            applied: Vec::new(),
            total: self.total,
        }
    }
}

const ORDER_COLUMNS: &str = "id, user_id, status, currency, subtotal, total, payment_method_id, \
     shipping_address, transaction_id, carrier, tracking_number, reservation_expires_at, \
     created_at, updated_at, breakdown, shipping_method, promotion_code";

fn json_column<T: serde::de::DeserializeOwned>(
    r: &sqlx::postgres::PgRow,
    name: &str,
) -> Result<Option<T>, sqlx::Error> {
    let v: Option<serde_json::Value> = r.try_get(name)?;
    v.map(serde_json::from_value)
        .transpose()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn order_from_row(r: &sqlx::postgres::PgRow) -> Result<Order, sqlx::Error> {
    let status: String = r.try_get("status")?;
    let address: serde_json::Value = r.try_get("shipping_address")?;
    Ok(Order {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        status: OrderStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown order status {status}").into()))?,
        currency: r.try_get("currency")?,
        subtotal: r.try_get("subtotal")?,
        total: r.try_get("total")?,
        payment_method_id: r.try_get("payment_method_id")?,
        shipping_address: serde_json::from_value(address)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        transaction_id: r.try_get("transaction_id")?,
        carrier: r.try_get("carrier")?,
        tracking_number: r.try_get("tracking_number")?,
        reservation_expires_at: r.try_get("reservation_expires_at")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        items: Vec::new(),
        history: Vec::new(),
        breakdown: json_column(r, "breakdown")?,
        shipping_method: json_column(r, "shipping_method")?,
        promotion_code: r.try_get("promotion_code")?,
    })
}

/// Fills in the lines and history of `orders` (two queries whatever their number).
async fn attach(conn: &mut PgConnection, orders: &mut [Order]) -> Result<(), sqlx::Error> {
    if orders.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id).collect();
    let items = sqlx::query(
        "SELECT order_id, sku, product_id, name, quantity, unit_price, line_total
           FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, line_no",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for r in items {
        let order_id: Uuid = r.try_get("order_id")?;
        if let Some(o) = orders.iter_mut().find(|o| o.id == order_id) {
            o.items.push(OrderItem {
                sku: r.try_get("sku")?,
                product_id: r.try_get("product_id")?,
                name: r.try_get("name")?,
                quantity: r.try_get("quantity")?,
                unit_price: r.try_get("unit_price")?,
                line_total: r.try_get("line_total")?,
            });
        }
    }
    let history = sqlx::query(
        "SELECT order_id, status, reason, created_at
           FROM order_status_history WHERE order_id = ANY($1) ORDER BY order_id, id",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for r in history {
        let order_id: Uuid = r.try_get("order_id")?;
        let status: String = r.try_get("status")?;
        if let (Some(o), Some(status)) = (
            orders.iter_mut().find(|o| o.id == order_id),
            OrderStatus::parse(&status),
        ) {
            o.history.push(HistoryEntry {
                status,
                reason: r.try_get("reason")?,
                at: r.try_get("created_at")?,
            });
        }
    }
    Ok(())
}

/// The order, with lines and history. With `lock`, its row stays locked until the transaction
/// ends (every status change reads this way first).
pub async fn get(
    conn: &mut PgConnection,
    id: Uuid,
    lock: bool,
) -> Result<Option<Order>, sqlx::Error> {
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut orders = vec![order_from_row(&row)?];
    attach(conn, &mut orders).await?;
    Ok(orders.pop())
}

/// [`get`] on a pooled connection.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Order>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    get(&mut conn, id, false).await
}

/// A user's orders, newest first, after the order `after` (keyset on the UUIDv7 id).
pub async fn list_for_user(
    pool: &PgPool,
    user_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Order>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders
          WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut orders = rows
        .iter()
        .map(order_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    attach(&mut conn, &mut orders).await?;
    Ok(orders)
}

/// Inserts a new order (status `pending_payment`), its lines and its first history row.
pub async fn insert(tx: &mut PgConnection, o: &Order) -> Result<(), sqlx::Error> {
    let address = serde_json::to_value(&o.shipping_address).expect("an address serialises");
    sqlx::query(
        "INSERT INTO orders (id, user_id, status, currency, subtotal, total, payment_method_id,
                             shipping_address, reservation_expires_at, created_at, updated_at,
                             breakdown, shipping_method, promotion_code)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13)",
    )
    .bind(o.id)
    .bind(o.user_id)
    .bind(o.status.as_str())
    .bind(&o.currency)
    .bind(o.subtotal)
    .bind(o.total)
    .bind(o.payment_method_id)
    .bind(address)
    .bind(o.reservation_expires_at)
    .bind(o.created_at)
    .bind(
        o.breakdown
            .as_ref()
            .map(|b| serde_json::to_value(b).expect("a breakdown serialises")),
    )
    .bind(
        o.shipping_method
            .as_ref()
            .map(|m| serde_json::to_value(m).expect("a method serialises")),
    )
    .bind(&o.promotion_code)
    .execute(&mut *tx)
    .await?;
    let line_no: Vec<i32> = (1..=o.items.len() as i32).collect();
    let sku: Vec<&str> = o.items.iter().map(|i| i.sku.as_str()).collect();
    let product_id: Vec<Uuid> = o.items.iter().map(|i| i.product_id).collect();
    let name: Vec<&str> = o.items.iter().map(|i| i.name.as_str()).collect();
    let quantity: Vec<i64> = o.items.iter().map(|i| i.quantity).collect();
    let unit_price: Vec<i64> = o.items.iter().map(|i| i.unit_price).collect();
    let line_total: Vec<i64> = o.items.iter().map(|i| i.line_total).collect();
    sqlx::query(
        "INSERT INTO order_items (order_id, line_no, sku, product_id, name, quantity, unit_price, line_total)
         SELECT $1, * FROM UNNEST($2::int[], $3::text[], $4::uuid[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])",
    )
    .bind(o.id)
    .bind(&line_no)
    .bind(&sku)
    .bind(&product_id)
    .bind(&name)
    .bind(&quantity)
    .bind(&unit_price)
    .bind(&line_total)
    .execute(&mut *tx)
    .await?;
    append_history(
        tx,
        o.id,
        None,
        o.status,
        Reason::CheckoutCompleted,
        o.created_at,
    )
    .await
}

async fn append_history(
    tx: &mut PgConnection,
    order_id: Uuid,
    from: Option<OrderStatus>,
    to: OrderStatus,
    reason: Reason,
    at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO order_status_history (order_id, from_status, status, reason, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(order_id)
    .bind(from.map(OrderStatus::as_str))
    .bind(to.as_str())
    .bind(reason.as_str())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Fields a status change may set besides the status.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    pub transaction_id: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
}

/// Moves `order` from its current status to `to` if it still has that status, appending the
/// history row in the same transaction. Returns the order as it is now, or `None` when its
/// status changed meanwhile (nothing was written). The caller checked the transition.
pub async fn change_status(
    tx: &mut PgConnection,
    order: &Order,
    to: OrderStatus,
    reason: Reason,
    extra: Extra,
) -> Result<Option<Order>, sqlx::Error> {
    let now = super::now();
    let done = sqlx::query(
        "UPDATE orders SET status = $3, updated_at = $4,
                transaction_id = COALESCE($5, transaction_id),
                carrier = COALESCE($6, carrier),
                tracking_number = COALESCE($7, tracking_number)
          WHERE id = $1 AND status = $2",
    )
    .bind(order.id)
    .bind(order.status.as_str())
    .bind(to.as_str())
    .bind(now)
    .bind(&extra.transaction_id)
    .bind(&extra.carrier)
    .bind(&extra.tracking_number)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    append_history(tx, order.id, Some(order.status), to, reason, now).await?;
    if order.status == OrderStatus::PendingPayment && to == OrderStatus::Cancelled {
        // An order cancelled before payment gives its promotion uses back.
        crate::totals::store::release(tx, order.id).await?;
    }
    let mut updated = order.clone();
    updated.status = to;
    updated.updated_at = now;
    updated.transaction_id = extra.transaction_id.or(updated.transaction_id);
    updated.carrier = extra.carrier.or(updated.carrier);
    updated.tracking_number = extra.tracking_number.or(updated.tracking_number);
    updated.history.push(HistoryEntry {
        status: to,
        reason: Some(reason.as_str().to_owned()),
        at: now,
    });
    Ok(Some(updated))
}
