//! The e-mails: subject, plain text and HTML for each kind, from the event's data. Values from
//! events are escaped in HTML.

use kit::contracts::Event;
use kit::contracts::events::order::{OrderPaid, OrderRefunded, OrderShipped};
use kit::contracts::events::payment::PaymentFailed;
use serde_json::Value;

/// Which e-mail an event calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    OrderConfirmation,
    PaymentFailed,
    OrderShipped,
    OrderRefunded,
}

impl Kind {
    /// The e-mail an event type calls for, if any.
    pub fn for_event(event_type: &str) -> Option<Self> {
        match event_type {
            OrderPaid::TYPE => Some(Self::OrderConfirmation),
            PaymentFailed::TYPE => Some(Self::PaymentFailed),
            OrderShipped::TYPE => Some(Self::OrderShipped),
            OrderRefunded::TYPE => Some(Self::OrderRefunded),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderConfirmation => "order_confirmation",
            Self::PaymentFailed => "payment_failed",
            Self::OrderShipped => "order_shipped",
            Self::OrderRefunded => "order_refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::OrderConfirmation,
            Self::PaymentFailed,
            Self::OrderShipped,
            Self::OrderRefunded,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A rendered e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Minor units per major unit of a currency (ISO 4217 exponent; 2 unless known otherwise).
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `{"amount": 1999, "currency": "EUR"}` as `EUR 19.99`; a bare number is shown as minor units.
pub fn money(v: &Value) -> String {
    let (amount, currency) = match v {
        Value::Object(_) => (
            v.get("amount").and_then(Value::as_i64).unwrap_or(0),
            v.get("currency").and_then(Value::as_str).unwrap_or(""),
        ),
        Value::Number(n) => (n.as_i64().unwrap_or(0), ""),
        _ => (0, ""),
    };
    let e = exponent(currency);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let body = if e == 0 {
        abs.to_string()
    } else {
        let div = 10u64.pow(e);
        format!("{}.{:0width$}", abs / div, abs % div, width = e as usize)
    };
    if currency.is_empty() {
        format!("{sign}{body}")
    } else {
        format!("{sign}{currency} {body}")
    }
}

/// The breakdown's lines an order confirmation shows before its total (`order.paid`'s
/// `breakdown`): subtotal, discounts with their codes, shipping, tax per rate (and whether
/// prices included it). Empty for an event without a breakdown.
fn summary_lines(data: &Value) -> Vec<(String, String)> {
    let Some(b) = data.get("breakdown") else {
        return Vec::new();
    };
    let currency = b.get("currency").and_then(Value::as_str).unwrap_or("");
    let amount = |key: &str| b.get(key).and_then(Value::as_i64).unwrap_or(0);
    let m = |a: i64| money(&serde_json::json!({"amount": a, "currency": currency}));
    let mut out = vec![("Subtotal".to_owned(), m(amount("subtotal")))];
    for a in b
        .get("applied")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let label = match a.get("code").and_then(Value::as_str) {
            Some(code) => format!("Discount ({code})"),
            None => "Discount".to_owned(),
        };
        out.push((
            label,
            m(-a.get("amount").and_then(Value::as_i64).unwrap_or(0)),
        ));
    }
    let method = data
        .get("shipping_method")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str);
    if amount("shipping") > 0 || method.is_some() {
        let label = method.map_or("Shipping".to_owned(), |n| format!("Shipping ({n})"));
        out.push((label, m(amount("shipping") - amount("shipping_discount"))));
    }
    let inclusive = b.get("mode").and_then(Value::as_str) == Some("tax_inclusive");
    for t in b
        .get("taxes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ppm = t.get("rate_ppm").and_then(Value::as_i64).unwrap_or(0);
        let tax = t.get("amount").and_then(Value::as_i64).unwrap_or(0);
        if tax == 0 {
            continue;
        }
        let pct = format!("{}.{:02}%", ppm / 10_000, (ppm % 10_000) / 100);
        let label = if inclusive {
            format!("Included tax {pct}")
        } else {
            format!("Tax {pct}")
        };
        out.push((label, m(tax)));
    }
    out
}

fn text_of<'a>(data: &'a Value, key: &str) -> &'a str {
    data.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The short form of an order id shown to people (its first 8 characters).
fn short_id(order_id: &str) -> &str {
    order_id.get(..8).unwrap_or(order_id)
}

fn html_page(shop: &str, heading: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{h}</title></head>\n\
         <body style=\"font-family: sans-serif; color: #222\">\n<h1 style=\"font-size: 20px\">{h}</h1>\n{body}\n\
         <p style=\"color: #777; font-size: 12px\">{s}</p>\n</body></html>\n",
        h = escape(heading),
        s = escape(shop),
    )
}

/// Renders the e-mail `kind` for `data` (the event's data) to `name` (may be empty).
pub fn render(kind: Kind, data: &Value, name: &str, shop: &str) -> Rendered {
    let greeting = if name.trim().is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {},", name.trim())
    };
    let order_id = text_of(data, "order_id");
    let short = short_id(order_id);
    match kind {
        Kind::OrderConfirmation => {
            let items = data
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut text_lines = String::new();
            let mut rows = String::new();
            for it in &items {
                let name = it
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| text_of(it, "sku"));
                let qty = it.get("quantity").and_then(Value::as_i64).unwrap_or(0);
                let price = it.get("unit_price").map(money).unwrap_or_default();
                text_lines.push_str(&format!(
                    "  {qty} x {name} ({}) at {price}\n",
                    text_of(it, "sku")
                ));
                rows.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td style=\"text-align: right\">{qty}</td><td style=\"text-align: right\">{}</td></tr>\n",
                    escape(name),
                    escape(text_of(it, "sku")),
                    escape(&price)
                ));
            }
            let total = data.get("total").map(money).unwrap_or_default();
            let summary = summary_lines(data);
            let text_summary: String = summary
                .iter()
                .map(|(label, amount)| format!("{label}: {amount}\n"))
                .collect();
            let html_summary: String = summary
                .iter()
                .map(|(label, amount)| {
                    format!(
                        "<tr><td>{}</td><td style=\"text-align: right\">{}</td></tr>\n",
                        escape(label),
                        escape(amount)
                    )
                })
                .collect();
            let subject = format!("{shop}: order {short} confirmed");
            let text = format!(
                "{greeting}\n\nthank you for your order {order_id}. We received your payment of {total}.\n\n\
                 {text_lines}\n{text_summary}Total: {total}\n\nWe will write again when it ships.\n\n{shop}\n"
            );
            let body = format!(
                "<p>{}</p>\n<p>Thank you for your order <strong>{}</strong>. We received your payment of {}.</p>\n\
                 <table cellpadding=\"4\">\n<tr><th align=\"left\">Item</th><th align=\"left\">SKU</th><th>Qty</th><th>Unit price</th></tr>\n{rows}</table>\n\
                 <table cellpadding=\"4\">\n{html_summary}</table>\n\
                 <p><strong>Total: {}</strong></p>\n<p>We will write again when it ships.</p>",
                escape(&greeting),
                escape(order_id),
                escape(&total),
                escape(&total)
            );
            Rendered {
                html: html_page(shop, &format!("Order {short} confirmed"), &body),
                subject,
                text,
            }
        }
        Kind::PaymentFailed => {
            let message = text_of(data, "message");
            let subject = format!("{shop}: payment for order {short} failed");
            let text = format!(
                "{greeting}\n\nwe could not take the payment for your order {order_id}, so it was not placed.\n\
                 Reason: {message}\n\nYou can try again with another card.\n\n{shop}\n"
            );
            let body = format!(
                "<p>{}</p>\n<p>We could not take the payment for your order <strong>{}</strong>, so it was not placed.</p>\n\
                 <p>Reason: {}</p>\n<p>You can try again with another card.</p>",
                escape(&greeting),
                escape(order_id),
                escape(message)
            );
            Rendered {
                html: html_page(shop, "Payment failed", &body),
                subject,
                text,
            }
        }
        Kind::OrderShipped => {
            let carrier = text_of(data, "carrier");
            let tracking = text_of(data, "tracking_number");
            let subject = format!("{shop}: order {short} has shipped");
            let text = format!(
                "{greeting}\n\nyour order {order_id} is on its way with {carrier}.\nTracking number: {tracking}\n\n{shop}\n"
            );
            let body = format!(
                "<p>{}</p>\n<p>Your order <strong>{}</strong> is on its way with {}.</p>\n<p>Tracking number: <strong>{}</strong></p>",
                escape(&greeting),
                escape(order_id),
                escape(carrier),
                escape(tracking)
            );
            Rendered {
                html: html_page(shop, "Your order has shipped", &body),
                subject,
                text,
            }
        }
        Kind::OrderRefunded => {
            let amount = data.get("amount").map(money).unwrap_or_default();
            let subject = format!("{shop}: refund for order {short}");
            let text = format!(
                "{greeting}\n\nwe refunded {amount} for your order {order_id}. It may take a few days to show on your statement.\n\n{shop}\n"
            );
            let body = format!(
                "<p>{}</p>\n<p>We refunded <strong>{}</strong> for your order <strong>{}</strong>. It may take a few days to show on your statement.</p>",
                escape(&greeting),
                escape(&amount),
                escape(order_id)
            );
            Rendered {
                html: html_page(shop, "Your refund", &body),
                subject,
                text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_uses_the_currency_exponent() {
        assert_eq!(
            money(&json!({"amount": 1999, "currency": "EUR"})),
            "EUR 19.99"
        );
        assert_eq!(money(&json!({"amount": 5, "currency": "USD"})), "USD 0.05");
        assert_eq!(
            money(&json!({"amount": 1200, "currency": "JPY"})),
            "JPY 1200"
        );
        assert_eq!(money(&json!(250)), "2.50");
    }

    #[test]
    fn confirmation_lists_items_and_escapes_html() {
        let data = json!({
            "order_id": "0192e4a0-7b1c-7def-8abc-0123456789ab",
            "total": {"amount": 4598, "currency": "EUR"},
            "items": [{"sku": "MUG-1", "name": "Mug <b>big</b>", "quantity": 2,
                       "unit_price": {"amount": 2299, "currency": "EUR"}}]
        });
        let r = render(Kind::OrderConfirmation, &data, "Ada", "Shop");
        assert_eq!(r.subject, "Shop: order 0192e4a0 confirmed");
        assert!(r.text.contains("Hello Ada,"), "{}", r.text);
        assert!(
            r.text.contains("2 x Mug <b>big</b> (MUG-1) at EUR 22.99"),
            "{}",
            r.text
        );
        assert!(r.text.contains("Total: EUR 45.98"), "{}", r.text);
        assert!(r.html.contains("Mug &lt;b&gt;big&lt;/b&gt;"), "{}", r.html);
        assert!(!r.html.contains("<b>big"), "{}", r.html);
    }

    #[test]
    fn confirmation_shows_the_breakdown() {
        let data = json!({
            "order_id": "0192e4a0-7b1c-7def-8abc-0123456789ab",
            "total": {"amount": 4588, "currency": "EUR"},
            "items": [],
            "shipping_method": {"name": "Express"},
            "breakdown": {"currency": "EUR", "mode": "tax_inclusive", "subtotal": 3998,
                "applied": [{"code": "TENOFF", "amount": 400}], "shipping": 990, "shipping_discount": 0,
                "taxes": [{"rate_ppm": 190000, "base": 4588, "amount": 732}], "total": 4588}
        });
        let r = render(Kind::OrderConfirmation, &data, "Ada", "Shop");
        for line in [
            "Subtotal: EUR 39.98",
            "Discount (TENOFF): -EUR 4.00",
            "Shipping (Express): EUR 9.90",
            "Included tax 19.00%: EUR 7.32",
            "Total: EUR 45.88",
        ] {
            assert!(r.text.contains(line), "{line} in {}", r.text);
        }
        assert!(r.html.contains("Discount (TENOFF)"), "{}", r.html);
    }

    #[test]
    fn every_kind_renders() {
        for (t, k) in [
            ("order.paid", Kind::OrderConfirmation),
            ("payment.failed", Kind::PaymentFailed),
            ("order.shipped", Kind::OrderShipped),
            ("order.refunded", Kind::OrderRefunded),
        ] {
            assert_eq!(Kind::for_event(t), Some(k));
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            let r = render(k, &json!({"order_id": "o-1234567890"}), "", "Shop");
            assert!(r.text.starts_with("Hello,"), "{}", r.text);
            assert!(r.html.contains("<html>"));
        }
        assert_eq!(Kind::for_event("order.created"), None);
    }
}
