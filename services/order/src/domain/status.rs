//! The order status machine. Every change goes through [`OrderStatus::transition`]; anything
//! not listed there is refused.
//!
//! ```text
//! pending_payment -> paid -> shipped -> delivered
//! pending_payment -> cancelled
//! paid | shipped | delivered -> refund_requested -> refunded
//! paid | shipped | delivered -> refunded            (a refund payment reports on its own)
//! ```

use serde::{Deserialize, Serialize};

pub use kit::contracts::orders::{IllegalTransition, OrderStatus};

/// Why an order changed status (stored in the history and sent in events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    CheckoutCompleted,
    PaymentCompleted,
    PaymentFailed,
    ReservationExpired,
    CustomerCancelled,
    Shipped,
    Delivered,
    RefundRequested,
    PaymentRefunded,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CheckoutCompleted => "checkout_completed",
            Reason::PaymentCompleted => "payment_completed",
            Reason::PaymentFailed => "payment_failed",
            Reason::ReservationExpired => "reservation_expired",
            Reason::CustomerCancelled => "customer_cancelled",
            Reason::Shipped => "shipped",
            Reason::Delivered => "delivered",
            Reason::RefundRequested => "refund_requested",
            Reason::PaymentRefunded => "payment_refunded",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::*;
    use super::*;

    /// Every allowed pair; every other of the 49 pairs must be refused.
    const ALLOWED: [(OrderStatus, OrderStatus); 10] = [
        (PendingPayment, Paid),
        (PendingPayment, Cancelled),
        (Paid, Shipped),
        (Shipped, Delivered),
        (Paid, RefundRequested),
        (Shipped, RefundRequested),
        (Delivered, RefundRequested),
        (Paid, Refunded),
        (Shipped, Refunded),
        (Delivered, Refunded),
    ];

    #[test]
    fn every_pair_is_allowed_or_refused_as_the_table_says() {
        let mut allowed = ALLOWED.to_vec();
        allowed.push((RefundRequested, Refunded));
        let mut checked = 0;
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                assert_eq!(from.can_become(to), expected, "{from} -> {to}");
                match from.transition(to) {
                    Ok(s) => {
                        assert!(expected, "{from} -> {to} allowed");
                        assert_eq!(s, to);
                    }
                    Err(e) => {
                        assert!(!expected, "{from} -> {to} refused");
                        assert_eq!(e, IllegalTransition { from, to });
                        assert_eq!(
                            e.to_string(),
                            format!("an order that is {from} cannot become {to}")
                        );
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 49);
    }

    #[test]
    fn no_status_becomes_itself_and_only_cancelled_and_refunded_are_terminal() {
        for s in OrderStatus::ALL {
            assert!(!s.can_become(s), "{s}");
            assert_eq!(s.is_terminal(), matches!(s, Cancelled | Refunded), "{s}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(OrderStatus::parse("lost"), None);
    }
}
