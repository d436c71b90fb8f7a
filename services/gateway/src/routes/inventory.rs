//! Stock over REST: `GET /api/v1/inventory/availability?skus=a,b` (public) and
//! `GET|PUT|PATCH /api/v1/admin/inventory/{sku}` (role admin), in front of the inventory
//! service's gRPC API. Shapes are checked here (422 naming the field); the service applies the
//! stock rules and checks the role again.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use kit::jwt::AdminUser;
use kit::problem::extract::{Json, Path, Query};
use kit::problem::{FieldError, Problem};
use kit::upstream::grpc_request;
use serde::{Deserialize, Serialize};
use storefront_proto::inventory::v1 as pb;
use storefront_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use tonic::transport::Channel;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::{rfc3339, valid};
use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// Rules shared with the inventory service (see `inventory.proto`).
const SKUS_MAX: usize = 100;
const NOTE_MAX: usize = 500;
const DELTA_MAX: i64 = 1_000_000;
const ON_HAND_MAX: i64 = 1_000_000_000;

/// The inventory routes: the public availability read and the admin routes behind
/// [`crate::protect`].
pub fn router(state: &AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/api/v1/inventory/availability", get(get_availability))
        .route(
            "/api/v1/products/{id_or_slug}/availability",
            get(get_product_availability),
        );
    let admin = Router::new().route(
        "/api/v1/admin/inventory/{sku}",
        get(get_stock).put(set_stock).patch(adjust_stock),
    );
    public.merge(crate::protect(admin, state))
}

/// The inventory part of the OpenAPI document (merged in `crate::openapi`).
#[derive(OpenApi)]
#[openapi(
    paths(get_availability, get_product_availability, get_stock, set_stock, adjust_stock),
    components(schemas(
        Availability, AvailabilityList, StockLevel, StockChange, Movement, MovementReason,
        AdminReason, SetStockRequest, AdjustStockRequest
    )),
    tags(
        (name = "inventory", description = "Units of a SKU that can be bought now"),
        (name = "admin", description = "Back-office routes (role `admin`)"),
    )
)]
pub struct InventoryApiDoc;

// ---------- bodies ----------

/// Units of one SKU that can be bought now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    #[schema(example = "TSHIRT-M-RED")]
    pub sku: String,
    /// `on_hand - reserved`, 0 or more; 0 for a SKU never stocked.
    #[schema(example = 12)]
    pub available: i64,
}

/// Availability of each distinct requested SKU, in request order (never paginated).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{"sku": "TSHIRT-M-RED", "available": 12}, {"sku": "MUG-1", "available": 0}], "next_cursor": null}))]
pub struct AvailabilityList {
    pub items: Vec<Availability>,
    /// Always null: every requested SKU is in `items`.
    pub next_cursor: Option<String>,
}

/// `skus`: 1 to 100 comma-separated SKUs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvailabilityQuery {
    /// Comma-separated SKUs (1 to 100 distinct; duplicates are ignored).
    #[param(
        pattern = r"^[A-Za-z0-9._-]{1,64}(,[A-Za-z0-9._-]{1,64})*$",
        example = "TSHIRT-M-RED,MUG-1"
    )]
    pub skus: String,
}

/// Stock of one SKU.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"sku": "TSHIRT-M-RED", "on_hand": 20, "reserved": 8, "available": 12, "updated_at": "2026-01-31T10:15:00Z"}))]
pub struct StockLevel {
    pub sku: String,
    /// Units physically held.
    pub on_hand: i64,
    /// Units held for orders awaiting payment.
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
    /// When on_hand or reserved last changed; null for a SKU never stocked.
    pub updated_at: Option<String>,
}

/// Why on_hand changed (`sale` is recorded by paid orders only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementReason {
    Restock,
    Sale,
    Return,
    Damage,
    Loss,
    Correction,
}

/// Why an admin changes on_hand.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminReason {
    /// Goods received from a supplier.
    Restock,
    /// Goods a customer sent back that can be sold again.
    Return,
    /// Units damaged and written off.
    Damage,
    /// Units lost or stolen.
    Loss,
    /// A stock count or other manual correction.
    Correction,
}

impl AdminReason {
    fn to_pb(self) -> pb::MovementReason {
        match self {
            Self::Restock => pb::MovementReason::Restock,
            Self::Return => pb::MovementReason::Return,
            Self::Damage => pb::MovementReason::Damage,
            Self::Loss => pb::MovementReason::Loss,
            Self::Correction => pb::MovementReason::Correction,
        }
    }
}

/// One entry of the movements ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct Movement {
    #[schema(example = "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e")]
    pub id: String,
    pub sku: String,
    /// Change of on_hand; negative for a decrease.
    #[schema(example = -2)]
    pub delta: i64,
    /// on_hand right after the change.
    pub on_hand_after: i64,
    pub reason: Option<MovementReason>,
    pub note: String,
    /// The order, for sales.
    pub order_id: Option<String>,
    /// Who made the change.
    pub actor_user_id: Option<String>,
    pub created_at: Option<String>,
}

/// The stock after a change and the movement it recorded (null when nothing changed).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "stock": {"sku": "TSHIRT-M-RED", "on_hand": 18, "reserved": 8, "available": 10, "updated_at": "2026-01-31T10:20:00Z"},
    "movement": {"id": "0190f3c4-8f0e-7a4b-9d2e-3f1a2b3c4d5e", "sku": "TSHIRT-M-RED", "delta": -2, "on_hand_after": 18,
                 "reason": "damage", "note": "dropped in the warehouse", "order_id": null,
                 "actor_user_id": "0190f3c4-1111-7a4b-9d2e-3f1a2b3c4d5e", "created_at": "2026-01-31T10:20:00Z"}
}))]
pub struct StockChange {
    pub stock: StockLevel,
    pub movement: Option<Movement>,
}

/// A stock count: the new on-hand number.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"on_hand": 20, "expected_on_hand": 18, "reason": "correction", "note": "monthly count"}))]
pub struct SetStockRequest {
    /// The new on-hand count: 0 or more, and not below the units reserved (else 409).
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub on_hand: i64,
    /// Apply only if on_hand currently is this (else 409): a count does not overwrite sales
    /// made since it was read.
    #[serde(default)]
    pub expected_on_hand: Option<i64>,
    pub reason: AdminReason,
    /// At most 500 characters.
    #[serde(default)]
    pub note: Option<String>,
}

/// A change of on-hand by a number of units.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"delta": -2, "reason": "damage", "note": "dropped in the warehouse"}))]
pub struct AdjustStockRequest {
    /// Units to add (positive) or remove (negative); not 0, at most 1000000 either way.
    pub delta: i64,
    pub reason: AdminReason,
    /// At most 500 characters.
    #[serde(default)]
    pub note: Option<String>,
}

// ---------- checks and conversions ----------

fn check_sku(errors: &mut Vec<FieldError>, field: &str, sku: &str) {
    errors.extend(kit::contracts::sku::check(field, sku).err());
}

fn check_note(errors: &mut Vec<FieldError>, note: &Option<String>) {
    if note.as_ref().is_some_and(|n| n.chars().count() > NOTE_MAX) {
        errors.push(FieldError::new(
            "note",
            format!("must be at most {NOTE_MAX} characters"),
        ));
    }
}

fn availability_list(r: pb::BatchGetAvailabilityResponse) -> AvailabilityList {
    AvailabilityList {
        items: r
            .availabilities
            .into_iter()
            .map(|a| Availability {
                sku: a.sku,
                available: a.available,
            })
            .collect(),
        next_cursor: None,
    }
}

fn client(state: &AppState) -> InventoryServiceClient<Channel> {
    InventoryServiceClient::new(state.upstreams.inventory.clone())
}

fn stock_level(s: Option<pb::StockLevel>) -> StockLevel {
    let s = s.unwrap_or_default();
    StockLevel {
        sku: s.sku,
        on_hand: s.on_hand,
        reserved: s.reserved,
        available: s.available,
        updated_at: rfc3339(s.update_time),
    }
}

fn movement(m: pb::Movement) -> Movement {
    let reason = match pb::MovementReason::try_from(m.reason) {
        Ok(pb::MovementReason::Restock) => Some(MovementReason::Restock),
        Ok(pb::MovementReason::Sale) => Some(MovementReason::Sale),
        Ok(pb::MovementReason::Return) => Some(MovementReason::Return),
        Ok(pb::MovementReason::Damage) => Some(MovementReason::Damage),
        Ok(pb::MovementReason::Loss) => Some(MovementReason::Loss),
        Ok(pb::MovementReason::Correction) => Some(MovementReason::Correction),
        _ => None,
    };
    Movement {
        id: m.id,
        sku: m.sku,
        delta: m.delta,
        on_hand_after: m.on_hand_after,
        reason,
        note: m.note,
        order_id: m.order_id,
        actor_user_id: m.actor_user_id,
        created_at: rfc3339(m.create_time),
    }
}

// ---------- handlers ----------

/// How many units of each SKU can be bought now. Public.
#[utoipa::path(
    get,
    path = "/api/v1/inventory/availability",
    tag = "inventory",
    operation_id = "getAvailability",
    params(AvailabilityQuery),
    responses(
        (status = 200, description = "One entry per distinct SKU, in request order", body = AvailabilityList),
        (status = 422, description = "No SKU, more than 100, or a malformed one", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_availability(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AvailabilityQuery>,
) -> Result<Json<AvailabilityList>, Problem> {
    let skus: Vec<String> = q.skus.split(',').map(str::to_owned).collect();
    let mut errors = Vec::new();
    for (i, s) in skus.iter().enumerate() {
        check_sku(&mut errors, &format!("skus[{i}]"), s);
    }
    let mut distinct = skus.clone();
    distinct.sort();
    distinct.dedup();
    if distinct.len() > SKUS_MAX {
        errors.push(FieldError::new(
            "skus",
            format!("may name at most {SKUS_MAX} SKUs"),
        ));
    }
    valid(errors)?;
    let r = client(&state)
        .batch_get_availability(grpc_request(
            pb::BatchGetAvailabilityRequest { skus },
            &headers,
        ))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(Json(availability_list(r)))
}

/// How many units of each variant of a product can be bought now. Public.
#[utoipa::path(
    get,
    path = "/api/v1/products/{id_or_slug}/availability",
    tag = "inventory",
    operation_id = "getProductAvailability",
    params(("id_or_slug" = String, Path, description = "A product id or slug", example = "trail-running-shoe")),
    responses(
        (status = 200, description = "One entry per variant SKU of the product", body = AvailabilityList),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_product_availability(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Json<AvailabilityList>, Problem> {
    use storefront_proto::product::v1 as product_pb;
    use storefront_proto::product::v1::product_service_client::ProductServiceClient;
    let lookup = super::product::lookup(key)?;
    let product = ProductServiceClient::new(state.upstreams.product.clone())
        .get_product(grpc_request(
            product_pb::GetProductRequest {
                lookup: Some(lookup),
            },
            &headers,
        ))
        .await
        .map_err(Problem::from)?
        .into_inner();
    let skus: Vec<String> = product.variants.into_iter().map(|v| v.sku).collect();
    if skus.is_empty() {
        return Ok(Json(AvailabilityList {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let r = client(&state)
        .batch_get_availability(grpc_request(
            pb::BatchGetAvailabilityRequest { skus },
            &headers,
        ))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(Json(availability_list(r)))
}

/// The stock of one SKU (zeros for a SKU never stocked). Admin only.
#[utoipa::path(
    get,
    path = "/api/v1/admin/inventory/{sku}",
    tag = "admin",
    operation_id = "getStock",
    params(("sku" = String, Path, description = "The SKU", pattern = r"^[A-Za-z0-9._-]{1,64}$", example = "TSHIRT-M-RED")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stock level", body = StockLevel),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Malformed SKU", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn get_stock(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(sku): Path<String>,
) -> Result<Json<StockLevel>, Problem> {
    let mut errors = Vec::new();
    check_sku(&mut errors, "sku", &sku);
    valid(errors)?;
    let r = client(&state)
        .get_stock(grpc_request(pb::GetStockRequest { sku }, &headers))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(Json(stock_level(Some(r))))
}

/// Sets the on-hand count of a SKU (a stock count), recording the difference as a movement.
/// Admin only. A repeated `Idempotency-Key` with the same body returns the first answer.
#[utoipa::path(
    put,
    path = "/api/v1/admin/inventory/{sku}",
    tag = "admin",
    operation_id = "setStock",
    params(
        ("sku" = String, Path, description = "The SKU; created when never stocked", pattern = r"^[A-Za-z0-9._-]{1,64}$", example = "TSHIRT-M-RED"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "Optional; 1 to 255 printable ASCII characters, not starting or ending with a space"),
    ),
    request_body = SetStockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stock after the count; `movement` is null when the count did not change", body = StockChange),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The count is below the units reserved, or on_hand is not `expected_on_hand`", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, or the key reused for another body", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn set_stock(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(sku): Path<String>,
    Json(body): Json<SetStockRequest>,
) -> Result<Json<StockChange>, Problem> {
    let key = super::idempotency_key(&headers)?;
    let mut errors = Vec::new();
    check_sku(&mut errors, "sku", &sku);
    if !(0..=ON_HAND_MAX).contains(&body.on_hand) {
        errors.push(FieldError::new(
            "on_hand",
            format!("must be between 0 and {ON_HAND_MAX}"),
        ));
    }
    if body.expected_on_hand.is_some_and(|e| e < 0) {
        errors.push(FieldError::new("expected_on_hand", "must not be negative"));
    }
    check_note(&mut errors, &body.note);
    valid(errors)?;
    let r = client(&state)
        .set_stock(grpc_request(
            pb::SetStockRequest {
                sku,
                on_hand: body.on_hand,
                expected_on_hand: body.expected_on_hand,
                reason: body.reason.to_pb() as i32,
                note: body.note.unwrap_or_default(),
                idempotency_key: key.unwrap_or_default(),
            },
            &headers,
        ))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(Json(StockChange {
        stock: stock_level(r.stock),
        movement: r.movement.map(movement),
    }))
}

/// Changes the on-hand count of a SKU by a delta (goods received, damage, returns). Admin only.
/// Send an `Idempotency-Key` to make retries safe: a repeated key with the same body returns the
/// first answer without changing stock again.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/inventory/{sku}",
    tag = "admin",
    operation_id = "adjustStock",
    params(
        ("sku" = String, Path, description = "The SKU; created when never stocked", pattern = r"^[A-Za-z0-9._-]{1,64}$", example = "TSHIRT-M-RED"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[!-~]([ -~]{0,253}[!-~])?$", description = "1 to 255 printable ASCII characters, not starting or ending with a space; a fresh one is made when absent"),
    ),
    request_body = AdjustStockRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stock after the change and its movement", body = StockChange),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "on_hand would drop below zero or below the units reserved", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body, or the key reused for another body", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn adjust_stock(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(sku): Path<String>,
    Json(body): Json<AdjustStockRequest>,
) -> Result<Json<StockChange>, Problem> {
    let key = super::idempotency_key(&headers)?.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut errors = Vec::new();
    check_sku(&mut errors, "sku", &sku);
    if body.delta == 0 || body.delta.unsigned_abs() > DELTA_MAX as u64 {
        errors.push(FieldError::new(
            "delta",
            format!("must be between -{DELTA_MAX} and {DELTA_MAX}, and not 0"),
        ));
    }
    check_note(&mut errors, &body.note);
    valid(errors)?;
    let r = client(&state)
        .adjust_stock(grpc_request(
            pb::AdjustStockRequest {
                sku,
                delta: body.delta,
                reason: body.reason.to_pb() as i32,
                note: body.note.unwrap_or_default(),
                idempotency_key: key,
            },
            &headers,
        ))
        .await
        .map_err(Problem::from)?
        .into_inner();
    Ok(Json(StockChange {
        stock: stock_level(r.stock),
        movement: r.movement.map(movement),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_are_documented_with_their_schemas() {
        let v: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        let item = &v["paths"]["/api/v1/admin/inventory/{sku}"];
        for method in ["get", "put", "patch"] {
            assert!(item[method].is_object(), "{method} missing");
            assert_eq!(item[method]["security"][0]["bearer"], serde_json::json!([]));
            assert!(item[method]["responses"]["403"].is_object(), "{method}");
        }
        assert!(item["put"]["responses"]["409"].is_object());
        let avail = &v["paths"]["/api/v1/inventory/availability"]["get"];
        assert_eq!(avail["parameters"][0]["name"], "skus");
        for schema in [
            "StockChange",
            "StockLevel",
            "AvailabilityList",
            "AdminReason",
        ] {
            assert!(
                v["components"]["schemas"][schema].is_object(),
                "{schema} missing"
            );
        }
        let reasons = &v["components"]["schemas"]["AdminReason"];
        assert!(!reasons.to_string().contains("\"sale\""), "{reasons}");
    }

    #[test]
    fn sku_checks_match_the_service_rules() {
        let mut e = Vec::new();
        check_sku(&mut e, "sku", "TSHIRT-M_red.1");
        assert!(e.is_empty());
        for bad in ["", "a b", "x/y", &"x".repeat(65)] {
            let mut e = Vec::new();
            check_sku(&mut e, "sku", bad);
            assert_eq!(e.len(), 1, "{bad}");
        }
    }
}
