use super::*;

fn product(n: u128, name: &str, brand: &str, description: &str, tags: &[&str]) -> Product {
    Product {
        id: Uuid::from_u128(n),
        name: name.into(),
        brand: brand.into(),
        description: description.into(),
        status: "active".into(),
        created: 1_000 + n as i64,
        min_price: Some(1000),
        max_price: Some(1000),
        currency: Some("EUR".into()),
        tags: tags.iter().map(|t| (*t).into()).collect(),
        categories: Vec::new(),
        variants: vec![variant(&format!("SKU-{n}"), 1000, &[])],
    }
}

fn variant(sku: &str, price: i64, attrs: &[(&str, &str)]) -> Variant {
    Variant {
        sku: sku.into(),
        price,
        currency: "EUR".into(),
        in_stock: true,
        attributes: attrs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    }
}

fn active() -> Filters {
    Filters {
        statuses: vec!["active".into()],
        ..Default::default()
    }
}

fn query(q: &str) -> Filters {
    Filters {
        query: Some(q.into()),
        ..active()
    }
}

fn ids(page: &SearchPage) -> Vec<u128> {
    page.hits.iter().map(|h| h.0.as_u128()).collect()
}

fn index(products: &[Product]) -> Index {
    let mut ix = Index::default();
    for p in products {
        ix.upsert(p);
    }
    ix
}

#[test]
fn fields_are_weighted_and_typos_and_prefixes_match() {
    let ix = index(&[
        product(
            1,
            "Classic Leather Sneakers",
            "Zeta",
            "Everyday shoes.",
            &["shoes"],
        ),
        product(
            2,
            "Camping Lantern",
            "Glow",
            "Bright light for tents.",
            &["outdoor"],
        ),
        product(
            3,
            "Tent Peg Set",
            "Glow",
            "Works well next to any lantern.",
            &["outdoor"],
        ),
        product(4, "Wool Socks", "Zeta", "Warm.", &["lantern"]),
    ]);
    let page = ix.search(&query("lantern"), Sort::Relevance, None, 20);
    assert_eq!(ids(&page), [2, 4, 3], "name, then tag, then description");
    assert_eq!(page.total, 3);
    assert!(page.hits[0].1 > page.hits[1].1 && page.hits[1].1 > page.hits[2].1);
    for typo in [
        "sneekers",
        "lether sneakers",
        "lanter",
        "LANTERNS",
        "camping lant",
    ] {
        let page = ix.search(&query(typo), Sort::Relevance, None, 20);
        assert!(
            ids(&page).first().is_some_and(|f| *f == 1 || *f == 2),
            "{typo}: {page:?}"
        );
    }
    assert!(
        ix.search(&query("zzzqqqxx"), Sort::Relevance, None, 20)
            .hits
            .is_empty()
    );
    // Brand and SKU as written; every word must match; `or` and `-word`.
    assert_eq!(
        ids(&ix.search(&query("glow"), Sort::Newest, None, 20)),
        [3, 2]
    );
    assert_eq!(
        ids(&ix.search(&query("sku-4"), Sort::Relevance, None, 20)),
        [4]
    );
    assert_eq!(
        ids(&ix.search(&query("glow socks"), Sort::Relevance, None, 20)),
        Vec::<u128>::new()
    );
    assert_eq!(
        ids(&ix.search(&query("socks or tent -peg"), Sort::Newest, None, 20)),
        [4, 2]
    );
}

#[test]
fn facets_count_with_every_filter_but_their_own() {
    let mut red = product(1, "Red Shirt", "Acme", "", &["tops"]);
    red.variants = vec![
        variant("R-M", 1500, &[("color", "red"), ("size", "M")]),
        variant("R-L", 1500, &[("color", "red"), ("size", "L")]),
    ];
    red.min_price = Some(1500);
    red.max_price = Some(1500);
    let mut blue = product(2, "Blue Shirt", "Acme", "", &["tops"]);
    blue.variants = vec![variant("B-M", 2500, &[("color", "blue"), ("size", "M")])];
    blue.min_price = Some(2500);
    blue.max_price = Some(2500);
    let mut jeans = product(3, "Blue Jeans", "Denimco", "", &["bottoms"]);
    jeans.variants = vec![variant("J-32", 6000, &[("color", "blue"), ("size", "32")])];
    jeans.min_price = Some(6000);
    jeans.max_price = Some(6000);
    let mut ix = index(&[red, blue, jeans.clone()]);

    let all = ix.search(&active(), Sort::Newest, None, 20);
    assert_eq!(all.total, 3);
    assert_eq!(
        all.facets.brands,
        [("Acme".into(), 2), ("Denimco".into(), 1)]
    );
    assert_eq!(all.facets.tags, [("tops".into(), 2), ("bottoms".into(), 1)]);
    assert_eq!(all.facets.price, Some(("EUR".into(), 1500, 6000)));
    let color = &all
        .facets
        .attributes
        .iter()
        .find(|a| a.0 == "color")
        .unwrap()
        .1;
    assert_eq!(color, &[("blue".to_owned(), 2), ("red".to_owned(), 1)]);

    let acme = Filters {
        brands: vec!["acme".into()],
        ..active()
    };
    let page = ix.search(&acme, Sort::Newest, None, 20);
    assert_eq!((ids(&page), page.total), (vec![2, 1], 2));
    assert_eq!(
        page.facets.brands.len(),
        2,
        "the brand facet keeps the alternatives"
    );
    assert_eq!(page.facets.tags, [("tops".into(), 2)]);
    assert_eq!(page.facets.price, Some(("EUR".into(), 1500, 2500)));

    // One variant must satisfy every attribute filter; each attribute's facet ignores its own.
    let attrs = |a: &[(&str, &[&str])]| Filters {
        attributes: a
            .iter()
            .map(|(k, v)| ((*k).into(), v.iter().map(|s| (*s).into()).collect()))
            .collect(),
        ..active()
    };
    let blue_m = ix.search(
        &attrs(&[("color", &["blue"]), ("size", &["M"])]),
        Sort::Newest,
        None,
        20,
    );
    assert_eq!(ids(&blue_m), [2]);
    let sizes = &blue_m
        .facets
        .attributes
        .iter()
        .find(|a| a.0 == "size")
        .unwrap()
        .1;
    assert_eq!(
        sizes,
        &[("32".to_owned(), 1), ("M".to_owned(), 1)],
        "sizes of blue things"
    );
    let red_32 = ix.search(
        &attrs(&[("color", &["red"]), ("size", &["32"])]),
        Sort::Newest,
        None,
        20,
    );
    assert_eq!(red_32.total, 0);

    let cheap = Filters {
        price: Some((None, Some(2000), "EUR".into())),
        ..active()
    };
    let page = ix.search(&cheap, Sort::Newest, None, 20);
    assert_eq!(ids(&page), [1]);
    assert_eq!(
        page.facets.price,
        Some(("EUR".into(), 1500, 6000)),
        "ignores its own filter"
    );
    let yen = Filters {
        price: Some((None, Some(2000), "JPY".into())),
        ..active()
    };
    assert_eq!(ix.search(&yen, Sort::Newest, None, 20).total, 0);
    assert_eq!(
        ids(&ix.search(&active(), Sort::PriceDesc, None, 20)),
        [3, 2, 1]
    );

    // Archived: out for customers, in for admins; deleted: gone.
    jeans.status = "archived".into();
    ix.upsert(&jeans);
    assert_eq!(ix.search(&active(), Sort::Newest, None, 20).total, 2);
    let admin = Filters {
        statuses: vec!["draft".into(), "active".into(), "archived".into()],
        ..Default::default()
    };
    assert_eq!(ix.search(&admin, Sort::Newest, None, 20).total, 3);
    ix.remove(jeans.id);
    assert_eq!(ix.search(&admin, Sort::Newest, None, 20).total, 2);
    assert_eq!(ix.len(), 2);
}

#[test]
fn keyset_pages_have_no_gaps_or_repeats_through_writes_and_compaction() {
    let mut ix = Index::default();
    for n in 0..3_000u128 {
        let mut p = product(n, &format!("Item {n}"), "B", "", &[]);
        p.min_price = Some((n % 37) as i64 * 100);
        p.created = (n % 500) as i64; // many equal keys: the id breaks ties
        ix.upsert(&p);
    }
    // Rewrite a third of them (dead slots past a quarter compact the postings).
    for n in (0..3_000u128).step_by(3) {
        let mut p = product(n, &format!("Item {n}"), "B", "", &[]);
        p.min_price = Some((n % 37) as i64 * 100);
        p.created = (n % 500) as i64;
        ix.upsert(&p);
    }
    assert_eq!(ix.len(), 3_000);
    for sort in [Sort::Newest, Sort::PriceAsc, Sort::PriceDesc] {
        let mut seen = std::collections::HashSet::new();
        let mut cursor = None;
        let mut last: Option<Rank> = None;
        loop {
            let page = ix.search(&active(), sort, cursor.as_ref(), 97);
            for (id, _) in &page.hits {
                assert!(seen.insert(*id), "{sort:?}: {id} twice");
                let slot = ix.by_id[id] as usize;
                let r = rank(sort, ix.sort_key(sort, slot), 0.0, ix.rows[slot].id);
                assert!(last.is_none_or(|l| l < r), "{sort:?}: out of order");
                last = Some(r);
            }
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3_000, "{sort:?}");
    }
    // Relevance pages by offset.
    let q = query("item");
    let first = ix.search(&q, Sort::Relevance, None, 10);
    let second = ix.search(&q, Sort::Relevance, first.next.as_ref(), 10);
    assert_eq!(second.next.as_ref().and_then(|c| c.o), Some(20));
    assert!(first.hits.iter().all(|h| !second.hits.contains(h)));
}

#[test]
fn a_category_filter_takes_the_subtree_given_and_in_stock_needs_a_variant_in_stock() {
    let (shoes, boots) = (Uuid::from_u128(100), Uuid::from_u128(101));
    let mut a = product(1, "Trail Shoe", "", "", &[]);
    a.categories = vec![shoes];
    let mut b = product(2, "Winter Boot", "", "", &[]);
    b.categories = vec![boots];
    b.variants[0].in_stock = false;
    let c = product(3, "Hat", "", "", &[]);
    let ix = index(&[a, b, c]);
    let in_cats = |cats: Vec<Uuid>, in_stock| Filters {
        categories: Some(cats),
        in_stock,
        ..active()
    };
    assert_eq!(
        ids(&ix.search(&in_cats(vec![shoes, boots], false), Sort::Newest, None, 20)),
        [2, 1]
    );
    assert_eq!(
        ids(&ix.search(&in_cats(vec![shoes, boots], true), Sort::Newest, None, 20)),
        [1]
    );
    assert_eq!(
        ix.search(
            &in_cats(vec![Uuid::from_u128(9)], false),
            Sort::Newest,
            None,
            20
        )
        .total,
        0
    );
    let page = ix.search(&in_cats(vec![boots], false), Sort::Newest, None, 20);
    assert_eq!(
        page.facets.categories,
        [(shoes.to_string(), 1), (boots.to_string(), 1)],
        "the category facet counts every category (its own filter aside)"
    );
}

/// Totals and facet counts agree with counting the products one by one, for filters that keep
/// most products and for a text query that keeps a few.
#[test]
fn facets_agree_with_a_count_by_hand() {
    let brands = ["Acme", "Zeta", "Glow", ""];
    let tags = ["a", "b", "c", "d", "e"];
    let cats: Vec<Uuid> = (0..6).map(|c| Uuid::from_u128(1_000 + c)).collect();
    let products: Vec<Product> = (0..2_000u128)
        .map(|n| {
            let mut p = product(
                n,
                &format!("Thing {}", if n % 97 == 0 { "rare" } else { "common" }),
                brands[(n % 4) as usize],
                "",
                &[tags[(n % 5) as usize], tags[(n % 3) as usize]],
            );
            p.categories = vec![cats[(n % 6) as usize]];
            p.status = if n % 10 == 0 { "draft" } else { "active" }.into();
            p
        })
        .collect();
    let ix = index(&products);
    let by_hand = |f: &Filters, text: Option<&str>| {
        let keep = |p: &Product, skip: &str| {
            p.status == "active"
                && text.is_none_or(|t| p.name.contains(t))
                && (skip == "brand"
                    || f.brands.is_empty()
                    || f.brands.contains(&p.brand.to_lowercase()))
                && (skip == "tag" || f.tags.is_empty() || p.tags.iter().any(|t| f.tags.contains(t)))
        };
        let count = |skip: &str, values: &dyn Fn(&Product) -> Vec<String>| {
            let mut m: BTreeMap<String, i64> = BTreeMap::new();
            for p in products.iter().filter(|p| keep(p, skip)) {
                let mut vs = values(p);
                vs.sort();
                vs.dedup();
                for v in vs.into_iter().filter(|v| !v.is_empty()) {
                    *m.entry(v).or_default() += 1;
                }
            }
            let mut v: Vec<(String, i64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        let mut newest: Vec<&Product> = products.iter().filter(|p| keep(p, "")).collect();
        newest.sort_by_key(|p| std::cmp::Reverse((p.created, p.id)));
        (
            newest
                .iter()
                .take(5)
                .map(|p| p.id.as_u128())
                .collect::<Vec<_>>(),
            products.iter().filter(|p| keep(p, "")).count() as i64,
            count("brand", &|p| vec![p.brand.clone()]),
            count("tag", &|p| p.tags.clone()),
            count("", &|p| p.categories.iter().map(Uuid::to_string).collect()),
        )
    };
    for (brands, tags, text) in [
        (vec![], vec![], None),
        (vec!["acme".to_owned()], vec![], None),
        (vec!["zeta".to_owned()], vec!["b".to_owned()], None),
        (vec![], vec![], Some("rare")),
        (vec!["glow".to_owned()], vec![], Some("rare")),
    ] {
        let f = Filters {
            brands,
            tags,
            query: text.map(str::to_owned),
            ..active()
        };
        let page = ix.search(&f, Sort::Newest, None, 5);
        let (hits, total, b, t, c) = by_hand(&f, text);
        let what = format!("{:?} {:?} {text:?}", f.brands, f.tags);
        // A text search's few hits take the pass for scattered products, the others the one
        // for most of the catalog: the same answers.
        assert_eq!(ids(&page), hits, "{what}");
        assert_eq!(page.total, total, "{what}");
        assert_eq!(page.facets.brands, b, "{what}");
        assert_eq!(page.facets.tags, t, "{what}");
        assert_eq!(page.facets.categories, c, "{what}");
    }
}
