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
        self.push_conditions(qb, skip);
    }

    /// Every condition but the status, each starting with ` AND`.
    fn push_conditions(&self, qb: &mut QueryBuilder<Postgres>, skip: Skip) {
        if let Some(q) = &self.query {
            // Two index scans (full text, trigram) united, not one OR: given the OR, the
            // planner scans every row and computes the (costly) word similarity on each.
            qb.push(" AND p.id IN (SELECT id FROM products WHERE search @@ websearch_to_tsquery('english', ")
                .push_bind(q.clone())
                .push(") UNION ALL SELECT id FROM products WHERE ")
                .push_bind(q.clone())
                .push(" <% name)");
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
    let ((hits, next), (total, facets)) = futures::try_join!(hits, facets_and_total(pool, f))?;
    Ok(SearchPage {
        hits,
        next,
        total,
        facets,
    })
}

/// The facet filters, each a boolean column of the `base` set in [`facets_and_total`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flag {
    Category,
    Brand,
    Tag,
    Price,
    Attribute(usize),
}

impl Flag {
    fn column(self) -> String {
        match self {
            Flag::Category => "f_cat".into(),
            Flag::Brand => "f_brand".into(),
            Flag::Tag => "f_tag".into(),
            Flag::Price => "f_price".into(),
            Flag::Attribute(i) => format!("f_attr{i}"),
        }
    }
}

impl Filters {
    /// The facet filters this request sets.
    fn flags(&self) -> Vec<Flag> {
        let mut out = Vec::new();
        if self.categories.is_some() {
            out.push(Flag::Category);
        }
        if !self.brands.is_empty() {
            out.push(Flag::Brand);
        }
        if !self.tags.is_empty() {
            out.push(Flag::Tag);
        }
        if self.price.is_some() {
            out.push(Flag::Price);
        }
        out.extend((0..self.attributes.len()).map(Flag::Attribute));
        out
    }

    /// Pushes the condition of one facet filter (the same SQL `push_where` uses), as a boolean
    /// expression over `p`.
    fn push_flag(&self, qb: &mut QueryBuilder<Postgres>, flag: Flag) {
        // The conditions `push_where` would add for this filter alone.
        let mut only = Filters::default();
        match flag {
            Flag::Category => only.categories = self.categories.clone(),
            Flag::Brand => only.brands = self.brands.clone(),
            Flag::Tag => only.tags = self.tags.clone(),
            Flag::Price => only.price = self.price.clone(),
            Flag::Attribute(i) => only.attributes = vec![self.attributes[i].clone()],
        }
        qb.push("(true");
        only.push_conditions(qb, Skip::Nothing);
        qb.push(")");
    }
}

/// `AND`s the flags of `flags` except `but` (`true` when none are left).
fn all_but(flags: &[Flag], but: Option<Flag>) -> String {
    let cols: Vec<String> = flags
        .iter()
        .filter(|f| Some(**f) != but)
        .map(|f| f.column())
        .collect();
    if cols.is_empty() {
        "true".into()
    } else {
        cols.join(" AND ")
    }
}

/// The total and every facet in one statement: the rows matching the status, the text and the
/// stock filter are scanned once into `base` (materialised), with one boolean column per facet
/// filter; each facet then counts `base` with every filter but its own. One scan of the
/// expensive text match instead of one per facet.
async fn facets_and_total(pool: &PgPool, f: &Filters) -> Result<(i64, Facets), sqlx::Error> {
    let flags = f.flags();
    let mut qb = QueryBuilder::<Postgres>::new(
        "WITH base AS MATERIALIZED (SELECT p.id, p.brand, p.currency, p.min_price, p.max_price, p.attribute_values",
    );
    for flag in &flags {
        qb.push(", ");
        f.push_flag(&mut qb, *flag);
        qb.push(" AS ").push(flag.column());
    }
    qb.push(" FROM products p");
    // Status, text and stock only: the facet filters are the flags.
    let core = Filters {
        categories: None,
        brands: Vec::new(),
        tags: Vec::new(),
        price: None,
        attributes: Vec::new(),
        ..f.clone()
    };
    core.push_where(&mut qb, Skip::Nothing);
    qb.push(")");
    let all = all_but(&flags, None);
    let pick = |flag: Flag| flags.contains(&flag).then_some(flag);
    qb.push(format_args!(
        " SELECT (SELECT count(*) FROM base WHERE {all})"
    ));
    qb.push(format_args!(
        ", (SELECT COALESCE(json_agg(json_build_array(brand, n)), '[]') FROM (SELECT b.brand, count(*) AS n FROM base b WHERE b.brand <> '' AND {} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {FACET_VALUES_MAX}) x)",
        all_but(&flags, pick(Flag::Brand))
    ));
    qb.push(format_args!(
        ", (SELECT COALESCE(json_agg(json_build_array(c, n)), '[]') FROM (SELECT pc.category_id::text AS c, count(*) AS n FROM base b JOIN product_categories pc ON pc.product_id = b.id WHERE {} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {FACET_VALUES_MAX}) x)",
        all_but(&flags, pick(Flag::Category))
    ));
    qb.push(format_args!(
        ", (SELECT COALESCE(json_agg(json_build_array(tag, n)), '[]') FROM (SELECT pt.tag, count(*) AS n FROM base b JOIN product_tags pt ON pt.product_id = b.id WHERE {} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {FACET_VALUES_MAX}) x)",
        all_but(&flags, pick(Flag::Tag))
    ));
    qb.push(format_args!(
        ", (SELECT json_build_array(currency, lo, hi) FROM (SELECT b.currency, min(b.min_price) AS lo, max(b.max_price) AS hi, count(*) AS n FROM base b WHERE b.currency IS NOT NULL AND {} GROUP BY 1) x ORDER BY ",
        all_but(&flags, pick(Flag::Price))
    ));
    if let Some((_, _, cur)) = &f.price {
        qb.push("(currency = ")
            .push_bind(cur.clone())
            .push(") DESC, ");
    }
    qb.push("n DESC LIMIT 1)");
    // Attributes not filtered on: counted over the fully filtered set; each filtered attribute:
    // its own values over the set filtered by everything else.
    let filtered: Vec<String> = f.attributes.iter().map(|(n, _)| n.clone()).collect();
    qb.push(format_args!(
        ", (SELECT COALESCE(json_agg(json_build_array(k, v, n)), '[]') FROM (SELECT split_part(x.kv, '=', 1) AS k, substr(x.kv, strpos(x.kv, '=') + 1) AS v, count(*) AS n FROM base b CROSS JOIN LATERAL unnest(b.attribute_values) AS x(kv) WHERE {all} AND split_part(x.kv, '=', 1) <> ALL("
    ));
    qb.push_bind(filtered).push(") GROUP BY 1, 2");
    for (i, (name, _)) in f.attributes.iter().enumerate() {
        qb.push(format_args!(
            " UNION ALL SELECT split_part(x.kv, '=', 1), substr(x.kv, strpos(x.kv, '=') + 1), count(*) FROM base b CROSS JOIN LATERAL unnest(b.attribute_values) AS x(kv) WHERE {} AND split_part(x.kv, '=', 1) = ",
            all_but(&flags, Some(Flag::Attribute(i)))
        ));
        qb.push_bind(name.clone()).push(" GROUP BY 1, 2");
    }
    qb.push(") y)");
    type Row = (
        i64,
        sqlx::types::Json<Vec<(String, i64)>>,
        sqlx::types::Json<Vec<(String, i64)>>,
        sqlx::types::Json<Vec<(String, i64)>>,
        Option<sqlx::types::Json<(String, i64, i64)>>,
        sqlx::types::Json<Vec<(String, String, i64)>>,
    );
    let (total, brands, categories, tags, price, attributes): Row =
        qb.build_query_as().fetch_one(pool).await?;
    Ok((
        total,
        Facets {
            brands: brands.0,
            categories: categories.0,
            tags: tags.0,
            attributes: group_attributes(attributes.0),
            price: price.map(|p| p.0),
        },
    ))
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
