-- Carts: one per signed-in user (`user_id`) or per guest token (`guest_token_hash`, the SHA-256
-- of the opaque token; the token itself is never stored). `version` grows with every change and
-- guards the Redis hot copy against stale rebuilds; it starts at the creation time in
-- milliseconds, so a cart deleted and created again never reuses a version.
CREATE TABLE carts (
    id                uuid        PRIMARY KEY,
    user_id           uuid        UNIQUE,
    guest_token_hash  text        UNIQUE,
    version           bigint      NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT carts_one_owner CHECK ((user_id IS NULL) <> (guest_token_hash IS NULL))
);

-- Lines of a cart: a SKU and a quantity. Prices are never stored (they come from product).
CREATE TABLE cart_items (
    cart_id     uuid        NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    sku         text        NOT NULL,
    quantity    integer     NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    added_at    timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, sku)
);

CREATE INDEX carts_guest_updated ON carts (updated_at) WHERE guest_token_hash IS NOT NULL;

-- `Idempotency-Key`s of `POST cart/items` per cart, written in the change's transaction: a retried
-- add answers as the first did instead of adding again.
CREATE TABLE cart_requests (
    cart_id          uuid        NOT NULL REFERENCES carts (id) ON DELETE CASCADE,
    idempotency_key  text        NOT NULL,
    request_hash     text        NOT NULL,
    status           smallint    NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cart_id, idempotency_key)
);
