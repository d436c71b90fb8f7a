//! The shape of a SKU, one rule for the catalog, stock, carts and tracking events.

use crate::problem::FieldError;

/// Longest SKU.
pub const MAX: usize = 64;

/// The rule as the OpenAPI document states it.
pub const PATTERN: &str = r"^[A-Za-z0-9._-]{1,64}$";

/// `Ok` when `sku` is 1 to 64 ASCII letters, digits, `-`, `_` or `.`, else the error naming
/// `field`.
pub fn check(field: &str, sku: &str) -> Result<(), FieldError> {
    if sku.is_empty() || sku.len() > MAX {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX} characters"),
        ));
    }
    if !sku
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(FieldError::new(
            field,
            "may only hold ASCII letters, digits, `-`, `_` and `.`",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_digits_and_three_marks() {
        for good in ["TSHIRT-M-RED", "mug_1.2", &"A".repeat(64)] {
            assert_eq!(check("sku", good), Ok(()), "{good}");
        }
        for bad in ["", " A", "A B", "é", "A/B", &"A".repeat(65)] {
            assert_eq!(check("sku", bad).unwrap_err().field, "sku", "{bad}");
        }
    }
}
