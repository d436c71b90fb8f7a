//! One-line text fields (names, carriers, tracking numbers): the rule and its pattern, so that
//! the document states exactly what the services accept.

use crate::problem::FieldError;

/// A line: no control characters (Unicode `Cc`) and at least one character that is not white
/// space; its length, counted as sent (spaces included), is bounded per field with `maxLength`.
pub const LINE_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00-\\x1f\\x7f-\\x9f]*$";

/// Contains a character that is not white space (Rust's `char::is_whitespace`, what `trim`
/// removes); JSON Schema patterns are unanchored, so this says "not blank".
pub const NON_BLANK_PATTERN: &str =
    "[^\\x09-\\x0d\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// Free text that may be empty: no control characters.
pub const FREE_TEXT_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

/// `value` trimmed, when it is 1 to `max` characters as sent, not blank and free of control
/// characters; else the error naming `field`.
pub fn line(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let t = value.trim();
    if t.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_as_sent_and_trimmed() {
        assert_eq!(line("carrier", " DHL ", 100).unwrap(), "DHL");
        assert!(line("carrier", "   ", 100).is_err());
        assert!(line("carrier", "\u{3000}", 100).is_err());
        assert!(line("carrier", "a\nb", 100).is_err());
        assert!(line("carrier", &format!(" {} ", "x".repeat(99)), 100).is_err());
        assert!(line("carrier", &"é".repeat(100), 100).is_ok());
    }

    #[test]
    fn the_documents_state_the_same_pattern() {
        let ship =
            serde_json::to_value(<crate::orders::ShipRequest as utoipa::PartialSchema>::schema())
                .unwrap();
        for f in ["carrier", "tracking_number"] {
            assert_eq!(ship["properties"][f]["pattern"], LINE_PATTERN, "{f}");
        }
    }
}
