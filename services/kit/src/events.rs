//! The CloudEvents 1.0 JSON envelope every Kafka message carries, and the topic names.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use contracts::events::Event;
pub use contracts::events::topics;

/// The configured name of a topic (`kafka.topic_prefix` + name).
pub fn topic(settings: &crate::config::KafkaSettings, name: &str) -> String {
    format!("{}{name}", settings.topic_prefix)
}

/// A CloudEvents 1.0 structured-mode JSON envelope.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub source: String,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub datacontenttype: String,
    pub data: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl CloudEvent {
    /// A new event with a fresh UUIDv7 id, the current time and the current trace.
    pub fn new(
        source: impl Into<String>,
        event_type: impl Into<String>,
        subject: Option<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            event_type: event_type.into(),
            source: source.into(),
            time: OffsetDateTime::now_utc(),
            subject,
            datacontenttype: "application/json".into(),
            data,
            traceparent: crate::telemetry::current_traceparent(),
        }
    }

    /// A new event carrying `data`, with its contract's type and source.
    pub fn of<E: Event>(subject: Option<String>, data: &E) -> Self {
        Self::new(E::SOURCE, E::TYPE, subject, payload(data))
    }

    /// `None` unless this is an `E`; else its payload, or why it does not decode.
    pub fn decode<E: Event>(&self) -> Option<Result<E, serde_json::Error>> {
        (self.event_type == E::TYPE).then(|| self.data_as())
    }

    /// Decodes `data` into the event's typed payload.
    pub fn data_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.data)
    }
}

/// The JSON of a contract payload (plain data: it always serialises).
pub fn payload<E: Event>(data: &E) -> serde_json::Value {
    serde_json::to_value(data).expect("contract payloads are plain data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_the_documented_fields() {
        let e = CloudEvent::new(
            "/storefront/order",
            "order.created",
            Some("o1".into()),
            serde_json::json!({"order_id": "o1", "total": {"amount": 1999, "currency": "EUR"}}),
        );
        let v = serde_json::to_value(&e).unwrap();
        for f in [
            "specversion",
            "id",
            "type",
            "source",
            "time",
            "subject",
            "datacontenttype",
            "data",
        ] {
            assert!(v.get(f).is_some(), "missing {f}: {v}");
        }
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["type"], "order.created");
        assert_eq!(
            Uuid::parse_str(v["id"].as_str().unwrap())
                .unwrap()
                .get_version_num(),
            7
        );
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let back: CloudEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
