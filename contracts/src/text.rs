//! The patterns of text fields, so that the document states exactly what the services accept
//! (the rule itself is `kit::address::text`: length and characters as sent, kept trimmed).

/// A line: no control characters (Unicode `Cc`) and at least one character that is not white
/// space; its length, counted as sent (spaces included), is bounded per field with `maxLength`.
pub const LINE_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00-\\x1f\\x7f-\\x9f]*$";

/// Optional text: no control characters (Unicode `Cc`); may be empty or blank.
pub const OPTIONAL_LINE_PATTERN: &str = "^[^\\x00-\\x1f\\x7f-\\x9f]*$";

#[cfg(test)]
mod tests {
    use super::*;

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
