//! The admin catalog routes (role admin, checked by the extractor and again by the product
//! service): products, variants, images and categories.

#[allow(unused_imports)]
use super::*;

/// All products, newest first, any status. Admin only.
#[utoipa::path(
    get,
    path = "/api/v1/admin/products",
    tag = "admin",
    operation_id = "adminListProducts",
    params(AdminProductsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of products", body = ProductList),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn admin_list_products(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Query(q): Query<AdminProductsQuery>,
) -> Result<Json<ProductList>, Problem> {
    let r = client(&state)
        .list_products(grpc_request(
            pb::ListProductsRequest {
                page_size: limit(q.limit, 100)?,
                page_token: q.cursor.unwrap_or_default(),
                category_id: String::new(),
                status: q.status.map(|s| s.to_pb() as i32).unwrap_or(0),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(ProductList {
        items: r.products.into_iter().map(product_view).collect(),
        next_cursor: (!r.next_page_token.is_empty()).then_some(r.next_page_token),
    }))
}

/// Creates a product, optionally with variants. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products",
    tag = "admin",
    operation_id = "createProduct",
    request_body = CreateProductBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The product", body = ProductView),
        (status = 401, description = "No valid access token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug or SKU taken, or `active` without variants", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Json(b): Json<CreateProductBody>,
) -> Result<Response, Problem> {
    let product = pb::Product {
        slug: b.slug.unwrap_or_default(),
        name: b.name,
        brand: b.brand.unwrap_or_default(),
        description: b.description.unwrap_or_default(),
        status: b.status.map(|s| s.to_pb() as i32).unwrap_or(0),
        tax_category: b.tax_category.map(|t| t.to_pb() as i32).unwrap_or(0),
        category_ids: b.category_ids,
        tags: b.tags,
        specifications: specs_pb(b.specifications),
        variants: b.variants.into_iter().map(variant_pb).collect(),
        ..Default::default()
    };
    let p = client(&state)
        .create_product(grpc_request(
            pb::CreateProductRequest {
                product: Some(product),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(product_view(p)))
}

/// Changes product fields. Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}",
    tag = "admin",
    operation_id = "updateProduct",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    request_body = UpdateProductBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken, or `active` without variants", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<UpdateProductBody>,
) -> Result<Json<ProductView>, Problem> {
    let mut paths = Vec::new();
    let mut p = pb::Product {
        id,
        ..Default::default()
    };
    if let Some(v) = b.slug {
        paths.push("slug");
        p.slug = v;
    }
    if let Some(v) = b.name {
        paths.push("name");
        p.name = v;
    }
    if let Some(v) = b.brand {
        paths.push("brand");
        p.brand = v;
    }
    if let Some(v) = b.description {
        paths.push("description");
        p.description = v;
    }
    if let Some(v) = b.status {
        paths.push("status");
        p.status = v.to_pb() as i32;
    }
    if let Some(v) = b.category_ids {
        paths.push("category_ids");
        p.category_ids = v;
    }
    if let Some(v) = b.tags {
        paths.push("tags");
        p.tags = v;
    }
    if let Some(v) = b.specifications {
        paths.push("specifications");
        p.specifications = specs_pb(v);
    }
    if let Some(v) = b.tax_category {
        paths.push("tax_category");
        p.tax_category = v.to_pb() as i32;
    }
    if paths.is_empty() {
        let p = client(&state)
            .get_product(grpc_request(
                pb::GetProductRequest {
                    lookup: Some(pb::get_product_request::Lookup::Id(p.id)),
                },
                &headers,
            ))
            .await
            .map_err(status_problem)?
            .into_inner();
        return Ok(Json(product_view(p)));
    }
    let p = client(&state)
        .update_product(grpc_request(
            pb::UpdateProductRequest {
                product: Some(p),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(product_view(p)))
}

/// Archives a product: no longer listed or sold, still readable by id or slug. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/archive",
    tag = "admin",
    operation_id = "archiveProduct",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The archived product", body = ProductView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn archive_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ProductView>, Problem> {
    let p = client(&state)
        .archive_product(grpc_request(pb::ArchiveProductRequest { id }, &headers))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(product_view(p)))
}

/// Deletes a product that is not active, with its variants and images. Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}",
    tag = "admin",
    operation_id = "deleteProduct",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The product is active: archive it first", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_product(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    client(&state)
        .delete_product(grpc_request(pb::DeleteProductRequest { id }, &headers))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a variant. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/variants",
    tag = "admin",
    operation_id = "createVariant",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    request_body = VariantBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The variant", body = VariantView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken, or the same attributes as another variant", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_variant(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<VariantBody>,
) -> Result<Response, Problem> {
    let v = client(&state)
        .create_variant(grpc_request(
            pb::CreateVariantRequest {
                product_id: id,
                variant: Some(variant_pb(b)),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(variant_view(v)))
}

/// Changes a variant (the SKU is immutable). Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}/variants/{variant_id}",
    tag = "admin",
    operation_id = "updateVariant",
    params(
        ("id" = uuid::Uuid, Path, description = "The product id"),
        ("variant_id" = uuid::Uuid, Path, description = "The variant id"),
    ),
    request_body = UpdateVariantBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The variant", body = VariantView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such variant", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_variant(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, variant_id)): Path<(String, String)>,
    Json(b): Json<UpdateVariantBody>,
) -> Result<Json<VariantView>, Problem> {
    let product = ensure_child(&state, &headers, &product_id, &variant_id, Child::Variant).await?;
    let mut paths = Vec::new();
    let mut v = pb::Variant {
        id: variant_id,
        ..Default::default()
    };
    if let Some(a) = b.attributes {
        paths.push("attributes");
        v.attributes = a.into_iter().collect();
    }
    if let Some(p) = &b.price {
        paths.push("price");
        v.price = Some(to_pb_money(p));
    }
    if let Some(p) = &b.prices {
        paths.push("prices");
        v.prices = p.iter().map(to_pb_money).collect();
    }
    if let Some(w) = b.weight_grams {
        paths.push("weight_grams");
        v.weight_grams = w;
    }
    if let Some(c) = &b.compare_at_price {
        paths.push("compare_at_price");
        v.compare_at_price = c.as_ref().map(to_pb_money);
    }
    if let Some(i) = b.image_id {
        paths.push("image_id");
        v.image_id = i;
    }
    if paths.is_empty() {
        // Nothing to change: the variant as it is (a merge patch of `{}` is a no-op).
        let v = product.variants.into_iter().find(|x| x.id == v.id);
        return v.map(|v| Json(variant_view(v))).ok_or_else(gone);
    }
    let v = client(&state)
        .update_variant(grpc_request(
            pb::UpdateVariantRequest {
                variant: Some(v),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(variant_view(v)))
}

/// Deletes a variant. Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}/variants/{variant_id}",
    tag = "admin",
    operation_id = "deleteVariant",
    params(
        ("id" = uuid::Uuid, Path, description = "The product id"),
        ("variant_id" = uuid::Uuid, Path, description = "The variant id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such variant", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The last variant of an active product", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_variant(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, variant_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    ensure_child(&state, &headers, &product_id, &variant_id, Child::Variant).await?;
    client(&state)
        .delete_variant(grpc_request(
            pb::DeleteVariantRequest { id: variant_id },
            &headers,
        ))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Prepares an image upload: a presigned PUT URL into `product-images`. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/images/upload-url",
    tag = "admin",
    operation_id = "createImageUpload",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    request_body = UploadUrlBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Where to PUT the bytes", body = UploadUrlView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Type or size not accepted", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_upload(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<UploadUrlBody>,
) -> Result<Response, Problem> {
    let u = client(&state)
        .create_image_upload(grpc_request(
            pb::CreateImageUploadRequest {
                product_id: id,
                content_type: b.content_type,
                size_bytes: b.size_bytes,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(UploadUrlView {
        upload_url: u.upload_url,
        upload_headers: u.upload_headers.into_iter().collect(),
        object_key: u.object_key,
        expires_at: rfc3339(u.expire_time),
    }))
}

/// Registers an uploaded object as an image. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/products/{id}/images",
    tag = "admin",
    operation_id = "createImage",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    request_body = CreateImageBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The image", body = ImageView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Nothing (or something else) was uploaded under the key", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Key not issued for this product, or a bad variant id", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_image(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<CreateImageBody>,
) -> Result<Response, Problem> {
    let i = client(&state)
        .create_image(grpc_request(
            pb::CreateImageRequest {
                product_id: id,
                image: Some(pb::Image {
                    object_key: b.object_key,
                    alt_text: b.alt_text.unwrap_or_default(),
                    variant_id: b.variant_id,
                    ..Default::default()
                }),
                position: b.position,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(image_view(i)))
}

/// Changes an image's alt text or variant. Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/products/{id}/images/{image_id}",
    tag = "admin",
    operation_id = "updateImage",
    params(
        ("id" = uuid::Uuid, Path, description = "The product id"),
        ("image_id" = uuid::Uuid, Path, description = "The image id"),
    ),
    request_body = UpdateImageBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", body = ImageView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such image", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_image(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, image_id)): Path<(String, String)>,
    Json(b): Json<UpdateImageBody>,
) -> Result<Json<ImageView>, Problem> {
    let product = ensure_child(&state, &headers, &product_id, &image_id, Child::Image).await?;
    let mut paths = Vec::new();
    let mut img = pb::Image {
        id: image_id,
        ..Default::default()
    };
    if let Some(a) = b.alt_text {
        paths.push("alt_text");
        img.alt_text = a;
    }
    if let Some(v) = b.variant_id {
        paths.push("variant_id");
        img.variant_id = v;
    }
    if paths.is_empty() {
        let i = product.images.into_iter().find(|x| x.id == img.id);
        return i.map(|i| Json(image_view(i))).ok_or_else(gone);
    }
    let i = client(&state)
        .update_image(grpc_request(
            pb::UpdateImageRequest {
                image: Some(img),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(image_view(i)))
}

/// Removes an image (and its object). Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/products/{id}/images/{image_id}",
    tag = "admin",
    operation_id = "deleteImage",
    params(
        ("id" = uuid::Uuid, Path, description = "The product id"),
        ("image_id" = uuid::Uuid, Path, description = "The image id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such image", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_image(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path((product_id, image_id)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    ensure_child(&state, &headers, &product_id, &image_id, Child::Image).await?;
    client(&state)
        .delete_image(grpc_request(
            pb::DeleteImageRequest { id: image_id },
            &headers,
        ))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the order of a product's images (the first is primary). Admin only.
#[utoipa::path(
    put,
    path = "/api/v1/admin/products/{id}/images/order",
    tag = "admin",
    operation_id = "reorderImages",
    params(("id" = uuid::Uuid, Path, description = "The product id")),
    request_body = ReorderImagesBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The images in their new order", body = ImageList),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Not exactly the product's images, each once", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn reorder_images(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<ReorderImagesBody>,
) -> Result<Json<ImageList>, Problem> {
    let r = client(&state)
        .reorder_images(grpc_request(
            pb::ReorderImagesRequest {
                product_id: id,
                image_ids: b.image_ids,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(ImageList {
        items: r.images.into_iter().map(image_view).collect(),
        next_cursor: None,
    }))
}

/// Creates a category. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/categories",
    tag = "admin",
    operation_id = "createCategory",
    request_body = CreateCategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The category", body = CategoryView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or unknown parent", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn create_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Json(b): Json<CreateCategoryBody>,
) -> Result<Response, Problem> {
    let c = client(&state)
        .create_category(grpc_request(
            pb::CreateCategoryRequest {
                category: Some(pb::Category {
                    parent_id: b.parent_id,
                    slug: b.slug.unwrap_or_default(),
                    name: b.name,
                    description: b.description.unwrap_or_default(),
                    position: b.position.unwrap_or(0),
                    ..Default::default()
                }),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(created(category_view(c)))
}

/// Changes category fields. Admin only.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/categories/{id}",
    tag = "admin",
    operation_id = "updateCategory",
    params(("id" = uuid::Uuid, Path, description = "The category id")),
    request_body = UpdateCategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The category", body = CategoryView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Slug taken", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn update_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<UpdateCategoryBody>,
) -> Result<Json<CategoryView>, Problem> {
    let mut paths = Vec::new();
    let mut c = pb::Category {
        id,
        ..Default::default()
    };
    if let Some(v) = b.slug {
        paths.push("slug");
        c.slug = v;
    }
    if let Some(v) = b.name {
        paths.push("name");
        c.name = v;
    }
    if let Some(v) = b.description {
        paths.push("description");
        c.description = v;
    }
    if let Some(v) = b.position {
        paths.push("position");
        c.position = v;
    }
    if paths.is_empty() {
        // Nothing to change: the category as it is (a merge patch of `{}` is a no-op).
        let c = client(&state)
            .get_category(grpc_request(
                pb::GetCategoryRequest {
                    lookup: Some(pb::get_category_request::Lookup::Id(c.id)),
                },
                &headers,
            ))
            .await
            .map_err(status_problem)?
            .into_inner();
        return Ok(Json(category_view(c)));
    }
    let c = client(&state)
        .update_category(grpc_request(
            pb::UpdateCategoryRequest {
                category: Some(c),
                update_mask: mask(paths),
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(category_view(c)))
}

/// Deletes a category without children; products lose it. Admin only.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/categories/{id}",
    tag = "admin",
    operation_id = "deleteCategory",
    params(("id" = uuid::Uuid, Path, description = "The category id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The category has children", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn delete_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    client(&state)
        .delete_category(grpc_request(pb::DeleteCategoryRequest { id }, &headers))
        .await
        .map_err(status_problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a category (with its subtree) under another parent; refuses cycles. Admin only.
#[utoipa::path(
    post,
    path = "/api/v1/admin/categories/{id}/move",
    tag = "admin",
    operation_id = "moveCategory",
    params(("id" = uuid::Uuid, Path, description = "The category id")),
    request_body = MoveCategoryBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The moved category", body = CategoryView),
        (status = 403, description = "The caller is not an admin", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Unknown parent, or a move under itself or a descendant (a cycle)", body = ProblemDoc, content_type = "application/problem+json"),
    )
)]
pub async fn move_category(
    State(state): State<AppState>,
    _: AdminUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<MoveCategoryBody>,
) -> Result<Json<CategoryView>, Problem> {
    let c = client(&state)
        .move_category(grpc_request(
            pb::MoveCategoryRequest {
                id,
                new_parent_id: b.parent_id,
                position: b.position,
            },
            &headers,
        ))
        .await
        .map_err(status_problem)?
        .into_inner();
    Ok(Json(category_view(c)))
}

/// A child that went away between the check and the read.
fn gone() -> Problem {
    Problem::not_found("It was deleted meanwhile.")
}
