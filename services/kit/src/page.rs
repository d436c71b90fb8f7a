//! Keyset pages over UUIDv7 ids: the `cursor` and `limit` query parameters every list takes.

use uuid::Uuid;

use crate::problem::FieldError;

/// Most items a page holds.
pub const MAX_LIMIT: i64 = 100;

/// A page request as understood: the id to continue after (exclusive) and the page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub after: Option<Uuid>,
    pub limit: i64,
}

impl Page {
    /// Reads `cursor` (absent: the first page) and `limit` (1..=100, `default` when
    /// absent); the errors name the parameter.
    pub fn parse(
        cursor: Option<&str>,
        limit: Option<i64>,
        default: i64,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(default);
        if !(1..=MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor {
            None => None,
            Some(c) => Uuid::parse_str(c).map(Some).unwrap_or_else(|_| {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor from a previous page",
                ));
                None
            }),
        };
        if errors.is_empty() {
            Ok(Self { after, limit })
        } else {
            Err(errors)
        }
    }

    /// Cuts `rows` (fetched with `limit + 1`) to the page and returns the next cursor.
    pub fn finish<T>(&self, rows: &mut Vec<T>, id: impl Fn(&T) -> Uuid) -> Option<String> {
        if rows.len() as i64 > self.limit {
            rows.truncate(self.limit as usize);
            rows.last().map(|r| id(r).to_string())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_limits_are_checked_and_pages_cut() {
        assert_eq!(
            Page::parse(None, None, 20),
            Ok(Page {
                after: None,
                limit: 20
            })
        );
        let id = Uuid::now_v7();
        assert_eq!(
            Page::parse(Some(&id.to_string()), Some(5), 20)
                .unwrap()
                .after,
            Some(id)
        );
        let e = Page::parse(Some("zzz"), Some(101), 20).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["limit", "cursor"]);
        // An empty cursor is not one the service handed out.
        assert!(Page::parse(Some(""), Some(2), 20).is_err());
        let page = Page::parse(None, Some(2), 20).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let mut rows = ids.clone();
        assert_eq!(page.finish(&mut rows, |r| *r), Some(ids[1].to_string()));
        assert_eq!(rows.len(), 2);
        let mut short = vec![ids[0]];
        assert_eq!(page.finish(&mut short, |r| *r), None);
    }
}
