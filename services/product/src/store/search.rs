//! Search requests and answers: the validated filters, the sort orders, page cursors and
//! facets. The engine that answers them is the in-memory index ([`crate::index`]).
//!
//! Pagination: the newest and price orders use keyset cursors `(sort key, id)`, stable while
//! rows are inserted. Relevance order uses an offset cursor (scores are not stable keys),
//! bounded by [`MAX_RELEVANCE_OFFSET`].

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Deepest a relevance-ordered result can be paged.
pub const MAX_RELEVANCE_OFFSET: i64 = 10_000;
/// Values of a facet listed, at most (the most frequent).
pub const FACET_VALUES_MAX: usize = 50;
const FACET_ATTRIBUTES_MAX: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    Relevance,
    PriceAsc,
    PriceDesc,
    Newest,
}

/// The filtered set, already validated.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Statuses included (`active` for customers).
    pub statuses: Vec<String>,
    /// Free text; `None` when empty.
    pub query: Option<String>,
    /// The category and its descendants.
    pub categories: Option<Vec<Uuid>>,
    /// Lowercased brands.
    pub brands: Vec<String>,
    pub tags: Vec<String>,
    /// (min, max, currency).
    pub price: Option<(Option<i64>, Option<i64>, String)>,
    /// Attribute name and accepted values; one variant must satisfy all of them.
    pub attributes: Vec<(String, Vec<String>)>,
    pub in_stock: bool,
}

impl Filters {
    /// The key of one search answer in the cache: SHA-256 of everything that shapes it, so no
    /// crafted query can land on another query's entry.
    pub fn cache_key(&self, sort: Sort, page_token: &str, limit: i64) -> String {
        use sha2::Digest;
        let text = format!("{self:?}|{sort:?}|{page_token}|{limit}");
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    }

    /// A fingerprint of the request a page token belongs to.
    pub fn fingerprint(&self, sort: Sort) -> String {
        let text = format!("{self:?}|{sort:?}");
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }
}

/// Where the next page starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fingerprint of the request.
    pub f: String,
    /// Sort key of the last row (price in minor units, or creation time in microseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<i64>,
    /// Id of the last row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub i: Option<Uuid>,
    /// Offset (relevance order only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub o: Option<i64>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }
    pub fn decode(token: &str) -> Option<Self> {
        if token.len() > 512 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Facets {
    pub brands: Vec<(String, i64)>,
    pub categories: Vec<(String, i64)>,
    pub tags: Vec<(String, i64)>,
    pub attributes: Vec<(String, AttributeValues)>,
    /// (currency, min, max).
    pub price: Option<(String, i64, i64)>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchPage {
    pub hits: Vec<(Uuid, f64)>,
    pub next: Option<Cursor>,
    pub total: i64,
    pub facets: Facets,
}

/// Values of one attribute with their counts.
type AttributeValues = Vec<(String, i64)>;

/// Attribute rows grouped per name: most common names first, values by count.
pub fn group_attributes(rows: Vec<(String, String, i64)>) -> Vec<(String, AttributeValues)> {
    let mut by_name: BTreeMap<String, AttributeValues> = BTreeMap::new();
    for (k, v, n) in rows {
        by_name.entry(k).or_default().push((v, n));
    }
    let mut out: Vec<(String, AttributeValues, i64)> = by_name
        .into_iter()
        .map(|(k, mut values)| {
            values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            values.truncate(FACET_VALUES_MAX);
            let total = values.iter().map(|v| v.1).sum();
            (k, values, total)
        })
        .collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    out.truncate(FACET_ATTRIBUTES_MAX);
    out.into_iter().map(|(k, v, _)| (k, v)).collect()
}

/// Helper for callers keeping the order of hits after loading products.
pub fn order_index(hits: &[(Uuid, f64)]) -> HashMap<Uuid, f64> {
    hits.iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            f: "abc".into(),
            k: Some(1999),
            i: Some(Uuid::now_v7()),
            o: None,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("not a cursor"), None);
    }

    #[test]
    fn fingerprints_differ_per_request() {
        let a = Filters {
            statuses: vec!["active".into()],
            ..Default::default()
        };
        let mut b = a.clone();
        b.brands = vec!["acme".into()];
        assert_ne!(a.fingerprint(Sort::Newest), b.fingerprint(Sort::Newest));
        assert_ne!(a.fingerprint(Sort::Newest), a.fingerprint(Sort::PriceAsc));
        assert_eq!(
            a.fingerprint(Sort::Newest),
            a.clone().fingerprint(Sort::Newest)
        );
    }
}
