//! Search: full-text over the weighted `products.search` document plus trigram word similarity
//! on the name (typo tolerance), filters, four sort orders, and facet counts over the filtered
//! set, each facet computed with every filter but its own.
//!
//! Pagination: the newest and price orders use keyset cursors `(sort key, id)`, stable while
//! rows are inserted. Relevance order uses an offset cursor (scores are not stable keys),
//! bounded by [`MAX_RELEVANCE_OFFSET`].

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

/// Deepest a relevance-ordered result can be paged.
pub const MAX_RELEVANCE_OFFSET: i64 = 10_000;
const FACET_VALUES_MAX: usize = 50;
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Skip {
    Nothing,
    Brand,
    Category,
    Tag,
    Price,
    Attribute(usize),
}

impl Filters {
    fn push_where(&self, qb: &mut QueryBuilder<Postgres>, skip: Skip) {
        // One status as `=` so the (status, sort key) indexes serve ordered scans; every status
        // needs no condition at all.
        match self.statuses.as_slice() {
            [one] => {
                qb.push(" WHERE p.status = ").push_bind(one.clone());
            }
            all if all.len() >= 3 => {
                qb.push(" WHERE true");
            }
            some => {
                qb.push(" WHERE p.status = ANY(")
                    .push_bind(some.to_vec())
                    .push(")");
            }
        }
        if let Some(q) = &self.query {
            qb.push(" AND (p.search @@ websearch_to_tsquery('english', ")
                .push_bind(q.clone())
                .push(") OR ")
                .push_bind(q.clone())
                .push(" <% p.name)");
        }
        if let (Some(cats), true) = (&self.categories, skip != Skip::Category) {
            qb.push(
                " AND EXISTS (SELECT 1 FROM product_categories pc WHERE pc.product_id = p.id AND pc.category_id = ANY(",
            )
            .push_bind(cats.clone())
            .push("))");
        }
        if !self.brands.is_empty() && skip != Skip::Brand {
            qb.push(" AND lower(p.brand) = ANY(")
                .push_bind(self.brands.clone())
                .push(")");
        }
        if !self.tags.is_empty() && skip != Skip::Tag {
            qb.push(
                " AND EXISTS (SELECT 1 FROM product_tags pt WHERE pt.product_id = p.id AND pt.tag = ANY(",
            )
            .push_bind(self.tags.clone())
            .push("))");
        }
        if let (Some((min, max, cur)), true) = (&self.price, skip != Skip::Price) {
            qb.push(" AND EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND v.currency = ")
                .push_bind(cur.clone());
            if let Some(min) = min {
                qb.push(" AND v.price >= ").push_bind(*min);
            }
            if let Some(max) = max {
                qb.push(" AND v.price <= ").push_bind(*max);
            }
            qb.push(")");
        }
        let attrs: Vec<&(String, Vec<String>)> = self
            .attributes
            .iter()
            .enumerate()
            .filter(|(i, _)| skip != Skip::Attribute(*i))
            .map(|(_, a)| a)
            .collect();
        if !attrs.is_empty() {
            qb.push(" AND EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id");
            for (name, values) in attrs {
                qb.push(" AND (v.attributes ->> ")
                    .push_bind(name.clone())
                    .push(") = ANY(")
                    .push_bind(values.clone())
                    .push(")");
            }
            qb.push(")");
        }
        if self.in_stock {
            qb.push(" AND EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id AND v.in_stock)");
        }
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

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facets {
    pub brands: Vec<(String, i64)>,
    pub categories: Vec<(String, i64)>,
    pub tags: Vec<(String, i64)>,
    pub attributes: Vec<(String, AttributeValues)>,
    /// (currency, min, max).
    pub price: Option<(String, i64, i64)>,
}

#[derive(Clone, Debug)]
pub struct SearchPage {
    pub hits: Vec<(Uuid, f64)>,
    pub next: Option<Cursor>,
    pub total: i64,
    pub facets: Facets,
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

fn from_micros(m: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000).ok()
}

/// One page of hits plus the total and the facets. `cursor` was checked against the request's
/// fingerprint by the caller.
pub async fn search(
    pool: &PgPool,
    f: &Filters,
    sort: Sort,
    cursor: Option<&Cursor>,
    limit: i64,
    with_facets: bool,
) -> Result<SearchPage, sqlx::Error> {
    let fingerprint = f.fingerprint(sort);
    let hits = async {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT p.id, ");
        match &f.query {
            Some(q) => {
                qb.push("(ts_rank(p.search, websearch_to_tsquery('english', ")
                    .push_bind(q.clone())
                    .push(")) + word_similarity(")
                    .push_bind(q.clone())
                    .push(", p.name))::float8");
            }
            None => {
                qb.push("0::float8");
            }
        }
        qb.push(" AS score, p.created_at, COALESCE(p.min_price, 0) AS price FROM products p");
        f.push_where(&mut qb, Skip::Nothing);
        let key = cursor.and_then(|c| c.k.zip(c.i));
        match (sort, key) {
            (Sort::Newest, Some((k, id))) => {
                qb.push(" AND (p.created_at, p.id) < (")
                    .push_bind(from_micros(k))
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            (Sort::PriceAsc, Some((k, id))) => {
                qb.push(" AND (COALESCE(p.min_price, 0), p.id) > (")
                    .push_bind(k)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            (Sort::PriceDesc, Some((k, id))) => {
                qb.push(" AND (COALESCE(p.min_price, 0), p.id) < (")
                    .push_bind(k)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            }
            _ => {}
        }
        qb.push(match sort {
            Sort::Relevance => " ORDER BY score DESC, p.id DESC",
            Sort::Newest => " ORDER BY p.created_at DESC, p.id DESC",
            Sort::PriceAsc => " ORDER BY COALESCE(p.min_price, 0) ASC, p.id ASC",
            Sort::PriceDesc => " ORDER BY COALESCE(p.min_price, 0) DESC, p.id DESC",
        });
        qb.push(" LIMIT ").push_bind(limit + 1);
        let offset = cursor.and_then(|c| c.o).unwrap_or(0);
        if sort == Sort::Relevance {
            qb.push(" OFFSET ").push_bind(offset);
        }
        let rows: Vec<(Uuid, f64, OffsetDateTime, i64)> =
            qb.build_query_as().fetch_all(pool).await?;
        let more = rows.len() as i64 > limit;
        let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
        let next = match (more, rows.last()) {
            (true, Some(last)) => match sort {
                Sort::Relevance => {
                    let o = offset + limit;
                    (o <= MAX_RELEVANCE_OFFSET).then(|| Cursor {
                        f: fingerprint.clone(),
                        k: None,
                        i: None,
                        o: Some(o),
                    })
                }
                Sort::Newest => Some(Cursor {
                    f: fingerprint.clone(),
                    k: Some(micros(last.2)),
                    i: Some(last.0),
                    o: None,
                }),
                Sort::PriceAsc | Sort::PriceDesc => Some(Cursor {
                    f: fingerprint.clone(),
                    k: Some(last.3),
                    i: Some(last.0),
                    o: None,
                }),
            },
            _ => None,
        };
        Ok::<_, sqlx::Error>((rows.into_iter().map(|r| (r.0, r.1)).collect(), next))
    };
    let total = async {
        let mut qb = QueryBuilder::<Postgres>::new("SELECT count(*) FROM products p");
        f.push_where(&mut qb, Skip::Nothing);
        qb.build_query_scalar::<i64>().fetch_one(pool).await
    };
    if !with_facets {
        let ((hits, next), total) = futures::try_join!(hits, total)?;
        return Ok(SearchPage {
            hits,
            next,
            total,
            facets: Facets::default(),
        });
    }
    let ((hits, next), total, facets) = futures::try_join!(hits, total, facets(pool, f))?;
    Ok(SearchPage {
        hits,
        next,
        total,
        facets,
    })
}

async fn counts(
    pool: &PgPool,
    f: &Filters,
    skip: Skip,
    select_from: &str,
    extra: &str,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let mut qb = QueryBuilder::<Postgres>::new(select_from);
    f.push_where(&mut qb, skip);
    qb.push(extra);
    qb.push(" GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ")
        .push_bind(FACET_VALUES_MAX as i64);
    qb.build_query_as().fetch_all(pool).await
}

async fn attribute_counts(
    pool: &PgPool,
    f: &Filters,
    skip: Skip,
    only: Option<&str>,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    // `attribute_values` holds each product's distinct `key=value` pairs (keys never hold `=`).
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT split_part(x.kv, '=', 1), substr(x.kv, strpos(x.kv, '=') + 1), count(*)
           FROM products p CROSS JOIN LATERAL unnest(p.attribute_values) AS x(kv)",
    );
    f.push_where(&mut qb, skip);
    match only {
        Some(name) => {
            qb.push(" AND split_part(x.kv, '=', 1) = ")
                .push_bind(name.to_owned());
        }
        None => {
            let filtered: Vec<String> = f.attributes.iter().map(|(n, _)| n.clone()).collect();
            qb.push(" AND split_part(x.kv, '=', 1) <> ALL(")
                .push_bind(filtered)
                .push(")");
        }
    }
    qb.push(" GROUP BY 1, 2");
    qb.build_query_as().fetch_all(pool).await
}

async fn facets(pool: &PgPool, f: &Filters) -> Result<Facets, sqlx::Error> {
    let brands = counts(
        pool,
        f,
        Skip::Brand,
        "SELECT p.brand, count(*) FROM products p",
        " AND p.brand <> ''",
    );
    let categories = counts(
        pool,
        f,
        Skip::Category,
        "SELECT fc.category_id::text, count(*) FROM products p JOIN product_categories fc ON fc.product_id = p.id",
        "",
    );
    let tags = counts(
        pool,
        f,
        Skip::Tag,
        "SELECT ft.tag, count(*) FROM products p JOIN product_tags ft ON ft.product_id = p.id",
        "",
    );
    let price = async {
        let mut qb = QueryBuilder::<Postgres>::new(
            "SELECT p.currency, min(p.min_price), max(p.max_price) FROM products p",
        );
        f.push_where(&mut qb, Skip::Price);
        qb.push(" AND p.currency IS NOT NULL GROUP BY p.currency ORDER BY ");
        if let Some((_, _, cur)) = &f.price {
            qb.push("(p.currency = ")
                .push_bind(cur.clone())
                .push(") DESC, ");
        }
        qb.push("count(*) DESC LIMIT 1");
        qb.build_query_as::<(String, i64, i64)>()
            .fetch_optional(pool)
            .await
    };
    let attributes = async {
        let mut rows = attribute_counts(pool, f, Skip::Nothing, None).await?;
        for (i, (name, _)) in f.attributes.iter().enumerate() {
            rows.extend(attribute_counts(pool, f, Skip::Attribute(i), Some(name)).await?);
        }
        Ok::<_, sqlx::Error>(group_attributes(rows))
    };
    let (brands, categories, tags, price, attributes) =
        futures::try_join!(brands, categories, tags, price, attributes)?;
    Ok(Facets {
        brands,
        categories,
        tags,
        attributes,
        price,
    })
}

/// Values of one attribute with their counts.
type AttributeValues = Vec<(String, i64)>;

/// Attribute rows grouped per name: most common names first, values by count.
fn group_attributes(rows: Vec<(String, String, i64)>) -> Vec<(String, AttributeValues)> {
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

    #[test]
    fn micros_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        assert_eq!(from_micros(micros(t)), Some(t));
    }
}
