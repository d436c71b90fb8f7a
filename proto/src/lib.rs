//! Generated gRPC clients and servers for the Storefront services (auth, user, product,
//! inventory), compiled from `proto/storefront/<service>/v1/<service>.proto`.
//!
//! Each package module holds the messages, a `<service>_client` module with the client and a
//! `<service>_server` module with the trait a service implements. Well-known types
//! (`google.protobuf.Timestamp`, `FieldMask`, `Empty`) are the ones from `prost-types`.
#![forbid(unsafe_code)]

/// `storefront.auth.v1`: accounts, tokens, JWKS.
pub mod auth {
    /// Version 1 of the auth API.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("storefront.auth.v1");
    }
}

/// `storefront.user.v1`: profiles, addresses, preferences, wishlist, avatars.
pub mod user {
    /// Version 1 of the user API.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("storefront.user.v1");
    }
}

/// `storefront.product.v1`: catalog, variants, categories, images, search.
pub mod product {
    /// Version 1 of the product API.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("storefront.product.v1");
    }
}

/// `storefront.inventory.v1`: stock, movements, reservations.
pub mod inventory {
    /// Version 1 of the inventory API.
    #[allow(clippy::all, clippy::pedantic, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("storefront.inventory.v1");
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of every Storefront API file and its imports
/// (with source comments), for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("storefront_descriptor");

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use prost::Message;
    use prost_types::{DescriptorProto, EnumDescriptorProto, FileDescriptorSet};

    use super::*;

    fn descriptor_set() -> FileDescriptorSet {
        FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("descriptor set decodes")
    }

    #[test]
    fn product_with_variants_round_trips_through_the_wire_format() {
        use product::v1::{
            GetProductRequest, Money, Product, ProductStatus, Variant, get_product_request,
        };

        let eur = |amount_minor| Money {
            amount_minor,
            currency: "EUR".into(),
        };
        let product = Product {
            id: "0192e4a0-7b1c-7def-8abc-0123456789ab".into(),
            slug: "trail-shoe".into(),
            name: "Trail shoe".into(),
            status: ProductStatus::Active.into(),
            tags: vec!["running".into()],
            variants: vec![Variant {
                sku: "TS-RED-42".into(),
                attributes: HashMap::from([
                    ("color".into(), "red".into()),
                    ("size".into(), "42".into()),
                ]),
                price: Some(eur(8_999)),
                compare_at_price: Some(eur(11_999)),
                image_id: Some("0192e4a0-7b1c-7def-8abc-0123456789ac".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let decoded = Product::decode(product.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, product);
        assert_eq!(decoded.status(), ProductStatus::Active);
        assert_eq!(decoded.variants[0].attributes["size"], "42");

        let by_slug = GetProductRequest {
            lookup: Some(get_product_request::Lookup::Slug("trail-shoe".into())),
        };
        let decoded = GetProductRequest::decode(by_slug.encode_to_vec().as_slice()).unwrap();
        assert_eq!(
            decoded.lookup,
            Some(get_product_request::Lookup::Slug("trail-shoe".into()))
        );
    }

    #[test]
    fn descriptor_set_offers_the_four_services_and_their_imports() {
        let set = descriptor_set();
        let services: BTreeSet<String> = set
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(move |s| format!("{}.{}", f.package(), s.name()))
            })
            .collect();
        let expected = [
            "storefront.auth.v1.AuthService",
            "storefront.inventory.v1.InventoryService",
            "storefront.product.v1.ProductService",
            "storefront.user.v1.UserService",
        ];
        assert_eq!(services, expected.iter().map(|s| s.to_string()).collect());

        // Reflection clients resolve imports from the same set.
        let files: BTreeSet<&str> = set.file.iter().map(|f| f.name()).collect();
        for wkt in [
            "google/protobuf/timestamp.proto",
            "google/protobuf/field_mask.proto",
        ] {
            assert!(files.contains(wkt), "{wkt} missing from the descriptor set");
        }
    }

    /// The .proto comments are the API reference (they also become the rustdoc of the generated
    /// code and the reflection docs), so every element must have one.
    #[test]
    fn every_service_rpc_message_field_and_enum_value_is_documented() {
        fn message(
            msg: &DescriptorProto,
            path: Vec<i32>,
            name: &str,
            out: &mut Vec<(Vec<i32>, String)>,
        ) {
            out.push((path.clone(), name.to_string()));
            for (i, field) in msg.field.iter().enumerate() {
                out.push((
                    [&path[..], &[2, i as i32]].concat(),
                    format!("{name}.{}", field.name()),
                ));
            }
            for (i, oneof) in msg.oneof_decl.iter().enumerate() {
                // Synthetic oneofs of proto3 `optional` fields carry no comment of their own.
                let synthetic = msg
                    .field
                    .iter()
                    .any(|f| f.proto3_optional() && f.oneof_index == Some(i as i32));
                if !synthetic {
                    out.push((
                        [&path[..], &[8, i as i32]].concat(),
                        format!("{name}.{}", oneof.name()),
                    ));
                }
            }
            for (i, nested) in msg.nested_type.iter().enumerate() {
                // Map entries are generated by protoc.
                if !nested.options.as_ref().is_some_and(|o| o.map_entry()) {
                    let nested_name = format!("{name}.{}", nested.name());
                    message(
                        nested,
                        [&path[..], &[3, i as i32]].concat(),
                        &nested_name,
                        out,
                    );
                }
            }
            for (i, e) in msg.enum_type.iter().enumerate() {
                enumeration(
                    e,
                    [&path[..], &[4, i as i32]].concat(),
                    &format!("{name}.{}", e.name()),
                    out,
                );
            }
        }
        fn enumeration(
            e: &EnumDescriptorProto,
            path: Vec<i32>,
            name: &str,
            out: &mut Vec<(Vec<i32>, String)>,
        ) {
            out.push((path.clone(), name.to_string()));
            for (i, value) in e.value.iter().enumerate() {
                out.push((
                    [&path[..], &[2, i as i32]].concat(),
                    format!("{name}.{}", value.name()),
                ));
            }
        }

        let set = descriptor_set();
        let mut undocumented = Vec::new();
        for file in set
            .file
            .iter()
            .filter(|f| f.package().starts_with("storefront."))
        {
            let documented: BTreeSet<&[i32]> = file
                .source_code_info
                .as_ref()
                .expect("descriptor set carries source info")
                .location
                .iter()
                .filter(|l| !l.leading_comments().trim().is_empty())
                .map(|l| l.path.as_slice())
                .collect();
            // Paths follow FileDescriptorProto field numbers: 4 message_type, 5 enum_type, 6 service.
            let mut elements = Vec::new();
            for (i, msg) in file.message_type.iter().enumerate() {
                message(msg, vec![4, i as i32], msg.name(), &mut elements);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                enumeration(e, vec![5, i as i32], e.name(), &mut elements);
            }
            for (i, service) in file.service.iter().enumerate() {
                elements.push((vec![6, i as i32], service.name().to_string()));
                for (j, method) in service.method.iter().enumerate() {
                    elements.push((
                        vec![6, i as i32, 2, j as i32],
                        format!("{}.{}", service.name(), method.name()),
                    ));
                }
            }
            assert!(elements.len() > 50, "{} looks empty", file.name());
            undocumented.extend(
                elements
                    .into_iter()
                    .filter(|(path, _)| !documented.contains(path.as_slice()))
                    .map(|(_, name)| format!("{}: {name}", file.name())),
            );
        }
        assert!(
            undocumented.is_empty(),
            "undocumented elements:\n{}",
            undocumented.join("\n")
        );
    }

    /// The generated client and server agree over real HTTP/2, and a shortage (a normal outcome,
    /// not an error) reaches the caller with every short line named.
    #[tokio::test]
    async fn reserve_stock_shortage_reaches_the_client() {
        use inventory::v1::{
            inventory_service_client::InventoryServiceClient,
            inventory_service_server::{InventoryService, InventoryServiceServer},
            reserve_stock_response::Outcome,
            *,
        };
        use tonic::{Request, Response, Status};

        /// Holds two units of every SKU and never reserves anything.
        struct TwoOfEach;

        #[tonic::async_trait]
        impl InventoryService for TwoOfEach {
            async fn reserve_stock(
                &self,
                request: Request<ReserveStockRequest>,
            ) -> Result<Response<ReserveStockResponse>, Status> {
                let lines = request
                    .into_inner()
                    .lines
                    .into_iter()
                    .filter(|l| l.quantity > 2)
                    .map(|l| ShortLine {
                        sku: l.sku,
                        requested: l.quantity,
                        available: 2,
                    })
                    .collect();
                Ok(Response::new(ReserveStockResponse {
                    outcome: Some(Outcome::Shortage(Shortage { lines })),
                }))
            }
            async fn get_stock(
                &self,
                _: Request<GetStockRequest>,
            ) -> Result<Response<StockLevel>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn batch_get_availability(
                &self,
                _: Request<BatchGetAvailabilityRequest>,
            ) -> Result<Response<BatchGetAvailabilityResponse>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn set_stock(
                &self,
                _: Request<SetStockRequest>,
            ) -> Result<Response<SetStockResponse>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn adjust_stock(
                &self,
                _: Request<AdjustStockRequest>,
            ) -> Result<Response<AdjustStockResponse>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn list_movements(
                &self,
                _: Request<ListMovementsRequest>,
            ) -> Result<Response<ListMovementsResponse>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn commit_reservation(
                &self,
                _: Request<CommitReservationRequest>,
            ) -> Result<Response<Reservation>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn release_reservation(
                &self,
                _: Request<ReleaseReservationRequest>,
            ) -> Result<Response<Reservation>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
            async fn get_reservation(
                &self,
                _: Request<GetReservationRequest>,
            ) -> Result<Response<Reservation>, Status> {
                Err(Status::unimplemented("not in this test"))
            }
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(InventoryServiceServer::new(TwoOfEach))
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );

        let mut client = InventoryServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let line = |sku: &str, quantity| ReservationLine {
            sku: sku.into(),
            quantity,
        };
        let response = client
            .reserve_stock(ReserveStockRequest {
                order_id: "0192e4a0-7b1c-7def-8abc-0123456789ad".into(),
                lines: vec![line("A-1", 3), line("B-2", 1), line("C-3", 5)],
                ttl_seconds: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let Some(Outcome::Shortage(shortage)) = response.outcome else {
            panic!("expected a shortage, got {response:?}");
        };
        let short: Vec<(&str, i64, i64)> = shortage
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.requested, l.available))
            .collect();
        assert_eq!(short, [("A-1", 3, 2), ("C-3", 5, 2)]);

        let unimplemented = client
            .get_stock(GetStockRequest { sku: "A-1".into() })
            .await
            .unwrap_err();
        assert_eq!(unimplemented.code(), tonic::Code::Unimplemented);

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
