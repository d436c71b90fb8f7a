#!/usr/bin/env python3
# Generates services/gateway/src/routes/totals.rs: forwarding handlers with their OpenAPI docs,
# from one table of operations. Run it, then `cargo fmt --all`.
import os
ops = [
 # (fn, method, path, opid, doc, body, ok_status, ok_desc, ok_body, extra responses, admin, params)
 ("list_shipping_options","get","/api/v1/shipping-methods","listShippingMethods",
  "The shipping methods offered to a destination, with their rates.\n///\n/// `amount` is null here: a rate by subtotal or weight depends on the cart; the cart's\n/// estimate (`GET /api/v1/cart?country=..`) prices them for it.",
  None,200,"The methods that ship there","ShippingOptionList",
  [(422,"`country` missing or not an ISO code, or a malformed `currency`")],False,"ShippingMethodsQuery"),
 ("list_price_modes","get","/api/v1/admin/price-modes","listPriceModes","How each currency's prices are entered. A currency without a setting is tax-exclusive. Admin only.",
  None,200,"Every setting","PriceModeList",[],True,None),
 ("set_price_mode","put","/api/v1/admin/price-modes/{currency}","setPriceMode","Set whether a currency's prices include tax (EU) or not (US). Admin only.",
  "PriceModeInput",200,"The setting","PriceModeSetting",[(422,"A malformed body")],True,"currency"),
 ("delete_price_mode","delete","/api/v1/admin/price-modes/{currency}","deletePriceMode","Forget a currency's setting (it becomes tax-exclusive). Admin only.",
  None,204,"Forgotten",None,[(404,"No setting for this currency")],True,"currency"),
 ("list_tax_rates","get","/api/v1/admin/tax-rates","listTaxRates","Every tax rate, by country, region and category. Admin only.",
  None,200,"The rates","TaxRateList",[],True,None),
 ("set_tax_rate","put","/api/v1/admin/tax-rates","setTaxRate","Set the rate of a tax category at a destination (creates or replaces it). A category without a rate at a destination is not taxed there; `zero` is always 0. Admin only.",
  "TaxRateInput",200,"The rate as stored","TaxRate",[(422,"An invalid field; `errors` names it")],True,None),
 ("delete_tax_rate","delete","/api/v1/admin/tax-rates/{id}","deleteTaxRate","Delete a tax rate. Admin only.",
  None,204,"Deleted",None,[(404,"No such rate")],True,"id"),
 ("list_zones","get","/api/v1/admin/shipping-zones","listShippingZones","Every shipping zone. Admin only.",None,200,"The zones","ZoneList",[],True,None),
 ("create_zone","post","/api/v1/admin/shipping-zones","createShippingZone","Create a shipping zone: the countries (and optionally regions) its methods ship to. Admin only.",
  "ZoneInput",201,"The zone","Zone",[(409,"The name is taken"),(422,"An invalid field; `errors` names it")],True,None),
 ("get_zone","get","/api/v1/admin/shipping-zones/{id}","getShippingZone","One shipping zone. Admin only.",None,200,"The zone","Zone",[(404,"No such zone")],True,"id"),
 ("replace_zone","put","/api/v1/admin/shipping-zones/{id}","replaceShippingZone","Replace a shipping zone. Admin only.",
  "ZoneInput",200,"The zone","Zone",[(404,"No such zone"),(409,"The name is taken"),(422,"An invalid field; `errors` names it")],True,"id"),
 ("delete_zone","delete","/api/v1/admin/shipping-zones/{id}","deleteShippingZone","Delete a shipping zone with its methods. Admin only.",None,204,"Deleted",None,[(404,"No such zone")],True,"id"),
 ("list_methods","get","/api/v1/admin/shipping-methods","listAdminShippingMethods","Every shipping method, active or not. Admin only.",None,200,"The methods","MethodList",[],True,None),
 ("create_method","post","/api/v1/admin/shipping-methods","createShippingMethod","Create a shipping method of a zone: a flat rate, a rate by subtotal tier or by weight tier, an optional free-shipping threshold and a delivery estimate. Admin only.",
  "MethodInput",201,"The method","Method",[(422,"An invalid field or an unknown `zone_id`; `errors` names it")],True,None),
 ("get_method","get","/api/v1/admin/shipping-methods/{id}","getShippingMethod","One shipping method. Admin only.",None,200,"The method","Method",[(404,"No such method")],True,"id"),
 ("replace_method","put","/api/v1/admin/shipping-methods/{id}","replaceShippingMethod","Replace a shipping method. Admin only.",
  "MethodInput",200,"The method","Method",[(404,"No such method"),(422,"An invalid field or an unknown `zone_id`; `errors` names it")],True,"id"),
 ("delete_method","delete","/api/v1/admin/shipping-methods/{id}","deleteShippingMethod","Delete a shipping method (orders keep the name they were placed with). Admin only.",None,204,"Deleted",None,[(404,"No such method")],True,"id"),
 ("list_promotions","get","/api/v1/admin/promotions","listPromotions","Promotions, newest first, with their uses. Admin only.",None,200,"A page of promotions","PromotionPage",[(422,"`limit` out of 1..=100 or an unknown `cursor`")],True,"page"),
 ("create_promotion","post","/api/v1/admin/promotions","createPromotion","Create a promotion: automatic (no `code`) or a coupon code, with conditions, a benefit, a time window and usage limits. Admin only.",
  "PromotionInput",201,"The promotion","Promotion",[(409,"The code is taken"),(422,"An invalid field; `errors` names it")],True,None),
 ("get_promotion","get","/api/v1/admin/promotions/{id}","getPromotion","One promotion with its uses. Admin only.",None,200,"The promotion","Promotion",[(404,"No such promotion")],True,"id"),
 ("replace_promotion","put","/api/v1/admin/promotions/{id}","replacePromotion","Replace a promotion; its uses stay. Admin only.",
  "PromotionInput",200,"The promotion","Promotion",[(404,"No such promotion"),(409,"The code is taken, or `usage_limit` is below the uses already made"),(422,"An invalid field; `errors` names it")],True,"id"),
 ("delete_promotion","delete","/api/v1/admin/promotions/{id}","deletePromotion","Delete a promotion. Orders keep the discount they were given. Admin only.",None,204,"Deleted",None,[(404,"No such promotion")],True,"id"),
]
P='body = ProblemDoc, content_type = "application/problem+json"'
out=[]
out.append('''//! Checkout totals over REST (issue #13): the public list of shipping methods and the admin API
//! of price modes, tax rates, shipping zones and methods and promotions, forwarded as they are to
//! the order service (HTTP), which owns and validates them. The bodies are `kit::totals`' types,
//! the same the order service reads and writes. This file is generated by
//! `scripts/gen-totals-routes.py` (then `cargo fmt`) from one table of operations; edit the
//! table, not the output.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;
use kit::totals::{
    BenefitInput, CodeStatus, Conditions, DeliveryDays, Estimate, Method, MethodInput,
    PriceModeInput, PriceModeSetting, Promotion, PromotionInput, Rate, ShippingChoice,
    ShippingOption, SubtotalTier, TaxRate, TaxRateInput, WeightTier, Zone, ZoneInput,
};
use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The routes: the shipping methods are public, the rest behind [`crate::protect`] (the order
/// service checks the admin role).
pub fn router(state: &AppState) -> Router<AppState> {
    let public = Router::new().route("/api/v1/shipping-methods", get(list_shipping_options));
    let admin = Router::new()
        .route("/api/v1/admin/price-modes", get(list_price_modes))
        .route(
            "/api/v1/admin/price-modes/{currency}",
            axum::routing::put(set_price_mode).delete(delete_price_mode),
        )
        .route(
            "/api/v1/admin/tax-rates",
            get(list_tax_rates).put(set_tax_rate),
        )
        .route(
            "/api/v1/admin/tax-rates/{id}",
            axum::routing::delete(delete_tax_rate),
        )
        .route(
            "/api/v1/admin/shipping-zones",
            get(list_zones).post(create_zone),
        )
        .route(
            "/api/v1/admin/shipping-zones/{id}",
            get(get_zone).put(replace_zone).delete(delete_zone),
        )
        .route(
            "/api/v1/admin/shipping-methods",
            get(list_methods).post(create_method),
        )
        .route(
            "/api/v1/admin/shipping-methods/{id}",
            get(get_method).put(replace_method).delete(delete_method),
        )
        .route(
            "/api/v1/admin/promotions",
            get(list_promotions).post(create_promotion),
        )
        .route(
            "/api/v1/admin/promotions/{id}",
            get(get_promotion)
                .put(replace_promotion)
                .delete(delete_promotion),
        );
    public.merge(crate::protect(admin, state))
}
''')
names=", ".join(o[0] for o in ops)
out.append(f'''/// The checkout-totals part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths({names}),
    components(schemas(
        ShippingOption, ShippingOptionList, PriceModeSetting, PriceModeInput, PriceModeList,
        TaxRate, TaxRateInput, TaxRateList, Zone, ZoneInput, ZoneList, Method, MethodInput,
        MethodList, Rate, SubtotalTier, WeightTier, DeliveryDays, Promotion, PromotionInput,
        PromotionPage, Conditions, BenefitInput, Estimate, CodeStatus, ShippingChoice,
        kit::pricing::Breakdown, kit::pricing::LineBreakdown, kit::pricing::TaxLine,
        kit::pricing::Applied, kit::pricing::PriceMode, kit::pricing::TaxCategory
    )),
    tags((name = "shipping", description = "Where and how orders ship, and what it costs"))
)]
pub struct TotalsApiDoc;

// ---------- lists and queries ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingOptionList {{
    pub items: Vec<ShippingOption>,
}}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceModeList {{
    pub items: Vec<PriceModeSetting>,
}}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRateList {{
    pub items: Vec<TaxRate>,
}}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneList {{
    pub items: Vec<Zone>,
}}

#[derive(Debug, Serialize, ToSchema)]
pub struct MethodList {{
    pub items: Vec<Method>,
}}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionPage {{
    pub items: Vec<Promotion>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}}

/// Query of `GET /api/v1/shipping-methods`.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShippingMethodsQuery {{
    /// Required. ISO 3166-1 alpha-2 code of the destination.
    #[param(example = "DE")]
    pub country: String,
    /// The destination's state or province (ISO 3166-2 such as `US-CA`, or its part after the
    /// hyphen), for zones limited to regions.
    pub region: Option<String>,
    /// Only methods in this currency.
    #[param(example = "EUR")]
    pub currency: Option<String>,
}}

/// Query of `GET /api/v1/admin/promotions`.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromotionPageQuery {{
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 100 (default 50).
    pub limit: Option<i64>,
}}

// ---------- handlers ----------
''')
for (fn,method,path,opid,doc,body,ok,okd,okb,extra,admin,params) in ops:
    lines=[f"/// {doc}","#[utoipa::path(",f"    {method},",f'    path = "{path}",',
           f'    tag = "{"admin" if admin else "shipping"}",',f'    operation_id = "{opid}",']
    if body: lines.append(f"    request_body = {body},")
    if params=="currency": lines.append('    params(("currency" = String, Path, description = "Uppercase ISO 4217 code", example = "EUR")),')
    elif params=="id": lines.append('    params(("id" = uuid::Uuid, Path, description = "The id")),')
    elif params=="page": lines.append('    params(PromotionPageQuery),')
    elif params: lines.append(f'    params({params}),')
    if admin: lines.append('    security(("bearer" = [])),')
    lines.append("    responses(")
    if okb: lines.append(f'        (status = {ok}, description = "{okd}", body = {okb}),')
    else: lines.append(f'        (status = {ok}, description = "{okd}"),')
    resp=[]
    if params in ("currency","id","page") or body: resp.append((400,"A malformed id, query parameter or a body that is not JSON"))
    if admin: resp += [(401,"No valid access token"),(403,"Not an admin")]
    resp += extra
    if body: resp.append((415,"The body is not `application/json`"))
    resp += [(429,"Rate limited"),(502,"The order service is unavailable"),(503,"The order service is busy"),(504,"The order service did not answer in time")]
    resp.sort(key=lambda r:r[0])
    for st,d in resp:
        lines.append(f'        (status = {st}, description = "{d}", {P}),')
    lines.append("    )")
    lines.append(")]")
    lines.append(f"pub async fn {fn}(State(state): State<AppState>, req: Request) -> Response {{")
    lines.append('    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await')
    lines.append("}")
    out.append("\n".join(lines)+"\n")
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'services/gateway/src/routes/totals.rs'),'w').write("\n".join(out))
