//! Keyset paging as every list route takes it.

use serde::Deserialize;
use utoipa::IntoParams;

/// `limit` and `cursor` of a list route.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (the id of its last item).
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
}

/// `limit` and `cursor` of a list whose cursor is an opaque token of the service (user
/// addresses and wishlist).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenPageQuery {
    /// Items per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page, as it was given.
    pub cursor: Option<String>,
}
