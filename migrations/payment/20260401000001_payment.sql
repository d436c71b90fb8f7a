-- Saved cards: only what the provider gave back (its token, encrypted with AES-256-GCM under the
-- configured key, a fresh nonce per row) and what a customer needs to recognise the card. The
-- card number and CVC are never stored.
CREATE TABLE payment_methods (
    id                uuid        PRIMARY KEY,
    user_id           uuid        NOT NULL,
    brand             text        NOT NULL,
    last4             text        NOT NULL,
    exp_month         smallint    NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year          smallint    NOT NULL,
    holder_name       text,
    provider          text        NOT NULL,
    token_nonce       bytea       NOT NULL,
    token_ciphertext  bytea       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_methods_user ON payment_methods (user_id, id DESC);

-- Every charge, refund and provider call attempt. One charge and at most one refund per order
-- (the unique indexes make a redelivered order.created unable to charge twice).
CREATE TABLE transactions (
    id                 uuid        PRIMARY KEY,
    order_id           uuid        NOT NULL,
    user_id            uuid        NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('charge', 'refund', 'attempt')),
    status             text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    amount             bigint      NOT NULL CHECK (amount >= 0),
    currency           text        NOT NULL,
    payment_method_id  uuid,
    -- attempt: the charge or refund it was made for; refund: the charge it refunds
    parent_id          uuid,
    provider_ref       text,
    error_code         text,
    error_message      text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX transactions_one_charge_per_order ON transactions (order_id) WHERE kind = 'charge';
CREATE UNIQUE INDEX transactions_one_refund_per_order ON transactions (order_id) WHERE kind = 'refund';
CREATE INDEX transactions_parent ON transactions (parent_id) WHERE parent_id IS NOT NULL;

-- The sandbox provider's own books: what it did per idempotency key. It stands in for the
-- provider's side of the idempotency contract, so it survives a crash of this service exactly as
-- a real provider's records would.
CREATE TABLE sandbox_operations (
    idempotency_key  text        PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('charge', 'refund')),
    reference        text        NOT NULL,
    amount           bigint      NOT NULL,
    currency         text        NOT NULL,
    calls            integer     NOT NULL DEFAULT 1,
    outcome          text        CHECK (outcome IN ('succeeded', 'declined')),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- `Idempotency-Key`s of `POST payment-methods` per user: a retried save returns the card saved
-- the first time instead of saving it twice. `request_hash` covers brand, last 4, expiry and
-- holder (never the whole number).
CREATE TABLE payment_method_requests (
    user_id            uuid        NOT NULL,
    idempotency_key    text        NOT NULL,
    request_hash       text        NOT NULL,
    payment_method_id  uuid        NOT NULL REFERENCES payment_methods (id) ON DELETE CASCADE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, idempotency_key)
);
