//! Every event of the platform: its CloudEvents `type`, the one topic it is published on, the
//! `source` of its producer and its payload (`data`), each written once here.
//!
//! A producer builds the payload type and hands it to `kit::outbox::OutboxEvent::of`; a consumer
//! asks `kit::events::CloudEvent::decode::<T>()`. [`ALL`] lists every type; a test checks that
//! each has exactly one topic and one payload schema and that every payload round-trips.
//!
//! Client tracking events (`product.viewed`, `search.performed`, ...) are published on their own
//! topic and, with the same id, on `user-events`, the per-visitor stream of everything a visitor
//! did (seed design, "Event Tracking Flow for ML"): [`Event::COPY_ON`].

pub mod cart;
pub mod inventory;
pub mod order;
pub mod payment;
pub mod product;
pub mod tracking;
pub mod user;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Topic names of ARCHITECTURE.md (before the optional `kafka.topic_prefix`).
pub mod topics {
    pub const USER_EVENTS: &str = "user-events";
    pub const ORDER_EVENTS: &str = "order-events";
    pub const INVENTORY_EVENTS: &str = "inventory-events";
    pub const PAYMENT_EVENTS: &str = "payment-events";
    pub const NOTIFICATION_EVENTS: &str = "notification-events";
    pub const PRODUCT_EVENTS: &str = "product-events";
    pub const PRODUCT_VIEWS: &str = "product-views";
    pub const CART_EVENTS: &str = "cart-events";
    pub const SEARCH_EVENTS: &str = "search-events";
    /// Every topic of the platform.
    pub const ALL: [&str; 9] = [
        USER_EVENTS,
        ORDER_EVENTS,
        INVENTORY_EVENTS,
        PAYMENT_EVENTS,
        NOTIFICATION_EVENTS,
        PRODUCT_EVENTS,
        PRODUCT_VIEWS,
        CART_EVENTS,
        SEARCH_EVENTS,
    ];
}

/// The CloudEvents `source` of each producer.
pub mod sources {
    pub const AUTH: &str = "/storefront/auth";
    pub const ORDER: &str = "/storefront/order";
    pub const PAYMENT: &str = "/storefront/payment";
    pub const INVENTORY: &str = "/storefront/inventory";
    pub const PRODUCT: &str = "/storefront/product";
    pub const CART: &str = "/storefront/cart";
    pub const EVENT: &str = "/storefront/event";
}

/// A payload with its place in the contract.
pub trait Event: Serialize + DeserializeOwned {
    /// CloudEvents `type`, dotted and past tense.
    const TYPE: &'static str;
    /// The topic it is published on (before the prefix).
    const TOPIC: &'static str;
    /// The `source` of its producer.
    const SOURCE: &'static str;
    /// `user-events` for client tracking events: the per-visitor stream carries a copy of each
    /// (the same id) besides its own topic.
    const COPY_ON: Option<&'static str> = None;
}

/// One event type as [`ALL`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub event_type: &'static str,
    pub topic: &'static str,
    pub source: &'static str,
    /// [`Event::COPY_ON`].
    pub copy_on: Option<&'static str>,
    /// The Rust type of its payload (its schema).
    pub payload: &'static str,
}

macro_rules! registry {
    (@copy) => { None };
    (@copy $copy:ident) => { Some(topics::$copy) };
    ($($payload:ty => $ty:literal on $topic:ident $(+ $copy:ident)? from $source:ident;)*) => {
        $(
            impl Event for $payload {
                const TYPE: &'static str = $ty;
                const TOPIC: &'static str = topics::$topic;
                const SOURCE: &'static str = sources::$source;
                const COPY_ON: Option<&'static str> = registry!(@copy $($copy)?);
            }
        )*
        /// Every event type of the platform.
        pub const ALL: &[Spec] = &[$(Spec {
            event_type: $ty,
            topic: topics::$topic,
            source: sources::$source,
            copy_on: registry!(@copy $($copy)?),
            payload: stringify!($payload),
        }),*];
    };
}

registry! {
    user::UserRegistered => "user.registered" on USER_EVENTS from AUTH;
    order::OrderCreated => "order.created" on ORDER_EVENTS from ORDER;
    order::OrderPaid => "order.paid" on ORDER_EVENTS from ORDER;
    order::OrderCancelled => "order.cancelled" on ORDER_EVENTS from ORDER;
    order::OrderShipped => "order.shipped" on ORDER_EVENTS from ORDER;
    order::OrderDelivered => "order.delivered" on ORDER_EVENTS from ORDER;
    order::OrderRefundRequested => "order.refund_requested" on ORDER_EVENTS from ORDER;
    order::OrderRefunded => "order.refunded" on ORDER_EVENTS from ORDER;
    payment::PaymentCompleted => "payment.completed" on PAYMENT_EVENTS from PAYMENT;
    payment::PaymentFailed => "payment.failed" on PAYMENT_EVENTS from PAYMENT;
    payment::PaymentRefunded => "payment.refunded" on PAYMENT_EVENTS from PAYMENT;
    inventory::StockChanged => "inventory.stock_changed" on INVENTORY_EVENTS from INVENTORY;
    inventory::ReservationExpired => "inventory.reservation_expired" on INVENTORY_EVENTS from INVENTORY;
    cart::CartItemAdded => "cart.item_added" on CART_EVENTS from CART;
    cart::CartItemRemoved => "cart.item_removed" on CART_EVENTS from CART;
    tracking::PurchaseCompleted => "purchase.completed" on USER_EVENTS from EVENT;
    tracking::ProductViewed => "product.viewed" on PRODUCT_VIEWS + USER_EVENTS from EVENT;
    tracking::ProductClicked => "product.clicked" on PRODUCT_VIEWS + USER_EVENTS from EVENT;
    tracking::SearchPerformed => "search.performed" on SEARCH_EVENTS + USER_EVENTS from EVENT;
    tracking::CartItemAddTracked => "tracking.cart_item_added" on CART_EVENTS + USER_EVENTS from EVENT;
    tracking::CartItemRemoveTracked => "tracking.cart_item_removed" on CART_EVENTS + USER_EVENTS from EVENT;
    tracking::WishlistItemAdded => "wishlist.item_added" on USER_EVENTS from EVENT;
    product::ProductCreated => "product.created" on PRODUCT_EVENTS from PRODUCT;
    product::ProductUpdated => "product.updated" on PRODUCT_EVENTS from PRODUCT;
    product::ProductArchived => "product.archived" on PRODUCT_EVENTS from PRODUCT;
    product::ProductDeleted => "product.deleted" on PRODUCT_EVENTS from PRODUCT;
}

/// The spec of `event_type`, if the platform has such an event.
pub fn spec(event_type: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.event_type == event_type)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::{Value, json};
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::money::Money;
    use crate::totals::{
        Applied, Breakdown, DeliveryDays, LineBreakdown, PriceMode, ShippingChoice, TaxLine,
    };

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn eur(amount: i64) -> Money {
        Money::new(amount, "EUR")
    }

    fn line() -> order::OrderLine {
        order::OrderLine {
            sku: "MUG-1".into(),
            product_id: id(7),
            name: "Blue mug".into(),
            quantity: 2,
            unit_price: eur(1250),
        }
    }

    fn breakdown() -> Breakdown {
        Breakdown {
            currency: "EUR".into(),
            mode: PriceMode::TaxInclusive,
            lines: vec![LineBreakdown {
                sku: "MUG-1".into(),
                quantity: 2,
                unit_price: 1250,
                gross: 2500,
                discount: 250,
                tax: 359,
                tax_rate_ppm: 190_000,
                total: 2250,
            }],
            subtotal: 2500,
            discount_total: 250,
            shipping: 990,
            shipping_discount: 0,
            shipping_tax: 158,
            tax_total: 517,
            taxes: vec![TaxLine {
                rate_ppm: 190_000,
                base: 3240,
                amount: 517,
            }],
            applied: vec![Applied {
                promotion_id: id(9),
                code: Some("WELCOME10".into()),
                amount: 250,
            }],
            total: 3240,
        }
    }

    fn product(at: time::OffsetDateTime) -> product::Product {
        product::Product {
            id: id(7),
            slug: "blue-mug".into(),
            name: "Blue mug".into(),
            brand: "Acme".into(),
            description: "A mug.".into(),
            status: product::ProductStatus::Active,
            tax_category: crate::totals::TaxCategory::Standard,
            version: 1,
            category_ids: vec![id(11)],
            tags: vec!["kitchen".into()],
            specifications: vec![product::Spec {
                name: "Material".into(),
                value: "Stoneware".into(),
            }],
            variants: vec![product::Variant {
                id: id(12),
                product_id: id(7),
                sku: "MUG-1".into(),
                attributes: [("color".to_owned(), "blue".to_owned())].into(),
                price: eur(1250),
                prices: vec![eur(1250), Money::new(1350, "USD")],
                compare_at_price: None,
                image_id: Some(id(13)),
                in_stock: true,
                weight_grams: 350,
                created_at: at,
                updated_at: at,
            }],
            images: vec![product::Image {
                id: id(13),
                product_id: id(7),
                variant_id: Some(id(12)),
                object_key: "products/7/13.jpg".into(),
                alt_text: "A blue mug".into(),
                position: 0,
                content_type: "image/jpeg".into(),
                size_bytes: 12_345,
                created_at: at,
            }],
            min_price: Some(1250),
            max_price: Some(1250),
            currency: Some("EUR".into()),
            created_at: at,
            updated_at: at,
        }
    }

    /// `value` serialised, decoded again and serialised again: the same payload and the same
    /// JSON, so nothing a producer writes is lost on the way to a consumer.
    fn round_trip<E: Event + PartialEq + std::fmt::Debug>(value: E) -> (&'static str, Value) {
        let json = serde_json::to_value(&value).unwrap();
        let back: E = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, value, "{}", E::TYPE);
        assert_eq!(serde_json::to_value(&back).unwrap(), json, "{}", E::TYPE);
        (E::TYPE, json)
    }

    fn examples() -> Vec<(&'static str, Value)> {
        let at = datetime!(2026-12-06 10:15:00 UTC);
        let shipping = ShippingChoice {
            id: id(3),
            name: "Express".into(),
            delivery_days: Some(DeliveryDays { min: 1, max: 2 }),
        };
        vec![
            round_trip(user::UserRegistered {
                user_id: id(1),
                email: "ada@example.com".into(),
                display_name: Some("Ada".into()),
                roles: vec!["customer".into()],
                registered_at: Some(at),
            }),
            round_trip(order::OrderCreated {
                order_id: id(2),
                user_id: id(1),
                payment_method_id: Some(id(4)),
                total: eur(3240),
                items: vec![line()],
                breakdown: Some(breakdown()),
                shipping_method: Some(shipping.clone()),
                promotion_code: Some("WELCOME10".into()),
                created_at: at,
            }),
            round_trip(order::OrderPaid {
                order_id: id(2),
                user_id: id(1),
                total: eur(3240),
                items: vec![line()],
                breakdown: Some(breakdown()),
                shipping_method: Some(shipping),
                promotion_code: None,
                transaction_id: Some(id(5).to_string()),
                paid_at: at,
            }),
            round_trip(order::OrderCancelled {
                order_id: id(2),
                user_id: id(1),
                reason: "payment_failed".into(),
                items: vec![line()],
                cancelled_at: at,
            }),
            round_trip(order::OrderShipped {
                order_id: id(2),
                user_id: id(1),
                carrier: Some("DHL".into()),
                tracking_number: Some("JD0001".into()),
                shipped_at: at,
            }),
            round_trip(order::OrderDelivered {
                order_id: id(2),
                user_id: id(1),
                delivered_at: at,
            }),
            round_trip(order::OrderRefundRequested {
                order_id: id(2),
                user_id: id(1),
                amount: eur(1125),
                reason: order::RefundReason::AdminRequested,
                lines: vec![order::RefundLine {
                    sku: "MUG-1".into(),
                    quantity: 1,
                }],
            }),
            round_trip(order::OrderRefunded {
                order_id: id(2),
                user_id: id(1),
                amount: eur(1125),
                refunded_at: at,
            }),
            round_trip(payment::PaymentCompleted {
                order_id: id(2),
                user_id: id(1),
                transaction_id: id(5).to_string(),
                amount: eur(3240),
                payment_method_id: id(4),
                brand: "visa".into(),
                last4: "4242".into(),
            }),
            round_trip(payment::PaymentFailed {
                order_id: id(2),
                user_id: id(1),
                code: payment::FailureCode::CardDeclined,
                message: "The card was declined.".into(),
            }),
            round_trip(payment::PaymentRefunded {
                order_id: id(2),
                user_id: id(1),
                transaction_id: id(5).to_string(),
                refund_id: id(6).to_string(),
                amount: eur(3240),
            }),
            round_trip(inventory::StockChanged {
                sku: "MUG-1".into(),
                on_hand: 10,
                reserved: 2,
                available: 8,
                reason: "reserve".into(),
                order_id: Some(id(2)),
            }),
            round_trip(inventory::ReservationExpired {
                order_id: id(2),
                reservation_id: id(8),
                user_id: id(1),
                lines: vec![inventory::SkuQuantity {
                    sku: "MUG-1".into(),
                    quantity: 2,
                }],
            }),
            round_trip(cart::CartItemAdded {
                cart_id: id(10),
                user_id: None,
                sku: "MUG-1".into(),
                quantity: 1,
                line_quantity: 3,
            }),
            round_trip(cart::CartItemRemoved {
                cart_id: id(10),
                user_id: Some(id(1)),
                sku: "MUG-1".into(),
                quantity: 2,
                line_quantity: 0,
                reason: cart::RemovedReason::Purchased,
            }),
            round_trip(product::ProductCreated(product(at))),
            round_trip(product::ProductUpdated(product::Product {
                version: 2,
                ..product(at)
            })),
            round_trip(product::ProductArchived(product::Product {
                status: product::ProductStatus::Archived,
                ..product(at)
            })),
            round_trip(product::ProductDeleted { id: id(7) }),
            round_trip(tracking::PurchaseCompleted {
                user_id: id(1),
                anonymous_id: None,
                session_id: None,
                occurred_at: at,
                received_at: at,
                order_id: id(2),
                transaction_id: Some(id(5).to_string()),
                total: eur(3240),
                items: vec![tracking::PurchasedItem {
                    product_id: id(7),
                    sku: "MUG-1".into(),
                    name: Some("Blue mug".into()),
                    quantity: 2,
                    unit_price: eur(1250),
                }],
            }),
            round_trip(tracking::ProductViewed {
                visit: visit(at),
                product_id: id(7),
                sku: None,
            }),
            round_trip(tracking::ProductClicked {
                visit: visit(at),
                product_id: id(7),
                list: Some("search".into()),
                position: Some(3),
            }),
            round_trip(tracking::SearchPerformed {
                visit: visit(at),
                query: "blue mug".into(),
                results_count: Some(12),
            }),
            round_trip(tracking::CartItemAddTracked(cart_item(at))),
            round_trip(tracking::CartItemRemoveTracked(cart_item(at))),
            round_trip(tracking::WishlistItemAdded {
                visit: tracking::Visit {
                    properties: Some(json!({"from": "pdp"}).as_object().unwrap().clone()),
                    ..visit(at)
                },
                product_id: id(7),
            }),
        ]
    }

    fn visit(at: time::OffsetDateTime) -> tracking::Visit {
        tracking::Visit {
            user_id: None,
            anonymous_id: Some("a-1".into()),
            session_id: Some("s-1".into()),
            occurred_at: at,
            received_at: at,
            properties: None,
            context: tracking::ClientContext {
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
                device: "desktop".into(),
                browser: "firefox".into(),
                os: "linux".into(),
                ip_prefix: Some("203.0.113.0/24".into()),
            },
        }
    }

    fn cart_item(at: time::OffsetDateTime) -> tracking::TrackedCartItem {
        tracking::TrackedCartItem {
            visit: visit(at),
            product_id: id(7),
            sku: "MUG-1".into(),
            quantity: 2,
        }
    }

    #[test]
    fn every_event_type_has_one_topic_one_producer_and_one_schema() {
        let mut seen = BTreeSet::new();
        let mut payloads = BTreeSet::new();
        for s in ALL {
            assert!(seen.insert(s.event_type), "{} listed twice", s.event_type);
            assert!(
                payloads.insert(s.payload),
                "{} is the payload of two types",
                s.payload
            );
            assert!(
                topics::ALL.contains(&s.topic),
                "{}: {}",
                s.event_type,
                s.topic
            );
            assert!(s.source.starts_with("/storefront/"), "{}", s.event_type);
            let (domain, verb) = s.event_type.split_once('.').unwrap();
            assert!(!domain.is_empty() && !verb.is_empty(), "{}", s.event_type);
            assert_eq!(spec(s.event_type), Some(s));
        }
        // Only client tracking events are copied, and only onto the per-visitor stream.
        for s in ALL.iter().filter(|s| s.copy_on.is_some()) {
            assert_eq!(s.source, sources::EVENT, "{}", s.event_type);
            assert_eq!(s.copy_on, Some(topics::USER_EVENTS), "{}", s.event_type);
            assert_ne!(s.topic, topics::USER_EVENTS, "{}", s.event_type);
        }
        assert!(spec("order.unknown").is_none());
    }

    #[test]
    fn every_payload_round_trips_and_every_type_has_an_example() {
        let examples = examples();
        let typed: BTreeSet<&str> = examples.iter().map(|(t, _)| *t).collect();
        let listed: BTreeSet<&str> = ALL.iter().map(|s| s.event_type).collect();
        assert_eq!(typed, listed, "an event type without an example");
        assert_eq!(typed.len(), examples.len(), "two examples of one type");
    }

    #[test]
    fn wire_shapes_stay_what_consumers_read() {
        let examples: std::collections::BTreeMap<_, _> = examples().into_iter().collect();
        let created = &examples["order.created"];
        assert_eq!(created["total"], json!({"amount": 3240, "currency": "EUR"}));
        assert_eq!(created["created_at"], "2026-12-06T10:15:00Z");
        assert_eq!(created["breakdown"]["mode"], "tax_inclusive");
        assert_eq!(
            examples["order.refund_requested"]["reason"],
            "admin_requested"
        );
        assert_eq!(examples["payment.failed"]["code"], "card_declined");
        assert_eq!(examples["cart.item_removed"]["reason"], "purchased");
        // An optional order id is left out rather than null.
        let mut stock = examples["inventory.stock_changed"].clone();
        stock.as_object_mut().unwrap().remove("order_id");
        let back: inventory::StockChanged = serde_json::from_value(stock).unwrap();
        assert!(
            !serde_json::to_value(back)
                .unwrap()
                .as_object()
                .unwrap()
                .contains_key("order_id")
        );
        // Fields added later decode from events written before them.
        let mut old = examples["order.paid"].clone();
        for k in [
            "breakdown",
            "shipping_method",
            "promotion_code",
            "transaction_id",
        ] {
            old.as_object_mut().unwrap().remove(k);
        }
        let paid: order::OrderPaid = serde_json::from_value(old).unwrap();
        assert_eq!(paid.breakdown, None);
        // A reason or code a newer producer adds still decodes: the event is not lost.
        let mut refund = examples["order.refund_requested"].clone();
        refund["reason"] = "damaged".into();
        let r: order::OrderRefundRequested = serde_json::from_value(refund).unwrap();
        assert_eq!(r.reason, order::RefundReason::Other);
        let mut failed = examples["payment.failed"].clone();
        failed["code"] = "fraud_suspected".into();
        let f: payment::PaymentFailed = serde_json::from_value(failed).unwrap();
        assert_eq!(f.code, payment::FailureCode::Other);
        // A payload of the wrong shape is refused, not half-read.
        assert!(serde_json::from_value::<payment::PaymentFailed>(json!({"order_id": 5})).is_err());
        // A product event's data is the product itself, not wrapped.
        let created = &examples["product.created"];
        assert_eq!(created["id"], json!(id(7)));
        assert_eq!(created["status"], "active");
        assert_eq!(created["tax_category"], "standard");
        assert_eq!(created["variants"][0]["price"]["currency"], "EUR");
        assert_eq!(examples["product.deleted"], json!({"id": id(7)}));
        // A tracking event's data is flat: who, when, the type's fields and the client context;
        // optional fields the client did not send are left out.
        let viewed = &examples["product.viewed"];
        assert_eq!(viewed["product_id"], json!(id(7)));
        assert_eq!(viewed["anonymous_id"], "a-1");
        assert_eq!(viewed["user_id"], Value::Null);
        assert_eq!(viewed["context"]["ip_prefix"], "203.0.113.0/24");
        assert!(viewed.get("sku").is_none() && viewed.get("properties").is_none());
        assert_eq!(examples["tracking.cart_item_added"]["quantity"], 2);
        assert_eq!(examples["wishlist.item_added"]["properties"]["from"], "pdp");
    }
}
