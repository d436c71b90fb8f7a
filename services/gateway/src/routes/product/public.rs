//! The public catalog reads: search with facets, one product, the category tree.

#[allow(unused_imports)]
use super::*;

/// Parses the raw query of `GET /api/v1/products` into a search request.
pub(super) fn search_request(
    pairs: Vec<(String, String)>,
) -> Result<pb::SearchProductsRequest, Problem> {
    let mut r = pb::SearchProductsRequest::default();
    let mut errors = Vec::new();
    let mut min = None;
    let mut max = None;
    let mut currency = "EUR".to_owned();
    let mut attrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let split = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (k, v) in pairs {
        match k.as_str() {
            "q" => r.query = v,
            "category" => r.category_id = v,
            "brand" => r.brands.extend(split(&v)),
            "tag" => r.tags.extend(split(&v)),
            "min_price" | "max_price" => match v.parse::<i64>() {
                Ok(n) if n >= 0 => {
                    if k == "min_price" {
                        min = Some(n)
                    } else {
                        max = Some(n)
                    }
                }
                _ => errors.push(FieldError::new(
                    k.clone(),
                    "must be a whole number of minor units, 0 or more",
                )),
            },
            "currency" => currency = v,
            "in_stock" => match v.as_str() {
                "true" | "1" => r.in_stock = true,
                "false" | "0" => r.in_stock = false,
                _ => errors.push(FieldError::new("in_stock", "must be true or false")),
            },
            "sort" => {
                r.sort = match v.as_str() {
                    "relevance" => pb::SearchSort::Relevance,
                    "price_asc" => pb::SearchSort::PriceAsc,
                    "price_desc" => pb::SearchSort::PriceDesc,
                    "newest" => pb::SearchSort::Newest,
                    _ => {
                        errors.push(FieldError::new(
                            "sort",
                            "must be relevance, newest, price_asc or price_desc",
                        ));
                        pb::SearchSort::Unspecified
                    }
                } as i32
            }
            "cursor" => r.page_token = v,
            "limit" => match v.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => r.page_size = n as i32,
                _ => errors.push(FieldError::new("limit", "must be between 1 and 100")),
            },
            other => match other.strip_prefix("attr.") {
                Some(name) if !name.is_empty() => {
                    attrs.entry(name.to_owned()).or_default().extend(split(&v))
                }
                _ => errors.push(FieldError::new(other, "is not a known parameter")),
            },
        }
    }
    r.min_price = min.map(|amount_minor| pb::Money {
        amount_minor,
        currency: currency.clone(),
    });
    r.max_price = max.map(|amount_minor| pb::Money {
        amount_minor,
        currency: currency.clone(),
    });
    r.attribute_filters = attrs
        .into_iter()
        .map(|(name, values)| pb::AttributeFilter { name, values })
        .collect();
    if errors.is_empty() {
        Ok(r)
    } else {
        Err(Problem::validation(errors))
    }
}

/// Searches the catalog: full-text with typo tolerance, filters, sort, and facet counts.
///
/// Variant attribute filters are parameters named after the attribute:
/// `attr.color=red,blue&attr.size=M` (one variant must match all; names are lowercase letters,
/// digits, `_` and `-`). OpenAPI cannot declare parameters by a name pattern, so they are not
/// in the list below.
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "catalog",
    operation_id = "searchProducts",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of products with facets over all matches", body = ProductSearchResult, headers(("ETag" = String, description = "A weak tag of this answer; send it as `If-None-Match` to get 304 while it is current"), ("X-Cache" = String, description = "`hit`: from the gateway's answer cache (current as of the last catalog write), `miss`: stored there now; absent: not cached (an admin's or a bad token's request, or the cache is off)"))),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
        (status = 422, description = "A bad parameter (named in `errors`), or a cursor of another query", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The catalog is busy (computed searches take turns: `product.search_concurrency` at once, a bounded queue). Retry after `Retry-After` seconds", body = ProblemDoc, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub async fn search_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Json<ProductSearchResult>, Problem> {
    let req = search_request(pairs)?;
    let r = client(&state)
        .search_products(grpc_request(req, &headers))
        .await
        .map_err(status_problem)?
        .into_inner();
    let values = |l: Vec<pb::FacetValue>| {
        l.into_iter()
            .map(|v| FacetValueView {
                value: v.value,
                count: v.count,
            })
            .collect::<Vec<_>>()
    };
    let f = r.facets.unwrap_or_default();
    Ok(Json(ProductSearchResult {
        items: r
            .hits
            .into_iter()
            .filter_map(|h| h.product.map(product_view))
            .collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
        total: r.total_size,
        facets: FacetsView {
            brands: values(f.brands),
            categories: values(f.categories),
            tags: values(f.tags),
            attributes: f
                .attributes
                .into_iter()
                .map(|a| AttributeFacetView {
                    name: a.name,
                    values: values(a.values),
                })
                .collect(),
            price_range: f.price_range.map(|p| PriceRangeView {
                min: money(p.min),
                max: money(p.max),
            }),
        },
    }))
}

/// One product by id (a UUID) or slug. Drafts are visible to admins only.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id_or_slug}",
    tag = "catalog",
    operation_id = "getProduct",
    params(("id_or_slug" = String, Path, description = "A product id or slug", example = "trail-running-shoe")),
    responses(
        (status = 200, description = "The product", body = ProductView, headers(("ETag" = String, description = "A weak tag of this answer; send it as `If-None-Match` to get 304 while it is current"), ("X-Cache" = String, description = "`hit`: from the gateway's answer cache (current as of the last catalog write), `miss`: stored there now; absent: not cached (an admin's or a bad token's request, or the cache is off)"))),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Json<ProductView>, Problem> {
    let lookup = lookup(key)?;
    let p = client(&state)
        .get_product(grpc_request(
            pb::GetProductRequest {
                lookup: Some(lookup),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(product_view(p)))
}

/// Every category, flat in depth-first order.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    tag = "catalog",
    operation_id = "listCategories",
    params(CategoryPageQuery),
    responses(
        (status = 200, description = "Categories, parents before children", body = CategoryList, headers(("ETag" = String, description = "A weak tag of this answer; send it as `If-None-Match` to get 304 while it is current"), ("X-Cache" = String, description = "`hit`: from the gateway's answer cache (current as of the last catalog write), `miss`: stored there now; absent: not cached (an admin's or a bad token's request, or the cache is off)"))),
        (status = 304, description = "Not modified: `If-None-Match` named the current `ETag`"),
        (status = 422, description = "Bad cursor or limit", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn list_categories(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CategoryPageQuery>,
) -> Result<Json<CategoryList>, Problem> {
    let r = client(&state)
        .list_categories(grpc_request(
            pb::ListCategoriesRequest {
                page_size: limit(q.limit, 1000)?,
                page_token: q.cursor.unwrap_or_default(),
                root_id: None,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(CategoryList {
        items: r.categories.into_iter().map(category_view).collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    }))
}
