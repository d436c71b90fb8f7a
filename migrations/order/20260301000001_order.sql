-- Orders: the checkout saga's aggregate, its lines (a price and name snapshot taken from
-- product at checkout), the append-only status history, and the per-user idempotency records of
-- `POST /api/v1/checkout`. Money is integer minor units plus an ISO 4217 code.

CREATE TABLE orders (
    id                 uuid        PRIMARY KEY,            -- UUIDv7, generated before reserving stock
    user_id            uuid        NOT NULL,
    status             text        NOT NULL CHECK (status IN (
                           'pending_payment', 'paid', 'shipped', 'delivered', 'cancelled',
                           'refund_requested', 'refunded')),
    currency           text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    subtotal           bigint      NOT NULL CHECK (subtotal >= 0),
    total              bigint      NOT NULL CHECK (total >= 0),
    payment_method_id  uuid        NOT NULL,
    shipping_address   jsonb       NOT NULL,
    transaction_id     text,                                -- from payment.completed
    -- When inventory lets the checkout's reservation go; a payment completing later than
    -- `order.late_payment_margin_secs` before it is refunded instead (its units may be gone).
    reservation_expires_at timestamptz,
    carrier            text,
    tracking_number    text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- A customer's orders, newest first (ids are UUIDv7, so id order is creation order).
CREATE INDEX orders_by_user ON orders (user_id, id DESC);

CREATE TABLE order_items (
    order_id     uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no      integer NOT NULL,
    sku          text    NOT NULL,
    product_id   uuid    NOT NULL,
    name         text    NOT NULL,
    quantity     bigint  NOT NULL CHECK (quantity > 0),
    unit_price   bigint  NOT NULL CHECK (unit_price >= 0),
    line_total   bigint  NOT NULL CHECK (line_total >= 0),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, sku)
);

-- One row per status an order has entered, written in the transaction that changed it.
CREATE TABLE order_status_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text,
    status      text        NOT NULL,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX order_status_history_by_order ON order_status_history (order_id, id);

-- `Idempotency-Key` of checkout, per user. A row is claimed (`in_flight`) before any side effect
-- and completed with the answer in the transaction that creates the order; a refused checkout
-- deletes its claim, so the same key may be retried. A claim whose holder died is taken over
-- after `locked_until`.
CREATE TABLE checkout_idempotency (
    user_id          uuid        NOT NULL,
    key              text        NOT NULL,
    request_hash     text        NOT NULL,
    order_id         uuid        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status  integer,
    response_body    jsonb,
    locked_until     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key),
    CHECK ((state = 'completed') = (response_body IS NOT NULL))
);
