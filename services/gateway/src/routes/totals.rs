//! Checkout totals over REST (issue #13): the public list of shipping methods and the admin API
//! of price modes, tax rates, shipping zones and methods and promotions, forwarded as they are to
//! the order service (HTTP), which owns and validates them. The routes and their documentation
//! come from the one table of operations, `kit::totals::routes::OPERATIONS`; the bodies are
//! `kit::totals`' types, the same the order service reads and writes.

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::on;
use kit::totals::routes::{OPERATIONS, Operation};
use kit::totals::{
    BenefitInput, CodeStatus, Conditions, DeliveryDays, Estimate, Method, MethodInput, MethodList,
    PriceModeInput, PriceModeList, PriceModeSetting, Promotion, PromotionInput, PromotionPage,
    Rate, ShippingChoice, ShippingOption, ShippingOptionList, SubtotalTier, TaxRate, TaxRateInput,
    TaxRateList, WeightTier, Zone, ZoneInput, ZoneList,
};
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::AppState;
use crate::openapi::Problem as ProblemDoc;

/// The routes of the table: the shipping methods are public, the rest behind
/// [`crate::protect`] (the order service checks the admin role).
pub fn router(state: &AppState) -> Router<AppState> {
    let (mut public, mut admin) = (Router::new(), Router::new());
    for op in OPERATIONS {
        let route = on(kit::server::method_filter(op.verb), forward);
        if op.admin {
            admin = admin.route(op.path, route);
        } else {
            public = public.route(op.path, route);
        }
    }
    public.merge(crate::protect(admin, state))
}

/// Every operation of the table: passed on to the order service at the same path.
async fn forward(State(state): State<AppState>, req: Request) -> Response {
    crate::routes::forward::forward(&state, &state.upstreams.order, "order", req).await
}

/// The checkout-totals part of the OpenAPI document (merged in `crate::openapi`): the schemas
/// here, the operations from the table (added by [`Operations`]).
#[derive(OpenApi)]
#[openapi(
    modifiers(&Operations),
    components(schemas(
        ShippingOption, ShippingOptionList, PriceModeSetting, PriceModeInput, PriceModeList,
        TaxRate, TaxRateInput, TaxRateList, Zone, ZoneInput, ZoneList, Method, MethodInput,
        MethodList, Rate, SubtotalTier, WeightTier, DeliveryDays, Promotion, PromotionInput,
        PromotionPage, Conditions, BenefitInput, Estimate, CodeStatus, ShippingChoice,
        kit::pricing::Breakdown, kit::pricing::LineBreakdown, kit::pricing::TaxLine,
        kit::pricing::Applied, kit::pricing::PriceMode, kit::pricing::TaxCategory
    )),
    tags((name = "shipping", description = "Where and how orders ship, and what it costs"))
)]
pub struct TotalsApiDoc;

/// Adds the table's operations to the document.
struct Operations;

impl Modify for Operations {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for op in OPERATIONS {
            doc.paths
                .add_path_operation(op.path, vec![op.verb.into()], operation(op));
        }
    }
}

/// What every forwarded operation can answer besides its own: the gateway's rate limit and the
/// order service failing, and for admin operations a missing token or role.
const FORWARDED: [(u16, &str); 4] = [
    (429, "Rate limited"),
    (502, "The order service is unavailable"),
    (503, "The order service is busy"),
    (504, "The order service did not answer in time"),
];
const ADMIN: [(u16, &str); 2] = [(401, "No valid access token"), (403, "Not an admin")];

/// One operation of the document from its table entry.
fn operation(op: &Operation) -> utoipa::openapi::path::Operation {
    let json =
        |body: kit::totals::routes::Body| Content::new(Some(Ref::from_schema_name(body.name())));
    let mut b = OperationBuilder::new()
        .tag(op.tag())
        .operation_id(Some(op.id))
        .summary(Some(op.summary))
        .description(op.description);
    for parameter in op.params.parameters() {
        b = b.parameter(parameter);
    }
    if let Some(body) = op.request {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json(body))
                .required(Some(Required::True))
                .build(),
        ));
    }
    if op.admin {
        b = b.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
    }
    let mut ok = ResponseBuilder::new().description(op.success.description);
    if let Some(body) = op.success.body {
        ok = ok.content("application/json", json(body));
    }
    b = b.response(op.success.status.to_string(), ok);

    // The order service's extractors refuse a malformed body or parameter (400) and a body of
    // another type (415) before the handler runs.
    let mut errors: Vec<(u16, &str)> = op.errors.to_vec();
    if op.request.is_some() || op.params.parsed() {
        errors.push((
            400,
            "A malformed id, query parameter or a body that is not JSON",
        ));
    }
    if op.request.is_some() {
        errors.push((415, "The body is not `application/json`"));
    }
    if op.admin {
        errors.extend(ADMIN);
    }
    errors.extend(FORWARDED);
    let problem = Content::new(Some(Ref::from_schema_name(ProblemDoc::name())));
    for (status, description) in errors {
        b = b.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(description)
                .content("application/problem+json", problem.clone()),
        );
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    /// Each operation of the table is routed with its method: admin ones want a token before
    /// anything is forwarded, the public one is passed on (to an order service that is not
    /// there: 502).
    #[tokio::test]
    async fn admin_operations_want_a_token_and_the_public_one_is_forwarded() {
        let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let order = format!("http://{}", gone.local_addr().unwrap());
        drop(gone);
        let mut cfg = crate::Config::default();
        cfg.gateway.upstreams.order = order;
        let state = AppState::new(cfg).await.unwrap();
        let app = router(&state).with_state(state);
        for op in OPERATIONS {
            let uri = op
                .path
                .replace("{currency}", "EUR")
                .replace("{id}", &uuid::Uuid::nil().to_string());
            let req = axum::http::Request::builder()
                .method(format!("{:?}", op.verb).to_uppercase().as_str())
                .uri(uri)
                .body(Body::empty())
                .unwrap();
            let status = app.clone().oneshot(req).await.unwrap().status();
            let expected = if op.admin { 401 } else { 502 };
            assert_eq!(status.as_u16(), expected, "{}", op.id);
        }
    }

    /// Every operation of the table is in the served document under its path, method and id;
    /// admin ones need the bearer token, the public one nothing.
    #[test]
    fn the_document_has_every_operation_of_the_table() {
        let doc: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        for op in OPERATIONS {
            let method = format!("{:?}", op.verb).to_lowercase();
            let o = &doc["paths"][op.path][&method];
            assert_eq!(o["operationId"], op.id, "{method} {}: {o}", op.path);
            assert_eq!(o["summary"], op.summary, "{}", op.id);
            assert_eq!(o["tags"], serde_json::json!([op.tag()]), "{}", op.id);
            let status = op.success.status.to_string();
            assert_eq!(
                o["responses"][&status]["description"], op.success.description,
                "{}",
                op.id
            );
            for (status, description) in op.errors {
                assert_eq!(
                    o["responses"][status.to_string()]["description"],
                    *description,
                    "{}",
                    op.id
                );
            }
            for status in ["429", "502", "503", "504"] {
                assert!(o["responses"][status].is_object(), "{} {status}", op.id);
            }
            if op.admin {
                assert_eq!(
                    o["security"],
                    serde_json::json!([{"bearer": []}]),
                    "{}",
                    op.id
                );
                for status in ["401", "403"] {
                    assert!(o["responses"][status].is_object(), "{} {status}", op.id);
                }
            } else {
                assert!(o.get("security").is_none(), "{}", op.id);
            }
        }
    }

    /// Every body the table names is a schema of the document.
    #[test]
    fn the_bodies_of_the_table_are_in_the_document() {
        let doc: serde_json::Value = serde_json::from_str(crate::openapi::document()).unwrap();
        let bodies = OPERATIONS
            .iter()
            .flat_map(|op| [op.request, op.success.body])
            .flatten();
        for body in bodies {
            let name = body.name();
            assert!(
                doc["components"]["schemas"][name.as_ref()].is_object(),
                "{name} is not in the document's schemas"
            );
        }
    }
}
