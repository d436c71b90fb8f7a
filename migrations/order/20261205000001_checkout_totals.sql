-- Checkout totals (issue #13): how each currency's prices are entered, tax rates per
-- destination, shipping zones and methods, promotions with their redemptions, and the priced
-- breakdown each order keeps. Amounts are integer minor units, rates parts per million.

-- A currency without a row is tax-exclusive.
CREATE TABLE price_modes (
    currency    text        PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
    mode        text        NOT NULL CHECK (mode IN ('tax_inclusive', 'tax_exclusive')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A category without a rate at a destination is not taxed there. `region` '' is the whole
-- country; a region's rate wins over its country's.
CREATE TABLE tax_rates (
    id          uuid        PRIMARY KEY,
    country     text        NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    region      text        NOT NULL DEFAULT '',
    category    text        NOT NULL CHECK (category IN ('standard', 'reduced', 'zero')),
    rate_ppm    bigint      NOT NULL CHECK (rate_ppm BETWEEN 0 AND 1000000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (country, region, category)
);

CREATE TABLE shipping_zones (
    id          uuid        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    countries   text[]      NOT NULL,
    regions     text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- `rate` is kit::totals::Rate as JSON (flat, by subtotal tier or by weight tier).
CREATE TABLE shipping_methods (
    id            uuid        PRIMARY KEY,
    zone_id       uuid        NOT NULL REFERENCES shipping_zones (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    currency      text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    rate          jsonb       NOT NULL,
    free_over     bigint      CHECK (free_over >= 0),
    min_days      integer,
    max_days      integer,
    tax_category  text        NOT NULL DEFAULT 'standard' CHECK (tax_category IN ('standard', 'reduced', 'zero')),
    active        boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipping_methods_zone ON shipping_methods (zone_id);

-- `code` NULL: automatic. `uses` counts redemptions not given back; a checkout increments it
-- under the row lock in the transaction that stores the order, so `usage_limit` holds under
-- any concurrency.
CREATE TABLE promotions (
    id                  uuid        PRIMARY KEY,
    name                text        NOT NULL,
    code                text        UNIQUE CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    currency            text        CHECK (currency ~ '^[A-Z]{3}$'),
    conditions          jsonb       NOT NULL DEFAULT '{}',
    benefit             jsonb       NOT NULL,
    starts_at           timestamptz,
    ends_at             timestamptz,
    usage_limit         integer     CHECK (usage_limit > 0),
    per_customer_limit  integer     CHECK (per_customer_limit > 0),
    uses                integer     NOT NULL DEFAULT 0 CHECK (uses >= 0),
    active              boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (usage_limit IS NULL OR uses <= usage_limit)
);

-- One row per promotion an order used; `released_at` is set when the order is cancelled before
-- payment (the use is given back).
CREATE TABLE promotion_redemptions (
    promotion_id  uuid        NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    order_id      uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    user_id       uuid        NOT NULL,
    amount        bigint      NOT NULL CHECK (amount >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    released_at   timestamptz,
    PRIMARY KEY (promotion_id, order_id)
);
CREATE INDEX promotion_redemptions_by_customer ON promotion_redemptions (promotion_id, user_id)
    WHERE released_at IS NULL;
CREATE INDEX promotion_redemptions_by_order ON promotion_redemptions (order_id);

-- The priced order (kit::pricing::Breakdown as JSON) and the chosen shipping method. Orders
-- placed before this migration have none: their total was their subtotal.
ALTER TABLE orders
    ADD COLUMN breakdown       jsonb,
    ADD COLUMN shipping_method jsonb,
    ADD COLUMN promotion_code  text;
