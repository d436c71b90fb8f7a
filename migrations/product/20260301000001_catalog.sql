-- product_db: the catalog. Products with variants, images, tags and specifications, and the
-- category tree. `products.search` (weighted tsvector) and the price columns are maintained by
-- `product_refresh(id)`, which the service calls in the transaction of every write.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE categories (
    id          uuid        PRIMARY KEY,
    parent_id   uuid        REFERENCES categories (id) ON DELETE RESTRICT,
    slug        text        NOT NULL CONSTRAINT categories_slug_key UNIQUE,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    position    integer     NOT NULL DEFAULT 0 CHECK (position >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX categories_by_parent ON categories (parent_id, position, name);

CREATE TABLE products (
    id          uuid        PRIMARY KEY,
    slug        text        NOT NULL CONSTRAINT products_slug_key UNIQUE,
    name        text        NOT NULL,
    brand       text        NOT NULL DEFAULT '',
    description text        NOT NULL DEFAULT '',
    status      text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'archived')),
    -- Bumped by every write; the cache refuses to store an older version than it has seen.
    version     bigint      NOT NULL DEFAULT 1,
    -- Lowest/highest variant price (one currency per product); NULL without variants.
    min_price   bigint,
    max_price   bigint,
    currency    text,
    -- Distinct `key=value` pairs of the variants' attributes (the attribute facet counts these).
    attribute_values text[] NOT NULL DEFAULT '{}',
    search      tsvector    NOT NULL DEFAULT ''::tsvector,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_search ON products USING gin (search);
CREATE INDEX products_name_trgm ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_newest ON products (status, created_at DESC, id DESC);
CREATE INDEX products_price ON products (status, (COALESCE(min_price, 0)), id);
CREATE INDEX products_brand ON products (lower(brand));

CREATE TABLE product_categories (
    product_id  uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    category_id uuid NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, category_id)
);
CREATE INDEX product_categories_by_category ON product_categories (category_id, product_id);

CREATE TABLE product_images (
    id           uuid        PRIMARY KEY,
    product_id   uuid        NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    variant_id   uuid,
    object_key   text        NOT NULL CONSTRAINT product_images_object_key_key UNIQUE,
    alt_text     text        NOT NULL DEFAULT '',
    position     integer     NOT NULL,
    content_type text        NOT NULL,
    size_bytes   bigint      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX product_images_by_product ON product_images (product_id, position);

CREATE TABLE product_variants (
    id                uuid        PRIMARY KEY,
    product_id        uuid        NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    sku               text        NOT NULL CONSTRAINT product_variants_sku_key UNIQUE
                                  CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
    attributes        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    price             bigint      NOT NULL CHECK (price >= 0),
    currency          text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    compare_at_price  bigint      CHECK (compare_at_price > price),
    image_id          uuid        REFERENCES product_images (id) ON DELETE SET NULL,
    -- Maintained from inventory events (not consumed yet: always true until then).
    in_stock          boolean     NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT product_variants_attributes_key UNIQUE (product_id, attributes)
);
CREATE INDEX product_variants_by_product ON product_variants (product_id, created_at, id);
CREATE INDEX product_variants_attributes ON product_variants USING gin (attributes jsonb_path_ops);

ALTER TABLE product_images
    ADD CONSTRAINT product_images_variant_fk FOREIGN KEY (variant_id)
    REFERENCES product_variants (id) ON DELETE SET NULL;

CREATE TABLE product_tags (
    product_id uuid NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    tag        text NOT NULL,
    PRIMARY KEY (product_id, tag)
);
CREATE INDEX product_tags_by_tag ON product_tags (tag, product_id);

CREATE TABLE product_specifications (
    product_id uuid    NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    name       text    NOT NULL,
    value      text    NOT NULL,
    PRIMARY KEY (product_id, position)
);

-- Presigned uploads handed out and not yet attached (CreateImage checks the key against these).
CREATE TABLE image_uploads (
    object_key   text        PRIMARY KEY,
    product_id   uuid        NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    content_type text        NOT NULL,
    size_bytes   bigint      NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- Recomputes the derived columns of one product: the weighted search document
-- (name A > brand B > tags and SKUs C > description D), the price range, the attribute pairs,
-- and bumps `version`
-- (returned).
CREATE FUNCTION product_refresh(p_id uuid) RETURNS bigint LANGUAGE sql AS $$
    UPDATE products p SET
        search =
            setweight(to_tsvector('english', p.name), 'A') ||
            setweight(to_tsvector('simple', p.brand), 'B') ||
            setweight(to_tsvector('english', coalesce(
                (SELECT string_agg(t.tag, ' ') FROM product_tags t WHERE t.product_id = p.id), '')), 'C') ||
            setweight(to_tsvector('simple', coalesce(
                (SELECT string_agg(v.sku, ' ') FROM product_variants v WHERE v.product_id = p.id), '')), 'C') ||
            setweight(to_tsvector('english', p.description), 'D'),
        min_price = (SELECT min(v.price) FROM product_variants v WHERE v.product_id = p.id),
        max_price = (SELECT max(v.price) FROM product_variants v WHERE v.product_id = p.id),
        currency = (SELECT min(v.currency) FROM product_variants v WHERE v.product_id = p.id),
        attribute_values = ARRAY(
            SELECT DISTINCT a.key || '=' || a.value
              FROM product_variants v CROSS JOIN LATERAL jsonb_each_text(v.attributes) a
             WHERE v.product_id = p.id),
        version = p.version + 1,
        updated_at = now()
    WHERE p.id = p_id
    RETURNING p.version;
$$;
