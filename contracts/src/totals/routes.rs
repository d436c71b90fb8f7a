//! The checkout-totals REST API as one table (issue #12): every operation's method, path,
//! operation id, documentation, bodies, answers and parameters, with the list bodies and
//! queries they use. The order service routes each entry to its handler; the gateway forwards
//! each to the order service and builds its OpenAPI operations from the entry.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::Required;
use utoipa::openapi::path::{HttpMethod, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};

use super::{
    Method, MethodInput, PriceModeInput, PriceModeSetting, Promotion, PromotionInput,
    ShippingOption, TaxRate, TaxRateInput, Zone, ZoneInput,
};

// The list bodies carry no `///` of their own: utoipa would turn it into a schema description.

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShippingOptionList {
    pub items: Vec<ShippingOption>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceModeList {
    pub items: Vec<PriceModeSetting>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxRateList {
    pub items: Vec<TaxRate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ZoneList {
    pub items: Vec<Zone>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MethodList {
    pub items: Vec<Method>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PromotionPage {
    pub items: Vec<Promotion>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/shipping-methods`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShippingMethodsQuery {
    /// Required. ISO 3166-1 alpha-2 code of the destination.
    // Documented as required but read as optional, so that a missing one is the same 422 naming
    // `country` as a malformed one rather than an unreadable query.
    #[param(required = true, pattern = "^[A-Za-z]{2}$", example = "DE")]
    pub country: Option<String>,
    /// The destination's state or province (ISO 3166-2 such as `US-CA`, or its part after the
    /// hyphen), for zones limited to regions.
    pub region: Option<String>,
    /// Only methods in this currency.
    #[param(pattern = "^[A-Za-z]{3}$", example = "EUR")]
    pub currency: Option<String>,
}

/// Query of `GET /api/v1/admin/promotions`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PromotionPageQuery {
    /// `next_cursor` of the previous page (the id of its last promotion).
    #[param(value_type = Option<uuid::Uuid>)]
    pub cursor: Option<String>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// An HTTP method of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Put,
    Post,
    Delete,
}

impl From<Verb> for HttpMethod {
    fn from(v: Verb) -> Self {
        match v {
            Verb::Get => Self::Get,
            Verb::Put => Self::Put,
            Verb::Post => Self::Post,
            Verb::Delete => Self::Delete,
        }
    }
}

/// The parameters an operation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Params {
    None,
    /// `{currency}`: an uppercase ISO 4217 code.
    Currency,
    /// `{id}`: a UUID.
    Id,
    /// [`ShippingMethodsQuery`].
    ShippingMethods,
    /// [`PromotionPageQuery`].
    PromotionPage,
}

impl Params {
    /// The parameters as the OpenAPI document states them.
    pub fn parameters(self) -> Vec<Parameter> {
        let path = |name: &str, description: &str, schema: ObjectBuilder| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(schema.schema_type(Type::String)))
        };
        match self {
            Self::None => Vec::new(),
            Self::Currency => vec![
                path(
                    "currency",
                    "Uppercase ISO 4217 code",
                    ObjectBuilder::new().pattern(Some("^[A-Z]{3}$")),
                )
                .example(Some("EUR".into()))
                .build(),
            ],
            Self::Id => vec![
                path(
                    "id",
                    "The id",
                    ObjectBuilder::new().format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
                )
                .build(),
            ],
            Self::ShippingMethods => ShippingMethodsQuery::into_params(|| None),
            Self::PromotionPage => PromotionPageQuery::into_params(|| None),
        }
    }

    /// Whether the order service parses one of them (a path id or currency, a page's `limit`),
    /// so that a malformed one is a 400. The shipping methods' query is free strings, which it
    /// checks as a 422.
    pub fn parsed(self) -> bool {
        matches!(self, Self::Currency | Self::Id | Self::PromotionPage)
    }
}

/// A JSON body, named by its schema (`#/components/schemas/{name}`).
#[derive(Clone, Copy)]
pub struct Body(fn() -> Cow<'static, str>);

impl Body {
    pub const fn of<T: ToSchema>() -> Self {
        Self(T::name)
    }

    /// The schema's name among the document's components.
    pub fn name(self) -> Cow<'static, str> {
        (self.0)()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Body").field(&self.name()).finish()
    }
}

/// The answer of an operation that succeeds.
#[derive(Clone, Copy, Debug)]
pub struct Success {
    pub status: u16,
    pub description: &'static str,
    pub body: Option<Body>,
}

/// One operation of the table.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    /// The OpenAPI operation id; the order service finds its handler by it.
    pub id: &'static str,
    pub verb: Verb,
    /// The path, with `{currency}` or `{id}` as [`Params`] says.
    pub path: &'static str,
    /// Admin only: the gateway wants a bearer token, the order service the `admin` role.
    pub admin: bool,
    pub params: Params,
    /// The first line of the operation's documentation.
    pub summary: &'static str,
    /// The rest of it, if any.
    pub description: Option<&'static str>,
    /// The JSON body taken, if any.
    pub request: Option<Body>,
    pub success: Success,
    /// The problems this operation documents for itself (status, description). What every
    /// forwarded operation can answer (authentication, rate limit, the order service failing)
    /// is the gateway's to add.
    pub errors: &'static [(u16, &'static str)],
}

impl Operation {
    /// The OpenAPI tag: `admin` for admin operations, `shipping` for the public one.
    pub fn tag(&self) -> &'static str {
        if self.admin { "admin" } else { "shipping" }
    }
}

/// Every operation of the checkout-totals API (the internal quote is not public and not here).
pub static OPERATIONS: &[Operation] = &[
    Operation {
        id: "listShippingMethods",
        verb: Verb::Get,
        path: "/api/v1/shipping-methods",
        admin: false,
        params: Params::ShippingMethods,
        summary: "The shipping methods offered to a destination, with their rates.",
        description: Some(
            "`amount` is null here: a rate by subtotal or weight depends on the cart; the cart's\n\
             estimate (`GET /api/v1/cart?country=..`) prices them for it.",
        ),
        request: None,
        success: Success {
            status: 200,
            description: "The methods that ship there",
            body: Some(Body::of::<ShippingOptionList>()),
        },
        errors: &[(
            422,
            "`country` missing or not an ISO code, or a malformed `currency`",
        )],
    },
    Operation {
        id: "listPriceModes",
        verb: Verb::Get,
        path: "/api/v1/admin/price-modes",
        admin: true,
        params: Params::None,
        summary: "How each currency's prices are entered. A currency without a setting is tax-exclusive. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "Every setting",
            body: Some(Body::of::<PriceModeList>()),
        },
        errors: &[],
    },
    Operation {
        id: "setPriceMode",
        verb: Verb::Put,
        path: "/api/v1/admin/price-modes/{currency}",
        admin: true,
        params: Params::Currency,
        summary: "Set whether a currency's prices include tax (EU) or not (US). Admin only.",
        description: None,
        request: Some(Body::of::<PriceModeInput>()),
        success: Success {
            status: 200,
            description: "The setting",
            body: Some(Body::of::<PriceModeSetting>()),
        },
        errors: &[(422, "A malformed body")],
    },
    Operation {
        id: "deletePriceMode",
        verb: Verb::Delete,
        path: "/api/v1/admin/price-modes/{currency}",
        admin: true,
        params: Params::Currency,
        summary: "Forget a currency's setting (it becomes tax-exclusive). Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 204,
            description: "Forgotten",
            body: None,
        },
        errors: &[(404, "No setting for this currency")],
    },
    Operation {
        id: "listTaxRates",
        verb: Verb::Get,
        path: "/api/v1/admin/tax-rates",
        admin: true,
        params: Params::None,
        summary: "Every tax rate, by country, region and category. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "The rates",
            body: Some(Body::of::<TaxRateList>()),
        },
        errors: &[],
    },
    Operation {
        id: "setTaxRate",
        verb: Verb::Put,
        path: "/api/v1/admin/tax-rates",
        admin: true,
        params: Params::None,
        summary: "Set the rate of a tax category at a destination (creates or replaces it). A category without a rate at a destination is not taxed there; `zero` is always 0. Admin only.",
        description: None,
        request: Some(Body::of::<TaxRateInput>()),
        success: Success {
            status: 200,
            description: "The rate as stored",
            body: Some(Body::of::<TaxRate>()),
        },
        errors: &[(422, "An invalid field; `errors` names it")],
    },
    Operation {
        id: "deleteTaxRate",
        verb: Verb::Delete,
        path: "/api/v1/admin/tax-rates/{id}",
        admin: true,
        params: Params::Id,
        summary: "Delete a tax rate. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 204,
            description: "Deleted",
            body: None,
        },
        errors: &[(404, "No such rate")],
    },
    Operation {
        id: "listShippingZones",
        verb: Verb::Get,
        path: "/api/v1/admin/shipping-zones",
        admin: true,
        params: Params::None,
        summary: "Every shipping zone. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "The zones",
            body: Some(Body::of::<ZoneList>()),
        },
        errors: &[],
    },
    Operation {
        id: "createShippingZone",
        verb: Verb::Post,
        path: "/api/v1/admin/shipping-zones",
        admin: true,
        params: Params::None,
        summary: "Create a shipping zone: the countries (and optionally regions) its methods ship to. Admin only.",
        description: None,
        request: Some(Body::of::<ZoneInput>()),
        success: Success {
            status: 201,
            description: "The zone",
            body: Some(Body::of::<Zone>()),
        },
        errors: &[
            (409, "The name is taken"),
            (422, "An invalid field; `errors` names it"),
        ],
    },
    Operation {
        id: "getShippingZone",
        verb: Verb::Get,
        path: "/api/v1/admin/shipping-zones/{id}",
        admin: true,
        params: Params::Id,
        summary: "One shipping zone. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "The zone",
            body: Some(Body::of::<Zone>()),
        },
        errors: &[(404, "No such zone")],
    },
    Operation {
        id: "replaceShippingZone",
        verb: Verb::Put,
        path: "/api/v1/admin/shipping-zones/{id}",
        admin: true,
        params: Params::Id,
        summary: "Replace a shipping zone. Admin only.",
        description: None,
        request: Some(Body::of::<ZoneInput>()),
        success: Success {
            status: 200,
            description: "The zone",
            body: Some(Body::of::<Zone>()),
        },
        errors: &[
            (404, "No such zone"),
            (409, "The name is taken"),
            (422, "An invalid field; `errors` names it"),
        ],
    },
    Operation {
        id: "deleteShippingZone",
        verb: Verb::Delete,
        path: "/api/v1/admin/shipping-zones/{id}",
        admin: true,
        params: Params::Id,
        summary: "Delete a shipping zone with its methods. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 204,
            description: "Deleted",
            body: None,
        },
        errors: &[(404, "No such zone")],
    },
    Operation {
        id: "listAdminShippingMethods",
        verb: Verb::Get,
        path: "/api/v1/admin/shipping-methods",
        admin: true,
        params: Params::None,
        summary: "Every shipping method, active or not. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "The methods",
            body: Some(Body::of::<MethodList>()),
        },
        errors: &[],
    },
    Operation {
        id: "createShippingMethod",
        verb: Verb::Post,
        path: "/api/v1/admin/shipping-methods",
        admin: true,
        params: Params::None,
        summary: "Create a shipping method of a zone: a flat rate, a rate by subtotal tier or by weight tier, an optional free-shipping threshold and a delivery estimate. Admin only.",
        description: None,
        request: Some(Body::of::<MethodInput>()),
        success: Success {
            status: 201,
            description: "The method",
            body: Some(Body::of::<Method>()),
        },
        errors: &[(
            422,
            "An invalid field or an unknown `zone_id`; `errors` names it",
        )],
    },
    Operation {
        id: "getShippingMethod",
        verb: Verb::Get,
        path: "/api/v1/admin/shipping-methods/{id}",
        admin: true,
        params: Params::Id,
        summary: "One shipping method. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "The method",
            body: Some(Body::of::<Method>()),
        },
        errors: &[(404, "No such method")],
    },
    Operation {
        id: "replaceShippingMethod",
        verb: Verb::Put,
        path: "/api/v1/admin/shipping-methods/{id}",
        admin: true,
        params: Params::Id,
        summary: "Replace a shipping method. Admin only.",
        description: None,
        request: Some(Body::of::<MethodInput>()),
        success: Success {
            status: 200,
            description: "The method",
            body: Some(Body::of::<Method>()),
        },
        errors: &[
            (404, "No such method"),
            (
                422,
                "An invalid field or an unknown `zone_id`; `errors` names it",
            ),
        ],
    },
    Operation {
        id: "deleteShippingMethod",
        verb: Verb::Delete,
        path: "/api/v1/admin/shipping-methods/{id}",
        admin: true,
        params: Params::Id,
        summary: "Delete a shipping method (orders keep the name they were placed with). Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 204,
            description: "Deleted",
            body: None,
        },
        errors: &[(404, "No such method")],
    },
    Operation {
        id: "listPromotions",
        verb: Verb::Get,
        path: "/api/v1/admin/promotions",
        admin: true,
        params: Params::PromotionPage,
        summary: "Promotions, newest first, with their uses. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "A page of promotions",
            body: Some(Body::of::<PromotionPage>()),
        },
        errors: &[(422, "`limit` out of 1..=100 or an unknown `cursor`")],
    },
    Operation {
        id: "createPromotion",
        verb: Verb::Post,
        path: "/api/v1/admin/promotions",
        admin: true,
        params: Params::None,
        summary: "Create a promotion: automatic (no `code`) or a coupon code, with conditions, a benefit, a time window and usage limits. Admin only.",
        description: None,
        request: Some(Body::of::<PromotionInput>()),
        success: Success {
            status: 201,
            description: "The promotion",
            body: Some(Body::of::<Promotion>()),
        },
        errors: &[
            (409, "The code is taken"),
            (422, "An invalid field; `errors` names it"),
        ],
    },
    Operation {
        id: "getPromotion",
        verb: Verb::Get,
        path: "/api/v1/admin/promotions/{id}",
        admin: true,
        params: Params::Id,
        summary: "One promotion with its uses. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 200,
            description: "The promotion",
            body: Some(Body::of::<Promotion>()),
        },
        errors: &[(404, "No such promotion")],
    },
    Operation {
        id: "replacePromotion",
        verb: Verb::Put,
        path: "/api/v1/admin/promotions/{id}",
        admin: true,
        params: Params::Id,
        summary: "Replace a promotion; its uses stay. Admin only.",
        description: None,
        request: Some(Body::of::<PromotionInput>()),
        success: Success {
            status: 200,
            description: "The promotion",
            body: Some(Body::of::<Promotion>()),
        },
        errors: &[
            (404, "No such promotion"),
            (
                409,
                "The code is taken, or `usage_limit` is below the uses already made",
            ),
            (422, "An invalid field; `errors` names it"),
        ],
    },
    Operation {
        id: "deletePromotion",
        verb: Verb::Delete,
        path: "/api/v1/admin/promotions/{id}",
        admin: true,
        params: Params::Id,
        summary: "Delete a promotion. Orders keep the discount they were given. Admin only.",
        description: None,
        request: None,
        success: Success {
            status: 204,
            description: "Deleted",
            body: None,
        },
        errors: &[(404, "No such promotion")],
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_and_routes_are_unique() {
        let mut ids = HashSet::new();
        let mut routes = HashSet::new();
        for op in OPERATIONS {
            assert!(ids.insert(op.id), "{} twice", op.id);
            assert!(
                routes.insert((op.path, op.verb)),
                "{:?} {} twice",
                op.verb,
                op.path
            );
        }
    }

    /// A path parameter the table names must be in the path, and the reverse.
    #[test]
    fn path_parameters_match_the_path() {
        for op in OPERATIONS {
            let in_path: Vec<_> = op
                .params
                .parameters()
                .into_iter()
                .filter(|p| p.parameter_in == ParameterIn::Path)
                .map(|p| format!("{{{}}}", p.name))
                .collect();
            let braces = op.path.matches('{').count();
            assert_eq!(in_path.len(), braces, "{}", op.id);
            for p in in_path {
                assert!(op.path.contains(&p), "{}: {p} is not in {}", op.id, op.path);
            }
        }
    }

    /// Only reads have no body to take, and only admin operations are under `/admin/`.
    #[test]
    fn entries_are_consistent() {
        for op in OPERATIONS {
            assert_eq!(
                op.request.is_some(),
                matches!(op.verb, Verb::Put | Verb::Post),
                "{}",
                op.id
            );
            assert_eq!(op.admin, op.path.starts_with("/api/v1/admin/"), "{}", op.id);
            assert_eq!(
                op.success.body.is_none(),
                op.success.status == 204,
                "{}",
                op.id
            );
            assert!(!op.summary.is_empty(), "{}", op.id);
        }
    }

    #[test]
    fn a_missing_country_is_read_and_documented_as_required() {
        let q: ShippingMethodsQuery = serde_json::from_str("{}").unwrap();
        assert_eq!(q.country, None);
        let country = &Params::ShippingMethods.parameters()[0];
        assert_eq!(country.name, "country");
        assert!(country.required == Required::True);
    }
}
