//! Card rules that need no I/O: Luhn check, brand, expiry, and the card as the API receives it
//! (never printed: its `Debug` hides the number and CVC).

use time::OffsetDateTime;

/// A card as sent to `POST /api/v1/payment-methods`. Lives only as long as the request.
pub struct Card {
    /// Digits only.
    pub number: String,
    pub exp_month: u8,
    pub exp_year: u16,
    pub cvc: String,
    pub holder_name: Option<String>,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("number", &format_args!("****{}", self.last4()))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &"***")
            .finish()
    }
}

impl Card {
    pub fn last4(&self) -> &str {
        &self.number[self.number.len().saturating_sub(4)..]
    }

    pub fn brand(&self) -> &'static str {
        brand(&self.number)
    }
}

/// The number with spaces and dashes removed, if what remains is 12 to 19 digits.
pub fn normalize_number(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    ((12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// The Luhn (mod 10) check every card number passes.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// The card network, from the number's prefix.
pub fn brand(digits: &str) -> &'static str {
    let p2: u32 = digits.get(..2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let p4: u32 = digits.get(..4).and_then(|s| s.parse().ok()).unwrap_or(0);
    if digits.starts_with('4') {
        "visa"
    } else if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        "mastercard"
    } else if p2 == 34 || p2 == 37 {
        "amex"
    } else if p4 == 6011 || p2 == 65 {
        "discover"
    } else {
        "unknown"
    }
}

/// Whether a card expiring at the end of `month`/`year` has expired at `now`.
pub fn expired(month: u8, year: u16, now: OffsetDateTime) -> bool {
    let (y, m) = (now.year(), u8::from(now.month()));
    i32::from(year) < y || (i32::from(year) == y && month < m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_the_test_cards_and_refuses_a_typo() {
        for n in [
            "4242424242424242",
            "4000000000000002",
            "4000000000000119",
            "4000000000009995",
            "5555555555554444",
            "378282246310005",
        ] {
            assert!(luhn_valid(n), "{n}");
        }
        assert!(!luhn_valid("4242424242424241"));
    }

    #[test]
    fn numbers_are_normalised_and_branded() {
        assert_eq!(
            normalize_number("4242 4242-4242 4242").as_deref(),
            Some("4242424242424242")
        );
        assert_eq!(normalize_number("4242"), None);
        assert_eq!(normalize_number("4242x42424242424"), None);
        assert_eq!(brand("4242424242424242"), "visa");
        assert_eq!(brand("5555555555554444"), "mastercard");
        assert_eq!(brand("2223003122003222"), "mastercard");
        assert_eq!(brand("378282246310005"), "amex");
        assert_eq!(brand("6011111111111117"), "discover");
    }

    #[test]
    fn a_card_is_valid_through_its_expiry_month() {
        let now = time::macros::datetime!(2026-11-26 10:00 UTC);
        assert!(!expired(11, 2026, now));
        assert!(expired(10, 2026, now));
        assert!(expired(12, 2025, now));
        assert!(!expired(1, 2027, now));
    }

    #[test]
    fn debug_never_shows_the_number_or_cvc() {
        let c = Card {
            number: "4242424242424242".into(),
            exp_month: 12,
            exp_year: 2030,
            cvc: "123".into(),
            holder_name: None,
        };
        let s = format!("{c:?}");
        assert!(!s.contains("424242424242"), "{s}");
        assert!(!s.contains("123"), "{s}");
        assert!(s.contains("4242"), "{s}");
    }
}
