//! The catalog's search engine: an in-memory index of every product in the product role,
//! kept in step with product_db through `product_changes` (see [`sync`]).
//!
//! Text: an inverted index of weighted terms. Name words weigh 1.0, the brand 0.4, tags and SKUs
//! 0.2, the description 0.1 (PostgreSQL's A/B/C/D defaults), times `1 + ln(tf)` per field. A
//! query word matches a term exactly (full weight), with typos (half per edit) or as a prefix
//! when it is the query's last word (0.7); a product matches when every word of one of the
//! query's `or` groups matches and no excluded word does; its score is its best group's sum.
//!
//! Filters and facets: one pass over the products computes, per product, which facet filters
//! it fails; the hits and the total take those failing none, and each facet counts those
//! failing none but its own (the usual "other filters apply" facet semantics), in the same
//! pass. Hits are kept in a bounded heap in the requested order, from after the cursor.
//!
//! Writes replace a product's slot (the old one is marked dead); the postings are rebuilt when
//! a quarter of the slots are dead.

pub mod sync;
pub mod text;

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::sync::Mutex;

use uuid::Uuid;

use crate::store::search::{
    Cursor, FACET_VALUES_MAX, Facets, Filters, MAX_RELEVANCE_OFFSET, SearchPage, Sort,
};

const WEIGHT_NAME: f32 = 1.0;
const WEIGHT_BRAND: f32 = 0.4;
const WEIGHT_TAGS: f32 = 0.2;
const WEIGHT_DESCRIPTION: f32 = 0.1;
const PREFIX_FACTOR: f32 = 0.7;
/// Terms a prefix or typo expands to, at most (the heaviest in the index win).
const EXPANSIONS_MAX: usize = 64;
/// Remembered typo and prefix expansions (cleared whenever the vocabulary grows).
const EXPANSION_CACHE_MAX: usize = 10_000;

/// A product as the index holds it (see [`sync::load`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub status: String,
    /// Creation time, microseconds since the epoch.
    pub created: i64,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub currency: Option<String>,
    pub tags: Vec<String>,
    pub categories: Vec<Uuid>,
    pub variants: Vec<Variant>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub sku: String,
    pub price: i64,
    pub currency: String,
    pub in_stock: bool,
    pub attributes: BTreeMap<String, String>,
}

type Sym = u32;
type TermId = u32;
/// Words as written with the term they stand for.
type Surfaces = Vec<(String, String)>;
/// The terms one query word stands for, with their factors.
type Expansion = Vec<(TermId, f32)>;

/// Strings of facet values, each stored once.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<str>, Sym>,
    names: Vec<Box<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> Sym {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.names.len() as Sym;
        self.names.push(s.into());
        self.ids.insert(s.into(), id);
        id
    }
    fn get(&self, s: &str) -> Option<Sym> {
        self.ids.get(s).copied()
    }
    fn name(&self, id: Sym) -> &str {
        &self.names[id as usize]
    }
}

struct DocVariant {
    price: i64,
    currency: Sym,
    in_stock: bool,
    /// Symbols of its `name=value` pairs.
    pairs: Box<[Sym]>,
}

struct Doc {
    id: Uuid,
    status: u8,
    created: i64,
    min_price: Option<i64>,
    max_price: Option<i64>,
    currency: Option<Sym>,
    brand: Sym,
    brand_lower: Sym,
    categories: Box<[Sym]>,
    tags: Box<[Sym]>,
    /// Distinct `name=value` pairs over the variants: (symbol of the pair, symbol of the name).
    pairs: Box<[(Sym, Sym)]>,
    variants: Box<[DocVariant]>,
    in_stock: bool,
    terms: Box<[(TermId, f32)]>,
}

fn status_bit(s: &str) -> u8 {
    match s {
        "draft" => 1,
        "active" => 2,
        "archived" => 4,
        _ => 1, // anything else reads as a draft (as the store does)
    }
}

/// The index. Build it with [`Index::default`] and [`Index::upsert`]; readers share it behind
/// the lock in [`sync::SearchIndex`].
#[derive(Default)]
pub struct Index {
    /// The products by slot (`None`: replaced or deleted, until the next compaction).
    docs: Vec<Option<Doc>>,
    by_id: HashMap<Uuid, u32>,
    dead: usize,
    /// Slots per status bit (draft, active, archived; dead slots in none) and in stock.
    with_status: [Bits; 3],
    in_stock: Bits,
    /// By slot, what the per-product pass of a search reads (one cache line each).
    rows: Vec<Row>,
    /// The rows' categories, tags and `name=value` pairs, end to end (see [`Row`]).
    values: Vec<Sym>,
    /// Slots per filter value (ascending): lowercased brand, category, tag.
    by_brand_lower: HashMap<Sym, Vec<u32>>,
    by_category: HashMap<Sym, Vec<u32>>,
    by_tag: HashMap<Sym, Vec<u32>>,
    /// Variants as columns: their product's slot, price and currency; variant numbers per pair.
    variant_slot: Vec<u32>,
    variant_price: Vec<i64>,
    variant_currency: Vec<Sym>,
    variants_by_pair: HashMap<Sym, Vec<u32>>,
    vocabulary: BTreeMap<Box<str>, TermId>,
    term_chars: Vec<Box<[char]>>,
    /// Words of English fields that differ from their term, with the term.
    surfaces: BTreeMap<Box<str>, TermId>,
    surface_chars: Vec<(Box<[char]>, TermId)>,
    postings: Vec<Vec<(u32, f32)>>,
    syms: Interner,
    /// By symbol: the (name, value) symbols of a `name=value` pair (`Sym::MAX` twice for
    /// symbols that are not pairs).
    pair_parts: Vec<(Sym, Sym)>,
    expansions: Mutex<HashMap<(String, bool), Expansion>>,
}

impl Index {
    /// Products in the index.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn term(&mut self, t: &str) -> TermId {
        if let Some(id) = self.vocabulary.get(t) {
            return *id;
        }
        let id = self.term_chars.len() as TermId;
        self.vocabulary.insert(t.into(), id);
        self.term_chars.push(t.chars().collect());
        self.postings.push(Vec::new());
        self.expansions
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        id
    }

    /// Weighted terms of a product (see the module docs), and the words of its English fields
    /// whose term (stem) differs from them.
    fn weigh(p: &Product) -> (Vec<(String, f32)>, Surfaces) {
        fn add(
            acc: &mut HashMap<String, f32>,
            weight: f32,
            terms: impl IntoIterator<Item = String>,
        ) {
            let mut tf: HashMap<String, u32> = HashMap::new();
            for t in terms {
                *tf.entry(t).or_default() += 1;
            }
            for (t, n) in tf {
                *acc.entry(t).or_default() += weight * (1.0 + (n as f32).ln());
            }
        }
        let mut surfaces: Surfaces = Vec::new();
        let mut english = |text: &str| -> Vec<String> {
            text::english_words(text)
                .map(|(w, t)| {
                    if w != t {
                        surfaces.push((w, t.clone()));
                    }
                    t
                })
                .collect()
        };
        let name = english(&p.name);
        let tags: Vec<String> = p.tags.iter().flat_map(|t| english(t)).collect();
        let description = english(&p.description);
        let mut acc = HashMap::new();
        add(&mut acc, WEIGHT_NAME, name);
        add(&mut acc, WEIGHT_BRAND, text::simple(&p.brand));
        add(&mut acc, WEIGHT_TAGS, tags);
        add(
            &mut acc,
            WEIGHT_TAGS,
            p.variants.iter().flat_map(|v| text::simple(&v.sku)),
        );
        add(&mut acc, WEIGHT_DESCRIPTION, description);
        surfaces.sort_unstable();
        surfaces.dedup();
        (acc.into_iter().collect(), surfaces)
    }

    /// Remembers that `word` is written in the catalog and stands for `term` (typos and
    /// prefixes are matched against what shoppers see, not only against stems).
    fn surface(&mut self, word: &str, term: TermId) {
        if self.surfaces.contains_key(word) {
            return;
        }
        self.surfaces.insert(word.into(), term);
        self.surface_chars.push((word.chars().collect(), term));
        self.expansions
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Adds or replaces a product.
    pub fn upsert(&mut self, p: &Product) {
        self.remove(p.id);
        let (weighted, surfaces) = Self::weigh(p);
        let mut terms: Vec<(TermId, f32)> = weighted
            .into_iter()
            .map(|(t, w)| (self.term(&t), w))
            .collect();
        for (word, term) in surfaces {
            let id = self.term(&term);
            self.surface(&word, id);
        }
        terms.sort_by_key(|t| t.0);
        let mut pairs = Vec::new();
        let variants: Vec<DocVariant> = p
            .variants
            .iter()
            .map(|v| DocVariant {
                price: v.price,
                currency: self.syms.intern(&v.currency),
                in_stock: v.in_stock,
                pairs: v
                    .attributes
                    .iter()
                    .map(|(k, val)| {
                        let (ks, vs) = (self.syms.intern(k), self.syms.intern(val));
                        let pair = self.syms.intern(&format!("{k}={val}"));
                        if self.pair_parts.len() <= pair as usize {
                            self.pair_parts
                                .resize(pair as usize + 1, (Sym::MAX, Sym::MAX));
                        }
                        self.pair_parts[pair as usize] = (ks, vs);
                        pairs.push((pair, ks));
                        pair
                    })
                    .collect(),
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let doc = Doc {
            id: p.id,
            status: status_bit(&p.status),
            created: p.created,
            min_price: p.min_price,
            max_price: p.max_price,
            currency: p.currency.as_deref().map(|c| self.syms.intern(c)),
            brand: self.syms.intern(&p.brand),
            brand_lower: self.syms.intern(&p.brand.to_lowercase()),
            categories: dedup(
                p.categories
                    .iter()
                    .map(|c| self.syms.intern(&c.to_string()))
                    .collect(),
            ),
            tags: dedup(p.tags.iter().map(|t| self.syms.intern(t)).collect()),
            pairs: pairs.into(),
            in_stock: variants.iter().any(|v| v.in_stock),
            variants: variants.into(),
            terms: terms.into(),
        };
        self.place(doc);
    }

    /// Appends `doc` in a new slot: its postings, facet postings, columns and variants.
    fn place(&mut self, doc: Doc) {
        let slot = self.docs.len() as u32;
        for (t, w) in doc.terms.iter() {
            self.postings[*t as usize].push((slot, *w));
        }
        let at = self.values.len() as u32;
        self.values.extend_from_slice(&doc.categories);
        self.values.extend_from_slice(&doc.tags);
        self.values.extend(doc.pairs.iter().map(|p| p.0));
        self.rows.push(Row {
            id: doc.id.as_u128(),
            created: doc.created,
            min_price: doc.min_price.unwrap_or(NO_PRICE),
            max_price: doc.max_price.unwrap_or(NO_PRICE),
            currency: doc.currency.unwrap_or(Sym::MAX),
            brand: doc.brand,
            at,
            categories: doc.categories.len() as u32,
            tags: doc.tags.len() as u32,
            pairs: doc.pairs.len() as u32,
        });
        self.by_brand_lower
            .entry(doc.brand_lower)
            .or_default()
            .push(slot);
        for c in doc.categories.iter() {
            self.by_category.entry(*c).or_default().push(slot);
        }
        for t in doc.tags.iter() {
            self.by_tag.entry(*t).or_default().push(slot);
        }
        for v in doc.variants.iter() {
            let n = self.variant_slot.len() as u32;
            self.variant_slot.push(slot);
            self.variant_price.push(v.price);
            self.variant_currency.push(v.currency);
            for pair in v.pairs.iter() {
                self.variants_by_pair.entry(*pair).or_default().push(n);
            }
        }
        for (i, bits) in self.with_status.iter_mut().enumerate() {
            bits.push(doc.status & (1 << i) != 0);
        }
        self.in_stock.push(doc.in_stock);
        self.by_id.insert(doc.id, slot);
        self.docs.push(Some(doc));
    }

    /// Removes a product (nothing when it is not indexed).
    pub fn remove(&mut self, id: Uuid) {
        if let Some(slot) = self.by_id.remove(&id) {
            self.docs[slot as usize] = None;
            for bits in &mut self.with_status {
                bits.clear(slot as usize);
            }
            self.dead += 1;
        }
        if self.dead > 1_000 && self.dead > self.docs.len() / 4 {
            self.compact();
        }
    }

    /// Renumbers the live products and rebuilds every posting and column without the dead
    /// slots (the vocabulary and the symbols stay).
    fn compact(&mut self) {
        let docs: Vec<Doc> = std::mem::take(&mut self.docs)
            .into_iter()
            .flatten()
            .collect();
        for p in &mut self.postings {
            p.clear();
        }
        self.by_id.clear();
        self.dead = 0;
        for v in [
            &mut self.by_brand_lower,
            &mut self.by_category,
            &mut self.by_tag,
            &mut self.variants_by_pair,
        ] {
            v.clear();
        }
        self.rows.clear();
        self.values.clear();
        self.with_status = Default::default();
        self.in_stock = Bits::default();
        self.variant_slot.clear();
        self.variant_price.clear();
        self.variant_currency.clear();
        for d in docs {
            self.place(d);
        }
    }

    /// The terms a query word stands for, with their factors.
    fn expand(&self, word: &str, last: bool) -> Vec<(TermId, f32)> {
        let key = (word.to_owned(), last);
        if let Some(hit) = self
            .expansions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return hit.clone();
        }
        let mut out: HashMap<TermId, f32> = HashMap::new();
        let stem = text::stem(word);
        for exact in [stem.as_str(), word] {
            if let Some(t) = self.vocabulary.get(exact) {
                out.insert(*t, 1.0);
            }
        }
        if let Some(t) = self.surfaces.get(word) {
            out.insert(*t, 1.0);
        }
        // Typos: the stem against the terms, the word as typed against the words as written.
        let mut fuzzy: Vec<(TermId, f32)> = Vec::new();
        let stem_chars: Vec<char> = stem.chars().collect();
        let max = text::typos_allowed(stem_chars.len());
        if max > 0 {
            for (t, tc) in self.term_chars.iter().enumerate() {
                if let Some(d) = text::distance_within(&stem_chars, tc, max)
                    && d > 0
                {
                    fuzzy.push((t as TermId, 1.0 / (1.0 + d as f32)));
                }
            }
        }
        let word_chars: Vec<char> = word.chars().collect();
        let max = text::typos_allowed(word_chars.len());
        if max > 0 {
            for (wc, t) in &self.surface_chars {
                if let Some(d) = text::distance_within(&word_chars, wc, max)
                    && d > 0
                {
                    fuzzy.push((*t, 1.0 / (1.0 + d as f32)));
                }
            }
        }
        if last && word.chars().count() >= 3 {
            let from = (std::ops::Bound::Included(word), std::ops::Bound::Unbounded);
            for map in [&self.vocabulary, &self.surfaces] {
                for (t, id) in map.range::<str, _>(from) {
                    if !t.starts_with(word) {
                        break;
                    }
                    fuzzy.push((*id, PREFIX_FACTOR));
                }
            }
        }
        // The most used terms first, when a word expands to very many.
        fuzzy.sort_by(|a, b| {
            b.1.total_cmp(&a.1).then(
                self.postings[b.0 as usize]
                    .len()
                    .cmp(&self.postings[a.0 as usize].len()),
            )
        });
        for (t, f) in fuzzy.into_iter().take(EXPANSIONS_MAX) {
            let e = out.entry(t).or_insert(0.0);
            *e = e.max(f);
        }
        let out: Vec<(TermId, f32)> = out.into_iter().collect();
        let mut cache = self.expansions.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= EXPANSION_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, out.clone());
        out
    }

    /// The products matching `query`; their text scores go to `best` (by slot; other slots
    /// hold anything).
    fn text_scores(&self, query: &str, best: &mut Vec<f32>) -> Bits {
        thread_local! {
            /// Per slot: the group's score sum, its words matched, the word's best weight
            /// (reset after each use, so only touched entries are ever non-zero).
            static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<u16>, Vec<f32>)> =
                const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new())) };
        }
        let n = self.docs.len();
        best.resize(n, 0.0);
        let mut matched = Bits::new(n);
        let groups = text::parse(query);
        let last_word = query
            .split_whitespace()
            .last()
            .and_then(|w| text::words(w).last());
        SCRATCH.with_borrow_mut(|(sum, count, word_best)| {
            sum.resize(n, 0.0);
            count.resize(n, 0);
            word_best.resize(n, -1.0);
            let mut touched: Vec<u32> = Vec::new();
            let mut in_group: Vec<u32> = Vec::new();
            for g in &groups {
                for w in &g.words {
                    let last = last_word.as_deref() == Some(w.as_str());
                    for (t, factor) in self.expand(w, last) {
                        for &(slot, weight) in &self.postings[t as usize] {
                            let s = weight * factor;
                            let b = &mut word_best[slot as usize];
                            if *b < 0.0 {
                                touched.push(slot);
                            }
                            if s > *b {
                                *b = s;
                            }
                        }
                    }
                    for &slot in &touched {
                        let i = slot as usize;
                        if count[i] == 0 {
                            in_group.push(slot);
                        }
                        sum[i] += word_best[i];
                        count[i] += 1;
                        word_best[i] = -1.0;
                    }
                    touched.clear();
                }
                let mut excluded: Vec<u32> = Vec::new();
                for w in &g.excluded {
                    for exact in [text::stem(w), w.clone()] {
                        if let Some(t) = self.vocabulary.get(exact.as_str()) {
                            excluded.extend(self.postings[*t as usize].iter().map(|p| p.0));
                        }
                    }
                }
                excluded.sort_unstable();
                let need = g.words.len() as u16;
                for &slot in &in_group {
                    let i = slot as usize;
                    if count[i] == need
                        && excluded.binary_search(&slot).is_err()
                        && (!matched.get(i) || sum[i] > best[i])
                    {
                        best[i] = sum[i];
                        matched.set(i);
                    }
                    sum[i] = 0.0;
                    count[i] = 0;
                }
                in_group.clear();
            }
        });
        matched
    }

    /// The order key of `sort` for a slot: creation time for newest, the price key for the
    /// price orders.
    fn sort_key(&self, sort: Sort, slot: usize) -> i64 {
        match sort {
            Sort::Newest => self.rows[slot].created,
            Sort::PriceAsc | Sort::PriceDesc => self.rows[slot].price_key(),
            Sort::Relevance => 0,
        }
    }

    /// The slots of products having one of `values` in `postings`.
    fn any_of(&self, postings: &HashMap<Sym, Vec<u32>>, values: &[Sym]) -> Bits {
        let mut out = Bits::new(self.docs.len());
        for v in values {
            for slot in postings.get(v).into_iter().flatten() {
                out.set(*slot as usize);
            }
        }
        out
    }

    /// One page of hits with the total and the facets (see the module docs). `cursor` was
    /// checked against the request's fingerprint by the caller.
    pub fn search(
        &self,
        f: &Filters,
        sort: Sort,
        cursor: Option<&Cursor>,
        limit: i64,
    ) -> SearchPage {
        let n = self.docs.len();
        let plan = Plan::new(self, f);
        // The products every answer starts from: status, stock and text.
        let mut base = Bits::new(n);
        for (i, bits) in self.with_status.iter().enumerate() {
            if plan.statuses & (1 << i) != 0 {
                base.or(bits);
            }
        }
        if plan.in_stock {
            base.and(&self.in_stock);
        }
        thread_local! {
            /// Text scores by slot, meaningful where the query matched (kept between searches
            /// on the search pool's threads instead of allocated and filled for each).
            static SCORES: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
        }
        let mut best = SCORES.take();
        if let Some(q) = f.query.as_deref() {
            base.and(&self.text_scores(q, &mut best));
        }
        let scores = f.query.is_some().then_some(&best[..]);
        // One set per facet filter (`None`: not filtered).
        let mut filters: [Option<Bits>; 5] = Default::default();
        filters[CATEGORY] = plan
            .categories
            .as_ref()
            .map(|c| self.any_of(&self.by_category, c));
        filters[BRAND] = plan
            .brands
            .as_ref()
            .map(|b| self.any_of(&self.by_brand_lower, b));
        filters[TAG] = plan.tags.as_ref().map(|t| self.any_of(&self.by_tag, t));
        filters[PRICE] = plan.price.map(|(cur, lo, hi)| {
            let mut out = Bits::new(n);
            if let Some(cur) = cur {
                for (i, slot) in self.variant_slot.iter().enumerate() {
                    let price = self.variant_price[i];
                    if self.variant_currency[i] == cur
                        && lo.is_none_or(|lo| price >= lo)
                        && hi.is_none_or(|hi| price <= hi)
                    {
                        out.set(*slot as usize);
                    }
                }
            }
            out
        });
        // Attributes: one variant must satisfy all; the facet of attribute `i` takes products
        // with one variant satisfying all the others.
        let mut attr_but: Vec<Option<Bits>> = Vec::new();
        if !plan.attributes.is_empty() {
            let all: u16 = ((1u32 << plan.attributes.len()) - 1) as u16;
            let mut sat: HashMap<u32, u16> = HashMap::new();
            for (i, pairs) in plan.attributes.iter().enumerate() {
                for pair in pairs {
                    for v in self.variants_by_pair.get(pair).into_iter().flatten() {
                        *sat.entry(*v).or_default() |= 1 << i;
                    }
                }
            }
            let mut every = Bits::new(n);
            attr_but = (0..plan.attributes.len())
                .map(|_| (plan.attributes.len() > 1).then(|| Bits::new(n)))
                .collect();
            for (v, m) in &sat {
                let slot = self.variant_slot[*v as usize] as usize;
                if *m == all {
                    every.set(slot);
                }
                for (i, but) in attr_but.iter_mut().enumerate() {
                    if let Some(but) = but
                        && (*m | (1 << i)) == all
                    {
                        but.set(slot);
                    }
                }
            }
            filters[ATTRIBUTES] = Some(every);
        }
        // One pass over the base set: which facet filters each product fails decides what it
        // counts in (a facet counts products failing no filter but its own) and whether it is
        // a hit.
        let active: Vec<(usize, &Bits)> = filters
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
            .collect();
        let limit = limit.max(1) as usize;
        let offset = match sort {
            Sort::Relevance => cursor.and_then(|c| c.o).unwrap_or(0).max(0) as usize,
            _ => 0,
        };
        let after = match (sort, cursor.and_then(|c| c.k.zip(c.i))) {
            (Sort::Relevance, _) | (_, None) => None,
            (_, Some((k, i))) => Some(rank(sort, k, 0.0, i.as_u128())),
        };
        let keep = offset + limit + 1;
        let mut heap: BinaryHeap<(Rank, u32)> = BinaryHeap::with_capacity(keep + 1);
        let syms = self.syms.names.len();
        let (mut brands, mut categories, mut tags, mut pairs) = (
            Counter::new(syms),
            Counter::new(syms),
            Counter::new(syms),
            Counter::new(syms),
        );
        // (currency, (lowest, highest, products)); a catalog has few currencies.
        let mut prices: Vec<(Sym, (i64, i64, i64))> = Vec::new();
        let names = &plan.names;
        let mut total = 0i64;
        let mut visit = |slot: usize, row: &Row, score: f32, run: &[Sym]| {
            let mut fails = 0u32;
            for (i, f) in &active {
                if !f.get(slot) {
                    fails |= 1 << i;
                }
            }
            let but = |i: usize| fails & !(1 << i) == 0;
            let (in_categories, rest) = run.split_at(row.categories as usize);
            let (in_tags, in_pairs) = rest.split_at(row.tags as usize);
            if fails == 0 {
                total += 1;
                let r = rank(sort, self.sort_key(sort, slot), score, row.id);
                let better = heap.len() < keep || heap.peek().is_some_and(|w| r < w.0);
                if better && after.is_none_or(|a| r > a) {
                    heap.push((r, slot as u32));
                    if heap.len() > keep {
                        heap.pop();
                    }
                }
                for p in in_pairs {
                    if names.is_empty() || !names.contains(&self.pair_parts[*p as usize].0) {
                        pairs.add(*p);
                    }
                }
            }
            if but(BRAND) {
                brands.add(row.brand);
            }
            if but(CATEGORY) {
                for c in in_categories {
                    categories.add(*c);
                }
            }
            if but(TAG) {
                for t in in_tags {
                    tags.add(*t);
                }
            }
            if but(PRICE) && row.currency != Sym::MAX {
                let cur = row.currency;
                let i = match prices.iter().position(|p| p.0 == cur) {
                    Some(i) => i,
                    None => {
                        prices.push((cur, (i64::MAX, i64::MIN, 0)));
                        prices.len() - 1
                    }
                };
                let e = &mut prices[i].1;
                if let Some(lo) = row.min() {
                    e.0 = e.0.min(lo);
                }
                if let Some(hi) = row.max() {
                    e.1 = e.1.max(hi);
                }
                e.2 += 1;
            }
            if !names.is_empty() && but(ATTRIBUTES) {
                for (i, name) in names.iter().enumerate() {
                    if attr_but[i].as_ref().is_none_or(|b| b.get(slot)) {
                        for p in in_pairs {
                            if self.pair_parts[*p as usize].0 == *name {
                                pairs.add(*p);
                            }
                        }
                    }
                }
            }
        };
        let mut at_slot = |slot: usize| {
            let row = &self.rows[slot];
            let at = row.at as usize;
            let score = scores.map_or(0.0, |sc| sc[slot]);
            visit(slot, row, score, &self.values[at..at + row.len()]);
        };
        // Hits tie on their key often (equal scores, equal prices), and then the larger id
        // goes first except in ascending price order; ids mostly grow with the slot (UUIDv7,
        // appended), so visiting in the order that meets the winners of ties first keeps the
        // bounded heap from replacing its worst hit at almost every slot.
        let asc = sort == Sort::PriceAsc;
        if base.count() * 8 >= n {
            // Most products: the pass reads rows and values in order, which the processor
            // streams in ahead.
            if asc {
                base.ones().for_each(&mut at_slot);
            } else {
                base.ones_rev().for_each(&mut at_slot);
            }
        } else {
            // A few products (a text search): they lie thousands of cache lines apart, and
            // the pass would wait on memory for each one's row and then for its values. A
            // batch is touched first (a short loop of independent loads, which the processor
            // overlaps), so the work on each product finds them in cache.
            let order: Vec<usize> = if asc {
                base.ones().collect()
            } else {
                base.ones_rev().collect()
            };
            const BATCH: usize = 64;
            for batch in order.chunks(BATCH) {
                let mut touch = 0u32;
                for s in batch {
                    touch ^= self.rows[*s].at;
                }
                for s in batch {
                    if let Some(v) = self.values.get(self.rows[*s].at as usize) {
                        touch ^= v;
                    }
                    if let Some(sc) = scores {
                        touch ^= sc[*s].to_bits();
                    }
                }
                std::hint::black_box(touch);
                batch.iter().for_each(|s| at_slot(*s));
            }
        }

        SCORES.set(best);
        let mut ranked = heap.into_sorted_vec();
        let more = ranked.len() > offset + limit;
        ranked.truncate(offset + limit);
        let page = &ranked[offset.min(ranked.len())..];
        let fingerprint = f.fingerprint(sort);
        let next = match (more, page.last()) {
            (true, Some((_, last))) => match sort {
                Sort::Relevance => {
                    let o = (offset + limit) as i64;
                    (o <= MAX_RELEVANCE_OFFSET).then_some(Cursor {
                        f: fingerprint,
                        k: None,
                        i: None,
                        o: Some(o),
                    })
                }
                _ => Some(Cursor {
                    f: fingerprint,
                    k: Some(self.sort_key(sort, *last as usize)),
                    i: Some(Uuid::from_u128(self.rows[*last as usize].id)),
                    o: None,
                }),
            },
            _ => None,
        };
        let hits = page
            .iter()
            .map(|(r, slot)| {
                (
                    Uuid::from_u128(self.rows[*slot as usize].id),
                    f64::from(r.score),
                )
            })
            .collect();
        let named = |c: &Counter, keep: &dyn Fn(Sym) -> bool| -> Vec<(String, i64)> {
            let mut v: Vec<(String, i64)> = c
                .touched
                .iter()
                .filter(|s| keep(**s))
                .map(|s| (self.syms.name(*s).to_owned(), i64::from(c.n[*s as usize])))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v.truncate(FACET_VALUES_MAX);
            v
        };
        let price_cur = plan.price.and_then(|p| p.0);
        let price = prices
            .into_iter()
            .filter(|(_, (lo, hi, _))| *lo != i64::MAX && *hi != i64::MIN)
            .max_by(|a, b| {
                (Some(a.0) == price_cur)
                    .cmp(&(Some(b.0) == price_cur))
                    .then(a.1.2.cmp(&b.1.2))
                    .then(self.syms.name(b.0).cmp(self.syms.name(a.0)))
            })
            .map(|(cur, (lo, hi, _))| (self.syms.name(cur).to_owned(), lo, hi));
        let attributes = crate::store::search::group_attributes(
            pairs
                .touched
                .iter()
                .filter_map(|p| {
                    let (k, v) = self.pair_parts.get(*p as usize)?;
                    Some((
                        self.syms.name(*k).to_owned(),
                        self.syms.name(*v).to_owned(),
                        i64::from(pairs.n[*p as usize]),
                    ))
                })
                .collect(),
        );
        let (brands, categories, tags) = (
            named(&brands, &|b| !self.syms.name(b).is_empty()),
            named(&categories, &|_| true),
            named(&tags, &|_| true),
        );
        SearchPage {
            hits,
            next,
            total,
            facets: Facets {
                brands,
                categories,
                tags,
                attributes,
                price,
            },
        }
    }
}

fn dedup(mut v: Vec<Sym>) -> Box<[Sym]> {
    v.sort_unstable();
    v.dedup();
    v.into()
}

/// A set of slots.
#[derive(Clone, Default)]
struct Bits(Vec<u64>, usize);

impl Bits {
    /// Appends one slot.
    fn push(&mut self, on: bool) {
        let i = self.1;
        if i.is_multiple_of(64) {
            self.0.push(0);
        }
        self.1 += 1;
        if on {
            self.set(i);
        }
    }
    fn or(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= *b;
        }
    }
    fn and(&mut self, other: &Bits) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= *b;
        }
    }
    fn new(n: usize) -> Self {
        Self(vec![0; n.div_ceil(64)], n)
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    /// The slots in the set, descending.
    fn ones_rev(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().rev().flat_map(|(i, w)| {
            let mut w = *w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = 63 - w.leading_zeros() as usize;
                w &= !(1 << b);
                Some(i * 64 + b)
            })
        })
    }
    /// How many slots are in the set.
    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(i, w)| {
            let mut w = *w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(i * 64 + b)
            })
        })
    }
}

/// Counts of symbols, dense, remembering which were touched.
struct Counter {
    n: Vec<u32>,
    touched: Vec<Sym>,
}

impl Counter {
    fn new(len: usize) -> Self {
        Self {
            n: vec![0; len],
            touched: Vec::new(),
        }
    }
    fn add(&mut self, s: Sym) {
        let c = &mut self.n[s as usize];
        if *c == 0 {
            self.touched.push(s);
        }
        *c += 1;
    }
}

/// A price column's "none" (prices are validated non-negative).
const NO_PRICE: i64 = i64::MIN;

/// What the per-product pass of a search reads of one product, in one cache line: a pass
/// over thousands of slots loads one line per slot here (and one of [`Index::values`]) instead
/// of one per column.
#[repr(C, align(64))]
struct Row {
    id: u128,
    /// Creation time, microseconds since the epoch.
    created: i64,
    /// The price range (`NO_PRICE`: none).
    min_price: i64,
    max_price: i64,
    /// `Sym::MAX`: no currency.
    currency: Sym,
    /// The brand as written.
    brand: Sym,
    /// Where its values start in [`Index::values`], and how many of each kind follow, in
    /// this order: categories, tags, pairs.
    at: u32,
    categories: u32,
    tags: u32,
    pairs: u32,
}

impl Row {
    /// `COALESCE(min_price, 0)`: the price sort key.
    fn price_key(&self) -> i64 {
        self.min().unwrap_or(0)
    }
    fn min(&self) -> Option<i64> {
        (self.min_price != NO_PRICE).then_some(self.min_price)
    }
    fn max(&self) -> Option<i64> {
        (self.max_price != NO_PRICE).then_some(self.max_price)
    }
    /// How many values it has in [`Index::values`].
    fn len(&self) -> usize {
        (self.categories + self.tags + self.pairs) as usize
    }
}

const CATEGORY: usize = 0;
const BRAND: usize = 1;
const TAG: usize = 2;
const PRICE: usize = 3;
const ATTRIBUTES: usize = 4;

/// A request's filters in the index's symbols. A value no product has matches nothing.
struct Plan {
    statuses: u8,
    categories: Option<Vec<Sym>>,
    brands: Option<Vec<Sym>>,
    tags: Option<Vec<Sym>>,
    /// (currency, min, max); `None` currency: none is indexed, nothing matches.
    price: Option<(Option<Sym>, Option<i64>, Option<i64>)>,
    /// Per attribute filter (at most 16), the pairs it accepts.
    attributes: Vec<Vec<Sym>>,
    /// The attribute names filtered on (`Sym::MAX` for a name no product has).
    names: Vec<Sym>,
    in_stock: bool,
}

impl Plan {
    fn new(ix: &Index, f: &Filters) -> Self {
        let set = |values: &mut dyn Iterator<Item = String>| -> Vec<Sym> {
            let mut v: Vec<Sym> = values.filter_map(|s| ix.syms.get(&s)).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let attrs: Vec<&(String, Vec<String>)> = f.attributes.iter().take(16).collect();
        Self {
            statuses: f.statuses.iter().fold(0, |m, s| m | status_bit(s)),
            categories: f
                .categories
                .as_ref()
                .map(|c| set(&mut c.iter().map(Uuid::to_string))),
            brands: (!f.brands.is_empty()).then(|| set(&mut f.brands.iter().cloned())),
            tags: (!f.tags.is_empty()).then(|| set(&mut f.tags.iter().cloned())),
            price: f
                .price
                .as_ref()
                .map(|(lo, hi, cur)| (ix.syms.get(cur), *lo, *hi)),
            attributes: attrs
                .iter()
                .map(|(name, values)| set(&mut values.iter().map(|v| format!("{name}={v}"))))
                .collect(),
            names: attrs
                .iter()
                .map(|(name, _)| ix.syms.get(name).unwrap_or(Sym::MAX))
                .collect(),
            in_stock: f.in_stock,
        }
    }
}

/// A hit's place in the requested order: smaller is earlier.
#[derive(Clone, Copy, Debug)]
struct Rank {
    key: (u64, u128),
    score: f32,
}

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Rank {}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// `i64` to `u64`, order kept.
fn asc(k: i64) -> u64 {
    (k as u64) ^ (1 << 63)
}

/// Orders as the SQL did: newest `(created_at, id) DESC`, price ascending `(price, id) ASC`,
/// descending `(price, id) DESC`, relevance `(score, id) DESC`.
fn rank(sort: Sort, key: i64, score: f32, id: u128) -> Rank {
    let key = match sort {
        Sort::Newest | Sort::PriceDesc => (!asc(key), !id),
        Sort::PriceAsc => (asc(key), id),
        Sort::Relevance => (!asc(ordered(score)), !id),
    };
    Rank { key, score }
}

/// An `i64` ordered as `f32::total_cmp` orders the score.
fn ordered(f: f32) -> i64 {
    let b = f.to_bits() as i32;
    i64::from(b ^ ((((b >> 31) as u32) >> 1) as i32))
}

#[cfg(test)]
mod tests;
