//! Checkout totals (issue #13): the admin API of price modes, tax rates, shipping zones and
//! methods and promotions; the public list of shipping methods; the internal quote the cart's
//! estimate comes from. The rules live in order_db because checkout redeems promotions in the
//! transaction that stores the order.

pub mod quote;
pub mod store;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{MethodFilter, MethodRouter, on, post};
use kit::jwt::AdminUser;
use kit::problem::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem};
use kit::totals::routes::OPERATIONS;
use kit::totals::{
    Estimate, Method, MethodInput, MethodList, PriceModeInput, PriceModeList, PriceModeSetting,
    Promotion, PromotionInput, PromotionPage, PromotionPageQuery, QuoteRequest,
    ShippingMethodsQuery, ShippingOption, ShippingOptionList, TaxRate, TaxRateInput, TaxRateList,
    Zone, ZoneInput, ZoneList, code_param, country_param, currency_param, is_country, is_currency,
};
use uuid::Uuid;

use crate::api::{ApiError, ApiResult, AppState};

/// The routes (merged into the order API's router): the table's operations, each to its
/// handler, and the internal quote.
pub fn router() -> Router<AppState> {
    let mut router = Router::new().route("/internal/v1/quote", post(quote_lines));
    for op in OPERATIONS {
        let Some(route) = handler(op.id, kit::server::method_filter(op.verb)) else {
            panic!(
                "the order service has no handler for the operation `{}`",
                op.id
            );
        };
        // A second method on a path joins the first (axum merges them).
        router = router.route(op.path, route);
    }
    router
}

/// The handler of an operation of the table, under `filter` (its method).
fn handler(operation_id: &str, filter: MethodFilter) -> Option<MethodRouter<AppState>> {
    Some(match operation_id {
        "listShippingMethods" => on(filter, list_shipping_options),
        "listPriceModes" => on(filter, list_price_modes),
        "setPriceMode" => on(filter, set_price_mode),
        "deletePriceMode" => on(filter, delete_price_mode),
        "listTaxRates" => on(filter, list_tax_rates),
        "setTaxRate" => on(filter, set_tax_rate),
        "deleteTaxRate" => on(filter, delete_tax_rate),
        "listShippingZones" => on(filter, list_zones),
        "createShippingZone" => on(filter, create_zone),
        "getShippingZone" => on(filter, get_zone),
        "replaceShippingZone" => on(filter, replace_zone),
        "deleteShippingZone" => on(filter, delete_zone),
        "listAdminShippingMethods" => on(filter, list_methods),
        "createShippingMethod" => on(filter, create_method),
        "getShippingMethod" => on(filter, get_method),
        "replaceShippingMethod" => on(filter, replace_method),
        "deleteShippingMethod" => on(filter, delete_method),
        "listPromotions" => on(filter, list_promotions),
        "createPromotion" => on(filter, create_promotion),
        "getPromotion" => on(filter, get_promotion),
        "replacePromotion" => on(filter, replace_promotion),
        "deletePromotion" => on(filter, delete_promotion),
        _ => return None,
    })
}

fn invalid(errors: Vec<FieldError>) -> ApiResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Problem::validation(errors).into())
    }
}

/// A write refused by a constraint: a taken name or code (409), an unknown zone (422), a usage
/// limit below the uses made (409).
fn constraint(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(d) = &e {
        let name = d.constraint().unwrap_or_default().to_owned();
        if d.is_unique_violation() {
            let field = if name.contains("code") {
                "code"
            } else {
                "name"
            };
            return Problem::conflict(format!("Another entry already has this `{field}`."))
                .with_errors(vec![FieldError::new(field, "is taken")])
                .into();
        }
        if d.is_foreign_key_violation() {
            return Problem::validation(vec![FieldError::new(
                "zone_id",
                "there is no shipping zone with this id",
            )])
            .into();
        }
        if d.is_check_violation() && name.contains("check") {
            return Problem::conflict(
                "The promotion has already been used more often than this `usage_limit` allows.",
            )
            .with_errors(vec![FieldError::new(
                "usage_limit",
                "is below the uses already made",
            )])
            .into();
        }
    }
    e.into()
}

fn gone(what: &str, id: impl std::fmt::Display) -> ApiError {
    Problem::not_found(format!("There is no {what} {id}.")).into()
}

fn no_content(found: bool, what: &str, id: impl std::fmt::Display) -> ApiResult<StatusCode> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(gone(what, id))
    }
}

// ---------- public ----------

/// `GET /api/v1/shipping-methods?country=DE[&region=..][&currency=EUR]`: the active methods
/// that ship there, with their rates (the cart's estimate prices them for a cart).
pub async fn list_shipping_options(
    State(st): State<AppState>,
    Query(q): Query<ShippingMethodsQuery>,
) -> ApiResult<Json<ShippingOptionList>> {
    let country = q.country.as_deref().unwrap_or("").to_ascii_uppercase();
    let mut errors = Vec::new();
    if !is_country(&country) {
        errors.push(FieldError::new(
            "country",
            "is required: an ISO 3166-1 alpha-2 code such as `DE`",
        ));
    }
    let currency = currency_param(&mut errors, "currency", q.currency.as_deref());
    invalid(errors)?;
    let items = store::active_methods(&st.pool, currency.as_deref())
        .await?
        .iter()
        .filter(|(zone, _)| zone.covers(&country, q.region.as_deref()))
        .map(|(zone, m)| ShippingOption::offer(zone, m, None))
        .collect();
    Ok(Json(ShippingOptionList { items }))
}

/// `POST /internal/v1/quote`: the estimate of the cart's lines (called by the cart service; not
/// routed by the gateway). Lines that cannot be bought in the currency are 422.
pub async fn quote_lines(
    State(st): State<AppState>,
    headers: HeaderMap,
    Json(q): Json<QuoteRequest>,
) -> ApiResult<Json<Estimate>> {
    let mut errors = Vec::new();
    if q.lines.is_empty() || q.lines.len() > st.settings.max_lines {
        errors.push(FieldError::new(
            "lines",
            format!("must hold 1 to {} lines", st.settings.max_lines),
        ));
    }
    for (i, l) in q.lines.iter().enumerate() {
        if !crate::domain::valid_sku(&l.sku) {
            errors.push(FieldError::new(format!("items[{i}].sku"), "is not a SKU"));
        }
        if !(1..=st.settings.max_line_quantity).contains(&l.quantity) {
            errors.push(FieldError::new(
                format!("items[{i}].quantity"),
                format!("must be between 1 and {}", st.settings.max_line_quantity),
            ));
        }
    }
    let currency = currency_param(&mut errors, "currency", q.currency.as_deref());
    let country = country_param(&mut errors, "country", q.country.as_deref());
    let code = code_param(&mut errors, "promotion_code", q.code.as_deref());
    invalid(errors)?;
    let lines: Vec<(String, i64)> = q
        .lines
        .iter()
        .map(|l| (l.sku.clone(), l.quantity))
        .collect();
    let (currency, items) = quote::catalog(&st, &headers, &lines, currency.as_deref()).await?;
    let ask = quote::Ask {
        country,
        region: q.region.clone(),
        shipping_method_id: q.shipping_method_id,
        code,
        user_id: q.user_id,
        strict: false,
    };
    Ok(Json(
        quote::quote(&st, &currency, &items, &ask).await?.estimate,
    ))
}

// ---------- price modes ----------

fn currency_path(c: &str) -> ApiResult<String> {
    if is_currency(c) {
        Ok(c.to_owned())
    } else {
        Err(
            Problem::bad_request("The currency must be an uppercase ISO 4217 code such as `EUR`.")
                .with_errors(vec![FieldError::new("currency", "is not an ISO 4217 code")])
                .into(),
        )
    }
}

pub async fn list_price_modes(
    State(st): State<AppState>,
    _: AdminUser,
) -> ApiResult<Json<PriceModeList>> {
    Ok(Json(PriceModeList {
        items: store::price_modes(&st.pool).await?,
    }))
}

pub async fn set_price_mode(
    State(st): State<AppState>,
    _: AdminUser,
    Path(currency): Path<String>,
    Json(body): Json<PriceModeInput>,
) -> ApiResult<Json<PriceModeSetting>> {
    let currency = currency_path(&currency)?;
    store::set_price_mode(&st.pool, &currency, body.mode).await?;
    Ok(Json(PriceModeSetting {
        currency,
        mode: body.mode,
    }))
}

pub async fn delete_price_mode(
    State(st): State<AppState>,
    _: AdminUser,
    Path(currency): Path<String>,
) -> ApiResult<StatusCode> {
    let currency = currency_path(&currency)?;
    let found = store::delete_price_mode(&st.pool, &currency).await?;
    no_content(found, "price mode for", currency)
}

// ---------- tax rates ----------

pub async fn list_tax_rates(
    State(st): State<AppState>,
    _: AdminUser,
) -> ApiResult<Json<TaxRateList>> {
    Ok(Json(TaxRateList {
        items: store::tax_rates(&st.pool).await?,
    }))
}

pub async fn set_tax_rate(
    State(st): State<AppState>,
    _: AdminUser,
    Json(body): Json<TaxRateInput>,
) -> ApiResult<Json<TaxRate>> {
    invalid(body.validate())?;
    Ok(Json(store::set_tax_rate(&st.pool, &body).await?))
}

pub async fn delete_tax_rate(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let found = store::delete_tax_rate(&st.pool, id).await?;
    no_content(found, "tax rate", id)
}

// ---------- zones ----------

pub async fn list_zones(State(st): State<AppState>, _: AdminUser) -> ApiResult<Json<ZoneList>> {
    Ok(Json(ZoneList {
        items: store::zones(&st.pool).await?,
    }))
}

pub async fn get_zone(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Zone>> {
    let z = store::get_zone(&st.pool, id).await?;
    z.map(Json).ok_or_else(|| gone("shipping zone", id))
}

pub async fn create_zone(
    State(st): State<AppState>,
    _: AdminUser,
    Json(body): Json<ZoneInput>,
) -> ApiResult<(StatusCode, Json<Zone>)> {
    invalid(body.validate())?;
    let z = store::put_zone(&st.pool, Uuid::now_v7(), &body, true)
        .await
        .map_err(constraint)?
        .ok_or_else(|| ApiError::Other(anyhow::anyhow!("insert returned no row")))?;
    Ok((StatusCode::CREATED, Json(z)))
}

pub async fn replace_zone(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ZoneInput>,
) -> ApiResult<Json<Zone>> {
    invalid(body.validate())?;
    let z = store::put_zone(&st.pool, id, &body, false)
        .await
        .map_err(constraint)?;
    z.map(Json).ok_or_else(|| gone("shipping zone", id))
}

pub async fn delete_zone(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let found = store::delete_zone(&st.pool, id).await?;
    no_content(found, "shipping zone", id)
}

// ---------- methods ----------

pub async fn list_methods(State(st): State<AppState>, _: AdminUser) -> ApiResult<Json<MethodList>> {
    Ok(Json(MethodList {
        items: store::methods(&st.pool).await?,
    }))
}

pub async fn get_method(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Method>> {
    let m = store::get_method(&st.pool, id).await?;
    m.map(Json).ok_or_else(|| gone("shipping method", id))
}

pub async fn create_method(
    State(st): State<AppState>,
    _: AdminUser,
    Json(body): Json<MethodInput>,
) -> ApiResult<(StatusCode, Json<Method>)> {
    invalid(body.validate())?;
    let m = store::put_method(&st.pool, Uuid::now_v7(), &body, true)
        .await
        .map_err(constraint)?
        .ok_or_else(|| ApiError::Other(anyhow::anyhow!("insert returned no row")))?;
    Ok((StatusCode::CREATED, Json(m)))
}

pub async fn replace_method(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
    Json(body): Json<MethodInput>,
) -> ApiResult<Json<Method>> {
    invalid(body.validate())?;
    let m = store::put_method(&st.pool, id, &body, false)
        .await
        .map_err(constraint)?;
    m.map(Json).ok_or_else(|| gone("shipping method", id))
}

pub async fn delete_method(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let found = store::delete_method(&st.pool, id).await?;
    no_content(found, "shipping method", id)
}

// ---------- promotions ----------

pub async fn list_promotions(
    State(st): State<AppState>,
    _: AdminUser,
    Query(q): Query<PromotionPageQuery>,
) -> ApiResult<Json<PromotionPage>> {
    let page =
        kit::page::Page::parse(q.cursor.as_deref(), q.limit, 50).map_err(Problem::validation)?;
    let mut items = store::promotions(&st.pool, page.after, page.limit + 1).await?;
    let next_cursor = page.finish(&mut items, |p| p.id);
    Ok(Json(PromotionPage { items, next_cursor }))
}

pub async fn get_promotion(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Promotion>> {
    let p = store::get_promotion(&st.pool, id).await?;
    p.map(Json).ok_or_else(|| gone("promotion", id))
}

pub async fn create_promotion(
    State(st): State<AppState>,
    _: AdminUser,
    Json(body): Json<PromotionInput>,
) -> ApiResult<(StatusCode, Json<Promotion>)> {
    invalid(body.validate())?;
    let p = store::put_promotion(&st.pool, Uuid::now_v7(), &body, true)
        .await
        .map_err(constraint)?
        .ok_or_else(|| ApiError::Other(anyhow::anyhow!("insert returned no row")))?;
    Ok((StatusCode::CREATED, Json(p)))
}

pub async fn replace_promotion(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
    Json(body): Json<PromotionInput>,
) -> ApiResult<Json<Promotion>> {
    invalid(body.validate())?;
    let p = store::put_promotion(&st.pool, id, &body, false)
        .await
        .map_err(constraint)?;
    p.map(Json).ok_or_else(|| gone("promotion", id))
}

pub async fn delete_promotion(
    State(st): State<AppState>,
    _: AdminUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let found = store::delete_promotion(&st.pool, id).await?;
    no_content(found, "promotion", id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation the gateway forwards and documents has its handler here.
    #[test]
    fn every_operation_of_the_table_has_a_handler() {
        for op in OPERATIONS {
            assert!(
                handler(op.id, kit::server::method_filter(op.verb)).is_some(),
                "no handler for `{}`",
                op.id
            );
        }
        assert!(handler("noSuchOperation", MethodFilter::GET).is_none());
        // Two methods on one path are one route; a clash would panic here.
        let _ = router();
    }
}
