//! What payment publishes on `payment-events` (key: order id), through its outbox.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::money::Money;

/// `payment.completed`: the order's total was charged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentCompleted {
    pub order_id: Uuid,
    pub user_id: Uuid,
    /// Payment's id of the charge (opaque to consumers).
    pub transaction_id: String,
    pub amount: Money,
    pub payment_method_id: Uuid,
    pub brand: String,
    pub last4: String,
}

/// Why a payment failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    CardDeclined,
    ProviderUnavailable,
    PaymentMethodNotFound,
    /// A code this version does not know (a newer producer's); the payment still failed.
    #[serde(other)]
    Other,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardDeclined => "card_declined",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::PaymentMethodNotFound => "payment_method_not_found",
            Self::Other => "other",
        }
    }
}

/// `payment.failed`: the order cannot be paid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentFailed {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub code: FailureCode,
    pub message: String,
}

/// `payment.refunded`: `amount` went back to the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentRefunded {
    pub order_id: Uuid,
    pub user_id: Uuid,
    pub transaction_id: String,
    pub refund_id: String,
    pub amount: Money,
}
