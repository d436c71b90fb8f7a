//! The `Idempotency-Key` header of every retry-safe write (checkout, cart add, card save,
//! sign-up, stock writes), one rule for all of them.

use crate::problem::FieldError;

/// Longest key accepted.
pub const MAX: usize = 255;

/// The rule as the OpenAPI document states it: 1 to 255 printable ASCII characters, neither
/// first nor last a space (HTTP drops spaces at the ends of a header value).
pub const PATTERN: &str = r"^[!-~]([ -~]{0,253}[!-~])?$";

/// The rule in words, for the documents and for the field error.
pub const RULE: &str =
    "must be 1 to 255 printable ASCII characters, not starting or ending with a space";

/// `raw` when it is a well-formed key, else the error naming `field`.
pub fn check<'a>(field: &str, raw: &'a [u8]) -> Result<&'a str, FieldError> {
    let visible = |b: &u8| b.is_ascii_graphic();
    let ok = !raw.is_empty()
        && raw.len() <= MAX
        && raw.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        && raw.first().is_some_and(visible)
        && raw.last().is_some_and(visible);
    match std::str::from_utf8(raw) {
        Ok(s) if ok => Ok(s),
        _ => Err(FieldError::new(field, RULE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_with_visible_ends() {
        for good in [
            "k",
            "3f0c1e7a-checkout-1",
            "2024-05-01 count #3",
            &"k".repeat(255),
        ] {
            assert_eq!(
                check("Idempotency-Key", good.as_bytes()),
                Ok(good),
                "{good}"
            );
        }
        for bad in ["", " k", "k ", "tab\there", "é", &"k".repeat(256)] {
            let e = check("Idempotency-Key", bad.as_bytes()).unwrap_err();
            assert_eq!(e.field, "Idempotency-Key", "{bad}");
        }
    }
}
