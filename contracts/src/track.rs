//! The event service's HTTP contract (issue #12): the batch of tracking events a client sends
//! and the answer. The event service parses and answers these types; the gateway documents them.
//! What each event becomes on Kafka is `crate::events` (`types`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::events::{self, Event, Spec, tracking};
use crate::problem::FieldError;

/// What a tracking event reports. Published as CloudEvents `product.viewed`, `product.clicked`,
/// `search.performed`, `tracking.cart_item_added`, `tracking.cart_item_removed` and
/// `wishlist.item_added` (payloads: `crate::events::tracking`).
/// Purchases are recorded by the platform when an order is paid and cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackingEventType {
    ProductViewed,
    ProductClicked,
    SearchPerformed,
    CartItemAdded,
    CartItemRemoved,
    WishlistAdded,
}

impl TrackingEventType {
    pub const ALL: [Self; 6] = [
        Self::ProductViewed,
        Self::ProductClicked,
        Self::SearchPerformed,
        Self::CartItemAdded,
        Self::CartItemRemoved,
        Self::WishlistAdded,
    ];

    /// The `type` a client sends.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::ProductViewed => "product_viewed",
            Self::ProductClicked => "product_clicked",
            Self::SearchPerformed => "search_performed",
            Self::CartItemAdded => "cart_item_added",
            Self::CartItemRemoved => "cart_item_removed",
            Self::WishlistAdded => "wishlist_added",
        }
    }

    /// The CloudEvents type it is published as.
    pub fn event_type(self) -> &'static str {
        self.spec().event_type
    }

    /// The type's own topic besides `user-events`, if it has one.
    pub fn topic(self) -> Option<&'static str> {
        let spec = self.spec();
        spec.copy_on.map(|_| spec.topic)
    }

    fn spec(self) -> &'static Spec {
        let event_type = match self {
            Self::ProductViewed => tracking::ProductViewed::TYPE,
            Self::ProductClicked => tracking::ProductClicked::TYPE,
            Self::SearchPerformed => tracking::SearchPerformed::TYPE,
            Self::CartItemAdded => tracking::CartItemAddTracked::TYPE,
            Self::CartItemRemoved => tracking::CartItemRemoveTracked::TYPE,
            Self::WishlistAdded => tracking::WishlistItemAdded::TYPE,
        };
        events::spec(event_type).expect("every tracking type is registered")
    }

    /// `data` read as this type's payload and written again, so what is published is the
    /// contract's shape (the event service checks each field first, to name every bad one).
    pub fn conform(self, data: Value) -> Result<Value, serde_json::Error> {
        fn via<T: Event>(data: Value) -> Result<Value, serde_json::Error> {
            serde_json::to_value(serde_json::from_value::<T>(data)?)
        }
        match self {
            Self::ProductViewed => via::<tracking::ProductViewed>(data),
            Self::ProductClicked => via::<tracking::ProductClicked>(data),
            Self::SearchPerformed => via::<tracking::SearchPerformed>(data),
            Self::CartItemAdded => via::<tracking::CartItemAddTracked>(data),
            Self::CartItemRemoved => via::<tracking::CartItemRemoveTracked>(data),
            Self::WishlistAdded => via::<tracking::WishlistItemAdded>(data),
        }
    }

    /// The type a client named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.api_name() == name)
    }
}

/// One tracking event. Fields by type (others are refused): `product_viewed`: `product_id`
/// (required), `sku`; `product_clicked`: `product_id` (required), `list`, `position`;
/// `search_performed`: `query` (required), `results_count`; `cart_item_added` and
/// `cart_item_removed`: `product_id`, `sku`, `quantity` (all required); `wishlist_added`:
/// `product_id` (required). Every type may carry `occurred_at`, `session_id` and `properties`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"type": "product_viewed", "product_id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "occurred_at": "2026-01-31T10:15:00Z", "session_id": "s-7f3a"}))]
pub struct TrackingEvent {
    #[serde(rename = "type")]
    pub event_type: TrackingEventType,
    /// The product concerned (UUID).
    #[schema(format = "uuid")]
    pub product_id: Option<String>,
    /// 1 to 64 letters, digits, `-`, `_` and `.`.
    #[schema(example = "TS-RED-42")]
    pub sku: Option<String>,
    /// Units, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: Option<i64>,
    /// Search text, 1 to 256 characters.
    #[schema(example = "trail shoe")]
    pub query: Option<String>,
    /// Hits the search returned.
    #[schema(minimum = 0)]
    pub results_count: Option<i64>,
    /// The list the product was clicked in (`search`, `recommendations`, ...), 1 to 64 characters.
    pub list: Option<String>,
    /// 0-based position in that list, at most 10000.
    #[schema(minimum = 0, maximum = 10000)]
    pub position: Option<i64>,
    /// Client time, RFC 3339; at most 5 minutes ahead and 7 days old. Defaults to the time the
    /// server received it.
    #[schema(format = "date-time")]
    pub occurred_at: Option<String>,
    /// 1 to 128 of `[A-Za-z0-9._:-]`; defaults to the batch's `session_id`.
    pub session_id: Option<String>,
    /// Free-form data, at most 2048 bytes of JSON.
    #[schema(value_type = Option<Object>)]
    pub properties: Option<serde_json::Value>,
}

/// A batch of 1 to 500 tracking events. The service reads each event (and the ids) as raw
/// JSON, so that one invalid event is refused on its own with its fields named.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    #[schema(value_type = Vec<TrackingEvent>, min_items = 1, max_items = 500)]
    pub events: Vec<Value>,
    /// The visitor's id when not signed in (1 to 128 of `[A-Za-z0-9._:-]`); the service makes
    /// one up and returns it when absent, to be sent with later batches.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub anonymous_id: Option<Value>,
    /// Default session id of events that carry none.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub session_id: Option<Value>,
}

/// Why one event of a batch was refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RejectedEvent {
    /// Its 0-based index in `events`.
    pub index: usize,
    /// Its invalid fields (relative to the event).
    pub errors: Vec<FieldError>,
}

/// The answer to a batch: valid events were recorded, invalid ones are listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"accepted": 2, "rejected": [{"index": 1, "errors": [{"field": "product_id", "message": "is required"}]}], "anonymous_id": "0192e4a0-7b1c-7def-8abc-0123456789ff"}))]
pub struct EventBatchResult {
    /// Events recorded (published and stored).
    pub accepted: usize,
    pub rejected: Vec<RejectedEvent>,
    /// The anonymous id the events were recorded under; null for a signed-in caller that sent none.
    pub anonymous_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::events::topics;

    #[test]
    fn every_client_type_is_a_registered_event_with_its_own_topic() {
        let own = |t: TrackingEventType| t.topic();
        assert_eq!(
            own(TrackingEventType::ProductViewed),
            Some(topics::PRODUCT_VIEWS)
        );
        assert_eq!(
            own(TrackingEventType::CartItemRemoved),
            Some(topics::CART_EVENTS)
        );
        assert_eq!(own(TrackingEventType::WishlistAdded), None);
        for t in TrackingEventType::ALL {
            assert_eq!(TrackingEventType::parse(t.api_name()), Some(t));
            assert!(events::spec(t.event_type()).is_some(), "{t:?}");
        }
        assert_eq!(
            TrackingEventType::CartItemAdded.event_type(),
            "tracking.cart_item_added"
        );
    }

    #[test]
    fn conform_keeps_a_valid_payload_and_refuses_a_wrong_one() {
        let data = json!({
            "user_id": null, "anonymous_id": "a-1", "session_id": null,
            "occurred_at": "2026-12-06T10:15:00Z", "received_at": "2026-12-06T10:15:01Z",
            "product_id": "0192e4a0-7b1c-7def-8abc-0123456789aa", "sku": "MUG-1", "quantity": 2,
            "context": {"user_agent": null, "device": "unknown", "browser": "other",
                        "os": "other", "ip_prefix": null}
        });
        let t = TrackingEventType::CartItemAdded;
        assert_eq!(t.conform(data.clone()).unwrap(), data);
        let mut no_sku = data.clone();
        no_sku.as_object_mut().unwrap().remove("sku");
        assert!(t.conform(no_sku).is_err());
        // A view does not carry a quantity: the published shape is the contract's.
        let viewed = TrackingEventType::ProductViewed.conform(data).unwrap();
        assert!(viewed.get("quantity").is_none());
        assert_eq!(viewed["sku"], "MUG-1");
    }
}
