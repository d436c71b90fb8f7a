//! Tracking events as clients send them: one schema per type, checked field by field so that a
//! bad event is reported by its index while the rest of the batch is still accepted; and the
//! enrichment (who, when, coarse client info) added before publishing.

use std::net::IpAddr;

use kit::contracts::events::tracking::ClientContext;
use kit::problem::FieldError;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The CloudEvents `source` of every tracking event.
pub const SOURCE: &str = kit::contracts::events::sources::EVENT;
/// CloudEvents type of the purchase tracking event made from `order.paid`.
pub const PURCHASE_TYPE: &str =
    <kit::contracts::events::tracking::PurchaseCompleted as kit::contracts::Event>::TYPE;

/// How far in the future a client clock may be.
const MAX_FUTURE: Duration = Duration::minutes(5);
/// How old an event may be when it arrives (clients that were offline send late).
const MAX_AGE: Duration = Duration::days(7);
const ID_MAX: usize = 128;
const QUERY_MAX: usize = 256;
const LIST_MAX: usize = 64;
const QUANTITY_MAX: i64 = 1000;
const POSITION_MAX: i64 = 10_000;
const PROPERTIES_MAX_BYTES: usize = 2048;
const USER_AGENT_MAX: usize = 512;

/// The tracking event types clients may send (the contract's `type`).
pub use kit::contracts::track::TrackingEventType as Kind;

/// Type-specific fields: (name, required, check).
fn type_fields(kind: Kind) -> &'static [(&'static str, bool, Check)] {
    use Check::*;
    match kind {
        Kind::ProductViewed => &[("product_id", true, ProductId), ("sku", false, Sku)],
        Kind::ProductClicked => &[
            ("product_id", true, ProductId),
            ("list", false, List),
            ("position", false, Position),
        ],
        Kind::SearchPerformed => &[("query", true, Query), ("results_count", false, Count)],
        Kind::CartItemAdded | Kind::CartItemRemoved => &[
            ("product_id", true, ProductId),
            ("sku", true, Sku),
            ("quantity", true, Quantity),
        ],
        Kind::WishlistAdded => &[("product_id", true, ProductId)],
    }
}

#[derive(Clone, Copy, Debug)]
enum Check {
    ProductId,
    Sku,
    List,
    Position,
    Query,
    Count,
    Quantity,
}

/// Fields every type may carry.
const COMMON_FIELDS: [&str; 4] = ["type", "occurred_at", "session_id", "properties"];

/// One valid tracking event.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackingEvent {
    pub kind: Kind,
    /// Client time, when sent.
    pub occurred_at: Option<OffsetDateTime>,
    pub session_id: Option<String>,
    pub product_id: Option<Uuid>,
    /// The type-specific fields (normalised) and `properties`.
    pub fields: Map<String, Value>,
}

/// Checks one event of a batch against its type's schema. Every problem is reported, each with
/// the field it concerns (relative to the event).
pub fn parse_event(v: &Value, now: OffsetDateTime) -> Result<TrackingEvent, Vec<FieldError>> {
    let Some(obj) = v.as_object() else {
        return Err(vec![FieldError::new("", "must be a JSON object")]);
    };
    let mut errors = Vec::new();
    let kind = match obj.get("type") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("type", "is required"));
            None
        }
        Some(Value::String(t)) if t == "purchase" => {
            errors.push(FieldError::new(
                "type",
                "purchase events are recorded by the platform when an order is paid; clients do not send them",
            ));
            None
        }
        Some(Value::String(t)) => match Kind::parse(t) {
            Some(k) => Some(k),
            None => {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.api_name()).collect();
                errors.push(FieldError::new(
                    "type",
                    format!("must be one of {}", names.join(", ")),
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("type", "must be a string"));
            None
        }
    };
    let occurred_at = match obj.get("occurred_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) if t > now + MAX_FUTURE => {
                errors.push(FieldError::new("occurred_at", "lies in the future"));
                None
            }
            Ok(t) if t < now - MAX_AGE => {
                errors.push(FieldError::new(
                    "occurred_at",
                    "is more than 7 days old; such events are not accepted",
                ));
                None
            }
            Ok(t) => Some(t.to_offset(time::UtcOffset::UTC)),
            Err(_) => {
                errors.push(FieldError::new(
                    "occurred_at",
                    "must be an RFC 3339 timestamp such as 2026-01-31T10:15:00Z",
                ));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new("occurred_at", "must be an RFC 3339 string"));
            None
        }
    };
    let session_id = match obj.get("session_id") {
        None | Some(Value::Null) => None,
        Some(v) => match check_id(v) {
            Ok(s) => Some(s),
            Err(m) => {
                errors.push(FieldError::new("session_id", m));
                None
            }
        },
    };
    let mut fields = Map::new();
    match obj.get("properties") {
        None | Some(Value::Null) => {}
        Some(Value::Object(p)) => {
            let size = serde_json::to_vec(p).map(|b| b.len()).unwrap_or(usize::MAX);
            if size > PROPERTIES_MAX_BYTES {
                errors.push(FieldError::new(
                    "properties",
                    format!("must be at most {PROPERTIES_MAX_BYTES} bytes of JSON"),
                ));
            } else {
                fields.insert("properties".into(), Value::Object(p.clone()));
            }
        }
        Some(_) => errors.push(FieldError::new("properties", "must be a JSON object")),
    }
    let mut product_id = None;
    if let Some(kind) = kind {
        let spec = type_fields(kind);
        for (name, required, check) in spec {
            match obj.get(*name) {
                None | Some(Value::Null) if *required => {
                    errors.push(FieldError::new(*name, "is required"))
                }
                None | Some(Value::Null) => {}
                Some(v) => match check_field(*check, v) {
                    Ok(v) => {
                        if matches!(check, Check::ProductId) {
                            product_id = v.as_str().and_then(|s| Uuid::parse_str(s).ok());
                        }
                        fields.insert((*name).to_owned(), v);
                    }
                    Err(m) => errors.push(FieldError::new(*name, m)),
                },
            }
        }
        for key in obj.keys() {
            if !COMMON_FIELDS.contains(&key.as_str()) && !spec.iter().any(|(n, _, _)| n == key) {
                errors.push(FieldError::new(
                    key.clone(),
                    format!(
                        "is not a field of {} events (free-form data goes in `properties`)",
                        kind.api_name()
                    ),
                ));
            }
        }
    }
    match kind {
        Some(kind) if errors.is_empty() => Ok(TrackingEvent {
            kind,
            occurred_at,
            session_id,
            product_id,
            fields,
        }),
        _ => Err(errors),
    }
}

/// An opaque client id (session, anonymous visitor): 1 to 128 of `[A-Za-z0-9._:-]`.
pub fn check_id(v: &Value) -> Result<String, String> {
    let msg =
        || format!("must be 1 to {ID_MAX} characters of letters, digits, `.`, `_`, `:` and `-`");
    let s = v.as_str().ok_or_else(msg)?;
    if s.is_empty()
        || s.len() > ID_MAX
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c))
    {
        return Err(msg());
    }
    Ok(s.to_owned())
}

fn check_field(check: Check, v: &Value) -> Result<Value, String> {
    let int = |min: i64, max: i64| -> Result<Value, String> {
        match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(json!(n)),
            _ => Err(format!("must be an integer between {min} and {max}")),
        }
    };
    match check {
        Check::ProductId => v
            .as_str()
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(|u| json!(u))
            .ok_or_else(|| "must be a product id (UUID)".to_owned()),
        Check::Sku => match v.as_str() {
            Some(s) if kit::contracts::sku::check("sku", s).is_ok() => Ok(json!(s)),
            _ => Err("must be a SKU: 1 to 64 letters, digits, `-`, `_` and `.`".into()),
        },
        Check::List => match v.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= LIST_MAX => Ok(json!(s.trim())),
            _ => Err(format!("must be a name of 1 to {LIST_MAX} characters")),
        },
        Check::Query => match v.as_str() {
            Some(s) if !s.trim().is_empty() && s.chars().count() <= QUERY_MAX => {
                Ok(json!(s.trim()))
            }
            _ => Err(format!(
                "must be a search text of 1 to {QUERY_MAX} characters"
            )),
        },
        Check::Position => int(0, POSITION_MAX),
        Check::Count => int(0, 1_000_000_000),
        Check::Quantity => int(1, QUANTITY_MAX),
    }
}

/// Who sent an event: the user of a verified access token, and/or an anonymous visitor id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<Uuid>,
    pub anonymous_id: Option<String>,
}

impl Actor {
    /// The Kafka key and CloudEvents subject: the user id, else the anonymous id, so one
    /// visitor's events stay in order.
    pub fn key(&self) -> String {
        match (&self.user_id, &self.anonymous_id) {
            (Some(u), _) => u.to_string(),
            (None, Some(a)) => a.clone(),
            (None, None) => String::new(),
        }
    }
}

/// Classifies a user agent string and truncates the address: the contract's coarse facts about
/// a client. The address itself is never kept, only its network prefix (IPv4 /24, IPv6 /48).
pub fn client_info(user_agent: Option<&str>, ip: Option<IpAddr>) -> ClientContext {
    let ua = user_agent.map(str::trim).filter(|s| !s.is_empty());
    let l = ua.map(str::to_ascii_lowercase).unwrap_or_default();
    let has = |needles: &[&str]| needles.iter().any(|n| l.contains(n));
    let device = if ua.is_none() {
        "unknown"
    } else if has(&[
        "bot", "crawler", "spider", "curl/", "wget/", "python-", "go-http", "headless",
    ]) {
        "bot"
    } else if has(&["ipad", "tablet"]) || (l.contains("android") && !l.contains("mobile")) {
        "tablet"
    } else if has(&["mobi", "iphone", "ipod", "android"]) {
        "mobile"
    } else if has(&["windows", "macintosh", "x11", "linux", "cros"]) {
        "desktop"
    } else {
        "unknown"
    };
    let browser = if has(&["edg/", "edge/"]) {
        "edge"
    } else if has(&["opr/", "opera"]) {
        "opera"
    } else if has(&["firefox/", "fxios/"]) {
        "firefox"
    } else if has(&["chrome/", "crios/", "chromium/"]) {
        "chrome"
    } else if l.contains("safari/") {
        "safari"
    } else {
        "other"
    };
    let os = if has(&["iphone", "ipad", "ipod"]) {
        "ios"
    } else if l.contains("android") {
        "android"
    } else if l.contains("windows") {
        "windows"
    } else if has(&["mac os x", "macintosh"]) {
        "macos"
    } else if l.contains("cros") {
        "chromeos"
    } else if l.contains("linux") {
        "linux"
    } else {
        "other"
    };
    ClientContext {
        user_agent: ua.map(|s| s.chars().take(USER_AGENT_MAX).collect()),
        device: device.into(),
        browser: browser.into(),
        os: os.into(),
        ip_prefix: ip.map(ip_prefix),
    }
}

/// `203.0.113.7` -> `203.0.113.0/24`; `2001:db8:1:2::5` -> `2001:db8:1::/48`.
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ip_prefix(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0);
                format!("{net}/48")
            }
        },
    }
}

/// The published payload (`data`) of a tracking event: its type's contract
/// (`contracts::events::tracking`), built from the checked fields.
pub fn payload(
    ev: &TrackingEvent,
    actor: &Actor,
    received_at: OffsetDateTime,
    client: &ClientContext,
) -> Result<Value, serde_json::Error> {
    let mut data = ev.fields.clone();
    data.insert("user_id".into(), json!(actor.user_id));
    data.insert("anonymous_id".into(), json!(actor.anonymous_id));
    data.insert("session_id".into(), json!(ev.session_id));
    data.insert(
        "occurred_at".into(),
        json!(rfc3339(ev.occurred_at.unwrap_or(received_at))),
    );
    data.insert("received_at".into(), json!(rfc3339(received_at)));
    data.insert("context".into(), serde_json::to_value(client)?);
    ev.kind.conform(Value::Object(data))
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn fields(r: Result<TrackingEvent, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn each_type_has_its_schema() {
        let p = Uuid::now_v7();
        let ok = parse_event(
            &json!({"type": "cart_item_added", "product_id": p, "sku": "TS-1", "quantity": 2, "session_id": "s-1"}),
            now(),
        )
        .unwrap();
        assert_eq!(ok.kind, Kind::CartItemAdded);
        assert_eq!(ok.product_id, Some(p));
        assert_eq!(ok.fields["quantity"], 2);
        assert_eq!(
            fields(parse_event(
                &json!({"type": "cart_item_added", "product_id": "nope", "quantity": 0}),
                now()
            )),
            ["product_id", "sku", "quantity"]
        );
        assert_eq!(
            fields(parse_event(
                &json!({"type": "search_performed", "query": " "}),
                now()
            )),
            ["query"]
        );
        assert_eq!(
            fields(parse_event(
                &json!({"type": "product_viewed", "product_id": p, "productId": p}),
                now()
            )),
            ["productId"]
        );
        assert_eq!(
            fields(parse_event(&json!({"type": "teleported"}), now())),
            ["type"]
        );
        assert_eq!(
            fields(parse_event(&json!({"type": "purchase"}), now())),
            ["type"]
        );
        assert_eq!(fields(parse_event(&json!([1]), now())), [""]);
    }

    #[test]
    fn client_times_are_bounded() {
        let p = Uuid::now_v7();
        let at = |t: OffsetDateTime| json!({"type": "product_viewed", "product_id": p, "occurred_at": rfc3339(t)});
        assert!(parse_event(&at(now() - Duration::hours(1)), now()).is_ok());
        assert!(parse_event(&at(now() + Duration::hours(1)), now()).is_err());
        assert!(parse_event(&at(now() - Duration::days(8)), now()).is_err());
    }

    #[test]
    fn client_info_is_coarse_and_keeps_no_address() {
        let c = client_info(
            Some(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            ),
            Some("203.0.113.77".parse().unwrap()),
        );
        assert_eq!(
            (&*c.device, &*c.browser, &*c.os),
            ("mobile", "safari", "ios")
        );
        assert_eq!(c.ip_prefix.as_deref(), Some("203.0.113.0/24"));
        let c = client_info(
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
            Some("2001:db8:1:2::5".parse().unwrap()),
        );
        assert_eq!(
            (&*c.device, &*c.browser, &*c.os),
            ("desktop", "firefox", "linux")
        );
        assert_eq!(c.ip_prefix.as_deref(), Some("2001:db8:1::/48"));
        assert_eq!(client_info(None, None).device, "unknown");
    }
}
