//! The soak's verdict: the money and stock checks against the platform's own databases, and the
//! resource checks over the samples.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use uuid::Uuid;

use super::sample::Sample;

/// One check: what was checked, whether it held, what was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, ok: bool, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            ok,
            detail,
        }
    }

    pub fn json(&self) -> Value {
        json!({"check": self.name, "ok": self.ok, "detail": self.detail})
    }
}

/// The median of the values `f` gives for samples with `from <= t < to`.
pub fn level(
    samples: &[Sample],
    from: f64,
    to: f64,
    f: impl Fn(&Sample) -> Option<f64>,
) -> Option<f64> {
    let mut v: Vec<f64> = samples
        .iter()
        .filter(|s| s.t >= from && s.t < to)
        .filter_map(f)
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// A level after the run compared with the level after the warm-up: at most `ratio` times it
/// plus `slack` (descriptors and connections move by a few with the requests in flight).
pub fn bounded(
    name: &str,
    unit: &str,
    warm: Option<f64>,
    end: Option<f64>,
    ratio: f64,
    slack: f64,
) -> Check {
    match (warm, end) {
        (Some(w), Some(e)) => {
            let limit = w * ratio + slack;
            Check::new(
                name,
                e <= limit,
                format!("after warm-up {w:.1} {unit}, at the end {e:.1} {unit} (limit {limit:.1})"),
            )
        }
        _ => Check::new(name, false, "no samples in the compared windows".into()),
    }
}

/// The orders, charges and stock as the platform's databases hold them after the run settled.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Order id → (status, total).
    pub orders: BTreeMap<Uuid, (String, i64)>,
    /// Units of `sku` per paid order.
    pub paid_units: i64,
    /// Order id → amounts of its succeeded charges.
    pub charges: BTreeMap<Uuid, Vec<i64>>,
    /// Order id → amount refunded (succeeded refunds).
    pub refunded: BTreeMap<Uuid, i64>,
    /// (on hand, reserved) of the bought SKU, and the sums of its ledger's deltas.
    pub stock: (i64, i64),
    pub movements: (i64, i64),
    /// Reservations still active.
    pub active_reservations: i64,
    /// (on hand, reserved) of the SKU the cart scenario only adds and removes.
    pub cart_stock: (i64, i64),
}

/// Checks of money and stock: nothing lost, stuck or doubled.
pub fn ledger_checks(l: &Ledger, created: &[String], initial_units: i64) -> Vec<Check> {
    let mut out = Vec::new();
    let stuck: Vec<_> = l
        .orders
        .iter()
        .filter(|(_, (s, _))| s == "pending_payment")
        .map(|(id, _)| id.to_string())
        .collect();
    let by_status = l
        .orders
        .values()
        .fold(BTreeMap::<&str, usize>::new(), |mut m, (s, _)| {
            *m.entry(s.as_str()).or_default() += 1;
            m
        });
    out.push(Check::new(
        "no order stuck",
        stuck.is_empty() && !l.orders.is_empty(),
        format!("orders by status {by_status:?}; still pending: {stuck:?}"),
    ));
    let known: HashSet<String> = l.orders.keys().map(Uuid::to_string).collect();
    let lost: Vec<&String> = created.iter().filter(|id| !known.contains(*id)).collect();
    out.push(Check::new(
        "no order lost",
        lost.is_empty(),
        format!(
            "{} checkouts answered 201, {} of them missing from the order database {lost:?}",
            created.len(),
            lost.len()
        ),
    ));
    let mut bad = Vec::new();
    for (id, (status, total)) in &l.orders {
        let charges = l.charges.get(id).map(Vec::as_slice).unwrap_or(&[]);
        let refunded = l.refunded.get(id).copied().unwrap_or(0);
        let ok = match status.as_str() {
            "paid" => charges == [*total] && refunded == 0,
            // Cancelled: either never charged, or charged once and refunded in full.
            "cancelled" => charges.is_empty() || (charges.len() == 1 && refunded == charges[0]),
            _ => true,
        };
        if !ok {
            bad.push(format!(
                "{id} {status} total {total}: charges {charges:?}, refunded {refunded}"
            ));
        }
    }
    let strays: Vec<_> = l
        .charges
        .keys()
        .filter(|id| !l.orders.contains_key(id))
        .collect();
    out.push(Check::new(
        "every paid order charged exactly once, its total",
        bad.is_empty() && strays.is_empty(),
        format!(
            "{} orders with charges; wrong: {:?}; charges of unknown orders: {strays:?}",
            l.charges.len(),
            bad.iter().take(10).collect::<Vec<_>>()
        ),
    ));
    let (on_hand, reserved) = l.stock;
    out.push(Check::new(
        "stock balanced",
        reserved == 0
            && l.active_reservations == 0
            && initial_units - on_hand == l.paid_units
            && l.movements == l.stock
            && l.cart_stock == (initial_units, 0),
        format!(
            "bought SKU: {initial_units} stocked, {on_hand} on hand, {reserved} reserved, {} units in paid orders, \
             ledger sums {:?}, active reservations {}; cart-only SKU {:?}",
            l.paid_units, l.movements, l.active_reservations, l.cart_stock
        ),
    ));
    out
}

/// Reads the [`Ledger`] from the platform's order, payment and inventory databases.
pub async fn read_ledger(
    pg: &storefront_kit::config::PostgresSettings,
    buy_sku: &str,
    cart_sku: &str,
) -> anyhow::Result<Ledger> {
    let db = |service: &str| {
        let name = storefront_kit::db::database_name(pg, service);
        let opts = storefront_kit::db::connect_options(pg, &name)
            .map(|o| o.application_name("storefront-soak"));
        async move {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect_with(opts?)
                .await?;
            anyhow::Ok(pool)
        }
    };
    let mut l = Ledger::default();
    let order = db("order").await?;
    for (id, status, total) in
        sqlx::query_as::<_, (Uuid, String, i64)>("SELECT id, status, total FROM orders")
            .fetch_all(&order)
            .await?
    {
        l.orders.insert(id, (status, total));
    }
    l.paid_units = sqlx::query_scalar(
        "SELECT coalesce(sum(i.quantity), 0)::bigint FROM order_items i JOIN orders o ON o.id = i.order_id
          WHERE o.status = 'paid' AND i.sku = $1",
    )
    .bind(buy_sku)
    .fetch_one(&order)
    .await?;
    order.close().await;
    let payment = db("payment").await?;
    for (id, kind, amount) in sqlx::query_as::<_, (Uuid, String, i64)>(
        "SELECT order_id, kind, amount FROM transactions WHERE status = 'succeeded' AND kind IN ('charge', 'refund')",
    )
    .fetch_all(&payment)
    .await?
    {
        if kind == "charge" {
            l.charges.entry(id).or_default().push(amount);
        } else {
            *l.refunded.entry(id).or_default() += amount;
        }
    }
    payment.close().await;
    let inventory = db("inventory").await?;
    let stock = |sku: &str| {
        sqlx::query_as::<_, (i64, i64)>("SELECT on_hand, reserved FROM stock WHERE sku = $1")
            .bind(sku.to_owned())
            .fetch_one(&inventory)
    };
    l.stock = stock(buy_sku).await?;
    l.cart_stock = stock(cart_sku).await?;
    l.movements = sqlx::query_as(
        "SELECT coalesce(sum(delta_on_hand), 0)::bigint, coalesce(sum(delta_reserved), 0)::bigint
           FROM stock_movements WHERE sku = $1",
    )
    .bind(buy_sku)
    .fetch_one(&inventory)
    .await?;
    l.active_reservations =
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE status = 'active'")
            .fetch_one(&inventory)
            .await?;
    inventory.close().await;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: f64, mib: u64) -> Sample {
        Sample {
            t,
            rss_kib: [("all".to_owned(), mib * 1024)].into(),
            ..Sample::default()
        }
    }

    #[test]
    fn levels_are_medians_of_their_window() {
        let s: Vec<_> = [(0.0, 100), (1.0, 300), (2.0, 110), (3.0, 500), (4.0, 120)]
            .into_iter()
            .map(|(t, m)| sample(t, m))
            .collect();
        assert_eq!(level(&s, 0.0, 3.0, |x| Some(x.rss_mib())), Some(110.0));
        assert_eq!(level(&s, 3.0, 5.0, |x| Some(x.rss_mib())), Some(500.0));
        assert_eq!(level(&s, 10.0, 20.0, |x| Some(x.rss_mib())), None);
        assert!(bounded("rss", "MiB", Some(100.0), Some(119.0), 1.2, 0.0).ok);
        assert!(!bounded("rss", "MiB", Some(100.0), Some(121.0), 1.2, 0.0).ok);
        assert!(!bounded("rss", "MiB", None, Some(1.0), 1.2, 0.0).ok);
    }

    fn paid_ledger() -> (Ledger, Vec<String>) {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let mut l = Ledger::default();
        l.orders.insert(a, ("paid".into(), 1999));
        l.orders.insert(b, ("paid".into(), 3998));
        l.charges.insert(a, vec![1999]);
        l.charges.insert(b, vec![3998]);
        l.paid_units = 3;
        l.stock = (97, 0);
        l.movements = (97, 0);
        l.cart_stock = (100, 0);
        (l, vec![a.to_string(), b.to_string()])
    }

    #[test]
    fn a_consistent_ledger_passes() {
        let (l, created) = paid_ledger();
        let checks = ledger_checks(&l, &created, 100);
        assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    }

    #[test]
    fn each_kind_of_damage_fails_its_check() {
        let failed = |l: &Ledger, created: &[String]| -> Vec<String> {
            ledger_checks(l, created, 100)
                .into_iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect()
        };
        let (mut l, created) = paid_ledger();
        let id = *l.orders.keys().next().unwrap();
        l.charges.get_mut(&id).unwrap().push(1999);
        assert_eq!(
            failed(&l, &created),
            ["every paid order charged exactly once, its total"]
        );

        let (mut l, created) = paid_ledger();
        let id = *l.orders.keys().next().unwrap();
        l.orders.get_mut(&id).unwrap().0 = "pending_payment".into();
        assert!(failed(&l, &created).contains(&"no order stuck".to_owned()));

        let (l, mut created) = paid_ledger();
        created.push(Uuid::now_v7().to_string());
        assert_eq!(failed(&l, &created), ["no order lost"]);

        let (mut l, created) = paid_ledger();
        l.stock = (96, 0);
        assert_eq!(failed(&l, &created), ["stock balanced"]);
        let (mut l, created) = paid_ledger();
        l.stock = (97, 1);
        l.movements = (97, 1);
        assert_eq!(failed(&l, &created), ["stock balanced"]);

        // A cancelled order charged and refunded in full is fine; charged and kept is not.
        let (mut l, created) = paid_ledger();
        let id = *l.orders.keys().next().unwrap();
        l.orders.get_mut(&id).unwrap().0 = "cancelled".into();
        l.paid_units = 2;
        l.stock = (98, 0);
        l.movements = (98, 0);
        l.refunded.insert(id, 1999);
        assert!(failed(&l, &created).is_empty());
        l.refunded.clear();
        assert_eq!(
            failed(&l, &created),
            ["every paid order charged exactly once, its total"]
        );
    }
}
