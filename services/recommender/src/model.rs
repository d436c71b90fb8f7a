//! From tracking events to signals, and applying a signal to Redis in one Lua script together
//! with the consumer position (`recommender:offsets`, field `topic:partition`).
//!
//! Each tracking event is published on `user-events` (and most also on their own topic): it is
//! read from `user-events` only, so it counts once and the broker serves it once.
//! Only tracking events (source `/storefront/event`) count: a client's
//! `tracking.cart_item_added` counts, the cart service's own `cart.item_added` on `cart-events`
//! (the same action seen by the cart) does not.

use kit::cache::Keys;
use kit::contracts::Event;
use kit::contracts::events::tracking::{
    CartItemAddTracked, ProductClicked, ProductViewed, PurchaseCompleted, WishlistItemAdded,
};
use kit::events::CloudEvent;
use redis::Script;
use serde_json::Value;
use uuid::Uuid;

use crate::config::RecommenderSettings;

/// The `source` of tracking events.
pub const TRACKING_SOURCE: &str = "/storefront/event";

/// How much one event type says about interest in a product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    /// Added to `rec:popular` (and, decayed, `rec:trending`) per unit.
    pub popularity: f64,
    /// Co-occurrence with each of the visitor's recent items.
    pub pair: f64,
    /// Co-occurrence between items bought together.
    pub basket: f64,
}

const PURCHASE_COMPLETED: &str = <PurchaseCompleted as Event>::TYPE;

/// Weights of the event types the model uses.
pub fn weights(event_type: &str) -> Option<Weights> {
    fn of<E: Event>(popularity: f64, pair: f64, basket: f64) -> (&'static str, Weights) {
        let w = Weights {
            popularity,
            pair,
            basket,
        };
        (E::TYPE, w)
    }
    let (_, w) = [
        of::<ProductViewed>(1.0, 1.0, 0.0),
        of::<ProductClicked>(2.0, 1.0, 0.0),
        of::<CartItemAddTracked>(3.0, 2.0, 0.0),
        of::<WishlistItemAdded>(3.0, 2.0, 0.0),
        of::<PurchaseCompleted>(10.0, 3.0, 5.0),
    ]
    .into_iter()
    .find(|(t, _)| *t == event_type)?;
    Some(w)
}

/// Who did it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    Anonymous(String),
}

/// One event as the model sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    pub actor: Actor,
    pub weights: Weights,
    pub purchase: bool,
    /// (product id, units).
    pub items: Vec<(Uuid, i64)>,
    /// Event time, unix seconds.
    pub time: f64,
}

/// The signal of an event read from `topic` (unprefixed name), or `None` when the model does not
/// use it there.
pub fn signal(event: &CloudEvent, topic: &str) -> Option<Signal> {
    if event.source != TRACKING_SOURCE {
        return None;
    }
    // Every tracking event is on `user-events`; the copies on the types' own topics are not read.
    if topic != kit::events::topics::USER_EVENTS {
        return None;
    }
    let weights = weights(&event.event_type)?;
    let d = &event.data;
    let actor = match d.get("user_id").and_then(Value::as_str) {
        Some(u) => Actor::User(Uuid::parse_str(u).ok()?),
        None => {
            let a = d.get("anonymous_id").and_then(Value::as_str)?;
            let ok = !a.is_empty()
                && a.len() <= 128
                && a.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c));
            if !ok {
                return None;
            }
            Actor::Anonymous(a.to_owned())
        }
    };
    let purchase = event.event_type == PURCHASE_COMPLETED;
    let items: Vec<(Uuid, i64)> = if purchase {
        d.get("items")?
            .as_array()?
            .iter()
            .filter_map(|i| {
                let id = Uuid::parse_str(i.get("product_id")?.as_str()?).ok()?;
                let q = i.get("quantity").and_then(Value::as_i64).unwrap_or(1);
                Some((id, q.clamp(1, 1000)))
            })
            .collect()
    } else {
        let id = Uuid::parse_str(d.get("product_id")?.as_str()?).ok()?;
        vec![(id, 1)]
    };
    if items.is_empty() {
        return None;
    }
    let time = event.time.unix_timestamp_nanos() as f64 / 1e9;
    Some(Signal {
        actor,
        weights,
        purchase,
        items,
        time,
    })
}

/// Redis names of the model's own (non-contract) state.
pub fn offsets_key(keys: &Keys) -> String {
    keys.key("recommender:offsets")
}

fn recent_key(keys: &Keys, actor: &Actor) -> String {
    match actor {
        // Also read by recommendation ("similar to recently viewed").
        Actor::User(u) => keys.rec_recent(u),
        Actor::Anonymous(a) => keys.key(format_args!("recommender:anon:{a}:recent")),
    }
}

/// Applies signals to Redis.
#[derive(Clone)]
pub struct Model {
    keys: Keys,
    prefix: String,
    settings: RecommenderSettings,
    script: std::sync::Arc<Script>,
}

impl Model {
    pub fn new(keys: Keys, prefix: String, settings: RecommenderSettings) -> Self {
        Self {
            keys,
            prefix,
            settings,
            script: std::sync::Arc::new(Script::new(include_str!("apply.lua"))),
        }
    }

    /// Applies `signal` read at `topic:partition` `offset`; `false` when that offset had been
    /// applied already (a replay after a restart).
    pub async fn apply(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        signal: &Signal,
        position: &str,
        offset: i64,
    ) -> redis::RedisResult<bool> {
        let k = &self.keys;
        let s = &self.settings;
        let (user, user_part) = match &signal.actor {
            Actor::User(u) => (true, u.to_string()),
            Actor::Anonymous(_) => (false, "_anonymous".to_owned()),
        };
        let mut inv = self.script.prepare_invoke();
        inv.key(offsets_key(k))
            .key(k.rec_popular())
            .key(k.rec_trending())
            .key(k.key("recommender:trending:epoch"))
            .key(recent_key(k, &signal.actor))
            .key(k.key("recommender:item_weights"))
            .key(k.key(format_args!("recommender:user:{user_part}:bought")))
            .key(k.rec_personalized(&user_part))
            .key(k.rec_user_generation(&user_part));
        inv.arg(position)
            .arg(offset)
            .arg(&self.prefix)
            .arg(format!("{:.3}", signal.time))
            .arg(signal.weights.popularity)
            .arg(signal.weights.pair)
            .arg(signal.weights.basket)
            .arg(if user { "1" } else { "0" })
            .arg(if signal.purchase { "1" } else { "0" })
            .arg(s.recent_len)
            .arg(s.similar_len)
            .arg(s.cooccurrence_len)
            .arg(s.popular_len)
            .arg(s.trending_len)
            .arg(s.personalized_len)
            .arg(s.trending_half_life_secs)
            .arg(s.user_ttl_secs)
            .arg(s.neighbours)
            .arg(s.personalized_sources);
        for (id, q) in &signal.items {
            inv.arg(id.to_string()).arg(*q);
        }
        let applied: i64 = inv.invoke_async(conn).await?;
        Ok(applied == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit::events::topics;
    use serde_json::json;

    fn ev(t: &str, data: Value) -> CloudEvent {
        CloudEvent::new(TRACKING_SOURCE, t, None, data)
    }

    #[test]
    fn each_type_counts_once_from_user_events() {
        let p = Uuid::now_v7();
        let u = Uuid::now_v7();
        let viewed = ev(
            "product.viewed",
            json!({"user_id": u, "anonymous_id": null, "product_id": p}),
        );
        let s = signal(&viewed, topics::USER_EVENTS).unwrap();
        assert_eq!(s.actor, Actor::User(u));
        assert_eq!(s.items, vec![(p, 1)]);
        assert!(signal(&viewed, topics::PRODUCT_VIEWS).is_none());

        let wish = ev(
            "wishlist.item_added",
            json!({"user_id": null, "anonymous_id": "v-1", "product_id": p}),
        );
        assert_eq!(
            signal(&wish, topics::USER_EVENTS).unwrap().actor,
            Actor::Anonymous("v-1".into())
        );
        let tracked = ev(
            "tracking.cart_item_added",
            json!({"user_id": u, "product_id": p}),
        );
        assert_eq!(
            signal(&tracked, topics::USER_EVENTS)
                .unwrap()
                .weights
                .popularity,
            3.0
        );
        assert!(signal(&tracked, topics::CART_EVENTS).is_none());
        let mut from_cart = ev("cart.item_added", json!({"user_id": u, "product_id": p}));
        from_cart.source = "/storefront/cart".into();
        assert!(signal(&from_cart, topics::USER_EVENTS).is_none());
        assert!(
            signal(
                &ev("search.performed", json!({"user_id": u})),
                topics::USER_EVENTS
            )
            .is_none()
        );
    }

    #[test]
    fn purchases_carry_every_line() {
        let (a, b, u) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let e = ev(
            "purchase.completed",
            json!({"user_id": u, "items": [{"product_id": a, "quantity": 2}, {"product_id": b, "quantity": 1}]}),
        );
        let s = signal(&e, topics::USER_EVENTS).unwrap();
        assert!(s.purchase);
        assert_eq!(s.items, vec![(a, 2), (b, 1)]);
    }
}
