//! Between the store's rows and the generated protobuf messages.

use storefront_proto::inventory::v1 as pb;
use time::OffsetDateTime;

use crate::domain::{MovementReason, ReleaseReason, ReservationStatus};
use crate::store::reservations::{Reservation, ShortLine};
use crate::store::{MovementRow, StockRow};

pub fn timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

pub fn stock_level(s: &StockRow) -> pb::StockLevel {
    pb::StockLevel {
        sku: s.sku.clone(),
        on_hand: s.on_hand,
        reserved: s.reserved,
        available: s.available(),
        update_time: s.updated_at.map(timestamp),
    }
}

pub fn movement_reason(r: MovementReason) -> pb::MovementReason {
    match r {
        MovementReason::Restock => pb::MovementReason::Restock,
        MovementReason::Sale => pb::MovementReason::Sale,
        MovementReason::Return => pb::MovementReason::Return,
        MovementReason::Damage => pb::MovementReason::Damage,
        MovementReason::Loss => pb::MovementReason::Loss,
        MovementReason::Correction => pb::MovementReason::Correction,
        // Not movements of the API (on_hand does not change); never listed.
        MovementReason::Reserve | MovementReason::Release | MovementReason::Expire => {
            pb::MovementReason::Unspecified
        }
    }
}

/// The caller's reason; `None` for UNSPECIFIED or an unknown value.
pub fn movement_reason_from(raw: i32) -> Option<MovementReason> {
    match pb::MovementReason::try_from(raw).ok()? {
        pb::MovementReason::Unspecified => None,
        pb::MovementReason::Restock => Some(MovementReason::Restock),
        pb::MovementReason::Sale => Some(MovementReason::Sale),
        pb::MovementReason::Return => Some(MovementReason::Return),
        pb::MovementReason::Damage => Some(MovementReason::Damage),
        pb::MovementReason::Loss => Some(MovementReason::Loss),
        pb::MovementReason::Correction => Some(MovementReason::Correction),
    }
}

pub fn movement(m: &MovementRow) -> pb::Movement {
    pb::Movement {
        id: m.id.to_string(),
        sku: m.sku.clone(),
        delta: m.delta_on_hand,
        on_hand_after: m.on_hand_after,
        reason: movement_reason(m.reason) as i32,
        note: m.note.clone(),
        order_id: m.order_id.map(|o| o.to_string()),
        actor_user_id: m.actor_user_id.map(|u| u.to_string()),
        create_time: Some(timestamp(m.created_at)),
    }
}

fn status(s: ReservationStatus) -> pb::ReservationStatus {
    match s {
        ReservationStatus::Active => pb::ReservationStatus::Active,
        ReservationStatus::Committed => pb::ReservationStatus::Committed,
        ReservationStatus::Released => pb::ReservationStatus::Released,
        ReservationStatus::Expired => pb::ReservationStatus::Expired,
    }
}

fn release_reason(r: ReleaseReason) -> pb::ReleaseReason {
    match r {
        ReleaseReason::OrderCancelled => pb::ReleaseReason::OrderCancelled,
        ReleaseReason::CheckoutAborted => pb::ReleaseReason::CheckoutAborted,
        ReleaseReason::Expired => pb::ReleaseReason::Expired,
        ReleaseReason::Manual => pb::ReleaseReason::Manual,
    }
}

pub fn release_reason_from(raw: i32) -> Option<ReleaseReason> {
    match pb::ReleaseReason::try_from(raw).ok()? {
        pb::ReleaseReason::Unspecified => None,
        pb::ReleaseReason::OrderCancelled => Some(ReleaseReason::OrderCancelled),
        pb::ReleaseReason::CheckoutAborted => Some(ReleaseReason::CheckoutAborted),
        pb::ReleaseReason::Expired => Some(ReleaseReason::Expired),
        pb::ReleaseReason::Manual => Some(ReleaseReason::Manual),
    }
}

pub fn reservation(r: &Reservation) -> pb::Reservation {
    pb::Reservation {
        id: r.id.to_string(),
        order_id: r.order_id.to_string(),
        user_id: r.user_id.to_string(),
        lines: r
            .lines
            .lines()
            .iter()
            .map(|l| pb::ReservationLine {
                sku: l.sku.to_string(),
                quantity: l.quantity,
            })
            .collect(),
        status: status(r.status) as i32,
        expire_time: Some(timestamp(r.expires_at)),
        release_reason: r
            .release_reason
            .map_or(pb::ReleaseReason::Unspecified, release_reason) as i32,
        create_time: Some(timestamp(r.created_at)),
        update_time: Some(timestamp(r.updated_at)),
    }
}

pub fn shortage(lines: &[ShortLine]) -> pb::Shortage {
    pb::Shortage {
        lines: lines
            .iter()
            .map(|l| pb::ShortLine {
                sku: l.sku.clone(),
                requested: l.requested,
                available: l.available,
            })
            .collect(),
    }
}
