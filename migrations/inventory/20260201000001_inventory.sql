-- Inventory: stock per SKU, reservations with a TTL and their lines, and the movements ledger.
-- Invariant (enforced here as well as in the code): 0 <= reserved <= on_hand, so stock never
-- goes below zero and no unit is sold twice.

CREATE TABLE stock (
    sku         text        PRIMARY KEY CHECK (sku ~ '^[A-Za-z0-9._-]{1,64}$'),
    on_hand     bigint      NOT NULL DEFAULT 0 CONSTRAINT stock_on_hand_not_negative CHECK (on_hand >= 0),
    reserved    bigint      NOT NULL DEFAULT 0 CONSTRAINT stock_reserved_not_negative CHECK (reserved >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);

-- One reservation per order; `order_id` is also the idempotency key of ReserveStock.
CREATE TABLE reservations (
    id              uuid        PRIMARY KEY,
    order_id        uuid        NOT NULL UNIQUE,
    user_id         uuid        NOT NULL,
    status          text        NOT NULL
                    CHECK (status IN ('active', 'committed', 'released', 'expired')),
    release_reason  text
                    CHECK (release_reason IN ('order_cancelled', 'checkout_aborted', 'expired', 'manual')),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('released', 'expired')) = (release_reason IS NOT NULL))
);
-- The sweeper's queue.
CREATE INDEX reservations_active_by_expiry ON reservations (expires_at) WHERE status = 'active';

CREATE TABLE reservation_lines (
    order_id  uuid    NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    line_no   integer NOT NULL,
    sku       text    NOT NULL,
    quantity  bigint  NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku),
    UNIQUE (order_id, line_no)
);

-- Append-only ledger of every change of on_hand or reserved. Rows with `delta_on_hand <> 0` are
-- the movements of the API (ListMovements); reserve/release/expire rows only move `reserved`.
CREATE TABLE stock_movements (
    seq              bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    id               uuid        PRIMARY KEY,
    sku              text        NOT NULL,
    delta_on_hand    bigint      NOT NULL,
    delta_reserved   bigint      NOT NULL,
    on_hand_after    bigint      NOT NULL,
    reserved_after   bigint      NOT NULL,
    reason           text        NOT NULL
                     CHECK (reason IN ('restock', 'sale', 'return', 'damage', 'loss', 'correction',
                                       'reserve', 'release', 'expire')),
    note             text        NOT NULL DEFAULT '',
    order_id         uuid,
    actor_user_id    uuid,
    idempotency_key  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (delta_on_hand <> 0 OR delta_reserved <> 0)
);
CREATE INDEX stock_movements_by_sku ON stock_movements (sku, seq DESC);
CREATE INDEX stock_movements_by_order ON stock_movements (order_id, seq DESC) WHERE order_id IS NOT NULL;
CREATE UNIQUE INDEX stock_movements_idempotency_key ON stock_movements (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Idempotency of the admin RPCs (SetStock, AdjustStock): the first answer to a key is kept and
-- returned to retries with the same request; a different request under the key is refused.
CREATE TABLE admin_requests (
    idempotency_key  text        PRIMARY KEY,
    operation        text        NOT NULL,
    fingerprint      text        NOT NULL,
    sku              text        NOT NULL,
    on_hand          bigint,
    reserved         bigint,
    stock_updated_at timestamptz,
    movement_id      uuid,
    created_at       timestamptz NOT NULL DEFAULT now()
);
