//! The order status machine. Every change goes through [`OrderStatus::transition`]; anything
//! not listed there is refused.
//!
//! ```text
//! pending_payment -> paid -> shipped -> delivered
//! pending_payment -> cancelled
//! paid | shipped | delivered -> refund_requested -> refunded
//! paid | shipped | delivered -> refunded            (a refund payment reports on its own)
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    RefundRequested,
    Refunded,
}

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

/// A status change the machine does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot become {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::RefundRequested,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::RefundRequested => "refund_requested",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the machine allows `self -> to`.
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, to),
            (PendingPayment, Paid)
                | (PendingPayment, Cancelled)
                | (Paid, Shipped)
                | (Shipped, Delivered)
                | (Paid | Shipped | Delivered, RefundRequested)
                | (Paid | Shipped | Delivered | RefundRequested, Refunded)
        )
    }

    /// The next status, or the refusal naming both.
    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }

    /// No further change is possible.
    pub fn is_terminal(self) -> bool {
        Self::ALL.into_iter().all(|to| !self.can_become(to))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
