//! The gRPC API (`storefront.inventory.v1.InventoryService`): authorization, request parsing
//! into domain types, and the call into the store. Handlers stay thin.

mod convert;

use std::sync::Arc;

use kit::jwt::{Claims, JwksVerifier, Role};
use sqlx::PgPool;
use storefront_proto::inventory::v1 as pb;
use storefront_proto::inventory::v1::inventory_service_server::InventoryService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::config::InventorySettings;
use crate::domain::{
    Actor, IdempotencyKey, Invalid, MovementReason, ReleaseReason, ReservationLines, Sku, Ttl,
    parse_delta, parse_note, parse_on_hand, parse_sku_list,
};
use crate::error::Error;
use crate::store::reservations::{self, Access, ReserveOutcome};
use crate::store::{movements, stock};

pub use storefront_proto::inventory::v1::inventory_service_server::InventoryServiceServer;

/// The service behind the generated server. Cheap to clone.
#[derive(Clone)]
pub struct InventoryApi {
    pool: PgPool,
    verifier: JwksVerifier,
    settings: Arc<InventorySettings>,
}

impl InventoryApi {
    pub fn new(pool: PgPool, verifier: JwksVerifier, settings: InventorySettings) -> Self {
        Self {
            pool,
            verifier,
            settings: Arc::new(settings),
        }
    }

    async fn caller<T>(&self, req: &Request<T>) -> Result<Claims, Status> {
        self.verifier.verify_grpc_request(req).await
    }

    async fn admin<T>(&self, req: &Request<T>) -> Result<Claims, Status> {
        let claims = self.caller(req).await?;
        claims.require_role(Role::Admin)?;
        Ok(claims)
    }

    async fn access<T>(&self, req: &Request<T>) -> Result<Access, Status> {
        let c = self.caller(req).await?;
        Ok(Access::User {
            id: c.sub,
            admin: c.is_admin(),
        })
    }
}

fn parse_uuid(field: &str, raw: &str) -> Result<Uuid, Error> {
    if raw.is_empty() {
        return Err(Invalid::new(field, "is required").into());
    }
    Uuid::parse_str(raw).map_err(|_| Invalid::new(field, "must be a UUID").into())
}

/// Page size per the pagination rules: 0 means 20, above 100 means 100, negative is invalid.
fn page_size(raw: i32) -> Result<i64, Error> {
    match raw {
        0 => Ok(20),
        n if n < 0 => Err(Invalid::new("page_size", "must not be negative").into()),
        n => Ok(i64::from(n.min(100))),
    }
}

/// `next_page_token`: the last seq and the filters it belongs to, hex-encoded.
fn page_token(seq: i64, filter: &movements::Filter) -> String {
    let raw = format!(
        "v1|{seq}|{}|{}",
        filter.sku.as_deref().unwrap_or(""),
        filter.order_id.map(|o| o.to_string()).unwrap_or_default()
    );
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn parse_page_token(token: &str, filter: &movements::Filter) -> Result<Option<i64>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::from(Invalid::new("page_token", "is not a token of this listing"));
    if !token.len().is_multiple_of(2) || token.len() > 512 {
        return Err(bad());
    }
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    let raw = String::from_utf8(bytes).map_err(|_| bad())?;
    let seq = raw
        .strip_prefix("v1|")
        .and_then(|r| r.split('|').next())
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(bad)?;
    if page_token(seq, filter) != token {
        return Err(bad());
    }
    Ok(Some(seq))
}

#[tonic::async_trait]
impl InventoryService for InventoryApi {
    async fn get_stock(
        &self,
        request: Request<pb::GetStockRequest>,
    ) -> Result<Response<pb::StockLevel>, Status> {
        self.admin(&request).await?;
        let sku = Sku::parse("sku", &request.get_ref().sku).map_err(Error::from)?;
        let s = stock::get(&self.pool, &sku).await?;
        Ok(Response::new(convert::stock_level(&s)))
    }

    async fn batch_get_availability(
        &self,
        request: Request<pb::BatchGetAvailabilityRequest>,
    ) -> Result<Response<pb::BatchGetAvailabilityResponse>, Status> {
        let skus = parse_sku_list(&request.get_ref().skus).map_err(Error::from)?;
        let rows = stock::availability(&self.pool, &skus).await?;
        Ok(Response::new(pb::BatchGetAvailabilityResponse {
            availabilities: rows
                .into_iter()
                .map(|(sku, available)| pb::SkuAvailability { sku, available })
                .collect(),
        }))
    }

    async fn set_stock(
        &self,
        request: Request<pb::SetStockRequest>,
    ) -> Result<Response<pb::SetStockResponse>, Status> {
        let claims = self.admin(&request).await?;
        let r = request.get_ref();
        let mut errors = Vec::new();
        let sku = Sku::parse("sku", &r.sku).map_err(|e| errors.push(e)).ok();
        let on_hand = parse_on_hand("on_hand", r.on_hand)
            .map_err(|e| errors.push(e))
            .ok();
        let reason = MovementReason::admin(
            "reason",
            Some(convert::movement_reason_from(r.reason).unwrap_or(MovementReason::Correction)),
        )
        .map_err(|e| errors.push(e))
        .ok();
        let note = parse_note("note", &r.note).map_err(|e| errors.push(e)).ok();
        let key = IdempotencyKey::parse_optional("idempotency_key", &r.idempotency_key)
            .map_err(|e| errors.push(e))
            .ok();
        if let Some(exp) = r.expected_on_hand
            && exp < 0
        {
            errors.push(Invalid::new("expected_on_hand", "must not be negative"));
        }
        let (Some(sku), Some(on_hand), Some(reason), Some(note), Some(key), true) =
            (sku, on_hand, reason, note, key, errors.is_empty())
        else {
            return Err(Error::Invalid(errors).into());
        };
        let out = stock::admin_change(
            &self.pool,
            &stock::AdminRequest {
                sku,
                change: stock::AdminChange::Set {
                    on_hand,
                    expected: r.expected_on_hand,
                },
                reason,
                note,
                idempotency_key: key,
                actor: Actor::User(claims.sub),
            },
        )
        .await?;
        Ok(Response::new(pb::SetStockResponse {
            stock: Some(convert::stock_level(&out.stock)),
            movement: out.movement.as_ref().map(convert::movement),
        }))
    }

    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::AdjustStockResponse>, Status> {
        let claims = self.admin(&request).await?;
        let r = request.get_ref();
        let mut errors = Vec::new();
        let sku = Sku::parse("sku", &r.sku).map_err(|e| errors.push(e)).ok();
        let delta = parse_delta("delta", r.delta)
            .map_err(|e| errors.push(e))
            .ok();
        let reason = MovementReason::admin("reason", convert::movement_reason_from(r.reason))
            .map_err(|e| errors.push(e))
            .ok();
        let note = parse_note("note", &r.note).map_err(|e| errors.push(e)).ok();
        let key = IdempotencyKey::parse("idempotency_key", &r.idempotency_key)
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(sku), Some(delta), Some(reason), Some(note), Some(key)) =
            (sku, delta, reason, note, key)
        else {
            return Err(Error::Invalid(errors).into());
        };
        let out = stock::admin_change(
            &self.pool,
            &stock::AdminRequest {
                sku,
                change: stock::AdminChange::Adjust { delta },
                reason,
                note,
                idempotency_key: Some(key),
                actor: Actor::User(claims.sub),
            },
        )
        .await?;
        Ok(Response::new(pb::AdjustStockResponse {
            stock: Some(convert::stock_level(&out.stock)),
            movement: out.movement.as_ref().map(convert::movement),
        }))
    }

    async fn list_movements(
        &self,
        request: Request<pb::ListMovementsRequest>,
    ) -> Result<Response<pb::ListMovementsResponse>, Status> {
        self.admin(&request).await?;
        let r = request.get_ref();
        let sku = if r.sku.is_empty() {
            None
        } else {
            Some(Sku::parse("sku", &r.sku).map_err(Error::from)?.to_string())
        };
        let order_id = match &r.order_id {
            Some(o) => Some(parse_uuid("order_id", o)?),
            None => None,
        };
        let filter = movements::Filter { sku, order_id };
        let limit = page_size(r.page_size)?;
        let before = parse_page_token(&r.page_token, &filter)?;
        let (items, more) = movements::list(&self.pool, &filter, before, limit).await?;
        let next_page_token = match (more, items.last()) {
            (true, Some(last)) => page_token(last.seq, &filter),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListMovementsResponse {
            movements: items.iter().map(convert::movement).collect(),
            next_page_token,
        }))
    }

    async fn reserve_stock(
        &self,
        request: Request<pb::ReserveStockRequest>,
    ) -> Result<Response<pb::ReserveStockResponse>, Status> {
        let claims = self.caller(&request).await?;
        let r = request.get_ref();
        let s = &self.settings;
        let mut errors = Vec::new();
        let order_id = parse_uuid("order_id", &r.order_id)
            .map_err(|e| {
                if let Error::Invalid(v) = e {
                    errors.extend(v)
                }
            })
            .ok();
        let raw: Vec<(String, i64)> = r
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity))
            .collect();
        let lines = ReservationLines::parse(&raw, s.max_lines, s.max_line_quantity)
            .map_err(|e| errors.extend(e))
            .ok();
        let ttl = Ttl::parse(
            r.ttl_seconds,
            s.default_ttl_secs,
            s.min_ttl_secs,
            s.max_ttl_secs,
        )
        .map_err(|e| errors.push(e))
        .ok();
        let (Some(order_id), Some(lines), Some(ttl)) = (order_id, lines, ttl) else {
            return Err(Error::Invalid(errors).into());
        };
        let access = Access::User {
            id: claims.sub,
            admin: claims.is_admin(),
        };
        let outcome =
            reservations::reserve(&self.pool, order_id, &lines, ttl, access, claims.sub).await?;
        let outcome = match outcome {
            ReserveOutcome::Reserved(res) => {
                pb::reserve_stock_response::Outcome::Reserved(convert::reservation(&res))
            }
            ReserveOutcome::Shortage(short) => {
                pb::reserve_stock_response::Outcome::Shortage(convert::shortage(&short))
            }
        };
        Ok(Response::new(pb::ReserveStockResponse {
            outcome: Some(outcome),
        }))
    }

    async fn commit_reservation(
        &self,
        request: Request<pb::CommitReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let access = self.access(&request).await?;
        let order_id = parse_uuid("order_id", &request.get_ref().order_id)?;
        let r = reservations::commit(&self.pool, order_id, access).await?;
        Ok(Response::new(convert::reservation(&r)))
    }

    async fn release_reservation(
        &self,
        request: Request<pb::ReleaseReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        let access = self.access(&request).await?;
        let r = request.get_ref();
        let order_id = parse_uuid("order_id", &r.order_id)?;
        let reason: ReleaseReason =
            ReleaseReason::from_caller(convert::release_reason_from(r.reason))
                .map_err(Error::from)?;
        let res = reservations::release(&self.pool, order_id, reason, access).await?;
        Ok(Response::new(convert::reservation(&res)))
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::Reservation>, Status> {
        use pb::get_reservation_request::Lookup;
        let access = self.access(&request).await?;
        let res = match &request.get_ref().lookup {
            Some(Lookup::OrderId(o)) => {
                reservations::get_by_order(&self.pool, parse_uuid("order_id", o)?, access).await?
            }
            Some(Lookup::ReservationId(id)) => {
                reservations::get_by_id(&self.pool, parse_uuid("reservation_id", id)?, access)
                    .await?
            }
            None => {
                return Err(Error::from(Invalid::new(
                    "lookup",
                    "is required: set reservation_id or order_id",
                ))
                .into());
            }
        };
        Ok(Response::new(convert::reservation(&res)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_belong_to_their_filters() {
        let f = movements::Filter {
            sku: Some("a".into()),
            order_id: None,
        };
        let t = page_token(42, &f);
        assert_eq!(parse_page_token(&t, &f).unwrap(), Some(42));
        assert_eq!(parse_page_token("", &f).unwrap(), None);
        let other = movements::Filter::default();
        assert!(parse_page_token(&t, &other).is_err());
        assert!(parse_page_token("zz", &f).is_err());
        assert_eq!(page_size(0).unwrap(), 20);
        assert_eq!(page_size(1000).unwrap(), 100);
        assert!(page_size(-1).is_err());
    }
}
